//! `nvfix reload`: swap the NVIDIA kernel modules without a reboot — plan, confirm, execute with a journal, verify.
//!
//! Order of checks (each before anything is touched): `--dry-run` only reads; executing needs root `/` (a fixture
//! tree is never acted on: 64), euid 0 (77), a terminal or `--yes` (64), the lock (75); then a journal left by an
//! interrupted run is restored first; then the diagnosis decides (reboot/repair 69, container 77, nothing 0) and
//! plan-time blockers refuse (69).

use super::doc::{general, own, CommandDoc};
use super::Context;
use crate::cli::ReloadArgs;
use crate::error::Failure;
use crate::exit;
use crate::host::reload::view::gpu_count;
use crate::host::reload::{
    signals, AutoYes, ConsoleUi, ExecOptions, Executor, Journal, LiveHost, Prompter,
};
use crate::model::plan::{make_plan, PlanOptions, Refusal, ReloadPlan};
use crate::model::verdict::diagnose;
use crate::render;
use std::io::IsTerminal;

/// `nvfix reload`'s man page text (see `doc.rs`).
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "Swaps the NVIDIA kernel modules for the installed ones without a reboot: stops the GPU's holders (their \
         systemd units, or the processes by signal), unloads the modules one by one (modprobe -r, never forced), \
         loads the new ones, starts the services again and checks the result with NVML.",
        "Nothing runs until the plan is proven: every module it would load must pass the pre-flight (the file \
         modprobe would load exists, matches the running kernel, and is signed where the kernel enforces \
         signatures), because once the new module is in place the old one cannot come back. --dry-run prints the \
         plan, its holders and its blockers.",
        "Each step is written to a journal before and after it runs. If the reload is interrupted, nvfix reload \
         --resume (or the next nvfix auto) reads the journal and brings the modules and services back. Without \
         --yes, reload asks before each step; processes get SIGTERM and a grace period, SIGKILL only with --kill.",
        "reload must run as root on the host itself (not with --root, except for --dry-run) and holds the run lock.",
    ],
    exit: &[
        own(exit::OK, "The modules were reloaded and verified, or --dry-run found a plan that can run."),
        own(exit::PROBLEM, "A step failed and the host was restored to where it started."),
        own(exit::USAGE, "A bad option, or an action asked for on a --root tree or without a terminal and --yes."),
        own(exit::DATA_ERROR, "The journal of an interrupted reload cannot be read: look at it and restore by hand."),
        own(
            exit::UNAVAILABLE,
            "A reload cannot help (the module on disk does not match the library, a pre-flight finding, a module \
             stuck in use): nvfix reboot is the way out.",
        ),
        general(exit::TEMP_FAIL),
        own(exit::NO_PERMISSION, "Not root, or the run lock's folder is unsafe, or the host is a container."),
    ],
    files: &["/run/nvfix/lock", "/run/nvfix/journal.json", "/var/cache/nvfix/modules.json"],
    examples: &[
        ("sudo nvfix reload --dry-run", "The plan: holders to stop, modules to unload and load, blockers."),
        ("sudo nvfix reload", "Swap the modules, asking before each step."),
        ("sudo nvfix reload --yes --grace 30", "Without questions; processes get 30 seconds after SIGTERM."),
        ("sudo nvfix reload --resume", "Undo an interrupted reload from its journal."),
    ],
    see_also: &["modprobe(8)", "nvidia-smi(1)", "fuser(1)"],
};

/// The environment variable behind the test hook (see `host::reload`): pause 60 s after the last step of a kind.
pub const PAUSE_ENV: &str = "NVFIX_TEST_PAUSE_AFTER_STEP";

pub fn run(ctx: &Context, args: &ReloadArgs) -> anyhow::Result<i32> {
    let options = PlanOptions {
        kill: args.kill,
        allow_display_stop: args.allow_display_stop,
        grace_secs: args.grace,
    };
    let journal_path = Journal::path(&ctx.root);
    if args.dry_run {
        return dry_run(ctx, args, &options);
    }
    check_may_execute(
        ctx.root.is_system(),
        unsafe_euid(),
        args.yes,
        is_interactive(),
    )?;
    // The journal comes first, under the lock: an interrupted run is undone before anything new is planned.
    let (lock, pending) = super::lock_and_load_journal(&ctx.root)?;
    signals::install()?;
    let host = LiveHost::new(&ctx.root, ctx.nvml_lib.clone(), &lock);
    let mut console = ConsoleUi::default();
    let mut auto = AutoYes { quiet: args.json };
    let ui: &mut dyn Prompter = if args.yes { &mut auto } else { &mut console };
    let mut exec_options = ExecOptions::live(
        journal_path.clone(),
        std::time::Duration::from_secs(args.module_timeout),
    );
    exec_options.pause_after = std::env::var(PAUSE_ENV).ok().filter(|v| !v.is_empty());
    let seams = host.seams();

    if let Some(journal) = pending {
        if !args.json {
            eprint!(
                "{}",
                render::plan::pending_journal_text(&journal, ctx.color)
            );
        }
        let report = Executor::new(seams, ui, exec_options).resume(journal);
        print_report(ctx, args, &report)?;
        return Ok(report.exit_code());
    }
    if args.resume {
        crate::outln!(
            "nothing to resume: no journal at {}",
            journal_path.display()
        );
        return Ok(exit::OK);
    }

    // Containers too: the plan names those that will keep the old user-space driver after the reload.
    let facts = ctx.gather_under_lock(true, true, &lock);
    let diagnosis = diagnose(&facts);
    let mut plan = match make_plan(&facts, &diagnosis, &options) {
        Ok(p) => p,
        Err(refusal) => return print_refusal(ctx, args, &refusal),
    };
    fill_baseline(ctx, &mut plan);
    if !args.json {
        if !args.yes {
            eprint!(
                "{}",
                render::plan::diagnosis_summary(&facts, &diagnosis, ctx.color)
            );
            eprintln!();
        }
        eprint!("{}", render::plan::plan_text(&plan, ctx.color));
        eprintln!();
    }
    if let Some(refusal) = plan.refusal() {
        if args.json {
            crate::outln!(
                "{}",
                serde_json::to_string_pretty(&render::plan::dry_run_json(Some(&plan), None, None))?
            );
        } else {
            crate::out!("{}", render::plan::refusal_text(&refusal, ctx.color));
        }
        return Ok(refusal.code);
    }
    let report = Executor::new(seams, ui, exec_options).execute(&plan);
    print_report(ctx, args, &report)?;
    Ok(report.exit_code())
}

/// Prints why nothing will be done (JSON or text) and returns the refusal's exit status.
fn print_refusal(ctx: &Context, args: &ReloadArgs, refusal: &Refusal) -> anyhow::Result<i32> {
    if args.json {
        let json = render::plan::dry_run_json(None, Some(refusal), None);
        crate::outln!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        crate::out!("{}", render::plan::refusal_text(refusal, ctx.color));
    }
    Ok(refusal.code)
}

fn dry_run(ctx: &Context, args: &ReloadArgs, options: &PlanOptions) -> anyhow::Result<i32> {
    // A journal that cannot be read is reported, not fatal: a dry run changes nothing.
    let journal = Journal::load(&Journal::path(&ctx.root)).unwrap_or_else(|e| {
        eprintln!("nvfix: warning: {e}");
        None
    });
    if let Some(j) = &journal {
        if args.json {
            crate::outln!(
                "{}",
                serde_json::to_string_pretty(&render::plan::dry_run_json(None, None, Some(j)))?
            );
        } else {
            crate::out!("{}", render::plan::pending_journal_text(j, ctx.color));
        }
        return Ok(exit::OK);
    }
    // Containers too: the plan names those that will keep the old user-space driver after the reload.
    let facts = ctx.gather_with(true, true);
    let diagnosis = diagnose(&facts);
    match make_plan(&facts, &diagnosis, options) {
        Ok(mut plan) => {
            fill_baseline(ctx, &mut plan);
            if ctx.root.is_system() && unsafe_euid() != 0 {
                plan.notes.push(
                    "not run as root: other users' processes could not be inspected, so holders and blockers may be \
                     incomplete"
                        .into(),
                );
            }
            if args.json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&render::plan::dry_run_json(
                        Some(&plan),
                        None,
                        None
                    ))?
                );
            } else {
                crate::out!("{}", render::plan::plan_text(&plan, ctx.color));
                crate::outln!("\n(dry run: nothing was changed)");
            }
            Ok(plan.refusal().map_or(exit::OK, |r| r.code))
        }
        Err(refusal) => print_refusal(ctx, args, &refusal),
    }
}

/// The GPU count before, when NVML could not give it (it cannot during a mismatch): the driver's own list.
fn fill_baseline(ctx: &Context, plan: &mut ReloadPlan) {
    if plan.baseline.device_count.is_none() {
        plan.baseline.device_count = gpu_count(&ctx.root);
    }
}

fn print_report(
    ctx: &Context,
    args: &ReloadArgs,
    report: &crate::host::reload::ExecReport,
) -> anyhow::Result<()> {
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(report)?);
    } else {
        crate::out!("{}", render::plan::exec_report_text(report, ctx.color));
    }
    Ok(())
}

fn unsafe_euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

fn is_interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The checks before executing, pure so they are tested without being root or having a terminal.
pub fn check_may_execute(
    system_root: bool,
    euid: u32,
    yes: bool,
    interactive: bool,
) -> Result<(), Failure> {
    if !system_root {
        // A fixture tree describes another machine: acting would change this machine's kernel.
        return Err(Failure::new(
            exit::USAGE,
            "--root other than / only works with --dry-run: nvfix never changes this machine on behalf of another \
             tree",
        ));
    }
    if euid != 0 {
        return Err(Failure::new(
            exit::NO_PERMISSION,
            "nvfix reload needs root (sudo nvfix reload); --dry-run works as any user",
        ));
    }
    if !yes && !interactive {
        return Err(Failure::new(
            exit::USAGE,
            "no terminal to confirm on: rerun with --yes to reload non-interactively, or --dry-run to see the plan",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_checks_in_order() {
        assert_eq!(
            check_may_execute(false, 0, true, true).unwrap_err().code,
            exit::USAGE
        );
        assert_eq!(
            check_may_execute(true, 1000, true, true).unwrap_err().code,
            exit::NO_PERMISSION
        );
        let e = check_may_execute(true, 0, false, false).unwrap_err();
        assert_eq!(e.code, exit::USAGE);
        assert!(e.message.contains("--yes"));
        assert!(check_may_execute(true, 0, true, false).is_ok());
        assert!(check_may_execute(true, 0, false, true).is_ok());
    }
}
