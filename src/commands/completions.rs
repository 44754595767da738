//! `nvfix completions`: shell completion scripts generated from the clap definitions (committed under completions/).

use super::completion_hints;
use crate::cli::{Cli, CompletionsArgs};
use crate::exit;
use crate::host::atomic_write::{write_file, DirRule};
use crate::host::HostError;
use anyhow::Context as _;
use clap::CommandFactory;
use clap_complete::{Generator, Shell};
use std::path::{Path, PathBuf};

/// Every shell nvfix ships completions for, in the order they are written.
pub const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Elvish,
    Shell::PowerShell,
];

/// The clap command as documentation sees it: environment values hidden, so a generated file never depends on the
/// generating shell's `NVFIX_ROOT` (clap reads `env` values when the command is built).
pub fn documented_command() -> clap::Command {
    fn hide_env_values(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|a| a.hide_env_values(true))
            .mut_subcommands(hide_env_values)
    }
    hide_env_values(Cli::command())
}

/// The command completions offer: the documented one without its hidden commands (`completions`, `man`). clap
/// cannot remove a subcommand, so the top level is rebuilt with the same arguments and the visible commands only.
fn completion_command() -> clap::Command {
    let full = documented_command();
    let mut cmd = clap::Command::new("nvfix")
        .version(env!("CARGO_PKG_VERSION"))
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd
}

/// clap_complete's script for one shell, before [`completion_hints::finish`].
pub fn clap_script(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut completion_command(), "nvfix", &mut buf);
    buf
}

/// The completion script for one shell.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let script = String::from_utf8(clap_script(shell)).expect("clap_complete writes UTF-8");
    completion_hints::finish(shell, script).into_bytes()
}

/// The standard file name clap_complete gives `shell`'s script (`nvfix.bash`, `_nvfix`, `nvfix.fish`, …).
pub fn file_name(shell: Shell) -> String {
    shell.file_name("nvfix")
}

/// Generated files are for everyone to read; a missing folder is created so.
const GENERATED_DIR: DirRule = DirRule::Shared { create_mode: 0o755 };

/// Writes every shell's script into `dir` (created if missing); returns the paths written.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>, HostError> {
    let mut written = Vec::new();
    for shell in SHELLS {
        let path = dir.join(file_name(shell));
        write_file(&path, &completion_script(shell), 0o644, GENERATED_DIR)?;
        written.push(path);
    }
    Ok(written)
}

pub fn run(args: &CompletionsArgs) -> anyhow::Result<i32> {
    match (&args.shell, &args.dir) {
        (Some(shell), None) => {
            use std::io::Write;
            std::io::stdout().write_all(&completion_script(*shell))?;
        }
        (Some(shell), Some(dir)) => {
            let path = dir.join(file_name(*shell));
            write_file(&path, &completion_script(*shell), 0o644, GENERATED_DIR)?;
            crate::outln!("{}", path.display());
        }
        (None, Some(dir)) => {
            for path in write_all(dir).with_context(|| format!("writing into {}", dir.display()))? {
                crate::outln!("{}", path.display());
            }
        }
        // clap requires SHELL unless --dir is given.
        (None, None) => return Ok(exit::USAGE),
    }
    Ok(exit::OK)
}
