//! `nvfix metrics`: gather, diagnose, and write node_exporter textfile metrics (what nvfix-check.timer runs).

use super::doc::{general, own, CommandDoc};
use super::Context;
use crate::cli::MetricsArgs;
use crate::exit;
use crate::host::atomic_write::{write_file, write_host_file, DirRule};
use crate::model::verdict::diagnose;
use crate::render;
use std::path::Path;

/// `nvfix metrics`'s man page text (see `doc.rs`).
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "Writes the diagnosis as Prometheus metrics for node_exporter's textfile collector: the verdict, the action \
         nvfix would take, the loaded and installed versions, and the number of GPU holders. The file is replaced \
         atomically, so the collector never reads half of it.",
        "nvfix-check.timer runs it periodically. The verdict travels in the metrics, not in the exit status: the \
         service fails only when the file could not be written.",
    ],
    exit: &[
        own(exit::OK, "The textfile was written (whatever the verdict)."),
        general(exit::TEMP_FAIL),
        own(exit::NO_PERMISSION, "The textfile or its folder could not be written."),
    ],
    files: &["/var/lib/prometheus/node-exporter/nvfix.prom", "/run/nvfix/lock"],
    examples: &[
        ("sudo nvfix metrics", "Write /var/lib/prometheus/node-exporter/nvfix.prom (what nvfix-check.timer runs)."),
        ("nvfix metrics --textfile -", "Print the metrics instead."),
    ],
    see_also: &["prometheus-node-exporter(1)"],
};

/// node_exporter's textfile collector folder on Debian/Ubuntu (prometheus-node-exporter's default).
pub const DEFAULT_TEXTFILE: &str = "/var/lib/prometheus/node-exporter/nvfix.prom";

/// node_exporter reads the folder as its own user: a missing one is created world-readable.
const TEXTFILE_DIR: DirRule = DirRule::Shared { create_mode: 0o755 };

pub fn run(ctx: &Context, args: &MetricsArgs) -> anyhow::Result<i32> {
    // Writing the textfile is a change like any other: under the run lock, taken before gathering so a reload in
    // progress is not raced (75; the timer tries again). Printing to stdout takes none.
    let _lock = match &args.textfile {
        Some(p) if p == Path::new("-") => None,
        _ => Some(super::take_run_lock(&ctx.root)?),
    };
    // The process scans (GPU holders, and containers on another driver version) go together.
    let facts = ctx.gather_with(!args.no_holders, !args.no_holders);
    let diagnosis = diagnose(&facts);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let text = render::metrics::textfile(&facts, &diagnosis, !args.no_holders, now);
    match &args.textfile {
        Some(p) if p == Path::new("-") => crate::out!("{text}"),
        // Named on the command line: a path on this machine, as given.
        Some(p) => write_file(p, text.as_bytes(), 0o644, TEXTFILE_DIR)?,
        // The default lives on the host being checked: under --root.
        None => write_host_file(
            &ctx.root,
            DEFAULT_TEXTFILE,
            text.as_bytes(),
            0o644,
            TEXTFILE_DIR,
        )?,
    }
    // The verdict travels in the metrics; the service only fails when the file could not be written.
    Ok(exit::OK)
}
