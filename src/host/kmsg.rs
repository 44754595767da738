//! Reads the kernel ring buffer from `/dev/kmsg` without blocking (the live host only; needs CAP_SYSLOG or
//! `kernel.dmesg_restrict=0`): its records carry the sequence numbers that tell new lines from old ones after the
//! buffer wraps. klogctl's dmesg text (timestamps only) is the fallback.

use super::HostError;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The ring buffer as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelRing {
    /// `/dev/kmsg` records, one per line: `6,1234,5678901,-;message` (for `model::kernel_log::parse_kmsg`).
    Records(String),
    /// `[seconds.micros] message` lines from klogctl (for `model::kernel_log::parse_kernel_log`).
    Dmesg(String),
}

/// The whole ring buffer: record by record from `/dev/kmsg` (hundreds of reads, each record with its sequence
/// number), else with one `syslog(2)` call (SYSLOG_ACTION_READ_ALL) where only that is allowed.
pub fn read_kmsg() -> Result<KernelRing, HostError> {
    match read_dev_kmsg() {
        Ok(records) => Ok(KernelRing::Records(records)),
        Err(e) => read_all_with_klogctl().map(KernelRing::Dmesg).ok_or(e),
    }
}

/// `klogctl(SYSLOG_ACTION_READ_ALL)`: the buffer as dmesg prints it (`<6>[   12.345678] message`), levels removed.
fn read_all_with_klogctl() -> Option<String> {
    const SYSLOG_ACTION_READ_ALL: libc::c_int = 3;
    const SYSLOG_ACTION_SIZE_BUFFER: libc::c_int = 10;
    // SAFETY: SIZE_BUFFER takes no buffer; READ_ALL writes at most `len` bytes into the buffer we own.
    let size = unsafe { libc::klogctl(SYSLOG_ACTION_SIZE_BUFFER, std::ptr::null_mut(), 0) };
    let size = usize::try_from(size).ok().filter(|&n| n > 0)?.min(64 << 20);
    let mut buf = vec![0u8; size];
    let n = unsafe {
        libc::klogctl(
            SYSLOG_ACTION_READ_ALL,
            buf.as_mut_ptr().cast(),
            size as libc::c_int,
        )
    };
    let n = usize::try_from(n).ok()?;
    buf.truncate(n);
    let text = String::from_utf8_lossy(&buf);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        // Drop the `<level>` prefix so lines look like dmesg's.
        let line = match line.strip_prefix('<').and_then(|r| r.split_once('>')) {
            Some((level, rest)) if level.chars().all(|c| c.is_ascii_digit()) => rest,
            _ => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    Some(out)
}

fn read_dev_kmsg() -> Result<String, HostError> {
    let path = PathBuf::from("/dev/kmsg");
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|source| HostError::Read {
            path: path.clone(),
            source,
        })?;
    let mut out = String::new();
    // Each read returns one record; EAGAIN means the end of the buffer; EPIPE means a record was overwritten
    // while reading, which is fine to skip.
    let mut buf = vec![0u8; 16 * 1024];
    // The ring buffer is at most 32 MiB (log_buf_len's limit); a flood written while it is read must not keep the
    // loop going.
    while out.len() < 32 << 20 {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.push_str(&record_line(&String::from_utf8_lossy(&buf[..n]))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(source) => return Err(HostError::Read { path, source }),
        }
    }
    Ok(out)
}

/// One record as one line: the `prio,seq,micros,flags;message` header line, without the ` KEY=value` dictionary
/// lines that may follow it.
fn record_line(record: &str) -> String {
    match record.lines().next() {
        Some(first) if first.contains(';') => format!("{first}\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_header_line_only() {
        assert_eq!(
            record_line("4,1234,5678901,-;NVRM: API mismatch: the client 'nvidia-smi' (pid 4242)\n SUBSYSTEM=x\n"),
            "4,1234,5678901,-;NVRM: API mismatch: the client 'nvidia-smi' (pid 4242)\n"
        );
        assert_eq!(record_line("garbage"), "");
        assert_eq!(record_line(""), "");
    }
}
