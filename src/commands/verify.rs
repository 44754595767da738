//! `nvfix verify`: the post-reload check alone — NVML initialises, NVML == module == library version, and no API
//! mismatch against the loaded module in the kernel log. Exit 0 verified, 1 not.

use super::Context;
use crate::cli::VerifyArgs;
use crate::exit;
use crate::model::verify::verify_host;
use crate::render;

pub fn run(ctx: &Context, args: &VerifyArgs) -> anyhow::Result<i32> {
    // gather() itself refuses to call NVML on the live host while the nvidia module is out (NVIDIA's library would
    // load it as a side effect).
    let facts = ctx.gather_with(false, true);
    let report = verify_host(&facts, None);
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::out!("{}", render::plan::verify_text(&report, ctx.color));
    }
    Ok(if report.verified {
        exit::OK
    } else {
        exit::PROBLEM
    })
}
