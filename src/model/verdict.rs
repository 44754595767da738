//! The verdict: from [`HostFacts`] to what is wrong, what to do, and the reasons (with evidence) behind both.

use super::facts::HostFacts;
use super::Evidence;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Healthy,
    VersionMismatch,
    DriverNotLoaded,
    NoDriver,
    /// The driver is loaded and versions agree, but something is still off (e.g. NVML fails with another error).
    Degraded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    None,
    Reload,
    Reboot,
    Repair,
    /// The driver is owned by something else (GPU Operator's container): hand over, do not touch.
    External,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub verdict: Verdict,
    pub action: Action,
    pub reasons: Vec<Reason>,
}

pub fn diagnose(facts: &HostFacts) -> Diagnosis {
    let _ = facts;
    Diagnosis {
        verdict: Verdict::NoDriver,
        action: Action::None,
        reasons: Vec::new(),
    }
}
