//! Parsers for installed-package state: dpkg's status file and unattended-upgrades' configuration.

use serde::Serialize;

/// One stanza of `/var/lib/dpkg/status` that is installed (or half-installed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// `Status: hold ok installed` → true.
    pub held: bool,
    /// The `Status:` line's last word (`installed`, `half-configured`, …).
    pub state: String,
}

/// Parses `/var/lib/dpkg/status`; stanzas that are not installed (`deinstall ok config-files`, `not-installed`) are
/// left out. Tolerant of garbled stanzas.
pub fn parse_dpkg_status(text: &str) -> Vec<InstalledPackage> {
    let _ = text;
    Vec::new()
}

/// What the unattended-upgrades configuration says, merged over all files read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnattendedConfig {
    /// `APT::Periodic::Unattended-Upgrade "1";` (from `20auto-upgrades`), when set.
    pub enabled: Option<bool>,
    /// `Unattended-Upgrade::Package-Blacklist { "…"; };` entries (Python regexes matched at the start of the name).
    pub blacklist: Vec<String>,
}

/// Parses one apt.conf-style file and merges what it says into `into` (later files win for `enabled`).
pub fn parse_apt_conf(text: &str, into: &mut UnattendedConfig) {
    let _ = (text, into);
}

/// Would this blacklist entry stop unattended-upgrades from upgrading `package`? Entries are regexes matched at the start
/// of the name (`re.match`), so `nvidia-` does not match `libnvidia-ml1`.
pub fn blacklist_matches(pattern: &str, package: &str) -> bool {
    let _ = (pattern, package);
    false
}
