//! The run lock (`<root>/run/lock/nvfix.lock`, flock): one nvfix changes the host at a time; another gets exit 75.

use crate::host::HostRoot;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// Held for the whole run; the kernel releases it when the file closes (also when nvfix is killed).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another nvfix is running (lock {0} is held)")]
    Busy(PathBuf),
    #[error("cannot take the lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Takes the lock without waiting.
pub fn acquire(root: &HostRoot) -> Result<RunLock, LockError> {
    let path = root.path().join("run/lock/nvfix.lock");
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(io)?;
    // SAFETY: flock on a descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            LockError::Busy(path)
        } else {
            io(err)
        });
    }
    Ok(RunLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_told_busy_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let first = acquire(&root).unwrap();
        assert!(matches!(acquire(&root), Err(LockError::Busy(_))));
        drop(first);
        assert!(acquire(&root).is_ok());
    }
}
