//! Reads the kernel ring buffer from `/dev/kmsg` without blocking (the live host only; needs CAP_SYSLOG or
//! `kernel.dmesg_restrict=0`), rendered as dmesg-style lines for the kernel-log parser.

use super::HostError;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The whole ring buffer as `[seconds.micros] message` lines: one `syslog(2)` call (SYSLOG_ACTION_READ_ALL) when
/// it is allowed, else record by record from `/dev/kmsg` (hundreds of reads).
pub fn read_kmsg() -> Result<String, HostError> {
    if let Some(text) = read_all_with_klogctl() {
        return Ok(text);
    }
    read_dev_kmsg()
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
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.push_str(&render_record(&String::from_utf8_lossy(&buf[..n]))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(source) => return Err(HostError::Read { path, source }),
        }
    }
    Ok(out)
}

/// `6,1234,5678901,-;NVRM: API mismatch…` → `[    5.678901] NVRM: API mismatch…`. Continuation lines
/// (` KEY=value` dictionary entries) are dropped.
pub fn render_record(record: &str) -> String {
    let mut lines = record.lines();
    let Some(first) = lines.next() else {
        return String::new();
    };
    let Some((prefix, message)) = first.split_once(';') else {
        return String::new();
    };
    let micros: u64 = prefix
        .split(',')
        .nth(2)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    format!(
        "[{:5}.{:06}] {}\n",
        micros / 1_000_000,
        micros % 1_000_000,
        message
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_records_as_dmesg_lines() {
        assert_eq!(
            render_record("4,1234,5678901,-;NVRM: API mismatch: the client 'nvidia-smi' (pid 4242)\n SUBSYSTEM=x\n"),
            "[    5.678901] NVRM: API mismatch: the client 'nvidia-smi' (pid 4242)\n"
        );
        assert_eq!(render_record("garbage"), "");
        assert_eq!(render_record(""), "");
    }
}
