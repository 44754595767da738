//! The pre-flight end to end, on fixture hosts whose kernel would refuse the new modules.
//!
//! Unsigned under Secure Boot, signed by an unenrolled key, built for another kernel, GSP firmware missing: diagnose
//! says repair with the reason, reload refuses with the check, the evidence and the fix, auto reports the repair and
//! schedules no reboot. Nothing real is ever run.

use crate::harness::{copy_fixture, fixture, nvfix, write_file};
use nvfix::commands::auto::{run_auto, AutoInput, ReloadEngine};
use nvfix::host::runner::RecordingRunner;
use nvfix::host::HostRoot;
use nvfix::model::auto::{ActionRecord, Outcome, ReloadResult};
use nvfix::model::plan::ReloadPlan;
use nvfix::model::playbook::parse_playbook;
use serde_json::Value;

/// (scenario, the finding it must produce, a word of its fix)
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "unsigned-secure-boot",
        "preflight-signature",
        "mokutil --import",
    ),
    (
        "vermagic-mismatch",
        "preflight-vermagic",
        "dkms install nvidia/580.95.05 -k 6.8.0-85-generic",
    ),
    (
        "firmware-missing",
        "preflight-firmware",
        "nvidia-firmware-580-580.95.05",
    ),
];

fn reasons_with_code<'v>(v: &'v Value, code: &str) -> Vec<&'v Value> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["code"] == code)
        .collect()
}

#[test]
fn diagnose_says_repair_with_the_reason_its_evidence_and_the_fix() {
    for (scenario, code, fix) in REFUSED {
        let run = nvfix(&fixture(scenario), &["diagnose", "--json"]);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        let v = run.json();
        assert_eq!(v["verdict"], "version-mismatch", "{scenario}");
        assert_eq!(v["action"], "repair", "{scenario}");
        let reasons = reasons_with_code(&v, code);
        assert!(!reasons.is_empty(), "{scenario}: {:#}", v["reasons"]);
        for r in reasons {
            assert!(r["message"]
                .as_str()
                .unwrap()
                .starts_with("the new driver would not load: "));
            assert!(
                r["evidence"][0]["file"].as_str().unwrap().starts_with('/'),
                "{r}"
            );
        }
        assert_eq!(v["preflight"]["passed"], false);
        let steps = v["next_steps"].to_string();
        assert!(steps.contains(fix), "{scenario}: {steps}");
        assert!(
            !steps.contains("nvfix reload"),
            "{scenario}: never suggest the reload: {steps}"
        );
        assert!(
            !steps.contains("nvfix reboot"),
            "{scenario}: a reboot loads the same files: {steps}"
        );

        let text = nvfix(&fixture(scenario), &["diagnose"]).stdout;
        assert!(text.contains("Will the new driver load"), "{text}");
        assert!(
            text.contains(&format!(
                "refused ({})",
                code.trim_start_matches("preflight-")
            )),
            "{text}"
        );
    }
}

#[test]
fn unsigned_under_secure_boot_names_secure_boot_and_the_mok_enrolment() {
    let v = nvfix(&fixture("unsigned-secure-boot"), &["diagnose", "--json"]).json();
    let message = reasons_with_code(&v, "preflight-signature")[0]["message"].to_string();
    assert!(
        message.contains("Secure Boot is on; this kernel enforces module signatures under it"),
        "{message}"
    );
    assert_eq!(v["preflight"]["policy"]["secure_boot"], true);
    assert_eq!(v["preflight"]["policy"]["lockdown"], "integrity");
}

#[test]
fn a_module_signed_by_an_unenrolled_key_names_the_signer_until_the_key_is_trusted() {
    let t = copy_fixture("unenrolled-mok");
    let v = nvfix(t.path(), &["diagnose", "--json"]).json();
    let message = reasons_with_code(&v, "preflight-signature")[0]["message"].to_string();
    assert!(
        message.contains("signed by \\\"nvfix test DKMS module signing key\\\" serial 1c2b3a49, which is not among the kernel's trusted keys"),
        "{message}"
    );
    assert_eq!(
        v["preflight"]["modules"][0]["signature"]["signer"]["by"],
        "issuer-serial"
    );
    // Once MokManager enrolled it, the key shows in the .machine keyring and the reload is back.
    let keys = std::fs::read_to_string(t.path().join("proc/keys")).unwrap()
        + "4c6b2e31 I------     1 perm 1f030000     0     0 asymmetri nvfix test DKMS module signing key: 2c68b4986654c5bca2f415b3f8999a6b7ed672ef: X509.rsa 7ed672ef []\n";
    write_file(t.path(), "/proc/keys", keys.as_bytes());
    let v = nvfix(t.path(), &["diagnose", "--json"]).json();
    assert_eq!(v["action"], "reload", "{:#}", v["preflight"]);
    // Keys the reader cannot see (not root) prove nothing: a note, not a refusal.
    write_file(t.path(), "/proc/keys", b"");
    let v = nvfix(t.path(), &["diagnose", "--json"]).json();
    assert_eq!(v["action"], "reload");
    assert!(v["preflight"]["notes"]
        .to_string()
        .contains("trusted keys could not be seen"));
}

#[test]
fn a_passing_preflight_keeps_the_reload_and_says_what_it_could_not_check() {
    for scenario in [
        "incident",
        "debian",
        "rhel",
        "open-module",
        "driver-not-loaded",
    ] {
        let v = nvfix(&fixture(scenario), &["diagnose", "--json"]).json();
        assert_eq!(v["action"], "reload", "{scenario}: {:#}", v["preflight"]);
        assert_eq!(v["preflight"]["passed"], true, "{scenario}");
        let notes = v["preflight"]["notes"].to_string();
        assert!(
            notes.contains("modprobe --show-depends: not checked"),
            "{notes}"
        );
    }
    // Debian loads nvidia-current through install commands: the pre-flight follows them.
    let v = nvfix(&fixture("debian"), &["diagnose", "--json"]).json();
    assert_eq!(
        v["preflight"]["modules"][0]["requested_as"],
        "nvidia_current"
    );
    // Healthy and reboot hosts do not pay for it.
    for scenario in ["healthy", "reboot-needed", "repair-needed"] {
        let v = nvfix(&fixture(scenario), &["diagnose", "--json"]).json();
        assert_eq!(v["preflight"], Value::Null, "{scenario}");
    }
}

#[test]
fn the_reload_is_refused_with_the_check_the_evidence_and_the_fix() {
    for (scenario, code, fix) in REFUSED {
        let run = nvfix(&fixture(scenario), &["reload", "--dry-run", "--json"]);
        assert_eq!(run.status, 69, "{scenario}: {}", run.stdout);
        let v = run.json();
        let blockers = v["plan"]["blockers"].as_array().unwrap();
        assert!(
            blockers.iter().any(|b| b["code"] == *code),
            "{scenario}: {blockers:?}"
        );
        assert!(blockers.iter().all(|b| b["hint"].is_string()));
        let run = nvfix(&fixture(scenario), &["reload", "--dry-run"]);
        assert_eq!(run.status, 69);
        assert!(run.stdout.contains("BLOCKED"), "{}", run.stdout);
        assert!(run.stdout.contains(fix), "{scenario}: {}", run.stdout);
        // Executing against a tree is refused before anything else; nothing is touched either way.
        let run = nvfix(&fixture(scenario), &["reload", "--yes"]);
        assert_eq!(run.status, 64, "{}", run.stderr);
    }
}

/// A reload engine that must never be called.
struct NoReload(usize);

impl ReloadEngine for NoReload {
    fn reload(&mut self, _plan: &ReloadPlan) -> (ReloadResult, Vec<ActionRecord>) {
        self.0 += 1;
        (ReloadResult::Verified, Vec::new())
    }
}

#[test]
fn auto_reports_the_repair_and_never_reboots_into_the_same_refusal() {
    let playbook = parse_playbook(
        "version: 1\nreload:\n  allowed: true\n  stop_services: [nvidia-persistenced]\nreboot:\n  allowed: true\n  allow_gpu_holders: true\n",
    )
    .unwrap();
    for (scenario, code, _) in REFUSED {
        let t = copy_fixture(scenario);
        write_file(t.path(), "/proc/sys/kernel/hostname", b"gpu07\n");
        let input = AutoInput {
            root: HostRoot::new(t.path()),
            nvml_lib: None,
            playbook: playbook.clone(),
            playbook_source: "test".into(),
            allow_reboot: true,
            dry_run: false,
            now: 1_700_000_000,
            live_probes: false,
            nvml_lock: Default::default(),
        };
        let runner = RecordingRunner::new();
        let mut engine = NoReload(0);
        let r = run_auto(&input, &runner, &mut engine);
        assert_eq!(
            r.outcome,
            Outcome::RepairNeeded,
            "{scenario}: {}",
            r.message
        );
        assert_eq!(r.exit_status, 69);
        assert!(
            r.message.starts_with("the new driver would not load: "),
            "{}",
            r.message
        );
        assert!(
            r.message.contains("a reboot would load the same files"),
            "{}",
            r.message
        );
        assert_eq!(engine.0, 0, "{scenario}: the reload engine was called");
        assert!(
            runner.commands().is_empty(),
            "{scenario}: {:?}",
            runner.commands()
        );
        let _ = code;

        let run = nvfix(t.path(), &["auto", "--dry-run", "--json", "--allow-reboot"]);
        assert_eq!(run.status, 69, "{}", run.stdout);
        assert_eq!(run.json()["outcome"], "repair-needed");
    }
}

#[test]
fn a_missing_dependency_or_a_stale_modules_dep_refuses_the_reload() {
    // drm is not loaded on this host, so modprobe nvidia_drm would insert it first: its file must be there.
    let t = copy_fixture("incident");
    std::fs::remove_file(
        t.path()
            .join("lib/modules/6.8.0-85-generic/kernel/drivers/gpu/drm/drm.ko.zst"),
    )
    .unwrap();
    let run = nvfix(t.path(), &["reload", "--dry-run", "--json"]);
    assert_eq!(run.status, 69, "{}", run.stdout);
    let blockers = run.json()["plan"]["blockers"].to_string();
    assert!(
        blockers.contains("preflight-missing-dependency"),
        "{blockers}"
    );
    assert!(blockers.contains("nvidia_drm needs drm"), "{blockers}");

    // DKMS installed into updates/dkms, but depmod never ran: modules.dep still names the packaged old module,
    // which depmod's own search order would not pick.
    let t = copy_fixture("incident");
    let k = "/lib/modules/6.8.0-85-generic";
    let old = std::fs::read(fixture("modules").join("580.65.06/nvidia.ko")).unwrap();
    write_file(t.path(), &format!("{k}/kernel/nvidia-580/nvidia.ko"), &old);
    write_file(
        t.path(),
        "/etc/depmod.d/ubuntu.conf",
        b"search updates ubuntu built-in\n",
    );
    let dep = std::fs::read_to_string(t.path().join(&k[1..]).join("modules.dep")).unwrap();
    let dep = dep.replace(
        "updates/dkms/nvidia.ko.zst:",
        "kernel/nvidia-580/nvidia.ko:",
    );
    write_file(t.path(), &format!("{k}/modules.dep"), dep.as_bytes());
    let v = nvfix(t.path(), &["diagnose", "--json"]).json();
    assert_eq!(v["action"], "repair");
    let stale = reasons_with_code(&v, "preflight-stale-modules-dep");
    assert_eq!(stale.len(), 1, "{:#}", v["reasons"]);
    assert!(stale[0]["message"].as_str().unwrap().contains(
        "depmod's search order picks /lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst"
    ));
    assert!(v["next_steps"]
        .to_string()
        .contains("sudo depmod -a 6.8.0-85-generic"));
}
