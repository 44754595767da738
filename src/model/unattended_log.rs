//! Parsers for unattended-upgrades' own logs, which on some hosts are all that is left once apt's history.log has
//! rotated away: `unattended-upgrades.log` (which packages, when) and `unattended-upgrades-dpkg.log` (dpkg's output
//! of those runs: from which version to which).

use super::apt_history::{ChangeKind, ChangedBy, PackageChange};
use super::Evidence;

/// Who made every change these logs record.
fn by_unattended() -> ChangedBy {
    ChangedBy {
        commandline: Some("/usr/bin/unattended-upgrade".into()),
        requested_by: None,
        unattended: true,
    }
}

/// A package name as dpkg allows it, with an optional `:arch`.
fn plausible_spec(spec: &str) -> bool {
    !spec.is_empty()
        && spec
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_' | ':'))
}

fn split_arch(spec: &str) -> (String, Option<String>) {
    match spec.split_once(':') {
        Some((name, arch)) if !arch.is_empty() => (name.into(), Some(arch.into())),
        Some((name, _)) => (name.into(), None),
        None => (spec.into(), None),
    }
}

/// `2025-10-22 06:25:01` exactly (digits where digits belong).
fn sortable(stamp: &str) -> Option<String> {
    let b = stamp.as_bytes();
    let ok = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    ok.then(|| stamp.to_string())
}

/// One evidence line, cut short: a run can upgrade hundreds of packages on one line.
fn evidence(file: &str, index: usize, line: &str) -> Evidence {
    let text: String = line.trim().chars().take(200).collect();
    Evidence::line(file, index + 1, text)
}

/// `unattended-upgrades.log`: `2025-10-22 06:25:05,456 INFO Packages that will be upgraded: a b c` gives one
/// upgrade per package, without versions (this log names none), at that time, by unattended-upgrades.
pub fn parse_unattended_upgrades_log(text: &str, file: &str) -> Vec<PackageChange> {
    let mut changes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some((head, packages)) = line.split_once("Packages that will be upgraded:") else {
            continue;
        };
        let Some(at) = head.get(..19).and_then(sortable) else {
            continue;
        };
        for spec in packages.split_whitespace().filter(|s| plausible_spec(s)) {
            let (package, arch) = split_arch(spec);
            changes.push(PackageChange {
                package,
                arch,
                kind: ChangeKind::Upgrade,
                from: None,
                to: None,
                at: at.clone(),
                by: by_unattended(),
                evidence: evidence(file, index, line),
            });
        }
    }
    changes
}

/// `unattended-upgrades-dpkg.log`: runs open with `Log started: 2025-10-22  06:25:05`; within a run,
/// `Unpacking libnvidia-compute-580:amd64 (580.95.05-0ubuntu0.24.04.1) over (580.65.06-0ubuntu0.24.04.2) ...` is an
/// upgrade (a reinstall when both versions agree), `Unpacking pkg:arch (ver) ...` an install, `Removing pkg:arch (ver)
/// ...` a removal. Lines before any `Log started:` have no time and are skipped.
pub fn parse_unattended_dpkg_log(text: &str, file: &str) -> Vec<PackageChange> {
    let mut changes = Vec::new();
    let mut at: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let line_t = line.trim();
        if let Some(stamp) = line_t.strip_prefix("Log started:") {
            at = sortable(&stamp.split_whitespace().collect::<Vec<_>>().join(" "));
            continue;
        }
        let Some(at) = &at else { continue };
        let (kind, rest) = if let Some(rest) = line_t.strip_prefix("Unpacking ") {
            (ChangeKind::Install, rest)
        } else if let Some(rest) = line_t.strip_prefix("Removing ") {
            (ChangeKind::Remove, rest)
        } else {
            continue;
        };
        let Some((spec, rest)) = rest.split_once(" (") else {
            continue;
        };
        let Some((version, rest)) = rest.split_once(')') else {
            continue;
        };
        let version = version.trim();
        if !plausible_spec(spec)
            || version.is_empty()
            || !version.chars().all(|c| c.is_ascii_graphic())
        {
            continue;
        }
        let old = rest
            .trim_start()
            .strip_prefix("over (")
            .and_then(|o| o.split_once(')'))
            .map(|(o, _)| o.trim().to_string())
            .filter(|o| !o.is_empty() && o.chars().all(|c| c.is_ascii_graphic()));
        let (kind, from, to) = match (kind, old) {
            (ChangeKind::Remove, _) => (ChangeKind::Remove, Some(version.to_string()), None),
            (_, Some(old)) if old == version => {
                (ChangeKind::Reinstall, Some(old), Some(version.to_string()))
            }
            (_, Some(old)) => (ChangeKind::Upgrade, Some(old), Some(version.to_string())),
            (kind, None) => (kind, None, Some(version.to_string())),
        };
        let (package, arch) = split_arch(spec);
        changes.push(PackageChange {
            package,
            arch,
            kind,
            from,
            to,
            at: at.clone(),
            by: by_unattended(),
            evidence: evidence(file, index, line),
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    const UU_LOG: &str = "\
2025-10-22 06:25:01,123 INFO Starting unattended upgrades script
2025-10-22 06:25:01,124 INFO Allowed origins are: o=Ubuntu,a=noble, o=Ubuntu,a=noble-security, o=UbuntuESMApps,a=noble-apps-security
2025-10-22 06:25:01,125 INFO Initial blacklist: 
2025-10-22 06:25:05,456 INFO Packages that will be upgraded: libnvidia-compute-580 libnvidia-gl-580 nvidia-dkms-580
2025-10-22 06:25:05,457 INFO Writing dpkg log to /var/log/unattended-upgrades/unattended-upgrades-dpkg.log
2025-10-22 06:27:38,789 INFO All upgrades installed
";

    const UU_DPKG_LOG: &str = "\
Log started: 2025-10-22  06:25:05
(Reading database ... 215310 files and directories currently installed.)
Preparing to unpack .../libnvidia-compute-580_580.95.05-0ubuntu0.24.04.1_amd64.deb ...
Unpacking libnvidia-compute-580:amd64 (580.95.05-0ubuntu0.24.04.1) over (580.65.06-0ubuntu0.24.04.2) ...
Preparing to unpack .../nvidia-firmware-580-580.95.05_580.95.05-0ubuntu0.24.04.1_amd64.deb ...
Unpacking nvidia-firmware-580-580.95.05 (580.95.05-0ubuntu0.24.04.1) ...
Setting up libnvidia-compute-580:amd64 (580.95.05-0ubuntu0.24.04.1) ...
Removing nvidia-firmware-580-580.65.06 (580.65.06-0ubuntu0.24.04.2) ...
Log ended: 2025-10-22  06:27:38
";

    #[test]
    fn the_run_log_names_packages_and_time_without_versions() {
        let c = parse_unattended_upgrades_log(
            UU_LOG,
            "/var/log/unattended-upgrades/unattended-upgrades.log",
        );
        let names: Vec<&str> = c.iter().map(|c| c.package.as_str()).collect();
        assert_eq!(
            names,
            [
                "libnvidia-compute-580",
                "libnvidia-gl-580",
                "nvidia-dkms-580"
            ]
        );
        assert_eq!(c[0].at, "2025-10-22 06:25:05");
        assert_eq!((c[0].from.as_deref(), c[0].to.as_deref()), (None, None));
        assert_eq!(c[0].by.describe(), "unattended-upgrades");
        assert_eq!(c[0].evidence.line, Some(4));
    }

    #[test]
    fn the_dpkg_log_gives_from_and_to() {
        let c = parse_unattended_dpkg_log(
            UU_DPKG_LOG,
            "/var/log/unattended-upgrades/unattended-upgrades-dpkg.log",
        );
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].package, "libnvidia-compute-580");
        assert_eq!(c[0].arch.as_deref(), Some("amd64"));
        assert_eq!(c[0].kind, ChangeKind::Upgrade);
        assert_eq!(c[0].from.as_deref(), Some("580.65.06-0ubuntu0.24.04.2"));
        assert_eq!(c[0].to.as_deref(), Some("580.95.05-0ubuntu0.24.04.1"));
        assert_eq!(c[0].at, "2025-10-22 06:25:05");
        assert_eq!(c[0].evidence.line, Some(4));
        assert_eq!(
            (c[1].kind, c[1].package.as_str()),
            (ChangeKind::Install, "nvidia-firmware-580-580.95.05")
        );
        assert_eq!((c[2].kind, c[2].to.as_deref()), (ChangeKind::Remove, None));
    }

    #[test]
    fn garbled_lines_are_skipped_without_panicking() {
        let junk = "Unpacking libnvidia-compute-580 (580.95.05) over (x) ...\nLog started: yesterday\n\
                    Unpacking (\nUnpacking a (\nUnpacking a ()\nUnpacking a b (1) ...\nRemoving ü (1)\n\
                    Log started: 2025-10-22  06:25:05\nUnpacking libnvidia-compute-580 (\u{0}\u{ff}) over (\n\
                    2025-10-22 06:25:05 Packages that will be upgraded: \n\u{7f}Packages that will be upgraded: a\n";
        assert!(parse_unattended_dpkg_log(junk, "f").is_empty());
        assert!(parse_unattended_upgrades_log(junk, "f").is_empty());
        for cut in 0..UU_DPKG_LOG.len() {
            if UU_DPKG_LOG.is_char_boundary(cut) {
                let _ = parse_unattended_dpkg_log(&UU_DPKG_LOG[..cut], "f");
                let _ = parse_unattended_upgrades_log(&UU_LOG[..cut.min(UU_LOG.len())], "f");
            }
        }
    }
}
