//! What the terminal allows: colour by the NO_COLOR / CLICOLOR conventions, and the width a table must fit.

use crate::cli::ColorChoice;
use std::ffi::OsString;
use std::io::IsTerminal;

/// The width tables fit when stdout is not a terminal (or the terminal does not say): the classic 80 columns.
pub const DEFAULT_COLUMNS: usize = 80;

/// Whether human output is coloured. `--color always|never` decide alone. With `auto`, in this order:
/// `NO_COLOR` set and non-empty → none (no-color.org); `CLICOLOR_FORCE` set, non-empty and not `0` → colour, even
/// into a pipe; stdout not a terminal → none; `TERM=dumb` → none; `CLICOLOR=0` → none; otherwise colour.
pub fn colour_wanted(
    choice: ColorChoice,
    stdout_is_tty: bool,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> bool {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if set("NO_COLOR").is_some() {
                false
            } else if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
                true
            } else {
                stdout_is_tty
                    && env("TERM").is_none_or(|t| t != "dumb")
                    && env("CLICOLOR").is_none_or(|v| v != "0")
            }
        }
    }
}

/// [`colour_wanted`] for this process: its stdout and its environment.
pub fn colour_for_stdout(choice: ColorChoice) -> bool {
    colour_wanted(choice, std::io::stdout().is_terminal(), &|name| {
        std::env::var_os(name)
    })
}

/// The width of the terminal on stdout, or [`DEFAULT_COLUMNS`] when stdout is not one (a pipe, a file, a journal).
pub fn stdout_columns() -> usize {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return DEFAULT_COLUMNS;
    }
    match rustix::termios::tcgetwinsize(&stdout) {
        Ok(size) if size.ws_col > 0 => usize::from(size.ws_col),
        _ => DEFAULT_COLUMNS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(choice: ColorChoice, tty: bool, vars: &[(&str, &str)]) -> bool {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        colour_wanted(choice, tty, &|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn a_terminal_gets_colour_unless_the_environment_says_no() {
        assert!(wanted(
            ColorChoice::Auto,
            true,
            &[("TERM", "xterm-256color")]
        ));
        assert!(wanted(ColorChoice::Auto, true, &[]));
        assert!(!wanted(ColorChoice::Auto, true, &[("NO_COLOR", "1")]));
        assert!(!wanted(ColorChoice::Auto, true, &[("TERM", "dumb")]));
        assert!(!wanted(ColorChoice::Auto, true, &[("CLICOLOR", "0")]));
        assert!(wanted(ColorChoice::Auto, true, &[("CLICOLOR", "1")]));
        // An empty NO_COLOR is "not set" (no-color.org).
        assert!(wanted(ColorChoice::Auto, true, &[("NO_COLOR", "")]));
    }

    #[test]
    fn a_pipe_gets_none_unless_forced() {
        assert!(!wanted(ColorChoice::Auto, false, &[]));
        assert!(wanted(ColorChoice::Auto, false, &[("CLICOLOR_FORCE", "1")]));
        assert!(!wanted(
            ColorChoice::Auto,
            false,
            &[("CLICOLOR_FORCE", "0")]
        ));
        assert!(!wanted(ColorChoice::Auto, false, &[("CLICOLOR_FORCE", "")]));
        // CLICOLOR_FORCE beats TERM=dumb and CLICOLOR=0; NO_COLOR beats everything in auto.
        assert!(wanted(
            ColorChoice::Auto,
            true,
            &[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")]
        ));
        assert!(!wanted(
            ColorChoice::Auto,
            false,
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]
        ));
    }

    #[test]
    fn the_flag_decides_alone() {
        assert!(wanted(ColorChoice::Always, false, &[("NO_COLOR", "1")]));
        assert!(!wanted(
            ColorChoice::Never,
            true,
            &[("CLICOLOR_FORCE", "1")]
        ));
    }
}
