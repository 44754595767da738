//! The JSON contract of `diagnose --json` and `ps --json` (documented in README; keep it stable: add, never rename).

use crate::model::facts::{HostFacts, NvmlProbe};
use crate::model::holders::GpuHolder;
use crate::model::verdict::Diagnosis;
use serde_json::{json, Value};

/// Version of the diagnose document's shape; bumped only for incompatible changes.
pub const DIAGNOSE_SCHEMA: &str = "nvfix.diagnose/v1";

pub fn diagnose_json(facts: &HostFacts, d: &Diagnosis) -> Value {
    let loaded_module = facts
        .loaded_driver
        .as_ref()
        .map(|l| json!({ "version": l.version, "flavor": l.flavor }))
        .or_else(|| {
            facts
                .sysfs_driver_version
                .as_ref()
                .map(|v| json!({ "version": v, "flavor": null }))
        });
    let library = facts
        .nvml_library
        .as_ref()
        .map(|l| json!({ "version": l.version, "path": l.path }));
    let installed_module = d.installed_module.as_ref().map(
        |m| json!({ "version": m.version, "kernel": m.kernel, "path": m.path, "flavor": m.flavor }),
    );
    let upgrade = d.upgrade.as_ref().map(|u| {
        json!({ "from": u.from, "to": u.to, "at": u.at, "by": u.by.describe(), "package": u.package,
                "evidence": u.evidence })
    });
    json!({
        "schema": DIAGNOSE_SCHEMA,
        "verdict": d.verdict,
        "action": d.action,
        "kernel": facts.kernel_release,
        "loaded_module": loaded_module,
        "library": library,
        "installed_module": installed_module,
        "matching_kernels": d.matching_kernels,
        "nvml": nvml_json(facts.nvml.as_ref()),
        "upgrade": upgrade,
        "holders": holders_json(&facts.holders),
        "modules": facts.loaded_modules,
        "reasons": d.reasons,
        "next_steps": d.next_steps,
        "warnings": facts.warnings,
    })
}

fn nvml_json(probe: Option<&NvmlProbe>) -> Value {
    match probe {
        None => json!({ "status": "not-checked" }),
        Some(p) => serde_json::to_value(p).unwrap_or_else(|_| json!({ "status": "not-checked" })),
    }
}

/// The holders list: the same objects in `diagnose --json` and `ps --json`.
pub fn holders_json(holders: &[GpuHolder]) -> Value {
    serde_json::to_value(holders).unwrap_or_else(|_| json!([]))
}
