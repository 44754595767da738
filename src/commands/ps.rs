//! `nvfix ps`: the GPU holders alone, as a table or JSON.

use super::doc::{own, CommandDoc};
use super::Context;
use crate::cli::PsArgs;
use crate::exit;
use crate::host::gather::nvidia_drm_nodes;
use crate::host::procscan::{scan_holders_report, LibraryMaps, ScanOptions};
use crate::render;
use anyhow::Context as _;

/// `nvfix ps`'s man page text (see `doc.rs`).
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "Lists the processes that hold the GPU: those with /dev/nvidia* or an NVIDIA DRM node open (what keeps the \
         kernel modules from unloading, as fuser(1) would see it), each with the driver libraries it maps, its user, \
         its systemd unit or container, and its command line. With --all it also lists processes that only map the \
         driver libraries, such as a CUDA job whose initialisation failed during the mismatch.",
        "The table fits the terminal's width (80 columns when the output is not a terminal); a cut cell ends in an \
         ellipsis. --wide prints every cell in full; --json prints everything as a JSON array.",
        "ps changes nothing. Run it as root to see every process; as a user it says how many it could not inspect.",
    ],
    exit: &[
        own(exit::OK, "The holders were listed (possibly none)."),
        own(exit::NO_PERMISSION, "The process table could not be read."),
    ],
    files: &[],
    examples: &[
        ("sudo nvfix ps", "Every process that holds the GPU, fitted to the terminal."),
        ("sudo nvfix ps --wide", "The same with every column in full."),
        ("sudo nvfix ps --all --json", "Also the processes that only map a driver library, as JSON."),
    ],
    see_also: &["fuser(1)", "lsof(8)"],
};

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
