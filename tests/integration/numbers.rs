//! Integration tests: numbers from `/proc` and the command line outside any representable range never panic.

use crate::harness::{copy_fixture, nvfix, write_file};

/// The incident's CUDA job with field 22 (starttime, clock ticks after boot) set to `ticks`.
fn job_started_at(root: &std::path::Path, ticks: &str) {
    let stat = std::fs::read_to_string(root.join("proc/4242/stat")).unwrap();
    let (head, tail) = stat.split_at(stat.rfind(')').unwrap() + 1);
    let mut fields: Vec<&str> = tail.split_whitespace().collect();
    // Fields after the comm start at field 3 (state); starttime is field 22.
    fields[22 - 3] = ticks;
    write_file(
        root,
        "/proc/4242/stat",
        format!("{head} {}\n", fields.join(" ")).as_bytes(),
    );
}

fn holder(v: &serde_json::Value, pid: i64) -> &serde_json::Value {
    v.as_array()
        .unwrap()
        .iter()
        .find(|h| h["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} in {v}"))
}

#[test]
fn a_boot_time_past_year_9999_makes_start_times_unknown_in_diagnose_json() {
    let t = copy_fixture("incident");
    write_file(
        t.path(),
        "/proc/stat",
        b"cpu  1 2 3 4 5 6 7 0 0 0\nbtime 253402300800\n",
    );
    let run = nvfix(t.path(), &["diagnose", "--json"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let v = run.json();
    let job = holder(&v["holders"], 4242);
    assert!(job["started_at"].is_null(), "{job}");
    assert_eq!(v["verdict"], "version-mismatch");
}

#[test]
fn a_start_time_past_year_9999_is_unknown_in_ps_json_and_the_others_still_have_theirs() {
    let t = copy_fixture("incident");
    job_started_at(t.path(), "9999999999999999");
    let run = nvfix(t.path(), &["ps", "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let v = run.json();
    assert!(holder(&v, 4242)["started_at"].is_null(), "{v}");
    let daemon = holder(&v, 1873)["started_at"].as_str().unwrap().to_string();
    assert!(
        daemon.starts_with("2025-10-22T") && daemon.ends_with('Z'),
        "{daemon}"
    );
}

#[test]
fn a_grace_period_beyond_an_hour_is_a_usage_error() {
    let t = copy_fixture("incident");
    for grace in ["18446744073709551615", "3601"] {
        let run = nvfix(t.path(), &["reload", "--dry-run", "--grace", grace]);
        assert_eq!(run.status, 64, "--grace {grace}: {}", run.stderr);
        assert!(run.stderr.contains("--grace"), "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    let run = nvfix(t.path(), &["reload", "--dry-run", "--grace", "3600"]);
    assert_ne!(run.status, 64, "{}", run.stderr);
}

#[test]
fn a_reboot_delay_beyond_a_day_is_a_usage_error() {
    let t = copy_fixture("incident");
    for delay in ["4294967296", "1441"] {
        let run = nvfix(t.path(), &["reboot", "--dry-run", "--delay", delay]);
        assert_eq!(run.status, 64, "--delay {delay}: {}", run.stderr);
        assert!(run.stderr.contains("--delay"), "{}", run.stderr);
    }
}
