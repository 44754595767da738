//! `nvfix check`: a read-only check in a monitoring engine's format (Nagios, node-problem-detector, Prometheus, JSON).

use super::doc::{own, CommandDoc};
use super::Context;
use crate::cli::{CheckArgs, CheckFormat};
use crate::exit;
use crate::host::atomic_write::{write_file, DirRule};
use crate::host::nvml_gate::NvmlLock;
use crate::model::check::{status, CheckStatus};
use crate::model::verdict::diagnose;
use crate::render;

/// `nvfix check`'s man page text (see `doc.rs`). Its statuses depend on --format: each engine's own contract.
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "A read-only check of the NVIDIA driver in the format a monitoring engine expects. It diagnoses exactly as \
         nvfix diagnose does, but never loads NVML (as root, NVML can load a kernel module), takes no lock, and \
         writes nothing but its --output, atomically (a reader never sees half a file).",
        "--format nagios prints one status line with perfdata and exits 0 OK (healthy), 1 WARNING (healthy, but \
         unattended-upgrades could break the driver again), 2 CRITICAL (version mismatch, driver not loaded, GPU \
         failed to initialise) or 3 UNKNOWN (no NVIDIA driver). --format npd follows node-problem-detector's \
         custom-plugin contract: exit 0 OK, 1 a problem, 2 unknown, one message line; deploy/kubernetes ships the \
         plugin configuration. --format prometheus writes the node_exporter textfile with the same metrics as \
         nvfix metrics and exits 0. --format json (the default) prints the nvfix.check/v1 object and exits 0 when \
         healthy, 1 on a problem.",
    ],
    exit: &[
        own(exit::OK, "Healthy (nagios OK, npd OK), or any verdict with --format prometheus."),
        own(
            exit::PROBLEM,
            "nagios: WARNING (healthy but unprotected from the next upgrade); npd and json: a problem.",
        ),
        own(2, "nagios: CRITICAL (mismatch, driver not loaded or degraded); npd: unknown (no driver)."),
        own(3, "nagios: UNKNOWN (no NVIDIA driver installed)."),
        own(exit::NO_PERMISSION, "--output or its folder may not be written (permission denied)."),
    ],
    files: &["/var/lib/prometheus/node-exporter/nvfix.prom"],
    examples: &[
        ("nvfix check --format nagios", "A Nagios/Icinga service check (NRPE command)."),
        (
            "nvfix check --format npd",
            "node-problem-detector's custom plugin (deploy/kubernetes/nvfix-npd-monitor.json).",
        ),
        (
            "nvfix check --format prometheus --output /var/lib/prometheus/node-exporter/nvfix.prom",
            "The textfile, without the run lock nvfix metrics takes.",
        ),
    ],
    see_also: &["nvfix-metrics(1)", "nvfix-diagnose(1)"],
};

pub fn run(ctx: &Context, args: &CheckArgs) -> anyhow::Result<i32> {
    // No NVML (as root it can load the module), no run lock (a check writes no state): nothing but --output.
    let facts = crate::host::gather::gather(
        &ctx.root,
        &crate::host::gather::GatherOptions {
            nvml_lib: None,
            nvml_lock: NvmlLock::Take,
            holders: !args.no_holders,
            containers: !args.no_holders,
            all_kernels: false,
            read_only: true,
        },
    );
    let diagnosis = diagnose(&facts);
    let st = status(&diagnosis);
    let report = render::check::report(&facts, &diagnosis, st, !args.no_holders);
    let (text, code) = match args.format {
        CheckFormat::Nagios => (render::check::nagios(&report), st.nagios_exit()),
        CheckFormat::Npd => (render::check::npd(&report), st.npd_exit()),
        CheckFormat::Prometheus => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let text = render::metrics::textfile(&facts, &diagnosis, !args.no_holders, now);
            (text, exit::OK)
        }
        CheckFormat::Json => (
            serde_json::to_string_pretty(&report)? + "\n",
            if matches!(st, CheckStatus::Ok | CheckStatus::Warning) {
                exit::OK
            } else {
                exit::PROBLEM
            },
        ),
    };
    match &args.output {
        // The folder is node_exporter's (or the engine's); a missing one is created world-readable, like metrics'.
        Some(p) => write_file(
            p,
            text.as_bytes(),
            0o644,
            DirRule::Shared { create_mode: 0o755 },
        )?,
        None => crate::out!("{text}"),
    }
    Ok(code)
}
