//! Guards: the checks a reload or a reboot must pass first, each judged from facts to pass, warn or block.
//!
//! Pure. The host layer gathers [`RebootGuardFacts`] (locks, processes, inhibitors, boot configuration, the reboot
//! record); these functions only judge them. A block says how it blocks, which decides the exit status: deferred
//! (75, retry later), refused by policy (77), or unfixable by this action (69).

use super::facts::HostFacts;
use super::holders::GpuHolder;
use super::plan::{ReloadPlan, StepKind};
use super::playbook::{MaintenanceWindow, Pattern, ReloadPolicy, Timezone};
use super::reboot_state::RebootState;
use super::verdict::DRIVER_STACK;
use super::DriverVersion;
use crate::exit;
use serde::Serialize;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardStatus {
    Pass,
    /// Worth knowing, does not stop anything.
    Warn,
    Block,
    /// Only a live command can tell, and none was run (a dry run against a `--root` tree): not a pass, not a block.
    NotChecked,
}

/// How a blocking guard blocks; ordered from least to most final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockKind {
    /// Try again later (a lock, a window, a busy GPU): exit 75.
    Defer,
    /// The policy forbids it: exit 77.
    Refuse,
    /// This action cannot fix the host: exit 69.
    Unfixable,
}

impl BlockKind {
    pub fn exit_status(self) -> i32 {
        match self {
            BlockKind::Defer => exit::TEMP_FAIL,
            BlockKind::Refuse => exit::NO_PERMISSION,
            BlockKind::Unfixable => exit::UNAVAILABLE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardResult {
    /// Stable identifier (kebab-case) for scripts.
    pub name: &'static str,
    pub status: GuardStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<BlockKind>,
    pub message: String,
}

impl GuardResult {
    pub fn pass(name: &'static str, message: impl Into<String>) -> Self {
        GuardResult {
            name,
            status: GuardStatus::Pass,
            block: None,
            message: message.into(),
        }
    }
    pub fn warn(name: &'static str, message: impl Into<String>) -> Self {
        GuardResult {
            name,
            status: GuardStatus::Warn,
            block: None,
            message: message.into(),
        }
    }
    pub fn block(name: &'static str, kind: BlockKind, message: impl Into<String>) -> Self {
        GuardResult {
            name,
            status: GuardStatus::Block,
            block: Some(kind),
            message: message.into(),
        }
    }
    pub fn not_checked(name: &'static str, message: impl Into<String>) -> Self {
        GuardResult {
            name,
            status: GuardStatus::NotChecked,
            block: None,
            message: message.into(),
        }
    }
    pub fn blocks(&self) -> bool {
        self.status == GuardStatus::Block
    }
}

/// The most final block among the results, if any guard blocks.
pub fn strongest_block(results: &[GuardResult]) -> Option<BlockKind> {
    results.iter().filter_map(|r| r.block).max()
}

// ---------------------------------------------------------------------------------------------------------------
// Reload policy

/// The name the CUDA MPS daemon goes by in `reload.stop_services` (it has no systemd unit).
pub const MPS_SERVICE_NAME: &str = "nvidia-cuda-mps-control";

fn any_match(patterns: &[Pattern], s: &str) -> Option<String> {
    patterns
        .iter()
        .find(|p| p.matches(s))
        .map(|p| p.as_str().to_string())
}

/// The executable's base name from a command line.
fn program_name(command: &str) -> &str {
    let first = command.split_whitespace().next().unwrap_or("");
    first.rsplit('/').next().unwrap_or(first)
}

/// Does the reload plan stay within the playbook's reload policy? Judges what the plan would stop and terminate.
pub fn evaluate_reload_policy(plan: &ReloadPlan, policy: &ReloadPolicy) -> Vec<GuardResult> {
    let mut out = Vec::new();
    if !policy.allowed {
        out.push(GuardResult::block(
            "reload-allowed",
            BlockKind::Refuse,
            "the playbook does not allow reloading the driver (reload.allowed: false)",
        ));
        return out;
    }
    out.push(GuardResult::pass(
        "reload-allowed",
        "the playbook allows reloading the driver",
    ));

    // Services: every unit the plan stops must be named in stop_services.
    let mut services: Vec<String> = plan.services.clone();
    if plan
        .steps
        .iter()
        .any(|s| matches!(s.kind, StepKind::QuitMps { .. }))
    {
        services.push(MPS_SERVICE_NAME.into());
    }
    let refused: Vec<&String> = services
        .iter()
        .filter(|u| any_match(&policy.stop_services, u).is_none())
        .collect();
    out.push(if services.is_empty() {
        GuardResult::pass("services", "no service holds the GPU")
    } else if refused.is_empty() {
        GuardResult::pass(
            "services",
            format!("may stop and start again: {}", services.join(", ")),
        )
    } else {
        GuardResult::block(
            "services",
            BlockKind::Defer,
            format!(
                "the GPU is held by {} and the playbook does not allow stopping {} (reload.stop_services)",
                refused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                if refused.len() == 1 { "it" } else { "them" }
            ),
        )
    });

    // Processes that are not services: users' jobs and containers.
    let procs = &plan.processes;
    let described = || {
        procs
            .iter()
            .map(|p| p.describe())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let protected: Vec<String> = procs
        .iter()
        .filter_map(|p| {
            let by_user = any_match(&policy.never_kill.users, &p.user)
                .map(|pat| format!("{} (user matches never_kill `{pat}`)", p.describe()));
            let by_command = any_match(&policy.never_kill.commands, program_name(&p.command))
                .or_else(|| any_match(&policy.never_kill.commands, &p.command))
                .map(|pat| format!("{} (command matches never_kill `{pat}`)", p.describe()));
            by_user.or(by_command)
        })
        .collect();
    out.push(if procs.is_empty() {
        GuardResult::pass("gpu-busy", "no user process holds the GPU")
    } else if !policy.allow_user_processes {
        GuardResult::block(
            "gpu-busy",
            BlockKind::Defer,
            format!(
                "{} process(es) hold the GPU and the playbook does not allow terminating them: {}",
                procs.len(),
                described()
            ),
        )
    } else if !protected.is_empty() {
        GuardResult::block(
            "gpu-busy",
            BlockKind::Defer,
            format!("never to be terminated: {}", protected.join(", ")),
        )
    } else if procs.len() as u64 > policy.max_holders_to_stop as u64 {
        GuardResult::block(
            "gpu-busy",
            BlockKind::Defer,
            format!(
                "{} processes hold the GPU, more than the {} the playbook allows terminating: {}",
                procs.len(),
                policy.max_holders_to_stop,
                described()
            ),
        )
    } else {
        GuardResult::pass(
            "gpu-busy",
            format!(
                "may terminate {} process(es) ({}s grace{}): {}",
                procs.len(),
                plan.grace_secs,
                if plan.kill { ", then SIGKILL" } else { "" },
                described()
            ),
        )
    });

    if let Some(refusal) = plan.refusal() {
        // The new modules would not load: neither the reload nor a reboot (which loads the same files) helps.
        if plan.blockers.iter().any(|b| b.is_preflight()) {
            out.push(GuardResult::block(
                NEW_DRIVER_LOADS,
                BlockKind::Unfixable,
                refusal.reason,
            ));
            return out;
        }
        let kind = if refusal.code == exit::NO_PERMISSION {
            BlockKind::Refuse
        } else {
            BlockKind::Unfixable
        };
        out.push(GuardResult::block("reload-plan", kind, refusal.reason));
    }
    out
}

/// The guard that carries the pre-flight's findings into `nvfix auto`: it ends in `repair-needed`, never a reboot.
pub const NEW_DRIVER_LOADS: &str = "new-driver-loads";

/// True when every block among `results` is a busy-GPU deferral (services or processes), which a reboot through a
/// drain or a cluster engine may resolve.
pub fn blocked_only_by_busy_gpu(results: &[GuardResult]) -> bool {
    results.iter().any(|r| r.blocks())
        && results
            .iter()
            .filter(|r| r.blocks())
            .all(|r| matches!(r.name, "services" | "gpu-busy"))
}

// ---------------------------------------------------------------------------------------------------------------
// Which kernel boots next

/// What the boot loader configuration says, read from the host: the inputs of [`next_boot_kernel`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootConfig {
    /// `/boot/grub/grubenv` (or `/boot/grub2/grubenv`) text.
    pub grubenv: Option<String>,
    /// `/etc/default/grub` text.
    pub default_grub: Option<String>,
    /// Kernels with a `/boot/vmlinuz-<release>` image.
    pub boot_images: Vec<String>,
    /// Kernels with a `/lib/modules/<release>` folder.
    pub module_dirs: Vec<String>,
    /// systemd-boot's configuration, entries and EFI variables, when it is installed or started this boot.
    pub systemd_boot: Option<super::systemd_boot::SystemdBootConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextBoot {
    /// The kernel release that boots next, when it can be told.
    pub kernel: Option<String>,
    /// How it was decided (or why it could not be).
    pub rule: String,
}

/// Compares kernel releases the way GRUB's `version_sort` orders its menu: runs of digits as numbers.
pub fn compare_kernel_releases(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then(x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

/// A `key=value` (grubenv) or `KEY="value"` (/etc/default/grub) setting; the last assignment wins, as in a shell.
fn setting(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
}

/// The installed kernel a GRUB entry title or BLS id names: the longest release that appears in it.
fn kernel_in_entry<'k>(entry: &str, kernels: &'k [String]) -> Option<&'k String> {
    kernels
        .iter()
        .filter(|k| entry.contains(k.as_str()))
        .max_by_key(|k| k.len())
}

/// Which kernel boots next. The rule, in order:
/// 0. When systemd-boot started this boot (its `LoaderInfo` EFI variable), or it is installed and GRUB is not
///    configured, systemd-boot's rules decide ([`super::systemd_boot::next_boot`]); otherwise GRUB's:
/// 1. The candidates are the kernels with a `/boot/vmlinuz-*` image (else those with a `/lib/modules` folder).
/// 2. GRUB's one-time `next_entry` (set by `grub-reboot`) wins.
/// 3. With `GRUB_DEFAULT=saved`, grubenv's `saved_entry` (an entry title on Debian/Ubuntu, a BLS id holding the
///    release on RHEL) decides; an empty one falls back to the first entry.
/// 4. `GRUB_DEFAULT` unset or `0` means the first menu entry, which grub-mkconfig makes the newest kernel
///    (version order). A title naming a kernel decides likewise.
/// 5. Anything else (a numeric default other than 0, an entry naming no installed kernel) cannot be told apart from
///    files alone: the answer is unknown, and the reboot guard blocks rather than guess.
pub fn next_boot_kernel(cfg: &BootConfig) -> NextBoot {
    let mut candidates = if cfg.boot_images.is_empty() {
        cfg.module_dirs.clone()
    } else {
        cfg.boot_images.clone()
    };
    candidates.sort_by(|a, b| compare_kernel_releases(a, b));
    candidates.dedup();
    let source = if cfg.boot_images.is_empty() {
        "/lib/modules"
    } else {
        "/boot/vmlinuz-*"
    };
    let newest = |why: &str| match candidates.last() {
        Some(k) => NextBoot {
            kernel: Some(k.clone()),
            rule: format!("{why}: the newest installed kernel ({source}) boots first"),
        },
        None => NextBoot {
            kernel: None,
            rule: "no installed kernel found (/boot/vmlinuz-*, /lib/modules)".into(),
        },
    };
    let by_entry = |entry: &str, what: &str| match kernel_in_entry(entry, &candidates) {
        Some(k) => NextBoot {
            kernel: Some(k.clone()),
            rule: format!("{what} `{entry}` names kernel {k}"),
        },
        None => NextBoot {
            kernel: None,
            rule: format!("{what} `{entry}` names no installed kernel"),
        },
    };
    if let Some(sd) = &cfg.systemd_boot {
        let grub_configured = cfg.grubenv.is_some() || cfg.default_grub.is_some();
        if sd.started_this_boot() || !grub_configured {
            return super::systemd_boot::next_boot(sd, &candidates);
        }
    }
    let env = cfg.grubenv.as_deref().unwrap_or("");
    if let Some(next) = setting(env, "next_entry").filter(|v| !v.is_empty()) {
        return by_entry(&next, "grubenv next_entry (one-time, from grub-reboot)");
    }
    let default = cfg
        .default_grub
        .as_deref()
        .and_then(|t| setting(t, "GRUB_DEFAULT"));
    match default.as_deref() {
        None => newest("GRUB_DEFAULT is not set"),
        Some("0") | Some("") => newest("GRUB_DEFAULT=0"),
        Some("saved") => match setting(env, "saved_entry").filter(|v| !v.is_empty()) {
            Some(saved) => by_entry(&saved, "GRUB_DEFAULT=saved; grubenv saved_entry"),
            None => newest("GRUB_DEFAULT=saved with no saved_entry"),
        },
        Some(n) if n.bytes().all(|b| b.is_ascii_digit()) => NextBoot {
            kernel: None,
            rule: format!("GRUB_DEFAULT={n} picks a menu entry by position, which nvfix cannot resolve from files"),
        },
        Some(title) => by_entry(title, "GRUB_DEFAULT"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Shutdown inhibitors

/// One `systemd-inhibit --list` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inhibitor {
    pub who: String,
    pub what: String,
    pub why: String,
    /// `block` or `delay`.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
}

impl Inhibitor {
    /// A block-mode lock on shutdown (which covers reboot).
    pub fn blocks_shutdown(&self) -> bool {
        self.mode == "block" && self.what.split(':').any(|w| w == "shutdown")
    }
}

/// Parses `systemd-inhibit --list`: the table (columns found from the header, since WHO and WHY hold spaces) or the
/// older `Who:`/`What:`/`Why:`/`Mode:` blocks. Lines that fit neither are skipped.
pub fn parse_inhibitors(text: &str) -> Vec<Inhibitor> {
    let mut lines = text.lines();
    let Some(header) = lines.find(|l| !l.trim().is_empty()) else {
        return Vec::new();
    };
    if header.trim_start().starts_with("Who:") {
        return parse_inhibitor_blocks(text);
    }
    let hchars: Vec<char> = header.chars().collect();
    let mut cols: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < hchars.len() {
        if hchars[i] != ' ' && (i == 0 || hchars[i - 1] == ' ') {
            let end = hchars[i..]
                .iter()
                .position(|c| *c == ' ')
                .map_or(hchars.len(), |p| i + p);
            cols.push((hchars[i..end].iter().collect(), i));
            i = end;
        } else {
            i += 1;
        }
    }
    let col = |name: &str| cols.iter().position(|(n, _)| n == name);
    let (Some(who), Some(what), Some(why), Some(mode)) =
        (col("WHO"), col("WHAT"), col("WHY"), col("MODE"))
    else {
        return Vec::new();
    };
    let pid = col("PID");
    let mut out = Vec::new();
    for line in lines {
        let chars: Vec<char> = line.chars().collect();
        if chars.is_empty() || line.trim().ends_with("listed.") {
            continue;
        }
        let field = |idx: usize| -> String {
            let start = cols[idx].1.min(chars.len());
            let end = cols
                .get(idx + 1)
                .map_or(chars.len(), |c| c.1)
                .min(chars.len());
            chars[start..end]
                .iter()
                .collect::<String>()
                .trim()
                .to_string()
        };
        let entry = Inhibitor {
            who: field(who),
            what: field(what),
            why: field(why),
            mode: field(mode),
            pid: pid.and_then(|p| field(p).parse().ok()),
        };
        if !entry.mode.is_empty() && !entry.what.is_empty() {
            out.push(entry);
        }
    }
    out
}

fn parse_inhibitor_blocks(text: &str) -> Vec<Inhibitor> {
    let mut out = Vec::new();
    let mut cur: Option<Inhibitor> = None;
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match key {
            "Who" => {
                out.extend(cur.take());
                let pid = value
                    .split("PID ")
                    .nth(1)
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse().ok());
                cur = Some(Inhibitor {
                    who: value,
                    what: String::new(),
                    why: String::new(),
                    mode: String::new(),
                    pid,
                });
            }
            "What" => cur.iter_mut().for_each(|c| c.what = value.clone()),
            "Why" => cur.iter_mut().for_each(|c| c.why = value.clone()),
            "Mode" => cur.iter_mut().for_each(|c| c.mode = value.clone()),
            _ => {}
        }
    }
    out.extend(cur);
    out.retain(|i| !i.mode.is_empty());
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Maintenance window

/// Minutes east of UTC for a window's clock; `zone_offset_minutes` is the offset of a `local` or named zone at that
/// moment (the host layer looks it up).
fn offset_minutes(tz: &Timezone, zone_offset_minutes: i32) -> i32 {
    match tz {
        Timezone::Utc => 0,
        Timezone::Local | Timezone::Named(_) => zone_offset_minutes,
        Timezone::Offset(m) => *m,
    }
}

/// Is Unix time `at` inside the window? A window whose end is before its start runs past midnight: it belongs to the
/// day it opens on.
pub fn in_window(w: &MaintenanceWindow, at: i64, zone_offset_minutes: i32) -> bool {
    let local = at.saturating_add(offset_minutes(&w.timezone, zone_offset_minutes) as i64 * 60);
    let day = local.div_euclid(86400);
    let minute = (local.rem_euclid(86400) / 60) as u32;
    // 1970-01-01 was a Thursday (Monday = 0).
    let weekday = |d: i64| ((d + 3).rem_euclid(7)) as u32;
    let open_on = |d: i64| w.days.is_empty() || w.days.iter().any(|x| x.index() == weekday(d));
    let (start, end) = (w.start.0, w.end.0);
    if start < end {
        open_on(day) && minute >= start && minute < end
    } else {
        (open_on(day) && minute >= start) || (open_on(day - 1) && minute < end)
    }
}

fn describe_window(w: &MaintenanceWindow) -> String {
    let days = if w.days.is_empty() {
        "every day".to_string()
    } else {
        w.days
            .iter()
            .map(|d| format!("{d:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "{days} {}-{} {}",
        String::from(w.start),
        String::from(w.end),
        String::from(w.timezone.clone())
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Reboot guards

/// A package-manager lock file that some process holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldLock {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
}

/// A running package-manager process (apt, dpkg, unattended-upgrade, dnf, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageProcess {
    pub pid: i32,
    pub command: String,
}

/// The result of a command a guard asked for (`dpkg --audit`, `systemd-inhibit --list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "kebab-case")]
pub enum Probe<T> {
    Done(T),
    /// The command could not be run or failed: unknown.
    Failed(String),
    /// Not applicable on this host (e.g. no dpkg).
    NotApplicable,
    /// Not run: the command needs the live host and this is a tree under `--root` (what a recorder would answer,
    /// "success, no output", proves nothing).
    NotLive,
}

/// Everything the reboot guards look at besides [`HostFacts`], gathered by `host::reboot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebootGuardFacts {
    /// Unix seconds.
    pub now: i64,
    /// The UTC offset now of the maintenance window's clock when it is `local` or a named zone (minutes east);
    /// None when the named zone is not in the host's time-zone database.
    pub window_offset_minutes: Option<i32>,
    pub next_boot: NextBoot,
    pub held_locks: Vec<HeldLock>,
    /// Lock files that could not be probed (permissions): unknown, not idle.
    pub lock_errors: Vec<String>,
    pub package_processes: Vec<PackageProcess>,
    /// `dpkg --audit` output (empty when clean).
    pub dpkg_audit: Probe<String>,
    pub inhibitors: Probe<Vec<Inhibitor>>,
    pub state: Result<RebootState, String>,
    pub boot_id: Option<String>,
}

/// What the reboot guards enforce, from the playbook and the command.
#[derive(Debug, Clone, PartialEq)]
pub struct RebootGuardPolicy {
    pub delay_minutes: u32,
    pub max_per_24h: u32,
    pub window: Option<MaintenanceWindow>,
    /// A user process holding the GPU blocks (auto without `allow_gpu_holders`) rather than only being listed.
    pub gpu_holders_block: bool,
}

/// Non-service holders with a device open: the processes a reboot would cut off.
pub fn busy_holders(holders: &[GpuHolder]) -> Vec<&GpuHolder> {
    holders
        .iter()
        .filter(|h| !h.devices.is_empty() && !h.runs_as_service())
        .collect()
}

fn describe_holder(h: &GpuHolder) -> String {
    format!("{} (pid {}, {})", h.comm, h.pid, h.user)
}

/// Judges every reboot guard, in the order they are reported.
pub fn evaluate_reboot_guards(
    facts: &HostFacts,
    g: &RebootGuardFacts,
    policy: &RebootGuardPolicy,
) -> Vec<GuardResult> {
    vec![
        next_boot_guard(facts, &g.next_boot),
        package_manager_guard(g),
        inhibitor_guard(&g.inhibitors),
        holders_guard(facts, policy.gpu_holders_block),
        loop_guard(g, policy.max_per_24h),
        window_guard(g, policy),
    ]
}

/// Would the kernel that boots next load a driver of the library's version? Else the reboot fixes nothing.
pub fn next_boot_guard(facts: &HostFacts, next: &NextBoot) -> GuardResult {
    const NAME: &str = "next-boot-module";
    let Some(lib) = facts.nvml_library.as_ref() else {
        return GuardResult::block(
            NAME,
            BlockKind::Unfixable,
            "no libnvidia-ml is installed: no reboot can bring a matching driver; repair the driver packages",
        );
    };
    let Some(kernel) = next.kernel.as_deref() else {
        return GuardResult::block(
            NAME,
            BlockKind::Unfixable,
            format!(
                "cannot tell which kernel boots next ({}); refusing to reboot blind",
                next.rule
            ),
        );
    };
    let want: &DriverVersion = &lib.version;
    for name in DRIVER_STACK {
        match facts.module_file(kernel, name) {
            Some(f) if f.version.as_ref() == Some(want) => {}
            Some(f) => {
                return GuardResult::block(
                    NAME,
                    BlockKind::Unfixable,
                    format!(
                        "kernel {kernel} boots next ({}), but its {name} module ({}) is {}, not the library's {want}: \
                         the reboot would not fix this",
                        next.rule,
                        f.path,
                        f.version.as_ref().map_or("of unknown version".into(), |v| v.to_string())
                    ),
                )
            }
            None if *name == "nvidia" => {
                return GuardResult::block(
                    NAME,
                    BlockKind::Unfixable,
                    format!(
                        "kernel {kernel} boots next ({}), but it has no nvidia module installed (DKMS did not build \
                         it?): the reboot would not fix this",
                        next.rule
                    ),
                )
            }
            None => {}
        }
    }
    GuardResult::pass(
        NAME,
        format!(
            "kernel {kernel} boots next ({}); its nvidia module is {want}, the library's version",
            next.rule
        ),
    )
}

fn package_manager_guard(g: &RebootGuardFacts) -> GuardResult {
    const NAME: &str = "package-manager-idle";
    let mut busy = Vec::new();
    for l in &g.held_locks {
        busy.push(match l.pid {
            Some(p) => format!("{} is held by pid {p}", l.path),
            None => format!("{} is held", l.path),
        });
    }
    for p in &g.package_processes {
        busy.push(format!("{} is running (pid {})", p.command, p.pid));
    }
    if !busy.is_empty() {
        return GuardResult::block(
            NAME,
            BlockKind::Defer,
            format!("the package manager is busy: {}; rebooting now could leave half-installed packages", busy.join("; ")),
        );
    }
    if let Probe::Done(audit) = &g.dpkg_audit {
        if !audit.trim().is_empty() {
            let first = audit
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            return GuardResult::block(
                NAME,
                BlockKind::Unfixable,
                format!(
                    "dpkg --audit reports unfinished package operations (\"{first}\"): run `dpkg --configure -a` first"
                ),
            );
        }
    }
    let mut unknown = g.lock_errors.clone();
    if let Probe::Failed(e) = &g.dpkg_audit {
        unknown.push(format!("dpkg --audit failed: {e}"));
    }
    if !unknown.is_empty() {
        return GuardResult::block(
            NAME,
            BlockKind::Defer,
            format!(
                "cannot tell whether the package manager is idle: {}",
                unknown.join("; ")
            ),
        );
    }
    if g.dpkg_audit == Probe::NotLive {
        return GuardResult::not_checked(
            NAME,
            "no package-manager lock is held and no package manager is running in the tree; `dpkg --audit` needs the \
             live host and was not run",
        );
    }
    GuardResult::pass(
        NAME,
        "no package-manager lock is held and no package manager is running",
    )
}

fn inhibitor_guard(inhibitors: &Probe<Vec<Inhibitor>>) -> GuardResult {
    const NAME: &str = "shutdown-inhibitors";
    match inhibitors {
        Probe::Failed(e) => GuardResult::block(
            NAME,
            BlockKind::Defer,
            format!("could not list shutdown inhibitors ({e}); refusing to reboot blind"),
        ),
        Probe::NotApplicable => {
            GuardResult::warn(NAME, "no systemd: shutdown inhibitors not checked")
        }
        Probe::NotLive => GuardResult::not_checked(
            NAME,
            "`systemd-inhibit --list` needs the live host and was not run: shutdown inhibitors not checked",
        ),
        Probe::Done(list) => {
            let blocking: Vec<String> = list
                .iter()
                .filter(|i| i.blocks_shutdown())
                .map(|i| format!("{}: {}", i.who, i.why))
                .collect();
            if blocking.is_empty() {
                let delays = list.iter().filter(|i| i.mode == "delay").count();
                GuardResult::pass(
                    NAME,
                    format!("no block-mode shutdown inhibitor ({delays} delay-mode lock(s) only delay the shutdown)"),
                )
            } else {
                GuardResult::block(
                    NAME,
                    BlockKind::Defer,
                    format!(
                        "shutdown is inhibited (block mode) by {}",
                        blocking.join("; ")
                    ),
                )
            }
        }
    }
}

fn holders_guard(facts: &HostFacts, block: bool) -> GuardResult {
    const NAME: &str = "gpu-holders";
    let busy = busy_holders(&facts.holders);
    if busy.is_empty() {
        return GuardResult::pass(NAME, "no user process holds the GPU");
    }
    let list = busy
        .iter()
        .map(|h| describe_holder(h))
        .collect::<Vec<_>>()
        .join(", ");
    if block {
        GuardResult::block(
            NAME,
            BlockKind::Defer,
            format!(
                "{} process(es) hold the GPU and would be cut off: {list} (reboot.allow_gpu_holders is false)",
                busy.len()
            ),
        )
    } else {
        GuardResult::warn(
            NAME,
            format!(
                "the reboot cuts off {} process(es) holding the GPU: {list}",
                busy.len()
            ),
        )
    }
}

fn loop_guard(g: &RebootGuardFacts, max: u32) -> GuardResult {
    const NAME: &str = "reboot-loop";
    let state = match &g.state {
        Ok(s) => s,
        // Fail closed: a record nvfix cannot read must not let it reboot again and again.
        Err(e) => {
            return GuardResult::block(
                NAME,
                BlockKind::Defer,
                format!(
                "the reboot record cannot be read ({e}); fix or remove /var/lib/nvfix/reboots.json"
            ),
            )
        }
    };
    if let Some(r) = state.recent_unfixed(g.now) {
        return GuardResult::block(
            NAME,
            BlockKind::Unfixable,
            format!(
                "the nvfix reboot requested from boot {} did not fix the host: another reboot will not either",
                r.boot_id
            ),
        );
    }
    let recent = state.recent(g.now).len();
    if max == 0 {
        return GuardResult::block(
            NAME,
            BlockKind::Refuse,
            "the playbook allows no reboot (reboot.max_per_24h: 0)",
        );
    }
    if recent as u64 >= max as u64 {
        return GuardResult::block(
            NAME,
            BlockKind::Defer,
            format!("nvfix already rebooted this host {recent} time(s) in the last 24 hours (at most {max})"),
        );
    }
    GuardResult::pass(
        NAME,
        format!("{recent} nvfix reboot(s) in the last 24 hours (at most {max})"),
    )
}

fn window_guard(g: &RebootGuardFacts, policy: &RebootGuardPolicy) -> GuardResult {
    const NAME: &str = "maintenance-window";
    let Some(w) = &policy.window else {
        return GuardResult::pass(NAME, "no maintenance window: any time");
    };
    let at = g.now.saturating_add(policy.delay_minutes as i64 * 60);
    let Some(zone_offset) = g.window_offset_minutes.or(match w.timezone {
        Timezone::Named(_) => None,
        _ => Some(0),
    }) else {
        // Fail closed: a window nobody can read must not be treated as open.
        return GuardResult::block(
            NAME,
            BlockKind::Defer,
            format!(
                "the maintenance window's time zone `{}` is not in this host's time-zone database",
                String::from(w.timezone.clone())
            ),
        );
    };
    if in_window(w, at, zone_offset) {
        GuardResult::pass(
            NAME,
            format!(
                "the reboot falls inside the window ({})",
                describe_window(w)
            ),
        )
    } else {
        GuardResult::block(
            NAME,
            BlockKind::Defer,
            format!(
                "the reboot would fall outside the maintenance window ({})",
                describe_window(w)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::facts::ModuleFile;
    use crate::model::library::LibraryFile;
    use crate::model::plan::{ProcessTarget, Step};
    use crate::model::playbook::{parse_playbook, TimeOfDay, Weekday};
    use crate::model::reboot_state::RebootRecord;

    fn v(s: &str) -> DriverVersion {
        s.parse().unwrap()
    }

    fn module(kernel: &str, name: &str, version: &str) -> ModuleFile {
        ModuleFile {
            name: name.into(),
            kernel: kernel.into(),
            path: format!("/lib/modules/{kernel}/updates/dkms/{name}.ko"),
            version: Some(v(version)),
            flavor: None,
            not_read: false,
        }
    }

    fn facts(lib: &str, modules: Vec<ModuleFile>) -> HostFacts {
        HostFacts {
            nvml_library: Some(LibraryFile {
                path: format!("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{lib}"),
                version: v(lib),
                link: None,
            }),
            module_files: modules,
            ..Default::default()
        }
    }

    fn holder(pid: i32, comm: &str, user: &str, service: bool) -> GpuHolder {
        GpuHolder {
            pid,
            user: user.into(),
            uid: 1000,
            command: format!("/usr/bin/{comm} --flag"),
            comm: comm.into(),
            started_secs_after_boot: None,
            devices: vec!["/dev/nvidia0".into()],
            libraries: Vec::new(),
            container: None,
            service: service.then_some(crate::model::holders::KnownService::Persistenced),
            unit: service.then(|| "nvidia-persistenced.service".into()),
            user_session: !service,
        }
    }

    fn next(kernel: &str) -> NextBoot {
        NextBoot {
            kernel: Some(kernel.into()),
            rule: "test".into(),
        }
    }

    fn idle(now: i64) -> RebootGuardFacts {
        RebootGuardFacts {
            now,
            window_offset_minutes: Some(0),
            next_boot: next("6.8.0-87-generic"),
            held_locks: Vec::new(),
            lock_errors: Vec::new(),
            package_processes: Vec::new(),
            dpkg_audit: Probe::Done(String::new()),
            inhibitors: Probe::Done(Vec::new()),
            state: Ok(RebootState::default()),
            boot_id: Some("boot-a".into()),
        }
    }

    fn policy() -> RebootGuardPolicy {
        RebootGuardPolicy {
            delay_minutes: 5,
            max_per_24h: 1,
            window: None,
            gpu_holders_block: true,
        }
    }

    fn reboot_facts() -> HostFacts {
        facts(
            "580.95.05",
            vec![
                module("6.8.0-85-generic", "nvidia", "580.65.06"),
                module("6.8.0-87-generic", "nvidia", "580.95.05"),
                module("6.8.0-87-generic", "nvidia_uvm", "580.95.05"),
            ],
        )
    }

    fn guard<'a>(rs: &'a [GuardResult], name: &str) -> &'a GuardResult {
        rs.iter().find(|r| r.name == name).unwrap()
    }

    #[test]
    fn all_reboot_guards_pass_on_an_idle_host_booting_a_matching_kernel() {
        let rs = evaluate_reboot_guards(&reboot_facts(), &idle(1_700_000_000), &policy());
        assert_eq!(rs.len(), 6);
        for r in &rs {
            assert_eq!(r.status, GuardStatus::Pass, "{r:?}");
        }
        assert_eq!(strongest_block(&rs), None);
    }

    #[test]
    fn next_boot_guard_blocks_when_the_reboot_would_not_fix_it() {
        let f = reboot_facts();
        assert!(!next_boot_guard(&f, &next("6.8.0-87-generic")).blocks());
        let old = next_boot_guard(&f, &next("6.8.0-85-generic"));
        assert_eq!(old.block, Some(BlockKind::Unfixable));
        assert!(old.message.contains("580.65.06"), "{}", old.message);
        let missing = next_boot_guard(&f, &next("6.9.0-1-generic"));
        assert!(
            missing.message.contains("no nvidia module"),
            "{}",
            missing.message
        );
        let unknown = next_boot_guard(
            &f,
            &NextBoot {
                kernel: None,
                rule: "GRUB_DEFAULT=2".into(),
            },
        );
        assert_eq!(unknown.block, Some(BlockKind::Unfixable));
        // One stack module of another version is enough to refuse.
        let mut half = reboot_facts();
        half.module_files
            .push(module("6.8.0-87-generic", "nvidia_drm", "580.65.06"));
        assert!(next_boot_guard(&half, &next("6.8.0-87-generic")).blocks());
        let mut nolib = reboot_facts();
        nolib.nvml_library = None;
        assert!(next_boot_guard(&nolib, &next("6.8.0-87-generic")).blocks());
    }

    #[test]
    fn package_manager_guard_blocks_on_locks_processes_audit_and_unknowns() {
        let f = reboot_facts();
        let p = policy();
        let mut g = idle(0);
        g.held_locks.push(HeldLock {
            path: "/var/lib/dpkg/lock-frontend".into(),
            pid: Some(812),
        });
        let r = evaluate_reboot_guards(&f, &g, &p);
        let pm = guard(&r, "package-manager-idle");
        assert_eq!(pm.block, Some(BlockKind::Defer));
        assert!(pm.message.contains("pid 812"), "{}", pm.message);

        let mut g = idle(0);
        g.package_processes.push(PackageProcess {
            pid: 9,
            command: "/usr/bin/unattended-upgrade".into(),
        });
        assert_eq!(
            guard(&evaluate_reboot_guards(&f, &g, &p), "package-manager-idle").block,
            Some(BlockKind::Defer)
        );

        let mut g = idle(0);
        g.dpkg_audit = Probe::Done(
            "The following packages are only half configured:\n nvidia-dkms-580\n".into(),
        );
        let r = evaluate_reboot_guards(&f, &g, &p);
        assert_eq!(
            guard(&r, "package-manager-idle").block,
            Some(BlockKind::Unfixable)
        );

        let mut g = idle(0);
        g.lock_errors
            .push("/var/lib/dpkg/lock: permission denied".into());
        assert!(guard(&evaluate_reboot_guards(&f, &g, &p), "package-manager-idle").blocks());

        let mut g = idle(0);
        g.dpkg_audit = Probe::NotApplicable;
        assert!(!guard(&evaluate_reboot_guards(&f, &g, &p), "package-manager-idle").blocks());
    }

    #[test]
    fn a_system_unit_is_a_service_and_a_session_process_a_user_whatever_the_name() {
        let mut in_unit = holder(1, "infer-server", "root", false);
        in_unit.unit = Some("inference.service".into());
        in_unit.user_session = false;
        let mut users_dcgm = holder(2, "nv-hostengine", "alice", false);
        users_dcgm.user_session = true;
        let holders = [in_unit, users_dcgm];
        let busy: Vec<i32> = busy_holders(&holders).iter().map(|h| h.pid).collect();
        assert_eq!(
            busy,
            vec![2],
            "a reboot cuts off the user's process; the unit stops with the host"
        );
    }

    #[test]
    fn guards_that_need_a_live_command_are_not_checked_on_a_tree_never_passed() {
        let (f, p) = (reboot_facts(), policy());
        let mut g = idle(0);
        g.dpkg_audit = Probe::NotLive;
        g.inhibitors = Probe::NotLive;
        let r = evaluate_reboot_guards(&f, &g, &p);
        for name in ["package-manager-idle", "shutdown-inhibitors"] {
            let got = guard(&r, name);
            assert_eq!(got.status, GuardStatus::NotChecked, "{name}: {got:?}");
            assert!(!got.blocks());
            assert!(got.message.contains("not run"), "{}", got.message);
        }
        assert_eq!(
            serde_json::to_value(guard(&r, "shutdown-inhibitors")).unwrap()["status"],
            "not-checked"
        );
        // What the tree itself shows still counts: a held lock blocks whether or not dpkg --audit could run.
        g.package_processes.push(PackageProcess {
            pid: 9,
            command: "/usr/bin/unattended-upgrade".into(),
        });
        assert!(guard(&evaluate_reboot_guards(&f, &g, &p), "package-manager-idle").blocks());
    }

    #[test]
    fn inhibitor_guard_blocks_only_block_mode_shutdown_locks() {
        let table = "WHO                          UID  USER PID  COMM            WHAT                                                     WHY                                                       MODE\n\
ModemManager                 0    root 876  ModemManager    sleep                                                    ModemManager needs to reset devices                       delay\n\
Unattended Upgrades Shutdown 0    root 1067 unattended-upgr shutdown                                                 Stop ongoing upgrades or perform upgrades before shutdown delay\n\
GNOME Shell                  1000 user 2006 gnome-shell     handle-power-key:handle-suspend-key:handle-hibernate-key GNOME handles these keys                                   block\n\
\n3 inhibitors listed.\n";
        let list = parse_inhibitors(table);
        assert_eq!(list.len(), 3);
        assert_eq!(list[1].who, "Unattended Upgrades Shutdown");
        assert_eq!(
            list[1].why,
            "Stop ongoing upgrades or perform upgrades before shutdown"
        );
        assert_eq!(list[1].pid, Some(1067));
        assert_eq!(list[2].mode, "block");
        assert!(
            !inhibitor_guard(&Probe::Done(list.clone())).blocks(),
            "delay and key locks do not block"
        );

        let blocking = format!(
            "{}backup-job                   0    root 4000 rsync           shutdown:sleep                                           Nightly backup running                                    block\n",
            table.lines().next().unwrap().to_string() + "\n"
        );
        let list = parse_inhibitors(&blocking);
        let r = inhibitor_guard(&Probe::Done(list));
        assert_eq!(r.block, Some(BlockKind::Defer));
        assert!(
            r.message.contains("Nightly backup running"),
            "{}",
            r.message
        );

        assert!(inhibitor_guard(&Probe::Failed("not found".into())).blocks());
        assert_eq!(
            inhibitor_guard(&Probe::Done(Vec::new())).status,
            GuardStatus::Pass
        );
    }

    #[test]
    fn inhibitor_parser_reads_the_old_format_and_survives_junk() {
        let old = "     Who: backup (UID 0/root, PID 4000/rsync)\n    What: shutdown\n     Why: Nightly backup\n    Mode: block\n\n     Who: NetworkManager (UID 0/root, PID 1100/NetworkManager)\n    What: sleep\n     Why: x\n    Mode: delay\n\n2 inhibitors listed.\n";
        let list = parse_inhibitors(old);
        assert_eq!(list.len(), 2);
        assert!(list[0].blocks_shutdown());
        assert_eq!(list[0].pid, Some(4000));
        assert!(!list[1].blocks_shutdown());
        for junk in [
            "",
            "\u{0}\u{1}",
            "WHO WHAT\nx",
            "No inhibitors listed.\n",
            "WHO  WHAT  WHY  MODE\nä",
        ] {
            let _ = parse_inhibitors(junk);
        }
        assert!(parse_inhibitors("0 inhibitors listed.\n").is_empty());
    }

    #[test]
    fn holders_guard_lists_or_blocks_by_policy() {
        let mut f = reboot_facts();
        f.holders = vec![holder(1873, "nvidia-persiste", "nvidia-persistenced", true)];
        assert_eq!(
            holders_guard(&f, true).status,
            GuardStatus::Pass,
            "services stop with the host"
        );
        f.holders.push(holder(4242, "python3", "alice", false));
        let r = holders_guard(&f, true);
        assert_eq!(r.block, Some(BlockKind::Defer));
        assert!(
            r.message.contains("python3 (pid 4242, alice)"),
            "{}",
            r.message
        );
        assert_eq!(holders_guard(&f, false).status, GuardStatus::Warn);
    }

    fn rec(boot: &str, at: i64) -> RebootRecord {
        RebootRecord {
            boot_id: boot.into(),
            requested_at: at,
            scheduled_for: at + 300,
            method: "shutdown".into(),
            kernel: None,
            next_kernel: None,
            expected_version: None,
            reason: "t".into(),
            cancelled: false,
            failed: None,
            completed: None,
        }
    }

    #[test]
    fn loop_guard_counts_reboots_per_day_and_fails_closed() {
        let now = 1_700_000_000;
        let mut g = idle(now);
        assert!(!loop_guard(&g, 1).blocks());
        let mut s = RebootState::default();
        s.reboots.push(rec("boot-0", now - 3600));
        g.state = Ok(s.clone());
        assert_eq!(loop_guard(&g, 1).block, Some(BlockKind::Defer));
        assert!(!loop_guard(&g, 2).blocks());
        assert_eq!(loop_guard(&g, 0).block, Some(BlockKind::Refuse));
        s.reboots[0].requested_at = now - 25 * 3600;
        g.state = Ok(s.clone());
        assert!(!loop_guard(&g, 1).blocks(), "older than a day");
        s.reboots[0].requested_at = now - 3600;
        s.complete("boot-0", "boot-a", now, false);
        g.state = Ok(s);
        assert_eq!(
            loop_guard(&g, 5).block,
            Some(BlockKind::Unfixable),
            "a reboot that fixed nothing is not repeated"
        );
        g.state = Err("garbled".into());
        assert_eq!(loop_guard(&g, 5).block, Some(BlockKind::Defer));
    }

    fn window(days: Vec<Weekday>, start: u32, end: u32, tz: Timezone) -> MaintenanceWindow {
        MaintenanceWindow {
            days,
            start: TimeOfDay(start),
            end: TimeOfDay(end),
            timezone: tz,
        }
    }

    #[test]
    fn maintenance_window_arithmetic() {
        // 2023-11-14 22:13:20 UTC, a Tuesday.
        let t = 1_700_000_000;
        let w = window(vec![Weekday::Tue], 22 * 60, 23 * 60, Timezone::Utc);
        assert!(in_window(&w, t, 0));
        assert!(!in_window(&w, t + 3600, 0));
        let wed = window(vec![Weekday::Wed], 22 * 60, 23 * 60, Timezone::Utc);
        assert!(!in_window(&wed, t, 0));
        // Overnight window opening Tuesday 22:00, closing Wednesday 02:00.
        let night = window(vec![Weekday::Tue], 22 * 60, 2 * 60, Timezone::Utc);
        assert!(
            in_window(&night, t + 3 * 3600, 0),
            "Wednesday 01:13 belongs to Tuesday's window"
        );
        assert!(!in_window(&night, t + 5 * 3600, 0));
        // In +02:00 it is Wednesday 00:13.
        let plus2 = window(vec![Weekday::Wed], 0, 60, Timezone::Offset(120));
        assert!(in_window(&plus2, t, 0));
        // local uses the host's offset.
        let local = window(vec![Weekday::Wed], 0, 60, Timezone::Local);
        assert!(in_window(&local, t, 120));
        assert!(!in_window(&local, t, 0));
        let every = window(vec![], 22 * 60, 24 * 60, Timezone::Utc);
        assert!(in_window(&every, t, 0));
        // Before 1970 still works (negative times).
        assert!(!in_window(&w, -1, 0));
    }

    #[test]
    fn a_named_zone_the_host_does_not_know_blocks_the_window() {
        let mut g = idle(1_700_000_000);
        let mut p = policy();
        p.window = Some(window(
            vec![],
            0,
            24 * 60,
            Timezone::Named("Europe/Berln".into()),
        ));
        g.window_offset_minutes = None;
        let r = window_guard(&g, &p);
        assert_eq!(r.block, Some(BlockKind::Defer));
        assert!(r.message.contains("Europe/Berln"), "{}", r.message);
        // Known: the host looked the offset up; 22:13 UTC is 23:13 at +60.
        g.window_offset_minutes = Some(60);
        p.window = Some(window(
            vec![],
            23 * 60,
            23 * 60 + 30,
            Timezone::Named("Europe/Berlin".into()),
        ));
        assert!(!window_guard(&g, &p).blocks());
    }

    #[test]
    fn window_guard_checks_the_time_the_reboot_happens() {
        let t = 1_700_000_000; // Tue 22:13 UTC
        let g = idle(t);
        let mut p = policy();
        p.window = Some(window(vec![], 22 * 60, 22 * 60 + 20, Timezone::Utc));
        assert!(!window_guard(&g, &p).blocks());
        p.delay_minutes = 10;
        assert_eq!(
            window_guard(&g, &p).block,
            Some(BlockKind::Defer),
            "22:23 is after the window"
        );
    }

    #[test]
    fn next_boot_rule() {
        let ks = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = BootConfig {
            boot_images: ks(&["6.8.0-85-generic", "6.8.0-100-generic", "6.8.0-87-generic"]),
            ..Default::default()
        };
        assert_eq!(
            next_boot_kernel(&base).kernel.as_deref(),
            Some("6.8.0-100-generic"),
            "version order"
        );
        let only_modules = BootConfig {
            module_dirs: ks(&["6.1.0-9-amd64", "6.1.0-10-amd64"]),
            ..Default::default()
        };
        assert_eq!(
            next_boot_kernel(&only_modules).kernel.as_deref(),
            Some("6.1.0-10-amd64")
        );

        let saved = BootConfig {
            default_grub: Some("GRUB_DEFAULT=saved\nGRUB_TIMEOUT=5\n".into()),
            grubenv: Some("# GRUB Environment Block\nsaved_entry=Advanced options for Ubuntu>Ubuntu, with Linux 6.8.0-85-generic\n###".into()),
            ..base.clone()
        };
        assert_eq!(
            next_boot_kernel(&saved).kernel.as_deref(),
            Some("6.8.0-85-generic")
        );
        let bls = BootConfig {
            default_grub: Some("GRUB_DEFAULT=\"saved\"\n".into()),
            grubenv: Some("saved_entry=0123abcd-6.8.0-87-generic\n".into()),
            ..base.clone()
        };
        assert_eq!(
            next_boot_kernel(&bls).kernel.as_deref(),
            Some("6.8.0-87-generic")
        );
        let once = BootConfig {
            grubenv: Some("saved_entry=x\nnext_entry=Ubuntu, with Linux 6.8.0-87-generic\n".into()),
            ..saved.clone()
        };
        assert_eq!(
            next_boot_kernel(&once).kernel.as_deref(),
            Some("6.8.0-87-generic")
        );
        let numeric = BootConfig {
            default_grub: Some("GRUB_DEFAULT=2\n".into()),
            ..base.clone()
        };
        assert_eq!(next_boot_kernel(&numeric).kernel, None);
        let zero = BootConfig {
            default_grub: Some("GRUB_DEFAULT=0\n".into()),
            ..base.clone()
        };
        assert_eq!(
            next_boot_kernel(&zero).kernel.as_deref(),
            Some("6.8.0-100-generic")
        );
        let gone = BootConfig {
            grubenv: Some("saved_entry=Ubuntu, with Linux 5.15.0-1-generic\n".into()),
            ..saved
        };
        assert_eq!(next_boot_kernel(&gone).kernel, None);
        assert_eq!(next_boot_kernel(&BootConfig::default()).kernel, None);
        // The longest release wins when one is a prefix of another.
        let prefix = BootConfig {
            boot_images: ks(&["6.8.0-8", "6.8.0-87-generic"]),
            default_grub: Some("GRUB_DEFAULT=\"Ubuntu, with Linux 6.8.0-87-generic\"".into()),
            ..Default::default()
        };
        assert_eq!(
            next_boot_kernel(&prefix).kernel.as_deref(),
            Some("6.8.0-87-generic")
        );
    }

    #[test]
    fn kernel_release_order() {
        assert_eq!(
            compare_kernel_releases("6.8.0-87-generic", "6.8.0-100-generic"),
            Ordering::Less
        );
        assert_eq!(
            compare_kernel_releases("6.10.0", "6.9.9"),
            Ordering::Greater
        );
        assert_eq!(compare_kernel_releases("", "1"), Ordering::Less);
        assert_eq!(
            compare_kernel_releases("6.8.0-087", "6.8.0-87"),
            Ordering::Equal
        );
    }

    fn plan_with(services: &[&str], procs: &[(&str, &str)]) -> ReloadPlan {
        let mut p: ReloadPlan = serde_json::from_value(serde_json::json!({
            "modules_before": [], "unload_order": [], "load_order": [], "services": [], "processes": [],
            "library_users": [], "grace_secs": 30, "kill": false, "blockers": [], "notes": [],
            "baseline": {}, "steps": []
        }))
        .unwrap();
        p.services = services.iter().map(|s| s.to_string()).collect();
        p.processes = procs
            .iter()
            .enumerate()
            .map(|(i, (user, cmd))| ProcessTarget {
                pid: 100 + i as i32,
                start_time: None,
                user: user.to_string(),
                command: cmd.to_string(),
                container: None,
                devices: vec!["/dev/nvidia0".into()],
            })
            .collect();
        p
    }

    fn reload_policy(yaml: &str) -> ReloadPolicy {
        parse_playbook(&format!("version: 1\nreload:\n{yaml}"))
            .unwrap()
            .reload
    }

    #[test]
    fn reload_policy_guards() {
        let conservative = reload_policy("  stop_services: [nvidia-persistenced.service]\n");
        let ok = evaluate_reload_policy(
            &plan_with(&["nvidia-persistenced.service"], &[]),
            &conservative,
        );
        assert_eq!(strongest_block(&ok), None, "{ok:?}");

        let svc = evaluate_reload_policy(&plan_with(&["nvidia-dcgm.service"], &[]), &conservative);
        assert_eq!(guard(&svc, "services").block, Some(BlockKind::Defer));
        assert!(blocked_only_by_busy_gpu(&svc));

        let user = evaluate_reload_policy(
            &plan_with(&[], &[("alice", "/usr/bin/python3 train.py")]),
            &conservative,
        );
        assert_eq!(guard(&user, "gpu-busy").block, Some(BlockKind::Defer));

        let killer = reload_policy(
            "  allow_user_processes: true\n  max_holders_to_stop: 1\n  never_kill: {users: [postgres], commands: ['re:slurm.*']}\n",
        );
        assert!(!guard(
            &evaluate_reload_policy(&plan_with(&[], &[("alice", "/usr/bin/python3 x")]), &killer),
            "gpu-busy"
        )
        .blocks());
        let two = plan_with(
            &[],
            &[
                ("alice", "/usr/bin/python3 x"),
                ("bob", "/usr/bin/python3 y"),
            ],
        );
        assert!(guard(&evaluate_reload_policy(&two, &killer), "gpu-busy")
            .message
            .contains("more than the 1"));
        let pg = plan_with(&[], &[("postgres", "/usr/bin/pg")]);
        assert!(guard(&evaluate_reload_policy(&pg, &killer), "gpu-busy")
            .message
            .contains("never_kill `postgres`"));
        let slurm = plan_with(&[], &[("root", "/usr/sbin/slurmstepd job 7")]);
        assert!(guard(&evaluate_reload_policy(&slurm, &killer), "gpu-busy").blocks());

        let off = reload_policy("  allowed: false\n");
        let r = evaluate_reload_policy(&plan_with(&[], &[]), &off);
        assert_eq!(strongest_block(&r), Some(BlockKind::Refuse));
        assert!(!blocked_only_by_busy_gpu(&r));
    }

    #[test]
    fn reload_policy_counts_mps_and_plan_blockers() {
        let mut p = plan_with(&[], &[]);
        p.steps.push(Step {
            id: 1,
            kind: StepKind::QuitMps {
                processes: Vec::new(),
            },
            why: "mps".into(),
        });
        let none = reload_policy("  stop_services: []\n");
        assert!(guard(&evaluate_reload_policy(&p, &none), "services").blocks());
        let mps = reload_policy("  stop_services: [nvidia-cuda-mps-control]\n");
        assert!(!guard(&evaluate_reload_policy(&p, &mps), "services").blocks());
        let mut blocked = plan_with(&[], &[]);
        blocked.blockers.push(crate::model::plan::Blocker {
            code: "going".into(),
            module: Some("nvidia".into()),
            message: "nvidia is stuck".into(),
            hint: None,
        });
        let r = evaluate_reload_policy(&blocked, &mps);
        assert_eq!(guard(&r, "reload-plan").block, Some(BlockKind::Unfixable));
        // Pre-flight findings have their own guard (auto turns it into a repair, never a reboot).
        blocked.blockers.push(crate::model::plan::Blocker {
            code: "preflight-vermagic".into(),
            module: Some("nvidia".into()),
            message: "nvidia was built for kernel 6.8.0-79-generic".into(),
            hint: Some("sudo dkms install nvidia/580.95.05 -k 6.8.0-85-generic --force".into()),
        });
        let r = evaluate_reload_policy(&blocked, &mps);
        let g = guard(&r, NEW_DRIVER_LOADS);
        assert_eq!(g.block, Some(BlockKind::Unfixable));
        assert!(
            g.message.starts_with("the new driver would not load: "),
            "{}",
            g.message
        );
        assert!(!r.iter().any(|g| g.name == "reload-plan"));
    }
}
