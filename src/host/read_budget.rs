//! The size budget of every file nvfix reads, in one table, and the reader that enforces it while reading.
//!
//! nvfix runs from a timer every few minutes as root, on hosts whose files it does not control: a rotated log that
//! gzip-expands to gigabytes, a module that zstd-expands to its cap, a `/proc` file that never ends. Every read is
//! therefore bounded while it happens (never by a size the file claims, never by first allocating the budget): what
//! a file may hold is decided by its kind, below, and a file over its budget is either refused or cut, with a
//! warning naming the file either way. The budgets keep one run within a few tens of megabytes and a second or two
//! whatever the inputs.
//!
//! | Kind | What | Budget | Over budget |
//! |------|------|--------|-------------|
//! | [`FileKind::Kernel`] | `/proc`, `/sys` files: `/proc/modules`, `/proc/keys`, mountinfo, cgroup, sysfs values, EFI variables | 8 MiB | refused |
//! | [`FileKind::Config`] | configuration: `/etc` (kmod, apt, unattended-upgrades, boot loader), `modules.dep`, `/boot` | 8 MiB | refused |
//! | [`FileKind::Record`] | nvfix's own records: `/var/lib/nvfix` (reboot and hold records, module cache), `/run/nvfix` (journal) | 1 MiB | refused |
//! | [`FileKind::Playbook`] | a playbook (`--playbook`, `playbook check`) | 1 MiB | refused |
//! | [`FileKind::PackageDatabase`] | dpkg `status` (read narrowed to the driver's stanzas) | 32 MiB | cut: the start kept |
//! | [`FileKind::PackageLog`] | apt/dpkg/dnf/unattended-upgrades logs (read narrowed to the driver's lines) | 32 MiB | cut: the start kept |
//! | [`FileKind::CompressedLog`] | rotated `.gz` package logs | 16 MiB compressed, 32 MiB decompressed | cut: the start kept |
//! | [`FileKind::KernelLog`] | `kern.log`, `messages`, `dmesg` (read whole) | 16 MiB | cut: the end (newest) kept |
//! | module files | `.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz` | see [`super::module_stream::StreamLimits`]: streamed ≤ 32× the file (96 MiB floor, 1 GiB cap) with ≤ ~10 MiB kept; read whole only ≤ 32× the file (16 MiB floor) | refused |
//! | command output | `journalctl -k`, `modprobe --show-depends`, … through the runner | 8 MiB per stream (`bounded_child`) | cut: the start kept |
//!
//! A narrowed read (dpkg status, package logs) also stops once the records it kept pass [`KEPT_PER_FILE`]: a real
//! host's driver entries are kilobytes, and a file where every line names the driver would otherwise be parsed whole.
//!
//! Across one run the package logs share a total of [`PACKAGE_LOGS_PER_RUN`] decompressed bytes (a dozen rotations of
//! four logs would otherwise be read in full).

use std::io::Read;

/// What a file is, for its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Kernel,
    Config,
    Record,
    Playbook,
    PackageDatabase,
    PackageLog,
    CompressedLog,
    KernelLog,
}

/// What happens to a file larger than its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverBudget {
    /// Not read at all: a configuration or record cut in the middle would be read as something it does not say.
    Refuse,
    /// The first `budget` bytes are read (logs in time order: the rest is reported as not read).
    KeepStart,
    /// The last `budget` bytes are read, from the first line start in them (a kernel log's newest lines).
    KeepEnd,
}

const MIB: u64 = 1 << 20;

/// The decompressed bytes all package logs of one run may add up to.
pub const PACKAGE_LOGS_PER_RUN: u64 = 96 * MIB;

/// The most text a narrowed read keeps from one file (see the table's note).
pub const KEPT_PER_FILE: usize = 4 << 20;

/// A `.gz` log's compressed size budget (its decompressed budget is [`FileKind::PackageLog`]'s).
pub const COMPRESSED_LOG_INPUT: u64 = 16 * MIB;

impl FileKind {
    /// The most bytes read from a file of this kind (decompressed bytes for a compressed log).
    pub const fn budget(self) -> u64 {
        match self {
            FileKind::Kernel | FileKind::Config => 8 * MIB,
            FileKind::Record | FileKind::Playbook => MIB,
            FileKind::PackageDatabase | FileKind::PackageLog | FileKind::CompressedLog => 32 * MIB,
            FileKind::KernelLog => 16 * MIB,
        }
    }

    pub const fn over_budget(self) -> OverBudget {
        match self {
            FileKind::Kernel | FileKind::Config | FileKind::Record | FileKind::Playbook => {
                OverBudget::Refuse
            }
            FileKind::PackageDatabase | FileKind::PackageLog | FileKind::CompressedLog => {
                OverBudget::KeepStart
            }
            FileKind::KernelLog => OverBudget::KeepEnd,
        }
    }

    /// The kind of a host path, by where it lives (the table above).
    pub fn of(host_path: &str) -> FileKind {
        let under = |dir: &str| host_path.starts_with(dir);
        if under("/proc/") || under("/sys/") {
            FileKind::Kernel
        } else if under("/var/lib/nvfix/") || under("/run/nvfix/") {
            FileKind::Record
        } else if host_path == "/var/lib/dpkg/status" {
            FileKind::PackageDatabase
        } else if ["/var/log/kern.log", "/var/log/messages", "/var/log/dmesg"].contains(&host_path)
        {
            FileKind::KernelLog
        } else if under("/var/log/") && host_path.ends_with(".gz") {
            FileKind::CompressedLog
        } else if under("/var/log/") {
            FileKind::PackageLog
        } else {
            FileKind::Config
        }
    }
}

/// A file's size when it was larger than its budget: the warning's words.
pub fn over_budget_message(kind: FileKind, what_happened: &str) -> String {
    format!(
        "larger than its {} budget of {}; {what_happened}",
        kind_name(kind),
        show_bytes(kind.budget())
    )
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Kernel => "kernel-file",
        FileKind::Config => "configuration",
        FileKind::Record => "record",
        FileKind::Playbook => "playbook",
        FileKind::PackageDatabase => "package-database",
        FileKind::PackageLog => "package-log",
        FileKind::CompressedLog => "decompressed-log",
        FileKind::KernelLog => "kernel-log",
    }
}

/// `64 MiB`, `512 KiB`, `100 bytes`.
pub fn show_bytes(n: u64) -> String {
    if n >= MIB && n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n % 1024 == 0 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// A text read within its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedText {
    pub text: String,
    /// Set when the file was larger than its budget: the warning to give (what was left out).
    pub cut: Option<String>,
    /// Bytes read from the file (decompressed bytes for a compressed one), for a run's allowance.
    pub read: u64,
}

/// The warning for a narrowed file whose driver records passed [`KEPT_PER_FILE`].
pub fn kept_message() -> String {
    format!(
        "its records naming the driver passed {} (a real host's are kilobytes); read up to there, the rest left out",
        show_bytes(KEPT_PER_FILE as u64)
    )
}

/// The warning for a file cut at `limit` (its kind's budget or a run's remaining allowance).
pub fn cut_message(kind: FileKind, limit: u64) -> String {
    if limit >= kind.budget() {
        over_budget_message(kind, "read up to there, the rest left out")
    } else {
        format!(
            "read only its first {} (this run's {} allowance for package logs is spent); the rest left out",
            show_bytes(limit),
            show_bytes(PACKAGE_LOGS_PER_RUN)
        )
    }
}

/// Reads the last `limit` bytes of a regular file, from the first line start in them when it is longer; whether it
/// was longer. A file whose length is not known (size 0, like a proc file) is read from the start, capped.
pub fn read_end(file: &mut std::fs::File, limit: u64) -> std::io::Result<(Vec<u8>, bool)> {
    use std::io::{Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len <= limit {
        return read_capped(file, limit);
    }
    file.seek(SeekFrom::Start(len - limit))?;
    let (bytes, _) = read_capped(file, limit)?;
    // The first line is most likely cut in the middle: drop it.
    let from = memchr::memchr(b'\n', &bytes).map_or(bytes.len(), |at| at + 1);
    Ok((bytes[from..].to_vec(), true))
}

/// A reader that gives at most `limit` bytes of `inner` and notes whether there was more. It never reserves memory:
/// the caller's buffer is whatever it passes.
pub struct Bounded<R> {
    inner: R,
    left: u64,
    cut: bool,
}

impl<R: Read> Bounded<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Bounded {
            inner,
            left: limit,
            cut: false,
        }
    }

    /// Bytes that may still be read.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// True once a read found bytes past the limit.
    pub fn was_cut(&self) -> bool {
        self.cut
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            if !self.cut {
                // One byte more tells a file of exactly the budget from a longer one.
                let mut probe = [0u8; 1];
                loop {
                    match self.inner.read(&mut probe) {
                        Ok(n) => {
                            self.cut = n > 0;
                            break;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            return Ok(0);
        }
        let room = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..room])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads `reader` to its end or to `limit` bytes, growing the buffer with what arrives (a 4 GiB claim costs nothing).
/// The bytes, and whether more were there.
pub fn read_capped(reader: impl Read, limit: u64) -> std::io::Result<(Vec<u8>, bool)> {
    let mut bounded = Bounded::new(reader, limit);
    let mut out = Vec::new();
    bounded.read_to_end(&mut out)?;
    Ok((out, bounded.was_cut()))
}

/// A reader whose first error ends the stream instead (kept for the caller): a truncated gzip still gives what was
/// there.
pub struct StopAtError<R> {
    inner: R,
    pub error: Option<std::io::Error>,
}

impl<R: Read> StopAtError<R> {
    pub fn new(inner: R) -> Self {
        StopAtError { inner, error: None }
    }
}

impl<R: Read> Read for StopAtError<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.error.is_some() {
            return Ok(0);
        }
        loop {
            match self.inner.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    return Ok(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_where_the_file_lives() {
        assert_eq!(FileKind::of("/proc/keys"), FileKind::Kernel);
        assert_eq!(FileKind::of("/sys/module/nvidia/version"), FileKind::Kernel);
        assert_eq!(
            FileKind::of("/var/lib/nvfix/reboots.json"),
            FileKind::Record
        );
        assert_eq!(FileKind::of("/run/nvfix/journal.json"), FileKind::Record);
        assert_eq!(
            FileKind::of("/var/lib/dpkg/status"),
            FileKind::PackageDatabase
        );
        assert_eq!(FileKind::of("/var/log/kern.log"), FileKind::KernelLog);
        assert_eq!(
            FileKind::of("/var/log/apt/history.log.2.gz"),
            FileKind::CompressedLog
        );
        assert_eq!(FileKind::of("/var/log/dpkg.log"), FileKind::PackageLog);
        assert_eq!(
            FileKind::of("/etc/modprobe.d/nvidia.conf"),
            FileKind::Config
        );
    }

    #[test]
    fn a_read_stops_at_the_limit_and_says_whether_there_was_more() {
        let (bytes, cut) = read_capped(&b"abcdef"[..], 4).unwrap();
        assert_eq!((bytes.as_slice(), cut), (&b"abcd"[..], true));
        let (bytes, cut) = read_capped(&b"abcd"[..], 4).unwrap();
        assert_eq!((bytes.as_slice(), cut), (&b"abcd"[..], false));
        let (bytes, cut) = read_capped(&b""[..], 0).unwrap();
        assert_eq!((bytes.len(), cut), (0, false));
    }

    #[test]
    fn an_endless_stream_costs_the_budget_not_more() {
        // /dev/zero as a stand-in for a proc file that never ends or a bomb's output.
        let (bytes, cut) = read_capped(std::io::repeat(0), 3 * MIB).unwrap();
        assert!(cut);
        assert_eq!(bytes.len() as u64, 3 * MIB);
        assert!(bytes.capacity() as u64 <= 4 * MIB, "{}", bytes.capacity());
    }

    #[test]
    fn an_error_ends_the_stream_and_is_kept() {
        struct HalfThenBroken(bool);
        impl Read for HalfThenBroken {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if std::mem::replace(&mut self.0, true) {
                    return Err(std::io::Error::other("unexpected end of file"));
                }
                buf[..3].copy_from_slice(b"abc");
                Ok(3)
            }
        }
        let mut r = StopAtError::new(HalfThenBroken(false));
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
        assert!(r.error.is_some());
    }

    #[test]
    fn the_end_of_a_long_file_is_read_from_a_line_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kern.log");
        std::fs::write(&path, "old line one\nold line two\nnew line\n").unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let (bytes, cut) = read_end(&mut file, 12).unwrap();
        assert_eq!(
            (String::from_utf8(bytes).unwrap(), cut),
            ("new line\n".into(), true)
        );
        let mut file = std::fs::File::open(&path).unwrap();
        let (bytes, cut) = read_end(&mut file, 1000).unwrap();
        assert_eq!((bytes.len(), cut), (35, false));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(show_bytes(64 * MIB), "64 MiB");
        assert_eq!(show_bytes(512 * 1024), "512 KiB");
        assert_eq!(show_bytes(100), "100 bytes");
    }
}
