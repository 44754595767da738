//! `nvfix check`'s judgement: the diagnosis as one status a monitoring engine acts on, with its one-line summary.

use super::verdict::{Action, Diagnosis, Verdict};
use serde::Serialize;

/// A check's status, in the order of the Nagios plugin contract (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    /// Healthy, but the driver can break the same way again (unattended-upgrades may upgrade it).
    Warning,
    /// New GPU jobs fail on this node now.
    Critical,
    /// nvfix cannot tell: no NVIDIA driver is installed at all.
    Unknown,
}

impl CheckStatus {
    /// The Nagios plugin exit status.
    pub fn nagios_exit(self) -> i32 {
        match self {
            CheckStatus::Ok => 0,
            CheckStatus::Warning => 1,
            CheckStatus::Critical => 2,
            CheckStatus::Unknown => 3,
        }
    }
    /// node-problem-detector's custom-plugin exit status: 0 OK, 1 NonOK (a problem), 2 Unknown. A warning is not a
    /// node problem (it would taint the node's condition for a risk, not a fault).
    pub fn npd_exit(self) -> i32 {
        match self {
            CheckStatus::Ok | CheckStatus::Warning => 0,
            CheckStatus::Critical => 1,
            CheckStatus::Unknown => 2,
        }
    }
    pub fn as_upper(self) -> &'static str {
        match self {
            CheckStatus::Ok => "OK",
            CheckStatus::Warning => "WARNING",
            CheckStatus::Critical => "CRITICAL",
            CheckStatus::Unknown => "UNKNOWN",
        }
    }
}

/// The status for a diagnosis. `recurrence_risk`: the `recurrence-risk` reason is present.
pub fn status(d: &Diagnosis) -> CheckStatus {
    match d.verdict {
        Verdict::Healthy if d.reasons.iter().any(|r| r.code == "recurrence-risk") => {
            CheckStatus::Warning
        }
        Verdict::Healthy => CheckStatus::Ok,
        Verdict::NoDriver => CheckStatus::Unknown,
        Verdict::VersionMismatch | Verdict::DriverNotLoaded | Verdict::Degraded => {
            CheckStatus::Critical
        }
    }
}

/// One line, within node-problem-detector's default 80-character message: the verdict, the two versions, and what
/// fixes it.
pub fn summary(d: &Diagnosis, loaded: Option<&str>, library: Option<&str>) -> String {
    let fix = match d.action {
        Action::None => "",
        Action::Reload => "; fix: reload",
        Action::Reboot => "; fix: reboot",
        Action::Repair => "; fix: repair the driver",
        Action::External => "; fix: GPU Operator upgrade",
    };
    let versions = match (loaded, library) {
        (Some(m), Some(l)) if m != l => format!(" (module {m}, library {l})"),
        (Some(m), _) => format!(" ({m})"),
        (None, Some(l)) => format!(" (library {l}, no module loaded)"),
        (None, None) => String::new(),
    };
    format!("{}{versions}{fix}", d.verdict.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::verdict::Reason;

    fn diagnosis(verdict: Verdict, action: Action, codes: &[&'static str]) -> Diagnosis {
        Diagnosis {
            verdict,
            action,
            upgrade: None,
            installed_module: None,
            matching_kernels: Vec::new(),
            reasons: codes
                .iter()
                .map(|c| Reason {
                    code: c,
                    message: String::new(),
                    evidence: Vec::new(),
                })
                .collect(),
            next_steps: Vec::new(),
            preflight: Vec::new(),
        }
    }

    #[test]
    fn statuses_and_exit_codes_follow_each_engines_contract() {
        let table = [
            (Verdict::Healthy, &[][..], CheckStatus::Ok, 0, 0),
            (
                Verdict::Healthy,
                &["recurrence-risk"][..],
                CheckStatus::Warning,
                1,
                0,
            ),
            (
                Verdict::VersionMismatch,
                &[][..],
                CheckStatus::Critical,
                2,
                1,
            ),
            (
                Verdict::DriverNotLoaded,
                &[][..],
                CheckStatus::Critical,
                2,
                1,
            ),
            (Verdict::Degraded, &[][..], CheckStatus::Critical, 2, 1),
            (Verdict::NoDriver, &[][..], CheckStatus::Unknown, 3, 2),
        ];
        for (verdict, codes, want, nagios, npd) in table {
            let s = status(&diagnosis(verdict, Action::None, codes));
            assert_eq!(
                (s, s.nagios_exit(), s.npd_exit()),
                (want, nagios, npd),
                "{verdict:?}"
            );
        }
    }

    #[test]
    fn the_summary_fits_one_npd_message() {
        let d = diagnosis(Verdict::VersionMismatch, Action::Reload, &[]);
        let s = summary(&d, Some("580.65.06"), Some("580.95.05"));
        assert_eq!(
            s,
            "version-mismatch (module 580.65.06, library 580.95.05); fix: reload"
        );
        assert!(s.len() <= 80, "{}", s.len());
        let ok = diagnosis(Verdict::Healthy, Action::None, &[]);
        assert_eq!(
            summary(&ok, Some("580.95.05"), Some("580.95.05")),
            "healthy (580.95.05)"
        );
    }
}
