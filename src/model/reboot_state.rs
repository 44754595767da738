//! The record of nvfix's reboots (`/var/lib/nvfix/reboots.json`), keyed by the boot id they were requested from:
//! the loop guard counts them, and after the boot `nvfix verify`/`nvfix auto` see the boot id changed.
//!
//! Pure: the host layer ([`crate::host::reboot`]) reads and writes the file.

use super::excerpt::shorten_quoted;
use serde::{Deserialize, Serialize};

/// Bumped when the file's shape changes incompatibly.
pub const STATE_FORMAT: u32 = 1;

/// The loop guard's window.
pub const LOOP_WINDOW_SECS: i64 = 24 * 3600;

/// A scheduled reboot that has not happened this long after its time is taken as not happening (cancelled by hand,
/// or refused by the init system).
pub const LAPSE_SECS: i64 = 15 * 60;

/// Records older than this are dropped when the file is written.
const KEEP_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootState {
    pub format: u32,
    #[serde(default)]
    pub reboots: Vec<RebootRecord>,
}

impl Default for RebootState {
    fn default() -> Self {
        RebootState {
            format: STATE_FORMAT,
            reboots: Vec::new(),
        }
    }
}

/// One reboot nvfix asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootRecord {
    /// `/proc/sys/kernel/random/boot_id` when the reboot was requested: a different boot id later proves it happened.
    pub boot_id: String,
    /// Unix seconds.
    pub requested_at: i64,
    /// When the reboot was due (Unix seconds); for a handoff, when it was handed over.
    pub scheduled_for: i64,
    /// `shutdown`, `systemctl` or `handoff`.
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_kernel: Option<String>,
    /// The driver version the reboot should bring (the library's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<String>,
    pub reason: String,
    #[serde(default)]
    pub cancelled: bool,
    /// The scheduling command failed: no reboot was set up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// Filled in on the first check after the boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<Completion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub boot_id: String,
    pub checked_at: i64,
    /// The host was healthy (versions match) after the boot.
    pub verified: bool,
}

impl RebootRecord {
    /// Did this request set up a reboot (it was not cancelled and its command did not fail)?
    pub fn counts(&self) -> bool {
        !self.cancelled && self.failed.is_none()
    }
}

/// Where the last nvfix reboot stands, seen from the current boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterBoot<'a> {
    /// No reboot is waiting to be checked.
    Nothing,
    /// A reboot was requested from this very boot and is still due (scheduled, or handed over).
    Pending(&'a RebootRecord),
    /// The host rebooted since (the boot id changed) and nobody has checked the result yet.
    Rebooted(&'a RebootRecord),
}

impl RebootState {
    /// Reboots nvfix set up within the loop window before `now`.
    pub fn recent(&self, now: i64) -> Vec<&RebootRecord> {
        self.reboots
            .iter()
            .filter(|r| r.counts() && r.requested_at > now.saturating_sub(LOOP_WINDOW_SECS))
            .collect()
    }

    /// The state of the newest reboot that set something up, given the current boot id.
    pub fn after_boot(&self, current_boot_id: &str, now: i64) -> AfterBoot<'_> {
        let Some(last) = self.reboots.iter().rev().find(|r| r.counts()) else {
            return AfterBoot::Nothing;
        };
        if last.completed.is_some() {
            return AfterBoot::Nothing;
        }
        if last.boot_id != current_boot_id {
            return AfterBoot::Rebooted(last);
        }
        // Handoffs have no due time: the cluster reboots when it can. A shutdown long overdue did not happen.
        if last.method == "handoff" || now <= last.scheduled_for.saturating_add(LAPSE_SECS) {
            AfterBoot::Pending(last)
        } else {
            AfterBoot::Nothing
        }
    }

    /// The newest completed reboot in the loop window that did not fix the host.
    pub fn recent_unfixed(&self, now: i64) -> Option<&RebootRecord> {
        self.recent(now)
            .into_iter()
            .rev()
            .find(|r| matches!(&r.completed, Some(c) if !c.verified))
    }

    /// Marks the reboot requested from `boot_id` (the newest one) as checked after the boot.
    pub fn complete(
        &mut self,
        from_boot_id: &str,
        current_boot_id: &str,
        now: i64,
        verified: bool,
    ) {
        if let Some(r) = self
            .reboots
            .iter_mut()
            .rev()
            .find(|r| r.counts() && r.boot_id == from_boot_id && r.completed.is_none())
        {
            r.completed = Some(Completion {
                boot_id: current_boot_id.to_string(),
                checked_at: now,
                verified,
            });
        }
    }

    /// The reboot requested from this boot that is still due, if any.
    pub fn pending(&self, current_boot_id: &str) -> Option<&RebootRecord> {
        self.reboots
            .iter()
            .rev()
            .find(|r| r.counts() && r.boot_id == current_boot_id && r.completed.is_none())
    }

    /// Marks the pending reboot of this boot cancelled; false when there was none.
    pub fn cancel_pending(&mut self, current_boot_id: &str) -> bool {
        match self
            .reboots
            .iter_mut()
            .rev()
            .find(|r| r.counts() && r.boot_id == current_boot_id && r.completed.is_none())
        {
            Some(r) => {
                r.cancelled = true;
                true
            }
            None => false,
        }
    }

    /// Drops records too old to matter, so the file stays small.
    pub fn prune(&mut self, now: i64) {
        self.reboots
            .retain(|r| r.requested_at > now.saturating_sub(KEEP_SECS));
    }
}

/// For `nvfix verify` (and the unit that runs it after boot): the check that an nvfix reboot happened and brought the
/// driver it was for. None when no nvfix reboot awaits checking; Some((ok, detail)) otherwise. A reboot requested
/// from this very boot that was neither cancelled nor settled has not happened, however long ago it was due (the loop
/// guard lets such a lapsed one go; verify does not call the host fixed by it). Pure: the caller reads the record
/// (`host::reboot::read_state`) and the loaded version; `nvfix auto` settles it with [`RebootState::complete`].
pub fn boot_check(
    state: &RebootState,
    current_boot_id: &str,
    loaded_version: Option<&str>,
    now: i64,
) -> Option<(bool, String)> {
    if let Some(r) = state.pending(current_boot_id) {
        let when = if r.method == "handoff" {
            "handed to the cluster's engine".to_string()
        } else if now <= r.scheduled_for {
            format!(
                "due in {} min",
                r.scheduled_for.saturating_sub(now) / 60 + 1
            )
        } else {
            format!("due {} min ago", now.saturating_sub(r.scheduled_for) / 60)
        };
        return Some((
            false,
            format!(
                "the reboot nvfix scheduled has not happened: the boot id is still {current_boot_id} ({}, {when}; {})",
                r.method, r.reason
            ),
        ));
    }
    match state.after_boot(current_boot_id, now) {
        AfterBoot::Nothing | AfterBoot::Pending(_) => None,
        AfterBoot::Rebooted(r) => match (r.expected_version.as_deref(), loaded_version) {
            (Some(want), Some(got)) if want == got => Some((
                true,
                format!("rebooted (boot id changed from {}); driver {got} is loaded as expected", r.boot_id),
            )),
            (Some(want), got) => Some((
                false,
                format!(
                    "rebooted (boot id changed from {}), but the loaded driver is {}, not the expected {want}",
                    r.boot_id,
                    got.unwrap_or("none")
                ),
            )),
            (None, _) => Some((true, format!("rebooted (boot id changed from {})", r.boot_id))),
        },
    }
}

/// Parses the state file. A garbled file is an error the caller must not treat as "no reboots" (that would fail open:
/// the loop guard would pass).
pub fn parse_state(text: &str) -> Result<RebootState, String> {
    let state: RebootState = serde_json::from_str(text).map_err(|e| {
        format!(
            "not a valid nvfix reboot record: {}",
            shorten_quoted(&e.to_string())
        )
    })?;
    if state.format != STATE_FORMAT {
        return Err(format!(
            "reboot record format {} is not the {STATE_FORMAT} this nvfix reads",
            state.format
        ));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(boot: &str, at: i64) -> RebootRecord {
        RebootRecord {
            boot_id: boot.into(),
            requested_at: at,
            scheduled_for: at + 300,
            method: "shutdown".into(),
            kernel: None,
            next_kernel: None,
            expected_version: None,
            reason: "test".into(),
            cancelled: false,
            failed: None,
            completed: None,
        }
    }

    #[test]
    fn recent_counts_only_reboots_set_up_in_the_last_day() {
        let now = 1_000_000;
        let mut s = RebootState::default();
        s.reboots.push(record("a", now - LOOP_WINDOW_SECS - 1));
        s.reboots.push(record("b", now - 100));
        let mut c = record("c", now - 50);
        c.cancelled = true;
        s.reboots.push(c);
        let mut f = record("d", now - 10);
        f.failed = Some("exit 1".into());
        s.reboots.push(f);
        let ids: Vec<&str> = s.recent(now).iter().map(|r| r.boot_id.as_str()).collect();
        assert_eq!(ids, vec!["b"]);
    }

    #[test]
    fn after_boot_tells_pending_from_rebooted() {
        let now = 1_000_000;
        let mut s = RebootState::default();
        assert_eq!(s.after_boot("x", now), AfterBoot::Nothing);
        s.reboots.push(record("boot1", now - 60));
        assert!(matches!(s.after_boot("boot1", now), AfterBoot::Pending(_)));
        assert!(
            matches!(s.after_boot("boot2", now), AfterBoot::Rebooted(r) if r.boot_id == "boot1")
        );
        // Long overdue on the same boot: it did not happen.
        assert_eq!(s.after_boot("boot1", now + 3600), AfterBoot::Nothing);
        s.complete("boot1", "boot2", now, false);
        assert_eq!(s.after_boot("boot2", now), AfterBoot::Nothing);
        assert_eq!(
            s.recent_unfixed(now).map(|r| r.boot_id.as_str()),
            Some("boot1")
        );
    }

    #[test]
    fn cancel_marks_only_this_boots_pending_reboot() {
        let now = 1_000_000;
        let mut s = RebootState::default();
        s.reboots.push(record("old", now - 7200));
        assert!(!s.cancel_pending("new"));
        s.reboots.push(record("new", now - 60));
        assert!(s.cancel_pending("new"));
        assert!(s.reboots[1].cancelled && !s.reboots[0].cancelled);
        assert_eq!(s.recent(now).len(), 1);
    }

    #[test]
    fn garbled_state_is_an_error_not_an_empty_history() {
        assert!(parse_state("").is_err());
        assert!(parse_state("{\"format\": 1, \"reboots\": [{}]}").is_err());
        assert!(parse_state("{\"format\": 9}").is_err());
        assert!(parse_state("\u{0}\u{1}").is_err());
        let mut s = RebootState::default();
        s.reboots.push(record("a", 5));
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(parse_state(&text).unwrap(), s);
    }

    #[test]
    fn boot_check_for_verify() {
        let now = 1_000_000;
        let mut s = RebootState::default();
        assert_eq!(boot_check(&s, "b2", Some("580.95.05"), now), None);
        let mut r = record("b1", now - 600);
        r.expected_version = Some("580.95.05".into());
        s.reboots.push(r);
        let (ok, detail) = boot_check(&s, "b1", Some("580.65.06"), now).unwrap();
        assert!(!ok, "same boot: not yet");
        assert!(
            detail.contains("the reboot nvfix scheduled has not happened")
                && detail.contains("still b1"),
            "{detail}"
        );
        // Long overdue is still not happened: the boot id says so.
        let (ok, detail) = boot_check(&s, "b1", Some("580.65.06"), now + 7200).unwrap();
        assert!(!ok && detail.contains("min ago"), "{detail}");
        assert!(boot_check(&s, "b2", Some("580.95.05"), now).unwrap().0);
        let (ok, detail) = boot_check(&s, "b2", Some("580.65.06"), now).unwrap();
        assert!(
            !ok && detail.contains("not the expected 580.95.05"),
            "{detail}"
        );
        s.complete("b1", "b2", now, true);
        assert_eq!(
            boot_check(&s, "b2", Some("580.95.05"), now),
            None,
            "checked once"
        );
    }

    #[test]
    fn records_with_numbers_out_of_range_never_panic() {
        let mut s = RebootState::default();
        let mut r = record("b1", i64::MIN);
        r.scheduled_for = i64::MAX;
        s.reboots.push(r);
        let _ = s.after_boot("b1", i64::MIN);
        let _ = s.recent(i64::MIN);
        let _ = boot_check(&s, "b1", None, i64::MIN);
        let _ = boot_check(&s, "b1", None, i64::MAX);
        s.prune(i64::MIN);
    }

    #[test]
    fn a_reboot_scheduled_at_the_end_of_time_stays_pending_rather_than_wrapping_into_lapsed() {
        // `scheduled_for + LAPSE_SECS` would wrap to a date far in the past (release) or panic (debug).
        let mut s = RebootState::default();
        let mut r = record("b1", 1_000);
        r.scheduled_for = i64::MAX;
        s.reboots.push(r);
        assert!(matches!(
            s.after_boot("b1", i64::MAX - 1),
            AfterBoot::Pending(_)
        ));
        assert!(matches!(s.after_boot("b1", 2_000), AfterBoot::Pending(_)));
        let mut s = RebootState::default();
        let mut r = record("b1", i64::MIN);
        r.scheduled_for = i64::MIN;
        s.reboots.push(r);
        assert_eq!(s.after_boot("b1", 0), AfterBoot::Nothing);
        assert!(s.recent(i64::MIN).is_empty());
    }

    #[test]
    fn prune_keeps_a_week() {
        let now = 10_000_000;
        let mut s = RebootState::default();
        s.reboots.push(record("old", now - KEEP_SECS - 1));
        s.reboots.push(record("new", now - 10));
        s.prune(now);
        assert_eq!(s.reboots.len(), 1);
        assert_eq!(s.reboots[0].boot_id, "new");
    }
}
