//! `nvfix ps`: the GPU holders alone, as a table or JSON.

use super::Context;
use crate::cli::PsArgs;
use crate::exit;
use crate::host::gather::nvidia_drm_nodes;
use crate::host::procscan::{scan_holders_report, LibraryMaps, ScanOptions};
use crate::render;
use anyhow::Context as _;

pub fn run(ctx: &Context, args: &PsArgs) -> anyhow::Result<i32> {
    let options = ScanOptions {
        nvidia_drm_nodes: nvidia_drm_nodes(&ctx.root),
        // By default the same holders as `diagnose` (processes with a device open: fuser's view, what blocks an
        // unload), each with the driver libraries it maps; `--all` reads every process's maps.
        library_maps: if args.all {
            LibraryMaps::All
        } else {
            LibraryMaps::OfDeviceHolders
        },
    };
    let scan = scan_holders_report(&ctx.root, &options).context("scanning processes")?;
    if let Some(note) = scan.unreadable_note() {
        eprintln!("nvfix: {note}");
    }
    let holders = scan.holders;
    if args.json {
        render::emitln(&serde_json::to_string_pretty(&render::json::holders_json(
            &holders,
            crate::host::gather::boot_time(&ctx.root),
        ))?);
    } else {
        let width = (!args.wide).then_some(ctx.columns);
        render::emit(&render::report::holders_table(&holders, ctx.color, width));
    }
    Ok(exit::OK)
}
