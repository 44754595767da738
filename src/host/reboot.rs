//! The reboot's effects: gathering what its guards judge (locks, package managers, inhibitors, boot configuration,
//! the reboot record), scheduling and cancelling it, and running playbook hooks — every command through a
//! [`CommandRunner`], so tests record them instead.

use super::atomic_write::{write_host_file, DirRule};
use super::runner::{CommandRunner, CommandSpec};
use super::{HostError, HostRoot};
use crate::model::auto::ActionRecord;
use crate::model::facts::HostFacts;
use crate::model::guards::{
    next_boot_kernel, parse_inhibitors, BootConfig, HeldLock, PackageProcess, Probe,
    RebootGuardFacts,
};
use crate::model::playbook::Timezone;
use crate::model::playbook::{Hook, OnFailure, RebootPolicy};
use crate::model::reboot_state::{parse_state, RebootRecord, RebootState};
use crate::model::systemd_boot::{efi_string, SystemdBootConfig, LOADER_GUID};
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// The reboot record, under the root.
pub const STATE_PATH: &str = "/var/lib/nvfix/reboots.json";

/// Lock files the package managers take with `fcntl` while they work.
pub const PACKAGE_LOCKS: &[&str] = &[
    "/var/lib/dpkg/lock-frontend",
    "/var/lib/dpkg/lock",
    "/var/lib/apt/lists/lock",
    "/var/cache/apt/archives/lock",
    "/var/lib/rpm/.rpm.lock",
];

/// Programs that change packages. `unattended-upgrade-shutdown` (always running, waiting for shutdown) is not one.
const PACKAGE_PROGRAMS: &[&str] = &[
    "apt",
    "apt-get",
    "aptitude",
    "dpkg",
    "unattended-upgrade",
    "dnf",
    "yum",
    "rpm",
    "dnf-automatic",
    "zypper",
];

/// The clock: the real one, except that a fixture root may set it with `NVFIX_NOW` (Unix seconds), so tests of
/// maintenance windows do not depend on when they run. The live host always uses the real clock.
pub fn now(root: &HostRoot) -> i64 {
    if !root.is_system() {
        if let Some(t) = std::env::var("NVFIX_NOW")
            .ok()
            .and_then(|v| v.trim().parse().ok())
        {
            return t;
        }
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The host's UTC offset at `at`, in minutes (daylight saving included), from the C library's time-zone rules.
pub fn local_offset_minutes(at: i64) -> i32 {
    let t: libc::time_t = at as libc::time_t;
    // SAFETY: localtime_r only writes into the tm we pass; a zeroed tm is a valid initial value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        (tm.tm_gmtoff / 60) as i32
    } else {
        0
    }
}

/// A named zone's UTC offset at `at`, in minutes (daylight saving included), from the host's time-zone database
/// (`/usr/share/zoneinfo`, or `TZDIR`); None for a zone it does not have.
pub fn zone_offset_minutes(name: &str, at: i64) -> Option<i32> {
    let zone = jiff::tz::TimeZone::get(name).ok()?;
    let instant = jiff::Timestamp::from_second(at).ok()?;
    Some(zone.to_offset(instant).seconds() / 60)
}

/// The host's name (for `{hostname}` in hooks).
pub fn hostname(root: &HostRoot) -> String {
    root.read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|h| !h.is_empty() && !h.chars().any(|c| c.is_control() || c.is_whitespace()))
        .unwrap_or_else(|| "localhost".into())
}

/// Everything the reboot guards judge, besides the facts `gather` already has. `runner` runs the read-only probes
/// (`dpkg --audit`, `systemd-inhibit --list`); without one (a `--root` tree) they are [`Probe::NotLive`]: not checked.
pub fn gather_guard_facts(
    root: &HostRoot,
    facts: &HostFacts,
    runner: Option<&dyn CommandRunner>,
    now: i64,
    window_zone: Option<&Timezone>,
) -> RebootGuardFacts {
    let (held_locks, lock_errors) = probe_package_locks(root);
    RebootGuardFacts {
        now,
        window_offset_minutes: match window_zone {
            Some(Timezone::Named(name)) => zone_offset_minutes(name, now),
            _ => Some(local_offset_minutes(now)),
        },
        next_boot: next_boot_kernel(&boot_config(root)),
        held_locks,
        lock_errors,
        package_processes: package_processes(root),
        dpkg_audit: dpkg_audit(root, runner),
        inhibitors: inhibitors(root, runner),
        state: read_state(root),
        boot_id: facts.boot_id.clone(),
    }
}

/// The boot loader configuration and installed kernels under the root.
pub fn boot_config(root: &HostRoot) -> BootConfig {
    let text = |p: &str| root.read_to_string(p).ok();
    let boot_images = root
        .read_dir_names("/boot")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string))
        .collect();
    let module_dirs = root
        .read_dir_names("/lib/modules")
        .unwrap_or_default()
        .into_iter()
        .filter(|n| root.is_dir(&format!("/lib/modules/{n}")))
        .collect();
    BootConfig {
        grubenv: text("/boot/grub/grubenv").or_else(|| text("/boot/grub2/grubenv")),
        default_grub: text("/etc/default/grub"),
        boot_images,
        module_dirs,
        systemd_boot: systemd_boot_config(root),
    }
}

/// systemd-boot's loader.conf, entries and EFI variables, from the places `bootctl` looks (the ESP at `/efi`,
/// `/boot` or `/boot/efi`; XBOOTLDR at `/boot`). None when there is no trace of it.
fn systemd_boot_config(root: &HostRoot) -> Option<SystemdBootConfig> {
    let efivar = |name: &str| {
        root.read_bytes(&format!("/sys/firmware/efi/efivars/{name}-{LOADER_GUID}"))
            .ok()
            .and_then(|b| efi_string(&b))
    };
    let mut cfg = SystemdBootConfig {
        loader_info: efivar("LoaderInfo"),
        one_shot: efivar("LoaderEntryOneShot"),
        default: efivar("LoaderEntryDefault"),
        selected: efivar("LoaderEntrySelected"),
        ..Default::default()
    };
    for base in ["/efi", "/boot", "/boot/efi"] {
        if cfg.loader_conf.is_none() {
            cfg.loader_conf = root
                .read_to_string(&format!("{base}/loader/loader.conf"))
                .ok();
        }
        for (dir, suffix) in [("loader/entries", ".conf"), ("EFI/Linux", ".efi")] {
            let dir = format!("{base}/{dir}");
            for name in root.read_dir_names(&dir).unwrap_or_default() {
                if !name.to_ascii_lowercase().ends_with(suffix)
                    || cfg.entries.iter().any(|(n, _)| *n == name)
                {
                    continue;
                }
                // A unified kernel image is a PE binary: its name says enough.
                let text = (suffix == ".conf")
                    .then(|| root.read_to_string(&format!("{dir}/{name}")).ok())
                    .flatten();
                cfg.entries.push((name, text));
            }
        }
    }
    let found = cfg.loader_info.is_some() || cfg.loader_conf.is_some() || !cfg.entries.is_empty();
    found.then_some(cfg)
}

/// Asks the kernel whether anyone holds a write-conflicting `fcntl` lock on each package lock file. Open-file-
/// description locks (F_OFD_GETLK) also see locks our own process holds, and report the holder's pid for classic
/// `fcntl` locks (dpkg's and apt's).
pub fn probe_package_locks(root: &HostRoot) -> (Vec<HeldLock>, Vec<String>) {
    let mut held = Vec::new();
    let mut errors = Vec::new();
    for path in PACKAGE_LOCKS {
        let local = root.resolve(path);
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&local)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                errors.push(format!("{path}: {e}"));
                continue;
            }
        };
        // SAFETY: a zeroed flock is valid; fcntl fills it in.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
        if rc != 0 {
            errors.push(format!("{path}: {}", std::io::Error::last_os_error()));
        } else if i32::from(fl.l_type) != libc::F_UNLCK {
            held.push(HeldLock {
                path: path.to_string(),
                pid: (fl.l_pid > 0).then_some(fl.l_pid),
            });
        }
    }
    (held, errors)
}

/// Running package managers, from the command lines under `/proc` (interpreters' scripts by their script's name).
pub fn package_processes(root: &HostRoot) -> Vec<PackageProcess> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for name in root.read_dir_names("/proc").unwrap_or_default() {
        let Ok(pid) = name.parse::<i32>() else {
            continue;
        };
        if root.is_system() && pid == me {
            continue;
        }
        let Ok(bytes) = root.read_bytes(&format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<String> = bytes
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let base = |i: usize| {
            argv.get(i)
                .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        };
        let Some(prog) = base(0) else { continue };
        let script = if prog.starts_with("python") || prog.starts_with("perl") {
            base(1)
        } else {
            None
        };
        if [Some(prog), script]
            .iter()
            .flatten()
            .any(|p| PACKAGE_PROGRAMS.contains(&p.as_str()))
        {
            out.push(PackageProcess {
                pid,
                command: argv.join(" "),
            });
        }
    }
    out
}

/// `dpkg --audit` on a dpkg host: empty output means no package is half-installed. Not run without a live runner.
pub fn dpkg_audit(root: &HostRoot, runner: Option<&dyn CommandRunner>) -> Probe<String> {
    if !root.exists("/var/lib/dpkg/status") {
        return Probe::NotApplicable;
    }
    let Some(runner) = runner else {
        return Probe::NotLive;
    };
    let cmd = CommandSpec::new("dpkg", &["--audit"]).with_timeout(Duration::from_secs(60));
    match runner.run(&cmd) {
        Ok(out) if out.success() => Probe::Done(out.stdout),
        Ok(out) => Probe::Failed(format!("exit {}: {}", out.status, out.stderr.trim())),
        Err(e) => Probe::Failed(e.to_string()),
    }
}

/// `systemd-inhibit --list` on a host running systemd.
pub fn inhibitors(
    root: &HostRoot,
    runner: Option<&dyn CommandRunner>,
) -> Probe<Vec<crate::model::guards::Inhibitor>> {
    if !root.is_dir("/run/systemd/system") {
        return Probe::NotApplicable;
    }
    let Some(runner) = runner else {
        return Probe::NotLive;
    };
    let cmd = CommandSpec::new("systemd-inhibit", &["--list", "--no-pager"])
        .with_timeout(Duration::from_secs(30));
    match runner.run(&cmd) {
        Ok(out) if out.success() => Probe::Done(parse_inhibitors(&out.stdout)),
        Ok(out) => Probe::Failed(format!("exit {}: {}", out.status, out.stderr.trim())),
        Err(e) => Probe::Failed(e.to_string()),
    }
}

fn state_file(root: &HostRoot) -> PathBuf {
    root.path().join(STATE_PATH.trim_start_matches('/'))
}

/// The reboot record: empty when the file does not exist, an error when it exists but cannot be read or parsed.
pub fn read_state(root: &HostRoot) -> Result<RebootState, String> {
    match root.read_to_string(STATE_PATH) {
        Ok(text) => parse_state(&text).map_err(|e| format!("{STATE_PATH}: {e}")),
        Err(e) if e.is_not_found() => Ok(RebootState::default()),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes the record atomically through the one safe writer (a link planted in its place is replaced, not followed).
pub fn write_state(root: &HostRoot, state: &RebootState) -> Result<(), HostError> {
    let mut text = serde_json::to_string_pretty(state).map_err(|e| HostError::Write {
        path: state_file(root),
        source: std::io::Error::other(e),
    })?;
    text.push('\n');
    write_host_file(
        root,
        STATE_PATH,
        text.as_bytes(),
        0o644,
        DirRule::Shared { create_mode: 0o755 },
    )
}

/// How the reboot is set in motion.
#[derive(Debug, Clone, PartialEq)]
pub enum RebootHow {
    /// `shutdown -r +N "message"` (N ≥ 1): logged-in users see the wall message and `shutdown -c` cancels it.
    Delayed(u32),
    /// `systemctl reboot --check-inhibitors=yes`: now, unless an inhibitor blocks it.
    Now,
    /// The playbook's handoff commands (the cluster's engine reboots the node).
    Handoff(Vec<Hook>),
}

/// The commands that schedule a reboot (not the handoff's, which are hooks).
pub fn schedule_command(how: &RebootHow, message: &str) -> Option<CommandSpec> {
    match how {
        RebootHow::Delayed(n) => Some(CommandSpec::new(
            "shutdown",
            &["-r", &format!("+{n}"), message],
        )),
        RebootHow::Now => Some(CommandSpec::new(
            "systemctl",
            &[
                "reboot",
                "--check-inhibitors=yes",
                &format!("--message={message}"),
            ],
        )),
        RebootHow::Handoff(_) => None,
    }
}

/// The wall message: what the reboot is for and how to stop it.
pub fn reboot_message(version: Option<&str>, kernel: Option<&str>) -> String {
    let what = match (version, kernel) {
        (Some(v), Some(k)) => format!("rebooting into kernel {k} to load NVIDIA driver {v}"),
        (Some(v), None) => format!("rebooting to load NVIDIA driver {v}"),
        _ => "rebooting to load a matching NVIDIA driver".to_string(),
    };
    format!("nvfix: {what}; cancel with: nvfix reboot --cancel")
}

/// What to record about a reboot before it is set in motion.
#[derive(Debug, Clone)]
pub struct RebootRequest {
    pub how: RebootHow,
    pub boot_id: String,
    pub now: i64,
    pub kernel: Option<String>,
    pub next_kernel: Option<String>,
    pub expected_version: Option<String>,
    pub reason: String,
    pub hostname: String,
}

/// Records the reboot, then sets it in motion. The record comes first: a reboot that starts at once must still be
/// counted by the loop guard. A failed command is marked in the record (it does not count) and reported.
pub fn schedule_reboot(
    root: &HostRoot,
    runner: &dyn CommandRunner,
    state: &mut RebootState,
    req: &RebootRequest,
) -> Vec<ActionRecord> {
    let (method, delay) = match &req.how {
        RebootHow::Delayed(n) => ("shutdown", *n as i64 * 60),
        RebootHow::Now => ("systemctl", 0),
        RebootHow::Handoff(_) => ("handoff", 0),
    };
    state.prune(req.now);
    state.reboots.push(RebootRecord {
        boot_id: req.boot_id.clone(),
        requested_at: req.now,
        scheduled_for: req.now + delay,
        method: method.into(),
        kernel: req.kernel.clone(),
        next_kernel: req.next_kernel.clone(),
        expected_version: req.expected_version.clone(),
        reason: req.reason.clone(),
        cancelled: false,
        failed: None,
        completed: None,
    });
    let mut actions = Vec::new();
    if let Err(e) = write_state(root, state) {
        // Without the record the loop guard is blind: do not reboot.
        state.reboots.pop();
        actions.push(ActionRecord {
            kind: "record".into(),
            label: "record the reboot".into(),
            command: None,
            ok: Some(false),
            detail: format!(
                "cannot write {STATE_PATH}: {e}; not rebooting without the loop guard's record"
            ),
        });
        return actions;
    }
    let message = reboot_message(req.expected_version.as_deref(), req.next_kernel.as_deref());
    let failure = match &req.how {
        RebootHow::Handoff(hooks) => {
            let results = run_hooks(runner, hooks, &req.hostname, "handoff");
            let failed = results
                .iter()
                .find(|r| r.ok == Some(false))
                .map(|r| r.detail.clone());
            actions.extend(results);
            failed
        }
        how => {
            let Some(cmd) = schedule_command(how, &message) else {
                return actions;
            };
            let result = runner.run(&cmd);
            let (ok, detail) = match &result {
                Ok(o) if o.success() => (
                    true,
                    format!(
                        "reboot {}",
                        match how {
                            RebootHow::Delayed(n) => format!("scheduled in {n} minute(s)"),
                            _ => "started".into(),
                        }
                    ),
                ),
                Ok(o) => (false, format!("exit {}: {}", o.status, o.stderr.trim())),
                Err(e) => (false, e.to_string()),
            };
            actions.push(ActionRecord {
                kind: "schedule-reboot".into(),
                label: "schedule the reboot".into(),
                command: Some(cmd.display()),
                ok: Some(ok),
                detail: detail.clone(),
            });
            (!ok).then_some(detail)
        }
    };
    if let Some(why) = failure {
        if let Some(r) = state.reboots.last_mut() {
            r.failed = Some(why);
        }
        let _ = write_state(root, state);
    }
    actions
}

/// What `nvfix reboot --cancel` says when this boot has no pending nvfix reboot: it cancels only its own.
pub const NOTHING_TO_CANCEL: &str =
    "there is nothing of nvfix's to cancel: no reboot nvfix scheduled from this boot is pending (a shutdown someone \
     else scheduled is theirs to cancel: shutdown -c)";

/// Cancels this boot's pending nvfix reboot and marks the record cancelled; `None` (and no command run) when the
/// record shows none: nvfix cancels only what it scheduled. A reboot nvfix scheduled is cancelled with
/// `shutdown -c`; one handed to the cluster's engine is taken back with the playbook's `reboot.cancel_handoff`
/// commands, and refused when it names none (`shutdown -c` would cancel nothing there, and saying "cancelled" would
/// be a lie).
pub fn cancel_reboot(
    root: &HostRoot,
    runner: &dyn CommandRunner,
    boot_id: &str,
    policy: &RebootPolicy,
) -> Result<Option<Vec<ActionRecord>>, String> {
    let mut state = read_state(root)?;
    let Some(pending) = state.pending(boot_id) else {
        return Ok(None);
    };
    let handed_off = pending.method == "handoff";
    let actions = if handed_off {
        if policy.cancel_handoff.is_empty() {
            return Err(
                "the reboot was handed to the cluster's engine and no playbook with reboot.cancel_handoff commands was \
                 given: cancel it there (Slurm: scontrol cancel_reboot HOST), or pass --playbook FILE"
                    .into(),
            );
        }
        run_hooks(
            runner,
            &policy.cancel_handoff,
            &hostname(root),
            "cancel handoff",
        )
    } else {
        let cmd = CommandSpec::new("shutdown", &["-c", "nvfix: reboot cancelled"]);
        let out = runner.run(&cmd).map_err(|e| e.to_string())?;
        vec![ActionRecord {
            kind: "cancel-reboot".into(),
            label: "cancel the scheduled reboot".into(),
            command: Some(cmd.display()),
            ok: Some(out.success()),
            detail: if out.success() {
                "shutdown -c: any scheduled shutdown was cancelled".into()
            } else {
                format!(
                    "shutdown -c failed (exit {}): {}",
                    out.status,
                    out.stderr.trim()
                )
            },
        }]
    };
    let ok = actions.iter().all(|a| a.ok == Some(true));
    // Only a cancellation that went through marks the record: a failed one leaves the reboot due, as it is.
    if ok && state.cancel_pending(boot_id) {
        write_state(root, &state).map_err(|e| format!("cannot write {STATE_PATH}: {e}"))?;
    }
    Ok(Some(actions))
}

/// Runs hooks in order through the runner; stops after a failing hook whose `on_failure` is `abort`.
pub fn run_hooks(
    runner: &dyn CommandRunner,
    hooks: &[Hook],
    hostname: &str,
    stage: &str,
) -> Vec<ActionRecord> {
    run_hooks_with(runner, hooks, &[("hostname", hostname)], stage)
}

/// [`run_hooks`] with more `{name}` placeholders than the hostname (the quarantine's `{loaded}`, `{library}`).
pub fn run_hooks_with(
    runner: &dyn CommandRunner,
    hooks: &[Hook],
    vars: &[(&str, &str)],
    stage: &str,
) -> Vec<ActionRecord> {
    let mut out = Vec::new();
    for hook in hooks {
        let argv = hook.expanded_argv_with(vars);
        let Some((program, args)) = argv.split_first() else {
            continue;
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = CommandSpec::new(program, &args)
            .with_timeout(Duration::from_secs(hook.timeout_seconds));
        let (ok, detail) = match runner.run(&cmd) {
            Ok(o) if o.success() => (true, "exit 0".to_string()),
            Ok(o) => (false, format!("exit {}: {}", o.status, o.stderr.trim())),
            Err(e) => (false, e.to_string()),
        };
        out.push(ActionRecord {
            kind: "hook".into(),
            label: format!("{stage}: {}", hook.label()),
            command: Some(cmd.display()),
            ok: Some(ok),
            detail,
        });
        if !ok && hook.on_failure == OnFailure::Abort {
            break;
        }
    }
    out
}

/// True when a hook run ended in a failure that aborts (the last record failed and its hook said abort).
pub fn hooks_aborted(records: &[ActionRecord], hooks: &[Hook]) -> bool {
    records
        .iter()
        .zip(hooks)
        .any(|(r, h)| r.ok == Some(false) && h.on_failure == OnFailure::Abort)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::runner::{CommandOutput, RecordingRunner};
    use crate::model::playbook::parse_playbook;
    use std::fs;

    fn root() -> (tempfile::TempDir, HostRoot) {
        let t = tempfile::tempdir().unwrap();
        let r = HostRoot::new(t.path());
        (t, r)
    }

    fn write(t: &tempfile::TempDir, path: &str, text: &str) {
        let p = t.path().join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn request(how: RebootHow) -> RebootRequest {
        RebootRequest {
            how,
            boot_id: "boot-a".into(),
            now: 1_700_000_000,
            kernel: Some("6.8.0-85-generic".into()),
            next_kernel: Some("6.8.0-87-generic".into()),
            expected_version: Some("580.95.05".into()),
            reason: "test".into(),
            hostname: "gpu07".into(),
        }
    }

    #[test]
    fn delayed_reboot_is_recorded_then_scheduled_with_a_wall_message() {
        let (_t, r) = root();
        let runner = RecordingRunner::new();
        let mut state = RebootState::default();
        let actions = schedule_reboot(&r, &runner, &mut state, &request(RebootHow::Delayed(5)));
        assert_eq!(
            runner.commands(),
            vec!["shutdown -r +5 \"nvfix: rebooting into kernel 6.8.0-87-generic to load NVIDIA driver 580.95.05; cancel with: nvfix reboot --cancel\""]
        );
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].ok, Some(true));
        let saved = read_state(&r).unwrap();
        assert_eq!(saved.reboots.len(), 1);
        assert_eq!(saved.reboots[0].boot_id, "boot-a");
        assert_eq!(saved.reboots[0].scheduled_for, 1_700_000_300);
        assert_eq!(saved.reboots[0].method, "shutdown");
    }

    #[test]
    fn cancel_runs_nothing_when_nvfix_scheduled_nothing() {
        let (_t, r) = root();
        let runner = RecordingRunner::new();
        let policy = RebootPolicy::default();
        assert_eq!(cancel_reboot(&r, &runner, "boot-a", &policy), Ok(None));
        // A reboot nvfix scheduled from an earlier boot (it happened) is not this boot's to cancel either.
        let mut state = RebootState::default();
        schedule_reboot(&r, &runner, &mut state, &request(RebootHow::Delayed(5)));
        let scheduled = runner.commands().len();
        assert_eq!(cancel_reboot(&r, &runner, "boot-b", &policy), Ok(None));
        assert_eq!(
            runner.commands().len(),
            scheduled,
            "{:?}",
            runner.commands()
        );
    }

    #[test]
    fn reboot_now_checks_inhibitors() {
        let (_t, r) = root();
        let runner = RecordingRunner::new();
        let mut state = RebootState::default();
        schedule_reboot(&r, &runner, &mut state, &request(RebootHow::Now));
        let cmds = runner.commands();
        assert_eq!(cmds.len(), 1);
        assert!(
            cmds[0].starts_with("systemctl reboot --check-inhibitors=yes \"--message=nvfix: "),
            "{cmds:?}"
        );
    }

    #[test]
    fn failed_schedule_is_marked_and_does_not_count() {
        let (_t, r) = root();
        let runner = RecordingRunner::new();
        runner.respond(
            "shutdown",
            CommandOutput {
                status: 1,
                stdout: String::new(),
                stderr: "Failed to call ScheduleShutdown".into(),
            },
        );
        let mut state = RebootState::default();
        let actions = schedule_reboot(&r, &runner, &mut state, &request(RebootHow::Delayed(5)));
        assert_eq!(actions[0].ok, Some(false));
        let saved = read_state(&r).unwrap();
        assert!(saved.reboots[0].failed.is_some());
        assert!(saved.recent(1_700_000_000).is_empty());
    }

    #[test]
    fn handoff_runs_the_playbooks_commands_with_the_hostname() {
        let (_t, r) = root();
        let p = parse_playbook(include_str!("../../playbooks/slurm-node.yaml")).unwrap();
        let runner = RecordingRunner::new();
        let mut state = RebootState::default();
        let actions = schedule_reboot(
            &r,
            &runner,
            &mut state,
            &request(RebootHow::Handoff(p.reboot.handoff.clone())),
        );
        assert_eq!(
            runner.commands(),
            vec!["/usr/bin/scontrol reboot ASAP nextstate=RESUME \"reason=nvfix: NVIDIA driver/library mismatch\" gpu07"]
        );
        assert_eq!(actions[0].ok, Some(true));
        assert_eq!(read_state(&r).unwrap().reboots[0].method, "handoff");
    }

    #[test]
    fn cancel_runs_shutdown_c_and_marks_the_record() {
        let (_t, r) = root();
        let runner = RecordingRunner::new();
        let mut state = RebootState::default();
        schedule_reboot(&r, &runner, &mut state, &request(RebootHow::Delayed(5)));
        let a = cancel_reboot(&r, &runner, "boot-a", &RebootPolicy::default())
            .unwrap()
            .expect("nvfix's reboot is pending");
        assert_eq!(
            runner.commands()[1],
            "shutdown -c \"nvfix: reboot cancelled\""
        );
        assert_eq!(a[0].ok, Some(true));
        assert!(read_state(&r).unwrap().reboots[0].cancelled);
        // Cancelled once: a second cancel finds nothing of nvfix's and runs nothing.
        assert_eq!(
            cancel_reboot(&r, &runner, "boot-a", &RebootPolicy::default()),
            Ok(None)
        );
        assert_eq!(runner.commands().len(), 2);
    }

    #[test]
    fn a_handed_off_reboot_is_taken_back_with_the_playbooks_commands() {
        let (t, r) = root();
        write(&t, "/proc/sys/kernel/hostname", "gpu07\n");
        let p = parse_playbook(include_str!("../../playbooks/slurm-node.yaml")).unwrap();
        let runner = RecordingRunner::new();
        let mut state = RebootState::default();
        schedule_reboot(
            &r,
            &runner,
            &mut state,
            &request(RebootHow::Handoff(p.reboot.handoff.clone())),
        );

        // Without the playbook nvfix does not know how to take it back: refused, the reboot stays due.
        let err = cancel_reboot(&r, &runner, "boot-a", &RebootPolicy::default()).unwrap_err();
        assert!(err.contains("scontrol cancel_reboot"), "{err}");
        assert_eq!(
            runner.commands().len(),
            1,
            "shutdown -c would cancel nothing: not run"
        );
        assert!(!read_state(&r).unwrap().reboots[0].cancelled);

        // A failing cancel leaves the record as it was.
        runner.respond(
            "/usr/bin/scontrol",
            CommandOutput {
                status: 1,
                stdout: String::new(),
                stderr: "Invalid node name".into(),
            },
        );
        let a = cancel_reboot(&r, &runner, "boot-a", &p.reboot)
            .unwrap()
            .expect("pending");
        assert_eq!(a[0].ok, Some(false));
        assert!(!read_state(&r).unwrap().reboots[0].cancelled);

        let runner = RecordingRunner::new();
        let a = cancel_reboot(&r, &runner, "boot-a", &p.reboot)
            .unwrap()
            .expect("pending");
        assert_eq!(
            runner.commands(),
            vec!["/usr/bin/scontrol cancel_reboot gpu07"]
        );
        assert_eq!(a[0].ok, Some(true));
        assert!(read_state(&r).unwrap().reboots[0].cancelled);
    }

    #[test]
    fn state_refuses_links_and_garbage() {
        let (t, r) = root();
        write(&t, STATE_PATH, "{not json");
        assert!(
            read_state(&r).is_err(),
            "garbled is an error, not an empty history"
        );
        fs::remove_file(t.path().join("var/lib/nvfix/reboots.json")).unwrap();
        assert_eq!(read_state(&r).unwrap(), RebootState::default());
        // A link planted as the temp file is not followed.
        let target = t.path().join("target");
        std::os::unix::fs::symlink(&target, t.path().join("var/lib/nvfix/.reboots.json.tmp"))
            .unwrap();
        write_state(&r, &RebootState::default()).unwrap();
        assert!(!target.exists());
        assert_eq!(read_state(&r).unwrap(), RebootState::default());
    }

    #[test]
    fn hooks_stop_at_an_aborting_failure() {
        let p = parse_playbook(
            "version: 1\nhooks:\n  before_reload:\n    - {argv: [/bin/a], on_failure: continue}\n    - {argv: [/bin/b, '{hostname}']}\n    - {argv: [/bin/c]}\n",
        )
        .unwrap();
        let runner = RecordingRunner::new();
        let fail = CommandOutput {
            status: 2,
            stdout: String::new(),
            stderr: "no".into(),
        };
        runner.respond("/bin/a", fail.clone());
        runner.respond("/bin/b", fail);
        let recs = run_hooks(&runner, &p.hooks.before_reload, "n1", "before-reload");
        assert_eq!(runner.commands(), vec!["/bin/a", "/bin/b n1"]);
        assert_eq!(recs.len(), 2);
        assert!(hooks_aborted(&recs, &p.hooks.before_reload));
        let ok = RecordingRunner::new();
        let recs = run_hooks(&ok, &p.hooks.before_reload, "n1", "before-reload");
        assert_eq!(recs.len(), 3);
        assert!(!hooks_aborted(&recs, &p.hooks.before_reload));
    }

    #[test]
    fn lock_probe_sees_a_held_lock_and_skips_missing_files() {
        let (t, r) = root();
        assert_eq!(probe_package_locks(&r), (Vec::new(), Vec::new()));
        write(&t, "/var/lib/dpkg/lock-frontend", "");
        write(&t, "/var/lib/dpkg/lock", "");
        assert_eq!(probe_package_locks(&r).0, Vec::new(), "present but free");
        // Hold a classic fcntl write lock, as dpkg does; the OFD probe sees it even from this process.
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(t.path().join("var/lib/dpkg/lock-frontend"))
            .unwrap();
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        assert_eq!(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &fl) }, 0);
        let (held, errors) = probe_package_locks(&r);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].path, "/var/lib/dpkg/lock-frontend");
        assert_eq!(held[0].pid, Some(std::process::id() as i32));
    }

    #[test]
    fn package_processes_by_program_and_script_name() {
        let (t, r) = root();
        write(
            &t,
            "/proc/10/cmdline",
            "/usr/bin/python3\0/usr/bin/unattended-upgrade\0--download-only\0",
        );
        write(&t, "/proc/11/cmdline", "/usr/bin/python3\0/usr/share/unattended-upgrades/unattended-upgrade-shutdown\0--wait-for-signal\0");
        write(&t, "/proc/12/cmdline", "/usr/bin/dpkg\0--configure\0-a\0");
        write(&t, "/proc/13/cmdline", "bash\0");
        write(&t, "/proc/14/cmdline", "");
        write(&t, "/proc/self/cmdline", "dpkg\0");
        let pids: Vec<i32> = package_processes(&r).iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![10, 12]);
    }

    #[test]
    fn dpkg_audit_and_inhibitors_go_through_the_runner() {
        let (t, r) = root();
        let runner = RecordingRunner::new();
        assert_eq!(dpkg_audit(&r, Some(&runner)), Probe::NotApplicable);
        assert_eq!(inhibitors(&r, Some(&runner)), Probe::NotApplicable);
        assert!(runner.commands().is_empty());
        write(&t, "/var/lib/dpkg/status", "");
        fs::create_dir_all(t.path().join("run/systemd/system")).unwrap();
        runner.respond(
            "dpkg --audit",
            CommandOutput {
                status: 0,
                stdout: "The following packages are only half configured\n".into(),
                stderr: String::new(),
            },
        );
        runner.respond(
            "systemd-inhibit",
            CommandOutput {
                status: 1,
                stdout: String::new(),
                stderr: "Failed to connect to bus".into(),
            },
        );
        assert!(
            matches!(dpkg_audit(&r, Some(&runner)), Probe::Done(s) if s.contains("half configured"))
        );
        assert!(matches!(inhibitors(&r, Some(&runner)), Probe::Failed(s) if s.contains("bus")));
        // Without a live runner (a `--root` tree) nothing runs and nothing is claimed.
        assert_eq!(dpkg_audit(&r, None), Probe::NotLive);
        assert_eq!(inhibitors(&r, None), Probe::NotLive);
        assert_eq!(
            runner.commands(),
            vec!["dpkg --audit", "systemd-inhibit --list --no-pager"]
        );
    }

    #[test]
    fn boot_config_reads_the_root() {
        let (t, r) = root();
        write(&t, "/boot/vmlinuz-6.8.0-85-generic", "");
        write(&t, "/boot/vmlinuz-6.8.0-87-generic", "");
        write(&t, "/boot/config-6.8.0-87-generic", "");
        write(&t, "/lib/modules/6.8.0-90-generic/modules.dep", "");
        write(&t, "/etc/default/grub", "GRUB_DEFAULT=0\n");
        let c = boot_config(&r);
        assert_eq!(c.boot_images, vec!["6.8.0-85-generic", "6.8.0-87-generic"]);
        assert_eq!(c.module_dirs, vec!["6.8.0-90-generic"]);
        assert_eq!(
            next_boot_kernel(&c).kernel.as_deref(),
            Some("6.8.0-87-generic"),
            "a kernel without an image cannot boot"
        );
        assert_eq!(c.systemd_boot, None, "no trace of systemd-boot");
    }

    #[test]
    fn systemd_boot_is_read_from_the_esp_and_efi_variables() {
        let (t, r) = root();
        write(&t, "/boot/vmlinuz-6.8.0-85-generic", "");
        write(&t, "/boot/vmlinuz-6.8.0-87-generic", "");
        // GRUB's files are left over from before; systemd-boot started this boot, so its rules decide.
        write(&t, "/etc/default/grub", "GRUB_DEFAULT=0\n");
        write(
            &t,
            "/boot/efi/loader/loader.conf",
            "timeout 3\ndefault *-6.8.0-85-generic.conf\n",
        );
        for release in ["6.8.0-85-generic", "6.8.0-87-generic"] {
            write(
                &t,
                &format!("/boot/efi/loader/entries/m-{release}.conf"),
                &format!("title Ubuntu\nversion {release}\nlinux /m/{release}/linux\n"),
            );
        }
        write(&t, "/boot/efi/loader/entries/notes.txt", "not an entry");
        let efivar = |name: &str, value: &str| {
            let mut bytes = vec![6u8, 0, 0, 0];
            for u in value.encode_utf16().chain([0]) {
                bytes.extend(u.to_le_bytes());
            }
            let p = t
                .path()
                .join(format!("sys/firmware/efi/efivars/{name}-{LOADER_GUID}"));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, bytes).unwrap();
        };
        efivar("LoaderInfo", "systemd-boot 255.4-1ubuntu8");
        let c = boot_config(&r);
        let sd = c.systemd_boot.as_ref().unwrap();
        assert_eq!(sd.entries.len(), 2, "{:?}", sd.entries);
        let next = next_boot_kernel(&c);
        assert_eq!(
            next.kernel.as_deref(),
            Some("6.8.0-85-generic"),
            "{}",
            next.rule
        );
        assert!(next.rule.contains("loader.conf default"), "{}", next.rule);
        efivar("LoaderEntryOneShot", "m-6.8.0-87-generic.conf");
        let next = next_boot_kernel(&boot_config(&r));
        assert_eq!(
            next.kernel.as_deref(),
            Some("6.8.0-87-generic"),
            "{}",
            next.rule
        );
    }

    #[test]
    fn hostname_is_read_and_sanitised() {
        let (t, r) = root();
        assert_eq!(hostname(&r), "localhost");
        write(&t, "/proc/sys/kernel/hostname", "gpu07\n");
        assert_eq!(hostname(&r), "gpu07");
        write(&t, "/proc/sys/kernel/hostname", "bad name\n");
        assert_eq!(hostname(&r), "localhost");
    }
}
