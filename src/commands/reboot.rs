//! `nvfix reboot`: check and report every guard (next boot's module, package manager, inhibitors, GPU holders, loop,
//! window), then schedule the reboot with a wall message, reboot now, or cancel nvfix's scheduled reboot.

use super::doc::{general, own, CommandDoc};
use super::Context;
use crate::cli::RebootArgs;
use crate::error::Failure;
use crate::exit;
use crate::host::gather::{gather, GatherOptions};
use crate::host::reboot::{
    self as hostreboot, gather_guard_facts, reboot_message, schedule_command, RebootHow,
    RebootRequest,
};
use crate::host::runner::{CommandRunner, SystemRunner};
use crate::host::HostRoot;
use crate::model::auto::ActionRecord;
use crate::model::facts::HostFacts;
use crate::model::guards::{
    evaluate_reboot_guards, strongest_block, GuardResult, GuardStatus, NextBoot, RebootGuardFacts,
    RebootGuardPolicy,
};
use crate::model::playbook::{Playbook, RebootMethod};
use crate::model::reboot_state::{AfterBoot, RebootRecord};
use crate::model::verdict::{diagnose, Action};
use serde::Serialize;
use std::io::IsTerminal;

/// `nvfix reboot`'s man page text (see `doc.rs`).
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "Reboots into a kernel whose NVIDIA module matches the installed library, after checking every guard: the \
         kernel that boots next has a matching module, no package manager is running and dpkg has no unfinished \
         operations, no systemd inhibitor blocks, no user process holds the GPU (unless the playbook allows it), the \
         maintenance window is open, and the reboot-loop limit is not reached.",
        "The reboot is scheduled with shutdown -r +DELAY, so logged-in users get a wall message, or handed to the \
         cluster's engine with the playbook's handoff commands. It is recorded with the boot id \
         (/var/lib/nvfix/reboots.json), which keeps a loop from rebooting forever and lets the next boot verify the \
         result. --cancel takes it back.",
    ],
    exit: &[
        own(exit::OK, "The reboot was scheduled (or cancelled), or --dry-run found every guard passing."),
        own(exit::PROBLEM, "A guard refused the reboot, or scheduling it failed."),
        own(exit::USAGE, "A bad option, or a reboot asked for on a --root tree or without a terminal and --yes."),
        own(exit::NO_INPUT, "The --root folder or the playbook does not exist."),
        general(exit::TEMP_FAIL),
        own(exit::NO_PERMISSION, "Not root, or an unsafe playbook owner or mode."),
        own(exit::CONFIG, "The playbook is not valid."),
    ],
    files: &[
        "/etc/nvfix/nvfix.yaml",
        "/etc/nvfix/playbooks/NAME.yaml",
        "/usr/share/nvfix/playbooks/NAME.yaml",
        "/var/lib/nvfix/reboots.json",
        "/run/nvfix/lock",
    ],
    examples: &[
        ("sudo nvfix reboot --dry-run", "Check every guard, schedule nothing."),
        ("sudo nvfix reboot --delay 15", "Reboot in 15 minutes, warning logged-in users."),
        ("sudo nvfix reboot --cancel", "Cancel the reboot nvfix scheduled."),
    ],
    see_also: &["nvfix-playbook(5)", "shutdown(8)", "systemd-inhibit(1)"],
};

/// What the guards found and how the reboot would be set in motion.
#[derive(Debug, Clone)]
pub struct RebootAssessment {
    pub guards: Vec<GuardResult>,
    pub next_boot: NextBoot,
    pub how: RebootHow,
    /// The command that schedules it (None for a handoff: the hooks do).
    pub command: Option<String>,
    /// A reboot nvfix already set up from this boot.
    pub pending: Option<RebootRecord>,
    pub guard_facts: RebootGuardFacts,
}

/// Gathers the guard facts and judges them. `delay` overrides the playbook's; `gpu_holders_block` is true for `auto`
/// without `reboot.allow_gpu_holders`.
pub fn assess(
    root: &HostRoot,
    facts: &HostFacts,
    playbook: &Playbook,
    runner: Option<&dyn CommandRunner>,
    now: i64,
    delay: Option<u32>,
    gpu_holders_block: bool,
) -> RebootAssessment {
    let zone = playbook
        .reboot
        .maintenance_window
        .as_ref()
        .map(|w| &w.timezone);
    let g = gather_guard_facts(root, facts, runner, now, zone);
    let delay = delay.unwrap_or(playbook.reboot.delay_minutes);
    let how = match playbook.reboot.method {
        RebootMethod::Handoff => RebootHow::Handoff(playbook.reboot.handoff.clone()),
        RebootMethod::Shutdown if delay == 0 => RebootHow::Now,
        RebootMethod::Shutdown => RebootHow::Delayed(delay),
    };
    let policy = RebootGuardPolicy {
        delay_minutes: if matches!(how, RebootHow::Delayed(_)) {
            delay
        } else {
            0
        },
        max_per_24h: playbook.reboot.max_per_24h,
        window: playbook.reboot.maintenance_window.clone(),
        gpu_holders_block,
    };
    let guards = evaluate_reboot_guards(facts, &g, &policy);
    let version = facts.nvml_library.as_ref().map(|l| l.version.to_string());
    let message = reboot_message(version.as_deref(), g.next_boot.kernel.as_deref());
    let pending = match (&g.state, facts.boot_id.as_deref()) {
        (Ok(s), Some(b)) => match s.after_boot(b, now) {
            AfterBoot::Pending(r) => Some(r.clone()),
            _ => None,
        },
        _ => None,
    };
    RebootAssessment {
        guards,
        next_boot: g.next_boot.clone(),
        command: schedule_command(&how, &message).map(|c| c.display()),
        how,
        pending,
        guard_facts: g,
    }
}

/// The request to record and run, from an assessment.
pub fn request(
    a: &RebootAssessment,
    facts: &HostFacts,
    root: &HostRoot,
    reason: &str,
) -> RebootRequest {
    RebootRequest {
        how: a.how.clone(),
        boot_id: facts.boot_id.clone().unwrap_or_else(|| "unknown".into()),
        now: a.guard_facts.now,
        kernel: facts.kernel_release.clone(),
        next_kernel: a.next_boot.kernel.clone(),
        expected_version: facts.nvml_library.as_ref().map(|l| l.version.to_string()),
        reason: reason.to_string(),
        hostname: hostreboot::hostname(root),
    }
}

#[derive(Debug, Serialize)]
struct RebootReport<'a> {
    schema: &'static str,
    dry_run: bool,
    next_boot: &'a NextBoot,
    guards: &'a [GuardResult],
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<&'a RebootRecord>,
    actions: &'a [ActionRecord],
    outcome: &'a str,
    message: String,
    exit_status: i32,
}

pub fn run(ctx: &Context, args: &RebootArgs) -> anyhow::Result<i32> {
    let euid = super::playbook::effective_uid();
    let playbook =
        super::playbook::select(&ctx.root, args.playbook.as_deref(), euid == 0)?.playbook;
    if args.cancel {
        may_act(&ctx.root, euid)?;
        let Some(actions) = cancel(&ctx.root, &SystemRunner, &playbook.reboot)? else {
            print_outcome(
                args.json,
                None,
                &[],
                None,
                None,
                &[],
                "nothing-to-cancel",
                hostreboot::NOTHING_TO_CANCEL.to_string(),
                exit::OK,
            )?;
            return Ok(exit::OK);
        };
        let code = if actions.iter().all(|a| a.ok == Some(true)) {
            exit::OK
        } else {
            exit::PROBLEM
        };
        print_outcome(
            args.json,
            None,
            &[],
            None,
            None,
            &actions,
            "cancel",
            "".into(),
            code,
        )?;
        return Ok(code);
    }
    // Acting is decided under the lock, from facts read under it (the reboot record above all).
    let _lock = if args.dry_run {
        None
    } else {
        may_act(&ctx.root, euid)?;
        Some(super::take_run_lock(&ctx.root)?)
    };
    let facts = match &_lock {
        Some(lock) => ctx.gather_under_lock(true, false, lock),
        None => ctx.gather_all_kernels(true),
    };
    let diagnosis = diagnose(&facts);
    let delay = if args.now { Some(0) } else { args.delay };
    // A reboot a human asks for has no `allowed` switch to pass: the person is the authority. Holders are listed.
    // On a `--root` tree no command runs: the guards that need one say `not checked`.
    let live_runner: Option<&dyn CommandRunner> = ctx.root.is_system().then_some(&SystemRunner);
    let a = assess(
        &ctx.root,
        &facts,
        &playbook,
        live_runner,
        hostreboot::now(&ctx.root),
        delay,
        false,
    );
    let mut notes = Vec::new();
    if diagnosis.action == Action::Reload {
        notes.push("a reload fixes this host without a reboot: sudo nvfix reload".to_string());
    }
    if let Some(p) = &a.pending {
        let msg = format!(
            "a reboot nvfix scheduled from this boot is still due ({} method); cancel it with nvfix reboot --cancel",
            p.method
        );
        print_outcome(
            args.json,
            Some(&a),
            &notes,
            None,
            Some(p),
            &[],
            "reboot-pending",
            msg,
            exit::OK,
        )?;
        return Ok(exit::OK);
    }
    if let Some(kind) = strongest_block(&a.guards) {
        let msg = "a guard blocks the reboot".to_string();
        print_outcome(
            args.json,
            Some(&a),
            &notes,
            None,
            None,
            &[],
            "blocked",
            msg,
            kind.exit_status(),
        )?;
        return Ok(kind.exit_status());
    }
    if args.dry_run {
        let unchecked: Vec<&str> = a
            .guards
            .iter()
            .filter(|g| g.status == GuardStatus::NotChecked)
            .map(|g| g.name)
            .collect();
        let msg = if unchecked.is_empty() {
            "every guard passes (dry run: nothing was scheduled)".to_string()
        } else {
            format!(
                "no guard blocks, but {} could not be checked without the live host (dry run: nothing was scheduled)",
                unchecked.join(", ")
            )
        };
        print_outcome(
            args.json,
            Some(&a),
            &notes,
            a.command.as_deref(),
            None,
            &[],
            "would-reboot",
            msg,
            exit::OK,
        )?;
        return Ok(exit::OK);
    }
    if !args.yes {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return Err(Failure::new(
                exit::USAGE,
                "no terminal to confirm on: rerun with --yes, or --dry-run to see the guards",
            )
            .into());
        }
        print_guards_text(&a, &notes);
        let question = match &a.how {
            RebootHow::Delayed(n) => format!("Reboot this host in {n} minute(s)?"),
            RebootHow::Now => "Reboot this host now?".into(),
            RebootHow::Handoff(_) => "Hand the reboot to the cluster's engine?".into(),
        };
        let yes = dialoguer::Confirm::new()
            .with_prompt(question)
            .default(false)
            .interact()
            .unwrap_or(false);
        if !yes {
            eprintln!("nvfix: not rebooting");
            return Ok(exit::OK);
        }
    }
    let mut state = a.guard_facts.state.clone().unwrap_or_default();
    let req = request(&a, &facts, &ctx.root, "nvfix reboot");
    let actions = hostreboot::schedule_reboot(&ctx.root, &SystemRunner, &mut state, &req);
    let ok = !actions.is_empty() && actions.iter().all(|r| r.ok == Some(true));
    let code = if ok { exit::OK } else { exit::PROBLEM };
    let msg = if ok {
        "reboot set in motion".to_string()
    } else {
        "the reboot could not be set in motion".to_string()
    };
    print_outcome(
        args.json,
        Some(&a),
        &notes,
        a.command.as_deref(),
        None,
        &actions,
        if ok { "scheduled" } else { "failed" },
        msg,
        code,
    )?;
    Ok(code)
}

/// `reboot --cancel` under the run lock (75 when another nvfix holds it, before anything is read or run); None when
/// nvfix scheduled nothing from this boot (then nothing is run).
pub fn cancel(
    root: &HostRoot,
    runner: &dyn CommandRunner,
    policy: &crate::model::playbook::RebootPolicy,
) -> anyhow::Result<Option<Vec<ActionRecord>>> {
    let _lock = super::take_run_lock(root)?;
    let facts = gather(
        root,
        &GatherOptions {
            nvml_lib: None,
            nvml_lock: Default::default(),
            holders: false,
            containers: false,
            // Cancelling needs the boot id, not the modules.
            all_kernels: false,
            read_only: false,
        },
    );
    let boot = facts.boot_id.clone().unwrap_or_default();
    Ok(hostreboot::cancel_reboot(root, runner, &boot, policy)
        .map_err(|e| Failure::new(exit::PROBLEM, e))?)
}

/// Acting needs the live host and root; a fixture tree only ever gets checked.
pub fn may_act(root: &HostRoot, euid: u32) -> Result<(), Failure> {
    if !root.is_system() {
        return Err(Failure::new(
            exit::USAGE,
            "--root other than / only works with --dry-run: nvfix never reboots this machine on behalf of another tree",
        ));
    }
    if euid != 0 {
        return Err(Failure::new(
            exit::NO_PERMISSION,
            "rebooting needs root (sudo nvfix reboot); --dry-run works as any user",
        ));
    }
    Ok(())
}

fn status_word(s: GuardStatus) -> &'static str {
    match s {
        GuardStatus::Pass => "pass ",
        GuardStatus::Warn => "warn ",
        GuardStatus::Block => "BLOCK",
        GuardStatus::NotChecked => "not checked",
    }
}

/// The guards as lines: `pass  name  message`.
pub fn guards_text(guards: &[GuardResult]) -> String {
    let mut s = String::new();
    for g in guards {
        s.push_str(&format!(
            "  {}  {:<22} {}\n",
            status_word(g.status),
            g.name,
            g.message
        ));
    }
    s
}

fn print_guards_text(a: &RebootAssessment, notes: &[String]) {
    eprint!("Reboot guards:\n{}", guards_text(&a.guards));
    for n in notes {
        eprintln!("note: {n}");
    }
}

#[allow(clippy::too_many_arguments)]
fn print_outcome(
    json: bool,
    a: Option<&RebootAssessment>,
    notes: &[String],
    command: Option<&str>,
    pending: Option<&RebootRecord>,
    actions: &[ActionRecord],
    outcome: &str,
    message: String,
    code: i32,
) -> anyhow::Result<()> {
    if json {
        let unknown = NextBoot {
            kernel: None,
            rule: "not checked".into(),
        };
        let report = RebootReport {
            schema: "nvfix.reboot/v1",
            dry_run: outcome == "would-reboot",
            next_boot: a.map_or(&unknown, |a| &a.next_boot),
            guards: a.map_or(&[][..], |a| &a.guards[..]),
            command,
            pending,
            actions,
            outcome,
            message,
            exit_status: code,
        };
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if let Some(a) = a {
        crate::out!("Reboot guards:\n{}", guards_text(&a.guards));
    }
    for n in notes {
        crate::outln!("note: {n}");
    }
    for act in actions {
        crate::outln!(
            "{} {}{}: {}",
            if act.ok == Some(true) {
                "done "
            } else {
                "FAIL "
            },
            act.label,
            act.command
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            act.detail
        );
    }
    if let Some(c) = command {
        if outcome == "would-reboot" {
            crate::outln!("would run: {c}");
        }
    }
    if !message.is_empty() {
        crate::outln!("{message}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acting_needs_the_live_host_and_root() {
        assert_eq!(
            may_act(&HostRoot::new("/tmp"), 0).unwrap_err().code,
            exit::USAGE
        );
        assert_eq!(
            may_act(&HostRoot::system(), 1000).unwrap_err().code,
            exit::NO_PERMISSION
        );
        assert!(may_act(&HostRoot::system(), 0).is_ok());
    }

    #[test]
    fn guards_text_marks_blocks() {
        let t = guards_text(&[
            GuardResult::pass("reboot-loop", "0 reboots"),
            GuardResult::block(
                "maintenance-window",
                crate::model::guards::BlockKind::Defer,
                "outside",
            ),
        ]);
        assert!(t.contains("pass   reboot-loop"), "{t}");
        assert!(t.contains("BLOCK  maintenance-window     outside"), "{t}");
    }
}
