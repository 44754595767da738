//! Signalling processes through a pidfd (`pidfd_open` + `pidfd_send_signal`), so a recycled pid is never hit: the
//! start time is checked after the pidfd is open, and the pidfd then refers to that process and no other.

use crate::host::HostError;
use crate::model::plan::ProcessTarget;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

/// What happened while waiting for a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// It exited (after the signal, if one was sent).
    Exited,
    /// Still running when the wait ended.
    StillRunning,
    /// Not there: already gone, or its pid now belongs to another process (nothing was signalled).
    NotThere,
}

/// The seam the executor signals through; tests fake it (except one that signals its own child).
pub trait ProcessControl {
    /// Sends `signal` (none: only wait) to `target` when it is still the same process, then waits up to `wait`.
    fn signal_and_wait(
        &self,
        target: &ProcessTarget,
        signal: Option<Sig>,
        wait: Duration,
    ) -> Result<Waited, HostError>;
}

/// The real one: pidfds on the live host's /proc.
#[derive(Debug, Default)]
pub struct PidfdControl;

impl PidfdControl {
    fn open(pid: i32) -> Result<Option<OwnedFd>, HostError> {
        if pid <= 0 {
            return Ok(None);
        }
        // SAFETY: plain syscall with integer arguments.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ESRCH) {
                return Ok(None);
            }
            return Err(HostError::Spawn {
                command: format!("pidfd_open({pid})"),
                source: err,
            });
        }
        // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }
}

/// Start time of `pid` in seconds after boot, from /proc/<pid>/stat (field 22, clock ticks), as procscan reads it.
pub fn start_time_secs(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    // SAFETY: sysconf has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks / (hz.max(1) as u64))
}

/// The longest single wait for an exit. A grace period comes from `--grace` and playbooks (both at most an hour) but
/// also from a journal on disk: clamped, so `Instant + Duration` cannot overflow whatever the number says.
const MAX_EXIT_WAIT: Duration = Duration::from_secs(24 * 3600);

fn poll_exit(fd: &OwnedFd, wait: Duration) -> Result<bool, HostError> {
    let now = Instant::now();
    let deadline = now.checked_add(wait.min(MAX_EXIT_WAIT)).unwrap_or(now);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut p, 1, ms) };
        if rc > 0 {
            return Ok(true);
        }
        if rc == 0 {
            return Ok(false);
        }
        let err = std::io::Error::last_os_error();
        // Ctrl-C lands here as EINTR: the current step finishes its wait, the executor then restores.
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(HostError::Spawn {
                command: "poll(pidfd)".into(),
                source: err,
            });
        }
        if left.is_zero() {
            return Ok(false);
        }
    }
}

impl ProcessControl for PidfdControl {
    fn signal_and_wait(
        &self,
        target: &ProcessTarget,
        signal: Option<Sig>,
        wait: Duration,
    ) -> Result<Waited, HostError> {
        let Some(fd) = Self::open(target.pid)? else {
            return Ok(Waited::NotThere);
        };
        // Checked after the pidfd is open: if the start time matches now, the pidfd is that process.
        match (target.start_time, start_time_secs(target.pid)) {
            (_, None) => return Ok(Waited::NotThere),
            (Some(want), Some(now)) if want != now => return Ok(Waited::NotThere),
            _ => {}
        }
        if let Some(sig) = signal {
            let signo = match sig {
                Sig::Term => libc::SIGTERM,
                Sig::Kill => libc::SIGKILL,
            };
            // SAFETY: valid pidfd, no siginfo, no flags.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    signo,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            if rc < 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::ESRCH) {
                    return Ok(Waited::Exited);
                }
                return Err(HostError::Spawn {
                    command: format!("pidfd_send_signal({}, {signo})", target.pid),
                    source: err,
                });
            }
        }
        Ok(if poll_exit(&fd, wait)? {
            Waited::Exited
        } else {
            Waited::StillRunning
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    fn target(pid: i32, start_time: Option<u64>) -> ProcessTarget {
        ProcessTarget {
            pid,
            start_time,
            user: "me".into(),
            command: "sleep 30".into(),
            container: None,
            devices: vec![],
        }
    }

    /// Signals only a child this test started itself.
    #[test]
    fn terminates_its_own_child_through_a_pidfd() {
        let mut child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let start = start_time_secs(pid);
        assert!(start.is_some());
        let control = PidfdControl;
        // A wrong start time stands for a recycled pid: nothing is signalled.
        let wrong = start.map(|s| s + 1000);
        assert_eq!(
            control
                .signal_and_wait(
                    &target(pid, wrong),
                    Some(Sig::Term),
                    Duration::from_millis(50)
                )
                .unwrap(),
            Waited::NotThere
        );
        assert!(child.try_wait().unwrap().is_none(), "still running");
        // Waiting alone does not end it.
        assert_eq!(
            control
                .signal_and_wait(&target(pid, start), None, Duration::from_millis(50))
                .unwrap(),
            Waited::StillRunning
        );
        assert_eq!(
            control
                .signal_and_wait(&target(pid, start), Some(Sig::Term), Duration::from_secs(5))
                .unwrap(),
            Waited::Exited
        );
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert_eq!(
            control
                .signal_and_wait(
                    &target(pid, start),
                    Some(Sig::Kill),
                    Duration::from_millis(10)
                )
                .unwrap(),
            Waited::NotThere,
            "a reaped child is gone"
        );
    }
}
