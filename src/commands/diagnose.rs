//! `nvfix diagnose`: gather the host's evidence, reach a verdict, print the report or the JSON contract.

use super::Context;
use crate::cli::DiagnoseArgs;
use crate::exit;
use crate::model::verdict::{diagnose, Verdict};
use crate::render;

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
