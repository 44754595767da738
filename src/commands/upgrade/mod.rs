//! `nvfix upgrade`: move a held driver to a new version as one planned, journaled step — plan (apt's simulation),
//! trial (build and pre-flight the new modules before anything changes), release the hold, install, reload (or let
//! the playbook decide), verify, hold again. `--check` says whether there is anything to upgrade to.

use super::doc::{general, own, CommandDoc};
use super::Context;
use crate::cli::UpgradeArgs;
use crate::error::Failure;
use crate::exit;
use crate::host::hold::read_host_packages;
use crate::host::reload::signals;
use crate::host::runner::{CommandRunner, RecordingRunner, SystemRunner};
use crate::host::upgrade as hostup;
use crate::model::facts::HostFacts;
use crate::model::hold::PackageManager;
use crate::model::plan::{make_plan as make_reload_plan, PlanOptions, Refusal};
use crate::model::upgrade::{self, PlanParts, TargetChoice, UpgradeInputs, UpgradePlan};
use crate::model::verdict::{diagnose, Action};
use crate::render::upgrade::{self as view, UpgradeReport};
use std::io::IsTerminal;

/// `nvfix upgrade`'s man page text (see `doc.rs`).
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "Moves the installed NVIDIA driver to a new version of its branch as one planned step, instead of the \
         unhold-install-reboot by hand that an automatic upgrade turns into an incident. The plan comes first, as \
         data (--dry-run prints it): the packages and exact versions apt's own simulation (apt-get -s) would install, \
         which kernels get modules and how (DKMS or a prebuilt package), what the reload will stop, what the hold \
         will look like afterwards, and the exact way back.",
        "Before anything changes, nvfix refuses when the package manager is busy, when the running or the next-boot \
         kernel would get no module of the new version, or when the kernel would refuse the new modules. The trial \
         proves it: the kernel-side packages are downloaded and unpacked into /var/lib/nvfix/upgrade-trial, DKMS \
         builds them there in a private tree (the system's DKMS tree and /lib/modules are not touched; DKMS creates \
         its signing key /var/lib/dkms/mok.key on a host that has none, as the package's build would), and the \
         pre-flight (vermagic, signatures against the enforcement policy, firmware) judges what was built. A failed \
         build leaves the host exactly as it was, with DKMS's make.log kept for reading.",
        "Then: nvfix releases its own hold on exactly the driver packages, installs the new version (apt-get \
         install NAME=VERSION, DKMS builds it for every kernel with headers), checks DKMS's result, reloads the \
         modules (as nvfix reload, or with --playbook as nvfix auto decides: reload, quarantine until idle, or hand \
         the reboot to the cluster), verifies with NVML, and holds the packages again at the new version.",
        "Every step is journaled in /var/lib/nvfix/upgrade.json. Killed at any point, nvfix upgrade --resume (or any \
         nvfix upgrade) finishes from the host as it is: it installs what is not installed, reloads what is not \
         loaded, holds what is not held. A later nvfix auto that reloads also finishes the hold. If the install \
         fails, the old driver is still loaded and working; the report gives the exact command back to the old \
         versions and says whether a repository still serves them.",
        "--check is read-only: is a newer version of the installed branch offered, and would applying it be a reload \
         or need a reboot on this host (--json for fleets; --textfile writes nvfix_driver_upgrade_* metrics for \
         node_exporter).",
    ],
    exit: &[
        own(exit::OK, "Upgraded, verified and held; or nothing to upgrade; or --dry-run/--check found a plan or an answer."),
        own(
            exit::PROBLEM,
            "The install or the reload failed: the report says what is loaded, what is installed and how to go back \
             or resume.",
        ),
        own(exit::USAGE, "A bad option, an action on a --root tree, or no terminal without --yes."),
        own(exit::DATA_ERROR, "The upgrade journal cannot be read: look at it, then remove it."),
        own(
            exit::UNAVAILABLE,
            "Refused before anything changed: the driver not consistent or not loaded, a kernel without a module, the trial build failed, \
             the kernel would refuse the new modules, the playbook forbids it, or a hold that is not nvfix's.",
        ),
        general(exit::TEMP_FAIL),
        own(exit::NO_PERMISSION, "Not root, or the run lock's folder is unsafe."),
        own(
            exit::REBOOT_REQUIRED,
            "With --playbook: the new version is installed; only a reboot loads it and the playbook left it to the \
             cluster (as nvfix auto).",
        ),
        own(
            exit::REBOOT_SCHEDULED,
            "With --playbook: the new version is installed and the reboot that loads it is scheduled (as nvfix auto).",
        ),
    ],
    files: &[
        "/var/lib/nvfix/upgrade.json",
        "/var/lib/nvfix/upgrade-trial",
        "/var/lib/nvfix/hold.json",
        "/run/nvfix/lock",
    ],
    examples: &[
        ("nvfix upgrade --check", "Is a newer driver of this branch offered; reload or reboot?"),
        ("sudo nvfix upgrade --dry-run", "The plan: packages and versions, kernels, what the reload stops, the way back."),
        ("sudo nvfix upgrade", "Upgrade to the newest version of the branch, asking before each step."),
        ("sudo nvfix upgrade --to 580.95.05 --yes --kill", "Non-interactive, to an exact version."),
        ("sudo nvfix upgrade --resume", "Finish an upgrade that was interrupted."),
    ],
    see_also: &["apt-get(8)", "dkms(8)", "nvfix-hold(1)", "nvfix-reload(1)"],
};

/// Test hook: `NVFIX_TEST_PAUSE_AFTER_PHASE=installed` sleeps 60 s once that phase is journaled (the lab kills
/// nvfix there).
pub const PAUSE_ENV: &str = "NVFIX_TEST_PAUSE_AFTER_PHASE";

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

mod run;

pub use run::finish_after_auto;
use run::Run;

pub fn run(ctx: &Context, args: &UpgradeArgs) -> anyhow::Result<i32> {
    let recorder = RecordingRunner::new();
    let runner: &dyn CommandRunner = if ctx.root.is_system() {
        &SystemRunner
    } else {
        &recorder
    };
    if args.check {
        return check(ctx, args, runner);
    }
    if args.dry_run {
        return dry_run(ctx, args, runner);
    }
    if !ctx.root.is_system() {
        return Err(Failure::new(
            exit::USAGE,
            "--root other than / only works with --dry-run or --check: nvfix never changes this machine on behalf of \
             another tree",
        )
        .into());
    }
    if !is_root() {
        return Err(Failure::new(
            exit::NO_PERMISSION,
            "nvfix upgrade needs root; --dry-run and --check do not",
        )
        .into());
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.yes && !interactive {
        return Err(Failure::new(
            exit::USAGE,
            "no terminal to confirm on: rerun with --yes, or --dry-run to see the plan",
        )
        .into());
    }
    signals::install()?;
    let (lock, pending_reload) = super::lock_and_load_journal(&ctx.root)?;
    if pending_reload.is_some() {
        return Err(Failure::new(
            exit::UNAVAILABLE,
            "an interrupted reload left its journal (/run/nvfix/journal.json): run sudo nvfix reload --resume first",
        )
        .into());
    }
    let pending = hostup::load_journal(&ctx.root).map_err(|e| {
        Failure::new(
            exit::DATA_ERROR,
            format!("{e}; look at it, then remove it to plan a new upgrade"),
        )
    })?;
    let mut run = Run {
        ctx,
        args,
        runner,
        lock: &lock,
        report: UpgradeReport::new(false),
    };
    let code = match pending {
        Some(journal) => run.resume(journal),
        None if args.resume => {
            run.report.message =
                format!("nothing to resume: no journal at {}", upgrade::JOURNAL_PATH);
            exit::OK
        }
        None => run.start(),
    };
    run.report.exit_status = code;
    run.print()?;
    Ok(code)
}

/// What the upgrade is judged on, read once (owned, so the model's borrowed [`UpgradeInputs`] can be made from it).
struct HostView {
    host: crate::host::hold::HostPackages,
    policies: Vec<crate::model::apt_simulation::PackagePolicy>,
    loaded: Option<crate::model::version::DriverVersion>,
    library: Option<crate::model::version::DriverVersion>,
    running: String,
    next: Option<String>,
    headers: Vec<String>,
    busy: Vec<String>,
}

impl HostView {
    /// Reads the packages and asks apt what its repositories offer for the installed driver packages. `full`: also
    /// the kernels (next boot, headers) and the package manager's locks, which only a plan needs.
    fn read(
        ctx: &Context,
        runner: &dyn CommandRunner,
        facts: &HostFacts,
        full: bool,
    ) -> anyhow::Result<HostView> {
        let mut host =
            read_host_packages(&ctx.root, runner, ctx.root.is_system())?.ok_or_else(|| {
                Failure::new(
                    exit::UNAVAILABLE,
                    "no package manager found (no /var/lib/dpkg/status)",
                )
            })?;
        let names: Vec<String> = crate::model::hold::hold_candidates(&host.installed)
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let policies = match host.manager {
            _ if names.is_empty() => Ok(Vec::new()),
            PackageManager::Apt => hostup::apt_policies(runner, &names),
            PackageManager::Dnf => hostup::dnf_policies(runner, &mut host.installed, &names),
        }
        .map_err(|e| Failure::new(exit::UNAVAILABLE, e))?;
        let (next, headers, busy) = if full {
            (
                crate::model::guards::next_boot_kernel(&crate::host::reboot::boot_config(
                    &ctx.root,
                ))
                .kernel,
                hostup::kernels_with_headers(&ctx.root),
                hostup::package_manager_busy(&ctx.root),
            )
        } else {
            (None, Vec::new(), Vec::new())
        };
        Ok(HostView {
            host,
            policies,
            loaded: facts.loaded_driver.as_ref().map(|d| d.version.clone()),
            library: facts.nvml_library.as_ref().map(|l| l.version.clone()),
            running: facts.kernel_release.clone().unwrap_or_default(),
            next,
            headers,
            busy,
        })
    }

    fn inputs(&self) -> UpgradeInputs<'_> {
        UpgradeInputs {
            manager: self.host.manager,
            installed: &self.host.installed,
            hold_state: self.host.state.as_ref(),
            policies: &self.policies,
            loaded: self.loaded.as_ref(),
            library: self.library.as_ref(),
            running_kernel: &self.running,
            next_kernel: self.next.as_deref(),
            kernels_with_headers: &self.headers,
            package_manager_busy: self.busy.clone(),
        }
    }
}

/// dnf hosts get the plan (`--dry-run`, `--check`), not the run: the trial (unpacking RPMs, akmods) and the install
/// are not proven on a real dnf host yet.
pub(super) fn dnf_not_run(plan: &UpgradePlan) -> Refusal {
    Refusal {
        code: exit::UNAVAILABLE,
        reason: "nvfix upgrade plans dnf upgrades but does not run them yet".into(),
        hint: Some(format!(
            "by hand: sudo nvfix hold --undo; sudo dnf install {}; wait for DKMS/akmods; sudo nvfix reload; sudo nvfix \
             hold (back: {})",
            plan.install_args().join(" "),
            plan.rollback_command()
        )),
    }
}

/// Plans from the host as it is; the plan or the refusal. `Ok(None)`: already at the target.
pub(super) fn plan(
    ctx: &Context,
    args: &UpgradeArgs,
    runner: &dyn CommandRunner,
    facts: &HostFacts,
) -> anyhow::Result<Result<Option<UpgradePlan>, Refusal>> {
    let view = HostView::read(ctx, runner, facts, true)?;
    let selected = super::playbook::select(
        &ctx.root,
        args.playbook.as_deref(),
        super::playbook::effective_uid() == 0,
    )?;
    if let Err(r) = upgrade::playbook_allows(&selected.playbook, &selected.source) {
        return Ok(Err(r));
    }
    let inputs = view.inputs();
    let choice = match &args.to {
        Some(v) => TargetChoice::Exact(v.clone()),
        None => TargetChoice::Latest,
    };
    let target = match upgrade::choose_target(&inputs, &choice).and_then(|t| {
        upgrade::check_consistent(&inputs)?;
        Ok(t)
    }) {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    if view
        .loaded
        .as_ref()
        .is_some_and(|l| l.parts() == target.parts())
    {
        return Ok(Ok(None));
    }
    let pins = match upgrade::pin_packages(&inputs, &target, &choice) {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    let simulated = match view.host.manager {
        PackageManager::Apt => hostup::apt_simulate(runner, &pins.install),
        PackageManager::Dnf => hostup::dnf_simulate(runner, &pins.install),
    };
    let changes = match simulated {
        Ok(c) => c,
        Err(e) => {
            return Ok(Err(Refusal {
                code: exit::UNAVAILABLE,
                reason: format!("the package manager cannot resolve the upgrade: {e}"),
                hint: None,
            }))
        }
    };
    Ok(upgrade::make_plan(
        &inputs,
        PlanParts {
            target,
            install: pins.install,
            rollback: pins.rollback,
            changes,
            reload_stops: reload_stops(facts, args),
            notes: pins.notes,
        },
    )
    .map(Some))
}

/// What a reload would stop on this host now (the reload plan as if the new modules were in place).
fn reload_stops(facts: &HostFacts, args: &UpgradeArgs) -> Vec<String> {
    reload_preview(facts, args)
        .map(|p| {
            p.services
                .iter()
                .cloned()
                .chain(
                    p.processes
                        .iter()
                        .map(|t| format!("pid {} {} ({})", t.pid, t.command, t.user)),
                )
                .collect()
        })
        .unwrap_or_default()
}

fn reload_preview(facts: &HostFacts, args: &UpgradeArgs) -> Option<crate::model::plan::ReloadPlan> {
    let mut d = diagnose(facts);
    d.action = Action::Reload;
    d.preflight.clear();
    make_reload_plan(facts, &d, &plan_options(args)).ok()
}

pub(super) fn plan_options(args: &UpgradeArgs) -> PlanOptions {
    PlanOptions {
        kill: args.kill,
        allow_display_stop: args.allow_display_stop,
        grace_secs: args.grace,
    }
}

fn dry_run(ctx: &Context, args: &UpgradeArgs, runner: &dyn CommandRunner) -> anyhow::Result<i32> {
    let mut report = UpgradeReport::new(true);
    match hostup::load_journal(&ctx.root) {
        Ok(Some(j)) => {
            report.message = format!(
                "an upgrade to {} is unfinished (phase {:?}): sudo nvfix upgrade --resume finishes it",
                j.plan.to_version, j.phase
            );
            report.plan = Some(j.plan);
            report.exit_status = exit::OK;
            return print(ctx, args, &report);
        }
        Ok(None) => {}
        Err(e) => eprintln!("nvfix: warning: {e}"),
    }
    let facts = ctx.gather_with(true, true);
    report.exit_status = match plan(ctx, args, runner, &facts)? {
        Ok(Some(p)) => {
            report.message = "dry run: nothing was changed".into();
            report.plan = Some(p);
            exit::OK
        }
        Ok(None) => {
            report.message = already_message(&facts);
            exit::OK
        }
        Err(r) => {
            let code = r.code;
            report.refusal = Some(r);
            code
        }
    };
    print(ctx, args, &report)
}

pub(super) fn already_message(facts: &HostFacts) -> String {
    format!(
        "nothing to upgrade: {} is the newest version of its branch the repositories offer",
        facts
            .loaded_driver
            .as_ref()
            .map_or("the loaded driver".to_string(), |d| d
                .version
                .as_str()
                .to_string())
    )
}

pub(super) fn print(
    ctx: &Context,
    args: &UpgradeArgs,
    report: &UpgradeReport,
) -> anyhow::Result<i32> {
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(report)?);
    } else {
        crate::out!("{}", view::report_text(report, ctx.color));
    }
    Ok(report.exit_status)
}

fn check(ctx: &Context, args: &UpgradeArgs, runner: &dyn CommandRunner) -> anyhow::Result<i32> {
    let facts = ctx.gather_with(true, false);
    let view = HostView::read(ctx, runner, &facts, false)?;
    let inputs = view.inputs();
    let blockers = view.loaded.as_ref().map(|_| {
        reload_preview(&facts, args)
            .map(|p| {
                p.blockers
                    .iter()
                    .filter(|b| !b.is_preflight())
                    .map(|b| b.message.clone())
                    .collect()
            })
            .unwrap_or_else(|| vec!["no reload plan can be made on this host".to_string()])
    });
    let result = upgrade::check(&inputs, blockers);
    if let Some(path) = &args.textfile {
        let text = crate::render::upgrade::upgrade_metrics(&result);
        if path.as_os_str() == "-" {
            crate::out!("{text}");
        } else {
            crate::host::atomic_write::write_file(
                path,
                text.as_bytes(),
                0o644,
                crate::host::atomic_write::DirRule::Shared { create_mode: 0o755 },
            )?;
        }
        if !args.json {
            return Ok(exit::OK);
        }
    }
    if args.json {
        let mut v = serde_json::to_value(&result)?;
        v["schema"] = "nvfix.upgrade-check/v1".into();
        crate::outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        crate::out!("{}", view::check_text(&result));
    }
    Ok(exit::OK)
}
