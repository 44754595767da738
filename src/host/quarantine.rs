//! The quarantine's commands (probe, place, lift) through the runner, judged by the model's decision table.

use super::reboot::{hooks_aborted, run_hooks_with};
use super::runner::{CommandRunner, CommandSpec};
use crate::model::auto::{
    quarantine_state, quarantine_to_lift, quarantine_to_place, ActionRecord, QuarantineAction,
    QuarantineState,
};
use crate::model::gpu_pods::{eviction_body, gpu_pods};
use crate::model::playbook::{EvictGpuPods, Quarantine};
use serde::Serialize;
use std::time::Duration;

/// What the quarantine step saw and did: the JSON report's `quarantine`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineReport {
    /// The node's state as the probe showed it before nvfix acted; None when the probe failed.
    pub state: Option<QuarantineState>,
    pub action: QuarantineAction,
    /// True when the action's commands ran and succeeded (or there was nothing to run); false when the probe or a
    /// command failed; None in a dry run.
    pub ok: Option<bool>,
}

/// Whether nvfix is putting its quarantine in place or taking it away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Place,
    Lift,
}

/// Runs the probe; the node's state, or the failed probe's record.
fn probe(
    runner: &dyn CommandRunner,
    q: &Quarantine,
    vars: &[(&str, &str)],
) -> (Result<QuarantineState, ()>, ActionRecord) {
    let argv = q.probe.expanded_argv_with(vars);
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    let cmd = CommandSpec::new(&argv[0], &args)
        .with_timeout(Duration::from_secs(q.probe.timeout_seconds));
    let (state, ok, detail) = match runner.run(&cmd) {
        Ok(o) if o.success() => {
            let s = quarantine_state(&o.stdout, &q.ours, &q.others);
            (Ok(s), true, format!("{s:?}: {}", o.stdout.trim()))
        }
        Ok(o) => (
            Err(()),
            false,
            format!("exit {}: {}", o.status, o.stderr.trim()),
        ),
        Err(e) => (Err(()), false, e.to_string()),
    };
    let record = ActionRecord {
        kind: "quarantine-probe".into(),
        label: "read the node's scheduling state".into(),
        command: Some(cmd.display()),
        ok: Some(ok),
        detail,
    };
    (state, record)
}

/// Probes the node and places or lifts nvfix's quarantine as the decision table says. In a dry run only the probe
/// (read-only) runs; the commands that would follow are listed, not run.
pub fn apply(
    runner: &dyn CommandRunner,
    q: &Quarantine,
    vars: &[(&str, &str)],
    direction: Direction,
    dry_run: bool,
) -> (QuarantineReport, Vec<ActionRecord>) {
    let (state, probe_record) = probe(runner, q, vars);
    let mut actions = vec![probe_record];
    let Ok(state) = state else {
        // Fail closed: with the state unknown, nvfix neither places over nor lifts what may be someone else's.
        let report = QuarantineReport {
            state: None,
            action: QuarantineAction::Nothing,
            ok: Some(false),
        };
        return (report, actions);
    };
    let (action, hooks, stage) = match direction {
        Direction::Place => (quarantine_to_place(state), &q.place, "quarantine"),
        Direction::Lift => (quarantine_to_lift(state), &q.lift, "lift-quarantine"),
    };
    let runs = matches!(action, QuarantineAction::Place | QuarantineAction::Lift);
    let ok = if !runs {
        Some(true)
    } else if dry_run {
        actions.extend(hooks.iter().map(|h| ActionRecord {
            kind: "hook".into(),
            label: format!("{stage}: {}", h.label()),
            command: Some(h.expanded_argv_with(vars).join(" ")),
            ok: None,
            detail: "dry run: not run".into(),
        }));
        None
    } else {
        let records = run_hooks_with(runner, hooks, vars, stage);
        let failed = hooks_aborted(&records, hooks) || records.len() < hooks.len();
        actions.extend(records);
        Some(!failed)
    };
    let report = QuarantineReport {
        state: Some(state),
        action,
        ok,
    };
    (report, actions)
}

/// Evicts the node's GPU pods (nvfix's cordon is in place): lists them, then one eviction each, the Eviction object
/// on standard input. A refused eviction (a PodDisruptionBudget) is recorded and retried by the next run. In a dry
/// run only the list (read-only) runs. True when every command succeeded.
pub fn evict_gpu_pods(
    runner: &dyn CommandRunner,
    e: &EvictGpuPods,
    vars: &[(&str, &str)],
    dry_run: bool,
) -> (bool, Vec<ActionRecord>) {
    let argv = e.list.expanded_argv_with(vars);
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    let list =
        CommandSpec::new(&argv[0], &args).with_timeout(Duration::from_secs(e.list.timeout_seconds));
    let listed = match runner.run(&list) {
        Ok(o) if o.success() => gpu_pods(&o.stdout),
        Ok(o) => Err(format!("exit {}: {}", o.status, o.stderr.trim())),
        Err(err) => Err(err.to_string()),
    };
    let mut actions = vec![ActionRecord {
        kind: "quarantine-probe".into(),
        label: "list the node's GPU pods".into(),
        command: Some(list.display()),
        ok: Some(listed.is_ok()),
        detail: match &listed {
            Ok(p) => format!("{} pod(s) request GPUs", p.len()),
            Err(why) => why.clone(),
        },
    }];
    let Ok(pods) = listed else {
        return (false, actions);
    };
    let mut all_ok = true;
    for pod in pods {
        let mut vars: Vec<(&str, &str)> = vars.to_vec();
        vars.push(("namespace", &pod.namespace));
        vars.push(("pod", &pod.name));
        let argv = e.evict.expanded_argv_with(&vars);
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        let cmd = CommandSpec::new(&argv[0], &args)
            .with_stdin(&eviction_body(&pod))
            .with_timeout(Duration::from_secs(e.evict.timeout_seconds));
        let (ok, detail) = if dry_run {
            (None, "dry run: not run".to_string())
        } else {
            match runner.run(&cmd) {
                Ok(o) if o.success() => (Some(true), "evicted".to_string()),
                Ok(o) => (
                    Some(false),
                    format!("exit {}: {}", o.status, o.stderr.trim()),
                ),
                Err(err) => (Some(false), err.to_string()),
            }
        };
        all_ok &= ok != Some(false);
        actions.push(ActionRecord {
            kind: "hook".into(),
            label: format!("evict GPU pod {}/{}", pod.namespace, pod.name),
            command: Some(cmd.display()),
            ok,
            detail,
        });
    }
    (all_ok, actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::runner::{CommandOutput, RecordingRunner};
    use crate::model::playbook::parse_playbook;

    fn slurm() -> Quarantine {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/playbooks/slurm-node.yaml"
        ))
        .unwrap();
        parse_playbook(&text).unwrap().quarantine.unwrap()
    }

    const VARS: &[(&str, &str)] = &[
        ("hostname", "gpu07"),
        ("loaded", "580.65.06"),
        ("library", "580.95.05"),
    ];

    fn answering(stdout: &str) -> RecordingRunner {
        let r = RecordingRunner::new();
        r.respond(
            "/usr/bin/scontrol --oneliner show node",
            CommandOutput {
                status: 0,
                stdout: stdout.into(),
                stderr: String::new(),
            },
        );
        r
    }

    #[test]
    fn places_with_nvfix_reason_only_on_a_node_in_service() {
        let r = answering("NodeName=gpu07 Arch=x86_64 State=MIXED Reason=(null)\n");
        let (rep, _) = apply(&r, &slurm(), VARS, Direction::Place, false);
        assert_eq!(rep.action, QuarantineAction::Place);
        assert_eq!(rep.ok, Some(true));
        assert_eq!(
            r.commands(),
            vec![
                "/usr/bin/scontrol --oneliner show node gpu07",
                "/usr/bin/scontrol update nodename=gpu07 state=drain \"reason=nvfix: 580.65.06 vs 580.95.05\""
            ]
        );
        let admin =
            answering("NodeName=gpu07 State=IDLE+DRAIN Reason=fan [admin@2026-12-01T09:00:00]\n");
        let (rep, _) = apply(&admin, &slurm(), VARS, Direction::Place, false);
        assert_eq!(rep.action, QuarantineAction::LeaveOthers);
        assert_eq!(
            admin.commands().len(),
            1,
            "the admin's reason is not overwritten"
        );
    }

    #[test]
    fn lifts_only_its_own_drain_and_fails_closed_when_the_probe_fails() {
        let ours = answering(
            "NodeName=gpu07 State=IDLE+DRAIN Reason=nvfix: 580.65.06 vs 580.95.05 [root@2026-12-03T00:40:00]\n",
        );
        let (rep, _) = apply(&ours, &slurm(), VARS, Direction::Lift, false);
        assert_eq!(rep.action, QuarantineAction::Lift);
        assert_eq!(
            ours.commands()[1],
            "/usr/bin/scontrol update nodename=gpu07 state=resume"
        );
        let admin =
            answering("NodeName=gpu07 State=IDLE+DRAIN Reason=fan [admin@2026-12-01T09:00:00]\n");
        let (rep, _) = apply(&admin, &slurm(), VARS, Direction::Lift, false);
        assert_eq!(rep.action, QuarantineAction::Nothing);
        assert_eq!(admin.commands().len(), 1);
        let down = RecordingRunner::new();
        down.respond(
            "/usr/bin/scontrol",
            CommandOutput {
                status: 1,
                stdout: String::new(),
                stderr: "slurm_load_node error: Unable to contact slurm controller".into(),
            },
        );
        for d in [Direction::Place, Direction::Lift] {
            let (rep, actions) = apply(&down, &slurm(), VARS, d, false);
            assert_eq!((rep.state, rep.ok), (None, Some(false)));
            assert!(actions[0].detail.contains("Unable to contact"));
        }
        assert_eq!(down.commands().len(), 2, "only the probes ran");
    }
}
