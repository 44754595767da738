//! `nvfix upgrade`: move a held driver to a new version as one planned, journaled step — plan (apt's simulation),
//! trial (build and pre-flight the new modules before anything changes), release the hold, install, reload (or let
//! the playbook decide), verify, hold again. `--check` says whether there is anything to upgrade to.

use super::doc::{general, own, CommandDoc};
use super::Context;
use crate::cli::UpgradeArgs;
use crate::error::Failure;
use crate::exit;
use crate::host::hold::read_host_packages;
use crate::host::nvml_gate::{LockHeld, NvmlLock};
use crate::host::reload::{
    signals, AutoYes, ConsoleUi, ExecOptions, Executor, Journal, LiveHost, Prompter,
};
use crate::host::run_lock::RunLock;
use crate::host::runner::{CommandRunner, RecordingRunner, SystemRunner};
use crate::host::upgrade as hostup;
use crate::model::auto::ActionRecord;
use crate::model::facts::HostFacts;
use crate::model::plan::{make_plan as make_reload_plan, PlanOptions, Refusal};
use crate::model::upgrade::{
    self, PlanParts, ResumeStep, TargetChoice, UpgradeInputs, UpgradeJournal, UpgradePhase,
    UpgradePlan, JOURNAL_FORMAT,
};
use crate::model::verdict::{diagnose, Action};
use crate::model::version::DriverVersion;
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
         builds them there in a private tree (the system's DKMS tree and /lib/modules are not touched), and the \
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
            "Refused before anything changed: no newer version, a kernel without a module, the trial build failed, \
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

/// Plans from the host as it is; the plan or the refusal. `Ok(None)`: already at the target.
fn plan(
    ctx: &Context,
    args: &UpgradeArgs,
    runner: &dyn CommandRunner,
    facts: &HostFacts,
) -> anyhow::Result<Result<Option<UpgradePlan>, Refusal>> {
    let host = read_host_packages(&ctx.root, runner, ctx.root.is_system())?.ok_or_else(|| {
        Failure::new(
            exit::UNAVAILABLE,
            "no package manager found (no /var/lib/dpkg/status)",
        )
    })?;
    if host.manager != crate::model::hold::PackageManager::Apt {
        return Ok(Err(Refusal {
            code: exit::UNAVAILABLE,
            reason: "nvfix upgrade supports apt hosts; on dnf hosts: sudo nvfix hold --undo, sudo dnf upgrade \
                     'nvidia-driver*' 'kmod-nvidia*', wait for akmods/DKMS, sudo nvfix reload, sudo nvfix hold"
                .into(),
            hint: None,
        }));
    }
    let selected = super::playbook::select(
        &ctx.root,
        args.playbook.as_deref(),
        super::playbook::effective_uid() == 0,
    )?;
    if let Err(r) = upgrade::playbook_allows(&selected.playbook, &selected.source) {
        return Ok(Err(r));
    }
    let names: Vec<String> = crate::model::hold::hold_candidates(&host.installed)
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let policies =
        hostup::apt_policies(runner, &names).map_err(|e| Failure::new(exit::UNAVAILABLE, e))?;
    let loaded = facts.loaded_driver.as_ref().map(|d| d.version.clone());
    let library = facts.nvml_library.as_ref().map(|l| l.version.clone());
    let next = crate::model::guards::next_boot_kernel(&crate::host::reboot::boot_config(&ctx.root));
    let headers = hostup::kernels_with_headers(&ctx.root);
    let running = facts.kernel_release.clone().unwrap_or_default();
    let inputs = UpgradeInputs {
        manager: host.manager,
        installed: &host.installed,
        hold_state: host.state.as_ref(),
        policies: &policies,
        loaded: loaded.as_ref(),
        library: library.as_ref(),
        running_kernel: &running,
        next_kernel: next.kernel.as_deref(),
        kernels_with_headers: &headers,
        package_manager_busy: hostup::package_manager_busy(&ctx.root),
    };
    let choice = match (&args.to, args.latest) {
        (Some(v), _) => TargetChoice::Exact(v.clone()),
        _ => TargetChoice::Latest,
    };
    let target = match upgrade::choose_target(&inputs, &choice).and_then(|t| {
        upgrade::check_consistent(&inputs)?;
        Ok(t)
    }) {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    if loaded.as_ref().is_some_and(|l| l.parts() == target.parts()) {
        return Ok(Ok(None));
    }
    let (install, rollback, notes) = match upgrade::pin_packages(&inputs, &target, &choice) {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    let changes = match hostup::apt_simulate(runner, &install) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Err(Refusal {
                code: exit::UNAVAILABLE,
                reason: format!("apt cannot resolve the upgrade: {e}"),
                hint: None,
            }))
        }
    };
    Ok(upgrade::make_plan(
        &inputs,
        PlanParts {
            target,
            install,
            rollback,
            changes,
            reload_stops: reload_stops(facts, args),
            notes,
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

fn plan_options(args: &UpgradeArgs) -> PlanOptions {
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

fn already_message(facts: &HostFacts) -> String {
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

fn print(ctx: &Context, args: &UpgradeArgs, report: &UpgradeReport) -> anyhow::Result<i32> {
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(report)?);
    } else {
        crate::out!("{}", view::report_text(report, ctx.color));
    }
    Ok(report.exit_status)
}

fn check(ctx: &Context, args: &UpgradeArgs, runner: &dyn CommandRunner) -> anyhow::Result<i32> {
    let facts = ctx.gather_with(true, false);
    let host = read_host_packages(&ctx.root, runner, ctx.root.is_system())?.ok_or_else(|| {
        Failure::new(
            exit::UNAVAILABLE,
            "no package manager found (no /var/lib/dpkg/status)",
        )
    })?;
    let names: Vec<String> = crate::model::hold::hold_candidates(&host.installed)
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let policies = if names.is_empty() {
        Vec::new()
    } else {
        hostup::apt_policies(runner, &names).map_err(|e| Failure::new(exit::UNAVAILABLE, e))?
    };
    let loaded = facts.loaded_driver.as_ref().map(|d| d.version.clone());
    let library = facts.nvml_library.as_ref().map(|l| l.version.clone());
    let running = facts.kernel_release.clone().unwrap_or_default();
    let inputs = UpgradeInputs {
        manager: host.manager,
        installed: &host.installed,
        hold_state: host.state.as_ref(),
        policies: &policies,
        loaded: loaded.as_ref(),
        library: library.as_ref(),
        running_kernel: &running,
        next_kernel: None,
        kernels_with_headers: &[],
        package_manager_busy: Vec::new(),
    };
    let blockers = loaded.as_ref().map(|_| {
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
        let text = crate::render::metrics::upgrade_metrics(&result);
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

/// One upgrade run under the lock: its steps append to the report.
struct Run<'a> {
    ctx: &'a Context,
    args: &'a UpgradeArgs,
    runner: &'a dyn CommandRunner,
    lock: &'a RunLock,
    report: UpgradeReport,
}

impl Run<'_> {
    fn print(&self) -> anyhow::Result<i32> {
        print(self.ctx, self.args, &self.report)
    }

    fn facts(&self, holders: bool) -> HostFacts {
        self.ctx.gather_under_lock(holders, holders, self.lock)
    }

    fn say(&self, line: &str) {
        if !self.args.json {
            eprintln!("nvfix upgrade: {line}");
        }
    }

    fn done(&mut self, label: &str, ok: bool, detail: impl Into<String>) {
        self.report.actions.push(ActionRecord {
            kind: "upgrade".into(),
            label: label.into(),
            command: None,
            ok: Some(ok),
            detail: detail.into(),
        });
    }

    fn start(&mut self) -> i32 {
        let facts = self.facts(true);
        let plan = match plan(self.ctx, self.args, self.runner, &facts) {
            Ok(Ok(Some(p))) => p,
            Ok(Ok(None)) => {
                self.report.message = already_message(&facts);
                return exit::OK;
            }
            Ok(Err(r)) => {
                let code = r.code;
                self.report.refusal = Some(r);
                return code;
            }
            Err(e) => {
                self.report.message = format!("{e:#}");
                return crate::error::exit_code_for(&e);
            }
        };
        if !self.args.json {
            eprint!("{}", view::plan_text(&plan, self.ctx.color));
        }
        if !self.args.yes
            && !ConsoleUi::default().confirm(
                &format!(
                    "Upgrade the driver from {} to {}?",
                    plan.from_version, plan.to_version
                ),
                &[],
            )
        {
            self.report.plan = Some(plan);
            self.report.message = "not confirmed: nothing was changed".into();
            return exit::OK;
        }
        let running = facts.kernel_release.clone().unwrap_or_default();
        self.say("trial: downloading and building the new modules in /var/lib/nvfix/upgrade-trial (nothing on the host changes)");
        match hostup::run_trial(&self.ctx.root, self.runner, &plan, &running) {
            Ok(trial) => {
                let findings: Vec<_> = trial.iter().flat_map(|t| t.findings.clone()).collect();
                self.report.trial = trial;
                if !findings.is_empty() {
                    let _ = hostup::remove_trial(&self.ctx.root);
                    self.report.plan = Some(plan);
                    self.report.refusal = Some(Refusal {
                        code: exit::UNAVAILABLE,
                        reason: format!(
                            "the running kernel would refuse the new modules: {}",
                            findings
                                .iter()
                                .map(|f| f.message.clone())
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                        hint: findings.first().map(|f| f.fix.clone()),
                    });
                    return exit::UNAVAILABLE;
                }
                self.done(
                    "trial",
                    true,
                    "the new modules built and pass the pre-flight",
                );
            }
            Err(failure) => {
                self.report.plan = Some(plan);
                self.report.refusal = Some(Refusal {
                    code: exit::UNAVAILABLE,
                    reason: format!(
                        "{}: nothing was changed, the loaded driver keeps running",
                        failure.message
                    ),
                    hint: failure.log.as_ref().map(|l| format!("less {l}")),
                });
                self.report.trial_failure = Some(failure);
                return exit::UNAVAILABLE;
            }
        }
        let mut journal = UpgradeJournal {
            format: JOURNAL_FORMAT,
            started_at: now(),
            phase: UpgradePhase::Releasing,
            plan,
            detail: None,
        };
        if let Err(e) = hostup::save_journal(&self.ctx.root, &journal) {
            self.report.message =
                format!("cannot write the upgrade journal: {e}; nothing was changed");
            return exit::PROBLEM;
        }
        self.continue_from(&mut journal, ResumeStep::Install)
    }

    fn resume(&mut self, mut journal: UpgradeJournal) -> i32 {
        let host = read_host_packages(&self.ctx.root, self.runner, true)
            .ok()
            .flatten();
        let installed = host.map(|h| h.installed).unwrap_or_default();
        let facts = self.facts(false);
        let loaded = facts.loaded_driver.as_ref().map(|d| d.version.clone());
        let step = upgrade::resume_step(&journal.plan, &installed, loaded.as_ref());
        self.say(&format!(
            "resuming the upgrade to {} (journal phase {:?}): next {:?}",
            journal.plan.to_version, journal.phase, step
        ));
        self.done(
            "resume",
            true,
            format!("journal phase {:?}, next step {step:?}", journal.phase),
        );
        self.continue_from(&mut journal, step)
    }

    fn save(&mut self, journal: &mut UpgradeJournal, phase: UpgradePhase, detail: Option<String>) {
        journal.phase = phase;
        journal.detail = detail;
        if let Err(e) = hostup::save_journal(&self.ctx.root, journal) {
            self.report
                .problems
                .push(format!("cannot update the upgrade journal: {e}"));
        }
        let pause = std::env::var(PAUSE_ENV).unwrap_or_default();
        let name = serde_json::to_value(phase)
            .ok()
            .and_then(|v| v.as_str().map(String::from));
        if !pause.is_empty() && name.as_deref() == Some(pause.as_str()) {
            self.say(&format!("test pause after phase {pause}"));
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }

    fn continue_from(&mut self, journal: &mut UpgradeJournal, mut step: ResumeStep) -> i32 {
        self.report.plan = Some(journal.plan.clone());
        if step == ResumeStep::Install {
            if let Some(code) = self.install(journal) {
                return code;
            }
            step = ResumeStep::Reload;
        }
        if step == ResumeStep::Reload {
            if let Some(code) = self.reload(journal) {
                return code;
            }
        }
        self.hold(journal)
    }

    /// Release, install, check DKMS. `Some(code)` stops the run.
    fn install(&mut self, journal: &mut UpgradeJournal) -> Option<i32> {
        let plan = journal.plan.clone();
        if let Err(e) = hostup::release_holds(self.runner, &plan.release_holds) {
            self.done("release the hold", false, e.clone());
            self.report.message = format!("{e}; nothing was installed");
            return Some(exit::PROBLEM);
        }
        self.done("release the hold", true, plan.release_holds.join(" "));
        self.save(journal, UpgradePhase::Installing, None);
        self.say(&format!(
            "installing {}{}",
            plan.install_args().join(" "),
            if plan.dkms_kernels().is_empty() {
                ""
            } else {
                " (DKMS builds the modules: minutes)"
            }
        ));
        if let Err(e) = hostup::apt_install(self.runner, &plan.install) {
            self.done("install", false, e.clone());
            self.save(journal, UpgradePhase::InstallFailed, Some(e.clone()));
            // Hold again whatever is installed now: the next automatic upgrade must not finish it unseen.
            let _ = super::hold::hold_under_lock(&self.ctx.root, self.runner, self.lock);
            let facts = self.facts(false);
            self.report.message = view::install_failed_message(&plan, &facts, &e);
            return Some(exit::PROBLEM);
        }
        self.done("install", true, plan.install_args().join(" "));
        match hostup::dkms_missing(self.runner, &plan) {
            Ok(missing) if missing.is_empty() => {}
            Ok(missing) => {
                self.save(
                    journal,
                    UpgradePhase::InstallFailed,
                    Some(missing.join("; ")),
                );
                self.report.message = format!(
                    "{}; the old driver is still loaded. Look at dkms status, then sudo nvfix upgrade --resume",
                    missing.join("; ")
                );
                return Some(exit::PROBLEM);
            }
            Err(e) => self.report.problems.push(e),
        }
        self.save(journal, UpgradePhase::Installed, None);
        None
    }

    /// The reload: the playbook's decision (`auto`) with --playbook, else the reload engine.
    fn reload(&mut self, journal: &mut UpgradeJournal) -> Option<i32> {
        let target = journal.plan.to_version.clone();
        if let Some(name) = &self.args.playbook {
            return self.reload_by_playbook(journal, name);
        }
        let facts = self.facts(true);
        let diagnosis = diagnose(&facts);
        let mut plan = match make_reload_plan(&facts, &diagnosis, &plan_options(self.args)) {
            Ok(p) => p,
            Err(r) => return Some(self.reload_refused(r, &target)),
        };
        if plan.baseline.device_count.is_none() {
            plan.baseline.device_count = crate::host::reload::view::gpu_count(&self.ctx.root);
        }
        if let Some(r) = plan.refusal() {
            return Some(self.reload_refused(r, &target));
        }
        let host = LiveHost::new(&self.ctx.root, self.ctx.nvml_lib.clone(), self.lock);
        let mut auto = AutoYes {
            quiet: self.args.json,
        };
        let mut console = ConsoleUi::default();
        let ui: &mut dyn Prompter = if self.args.yes {
            &mut auto
        } else {
            &mut console
        };
        let opts = ExecOptions::live(
            Journal::path(&self.ctx.root),
            std::time::Duration::from_secs(self.args.module_timeout),
        );
        let exec = Executor::new(host.seams(), ui, opts).execute(&plan);
        let fixed = matches!(exec.outcome, crate::host::reload::Outcome::Fixed);
        self.done(
            "reload",
            fixed,
            format!(
                "{:?}{}",
                exec.outcome,
                exec.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        );
        let code = exec.exit_code();
        self.report.reload = Some(exec);
        if !fixed {
            self.report.message = format!(
                "the new driver {target} is installed but the reload did not complete; the old module is loaded again. \
                 Programs keep running on it; new ones fail with \"Driver/library version mismatch\" until \
                 sudo nvfix upgrade --resume (or nvfix auto) swaps the modules"
            );
            return Some(if code == exit::OK {
                exit::PROBLEM
            } else {
                code
            });
        }
        self.save(journal, UpgradePhase::Reloaded, None);
        None
    }

    fn reload_refused(&mut self, r: Refusal, target: &str) -> i32 {
        self.done("reload", false, r.reason.clone());
        self.report.message = format!(
            "the new driver {target} is installed, but nvfix will not reload now: {}. The old module stays loaded: \
             running programs keep working, new ones fail with \"Driver/library version mismatch\" until the modules \
             are swapped: sudo nvfix upgrade --resume (after {}), or sudo nvfix reboot",
            r.reason,
            r.hint.as_deref().unwrap_or("the holders are gone")
        );
        if r.code == exit::OK {
            exit::PROBLEM
        } else {
            r.code
        }
    }

    fn reload_by_playbook(&mut self, journal: &mut UpgradeJournal, name: &str) -> Option<i32> {
        let selected = match super::playbook::select(&self.ctx.root, Some(name), true) {
            Ok(s) => s,
            Err(e) => {
                self.report.message =
                    format!("{e}; the new driver is installed, the old module still loaded");
                return Some(e.code);
            }
        };
        let input = super::auto::AutoInput {
            root: self.ctx.root.clone(),
            nvml_lib: self.ctx.nvml_lib.clone(),
            playbook: selected.playbook,
            playbook_source: selected.source,
            allow_reboot: false,
            dry_run: false,
            now: crate::host::reboot::now(&self.ctx.root),
            live_probes: true,
            nvml_lock: NvmlLock::Held(LockHeld::of(self.lock)),
        };
        let mut engine = super::auto::ExecutorEngine {
            lock: Some(self.lock),
            root: self.ctx.root.clone(),
            nvml_lib: self.ctx.nvml_lib.clone(),
            quiet: self.args.json,
            module_timeout: std::time::Duration::from_secs(self.args.module_timeout),
        };
        let auto = super::auto::run_auto(&input, self.runner, &mut engine);
        let loaded = self.facts(false).loaded_driver.map(|d| d.version);
        let target: Option<DriverVersion> = journal.plan.to_version.parse().ok();
        let reloaded = auto.exit_status == exit::OK && loaded.is_some() && loaded == target;
        self.done(
            "auto",
            reloaded,
            format!("{:?}: {}", auto.outcome, auto.message),
        );
        let code = auto.exit_status;
        self.report.auto = Some(auto);
        if reloaded {
            self.save(journal, UpgradePhase::Reloaded, None);
            return None;
        }
        self.report.message = format!(
            "the new driver {} is installed; the playbook decided not to reload now (exit {code}). A later nvfix \
             auto that reloads finishes the upgrade (holds the new version); so does sudo nvfix upgrade --resume",
            journal.plan.to_version
        );
        Some(if code == exit::OK {
            exit::PROBLEM
        } else {
            code
        })
    }

    fn hold(&mut self, journal: &mut UpgradeJournal) -> i32 {
        match super::hold::hold_under_lock(&self.ctx.root, self.runner, self.lock) {
            Ok(o) => self.done("hold", true, format!("held: {}", o.packages.join(" "))),
            Err(e) => {
                self.done("hold", false, format!("{e:#}"));
                self.report.message = format!(
                    "the new driver {} is loaded and verified, but holding it failed: {e:#}; run sudo nvfix hold",
                    journal.plan.to_version
                );
                return exit::PROBLEM;
            }
        }
        if let Err(e) = hostup::remove_journal(&self.ctx.root) {
            self.report.problems.push(e.to_string());
        }
        let _ = hostup::remove_trial(&self.ctx.root);
        self.report.message = format!(
            "upgraded from {} to {}: loaded, verified, held",
            journal.plan.from_version, journal.plan.to_version
        );
        exit::OK
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Called by `nvfix auto` under its lock after it acted: an unfinished upgrade whose new version is now loaded is
/// finished (held again, journal removed). None when there is no journal or nothing to finish yet.
pub fn finish_after_auto(ctx: &Context, lock: &RunLock) -> Option<ActionRecord> {
    let journal = hostup::load_journal(&ctx.root).ok().flatten()?;
    let runner = SystemRunner;
    let host = read_host_packages(&ctx.root, &runner, true)
        .ok()
        .flatten()?;
    let facts = ctx.gather_under_lock(false, false, lock);
    let loaded = facts.loaded_driver.as_ref().map(|d| d.version.clone());
    if upgrade::resume_step(&journal.plan, &host.installed, loaded.as_ref()) != ResumeStep::Hold {
        return Some(ActionRecord {
            kind: "upgrade".into(),
            label: "an upgrade is unfinished".into(),
            command: Some("sudo nvfix upgrade --resume".into()),
            ok: None,
            detail: format!(
                "to {} (journal phase {:?})",
                journal.plan.to_version, journal.phase
            ),
        });
    }
    let held = super::hold::hold_under_lock(&ctx.root, &runner, lock);
    let ok = held.is_ok();
    if ok {
        let _ = hostup::remove_journal(&ctx.root);
        let _ = hostup::remove_trial(&ctx.root);
    }
    Some(ActionRecord {
        kind: "upgrade".into(),
        label: format!(
            "finish the upgrade to {}: hold the new version",
            journal.plan.to_version
        ),
        command: None,
        ok: Some(ok),
        detail: held.map_or_else(
            |e| format!("{e:#}"),
            |o| format!("held: {}", o.packages.join(" ")),
        ),
    })
}
