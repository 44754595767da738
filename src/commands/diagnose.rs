//! `nvfix diagnose`: gather the host's evidence, reach a verdict, print the report or the JSON contract.

use super::doc::{own, CommandDoc};
use super::Context;
use crate::cli::DiagnoseArgs;
use crate::exit;
use crate::model::verdict::{diagnose, Verdict};
use crate::render;

/// `nvfix diagnose`'s man page text (see `doc.rs`).
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "Reads the host's own evidence and explains the state of the NVIDIA driver: the kernel module that is loaded \
         (/proc/driver/nvidia/version), the user-space libraries and the kernel modules that are installed, the package \
         changes that replaced them (apt, dpkg, dnf and unattended-upgrades logs), the kernel log's NVRM: API mismatch \
         lines, the processes that hold the GPU, and, when it can initialise, NVML itself.",
        "The report ends with a verdict (healthy, version-mismatch, driver-not-loaded, no-driver, degraded) and the \
         exact next steps: a reload without a reboot when that is safe (nvfix reload), a reboot when it is not \
         (nvfix reboot), a package repair, or a hold against the next unattended upgrade (nvfix hold).",
        "diagnose changes nothing. It runs as any user; as root it also sees every process's open files. With --json \
         it prints one object whose schema is a stable contract for scripts and monitoring.",
    ],
    exit: &[
        own(exit::OK, "The verdict is healthy."),
        own(
            exit::PROBLEM,
            "Any other verdict (version-mismatch, driver-not-loaded, no-driver, degraded); the report or --json says \
             which.",
        ),
    ],
    files: &[
        "/proc/driver/nvidia/version",
        "/var/log/apt/history.log",
        "/var/lib/dpkg/status",
        "/var/cache/nvfix/modules.json",
    ],
    examples: &[
        ("nvfix diagnose", "The report: loaded module, installed library, what changed, who holds the GPU, next steps."),
        ("nvfix diagnose --json | jq -r .verdict", "Only the verdict, for a script."),
        ("nvfix diagnose --no-holders", "Skip the process scan (faster on a busy host)."),
        ("nvfix --root /mnt/broken-host diagnose", "Diagnose a mounted image or a copied host tree."),
    ],
    see_also: &["nvidia-smi(1)"],
};

pub fn run(ctx: &Context, args: &DiagnoseArgs) -> anyhow::Result<i32> {
    let facts = ctx.gather(!args.no_holders);
    let diagnosis = diagnose(&facts);
    if args.json {
        render::emitln(&serde_json::to_string_pretty(
            &render::json::diagnose_json(&facts, &diagnosis),
        )?);
    } else {
        render::emit(&render::report::diagnosis_report(
            &facts,
            &diagnosis,
            ctx.color,
            ctx.columns,
        ));
    }
    Ok(if diagnosis.verdict == Verdict::Healthy {
        exit::OK
    } else {
        exit::PROBLEM
    })
}
