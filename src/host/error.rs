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
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {seconds} s")]
    Timeout { command: String, seconds: u64 },
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
    /// True when the file is simply not there.
    pub fn is_not_found(&self) -> bool {
        match self {
            HostError::Read { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            _ => false,
        }
    }
}
