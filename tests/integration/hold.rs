//! `nvfix hold`: the plan on fixture trees through the library with a RecordingRunner (no real apt-mark or dnf ever
//! runs), the drop-in's effect through `blacklist_matches`, `--undo` releasing exactly what nvfix held, and the binary's
//! dry run under a non-/ root.

use crate::harness::{copy_fixture, fixture, nvfix, write_file};
use nvfix::commands::hold::{hold, status, undo, Mode};
use nvfix::error::Failure;
use nvfix::host::runner::{CommandOutput, RecordingRunner};
use nvfix::host::HostRoot;
use nvfix::model::dpkg::{blacklist_matches, parse_apt_conf, UnattendedConfig};
use nvfix::model::hold::{parse_state, DROPIN_PATH, STATE_PATH};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The incident host's seven driver packages, sorted.
const INCIDENT_PACKAGES: &[&str] = &[
    "libnvidia-compute-580",
    "libnvidia-gl-580",
    "nvidia-compute-utils-580",
    "nvidia-dkms-580",
    "nvidia-driver-580",
    "nvidia-kernel-common-580",
    "nvidia-utils-580",
];

fn read(root: &Path, host_path: &str) -> Option<String> {
    std::fs::read_to_string(root.join(host_path.trim_start_matches('/'))).ok()
}

/// Sets dpkg's want flag of `packages` in the tree's status file, as `apt-mark hold|unhold` would.
fn set_held(root: &Path, packages: &[&str], held: bool) {
    let text = read(root, "/var/lib/dpkg/status").expect("dpkg status");
    let mut out = String::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Package: ") {
            current = name.trim().to_string();
        }
        if line.starts_with("Status: ") && packages.contains(&current.as_str()) {
            let rest = line
                .trim_start_matches("Status: ")
                .split_once(' ')
                .map(|(_, r)| r)
                .unwrap_or("");
            out.push_str(&format!(
                "Status: {} {rest}\n",
                if held { "hold" } else { "install" }
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    write_file(root, "/var/lib/dpkg/status", out.as_bytes());
}

fn failure_code(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<Failure>()
        .map(|f| f.code)
        .unwrap_or_else(|| panic!("not a Failure: {err:#}"))
}

#[test]
fn incident_hold_runs_apt_mark_writes_the_dropin_and_records_what_it_held() {
    let tree = copy_fixture("incident");
    let root = HostRoot::new(tree.path());
    let runner = RecordingRunner::new();
    let outcome = hold(&root, &runner, Mode::Apply).unwrap();
    assert_eq!(
        runner.commands(),
        vec![format!("apt-mark hold {}", INCIDENT_PACKAGES.join(" "))]
    );
    assert_eq!(outcome.changed, INCIDENT_PACKAGES);
    assert!(outcome.left_alone.is_empty());

    let state = parse_state(&read(tree.path(), STATE_PATH).unwrap()).unwrap();
    assert_eq!(state.held, INCIDENT_PACKAGES);

    let dropin_path = tree.path().join(DROPIN_PATH.trim_start_matches('/'));
    let mode = std::fs::metadata(&dropin_path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644);
    let mut config = UnattendedConfig::default();
    parse_apt_conf(&read(tree.path(), DROPIN_PATH).unwrap(), &mut config);
    assert_eq!(config.blacklist.len(), INCIDENT_PACKAGES.len());
    let covered = |name: &str| config.blacklist.iter().any(|e| blacklist_matches(e, name));
    for name in INCIDENT_PACKAGES {
        assert!(
            covered(name),
            "{name} not blacklisted by {:?}",
            config.blacklist
        );
    }
    for other in [
        "nvidia-driver-5800",
        "libnvidia-compute-5800",
        "nvidia-driver-580-open",
        "nvidia-container-toolkit",
    ] {
        assert!(!covered(other), "{other} must not be blacklisted");
    }

    // The drop-in alone already protects the host from unattended-upgrades (before apt-mark's effect shows).
    let st = status(&root, &runner).unwrap();
    assert!(!st.at_risk, "{:?}", st.exposed);
    assert!(st.dropin);
}

#[test]
fn undo_releases_exactly_what_nvfix_held_and_removes_its_files() {
    let tree = copy_fixture("incident");
    // The admin held the metapackage before nvfix ran.
    set_held(tree.path(), &["nvidia-driver-580"], true);
    let root = HostRoot::new(tree.path());
    let runner = RecordingRunner::new();
    let outcome = hold(&root, &runner, Mode::Apply).unwrap();
    let ours: Vec<&str> = INCIDENT_PACKAGES
        .iter()
        .copied()
        .filter(|p| *p != "nvidia-driver-580")
        .collect();
    assert_eq!(
        runner.commands(),
        vec![format!("apt-mark hold {}", ours.join(" "))]
    );
    assert_eq!(outcome.left_alone, vec!["nvidia-driver-580"]);
    // What apt-mark would have done.
    set_held(tree.path(), &ours, true);

    let st = status(&root, &runner).unwrap();
    assert!(st.packages.iter().all(|p| p.held));
    let by_nvfix: Vec<&str> = st
        .packages
        .iter()
        .filter(|p| p.by_nvfix)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(by_nvfix, ours);

    // A second hold changes nothing.
    let again = RecordingRunner::new();
    let outcome = hold(&root, &again, Mode::Apply).unwrap();
    assert!(again.commands().is_empty());
    assert!(outcome.steps.is_empty(), "{:?}", outcome.steps);

    let undo_runner = RecordingRunner::new();
    let outcome = undo(&root, &undo_runner, Mode::Apply).unwrap();
    assert_eq!(
        undo_runner.commands(),
        vec![format!("apt-mark unhold {}", ours.join(" "))]
    );
    assert_eq!(outcome.left_alone, vec!["nvidia-driver-580"]);
    assert!(read(tree.path(), DROPIN_PATH).is_none(), "drop-in removed");
    assert!(read(tree.path(), STATE_PATH).is_none(), "record removed");
    // The stock configuration is untouched.
    assert_eq!(
        read(tree.path(), "/etc/apt/apt.conf.d/50unattended-upgrades"),
        read(
            &fixture("incident"),
            "/etc/apt/apt.conf.d/50unattended-upgrades"
        )
    );

    // Nothing left to undo.
    let empty = RecordingRunner::new();
    let outcome = undo(&root, &empty, Mode::Apply).unwrap();
    assert!(empty.commands().is_empty());
    assert!(outcome.steps.is_empty());
}

#[test]
fn healthy_host_held_by_the_admin_gets_only_the_dropin_and_undo_keeps_the_holds() {
    let tree = copy_fixture("healthy");
    let root = HostRoot::new(tree.path());
    let runner = RecordingRunner::new();
    let outcome = hold(&root, &runner, Mode::Apply).unwrap();
    assert!(runner.commands().is_empty(), "{:?}", runner.commands());
    assert_eq!(outcome.left_alone, INCIDENT_PACKAGES);
    let state = parse_state(&read(tree.path(), STATE_PATH).unwrap()).unwrap();
    assert!(state.held.is_empty(), "the admin's holds are not nvfix's");
    assert!(read(tree.path(), DROPIN_PATH).is_some());

    let undo_runner = RecordingRunner::new();
    undo(&root, &undo_runner, Mode::Apply).unwrap();
    assert!(
        undo_runner.commands().is_empty(),
        "no unhold of the admin's packages"
    );
    assert!(read(tree.path(), DROPIN_PATH).is_none());
}

#[test]
fn a_failed_apt_mark_leaves_no_dropin_and_undo_releases_nothing() {
    let tree = copy_fixture("incident");
    let root = HostRoot::new(tree.path());
    let runner = RecordingRunner::new();
    runner.respond(
        "apt-mark hold",
        CommandOutput {
            status: 100,
            stdout: String::new(),
            stderr: "E: Could not get lock /var/lib/dpkg/lock-frontend\n".into(),
        },
    );
    let err = hold(&root, &runner, Mode::Apply).unwrap_err();
    assert_eq!(failure_code(&err), 1);
    assert!(err.to_string().contains("lock-frontend"), "{err}");
    assert!(read(tree.path(), DROPIN_PATH).is_none());
    // The record was written first; nothing it lists is held, so undo runs no command and clears it.
    let undo_runner = RecordingRunner::new();
    undo(&root, &undo_runner, Mode::Apply).unwrap();
    assert!(undo_runner.commands().is_empty());
    assert!(read(tree.path(), STATE_PATH).is_none());
}

#[test]
fn an_admin_file_at_the_dropin_path_is_never_overwritten_or_removed() {
    let tree = copy_fixture("incident");
    let mine = b"Unattended-Upgrade::Package-Blacklist { \"linux-\"; };\n";
    write_file(tree.path(), DROPIN_PATH, mine);
    let root = HostRoot::new(tree.path());
    let runner = RecordingRunner::new();
    let err = hold(&root, &runner, Mode::Apply).unwrap_err();
    assert_eq!(failure_code(&err), 78);
    assert!(runner.commands().is_empty());
    undo(&root, &runner, Mode::Apply).unwrap();
    assert_eq!(read(tree.path(), DROPIN_PATH).unwrap().as_bytes(), mine);
}

#[test]
fn dry_run_runs_and_writes_nothing() {
    let tree = copy_fixture("incident");
    let root = HostRoot::new(tree.path());
    let runner = RecordingRunner::new();
    let outcome = hold(&root, &runner, Mode::DryRun).unwrap();
    assert!(runner.commands().is_empty());
    assert_eq!(outcome.steps.len(), 3);
    assert!(read(tree.path(), DROPIN_PATH).is_none());
    assert!(read(tree.path(), STATE_PATH).is_none());
}

#[test]
fn debian_names_without_branch_are_held() {
    let tree = copy_fixture("debian");
    let root = HostRoot::new(tree.path());
    let runner = RecordingRunner::new();
    hold(&root, &runner, Mode::Apply).unwrap();
    assert_eq!(
        runner.commands(),
        vec!["apt-mark hold libcuda1 libnvidia-ml1 nvidia-driver nvidia-kernel-dkms nvidia-kernel-support nvidia-smi"]
    );
    let mut config = UnattendedConfig::default();
    parse_apt_conf(&read(tree.path(), DROPIN_PATH).unwrap(), &mut config);
    assert!(config
        .blacklist
        .iter()
        .any(|e| blacklist_matches(e, "nvidia-driver")));
    assert!(
        !config
            .blacklist
            .iter()
            .any(|e| blacklist_matches(e, "nvidia-driver-bin")),
        "exact names only"
    );
}

#[test]
fn rhel_uses_dnf_versionlock_and_needs_the_plugin() {
    let tree = copy_fixture("rhel");
    let root = HostRoot::new(tree.path());
    let runner = RecordingRunner::new();
    let err = hold(&root, &runner, Mode::Apply).unwrap_err();
    assert_eq!(failure_code(&err), 69);
    assert!(
        err.to_string().contains("python3-dnf-plugin-versionlock"),
        "{err}"
    );
    assert!(runner.commands().is_empty());

    write_file(
        tree.path(),
        "/etc/dnf/plugins/versionlock.conf",
        b"[main]\nenabled = 1\n",
    );
    hold(&root, &runner, Mode::Apply).unwrap();
    assert_eq!(
        runner.commands(),
        vec!["dnf versionlock add libnvidia-ml nvidia-driver-cuda-libs"]
    );
    assert!(
        read(tree.path(), DROPIN_PATH).is_none(),
        "no apt drop-in on RHEL"
    );
    // What versionlock would have written, plus a lock the admin set.
    write_file(
        tree.path(),
        "/etc/dnf/plugins/versionlock.list",
        b"libnvidia-ml-3:580.95.05-1.el9.*\nnvidia-driver-cuda-libs-3:580.95.05-1.el9.*\n",
    );
    let st = status(&root, &runner).unwrap();
    assert!(!st.at_risk);
    let undo_runner = RecordingRunner::new();
    undo(&root, &undo_runner, Mode::Apply).unwrap();
    assert_eq!(
        undo_runner.commands(),
        vec!["dnf versionlock delete libnvidia-ml nvidia-driver-cuda-libs"]
    );
}

#[test]
fn no_package_manager_is_unavailable() {
    let tree = tempfile::tempdir().unwrap();
    let root = HostRoot::new(tree.path());
    let err = hold(&root, &RecordingRunner::new(), Mode::DryRun).unwrap_err();
    assert_eq!(failure_code(&err), 69);
    let run = nvfix(tree.path(), &["hold", "--status"]);
    assert_eq!(run.status, 69, "{}", run.stderr);
}

#[test]
fn binary_under_a_tree_only_shows_what_it_would_do() {
    let tree = copy_fixture("incident");
    let run = nvfix(tree.path(), &["hold"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.contains("--root is not /"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "would apt-mark hold {}",
            INCIDENT_PACKAGES.join(" ")
        )),
        "{}",
        run.stdout
    );
    assert!(read(tree.path(), DROPIN_PATH).is_none());
    assert!(read(tree.path(), STATE_PATH).is_none());

    let run = nvfix(tree.path(), &["hold", "--undo", "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["action"], "undo");
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["steps"].as_array().unwrap().len(), 0);
}

#[test]
fn binary_status_exit_says_whether_the_driver_is_at_risk() {
    let run = nvfix(&fixture("incident"), &["hold", "--status"]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stdout.contains("AT RISK"), "{}", run.stdout);
    let run = nvfix(&fixture("healthy"), &["hold", "--status", "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["manager"], "apt");
    assert_eq!(json["at_risk"], false);
    assert_eq!(json["packages"].as_array().unwrap().len(), 7);
    let run = nvfix(&fixture("incident"), &["hold", "--status", "--undo"]);
    assert_eq!(run.status, 64, "conflicting flags are a usage error");
}
