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
        "host": facts.host_kind,
        "loaded_module": loaded_module,
        "library": library,
        "installed_module": installed_module,
        "matching_kernels": d.matching_kernels,
        "nvml": nvml_json(facts.nvml.as_ref()),
        "upgrade": upgrade,
        "holders": holders_json(&facts.holders, facts.boot_time),
        "modules": facts.loaded_modules,
        "reasons": d.reasons,
        "next_steps": d.next_steps,
        "preflight": preflight_json(facts, d),
        "warnings": facts.warnings,
    })
}

/// The pre-flight (null when it did not run: the action was not a reload): what was read, what refuses the new
/// driver, what could not be checked.
fn preflight_json(facts: &HostFacts, d: &Diagnosis) -> Value {
    match &facts.preflight {
        None => Value::Null,
        Some(inputs) => json!({
            "passed": d.preflight.is_empty(),
            "findings": d.preflight,
            "notes": crate::model::preflight::notes(inputs),
            "policy": inputs.policy,
            "modules": inputs.modules,
        }),
    }
}

fn nvml_json(probe: Option<&NvmlProbe>) -> Value {
    match probe {
        None => json!({ "status": "not-checked" }),
        Some(p) => serde_json::to_value(p).unwrap_or_else(|_| json!({ "status": "not-checked" })),
    }
}

/// The holders list: the same objects in `diagnose --json` and `ps --json`. With the host's boot time (`btime`),
/// each holder also gets `started_at`, its start as an RFC 3339 UTC time, or `null` when the numbers `/proc` gave
/// add up to no representable time (a garbled `btime` or start time: unknown, never a panic).
pub fn holders_json(holders: &[GpuHolder], boot_time: Option<u64>) -> Value {
    let mut list = serde_json::to_value(holders).unwrap_or_else(|_| json!([]));
    if let (Some(btime), Some(items)) = (boot_time, list.as_array_mut()) {
        for (item, h) in items.iter_mut().zip(holders) {
            if let (Some(after), Some(obj)) = (h.started_secs_after_boot, item.as_object_mut()) {
                obj.insert("started_at".into(), json!(started_at(btime, after)));
            }
        }
    }
    list
}

/// `btime + seconds after boot` as an RFC 3339 UTC time (`2026-03-03T19:14:46Z`), or `None` when it is out of range.
pub fn started_at(boot_time: u64, secs_after_boot: u64) -> Option<String> {
    let secs = i64::try_from(boot_time.checked_add(secs_after_boot)?).ok()?;
    let at = jiff::Timestamp::from_second(secs).ok()?;
    Some(at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_are_rfc3339_utc_or_unknown_when_out_of_range() {
        assert_eq!(
            started_at(1_761_100_000, 1512).as_deref(),
            Some("2025-10-22T02:51:52Z")
        );
        // jiff's range ends in year 9999; /proc can say anything.
        assert_eq!(started_at(253_402_300_800, 0), None);
        assert_eq!(started_at(1_761_100_000, 9_999_999_999_999_999 / 100), None);
        assert_eq!(started_at(u64::MAX, 1), None);
        assert_eq!(started_at(i64::MAX as u64, 0), None);
    }
}
