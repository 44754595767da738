//! The journaled run of `nvfix upgrade` under the run lock: trial, release, install, reload (or the playbook's
//! decision), hold; the resume from the journal; and `nvfix auto`'s finishing of an upgrade whose new version it
//! loaded.

use super::{already_message, plan, plan_options, PAUSE_ENV};
use crate::cli::UpgradeArgs;
use crate::commands::Context;
use crate::exit;
use crate::host::hold::read_host_packages;
use crate::host::nvml_gate::{LockHeld, NvmlLock};
use crate::host::reload::{
    signals, AutoYes, ConsoleUi, ExecOptions, Executor, Journal, LiveHost, Prompter,
};
use crate::host::run_lock::RunLock;
use crate::host::runner::{CommandRunner, SystemRunner};
use crate::host::upgrade as hostup;
use crate::model::auto::ActionRecord;
use crate::model::facts::HostFacts;
use crate::model::plan::{make_plan as make_reload_plan, Refusal};
use crate::model::upgrade::{
    self, ResumeStep, UpgradeJournal, UpgradePhase, UpgradePlan, JOURNAL_FORMAT,
};
use crate::model::verdict::diagnose;
use crate::model::version::DriverVersion;
use crate::render::upgrade::{self as view, UpgradeReport};

/// One upgrade run under the lock: its steps append to the report.
pub(super) struct Run<'a> {
    pub ctx: &'a Context,
    pub args: &'a UpgradeArgs,
    pub runner: &'a dyn CommandRunner,
    pub lock: &'a RunLock,
    pub report: UpgradeReport,
}

impl Run<'_> {
    pub fn print(&self) -> anyhow::Result<i32> {
        super::print(self.ctx, self.args, &self.report)
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

    pub fn start(&mut self) -> i32 {
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
            eprint!("{}", view::plan_text(&plan));
        }
        if plan.manager == crate::model::hold::PackageManager::Dnf {
            let refusal = super::dnf_not_run(&plan);
            let code = refusal.code;
            self.report.plan = Some(plan);
            self.report.refusal = Some(refusal);
            return code;
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
        if let Err(code) = self.trial(&plan, &running) {
            self.report.plan = Some(plan);
            return code;
        }
        if signals::interrupted() {
            let _ = hostup::remove_trial(&self.ctx.root);
            self.report.plan = Some(plan);
            self.report.message =
                "interrupted before anything changed: nothing was installed".into();
            return exit::PROBLEM;
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

    /// The trial: the new modules built and judged by the pre-flight before anything changes. `Err(status)` refuses.
    fn trial(&mut self, plan: &UpgradePlan, running: &str) -> Result<(), i32> {
        self.say(
            "trial: downloading and building the new modules in /var/lib/nvfix/upgrade-trial (nothing on the host \
             changes)",
        );
        let t0 = std::time::Instant::now();
        let trial = match hostup::run_trial(&self.ctx.root, self.runner, plan, running) {
            Ok(t) => t,
            Err(failure) => {
                self.report.refusal = Some(Refusal {
                    code: exit::UNAVAILABLE,
                    reason: format!(
                        "{}: nothing was changed, the loaded driver keeps running",
                        failure.message
                    ),
                    hint: failure.log.as_ref().map(|l| format!("less {l}")),
                });
                self.report.trial_failure = Some(failure);
                return Err(exit::UNAVAILABLE);
            }
        };
        let findings: Vec<_> = trial.iter().flat_map(|t| t.findings.clone()).collect();
        self.report.trial = trial;
        if !findings.is_empty() {
            let _ = hostup::remove_trial(&self.ctx.root);
            let messages: Vec<String> = findings.iter().map(|f| f.message.clone()).collect();
            self.report.refusal = Some(Refusal {
                code: exit::UNAVAILABLE,
                reason: format!(
                    "the running kernel would refuse the new modules: {}; nothing was changed",
                    messages.join("; ")
                ),
                hint: findings.first().map(|f| f.fix.clone()),
            });
            return Err(exit::UNAVAILABLE);
        }
        self.done(
            "trial",
            true,
            format!(
                "the new modules built and pass the pre-flight ({} s)",
                t0.elapsed().as_secs()
            ),
        );
        Ok(())
    }

    pub fn resume(&mut self, mut journal: UpgradeJournal) -> i32 {
        let host = read_host_packages(&self.ctx.root, self.runner, true)
            .ok()
            .flatten();
        let installed = host.map(|h| h.installed).unwrap_or_default();
        let facts = self.facts(false);
        let loaded = facts.loaded_driver.as_ref().map(|d| d.version.clone());
        let step = upgrade::resume_step(&journal.plan, &installed, loaded.as_ref());
        if step == ResumeStep::Install {
            // An install nvfix was killed in keeps running in its own process group: let it finish first.
            let busy = hostup::package_manager_busy(&self.ctx.root);
            if !busy.is_empty() {
                self.report.plan = Some(journal.plan);
                self.report.message = format!(
                    "the package manager is busy ({}): the interrupted install may still be running; run nvfix \
                     upgrade --resume again when it has finished",
                    busy.join("; ")
                );
                return exit::TEMP_FAIL;
            }
        }
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
            if signals::interrupted() {
                self.report.message = format!(
                    "interrupted after the install: {} is installed, the old module is still loaded (new programs \
                     fail with \"Driver/library version mismatch\"); sudo nvfix upgrade --resume finishes",
                    journal.plan.to_version
                );
                return exit::PROBLEM;
            }
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
        let t0 = std::time::Instant::now();
        if let Err(e) = hostup::apt_install(self.runner, &plan.install) {
            self.done("install", false, e.clone());
            self.save(journal, UpgradePhase::InstallFailed, Some(e.clone()));
            // Hold again whatever is installed now: the next automatic upgrade must not finish it unseen.
            if let Err(h) =
                crate::commands::hold::hold_under_lock(&self.ctx.root, self.runner, self.lock)
            {
                self.report.problems.push(format!(
                    "holding the packages again failed: {h:#}; run sudo nvfix hold"
                ));
            }
            let facts = self.facts(false);
            self.report.message = view::install_failed_message(&plan, &facts, &e);
            return Some(exit::PROBLEM);
        }
        self.done(
            "install",
            true,
            format!(
                "{} ({} s)",
                plan.install_args().join(" "),
                t0.elapsed().as_secs()
            ),
        );
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
        let selected = match crate::commands::playbook::select(&self.ctx.root, Some(name), true) {
            Ok(s) => s,
            Err(e) => {
                self.report.message =
                    format!("{e}; the new driver is installed, the old module still loaded");
                return Some(e.code);
            }
        };
        let input = crate::commands::auto::AutoInput {
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
        let mut engine = crate::commands::auto::ExecutorEngine {
            lock: Some(self.lock),
            root: self.ctx.root.clone(),
            nvml_lib: self.ctx.nvml_lib.clone(),
            quiet: self.args.json,
            module_timeout: std::time::Duration::from_secs(self.args.module_timeout),
        };
        let auto = crate::commands::auto::run_auto(&input, self.runner, &mut engine);
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
        match crate::commands::hold::hold_under_lock(&self.ctx.root, self.runner, self.lock) {
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
    let held = crate::commands::hold::hold_under_lock(&ctx.root, &runner, lock);
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
