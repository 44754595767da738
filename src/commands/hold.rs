//! `nvfix hold`: pin the driver packages, show the pin (`--status`), or release exactly what nvfix pinned (`--undo`).
//!
//! Under a `--root` other than `/` nothing runs for real: the commands and files are shown as a dry run, because
//! apt-mark or dnf would act on this machine, not on the tree.

use super::doc::{general, own, CommandDoc};
use super::Context;
use crate::cli::HoldArgs;
use crate::error::Failure;
use crate::exit;
use crate::host::hold::{execute, read_host_packages, HostPackages, StepError};
use crate::host::run_lock::RunLock;
use crate::host::runner::{CommandRunner, RecordingRunner, SystemRunner};
use crate::host::HostRoot;
use crate::model::hold::{self, HoldStep, PackageManager};
use serde_json::json;

/// `nvfix hold`'s man page text (see `doc.rs`).
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "Pins the installed NVIDIA driver packages so the next automatic upgrade cannot replace the libraries under \
         a running module again: on apt hosts with apt-mark hold and an unattended-upgrades blacklist drop-in \
         (/etc/apt/apt.conf.d/51nvfix-hold), on dnf hosts with dnf versionlock.",
        "nvfix records what it held (/var/lib/nvfix/hold.json), so --undo releases exactly that: packages the admin \
         held before stay held, and the drop-in is removed. --status shows what is held and whether an automatic \
         upgrade could still replace the driver. --dry-run shows the commands and the drop-in without running or \
         writing anything.",
    ],
    exit: &[
        own(
            exit::OK,
            "The packages are held (or released with --undo), or --status found the driver protected.",
        ),
        own(
            exit::PROBLEM,
            "--status: an automatic upgrade could still replace the driver; otherwise apt-mark or dnf failed.",
        ),
        own(exit::UNAVAILABLE, "No supported package manager, or dnf versionlock is not installed."),
        general(exit::TEMP_FAIL),
        own(exit::NO_PERMISSION, "Not root (holding needs root; --status and --dry-run do not)."),
        own(exit::CONFIG, "/etc/apt/apt.conf.d/51nvfix-hold exists but nvfix did not write it."),
    ],
    files: &[
        "/etc/apt/apt.conf.d/51nvfix-hold",
        "/var/lib/nvfix/hold.json",
        "/var/lib/dpkg/status",
        "/run/nvfix/lock",
    ],
    examples: &[
        ("sudo nvfix hold --dry-run", "Show the apt-mark or dnf command and the drop-in without changing anything."),
        ("sudo nvfix hold", "Hold every installed driver package and blacklist them for unattended-upgrades."),
        ("nvfix hold --status", "What is held, and whether an automatic upgrade could still replace the driver."),
        ("sudo nvfix hold --undo", "Release exactly what nvfix held; packages the admin held stay held."),
    ],
    see_also: &["apt-mark(8)", "dnf(8)", "unattended-upgrade(8)"],
};

/// How a hold or undo is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run the commands and write the files.
    Apply,
    /// Only show them.
    DryRun,
}

/// What `hold` or `--undo` did (or would do).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub manager: PackageManager,
    pub mode: Mode,
    /// Every installed driver package.
    pub packages: Vec<String>,
    /// Held (or released, for undo) by this run.
    pub changed: Vec<String>,
    /// Held by someone else: left alone.
    pub left_alone: Vec<String>,
    pub steps: Vec<HoldStep>,
    /// Things the admin must know (a missing versionlock plugin in a dry run).
    pub notes: Vec<String>,
}

fn unavailable(message: impl Into<String>) -> anyhow::Error {
    Failure::new(exit::UNAVAILABLE, message).into()
}

/// Reads the host's packages; no package manager is a failure (69).
fn host_packages(root: &HostRoot, runner: &dyn CommandRunner) -> anyhow::Result<HostPackages> {
    read_host_packages(root, runner, root.is_system())?.ok_or_else(|| {
        unavailable("no package manager found under the root (no /var/lib/dpkg/status, no RPM database or dnf log)")
    })
}

const NO_VERSIONLOCK: &str =
    "dnf versionlock is not available: install it first (`sudo dnf install python3-dnf-plugin-versionlock`)";

/// A missing versionlock plugin stops a real run (69) and is a note in a dry run.
fn check_versionlock(
    host: &HostPackages,
    mode: Mode,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    if host.manager == PackageManager::Dnf && !host.versionlock_available {
        if mode == Mode::Apply {
            return Err(unavailable(NO_VERSIONLOCK));
        }
        notes.push(NO_VERSIONLOCK.to_string());
    }
    Ok(())
}

fn step_failure(e: StepError) -> anyhow::Error {
    match e {
        StepError::Command { .. } => Failure::new(exit::PROBLEM, e.to_string()).into(),
        StepError::Host(h) => anyhow::Error::new(h),
    }
}

/// Runs a plan's steps (or, in a dry run, returns them as planned), after checking that dnf's versionlock plugin
/// is there when `uses_package_manager`. Returns the steps as carried out and any notes.
fn carry_out(
    root: &HostRoot,
    runner: &dyn CommandRunner,
    host: &HostPackages,
    mode: Mode,
    steps: &[hold::HoldStep],
    uses_package_manager: bool,
) -> anyhow::Result<(Vec<hold::HoldStep>, Vec<String>)> {
    let mut notes = Vec::new();
    if uses_package_manager {
        check_versionlock(host, mode, &mut notes)?;
    }
    let steps = match mode {
        Mode::Apply => execute(root, runner, steps).map_err(step_failure)?,
        Mode::DryRun => steps.to_vec(),
    };
    Ok((steps, notes))
}

/// Applying takes the run lock before the packages are even read (75 when another nvfix holds it); a dry run none.
fn lock_to_apply(root: &HostRoot, mode: Mode) -> Result<Option<RunLock>, Failure> {
    match mode {
        Mode::Apply => super::take_run_lock(root).map(Some),
        Mode::DryRun => Ok(None),
    }
}

/// Holds the driver packages under `root`: the library entry the CLI and tests share. `Mode::DryRun` runs nothing.
pub fn hold(root: &HostRoot, runner: &dyn CommandRunner, mode: Mode) -> anyhow::Result<Outcome> {
    let _lock = lock_to_apply(root, mode)?;
    hold_packages(root, runner, mode)
}

/// `hold` for a command that already holds the run lock (`nvfix upgrade` holding the new version).
pub fn hold_under_lock(
    root: &HostRoot,
    runner: &dyn CommandRunner,
    _lock: &RunLock,
) -> anyhow::Result<Outcome> {
    hold_packages(root, runner, Mode::Apply)
}

fn hold_packages(
    root: &HostRoot,
    runner: &dyn CommandRunner,
    mode: Mode,
) -> anyhow::Result<Outcome> {
    let host = host_packages(root, runner)?;
    if let Some(text) = &host.dropin {
        if !hold::is_nvfix_dropin(text) {
            return Err(Failure::new(
                exit::CONFIG,
                format!(
                    "{} exists but nvfix did not write it: move it away, then run nvfix hold again",
                    hold::DROPIN_PATH
                ),
            )
            .into());
        }
    }
    let plan = hold::plan_hold(
        host.manager,
        &host.installed,
        host.state.as_ref(),
        host.dropin.as_deref(),
    );
    let (steps, notes) = carry_out(
        root,
        runner,
        &host,
        mode,
        &plan.steps,
        !plan.steps.is_empty(),
    )?;
    Ok(Outcome {
        manager: host.manager,
        mode,
        packages: plan.packages,
        changed: plan.to_hold,
        left_alone: plan.held_by_admin,
        steps,
        notes,
    })
}

/// Releases exactly what nvfix held under `root`.
pub fn undo(root: &HostRoot, runner: &dyn CommandRunner, mode: Mode) -> anyhow::Result<Outcome> {
    let _lock = lock_to_apply(root, mode)?;
    let host = host_packages(root, runner)?;
    let plan = hold::plan_undo(
        host.manager,
        &host.installed,
        host.state.as_ref(),
        host.dropin.as_deref(),
    );
    let (steps, notes) = carry_out(
        root,
        runner,
        &host,
        mode,
        &plan.steps,
        !plan.to_release.is_empty(),
    )?;
    Ok(Outcome {
        manager: host.manager,
        mode,
        packages: hold::hold_candidates(&host.installed)
            .iter()
            .map(|p| p.name.clone())
            .collect(),
        changed: plan.to_release,
        left_alone: plan.kept,
        steps,
        notes,
    })
}

/// The hold status under `root` (reads files only; on the live RHEL host also `rpm -qa`).
pub fn status(root: &HostRoot, runner: &dyn CommandRunner) -> anyhow::Result<hold::HoldStatus> {
    let host = host_packages(root, runner)?;
    Ok(hold::hold_status(
        host.manager,
        &host.installed,
        host.unattended.as_ref(),
        host.state.as_ref(),
        host.dropin.as_deref(),
    ))
}

fn is_root_user() -> bool {
    rustix::process::geteuid().is_root()
}

pub fn run(ctx: &Context, args: &HoldArgs) -> anyhow::Result<i32> {
    // Read-only queries never change the host; the recorder keeps them off a machine that is not the root.
    let live = ctx.root.is_system();
    let recorder = RecordingRunner::new();
    let system = SystemRunner;
    let runner: &dyn CommandRunner = if live { &system } else { &recorder };
    if args.status {
        let st = status(&ctx.root, runner)?;
        if args.json {
            crate::outln!("{}", serde_json::to_string_pretty(&st)?);
        } else {
            crate::out!("{}", status_text(&st));
        }
        return Ok(if st.at_risk { exit::PROBLEM } else { exit::OK });
    }
    let mode = if args.dry_run || !live {
        Mode::DryRun
    } else {
        Mode::Apply
    };
    if mode == Mode::Apply && !is_root_user() {
        return Err(Failure::new(
            exit::NO_PERMISSION,
            "nvfix hold changes package state: run it as root (sudo), or add --dry-run to see what it would do",
        )
        .into());
    }
    let outcome = if args.undo {
        undo(&ctx.root, runner, mode)?
    } else {
        hold(&ctx.root, runner, mode)?
    };
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&outcome_json(&outcome, args.undo, live))?
        );
    } else {
        crate::out!("{}", outcome_text(&outcome, args.undo, live));
    }
    Ok(exit::OK)
}

fn outcome_json(o: &Outcome, undo: bool, live: bool) -> serde_json::Value {
    json!({
        "action": if undo { "undo" } else { "hold" },
        "manager": o.manager.as_str(),
        "dry_run": o.mode == Mode::DryRun,
        "root_is_live": live,
        "packages": o.packages,
        if undo { "released" } else { "held" }: o.changed,
        "left_alone": o.left_alone,
        "steps": o.steps.iter().map(HoldStep::describe).collect::<Vec<_>>(),
        "notes": o.notes,
    })
}

/// The human account of a hold or undo.
pub fn outcome_text(o: &Outcome, undo: bool, live: bool) -> String {
    let mut out = String::new();
    let dry = o.mode == Mode::DryRun;
    if dry && !live {
        out.push_str(
            "--root is not /: nothing is run or written here; this is what nvfix would do:\n",
        );
    } else if dry {
        out.push_str("dry run: nothing is run or written; this is what nvfix would do:\n");
    }
    if o.packages.is_empty() && !undo {
        out.push_str("No NVIDIA driver packages are installed: nothing to hold.\n");
        return out;
    }
    let tool = match o.manager {
        PackageManager::Apt => "apt-mark",
        PackageManager::Dnf => "dnf versionlock",
    };
    if undo {
        if o.steps.is_empty() {
            out.push_str("nvfix has held nothing on this host: nothing to undo.\n");
        } else if o.changed.is_empty() {
            out.push_str("No package is still held by nvfix.\n");
        } else {
            out.push_str(&format!(
                "Releasing {} package(s) nvfix held ({tool}): {}\n",
                o.changed.len(),
                o.changed.join(", ")
            ));
        }
    } else if o.steps.is_empty() {
        out.push_str(&format!(
            "All {} NVIDIA driver package(s) are already held; nothing to do.\n",
            o.packages.len()
        ));
    } else if o.changed.is_empty() {
        out.push_str("Every driver package is already held; updating nvfix's files.\n");
    } else {
        out.push_str(&format!(
            "Holding {} NVIDIA driver package(s) with {tool}: {}\n",
            o.changed.len(),
            o.changed.join(", ")
        ));
    }
    for step in &o.steps {
        let verb = if dry { "would" } else { "done:" };
        out.push_str(&format!("  {verb} {}\n", step.describe()));
    }
    if !o.left_alone.is_empty() {
        out.push_str(&format!(
            "Held before nvfix ran (left alone{}): {}\n",
            if undo {
                ", still held"
            } else {
                "; --undo will not release them"
            },
            o.left_alone.join(", ")
        ));
    }
    for note in &o.notes {
        out.push_str(&format!("Note: {note}\n"));
    }
    if !undo && !o.steps.is_empty() {
        out.push_str(
            "To upgrade the driver on purpose: sudo nvfix hold --undo, upgrade, then sudo nvfix hold again.\n",
        );
    }
    out
}

/// The human `--status` report.
pub fn status_text(st: &hold::HoldStatus) -> String {
    let mut out = String::new();
    if st.packages.is_empty() {
        out.push_str("No NVIDIA driver packages are installed.\n");
        return out;
    }
    out.push_str(&format!(
        "NVIDIA driver packages ({}):\n",
        st.manager.as_str()
    ));
    for p in &st.packages {
        let how = match (p.held, p.by_nvfix, p.blacklisted) {
            (true, true, _) => "held by nvfix",
            (true, false, _) => "held",
            (false, _, true) => "blacklisted for unattended-upgrades only",
            (false, _, false) => "NOT held",
        };
        out.push_str(&format!("  {:<44} {how}\n", p.name));
    }
    if st.manager == PackageManager::Apt {
        out.push_str(&format!(
            "nvfix drop-in {}: {}\n",
            hold::DROPIN_PATH,
            if st.dropin { "present" } else { "absent" }
        ));
        out.push_str(&format!(
            "unattended-upgrades: {}\n",
            match st.unattended_enabled {
                Some(true) => "enabled",
                Some(false) => "disabled or not installed",
                None => "unknown",
            }
        ));
    }
    if st.at_risk {
        let by = match st.manager {
            PackageManager::Apt => "unattended-upgrades",
            PackageManager::Dnf => "a `dnf upgrade` (or dnf-automatic)",
        };
        out.push_str(&format!(
            "AT RISK: {by} could replace {} while the old module is loaded. Fix: sudo nvfix hold\n",
            st.exposed.join(", ")
        ));
    } else if !st.exposed.is_empty() {
        out.push_str(&format!(
            "Not held, but nothing upgrades them automatically: {}\n",
            st.exposed.join(", ")
        ));
    } else {
        out.push_str("Protected: no automatic upgrade can replace the driver.\n");
    }
    out
}
