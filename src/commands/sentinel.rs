//! `nvfix sentinel`: kured's `--reboot-sentinel-command`. Exit 0 only when a reboot is needed, would fix the host, and
//! no reload is possible under the playbook; every other answer, and every error, is "no reboot".

use super::Context;
use crate::cli::SentinelArgs;
use crate::exit;
use crate::host::nvml_gate::NvmlLock;
use crate::host::runner::{CommandRunner, RecordingRunner, SystemRunner};
use crate::model::auto::sentinel_verdict;
use crate::model::playbook::{default_playbook, Playbook, RebootMethod};

/// The playbook as the sentinel judges it: kured reboots (under its lock, after draining the pods), so a reboot is
/// authorised, the GPU's holders do not block the reboot, and nothing is run or handed off — no hooks, no quarantine.
fn as_kured_sees_it(mut p: Playbook) -> Playbook {
    p.reboot.allowed = true;
    p.reboot.method = RebootMethod::Shutdown;
    p.reboot.handoff.clear();
    p.reboot.cancel_handoff.clear();
    p.reboot.allow_gpu_holders = true;
    p.hooks = Default::default();
    p.quarantine = None;
    p
}

pub fn run(ctx: &Context, args: &SentinelArgs) -> anyhow::Result<i32> {
    let euid = super::playbook::effective_uid();
    let (playbook, source) = match &args.playbook {
        Some(p) => (
            super::playbook::load_policy(p, euid == 0)?,
            p.display().to_string(),
        ),
        None => (default_playbook(), "built-in default".to_string()),
    };
    let input = super::auto::AutoInput {
        root: ctx.root.clone(),
        // Never NVML: the sentinel runs every period on every node, and NVML could load the module as root.
        nvml_lib: None,
        playbook: as_kured_sees_it(playbook),
        playbook_source: source,
        allow_reboot: true,
        dry_run: true,
        now: crate::host::reboot::now(&ctx.root),
        live_probes: ctx.root.is_system(),
        nvml_lock: NvmlLock::Take,
    };
    let recorder = RecordingRunner::new();
    let runner: &dyn CommandRunner = if ctx.root.is_system() {
        &SystemRunner
    } else {
        &recorder
    };
    // A dry run never reloads; this engine would refuse if it were asked.
    let mut engine = super::auto::ExecutorEngine {
        lock: None,
        root: ctx.root.clone(),
        nvml_lib: None,
        quiet: true,
        module_timeout: std::time::Duration::from_secs(60),
    };
    let report = super::auto::run_auto(&input, runner, &mut engine);
    let reload_guards: Vec<_> = report
        .guards
        .iter()
        .filter(|g| g.stage == "reload")
        .map(|g| g.guard.clone())
        .collect();
    let (code, line) = match sentinel_verdict(report.outcome, &reload_guards) {
        Ok(why) => (exit::OK, format!("reboot: {why}")),
        Err(why) => (
            exit::PROBLEM,
            format!("no reboot: {why} ({})", report.message),
        ),
    };
    crate::outln!("{line}");
    Ok(code)
}
