//! What apt says it would do: `apt-get -s install …` (`Inst`/`Remv` lines) and `apt-cache policy` (the versions
//! the configured repositories offer) → typed values, so a plan is made from apt's own resolution.

use super::excerpt::excerpt;
use serde::{Deserialize, Serialize};

/// What a transaction does to one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Not installed before.
    Install,
    /// Replaced by another version (apt does not say whether newer or older; `PackageChange::kind` may refine it).
    Change,
    /// The same version again.
    Reinstall,
    Remove,
}

impl ChangeKind {
    /// The kind in a report's words.
    pub fn text(self) -> &'static str {
        match self {
            ChangeKind::Install => "install",
            ChangeKind::Change => "upgrade",
            ChangeKind::Reinstall => "reinstall",
            ChangeKind::Remove => "remove",
        }
    }
}

/// One package a transaction touches, as the package manager resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionChange {
    /// The package name; a foreign architecture as apt prints it (`libnvidia-compute-580:i386`).
    pub name: String,
    pub kind: ChangeKind,
    /// The installed version it replaces or removes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
    /// The version installed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub to: Option<String>,
    /// Where it comes from (`nvfix-lab:./`, `Ubuntu:24.04/noble-updates`, a dnf repository id).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
}

/// `apt-get -s install …`'s standard output → the changes, in apt's order. Lines other than `Inst`, `Remv` and
/// `Purg` (notes, `Conf` lines, summaries) are skipped; a malformed action line is an error naming it.
pub fn parse_apt_simulation(text: &str) -> Result<Vec<TransactionChange>, String> {
    let mut changes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let kind = match word {
            "Inst" => None,
            "Remv" | "Purg" => Some(ChangeKind::Remove),
            _ => continue,
        };
        let change = parse_action(kind, rest)
            .ok_or_else(|| format!("apt-get -s line {}: {:?}", i + 1, excerpt(line)))?;
        changes.push(change);
    }
    Ok(changes)
}

/// `name [old] (new source [arch]) []` or `name [old]` (removal).
fn parse_action(remove: Option<ChangeKind>, rest: &str) -> Option<TransactionChange> {
    let rest = rest.trim();
    // The name is one word: whatever whitespace ends it (a tab in garbled output is not part of a name).
    let (name, mut rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if name.is_empty() || name.contains(['[', '(']) {
        return None;
    }
    rest = rest.trim_start();
    let mut from = None;
    if let Some(r) = rest.strip_prefix('[') {
        let (old, after) = r.split_once(']')?;
        from = Some(old.trim().to_string()).filter(|v| !v.is_empty());
        rest = after.trim_start();
    }
    if remove.is_some() {
        return Some(TransactionChange {
            name: name.to_string(),
            kind: ChangeKind::Remove,
            from,
            to: None,
            source: None,
        });
    }
    let inner = rest.strip_prefix('(')?.split_once(')')?.0;
    let mut words = inner.split_whitespace();
    let to = words.next()?.to_string();
    let source = words
        .next()
        .filter(|w| !w.starts_with('['))
        .map(String::from);
    let kind = match &from {
        None => ChangeKind::Install,
        Some(f) if *f == to => ChangeKind::Reinstall,
        Some(_) => ChangeKind::Change,
    };
    Some(TransactionChange {
        name: name.to_string(),
        kind,
        from,
        to: Some(to),
        source,
    })
}

/// One version of a package in `apt-cache policy`'s version table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedVersion {
    pub version: String,
    /// Where it can be fetched from (repository lines); `/var/lib/dpkg/status` alone means only the installed copy.
    pub sources: Vec<String>,
}

impl OfferedVersion {
    /// A repository still serves it (not only dpkg's own record of the installed copy).
    pub fn downloadable(&self) -> bool {
        self.sources
            .iter()
            .any(|s| !s.contains("/var/lib/dpkg/status"))
    }
}

/// One package of `apt-cache policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagePolicy {
    pub name: String,
    pub installed: Option<String>,
    pub candidate: Option<String>,
    pub versions: Vec<OfferedVersion>,
}

impl PackagePolicy {
    pub fn offers(&self, version: &str) -> Option<&OfferedVersion> {
        self.versions.iter().find(|v| v.version == version)
    }
}

fn none_or(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty() && v != "(none)").then(|| v.to_string())
}

/// `apt-cache policy NAME…` → one entry per package apt knows (unknown names print nothing there).
pub fn parse_apt_policy(text: &str) -> Vec<PackagePolicy> {
    let mut out: Vec<PackagePolicy> = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            // `name:` (or `name:arch:`) opens a package; anything else at column 0 (N:, W:) is a note.
            if let Some(name) = line.strip_suffix(':') {
                if !name.is_empty() && !name.contains(char::is_whitespace) {
                    out.push(PackagePolicy {
                        name: name.to_string(),
                        installed: None,
                        candidate: None,
                        versions: Vec::new(),
                    });
                    in_table = false;
                }
            }
            continue;
        }
        let Some(p) = out.last_mut() else { continue };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Installed:") {
            p.installed = none_or(v);
        } else if let Some(v) = t.strip_prefix("Candidate:") {
            p.candidate = none_or(v);
        } else if t.starts_with("Version table:") {
            in_table = true;
        } else if in_table {
            // A version line has fewer than 8 leading spaces (` *** ver prio` or `     ver prio`); a source line 8.
            let indent = line.len() - line.trim_start().len();
            let t = t.strip_prefix("***").map_or(t, str::trim_start);
            if indent < 8 {
                if let Some(version) = t.split_whitespace().next() {
                    p.versions.push(OfferedVersion {
                        version: version.to_string(),
                        sources: Vec::new(),
                    });
                }
            } else if let Some(v) = p.versions.last_mut() {
                // `500 http://… noble-updates/main amd64 Packages` → the part after the priority.
                let source = t.split_once(' ').map_or(t, |(_, s)| s.trim());
                v.sources.push(source.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // apt 2.6 (Debian 12), the lab's repository: the metapackage asked for at v2, held packages allowed.
    const SIM: &str = "\
NOTE: This is only a simulation!
      apt-get needs root privileges for real execution.
Reading package lists...
Building dependency tree...
The following NEW packages will be installed:
  nvidia-firmware-580-580.95.05
The following held packages will be changed:
  libnvidia-compute-580 nvidia-dkms-580 nvidia-driver-580
The following packages will be upgraded:
  libnvidia-compute-580 nvidia-dkms-580 nvidia-driver-580
3 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.
Inst libnvidia-compute-580 [580.65.06-0ubuntu0.24.04.1] (580.95.05-0ubuntu0.24.04.1 nvfix-lab:./ [amd64]) []
Inst nvidia-firmware-580-580.95.05 (580.95.05-0ubuntu0.24.04.1 nvfix-lab:./ [amd64])
Inst nvidia-dkms-580 [580.65.06-0ubuntu0.24.04.1] (580.95.05-0ubuntu0.24.04.1 nvfix-lab:./ [amd64])
Inst libnvidia-compute-580:i386 [580.65.06-0ubuntu0.24.04.1] (580.95.05-0ubuntu0.24.04.1 Ubuntu:24.04/noble-updates [i386])
Remv nvidia-firmware-580-580.65.06 [580.65.06-0ubuntu0.24.04.1]
Conf libnvidia-compute-580 (580.95.05-0ubuntu0.24.04.1 nvfix-lab:./ [amd64])
";

    #[test]
    fn simulation_lines_become_changes() {
        let c = parse_apt_simulation(SIM).unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(c[0].name, "libnvidia-compute-580");
        assert_eq!(c[0].kind, ChangeKind::Change);
        assert_eq!(c[0].from.as_deref(), Some("580.65.06-0ubuntu0.24.04.1"));
        assert_eq!(c[0].to.as_deref(), Some("580.95.05-0ubuntu0.24.04.1"));
        assert_eq!(c[0].source.as_deref(), Some("nvfix-lab:./"));
        assert_eq!(c[1].kind, ChangeKind::Install);
        assert_eq!(c[1].from, None);
        assert_eq!(c[3].name, "libnvidia-compute-580:i386");
        assert_eq!(c[4].kind, ChangeKind::Remove);
        assert_eq!(c[4].from.as_deref(), Some("580.65.06-0ubuntu0.24.04.1"));
        assert_eq!(c[4].to, None);
    }

    #[test]
    fn reinstall_and_garbage() {
        let c = parse_apt_simulation("Inst a [1.0] (1.0 x:y [amd64])\n").unwrap();
        assert_eq!(c[0].kind, ChangeKind::Reinstall);
        let e = parse_apt_simulation("Inst (1.0)\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        assert!(parse_apt_simulation("Inst a [1.0\n").is_err());
        assert!(parse_apt_simulation("").unwrap().is_empty());
        assert!(parse_apt_simulation("\u{0}\u{1}Inst").unwrap().is_empty());
        // Found by the fuzzer: a tab inside what looked like a name.
        let tab =
            parse_apt_simulation("Inst nvidia-firmware-5\u{fffd}\t\u{fffd}80 (1 x [amd64])\n");
        assert!(tab.is_err(), "{tab:?}");
        let ok = parse_apt_simulation("Inst a\t[1]\t(2 x [amd64])\n").unwrap();
        assert_eq!((ok[0].name.as_str(), ok[0].to.as_deref()), ("a", Some("2")));
        assert!(parse_apt_policy("a\tb:\n  Installed: 1\n").is_empty());
    }

    const POLICY: &str = "\
nvidia-driver-580:
  Installed: 580.65.06-0ubuntu0.24.04.1
  Candidate: 580.95.05-0ubuntu0.24.04.1
  Version table:
     580.95.05-0ubuntu0.24.04.1 500
        500 file:/srv/nvfix-repo/current ./ Packages
 *** 580.65.06-0ubuntu0.24.04.1 500
        500 file:/srv/nvfix-repo/current ./ Packages
        100 /var/lib/dpkg/status
nvidia-utils-580:
  Installed: 580.65.06-0ubuntu0.24.04.1
  Candidate: 580.65.06-0ubuntu0.24.04.1
  Version table:
 *** 580.65.06-0ubuntu0.24.04.1 100
        100 /var/lib/dpkg/status
N: Unable to locate package nvidia-nothing
linux-modules-nvidia-580-6.1.0-57-amd64:
  Installed: (none)
  Candidate: 580.95.05-0ubuntu0.24.04.1
  Version table:
     580.95.05-0ubuntu0.24.04.1 500
        500 http://archive.ubuntu.com/ubuntu noble-updates/restricted amd64 Packages
";

    #[test]
    fn policy_lists_versions_and_where_they_come_from() {
        let p = parse_apt_policy(POLICY);
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0].installed.as_deref(),
            Some("580.65.06-0ubuntu0.24.04.1")
        );
        assert_eq!(
            p[0].candidate.as_deref(),
            Some("580.95.05-0ubuntu0.24.04.1")
        );
        assert_eq!(p[0].versions.len(), 2);
        assert!(p[0]
            .offers("580.65.06-0ubuntu0.24.04.1")
            .unwrap()
            .downloadable());
        assert!(!p[1]
            .offers("580.65.06-0ubuntu0.24.04.1")
            .unwrap()
            .downloadable());
        assert_eq!(p[2].installed, None);
        assert_eq!(
            p[2].versions[0].sources,
            vec!["http://archive.ubuntu.com/ubuntu noble-updates/restricted amd64 Packages"]
        );
        assert!(parse_apt_policy("garbage\n  Installed: 1\n").is_empty());
    }
}
