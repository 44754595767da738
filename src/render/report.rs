//! The human report: written like an expert's incident note.

use crate::model::facts::HostFacts;
use crate::model::holders::GpuHolder;
use crate::model::verdict::Diagnosis;

pub fn diagnosis_report(facts: &HostFacts, diagnosis: &Diagnosis, color: bool) -> String {
    let _ = (facts, color);
    format!("verdict: {:?}\n", diagnosis.verdict)
}

pub fn holders_table(holders: &[GpuHolder], color: bool) -> String {
    let _ = color;
    holders
        .iter()
        .map(|h| format!("{} {}\n", h.pid, h.command))
        .collect()
}
