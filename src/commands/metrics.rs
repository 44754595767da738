//! `nvfix metrics`: gather, diagnose, and write node_exporter textfile metrics (what nvfix-check.timer runs).

use super::Context;
use crate::cli::MetricsArgs;
use crate::exit;
use crate::host::hold::{write_atomic, write_atomic_local};
use crate::model::verdict::diagnose;
use crate::render;
use std::path::Path;

/// node_exporter's textfile collector folder on Debian/Ubuntu (prometheus-node-exporter's default).
pub const DEFAULT_TEXTFILE: &str = "/var/lib/prometheus/node-exporter/nvfix.prom";

pub fn run(ctx: &Context, args: &MetricsArgs) -> anyhow::Result<i32> {
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
        Some(p) => write_atomic_local(p, &text)?,
        // The default lives on the host being checked: under --root.
        None => write_atomic(&ctx.root, DEFAULT_TEXTFILE, &text)?,
    }
    // The verdict travels in the metrics; the service only fails when the file could not be written.
    Ok(exit::OK)
}
