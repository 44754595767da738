//! `nvfix check`'s outputs: the Nagios status line with perfdata, node-problem-detector's one message line, and the
//! `nvfix.check/v1` JSON object.

use crate::model::check::{summary, CheckStatus};
use crate::model::facts::HostFacts;
use crate::model::verdict::Diagnosis;
use serde::Serialize;

/// The JSON contract's schema name.
pub const SCHEMA: &str = "nvfix.check/v1";

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub schema: &'static str,
    pub status: CheckStatus,
    pub verdict: &'static str,
    pub action: &'static str,
    pub loaded_version: Option<String>,
    pub library_version: Option<String>,
    /// None when the holders were not scanned (`--no-holders`).
    pub gpu_holders: Option<usize>,
    pub recurrence_risk: bool,
    pub message: String,
}

pub fn report(
    facts: &HostFacts,
    d: &Diagnosis,
    status: CheckStatus,
    holders_scanned: bool,
) -> CheckReport {
    let loaded = facts.loaded_version().map(|v| v.to_string());
    let library = facts.nvml_library.as_ref().map(|l| l.version.to_string());
    CheckReport {
        schema: SCHEMA,
        status,
        verdict: d.verdict.as_str(),
        action: d.action.as_str(),
        message: summary(d, loaded.as_deref(), library.as_deref()),
        loaded_version: loaded,
        library_version: library,
        gpu_holders: holders_scanned.then_some(facts.holders.len()),
        recurrence_risk: d.reasons.iter().any(|r| r.code == "recurrence-risk"),
    }
}

/// `NVFIX CRITICAL - <summary> | perfdata`: one line, perfdata in the plugin format (`label=value;warn;crit;min`).
pub fn nagios(r: &CheckReport) -> String {
    let mut perf = Vec::new();
    perf.push(format!(
        "mismatch={};;1;0;1",
        u8::from(r.verdict == "version-mismatch")
    ));
    if let Some(h) = r.gpu_holders {
        perf.push(format!("gpu_holders={h};;;0"));
    }
    perf.push(format!(
        "recurrence_risk={};1;;0;1",
        u8::from(r.recurrence_risk)
    ));
    format!(
        "NVFIX {} - {} | {}\n",
        r.status.as_upper(),
        r.message,
        perf.join(" ")
    )
}

/// node-problem-detector reads the first line of a custom plugin's output as the condition's message.
pub fn npd(r: &CheckReport) -> String {
    format!("{}\n", r.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(status: CheckStatus, holders: Option<usize>) -> CheckReport {
        CheckReport {
            schema: SCHEMA,
            status,
            verdict: "version-mismatch",
            action: "reload",
            loaded_version: Some("580.65.06".into()),
            library_version: Some("580.95.05".into()),
            gpu_holders: holders,
            recurrence_risk: true,
            message: "version-mismatch (module 580.65.06, library 580.95.05); fix: reload".into(),
        }
    }

    #[test]
    fn nagios_line_has_status_summary_and_perfdata() {
        assert_eq!(
            nagios(&sample(CheckStatus::Critical, Some(2))),
            "NVFIX CRITICAL - version-mismatch (module 580.65.06, library 580.95.05); fix: reload | \
             mismatch=1;;1;0;1 gpu_holders=2;;;0 recurrence_risk=1;1;;0;1\n"
        );
        assert!(!nagios(&sample(CheckStatus::Critical, None)).contains("gpu_holders"));
        assert_eq!(npd(&sample(CheckStatus::Critical, None)).lines().count(), 1);
    }
}
