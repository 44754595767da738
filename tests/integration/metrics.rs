//! `nvfix metrics`: the textfile on fixture trees, written atomically to the default path under the root or to
//! --textfile.

use crate::harness::{copy_fixture, fixture, nvfix};

fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
}

#[test]
fn incident_metrics_show_the_mismatch_and_the_versions() {
    let run = nvfix(&fixture("incident"), &["metrics", "--textfile", "-"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let t = &run.stdout;
    assert_eq!(
        sample(t, "nvfix_verdict{verdict=\"version-mismatch\"}"),
        Some("1")
    );
    assert_eq!(sample(t, "nvfix_verdict{verdict=\"healthy\"}"), Some("0"));
    assert_eq!(sample(t, "nvfix_action{action=\"reload\"}"), Some("1"));
    assert_eq!(
        sample(t, "nvfix_loaded_driver_info{version=\"580.65.06\"}"),
        Some("1")
    );
    assert_eq!(
        sample(t, "nvfix_library_info{version=\"580.95.05\"}"),
        Some("1")
    );
    assert_eq!(sample(t, "nvfix_recurrence_risk"), Some("1"));
    assert!(sample(t, "nvfix_gpu_holders").is_some());
    let stamp: u64 = sample(t, "nvfix_last_check_timestamp_seconds")
        .unwrap()
        .parse()
        .unwrap();
    assert!(stamp > 1_600_000_000);
}

#[test]
fn healthy_metrics_and_no_holders_scan() {
    let run = nvfix(
        &fixture("healthy"),
        &["metrics", "--textfile", "-", "--no-holders"],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        sample(&run.stdout, "nvfix_verdict{verdict=\"healthy\"}"),
        Some("1")
    );
    assert_eq!(
        sample(&run.stdout, "nvfix_action{action=\"none\"}"),
        Some("1")
    );
    assert!(
        !run.stdout.contains("nvfix_gpu_holders"),
        "not scanned is not zero"
    );
}

#[test]
fn default_textfile_is_written_under_the_root_without_temp_files() {
    let tree = copy_fixture("incident");
    let run = nvfix(tree.path(), &["metrics"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let dir = tree.path().join("var/lib/prometheus/node-exporter");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["nvfix.prom"]);
    let text = std::fs::read_to_string(dir.join("nvfix.prom")).unwrap();
    assert_eq!(
        sample(&text, "nvfix_verdict{verdict=\"version-mismatch\"}"),
        Some("1")
    );

    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("sub/nvfix.prom");
    let run = nvfix(
        tree.path(),
        &["metrics", "--textfile", path.to_str().unwrap()],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .contains("nvfix_action{action=\"reload\"} 1"));
}
