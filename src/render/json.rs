//! The JSON contract of `diagnose --json` and `ps --json` (documented in README; keep it stable).

use crate::model::facts::HostFacts;
use crate::model::holders::GpuHolder;
use crate::model::verdict::Diagnosis;
use serde_json::{json, Value};

pub fn diagnose_json(facts: &HostFacts, diagnosis: &Diagnosis) -> Value {
    json!({ "verdict": diagnosis.verdict, "action": diagnosis.action, "reasons": diagnosis.reasons, "holders": holders_json(&facts.holders) })
}

pub fn holders_json(holders: &[GpuHolder]) -> Value {
    json!(holders)
}
