//! `nvfix verify`: the post-reload check alone — NVML initialises, NVML == module == library version, and no API
//! mismatch against the loaded module in the kernel log — plus, after a reboot nvfix scheduled, that it happened (the
//! boot id changed against the reboot record). Exit 0 verified, 1 not.

use super::doc::{own, CommandDoc};
use super::Context;
use crate::cli::VerifyArgs;
use crate::exit;
use crate::host::reboot as hostreboot;
use crate::model::facts::HostFacts;
use crate::model::reboot_state::boot_check;
use crate::model::verify::{verify_host, Check, VerifyReport};
use crate::render;

/// `nvfix verify`'s man page text (see `doc.rs`).
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "Checks the driver after a reload or a reboot: NVML initialises, and the versions NVML, the loaded module \
         (/sys/module/nvidia/version) and the installed library report agree, the expected number of GPUs is seen, \
         and no new NVRM: API mismatch line reached the kernel log.",
        "nvfix-verify.service runs it once per boot. It changes nothing.",
    ],
    exit: &[
        own(exit::OK, "Every check passed."),
        own(exit::PROBLEM, "A check failed; the output says which."),
    ],
    files: &["/proc/driver/nvidia/version"],
    examples: &[
        ("nvfix verify", "Run the checks."),
        ("nvfix verify --json", "The checks as JSON."),
    ],
    see_also: &["nvidia-smi(1)"],
};

pub fn run(ctx: &Context, args: &VerifyArgs) -> anyhow::Result<i32> {
    // gather() itself refuses to call NVML on the live host while the nvidia module is out (NVIDIA's library would
    // load it as a side effect).
    let facts = ctx.gather_with(false, true);
    let mut report = verify_host(&facts, None);
    reboot_happened(ctx, &facts, &mut report);
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

/// Adds the `reboot-happened` check when the reboot record has an nvfix reboot to check. Read only: `nvfix auto`
/// settles the record (and runs the after-reboot hooks), so a verify at boot does not take that from it.
fn reboot_happened(ctx: &Context, facts: &HostFacts, report: &mut VerifyReport) {
    let Some(boot_id) = facts.boot_id.as_deref() else {
        return;
    };
    let check = match hostreboot::read_state(&ctx.root) {
        Ok(state) => {
            let loaded = facts
                .sysfs_driver_version
                .as_ref()
                .or(facts.loaded_driver.as_ref().map(|d| &d.version))
                .map(|v| v.to_string());
            let now = hostreboot::now(&ctx.root);
            let Some((ok, detail)) = boot_check(&state, boot_id, loaded.as_deref(), now) else {
                return;
            };
            Check {
                name: "reboot-happened",
                ok: Some(ok),
                detail,
            }
        }
        Err(e) => Check {
            name: "reboot-happened",
            ok: None,
            detail: format!("the reboot record cannot be read ({e}): whether nvfix's reboot happened is not checked"),
        },
    };
    report.verified &= check.ok != Some(false);
    report.checks.push(check);
}
