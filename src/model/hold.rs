//! The hold plan (pure): which installed driver packages to pin, the unattended-upgrades drop-in, what `--undo` removes.
//!
//! nvfix records what it held in a state file so `--undo` releases exactly that: a package the admin held before is
//! never unheld. The plan is a list of [`HoldStep`]s the host layer executes in order (or prints for `--dry-run`).

use super::apt_history::{is_driver_package, ChangeKind, PackageChange};
use super::dpkg::{unprotected_driver_packages, Blacklist, InstalledPackage, UnattendedConfig};
use super::excerpt::shorten_quoted;
use serde::{Deserialize, Serialize};

/// The unattended-upgrades drop-in nvfix writes. `51` sorts after the stock `50unattended-upgrades`, so a `#clear`
/// there cannot wipe these entries, and apt merges list entries across files.
pub const DROPIN_PATH: &str = "/etc/apt/apt.conf.d/51nvfix-hold";
/// What nvfix held, so `--undo` releases exactly that.
pub const STATE_PATH: &str = "/var/lib/nvfix/hold.json";
/// The dnf 4 versionlock plugin's list (python3-dnf-plugin-versionlock).
pub const VERSIONLOCK_LIST: &str = "/etc/dnf/plugins/versionlock.list";
/// dnf 5's built-in versionlock file.
pub const VERSIONLOCK_TOML: &str = "/etc/dnf/versionlock.toml";
/// The first line of the drop-in: only a file that starts with it is removed by `--undo`.
pub const DROPIN_MARKER: &str = "// Written by `nvfix hold`";

/// The package manager that holds packages on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageManager {
    /// dpkg/apt: `apt-mark hold` plus the unattended-upgrades blacklist.
    Apt,
    /// RHEL family: `dnf versionlock`.
    Dnf,
}

impl PackageManager {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageManager::Apt => "apt",
            PackageManager::Dnf => "dnf",
        }
    }
}

/// Packages versioned with the driver that `is_driver_package` leaves out because the verdict does not need them, but
/// that must move in lockstep with the driver (fabric manager must equal the driver's version).
const EXTRA_HOLD_FAMILIES: &[&str] = &[
    "nvidia-fabricmanager",
    "nvidia-imex",
    "nvidia-persistenced",
    "libnvidia-nscq",
];

/// Should `nvfix hold` pin this package? The driver's own packages (dpkg `nvidia-*`, `libnvidia-*`,
/// `xserver-xorg-video-nvidia*`, `linux-{modules,objects,signatures}-nvidia-*`, `nvidia-dkms-*`, `cuda-drivers*`,
/// with or without the branch number; RHEL's `nvidia-driver*`, `kmod-nvidia*`) and the few that must match its
/// version. Not the CUDA toolkit, the container stack or nvidia-settings: they are versioned on their own.
pub fn is_hold_candidate(name: &str) -> bool {
    let bare = name.split(':').next().unwrap_or(name).to_ascii_lowercase();
    is_driver_package(&bare)
        || EXTRA_HOLD_FAMILIES.iter().any(|f| {
            bare.strip_prefix(f)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
}

/// A Package-Blacklist entry that matches exactly `package`: unattended-upgrades matches entries with Python's
/// `re.match` (anchored at the start only), so `$` closes the end, and the regex characters a Debian package name can
/// hold (`.` and `+`) are escaped. `nvidia-driver-580$` does not match `nvidia-driver-5800` or `nvidia-driver-580-open`.
pub fn blacklist_pattern(package: &str) -> String {
    let mut pattern = String::with_capacity(package.len() + 4);
    for c in package.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('$');
    pattern
}

/// The drop-in's text: one exact-name blacklist entry per driver package, sorted.
pub fn dropin_text(packages: &[String]) -> String {
    let mut names: Vec<&String> = packages.iter().collect();
    names.sort();
    names.dedup();
    let mut text = format!(
        "{DROPIN_MARKER}: keep unattended-upgrades away from the NVIDIA driver.\n\
         // A driver upgrade while the old kernel module is loaded breaks NVML (`Driver/library version mismatch`).\n\
         // Remove with `sudo nvfix hold --undo`; upgrade the driver on purpose, then run `sudo nvfix hold` again.\n\
         Unattended-Upgrade::Package-Blacklist {{\n"
    );
    for name in names {
        text.push_str(&format!("    \"{}\";\n", blacklist_pattern(name)));
    }
    text.push_str("};\n");
    text
}

/// Did nvfix write this drop-in? (`--undo` removes only its own file, never one an admin put at the same path.)
pub fn is_nvfix_dropin(text: &str) -> bool {
    text.starts_with(DROPIN_MARKER)
}

/// What nvfix has held on this host, as recorded in [`STATE_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldState {
    pub manager: PackageManager,
    /// Packages nvfix held (never the ones held before it ran), sorted.
    pub held: Vec<String>,
    /// The drop-in nvfix wrote, if any.
    #[serde(default)]
    pub dropin: Option<String>,
}

/// Reads the state file's JSON; a garbled file is an error the caller reports (nvfix never guesses what to unhold).
pub fn parse_state(text: &str) -> Result<HoldState, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "not an nvfix hold state file: {}",
            shorten_quoted(&e.to_string())
        )
    })
}

/// The state file's text (pretty JSON, one trailing newline).
pub fn state_text(state: &HoldState) -> String {
    let mut text = serde_json::to_string_pretty(state).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// One effect of a hold plan, in the order it must happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "step")]
pub enum HoldStep {
    /// Run a command (program and arguments).
    Run { argv: Vec<String> },
    /// Write a file (host path) with mode 0644, atomically.
    Write { path: String, text: String },
    /// Remove a file (host path).
    Remove { path: String },
}

impl HoldStep {
    /// One line for the user: `apt-mark hold a b`, `write /etc/…`, `remove /var/lib/…`.
    pub fn describe(&self) -> String {
        match self {
            HoldStep::Run { argv } => argv.join(" "),
            HoldStep::Write { path, .. } => format!("write {path}"),
            HoldStep::Remove { path } => format!("remove {path}"),
        }
    }
}

/// What `nvfix hold` will do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldPlan {
    pub manager: PackageManager,
    /// Every installed driver package (what the drop-in lists).
    pub packages: Vec<String>,
    /// Not held yet: nvfix holds these and records them.
    pub to_hold: Vec<String>,
    /// Held before nvfix (by the admin): left alone and never unheld by `--undo`.
    pub held_by_admin: Vec<String>,
    /// Held by an earlier `nvfix hold`.
    pub held_by_nvfix: Vec<String>,
    pub steps: Vec<HoldStep>,
}

fn sorted_unique(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

/// The installed driver packages among `installed`, sorted and unique.
pub fn hold_candidates(installed: &[InstalledPackage]) -> Vec<&InstalledPackage> {
    let mut out: Vec<&InstalledPackage> = installed
        .iter()
        .filter(|p| is_hold_candidate(&p.name))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// The command that holds (`hold == true`) or releases `packages`.
pub fn hold_command(manager: PackageManager, hold: bool, packages: &[String]) -> Vec<String> {
    let mut argv: Vec<String> = match (manager, hold) {
        (PackageManager::Apt, true) => vec!["apt-mark".into(), "hold".into()],
        (PackageManager::Apt, false) => vec!["apt-mark".into(), "unhold".into()],
        (PackageManager::Dnf, true) => vec!["dnf".into(), "versionlock".into(), "add".into()],
        (PackageManager::Dnf, false) => vec!["dnf".into(), "versionlock".into(), "delete".into()],
    };
    argv.extend(packages.iter().cloned());
    argv
}

/// Plans `nvfix hold`: hold what is not held yet, (re)write the drop-in when its text changes (apt), and record
/// everything nvfix holds. The state is written first: if the hold command then fails, `--undo` still only releases
/// packages that are actually held, so the record can never release an admin's hold.
pub fn plan_hold(
    manager: PackageManager,
    installed: &[InstalledPackage],
    previous: Option<&HoldState>,
    current_dropin: Option<&str>,
) -> HoldPlan {
    let candidates = hold_candidates(installed);
    let ours = |name: &str| previous.is_some_and(|s| s.held.iter().any(|h| h == name));
    let packages: Vec<String> = candidates.iter().map(|p| p.name.clone()).collect();
    let to_hold: Vec<String> = candidates
        .iter()
        .filter(|p| !p.held)
        .map(|p| p.name.clone())
        .collect();
    let held_by_admin: Vec<String> = candidates
        .iter()
        .filter(|p| p.held && !ours(&p.name))
        .map(|p| p.name.clone())
        .collect();
    let held_by_nvfix: Vec<String> = candidates
        .iter()
        .filter(|p| p.held && ours(&p.name))
        .map(|p| p.name.clone())
        .collect();
    let mut steps = Vec::new();
    if packages.is_empty() {
        return HoldPlan {
            manager,
            packages,
            to_hold,
            held_by_admin,
            held_by_nvfix,
            steps,
        };
    }
    let dropin = (manager == PackageManager::Apt).then(|| dropin_text(&packages));
    let state = HoldState {
        manager,
        held: sorted_unique(held_by_nvfix.iter().chain(&to_hold).cloned().collect()),
        dropin: dropin
            .as_ref()
            .map(|_| DROPIN_PATH.to_string())
            .or_else(|| previous.and_then(|s| s.dropin.clone())),
    };
    if previous != Some(&state) {
        steps.push(HoldStep::Write {
            path: STATE_PATH.into(),
            text: state_text(&state),
        });
    }
    if !to_hold.is_empty() {
        steps.push(HoldStep::Run {
            argv: hold_command(manager, true, &to_hold),
        });
    }
    if let Some(text) = dropin {
        if current_dropin != Some(text.as_str()) {
            steps.push(HoldStep::Write {
                path: DROPIN_PATH.into(),
                text,
            });
        }
    }
    HoldPlan {
        manager,
        packages,
        to_hold,
        held_by_admin,
        held_by_nvfix,
        steps,
    }
}

/// What `nvfix hold --undo` will do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UndoPlan {
    pub manager: PackageManager,
    /// Held by nvfix and still held: released.
    pub to_release: Vec<String>,
    /// Held, but not by nvfix: left alone.
    pub kept: Vec<String>,
    pub steps: Vec<HoldStep>,
}

/// Plans `nvfix hold --undo`: release what the state file says nvfix held (and is still held), remove nvfix's own
/// drop-in, then the state file (last, so a failed undo can be run again).
pub fn plan_undo(
    manager: PackageManager,
    installed: &[InstalledPackage],
    state: Option<&HoldState>,
    current_dropin: Option<&str>,
) -> UndoPlan {
    let candidates = hold_candidates(installed);
    let recorded = |name: &str| state.is_some_and(|s| s.held.iter().any(|h| h == name));
    // Every installed package, not only driver ones: the record is the authority on what nvfix held.
    let to_release: Vec<String> = sorted_unique(
        installed
            .iter()
            .filter(|p| p.held && recorded(&p.name))
            .map(|p| p.name.clone())
            .collect(),
    );
    let kept: Vec<String> = candidates
        .iter()
        .filter(|p| p.held && !recorded(&p.name))
        .map(|p| p.name.clone())
        .collect();
    let mut steps = Vec::new();
    if !to_release.is_empty() {
        steps.push(HoldStep::Run {
            argv: hold_command(manager, false, &to_release),
        });
    }
    if current_dropin.is_some_and(is_nvfix_dropin) {
        steps.push(HoldStep::Remove {
            path: DROPIN_PATH.into(),
        });
    }
    if state.is_some() {
        steps.push(HoldStep::Remove {
            path: STATE_PATH.into(),
        });
    }
    UndoPlan {
        manager,
        to_release,
        kept,
        steps,
    }
}

/// One driver package's hold state, for `--status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageHold {
    pub name: String,
    pub held: bool,
    /// Held by `nvfix hold` (recorded in the state file).
    pub by_nvfix: bool,
    /// Matched by a Package-Blacklist entry (apt only).
    pub blacklisted: bool,
}

/// What `nvfix hold --status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldStatus {
    pub manager: PackageManager,
    pub packages: Vec<PackageHold>,
    /// unattended-upgrades runs (apt; None when unknown or not apt).
    pub unattended_enabled: Option<bool>,
    /// Driver packages neither held nor blacklisted.
    pub exposed: Vec<String>,
    /// True when an automatic upgrade could replace the driver: unattended-upgrades is on and a package is exposed.
    pub at_risk: bool,
    /// nvfix's drop-in is in place.
    pub dropin: bool,
}

/// Builds the status from the installed packages, the unattended-upgrades config and nvfix's record.
pub fn hold_status(
    manager: PackageManager,
    installed: &[InstalledPackage],
    unattended: Option<&UnattendedConfig>,
    state: Option<&HoldState>,
    current_dropin: Option<&str>,
) -> HoldStatus {
    let blacklist = Blacklist::of(unattended);
    let candidates = hold_candidates(installed);
    let packages: Vec<PackageHold> = candidates
        .iter()
        .map(|p| PackageHold {
            name: p.name.clone(),
            held: p.held,
            by_nvfix: p.held && state.is_some_and(|s| s.held.iter().any(|h| h == &p.name)),
            blacklisted: blacklist.protects(&p.name),
        })
        .collect();
    let owned: Vec<InstalledPackage> = candidates.into_iter().cloned().collect();
    let mut exposed = unprotected_driver_packages(unattended, &owned);
    // The extra families are not driver packages for the verdict, but an exposed fabric manager still breaks.
    for p in &packages {
        if !p.held && !p.blacklisted && !exposed.contains(&p.name) {
            exposed.push(p.name.clone());
        }
    }
    exposed.sort();
    let unattended_enabled = match manager {
        PackageManager::Apt => unattended.and_then(|c| c.enabled),
        PackageManager::Dnf => None,
    };
    let at_risk = match manager {
        PackageManager::Apt => unattended_enabled == Some(true) && !exposed.is_empty(),
        // No unattended-upgrades analogue is checked on dnf hosts: any unlocked package is at risk from `dnf upgrade`.
        PackageManager::Dnf => !exposed.is_empty(),
    };
    HoldStatus {
        manager,
        packages,
        unattended_enabled,
        exposed,
        at_risk,
        dropin: current_dropin.is_some_and(is_nvfix_dropin),
    }
}

/// `KEY=value` from `/etc/os-release` (quotes removed), or None.
fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches(['"', '\'']).to_string())
    })
}

/// Is this `/etc/os-release` a RHEL-family system (ID or ID_LIKE names rhel, fedora or centos)?
pub fn is_rhel_family(os_release: &str) -> bool {
    ["ID", "ID_LIKE"].iter().any(|key| {
        os_release_value(os_release, key).is_some_and(|v| {
            v.split_whitespace()
                .any(|w| matches!(w, "rhel" | "fedora" | "centos"))
        })
    })
}

/// Which package manager to use: RHEL family by os-release first, then a dpkg status file, then RPM evidence
/// (dnf.rpm.log, the rpm database). None when the host has neither.
pub fn detect_manager(
    os_release: Option<&str>,
    has_dpkg_status: bool,
    has_rpm_evidence: bool,
) -> Option<PackageManager> {
    if os_release.is_some_and(is_rhel_family) {
        Some(PackageManager::Dnf)
    } else if has_dpkg_status {
        Some(PackageManager::Apt)
    } else if has_rpm_evidence {
        Some(PackageManager::Dnf)
    } else {
        None
    }
}

/// Package names locked by dnf versionlock: dnf 4's list (`nvidia-driver-3:580.95.05-1.el9.*`, `#` comments, `!`
/// excludes skipped) or dnf 5's TOML (`name = "nvidia-driver"`). Lines that are neither are skipped.
pub fn parse_versionlock(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with('!')
            || line.starts_with('[')
        {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            // dnf 5 TOML: only `name = "…"` names a package (`key`, `value`, `comparator` are conditions).
            if key.trim() == "name" {
                let name = value.trim().trim_matches('"');
                if !name.is_empty() {
                    names.push(name.to_string());
                }
            }
            continue;
        }
        // name-[epoch:]version-release.arch: the name is what is left of the last two dashes.
        let parts: Vec<&str> = line.rsplitn(3, '-').collect();
        let name = if parts.len() == 3 { parts[2] } else { line };
        if !name.is_empty() && !name.contains(char::is_whitespace) {
            names.push(name.to_string());
        }
    }
    sorted_unique(names)
}

/// Installed package names from `rpm -qa --queryformat '%{NAME}\n'` output.
pub fn parse_rpm_names(text: &str) -> Vec<String> {
    sorted_unique(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.contains(char::is_whitespace))
            .map(str::to_string)
            .collect(),
    )
}

/// Installed package names replayed from dnf.rpm.log changes (oldest first): used when the rpm database cannot be
/// queried (a `--root` tree). Only as complete as the logs kept.
pub fn installed_from_changes(changes: &[PackageChange]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in changes {
        match c.kind {
            ChangeKind::Install
            | ChangeKind::Upgrade
            | ChangeKind::Downgrade
            | ChangeKind::Reinstall => {
                if !names.contains(&c.package) {
                    names.push(c.package.clone());
                }
            }
            ChangeKind::Remove | ChangeKind::Purge => names.retain(|n| n != &c.package),
        }
    }
    sorted_unique(names)
}

/// RPM packages as [`InstalledPackage`]s, `held` when versionlock names them.
pub fn rpm_packages(names: &[String], locked: &[String]) -> Vec<InstalledPackage> {
    names
        .iter()
        .map(|n| InstalledPackage {
            name: n.clone(),
            version: String::new(),
            arch: None,
            held: locked.contains(n),
            state: "installed".into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::dpkg::{blacklist_matches, parse_apt_conf, parse_dpkg_status};

    fn pkg(name: &str, held: bool) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: "580.95.05-0ubuntu0.24.04.1".into(),
            arch: Some("amd64".into()),
            held,
            state: "installed".into(),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn candidates_cover_the_driver_families_with_and_without_branch() {
        for name in [
            "nvidia-driver-580",
            "nvidia-driver-580-open",
            "nvidia-driver",
            "libnvidia-compute-580",
            "libnvidia-compute",
            "libnvidia-gl-580:i386",
            "xserver-xorg-video-nvidia-580",
            "linux-modules-nvidia-580-6.8.0-85-generic",
            "linux-objects-nvidia-580-open-6.8.0-85-generic",
            "linux-signatures-nvidia-6.8.0-85-generic",
            "nvidia-dkms-580",
            "nvidia-dkms-580-open",
            "cuda-drivers",
            "cuda-drivers-580",
            "nvidia-fabricmanager-580",
            "libnvidia-nscq-580",
            "kmod-nvidia-latest-dkms",
            "nvidia-driver-cuda-libs",
        ] {
            assert!(is_hold_candidate(name), "{name} should be held");
        }
        for name in [
            "nvidia-container-toolkit",
            "nvidia-settings",
            "cuda-toolkit-12-8",
            "nvidia-prime",
            "htop",
            "nvidia",
            "libnvidia-egl-wayland1",
        ] {
            assert!(!is_hold_candidate(name), "{name} should not be held");
        }
    }

    #[test]
    fn blacklist_patterns_match_exactly_one_name() {
        let p = blacklist_pattern("nvidia-driver-580");
        assert_eq!(p, "nvidia-driver-580$");
        assert!(blacklist_matches(&p, "nvidia-driver-580"));
        assert!(!blacklist_matches(&p, "nvidia-driver-5800"));
        assert!(!blacklist_matches(&p, "nvidia-driver-580-open"));
        assert!(!blacklist_matches(&p, "libnvidia-driver-580"));
        let lib = blacklist_pattern("libnvidia-compute-580");
        assert!(blacklist_matches(&lib, "libnvidia-compute-580"));
        assert!(!blacklist_matches(&lib, "libnvidia-compute-5800"));
        // A name with regex characters: `.` must not match any character, `+` must be literal.
        let fw = blacklist_pattern("nvidia-firmware-580-580.65.06");
        assert_eq!(fw, r"nvidia-firmware-580-580\.65\.06$");
        assert!(blacklist_matches(&fw, "nvidia-firmware-580-580.65.06"));
        assert!(!blacklist_matches(&fw, "nvidia-firmware-580-580x65x06"));
        let plus = blacklist_pattern("libnvidia+x");
        assert!(blacklist_matches(&plus, "libnvidia+x"));
        assert!(!blacklist_matches(&plus, "libnvidiaax"));
    }

    #[test]
    fn dropin_parses_back_and_protects_every_package() {
        let pkgs = names(&[
            "nvidia-driver-580",
            "libnvidia-compute-580",
            "nvidia-firmware-580-580.95.05",
        ]);
        let text = dropin_text(&pkgs);
        assert!(is_nvfix_dropin(&text));
        let mut config = UnattendedConfig::default();
        parse_apt_conf(&text, &mut config);
        assert_eq!(
            config.blacklist,
            vec![
                "libnvidia-compute-580$",
                "nvidia-driver-580$",
                r"nvidia-firmware-580-580\.95\.05$"
            ]
        );
        let installed: Vec<_> = pkgs.iter().map(|n| pkg(n, false)).collect();
        config.enabled = Some(true);
        assert!(unprotected_driver_packages(Some(&config), &installed).is_empty());
        // A new branch is not covered: the admin chose the 580 driver, not every future one.
        assert_eq!(
            unprotected_driver_packages(Some(&config), &[pkg("nvidia-driver-5800", false)]),
            vec!["nvidia-driver-5800"]
        );
        assert!(!is_nvfix_dropin(
            "Unattended-Upgrade::Package-Blacklist { \"x\"; };"
        ));
    }

    #[test]
    fn plan_holds_what_is_not_held_and_records_it() {
        let installed = vec![
            pkg("nvidia-driver-580", true),
            pkg("libnvidia-compute-580", false),
            pkg("nvidia-utils-580", false),
            pkg("htop", false),
        ];
        let plan = plan_hold(PackageManager::Apt, &installed, None, None);
        assert_eq!(
            plan.packages,
            names(&[
                "libnvidia-compute-580",
                "nvidia-driver-580",
                "nvidia-utils-580"
            ])
        );
        assert_eq!(
            plan.to_hold,
            names(&["libnvidia-compute-580", "nvidia-utils-580"])
        );
        assert_eq!(plan.held_by_admin, names(&["nvidia-driver-580"]));
        let described: Vec<String> = plan.steps.iter().map(HoldStep::describe).collect();
        assert_eq!(
            described,
            vec![
                "write /var/lib/nvfix/hold.json",
                "apt-mark hold libnvidia-compute-580 nvidia-utils-580",
                "write /etc/apt/apt.conf.d/51nvfix-hold",
            ]
        );
        let HoldStep::Write { text, .. } = &plan.steps[0] else {
            panic!("state first")
        };
        let state = parse_state(text).unwrap();
        assert_eq!(state.held, plan.to_hold, "the admin's hold is not recorded");
        assert_eq!(state.dropin.as_deref(), Some(DROPIN_PATH));
    }

    #[test]
    fn plan_again_after_hold_does_nothing_and_keeps_nvfix_ownership() {
        let installed = vec![
            pkg("nvidia-driver-580", true),
            pkg("libnvidia-compute-580", true),
        ];
        let state = HoldState {
            manager: PackageManager::Apt,
            held: names(&["libnvidia-compute-580"]),
            dropin: Some(DROPIN_PATH.into()),
        };
        let dropin = dropin_text(&names(&["libnvidia-compute-580", "nvidia-driver-580"]));
        let plan = plan_hold(PackageManager::Apt, &installed, Some(&state), Some(&dropin));
        assert!(plan.steps.is_empty(), "{:?}", plan.steps);
        assert_eq!(plan.held_by_nvfix, names(&["libnvidia-compute-580"]));
        assert_eq!(plan.held_by_admin, names(&["nvidia-driver-580"]));
    }

    #[test]
    fn plan_with_no_driver_does_nothing() {
        let plan = plan_hold(PackageManager::Apt, &[pkg("htop", false)], None, None);
        assert!(plan.packages.is_empty());
        assert!(plan.steps.is_empty());
    }

    #[test]
    fn dnf_plan_uses_versionlock_and_no_dropin() {
        let installed = rpm_packages(
            &names(&["nvidia-driver", "libnvidia-ml", "bash"]),
            &names(&["nvidia-driver"]),
        );
        let plan = plan_hold(PackageManager::Dnf, &installed, None, None);
        let described: Vec<String> = plan.steps.iter().map(HoldStep::describe).collect();
        assert_eq!(
            described,
            vec![
                "write /var/lib/nvfix/hold.json",
                "dnf versionlock add libnvidia-ml"
            ]
        );
    }

    #[test]
    fn undo_releases_only_what_nvfix_held() {
        let installed = vec![
            pkg("nvidia-driver-580", true),     // the admin's
            pkg("libnvidia-compute-580", true), // nvfix's
            pkg("nvidia-utils-580", false),     // nvfix's, already released by hand
        ];
        let state = HoldState {
            manager: PackageManager::Apt,
            held: names(&["libnvidia-compute-580", "nvidia-utils-580"]),
            dropin: Some(DROPIN_PATH.into()),
        };
        let dropin = dropin_text(&names(&["libnvidia-compute-580"]));
        let plan = plan_undo(PackageManager::Apt, &installed, Some(&state), Some(&dropin));
        assert_eq!(plan.to_release, names(&["libnvidia-compute-580"]));
        assert_eq!(plan.kept, names(&["nvidia-driver-580"]));
        let described: Vec<String> = plan.steps.iter().map(HoldStep::describe).collect();
        assert_eq!(
            described,
            vec![
                "apt-mark unhold libnvidia-compute-580",
                "remove /etc/apt/apt.conf.d/51nvfix-hold",
                "remove /var/lib/nvfix/hold.json",
            ]
        );
        // Without a record nothing is released, and an admin's file at nvfix's path stays.
        let plan = plan_undo(PackageManager::Apt, &installed, None, Some("// mine\n"));
        assert!(plan.steps.is_empty());
        assert_eq!(
            plan.kept,
            names(&["libnvidia-compute-580", "nvidia-driver-580"])
        );
    }

    #[test]
    fn status_on_the_incident_and_after_hold() {
        let installed = parse_dpkg_status(include_str!(
            "../../tests/fixtures/incident/var/lib/dpkg/status"
        ));
        let mut config = UnattendedConfig::default();
        parse_apt_conf(
            include_str!("../../tests/fixtures/incident/etc/apt/apt.conf.d/20auto-upgrades"),
            &mut config,
        );
        let status = hold_status(PackageManager::Apt, &installed, Some(&config), None, None);
        assert!(status.at_risk);
        assert_eq!(status.exposed.len(), 7);
        assert!(!status.dropin);
        let plan = plan_hold(PackageManager::Apt, &installed, None, None);
        let text = dropin_text(&plan.packages);
        parse_apt_conf(&text, &mut config);
        let status = hold_status(
            PackageManager::Apt,
            &installed,
            Some(&config),
            None,
            Some(&text),
        );
        assert!(!status.at_risk, "{:?}", status.exposed);
        assert!(status.packages.iter().all(|p| p.blacklisted && !p.held));
        assert!(status.dropin);
        config.enabled = Some(false);
        let status = hold_status(PackageManager::Apt, &installed, Some(&config), None, None);
        assert!(!status.at_risk, "unattended-upgrades off");
    }

    #[test]
    fn manager_detection() {
        let rocky = "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n";
        assert!(is_rhel_family(rocky));
        assert!(is_rhel_family("ID=fedora\n"));
        assert!(!is_rhel_family("ID=ubuntu\nID_LIKE=debian\n"));
        assert!(!is_rhel_family("ID=notrhel\n"));
        assert!(!is_rhel_family("\u{0}garbage"));
        assert_eq!(
            detect_manager(Some(rocky), true, false),
            Some(PackageManager::Dnf)
        );
        assert_eq!(
            detect_manager(Some("ID=debian"), true, false),
            Some(PackageManager::Apt)
        );
        assert_eq!(detect_manager(None, false, true), Some(PackageManager::Dnf));
        assert_eq!(detect_manager(None, false, false), None);
    }

    #[test]
    fn versionlock_files_and_rpm_output_are_read() {
        let list = "# Added locks on Sat Feb 14 09:31:00 2026\nnvidia-driver-3:580.95.05-1.el9.*\n\
                    libnvidia-ml-3:580.95.05-1.el9.x86_64\n!kernel-0:5.14.0-1.el9.*\n\nplain\n";
        assert_eq!(
            parse_versionlock(list),
            names(&["libnvidia-ml", "nvidia-driver", "plain"])
        );
        let toml =
            "version = \"1.0\"\n[[packages]]\nname = \"nvidia-driver\"\n[[packages.conditions]]\n\
                    key = \"evr\"\ncomparator = \"=\"\nvalue = \"3:580.95.05-1.el9\"\n";
        assert_eq!(parse_versionlock(toml), names(&["nvidia-driver"]));
        assert!(parse_versionlock("\u{0}\u{1}").len() <= 1);
        assert_eq!(
            parse_rpm_names("bash\nnvidia-driver\n\n  \nnvidia-driver\n"),
            names(&["bash", "nvidia-driver"])
        );
    }

    #[test]
    fn rpm_log_replay_tracks_installs_and_erases() {
        let log = "2026-02-14T09:30:12+0000 SUBDEBUG Installed: nvidia-driver-3:580.95.05-1.el9.x86_64\n\
                   2026-02-14T09:30:12+0000 SUBDEBUG Installed: kmod-nvidia-3:580.95.05-1.el9.x86_64\n\
                   2026-02-15T09:30:12+0000 SUBDEBUG Erase: kmod-nvidia-3:580.95.05-1.el9.x86_64\n";
        let changes = crate::model::apt_history::parse_dnf_rpm_log(log, "/var/log/dnf.rpm.log");
        assert_eq!(installed_from_changes(&changes), names(&["nvidia-driver"]));
    }

    #[test]
    fn garbled_state_is_an_error_not_a_guess() {
        assert!(parse_state("").is_err());
        assert!(parse_state("{\"manager\":\"apt\"}").is_err());
        assert!(parse_state("\u{0}\u{1}").is_err());
        let state = HoldState {
            manager: PackageManager::Dnf,
            held: names(&["a"]),
            dropin: None,
        };
        assert_eq!(parse_state(&state_text(&state)), Ok(state));
    }

    #[test]
    fn every_installed_architecture_is_held_and_blacklisted() {
        let status = "\
Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.22.6\n\n\
Package: libnvidia-compute-580\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 580.95.05-1\n\n\
Package: libnvidia-compute-580\nStatus: install ok installed\nArchitecture: i386\nMulti-Arch: same\nVersion: 580.95.05-1\n\n\
Package: nvidia-driver-580\nStatus: install ok installed\nArchitecture: amd64\nVersion: 580.95.05-1\n";
        let installed = crate::model::dpkg::parse_dpkg_status(status);
        let plan = plan_hold(PackageManager::Apt, &installed, None, None);
        assert_eq!(
            plan.to_hold,
            names(&[
                "libnvidia-compute-580",
                "libnvidia-compute-580:i386",
                "nvidia-driver-580"
            ])
        );
        let argv = plan
            .steps
            .iter()
            .find_map(|s| match s {
                HoldStep::Run { argv } => Some(argv.join(" ")),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            argv,
            "apt-mark hold libnvidia-compute-580 libnvidia-compute-580:i386 nvidia-driver-580"
        );
        let dropin = dropin_text(&plan.packages);
        let config = {
            let mut c = UnattendedConfig::default();
            crate::model::dpkg::parse_apt_conf(&dropin, &mut c);
            c.enabled = Some(true);
            c
        };
        // The drop-in protects both architectures, as unattended-upgrades names them.
        let status_after = hold_status(
            PackageManager::Apt,
            &installed,
            Some(&config),
            None,
            Some(&dropin),
        );
        assert!(
            status_after.exposed.is_empty(),
            "{:?}",
            status_after.exposed
        );
        assert!(status_after
            .packages
            .iter()
            .any(|p| p.name == "libnvidia-compute-580:i386" && p.blacklisted));
        // Before: an exact entry for the native name only leaves the i386 library exposed.
        let native_only = UnattendedConfig {
            enabled: Some(true),
            blacklist: vec![
                blacklist_pattern("libnvidia-compute-580"),
                blacklist_pattern("nvidia-driver-580"),
            ],
        };
        let before = hold_status(
            PackageManager::Apt,
            &installed,
            Some(&native_only),
            None,
            None,
        );
        assert_eq!(before.exposed, names(&["libnvidia-compute-580:i386"]));
        assert!(before.at_risk);
    }
}
