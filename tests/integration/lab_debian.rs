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

