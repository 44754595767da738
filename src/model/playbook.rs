//! Playbooks: the written policy `nvfix auto` acts within (reload, reboot, hooks, verification), parsed and checked.
//!
//! A playbook is YAML with `version: 1`. Every mapping rejects unknown keys, and every value that has a shape (a time
//! of day, a weekday, a pattern, a hook's argv) is checked while it is parsed, so each error carries the line and
//! column it is about. Parsing is pure: the caller reads the file (and checks its ownership with
//! [`check_ownership`]).

use super::excerpt::{excerpt, shorten_quoted};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The only schema version this nvfix understands. A newer file is refused rather than half-understood.
pub const PLAYBOOK_VERSION: u32 = 1;

/// The playbook `nvfix auto` uses when none is given: reload only when no user process holds the GPU, never reboot.
pub const DEFAULT_PLAYBOOK: &str = include_str!("../../playbooks/default.yaml");

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Schema version; must be 1.
    pub version: SchemaVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub reload: ReloadPolicy,
    #[serde(default)]
    pub reboot: RebootPolicy,
    #[serde(default)]
    pub hooks: Hooks,
    /// Take the node out of the cluster's scheduler while a busy GPU defers the reload (see [`Quarantine`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<Quarantine>,
    #[serde(default)]
    pub verify: VerifyExpectations,
    #[serde(default)]
    pub upgrade: UpgradePolicy,
}

/// What `nvfix upgrade` may do on a host that acts within this playbook.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpgradePolicy {
    /// May `nvfix upgrade` install a new driver version here at all? (A fleet whose driver moves only in a rollout
    /// wave says no on its nodes.)
    pub allowed: bool,
}

impl Default for UpgradePolicy {
    fn default() -> Self {
        UpgradePolicy { allowed: true }
    }
}

/// Quarantine: while running jobs hold the GPU, a mismatched node would take new jobs that fail at CUDA/NVML
/// initialisation, so nvfix takes it out of the scheduler at once (Slurm drain, Kubernetes cordon), reloads when it
/// is idle, and puts back only a quarantine it placed itself.
///
/// The `probe` prints the node's scheduling state; `ours` matches that output when nvfix's own quarantine is in
/// place, `others` when the node is out of service for another reason (an admin's drain, a cordon nvfix did not
/// make). `ours` is tried first. A node in `others` is never quarantined over nor lifted. Hook arguments may use
/// `{hostname}`, `{loaded}` (the loaded module's version) and `{library}` (the library's version).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quarantine {
    pub probe: Hook,
    pub ours: Pattern,
    pub others: Pattern,
    /// Commands that place nvfix's quarantine (each must succeed).
    pub place: Vec<Hook>,
    /// Commands that lift it once the reload is verified (run only when the probe still matches `ours`).
    pub lift: Vec<Hook>,
    /// Kubernetes: evict the pods that request GPUs once nvfix's cordon is in place, so the reload need not wait
    /// for them to end. Absent: never evict (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evict_gpu_pods: Option<EvictGpuPods>,
}

/// How to list a node's pods and evict one: `list` prints `kubectl get pods -o json` for the node; `evict` posts the
/// Eviction object nvfix writes to its standard input (`{namespace}` and `{pod}` name the pod), so
/// PodDisruptionBudgets are honoured.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvictGpuPods {
    pub list: Hook,
    pub evict: Hook,
}

/// `version:` — a number that must equal [`PLAYBOOK_VERSION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct SchemaVersion(u32);

impl TryFrom<u32> for SchemaVersion {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        if v == PLAYBOOK_VERSION {
            Ok(SchemaVersion(v))
        } else {
            Err(format!(
                "unsupported playbook version {v}: this nvfix reads version {PLAYBOOK_VERSION}"
            ))
        }
    }
}

impl From<SchemaVersion> for u32 {
    fn from(v: SchemaVersion) -> u32 {
        v.0
    }
}

/// What a reload may do to the GPU's holders.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadPolicy {
    /// May nvfix reload the modules at all?
    pub allowed: bool,
    /// Services (systemd unit names, patterns allowed) nvfix may stop and start again. The CUDA MPS daemon, which has
    /// no unit, is named `nvidia-cuda-mps-control`.
    pub stop_services: Vec<Pattern>,
    /// May processes that are not services (users' jobs, containers) be terminated?
    pub allow_user_processes: bool,
    /// At most this many such processes are terminated; more holders than this defers the reload.
    pub max_holders_to_stop: u32,
    /// Seconds between SIGTERM and giving up (or SIGKILL, when allowed).
    pub grace_period_seconds: u64,
    pub allow_sigkill: bool,
    /// Holders that are never terminated: a match defers the reload instead.
    pub never_kill: NeverKill,
}

impl Default for ReloadPolicy {
    fn default() -> Self {
        ReloadPolicy {
            allowed: true,
            stop_services: Vec::new(),
            allow_user_processes: false,
            max_holders_to_stop: 0,
            grace_period_seconds: 30,
            allow_sigkill: false,
            never_kill: NeverKill::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NeverKill {
    /// User names (or numeric uids) whose processes are never terminated.
    pub users: Vec<Pattern>,
    /// Commands never terminated: matched against the executable's base name and against the whole command line.
    pub commands: Vec<Pattern>,
}

/// How a reboot is carried out once every guard passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebootMethod {
    /// nvfix schedules it: `shutdown -r +DELAY "nvfix: …"` (or `systemctl reboot --check-inhibitors=yes` at delay 0).
    #[default]
    Shutdown,
    /// The `reboot.handoff` commands hand the reboot to the cluster's engine (Slurm, kured, …).
    Handoff,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RebootPolicy {
    /// May `nvfix auto` reboot? (`--allow-reboot` also allows it for one run.)
    pub allowed: bool,
    pub method: RebootMethod,
    /// Minutes between scheduling and rebooting, so logged-in users see the wall message (0: now).
    pub delay_minutes: u32,
    /// At most this many nvfix reboots in any 24 hours: the loop guard.
    pub max_per_24h: u32,
    /// Reboot when a user process holds the GPU? Services do not count; they stop with the host.
    pub allow_gpu_holders: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<MaintenanceWindow>,
    /// With `method: handoff`, the commands that hand the reboot over (each must succeed).
    pub handoff: Vec<Hook>,
    /// With `method: handoff`, the commands that take a handed-off reboot back (`nvfix reboot --cancel --playbook`),
    /// e.g. `scontrol cancel_reboot {hostname}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cancel_handoff: Vec<Hook>,
}

impl Default for RebootPolicy {
    fn default() -> Self {
        RebootPolicy {
            allowed: false,
            method: RebootMethod::Shutdown,
            delay_minutes: 5,
            max_per_24h: 1,
            allow_gpu_holders: false,
            maintenance_window: None,
            handoff: Vec::new(),
            cancel_handoff: Vec::new(),
        }
    }
}

/// When a reboot may happen: on `days`, from `start` to `end` (an `end` before `start` runs past midnight into the next
/// day), in `timezone` (`UTC`, `local`, a fixed offset such as `+02:00`, or an IANA zone such as `Europe/Berlin`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// Days the window opens on; empty means every day.
    #[serde(default)]
    pub days: Vec<Weekday>,
    pub start: TimeOfDay,
    pub end: TimeOfDay,
    #[serde(default)]
    pub timezone: Timezone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Monday = 0 … Sunday = 6.
    pub fn index(self) -> u32 {
        self as u32
    }
}

/// A time of day, `HH:MM`, as minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay(pub u32);

impl TryFrom<String> for TimeOfDay {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{}` is not a time of day (HH:MM, 00:00 to 24:00)",
                excerpt(&s)
            )
        };
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u32 = h.parse().map_err(|_| bad())?;
        let m: u32 = m.parse().map_err(|_| bad())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(TimeOfDay(h * 60 + m))
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        format!("{:02}:{:02}", t.0 / 60, t.0 % 60)
    }
}

/// The clock a maintenance window is read in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Timezone {
    #[default]
    Utc,
    /// The host's local time (its `/etc/localtime`), daylight saving included.
    Local,
    /// A fixed offset east of UTC, in minutes.
    Offset(i32),
    /// An IANA zone (`Europe/Berlin`, `America/New_York`), daylight saving included; the host's time-zone database
    /// says what its offset is (the host layer looks it up; an unknown zone blocks the window guard).
    Named(String),
}

/// Does this look like an IANA zone name (`Area/Location`, letters, digits, `_`, `-`, `+`)?
fn is_zone_name(s: &str) -> bool {
    let mut parts = s.split('/');
    let area_ok = parts
        .next()
        .is_some_and(|a| a.chars().next().is_some_and(|c| c.is_ascii_alphabetic()));
    let mut rest = parts.peekable();
    area_ok
        && rest.peek().is_some()
        && s.split('/').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
        })
}

impl TryFrom<String> for Timezone {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "UTC" | "utc" | "Z" => return Ok(Timezone::Utc),
            "local" => return Ok(Timezone::Local),
            _ => {}
        }
        if is_zone_name(&s) {
            return Ok(Timezone::Named(s));
        }
        let bad = || {
            format!(
                "`{}` is not a time zone nvfix understands: use UTC, local, an offset such as +02:00, or a zone such \
                 as Europe/Berlin",
                excerpt(&s)
            )
        };
        let sign = match s.chars().next() {
            Some('+') => 1,
            Some('-') => -1,
            _ => return Err(bad()),
        };
        let t = TimeOfDay::try_from(s[1..].to_string()).map_err(|_| bad())?;
        if t.0 > 14 * 60 {
            return Err(bad());
        }
        Ok(Timezone::Offset(sign * t.0 as i32))
    }
}

impl From<Timezone> for String {
    fn from(t: Timezone) -> String {
        match t {
            Timezone::Utc => "UTC".into(),
            Timezone::Local => "local".into(),
            Timezone::Named(name) => name,
            Timezone::Offset(m) => format!(
                "{}{:02}:{:02}",
                if m < 0 { '-' } else { '+' },
                m.abs() / 60,
                m.abs() % 60
            ),
        }
    }
}

/// Commands run around the actions. A failing `before_*` hook stops the action (unless `on_failure: continue`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hooks {
    pub before_reload: Vec<Hook>,
    pub after_reload: Vec<Hook>,
    pub before_reboot: Vec<Hook>,
    /// Run by the first `nvfix auto` after an nvfix reboot, once the host is verified healthy (e.g. resume, uncordon).
    pub after_reboot: Vec<Hook>,
}

/// One command, run without a shell. `{hostname}` in an argument is replaced by the host's name.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "RawHook")]
pub struct Hook {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub argv: Vec<String>,
    pub timeout_seconds: u64,
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    #[default]
    Abort,
    Continue,
}

/// The most a hook may run: a drain can be slow, but a hook that never ends must not hold the host forever.
pub const MAX_HOOK_TIMEOUT_SECONDS: u64 = 3600;
/// The longest grace period between SIGTERM and giving up, from a playbook or `--grace` (an hour).
pub const MAX_GRACE_SECONDS: u64 = 3600;
/// The longest delay before a scheduled reboot, from a playbook or `--delay` (a day).
pub const MAX_REBOOT_DELAY_MINUTES: u32 = 24 * 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    #[serde(default)]
    name: Option<String>,
    argv: Vec<String>,
    #[serde(default = "default_hook_timeout")]
    timeout_seconds: u64,
    #[serde(default)]
    on_failure: OnFailure,
}

fn default_hook_timeout() -> u64 {
    60
}

impl TryFrom<RawHook> for Hook {
    type Error = String;
    fn try_from(r: RawHook) -> Result<Self, String> {
        let Some(program) = r.argv.first() else {
            return Err("a hook's argv must name a program".into());
        };
        // Hooks run as root: a bare name would be looked up in whatever PATH nvfix inherited.
        if !program.starts_with('/') {
            return Err(format!(
                "a hook's program must be an absolute path, not `{}`",
                excerpt(program)
            ));
        }
        if r.timeout_seconds == 0 || r.timeout_seconds > MAX_HOOK_TIMEOUT_SECONDS {
            return Err(format!(
                "timeout_seconds must be 1 to {MAX_HOOK_TIMEOUT_SECONDS}, not {}",
                r.timeout_seconds
            ));
        }
        Ok(Hook {
            name: r.name,
            argv: r.argv,
            timeout_seconds: r.timeout_seconds,
            on_failure: r.on_failure,
        })
    }
}

impl Hook {
    /// The hook's label in reports: its name, else its argv.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.argv.join(" "))
    }
    /// argv with `{hostname}` replaced.
    pub fn expanded_argv(&self, hostname: &str) -> Vec<String> {
        self.expanded_argv_with(&[("hostname", hostname)])
    }
    /// argv with each `{name}` of `vars` replaced by its value.
    pub fn expanded_argv_with(&self, vars: &[(&str, &str)]) -> Vec<String> {
        self.argv
            .iter()
            .map(|a| {
                vars.iter()
                    .fold(a.clone(), |a, (k, v)| a.replace(&format!("{{{k}}}"), v))
            })
            .collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyExpectations {
    /// GPUs NVML must see after a fix (and on a healthy host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_count: Option<u32>,
}

/// A name pattern: a glob (`*` any run, `?` one character) matched against the whole name, or, prefixed with `re:`, a
/// regular expression that must match the whole name.
#[derive(Clone, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, String> {
        let body = match source.strip_prefix("re:") {
            Some(re) => re.to_string(),
            None => glob_to_regex(source),
        };
        if source.is_empty() {
            return Err("an empty pattern matches nothing; remove it".into());
        }
        // regex's message draws the pattern and a caret over several lines; its last line says why.
        let invalid = |e: regex::Error| {
            let why = e.to_string();
            let why = why.lines().last().unwrap_or_default().trim().to_string();
            format!(
                "`{}` is not a valid regular expression: {why}",
                excerpt(source)
            )
        };
        // The expression must stand on its own before it is anchored: `x)|(svc` would otherwise become
        // `^(?:x)|(svc)$`, whose second branch is not anchored at the start.
        Regex::new(&body).map_err(invalid)?;
        let regex = Regex::new(&format!("^(?:{body})$")).map_err(invalid)?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }
    pub fn matches(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

fn glob_to_regex(glob: &str) -> String {
    let mut re = String::new();
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re
}

impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Pattern::new(&s)
    }
}

impl From<Pattern> for String {
    fn from(p: Pattern) -> String {
        p.source
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

/// Why a playbook was refused. `line`/`column` are 1-based, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookError {
    pub kind: PlaybookErrorKind,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybookErrorKind {
    /// Not YAML at all (syntax, encoding): a data error.
    Syntax,
    /// YAML, but not a valid playbook (unknown key, wrong type, bad value): a configuration error.
    Schema,
}

impl PlaybookError {
    /// `FILE:LINE:COLUMN: message` (or `FILE: message` without a position), as compilers print errors.
    pub fn display_for(&self, file: &str) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}: {}", self.message),
            _ => format!("{file}: {}", self.message),
        }
    }
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_for("playbook"))
    }
}

impl std::error::Error for PlaybookError {}

pub(crate) fn yaml_error(e: serde_norway::Error, kind: PlaybookErrorKind) -> PlaybookError {
    let loc = e.location();
    let text = e.to_string();
    // serde_norway (like serde_yaml) appends " at line L column C"; the position is printed in front instead.
    let message = match text.rsplit_once(" at line ") {
        Some((m, _)) if loc.is_some() => m.to_string(),
        _ => text,
    };
    // serde quotes a rejected value whole: a file that is one long scalar would be printed entire.
    let message = shorten_quoted(&message);
    PlaybookError {
        kind,
        line: loc.as_ref().map(|l| l.line()),
        column: loc.as_ref().map(|l| l.column()),
        message,
    }
}

/// Size and nesting first, by a linear scan: deep flow nesting costs the YAML parser quadratic time. Shared by every
/// YAML file nvfix reads (playbooks and the conffile).
pub(crate) fn check_yaml_size(text: &str) -> Result<(), PlaybookError> {
    super::yaml_limits::check_yaml_limits(text).map_err(|e| PlaybookError {
        kind: PlaybookErrorKind::Syntax,
        line: Some(e.line),
        column: Some(e.column),
        message: e.message,
    })
}

/// Parses and checks a playbook.
pub fn parse_playbook(text: &str) -> Result<Playbook, PlaybookError> {
    check_yaml_size(text)?;
    // First as plain YAML, so a syntax error is told apart from a valid document with the wrong shape.
    let value: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| yaml_error(e, PlaybookErrorKind::Syntax))?;
    if value.is_null() {
        return Err(PlaybookError {
            kind: PlaybookErrorKind::Schema,
            line: None,
            column: None,
            message: "the playbook is empty (it needs at least `version: 1`)".into(),
        });
    }
    let playbook: Playbook =
        serde_norway::from_str(text).map_err(|e| yaml_error(e, PlaybookErrorKind::Schema))?;
    check_semantics(&playbook)?;
    Ok(playbook)
}

/// Rules that span several fields (and so have no single position in the file).
fn check_semantics(p: &Playbook) -> Result<(), PlaybookError> {
    let err = |message: String| PlaybookError {
        kind: PlaybookErrorKind::Schema,
        line: None,
        column: None,
        message,
    };
    if p.reboot.method == RebootMethod::Handoff && p.reboot.handoff.is_empty() {
        return Err(err(
            "reboot.method is handoff but reboot.handoff names no command".into(),
        ));
    }
    if p.reboot.method == RebootMethod::Shutdown && !p.reboot.handoff.is_empty() {
        return Err(err(
            "reboot.handoff is only used with reboot.method: handoff".into(),
        ));
    }
    if p.reboot.method == RebootMethod::Shutdown && !p.reboot.cancel_handoff.is_empty() {
        return Err(err(
            "reboot.cancel_handoff is only used with reboot.method: handoff".into(),
        ));
    }
    if p.reboot.allowed && p.reboot.max_per_24h == 0 {
        return Err(err(
            "reboot.allowed is true but reboot.max_per_24h is 0: no reboot could ever happen"
                .into(),
        ));
    }
    if let Some(w) = &p.reboot.maintenance_window {
        if w.start == w.end {
            return Err(err(
                "reboot.maintenance_window: start and end are equal (an empty window); leave the window out to allow \
                 any time"
                    .into(),
            ));
        }
    }
    if p.reboot.delay_minutes > MAX_REBOOT_DELAY_MINUTES {
        return Err(err(format!(
            "reboot.delay_minutes is {}; at most {MAX_REBOOT_DELAY_MINUTES} (a day)",
            p.reboot.delay_minutes
        )));
    }
    if let Some(q) = &p.quarantine {
        if q.place.is_empty() || q.lift.is_empty() {
            return Err(err(
                "quarantine needs both place and lift commands: a quarantine nvfix cannot lift would keep the node \
                 out of service for good"
                    .into(),
            ));
        }
    }
    if p.reload.grace_period_seconds > MAX_GRACE_SECONDS {
        return Err(err(format!(
            "reload.grace_period_seconds is {}; at most {MAX_GRACE_SECONDS}",
            p.reload.grace_period_seconds
        )));
    }
    Ok(())
}

/// The default playbook, parsed. It is part of nvfix itself; a test proves it parses.
pub fn default_playbook() -> Playbook {
    match parse_playbook(DEFAULT_PLAYBOOK) {
        Ok(p) => p,
        // Only reachable if the shipped file is broken, which the tests rule out; fall back to the safest policy.
        Err(_) => Playbook {
            version: SchemaVersion(PLAYBOOK_VERSION),
            name: Some("built-in".into()),
            description: None,
            reload: ReloadPolicy::default(),
            reboot: RebootPolicy::default(),
            hooks: Hooks::default(),
            quarantine: None,
            verify: VerifyExpectations::default(),
            upgrade: UpgradePolicy { allowed: false },
        },
    }
}

/// A file's owner and mode bits, as `fstat` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOwnership {
    pub uid: u32,
    pub mode: u32,
    pub is_regular: bool,
}

/// A playbook can run commands as root: when nvfix runs as root, the file must be a regular file owned by root and
/// writable by no one else (group and others without write permission). Anyone else may only hurt themselves.
pub fn check_ownership(meta: &FileOwnership, running_as_root: bool) -> Result<(), String> {
    if !meta.is_regular {
        return Err("not a regular file".into());
    }
    if !running_as_root {
        return Ok(());
    }
    if meta.uid != 0 {
        return Err(format!(
            "owned by uid {}, not root; nvfix runs as root and a playbook runs commands: chown root it",
            meta.uid
        ));
    }
    if meta.mode & 0o022 != 0 {
        return Err(format!(
            "writable by group or others (mode {:04o}); nvfix runs as root and a playbook runs commands: chmod go-w it",
            meta.mode & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_err(text: &str) -> PlaybookError {
        let e = parse_playbook(text).expect_err("must be refused");
        assert_eq!(e.kind, PlaybookErrorKind::Schema, "{e}");
        e
    }

    #[test]
    fn minimal_playbook_takes_the_conservative_defaults() {
        let p = parse_playbook("version: 1\n").unwrap();
        assert!(p.reload.allowed);
        assert!(!p.reload.allow_user_processes);
        assert!(!p.reload.allow_sigkill);
        assert_eq!(p.reload.max_holders_to_stop, 0);
        assert!(!p.reboot.allowed);
        assert_eq!(p.reboot.max_per_24h, 1);
        assert_eq!(p.reboot.method, RebootMethod::Shutdown);
        assert_eq!(p.verify.gpu_count, None);
    }

    #[test]
    fn full_playbook_parses() {
        let p = parse_playbook(
            r#"
version: 1
name: test
reload:
  stop_services: [nvidia-persistenced.service, "nvidia-dcgm*"]
  allow_user_processes: true
  max_holders_to_stop: 4
  grace_period_seconds: 20
  allow_sigkill: true
  never_kill:
    users: [postgres, "re:svc-.*"]
    commands: ["*sshd*"]
reboot:
  allowed: true
  delay_minutes: 10
  max_per_24h: 2
  maintenance_window: {days: [sat, sun], start: "22:00", end: "04:00", timezone: "+02:00"}
hooks:
  before_reload:
    - {name: drain, argv: [/usr/bin/scontrol, update, "nodename={hostname}", state=drain], timeout_seconds: 30}
verify:
  gpu_count: 8
"#,
        )
        .unwrap();
        assert_eq!(p.reload.stop_services.len(), 2);
        assert!(p.reload.stop_services[1].matches("nvidia-dcgm.service"));
        assert!(p.reload.never_kill.users[1].matches("svc-backup"));
        assert!(!p.reload.never_kill.users[1].matches("xsvc-backup"));
        let w = p.reboot.maintenance_window.unwrap();
        assert_eq!(w.days, vec![Weekday::Sat, Weekday::Sun]);
        assert_eq!(w.start, TimeOfDay(22 * 60));
        assert_eq!(w.end, TimeOfDay(4 * 60));
        assert_eq!(w.timezone, Timezone::Offset(120));
        let h = &p.hooks.before_reload[0];
        assert_eq!(h.timeout_seconds, 30);
        assert_eq!(
            h.expanded_argv("gpu07")[2],
            "nodename=gpu07",
            "placeholders are expanded"
        );
        assert_eq!(p.verify.gpu_count, Some(8));
    }

    #[test]
    fn unknown_key_is_refused_with_its_position() {
        let e = schema_err("version: 1\nreload:\n  alowed: true\n");
        assert_eq!((e.line, e.column), (Some(3), Some(3)), "{e}");
        assert!(e.message.contains("unknown field `alowed`"), "{e}");
        assert_eq!(
            e.display_for("p.yaml"),
            format!("p.yaml:3:3: {}", e.message)
        );
        schema_err("version: 1\nextra: 2\n");
        schema_err(
            "version: 1\nreboot:\n  maintenance_window: {start: '01:00', end: '02:00', tz: UTC}\n",
        );
        schema_err("version: 1\nhooks:\n  before_reload: [{argv: [/bin/true], shell: yes}]\n");
    }

    #[test]
    fn wrong_types_are_refused_with_their_position() {
        let e = schema_err("version: 1\nreload:\n  grace_period_seconds: soon\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("invalid type"), "{e}");
        schema_err("version: 1\nreboot:\n  allowed: maybe\n");
        schema_err("version: 1\nreload:\n  stop_services: nvidia-persistenced\n");
        schema_err("version: 1\nreload: [1, 2]\n");
        schema_err("- version: 1\n");
        schema_err("just a string\n");
    }

    #[test]
    fn bad_values_are_refused_with_their_position() {
        let e = schema_err("version: 2\n");
        assert!(e.message.contains("unsupported playbook version 2"), "{e}");
        assert_eq!(e.line, Some(1));
        let e = schema_err(
            "version: 1\nreboot:\n  maintenance_window:\n    start: '25:00'\n    end: '02:00'\n",
        );
        assert!(e.message.contains("not a time of day"), "{e}");
        assert_eq!(e.line, Some(4), "{e}");
        schema_err("version: 1\nreboot:\n  maintenance_window: {days: [funday], start: '01:00', end: '02:00'}\n");
        schema_err("version: 1\nreboot:\n  maintenance_window: {start: '01:00', end: '02:00', timezone: 'Mars/Olympus Mons'}\n");
        schema_err("version: 1\nreboot:\n  maintenance_window: {start: '01:00', end: '01:00'}\n");
        schema_err("version: 1\nhooks:\n  before_reboot: [{argv: []}]\n");
        let e = schema_err("version: 1\nhooks:\n  before_reboot: [{argv: [scontrol, x]}]\n");
        assert!(e.message.contains("absolute path"), "{e}");
        schema_err("version: 1\nhooks:\n  before_reboot: [{argv: [/bin/x], timeout_seconds: 0}]\n");
        schema_err("version: 1\nreload:\n  never_kill: {commands: ['re:(']}\n");
        schema_err("version: 1\nreload:\n  stop_services: ['']\n");
        let e = schema_err("version: 1\nreboot:\n  cancel_handoff: [{argv: [/usr/bin/scontrol, cancel_reboot, x]}]\n");
        assert!(e.message.contains("cancel_handoff is only used"), "{e}");
        schema_err("version: 1\nreboot: {method: handoff}\n");
        schema_err("version: 1\nreboot: {allowed: true, max_per_24h: 0}\n");
        schema_err("version: 1\nreboot: {delay_minutes: 100000}\n");
        schema_err("");
        schema_err("name: no version\n");
    }

    #[test]
    fn broken_yaml_is_a_syntax_error() {
        for text in [
            "version: 1\nreload: {allowed: true\n",
            "version: [1\n",
            "\tversion: 1\n",
            "version: 1\n  bad indent: x\n y: z\n",
            "\u{0}\u{1}\u{2}",
        ] {
            let e = parse_playbook(text).expect_err(text);
            assert_eq!(e.kind, PlaybookErrorKind::Syntax, "{text:?}: {e}");
        }
        let e = parse_playbook("version: 1\nreload: {allowed: true\n").unwrap_err();
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn truncations_never_panic() {
        let text = include_str!("../../playbooks/slurm-node.yaml");
        for end in 0..text.len() {
            if text.is_char_boundary(end) {
                let _ = parse_playbook(&text[..end]);
            }
        }
    }

    #[test]
    fn shipped_default_is_conservative() {
        let p = parse_playbook(DEFAULT_PLAYBOOK).unwrap();
        assert!(p.reload.allowed);
        assert!(!p.reload.allow_user_processes);
        assert!(!p.reload.allow_sigkill);
        assert!(!p.reboot.allowed);
        assert_eq!(default_playbook(), p);
    }

    #[test]
    fn every_shipped_playbook_parses() {
        for (name, text) in [
            ("default", DEFAULT_PLAYBOOK),
            (
                "workstation",
                include_str!("../../playbooks/workstation.yaml"),
            ),
            (
                "dedicated-node",
                include_str!("../../playbooks/dedicated-node.yaml"),
            ),
            (
                "slurm-node",
                include_str!("../../playbooks/slurm-node.yaml"),
            ),
            (
                "kubernetes-node",
                include_str!("../../playbooks/kubernetes-node.yaml"),
            ),
        ] {
            if let Err(e) = parse_playbook(text) {
                panic!("{}", e.display_for(&format!("playbooks/{name}.yaml")));
            }
        }
    }

    #[test]
    fn patterns_match_whole_names() {
        let g = Pattern::new("nvidia-*.service").unwrap();
        assert!(g.matches("nvidia-persistenced.service"));
        assert!(!g.matches("x-nvidia-persistenced.service"));
        assert!(!g.matches("nvidia-persistenced.service.bak"));
        let q = Pattern::new("user?").unwrap();
        assert!(q.matches("user1") && !q.matches("user12"));
        let dot = Pattern::new("a.b").unwrap();
        assert!(!dot.matches("axb"), "a glob's dot is literal");
        let re = Pattern::new("re:slurm(d|stepd)").unwrap();
        assert!(re.matches("slurmstepd") && !re.matches("slurmstepd2"));
    }

    #[test]
    fn timezones_and_times_round_trip() {
        for tz in ["UTC", "local", "+02:00", "-05:30"] {
            let t = Timezone::try_from(tz.to_string()).unwrap();
            assert_eq!(String::from(t), tz);
        }
        assert_eq!(
            Timezone::try_from("-05:30".to_string()).unwrap(),
            Timezone::Offset(-330)
        );
        assert!(Timezone::try_from("+15:00".to_string()).is_err());
        assert_eq!(
            Timezone::try_from("America/New_York".to_string()).unwrap(),
            Timezone::Named("America/New_York".into())
        );
        assert!(Timezone::try_from("Berlin time".to_string()).is_err());
        assert!(Timezone::try_from("/etc/localtime".to_string()).is_err());
        assert!(Timezone::try_from("0200".to_string()).is_err());
        assert_eq!(
            TimeOfDay::try_from("24:00".to_string()).unwrap(),
            TimeOfDay(1440)
        );
        for bad in ["24:01", "1:5", "12", ":30", "ab:cd", "12:60", "-1:00"] {
            assert!(TimeOfDay::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn ownership_rules_apply_only_to_root() {
        let safe = FileOwnership {
            uid: 0,
            mode: 0o100644,
            is_regular: true,
        };
        assert!(check_ownership(&safe, true).is_ok());
        let other_writable = FileOwnership {
            mode: 0o100666,
            ..safe
        };
        assert!(check_ownership(&other_writable, true)
            .unwrap_err()
            .contains("0666"));
        let group_writable = FileOwnership {
            mode: 0o100664,
            ..safe
        };
        assert!(check_ownership(&group_writable, true).is_err());
        let user_owned = FileOwnership { uid: 1000, ..safe };
        assert!(check_ownership(&user_owned, true)
            .unwrap_err()
            .contains("uid 1000"));
        assert!(check_ownership(&user_owned, false).is_ok());
        assert!(check_ownership(&other_writable, false).is_ok());
        let fifo = FileOwnership {
            is_regular: false,
            ..safe
        };
        assert!(check_ownership(&fifo, false).is_err());
    }

    #[test]
    fn a_re_pattern_that_does_not_stand_alone_is_refused_not_half_anchored() {
        let Err(e) = Pattern::new("re:x)|(svc") else {
            panic!("refused")
        };
        assert!(e.contains("not a valid regular expression"), "{e}");
        let p = Pattern::new("re:a|svc-.*").unwrap();
        assert!(p.matches("svc-web") && p.matches("a"));
        assert!(!p.matches("my-svc-web") && !p.matches("ab"));
    }
}
