//! Running commands (modprobe, systemctl, …) through a seam: the real runner, and a recorder tests use instead.

use super::HostError;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// A command to run: program, arguments, optional standard input and time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
    pub stdin: Option<String>,
    pub timeout: Option<Duration>,
}

impl CommandSpec {
    pub fn new(program: &str, args: &[&str]) -> Self {
        CommandSpec {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            stdin: None,
            timeout: None,
        }
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

/// Runs commands for real, with a time limit (the child is killed when it runs past it).
#[derive(Debug, Default)]
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run(&self, cmd: &CommandSpec) -> Result<CommandOutput, HostError> {
        let mut child = Command::new(&cmd.program)
            .args(&cmd.args)
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| HostError::Spawn {
                command: cmd.display(),
                source,
            })?;
        if let (Some(input), Some(mut stdin)) = (&cmd.stdin, child.stdin.take()) {
            let _ = stdin.write_all(input.as_bytes());
        }
        let limit = cmd.timeout.unwrap_or(Duration::from_secs(120));
        let start = std::time::Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if start.elapsed() > limit => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(HostError::Timeout {
                        command: cmd.display(),
                        seconds: limit.as_secs(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(source) => {
                    return Err(HostError::Spawn {
                        command: cmd.display(),
                        source,
                    })
                }
            }
        }
        let out = child
            .wait_with_output()
            .map_err(|source| HostError::Spawn {
                command: cmd.display(),
                source,
            })?;
        Ok(CommandOutput {
            status: out.status.code().unwrap_or(128),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Records every command instead of running it, answering from a script of canned outputs (tests only use this).
#[derive(Debug, Default)]
pub struct RecordingRunner {
    recorded: Mutex<Vec<CommandSpec>>,
    /// (command prefix as displayed, output) pairs; the first matching prefix answers, else success with no output.
    responses: Mutex<Vec<(String, CommandOutput)>>,
}

impl RecordingRunner {
    pub fn new() -> Self {
        Self::default()
    }
    /// Answers commands whose display starts with `prefix` with `output`.
    pub fn respond(&self, prefix: &str, output: CommandOutput) {
        self.responses
            .lock()
            .unwrap()
            .push((prefix.to_string(), output));
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
        Ok(responses
            .iter()
            .find(|(p, _)| shown.starts_with(p.as_str()))
            .map(|(_, o)| o.clone())
            .unwrap_or_default())
    }
}
