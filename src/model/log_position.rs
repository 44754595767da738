//! Where a kernel-log line sits in time, so the lines a reload added are told from older ones by position, not by
//! line index (which a wrapped ring buffer or a rotated file makes meaningless).
//!
//! - `/dev/kmsg` records carry the kernel's sequence number (`6,1234,5678901,-;msg`: 1234), which only grows, also
//!   after the ring buffer wraps.
//! - Text logs (`kern.log`) carry a syslog date: RFC 3339 (`2025-10-22T06:30:01.123456+00:00`, journald's
//!   `short-iso`) read as an instant; the traditional `Oct 22 06:30:01` has no year and one-second resolution, so it
//!   orders lines within a year, and a line logged in the same second as the mark does not count as new.
//! - dmesg-style text (`[ 1234.567890] msg`, klogctl's output) carries microseconds since boot: enough within one
//!   boot, which is all a reload spans.

use serde::{Deserialize, Serialize};

/// The clock a position is measured on; positions on different clocks are not compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogClock {
    /// The kmsg sequence number.
    KmsgSeq,
    /// Microseconds since the Unix epoch, from an RFC 3339 syslog date.
    Wall,
    /// Seconds into a year (`Oct 22 06:30:01`), from a traditional syslog date.
    SyslogNoYear,
    /// Microseconds since boot, from a dmesg `[seconds.micros]` stamp.
    SinceBoot,
}

/// A line's position: later lines have larger `at` on the same clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogMark {
    pub clock: LogClock,
    pub at: i64,
}

impl LogMark {
    /// Is `self` after `mark`? None when they are on different clocks (the log changed source: cannot tell).
    pub fn is_after(&self, mark: &LogMark) -> Option<bool> {
        (self.clock == mark.clock).then_some(self.at > mark.at)
    }
}

/// One `/dev/kmsg` record line `prio,seq,micros,flags;message` → (sequence number, microseconds since boot,
/// message). Continuation lines (` KEY=value`) and garbage give None.
pub fn kmsg_record(line: &str) -> Option<(u64, u64, &str)> {
    let (prefix, message) = line.split_once(';')?;
    let mut fields = prefix.split(',');
    let _priority = fields.next()?;
    let seq = fields.next()?.parse().ok()?;
    let micros = fields.next()?.parse().ok()?;
    Some((seq, micros, message))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Oct 22 06:30:01` → seconds into the year (months counted as 31 days: only the order matters).
fn traditional_syslog_date(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace();
    let name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == name)? as i64;
    let day: i64 = parts
        .next()?
        .parse()
        .ok()
        .filter(|d| (1..=31).contains(d))?;
    let mut clock = parts.next()?.split(':');
    let mut field =
        |max: i64| -> Option<i64> { clock.next()?.parse().ok().filter(|v| (0..max).contains(v)) };
    let (h, m, s) = (field(24)?, field(60)?, field(61)?);
    Some(((month * 31 + day) * 24 + h) * 3600 + m * 60 + s)
}

/// `[ 1234.567890]` at the start of `text` (after an optional `<level>`) → microseconds since boot.
fn dmesg_stamp(text: &str) -> Option<i64> {
    let text = text.trim_start();
    let text = match text.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((level, rest)) if level.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => text,
    };
    let inner = text.strip_prefix('[')?.split_once(']')?.0.trim();
    let (secs, micros) = inner.split_once('.').unwrap_or((inner, "0"));
    let secs: i64 = secs.parse().ok()?;
    let micros: i64 = format!("{micros:0<6}").get(..6)?.parse().ok()?;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// The position a text-log line states: its syslog date (a `kern.log` spans boots, so the date wins over a dmesg
/// stamp after `kernel:`), else its dmesg stamp. None for lines that state none (continuations, garbage).
pub fn text_line_position(line: &str) -> Option<LogMark> {
    if let Some(at) = line.find(" kernel:") {
        let before = line[..at].trim_end();
        if let Some((date, _host)) = before.rsplit_once(char::is_whitespace) {
            let date = date.trim();
            if let Ok(t) = date.parse::<jiff::Timestamp>() {
                return Some(LogMark {
                    clock: LogClock::Wall,
                    at: t.as_microsecond(),
                });
            }
            if let Some(at) = traditional_syslog_date(date) {
                return Some(LogMark {
                    clock: LogClock::SyslogNoYear,
                    at,
                });
            }
        }
    }
    dmesg_stamp(line).map(|at| LogMark {
        clock: LogClock::SinceBoot,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_at_their_extremes_are_read_or_refused_never_wrapped() {
        let max = format!("6,{},{},-;NVRM: x", u64::MAX, u64::MAX);
        assert_eq!(kmsg_record(&max), Some((u64::MAX, u64::MAX, "NVRM: x")));
        assert_eq!(kmsg_record(&format!("6,{}0,1,-;x", u64::MAX)), None);
        assert_eq!(kmsg_record("6,-1,1,-;x"), None);
        // Seconds whose microseconds do not fit an i64: no position rather than a wrapped one.
        assert_eq!(dmesg_stamp(&format!("[{}.000000] x", i64::MAX)), None);
        assert_eq!(dmesg_stamp(&format!("[{}.000000] x", i64::MIN)), None);
        assert_eq!(dmesg_stamp("[9223372036854.775807] x"), Some(i64::MAX));
    }

    #[test]
    fn kmsg_records_give_their_sequence_number() {
        assert_eq!(
            kmsg_record("6,1234,5678901,-;NVRM: API mismatch"),
            Some((1234, 5678901, "NVRM: API mismatch"))
        );
        assert_eq!(
            kmsg_record("4,18446744073709551615,0,c;x"),
            Some((u64::MAX, 0, "x"))
        );
        for junk in [" SUBSYSTEM=pci", "garbage", "6,x,1,-;m", "6,1;m", ""] {
            assert_eq!(kmsg_record(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn text_lines_are_placed_by_syslog_date_else_dmesg_stamp() {
        let iso =
            text_line_position("2025-10-22T06:30:01.123456+00:00 gpu7 kernel: NVRM: x").unwrap();
        let later = text_line_position("2025-10-22T06:30:02+00:00 gpu7 kernel: NVRM: x").unwrap();
        assert_eq!(iso.clock, LogClock::Wall);
        assert_eq!(later.is_after(&iso), Some(true));
        let trad =
            text_line_position("Oct 22 06:30:01 gpu7 kernel: [81234.123456] NVRM: x").unwrap();
        let next_day = text_line_position("Oct 23 00:00:00 gpu7 kernel: NVRM: x").unwrap();
        assert_eq!(trad.clock, LogClock::SyslogNoYear);
        assert_eq!(next_day.is_after(&trad), Some(true));
        let boot = text_line_position("<4>[ 1234.5] NVRM: x").unwrap();
        assert_eq!((boot.clock, boot.at), (LogClock::SinceBoot, 1_234_500_000));
        assert_eq!(
            boot.is_after(&trad),
            None,
            "different clocks are not compared"
        );
        for junk in [
            "               NVRM: this kernel module",
            "[]",
            "[99999999999999999999.1] x",
            "Foo 22 06:30:01 host kernel: x",
            "Oct 32 06:30:01 host kernel: x",
            "",
        ] {
            assert_eq!(text_line_position(junk), None, "{junk:?}");
        }
    }
}
