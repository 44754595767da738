//! The one error type that carries an exit status out of a command, so `main` maps errors to codes in one place.

use std::fmt;

/// A failure the user should see as one line, with the exit status that classifies it.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit status for an error that reached `main`: a [`Failure`]'s own, 77 for permission problems, 70 otherwise.
pub fn exit_code_for(err: &anyhow::Error) -> i32 {
    if let Some(f) = err.downcast_ref::<Failure>() {
        return f.code;
    }
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<crate::host::HostError>() {
            if h.is_permission_denied() {
                return crate::exit::NO_PERMISSION;
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return crate::exit::NO_PERMISSION;
            }
        }
    }
    crate::exit::SOFTWARE
}
