//! Running commands (modprobe, systemctl, …) through a seam: the real runner, and a recorder tests use instead.

use super::bounded_child::{run_bounded, Bounds};
use super::HostError;
use std::sync::Mutex;
use std::time::Duration;

/// A command to run: program, arguments, optional standard input and time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
    pub stdin: Option<String>,
    pub timeout: Option<Duration>,
    /// The folder it runs in (`apt-get download` writes there); None: nvfix's own.
    pub cwd: Option<std::path::PathBuf>,
}

impl CommandSpec {
    pub fn new(program: &str, args: &[&str]) -> Self {
        CommandSpec {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            stdin: None,
            timeout: None,
            cwd: None,
        }
    }
    pub fn in_dir(mut self, dir: &std::path::Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }
    pub fn with_stdin(mut self, input: &str) -> Self {
        self.stdin = Some(input.into());
        self
    }
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    /// The command as a shell would show it.
    pub fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in &self.args {
            s.push(' ');
            if a.is_empty() || a.contains(char::is_whitespace) {
                s.push_str(&format!("{a:?}"));
            } else {
                s.push_str(a);
            }
        }
        s
    }
}

/// What a command did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

pub trait CommandRunner {
    fn run(&self, cmd: &CommandSpec) -> Result<CommandOutput, HostError>;
}

/// Runs commands for real, each within its time limit (see [`run_bounded`]: output drained while it runs, its own
/// process group, SIGTERM then SIGKILL past the limit, and a child stuck in the kernel left behind, never waited on
/// forever).
#[derive(Debug, Default)]
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run(&self, cmd: &CommandSpec) -> Result<CommandOutput, HostError> {
        run_bounded(cmd, &Bounds::default())
    }
}

/// Records every command instead of running it, answering from a script of canned outputs (tests only use this).
#[derive(Debug, Default)]
pub struct RecordingRunner {
    recorded: Mutex<Vec<CommandSpec>>,
    /// (command prefix as displayed, answer) pairs; the first matching prefix answers, else success with no output.
    responses: Mutex<Vec<(String, Scripted)>>,
}

/// A scripted answer: what the command printed, or the error running it gave (a timeout, a child left behind).
#[derive(Debug, Clone)]
enum Scripted {
    Output(CommandOutput),
    Error(fn(&CommandSpec) -> HostError),
}

impl RecordingRunner {
    pub fn new() -> Self {
        Self::default()
    }
    /// Answers commands whose display starts with `prefix` with `output`.
    pub fn respond(&self, prefix: &str, output: CommandOutput) {
        self.script(prefix, Scripted::Output(output));
    }
    /// Answers commands whose display starts with `prefix` with the error `make` builds (e.g.
    /// [`HostError::Abandoned`] for a `modprobe -r` stuck in the kernel).
    pub fn respond_error(&self, prefix: &str, make: fn(&CommandSpec) -> HostError) {
        self.script(prefix, Scripted::Error(make));
    }
    fn script(&self, prefix: &str, answer: Scripted) {
        self.responses
            .lock()
            .unwrap()
            .push((prefix.to_string(), answer));
    }
    /// The commands run so far, as displayed.
    pub fn commands(&self) -> Vec<String> {
        self.recorded
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.display())
            .collect()
    }
}

impl CommandRunner for RecordingRunner {
    fn run(&self, cmd: &CommandSpec) -> Result<CommandOutput, HostError> {
        let shown = cmd.display();
        self.recorded.lock().unwrap().push(cmd.clone());
        let responses = self.responses.lock().unwrap();
        match responses
            .iter()
            .find(|(p, _)| shown.starts_with(p.as_str()))
        {
            Some((_, Scripted::Output(o))) => Ok(o.clone()),
            Some((_, Scripted::Error(make))) => Err(make(cmd)),
            None => Ok(CommandOutput::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripted_error_answers_its_commands_and_others_succeed() {
        let runner = RecordingRunner::new();
        runner.respond_error("modprobe -r nvidia", |cmd| HostError::Abandoned {
            command: cmd.display(),
            pid: 77,
            seconds: 10,
        });
        let err = runner
            .run(&CommandSpec::new("modprobe", &["-r", "nvidia"]))
            .unwrap_err();
        assert_eq!(err.overran(), Some(77));
        assert!(err.to_string().contains("modprobe -r nvidia"), "{err}");
        assert!(runner
            .run(&CommandSpec::new("modprobe", &["nvidia"]))
            .is_ok());
        assert_eq!(
            runner.commands(),
            vec!["modprobe -r nvidia", "modprobe nvidia"]
        );
    }
}
