//! Parsers for package-manager logs: apt's history.log, dpkg.log and dnf.rpm.log, into package changes.

use super::Evidence;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Install,
    Upgrade,
    Downgrade,
    Remove,
    Purge,
    Reinstall,
}

/// Who or what made a change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangedBy {
    /// `Commandline:` of the apt transaction, e.g. `/usr/bin/unattended-upgrade` or `apt upgrade`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commandline: Option<String>,
    /// `Requested-By: alice (1000)` → `alice (1000)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// True when the commandline is unattended-upgrade(s).
    pub unattended: bool,
}

impl ChangedBy {
    /// One short phrase for reports and JSON's `upgrade.by`: `unattended-upgrades`, `alice (1000): apt upgrade`, `apt`.
    pub fn describe(&self) -> String {
        if self.unattended {
            return "unattended-upgrades".to_string();
        }
        match (&self.requested_by, &self.commandline) {
            (Some(u), Some(c)) => format!("{u}: {c}"),
            (Some(u), None) => u.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => "unknown".to_string(),
        }
    }
}

/// One package changed by one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageChange {
    pub package: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub kind: ChangeKind,
    /// Version before (upgrade/downgrade/remove), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Version after (install/upgrade/downgrade), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// When, as `YYYY-MM-DD HH:MM:SS` (local time of the log) — sortable as text.
    pub at: String,
    pub by: ChangedBy,
    pub evidence: Evidence,
}

/// Evidence text is cut to this many characters: an `Upgrade:` line of a large transaction can run to kilobytes.
const EVIDENCE_TEXT_MAX: usize = 200;

/// Cuts `text` to at most `max` characters (on a character boundary), marking the cut with `…`.
fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Is `s` `YYYY-MM-DD HH:MM:SS` exactly (digits where digits belong)?
fn is_sortable_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// `2025-10-22  06:25:01` (apt pads with two spaces) → `2025-10-22 06:25:01`; None when it is not a timestamp.
fn normalise_apt_date(value: &str) -> Option<String> {
    let joined = value.split_whitespace().collect::<Vec<_>>().join(" ");
    is_sortable_timestamp(&joined).then_some(joined)
}

/// Splits an apt history list `a:amd64 (1, 2), b:amd64 (3, automatic)` at the `, ` that separate entries, i.e. only
/// outside parentheses, because the versions inside are themselves joined by `, `.
fn split_history_entries(list: &str) -> Vec<&str> {
    let mut entries = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = list.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                entries.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    entries.push(&list[start..]);
    entries
        .into_iter()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

/// `libnvidia-compute-580:amd64` → (`libnvidia-compute-580`, Some(`amd64`)). Package names never contain `:`.
fn split_name_arch(spec: &str) -> (String, Option<String>) {
    match spec.split_once(':') {
        Some((name, arch)) if !arch.is_empty() => (name.to_string(), Some(arch.to_string())),
        Some((name, _)) => (name.to_string(), None),
        None => (spec.to_string(), None),
    }
}

/// A package name as dpkg and rpm allow it (letters, digits, `+-._`, plus what RPM adds); rejects garbled text.
fn is_plausible_package_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_' | '~' | '^'))
}

/// The pieces of one apt history entry: `pkg:arch (v1, v2)`, `pkg:arch (v)`, or a bare `pkg:arch`.
struct AptEntry {
    package: String,
    arch: Option<String>,
    /// The comma-separated words inside the parentheses, `automatic` removed.
    versions: Vec<String>,
}

fn parse_apt_entry(entry: &str) -> Option<AptEntry> {
    let (spec, inner) = match entry.find('(') {
        Some(open) => {
            let rest = &entry[open + 1..];
            let inner = rest.strip_suffix(')').unwrap_or(rest);
            (entry[..open].trim(), Some(inner))
        }
        None => (entry.trim(), None),
    };
    if spec.contains(char::is_whitespace) {
        return None;
    }
    let (package, arch) = split_name_arch(spec);
    if !is_plausible_package_name(&package) {
        return None;
    }
    let versions = inner
        .map(|inner| {
            inner
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty() && *v != "automatic")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some(AptEntry {
        package,
        arch,
        versions,
    })
}

/// apt's history field name → the kind of change it lists.
fn apt_change_kind(field: &str) -> Option<ChangeKind> {
    Some(match field {
        "Install" => ChangeKind::Install,
        "Upgrade" => ChangeKind::Upgrade,
        "Downgrade" => ChangeKind::Downgrade,
        "Remove" => ChangeKind::Remove,
        "Purge" => ChangeKind::Purge,
        "Reinstall" => ChangeKind::Reinstall,
        _ => return None,
    })
}

/// Which versions of an entry are "from" and "to" for each kind: apt writes `(current, candidate)` for upgrades and
/// downgrades, the new version for installs, the removed one for removals.
fn from_to(kind: ChangeKind, versions: &[String]) -> (Option<String>, Option<String>) {
    let first = versions.first().cloned();
    match kind {
        ChangeKind::Upgrade | ChangeKind::Downgrade => match versions {
            [from, to, ..] => (Some(from.clone()), Some(to.clone())),
            // A lone version is the one installed now.
            _ => (None, first),
        },
        ChangeKind::Install => (None, first),
        ChangeKind::Remove | ChangeKind::Purge => (first, None),
        ChangeKind::Reinstall => (first.clone(), first),
    }
}

/// One transaction being read: its header fields, and the change lines seen so far (with their line numbers).
#[derive(Default)]
struct AptBlock {
    at: Option<String>,
    by: ChangedBy,
    /// (1-based line number, field name, list text)
    lists: Vec<(usize, String, String)>,
}

impl AptBlock {
    fn is_empty(&self) -> bool {
        self.at.is_none() && self.lists.is_empty()
    }

    /// Turns the block into changes. A block without a readable `Start-Date:` is dropped: a change must be placed in time.
    fn finish(self, file: &str, out: &mut Vec<PackageChange>) {
        let Some(at) = self.at else { return };
        for (line, field, list) in &self.lists {
            let Some(kind) = apt_change_kind(field) else {
                continue;
            };
            for entry in split_history_entries(list) {
                let Some(parsed) = parse_apt_entry(entry) else {
                    continue;
                };
                let (from, to) = from_to(kind, &parsed.versions);
                out.push(PackageChange {
                    package: parsed.package,
                    arch: parsed.arch,
                    kind,
                    from,
                    to,
                    at: at.clone(),
                    by: self.by.clone(),
                    // The entry itself, not the whole line: the line can list hundreds of packages.
                    evidence: Evidence::line(
                        file,
                        *line,
                        shorten(&format!("{field}: {entry}"), EVIDENCE_TEXT_MAX),
                    ),
                });
            }
        }
    }
}

/// Parses apt's `history.log` (blocks separated by blank lines, `Start-Date:`, `Commandline:`, `Requested-By:`,
/// `Install:`/`Upgrade:`/…, `End-Date:`). Tolerant: truncated or garbled blocks are skipped, never a panic.
/// `file` is the host path recorded in each change's evidence.
///
/// Returns every change, in file order; callers keep the driver's with [`is_driver_package`]. A final block cut off
/// before `End-Date:` (apt still running, or killed) still counts: its packages were being changed.
pub fn parse_apt_history(text: &str, file: &str) -> Vec<PackageChange> {
    let mut changes = Vec::new();
    let mut block = AptBlock::default();
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() {
            std::mem::take(&mut block).finish(file, &mut changes);
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match field {
            "Start-Date" => {
                // A new transaction without the blank line before it (the previous one was cut off) still starts here.
                if !block.is_empty() {
                    std::mem::take(&mut block).finish(file, &mut changes);
                }
                block.at = normalise_apt_date(value);
            }
            "Commandline" => {
                block.by.unattended = value.contains("unattended-upgrade");
                block.by.commandline = Some(value.to_string());
            }
            "Requested-By" => block.by.requested_by = Some(value.to_string()),
            _ if apt_change_kind(field).is_some() => {
                block
                    .lists
                    .push((line_no, field.to_string(), value.to_string()))
            }
            // End-Date, Error and anything garbled carry no change.
            _ => {}
        }
    }
    block.finish(file, &mut changes);
    changes
}

/// Parses `/var/log/dpkg.log` lines `2022-05-19 06:04:42 upgrade libnvidia-compute-510:amd64 OLD NEW`.
///
/// Only `install`, `upgrade`, `remove` and `purge` lines are changes; `status`, `configure`, `trigproc`, `startup` and
/// `conffile` lines are steps of those. dpkg writes `upgrade` for downgrades too (it does not compare versions), so they
/// show as upgrades; an `upgrade` to the same version is a reinstall. dpkg.log does not say who ran it.
pub fn parse_dpkg_log(text: &str, file: &str) -> Vec<PackageChange> {
    let mut changes = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let [date, time, action, spec, old, new] = words.as_slice() else {
            continue;
        };
        let Some(at) = normalise_apt_date(&format!("{date} {time}")) else {
            continue;
        };
        let version = |v: &str| (v != "<none>" && !v.is_empty()).then(|| v.to_string());
        let (from, to) = (version(old), version(new));
        let kind = match *action {
            "install" => ChangeKind::Install,
            "upgrade" if from.is_some() && from == to => ChangeKind::Reinstall,
            "upgrade" => ChangeKind::Upgrade,
            "remove" => ChangeKind::Remove,
            "purge" => ChangeKind::Purge,
            _ => continue,
        };
        let (package, arch) = split_name_arch(spec);
        if !is_plausible_package_name(&package) {
            continue;
        }
        changes.push(PackageChange {
            package,
            arch,
            kind,
            // An install over a removed-but-configured package logs the old version; it is still an install.
            from: if kind == ChangeKind::Install {
                None
            } else {
                from
            },
            to: if matches!(kind, ChangeKind::Remove | ChangeKind::Purge) {
                None
            } else {
                to
            },
            at,
            by: ChangedBy::default(),
            evidence: Evidence::line(file, index + 1, shorten(line, EVIDENCE_TEXT_MAX)),
        });
    }
    changes
}

/// Architectures an RPM file name can end in; anything else after the last `.` is part of the release.
const RPM_ARCHES: &[&str] = &[
    "x86_64", "noarch", "aarch64", "i686", "i586", "i386", "ppc64le", "ppc64", "s390x", "armv7hl",
    "riscv64", "src",
];

/// A package name, `version-release` and arch, split out of an RPM NEVRA such as
/// `libnvidia-ml-3:575.57.08-1.el9.x86_64` (name `libnvidia-ml`, `575.57.08-1.el9`, arch `x86_64`).
///
/// The epoch (`3:` on every NVIDIA driver package) is dropped: it never changes within a driver's history, and
/// callers read the driver version from the start of `from`/`to` as they do for apt's versions.
fn split_nevra(nevra: &str) -> Option<(String, String, Option<String>)> {
    let (rest, arch) = match nevra.rsplit_once('.') {
        Some((rest, arch)) if RPM_ARCHES.contains(&arch) => (rest, Some(arch.to_string())),
        _ => (nevra, None),
    };
    let (name_version, release) = rest.rsplit_once('-')?;
    let (name, version) = name_version.rsplit_once('-')?;
    if name.is_empty()
        || version.is_empty()
        || release.is_empty()
        || !is_plausible_package_name(name)
    {
        return None;
    }
    let version = version.split_once(':').map_or(version, |(_epoch, v)| v);
    if version.is_empty() {
        return None;
    }
    Some((name.to_string(), format!("{version}-{release}"), arch))
}

/// `2026-02-14T09:30:12+0000` / `2026-02-14T09:30:12Z` → `2026-02-14 09:30:12` (the log's own clock, like apt's).
fn normalise_iso_timestamp(stamp: &str) -> Option<String> {
    let head = stamp.get(..19)?.replacen('T', " ", 1);
    is_sortable_timestamp(&head).then_some(head)
}

/// Parses `/var/log/dnf.rpm.log` (`… SUBDEBUG Upgrade: libnvidia-ml-3:575.57.08-1.el9.x86_64` then `Upgraded: <old>`).
///
/// rpm installs every new package of a transaction before it erases the old ones, so an `Upgraded:` line is paired
/// with the latest earlier `Upgrade:` of the same name and arch that has no old version yet, not simply with the line
/// before it. `Downgrade:`/`Downgraded:` pair the same way; `Installed:`/`Install:`, `Erase:`, `Reinstall:` stand alone.
pub fn parse_dnf_rpm_log(text: &str, file: &str) -> Vec<PackageChange> {
    let mut changes: Vec<PackageChange> = Vec::new();
    // Upgrades and downgrades still waiting for their `Upgraded`/`Downgraded` line, newest last, by package, arch and
    // kind: pairing looks up one list instead of scanning back through every earlier change (100,000 lines took 15 s).
    let mut waiting: HashMap<(String, Option<String>, ChangeKind), Vec<usize>> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let mut parts = line.splitn(3, char::is_whitespace);
        let (Some(stamp), Some(_level), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(at) = normalise_iso_timestamp(stamp) else {
            continue;
        };
        let Some((action, nevra)) = rest.trim().split_once(':') else {
            continue;
        };
        let nevra = nevra.trim();
        if nevra.contains(char::is_whitespace) {
            continue;
        }
        let Some((package, evr, arch)) = split_nevra(nevra) else {
            continue;
        };
        let evidence = Evidence::line(file, index + 1, shorten(line, EVIDENCE_TEXT_MAX));
        let (kind, from, to) = match action {
            "Install" | "Installed" => (ChangeKind::Install, None, Some(evr)),
            "Upgrade" => (ChangeKind::Upgrade, None, Some(evr)),
            "Downgrade" => (ChangeKind::Downgrade, None, Some(evr)),
            "Reinstall" => (ChangeKind::Reinstall, Some(evr.clone()), Some(evr)),
            "Erase" => (ChangeKind::Remove, Some(evr), None),
            "Upgraded" | "Downgraded" => {
                let wanted = if action == "Upgraded" {
                    ChangeKind::Upgrade
                } else {
                    ChangeKind::Downgrade
                };
                let open = waiting
                    .get_mut(&(package, arch, wanted))
                    .and_then(Vec::pop)
                    .and_then(|i| changes.get_mut(i));
                if let Some(change) = open {
                    change.from = Some(evr);
                }
                continue;
            }
            // Reinstalled, Obsolete(d), Cleanup, Verified, scriptlets, logging banners: no change of their own.
            _ => continue,
        };
        if matches!(kind, ChangeKind::Upgrade | ChangeKind::Downgrade) {
            waiting
                .entry((package.clone(), arch.clone(), kind))
                .or_default()
                .push(changes.len());
        }
        changes.push(PackageChange {
            package,
            arch,
            kind,
            from,
            to,
            at,
            by: ChangedBy::default(),
            evidence,
        });
    }
    changes
}

/// Strips an `:arch` suffix and lowercases, so `libnvidia-compute-580:amd64` and RPM's mixed-case names compare alike.
fn bare_name(name: &str) -> String {
    name.split(':').next().unwrap_or(name).to_ascii_lowercase()
}

/// Is `name` exactly `family` or `family-<anything>` (`nvidia-driver`, `nvidia-driver-580`, `nvidia-driver-580-open`)?
fn is_family(name: &str, family: &str) -> bool {
    name.strip_prefix(family)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// Names that look like the driver's but are not versioned with it (toolkit, container stack, settings, docs, the
/// egl-wayland/gbm platform libraries, helpers that only pick a driver).
fn is_excluded_lookalike(name: &str) -> bool {
    name.ends_with("-doc")
        || name.contains("container")
        || name.contains("cuda-toolkit")
        || name.starts_with("nvidia-cuda-")
        || name.starts_with("nvidia-settings")
        || name.starts_with("nvidia-docker")
        || name.starts_with("libnvidia-egl-wayland")
        || name.starts_with("libnvidia-egl-gbm")
        || name.starts_with("libnvidia-egl-x")
        || name.starts_with("nvidia-libxnvctrl")
        || name.starts_with("libxnvctrl")
        || name.starts_with("nvidia-vaapi-driver")
        || name.starts_with("nvidia-prime")
        || name.starts_with("nvidia-driver-assistant")
        || name.starts_with("nvidia-detect")
        || name.starts_with("nvidia-installer-cleanup")
}

/// `nvidia-<family>[-…]` packages built from the driver: Ubuntu's branch-numbered ones, Debian's, RHEL's.
const NVIDIA_DRIVER_FAMILIES: &[&str] = &[
    "nvidia-driver",
    "nvidia-utils",
    "nvidia-compute-utils",
    "nvidia-dkms",
    "nvidia-kernel",
    "nvidia-firmware",
    "nvidia-headless",
    "nvidia-smi",
    "nvidia-kmod",
    "nvidia-kmod-common",
    "nvidia-open",
    "nvidia-opencl-icd",
    "nvidia-egl-icd",
    "nvidia-vulkan-icd",
    "nvidia-alternative",
    "xserver-xorg-video-nvidia",
    "kmod-nvidia",
    "cuda-drivers",
    "firmware-nvidia-gsp",
    "linux-modules-nvidia",
    "linux-objects-nvidia",
    "linux-signatures-nvidia",
    "libcuda1",
    "libnvcuvid1",
    "libnvoptix1",
];

/// Every name [`is_driver_package`] accepts contains one of these (lower case, as package names are), so a big log or
/// status file can be narrowed to the records that mention one before it is parsed.
pub const DRIVER_NAME_NEEDLES: &[&str] = &["nvidia", "cuda", "libnv"];

/// Is this package part of the NVIDIA user-space or kernel driver (not CUDA toolkit, not unrelated `nvidia-*-doc`)?
/// Matches by pattern, since from 590 on Ubuntu drops the branch number (`libnvidia-compute`).
pub fn is_driver_package(name: &str) -> bool {
    let name = bare_name(name);
    if is_excluded_lookalike(&name) {
        return false;
    }
    // Every other libnvidia-* (compute, gl, extra, decode, encode, cfg1, fbc1, common, ml1, allocator1, …) is built
    // from the driver and carries its version.
    name.starts_with("libnvidia-")
        || name.starts_with("cuda-drivers")
        || is_branch_package(&name)
        || NVIDIA_DRIVER_FAMILIES.iter().any(|f| is_family(&name, f))
}

/// Ubuntu's driver packages before `nvidia-driver-<branch>`: `nvidia-367`, `nvidia-384`, `nvidia-340` (and their
/// `-dev`/`-uvm` companions), named after the branch.
fn is_branch_package(name: &str) -> bool {
    name.strip_prefix("nvidia-").is_some_and(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits == 3 && (rest.len() == 3 || rest[3..].starts_with('-'))
    })
}

/// Does this package ship the driver's user-space libraries that NVML checks against the kernel module (libnvidia-ml,
/// libcuda)? Used to pick THE change that replaced the library out of a driver upgrade's many packages.
pub fn is_library_package(name: &str) -> bool {
    let name = bare_name(name);
    [
        "libnvidia-compute",
        "libnvidia-ml1",
        "libnvidia-ml",
        "libcuda1",
        "nvidia-driver-libs",
        "nvidia-driver-cuda-libs",
        "nvidia-driver-nvml",
    ]
    .iter()
    .any(|f| {
        // Branch-numbered Ubuntu names (`libnvidia-compute-580`) and arch-suffixed Debian ones (`libcuda1-i386`).
        is_family(&name, f)
    }) && !is_excluded_lookalike(&name)
}

/// Is this change a transitional package's: one whose name carries a driver branch (`libnvidia-compute-495`) other
/// than the branch of the version it moved to (`510.73.05-0ubuntu…`)? Ubuntu keeps retired branches' names as empty
/// packages that depend on the new branch's: they ship no library, so they never explain which library is on disk.
pub fn is_transitional(change: &PackageChange) -> bool {
    let Some(to_branch) = change
        .to
        .as_deref()
        .and_then(|v| v.split(['.', '-', ':']).next())
        .filter(|b| !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()))
    else {
        return false;
    };
    let name = bare_name(&change.package);
    let name_branch = name
        .split('-')
        .rev()
        .find(|part| part.len() == 3 && part.bytes().all(|c| c.is_ascii_digit()));
    name_branch.is_some_and(|b| b != to_branch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The incident: unattended-upgrades moves the 580 branch from 580.65.06 to 580.95.05 while 580.65.06 is loaded.
    const INCIDENT_HISTORY: &str = "\
Start-Date: 2025-10-20  14:02:11
Commandline: apt install htop
Requested-By: alice (1000)
Install: htop:amd64 (3.3.0-4build1), libnl-genl-3-200:amd64 (3.7.0-0.3build1.1, automatic)
End-Date: 2025-10-20  14:02:13

Start-Date: 2025-10-22  06:25:01
Commandline: /usr/bin/unattended-upgrade
Upgrade: libnvidia-compute-580:amd64 (580.65.06-0ubuntu0.24.04.2, 580.95.05-0ubuntu0.24.04.1), nvidia-driver-580:amd64 (580.65.06-0ubuntu0.24.04.2, 580.95.05-0ubuntu0.24.04.1), nvidia-dkms-580:amd64 (580.65.06-0ubuntu0.24.04.2, 580.95.05-0ubuntu0.24.04.1), libnvidia-gl-580:amd64 (580.65.06-0ubuntu0.24.04.2, 580.95.05-0ubuntu0.24.04.1), nvidia-utils-580:amd64 (580.65.06-0ubuntu0.24.04.2, 580.95.05-0ubuntu0.24.04.1), nvidia-firmware-580-580.65.06:amd64 (580.65.06-0ubuntu0.24.04.2, 580.95.05-0ubuntu0.24.04.1)
End-Date: 2025-10-22  06:26:40
";

    fn find<'a>(changes: &'a [PackageChange], package: &str) -> &'a PackageChange {
        changes
            .iter()
            .find(|c| c.package == package)
            .unwrap_or_else(|| panic!("no change for {package} in {changes:#?}"))
    }

    #[test]
    fn incident_upgrade_is_read_with_versions_time_and_unattended_origin() {
        let changes = parse_apt_history(INCIDENT_HISTORY, "/var/log/apt/history.log");
        assert_eq!(changes.len(), 8);
        let lib = find(&changes, "libnvidia-compute-580");
        assert_eq!(lib.kind, ChangeKind::Upgrade);
        assert_eq!(lib.arch.as_deref(), Some("amd64"));
        assert_eq!(lib.from.as_deref(), Some("580.65.06-0ubuntu0.24.04.2"));
        assert_eq!(lib.to.as_deref(), Some("580.95.05-0ubuntu0.24.04.1"));
        assert_eq!(lib.at, "2025-10-22 06:25:01");
        assert!(lib.by.unattended);
        assert_eq!(
            lib.by.commandline.as_deref(),
            Some("/usr/bin/unattended-upgrade")
        );
        assert_eq!(lib.by.describe(), "unattended-upgrades");
        assert_eq!(lib.evidence.file, "/var/log/apt/history.log");
        assert_eq!(lib.evidence.line, Some(9));
        assert_eq!(
            lib.evidence.text.as_deref(),
            Some("Upgrade: libnvidia-compute-580:amd64 (580.65.06-0ubuntu0.24.04.2, 580.95.05-0ubuntu0.24.04.1)")
        );
        let fw = find(&changes, "nvidia-firmware-580-580.65.06");
        assert_eq!(fw.to.as_deref(), Some("580.95.05-0ubuntu0.24.04.1"));
        let driver_changes: Vec<_> = changes
            .iter()
            .filter(|c| is_driver_package(&c.package))
            .collect();
        assert_eq!(driver_changes.len(), 6);
    }

    #[test]
    fn install_entries_drop_automatic_and_keep_requester() {
        let changes = parse_apt_history(INCIDENT_HISTORY, "h");
        let htop = find(&changes, "htop");
        assert_eq!(htop.kind, ChangeKind::Install);
        assert_eq!(htop.from, None);
        assert_eq!(htop.to.as_deref(), Some("3.3.0-4build1"));
        assert!(!htop.by.unattended);
        assert_eq!(htop.by.describe(), "alice (1000): apt install htop");
        let lib = find(&changes, "libnl-genl-3-200");
        assert_eq!(lib.to.as_deref(), Some("3.7.0-0.3build1.1"));
        assert_eq!(lib.evidence.line, Some(4));
        assert_eq!(lib.at, "2025-10-20 14:02:11");
    }

    #[test]
    fn remove_purge_downgrade_reinstall_map_versions() {
        let text = "\
Start-Date: 2024-03-01  10:00:00
Commandline: apt purge nvidia-driver-535
Requested-By: bob (1001)
Remove: nvidia-utils-535:amd64 (535.161.07-0ubuntu0.22.04.1)
Purge: nvidia-driver-535:amd64 (535.161.07-0ubuntu0.22.04.1)
Downgrade: libnvidia-compute-535:amd64 (535.161.07-0ubuntu0.22.04.1, 535.154.05-0ubuntu0.22.04.1)
Reinstall: nvidia-dkms-535:amd64 (535.161.07-0ubuntu0.22.04.1)
Error: Sub-process /usr/bin/dpkg returned an error code (1)
End-Date: 2024-03-01  10:01:00
";
        let changes = parse_apt_history(text, "h");
        assert_eq!(changes.len(), 4);
        let rm = find(&changes, "nvidia-utils-535");
        assert_eq!(
            (rm.kind, rm.from.as_deref(), rm.to.as_deref()),
            (
                ChangeKind::Remove,
                Some("535.161.07-0ubuntu0.22.04.1"),
                None
            )
        );
        let purge = find(&changes, "nvidia-driver-535");
        assert_eq!(purge.kind, ChangeKind::Purge);
        assert_eq!(purge.to, None);
        let down = find(&changes, "libnvidia-compute-535");
        assert_eq!(down.kind, ChangeKind::Downgrade);
        assert_eq!(down.from.as_deref(), Some("535.161.07-0ubuntu0.22.04.1"));
        assert_eq!(down.to.as_deref(), Some("535.154.05-0ubuntu0.22.04.1"));
        let re = find(&changes, "nvidia-dkms-535");
        assert_eq!(re.kind, ChangeKind::Reinstall);
        assert_eq!(re.from, re.to);
    }

    #[test]
    fn truncated_final_block_still_counts() {
        let text = "Start-Date: 2025-10-22  06:25:01\nCommandline: /usr/bin/unattended-upgrade\n\
Upgrade: libnvidia-compute-580:amd64 (580.65.06-0ubuntu0.24.04.2, 580.95.05-0ubuntu0.24.04.1)";
        let changes = parse_apt_history(text, "h");
        assert_eq!(changes.len(), 1);
        assert!(changes[0].by.unattended);
        // Cut inside the parentheses: the package is still named; only the new version is unknown.
        let cut = "Start-Date: 2025-10-22  06:25:01\nUpgrade: libnvidia-compute-580:amd64 (580.65.06-0ubuntu0.24.04.2";
        let changes = parse_apt_history(cut, "h");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].package, "libnvidia-compute-580");
        assert_eq!(changes[0].from, None);
        assert_eq!(changes[0].to.as_deref(), Some("580.65.06-0ubuntu0.24.04.2"));
    }

    #[test]
    fn block_missing_blank_line_does_not_merge_into_the_next() {
        let text = "\
Start-Date: 2025-10-21  06:00:00
Commandline: /usr/bin/unattended-upgrade
Upgrade: a:amd64 (1, 2)
Start-Date: 2025-10-22  07:00:00
Commandline: apt upgrade
Requested-By: carol (1002)
Upgrade: b:amd64 (3, 4)
End-Date: 2025-10-22  07:00:05
";
        let changes = parse_apt_history(text, "h");
        assert_eq!(changes.len(), 2);
        assert_eq!(find(&changes, "a").at, "2025-10-21 06:00:00");
        assert!(find(&changes, "a").by.unattended);
        assert_eq!(find(&changes, "b").at, "2025-10-22 07:00:00");
        assert!(!find(&changes, "b").by.unattended);
    }

    #[test]
    fn garbage_and_blocks_without_start_date_are_skipped() {
        let text = "\u{0}\u{1}\u{fffd}garbage\u{fffd}\n\nUpgrade: orphan:amd64 (1, 2)\n\n\
Start-Date: not a date\nUpgrade: undated:amd64 (1, 2)\n\n\
Start-Date: 2025-01-01  00:00:00\nUpgrade: ok:amd64 (1, 2), , bad name:amd64 (1, 2), (x)\n";
        let changes = parse_apt_history(text, "h");
        assert_eq!(
            changes
                .iter()
                .map(|c| c.package.as_str())
                .collect::<Vec<_>>(),
            vec!["ok"]
        );
        assert!(parse_apt_history("", "h").is_empty());
        assert!(parse_apt_history("\n\n\n", "h").is_empty());
    }

    #[test]
    fn long_evidence_text_is_shortened() {
        let long_version = "9".repeat(400);
        let text =
            format!("Start-Date: 2025-01-01  00:00:00\nInstall: big:amd64 ({long_version})\n");
        let changes = parse_apt_history(&text, "h");
        let shown = changes[0].evidence.text.as_deref().unwrap_or_default();
        assert_eq!(shown.chars().count(), EVIDENCE_TEXT_MAX + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(shorten("ééé", 2), "éé…");
    }

    #[test]
    fn entries_without_arch_or_parentheses_parse() {
        let changes = parse_apt_history(
            "Start-Date: 2019-01-01  00:00:00\nRemove: oldpkg (1.0), bare\n",
            "h",
        );
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].arch, None);
        assert_eq!(changes[0].from.as_deref(), Some("1.0"));
        assert_eq!(changes[1].package, "bare");
        assert_eq!(changes[1].from, None);
    }

    #[test]
    fn dpkg_log_keeps_package_changes_and_ignores_steps() {
        let text = "\
2022-05-19 06:04:40 startup archives unpack
2022-05-19 06:04:42 upgrade libnvidia-compute-510:amd64 510.60.02-0ubuntu1 510.73.05-0ubuntu1
2022-05-19 06:04:42 status half-configured libnvidia-compute-510:amd64 510.60.02-0ubuntu1
2022-05-19 06:04:43 status unpacked libnvidia-compute-510:amd64 510.73.05-0ubuntu1
2022-05-19 06:04:44 configure libnvidia-compute-510:amd64 510.73.05-0ubuntu1 <none>
2022-05-19 06:04:45 trigproc libc-bin:amd64 2.35-0ubuntu3 <none>
2022-05-19 06:05:00 install nvidia-dkms-510:amd64 <none> 510.73.05-0ubuntu1
2022-05-19 06:06:00 remove nvidia-utils-470:amd64 470.129.06-0ubuntu1 <none>
2022-05-19 06:06:01 purge nvidia-utils-470:amd64 470.129.06-0ubuntu1 <none>
2022-05-19 06:07:00 upgrade nvidia-dkms-510:amd64 510.73.05-0ubuntu1 510.73.05-0ubuntu1
garbage line \u{0}\u{1}
2022-05-19 upgrade truncated
";
        let changes = parse_dpkg_log(text, "/var/log/dpkg.log");
        let kinds: Vec<_> = changes
            .iter()
            .map(|c| (c.package.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("libnvidia-compute-510", ChangeKind::Upgrade),
                ("nvidia-dkms-510", ChangeKind::Install),
                ("nvidia-utils-470", ChangeKind::Remove),
                ("nvidia-utils-470", ChangeKind::Purge),
                ("nvidia-dkms-510", ChangeKind::Reinstall),
            ]
        );
        let up = &changes[0];
        assert_eq!(up.from.as_deref(), Some("510.60.02-0ubuntu1"));
        assert_eq!(up.to.as_deref(), Some("510.73.05-0ubuntu1"));
        assert_eq!(up.arch.as_deref(), Some("amd64"));
        assert_eq!(up.at, "2022-05-19 06:04:42");
        assert_eq!(up.by, ChangedBy::default());
        assert_eq!(up.by.describe(), "unknown");
        assert_eq!(up.evidence.line, Some(2));
        assert_eq!(
            up.evidence.text.as_deref(),
            Some("2022-05-19 06:04:42 upgrade libnvidia-compute-510:amd64 510.60.02-0ubuntu1 510.73.05-0ubuntu1")
        );
        assert_eq!(
            (changes[1].from.as_deref(), changes[1].to.as_deref()),
            (None, Some("510.73.05-0ubuntu1"))
        );
        assert_eq!(
            (changes[2].from.as_deref(), changes[2].to.as_deref()),
            (Some("470.129.06-0ubuntu1"), None)
        );
    }

    #[test]
    fn dnf_upgrade_pairs_with_upgraded_by_name_even_when_interleaved() {
        let text = "\
2026-02-14T09:30:01+0000 INFO --- logging initialized ---
2026-02-14T09:30:12+0000 SUBDEBUG Upgrade: libnvidia-ml-3:575.57.08-1.el9.x86_64
2026-02-14T09:30:13+0000 SUBDEBUG Upgrade: nvidia-driver-cuda-libs-3:575.57.08-1.el9.x86_64
2026-02-14T09:30:14+0000 SUBDEBUG Upgrade: kmod-nvidia-latest-dkms-3:575.57.08-1.el9.x86_64
2026-02-14T09:30:20+0000 SUBDEBUG Upgraded: nvidia-driver-cuda-libs-3:570.124.06-1.el9.x86_64
2026-02-14T09:30:21+0000 SUBDEBUG Upgraded: libnvidia-ml-3:570.124.06-1.el9.x86_64
2026-02-14T09:30:22+0000 SUBDEBUG Installed: cuda-drivers-575.57.08-1.x86_64
2026-02-14T09:30:23+0000 SUBDEBUG Erase: nvidia-settings-3:570.124.06-1.el9.x86_64
2026-02-14T09:30:24Z SUBDEBUG Installed: nvidia-kmod-common-3:575.57.08-1.el9.noarch
2026-02-14T09:30:25+0000 SUBDEBUG Upgraded: never-upgraded-1.0-1.x86_64
2026-02-14T09:30:26+0000 SUBDEBUG Installed: \u{0}junk
2026-02-14 nonsense
";
        let changes = parse_dnf_rpm_log(text, "/var/log/dnf.rpm.log");
        let names: Vec<_> = changes.iter().map(|c| c.package.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "libnvidia-ml",
                "nvidia-driver-cuda-libs",
                "kmod-nvidia-latest-dkms",
                "cuda-drivers",
                "nvidia-settings",
                "nvidia-kmod-common"
            ]
        );
        let ml = &changes[0];
        assert_eq!(ml.kind, ChangeKind::Upgrade);
        assert_eq!(ml.from.as_deref(), Some("570.124.06-1.el9"));
        assert_eq!(ml.to.as_deref(), Some("575.57.08-1.el9"));
        assert_eq!(ml.arch.as_deref(), Some("x86_64"));
        assert_eq!(ml.at, "2026-02-14 09:30:12");
        assert_eq!(ml.evidence.line, Some(2));
        assert_eq!(changes[1].from.as_deref(), Some("570.124.06-1.el9"));
        // Its Upgraded line never came (log cut off): the old version stays unknown.
        assert_eq!(changes[2].from, None);
        assert_eq!(changes[3].kind, ChangeKind::Install);
        assert_eq!(changes[3].to.as_deref(), Some("575.57.08-1"));
        assert_eq!(changes[4].kind, ChangeKind::Remove);
        assert_eq!(changes[4].from.as_deref(), Some("570.124.06-1.el9"));
        assert_eq!(changes[5].arch.as_deref(), Some("noarch"));
        assert_eq!(changes[5].at, "2026-02-14 09:30:24");
    }

    #[test]
    fn dnf_pairing_takes_the_newest_waiting_change_of_the_same_package_and_arch() {
        let text = "\
2026-02-14T09:30:12+0000 SUBDEBUG Upgrade: libnvidia-ml-3:575.57.08-1.el9.x86_64
2026-02-14T09:30:13+0000 SUBDEBUG Upgrade: libnvidia-ml-3:575.57.08-1.el9.i686
2026-02-14T09:30:14+0000 SUBDEBUG Upgrade: libnvidia-ml-3:580.65.06-1.el9.x86_64
2026-02-14T09:30:20+0000 SUBDEBUG Upgraded: libnvidia-ml-3:575.57.08-1.el9.x86_64
2026-02-14T09:30:21+0000 SUBDEBUG Upgraded: libnvidia-ml-3:570.124.06-1.el9.x86_64
2026-02-14T09:30:22+0000 SUBDEBUG Upgraded: libnvidia-ml-3:570.124.06-1.el9.x86_64
";
        let changes = parse_dnf_rpm_log(text, "f");
        let from: Vec<_> = changes.iter().map(|c| c.from.as_deref()).collect();
        // The newest x86_64 upgrade pairs first, then the older one; the i686 one never pairs; the third line finds
        // nothing waiting.
        assert_eq!(
            from,
            vec![Some("570.124.06-1.el9"), None, Some("575.57.08-1.el9")]
        );
    }

    #[test]
    fn dnf_pairing_is_linear_in_the_log() {
        // 50,000 upgrades, then their `Upgraded` lines oldest first: scanning back from the end for each took minutes.
        let mut text = String::new();
        for i in 0..50_000 {
            text.push_str(&format!(
                "2026-02-14T09:30:12+0000 SUBDEBUG Upgrade: pkg{i}-1.0-1.x86_64\n"
            ));
        }
        for i in 0..50_000 {
            text.push_str(&format!(
                "2026-02-14T09:30:13+0000 SUBDEBUG Upgraded: pkg{i}-0.9-1.x86_64\n"
            ));
        }
        let started = std::time::Instant::now();
        let changes = parse_dnf_rpm_log(&text, "f");
        assert_eq!(changes.len(), 50_000);
        assert!(changes.iter().all(|c| c.from.as_deref() == Some("0.9-1")));
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    }

    #[test]
    fn dnf_downgrade_pairs_with_downgraded() {
        let text = "2026-03-01T10:00:00+0100 SUBDEBUG Downgrade: nvidia-driver-3:570.124.06-1.el9.x86_64\n\
2026-03-01T10:00:05+0100 SUBDEBUG Downgraded: nvidia-driver-3:575.57.08-1.el9.x86_64\n";
        let changes = parse_dnf_rpm_log(text, "f");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeKind::Downgrade);
        assert_eq!(changes[0].from.as_deref(), Some("575.57.08-1.el9"));
        assert_eq!(changes[0].to.as_deref(), Some("570.124.06-1.el9"));
    }

    #[test]
    fn nevra_splits_name_evr_arch() {
        assert_eq!(
            split_nevra("libnvidia-ml-3:575.57.08-1.el9.x86_64"),
            Some((
                "libnvidia-ml".into(),
                "575.57.08-1.el9".into(),
                Some("x86_64".into())
            ))
        );
        assert_eq!(
            split_nevra("kmod-nvidia-open-dkms-580.95.05-1.el9"),
            Some((
                "kmod-nvidia-open-dkms".into(),
                "580.95.05-1.el9".into(),
                None
            ))
        );
        assert_eq!(
            split_nevra("pkg-3:-1.x86_64"),
            None,
            "an epoch with no version is garbled"
        );
        assert_eq!(split_nevra("nodashes.x86_64"), None);
        assert_eq!(split_nevra("-1-2.x86_64"), None);
    }

    #[test]
    fn driver_packages_match_by_pattern_across_distributions() {
        for name in [
            "nvidia-driver-580",
            "nvidia-driver-580-open",
            "nvidia-driver-580-server",
            "nvidia-driver",
            "libnvidia-compute-580",
            "libnvidia-compute-580:amd64",
            "libnvidia-compute",
            "libnvidia-gl-580",
            "libnvidia-extra-580",
            "libnvidia-decode-580",
            "libnvidia-encode-580",
            "libnvidia-cfg1-580",
            "libnvidia-fbc1-580",
            "libnvidia-common-580",
            "nvidia-utils-580",
            "nvidia-compute-utils-580",
            "nvidia-dkms-580",
            "nvidia-dkms-580-open",
            "nvidia-kernel-common-580",
            "nvidia-kernel-source-580-open",
            "linux-modules-nvidia-580-generic",
            "linux-modules-nvidia-580-open-6.8.0-85-generic",
            "linux-objects-nvidia-580-6.8.0-85-generic",
            "linux-signatures-nvidia-6.8.0-85-generic",
            "xserver-xorg-video-nvidia-580",
            "nvidia-firmware-580-580.95.05",
            "nvidia-headless-no-dkms-580",
            "cuda-drivers",
            "cuda-drivers-580",
            "libnvidia-ml1",
            "nvidia-kernel-dkms",
            "nvidia-kernel-open-dkms",
            "nvidia-smi",
            "libcuda1",
            "nvidia-kernel-support",
            "firmware-nvidia-gsp",
            "nvidia-driver-libs",
            "nvidia-driver-cuda-libs",
            "nvidia-driver-NvFBCOpenGL",
            "libnvidia-ml",
            "kmod-nvidia-latest-dkms",
            "kmod-nvidia-open-dkms",
            "nvidia-kmod-common",
            "nvidia-367",
            "nvidia-340-uvm",
        ] {
            assert!(is_driver_package(name), "{name} should be a driver package");
            assert!(
                DRIVER_NAME_NEEDLES
                    .iter()
                    .any(|n| name.to_ascii_lowercase().contains(n)),
                "{name} must be found by the narrowing needles"
            );
        }
        // Every family, and the prefixes, are found by the needles too (libnvcuvid1 and libnvoptix1 name neither
        // nvidia nor cuda: narrowing by those two alone once dropped them).
        for family in NVIDIA_DRIVER_FAMILIES
            .iter()
            .chain(&["libnvidia-x", "cuda-drivers-x"])
        {
            assert!(is_driver_package(family), "{family}");
            assert!(
                DRIVER_NAME_NEEDLES.iter().any(|n| family.contains(n)),
                "{family}"
            );
        }
        for name in [
            "nvidia-cuda-toolkit",
            "nvidia-cuda-dev",
            "cuda-toolkit-12-8",
            "cuda-toolkit",
            "nvidia-container-toolkit",
            "nvidia-container-toolkit-base",
            "libnvidia-container1",
            "libnvidia-container-tools",
            "nvidia-settings",
            "nvidia-driver-580-doc",
            "nvidia-prime",
            "libnvidia-egl-wayland1",
            "libnvidia-egl-gbm1",
            "nvidia-driver-assistant",
            "nvidia-vaapi-driver",
            "nvidia",
            "nvidia-3670",
            "nvidia-36",
            "nvidiafoo",
            "nvidia-driverx",
            "libcudart12",
            "htop",
            "",
        ] {
            assert!(
                !is_driver_package(name),
                "{name} should not be a driver package"
            );
        }
    }

    #[test]
    fn library_packages_are_the_ones_shipping_nvml_and_libcuda() {
        for name in [
            "libnvidia-compute-580",
            "libnvidia-compute-580:amd64",
            "libnvidia-compute",
            "libnvidia-ml1",
            "libcuda1",
            "nvidia-driver-libs",
            "nvidia-driver-cuda-libs",
            "libnvidia-ml",
        ] {
            assert!(is_library_package(name), "{name} ships the library");
        }
        for name in [
            "nvidia-utils-580",
            "nvidia-driver-580",
            "libnvidia-gl-580",
            "nvidia-dkms-580",
            "libnvidia-container1",
            "libnvidia-computex",
        ] {
            assert!(
                !is_library_package(name),
                "{name} does not ship the library"
            );
        }
    }

    /// The incident fixture's current and rotated history, and its dpkg.log, read as the gatherer reads them.
    #[test]
    fn incident_fixture_logs_name_the_unattended_library_upgrade() {
        let history = parse_apt_history(
            include_str!("../../tests/fixtures/incident/var/log/apt/history.log"),
            "/var/log/apt/history.log",
        );
        let lib: Vec<_> = history
            .iter()
            .filter(|c| is_library_package(&c.package))
            .collect();
        assert_eq!(lib.len(), 1);
        assert_eq!(lib[0].package, "libnvidia-compute-580");
        assert_eq!(lib[0].from.as_deref(), Some("580.65.06-0ubuntu0.24.04.2"));
        assert_eq!(lib[0].to.as_deref(), Some("580.95.05-0ubuntu0.24.04.1"));
        assert_eq!(lib[0].at, "2025-10-22 06:25:01");
        assert_eq!(lib[0].by.describe(), "unattended-upgrades");
        assert_eq!(
            history
                .iter()
                .filter(|c| is_driver_package(&c.package))
                .count(),
            7
        );
        let dpkg = parse_dpkg_log(
            include_str!("../../tests/fixtures/incident/var/log/dpkg.log"),
            "/var/log/dpkg.log",
        );
        assert!(dpkg
            .iter()
            .any(|c| c.package == "libnvidia-compute-580" && c.kind == ChangeKind::Upgrade));
    }

    /// Every prefix of real logs (a log cut off mid-write) parses without a panic, and never yields more changes than
    /// the whole log.
    #[test]
    fn every_truncation_of_the_samples_parses() {
        let dnf =
            "2026-02-14T09:30:12+0000 SUBDEBUG Upgrade: libnvidia-ml-3:575.57.08-1.el9.x86_64\n\
2026-02-14T09:30:13+0000 SUBDEBUG Upgraded: libnvidia-ml-3:570.124.06-1.el9.x86_64\n";
        let dpkg = "2022-05-19 06:04:42 upgrade libnvidia-compute-510:amd64 510.60.02-0ubuntu1 510.73.05-0ubuntu1\n";
        type Parser = fn(&str, &str) -> Vec<PackageChange>;
        let cases: [(&str, Parser); 3] = [
            (INCIDENT_HISTORY, parse_apt_history),
            (dpkg, parse_dpkg_log),
            (dnf, parse_dnf_rpm_log),
        ];
        for (text, parse) in cases {
            let full = parse(text, "f").len();
            assert!(full > 0);
            for (cut, _) in text.char_indices() {
                assert!(parse(&text[..cut], "f").len() <= full, "cut at {cut}");
            }
        }
    }

    #[test]
    fn transitional_packages_are_told_by_their_branch() {
        let log = "2022-05-19 06:04:41 upgrade libnvidia-compute-495:amd64 510.60.02-0ubuntu0.20.04.1 510.73.05-0ubuntu0.20.04.1\n\
                   2022-05-19 06:04:42 upgrade libnvidia-compute-510:amd64 510.60.02-0ubuntu0.20.04.1 510.73.05-0ubuntu0.20.04.1\n\
                   2022-05-19 06:04:43 upgrade nvidia-firmware-510-510.73.05:amd64 <none> 510.73.05-0ubuntu0.20.04.1\n\
                   2022-05-19 06:04:44 upgrade libnvidia-compute:amd64 590.1.1-1 590.2.2-1\n\
                   2022-05-19 06:04:45 remove libnvidia-compute-470:amd64 470.1.1-1 <none>\n";
        let t: Vec<bool> = parse_dpkg_log(log, "/var/log/dpkg.log")
            .iter()
            .map(is_transitional)
            .collect();
        assert_eq!(t, [true, false, false, false, false]);
        for (name, to) in [
            ("libnvidia-compute-495", ""),
            ("libnvidia-compute-495", "ü.1"),
            ("", "510.1"),
            ("-", "-"),
            ("libnvidia-compute-49", "510.1"),
        ] {
            let mut c = parse_dpkg_log(log, "f")[0].clone();
            c.package = name.into();
            c.to = Some(to.into());
            assert!(!is_transitional(&c), "{name} {to}");
        }
    }
}
