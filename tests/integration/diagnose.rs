//! Integration tests: `nvfix diagnose` on fixture host trees, including damaged inputs.

use crate::harness::{copy_fixture, fixture, nvfix, reason_codes, write_file};
use serde_json::Value;

fn diagnose(scenario: &str) -> (i32, Value) {
    let run = nvfix(&fixture(scenario), &["diagnose", "--json"]);
    assert!(
        !run.stderr.contains("panicked"),
        "{scenario}: {}",
        run.stderr
    );
    (run.status, run.json())
}

#[test]
fn incident_is_a_mismatch_fixed_by_reload() {
    let (status, v) = diagnose("incident");
    assert_eq!(status, 1);
    assert_eq!(v["verdict"], "version-mismatch");
    assert_eq!(v["action"], "reload");
    assert_eq!(v["loaded_module"]["version"], "580.65.06");
    assert_eq!(v["loaded_module"]["flavor"], "proprietary");
    assert_eq!(v["library"]["version"], "580.95.05");
    assert_eq!(
        v["library"]["path"],
        "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.95.05"
    );
    assert_eq!(v["installed_module"]["version"], "580.95.05");
    assert_eq!(v["installed_module"]["kernel"], "6.8.0-85-generic");
    assert_eq!(
        v["installed_module"]["path"],
        "/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst"
    );
    assert_eq!(v["nvml"]["status"], "not-checked");
    let u = &v["upgrade"];
    assert_eq!(u["from"], "580.65.06-0ubuntu0.24.04.2");
    assert_eq!(u["to"], "580.95.05-0ubuntu0.24.04.1");
    assert_eq!(u["at"], "2025-10-22 06:25:01");
    assert_eq!(u["by"], "unattended-upgrades");
    assert_eq!(u["evidence"]["file"], "/var/log/apt/history.log");
    let pids: Vec<i64> = v["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(pids, vec![1873, 4242], "the shell on a pty is not a holder");
    let codes = reason_codes(&v);
    for code in [
        "module-library-mismatch",
        "upgraded-while-loaded",
        "module-on-disk-matches",
        "kernel-log-api-mismatch",
        "recurrence-risk",
        "gpu-holders",
        "drm-modeset",
    ] {
        assert!(
            codes.iter().any(|c| c == code),
            "missing reason {code} in {codes:?}"
        );
    }
    let mismatch = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "kernel-log-api-mismatch")
        .unwrap();
    assert!(
        mismatch["message"]
            .as_str()
            .unwrap()
            .contains("python3 (pid 51302)"),
        "{mismatch}"
    );
    assert_eq!(mismatch["evidence"][0]["file"], "/var/log/kern.log");
    assert_eq!(mismatch["evidence"][0]["line"], 7);
    let steps: Vec<&str> = v["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(steps, vec!["sudo nvfix reload", "sudo nvfix hold"]);
}

#[test]
fn incident_holders_are_described() {
    let (_, v) = diagnose("incident");
    let holders = v["holders"].as_array().unwrap();
    let persistenced = &holders[0];
    assert_eq!(persistenced["service"], "persistenced");
    assert_eq!(persistenced["user"], "nvidia-persistenced");
    assert_eq!(
        persistenced["devices"],
        serde_json::json!(["/dev/nvidia0", "/dev/nvidiactl"])
    );
    let python = &holders[1];
    assert_eq!(python["command"], "/usr/bin/python3 train.py --epochs 90");
    assert_eq!(python["user"], "alice");
    assert_eq!(
        python["devices"],
        serde_json::json!(["/dev/nvidia-uvm", "/dev/nvidia0", "/dev/nvidiactl"])
    );
    assert!(python["libraries"].as_array().unwrap().iter().any(|l| l
        .as_str()
        .unwrap()
        .ends_with("libcuda.so.580.65.06 (deleted)")));
}

#[test]
fn healthy_host_exits_zero() {
    let (status, v) = diagnose("healthy");
    assert_eq!(status, 0);
    assert_eq!(v["verdict"], "healthy");
    assert_eq!(v["action"], "none");
    assert!(v["upgrade"].is_null());
    let codes = reason_codes(&v);
    assert!(codes.contains(&"versions-match".to_string()));
    assert!(
        !codes.contains(&"recurrence-risk".to_string()),
        "driver packages are held: {codes:?}"
    );
}

#[test]
fn open_module_flavor_and_prebuilt_modules() {
    let (_, v) = diagnose("open-module");
    assert_eq!(v["verdict"], "version-mismatch");
    assert_eq!(v["loaded_module"]["flavor"], "open");
    assert_eq!(v["action"], "reload");
    assert_eq!(
        v["installed_module"]["path"],
        "/lib/modules/6.8.0-85-generic/kernel/nvidia-580-open/nvidia.ko"
    );
    assert_eq!(v["installed_module"]["flavor"], "open");
}

#[test]
fn driver_not_loaded_is_fixed_by_loading() {
    let (status, v) = diagnose("driver-not-loaded");
    assert_eq!(status, 1);
    assert_eq!(v["verdict"], "driver-not-loaded");
    assert_eq!(v["action"], "reload");
    assert!(v["loaded_module"].is_null());
}

#[test]
fn module_built_only_for_a_newer_kernel_needs_a_reboot() {
    let (_, v) = diagnose("reboot-needed");
    assert_eq!(v["verdict"], "version-mismatch");
    assert_eq!(v["action"], "reboot");
    assert_eq!(v["installed_module"]["version"], "580.65.06");
    assert_eq!(
        v["matching_kernels"],
        serde_json::json!(["6.8.0-87-generic"])
    );
    assert!(reason_codes(&v).contains(&"module-on-disk-differs".to_string()));
}

#[test]
fn nothing_on_disk_matches_needs_repair() {
    let (_, v) = diagnose("repair-needed");
    assert_eq!(v["action"], "repair");
    assert!(reason_codes(&v).contains(&"no-matching-module".to_string()));
    assert!(reason_codes(&v).contains(&"dkms-build-failed".to_string()));
    let steps: Vec<&str> = v["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps[0],
        "sudo dkms install nvidia/580.95.05 -k 6.8.0-85-generic"
    );
    let failed = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "dkms-build-failed")
        .unwrap();
    assert_eq!(
        failed["evidence"][0]["file"],
        "/var/lib/dkms/nvidia/580.95.05/build/make.log"
    );
}

#[test]
fn host_without_nvidia() {
    let (status, v) = diagnose("no-nvidia");
    assert_eq!(status, 1);
    assert_eq!(v["verdict"], "no-driver");
    assert_eq!(v["action"], "none");
    assert_eq!(v["holders"], serde_json::json!([]));
}

#[test]
fn rhel_layout_and_dnf_log() {
    let (_, v) = diagnose("rhel");
    assert_eq!(v["verdict"], "version-mismatch");
    assert_eq!(v["action"], "reload");
    assert_eq!(v["library"]["path"], "/usr/lib64/libnvidia-ml.so.580.95.05");
    assert_eq!(
        v["installed_module"]["path"],
        "/lib/modules/5.14.0-503.11.1.el9_5.x86_64/extra/nvidia.ko.xz"
    );
    assert_eq!(v["upgrade"]["at"], "2026-02-14 09:30:12");
    assert!(v["upgrade"]["to"]
        .as_str()
        .unwrap()
        .starts_with("580.95.05"));
}

#[test]
fn debian_nvidia_current_layout() {
    let (_, v) = diagnose("debian");
    assert_eq!(v["verdict"], "version-mismatch");
    assert_eq!(v["action"], "reload");
    assert_eq!(
        v["library"]["path"],
        "/usr/lib/x86_64-linux-gnu/nvidia/current/libnvidia-ml.so.580.95.05"
    );
    assert_eq!(
        v["installed_module"]["path"],
        "/lib/modules/6.1.0-28-amd64/updates/dkms/nvidia-current.ko.xz"
    );
    assert_eq!(v["upgrade"]["by"], "ops (1001): apt-get -y dist-upgrade");
}

#[test]
fn human_report_tells_the_story() {
    let run = nvfix(&fixture("incident"), &["diagnose"]);
    assert_eq!(run.status, 1);
    let out = &run.stdout;
    assert!(
        !out.contains('\u{1b}'),
        "NO_COLOR and a pipe mean plain text"
    );
    for needle in [
        "VERSION MISMATCH: the kernel runs NVIDIA 580.65.06, the libraries are 580.95.05.",
        "by unattended-upgrades",
        "Who holds the GPU (2)",
        "sudo nvfix reload",
        "/var/log/apt/history.log",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let coloured = nvfix(&fixture("incident"), &["--color", "always", "diagnose"]);
    assert!(coloured.stdout.contains('\u{1b}'));
}

/// Damages one input file at a time in four ways; nvfix must never panic, must still print its JSON, and must
/// say which file it could not read when the damage makes it unreadable.
#[test]
fn damaged_inputs_never_panic() {
    let files = [
        "/proc/driver/nvidia/version",
        "/proc/modules",
        "/sys/module/nvidia/version",
        "/sys/module/nvidia/refcnt",
        "/proc/sys/kernel/osrelease",
        "/var/lib/dpkg/status",
        "/var/log/apt/history.log",
        "/var/log/apt/history.log.1.gz",
        "/var/log/dpkg.log",
        "/var/log/kern.log",
        "/etc/apt/apt.conf.d/50unattended-upgrades",
        "/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst",
        "/proc/4242/stat",
        "/proc/4242/status",
        "/proc/4242/cmdline",
        "/proc/4242/maps",
        "/proc/4242/cgroup",
        "/etc/passwd",
    ];
    let damages: [(&str, Vec<u8>); 4] = [
        ("empty", Vec::new()),
        ("binary", (0..=255u8).cycle().take(3000).collect()),
        (
            "truncated",
            b"NVRM version: NVIDIA UNIX x86_64 Kern".to_vec(),
        ),
        (
            "garbled",
            b"nvidia 1x2 ??? ,,, Live\n\xff\xfe(((\n".to_vec(),
        ),
    ];
    for file in files {
        for (how, bytes) in &damages {
            let tree = copy_fixture("incident");
            write_file(tree.path(), file, bytes);
            let run = nvfix(tree.path(), &["diagnose", "--json"]);
            assert!(
                !run.stderr.contains("panicked"),
                "{file} {how}: {}",
                run.stderr
            );
            assert!(
                run.status == 0 || run.status == 1,
                "{file} {how}: status {} {}",
                run.status,
                run.stderr
            );
            let v = run.json();
            assert!(v["verdict"].is_string(), "{file} {how}");
        }
    }
}

#[test]
fn garbled_version_file_falls_back_to_sysfs_and_says_so() {
    let tree = copy_fixture("incident");
    write_file(
        tree.path(),
        "/proc/driver/nvidia/version",
        b"NVRM version: NVIDIA UNIX x86_64 Kern",
    );
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    assert_eq!(v["verdict"], "version-mismatch");
    assert_eq!(v["loaded_module"]["version"], "580.65.06");
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["file"] == "/proc/driver/nvidia/version"),
        "{warnings:?}"
    );
}

#[test]
fn truncated_gzip_log_keeps_what_it_can() {
    // logrotate moved the upgrade into history.log.1.gz, and that file was cut short (a full disk, a copy
    // interrupted): the blocks before the cut still explain the mismatch.
    let tree = copy_fixture("incident");
    let current =
        std::fs::read_to_string(fixture("incident").join("var/log/apt/history.log")).unwrap();
    let mut rotated = current.clone();
    for i in 0..200 {
        rotated.push_str(&format!(
            "\nStart-Date: 2025-10-23  0{}:00:00\nCommandline: apt install pkg{i}\nInstall: pkg{i}:amd64 (1.{i})\nEnd-Date: 2025-10-23  0{}:00:01\n",
            i % 10,
            i % 10
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, rotated.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::remove_file(tree.path().join("var/log/apt/history.log")).unwrap();
    write_file(
        tree.path(),
        "/var/log/apt/history.log.1.gz",
        &gz[..gz.len() * 3 / 4],
    );
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    assert_eq!(v["verdict"], "version-mismatch");
    assert_eq!(v["upgrade"]["by"], "unattended-upgrades");
    assert_eq!(
        v["upgrade"]["evidence"]["file"],
        "/var/log/apt/history.log.1.gz"
    );
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["file"] == "/var/log/apt/history.log.1.gz"),
        "{warnings:?}"
    );
}

/// Older rotations are read only while the newer logs do not explain the library on disk.
#[test]
fn rotated_logs_are_read_until_one_explains() {
    let tree = copy_fixture("incident");
    write_file(
        tree.path(),
        "/var/log/apt/history.log.2.gz",
        b"not gzip at all",
    );
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    assert_eq!(v["upgrade"]["evidence"]["file"], "/var/log/apt/history.log");
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        !warnings
            .iter()
            .any(|w| w["file"] == "/var/log/apt/history.log.2.gz"),
        "{warnings:?}"
    );
    // Without the current log, the rotations are read, oldest last, and the broken one is reported.
    std::fs::remove_file(tree.path().join("var/log/apt/history.log")).unwrap();
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["file"] == "/var/log/apt/history.log.2.gz"),
        "{warnings:?}"
    );
    // dpkg.log still explains it (it has no `by`).
    assert_eq!(v["upgrade"]["evidence"]["file"], "/var/log/dpkg.log");
}

#[test]
fn missing_root_and_bad_usage_have_their_exit_codes() {
    let run = nvfix(
        std::path::Path::new("/nonexistent/nvfix-root"),
        &["diagnose"],
    );
    assert_eq!(run.status, 66, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("nvfix: ") && run.stderr.lines().count() == 1,
        "{}",
        run.stderr
    );
    let run = nvfix(&fixture("healthy"), &["diagnose", "--no-such-flag"]);
    assert_eq!(run.status, 64);
}

/// The report of every scenario, as an on-call engineer reads it. Review changes with care: this is the product.
#[test]
fn reports_snapshot() {
    for scenario in [
        "incident",
        "healthy",
        "open-module",
        "driver-not-loaded",
        "reboot-needed",
        "repair-needed",
        "no-nvidia",
        "rhel",
        "debian",
    ] {
        let run = nvfix(&fixture(scenario), &["diagnose"]);
        insta::assert_snapshot!(format!("report-{scenario}"), run.stdout);
    }
}

#[test]
fn incident_json_snapshot() {
    let v = nvfix(&fixture("incident"), &["diagnose", "--json"]).json();
    insta::assert_json_snapshot!("incident-json", v);
}

/// README shows nvfix's real output on the incident; it must not drift from what nvfix prints.
#[test]
fn readme_shows_the_real_incident_report() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    for (scenario, args) in [
        ("incident", &["diagnose"][..]),
        ("incident", &["ps"][..]),
        ("incident", &["reload", "--dry-run"][..]),
    ] {
        let run = nvfix(&fixture(scenario), args);
        assert!(
            readme.contains(&run.stdout),
            "README's output of `nvfix --root tests/fixtures/{scenario} {}` differs from nvfix's; paste the new output \
             into README.md:\n{}",
            args.join(" "),
            run.stdout
        );
    }
}
