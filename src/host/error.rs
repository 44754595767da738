//! Typed errors at the host boundary; each carries the path or command it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// Larger than its kind's read budget ([`super::read_budget`]): not read.
    #[error("{path}: {message}")]
    OverBudget { path: PathBuf, message: String },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    /// Ran past its limit and was stopped (SIGTERM, then SIGKILL to its process group) and reaped.
    #[error("`{command}` did not finish within {seconds} s and was stopped")]
    Timeout {
        command: String,
        pid: u32,
        seconds: u64,
    },
    /// Ran past its limit and did not exit even after SIGKILL (stuck in the kernel, D state): left behind.
    #[error(
        "`{command}` (pid {pid}) did not finish within {seconds} s and did not exit after SIGKILL (stuck in the \
         kernel): left behind"
    )]
    Abandoned {
        command: String,
        pid: u32,
        seconds: u64,
    },
}

impl HostError {
    /// True when the underlying cause is "permission denied", so the CLI can exit with 77.
    pub fn is_permission_denied(&self) -> bool {
        match self {
            HostError::Read { source, .. }
            | HostError::Write { source, .. }
            | HostError::Spawn { source, .. } => {
                source.kind() == std::io::ErrorKind::PermissionDenied
            }
            _ => false,
        }
    }
    /// The pid of a command that ran past its limit (stopped or left behind), else None.
    pub fn overran(&self) -> Option<u32> {
        match self {
            HostError::Timeout { pid, .. } | HostError::Abandoned { pid, .. } => Some(*pid),
            _ => None,
        }
    }
    /// True when the file is simply not there.
    pub fn is_not_found(&self) -> bool {
        match self {
            HostError::Read { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            _ => false,
        }
    }
}
