//! The Debian guest's scenarios (systemd as PID 1, real apt, unattended-upgrades, DKMS): see tests/lab/README.md.
//! Each asserts on what the guest left in `tests/lab/build/disks/<scenario>/lab/results/`.

use super::{run_scenario, STACK, V1, V2};

const REV: &str = "-0ubuntu0.24.04.1";

#[test]
fn lab_debian_incident_unattended_upgrade_then_reload() {
    let s = run_scenario("debian-incident");
    s.assert_passed();
    // Real unattended-upgrades did the upgrade, and apt's own log says so.
    let history = s.result("final/apt-history.log");
    assert!(
        history.contains("Commandline: /usr/bin/unattended-upgrade"),
        "{history}"
    );
    assert!(
        history.contains(&format!("nvidia-driver-580:amd64 ({V1}{REV}, {V2}{REV})")),
        "{history}"
    );
    assert!(s
        .result("final/unattended-upgrades.log")
        .contains("nvidia-driver-580"));
    assert!(
        s.result("dkms-status").contains(&format!("nvidia/{V2}")),
        "{}",
        s.tail()
    );
    assert_ne!(s.status("verify-mismatch"), 0);
    let before = s.json("diagnose-before");
    assert_eq!(before["nvml"]["code"], 18, "{before}");
    assert_eq!(before["verdict"], "version-mismatch", "{before}");
    assert_eq!(before["action"], "reload", "{before}");
    let reload = s.json("reload");
    assert_eq!(reload["outcome"], "fixed", "{reload}");
    assert_eq!(s.status("reload"), 0);
    s.assert_stack(&STACK, V2);
    assert_eq!(
        s.result("final/units"),
        "nvidia-persistenced.service=active gpu-job.service=active nvfix-check.timer=inactive nvfix-verify.service=inactive"
    );
    assert_eq!(s.json("diagnose-after")["verdict"], "healthy");
}

const V3: &str = "580.105.08";

#[test]
fn lab_debian_hold_stops_unattended_upgrades_until_undone() {
    let s = run_scenario("debian-hold");
    s.assert_passed();
    let holds = s.result("holds");
    for p in [
        "nvidia-driver-580",
        "nvidia-dkms-580",
        "libnvidia-compute-580",
    ] {
        assert!(holds.contains(p), "{p} not held: {holds}");
    }
    let v1 = format!("{V1}{REV}");
    assert_eq!(s.result("held-versions"), format!("{v1} {v1} {v1}"));
    let v3 = format!("{V3}{REV}");
    assert_eq!(s.result("undone-versions"), format!("{v3} {v3} {v3}"));
    assert!(s.result("final/holds").is_empty());
}

#[test]
fn lab_debian_dkms_failure_is_diagnosed_and_reload_refuses() {
    let s = run_scenario("debian-dkms-fail");
    s.assert_passed();
    assert_eq!(s.status("reload"), 69);
    let diagnose = s.json("diagnose");
    assert_eq!(diagnose["action"], "repair", "{diagnose}");
    assert!(
        diagnose
            .to_string()
            .contains(&format!("/var/lib/dkms/nvidia/{V2}/build/make.log")),
        "{diagnose}"
    );
    // Nothing was unloaded: the v1 stack with the daemon and the job still on it.
    s.assert_stack(&STACK, V1);
    assert!(
        s.result("final/units")
            .starts_with("nvidia-persistenced.service=active gpu-job.service=active"),
        "{}",
        s.tail()
    );
}

#[test]
fn lab_debian_package_timer_writes_metrics_and_purge_leaves_nothing() {
    let s = run_scenario("debian-package");
    s.assert_passed();
    assert_eq!(s.result("timer-after-install"), "active");
    assert_eq!(s.result("leftovers"), "");
    assert!(s
        .result("final/packages")
        .lines()
        .all(|l| !l.starts_with("nvfix ")));
}

#[test]
fn lab_debian_reboot_schedules_defers_and_reboots_into_v2() {
    let s = run_scenario("debian-reboot");
    s.assert_passed();
    assert_eq!(s.result("final/boots"), "2");
    assert_eq!(s.result("boot1-loaded-version"), V1);
    assert_eq!(s.status("schedule"), 0);
    assert_eq!(s.status("cancel"), 0);
    assert_eq!(s.status("inhibited"), 75);
    assert_eq!(s.status("locked"), 75);
    s.assert_stack(&STACK, V2);
    assert_eq!(s.status("verify"), 0);
}

#[test]
fn lab_debian_upgrade_moves_a_held_driver_with_its_job() {
    let s = run_scenario("debian-upgrade");
    s.assert_passed();
    let check = s.json("check");
    assert_eq!(check["schema"], "nvfix.upgrade-check/v1");
    assert_eq!(check["installed"], V1);
    assert_eq!(check["candidate"], V2);
    assert_eq!(check["apply_by"], "reload");
    assert_eq!(s.status("dry-run"), 0);
    assert_eq!(s.status("upgrade"), 0, "{}", s.tail());
    let v2 = format!("{V2}{REV}");
    assert_eq!(s.result("versions"), format!("{v2} {v2} {v2}"));
    // The plan printed before acting names apt's resolution, the DKMS build, the units to stop and the way back.
    let plan = s.result("upgrade.err");
    for want in [
        &format!("Upgrade plan: NVIDIA driver {V1} → {V2}"),
        "DKMS builds it (nvidia-dkms-580)",
        "gpu-job.service",
        &format!("nvidia-driver-580={V1}{REV}"),
    ] {
        assert!(plan.contains(want), "{want:?} not in {plan}");
    }
    let report = s.result("upgrade.out");
    for want in [
        "[ok] trial",
        "[ok] release the hold",
        "[ok] install",
        "[ok] hold",
        "upgraded from",
    ] {
        assert!(report.contains(want), "{want:?} not in {report}");
    }
    s.assert_stack(&STACK, V2);
    assert!(s
        .result("final/units")
        .starts_with("nvidia-persistenced.service=active gpu-job.service=active"));
    let holds = s.result("final/holds");
    assert!(
        holds.contains("nvidia-driver-580") && holds.contains("nvidia-dkms-580"),
        "{holds}"
    );
    // apt's own log: one install of exactly the planned versions.
    let history = s.result("final/apt-history.log");
    assert!(
        history.contains(&format!("nvidia-driver-580:amd64 ({V1}{REV}, {V2}{REV})")),
        "{history}"
    );
}

#[test]
fn lab_debian_upgrade_dkms_fail_changes_nothing() {
    let s = run_scenario("debian-upgrade-dkms-fail");
    s.assert_passed();
    assert_eq!(s.status("upgrade"), 69);
    let r = s.json("upgrade");
    assert_eq!(r["exit_status"], 69);
    assert!(r["actions"].as_array().unwrap().is_empty(), "{r}");
    let excerpt = r["trial_failure"]["excerpt"].to_string();
    assert!(excerpt.contains("nvidia.c:"), "{excerpt}");
    s.assert_stack(&STACK, V1);
    let v1 = format!("{V1}{REV}");
    let packages = s.result("final/packages");
    let driver: Vec<&str> = packages
        .lines()
        .filter(|l| l.starts_with("nvidia-driver-580 ") || l.starts_with("libnvidia-compute-580 "))
        .collect();
    assert_eq!(driver.len(), 2, "{packages}");
    assert!(driver.iter().all(|l| l.ends_with(&v1)), "{packages}");
    assert!(
        !s.result("final/dkms").contains(V2),
        "{}",
        s.result("final/dkms")
    );
}

#[test]
fn lab_debian_upgrade_killed_after_install_is_resumed() {
    let s = run_scenario("debian-upgrade-killed");
    s.assert_passed();
    assert_eq!(s.status("resume"), 0, "{}", s.tail());
    let resume = s.result("resume.out");
    assert!(
        resume.contains("[ok] resume: journal phase Installed, next step Reload"),
        "{resume}"
    );
    assert!(
        !resume.contains("[ok] install"),
        "the install is not run again: {resume}"
    );
    // Killed again on the way to v3; the admin reloaded by hand, and the next `nvfix auto` held v3.
    assert_eq!(s.status("reload-v3"), 0);
    let auto = s.json("auto-v3");
    assert_eq!(auto["exit_status"], 0, "{auto}");
    assert!(
        auto["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["label"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&format!("finish the upgrade to {V3}"))
                && a["ok"] == true),
        "{auto}"
    );
    s.assert_stack(&STACK, V3);
    assert!(s
        .result("final/holds")
        .contains("linux-modules-nvidia-580-"));
}
