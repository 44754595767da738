//! The run lock every changing command takes (`<root>/run/nvfix/lock`): held by someone else, each command exits 75
//! having run and written nothing; a planted lock folder (a link, or one others may write) is refused.

use crate::harness::{copy_fixture, nvfix};
use nvfix::commands::hold::{hold, undo, Mode};
use nvfix::commands::{lock_and_load_journal, reboot};
use nvfix::error::Failure;
use nvfix::host::reload::Journal;
use nvfix::host::runner::RecordingRunner;
use nvfix::host::HostRoot;
use nvfix::model::playbook::default_playbook;
use std::collections::BTreeMap;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Another nvfix, as far as the kernel can tell: the lock file flocked from this process.
fn hold_lock(root: &Path) -> OwnedFd {
    let dir = root.join("run/nvfix");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(dir.join("lock"), "pid 4242 since 1764644645\n").unwrap();
    let fd: OwnedFd = fs::File::open(dir.join("lock")).unwrap().into();
    rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    fd
}

/// Every file under `root` with its content (links as their target), to show nothing changed.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                pending.push(path);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(path, target.into_os_string().into_encoded_bytes());
            } else {
                out.insert(path.clone(), fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

fn failure_code(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<Failure>()
        .map(|f| f.code)
        .unwrap_or_else(|| panic!("not a Failure: {err:#}"))
}

#[test]
fn hold_and_undo_exit_75_running_and_writing_nothing_while_another_nvfix_runs() {
    let tree = copy_fixture("incident");
    let root = HostRoot::new(tree.path());
    let _held = hold_lock(tree.path());
    let before = snapshot(tree.path());
    let runner = RecordingRunner::new();
    for result in [
        hold(&root, &runner, Mode::Apply),
        undo(&root, &runner, Mode::Apply),
    ] {
        let err = result.unwrap_err();
        assert_eq!(failure_code(&err), 75, "{err:#}");
        assert!(
            err.to_string().contains("pid 4242 since 2025-12-02"),
            "{err}"
        );
    }
    assert_eq!(runner.commands(), Vec::<String>::new());
    assert_eq!(snapshot(tree.path()), before);
    // A dry run takes no lock.
    assert!(hold(&root, &runner, Mode::DryRun).is_ok());
}

#[test]
fn reboot_cancel_exits_75_before_running_anything() {
    let tree = copy_fixture("reboot-needed");
    let _held = hold_lock(tree.path());
    let before = snapshot(tree.path());
    let runner = RecordingRunner::new();
    let err = reboot::cancel(
        &HostRoot::new(tree.path()),
        &runner,
        &default_playbook().reboot,
    )
    .unwrap_err();
    assert_eq!(failure_code(&err), 75, "{err:#}");
    assert_eq!(runner.commands(), Vec::<String>::new());
    assert_eq!(snapshot(tree.path()), before);
}

#[test]
fn reload_and_auto_never_read_a_running_reloads_journal() {
    let tree = copy_fixture("incident");
    let root = HostRoot::new(tree.path());
    let journal = Journal::path(&root);
    let _held = hold_lock(tree.path());
    fs::write(&journal, "{\"format\": 1, \"garbled\": true}").unwrap();
    let before = snapshot(tree.path());
    // Busy wins over the journal, even an unreadable one: it belongs to the run that holds the lock.
    let err = lock_and_load_journal(&root).unwrap_err();
    assert_eq!(err.code, 75, "{err}");
    assert_eq!(snapshot(tree.path()), before);
}

#[test]
fn metrics_textfile_waits_for_the_lock_and_stdout_does_not() {
    let tree = copy_fixture("incident");
    let held = hold_lock(tree.path());
    let before = snapshot(tree.path());
    let out = tempfile::tempdir().unwrap();
    let local = out.path().join("nvfix.prom");
    for args in [
        vec!["metrics"],
        vec!["metrics", "--textfile", local.to_str().unwrap()],
    ] {
        let run = nvfix(tree.path(), &args);
        assert_eq!(run.status, 75, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("another nvfix is running"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(snapshot(tree.path()), before);
    assert!(!local.exists());
    let run = nvfix(tree.path(), &["metrics", "--textfile", "-"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    drop(held);
    let run = nvfix(tree.path(), &["metrics"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
}

#[test]
fn a_planted_lock_folder_is_refused_and_nothing_is_created_through_it() {
    let tree = copy_fixture("incident");
    let elsewhere = tempfile::tempdir().unwrap();
    fs::create_dir_all(tree.path().join("run")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), tree.path().join("run/nvfix")).unwrap();
    let run = nvfix(tree.path(), &["metrics"]);
    assert_eq!(run.status, 77, "{}", run.stderr);
    assert!(run.stderr.contains("run/nvfix"), "{}", run.stderr);
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    assert!(!tree
        .path()
        .join("var/lib/prometheus/node-exporter/nvfix.prom")
        .exists());

    let tree = copy_fixture("incident");
    let dir = tree.path().join("run/nvfix");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let root = HostRoot::new(tree.path());
    let runner = RecordingRunner::new();
    let err = hold(&root, &runner, Mode::Apply).unwrap_err();
    assert_eq!(failure_code(&err), 77, "{err:#}");
    assert!(err.to_string().contains("writable by others"), "{err}");
    assert_eq!(runner.commands(), Vec::<String>::new());
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}
