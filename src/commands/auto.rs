//! `nvfix auto`: runbook mode. Diagnose, decide within the playbook, reload (through the reload engine), verify,
//! else reboot per policy, and report — as text or as the `nvfix.auto/v1` JSON — with the exit status scripts act on.
//!
//! [`run_auto`] is the library API: every command goes through the given runner and the reload through the given
//! [`ReloadEngine`], so tests drive whole runs on fixture trees with a recorder and a scripted engine.

use super::doc::{general, own, CommandDoc};
use super::Context;
use crate::cli::AutoArgs;
use crate::error::Failure;
use crate::exit;
use crate::host::gather::{gather, GatherOptions};
use crate::host::nvml_gate::{LockHeld, NvmlLock};
use crate::host::quarantine::{self, Direction, QuarantineReport};
use crate::host::reboot::{
    self as hostreboot, hooks_aborted, run_hooks, schedule_reboot, RebootHow,
};
use crate::host::reload::{self, signals, AutoYes, ExecOptions, Executor, Journal, LiveHost};
use crate::host::run_lock::RunLock;
use crate::host::runner::{CommandRunner, SystemRunner};
use crate::host::HostRoot;
use crate::model::auto::{
    after_reboot_guards, after_reload, after_reload_guards, first_step, new_driver_would_not_load,
    ActionRecord, AutoPolicy, Outcome, QuarantineAction, ReloadResult, Step,
};
use crate::model::facts::{HostFacts, NvmlProbe};
use crate::model::guards::{evaluate_reload_policy, GuardResult, NextBoot};
use crate::model::plan::{make_plan, PlanOptions, ReloadPlan};
use crate::model::playbook::{Hook, Playbook, RebootMethod};
use crate::model::reboot_state::AfterBoot;
use crate::model::verdict::{diagnose, Diagnosis};
use serde::Serialize;
use std::path::PathBuf;

/// `nvfix auto`'s man page text (see `doc.rs`).
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "Runbook mode for unattended use (a timer, a cluster's health check): diagnoses, then acts within a \
         playbook's policy. A mismatch that a reload can fix is reloaded when the playbook allows it and every \
         guard passes (holders the policy may stop, the maintenance window, no package manager running); a mismatch \
         that needs a reboot is rebooted only when the playbook or --allow-reboot allows it; anything else is \
         reported. The exit status says what happened, so a caller can act on it.",
        "Without --playbook, the built-in default playbook applies: reload only when no user process holds the GPU, \
         never reboot. nvfix-playbook(5) describes the format; nvfix playbook check validates a file. An interrupted \
         reload's journal is resumed first. An interrupted nvfix upgrade whose new version is loaded (by this run or \
         an earlier one) is finished last: the new version is held again and its journal removed.",
    ],
    exit: &[
        own(exit::OK, "The host is healthy, or it was fixed and verified."),
        own(exit::PROBLEM, "A fix was attempted and failed; the host was restored."),
        general(exit::REBOOT_REQUIRED),
        general(exit::REBOOT_SCHEDULED),
        own(exit::USAGE, "A bad option, or an action asked for on a --root tree."),
        own(exit::DATA_ERROR, "The journal of an interrupted reload cannot be read."),
        own(exit::NO_INPUT, "The --root folder or the playbook does not exist."),
        own(exit::UNAVAILABLE, "Neither a reload nor a reboot can help: the packages need repair."),
        own(exit::TEMP_FAIL, "Another nvfix holds the lock, or a guard deferred the action (try again later)."),
        own(exit::NO_PERMISSION, "Not root, an unsafe playbook owner or mode, or the host is a container."),
        own(exit::CONFIG, "The playbook is not valid."),
    ],
    files: &[
        "/etc/nvfix/nvfix.yaml",
        "/etc/nvfix/playbooks/NAME.yaml",
        "/usr/share/nvfix/playbooks/NAME.yaml",
        "/run/nvfix/lock",
        "/run/nvfix/journal.json",
        "/var/lib/nvfix/upgrade.json",
        "/var/lib/nvfix/reboots.json",
    ],
    examples: &[
        ("sudo nvfix auto --dry-run", "Decide what the playbook allows and check every guard, changing nothing."),
        ("sudo nvfix auto --playbook slurm-node", "Act within the shipped Slurm playbook."),
        ("sudo nvfix auto --allow-reboot", "Also allow a reboot for this run."),
    ],
    see_also: &["nvfix-playbook(5)", "shutdown(8)"],
};

/// The report's schema name; bumped when a field changes meaning or goes away.
pub const SCHEMA: &str = "nvfix.auto/v1";

/// Runs a reload plan. The real one is [`ExecutorEngine`]; tests script one.
pub trait ReloadEngine {
    fn reload(&mut self, plan: &ReloadPlan) -> (ReloadResult, Vec<ActionRecord>);
}

/// Everything a run needs besides its seams.
#[derive(Debug, Clone)]
pub struct AutoInput {
    pub root: HostRoot,
    pub nvml_lib: Option<PathBuf>,
    pub playbook: Playbook,
    /// Where the playbook came from (a path, or `built-in default`).
    pub playbook_source: String,
    pub allow_reboot: bool,
    pub dry_run: bool,
    /// Unix seconds.
    pub now: i64,
    /// The read-only probes (`dpkg --audit`, `systemd-inhibit --list`) go through the runner. False on a `--root`
    /// tree: there a recorder would answer "success, no output", so those guards say `not checked` instead.
    pub live_probes: bool,
    /// How NVML is reached: under the lock `nvfix auto` holds, or (dry runs) taken for the call.
    pub nvml_lock: NvmlLock,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlaybookRef {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectionReason {
    pub code: &'static str,
    pub message: String,
}

/// What `diagnose` found, in brief (the full contract is `nvfix diagnose --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub verdict: &'static str,
    pub action: &'static str,
    pub kernel: Option<String>,
    pub boot_id: Option<String>,
    pub loaded_version: Option<String>,
    pub library_version: Option<String>,
    pub gpu_holders: usize,
    pub reasons: Vec<DetectionReason>,
    /// Set on the first run after an nvfix reboot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_reboot: Option<AfterReboot>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AfterReboot {
    /// The boot the reboot was requested from; the current boot id differs.
    pub from_boot_id: String,
    /// The host is healthy after the reboot.
    pub verified: bool,
}

/// A guard with the stage it guards (`reload` or `reboot`).
#[derive(Debug, Clone, Serialize)]
pub struct StagedGuard {
    pub stage: &'static str,
    #[serde(flatten)]
    pub guard: GuardResult,
}

/// One stage auto decided to try, and why.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStage {
    pub stage: &'static str,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RebootView {
    pub method: &'static str,
    pub next_boot: NextBoot,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_minutes: Option<u32>,
}

/// The `nvfix.auto/v1` report.
#[derive(Debug, Clone, Serialize)]
pub struct AutoReport {
    pub schema: &'static str,
    pub dry_run: bool,
    pub playbook: PlaybookRef,
    pub detection: Detection,
    pub guards: Vec<StagedGuard>,
    pub plan: Vec<PlannedStage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload_plan: Option<ReloadPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reboot: Option<RebootView>,
    /// The node's quarantine in its scheduler (playbooks with `quarantine`): the state the probe saw, what nvfix did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<QuarantineReport>,
    pub actions: Vec<ActionRecord>,
    pub outcome: Outcome,
    pub message: String,
    pub exit_status: i32,
}

fn detection(facts: &HostFacts, d: &Diagnosis) -> Detection {
    Detection {
        verdict: d.verdict.as_str(),
        action: d.action.as_str(),
        kernel: facts.kernel_release.clone(),
        boot_id: facts.boot_id.clone(),
        loaded_version: facts.loaded_version().map(|v| v.to_string()),
        library_version: facts.nvml_library.as_ref().map(|l| l.version.to_string()),
        gpu_holders: facts.holders.len(),
        reasons: d
            .reasons
            .iter()
            .map(|r| DetectionReason {
                code: r.code,
                message: r.message.clone(),
            })
            .collect(),
        after_reboot: None,
    }
}

/// The playbook's GPU-count expectation against NVML's count; Some(problem) when it is not met.
pub fn gpu_count_problem(facts: &HostFacts, expected: Option<u32>) -> Option<String> {
    let want = expected?;
    match &facts.nvml {
        Some(NvmlProbe::Ok { device_count, .. }) if *device_count == want => None,
        Some(NvmlProbe::Ok { device_count, .. }) => Some(format!(
            "NVML sees {device_count} GPU(s); the playbook expects {want} (verify.gpu_count)"
        )),
        _ => Some(format!(
            "cannot count GPUs through NVML; the playbook expects {want} (verify.gpu_count)"
        )),
    }
}

fn planned_hooks(hooks: &[Hook], hostname: &str, stage: &str) -> Vec<ActionRecord> {
    hooks
        .iter()
        .map(|h| ActionRecord {
            kind: "hook".into(),
            label: format!("{stage}: {}", h.label()),
            command: Some(h.expanded_argv(hostname).join(" ")),
            ok: None,
            detail: "dry run: not run".into(),
        })
        .collect()
}

struct Run<'a> {
    input: &'a AutoInput,
    runner: &'a dyn CommandRunner,
    facts: HostFacts,
    diagnosis: Diagnosis,
    report: AutoReport,
    hostname: String,
}

/// One whole `nvfix auto` run. Never panics and never fails: every problem ends as an outcome in the report.
pub fn run_auto(
    input: &AutoInput,
    runner: &dyn CommandRunner,
    engine: &mut dyn ReloadEngine,
) -> AutoReport {
    let facts = gather(
        &input.root,
        &GatherOptions {
            nvml_lib: input.nvml_lib.clone(),
            nvml_lock: input.nvml_lock,
            holders: true,
            containers: true,
            all_kernels: true,
            // A dry run (and `nvfix sentinel`, which is one) writes nothing, not even the module cache.
            read_only: input.dry_run,
        },
    );
    let diagnosis = diagnose(&facts);
    let report = AutoReport {
        schema: SCHEMA,
        dry_run: input.dry_run,
        playbook: PlaybookRef {
            source: input.playbook_source.clone(),
            name: input.playbook.name.clone(),
        },
        detection: detection(&facts, &diagnosis),
        guards: Vec::new(),
        plan: Vec::new(),
        reload_plan: None,
        reboot: None,
        quarantine: None,
        actions: Vec::new(),
        outcome: Outcome::Healthy,
        message: String::new(),
        exit_status: exit::OK,
    };
    let mut run = Run {
        input,
        runner,
        hostname: hostreboot::hostname(&input.root),
        facts,
        diagnosis,
        report,
    };
    let (outcome, message) = run.walk(engine);
    run.report.outcome = outcome;
    run.report.message = message;
    run.report.exit_status = outcome.exit_status();
    run.report
}

impl Run<'_> {
    fn policy(&self) -> AutoPolicy {
        let p = &self.input.playbook;
        AutoPolicy {
            reload_allowed: p.reload.allowed,
            reboot_authorised: self.input.allow_reboot || p.reboot.allowed,
            reboot_when_gpu_busy: p.reboot.allow_gpu_holders,
            quarantine: p.quarantine.is_some(),
        }
    }

    fn walk(&mut self, engine: &mut dyn ReloadEngine) -> (Outcome, String) {
        let healthy = self.diagnosis.verdict == crate::model::verdict::Verdict::Healthy;
        if let Some(done) = self.after_boot(healthy) {
            return done;
        }
        let policy = self.policy();
        let mut step = new_driver_would_not_load(&self.diagnosis.preflight)
            .unwrap_or_else(|| first_step(self.diagnosis.verdict, self.diagnosis.action, &policy));
        // A repair has more causes than a missing module (GPU init failure, a container, Jetson): name the real one.
        if let (Step::Done(Outcome::RepairNeeded, why), Some(cause)) =
            (&mut step, self.diagnosis.repair_cause())
        {
            if !cause.starts_with("no installed kernel") {
                *why = cause.to_string();
            }
        }
        if let Step::Done(Outcome::Healthy, why) = &step {
            return match gpu_count_problem(&self.facts, self.input.playbook.verify.gpu_count) {
                Some(problem) => (Outcome::RepairNeeded, problem),
                // Healthy again (a reboot, someone's reload, a retry of a failed lift): put back what nvfix took out.
                None if !self.quarantine(Direction::Lift) => (
                    Outcome::Failed,
                    "the host is healthy, but nvfix's quarantine could not be lifted; the next run retries".into(),
                ),
                None => (Outcome::Healthy, why.clone()),
            };
        }
        let (mut reloaded, mut rebooted) = (false, false);
        loop {
            step = match step {
                Step::Done(o, why) => return (o, why),
                Step::TryReload if !reloaded => {
                    reloaded = true;
                    self.try_reload(engine, &policy)
                }
                Step::TryReboot(why) if !rebooted => {
                    rebooted = true;
                    self.try_reboot(why)
                }
                Step::Quarantine(why) => {
                    if self.quarantine(Direction::Place) {
                        self.evict_gpu_pods();
                        Step::Done(
                            Outcome::Quarantined,
                            quarantine_message(why, self.report.quarantine.as_ref()),
                        )
                    } else {
                        Step::Done(
                            Outcome::Failed,
                            format!("{why}; the node could not be quarantined (see the actions)"),
                        )
                    }
                }
                // Each stage runs at most once a run.
                Step::TryReload | Step::TryReboot(_) => {
                    return (
                        Outcome::Failed,
                        "nvfix tried every allowed remedy once; none fixed the host".into(),
                    )
                }
            };
        }
    }

    /// The first run after an nvfix reboot: record whether it fixed the host; when it did, run `after_reboot` hooks.
    fn after_boot(&mut self, healthy: bool) -> Option<(Outcome, String)> {
        let boot_id = self.facts.boot_id.clone()?;
        let mut state = hostreboot::read_state(&self.input.root).ok()?;
        match state.after_boot(&boot_id, self.input.now) {
            AfterBoot::Nothing => None,
            AfterBoot::Pending(r) => {
                if healthy {
                    return None;
                }
                let msg = format!(
                    "a reboot nvfix requested from this boot is still due ({}, {}); nothing more to do until it happens",
                    r.method, r.reason
                );
                Some((Outcome::RebootPending, msg))
            }
            AfterBoot::Rebooted(r) => {
                let from = r.boot_id.clone();
                self.report.detection.after_reboot = Some(AfterReboot {
                    from_boot_id: from.clone(),
                    verified: healthy,
                });
                let hooks = self.input.playbook.hooks.after_reboot.clone();
                if self.input.dry_run {
                    if healthy {
                        self.report.actions.extend(planned_hooks(
                            &hooks,
                            &self.hostname,
                            "after-reboot",
                        ));
                    }
                    return None;
                }
                state.complete(&from, &boot_id, self.input.now, healthy);
                if let Err(e) = hostreboot::write_state(&self.input.root, &state) {
                    self.report.actions.push(ActionRecord {
                        kind: "record".into(),
                        label: "record the reboot's result".into(),
                        command: None,
                        ok: Some(false),
                        detail: e.to_string(),
                    });
                }
                if healthy {
                    self.report.actions.extend(run_hooks(
                        self.runner,
                        &hooks,
                        &self.hostname,
                        "after-reboot",
                    ));
                }
                None
            }
        }
    }

    fn try_reload(&mut self, engine: &mut dyn ReloadEngine, policy: &AutoPolicy) -> Step {
        let rp = &self.input.playbook.reload;
        let options = PlanOptions {
            kill: rp.allow_sigkill,
            allow_display_stop: rp
                .stop_services
                .iter()
                .any(|p| p.matches("display-manager.service")),
            grace_secs: rp.grace_period_seconds,
        };
        let mut plan = match make_plan(&self.facts, &self.diagnosis, &options) {
            Ok(p) => p,
            Err(refusal) => {
                return after_reload(&ReloadResult::Refused(refusal.code, refusal.reason), policy)
            }
        };
        if plan.baseline.device_count.is_none() {
            plan.baseline.device_count = reload::view::gpu_count(&self.input.root);
        }
        let guards = evaluate_reload_policy(&plan, rp);
        self.report.reload_plan = Some(plan.clone());
        self.push_guards("reload", guards.clone());
        if let Some(step) = after_reload_guards(&guards, policy) {
            return step;
        }
        self.report.plan.push(PlannedStage {
            stage: "reload",
            why: "the module on disk for the running kernel matches the library".into(),
        });
        // No job may land while the modules are out: quarantine first (a no-op when it is already in place).
        if !self.quarantine(Direction::Place) {
            return Step::Done(
                Outcome::Failed,
                "the node could not be quarantined before the reload; nothing was changed".into(),
            );
        }
        let hooks = &self.input.playbook.hooks;
        if self.input.dry_run {
            self.report.actions.extend(planned_hooks(
                &hooks.before_reload,
                &self.hostname,
                "before-reload",
            ));
            self.report.actions.push(ActionRecord {
                kind: "reload".into(),
                label: "reload the NVIDIA modules".into(),
                command: None,
                ok: None,
                detail: format!("dry run: {} step(s) planned", plan.steps.len()),
            });
            self.report.actions.extend(planned_hooks(
                &hooks.after_reload,
                &self.hostname,
                "after-reload",
            ));
            return Step::Done(
                Outcome::WouldReload,
                "every reload guard passes (dry run: nothing was changed)".into(),
            );
        }
        let before = run_hooks(
            self.runner,
            &hooks.before_reload,
            &self.hostname,
            "before-reload",
        );
        let aborted = hooks_aborted(&before, &hooks.before_reload);
        self.report.actions.extend(before);
        if aborted {
            return Step::Done(
                Outcome::Failed,
                "a before_reload hook failed; nothing was changed".into(),
            );
        }
        let (result, actions) = engine.reload(&plan);
        self.report.actions.extend(actions);
        if result == ReloadResult::Verified {
            if let Some(expected) = self.input.playbook.verify.gpu_count {
                let after = gather(
                    &self.input.root,
                    &GatherOptions {
                        nvml_lib: self.input.nvml_lib.clone(),
                        nvml_lock: self.input.nvml_lock,
                        holders: false,
                        containers: false,
                        all_kernels: false,
                        read_only: false,
                    },
                );
                if let Some(problem) = gpu_count_problem(&after, Some(expected)) {
                    self.report.actions.push(ActionRecord {
                        kind: "verify".into(),
                        label: "playbook expectations".into(),
                        command: None,
                        ok: Some(false),
                        detail: problem.clone(),
                    });
                    return Step::Done(Outcome::Failed, format!("reloaded, but {problem}"));
                }
            }
            let after = run_hooks(
                self.runner,
                &hooks.after_reload,
                &self.hostname,
                "after-reload",
            );
            self.report.actions.extend(after);
            if !self.quarantine(Direction::Lift) {
                return Step::Done(
                    Outcome::Failed,
                    "reloaded and verified, but nvfix's quarantine could not be lifted; the next run retries".into(),
                );
            }
        }
        after_reload(&result, policy)
    }

    fn try_reboot(&mut self, why: String) -> Step {
        let pb = &self.input.playbook;
        let a = super::reboot::assess(
            &self.input.root,
            &self.facts,
            pb,
            self.input.live_probes.then_some(self.runner),
            self.input.now,
            None,
            !pb.reboot.allow_gpu_holders,
        );
        self.report.reboot = Some(RebootView {
            method: match pb.reboot.method {
                RebootMethod::Shutdown => "shutdown",
                RebootMethod::Handoff => "handoff",
            },
            next_boot: a.next_boot.clone(),
            command: a.command.clone(),
            delay_minutes: match a.how {
                RebootHow::Delayed(n) => Some(n),
                _ => None,
            },
        });
        self.push_guards("reboot", a.guards.clone());
        if let Some((o, why)) = after_reboot_guards(&a.guards) {
            return Step::Done(o, why);
        }
        self.report.plan.push(PlannedStage {
            stage: "reboot",
            why,
        });
        let handoff = matches!(a.how, RebootHow::Handoff(_));
        if self.input.dry_run {
            self.report.actions.extend(planned_hooks(
                &pb.hooks.before_reboot,
                &self.hostname,
                "before-reboot",
            ));
            match &a.how {
                RebootHow::Handoff(h) => {
                    self.report
                        .actions
                        .extend(planned_hooks(h, &self.hostname, "handoff"))
                }
                _ => self.report.actions.push(ActionRecord {
                    kind: "schedule-reboot".into(),
                    label: "schedule the reboot".into(),
                    command: a.command.clone(),
                    ok: None,
                    detail: "dry run: not run".into(),
                }),
            }
            return Step::Done(
                Outcome::WouldReboot,
                "every reboot guard passes (dry run: nothing was scheduled)".into(),
            );
        }
        let before = run_hooks(
            self.runner,
            &pb.hooks.before_reboot,
            &self.hostname,
            "before-reboot",
        );
        let aborted = hooks_aborted(&before, &pb.hooks.before_reboot);
        self.report.actions.extend(before);
        if aborted {
            return Step::Done(
                Outcome::Failed,
                "a before_reboot hook failed; no reboot was scheduled".into(),
            );
        }
        let mut state = a.guard_facts.state.clone().unwrap_or_default();
        let req = super::reboot::request(&a, &self.facts, &self.input.root, "nvfix auto");
        let actions = schedule_reboot(&self.input.root, self.runner, &mut state, &req);
        let ok = !actions.is_empty() && actions.iter().all(|r| r.ok == Some(true));
        self.report.actions.extend(actions);
        match (ok, handoff) {
            (true, true) => Step::Done(
                Outcome::RebootHandedOff,
                "the reboot was handed to the cluster's engine".into(),
            ),
            (true, false) => Step::Done(Outcome::RebootScheduled, "the reboot is scheduled".into()),
            (false, _) => Step::Done(
                Outcome::Failed,
                "the reboot could not be set in motion".into(),
            ),
        }
    }

    /// Places or lifts the playbook's quarantine (nothing without one); false when the probe or a command failed.
    fn quarantine(&mut self, direction: Direction) -> bool {
        let Some(q) = &self.input.playbook.quarantine else {
            return true;
        };
        let d = &self.report.detection;
        let loaded = d.loaded_version.clone().unwrap_or_else(|| "none".into());
        let library = d.library_version.clone().unwrap_or_else(|| "none".into());
        let vars = [
            ("hostname", self.hostname.as_str()),
            ("loaded", loaded.as_str()),
            ("library", library.as_str()),
        ];
        let (report, actions) =
            quarantine::apply(self.runner, q, &vars, direction, self.input.dry_run);
        self.report.actions.extend(actions);
        let ok = report.ok != Some(false);
        self.report.quarantine = Some(report);
        ok
    }

    /// With the playbook's `evict_gpu_pods` and nvfix's own quarantine in place, asks the cluster to move the GPU pods
    /// (a refusal is only recorded: the node stays quarantined and the next run tries again).
    fn evict_gpu_pods(&mut self) {
        let Some(e) = self
            .input
            .playbook
            .quarantine
            .as_ref()
            .and_then(|q| q.evict_gpu_pods.as_ref())
        else {
            return;
        };
        let ours = matches!(
            self.report.quarantine.as_ref().map(|q| q.action),
            Some(QuarantineAction::Place | QuarantineAction::AlreadyPlaced)
        );
        if !ours {
            return;
        }
        let vars = [("hostname", self.hostname.as_str())];
        let (_, actions) = quarantine::evict_gpu_pods(self.runner, e, &vars, self.input.dry_run);
        self.report.actions.extend(actions);
    }

    fn push_guards(&mut self, stage: &'static str, guards: Vec<GuardResult>) {
        self.report
            .guards
            .extend(guards.into_iter().map(|guard| StagedGuard { stage, guard }));
    }
}

/// The outcome's message for a quarantined node: why it waits, and whose quarantine holds it.
fn quarantine_message(why: String, q: Option<&QuarantineReport>) -> String {
    let whose = match q.map(|q| q.action) {
        Some(QuarantineAction::Place) if q.and_then(|q| q.ok).is_none() => {
            "dry run: the node would be quarantined"
        }
        Some(QuarantineAction::Place) => "the node is now quarantined",
        Some(QuarantineAction::AlreadyPlaced) => "nvfix's quarantine is already in place",
        Some(QuarantineAction::LeaveOthers) => {
            "the node is already out of service for another reason, which nvfix leaves as it is"
        }
        _ => "the node's quarantine state is unknown",
    };
    format!("{why}; {whose}; run again when the jobs end")
}

/// The reload engine of `nvfix reload`, driven without questions: SIGTERM (SIGKILL when the playbook allows), journal,
/// restore on failure. Its caller holds the run lock.
pub struct ExecutorEngine<'a> {
    /// The run lock `nvfix auto` holds for the whole run; None in a dry run, which never reloads.
    pub lock: Option<&'a RunLock>,
    pub root: HostRoot,
    pub nvml_lib: Option<PathBuf>,
    pub quiet: bool,
    /// `--module-timeout`.
    pub module_timeout: std::time::Duration,
}

impl ReloadEngine for ExecutorEngine<'_> {
    fn reload(&mut self, plan: &ReloadPlan) -> (ReloadResult, Vec<ActionRecord>) {
        // The caller holds the run lock (taken before the journal was read) for the whole run.
        let Some(lock) = self.lock else {
            return (
                ReloadResult::Refused(exit::SOFTWARE, "a reload needs the run lock".into()),
                Vec::new(),
            );
        };
        let host = LiveHost::new(&self.root, self.nvml_lib.clone(), lock);
        let mut ui = AutoYes { quiet: self.quiet };
        let opts = ExecOptions::live(Journal::path(&self.root), self.module_timeout);
        let report = Executor::new(host.seams(), &mut ui, opts).execute(plan);
        let mut actions: Vec<ActionRecord> = report
            .actions
            .iter()
            .map(|a| ActionRecord {
                kind: "reload".into(),
                label: a.clone(),
                command: None,
                ok: Some(true),
                detail: String::new(),
            })
            .collect();
        let reason = || {
            let mut r = report
                .reason
                .clone()
                .unwrap_or_else(|| "the reload did not complete".into());
            if let Some(next) = &report.next {
                r.push_str(&format!("; next: {next}"));
            }
            r
        };
        let result = match report.outcome {
            reload::Outcome::Fixed | reload::Outcome::Resumed => ReloadResult::Verified,
            reload::Outcome::RebootRequired => ReloadResult::Refused(exit::UNAVAILABLE, reason()),
            _ => ReloadResult::FailedRestored(reason()),
        };
        actions.push(ActionRecord {
            kind: "reload".into(),
            label: "reload the NVIDIA modules".into(),
            command: None,
            ok: Some(result == ReloadResult::Verified),
            detail: format!(
                "{:?}{}{}",
                report.outcome,
                if report.problems.is_empty() {
                    String::new()
                } else {
                    format!("; problems: {}", report.problems.join("; "))
                },
                stale_containers_note(report.verify.as_ref())
            ),
        });
        (result, actions)
    }
}

/// `; restart these containers …` when verification found containers still on another driver version, else empty.
fn stale_containers_note(verify: Option<&crate::model::verify::VerifyReport>) -> String {
    let stale: Vec<String> = verify
        .map(|v| {
            v.stale_containers
                .iter()
                .map(|s| format!("{} ({})", s.container.describe(), s.restart_hint()))
                .collect()
        })
        .unwrap_or_default();
    if stale.is_empty() {
        return String::new();
    }
    format!(
        "; restart these containers, they still run the old user-space driver: {}",
        stale.join(", ")
    )
}

pub fn run(ctx: &Context, args: &AutoArgs) -> anyhow::Result<i32> {
    let euid = super::playbook::effective_uid();
    let selected = super::playbook::select(&ctx.root, args.playbook.as_deref(), euid == 0)?;
    let (playbook, source) = (selected.playbook, selected.source);
    if !args.dry_run {
        if !ctx.root.is_system() {
            return Err(Failure::new(
                exit::USAGE,
                "--root other than / only works with --dry-run: nvfix never changes this machine on behalf of another \
                 tree",
            )
            .into());
        }
        if euid != 0 {
            return Err(Failure::new(
                exit::NO_PERMISSION,
                "nvfix auto needs root; --dry-run works as any user",
            )
            .into());
        }
        signals::install()?;
    }
    // Held until the run ends: the journal's resume, the reload and the reboot record all happen under it.
    let (_lock, pending) = if args.dry_run {
        (None, None)
    } else {
        let (lock, pending) = super::lock_and_load_journal(&ctx.root)?;
        (Some(lock), pending)
    };
    let input = AutoInput {
        root: ctx.root.clone(),
        nvml_lib: ctx.nvml_lib.clone(),
        playbook,
        playbook_source: source,
        allow_reboot: args.allow_reboot,
        dry_run: args.dry_run,
        now: hostreboot::now(&ctx.root),
        live_probes: ctx.root.is_system(),
        nvml_lock: match &_lock {
            Some(lock) => NvmlLock::Held(LockHeld::of(lock)),
            None => NvmlLock::Take,
        },
    };
    let mut pre_actions = Vec::new();
    // An interrupted reload is undone before anything new is decided.
    if let (Some(lock), Some(journal)) = (&_lock, pending) {
        pre_actions.push(resume(
            ctx,
            lock,
            journal,
            args.json,
            std::time::Duration::from_secs(args.module_timeout),
        ));
    }
    // Probes on a fixture tree are recorded, never run (dry runs only reach here with a non-/ root).
    let recorder = crate::host::runner::RecordingRunner::new();
    let runner: &dyn CommandRunner = if ctx.root.is_system() {
        &SystemRunner
    } else {
        &recorder
    };
    let mut engine = ExecutorEngine {
        lock: _lock.as_ref(),
        root: ctx.root.clone(),
        nvml_lib: ctx.nvml_lib.clone(),
        quiet: args.json,
        module_timeout: std::time::Duration::from_secs(args.module_timeout),
    };
    let mut report = run_auto(&input, runner, &mut engine);
    // An upgrade interrupted after its install, whose new version this run (or an earlier one) loaded, ends here.
    if let Some(lock) = &_lock {
        report
            .actions
            .extend(super::upgrade::finish_after_auto(ctx, lock));
    }
    if !pre_actions.is_empty() {
        pre_actions.extend(report.actions);
        report.actions = pre_actions;
    }
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::out!("{}", report_text(&report));
    }
    Ok(report.exit_status)
}

fn resume(
    ctx: &Context,
    lock: &RunLock,
    journal: Journal,
    quiet: bool,
    module_timeout: std::time::Duration,
) -> ActionRecord {
    // The executor (its verification's NVML call included) runs under the caller's run lock.
    let host = LiveHost::new(&ctx.root, ctx.nvml_lib.clone(), lock);
    let mut ui = AutoYes { quiet };
    let opts = ExecOptions::live(Journal::path(&ctx.root), module_timeout);
    let report = Executor::new(host.seams(), &mut ui, opts).resume(journal);
    ActionRecord {
        kind: "reload".into(),
        label: "resume the interrupted reload from its journal".into(),
        command: None,
        ok: Some(report.exit_code() == exit::OK),
        detail: format!("{:?}", report.outcome),
    }
}

/// The report for people: what was found, each guard, what was done, the outcome and the exit status.
pub fn report_text(r: &AutoReport) -> String {
    let mut s = String::new();
    let d = &r.detection;
    s.push_str(&format!(
        "nvfix auto{} — playbook: {}\n",
        if r.dry_run { " (dry run)" } else { "" },
        r.playbook.name.as_deref().unwrap_or(&r.playbook.source)
    ));
    s.push_str(&format!(
        "Found: {} (loaded {}, library {}); suggested action: {}\n",
        d.verdict,
        d.loaded_version.as_deref().unwrap_or("none"),
        d.library_version.as_deref().unwrap_or("none"),
        d.action
    ));
    if let Some(a) = &d.after_reboot {
        s.push_str(&format!(
            "After nvfix's reboot (from boot {}): {}\n",
            a.from_boot_id,
            if a.verified {
                "healthy"
            } else {
                "still broken"
            }
        ));
    }
    for stage in ["reload", "reboot"] {
        let gs: Vec<GuardResult> = r
            .guards
            .iter()
            .filter(|g| g.stage == stage)
            .map(|g| g.guard.clone())
            .collect();
        if !gs.is_empty() {
            s.push_str(&format!(
                "{} guards:\n{}",
                capitalise(stage),
                super::reboot::guards_text(&gs)
            ));
        }
    }
    if !r.actions.is_empty() {
        s.push_str("Actions:\n");
        for a in &r.actions {
            let mark = match a.ok {
                Some(true) => "done ",
                Some(false) => "FAIL ",
                None => "would",
            };
            s.push_str(&format!(
                "  {mark} {}{}{}\n",
                a.label,
                a.command
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default(),
                if a.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", a.detail)
                }
            ));
        }
    }
    s.push_str(&format!(
        "Outcome: {} — {} (exit {})\n",
        r.outcome.as_str(),
        r.message,
        r.exit_status
    ));
    s
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::containers::{ContainerMounts, DriverMount, StaleContainer};
    use crate::model::holders::ContainerRef;
    use crate::model::verify::VerifyReport;

    #[test]
    fn the_reload_record_names_containers_to_restart() {
        assert_eq!(stale_containers_note(None), "");
        let mut report = VerifyReport {
            verified: true,
            checks: Vec::new(),
            stale_containers: Vec::new(),
        };
        assert_eq!(stale_containers_note(Some(&report)), "");
        report.stale_containers.push(StaleContainer {
            container: ContainerMounts {
                pid: 4242,
                container: Some(ContainerRef {
                    runtime: "podman".into(),
                    id: "0123456789abcdef".into(),
                    pod_uid: None,
                }),
                mounts: vec![DriverMount {
                    mount_point: "/usr/lib/libcuda.so.580.65.06".into(),
                    version: "580.65.06".parse().unwrap(),
                    deleted: true,
                }],
            },
            stale_versions: vec!["580.65.06".parse().unwrap()],
        });
        assert_eq!(
            stale_containers_note(Some(&report)),
            "; restart these containers, they still run the old user-space driver: podman container 0123456789ab \
             (pid 4242) (podman restart 0123456789ab)"
        );
    }
}
