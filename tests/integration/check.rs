//! `nvfix check`: each engine's format and exit contract on fixture trees, and that a check writes nothing but its
//! --output.

use crate::harness::{copy_fixture, fixture, nvfix};
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn each_format_exits_by_its_engines_contract() {
    // (scenario, nagios, npd, json)
    for (scenario, nagios, npd, json, status) in [
        ("healthy", 0, 0, 0, "ok"),
        ("incident", 2, 1, 1, "critical"),
        ("driver-not-loaded", 2, 1, 1, "critical"),
        ("no-nvidia", 3, 2, 1, "unknown"),
    ] {
        let root = fixture(scenario);
        let n = nvfix(&root, &["check", "--format", "nagios"]);
        assert_eq!(n.status, nagios, "{scenario}: {}{}", n.stdout, n.stderr);
        assert_eq!(n.stdout.lines().count(), 1, "{scenario}: {}", n.stdout);
        assert!(
            n.stdout
                .starts_with(&format!("NVFIX {} - ", status.to_uppercase())),
            "{}",
            n.stdout
        );
        assert!(n.stdout.contains(" | mismatch="), "perfdata: {}", n.stdout);
        let p = nvfix(&root, &["check", "--format", "npd"]);
        assert_eq!(p.status, npd, "{scenario}: {}", p.stdout);
        assert_eq!(p.stdout.lines().count(), 1);
        assert!(p.stdout.trim_end().len() <= 80, "{}", p.stdout);
        let j = nvfix(&root, &["check", "--format", "json"]);
        assert_eq!(j.status, json, "{scenario}");
        let v = j.json();
        assert_eq!(v["schema"], "nvfix.check/v1");
        assert_eq!(v["status"], status, "{scenario}");
    }
    let n = nvfix(&fixture("incident"), &["check", "--format", "nagios"]);
    assert_eq!(
        n.stdout.split(" | ").next().unwrap(),
        "NVFIX CRITICAL - version-mismatch (module 580.65.06, library 580.95.05); fix: reload"
    );
}

#[test]
fn prometheus_format_is_the_metrics_textfile() {
    let strip = |t: &str| -> String {
        t.lines()
            .filter(|l| !l.starts_with("nvfix_last_check_timestamp_seconds "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for scenario in ["incident", "healthy"] {
        let check = nvfix(&fixture(scenario), &["check", "--format", "prometheus"]);
        assert_eq!(check.status, 0, "{}", check.stderr);
        let metrics = nvfix(&fixture(scenario), &["metrics", "--textfile", "-"]);
        assert_eq!(strip(&check.stdout), strip(&metrics.stdout), "{scenario}");
        assert!(check.stdout.contains("nvfix_last_check_timestamp_seconds "));
    }
}

/// Every file and folder under `dir` with its size and modification time.
fn listing(dir: &Path) -> BTreeMap<String, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.path().symlink_metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.insert(
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                (m.len(), m.modified().unwrap()),
            );
        }
    }
    out
}

#[test]
fn a_check_writes_nothing_but_its_output() {
    let t = copy_fixture("incident");
    // A trusted module-cache folder: other commands write the module cache there.
    let cache = t.path().join("var/cache/nvfix");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::set_permissions(&cache, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let before = listing(t.path());
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("textfile/nvfix.prom");
    let run = nvfix(
        t.path(),
        &[
            "check",
            "--format",
            "prometheus",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(
        listing(t.path()),
        before,
        "the host tree is untouched (no lock, no cache, no state)"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("nvfix_verdict{verdict=\"version-mismatch\"} 1"));
    // Only the file itself: the atomic writer's temporary is gone.
    let names: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["nvfix.prom"]);
    // The nagios status survives --output: the exit status still says CRITICAL.
    let n = nvfix(
        t.path(),
        &[
            "check",
            "--format",
            "nagios",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(n.status, 2);
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .starts_with("NVFIX CRITICAL"));
}
