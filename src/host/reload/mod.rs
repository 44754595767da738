//! The reload executor: runs a [`ReloadPlan`] step by step, journals each step before and after it, restores what it
//! changed when anything fails (or on Ctrl-C), and resumes an interrupted run from its journal.
//!
//! Every effect goes through a seam so tests can drive it without touching the machine: commands through a
//! [`CommandRunner`], signals through [`ProcessControl`] (pidfds), questions through [`Prompter`], the host's
//! state through [`HostView`], time through [`Clock`].
//!
//! Rules it keeps (each one a bug other unload routines shipped): one module per `modprobe` call, never `-f`;
//! the refcount is re-read right before each unload; "in use" is retried with backoff; a module stuck in `going`
//! means reboot; NVML is only called (by verification) once the modules are back.
//!
//! Test hook: `NVFIX_TEST_PAUSE_AFTER_STEP=<kind>` (read by the command into [`ExecOptions::pause_after`]) makes the
//! executor sleep 60 s after the last step of that kind (`unload`, `load`, `stop-service`, …), so the QEMU lab can
//! SIGKILL nvfix mid-way and then check `nvfix reload --resume`.

pub mod journal;
pub mod process;
pub mod prompt;
pub mod signals;
pub mod syslog;
pub mod view;

use crate::exit;
use crate::host::runner::{CommandOutput, CommandRunner, CommandSpec, SystemRunner};
use crate::host::{HostError, HostRoot};
use crate::model::modules::ModuleState;
use crate::model::plan::{references_taken_by, ReloadPlan, Step, StepGroup, StepKind};
use crate::model::verify::{verify_host, VerifyReport};
pub use journal::{Journal, OverranCommand, StepRecord, StepState};
pub use process::{PidfdControl, ProcessControl, Sig, Waited};
pub use prompt::{Answer, AutoYes, ConsoleUi, Prompter, ScriptedPrompter};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
pub use view::{GatherView, HostView};

/// Time, behind a seam so tests do not wait.
pub trait Clock {
    fn sleep(&self, d: Duration);
    /// Seconds since the epoch.
    fn now_unix(&self) -> u64;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
    fn now_unix(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// How long the test hook pauses.
pub const TEST_PAUSE: Duration = Duration::from_secs(60);

pub struct ExecOptions {
    pub journal_path: PathBuf,
    /// Simulates a crash: return right after this step (by id) without restoring, leaving the journal behind.
    pub stop_after: Option<usize>,
    /// Test hook (`NVFIX_TEST_PAUSE_AFTER_STEP`): pause [`TEST_PAUSE`] after the last step of this kind.
    pub pause_after: Option<String>,
    /// Polled between steps: a signal asked nvfix to stop.
    pub interrupted: fn() -> bool,
    /// Log every action to syslog (the live host only).
    pub syslog: bool,
    /// Tries per module while it is "in use" (backoff 0.5 s, 1 s, 2 s, 4 s, …).
    pub unload_attempts: u32,
    /// How long one `modprobe` or `modprobe -r` may take (`--module-timeout`); past it the stack counts as stuck.
    pub module_timeout: Duration,
    pub service_timeout: Duration,
    /// How long the re-scan before unloading must find nothing holding the GPU before the unload starts.
    pub rescan_settle: Duration,
}

impl ExecOptions {
    /// For a real run: Ctrl-C and SIGTERM stop it between steps (then it restores), and every action goes to syslog.
    pub fn live(journal_path: PathBuf, module_timeout: Duration) -> Self {
        ExecOptions {
            interrupted: signals::interrupted,
            syslog: true,
            module_timeout,
            ..ExecOptions::new(journal_path)
        }
    }

    pub fn new(journal_path: PathBuf) -> Self {
        ExecOptions {
            journal_path,
            stop_after: None,
            pause_after: None,
            interrupted: || false,
            syslog: false,
            unload_attempts: 5,
            module_timeout: Duration::from_secs(60),
            service_timeout: Duration::from_secs(120),
            rescan_settle: Duration::from_secs(2),
        }
    }
}

/// The seams the executor acts through.
pub struct Seams<'a> {
    pub runner: &'a dyn CommandRunner,
    pub processes: &'a dyn ProcessControl,
    pub view: &'a dyn HostView,
    pub clock: &'a dyn Clock,
}

/// The live machine behind the seams: real commands, signals through pidfds, facts gathered under the root, the
/// system clock. `nvfix reload`, `nvfix auto` and their `--resume` all act through this one.
pub struct LiveHost {
    runner: SystemRunner,
    processes: PidfdControl,
    view: GatherView,
    clock: SystemClock,
}

impl LiveHost {
    /// Acts on the live host under the run lock `lock` (taken by the caller for the whole run).
    pub fn new(
        root: &HostRoot,
        nvml_lib: Option<PathBuf>,
        lock: &crate::host::run_lock::RunLock,
    ) -> Self {
        LiveHost {
            runner: SystemRunner,
            processes: PidfdControl,
            view: GatherView {
                root: root.clone(),
                nvml_lib,
                lock: crate::host::nvml_gate::LockHeld::of(lock),
            },
            clock: SystemClock,
        }
    }

    pub fn seams(&self) -> Seams<'_> {
        Seams {
            runner: &self.runner,
            processes: &self.processes,
            view: &self.view,
            clock: &self.clock,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The new modules are loaded and verified.
    Fixed,
    /// An interrupted run was undone from its journal (and verified when the driver is back).
    Resumed,
    /// Everything ran but verification failed; nothing was undone (the modules are loaded).
    VerifyFailed,
    /// A step failed; what nvfix changed was restored.
    Restored,
    /// A step failed and restoring did not fully succeed; the journal stays for `--resume`.
    RestoreIncomplete,
    /// A module cannot be unloaded without a reboot (stuck, pinned); what nvfix changed was restored.
    RebootRequired,
    /// The admin declined; what nvfix changed was restored.
    Cancelled,
    /// A signal stopped the run after the current step; what nvfix changed was restored.
    Interrupted,
    /// Nothing was changed (the plan was blocked or the journal could not be written).
    NotStarted,
    /// Tests only: a crash simulated after a step (`stop_after`); the journal is left behind.
    Crashed,
}

/// What a run did, for the human summary and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The command to run next, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Every action taken, in order (also sent to syslog).
    pub actions: Vec<String>,
    /// Things that went wrong without stopping the run (a service that did not start again, …).
    pub problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyReport>,
    pub steps: Vec<StepRecord>,
    /// Why the module stack is stuck (a module command overran, a module is `going`), when it is: nvfix ran no
    /// module command after it and kept the journal; only a reboot recovers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_stuck: Option<String>,
}

impl ExecReport {
    pub fn exit_code(&self) -> i32 {
        match self.outcome {
            Outcome::Fixed | Outcome::Resumed if self.problems.is_empty() => exit::OK,
            Outcome::RebootRequired => exit::UNAVAILABLE,
            Outcome::Crashed => exit::SOFTWARE,
            _ => exit::PROBLEM,
        }
    }
}

struct StepError {
    reason: String,
    reboot: bool,
}

impl StepError {
    fn new(reason: impl Into<String>) -> Self {
        StepError {
            reason: reason.into(),
            reboot: false,
        }
    }
    fn reboot(reason: impl Into<String>) -> Self {
        StepError {
            reason: reason.into(),
            reboot: true,
        }
    }
}

pub struct Executor<'a> {
    seams: Seams<'a>,
    ui: &'a mut dyn Prompter,
    opts: ExecOptions,
    journal: Option<Journal>,
    actions: Vec<String>,
    problems: Vec<String>,
    verify: Option<VerifyReport>,
    /// Pids the admin chose not to signal.
    deselected: BTreeSet<i32>,
    /// Why the module stack is stuck (a module command overran, a module is `going`): from then on no module
    /// command runs — loading a module whose predecessor is `going` blocks in the kernel. Only a reboot recovers.
    stack_stuck: Option<String>,
}

impl<'a> Executor<'a> {
    pub fn new(seams: Seams<'a>, ui: &'a mut dyn Prompter, opts: ExecOptions) -> Self {
        Executor {
            seams,
            ui,
            opts,
            journal: None,
            actions: Vec::new(),
            problems: Vec::new(),
            verify: None,
            deselected: BTreeSet::new(),
            stack_stuck: None,
        }
    }

    /// Runs the plan. Never leaves the host worse: any failure restores; a crash leaves a journal for `--resume`.
    pub fn execute(mut self, plan: &ReloadPlan) -> ExecReport {
        if let Some(r) = plan.refusal() {
            return self.report(Outcome::NotStarted, None, Some(r.reason), r.hint);
        }
        // A journal still there belongs to a run not yet undone (auto resumes before it plans; a resume that could
        // not finish keeps it): a new run would overwrite what it says must be restored.
        if let Some(report) = self.earlier_journal() {
            return report;
        }
        // Every destructive group is confirmed before the first step runs: declining the unload must not leave
        // processes terminated and services stopped for nothing.
        let mut asked: Vec<StepGroup> = Vec::new();
        for step in &plan.steps {
            let group = step.kind.group();
            if group != StepGroup::Restore && !asked.contains(&group) {
                asked.push(group);
                if !self.ask(plan, group) {
                    self.act(format!(
                        "declined by the admin before step {}: nothing changed",
                        step.id
                    ));
                    return self.report(
                        Outcome::Cancelled,
                        None,
                        Some("declined by the admin; nothing was changed".into()),
                        None,
                    );
                }
            }
        }
        let journal = Journal::new(plan, self.seams.clock.now_unix());
        if let Err(e) = journal.save(&self.opts.journal_path) {
            return self.report(
                Outcome::NotStarted,
                None,
                Some(format!(
                    "cannot write the journal, so nothing was changed: {e}"
                )),
                None,
            );
        }
        self.journal = Some(journal);
        self.act(format!(
            "reload started: driver {} → {} ({} steps)",
            plan.from_version.as_deref().unwrap_or("none"),
            plan.to_version.as_deref().unwrap_or("?"),
            plan.steps.len()
        ));
        for step in &plan.steps {
            if (self.opts.interrupted)() {
                return self.abort(
                    plan,
                    Some(step.id),
                    "interrupted by a signal".into(),
                    Outcome::Interrupted,
                );
            }
            if let StepKind::TerminateProcess { process } | StepKind::KillProcess { process } =
                &step.kind
            {
                if self.deselected.contains(&process.pid) {
                    let _ = self.record(step.id, StepState::Skipped, Some("deselected".into()));
                    continue;
                }
            }
            if let Err(e) = self.record(step.id, StepState::Running, None) {
                return self.abort(plan, Some(step.id), e, Outcome::Restored);
            }
            self.ui.started(step);
            match self.run_step(plan, step) {
                Ok(detail) => {
                    self.ui.finished(step, true, &detail);
                    self.act(format!(
                        "step {} {}: {detail}",
                        step.id,
                        step.kind.describe()
                    ));
                    if let Err(e) = self.record(step.id, StepState::Done, Some(detail)) {
                        return self.abort(plan, Some(step.id), e, Outcome::Restored);
                    }
                }
                Err(err) => {
                    self.ui.finished(step, false, &err.reason);
                    self.act(format!(
                        "step {} {} FAILED: {}",
                        step.id,
                        step.kind.describe(),
                        err.reason
                    ));
                    let _ = self.record(step.id, StepState::Failed, Some(err.reason.clone()));
                    match &step.kind {
                        // The driver is back; a service that does not start is a problem to report, not a reason
                        // to take the driver out again.
                        StepKind::StartService { .. }
                        | StepKind::BringUpService { .. }
                        | StepKind::CreateDeviceNodes => {
                            self.problems.push(err.reason);
                            continue;
                        }
                        StepKind::Verify => {
                            self.finish_journal();
                            return self.report(
                                Outcome::VerifyFailed,
                                Some(step.id),
                                Some(err.reason),
                                Some("sudo nvfix diagnose".into()),
                            );
                        }
                        _ => {
                            let outcome = if err.reboot {
                                Outcome::RebootRequired
                            } else {
                                Outcome::Restored
                            };
                            return self.abort(plan, Some(step.id), err.reason, outcome);
                        }
                    }
                }
            }
            if self.opts.stop_after == Some(step.id) {
                return self.report(
                    Outcome::Crashed,
                    Some(step.id),
                    Some("simulated crash".into()),
                    Some("sudo nvfix reload --resume".into()),
                );
            }
            self.pause_hook(plan, step);
        }
        self.finish_journal();
        self.act("reload finished: verified".into());
        self.report(Outcome::Fixed, None, None, None)
    }

    /// Undoes an interrupted run from its journal: loads what was unloaded, starts what was stopped, verifies.
    pub fn resume(mut self, journal: Journal) -> ExecReport {
        let plan = journal.plan.clone();
        self.act(format!(
            "resuming the reload interrupted in process {} (journal {})",
            journal.pid,
            self.opts.journal_path.display()
        ));
        if let Some(first) = journal.overran.first() {
            self.stack_stuck = Some(format!(
                "`{}` (pid {}) ran past {} s in the interrupted run{}",
                first.command,
                first.pid,
                first.seconds,
                if first.left_behind {
                    " and was left behind, stuck in the kernel"
                } else {
                    ""
                }
            ));
        }
        self.journal = Some(journal);
        let failures = self.restore(&plan);
        if let Some(reason) = self.stack_stuck.clone() {
            return self.report(
                Outcome::RebootRequired,
                None,
                Some(format!("{reason}: only a reboot recovers")),
                Some("sudo nvfix reboot".into()),
            );
        }
        if !failures.is_empty() {
            return self.report(
                Outcome::RestoreIncomplete,
                None,
                Some(failures.join("; ")),
                Some("sudo nvfix reboot".into()),
            );
        }
        let reason = self.verify_after_restore(&plan);
        self.report(Outcome::Resumed, None, reason, None)
    }

    /// The report refusing to start over a journal an earlier run left; None when there is none.
    fn earlier_journal(&mut self) -> Option<ExecReport> {
        let path = self.opts.journal_path.clone();
        let stuck = match Journal::load(&path) {
            Ok(None) => return None,
            Ok(Some(j)) => j.overran.first().map(|c| c.command.clone()),
            Err(_) => None,
        };
        Some(match stuck {
            Some(command) => self.report(
                Outcome::RebootRequired,
                None,
                Some(format!(
                    "an earlier run left `{command}` stuck in the kernel (journal {}): only a reboot recovers",
                    path.display()
                )),
                Some("sudo nvfix reboot".into()),
            ),
            None => self.report(
                Outcome::NotStarted,
                None,
                Some(format!(
                    "the journal of an interrupted run is still at {}: it is undone first",
                    path.display()
                )),
                Some("sudo nvfix reload --resume".into()),
            ),
        })
    }

    fn ask(&mut self, plan: &ReloadPlan, group: StepGroup) -> bool {
        match group {
            StepGroup::Services => {
                let units: Vec<String> = plan
                    .steps
                    .iter()
                    .filter_map(|s| match &s.kind {
                        StepKind::StopService { unit, label, .. } => {
                            Some(format!("{unit} ({label})"))
                        }
                        StepKind::QuitMps { .. } => Some("the CUDA MPS daemon".into()),
                        _ => None,
                    })
                    .collect();
                self.ui.confirm(
                    &format!(
                        "Stop {} GPU service(s)? They are started again afterwards.",
                        units.len()
                    ),
                    &units,
                )
            }
            StepGroup::Processes => {
                let items: Vec<String> = plan.processes.iter().map(|p| p.describe()).collect();
                let verb = if plan.kill {
                    "Terminate (SIGTERM, then SIGKILL)"
                } else {
                    "Terminate (SIGTERM)"
                };
                let chosen = self.ui.choose(
                    &format!("{verb} these {} process(es)?", items.len()),
                    &items,
                );
                for (p, keep) in plan.processes.iter().zip(chosen) {
                    if !keep {
                        self.deselected.insert(p.pid);
                        self.act(format!("pid {} deselected: not signalled", p.pid));
                    }
                }
                // Deselecting is an answer, not a refusal: the re-scan waits for those processes and stops the run
                // if they still hold the GPU.
                true
            }
            StepGroup::Unload => self.ui.confirm(
                &format!(
                    "Unload {} and load {} from disk{}?",
                    plan.unload_order.join(", "),
                    plan.load_order.join(", "),
                    plan.to_version
                        .as_ref()
                        .map(|v| format!(" (driver {v})"))
                        .unwrap_or_default()
                ),
                &[],
            ),
            StepGroup::Restore => true,
        }
    }

    fn run_step(&mut self, plan: &ReloadPlan, step: &Step) -> Result<String, StepError> {
        let grace = Duration::from_secs(plan.grace_secs);
        match &step.kind {
            StepKind::StopService {
                unit, processes, ..
            } => {
                if !self.seams.view.runs_systemd() {
                    // No systemd to ask (systemctl missing or unable to operate): stop the processes directly, as
                    // for a unit systemd does not know. Nothing can start it again.
                    for p in processes {
                        self.terminate(p, grace, plan.kill)?;
                    }
                    self.problems.push(format!(
                        "{unit}: systemd is not running here: its processes were terminated and will not be restarted"
                    ));
                    return Ok("no systemd: processes terminated".into());
                }
                // Remembered before it runs: if nvfix dies during the stop, resume starts it again (harmless if
                // it was still running).
                self.journal_mut(|j| {
                    if !j.stopped_services.contains(unit) {
                        j.stopped_services.push(unit.clone())
                    }
                })?;
                let out = self.run_command(
                    CommandSpec::new("systemctl", &["stop", unit])
                        .with_timeout(self.opts.service_timeout),
                )?;
                if out.status == 5 {
                    // "Unit … not loaded": this host runs it outside systemd. Stop its processes directly; nvfix
                    // cannot start it again.
                    self.journal_mut(|j| j.stopped_services.retain(|u| u != unit))?;
                    for p in processes {
                        self.terminate(p, grace, plan.kill)?;
                    }
                    self.problems.push(format!(
                        "{unit} is not a systemd unit here: its processes were terminated and will not be restarted"
                    ));
                    return Ok("not a systemd unit: processes terminated".into());
                }
                if !out.success() {
                    return Err(StepError::new(format!(
                        "systemctl stop {unit} failed: {}",
                        first_line(&out)
                    )));
                }
                for p in processes {
                    match self.wait_for(p, grace)? {
                        Waited::StillRunning => self.terminate(p, grace, plan.kill)?,
                        Waited::Exited | Waited::NotThere => {}
                    }
                }
                Ok("stopped".into())
            }
            StepKind::StartService { unit, .. } => {
                let stopped_by_us = self
                    .journal
                    .as_ref()
                    .is_none_or(|j| j.stopped_services.contains(unit));
                if !stopped_by_us {
                    return Ok("not stopped by nvfix (not a systemd unit here): left alone".into());
                }
                self.systemctl("start", unit)?;
                self.journal_mut(|j| j.stopped_services.retain(|u| u != unit))?;
                Ok("started".into())
            }
            StepKind::BringUpService { unit, restart, .. } => {
                if !self.seams.view.runs_systemd() {
                    return Ok(format!(
                        "systemd is not running here: bring up {unit} by hand"
                    ));
                }
                let verb = if *restart { "restart" } else { "start" };
                self.systemctl(verb, unit)?;
                Ok(format!("{verb}ed"))
            }
            StepKind::QuitMps { processes } => {
                let out = self.run_command(
                    CommandSpec::new("nvidia-cuda-mps-control", &[])
                        .with_stdin("quit\n")
                        .with_timeout(Duration::from_secs(30)),
                )?;
                if !out.success() {
                    return Err(StepError::new(format!(
                        "nvidia-cuda-mps-control did not take `quit`: {}",
                        first_line(&out)
                    )));
                }
                for p in processes {
                    if self.wait_for(p, grace)? == Waited::StillRunning {
                        return Err(StepError::new(format!(
                            "the MPS process {} did not exit within {}s of `quit`",
                            p.describe(),
                            grace.as_secs()
                        )));
                    }
                }
                Ok("MPS stopped".into())
            }
            StepKind::TerminateProcess { process } => {
                match self.signal(process, Some(Sig::Term), grace)? {
                    Waited::Exited => Ok("exited after SIGTERM".into()),
                    Waited::NotThere => {
                        Ok("already gone (or its pid now belongs to another process: not signalled)".into())
                    }
                    Waited::StillRunning if plan.kill => {
                        Ok(format!("still running after {}s; SIGKILL next", grace.as_secs()))
                    }
                    Waited::StillRunning => Err(StepError::new(format!(
                        "{} did not exit within {}s of SIGTERM; stop it yourself or rerun with --kill",
                        process.describe(),
                        grace.as_secs()
                    ))),
                }
            }
            StepKind::KillProcess { process } => {
                match self.signal(process, Some(Sig::Kill), Duration::from_secs(5))? {
                    Waited::StillRunning => Err(StepError::reboot(format!(
                        "{} survived SIGKILL (stuck in the driver)",
                        process.describe()
                    ))),
                    _ => Ok("gone".into()),
                }
            }
            StepKind::Rescan => self.rescan(plan),
            StepKind::Unload { module } => self.unload(module),
            StepKind::Load { module } => self.load(module),
            StepKind::CreateDeviceNodes => self.device_nodes(),
            StepKind::Verify => {
                let facts = self.seams.view.verify_facts();
                let report = verify_host(&facts, Some(&plan.baseline));
                let verified = report.verified;
                let failures = report.failures();
                self.verify = Some(report);
                if verified {
                    Ok("verified".into())
                } else {
                    Err(StepError::new(format!("verification failed: {failures}")))
                }
            }
        }
    }

    /// Right before unloading: nothing may hold the devices, and every reference must be explained by a module
    /// the plan unloads first. Waits up to the grace period for stragglers, then names what is in the way. A clean
    /// scan must stay clean for [`ExecOptions::rescan_settle`]: a supervisor (Restart=always, a container restart
    /// policy, a shell loop) restarts what was just terminated a moment later, and a holder that reopens the device
    /// between two unloads leaves the stack half unloaded with only the new version on disk to load back.
    fn rescan(&mut self, plan: &ReloadPlan) -> Result<String, StepError> {
        const SCAN_EVERY: Duration = Duration::from_millis(500);
        let rounds = (plan.grace_secs * 2).max(1);
        let settle_scans = (self.opts.rescan_settle.as_millis() / SCAN_EVERY.as_millis()) as u64;
        let known: BTreeSet<i32> = plan
            .steps
            .iter()
            .flat_map(|s| match &s.kind {
                StepKind::StopService { processes, .. } | StepKind::QuitMps { processes } => {
                    processes.iter().map(|p| p.pid).collect::<Vec<_>>()
                }
                StepKind::TerminateProcess { process } | StepKind::KillProcess { process } => {
                    vec![process.pid]
                }
                _ => vec![],
            })
            .collect();
        let mut last: Vec<String>;
        let mut only_unexplained: bool;
        let mut busy_rounds = 0;
        let mut quiet_scans = 0;
        loop {
            let holders: Vec<_> = self
                .seams
                .view
                .holders()
                .into_iter()
                .filter(|h| !h.devices.is_empty())
                .collect();
            let modules = self.seams.view.modules();
            let mut problems = Vec::new();
            let mut unexplained = 0;
            for h in &holders {
                let new = if known.contains(&h.pid) {
                    ""
                } else {
                    " (not there when the plan was made: restarted by a supervisor? stop that first)"
                };
                problems.push(format!(
                    "pid {} ({}) {} holds {}{new}",
                    h.pid,
                    h.user,
                    h.command,
                    h.devices.join(", ")
                ));
            }
            for m in modules
                .iter()
                .filter(|m| plan.unload_order.contains(&m.name))
            {
                if m.state == ModuleState::Going {
                    return Err(self.stuck(format!(
                        "{} is stuck unloading (state going): reboot required",
                        m.name
                    )));
                }
                for u in m.used_by.iter().filter(|u| !plan.unload_order.contains(u)) {
                    problems.push(format!("a new module {u} uses {}", m.name));
                }
                let by_modules: i64 = m.used_by.iter().map(|u| references_taken_by(u)).sum();
                if holders.is_empty() && m.refcount > by_modules {
                    unexplained += 1;
                    problems.push(format!(
                        "{}: blocked by {} unexplained reference(s)",
                        m.name,
                        m.refcount - by_modules
                    ));
                }
            }
            if problems.is_empty() {
                if quiet_scans >= settle_scans {
                    return Ok(if settle_scans == 0 {
                        "nothing holds the modules".into()
                    } else {
                        format!(
                            "nothing holds the modules (quiet for {:.1} s)",
                            self.opts.rescan_settle.as_secs_f64()
                        )
                    });
                }
                quiet_scans += 1;
            } else {
                quiet_scans = 0;
                only_unexplained = unexplained == problems.len();
                last = problems;
                busy_rounds += 1;
                if busy_rounds >= rounds {
                    break;
                }
            }
            self.seams.clock.sleep(SCAN_EVERY);
        }
        let reason = format!("still in use right before unloading: {}", last.join("; "));
        // References no process and no module explains do not go away by waiting: only a reboot clears them.
        Err(if only_unexplained {
            StepError::reboot(reason)
        } else {
            StepError::new(reason)
        })
    }

    fn unload(&mut self, module: &str) -> Result<String, StepError> {
        let before: BTreeSet<String> = self.module_names();
        let attempts = self.opts.unload_attempts.max(1);
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                let backoff = Duration::from_millis(500 * (1u64 << (attempt - 1).min(3)));
                self.seams.clock.sleep(backoff);
            }
            let modules = self.seams.view.modules();
            let Some(m) = modules.iter().find(|m| m.name == module) else {
                self.note_unloaded(&before)?;
                return Ok("already removed".into());
            };
            if m.state == ModuleState::Going {
                return Err(self.stuck(format!(
                    "{module} is stuck unloading (state going): reboot required"
                )));
            }
            // The refcount re-read right before: modules that use it must be gone, and nothing else may hold it.
            let by_modules: i64 = m.used_by.iter().map(|u| references_taken_by(u)).sum();
            if !m.used_by.is_empty() || m.refcount > by_modules {
                last = format!(
                    "refcount {}{}",
                    m.refcount,
                    if m.used_by.is_empty() {
                        String::new()
                    } else {
                        format!(", used by {}", m.used_by.join(", "))
                    }
                );
                continue;
            }
            let spec = CommandSpec::new("modprobe", &["-r", module])
                .with_timeout(self.opts.module_timeout);
            let out = match self.module_command(spec) {
                Ok(o) => o,
                Err(e) => {
                    // Whatever went away before it stuck is recorded, for the record after the reboot.
                    let _ = self.note_unloaded(&before);
                    return Err(e);
                }
            };
            if out.success() {
                let after = self.seams.view.modules();
                match after.iter().find(|m| m.name == module) {
                    None => {
                        let also = self.note_unloaded(&before)?;
                        return Ok(if also.is_empty() {
                            "removed".into()
                        } else {
                            format!("removed (with {})", also.join(", "))
                        });
                    }
                    Some(m) if m.state == ModuleState::Going => {
                        return Err(self.stuck(format!(
                            "{module} is stuck unloading (state going): reboot required"
                        )))
                    }
                    Some(_) => last = "modprobe -r succeeded but the module is still loaded".into(),
                }
            } else if out.stderr.contains("in use") || out.stdout.contains("in use") {
                last = first_line(&out);
            } else {
                return Err(StepError::new(format!(
                    "modprobe -r {module} failed: {}",
                    first_line(&out)
                )));
            }
        }
        // Whatever modprobe managed to take along is recorded so the restore brings it back.
        self.note_unloaded(&before)?;
        Err(StepError::new(format!(
            "{module} is still in use after {attempts} attempts ({last})"
        )))
    }

    fn load(&mut self, module: &str) -> Result<String, StepError> {
        if self.module_names().contains(module) {
            return Ok("already loaded (as a dependency)".into());
        }
        let out = self.module_command(
            CommandSpec::new("modprobe", &[module]).with_timeout(self.opts.module_timeout),
        )?;
        if !out.success() {
            return Err(StepError::new(format!(
                "modprobe {module} failed: {}",
                first_line(&out)
            )));
        }
        self.journal_mut(|j| j.loaded.push(module.to_string()))?;
        Ok("loaded".into())
    }

    fn device_nodes(&mut self) -> Result<String, StepError> {
        if !self.seams.view.has_program("nvidia-modprobe") {
            return Ok("nvidia-modprobe is not installed: skipped".into());
        }
        let out = self.run_command(
            CommandSpec::new("nvidia-modprobe", &["-u", "-c=0"])
                .with_timeout(Duration::from_secs(30)),
        )?;
        if out.success() {
            Ok("device nodes created".into())
        } else {
            Err(StepError::new(format!(
                "nvidia-modprobe -u -c=0 failed: {}",
                first_line(&out)
            )))
        }
    }

    /// Brings back what the run changed: loads the modules that were loaded before (from disk: the installed
    /// version), recreates device nodes, starts the stopped services in reverse order. Keeps the journal when
    /// anything could not be restored, so `--resume` can try again. Returns what could not be restored (also added
    /// to the problems); problems noted earlier in the run do not make a restore incomplete.
    fn restore(&mut self, plan: &ReloadPlan) -> Vec<String> {
        let problems_before = self.problems.len();
        self.ui.note("restoring what was changed …");
        match self.stack_stuck.clone() {
            // A stuck stack takes no module command; services still get their start (those that need the driver
            // fail and are reported).
            Some(reason) => {
                self.act(format!("restore: no module command is run: {reason}"));
                self.problems.push(format!(
                    "the NVIDIA modules were not loaded again: {reason}; only a reboot recovers (sudo nvfix reboot)"
                ));
            }
            None => self.restore_modules(plan),
        }
        let stopped: Vec<String> = self
            .journal
            .as_ref()
            .map(|j| j.stopped_services.clone())
            .unwrap_or_default();
        for unit in stopped.iter().rev() {
            let spec = CommandSpec::new("systemctl", &["start", unit])
                .with_timeout(self.opts.service_timeout);
            match self.seams.runner.run(&spec) {
                Ok(out) if out.success() => {
                    self.act(format!("restore: {} → exit 0", spec.display()));
                    let _ = self.journal_mut(|j| j.stopped_services.retain(|u| u != unit));
                }
                Ok(out) => {
                    self.act(format!("restore: {} → exit {}", spec.display(), out.status));
                    self.problems.push(format!(
                        "systemctl start {unit} failed: {}",
                        first_line(&out)
                    ));
                }
                Err(e) => {
                    self.act(format!("restore: {} → {e}", spec.display()));
                    self.problems.push(format!("systemctl start {unit}: {e}"));
                }
            }
        }
        let failures = self.problems[problems_before..].to_vec();
        if failures.is_empty() {
            self.finish_journal();
        } else if let Some(j) = &self.journal {
            let _ = j.save(&self.opts.journal_path);
        }
        failures
    }

    /// The module half of [`Self::restore`]: loads what was loaded before (the whole stack again when the old base
    /// refuses the new upper modules), recreates the device nodes; what fails is added to the problems.
    fn restore_modules(&mut self, plan: &ReloadPlan) {
        let loaded = self.module_names();
        let missing: Vec<String> = plan
            .modules_before
            .iter()
            .filter(|m| !loaded.contains(*m))
            .cloned()
            .collect();
        let mut failed: Vec<String> = Vec::new();
        for m in &missing {
            if let Err(problem) = self.restore_load(m) {
                failed.push(problem);
            }
        }
        if !failed.is_empty() {
            // Only the new version is on disk, and NVIDIA's upper modules refuse a base of another version: with the
            // old base still in, the stack can only come back whole. Take out what is left (nothing holds it: the
            // holders were stopped) and load everything from disk.
            let left: Vec<String> = plan
                .unload_order
                .iter()
                .filter(|m| self.module_names().contains(*m))
                .cloned()
                .collect();
            let mut unloaded_all = !left.is_empty();
            if unloaded_all {
                self.ui.note(&format!(
                    "the modules could not be loaded on top of what is left ({}); reloading the whole stack",
                    left.join(", ")
                ));
            }
            let mut removed_here: Vec<String> = Vec::new();
            for m in &left {
                if !self.module_names().contains(m) {
                    // Taken along by an earlier `modprobe -r` (an unused dependency).
                    removed_here.push(m.clone());
                    continue;
                }
                let spec =
                    CommandSpec::new("modprobe", &["-r", m]).with_timeout(self.opts.module_timeout);
                let result = self.seams.runner.run(&spec);
                let ok =
                    matches!(&result, Ok(o) if o.success()) && !self.module_names().contains(m);
                self.act(format!(
                    "restore: {} → {}",
                    spec.display(),
                    match &result {
                        Ok(o) => format!("exit {}", o.status),
                        Err(e) => e.to_string(),
                    }
                ));
                if !ok {
                    unloaded_all = false;
                    break;
                }
                removed_here.push(m.clone());
            }
            if !unloaded_all {
                // Something still holds the base (a holder came back): the whole stack cannot be reloaded. Put back
                // what this fallback took out, so it leaves no less loaded than it found.
                for m in plan
                    .modules_before
                    .iter()
                    .filter(|m| removed_here.contains(*m))
                {
                    if let Err(problem) = self.restore_load(m) {
                        failed.push(problem);
                    }
                }
            }
            if unloaded_all {
                let _ = self.journal_mut(|j| {
                    for m in &left {
                        if !j.unloaded.contains(m) {
                            j.unloaded.push(m.clone());
                        }
                    }
                });
                failed.clear();
                for m in &plan.modules_before {
                    if let Err(problem) = self.restore_load(m) {
                        failed.push(problem);
                    }
                }
            }
            self.problems.extend(failed);
        }
        if !missing.is_empty() && self.seams.view.has_program("nvidia-modprobe") {
            let spec = CommandSpec::new("nvidia-modprobe", &["-u", "-c=0"])
                .with_timeout(Duration::from_secs(30));
            let result = self.seams.runner.run(&spec);
            self.act(format!(
                "restore: {} → {}",
                spec.display(),
                match &result {
                    Ok(o) => format!("exit {}", o.status),
                    Err(e) => e.to_string(),
                }
            ));
        }
    }

    /// Loads one module while restoring (skipped when already loaded, e.g. as a dependency).
    fn restore_load(&mut self, m: &str) -> Result<(), String> {
        if self.module_names().contains(m) {
            return Ok(());
        }
        let spec = CommandSpec::new("modprobe", &[m]).with_timeout(self.opts.module_timeout);
        match self.seams.runner.run(&spec) {
            Ok(out) if out.success() => {
                self.act(format!("restore: {} → exit 0", spec.display()));
                let _ = self.journal_mut(|j| j.loaded.push(m.to_string()));
                Ok(())
            }
            Ok(out) => {
                self.act(format!("restore: {} → exit {}", spec.display(), out.status));
                Err(format!("modprobe {m} failed: {}", first_line(&out)))
            }
            Err(e) => {
                self.act(format!("restore: {} → {e}", spec.display()));
                Err(format!("modprobe {m}: {e}"))
            }
        }
    }

    /// After a restore: when modules went out and came back (from disk, possibly the new version), check the host.
    fn verify_after_restore(&mut self, plan: &ReloadPlan) -> Option<String> {
        let touched = self
            .journal
            .as_ref()
            .is_some_and(|j| !j.unloaded.is_empty() || !j.loaded.is_empty());
        if !touched || self.stack_stuck.is_some() || !self.module_names().contains("nvidia") {
            return None;
        }
        let report = verify_host(&self.seams.view.verify_facts(), Some(&plan.baseline));
        let reason = (!report.verified).then(|| format!("after restoring: {}", report.failures()));
        self.verify = Some(report);
        reason
    }

    fn abort(
        &mut self,
        plan: &ReloadPlan,
        failed_step: Option<usize>,
        reason: String,
        outcome: Outcome,
    ) -> ExecReport {
        self.act(format!("reload stopped ({reason}); restoring"));
        let failures = self.restore(plan);
        let _ = self.verify_after_restore(plan);
        let (outcome, next) = match outcome {
            Outcome::RebootRequired => (outcome, Some("sudo nvfix reboot".to_string())),
            _ if !failures.is_empty() => (
                Outcome::RestoreIncomplete,
                Some("sudo nvfix reload --resume (or sudo nvfix reboot)".to_string()),
            ),
            Outcome::Cancelled => (outcome, None),
            Outcome::Interrupted => (outcome, Some("sudo nvfix reload".to_string())),
            _ => (outcome, Some("sudo nvfix diagnose".to_string())),
        };
        self.report(outcome, failed_step, Some(reason), next)
    }

    fn report(
        &mut self,
        outcome: Outcome,
        failed_step: Option<usize>,
        reason: Option<String>,
        next: Option<String>,
    ) -> ExecReport {
        ExecReport {
            outcome,
            failed_step,
            reason,
            next,
            actions: std::mem::take(&mut self.actions),
            problems: self.problems.clone(),
            verify: self.verify.clone(),
            steps: self
                .journal
                .as_ref()
                .map(|j| j.steps.clone())
                .unwrap_or_default(),
            stack_stuck: self.stack_stuck.clone(),
        }
    }

    fn pause_hook(&mut self, plan: &ReloadPlan, step: &Step) {
        let Some(kind) = &self.opts.pause_after else {
            return;
        };
        let name = step.kind.name();
        let last_of_kind = !plan
            .steps
            .iter()
            .any(|s| s.id > step.id && s.kind.name() == name);
        if name == kind && last_of_kind {
            self.ui.note(&format!(
                "test hook NVFIX_TEST_PAUSE_AFTER_STEP={kind}: pausing {} s",
                TEST_PAUSE.as_secs()
            ));
            self.seams.clock.sleep(TEST_PAUSE);
        }
    }

    fn module_names(&self) -> BTreeSet<String> {
        self.seams
            .view
            .modules()
            .into_iter()
            .map(|m| m.name)
            .collect()
    }

    /// Records the modules that went away since `before` (modprobe -r also removes unused dependencies).
    fn note_unloaded(&mut self, before: &BTreeSet<String>) -> Result<Vec<String>, StepError> {
        let now = self.module_names();
        let gone: Vec<String> = before.difference(&now).cloned().collect();
        self.journal_mut(|j| {
            for g in &gone {
                if !j.unloaded.contains(g) {
                    j.unloaded.push(g.clone());
                }
            }
        })?;
        Ok(gone)
    }

    fn signal(
        &mut self,
        p: &crate::model::plan::ProcessTarget,
        sig: Option<Sig>,
        wait: Duration,
    ) -> Result<Waited, StepError> {
        if let Some(s) = sig {
            self.act(format!("signal {s:?} → {}", p.describe()));
        }
        self.seams
            .processes
            .signal_and_wait(p, sig, wait)
            .map_err(|e| StepError::new(e.to_string()))
    }

    fn wait_for(
        &mut self,
        p: &crate::model::plan::ProcessTarget,
        wait: Duration,
    ) -> Result<Waited, StepError> {
        self.signal(p, None, wait)
    }

    /// SIGTERM, grace, and SIGKILL when allowed; an error when it is still there.
    fn terminate(
        &mut self,
        p: &crate::model::plan::ProcessTarget,
        grace: Duration,
        kill: bool,
    ) -> Result<(), StepError> {
        if self.signal(p, Some(Sig::Term), grace)? != Waited::StillRunning {
            return Ok(());
        }
        if kill && self.signal(p, Some(Sig::Kill), Duration::from_secs(5))? != Waited::StillRunning
        {
            return Ok(());
        }
        Err(StepError::new(format!(
            "{} is still running after {}",
            p.describe(),
            if kill {
                "SIGKILL"
            } else {
                "SIGTERM (use --kill to SIGKILL it)"
            }
        )))
    }

    /// `systemctl VERB UNIT` within the service timeout; a non-zero exit is the step's error.
    fn systemctl(&mut self, verb: &str, unit: &str) -> Result<(), StepError> {
        let out = self.run_command(
            CommandSpec::new("systemctl", &[verb, unit]).with_timeout(self.opts.service_timeout),
        )?;
        if out.success() {
            Ok(())
        } else {
            Err(StepError::new(format!(
                "systemctl {verb} {unit} failed: {}",
                first_line(&out)
            )))
        }
    }

    /// `modprobe` or `modprobe -r` within the module timeout. One that overruns (stopped, or left behind stuck in
    /// the kernel) leaves the stack stuck: recorded in the journal, which is kept, and no module command runs again.
    fn module_command(&mut self, spec: CommandSpec) -> Result<CommandOutput, StepError> {
        let err = match self.seams.runner.run(&spec) {
            Ok(out) => {
                self.act(format!("run: {} → exit {}", spec.display(), out.status));
                return Ok(out);
            }
            Err(e) => e,
        };
        self.act(format!("run: {} → {err}", spec.display()));
        let (pid, seconds, left_behind) = match &err {
            HostError::Timeout { pid, seconds, .. } => (*pid, *seconds, false),
            HostError::Abandoned { pid, seconds, .. } => (*pid, *seconds, true),
            _ => return Err(StepError::new(err.to_string())),
        };
        let record = OverranCommand {
            command: spec.display(),
            pid,
            seconds,
            left_behind,
        };
        if let Err(e) = self.journal_mut(|j| j.overran.push(record)) {
            self.problems.push(e.reason);
        }
        Err(self.stuck(format!(
            "{err}; the module stack is stuck: only a reboot recovers"
        )))
    }

    /// Marks the stack stuck (no module command from now on) and returns the reboot-required step error.
    fn stuck(&mut self, reason: String) -> StepError {
        self.stack_stuck = Some(reason.clone());
        StepError::reboot(reason)
    }

    fn run_command(&mut self, spec: CommandSpec) -> Result<CommandOutput, StepError> {
        let result = self.seams.runner.run(&spec);
        match &result {
            Ok(o) => self.act(format!("run: {} → exit {}", spec.display(), o.status)),
            Err(e) => self.act(format!("run: {} → {e}", spec.display())),
        }
        result.map_err(|e| StepError::new(e.to_string()))
    }

    fn record(
        &mut self,
        id: usize,
        state: StepState,
        detail: Option<String>,
    ) -> Result<(), String> {
        let path = self.opts.journal_path.clone();
        match self.journal.as_mut() {
            Some(j) => {
                j.set(id, state, detail);
                j.save(&path).map_err(|e| format!("journal: {e}"))
            }
            None => Ok(()),
        }
    }

    fn journal_mut(&mut self, change: impl FnOnce(&mut Journal)) -> Result<(), StepError> {
        let path = self.opts.journal_path.clone();
        if let Some(j) = self.journal.as_mut() {
            change(j);
            j.save(&path)
                .map_err(|e| StepError::new(format!("journal: {e}")))?;
        }
        Ok(())
    }

    fn finish_journal(&mut self) {
        if let Err(e) = Journal::remove(&self.opts.journal_path) {
            self.problems.push(e.to_string());
        }
    }

    fn act(&mut self, message: String) {
        if self.opts.syslog {
            syslog::log(&message);
        }
        self.actions.push(message);
    }
}

/// The first non-empty line of a command's stderr (else stdout), for one-line reasons.
fn first_line(out: &CommandOutput) -> String {
    out.stderr
        .lines()
        .chain(out.stdout.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("exit status {}", out.status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::runner::RecordingRunner;
    use crate::model::holders::{GpuHolder, KnownService};
    use crate::model::modules::LoadedModule;
    use crate::model::plan::{ProcessTarget, VerifyBaseline};
    use std::cell::RefCell;

    /// A host without systemd (the QEMU lab, containers) whose GPU service respawns under its own supervisor: the
    /// stack stays loaded and, from scan `respawn_at` on, a new instance of the exporter holds /dev/nvidia0.
    #[derive(Default)]
    struct NoSystemdHost {
        respawn_at: usize,
        scans: std::cell::Cell<usize>,
    }

    impl HostView for NoSystemdHost {
        fn modules(&self) -> Vec<crate::model::modules::LoadedModule> {
            vec![LoadedModule {
                name: "nvidia".into(),
                size: 1,
                // The holder's references are explained by its open files; a quiet scan must see none.
                refcount: 0,
                used_by: vec![],
                state: ModuleState::Live,
                taint: None,
                version: "580.65.06".parse().ok(),
            }]
        }
        fn holders(&self) -> Vec<GpuHolder> {
            let scan = self.scans.get();
            self.scans.set(scan + 1);
            if scan < self.respawn_at {
                return vec![];
            }
            vec![GpuHolder {
                pid: 200,
                user: "root".into(),
                uid: 0,
                command: "dcgm-exporter".into(),
                comm: "dcgm-exporter".into(),
                started_secs_after_boot: Some(9),
                devices: vec!["/dev/nvidia0".into()],
                libraries: vec![],
                container: None,
                service: Some(KnownService::DcgmExporter),
                unit: None,
                user_session: false,
            }]
        }
        fn verify_facts(&self) -> crate::model::facts::HostFacts {
            panic!("verification must not run: nothing was unloaded")
        }
        fn has_program(&self, _name: &str) -> bool {
            false
        }
        fn runs_systemd(&self) -> bool {
            false
        }
    }

    #[derive(Default)]
    struct Signals(RefCell<Vec<(i32, Option<Sig>)>>);

    impl ProcessControl for Signals {
        fn signal_and_wait(
            &self,
            target: &ProcessTarget,
            signal: Option<Sig>,
            _wait: Duration,
        ) -> Result<Waited, HostError> {
            self.0.borrow_mut().push((target.pid, signal));
            Ok(Waited::Exited)
        }
    }

    struct NoWait;

    impl Clock for NoWait {
        fn sleep(&self, _d: Duration) {}
        fn now_unix(&self) -> u64 {
            1_700_000_000
        }
    }

    fn step(id: usize, kind: StepKind) -> Step {
        Step {
            id,
            kind,
            why: String::new(),
        }
    }

    fn exporter_plan() -> ReloadPlan {
        let exporter = ProcessTarget {
            pid: 100,
            start_time: Some(5),
            user: "root".into(),
            command: "dcgm-exporter".into(),
            container: None,
            devices: vec!["/dev/nvidia0".into()],
        };
        let unit = "dcgm-exporter.service".to_string();
        ReloadPlan {
            kernel: Some("6.1.0-56-amd64".into()),
            from_version: Some("580.65.06".into()),
            to_version: Some("580.95.05".into()),
            modules_before: vec!["nvidia".into()],
            unload_order: vec!["nvidia".into()],
            load_order: vec!["nvidia".into()],
            services: vec![unit.clone()],
            processes: vec![],
            library_users: vec![],
            grace_secs: 1,
            kill: false,
            blockers: vec![],
            notes: vec![],
            baseline: VerifyBaseline::default(),
            steps: vec![
                step(
                    1,
                    StepKind::StopService {
                        unit: unit.clone(),
                        label: "DCGM exporter".into(),
                        processes: vec![exporter],
                    },
                ),
                step(2, StepKind::Rescan),
                step(
                    3,
                    StepKind::Unload {
                        module: "nvidia".into(),
                    },
                ),
                step(
                    4,
                    StepKind::Load {
                        module: "nvidia".into(),
                    },
                ),
                step(
                    5,
                    StepKind::StartService {
                        unit,
                        label: "DCGM exporter".into(),
                    },
                ),
                step(6, StepKind::Verify),
            ],
        }
    }

    /// Found by the QEMU lab (scenario respawn): without systemd, `systemctl stop` could not even be spawned, the
    /// restore's `systemctl start` failed too, and a run that had changed nothing ended "restore incomplete" with
    /// its journal left behind.
    #[test]
    fn without_systemd_a_service_is_signalled_and_a_respawn_restores_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.json");
        let runner = RecordingRunner::new();
        let signals = Signals::default();
        let view = NoSystemdHost::default();
        let mut ui = AutoYes { quiet: true };
        let seams = Seams {
            runner: &runner,
            processes: &signals,
            view: &view,
            clock: &NoWait,
        };
        let report = Executor::new(seams, &mut ui, ExecOptions::new(journal.clone()))
            .execute(&exporter_plan());
        assert!(
            runner.commands().is_empty(),
            "no systemctl and no modprobe may run: {:?}",
            runner.commands()
        );
        assert_eq!(*signals.0.borrow(), vec![(100, Some(Sig::Term))]);
        assert_eq!(report.outcome, Outcome::Restored, "{report:?}");
        assert_eq!(report.failed_step, Some(2));
        assert!(report
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("still in use right before unloading")
                && r.contains("dcgm-exporter")));
        assert_eq!(report.exit_code(), exit::PROBLEM);
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("systemd is not running")),
            "{:?}",
            report.problems
        );
        assert!(!journal.exists(), "nothing to resume: the journal must go");
    }

    /// Found by the QEMU lab (scenario respawn): the supervisor restarted the holder 0.5 s after SIGTERM, the single
    /// re-scan right after the stop saw nothing, and the holder reopened the device mid-unload. A clean re-scan must
    /// now stay clean for the settle period; the newcomer is named as such.
    #[test]
    fn a_holder_that_comes_back_during_the_settle_period_stops_the_run_before_any_unload() {
        let dir = tempfile::tempdir().unwrap();
        let runner = RecordingRunner::new();
        let signals = Signals::default();
        let view = NoSystemdHost {
            respawn_at: 2,
            ..Default::default()
        };
        let mut ui = AutoYes { quiet: true };
        let seams = Seams {
            runner: &runner,
            processes: &signals,
            view: &view,
            clock: &NoWait,
        };
        let report = Executor::new(
            seams,
            &mut ui,
            ExecOptions::new(dir.path().join("journal.json")),
        )
        .execute(&exporter_plan());
        assert!(runner.commands().is_empty(), "{:?}", runner.commands());
        assert_eq!(report.outcome, Outcome::Restored, "{report:?}");
        assert_eq!(report.failed_step, Some(2));
        let reason = report.reason.unwrap_or_default();
        assert!(
            reason.contains("pid 200") && reason.contains("not there when the plan was made"),
            "{reason}"
        );
        assert!(view.scans.get() >= 3, "the clean scans were not repeated");
    }

    #[test]
    fn a_quiet_host_passes_the_rescan_after_the_settle_period() {
        let dir = tempfile::tempdir().unwrap();
        let runner = RecordingRunner::new();
        let view = NoSystemdHost {
            respawn_at: usize::MAX,
            ..Default::default()
        };
        let mut ui = AutoYes { quiet: true };
        let seams = Seams {
            runner: &runner,
            processes: &Signals::default(),
            view: &view,
            clock: &NoWait,
        };
        let mut plan = exporter_plan();
        plan.steps.truncate(2);
        let report = Executor::new(
            seams,
            &mut ui,
            ExecOptions::new(dir.path().join("journal.json")),
        )
        .execute(&plan);
        assert_eq!(report.outcome, Outcome::Fixed, "{report:?}");
        // One clean scan, then four more over the 2 s settle period (every 0.5 s).
        assert_eq!(view.scans.get(), 5);
    }

    /// A kernel with NVIDIA's stack whose modules change as `modprobe` runs: the files on disk are `disk`, the upper
    /// modules refuse a base of another version (like the real nvidia_modeset), and from the first `modprobe -r` on
    /// a process the re-scan never saw holds nvidia open (it reopened the device mid-unload).
    struct SimKernel {
        disk: String,
        loaded: RefCell<Vec<(String, String)>>,
        holder_reopened: std::cell::Cell<bool>,
    }

    fn dependency(module: &str) -> Option<&'static str> {
        match module {
            "nvidia_uvm" | "nvidia_modeset" => Some("nvidia"),
            "nvidia_drm" => Some("nvidia_modeset"),
            _ => None,
        }
    }

    fn output(status: i32, stderr: &str) -> CommandOutput {
        CommandOutput {
            status,
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    impl SimKernel {
        fn new(loaded_version: &str, disk: &str) -> Self {
            SimKernel {
                disk: disk.into(),
                loaded: RefCell::new(
                    ["nvidia", "nvidia_uvm", "nvidia_modeset", "nvidia_drm"]
                        .iter()
                        .map(|m| (m.to_string(), loaded_version.to_string()))
                        .collect(),
                ),
                holder_reopened: std::cell::Cell::new(false),
            }
        }
        fn users(&self, module: &str) -> Vec<String> {
            self.loaded
                .borrow()
                .iter()
                .filter(|(m, _)| dependency(m) == Some(module))
                .map(|(m, _)| m.clone())
                .collect()
        }
        fn is_loaded(&self, module: &str) -> bool {
            self.loaded.borrow().iter().any(|(m, _)| m == module)
        }
        fn insert(&self, module: &str) -> CommandOutput {
            if self.is_loaded(module) {
                return output(0, "");
            }
            if let Some(dep) = dependency(module) {
                let out = self.insert(dep);
                if !out.success() {
                    return out;
                }
            }
            let base = self
                .loaded
                .borrow()
                .iter()
                .find(|(m, _)| m == "nvidia")
                .map(|(_, v)| v.clone());
            if module != "nvidia" && module != "nvidia_uvm" && base.as_deref() != Some(&self.disk) {
                return output(
                    1,
                    &format!("modprobe: ERROR: could not insert '{module}': Invalid argument"),
                );
            }
            self.loaded
                .borrow_mut()
                .push((module.to_string(), self.disk.clone()));
            output(0, "")
        }
        fn remove(&self, module: &str) -> CommandOutput {
            self.holder_reopened.set(true);
            if !self.is_loaded(module) {
                return output(
                    1,
                    &format!("modprobe: FATAL: Module {module} is not currently loaded"),
                );
            }
            if !self.users(module).is_empty() || (module == "nvidia" && self.holder_reopened.get())
            {
                return output(1, &format!("modprobe: FATAL: Module {module} is in use."));
            }
            self.loaded.borrow_mut().retain(|(m, _)| m != module);
            output(0, "")
        }
    }

    impl CommandRunner for SimKernel {
        fn run(&self, cmd: &CommandSpec) -> Result<CommandOutput, HostError> {
            let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
            Ok(match (cmd.program.as_str(), args.as_slice()) {
                ("modprobe", ["-r", m]) => self.remove(m),
                ("modprobe", [m]) => self.insert(m),
                _ => output(127, "not simulated"),
            })
        }
    }

    impl HostView for SimKernel {
        fn modules(&self) -> Vec<LoadedModule> {
            let opened = self.holder_reopened.get();
            self.loaded
                .borrow()
                .iter()
                .map(|(name, version)| {
                    let users = self.users(name);
                    let open_files = if name == "nvidia" && opened { 2 } else { 0 };
                    LoadedModule {
                        name: name.clone(),
                        size: 1,
                        refcount: users.len() as i64 + open_files,
                        used_by: users,
                        state: ModuleState::Live,
                        taint: None,
                        version: version.parse().ok(),
                    }
                })
                .collect()
        }
        fn holders(&self) -> Vec<GpuHolder> {
            vec![]
        }
        fn verify_facts(&self) -> crate::model::facts::HostFacts {
            crate::model::facts::HostFacts::default()
        }
        fn has_program(&self, _name: &str) -> bool {
            false
        }
    }

    /// Found by the QEMU lab (scenario respawn, before the settle period): with the new modules on disk refusing
    /// the old base a holder kept loaded, the restore's whole-stack fallback removed nvidia_uvm, failed on nvidia,
    /// and left nvidia_uvm out. It must put back what it took out.
    #[test]
    fn the_whole_stack_fallback_puts_back_what_it_removed_when_the_base_stays_held() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.json");
        let kernel = SimKernel::new("580.65.06", "580.95.05");
        let stack = ["nvidia", "nvidia_uvm", "nvidia_modeset", "nvidia_drm"];
        let mut plan = exporter_plan();
        plan.services.clear();
        plan.modules_before = stack.iter().map(|m| m.to_string()).collect();
        plan.load_order = plan.modules_before.clone();
        plan.unload_order = stack.iter().rev().map(|m| m.to_string()).collect();
        let mut steps = vec![StepKind::Rescan];
        steps.extend(
            plan.unload_order
                .iter()
                .map(|m| StepKind::Unload { module: m.clone() }),
        );
        steps.extend(
            plan.load_order
                .iter()
                .map(|m| StepKind::Load { module: m.clone() }),
        );
        steps.push(StepKind::Verify);
        plan.steps = steps
            .into_iter()
            .enumerate()
            .map(|(i, k)| step(i + 1, k))
            .collect();
        let mut ui = AutoYes { quiet: true };
        let seams = Seams {
            runner: &kernel,
            processes: &Signals::default(),
            view: &kernel,
            clock: &NoWait,
        };
        let report =
            Executor::new(seams, &mut ui, ExecOptions::new(journal.clone())).execute(&plan);
        assert_eq!(report.outcome, Outcome::RestoreIncomplete, "{report:?}");
        let loaded: Vec<(String, String)> = kernel.loaded.borrow().clone();
        assert!(
            loaded.contains(&("nvidia".into(), "580.65.06".into())),
            "{loaded:?}"
        );
        assert!(
            loaded.iter().any(|(m, _)| m == "nvidia_uvm"),
            "the fallback left nvidia_uvm out: {loaded:?}"
        );
        assert!(journal.exists(), "an incomplete restore keeps its journal");
    }
}
