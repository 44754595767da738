//! `nvfix auto`'s decision table: from the verdict, the policy and the guards to the next step and the exit status.
//!
//! Pure. The command walks it: [`first_step`] from the diagnosis, then [`after_reload_guards`],
//! [`after_reload`] and [`after_reboot_guards`] as each stage reports back. Every path ends in an [`Outcome`],
//! whose exit status is the runbook contract (documented in docs/runbook.md).

use super::guards::{
    blocked_only_by_busy_gpu, strongest_block, BlockKind, GuardResult, NEW_DRIVER_LOADS,
};
use super::playbook::Pattern;
use super::preflight::PreflightFinding;
use super::verdict::{Action, Verdict};
use crate::exit;
use serde::Serialize;

pub use crate::exit::{REBOOT_REQUIRED, REBOOT_SCHEDULED};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Nothing was wrong.
    Healthy,
    /// Fixed and verified.
    Fixed,
    /// `--dry-run`: the reload would run now.
    WouldReload,
    /// `--dry-run`: the reboot would be scheduled now.
    WouldReboot,
    RebootRequired,
    RebootScheduled,
    /// The reboot was handed to the cluster's engine (Slurm, …).
    RebootHandedOff,
    /// An nvfix reboot requested from this boot is still due.
    RebootPending,
    /// A remediation ran and failed; the host was restored.
    Failed,
    /// Neither a reload nor a reboot fixes this: repair the driver.
    RepairNeeded,
    /// A guard deferred the action: run again later.
    Deferred,
    /// Running jobs hold the GPU, so the reload waits; meanwhile the node is out of the scheduler (nvfix's quarantine
    /// placed now, or already in place, or another party's left as it is). Run again when the jobs end.
    Quarantined,
    /// The policy or permissions forbid the action.
    Refused,
}

impl Outcome {
    pub fn exit_status(self) -> i32 {
        match self {
            Outcome::Healthy | Outcome::Fixed | Outcome::WouldReload | Outcome::WouldReboot => {
                exit::OK
            }
            Outcome::RebootRequired => REBOOT_REQUIRED,
            Outcome::RebootScheduled | Outcome::RebootHandedOff | Outcome::RebootPending => {
                REBOOT_SCHEDULED
            }
            Outcome::Failed => exit::PROBLEM,
            Outcome::RepairNeeded => exit::UNAVAILABLE,
            Outcome::Deferred | Outcome::Quarantined => exit::TEMP_FAIL,
            Outcome::Refused => exit::NO_PERMISSION,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Healthy => "healthy",
            Outcome::Fixed => "fixed",
            Outcome::WouldReload => "would-reload",
            Outcome::WouldReboot => "would-reboot",
            Outcome::RebootRequired => "reboot-required",
            Outcome::RebootScheduled => "reboot-scheduled",
            Outcome::RebootHandedOff => "reboot-handed-off",
            Outcome::RebootPending => "reboot-pending",
            Outcome::Failed => "failed",
            Outcome::RepairNeeded => "repair-needed",
            Outcome::Deferred => "deferred",
            Outcome::Quarantined => "quarantined",
            Outcome::Refused => "refused",
        }
    }
    /// The outcome a blocking guard of this kind leads to.
    pub fn for_block(kind: BlockKind) -> Outcome {
        match kind {
            BlockKind::Defer => Outcome::Deferred,
            BlockKind::Refuse => Outcome::Refused,
            BlockKind::Unfixable => Outcome::RepairNeeded,
        }
    }
}

/// Something nvfix did (or, under `--dry-run`, would do), with its result: a hook, the reload, the reboot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionRecord {
    /// `hook`, `reload`, `verify`, `schedule-reboot`, `handoff`, `cancel-reboot`, `record`.
    pub kind: String,
    pub label: String,
    /// The command line, when the action is one command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// True when it ran and succeeded; false when it failed; None when it was not run (dry run).
    pub ok: Option<bool>,
    pub detail: String,
}

/// What auto does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Done(Outcome, String),
    TryReload,
    TryReboot(String),
    /// Take the node out of the scheduler and wait for its jobs to end (the why).
    Quarantine(String),
}

/// The policy as the table sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoPolicy {
    pub reload_allowed: bool,
    /// `--allow-reboot`, or the playbook's `reboot.allowed`. `--yes` never counts.
    pub reboot_authorised: bool,
    /// The playbook's `reboot.allow_gpu_holders`: a busy GPU that defers a reload may be handled by a reboot (a drain
    /// or the cluster's engine moves the jobs first).
    pub reboot_when_gpu_busy: bool,
    /// The playbook has a `quarantine`: a GPU held by running jobs quarantines the node instead of rebooting it.
    pub quarantine: bool,
}

/// Where the node stands in its scheduler, from the quarantine probe's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuarantineState {
    /// nvfix's own quarantine is in place.
    Ours,
    /// Out of service for another reason (an admin's drain or cordon): nvfix neither overwrites nor lifts it.
    Others,
    /// In service.
    InService,
}

/// Reads the probe's output: `ours` first (nvfix's quarantine also looks like a drain), then `others`.
pub fn quarantine_state(probe_output: &str, ours: &Pattern, others: &Pattern) -> QuarantineState {
    let out = probe_output.trim();
    if ours.matches(out) {
        QuarantineState::Ours
    } else if others.matches(out) {
        QuarantineState::Others
    } else {
        QuarantineState::InService
    }
}

/// What nvfix does about the quarantine, and what it did (the JSON report's `quarantine.action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuarantineAction {
    /// Run the place commands.
    Place,
    /// nvfix's quarantine is already in place: nothing to do.
    AlreadyPlaced,
    /// Another party's quarantine is in place: leave it, do not put nvfix's reason over it.
    LeaveOthers,
    /// Run the lift commands: the node is fixed and the quarantine is nvfix's.
    Lift,
    /// Nothing to lift (in service, or another party's quarantine, which stays).
    Nothing,
}

/// Before a reload, or while the GPU is busy: quarantine unless someone already has.
pub fn quarantine_to_place(state: QuarantineState) -> QuarantineAction {
    match state {
        QuarantineState::Ours => QuarantineAction::AlreadyPlaced,
        QuarantineState::Others => QuarantineAction::LeaveOthers,
        QuarantineState::InService => QuarantineAction::Place,
    }
}

/// On a healthy (or just fixed) node: lift only nvfix's own quarantine.
pub fn quarantine_to_lift(state: QuarantineState) -> QuarantineAction {
    match state {
        QuarantineState::Ours => QuarantineAction::Lift,
        QuarantineState::Others | QuarantineState::InService => QuarantineAction::Nothing,
    }
}

/// How a reload ended, as reported by the reload engine and the verification after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadResult {
    /// Ran and verified.
    Verified,
    /// Ran, failed (or did not verify), and the host was restored.
    FailedRestored(String),
    /// Refused before changing anything, with the engine's exit status.
    Refused(i32, String),
}

fn reboot_or(policy: &AutoPolicy, why: String, otherwise: Outcome, otherwise_why: String) -> Step {
    if policy.reboot_authorised {
        Step::TryReboot(why)
    } else {
        Step::Done(otherwise, otherwise_why)
    }
}

/// The first decision, from the diagnosis alone.
pub fn first_step(verdict: Verdict, action: Action, policy: &AutoPolicy) -> Step {
    match action {
        Action::None if verdict == Verdict::Healthy => {
            Step::Done(Outcome::Healthy, "the driver and its libraries match".into())
        }
        Action::None if verdict == Verdict::NoDriver => Step::Done(
            Outcome::RepairNeeded,
            "no NVIDIA driver is installed: there is nothing to reload or reboot into".into(),
        ),
        Action::None => Step::Done(
            Outcome::RepairNeeded,
            format!("the host is {} and neither a reload nor a reboot is known to fix it", verdict.as_str()),
        ),
        Action::Repair => Step::Done(
            Outcome::RepairNeeded,
            "no installed module matches the library: rebuild or reinstall the driver first".into(),
        ),
        Action::External => Step::Done(
            Outcome::Refused,
            "the driver is run by the NVIDIA GPU Operator's driver container: the operator owns it; upgrade or reload it \
             with the operator's driver upgrade controller (ClusterPolicy driver.upgradePolicy), not nvfix"
                .into(),
        ),
        Action::Reload if policy.reload_allowed => Step::TryReload,
        Action::Reload => reboot_or(
            policy,
            "the playbook does not allow a reload; a reboot loads the matching module".into(),
            Outcome::Refused,
            "a reload would fix this, but the playbook does not allow one (reload.allowed: false) and no reboot is \
             allowed"
                .into(),
        ),
        Action::Reboot => reboot_or(
            policy,
            "only a reboot loads a matching module".into(),
            Outcome::RebootRequired,
            "only a reboot fixes this, and no reboot is allowed (use --allow-reboot or reboot.allowed: true)".into(),
        ),
    }
}

fn blocking_messages(results: &[GuardResult]) -> String {
    results
        .iter()
        .filter(|r| r.blocks())
        .map(|r| format!("{}: {}", r.name, r.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The step when the pre-flight found that the kernel would refuse the new modules: repair, and no reboot either
/// (it would load the same files and come up with no driver).
pub fn new_driver_would_not_load(findings: &[PreflightFinding]) -> Option<Step> {
    if findings.is_empty() {
        return None;
    }
    let mut fixes: Vec<&str> = Vec::new();
    for f in findings {
        if !fixes.contains(&f.fix.as_str()) {
            fixes.push(&f.fix);
        }
    }
    Some(Step::Done(
        Outcome::RepairNeeded,
        format!(
            "the new driver would not load: {}; nothing was touched (a reboot would load the same files and come up \
             with no driver); fix: {}",
            findings
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            fixes.join("; then ")
        ),
    ))
}

/// After the reload's guards: None to go ahead, else the next step.
pub fn after_reload_guards(results: &[GuardResult], policy: &AutoPolicy) -> Option<Step> {
    let kind = strongest_block(results)?;
    let why = blocking_messages(results);
    if results
        .iter()
        .any(|r| r.blocks() && r.name == NEW_DRIVER_LOADS)
    {
        return Some(Step::Done(Outcome::RepairNeeded, why));
    }
    Some(match kind {
        // Busy is not broken: the jobs end, and then a reload takes seconds. Quarantine so no new job lands meanwhile;
        // the reboot stays the fallback for what a reload cannot fix.
        BlockKind::Defer if blocked_only_by_busy_gpu(results) && policy.quarantine => {
            Step::Quarantine(format!("the reload waits for the GPU's jobs ({why})"))
        }
        // A busy GPU is worth a reboot only when the reboot path moves the jobs first.
        BlockKind::Defer if blocked_only_by_busy_gpu(results) && policy.reboot_when_gpu_busy => {
            reboot_or(
                policy,
                format!("the reload is deferred ({why})"),
                Outcome::Deferred,
                why,
            )
        }
        BlockKind::Defer => Step::Done(Outcome::Deferred, why),
        BlockKind::Refuse => reboot_or(
            policy,
            format!("the reload is refused ({why})"),
            Outcome::Refused,
            why,
        ),
        // The plan cannot run (a module stuck, references nobody explains): a reboot clears that.
        BlockKind::Unfixable => reboot_or(
            policy,
            format!("the reload cannot run ({why})"),
            Outcome::RebootRequired,
            format!("{why}; a reboot is needed and none is allowed"),
        ),
    })
}

/// After the reload ran (or the engine refused it).
pub fn after_reload(result: &ReloadResult, policy: &AutoPolicy) -> Step {
    match result {
        ReloadResult::Verified => Step::Done(Outcome::Fixed, "reloaded and verified".into()),
        ReloadResult::FailedRestored(why) => reboot_or(
            policy,
            format!("the reload failed ({why}); the host was restored"),
            Outcome::Failed,
            format!("the reload failed ({why}); the host was restored"),
        ),
        ReloadResult::Refused(code, why) => match *code {
            exit::OK => Step::Done(Outcome::Healthy, why.clone()),
            exit::TEMP_FAIL => Step::Done(Outcome::Deferred, why.clone()),
            exit::NO_PERMISSION => Step::Done(Outcome::Refused, why.clone()),
            _ => reboot_or(
                policy,
                format!("the reload cannot run ({why})"),
                Outcome::RebootRequired,
                format!("{why}; a reboot is needed and none is allowed"),
            ),
        },
    }
}

/// `nvfix sentinel` (kured's `--reboot-sentinel-command`): Ok only when a reboot is needed and would fix the host and
/// no reload is possible under the playbook; else the reason no reboot is wanted. `outcome` is a dry run's, with a
/// reboot authorised; `reload_guards` are that run's reload-stage guards.
pub fn sentinel_verdict(outcome: Outcome, reload_guards: &[GuardResult]) -> Result<String, String> {
    if blocked_only_by_busy_gpu(reload_guards) {
        return Err("a reload will fix this once the GPU's jobs end: no reboot".into());
    }
    match outcome {
        Outcome::WouldReboot => Ok("a reboot is needed and would fix the NVIDIA driver".into()),
        Outcome::Healthy => Err("the driver is healthy: no reboot".into()),
        Outcome::WouldReload => Err("a reload fixes this without a reboot".into()),
        other => Err(format!("no reboot: auto would end {}", other.as_str())),
    }
}

/// After the reboot's guards: the blocking outcome, or None to schedule.
pub fn after_reboot_guards(results: &[GuardResult]) -> Option<(Outcome, String)> {
    strongest_block(results).map(|k| (Outcome::for_block(k), blocking_messages(results)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERDICTS: [Verdict; 5] = [
        Verdict::Healthy,
        Verdict::VersionMismatch,
        Verdict::DriverNotLoaded,
        Verdict::NoDriver,
        Verdict::Degraded,
    ];

    fn policy(reload: bool, reboot: bool) -> AutoPolicy {
        AutoPolicy {
            reload_allowed: reload,
            reboot_authorised: reboot,
            reboot_when_gpu_busy: false,
            quarantine: false,
        }
    }

    fn outcome(step: &Step) -> Option<Outcome> {
        match step {
            Step::Done(o, _) => Some(*o),
            _ => None,
        }
    }

    #[test]
    fn decision_table_from_the_diagnosis() {
        // (verdict, action, reload allowed, reboot authorised) → step
        let cases: &[(Verdict, Action, bool, bool, Step)] = &[
            (
                Verdict::Healthy,
                Action::None,
                true,
                true,
                Step::Done(Outcome::Healthy, String::new()),
            ),
            (
                Verdict::NoDriver,
                Action::None,
                true,
                true,
                Step::Done(Outcome::RepairNeeded, String::new()),
            ),
            (
                Verdict::Degraded,
                Action::None,
                true,
                true,
                Step::Done(Outcome::RepairNeeded, String::new()),
            ),
            (
                Verdict::Degraded,
                Action::Repair,
                true,
                true,
                Step::Done(Outcome::RepairNeeded, String::new()),
            ),
            (
                Verdict::VersionMismatch,
                Action::Repair,
                true,
                true,
                Step::Done(Outcome::RepairNeeded, String::new()),
            ),
            (
                Verdict::VersionMismatch,
                Action::External,
                true,
                true,
                Step::Done(Outcome::Refused, String::new()),
            ),
            (
                Verdict::VersionMismatch,
                Action::Reload,
                true,
                false,
                Step::TryReload,
            ),
            (
                Verdict::DriverNotLoaded,
                Action::Reload,
                true,
                false,
                Step::TryReload,
            ),
            (
                Verdict::VersionMismatch,
                Action::Reload,
                false,
                false,
                Step::Done(Outcome::Refused, String::new()),
            ),
            (
                Verdict::VersionMismatch,
                Action::Reload,
                false,
                true,
                Step::TryReboot(String::new()),
            ),
            (
                Verdict::VersionMismatch,
                Action::Reboot,
                true,
                false,
                Step::Done(Outcome::RebootRequired, String::new()),
            ),
            (
                Verdict::VersionMismatch,
                Action::Reboot,
                true,
                true,
                Step::TryReboot(String::new()),
            ),
            (
                Verdict::DriverNotLoaded,
                Action::Reboot,
                false,
                true,
                Step::TryReboot(String::new()),
            ),
        ];
        for (verdict, action, reload, reboot, want) in cases {
            let got = first_step(*verdict, *action, &policy(*reload, *reboot));
            let same = match (&got, want) {
                (Step::Done(a, _), Step::Done(b, _)) => a == b,
                (Step::TryReload, Step::TryReload) => true,
                (Step::TryReboot(_), Step::TryReboot(_)) => true,
                _ => false,
            };
            assert!(same, "{verdict:?} {action:?} reload={reload} reboot={reboot}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn every_verdict_and_action_reaches_a_step_and_exits_as_documented() {
        let actions = [
            Action::None,
            Action::Reload,
            Action::Reboot,
            Action::Repair,
            Action::External,
        ];
        for verdict in VERDICTS {
            for action in actions {
                for (reload, reboot) in [(true, true), (true, false), (false, true), (false, false)]
                {
                    let step = first_step(verdict, action, &policy(reload, reboot));
                    if let Step::Done(o, why) = &step {
                        assert!(!why.is_empty());
                        assert!(
                            [0, 10, 69, 77].contains(&o.exit_status()),
                            "{verdict:?} {action:?}: {o:?}"
                        );
                    }
                    if !reboot {
                        assert!(
                            !matches!(step, Step::TryReboot(_)),
                            "no reboot without authorisation"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn exit_statuses_are_the_runbook_contract() {
        let table = [
            (Outcome::Healthy, 0),
            (Outcome::Fixed, 0),
            (Outcome::WouldReload, 0),
            (Outcome::WouldReboot, 0),
            (Outcome::RebootRequired, 10),
            (Outcome::RebootScheduled, 11),
            (Outcome::RebootHandedOff, 11),
            (Outcome::RebootPending, 11),
            (Outcome::Failed, 1),
            (Outcome::RepairNeeded, 69),
            (Outcome::Deferred, 75),
            (Outcome::Quarantined, 75),
            (Outcome::Refused, 77),
        ];
        for (o, code) in table {
            assert_eq!(o.exit_status(), code, "{o:?}");
        }
    }

    fn block(name: &'static str, kind: BlockKind) -> GuardResult {
        GuardResult::block(name, kind, format!("{name} blocks"))
    }

    #[test]
    fn reload_guards_defer_refuse_or_fall_back_to_a_reboot() {
        let pass = vec![GuardResult::pass("services", "ok")];
        assert_eq!(after_reload_guards(&pass, &policy(true, true)), None);

        let busy = vec![block("gpu-busy", BlockKind::Defer)];
        assert_eq!(
            outcome(&after_reload_guards(&busy, &policy(true, true)).unwrap()),
            Some(Outcome::Deferred)
        );
        let drainable = AutoPolicy {
            reboot_when_gpu_busy: true,
            ..policy(true, true)
        };
        assert!(matches!(
            after_reload_guards(&busy, &drainable),
            Some(Step::TryReboot(_))
        ));
        let not_authorised = AutoPolicy {
            reboot_when_gpu_busy: true,
            ..policy(true, false)
        };
        assert_eq!(
            outcome(&after_reload_guards(&busy, &not_authorised).unwrap()),
            Some(Outcome::Deferred)
        );

        let refused = vec![block("reload-allowed", BlockKind::Refuse)];
        assert_eq!(
            outcome(&after_reload_guards(&refused, &policy(true, false)).unwrap()),
            Some(Outcome::Refused)
        );

        let stuck = vec![block("reload-plan", BlockKind::Unfixable)];
        assert_eq!(
            outcome(&after_reload_guards(&stuck, &policy(true, false)).unwrap()),
            Some(Outcome::RebootRequired)
        );
        assert!(matches!(
            after_reload_guards(&stuck, &policy(true, true)),
            Some(Step::TryReboot(_))
        ));
        // The strongest block decides.
        let mixed = vec![
            block("gpu-busy", BlockKind::Defer),
            block("reload-plan", BlockKind::Unfixable),
        ];
        assert_eq!(
            outcome(&after_reload_guards(&mixed, &policy(true, false)).unwrap()),
            Some(Outcome::RebootRequired)
        );
    }

    #[test]
    fn reload_results() {
        let p = policy(true, false);
        assert_eq!(
            outcome(&after_reload(&ReloadResult::Verified, &p)),
            Some(Outcome::Fixed)
        );
        assert_eq!(
            outcome(&after_reload(&ReloadResult::FailedRestored("x".into()), &p)),
            Some(Outcome::Failed)
        );
        assert!(matches!(
            after_reload(
                &ReloadResult::FailedRestored("x".into()),
                &policy(true, true)
            ),
            Step::TryReboot(_)
        ));
        for (code, want) in [
            (0, Outcome::Healthy),
            (75, Outcome::Deferred),
            (77, Outcome::Refused),
            (69, Outcome::RebootRequired),
        ] {
            assert_eq!(
                outcome(&after_reload(&ReloadResult::Refused(code, "r".into()), &p)),
                Some(want),
                "{code}"
            );
        }
    }

    #[test]
    fn reboot_guards_map_to_outcomes() {
        assert_eq!(
            after_reboot_guards(&[GuardResult::pass("reboot-loop", "ok")]),
            None
        );
        let warn_only = [GuardResult::warn("gpu-holders", "listed")];
        assert_eq!(after_reboot_guards(&warn_only), None);
        for (kind, want) in [
            (BlockKind::Defer, Outcome::Deferred),
            (BlockKind::Refuse, Outcome::Refused),
            (BlockKind::Unfixable, Outcome::RepairNeeded),
        ] {
            let (o, why) = after_reboot_guards(&[block("g", kind)]).unwrap();
            assert_eq!(o, want);
            assert!(why.contains("g blocks"));
        }
        let (o, _) = after_reboot_guards(&[
            block("maintenance-window", BlockKind::Defer),
            block("next-boot-module", BlockKind::Unfixable),
        ])
        .unwrap();
        assert_eq!(
            o,
            Outcome::RepairNeeded,
            "a reboot that would not fix it is not merely deferred"
        );
    }

    #[test]
    fn a_new_driver_that_would_not_load_is_a_repair_never_a_reboot() {
        let finding = PreflightFinding {
            code: "preflight-signature",
            module: "nvidia".into(),
            message: "nvidia is not signed".into(),
            evidence: "/lib/modules/k/updates/dkms/nvidia.ko.zst".into(),
            fix: "sudo mokutil --import /var/lib/dkms/mok.pub".into(),
        };
        let Some(Step::Done(Outcome::RepairNeeded, why)) =
            new_driver_would_not_load(&[finding.clone(), finding])
        else {
            panic!()
        };
        assert!(why.starts_with("the new driver would not load: nvidia is not signed"));
        assert_eq!(why.matches("mokutil").count(), 1, "{why}");
        assert_eq!(new_driver_would_not_load(&[]), None);
        // The reload's guards carry the pre-flight: whatever the policy allows, no reboot follows.
        let guards = [GuardResult::block(
            NEW_DRIVER_LOADS,
            BlockKind::Unfixable,
            "the new driver would not load: nvidia is not signed",
        )];
        for p in [policy(true, true), policy(true, false)] {
            let mut p = p;
            p.reboot_when_gpu_busy = true;
            assert_eq!(
                after_reload_guards(&guards, &p).and_then(|s| outcome(&s)),
                Some(Outcome::RepairNeeded)
            );
        }
    }

    #[test]
    fn a_busy_gpu_quarantines_before_any_reboot_and_nothing_else_does() {
        let busy = vec![block("gpu-busy", BlockKind::Defer)];
        let fleet = AutoPolicy {
            reboot_when_gpu_busy: true,
            quarantine: true,
            ..policy(true, true)
        };
        assert!(matches!(
            after_reload_guards(&busy, &fleet),
            Some(Step::Quarantine(_))
        ));
        // Anything but a busy GPU is not waited out in quarantine.
        for (name, kind, want) in [
            (
                "package-manager-idle",
                BlockKind::Defer,
                Some(Outcome::Deferred),
            ),
            ("reload-allowed", BlockKind::Refuse, None),
            ("reload-plan", BlockKind::Unfixable, None),
        ] {
            let step = after_reload_guards(&[block(name, kind)], &fleet).unwrap();
            assert!(!matches!(step, Step::Quarantine(_)), "{name}: {step:?}");
            if want.is_some() {
                assert_eq!(outcome(&step), want, "{name}");
            } else {
                assert!(matches!(step, Step::TryReboot(_)), "{name}: {step:?}");
            }
        }
        let mixed = vec![
            block("gpu-busy", BlockKind::Defer),
            block("package-manager-idle", BlockKind::Defer),
        ];
        assert_eq!(
            outcome(&after_reload_guards(&mixed, &fleet).unwrap()),
            Some(Outcome::Deferred)
        );
    }

    #[test]
    fn quarantine_decisions_keep_other_parties_quarantines() {
        let ours = Pattern::new(r"re:.*State=\S*DRAIN.*Reason=nvfix:.*").unwrap();
        let others = Pattern::new(r"re:.*State=\S*(DRAIN|DOWN|FAIL).*").unwrap();
        let table = [
            (
                "NodeName=gpu07 State=MIXED+DRAIN Reason=nvfix: 580.65.06 vs 580.95.05 [root@2026-12-03T00:40:00]\n",
                QuarantineState::Ours,
                QuarantineAction::AlreadyPlaced,
                QuarantineAction::Lift,
            ),
            (
                "NodeName=gpu07 State=IDLE+DRAIN Reason=fan 3 failing [admin@2026-12-02T10:00:00]",
                QuarantineState::Others,
                QuarantineAction::LeaveOthers,
                QuarantineAction::Nothing,
            ),
            (
                "NodeName=gpu07 State=MIXED Reason=nvfix: old reason left behind",
                QuarantineState::InService,
                QuarantineAction::Place,
                QuarantineAction::Nothing,
            ),
            (
                "",
                QuarantineState::InService,
                QuarantineAction::Place,
                QuarantineAction::Nothing,
            ),
        ];
        for (out, state, place, lift) in table {
            assert_eq!(quarantine_state(out, &ours, &others), state, "{out}");
            assert_eq!(quarantine_to_place(state), place, "{out}");
            assert_eq!(quarantine_to_lift(state), lift, "{out}");
        }
    }

    #[test]
    fn the_sentinel_asks_for_a_reboot_only_when_nothing_else_helps() {
        let none: [GuardResult; 0] = [];
        assert!(sentinel_verdict(Outcome::WouldReboot, &none).is_ok());
        for o in [
            Outcome::Healthy,
            Outcome::WouldReload,
            Outcome::Deferred,
            Outcome::RepairNeeded,
            Outcome::Refused,
            Outcome::RebootRequired,
        ] {
            assert!(sentinel_verdict(o, &none).is_err(), "{o:?}");
        }
        // The reboot path reached only because jobs hold the GPU: the reload will do once they end.
        let busy = [block("gpu-busy", BlockKind::Defer)];
        assert!(sentinel_verdict(Outcome::WouldReboot, &busy).is_err());
        // A reload the plan cannot run (a pinned module) leaves the reboot.
        let stuck = [block("reload-plan", BlockKind::Unfixable)];
        assert!(sentinel_verdict(Outcome::WouldReboot, &stuck).is_ok());
    }
}
