//! `nvfix sentinel`: kured's `--reboot-sentinel-command`. Exit 0 only when a reboot is needed, would fix the host, and
//! no reload is possible under the playbook; every other answer, and every error, is "no reboot".

use super::doc::{own, CommandDoc};
use super::Context;
use crate::cli::SentinelArgs;
use crate::exit;
use crate::host::nvml_gate::NvmlLock;
use crate::host::runner::{CommandRunner, RecordingRunner, SystemRunner};
use crate::model::auto::sentinel_verdict;
use crate::model::playbook::{Playbook, RebootMethod};

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

/// `nvfix sentinel`'s man page text (see `doc.rs`).
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "kured's --reboot-sentinel-command. Exits 0 only when the NVIDIA driver needs a reboot, the kernel that boots \
         next has a module matching the library (so the reboot would fix it), every reboot guard but the GPU's \
         holders passes (kured drains the pods first), and no reload is possible under the playbook: a GPU that is \
         merely busy is a reload once its jobs end, not a reboot.",
        "Any other answer, and any error, exits non-zero, so kured does not reboot (fail closed). It is read-only: it \
         runs the decision of nvfix auto --dry-run with the playbook's reboot authorised and its hooks and \
         quarantine left out, and never loads NVML. One line on stdout says why.",
    ],
    exit: &[
        own(exit::OK, "Reboot: kured may reboot this node (under its lock, after draining it)."),
        own(exit::PROBLEM, "No reboot: the driver is healthy, a reload can fix it, or a reboot would not."),
        own(exit::CONFIG, "No reboot: the playbook is not valid."),
        own(exit::NO_PERMISSION, "No reboot: the playbook's owner or mode is unsafe."),
    ],
    files: &["/etc/nvfix/nvfix.yaml", "/etc/nvfix/playbooks/NAME.yaml"],
    examples: &[(
        "nvfix sentinel --playbook kubernetes-node",
        "What kured's sentinel command answers on this node (deploy/kubernetes/kured-values.yaml).",
    )],
    see_also: &["nvfix-auto(1)", "nvfix-playbook(5)"],
};

pub fn run(ctx: &Context, args: &SentinelArgs) -> anyhow::Result<i32> {
    let euid = super::playbook::effective_uid();
    let selected = super::playbook::select(&ctx.root, args.playbook.as_deref(), euid == 0)?;
    let (playbook, source) = (selected.playbook, selected.source);
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
