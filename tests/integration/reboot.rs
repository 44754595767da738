//! `nvfix reboot` and `nvfix playbook check` through the binary on fixture trees: every guard reported, the command
//! that would run, refusals; no test ever schedules a real reboot (a fixture root only allows --dry-run).

use crate::harness::{copy_fixture, fixture, nvfix, nvfix_bin, write_file};
use std::path::Path;
use std::process::Command;

fn guard<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["guards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no guard {name}: {v:#}"))
}

#[test]
fn dry_run_passes_every_guard_when_the_next_kernel_matches() {
    let run = nvfix(
        &fixture("reboot-needed"),
        &["reboot", "--dry-run", "--json"],
    );
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["schema"], "nvfix.reboot/v1");
    assert_eq!(v["outcome"], "would-reboot");
    assert_eq!(v["next_boot"]["kernel"], "6.8.0-87-generic");
    assert_eq!(guard(&v, "next-boot-module")["status"], "pass");
    // `dpkg --audit` needs the live host: on a tree it is not checked, never passed.
    assert_eq!(guard(&v, "package-manager-idle")["status"], "not-checked");
    assert_eq!(guard(&v, "reboot-loop")["status"], "pass");
    assert_eq!(guard(&v, "maintenance-window")["status"], "pass");
    // No systemd in the tree: inhibitors cannot be listed, which is said, not hidden.
    assert_eq!(guard(&v, "shutdown-inhibitors")["status"], "warn");
    assert_eq!(
        v["command"],
        "shutdown -r +5 \"nvfix: rebooting into kernel 6.8.0-87-generic to load NVIDIA driver 580.95.05; cancel with: nvfix reboot --cancel\""
    );
}

#[test]
fn guards_that_need_a_live_command_say_not_checked_on_a_tree() {
    let t = copy_fixture("reboot-needed");
    std::fs::create_dir_all(t.path().join("run/systemd/system")).unwrap();
    let v = nvfix(t.path(), &["reboot", "--dry-run", "--json"]).json();
    for name in ["package-manager-idle", "shutdown-inhibitors"] {
        assert_eq!(guard(&v, name)["status"], "not-checked", "{name}: {v:#}");
    }
    assert_eq!(
        v["outcome"], "would-reboot",
        "not checked does not block a dry run"
    );
    let text = nvfix(t.path(), &["reboot", "--dry-run"]);
    assert!(
        text.stdout.contains("not checked  shutdown-inhibitors")
            && text.stdout.contains("not checked  package-manager-idle")
            && !text.stdout.contains("every guard passes"),
        "{}",
        text.stdout
    );
    let auto = nvfix(t.path(), &["auto", "--dry-run", "--allow-reboot", "--json"]).json();
    let guards = auto["guards"].as_array().unwrap();
    for name in ["package-manager-idle", "shutdown-inhibitors"] {
        let g = guards
            .iter()
            .find(|g| g["stage"] == "reboot" && g["name"] == name);
        assert_eq!(
            g.map(|g| &g["status"]),
            Some(&serde_json::json!("not-checked")),
            "{name}: {auto:#}"
        );
    }
}

#[test]
fn holders_are_listed_not_blocking_for_a_manual_reboot() {
    let run = nvfix(&fixture("incident"), &["reboot", "--dry-run", "--json"]);
    assert_eq!(run.status, 0, "{}", run.stdout);
    let v = run.json();
    let h = guard(&v, "gpu-holders");
    assert_eq!(h["status"], "warn");
    assert!(
        h["message"]
            .as_str()
            .unwrap()
            .contains("python3 (pid 4242, alice)"),
        "{h}"
    );
    // The running kernel is the only one and its module matches: the reboot would fix it.
    assert_eq!(guard(&v, "next-boot-module")["status"], "pass");
    let text = nvfix(&fixture("incident"), &["reboot", "--dry-run"]);
    assert!(
        text.stdout
            .contains("note: a reload fixes this host without a reboot"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("would run: shutdown -r +5 "),
        "{}",
        text.stdout
    );
}

#[test]
fn reboot_that_would_not_fix_it_is_refused_69() {
    let run = nvfix(
        &fixture("repair-needed"),
        &["reboot", "--dry-run", "--json"],
    );
    assert_eq!(run.status, 69, "{}", run.stdout);
    let v = run.json();
    let g = guard(&v, "next-boot-module");
    assert_eq!(g["status"], "block");
    assert_eq!(g["block"], "unfixable");
    assert!(
        g["message"].as_str().unwrap().contains("would not fix"),
        "{g}"
    );
    let text = nvfix(&fixture("repair-needed"), &["reboot", "--dry-run"]);
    assert!(
        text.stdout.contains("BLOCK  next-boot-module"),
        "{}",
        text.stdout
    );
}

#[test]
fn now_uses_systemctl_with_inhibitor_check_and_delay_is_honoured() {
    let v = nvfix(
        &fixture("reboot-needed"),
        &["reboot", "--dry-run", "--json", "--now"],
    )
    .json();
    assert!(v["command"]
        .as_str()
        .unwrap()
        .starts_with("systemctl reboot --check-inhibitors=yes \"--message=nvfix: "));
    let v = nvfix(
        &fixture("reboot-needed"),
        &["reboot", "--dry-run", "--json", "--delay", "15"],
    )
    .json();
    assert!(v["command"]
        .as_str()
        .unwrap()
        .starts_with("shutdown -r +15 "));
    let v = nvfix(
        &fixture("reboot-needed"),
        &["reboot", "--dry-run", "--json", "--delay", "0"],
    )
    .json();
    assert!(v["command"]
        .as_str()
        .unwrap()
        .starts_with("systemctl reboot "));
    let run = nvfix(
        &fixture("reboot-needed"),
        &["reboot", "--now", "--delay", "3"],
    );
    assert_eq!(run.status, 64, "--now and --delay conflict");
}

#[test]
fn acting_on_a_fixture_tree_is_refused_and_nothing_is_written() {
    let t = copy_fixture("reboot-needed");
    for args in [
        vec!["reboot", "--yes"],
        vec!["reboot", "--cancel"],
        vec!["reboot", "--now", "--yes"],
    ] {
        let run = nvfix(t.path(), &args);
        assert_eq!(run.status, 64, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("only works with --dry-run"),
            "{}",
            run.stderr
        );
    }
    assert!(!t.path().join("var/lib/nvfix").exists());
    assert!(
        !t.path().join("run/nvfix").exists(),
        "no lock before the checks"
    );
}

fn nvfix_at(root: &Path, now: i64, args: &[&str]) -> (i32, serde_json::Value) {
    let out = Command::new(nvfix_bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .env("NVFIX_NOW", now.to_string())
        .env("NO_COLOR", "1")
        .env_remove("NVFIX_ROOT")
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn maintenance_window_from_the_playbook() {
    let t = tempfile::tempdir().unwrap();
    let pb = t.path().join("night.yaml");
    std::fs::write(
        &pb,
        "version: 1\nreboot:\n  delay_minutes: 10\n  maintenance_window: {days: [tue], start: '22:00', end: '23:00', timezone: UTC}\n",
    )
    .unwrap();
    let pbs = pb.to_str().unwrap();
    // Tue 2023-11-14 22:13:20 UTC: the reboot at 22:23 falls inside.
    let (status, v) = nvfix_at(
        &fixture("reboot-needed"),
        1_700_000_000,
        &["reboot", "--dry-run", "--json", "--playbook", pbs],
    );
    assert_eq!(status, 0, "{v:#}");
    assert!(v["command"]
        .as_str()
        .unwrap()
        .starts_with("shutdown -r +10 "));
    // An hour later it would fall outside: deferred.
    let (status, v) = nvfix_at(
        &fixture("reboot-needed"),
        1_700_003_600,
        &["reboot", "--dry-run", "--json", "--playbook", pbs],
    );
    assert_eq!(status, 75, "{v:#}");
    assert_eq!(guard(&v, "maintenance-window")["block"], "defer");
}

#[test]
fn loop_guard_reads_the_record_keyed_by_boot_id() {
    let t = copy_fixture("reboot-needed");
    let record = r#"{"format": 1, "reboots": [{"boot_id": "6f1f2c1e-3b7a-4d3e-9a57-1c1f0b0e9d21", "requested_at": 1699990000,
        "scheduled_for": 1699990300, "method": "shutdown", "reason": "nvfix auto"}]}"#;
    write_file(t.path(), "/var/lib/nvfix/reboots.json", record.as_bytes());
    // Long overdue on the same boot: not pending any more, but it counts toward the day's limit.
    let (status, v) = nvfix_at(t.path(), 1_700_000_000, &["reboot", "--dry-run", "--json"]);
    assert_eq!(status, 75, "{v:#}");
    assert_eq!(guard(&v, "reboot-loop")["status"], "block");
    // A day later the limit is free again.
    let (status, _) = nvfix_at(t.path(), 1_700_090_000, &["reboot", "--dry-run", "--json"]);
    assert_eq!(status, 0);
    // Still due: reported as pending, nothing scheduled twice.
    let (status, v) = nvfix_at(t.path(), 1_699_990_100, &["reboot", "--dry-run", "--json"]);
    assert_eq!(status, 0);
    assert_eq!(v["outcome"], "reboot-pending");
}

#[test]
fn verify_fails_while_the_reboot_nvfix_scheduled_has_not_happened() {
    let t = copy_fixture("healthy");
    let record = |from_boot: &str| {
        format!(
            r#"{{"format": 1, "reboots": [{{"boot_id": "{from_boot}", "requested_at": 1699990000,
            "scheduled_for": 1699990300, "method": "shutdown", "reason": "nvfix auto",
            "expected_version": "580.95.05"}}]}}"#
        )
    };
    // The record was made from this very boot: the boot id has not changed.
    write_file(
        t.path(),
        "/var/lib/nvfix/reboots.json",
        record("6f1f2c1e-3b7a-4d3e-9a57-1c1f0b0e9d21").as_bytes(),
    );
    let (status, v) = nvfix_at(t.path(), 1_700_000_000, &["verify", "--json"]);
    assert_eq!(status, 1, "{v:#}");
    assert_eq!(v["verified"], false);
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "reboot-happened")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(check["ok"], false);
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("the reboot nvfix scheduled has not happened"),
        "{check}"
    );

    // From the previous boot: it happened, and brought the expected driver.
    write_file(
        t.path(),
        "/var/lib/nvfix/reboots.json",
        record("0b0e9d21-aaaa-4d3e-9a57-1c1f6f1f2c1e").as_bytes(),
    );
    let (status, v) = nvfix_at(t.path(), 1_700_000_000, &["verify", "--json"]);
    assert_eq!(status, 0, "{v:#}");
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "reboot-happened")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(check["ok"], true, "{check}");
    // verify only reads the record: `nvfix auto` settles it and runs the after-reboot hooks.
    let after = std::fs::read_to_string(t.path().join("var/lib/nvfix/reboots.json")).unwrap();
    assert!(!after.contains("completed"), "{after}");
}

// ---- nvfix playbook check ----

#[test]
fn every_shipped_playbook_passes_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "dedicated-node.yaml",
            "default.yaml",
            "kubernetes-node.yaml",
            "slurm-node.yaml",
            "workstation.yaml"
        ]
    );
    for n in names {
        // Checked from a copy the test owns with safe modes (a checkout may be group-writable under some umasks).
        let t = tempfile::tempdir().unwrap();
        let copy = t.path().join(&n);
        std::fs::copy(dir.join(&n), &copy).unwrap();
        set_mode(&copy, 0o644);
        let run = nvfix(
            &fixture("healthy"),
            &["playbook", "check", copy.to_str().unwrap()],
        );
        assert_eq!(run.status, 0, "{n}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains(": ok"), "{}", run.stdout);
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn check_reports_file_line_column_and_exit_status() {
    let t = tempfile::tempdir().unwrap();
    let cases: &[(&str, i32, &str)] = &[
        (
            "version: 1\nreload:\n  grace_period_seconds: soon\n",
            78,
            ":3:",
        ),
        (
            "version: 1\nhooks:\n  before_reboot:\n    - {argv: [kubectl, drain]}\n",
            78,
            "absolute path",
        ),
        (
            "version: 1\nsurprise: true\n",
            78,
            ":2:1: unknown field `surprise`",
        ),
        ("version: 2\n", 78, "unsupported playbook version 2"),
        ("version: 1\nreboot: [\n", 65, ":"),
        ("", 78, "empty"),
    ];
    for (i, (text, status, needle)) in cases.iter().enumerate() {
        let p = t.path().join(format!("p{i}.yaml"));
        std::fs::write(&p, text).unwrap();
        set_mode(&p, 0o644);
        let run = nvfix(
            &fixture("healthy"),
            &["playbook", "check", p.to_str().unwrap()],
        );
        assert_eq!(run.status, *status, "{text:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("{}", p.display())),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(needle), "{text:?}: {}", run.stderr);
    }
    let run = nvfix(
        &fixture("healthy"),
        &["playbook", "check", "/nonexistent/x.yaml"],
    );
    assert_eq!(run.status, 66);
}

#[test]
fn check_refuses_a_writable_playbook_when_run_as_root() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("open.yaml");
    std::fs::write(&p, "version: 1\n").unwrap();
    set_mode(&p, 0o666);
    let run = nvfix(
        &fixture("healthy"),
        &["playbook", "check", p.to_str().unwrap()],
    );
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(run.status, 77, "{}", run.stderr);
        assert!(
            run.stderr
                .contains("writable by group or others (mode 0666)"),
            "{}",
            run.stderr
        );
        set_mode(&p, 0o644);
        assert_eq!(
            nvfix(
                &fixture("healthy"),
                &["playbook", "check", p.to_str().unwrap()]
            )
            .status,
            0
        );
    } else {
        // Not root: a playbook can only hurt the user who runs it, so it is accepted.
        assert_eq!(run.status, 0, "{}", run.stderr);
    }
}

/// systemd-boot's files and EFI variables, damaged one at a time: never a panic, always a report; a next boot that
/// cannot be told blocks rather than guesses.
#[test]
fn damaged_boot_loader_inputs_never_panic() {
    let efivar = |name: &str| {
        format!("/sys/firmware/efi/efivars/{name}-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f")
    };
    let files = [
        "/boot/efi/loader/loader.conf".to_string(),
        "/boot/efi/loader/entries/m-6.8.0-87-generic.conf".to_string(),
        "/efi/EFI/Linux/x.efi".to_string(),
        efivar("LoaderInfo"),
        efivar("LoaderEntryOneShot"),
        efivar("LoaderEntryDefault"),
    ];
    let damages: [Vec<u8>; 4] = [
        Vec::new(),
        (0..=255u8).cycle().take(3000).collect(),
        b"default [*?\x00\xff".to_vec(),
        b"\x07\x00\x00\x00\x00\xd8".to_vec(),
    ];
    for file in &files {
        for bytes in &damages {
            let tree = copy_fixture("reboot-needed");
            write_file(tree.path(), file, bytes);
            let run = nvfix(tree.path(), &["reboot", "--dry-run", "--json"]);
            assert!(!run.stderr.contains("panicked"), "{file}: {}", run.stderr);
            let v = run.json();
            assert!(v["outcome"].is_string(), "{file}: {v}");
            if v["next_boot"]["kernel"].is_null() {
                assert_eq!(
                    guard(&v, "next-boot-module")["status"],
                    "block",
                    "{file}: {v}"
                );
            }
        }
    }
}
