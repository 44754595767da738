//! Parser for NVIDIA's kernel log lines: `NVRM: API mismatch` blocks (both wordings) and adapter init failures.

use super::log_position::{kmsg_record, text_line_position, LogMark};
use serde::Serialize;
use std::borrow::Cow;

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

/// `NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x63:0x56:1689)`: the loaded module could not bring up a GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdapterInitFailure {
    /// 1-based line.
    pub line: usize,
    /// The GPU's PCI address (`0000:01:00.0`), when the line names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// The error triple as logged (`0x63:0x56:1689`), when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl AdapterInitFailure {
    /// Reads the GPU address and the error triple out of one `RmInitAdapter failed` line; None for other lines.
    pub fn from_line(line: &str, line_no: usize) -> Option<Self> {
        let at = line.find("RmInitAdapter failed")?;
        let before = &line[..at];
        let gpu = before
            .rfind("GPU ")
            .map(|g| {
                before[g + "GPU ".len()..]
                    .trim()
                    .trim_end_matches(':')
                    .trim()
            })
            .filter(|g| is_pci_address(g))
            .map(str::to_string);
        let after = &line[at..];
        let code = after
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(inside, _)| inside.trim())
            .filter(|c| {
                !c.is_empty()
                    && c.len() <= 40
                    && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == ':')
            })
            .map(str::to_string);
        Some(AdapterInitFailure {
            line: line_no,
            gpu,
            code,
        })
    }
}

/// `0000:01:00.0` (domain, bus, device.function in hex), or the short `01:00.0`.
fn is_pci_address(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '.']).collect();
    matches!(parts.len(), 3 | 4)
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The text NVIDIA's driver logs when the GPU System Processor firmware could not be started.
pub const GSP_INIT_FAILURE: &str = "Cannot initialize GSP firmware RM";

/// What the kernel log says about the NVIDIA driver.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KernelLogFacts {
    pub api_mismatches: Vec<ApiMismatch>,
    /// Lines containing `RmInitAdapter failed` (1-based line numbers).
    pub init_failures: Vec<usize>,
    /// The same failures with what each line names (the GPU's PCI address, the error triple).
    pub adapter_failures: Vec<AdapterInitFailure>,
    /// Lines saying the GSP firmware could not be started (`RmInitAdapter: Cannot initialize GSP firmware RM`).
    pub gsp_failures: Vec<usize>,
    /// The last line where a boot starts (`Linux version …` at `[    0.000000]`): a text log such as kern.log spans
    /// boots, and what an earlier boot logged says nothing about the running driver. None when no boot is seen.
    pub last_boot_line: Option<usize>,
    /// Number of lines read.
    pub lines: usize,
    /// Each line's position (index = line − 1): the kmsg sequence number, or the date or stamp a text line states
    /// (a continuation line takes its record's). What tells a verifier which lines came after a mark.
    #[serde(skip)]
    pub positions: Vec<Option<LogMark>>,
}

impl KernelLogFacts {
    /// The adapter init failures logged since the running boot began (all of them when the log shows no boot).
    pub fn adapter_failures_this_boot(&self) -> impl Iterator<Item = &AdapterInitFailure> {
        let after = self.last_boot_line.unwrap_or(0);
        self.adapter_failures.iter().filter(move |f| f.line > after)
    }

    /// The GSP firmware failures logged since the running boot began.
    pub fn gsp_failures_this_boot(&self) -> impl Iterator<Item = usize> + '_ {
        let after = self.last_boot_line.unwrap_or(0);
        self.gsp_failures
            .iter()
            .copied()
            .filter(move |l| *l > after)
    }

    /// The position of the newest line: the mark to take before changing anything.
    pub fn mark(&self) -> Option<LogMark> {
        self.positions.iter().rev().find_map(|p| *p)
    }

    /// Is 1-based line `line` after `mark`? None when it states no position on the mark's clock.
    pub fn is_after(&self, line: usize, mark: &LogMark) -> Option<bool> {
        let position = (*self.positions.get(line.checked_sub(1)?)?)?;
        position.is_after(mark)
    }
}

/// Parses dmesg or kern.log text. Pre-575: `NVRM: API mismatch: the client has the version X, but` /
/// `NVRM: this kernel module has the version Y.  Please` …; 575+: `NVRM: API mismatch: the client '<comm>' (pid N)` /
/// `NVRM: has the version X, but this kernel module has` / `NVRM: the version Y.  Please make sure that this` …
/// Lines may carry a dmesg `[  12.345]` or syslog `Oct 22 06:30:01 host kernel: [..]` prefix.
///
/// Also read: journald's short and short-iso formats, RFC 3339 syslog dates, dmesg's indented continuation lines,
/// and rsyslog's `#012` for newlines inside one record. Other lines between a block's lines are ignored; a block
/// counts as soon as both versions are known (the closing "make sure…" lines may be missing), and a block whose
/// kernel version never comes within [`BLOCK_SPAN`] lines, or before the next block, is dropped.
pub fn parse_kernel_log(text: &str) -> KernelLogFacts {
    parse_lines(
        text.lines()
            .map(|line| (text_line_position(line), Cow::Borrowed(line))),
    )
}

/// Parses `/dev/kmsg` records (`6,1234,5678901,-;message`, one per line; ` KEY=value` continuation lines dropped)
/// as dmesg lines (`[    5.678901] message`), each placed by its sequence number.
pub fn parse_kmsg(records: &str) -> KernelLogFacts {
    parse_lines(records.lines().filter_map(|line| {
        let (seq, micros, message) = kmsg_record(line)?;
        let mark = LogMark {
            clock: super::log_position::LogClock::KmsgSeq,
            at: i64::try_from(seq).unwrap_or(i64::MAX),
        };
        let text = format!(
            "[{:5}.{:06}] {message}",
            micros / 1_000_000,
            micros % 1_000_000
        );
        Some((Some(mark), Cow::Owned(text)))
    }))
}

/// The parser proper, over lines with the position each states.
fn parse_lines<'a>(lines: impl Iterator<Item = (Option<LogMark>, Cow<'a, str>)>) -> KernelLogFacts {
    let mut facts = KernelLogFacts::default();
    let mut open: Option<ApiMismatchDraft> = None;
    for (index, (position, line)) in lines.enumerate() {
        let line_no = index + 1;
        let line: &str = &line;
        facts.lines = line_no;
        // Continuation lines (dmesg's indented ones) belong to the record before them.
        let inherited = facts.positions.last().copied().flatten();
        facts.positions.push(position.or(inherited));
        if let Some(failure) = AdapterInitFailure::from_line(line, line_no) {
            facts.init_failures.push(line_no);
            facts.adapter_failures.push(failure);
        }
        if line.contains(GSP_INIT_FAILURE) {
            facts.gsp_failures.push(line_no);
        }
        if is_boot_start(line) {
            facts.last_boot_line = Some(line_no);
        }
        if open.as_ref().is_some_and(|d| line_no - d.line > BLOCK_SPAN) {
            open = None;
        }
        // rsyslog writes the newlines inside one kernel record as `#012`.
        for segment in line.split("#012") {
            let Some(at) = segment.find("NVRM:") else {
                continue;
            };
            let message = segment[at + "NVRM:".len()..].trim();
            if let Some(rest) = message.strip_prefix("API mismatch:") {
                open = Some(ApiMismatchDraft::start(
                    rest.trim(),
                    line_no,
                    timestamp_of(&segment[..at]),
                ));
            } else if let Some(draft) = open.as_mut() {
                draft.continue_with(message);
            }
            if let Some(done) = open.as_ref().and_then(ApiMismatchDraft::finished) {
                facts.api_mismatches.push(done);
                open = None;
            }
        }
    }
    facts
}

/// The kernel's first line of a boot: `[    0.000000] Linux version 6.8.0-85-generic (buildd@…) …`.
fn is_boot_start(line: &str) -> bool {
    line.split_once("] Linux version ")
        .is_some_and(|(head, _)| {
            head.rsplit_once('[')
                .is_some_and(|(_, stamp)| stamp.trim() == "0.000000")
        })
}

/// Lines after its first within which a mismatch block must name both versions.
pub const BLOCK_SPAN: usize = 12;

/// An API mismatch block being read.
struct ApiMismatchDraft {
    client_version: Option<String>,
    kernel_version: Option<String>,
    client: Option<String>,
    pid: Option<u32>,
    line: usize,
    timestamp: Option<String>,
}

impl ApiMismatchDraft {
    /// From the text after `API mismatch:`: `the client has the version X, but` (before 575) or
    /// `the client '<comm>' (pid N)` (575.51.02 on).
    fn start(rest: &str, line: usize, timestamp: Option<String>) -> Self {
        let mut draft = ApiMismatchDraft {
            client_version: None,
            kernel_version: None,
            client: None,
            pid: None,
            line,
            timestamp,
        };
        let rest = rest.strip_prefix("the client").unwrap_or(rest).trim_start();
        if let Some(named) = rest.strip_prefix('\'') {
            // A command name may itself hold spaces or quotes: the name ends at the last `' (pid `.
            if let Some(end) = named.rfind("' (pid ") {
                draft.client = Some(named[..end].to_string());
                let digits: String = named[end + "' (pid ".len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                draft.pid = digits.parse().ok();
            } else if let Some(end) = named.rfind('\'') {
                draft.client = Some(named[..end].to_string());
            }
            return draft;
        }
        draft.continue_with(rest);
        draft
    }

    /// Takes the versions from a following line (or the first line's remainder): the client's version is the one
    /// followed by `, but`; the kernel's comes after it.
    fn continue_with(&mut self, message: &str) {
        if self.client_version.is_none() {
            let Some(at) = message.find(", but") else {
                return;
            };
            let (head, tail) = message.split_at(at);
            if head.starts_with("this kernel module") {
                return;
            }
            self.client_version = version_after(head, "has the version ");
            if self.client_version.is_some() {
                self.take_kernel_version(&tail[", but".len()..]);
            }
            return;
        }
        self.take_kernel_version(message);
    }

    /// `this kernel module has the version Y.` (before 575) or `the version Y.` (575 on).
    fn take_kernel_version(&mut self, message: &str) {
        if self.kernel_version.is_some() {
            return;
        }
        let message = message.trim_start();
        let rest = message
            .strip_prefix("this kernel module has")
            .map(str::trim_start)
            .unwrap_or(message);
        if rest.starts_with("the version ") {
            self.kernel_version = version_after(rest, "the version ");
        }
    }

    fn finished(&self) -> Option<ApiMismatch> {
        Some(ApiMismatch {
            client_version: self.client_version.clone()?,
            kernel_version: self.kernel_version.clone()?,
            client: self.client.clone(),
            pid: self.pid,
            line: self.line,
            timestamp: self.timestamp.clone(),
        })
    }
}

/// The version token after `marker`: `580.95.05` in `has the version 580.95.05` or `… 580.65.06.  Please`.
fn version_after(text: &str, marker: &str) -> Option<String> {
    let (_, after) = text.split_once(marker)?;
    let token = after.split_whitespace().next()?;
    let token = token.trim_end_matches([',', '.']);
    (!token.is_empty()).then(|| token.to_string())
}

/// The timestamp in what precedes `NVRM:` on a line: a syslog/journald date before `<host> kernel:`, else a dmesg
/// `[…]` stamp (after an optional `<level>`); None for bare or indented continuation lines.
fn timestamp_of(prefix: &str) -> Option<String> {
    let prefix = prefix.trim();
    if let Some(at) = prefix.find(" kernel:") {
        let before = prefix[..at].trim_end();
        if let Some((date, _host)) = before.rsplit_once(char::is_whitespace) {
            let date = date.trim();
            if !date.is_empty() {
                return Some(date.to_string());
            }
        }
    }
    let prefix = match prefix.strip_prefix('<') {
        Some(rest) => match rest.split_once('>') {
            Some((level, after)) if level.chars().all(|c| c.is_ascii_digit()) => after,
            _ => prefix,
        },
        None => prefix,
    };
    if prefix.starts_with('[') {
        if let Some(end) = prefix.find(']') {
            return Some(prefix[..=end].to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD_DMESG: &str = "\
[    3.210000] nvidia: loading out-of-tree module taints kernel.
[ 1234.567890] NVRM: API mismatch: the client has the version 580.95.05, but
               NVRM: this kernel module has the version 580.65.06.  Please
               NVRM: make sure that this kernel module and all NVIDIA driver
               NVRM: components have the same version.
[ 1240.000001] NVRM: API mismatch: the client has the version 580.95.05, but
[ 1240.000001] NVRM: this kernel module has the version 580.65.06.  Please
[ 1240.000001] NVRM: make sure that this kernel module and all NVIDIA driver
[ 1240.000001] NVRM: components have the same version.
";

    const NEW_KERN_LOG: &str = "\
Oct 22 06:30:01 gpu-node-7 kernel: [81234.123456] NVRM: API mismatch: the client 'nvidia-smi' (pid 48213)
Oct 22 06:30:01 gpu-node-7 kernel: [81234.123456] NVRM: has the version 580.95.05, but this kernel module has
Oct 22 06:30:01 gpu-node-7 kernel: [81234.123456] NVRM: the version 580.65.06.  Please make sure that this
Oct 22 06:30:01 gpu-node-7 kernel: [81234.123456] NVRM: kernel module and all NVIDIA driver components
Oct 22 06:30:01 gpu-node-7 kernel: [81234.123456] NVRM: have the same version.
";

    /// Real lines from a report where the GPU failed to start while the module stayed loaded.
    const GSP_FAILURE: &str = "\
Mar 03 19:20:11 gpu-node-3 kernel: [    6.120004] NVRM RmInitAdapter: Cannot initialize GSP firmware RM
Mar 03 19:20:11 gpu-node-3 kernel: [    6.120311] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x63:0x56:1689)
";

    #[test]
    fn adapter_init_failures_name_the_gpu_and_the_error() {
        let facts = parse_kernel_log(GSP_FAILURE);
        assert_eq!(facts.gsp_failures, vec![1]);
        assert_eq!(facts.init_failures, vec![2]);
        assert_eq!(
            facts.adapter_failures,
            vec![AdapterInitFailure {
                line: 2,
                gpu: Some("0000:01:00.0".into()),
                code: Some("0x63:0x56:1689".into()),
            }]
        );
        // The colon form, and rsyslog's #012 joining both into one line.
        let joined = parse_kernel_log(
            "Mar  3 19:20:11 node kernel: NVRM: RmInitAdapter: Cannot initialize GSP firmware RM#012NVRM: GPU \
             0000:01:00.0: RmInitAdapter failed! (0x63:0x56:1689)\n",
        );
        assert_eq!(
            (joined.gsp_failures.len(), joined.init_failures.len()),
            (1, 1)
        );
    }

    #[test]
    fn failures_of_an_earlier_boot_do_not_count_for_this_one() {
        let text = format!(
            "{GSP_FAILURE}Mar 04 08:00:01 gpu-node-3 kernel: [    0.000000] Linux version 6.8.0-85-generic \
             (buildd@lcy02-amd64-080) #85-Ubuntu SMP PREEMPT_DYNAMIC\n\
             Mar 04 08:00:07 gpu-node-3 kernel: [    6.001000] nvidia-modeset: Loading NVIDIA Kernel Mode Setting Driver\n"
        );
        let facts = parse_kernel_log(&text);
        assert_eq!(facts.last_boot_line, Some(3));
        assert_eq!(facts.adapter_failures.len(), 1, "still read");
        assert_eq!(facts.adapter_failures_this_boot().count(), 0);
        assert_eq!(facts.gsp_failures_this_boot().count(), 0);
        // Without a boot line every failure counts (dmesg and the journal hold only this boot).
        assert_eq!(
            parse_kernel_log(GSP_FAILURE)
                .adapter_failures_this_boot()
                .count(),
            1
        );
        assert!(!is_boot_start("[ 5.0] Linux version x"));
        assert!(!is_boot_start("Linux version 6.8"));
    }

    #[test]
    fn garbled_adapter_failure_lines_keep_the_line_without_details() {
        for line in [
            "NVRM: GPU zz:qq: RmInitAdapter failed! (0x63:0x56",
            "RmInitAdapter failed! ()",
            "NVRM: GPU : RmInitAdapter failed! (\u{7f}\u{0})",
            "RmInitAdapter failed",
        ] {
            let f = AdapterInitFailure::from_line(line, 1).unwrap();
            assert_eq!((f.gpu, f.code), (None, None), "{line}");
        }
        assert!(
            AdapterInitFailure::from_line("NVRM: loading NVIDIA UNIX x86_64 Kernel Module", 1)
                .is_none()
        );
    }

    fn one(text: &str) -> ApiMismatch {
        let facts = parse_kernel_log(text);
        assert_eq!(facts.api_mismatches.len(), 1, "{:?}", facts.api_mismatches);
        facts.api_mismatches[0].clone()
    }

    #[test]
    fn pre_575_blocks_in_dmesg_with_indented_continuations() {
        let facts = parse_kernel_log(OLD_DMESG);
        assert_eq!(facts.lines, 9);
        assert_eq!(facts.api_mismatches.len(), 2);
        let first = &facts.api_mismatches[0];
        assert_eq!(first.client_version, "580.95.05");
        assert_eq!(first.kernel_version, "580.65.06");
        assert_eq!(first.client, None);
        assert_eq!(first.pid, None);
        assert_eq!(first.line, 2);
        assert_eq!(first.timestamp.as_deref(), Some("[ 1234.567890]"));
        assert_eq!(facts.api_mismatches[1].line, 6);
    }

    #[test]
    fn wording_575_in_kern_log_names_client_and_pid() {
        let m = one(NEW_KERN_LOG);
        assert_eq!(m.client_version, "580.95.05");
        assert_eq!(m.kernel_version, "580.65.06");
        assert_eq!(m.client.as_deref(), Some("nvidia-smi"));
        assert_eq!(m.pid, Some(48213));
        assert_eq!(m.line, 1);
        assert_eq!(m.timestamp.as_deref(), Some("Oct 22 06:30:01"));
    }

    #[test]
    fn journald_short_and_iso_formats() {
        let text = "\
Oct 22 06:30:01 gpu-node-7 kernel: NVRM: API mismatch: the client 'python3' (pid 901)
Oct 22 06:30:01 gpu-node-7 kernel: NVRM: has the version 580.95.05, but this kernel module has
Oct 22 06:30:01 gpu-node-7 kernel: NVRM: the version 580.65.06.  Please make sure that this
";
        let m = one(text);
        assert_eq!(m.client.as_deref(), Some("python3"));
        assert_eq!(m.timestamp.as_deref(), Some("Oct 22 06:30:01"));
        let text = "\
2025-10-22T06:30:01.123456+00:00 gpu-node-7 kernel: NVRM: API mismatch: the client has the version 535.104.05, but
2025-10-22T06:30:01.123456+00:00 gpu-node-7 kernel: NVRM: this kernel module has the version 535.86.10.  Please
";
        let m = one(text);
        assert_eq!(m.client_version, "535.104.05");
        assert_eq!(m.kernel_version, "535.86.10");
        assert_eq!(
            m.timestamp.as_deref(),
            Some("2025-10-22T06:30:01.123456+00:00")
        );
    }

    #[test]
    fn journald_multi_line_record_with_indented_continuations() {
        let text = "\
Oct 22 06:30:01 gpu-node-7 kernel: NVRM: API mismatch: the client 'my job' (pid 77)
                                   NVRM: has the version 580.95.05, but this kernel module has
                                   NVRM: the version 580.65.06.  Please make sure that this
";
        let m = one(text);
        assert_eq!(m.client.as_deref(), Some("my job"));
        assert_eq!(m.pid, Some(77));
        assert_eq!(m.kernel_version, "580.65.06");
    }

    #[test]
    fn rsyslog_escaped_newlines() {
        let text = "Oct 22 06:30:01 h kernel: NVRM: API mismatch: the client has the version 580.95.05, but#012NVRM: this kernel module has the version 580.65.06.  Please#012NVRM: make sure that this kernel module and all NVIDIA driver#012NVRM: components have the same version.\n";
        let m = one(text);
        assert_eq!(m.client_version, "580.95.05");
        assert_eq!(m.kernel_version, "580.65.06");
        assert_eq!(m.line, 1);
    }

    #[test]
    fn two_part_versions() {
        let text = "[  1.0] NVRM: API mismatch: the client has the version 580.142, but\n[  1.0] NVRM: this kernel module has the version 575.64.  Please\n";
        let m = one(text);
        assert_eq!(m.client_version, "580.142");
        assert_eq!(m.kernel_version, "575.64");
    }

    #[test]
    fn interleaved_lines_are_ignored() {
        let text = "\
[  50.1] NVRM: API mismatch: the client 'nvitop' (pid 3)
[  50.1] usb 1-1: new high-speed USB device number 2 using xhci_hcd
[  50.1] NVRM: has the version 580.95.05, but this kernel module has
[  50.2] audit: type=1400 audit(1.2:3): apparmor=\"STATUS\"
[  50.2] NVRM: the version 580.65.06.  Please make sure that this
";
        let m = one(text);
        assert_eq!(m.client.as_deref(), Some("nvitop"));
        assert_eq!(m.kernel_version, "580.65.06");
    }

    #[test]
    fn truncated_blocks() {
        // Both versions known: counts even without the closing lines.
        let m = one("[1.0] NVRM: API mismatch: the client has the version 580.95.05, but\n[1.0] NVRM: this kernel module has the version 580.65.06.  Please");
        assert_eq!(m.kernel_version, "580.65.06");
        // Kernel version missing: does not count.
        for text in [
            "[1.0] NVRM: API mismatch: the client has the version 580.95.05, but\n",
            "[1.0] NVRM: API mismatch: the client 'nvidia-smi' (pid 4",
            "[1.0] NVRM: API mismatch: the client 'nvidia-smi' (pid 4)\n[1.0] NVRM: has the version 580.95.05, but this kernel module has\n",
            "[1.0] NVRM: API mismatch: the cli",
            "[1.0] NVRM: API mismatch: the client has the version 580.95.05, but\n[1.0] NVRM: this kernel module has the vers",
        ] {
            let facts = parse_kernel_log(text);
            assert!(
                facts.api_mismatches.is_empty(),
                "{text:?}: {:?}",
                facts.api_mismatches
            );
        }
    }

    #[test]
    fn a_new_block_replaces_an_unfinished_one() {
        let text = "\
[1.0] NVRM: API mismatch: the client has the version 1.1.1, but
[2.0] NVRM: API mismatch: the client has the version 580.95.05, but
[2.0] NVRM: this kernel module has the version 580.65.06.  Please
";
        let m = one(text);
        assert_eq!(m.client_version, "580.95.05");
        assert_eq!(m.line, 2);
    }

    #[test]
    fn a_block_does_not_reach_past_its_span() {
        let mut text =
            String::from("[1.0] NVRM: API mismatch: the client has the version 580.95.05, but\n");
        for _ in 0..BLOCK_SPAN {
            text.push_str("[1.1] other\n");
        }
        text.push_str("[9.0] NVRM: this kernel module has the version 580.65.06.  Please\n");
        assert!(parse_kernel_log(&text).api_mismatches.is_empty());
    }

    #[test]
    fn unrelated_nvrm_lines_do_not_make_a_block() {
        let text = "\
[    4.1] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 07:09:34 UTC 2025
[    4.2] NVRM: this kernel module has the version 580.65.06.  Please
[    4.3] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x22:0x56:884)
[    4.4] NVRM: GPU 0000:01:00.0: rm_init_adapter failed, device minor number 0
[    4.5] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x22:0x56:884)
";
        let facts = parse_kernel_log(text);
        assert!(facts.api_mismatches.is_empty());
        assert_eq!(facts.init_failures, vec![3, 5]);
        assert_eq!(facts.lines, 5);
    }

    #[test]
    fn level_prefix_and_junk() {
        let m = one("<4>[  9.9] NVRM: API mismatch: the client has the version 580.95.05, but\n<4>[  9.9] NVRM: this kernel module has the version 580.65.06.  Please\n");
        assert_eq!(m.timestamp.as_deref(), Some("[  9.9]"));
        let junk =
            String::from_utf8_lossy(&[0xff, b'N', b'V', b'R', b'M', b':', 0xfe, b'\n', 0x00, 0x80])
                .into_owned();
        let facts = parse_kernel_log(&junk);
        assert!(facts.api_mismatches.is_empty());
        assert_eq!(facts.lines, 2);
        assert_eq!(parse_kernel_log(""), KernelLogFacts::default());
        for odd in [
            "NVRM: API mismatch: the client ''' (pid 99999999999) has the version , but this kernel module has the version .",
            "NVRM: API mismatch: the client has the version , but\nNVRM: this kernel module has the version 1.2.",
            "NVRM: API mismatch:\nNVRM:\nNVRM: , but\nNVRM: the version",
        ] {
            let facts = parse_kernel_log(odd);
            assert!(facts.api_mismatches.is_empty(), "{odd:?}: {:?}", facts.api_mismatches);
        }
    }
}
