//! Integration tests: the real-world cases from public bug reports (issue 11), each on its fixture tree: the verdict,
//! the action and the next step an admin on that host needs.

use crate::harness::{copy_fixture, fixture, nvfix, reason_codes, write_file};
use serde_json::Value;
use std::path::Path;

fn diagnose_at(root: &Path) -> (i32, Value) {
    let run = nvfix(root, &["diagnose", "--json"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    (run.status, run.json())
}

fn diagnose(scenario: &str) -> (i32, Value) {
    diagnose_at(&fixture(scenario))
}

fn reason<'v>(v: &'v Value, code: &str) -> &'v Value {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == code)
        .unwrap_or_else(|| panic!("no reason {code} in {:?}", reason_codes(v)))
}

fn commands(v: &Value) -> Vec<String> {
    v["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn gsp_firmware_failure_with_the_module_loaded_is_not_healthy_and_names_the_firmware_package() {
    let (status, v) = diagnose("gsp-failed");
    assert_eq!(status, 1, "must not exit 0 as healthy");
    assert_eq!(
        (v["verdict"].as_str(), v["action"].as_str()),
        (Some("degraded"), Some("repair"))
    );
    let r = reason(&v, "gsp-firmware-failed");
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("0000:01:00.0") && message.contains("0x63:0x56:1689"),
        "{message}"
    );
    assert!(
        message.contains("/lib/firmware/nvidia/580.95.05/ is missing"),
        "{message}"
    );
    assert_eq!(r["evidence"][0]["file"], "/var/log/kern.log");
    assert_eq!(r["evidence"][0]["line"], 2);
    assert_eq!(r["evidence"][1]["line"], 3);
    let steps = commands(&v);
    assert_eq!(
        steps[0],
        "sudo apt-get install --reinstall nvidia-firmware-580-580.95.05"
    );
    assert!(v["next_steps"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("/lib/firmware/nvidia/580.95.05/"));
    assert!(steps.iter().all(|c| c != "sudo nvfix reload"), "{steps:?}");
    // reload and auto name the real cause, not a missing module.
    for args in [&["reload", "--dry-run"][..], &["auto", "--dry-run"][..]] {
        let run = nvfix(&fixture("gsp-failed"), args);
        let out = format!("{}{}", run.stdout, run.stderr);
        assert!(
            out.contains("could not start the GSP firmware"),
            "{args:?}: {out}"
        );
        assert!(
            !out.contains("no installed module matches"),
            "{args:?}: {out}"
        );
    }
}

#[test]
fn adapter_init_failure_without_gsp_points_at_the_gpu_itself() {
    let (status, v) = diagnose("adapter-failed");
    assert_eq!(status, 1);
    assert_eq!(
        (v["verdict"].as_str(), v["action"].as_str()),
        (Some("degraded"), Some("repair"))
    );
    let codes = reason_codes(&v);
    assert!(
        !codes.iter().any(|c| c == "gsp-firmware-failed"),
        "{codes:?}"
    );
    let message = reason(&v, "adapter-init-failed")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("power, the PCIe link, the hardware"),
        "{message}"
    );
    let steps = commands(&v);
    assert_eq!(steps[0], "sudo nvidia-bug-report.sh");
    assert!(
        steps.contains(&"sudo lspci -vvv -s 0000:01:00.0".to_string()),
        "{steps:?}"
    );
}

/// kern.log spans boots: once the host booted again and the GPU came up, last boot's failure is history.
#[test]
fn an_init_failure_of_an_earlier_boot_leaves_a_healthy_host_healthy() {
    let tree = copy_fixture("gsp-failed");
    for fw in ["gsp_ga10x.bin", "gsp_tu10x.bin"] {
        write_file(
            tree.path(),
            &format!("/lib/firmware/nvidia/580.95.05/{fw}"),
            b"stand-in GSP firmware\n",
        );
    }
    let log = std::fs::read_to_string(tree.path().join("var/log/kern.log")).unwrap();
    let rebooted = format!(
        "{log}Oct 22 07:10:44 gpu-node-7 kernel: [    0.000000] Linux version 6.8.0-85-generic (buildd@lcy02-amd64-080) \
         (x86_64-linux-gnu-gcc-13 (Ubuntu 13.3.0-6ubuntu2~24.04) 13.3.0) #85-Ubuntu SMP PREEMPT_DYNAMIC\n\
         Oct 22 07:10:50 gpu-node-7 kernel: [    5.871234] nvidia: module license 'NVIDIA' taints kernel.\n"
    );
    write_file(tree.path(), "/var/log/kern.log", rebooted.as_bytes());
    let (status, v) = diagnose_at(tree.path());
    assert_eq!(
        (status, v["verdict"].as_str()),
        (0, Some("healthy")),
        "{:?}",
        reason_codes(&v)
    );
}

#[test]
fn branch_named_module_files_are_the_nvidia_stack_and_reload() {
    let (status, v) = diagnose("branch-named");
    assert_eq!(status, 1);
    assert_eq!(
        (v["verdict"].as_str(), v["action"].as_str()),
        (Some("version-mismatch"), Some("reload"))
    );
    assert_eq!(
        v["installed_module"]["path"],
        "/lib/modules/4.4.0-45-generic/updates/dkms/nvidia_367.ko"
    );
    assert_eq!(v["installed_module"]["version"], "367.57");
    assert!(reason_codes(&v)
        .iter()
        .any(|c| c == "module-on-disk-matches"));
    assert_eq!(v["preflight"]["passed"], true, "{}", v["preflight"]);
    assert_eq!(commands(&v), ["sudo nvfix reload"]);
    let plan = nvfix(&fixture("branch-named"), &["reload", "--dry-run"]);
    assert!(
        plan.stdout
            .contains("unload nvidia_367 (modprobe -r nvidia_367)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("load nvidia_367_drm (modprobe nvidia_367_drm)"),
        "{}",
        plan.stdout
    );
    let report = nvfix(&fixture("branch-named"), &["diagnose"]).stdout;
    assert!(!report.contains("Module on disk  none"), "{report}");
}

#[test]
fn a_transitional_package_is_not_named_as_the_one_that_replaced_the_library() {
    let (_, v) = diagnose("transitional");
    assert_eq!(v["action"], "reload");
    let u = &v["upgrade"];
    assert_eq!(u["package"], "libnvidia-compute-510");
    assert_eq!(
        (u["from"].as_str(), u["to"].as_str()),
        (
            Some("510.60.02-0ubuntu0.20.04.1"),
            Some("510.73.05-0ubuntu0.20.04.1")
        )
    );
    assert_eq!(u["evidence"]["file"], "/var/log/dpkg.log");
    assert_eq!(u["evidence"]["line"], 2);
}

#[test]
fn an_upgrade_recorded_only_by_unattended_upgrades_is_found_with_who_when_and_versions() {
    let (_, v) = diagnose("uu-logs-only");
    let u = &v["upgrade"];
    assert_eq!(u["package"], "libnvidia-compute-580");
    assert_eq!(u["by"], "unattended-upgrades");
    assert_eq!(u["at"], "2025-10-22 06:25:05");
    assert_eq!(
        (u["from"].as_str(), u["to"].as_str()),
        (
            Some("580.65.06-0ubuntu0.24.04.2"),
            Some("580.95.05-0ubuntu0.24.04.1")
        )
    );
    assert_eq!(
        u["evidence"]["file"],
        "/var/log/unattended-upgrades/unattended-upgrades-dpkg.log"
    );
    assert_eq!(u["evidence"]["line"], 4);

    // Only the run log left: who and when, and the message says its log names no versions.
    let tree = copy_fixture("uu-logs-only");
    std::fs::remove_file(
        tree.path()
            .join("var/log/unattended-upgrades/unattended-upgrades-dpkg.log"),
    )
    .unwrap();
    let (_, v) = diagnose_at(tree.path());
    let u = &v["upgrade"];
    assert_eq!(
        (u["package"].as_str(), u["by"].as_str()),
        (Some("libnvidia-compute-580"), Some("unattended-upgrades"))
    );
    assert_eq!(u["at"], "2025-10-22 06:25:05");
    assert_eq!(
        u["evidence"]["file"],
        "/var/log/unattended-upgrades/unattended-upgrades.log"
    );
    let m = reason(&v, "upgraded-while-loaded")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        m.contains("its log names no versions; the library is now 580.95.05"),
        "{m}"
    );
}

#[test]
fn rhel_kernel_messages_are_read_from_var_log_messages_and_advice_is_dnf() {
    let (_, v) = diagnose("rhel-messages");
    assert_eq!(v["host"]["kind"], "dnf");
    let r = reason(&v, "kernel-log-api-mismatch");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("nvidia-smi (pid 48213)"),
        "{r}"
    );
    assert_eq!(r["evidence"][0]["file"], "/var/log/messages");
    assert_eq!(r["evidence"][0]["line"], 2);
    let steps = commands(&v);
    assert_eq!(
        steps[0],
        "sudo dnf reinstall $(rpm -qa 'kmod-nvidia*' 'nvidia-kmod*')"
    );
    assert!(steps.iter().all(|c| !c.contains("apt-get")), "{steps:?}");
}

/// Every host kind gets repair advice in its own terms, and none but apt hosts is told to run apt-get.
#[test]
fn repair_advice_follows_the_host_kind() {
    for (scenario, kind, first) in [
        (
            "repair-needed",
            "apt",
            "sudo dkms install nvidia/580.95.05 -k 6.8.0-85-generic",
        ),
        (
            "rhel-messages",
            "dnf",
            "sudo dnf reinstall $(rpm -qa 'kmod-nvidia*' 'nvidia-kmod*')",
        ),
        (
            "amazon-linux-2",
            "yum",
            "sudo yum reinstall $(rpm -qa 'kmod-nvidia*' 'nvidia-kmod*')",
        ),
        (
            "opensuse",
            "zypper",
            "sudo zypper install --force $(rpm -qa '*nvidia*kmp*')",
        ),
        ("arch", "pacman", "sudo pacman -Syu"),
        ("bazzite", "rpm-ostree", "rpm-ostree status"),
        (
            "container",
            "container",
            "docker restart <this container>   (run on the host)",
        ),
        ("jetson", "jetson", "dpkg -l 'nvidia-l4t-*'"),
        ("unknown-host", "unknown", FIND_OUT),
    ] {
        let (status, v) = diagnose(scenario);
        assert_eq!(status, 1, "{scenario}");
        assert_eq!(v["action"], "repair", "{scenario}");
        assert_eq!(v["host"]["kind"], kind, "{scenario}");
        let steps = commands(&v);
        assert_eq!(steps[0], first, "{scenario}");
        if !matches!(kind, "apt" | "container" | "jetson") {
            assert!(
                steps.iter().all(|c| !c.contains("apt-get")),
                "{scenario}: {steps:?}"
            );
        }
        if matches!(kind, "rpm-ostree" | "container" | "jetson" | "unknown") {
            assert!(
                steps
                    .iter()
                    .all(|c| !c.contains("dnf") && !c.contains("dkms")),
                "{scenario}: {steps:?}"
            );
        }
    }
}

/// What `unknown-host` is told to run to find out its kind.
const FIND_OUT: &str = "cat /etc/os-release; ls -d /var/lib/dpkg /var/lib/rpm /usr/lib/sysimage/rpm /var/lib/pacman \
                        /run/ostree-booted /.dockerenv /run/.containerenv /etc/nv_tegra_release 2>/dev/null";

#[test]
fn inside_a_container_the_fix_is_user_space_of_the_hosts_version_never_a_reload() {
    let (_, v) = diagnose("container");
    assert_eq!(
        (v["verdict"].as_str(), v["action"].as_str()),
        (Some("version-mismatch"), Some("repair"))
    );
    assert_eq!(v["host"]["engine"], "docker");
    let codes = reason_codes(&v);
    assert!(codes.iter().any(|c| c == "in-container"), "{codes:?}");
    assert!(
        !codes
            .iter()
            .any(|c| c.starts_with("module-on-disk") || c == "no-matching-module"),
        "{codes:?}"
    );
    let steps = commands(&v);
    assert!(
        steps
            .iter()
            .all(|c| !c.contains("nvfix reload") && !c.contains("nvfix reboot")),
        "{steps:?}"
    );
    assert_eq!(
        steps[1],
        "apt-get install libnvidia-compute-580=<580.65.06 revision>"
    );
    assert!(v["next_steps"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("the host's (580.65.06)"));
}

#[test]
fn jetson_is_judged_by_its_l4t_packages_and_libcuda_so_1_1_is_no_driver_version() {
    let (_, v) = diagnose("jetson");
    assert_eq!(
        (v["verdict"].as_str(), v["action"].as_str()),
        (Some("version-mismatch"), Some("repair"))
    );
    assert_eq!(v["host"]["release"], "R35.5.0");
    assert_eq!(v["library"], Value::Null);
    assert_eq!(
        v["warnings"],
        serde_json::json!([]),
        "libcuda.so.1 → libcuda.so.1.1 is not a broken link"
    );
    let codes = reason_codes(&v);
    assert!(!codes.iter().any(|c| c == "library-missing"), "{codes:?}");
    let m = reason(&v, "l4t-packages-differ")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        m.contains("L4T 35.4.1") && m.contains("35.5.0-20240219203809"),
        "{m}"
    );
    let report = nvfix(&fixture("jetson"), &["diagnose"]).stdout;
    assert!(
        !report.contains(" 1.1 "),
        "libcuda.so.1.1 is not version 1.1:\n{report}"
    );

    // The same Jetson once rebooted into R35.5.0: healthy, with no NVML to blame.
    let tree = copy_fixture("jetson");
    let version = std::fs::read_to_string(tree.path().join("proc/driver/nvidia/version")).unwrap();
    write_file(
        tree.path(),
        "/proc/driver/nvidia/version",
        version.replace("35.4.1", "35.5.0").as_bytes(),
    );
    write_file(tree.path(), "/sys/module/nvidia/version", b"35.5.0\n");
    let (status, v) = diagnose_at(tree.path());
    assert_eq!(
        (status, v["verdict"].as_str(), v["action"].as_str()),
        (0, Some("healthy"), Some("none"))
    );
    assert!(reason_codes(&v).iter().any(|c| c == "jetson"));
}

/// The reports of the real-world cases, as an on-call engineer reads them. Review changes with care.
#[test]
fn real_world_reports_snapshot() {
    for scenario in [
        "gsp-failed",
        "adapter-failed",
        "branch-named",
        "transitional",
        "uu-logs-only",
        "rhel-messages",
        "arch",
        "bazzite",
        "container",
        "jetson",
        "unknown-host",
    ] {
        let run = nvfix(&fixture(scenario), &["diagnose"]);
        insta::assert_snapshot!(format!("report-{scenario}"), run.stdout);
    }
}
