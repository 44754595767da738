//! Running one child process within bounds: its output drained while it runs, its own process group, and a time limit
//! that ends in SIGTERM, SIGKILL and a bounded wait — never an unbounded one.
//!
//! Why each part: a child printing more than the pipe buffer (a `kubectl drain` log) blocks until someone reads, so
//! reading only after it exits turns into a false timeout; a terminal's Ctrl-C goes to the foreground process group,
//! so a child in nvfix's group would be hit mid-`modprobe` (nvfix's own handler decides what an interrupt does); and
//! a `modprobe -r` whose module exit never returns sits in D state where even SIGKILL waits, so the last wait is
//! bounded and the child is left behind and reported ([`HostError::Abandoned`]).

use super::runner::{CommandOutput, CommandSpec};
use super::HostError;
use rustix::process::{kill_process_group, Pid, Signal};
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most this much of each stream is kept (the rest is read and dropped, so the child never blocks on it).
const KEEP_BYTES: usize = 8 << 20;

/// The limits and the one OS call a test replaces.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// When the command names none.
    pub default_timeout: Duration,
    /// After SIGTERM to the group, before SIGKILL.
    pub term_grace: Duration,
    /// After SIGKILL, before the child is left behind.
    pub kill_wait: Duration,
    /// After the child is reaped, how long its output may still take to arrive (a grandchild that escaped the group
    /// can hold the pipe open forever).
    pub drain_wait: Duration,
    /// Reaps the child if it has exited (`Child::try_wait`); a test answers "still there" to reach the abandon path.
    pub reap: fn(&mut Child) -> std::io::Result<Option<ExitStatus>>,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            default_timeout: Duration::from_secs(120),
            term_grace: Duration::from_secs(3),
            kill_wait: Duration::from_secs(5),
            drain_wait: Duration::from_secs(1),
            reap: Child::try_wait,
        }
    }
}

const POLL: Duration = Duration::from_millis(10);

/// Runs `cmd` within `bounds`.
pub fn run_bounded(cmd: &CommandSpec, bounds: &Bounds) -> Result<CommandOutput, HostError> {
    let spawn_err = |source| HostError::Spawn {
        command: cmd.display(),
        source,
    };
    let mut command = Command::new(&cmd.program);
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    let mut child = command
        .args(&cmd.args)
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: the terminal's Ctrl-C reaches nvfix only, and a timeout can signal everything it started.
        .process_group(0)
        .spawn()
        .map_err(spawn_err)?;
    let (done_tx, done_rx) = mpsc::channel();
    let stdout = drain(child.stdout.take(), done_tx.clone());
    let stderr = drain(child.stderr.take(), done_tx);
    if let (Some(input), Some(mut pipe)) = (cmd.stdin.clone(), child.stdin.take()) {
        // A child that does not read its input must not block nvfix: the writer gives up when the pipe breaks.
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    let limit = cmd.timeout.unwrap_or(bounds.default_timeout);
    let status = match wait_until(&mut child, bounds, limit).map_err(spawn_err)? {
        Some(status) => status,
        None => return Err(stop_group(&mut child, cmd, bounds, limit)),
    };
    // Reaped: wait briefly for the readers, then take what they have.
    let deadline = Instant::now() + bounds.drain_wait;
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    Ok(CommandOutput {
        status: status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        stdout: take_text(&stdout),
        stderr: take_text(&stderr),
    })
}

/// Polls until the child is reaped (Some) or `limit` has passed (None).
fn wait_until(
    child: &mut Child,
    bounds: &Bounds,
    limit: Duration,
) -> std::io::Result<Option<ExitStatus>> {
    let start = Instant::now();
    loop {
        if let Some(status) = (bounds.reap)(child)? {
            return Ok(Some(status));
        }
        if start.elapsed() >= limit {
            return Ok(None);
        }
        std::thread::sleep(POLL.min(limit.saturating_sub(start.elapsed())));
    }
}

/// Past the limit: SIGTERM to the group, a grace, SIGKILL to the group, a bounded wait. The child is not reaped yet
/// when a signal is sent, so its pid (the group's id) cannot have been reused.
fn stop_group(child: &mut Child, cmd: &CommandSpec, bounds: &Bounds, limit: Duration) -> HostError {
    let pid = child.id();
    // A live child's pid is never 0; `None` would only mean there is no group to signal.
    let group = Pid::from_raw(pid as i32);
    if let Some(group) = group {
        let _ = kill_process_group(group, Signal::TERM);
    }
    if let Ok(Some(_)) = wait_until(child, bounds, bounds.term_grace) {
        return timeout(cmd, pid, limit);
    }
    if let Some(group) = group {
        let _ = kill_process_group(group, Signal::KILL);
    }
    match wait_until(child, bounds, bounds.kill_wait) {
        Ok(Some(_)) => timeout(cmd, pid, limit),
        // Stuck in the kernel (D state): waiting longer could be forever. Left behind, reported.
        _ => HostError::Abandoned {
            command: cmd.display(),
            pid,
            seconds: limit.as_secs(),
        },
    }
}

fn timeout(cmd: &CommandSpec, pid: u32, limit: Duration) -> HostError {
    HostError::Timeout {
        command: cmd.display(),
        pid,
        seconds: limit.as_secs(),
    }
}

/// Reads `pipe` to its end on a thread, keeping the first [`KEEP_BYTES`]; signals `done` at the end.
fn drain(pipe: Option<impl Read + Send + 'static>, done: mpsc::Sender<()>) -> Arc<Mutex<Vec<u8>>> {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let Some(mut pipe) = pipe else {
        let _ = done.send(());
        return kept;
    };
    let sink = Arc::clone(&kept);
    std::thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let mut kept = sink.lock().unwrap_or_else(|p| p.into_inner());
                    let room = KEEP_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });
    kept
}

fn take_text(kept: &Arc<Mutex<Vec<u8>>>) -> String {
    let bytes = std::mem::take(&mut *kept.lock().unwrap_or_else(|p| p.into_inner()));
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> CommandSpec {
        CommandSpec::new("sh", &["-c", script])
    }

    fn quick() -> Bounds {
        Bounds {
            term_grace: Duration::from_millis(300),
            kill_wait: Duration::from_millis(500),
            drain_wait: Duration::from_millis(300),
            ..Bounds::default()
        }
    }

    #[test]
    fn output_and_status_come_back() {
        let out = run_bounded(&sh("echo out; echo err >&2; exit 3"), &quick()).unwrap();
        assert_eq!(out.status, 3);
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        let out = run_bounded(&CommandSpec::new("cat", &[]).with_stdin("in\n"), &quick()).unwrap();
        assert_eq!(out.stdout, "in\n");
    }

    #[test]
    fn ten_megabytes_of_output_do_not_stall_into_a_timeout() {
        let cmd = sh("yes nvfix | head -c 10485760; yes err | head -c 1048576 >&2")
            .with_timeout(Duration::from_secs(20));
        let start = Instant::now();
        let out = run_bounded(&cmd, &quick()).unwrap();
        assert_eq!(out.status, 0);
        assert_eq!(out.stdout.len(), KEEP_BYTES.min(10 << 20));
        assert_eq!(out.stderr.len(), 1 << 20);
        assert!(start.elapsed() < Duration::from_secs(15));
    }

    #[test]
    fn a_child_runs_in_its_own_process_group() {
        let out = run_bounded(&sh("cat /proc/$$/stat"), &quick()).unwrap();
        // pid (comm) state ppid pgrp …
        let pgid: u32 = out
            .stdout
            .split_whitespace()
            .nth(4)
            .unwrap()
            .parse()
            .unwrap();
        let ours = rustix::process::getpgrp().as_raw_pid() as u32;
        assert_ne!(pgid, ours, "the child shares nvfix's group");
    }

    #[test]
    fn past_the_limit_sigterm_ends_it_and_the_error_names_the_command() {
        let start = Instant::now();
        let err = run_bounded(
            &CommandSpec::new("sleep", &["30"]).with_timeout(Duration::from_millis(200)),
            &quick(),
        )
        .unwrap_err();
        assert!(matches!(err, HostError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("sleep 30"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_child_that_ignores_sigterm_gets_sigkill_after_the_grace() {
        // `trap "" TERM` ignores SIGTERM in the shell and the sleep it waits for inherits that.
        let cmd = sh("trap '' TERM; echo ready; sleep 30").with_timeout(Duration::from_millis(300));
        let start = Instant::now();
        let err = run_bounded(&cmd, &quick()).unwrap_err();
        assert!(matches!(err, HostError::Timeout { .. }), "{err}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(600),
            "SIGKILL came before the grace: {took:?}"
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn a_child_that_cannot_be_reaped_is_left_behind_and_reported() {
        // The seam answers "still there" after the limit, as for a modprobe stuck in D state.
        fn never_reaped(_: &mut Child) -> std::io::Result<Option<ExitStatus>> {
            Ok(None)
        }
        let bounds = Bounds {
            reap: never_reaped,
            ..quick()
        };
        let start = Instant::now();
        let cmd = sh("trap '' TERM; sleep 30").with_timeout(Duration::from_millis(200));
        let err = run_bounded(&cmd, &bounds).unwrap_err();
        let took = start.elapsed();
        let HostError::Abandoned { pid, seconds, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(*seconds, 0);
        assert!(took < Duration::from_secs(3), "bounded: {took:?}");
        assert!(err.to_string().contains("sleep 30"), "{err}");
        assert!(err.to_string().contains("left behind"), "{err}");
        // It ignores SIGTERM: the real child died of the SIGKILL sent to its group: reap it so the test leaves no zombie.
        let (_, status) = rustix::process::waitpid(
            Pid::from_raw(*pid as i32),
            rustix::process::WaitOptions::empty(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(status.terminating_signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn a_grandchild_holding_the_pipe_does_not_hold_nvfix() {
        // The grandchild leaves the group (setsid) and keeps stdout open for 30 s after its parent exits.
        let cmd = sh("echo parent; setsid sleep 30 & exit 0").with_timeout(Duration::from_secs(10));
        let start = Instant::now();
        let out = run_bounded(&cmd, &quick()).unwrap();
        assert_eq!(out.status, 0);
        assert_eq!(out.stdout, "parent\n");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }
}
