//! `nvfix upgrade` decided on facts: which version, which packages at which exact versions, which kernels get
//! modules and how, what refuses the change before anything is touched, and where an interrupted upgrade resumes.

use super::apt_simulation::{ChangeKind, PackagePolicy, TransactionChange};
use super::dpkg::InstalledPackage;
use super::hold::{self, HoldState, PackageManager};
use super::plan::Refusal;
use super::playbook::Playbook;
use super::version::DriverVersion;
use crate::exit;
use serde::{Deserialize, Serialize};

/// Where the upgrade journal lives: under /var/lib, because a handed-off reboot may be the upgrade's last step.
pub const JOURNAL_PATH: &str = "/var/lib/nvfix/upgrade.json";
/// The journal's format number; a newer one is refused rather than misread.
pub const JOURNAL_FORMAT: u32 = 1;
/// Where the trial build and the downloaded packages go (removed when the upgrade ends).
pub const TRIAL_DIR: &str = "/var/lib/nvfix/upgrade-trial";

/// Which version `--to`/`--latest` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChoice {
    /// The newest version of the installed branch the repositories offer.
    Latest,
    /// `580.95.05` (the upstream version) or the exact package version `580.95.05-0ubuntu0.24.04.1`.
    Exact(String),
}

/// A package at an exact version, as `apt-get install NAME=VERSION` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedPackage {
    pub name: String,
    pub version: String,
}

impl PinnedPackage {
    pub fn apt_arg(&self) -> String {
        format!("{}={}", self.name, self.version)
    }
    /// `name-epoch:version-release`, dnf's way to name one version.
    pub fn dnf_arg(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }
    /// The argument naming this package at this version for `manager`.
    pub fn arg(&self, manager: PackageManager) -> String {
        match manager {
            PackageManager::Apt => self.apt_arg(),
            PackageManager::Dnf => self.dnf_arg(),
        }
    }
}

/// How a kernel gets the new modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ModuleSource {
    /// DKMS builds them from the DKMS package's sources (`dkms_package`); needs the kernel's headers.
    Dkms { dkms_package: String },
    /// A package of prebuilt modules for that kernel (`linux-modules-nvidia-580-<kernel>`).
    Prebuilt { package: String },
}

/// One kernel the upgrade must leave with a module of the new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelModules {
    pub kernel: String,
    /// `running`, `next-boot`, or `running, next-boot`.
    pub role: String,
    pub source: ModuleSource,
}

/// The plan `--dry-run` prints and the journal keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradePlan {
    pub manager: PackageManager,
    pub branch: u32,
    /// The driver version loaded now (and installed) and the one the upgrade installs.
    pub from_version: String,
    pub to_version: String,
    /// What nvfix asks the package manager for.
    pub install: Vec<PinnedPackage>,
    /// What the package manager resolved that to (its simulation).
    pub changes: Vec<TransactionChange>,
    pub kernels: Vec<KernelModules>,
    /// Held by nvfix: released right before the install, held again at the new version afterwards.
    pub release_holds: Vec<String>,
    /// The way back: the same packages at the versions installed now.
    pub rollback: Vec<PinnedPackage>,
    /// Rollback versions no configured repository serves any more (the way back then needs the .deb files).
    pub rollback_missing: Vec<String>,
    /// What the reload will stop (systemd units, then processes).
    pub reload_stops: Vec<String>,
    /// Every driver package installed once the transaction is done: held again afterwards.
    #[serde(default)]
    pub hold_after: Vec<String>,
    pub notes: Vec<String>,
}

impl UpgradePlan {
    /// `apt-get install NAME=OLD…` that goes back to the versions installed before.
    pub fn rollback_command(&self) -> String {
        let args: Vec<String> = self.rollback.iter().map(|p| p.arg(self.manager)).collect();
        match self.manager {
            PackageManager::Apt => format!(
                "sudo apt-get install --allow-downgrades --allow-change-held-packages {}",
                args.join(" ")
            ),
            PackageManager::Dnf => format!("sudo dnf downgrade {}", args.join(" ")),
        }
    }
    pub fn install_args(&self) -> Vec<String> {
        self.install.iter().map(|p| p.arg(self.manager)).collect()
    }
    /// Kernels whose modules DKMS builds.
    pub fn dkms_kernels(&self) -> Vec<&str> {
        self.kernels
            .iter()
            .filter(|k| matches!(k.source, ModuleSource::Dkms { .. }))
            .map(|k| k.kernel.as_str())
            .collect()
    }
}

/// What the host looks like when the upgrade is planned.
#[derive(Debug, Clone)]
pub struct UpgradeInputs<'a> {
    pub manager: PackageManager,
    /// Every installed package (driver packages are picked from it).
    pub installed: &'a [InstalledPackage],
    pub hold_state: Option<&'a HoldState>,
    pub policies: &'a [PackagePolicy],
    /// The loaded driver's version and the installed library's (they must agree before an upgrade).
    pub loaded: Option<&'a DriverVersion>,
    pub library: Option<&'a DriverVersion>,
    pub running_kernel: &'a str,
    pub next_kernel: Option<&'a str>,
    /// Kernels with headers installed (`/lib/modules/<k>/build` exists): DKMS can build for them.
    pub kernels_with_headers: &'a [String],
    /// Why the package manager is busy now (locks held, apt or dpkg running), if it is.
    pub package_manager_busy: Vec<String>,
}

fn refuse(code: i32, reason: impl Into<String>, hint: Option<&str>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
        hint: hint.map(String::from),
    }
}

fn upstream(version: &str) -> Option<DriverVersion> {
    // An epoch (`3:580.95.05-1.el9`) comes first on RPM hosts.
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    DriverVersion::parse_prefix(v)
}

fn same_version(a: &DriverVersion, b: &DriverVersion) -> bool {
    a.parts() == b.parts()
}

/// The driver packages that move with the upgrade: installed driver packages, except those whose name carries the
/// old version (`nvidia-firmware-580-580.65.06`: the new version is a new package apt pulls in).
fn moving_packages<'a>(inputs: &UpgradeInputs<'a>, from: &str) -> Vec<&'a InstalledPackage> {
    hold::hold_candidates(inputs.installed)
        .into_iter()
        .filter(|p| !p.name.contains(from))
        .filter(|p| upstream(&p.version).is_some())
        .collect()
}

/// The exact package version of `target` (upstream) a policy offers, newest first as apt lists them.
fn offered_at<'p>(policy: &'p PackagePolicy, target: &DriverVersion) -> Option<&'p str> {
    let matches = |v: &str| upstream(v).is_some_and(|u| same_version(&u, target));
    if let Some(c) = policy.candidate.as_deref().filter(|c| matches(c)) {
        return Some(c);
    }
    policy
        .versions
        .iter()
        .map(|v| v.version.as_str())
        .find(|v| matches(v) && policy.offers(v).is_some_and(|o| o.downloadable()))
}

/// The version the upgrade goes to: `--to` as given (upstream or exact), or the newest candidate of the branch.
pub fn choose_target(
    inputs: &UpgradeInputs<'_>,
    choice: &TargetChoice,
) -> Result<DriverVersion, Refusal> {
    let loaded = inputs.loaded.ok_or_else(|| {
        refuse(
            exit::UNAVAILABLE,
            "no NVIDIA driver is loaded: nvfix upgrade moves a working driver; install the driver with the package \
             manager instead",
            Some("nvfix diagnose"),
        )
    })?;
    match choice {
        TargetChoice::Exact(v) => upstream(v).ok_or_else(|| {
            refuse(
                exit::USAGE,
                format!("--to {v}: not a driver version (580.95.05, or the package version)"),
                None,
            )
        }),
        TargetChoice::Latest => {
            let from = loaded.as_str().to_string();
            let newest = moving_packages(inputs, &from)
                .iter()
                .filter_map(|p| inputs.policies.iter().find(|pol| pol.name == p.name))
                .filter_map(|pol| pol.candidate.as_deref().and_then(upstream))
                .filter(|c| c.branch() == loaded.branch())
                .max();
            Ok(newest.unwrap_or_else(|| loaded.clone()))
        }
    }
}

/// What nvfix asks the package manager for: every moving package at the exact version of `target`. Packages the
/// repositories do not offer at that version are named in the notes (the simulation then shows what apt does).
/// What [`pin_packages`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    /// The packages at the target's exact version.
    pub install: Vec<PinnedPackage>,
    /// The same packages at the versions installed now.
    pub rollback: Vec<PinnedPackage>,
    pub notes: Vec<String>,
}

pub fn pin_packages(
    inputs: &UpgradeInputs<'_>,
    target: &DriverVersion,
    choice: &TargetChoice,
) -> Result<Pins, Refusal> {
    let loaded = inputs
        .loaded
        .map(|v| v.as_str().to_string())
        .unwrap_or_default();
    let mut pins = Vec::new();
    let mut rollback = Vec::new();
    let mut notes = Vec::new();
    for p in moving_packages(inputs, &loaded) {
        let policy = inputs.policies.iter().find(|pol| pol.name == p.name);
        let exact = match choice {
            TargetChoice::Exact(v) if v.contains('-') => policy
                .and_then(|pol| pol.offers(v))
                .map(|o| o.version.as_str()),
            _ => policy.and_then(|pol| offered_at(pol, target)),
        };
        rollback.push(PinnedPackage {
            name: p.name.clone(),
            version: p.version.clone(),
        });
        match exact {
            Some(v) => pins.push(PinnedPackage {
                name: p.name.clone(),
                version: v.to_string(),
            }),
            None => notes.push(format!(
                "{} is not offered at {}: it stays at {} unless the package manager moves it",
                p.name,
                target.as_str(),
                p.version
            )),
        }
    }
    if pins.is_empty() {
        return Err(refuse(
            exit::UNAVAILABLE,
            format!(
                "no configured repository offers driver {} for the installed packages ({})",
                target.as_str(),
                moving_packages(inputs, &loaded)
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some("apt-cache policy nvidia-driver-<branch>; sudo apt-get update"),
        ));
    }
    Ok(Pins {
        install: pins,
        rollback,
        notes,
    })
}

/// `linux-modules-nvidia-580-<kernel>` → the kernel, for the branch's prebuilt module packages.
fn prebuilt_kernel(name: &str, branch: u32) -> Option<&str> {
    let bare = name.split(':').next().unwrap_or(name);
    bare.strip_prefix(&format!("linux-modules-nvidia-{branch}-"))
        .or_else(|| bare.strip_prefix(&format!("linux-modules-nvidia-{branch}-server-")))
        .or_else(|| bare.strip_prefix(&format!("linux-modules-nvidia-{branch}-open-")))
        .filter(|k| k.chars().next().is_some_and(|c| c.is_ascii_digit()))
}

/// A package whose modules are built on the host: DKMS (`nvidia-dkms-580`, `kmod-nvidia-open-dkms`) or akmods
/// (RPM Fusion's `akmod-nvidia`).
fn is_dkms_package(name: &str) -> bool {
    let bare = name.split(':').next().unwrap_or(name);
    (bare.contains("-dkms") && (bare.starts_with("nvidia") || bare.starts_with("kmod-nvidia")))
        || bare.starts_with("akmod-nvidia")
}

/// Which kernels need a module of the new version (running and next-boot) and how each gets it; a kernel that
/// would get none refuses the upgrade.
fn module_sources(
    inputs: &UpgradeInputs<'_>,
    branch: u32,
    after: &[(String, String)],
) -> Result<Vec<KernelModules>, Refusal> {
    let dkms = after.iter().find(|(n, _)| is_dkms_package(n));
    let mut kernels: Vec<(String, String)> =
        vec![(inputs.running_kernel.to_string(), "running".into())];
    match inputs.next_kernel {
        Some(k) if k == inputs.running_kernel => kernels[0].1.push_str(", next-boot"),
        Some(k) => kernels.push((k.to_string(), "next-boot".into())),
        None => {}
    }
    let mut out = Vec::new();
    for (kernel, role) in kernels {
        let prebuilt = after
            .iter()
            .find(|(n, _)| prebuilt_kernel(n, branch) == Some(kernel.as_str()));
        let source = match (prebuilt, dkms) {
            (Some((p, _)), _) => ModuleSource::Prebuilt { package: p.clone() },
            (None, Some((d, _))) if inputs.kernels_with_headers.contains(&kernel) => ModuleSource::Dkms {
                dkms_package: d.clone(),
            },
            (None, Some(_)) => {
                return Err(refuse(
                    exit::UNAVAILABLE,
                    format!(
                        "the {role} kernel {kernel} would get no module: DKMS cannot build for it without its \
                         headers (/lib/modules/{kernel}/build is missing)"
                    ),
                    Some(&match inputs.manager {
                        PackageManager::Apt => format!("sudo apt-get install linux-headers-{kernel}"),
                        PackageManager::Dnf => format!("sudo dnf install kernel-devel-{kernel}"),
                    }),
                ))
            }
            (None, None) => {
                return Err(refuse(
                    exit::UNAVAILABLE,
                    format!(
                        "the {role} kernel {kernel} would get no module of the new version: neither a DKMS package \
                         nor linux-modules-nvidia-{branch}-{kernel} is part of the upgrade"
                    ),
                    Some(&format!("apt-cache policy linux-modules-nvidia-{branch}-{kernel}")),
                ))
            }
        };
        out.push(KernelModules {
            kernel,
            role,
            source,
        });
    }
    Ok(out)
}

/// Everything after the simulation: refusals, module sources, holds, the way back.
pub struct PlanParts {
    pub target: DriverVersion,
    pub install: Vec<PinnedPackage>,
    pub rollback: Vec<PinnedPackage>,
    pub changes: Vec<TransactionChange>,
    pub reload_stops: Vec<String>,
    pub notes: Vec<String>,
}

/// Does the playbook the host acts within let `nvfix upgrade` run? It must allow upgrades, and allow some way to
/// load the new version (a reload, or a reboot), else the upgrade would leave a mismatch nothing may fix.
pub fn playbook_allows(playbook: &Playbook, source: &str) -> Result<(), Refusal> {
    let hint = Some("another playbook with --playbook NAME|PATH, or change this one");
    if !playbook.upgrade.allowed {
        return Err(refuse(
            exit::UNAVAILABLE,
            format!("the playbook ({source}) forbids upgrades here (upgrade.allowed: false)"),
            hint,
        ));
    }
    if !playbook.reload.allowed && !playbook.reboot.allowed {
        return Err(refuse(
            exit::UNAVAILABLE,
            format!(
                "the playbook ({source}) allows neither a reload nor a reboot: nothing could load the new version, \
                 so an upgrade would leave the host in a mismatch"
            ),
            hint,
        ));
    }
    Ok(())
}

/// An upgrade starts from a working driver: the loaded module and the installed library of the same version.
pub fn check_consistent(inputs: &UpgradeInputs<'_>) -> Result<(), Refusal> {
    if let (Some(loaded), Some(lib)) = (inputs.loaded, inputs.library) {
        if !same_version(lib, loaded) {
            return Err(refuse(
                exit::UNAVAILABLE,
                format!(
                    "the driver is not consistent now (module {} loaded, library {}): fix that first, then upgrade",
                    loaded.as_str(),
                    lib.as_str()
                ),
                Some("sudo nvfix auto (or nvfix diagnose)"),
            ));
        }
    }
    Ok(())
}

/// The upgrade plan, or why the upgrade must not start. Nothing here has changed the host yet.
pub fn make_plan(inputs: &UpgradeInputs<'_>, parts: PlanParts) -> Result<UpgradePlan, Refusal> {
    let loaded = inputs
        .loaded
        .expect("choose_target refused a host without a loaded driver");
    check_consistent(inputs)?;
    if !inputs.package_manager_busy.is_empty() {
        return Err(refuse(
            exit::TEMP_FAIL,
            format!(
                "the package manager is busy: {}",
                inputs.package_manager_busy.join("; ")
            ),
            Some("wait for it to finish, then run nvfix upgrade again"),
        ));
    }
    refuse_admin_holds(inputs, &parts.install)?;
    refuse_foreign_removals(&parts.changes)?;
    let after = installed_after(inputs.installed, &parts.changes);
    refuse_two_versions(&after, loaded)?;
    let branch = parts.target.branch();
    let kernels = module_sources(inputs, branch, &after)?;
    let mut hold_after: Vec<String> = after
        .iter()
        .filter(|(n, _)| hold::is_hold_candidate(n))
        .map(|(n, _)| n.clone())
        .collect();
    hold_after.sort();
    hold_after.dedup();
    Ok(UpgradePlan {
        manager: inputs.manager,
        branch,
        from_version: loaded.as_str().to_string(),
        to_version: parts.target.as_str().to_string(),
        release_holds: holds_to_release(inputs, &parts.install),
        rollback_missing: not_offered(inputs, &parts.rollback),
        install: parts.install,
        changes: parts.changes,
        kernels,
        rollback: parts.rollback,
        reload_stops: parts.reload_stops,
        hold_after,
        notes: parts.notes,
    })
}

/// nvfix releases only its own holds: a package the admin held that the upgrade would move refuses it.
fn refuse_admin_holds(
    inputs: &UpgradeInputs<'_>,
    install: &[PinnedPackage],
) -> Result<(), Refusal> {
    let held_by_admin: Vec<&str> = hold::hold_candidates(inputs.installed)
        .into_iter()
        .filter(|p| p.held)
        .filter(|p| !inputs.hold_state.is_some_and(|s| s.held.contains(&p.name)))
        .filter(|p| install.iter().any(|i| i.name == p.name))
        .map(|p| p.name.as_str())
        .collect();
    if held_by_admin.is_empty() {
        return Ok(());
    }
    Err(refuse(
        exit::UNAVAILABLE,
        format!(
            "held by someone other than nvfix: {} (nvfix only releases its own holds)",
            held_by_admin.join(", ")
        ),
        Some(&format!(
            "sudo apt-mark unhold {} && sudo nvfix hold, then nvfix upgrade again",
            held_by_admin.join(" ")
        )),
    ))
}

/// The transaction may remove old driver packages, nothing else.
fn refuse_foreign_removals(changes: &[TransactionChange]) -> Result<(), Refusal> {
    let removed: Vec<&str> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Remove)
        .filter(|c| !hold::is_hold_candidate(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    if removed.is_empty() {
        return Ok(());
    }
    Err(refuse(
        exit::UNAVAILABLE,
        format!(
            "the package manager would remove packages that are not the driver's: {}",
            removed.join(", ")
        ),
        None,
    ))
}

/// The packages installed once the transaction is done (name, version).
fn installed_after(
    installed: &[InstalledPackage],
    changes: &[TransactionChange],
) -> Vec<(String, String)> {
    let mut after: Vec<(String, String)> = installed
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    for c in changes {
        after.retain(|(n, _)| *n != c.name);
        if let Some(to) = &c.to {
            after.push((c.name.clone(), to.clone()));
        }
    }
    after
}

/// A library or module-source package left at the old version would be two drivers at once.
fn refuse_two_versions(after: &[(String, String)], loaded: &DriverVersion) -> Result<(), Refusal> {
    let stays_old: Vec<String> = after
        .iter()
        .filter(|(n, _)| hold::is_hold_candidate(n) && !n.contains(loaded.as_str()))
        .filter(|(_, v)| upstream(v).is_some_and(|u| same_version(&u, loaded)))
        .filter(|(n, _)| crate::model::apt_history::is_library_package(n) || is_dkms_package(n))
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    if stays_old.is_empty() {
        return Ok(());
    }
    Err(refuse(
        exit::UNAVAILABLE,
        format!(
            "after the install these would still be at {}: {} (libraries or module sources of two versions)",
            loaded.as_str(),
            stays_old.join(", ")
        ),
        Some("apt-cache policy <package>: the repositories must offer every driver package at the target"),
    ))
}

/// nvfix's holds on the packages the upgrade moves (released right before the install).
fn holds_to_release(inputs: &UpgradeInputs<'_>, install: &[PinnedPackage]) -> Vec<String> {
    inputs
        .hold_state
        .map(|s| {
            s.held
                .iter()
                .filter(|h| inputs.installed.iter().any(|p| p.name == **h && p.held))
                .filter(|h| install.iter().any(|i| i.name == **h))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The way back's versions that no repository serves any more.
fn not_offered(inputs: &UpgradeInputs<'_>, rollback: &[PinnedPackage]) -> Vec<String> {
    rollback
        .iter()
        .filter(|r| {
            !inputs
                .policies
                .iter()
                .find(|p| p.name == r.name)
                .and_then(|p| p.offers(&r.version))
                .is_some_and(|o| o.downloadable())
        })
        .map(|p| p.arg(inputs.manager))
        .collect()
}

/// How far an upgrade got, as its journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradePhase {
    /// The trial passed; nvfix's holds on the driver packages are being released.
    Releasing,
    /// The package manager is installing the new version.
    Installing,
    /// The install failed: the old driver is still loaded; the report says how to go back or retry.
    InstallFailed,
    /// The new version is installed and its modules are built; the old module is still loaded.
    Installed,
    /// The new modules are loaded and verified; the hold is next.
    Reloaded,
}

/// The upgrade journal (`/var/lib/nvfix/upgrade.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeJournal {
    pub format: u32,
    pub started_at: u64,
    pub phase: UpgradePhase,
    pub plan: UpgradePlan,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

impl UpgradeJournal {
    pub fn parse(text: &str) -> Result<UpgradeJournal, String> {
        let j: UpgradeJournal = serde_json::from_str(text).map_err(|e| {
            format!(
                "not an nvfix upgrade journal: {}",
                super::excerpt::excerpt(&e.to_string())
            )
        })?;
        if j.format != JOURNAL_FORMAT {
            return Err(format!(
                "upgrade journal format {} (this nvfix reads {JOURNAL_FORMAT})",
                j.format
            ));
        }
        Ok(j)
    }
    pub fn text(&self) -> String {
        let mut t = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        t.push('\n');
        t
    }
}

/// What an interrupted upgrade does next, judged on the host as it is now (not only on the journal's phase: a crash
/// can fall between a step and its record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResumeStep {
    /// Some packages are not at the target (the install did not run, failed or was cut): install them.
    Install,
    /// Installed; the old module is still loaded: check the modules on disk, then reload.
    Reload,
    /// The new version is loaded: hold it again.
    Hold,
}

/// Where to resume: installed versions of the planned packages against the target, and the loaded module.
pub fn resume_step(
    plan: &UpgradePlan,
    installed: &[InstalledPackage],
    loaded: Option<&DriverVersion>,
) -> ResumeStep {
    let done = plan.install.iter().all(|pin| {
        installed
            .iter()
            .any(|p| p.name == pin.name && p.version == pin.version && p.state == "installed")
    });
    if !done {
        return ResumeStep::Install;
    }
    let target = upstream(&plan.to_version);
    match (loaded, target) {
        (Some(l), Some(t)) if same_version(l, &t) => ResumeStep::Hold,
        _ => ResumeStep::Reload,
    }
}

/// `nvfix upgrade --check`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpgradeCheck {
    /// The installed driver version and its branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<u32>,
    /// The newest version of that branch the repositories offer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    pub available: bool,
    /// `reload`, `reboot`, or `unknown` when nothing is to be upgraded or nvfix cannot tell.
    pub apply_by: &'static str,
    /// Why a reload would not do, or why nvfix cannot tell.
    pub why: Vec<String>,
}

/// Judges `--check`: the branch's newest candidate against the installed version, and how it would be applied.
pub fn check(inputs: &UpgradeInputs<'_>, reload_blockers: Option<Vec<String>>) -> UpgradeCheck {
    let installed = inputs.loaded.or(inputs.library);
    let candidate = installed.and_then(|v| {
        let view = UpgradeInputs {
            loaded: Some(v),
            ..inputs.clone()
        };
        choose_target(&view, &TargetChoice::Latest).ok()
    });
    let available = match (installed, &candidate) {
        (Some(i), Some(c)) => c > i,
        _ => false,
    };
    let (apply_by, why) = match (&reload_blockers, available) {
        (_, false) => ("unknown", Vec::new()),
        (None, true) => (
            "unknown",
            vec!["no NVIDIA driver is loaded: the new version loads at its first use".into()],
        ),
        (Some(b), true) if b.is_empty() => ("reload", Vec::new()),
        (Some(b), true) => ("reboot", b.clone()),
    };
    UpgradeCheck {
        installed: installed.map(|v| v.as_str().to_string()),
        branch: installed.map(DriverVersion::branch),
        candidate: candidate
            .filter(|_| available)
            .map(|c| c.as_str().to_string()),
        available,
        apply_by,
        why,
    }
}

#[cfg(test)]
mod tests;
