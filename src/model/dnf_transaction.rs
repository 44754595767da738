//! What dnf says it would do and offers: `dnf install --assumeno …`'s transaction table (dnf 4 and dnf 5) and
//! `dnf repoquery --qf '%{name} %{evr} %{repoid}\n'` → the same typed values as apt's, so one plan serves both.

use super::apt_simulation::{ChangeKind, OfferedVersion, PackagePolicy, TransactionChange};

/// The section a transaction table row belongs to, from its heading (`Upgrading:`, `Installing dependencies:`, …).
fn section_kind(heading: &str) -> Option<Option<ChangeKind>> {
    let h = heading.trim().trim_end_matches(':').to_ascii_lowercase();
    let kind = if h.starts_with("install") {
        Some(ChangeKind::Install)
    } else if h.starts_with("upgrad") || h.starts_with("downgrad") {
        Some(ChangeKind::Change)
    } else if h.starts_with("reinstall") {
        Some(ChangeKind::Reinstall)
    } else if h.starts_with("remov") || h.starts_with("erasing") {
        Some(ChangeKind::Remove)
    } else if h.starts_with("skipping") || h.starts_with("transaction summary") {
        // Not part of the transaction: rows under it are ignored.
        None
    } else {
        return None;
    };
    Some(kind)
}

/// `dnf install --assumeno NAME-EVR…`'s output → the changes. dnf 4 wraps a long package name onto its own line
/// and lists `replacing  name.arch evr` under an upgrade; dnf 5 indents `replacing name arch evr …` rows. The old
/// version is filled from those rows when present.
pub fn parse_dnf_transaction(text: &str) -> Vec<TransactionChange> {
    let mut out: Vec<TransactionChange> = Vec::new();
    let mut kind: Option<ChangeKind> = None;
    let mut wrapped: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') {
            if line.trim_end().ends_with(':') {
                if let Some(k) = section_kind(line) {
                    kind = k;
                    continue;
                }
            }
            if line.starts_with("Transaction Summary") || line.starts_with("Total") {
                kind = None;
            }
            continue;
        }
        let Some(k) = kind else { continue };
        let mut words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"replacing") {
            // dnf 4: `replacing  nvidia-driver.x86_64 3:580.65.06-1.el9`; dnf 5: `replacing nvidia-driver x86_64 …`.
            let old = match words.len() {
                3 => words.get(2),
                n if n >= 4 => words.get(3),
                _ => None,
            };
            if let (Some(last), Some(old)) = (out.last_mut(), old) {
                last.from = Some(old.to_string());
            }
            continue;
        }
        let joined;
        if let Some(name) = wrapped.take() {
            joined = format!("{name} {}", line.trim());
            words = joined.split_whitespace().collect();
        } else if words.len() == 1 {
            wrapped = Some(words[0].to_string());
            continue;
        }
        // name arch version repository size…
        if words.len() < 4 || !words[2].contains('-') {
            continue;
        }
        out.push(TransactionChange {
            name: words[0].to_string(),
            kind: k,
            from: None,
            to: (k != ChangeKind::Remove).then(|| words[2].to_string()),
            source: Some(words[3].to_string()),
        });
        if k == ChangeKind::Remove {
            if let Some(last) = out.last_mut() {
                last.from = Some(words[2].to_string());
            }
        }
    }
    out
}

/// Compares RPM versions the way `rpmvercmp` does for the common cases: segments of digits compare as numbers, of
/// letters as strings, `~` sorts first. `epoch:version-release` is split and compared part by part.
pub fn compare_evr(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(evr: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match evr.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, evr),
        };
        let (v, r) = rest.rsplit_once('-').unwrap_or((rest, ""));
        (epoch, v, r)
    }
    let (ea, va, ra) = split(a);
    let (eb, vb, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| rpmvercmp(ra, rb))
}

fn rpmvercmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a, b);
    loop {
        a = a.trim_start_matches(|c: char| !c.is_ascii_alphanumeric() && c != '~');
        b = b.trim_start_matches(|c: char| !c.is_ascii_alphanumeric() && c != '~');
        match (a.strip_prefix('~'), b.strip_prefix('~')) {
            (Some(x), Some(y)) => {
                a = x;
                b = y;
                continue;
            }
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            _ => {}
        }
        if a.is_empty() || b.is_empty() {
            // The one with segments left is newer.
            return b.is_empty().cmp(&a.is_empty());
        }
        let numeric = a.starts_with(|c: char| c.is_ascii_digit());
        let take = |s: &str| {
            s.find(|c: char| {
                if numeric {
                    !c.is_ascii_digit()
                } else {
                    !c.is_ascii_alphabetic()
                }
            })
            .unwrap_or(s.len())
        };
        let (ia, ib) = (take(a), take(b));
        if ib == 0 {
            // A numeric segment is newer than an alphabetic one.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (sa, sb) = (&a[..ia], &b[..ib]);
        let ord = if numeric {
            let (ta, tb) = (sa.trim_start_matches('0'), sb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            sa.cmp(sb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[ia..];
        b = &b[ib..];
    }
}

/// `dnf repoquery --qf '%{name} %{evr} %{repoid}\n' NAME…` plus the installed versions → one policy per package:
/// every version a repository offers (newest first), the candidate (the newest), the installed one.
pub fn parse_repoquery(text: &str, installed: &[(String, String)]) -> Vec<PackagePolicy> {
    let mut out: Vec<PackagePolicy> = Vec::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        let (Some(name), Some(evr), Some(repo)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        if w.next().is_some() || !evr.contains('-') {
            continue;
        }
        let p = match out.iter_mut().position(|p| p.name == name) {
            Some(i) => &mut out[i],
            None => {
                out.push(PackagePolicy {
                    name: name.to_string(),
                    installed: installed
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone()),
                    candidate: None,
                    versions: Vec::new(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        match p.versions.iter_mut().find(|v| v.version == evr) {
            Some(v) => v.sources.push(repo.to_string()),
            None => p.versions.push(OfferedVersion {
                version: evr.to_string(),
                sources: vec![repo.to_string()],
            }),
        }
    }
    for p in &mut out {
        p.versions
            .sort_by(|a, b| compare_evr(&b.version, &a.version));
        p.candidate = p.versions.first().map(|v| v.version.clone());
    }
    out
}

/// `rpm -q --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\n' NAME…` → (name, evr); `package X is not installed`
/// lines are skipped.
pub fn parse_rpm_versions(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (name, evr) = (w.next()?, w.next()?);
            // `%{evr}` (what repoquery prints) leaves out a zero epoch; so does this.
            let evr = evr.strip_prefix("0:").unwrap_or(evr);
            (w.next().is_none() && evr.contains('-')).then(|| (name.to_string(), evr.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    // dnf 4 (RHEL 9) with NVIDIA's CUDA repository; a wrapped long name and a replacing row.
    const DNF4: &str = "\
Last metadata expiration check: 0:12:34 ago on Tue 02 Dec 2025 10:00:00 AM UTC.
Dependencies resolved.
================================================================================
 Package                      Arch    Version             Repository      Size
================================================================================
Upgrading:
 kmod-nvidia-open-dkms        noarch  3:580.95.05-1.el9   cuda-rhel9-x86_64   45 M
 nvidia-driver                x86_64  3:580.95.05-1.el9   cuda-rhel9-x86_64  1.2 M
 nvidia-driver-cuda-libs-with-a-very-long-name
                              x86_64  3:580.95.05-1.el9   cuda-rhel9-x86_64   95 M
 nvidia-libXNVCtrl            x86_64  3:580.95.05-1.el9   cuda-rhel9-x86_64   21 k
     replacing  nvidia-libXNVCtrl.x86_64 3:580.65.06-1.el9
Installing dependencies:
 nvidia-kmod-common           noarch  3:580.95.05-1.el9   cuda-rhel9-x86_64   28 M
Removing:
 old-thing                    x86_64  1.0-1.el9           @System             10 k

Transaction Summary
================================================================================
Install  1 Package
Upgrade  4 Packages

Total download size: 169 M
Operation aborted.
";

    #[test]
    fn dnf4_transaction_table() {
        let c = parse_dnf_transaction(DNF4);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "kmod-nvidia-open-dkms",
                "nvidia-driver",
                "nvidia-driver-cuda-libs-with-a-very-long-name",
                "nvidia-libXNVCtrl",
                "nvidia-kmod-common",
                "old-thing"
            ]
        );
        assert_eq!(c[0].kind, ChangeKind::Change);
        assert_eq!(c[0].to.as_deref(), Some("3:580.95.05-1.el9"));
        assert_eq!(c[0].source.as_deref(), Some("cuda-rhel9-x86_64"));
        assert_eq!(c[2].to.as_deref(), Some("3:580.95.05-1.el9"));
        assert_eq!(c[3].from.as_deref(), Some("3:580.65.06-1.el9"));
        assert_eq!(c[4].kind, ChangeKind::Install);
        assert_eq!(c[5].kind, ChangeKind::Remove);
        assert_eq!(c[5].to, None);
        assert_eq!(c[5].from.as_deref(), Some("1.0-1.el9"));
    }

    // dnf 5 (Fedora 41+, RHEL 10).
    const DNF5: &str = "\
Updating and loading repositories:
Repositories loaded.
Package                         Arch   Version                  Repository         Size
Upgrading:
 nvidia-driver                  x86_64 3:580.95.05-1.el10       cuda           1.2 MiB
   replacing nvidia-driver      x86_64 3:580.65.06-1.el10       cuda           1.1 MiB
Installing dependencies:
 nvidia-kmod-common             noarch 3:580.95.05-1.el10       cuda          28.0 MiB

Transaction Summary:
 Installing:         1 package
 Upgrading:          1 package
 Replacing:          1 package
Operation aborted by the user.
";

    #[test]
    fn dnf5_transaction_table() {
        let c = parse_dnf_transaction(DNF5);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].from.as_deref(), Some("3:580.65.06-1.el10"));
        assert_eq!(c[0].to.as_deref(), Some("3:580.95.05-1.el10"));
        assert_eq!(c[1].kind, ChangeKind::Install);
        assert!(parse_dnf_transaction("").is_empty());
        assert!(parse_dnf_transaction("Upgrading:\n x\n").is_empty());
    }

    #[test]
    fn rpm_versions_compare_like_rpmvercmp() {
        assert_eq!(
            compare_evr("3:580.95.05-1.el9", "3:580.65.06-1.el9"),
            Ordering::Greater
        );
        assert_eq!(compare_evr("580.95.05-1", "3:580.65.06-1"), Ordering::Less);
        assert_eq!(
            compare_evr("3:580.105.08-1.el9", "3:580.95.05-1.el9"),
            Ordering::Greater
        );
        assert_eq!(compare_evr("1.0~rc1-1", "1.0-1"), Ordering::Less);
        assert_eq!(compare_evr("1.0a-1", "1.0-1"), Ordering::Greater);
        assert_eq!(compare_evr("1.0-1.el9", "1.0-1.el9"), Ordering::Equal);
    }

    #[test]
    fn repoquery_becomes_policies_newest_first() {
        let text = "nvidia-driver 3:580.65.06-1.el9 cuda\nnvidia-driver 3:580.105.08-1.el9 cuda\n\
                    nvidia-driver 3:580.95.05-1.el9 cuda\nnvidia-driver 3:580.95.05-1.el9 mirror\ngarbage\n";
        let installed = vec![("nvidia-driver".to_string(), "3:580.65.06-1.el9".to_string())];
        let p = parse_repoquery(text, &installed);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].candidate.as_deref(), Some("3:580.105.08-1.el9"));
        assert_eq!(p[0].installed.as_deref(), Some("3:580.65.06-1.el9"));
        assert_eq!(p[0].versions[1].sources, vec!["cuda", "mirror"]);
        assert!(p[0].offers("3:580.65.06-1.el9").unwrap().downloadable());
        assert_eq!(
            parse_rpm_versions("nvidia-driver 3:580.65.06-1.el9\npackage foo is not installed\ndkms 0:3.0.13-1.el9\n"),
            vec![
                ("nvidia-driver".to_string(), "3:580.65.06-1.el9".to_string()),
                ("dkms".to_string(), "3.0.13-1.el9".to_string())
            ]
        );
    }
}
