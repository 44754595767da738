//! Rendering: the human report (colour on a TTY) and the stable JSON contract.

pub mod check;
pub mod json;
pub mod man;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod table;
pub mod terminal;
pub mod upgrade;

use std::io::Write;

/// Writes command output to stdout. A closed pipe (`nvfix diagnose | head`) is not an error worth a panic or a
/// non-zero status: the reader has what it wanted. SIGPIPE stays ignored on purpose, so that a reload in progress
/// is never killed by its reader going away.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// [`emit`] with a newline.
pub fn emitln(text: &str) {
    emit(&format!("{text}\n"));
}
