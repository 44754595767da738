//! Parsers for package-manager logs: apt's history.log, dpkg.log and dnf.rpm.log, into package changes.

use super::Evidence;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Install,
    Upgrade,
    Downgrade,
    Remove,
    Purge,
    Reinstall,
}

/// Who or what made a change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangedBy {
    /// `Commandline:` of the apt transaction, e.g. `/usr/bin/unattended-upgrade` or `apt upgrade`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commandline: Option<String>,
    /// `Requested-By: alice (1000)` → `alice (1000)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// True when the commandline is unattended-upgrade(s).
    pub unattended: bool,
}

impl ChangedBy {
    /// One short phrase for reports and JSON's `upgrade.by`: `unattended-upgrades`, `alice (1000): apt upgrade`, `apt`.
    pub fn describe(&self) -> String {
        if self.unattended {
            return "unattended-upgrades".to_string();
        }
        match (&self.requested_by, &self.commandline) {
            (Some(u), Some(c)) => format!("{u}: {c}"),
            (Some(u), None) => u.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => "unknown".to_string(),
        }
    }
}

/// One package changed by one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageChange {
    pub package: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub kind: ChangeKind,
    /// Version before (upgrade/downgrade/remove), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Version after (install/upgrade/downgrade), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// When, as `YYYY-MM-DD HH:MM:SS` (local time of the log) — sortable as text.
    pub at: String,
    pub by: ChangedBy,
    pub evidence: Evidence,
}

/// Parses apt's `history.log` (blocks separated by blank lines, `Start-Date:`, `Commandline:`, `Requested-By:`,
/// `Install:`/`Upgrade:`/…, `End-Date:`). Tolerant: truncated or garbled blocks are skipped, never a panic.
/// `file` is the host path recorded in each change's evidence.
pub fn parse_apt_history(text: &str, file: &str) -> Vec<PackageChange> {
    let _ = (text, file);
    Vec::new()
}

/// Parses `/var/log/dpkg.log` lines `2022-05-19 06:04:42 upgrade libnvidia-compute-510:amd64 OLD NEW`.
pub fn parse_dpkg_log(text: &str, file: &str) -> Vec<PackageChange> {
    let _ = (text, file);
    Vec::new()
}

/// Parses `/var/log/dnf.rpm.log` (`… SUBDEBUG Upgrade: libnvidia-ml-3:575.57.08-1.el9.x86_64` then `Upgraded: <old>`).
pub fn parse_dnf_rpm_log(text: &str, file: &str) -> Vec<PackageChange> {
    let _ = (text, file);
    Vec::new()
}

/// Is this package part of the NVIDIA user-space or kernel driver (not CUDA toolkit, not unrelated `nvidia-*-doc`)?
/// Matches by pattern, since from 590 on Ubuntu drops the branch number (`libnvidia-compute`).
pub fn is_driver_package(name: &str) -> bool {
    let _ = name;
    false
}
