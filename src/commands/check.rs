//! `nvfix check`: a read-only check in a monitoring engine's format (Nagios, node-problem-detector, Prometheus, JSON).

use super::Context;
use crate::cli::{CheckArgs, CheckFormat};
use crate::exit;
use crate::host::atomic_write::{write_file, DirRule};
use crate::host::nvml_gate::NvmlLock;
use crate::model::check::{status, CheckStatus};
use crate::model::verdict::diagnose;
use crate::render;

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
