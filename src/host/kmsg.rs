//! Reads the kernel ring buffer from `/dev/kmsg` without blocking (the live host only; needs CAP_SYSLOG or
//! `kernel.dmesg_restrict=0`), rendered as dmesg-style lines for the kernel-log parser.

use super::HostError;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The whole ring buffer as `[seconds.micros] message` lines.
pub fn read_kmsg() -> Result<String, HostError> {
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
