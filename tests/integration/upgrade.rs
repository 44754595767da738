//! `nvfix upgrade` on fixture trees: what it says without apt (a tree is never acted on, and apt is never asked about
//! another machine's packages), the refusals that come from the facts alone, a pending journal, `--check`'s
//! contracts. The upgrade itself is proven in the Debian guest (lab_debian.rs).

use crate::harness::{copy_fixture, fixture, nvfix, reason_codes};

#[test]
fn a_tree_is_only_planned_never_upgraded() {
    let r = nvfix(&fixture("healthy"), &["upgrade", "--yes"]);
    assert_eq!(r.status, 64, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--dry-run or --check"), "{}", r.stderr);
    // Without answers from apt (a tree's apt is never run), nothing newer is known.
    let r = nvfix(&fixture("healthy"), &["upgrade", "--dry-run", "--json"]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["schema"], "nvfix.upgrade/v1");
    assert_eq!(v["dry_run"], true);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("nothing to upgrade"),
        "{v}"
    );
}

#[test]
fn an_inconsistent_or_missing_driver_is_refused_first() {
    let r = nvfix(&fixture("incident"), &["upgrade", "--dry-run"]);
    assert_eq!(r.status, 69, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "the driver is not consistent now (module 580.65.06 loaded, library 580.95.05)"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("next: sudo nvfix auto"), "{}", r.stdout);
    let r = nvfix(
        &fixture("driver-not-loaded"),
        &["upgrade", "--dry-run", "--json"],
    );
    assert_eq!(r.status, 69, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert!(
        v["refusal"]["reason"]
            .as_str()
            .unwrap()
            .contains("no NVIDIA driver is loaded"),
        "{v}"
    );
}

#[test]
fn a_pending_journal_is_reported_by_the_dry_run() {
    let tree = copy_fixture("healthy");
    let journal = r#"{"format": 1, "started_at": 1, "phase": "installed", "plan": {"manager": "apt", "branch": 580,
      "from_version": "580.65.06", "to_version": "580.95.05", "install": [], "changes": [], "kernels": [],
      "release_holds": [], "rollback": [], "rollback_missing": [], "reload_stops": [], "notes": []}}"#;
    std::fs::create_dir_all(tree.path().join("var/lib/nvfix")).unwrap();
    std::fs::write(tree.path().join("var/lib/nvfix/upgrade.json"), journal).unwrap();
    let r = nvfix(tree.path(), &["upgrade", "--dry-run"]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("an upgrade to 580.95.05 is unfinished (phase Installed)"),
        "{}",
        r.stdout
    );
    // diagnose says so, and finishing the upgrade comes first: a bare reload would leave the new version unheld.
    let d = nvfix(tree.path(), &["diagnose", "--json"]).json();
    assert!(
        reason_codes(&d).contains(&"upgrade-unfinished".to_string()),
        "{d}"
    );
    assert_eq!(
        d["next_steps"][0]["command"], "sudo nvfix upgrade --resume",
        "{d}"
    );
    std::fs::write(tree.path().join("var/lib/nvfix/upgrade.json"), "{garbled").unwrap();
    let d = nvfix(tree.path(), &["diagnose", "--json"]).json();
    assert!(
        !reason_codes(&d).contains(&"upgrade-unfinished".to_string()),
        "{d}"
    );
    assert!(
        d.to_string().contains("not an nvfix upgrade journal"),
        "a warning: {d}"
    );
    let r = nvfix(tree.path(), &["upgrade", "--dry-run"]);
    assert!(
        r.stderr.contains("not an nvfix upgrade journal"),
        "{}",
        r.stderr
    );
}

#[test]
fn check_answers_in_json_and_as_metrics() {
    let r = nvfix(&fixture("healthy"), &["upgrade", "--check", "--json"]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["schema"], "nvfix.upgrade-check/v1");
    assert_eq!(v["available"], false);
    assert_eq!(v["branch"], 580);
    let r = nvfix(
        &fixture("healthy"),
        &["upgrade", "--check", "--textfile", "-"],
    );
    assert_eq!(r.status, 0);
    assert!(
        r.stdout.contains("nvfix_driver_upgrade_available{branch=\"580\",installed=\"580.95.05\",candidate=\"\"} 0"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("needs_reboot"),
        "unknown is left out: {}",
        r.stdout
    );
    let r = nvfix(
        &fixture("healthy"),
        &["upgrade", "--check", "--to", "580.95.05"],
    );
    assert_eq!(r.status, 64);
}

#[test]
fn a_playbook_that_forbids_upgrades_refuses_the_plan() {
    use std::os::unix::fs::PermissionsExt;
    let tree = copy_fixture("healthy");
    let dir = tree.path().join("etc/nvfix/playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in [
        ("wave", "version: 1\nupgrade:\n  allowed: false\n"),
        ("stuck", "version: 1\nreload:\n  allowed: false\n"),
    ] {
        let f = dir.join(format!("{name}.yaml"));
        std::fs::write(&f, text).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let r = nvfix(tree.path(), &["upgrade", "--dry-run", "--playbook", "wave"]);
    assert_eq!(r.status, 69, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("forbids upgrades here (upgrade.allowed: false)"),
        "{}",
        r.stdout
    );
    let r = nvfix(
        tree.path(),
        &["upgrade", "--dry-run", "--playbook", "stuck", "--json"],
    );
    assert_eq!(r.status, 69, "{}{}", r.stdout, r.stderr);
    assert!(r.json()["refusal"]["reason"]
        .as_str()
        .unwrap()
        .contains("neither a reload nor a reboot"));
    // The built-in default allows it.
    assert_eq!(nvfix(tree.path(), &["upgrade", "--dry-run"]).status, 0);
}
