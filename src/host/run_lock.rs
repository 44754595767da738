//! The run lock (`<root>/run/nvfix/lock`, flock): one nvfix changes the host at a time; another is told who holds it.
//!
//! The folder is nvfix's private one (see [`DirRule::Private`]): created 0700, never followed through a link, and
//! refused when it belongs to someone else or others may write in it — in world-writable `/run/lock` any user could
//! hold the lock and make every `sudo nvfix reload` give up. The lock file is opened O_NOFOLLOW relative to the
//! folder's descriptor. The holder writes its pid and start time into it, so the next one can say who is running.

use crate::host::atomic_write::{open_dir, DirRule};
use crate::host::{HostError, HostRoot};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// The folder, under the root.
pub const RUN_DIR: &str = "run/nvfix";
/// The lock file's name in it.
pub const LOCK_NAME: &str = "lock";

/// Held for the whole run; the kernel releases it when the descriptor closes (also when nvfix is killed).
#[derive(Debug)]
pub struct RunLock {
    _file: OwnedFd,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another nvfix is running ({holder}; lock {path}): try again when it has finished")]
    Busy { path: PathBuf, holder: String },
    /// The folder is a link, someone else's, or writable by others: planted, so nvfix will not use it.
    #[error("refusing the lock folder: {0}")]
    Refused(HostError),
    #[error("cannot take the lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `<root>/run/nvfix/lock`.
pub fn lock_path(root: &HostRoot) -> PathBuf {
    root.path().join(RUN_DIR).join(LOCK_NAME)
}

/// Takes the lock without waiting; `now_unix` is recorded as the holder's start.
pub fn acquire(root: &HostRoot, now_unix: u64) -> Result<RunLock, LockError> {
    let dir = root.path().join(RUN_DIR);
    let path = dir.join(LOCK_NAME);
    let dir_fd = open_dir(&dir, DirRule::Private).map_err(|e| match e {
        HostError::Invalid { .. } => LockError::Refused(e),
        HostError::Write { path, source } => LockError::Io { path, source },
        e => LockError::Io {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        },
    })?;
    let io = |e: Errno| LockError::Io {
        path: path.clone(),
        source: e.into(),
    };
    let file = rustix::fs::openat(
        &dir_fd,
        LOCK_NAME,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| match e {
        Errno::LOOP => LockError::Refused(HostError::Invalid {
            path: path.clone(),
            message: "is a link; nvfix refuses to open it".into(),
        }),
        e => io(e),
    })?;
    lock_exclusive(&file).map_err(|e| match e {
        Errno::WOULDBLOCK => LockError::Busy {
            holder: describe_holder(&file),
            path: path.clone(),
        },
        e => io(e),
    })?;
    record_holder(&file, now_unix);
    Ok(RunLock { _file: file, path })
}

/// How long a lock this process itself recorded may stay busy after its descriptor was closed.
const OWN_LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// flock without waiting, with one exception. A lock file whose record names this very process is a lock this process
/// released, still held through a copy of its descriptor that a child forked meanwhile by another thread carries until
/// its exec closes it (close-on-exec acts at exec, not at fork). That copy goes within milliseconds, so the lock is
/// tried again for a short while; another process's lock is answered at once.
fn lock_exclusive(file: &OwnedFd) -> Result<(), Errno> {
    let started = std::time::Instant::now();
    loop {
        match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
            Err(Errno::WOULDBLOCK)
                if holder_pid(file) == Some(std::process::id())
                    && started.elapsed() < OWN_LOCK_GRACE =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The pid in the holder's record, if there is one.
fn holder_pid(file: &OwnedFd) -> Option<u32> {
    let mut buf = [0u8; 128];
    let n = rustix::io::pread(file, &mut buf, 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["pid", pid, ..] => pid.parse().ok(),
        _ => None,
    }
}

/// Writes `pid <pid> since <unix seconds>` into the held lock file (best effort: the lock holds without it).
fn record_holder(file: &OwnedFd, now_unix: u64) {
    let text = format!("pid {} since {now_unix}\n", std::process::id());
    if rustix::fs::ftruncate(file, 0).is_ok() {
        let _ = rustix::io::pwrite(file, text.as_bytes(), 0);
    }
}

/// "pid 1234 since 2026-12-02T03:04:05Z" from the holder's record, or as much of it as is readable.
fn describe_holder(file: &OwnedFd) -> String {
    let mut buf = [0u8; 128];
    let n = rustix::io::pread(file, &mut buf, 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    holder_text(&text)
}

fn holder_text(record: &str) -> String {
    let words: Vec<&str> = record.split_whitespace().collect();
    match words.as_slice() {
        ["pid", pid, "since", secs] if pid.parse::<u32>().is_ok() => {
            let since = secs
                .parse::<i64>()
                .ok()
                .and_then(|s| jiff::Timestamp::from_second(s).ok())
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string());
            match since {
                Some(since) => format!("pid {pid} since {since}"),
                None => format!("pid {pid}"),
            }
        }
        _ => "holder not recorded".into(),
    }
}

/// The folder the lock lives in (the journal's too).
pub fn run_dir(root: &HostRoot) -> PathBuf {
    root.path().join(RUN_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    #[test]
    fn a_second_taker_is_told_who_holds_it_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let first = acquire(&root, 1_764_644_645).unwrap();
        let err = acquire(&root, 0).unwrap_err();
        let shown = err.to_string();
        assert!(matches!(err, LockError::Busy { .. }), "{shown}");
        assert!(
            shown.contains(&format!(
                "pid {} since 2025-12-02 03:04:05 UTC",
                std::process::id()
            )),
            "{shown}"
        );
        drop(first);
        assert!(acquire(&root, 0).is_ok());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&run_dir(&root)), 0o700);
        assert_eq!(mode(&lock_path(&root)), 0o600);
    }

    #[test]
    fn a_lock_this_process_released_is_taken_again_once_a_forked_copy_closes() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let first = acquire(&root, 0).unwrap();
        // A duplicate shares the open file description, as a child forked before exec does.
        let forked_copy = first._file.try_clone().unwrap();
        drop(first);
        let closer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(forked_copy);
        });
        let started = std::time::Instant::now();
        assert!(acquire(&root, 0).is_ok());
        assert!(started.elapsed() >= std::time::Duration::from_millis(150));
        closer.join().unwrap();
    }

    #[test]
    fn another_process_lock_is_answered_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let held = acquire(&root, 0).unwrap();
        record_holder_as(&held._file, 1);
        let started = std::time::Instant::now();
        let err = acquire(&root, 0).unwrap_err();
        assert!(err.to_string().contains("pid 1 "), "{err}");
        assert!(started.elapsed() < OWN_LOCK_GRACE / 2);
    }

    fn record_holder_as(file: &OwnedFd, pid: u32) {
        rustix::fs::ftruncate(file, 0).unwrap();
        rustix::io::pwrite(file, format!("pid {pid} since 0\n").as_bytes(), 0).unwrap();
    }

    #[test]
    fn a_planted_folder_link_is_refused_and_nothing_is_created_behind_it() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::create_dir_all(dir.path().join("run")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("run/nvfix")).unwrap();
        let err = acquire(&HostRoot::new(dir.path()), 0).unwrap_err();
        assert!(matches!(err, LockError::Refused(_)), "{err}");
        assert!(err.to_string().contains("run/nvfix"), "{err}");
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn a_folder_others_may_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run/nvfix");
        fs::create_dir_all(&run).unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o777)).unwrap();
        let err = acquire(&HostRoot::new(dir.path()), 0).unwrap_err();
        assert!(matches!(err, LockError::Refused(_)), "{err}");
        assert!(err.to_string().contains("writable by others"), "{err}");
        assert!(!run.join(LOCK_NAME).exists());
    }

    #[test]
    fn a_link_at_the_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run/nvfix");
        fs::create_dir_all(&run).unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "keep").unwrap();
        std::os::unix::fs::symlink(&outside, run.join(LOCK_NAME)).unwrap();
        let err = acquire(&HostRoot::new(dir.path()), 0).unwrap_err();
        assert!(matches!(err, LockError::Refused(_)), "{err}");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "keep");
    }

    #[test]
    fn an_unreadable_record_still_says_nvfix_is_running() {
        assert_eq!(holder_text(""), "holder not recorded");
        assert_eq!(holder_text("pid 12 since 99999999999999999"), "pid 12");
    }
}
