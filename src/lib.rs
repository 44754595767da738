//! nvfix: explain and repair NVIDIA driver/library version mismatches.
//!
//! Three layers: [`model`] (pure facts, verdict, plans), [`host`] (every effect, relative to a root) and the CLI
//! ([`cli`], [`commands`], [`render`]). `main` only calls [`run`] and maps its result to an exit status.

/// `println!` for command output: a closed pipe ends the output quietly instead of panicking (see
/// [`render::emit`]).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::render::emit("\n")
    };
    ($($arg:tt)*) => {
        $crate::render::emitln(&format!($($arg)*))
    };
}

/// `print!` for command output, without the panic on a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::render::emit(&format!($($arg)*))
    };
}

pub mod cli;
pub mod commands;
pub mod error;
pub mod exit;
pub mod host;
pub mod model;
pub mod render;

use clap::Parser;

/// Parses the command line and runs the command; returns the exit status.
pub fn run<I, T>(args: I) -> anyhow::Result<i32>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return Ok(code);
        }
    };
    commands::dispatch(cli)
}
