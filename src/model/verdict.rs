//! The verdict: from [`HostFacts`] to what is wrong, what to do, and the reasons (with evidence) behind both.
//!
//! The rules, in the order an expert applies them:
//! 1. Which driver is loaded (`/proc/driver/nvidia/version`, else sysfs) and which libnvidia-ml the loader picks.
//! 2. If they differ, the module on disk for the running kernel decides the action: it matches the library →
//!    `reload`; only another installed kernel's module matches → `reboot`; nothing matches → `repair`.
//! 3. NVML, the kernel log and the package logs confirm and explain, but the files alone decide: in the incident,
//!    NVML cannot even initialise.

use super::apt_history::{ChangeKind, PackageChange};
use super::facts::{HostFacts, ModuleFile, NvmlProbe};
use super::host_kind::HostKind;
use super::library::LibraryFile;
use super::preflight::{self, PreflightFinding};
use super::repair_advice;
use super::{DriverVersion, Evidence};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Loaded module and library agree (and NVML, when checked, initialises).
    Healthy,
    /// The loaded kernel module and the user-space library are different versions.
    VersionMismatch,
    /// The driver is installed but its kernel module is not loaded.
    DriverNotLoaded,
    /// No NVIDIA driver on this host (no module loaded or installed, no library).
    NoDriver,
    /// Versions agree (or cannot be compared) but something is broken: the library is missing, NVML fails, …
    Degraded,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::VersionMismatch => "version-mismatch",
            Verdict::DriverNotLoaded => "driver-not-loaded",
            Verdict::NoDriver => "no-driver",
            Verdict::Degraded => "degraded",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Nothing to do.
    None,
    /// Swap (or load) the kernel modules: the module on disk for the running kernel matches the library.
    Reload,
    /// Only another installed kernel has a matching module: reboot into it.
    Reboot,
    /// No installed module matches the library: rebuild or reinstall first (a reboot would not fix it).
    Repair,
    /// The driver is owned by something else (the GPU Operator's driver container): hand over, do not touch.
    External,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Reload => "reload",
            Action::Reboot => "reboot",
            Action::Repair => "repair",
            Action::External => "external",
        }
    }
}

/// One conclusion with the evidence behind it. Codes are stable identifiers (kebab-case) for scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

/// A command the admin can run next, with what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextStep {
    pub summary: String,
    pub command: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub verdict: Verdict,
    pub action: Action,
    /// The package change that produced the current state (library replaced while the old module ran), if found.
    pub upgrade: Option<PackageChange>,
    /// The nvidia module the running kernel would load (what a reload would bring in).
    pub installed_module: Option<ModuleFile>,
    /// For `reboot`: the other kernels whose module matches the library.
    pub matching_kernels: Vec<String>,
    pub reasons: Vec<Reason>,
    pub next_steps: Vec<NextStep>,
    /// Why the modules a reload would load would be refused by the kernel; when any, the action is `repair`, not
    /// `reload` (once the old modules are out, nothing else can be loaded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preflight: Vec<PreflightFinding>,
}

/// Reason codes that say why the action is `repair`, most specific first: what a refusal or `auto` should name
/// instead of assuming the module on disk is what is missing.
const REPAIR_CAUSES: &[&str] = &[
    "in-container",
    "gsp-firmware-failed",
    "adapter-init-failed",
    "l4t-packages-differ",
    "library-missing",
    "no-matching-module",
];

impl Diagnosis {
    /// Why the action is `repair`, in the diagnosis's own words (None for other actions, or when no cause is known).
    pub fn repair_cause(&self) -> Option<&str> {
        if self.action != Action::Repair {
            return None;
        }
        REPAIR_CAUSES
            .iter()
            .find_map(|code| self.reasons.iter().find(|r| r.code == *code))
            .map(|r| r.message.as_str())
    }
}

/// The modules a reload swaps, in the order NVIDIA's stack is built (nvidia first).
pub const DRIVER_STACK: &[&str] = &[
    "nvidia",
    "nvidia_uvm",
    "nvidia_modeset",
    "nvidia_drm",
    "nvidia_peermem",
];

pub fn diagnose(facts: &HostFacts) -> Diagnosis {
    let mut d = Diagnosis {
        verdict: Verdict::Healthy,
        action: Action::None,
        upgrade: None,
        installed_module: None,
        matching_kernels: Vec::new(),
        reasons: Vec::new(),
        next_steps: Vec::new(),
        preflight: Vec::new(),
    };
    let loaded = facts.loaded_version();
    let library = facts.nvml_library.as_ref();
    let kernel = facts.kernel_release.as_deref();
    d.installed_module = kernel.and_then(|k| facts.module_file(k, "nvidia")).cloned();

    if facts.driver_container {
        d.reasons.push(Reason {
            code: "driver-container",
            message: "the driver is run by a container (/run/nvidia/driver exists: NVIDIA GPU Operator); the operator owns \
                      the kernel modules"
                .into(),
            evidence: vec![Evidence::file("/run/nvidia/driver")],
        });
    }
    note_loaded(facts, &mut d);
    note_library(facts, library, &mut d);

    match (loaded, library) {
        (Some(l), Some(lib)) if *l != lib.version => mismatch(facts, l, lib, &mut d),
        (Some(l), Some(lib)) => matched(facts, l, lib, &mut d),
        (Some(l), None) if matches!(facts.host_kind, HostKind::Jetson { .. }) => {
            jetson(facts, l, &mut d)
        }
        (Some(_), None) => {
            d.verdict = Verdict::Degraded;
            d.action = Action::Repair;
            d.reasons.push(Reason {
                code: "library-missing",
                message: "the kernel module is loaded but no libnvidia-ml is installed: user-space driver packages are \
                          missing"
                    .into(),
                evidence: Vec::new(),
            });
        }
        (None, lib) => not_loaded(facts, lib, &mut d),
    }
    note_preflight(facts, &mut d);
    if d.verdict != Verdict::NoDriver && d.action != Action::External {
        note_nvml(facts, &mut d);
        note_kernel_log(facts, &mut d);
        note_recurrence(facts, &mut d);
        note_fabric_manager(facts, &mut d);
    }
    if facts.driver_container && d.action != Action::None {
        d.action = Action::External;
    }
    note_container(facts, &mut d);
    note_holders(facts, &mut d);
    note_mig(facts, &mut d);
    d.next_steps = next_steps(facts, &d);
    note_pending_upgrade(facts, &mut d);
    d
}

/// A reload whose new modules the kernel would refuse leaves the host with no driver: say why before anyone asks for
/// it, and make the action `repair` (a reboot does not help an unsigned module either).
fn note_preflight(facts: &HostFacts, d: &mut Diagnosis) {
    if d.action != Action::Reload {
        return;
    }
    let Some(inputs) = &facts.preflight else {
        return;
    };
    let findings = preflight::check(inputs);
    if findings.is_empty() {
        return;
    }
    d.action = Action::Repair;
    for r in d
        .reasons
        .iter_mut()
        .filter(|r| r.code == "module-on-disk-matches")
    {
        r.message = r.message.replace(
            ": reloading the modules fixes this without a reboot",
            ", but the kernel would refuse it (below): a reload would leave the host with no driver, and a reboot \
             would load the same files",
        );
    }
    for f in &findings {
        d.reasons.push(Reason {
            code: f.code,
            message: format!("the new driver would not load: {}", f.message),
            evidence: vec![Evidence::file(f.evidence.clone())],
        });
    }
    d.preflight = findings;
}

fn note_loaded(facts: &HostFacts, d: &mut Diagnosis) {
    if let Some(drv) = &facts.loaded_driver {
        d.reasons.push(Reason {
            code: "module-loaded",
            message: format!(
                "the loaded kernel module is {} {}",
                drv.flavor.as_str(),
                drv.version
            ),
            evidence: facts.loaded_driver_evidence.clone().into_iter().collect(),
        });
        if let Some(sys) = &facts.sysfs_driver_version {
            if *sys != drv.version {
                d.reasons.push(Reason {
                    code: "loaded-versions-disagree",
                    message: format!(
                        "/proc/driver/nvidia/version says {} but /sys/module/nvidia/version says {sys}",
                        drv.version
                    ),
                    evidence: vec![Evidence::file("/sys/module/nvidia/version")],
                });
            }
        }
    } else if let Some(sys) = &facts.sysfs_driver_version {
        d.reasons.push(Reason {
            code: "module-loaded",
            message: format!("the loaded kernel module is {sys} (from sysfs)"),
            evidence: vec![Evidence::file("/sys/module/nvidia/version")],
        });
    }
}

fn note_library(facts: &HostFacts, library: Option<&LibraryFile>, d: &mut Diagnosis) {
    if let Some(lib) = library {
        let mut evidence = vec![Evidence::file(lib.path.clone())];
        evidence.extend(lib.link.clone().map(Evidence::file));
        d.reasons.push(Reason {
            code: "library-installed",
            message: format!("the user-space library (libnvidia-ml) is {}", lib.version),
            evidence,
        });
        let others: Vec<String> = facts
            .nvml_libraries
            .iter()
            .filter(|l| l.version != lib.version)
            .map(|l| format!("{} ({})", l.version, l.path))
            .collect();
        if !others.is_empty() {
            d.reasons.push(Reason {
                code: "several-libraries",
                message: format!(
                    "other libnvidia-ml versions are also on disk: {}",
                    others.join(", ")
                ),
                evidence: Vec::new(),
            });
        }
    }
}

fn mismatch(facts: &HostFacts, loaded: &DriverVersion, lib: &LibraryFile, d: &mut Diagnosis) {
    d.verdict = Verdict::VersionMismatch;
    d.reasons.push(Reason {
        code: "module-library-mismatch",
        message: format!(
            "the kernel runs NVIDIA {loaded} but the libraries are {}: every NVML/CUDA client fails with \
             \"Driver/library version mismatch\"",
            lib.version
        ),
        evidence: facts.loaded_driver_evidence.clone().into_iter().chain([Evidence::file(lib.path.clone())]).collect(),
    });
    d.upgrade = find_upgrade(facts, Some(loaded), &lib.version);
    if let Some(u) = &d.upgrade {
        d.reasons.push(Reason {
            code: "upgraded-while-loaded",
            message: format!(
                "{} was {} {} on {} by {}, while the old module stayed loaded",
                u.package,
                match u.kind {
                    ChangeKind::Downgrade => "downgraded",
                    ChangeKind::Install => "installed",
                    _ => "upgraded",
                },
                match (&u.from, &u.to) {
                    (Some(f), Some(t)) => format!("{f} → {t}"),
                    (None, Some(t)) => format!("to {t}"),
                    _ => format!(
                        "(its log names no versions; the library is now {})",
                        lib.version
                    ),
                },
                u.at,
                u.by.describe()
            ),
            evidence: vec![u.evidence.clone()],
        });
    }
    decide_module_action(facts, &lib.version, d);
}

/// Which module would fix things: the running kernel's (reload), another kernel's (reboot), or none (repair).
fn decide_module_action(facts: &HostFacts, want: &DriverVersion, d: &mut Diagnosis) {
    let kernel = facts.kernel_release.as_deref();
    let why_not_reload = match kernel.map(|k| (k, stack_matches(facts, k, want))) {
        Some((k, Ok(()))) => {
            d.action = Action::Reload;
            let m = facts.module_file(k, "nvidia");
            d.reasons.push(Reason {
                code: "module-on-disk-matches",
                message: format!(
                    "the nvidia module installed for the running kernel {k} is {want}: reloading the modules fixes this \
                     without a reboot"
                ),
                evidence: m.map(|m| Evidence::file(m.path.clone())).into_iter().collect(),
            });
            return;
        }
        Some((k, Err((name, found)))) => Reason {
            code: "module-on-disk-differs",
            message: match found {
                Some(f) => format!(
                    "the {name} module installed for the running kernel {k} is {}, not {want}: reloading would load \
                     the old version again",
                    f.version.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "of unknown version".into())
                ),
                None => format!("no {name} module is installed for the running kernel {k}"),
            },
            evidence: found.map(|f| vec![Evidence::file(f.path.clone())]).unwrap_or_default(),
        },
        None => Reason {
            code: "kernel-unknown",
            message: "the running kernel release is unknown (/proc/sys/kernel/osrelease unreadable)".to_string(),
            evidence: Vec::new(),
        },
    };
    d.reasons.push(why_not_reload);
    let others: Vec<String> = kernels(facts)
        .into_iter()
        .filter(|k2| Some(k2.as_str()) != kernel && stack_matches(facts, k2, want).is_ok())
        .collect();
    if others.is_empty() {
        d.action = Action::Repair;
        let failed_log = format!("/var/lib/dkms/nvidia/{want}/build/make.log");
        if facts.dkms_build_logs.contains(&failed_log) {
            d.reasons.push(Reason {
                code: "dkms-build-failed",
                message: format!(
                    "DKMS tried to build nvidia {want} and failed: its build log says why (dkms install prints \
                     the same error again)"
                ),
                evidence: vec![Evidence::file(failed_log)],
            });
        }
        d.reasons.push(Reason {
            code: "no-matching-module",
            message: format!(
                "no installed kernel has an nvidia module of version {want}: neither a reload nor a reboot \
                 would fix this"
            ),
            evidence: Vec::new(),
        });
    } else {
        d.action = Action::Reboot;
        d.reasons.push(Reason {
            code: "other-kernel-matches",
            message: format!(
                "only kernel {} has an nvidia module of version {want}: booting it fixes this",
                others.join(", ")
            ),
            evidence: others
                .iter()
                .filter_map(|k| facts.module_file(k, "nvidia"))
                .map(|m| Evidence::file(m.path.clone()))
                .collect(),
        });
        d.matching_kernels = others;
    }
}

/// Every kernel that has module files, sorted.
fn kernels(facts: &HostFacts) -> Vec<String> {
    let mut ks: Vec<String> = facts
        .module_files
        .iter()
        .map(|m| m.kernel.clone())
        .collect();
    ks.sort();
    ks.dedup();
    ks
}

/// Would loading kernel `k`'s modules give version `want` for the whole stack? nvidia must be there and match; every
/// other stack module that is on disk or loaded must match too (a loaded one missing on disk cannot come back).
fn stack_matches<'f>(
    facts: &'f HostFacts,
    k: &str,
    want: &DriverVersion,
) -> Result<(), (&'static str, Option<&'f ModuleFile>)> {
    for name in DRIVER_STACK {
        let file = facts.module_file(k, name);
        let loaded = facts.loaded_module(name).is_some();
        match file {
            Some(f) if f.version.as_ref() == Some(want) => {}
            Some(f) => return Err((name, Some(f))),
            None if *name == "nvidia" || (loaded && Some(k) == facts.kernel_release.as_deref()) => {
                return Err((name, None))
            }
            None => {}
        }
    }
    Ok(())
}

fn matched(facts: &HostFacts, loaded: &DriverVersion, _lib: &LibraryFile, d: &mut Diagnosis) {
    d.verdict = Verdict::Healthy;
    d.reasons.push(Reason {
        code: "versions-match",
        message: format!("the loaded module and the library are both {loaded}"),
        evidence: Vec::new(),
    });
    note_adapter_init_failure(facts, loaded, d);
    // Healthy now, but what boots next? A module on disk of another version means the next boot breaks.
    if let Some(k) = facts.kernel_release.as_deref() {
        if let Some(f) = facts.module_file(k, "nvidia") {
            if let Some(v) = &f.version {
                if v != loaded {
                    d.reasons.push(Reason {
                        code: "next-boot-differs",
                        message: format!(
                            "the nvidia module on disk for {k} is {v}, not the loaded {loaded}: the next reload or \
                             reboot changes the driver"
                        ),
                        evidence: vec![Evidence::file(f.path.clone())],
                    });
                }
            }
        }
    }
}

/// The module is loaded and the versions agree, yet the kernel log says the GPU failed to start: in every real report
/// the module stays loaded when this happens, so nothing else shows it. With the GSP firmware named, its files are the
/// suspect; otherwise the GPU itself (power, PCIe link, hardware).
fn note_adapter_init_failure(facts: &HostFacts, loaded: &DriverVersion, d: &mut Diagnosis) {
    let Some(log) = &facts.kernel_log else { return };
    let Some(failure) = log.adapter_failures_this_boot().last() else {
        return;
    };
    d.verdict = Verdict::Degraded;
    d.action = Action::Repair;
    let source = facts.kernel_log_source.clone();
    let at = |line: usize, text: &str| {
        source
            .clone()
            .map(|f| Evidence::line(f, line, text))
            .into_iter()
    };
    let gpu = failure.gpu.as_deref().unwrap_or("a GPU");
    let code = failure
        .code
        .as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    if let Some(gsp_line) = log.gsp_failures_this_boot().last() {
        let dir = format!("/lib/firmware/nvidia/{loaded}/");
        let present = facts.firmware_versions.iter().any(|v| v == loaded.as_str());
        d.reasons.push(Reason {
            code: "gsp-firmware-failed",
            message: format!(
                "the loaded {loaded} module could not start the GSP firmware on {gpu}{code}: the GPU is not usable \
                 although the module stays loaded; {}",
                if present {
                    format!("{dir} is there, so it may be damaged or not the module's version: reinstall it")
                } else {
                    format!("{dir} is missing")
                }
            ),
            evidence: at(gsp_line, crate::model::kernel_log::GSP_INIT_FAILURE)
                .chain(at(failure.line, "RmInitAdapter failed"))
                .collect(),
        });
    } else {
        d.reasons.push(Reason {
            code: "adapter-init-failed",
            message: format!(
                "the loaded {loaded} module could not initialise {gpu}{code} (RmInitAdapter failed): the versions agree, \
                 so suspect the GPU itself: power, the PCIe link, the hardware"
            ),
            evidence: at(failure.line, "RmInitAdapter failed").collect(),
        });
    }
}

/// Jetson (L4T) has no NVML and its `libcuda.so.1.1` carries no driver version: the loaded module's version is the L4T
/// release, which the `nvidia-l4t-core` package must carry too.
fn jetson(facts: &HostFacts, loaded: &DriverVersion, d: &mut Diagnosis) {
    d.reasons.push(Reason {
        code: "jetson",
        message: format!(
            "this is a {}: L4T has no NVML and libcuda.so.1.1 is a soname, not a driver version; the driver's \
             version is the L4T release",
            facts.host_kind.describe()
        ),
        evidence: vec![Evidence::file("/etc/nv_tegra_release")],
    });
    let core = facts.l4t_core_version.as_deref();
    match core.and_then(DriverVersion::parse_prefix) {
        Some(v) if v != *loaded => {
            d.verdict = Verdict::VersionMismatch;
            d.action = Action::Repair;
            d.reasons.push(Reason {
                code: "l4t-packages-differ",
                message: format!(
                    "the loaded module is L4T {loaded} but nvidia-l4t-core is {}: the L4T packages were upgraded \
                     (or half-upgraded) under the running kernel",
                    core.unwrap_or_default()
                ),
                evidence: vec![Evidence::file("/var/lib/dpkg/status")],
            });
        }
        Some(_) => {
            d.reasons.push(Reason {
                code: "versions-match",
                message: format!("the loaded module and nvidia-l4t-core are both L4T {loaded}"),
                evidence: Vec::new(),
            });
            note_adapter_init_failure(facts, loaded, d);
        }
        None => {}
    }
}

/// Inside a container the kernel module is the host's: no reload or reboot from here fixes anything; user space must
/// match the host's driver.
fn note_container(facts: &HostFacts, d: &mut Diagnosis) {
    let HostKind::Container { engine } = &facts.host_kind else {
        return;
    };
    if matches!(d.action, Action::None | Action::External) {
        return;
    }
    d.action = Action::Repair;
    d.matching_kernels.clear();
    // The container's own /lib/modules says nothing about the host's: drop what it seemed to say.
    d.reasons.retain(|r| {
        !matches!(
            r.code,
            "module-on-disk-matches"
                | "module-on-disk-differs"
                | "no-matching-module"
                | "other-kernel-matches"
        )
    });
    d.installed_module = None;
    d.reasons.push(Reason {
        code: "in-container",
        message: format!(
            "nvfix runs inside a container ({engine}): the kernel module is the host's, so the fix is user space of \
             the host's version (or a restart with the host's libraries), not a module reload or a reboot from here"
        ),
        evidence: Vec::new(),
    });
}

fn not_loaded(facts: &HostFacts, library: Option<&LibraryFile>, d: &mut Diagnosis) {
    if library.is_none() && facts.module_files.is_empty() && facts.driver_packages.is_empty() {
        d.verdict = Verdict::NoDriver;
        d.reasons.push(Reason {
            code: "no-driver",
            message: "no NVIDIA driver is loaded or installed on this host".into(),
            evidence: Vec::new(),
        });
        return;
    }
    d.verdict = Verdict::DriverNotLoaded;
    d.reasons.push(Reason {
        code: "module-not-loaded",
        message: "the nvidia kernel module is not loaded (no /proc/driver/nvidia/version)".into(),
        evidence: Vec::new(),
    });
    match library {
        Some(lib) => {
            d.upgrade = find_upgrade(facts, None, &lib.version);
            decide_module_action(facts, &lib.version, d);
        }
        None => {
            d.action = Action::Repair;
            d.reasons.push(Reason {
                code: "library-missing",
                message: "no libnvidia-ml is installed: the user-space driver packages are missing"
                    .into(),
                evidence: Vec::new(),
            });
        }
    }
    if let Some(log) = &facts.kernel_log {
        if let Some(line) = log.init_failures.last() {
            d.reasons.push(Reason {
                code: "adapter-init-failed",
                message: "the kernel log has `RmInitAdapter failed`: the module could not initialise the GPU; loading it \
                          again may fail the same way"
                    .into(),
                evidence: facts.kernel_log_source.clone().map(|f| Evidence::line(f, *line, "RmInitAdapter failed")).into_iter().collect(),
            });
        }
    }
}

/// The package change that put the library's version in place: the newest change of a driver package whose new
/// version is `to` (preferring library packages and a `from` equal to the loaded version).
pub fn find_upgrade(
    facts: &HostFacts,
    loaded: Option<&DriverVersion>,
    to: &DriverVersion,
) -> Option<PackageChange> {
    let to_matches = |c: &PackageChange| {
        c.to.as_deref()
            .and_then(DriverVersion::parse_prefix)
            .as_ref()
            == Some(to)
    };
    let from_matches = |c: &PackageChange| {
        loaded.is_some()
            && c.from
                .as_deref()
                .and_then(DriverVersion::parse_prefix)
                .as_ref()
                == loaded
    };
    let is_lib = |c: &PackageChange| super::apt_history::is_library_package(&c.package);
    // A transitional package (`libnvidia-compute-495` moved to 510.x) ships no library: never the one that replaced it.
    let transitional = super::apt_history::is_transitional;
    let candidates: Vec<&PackageChange> = facts
        .package_changes
        .iter()
        .filter(|c| to_matches(c) && !transitional(c))
        .collect();
    if candidates.is_empty() {
        // unattended-upgrades.log names packages and times but no versions: the newest upgrade of a library package
        // it records is the best there is.
        return facts
            .package_changes
            .iter()
            .filter(|c| c.to.is_none() && c.kind == ChangeKind::Upgrade && is_lib(c))
            .max_by(|a, b| a.at.cmp(&b.at))
            .cloned();
    }
    // Newest first among the best class of evidence.
    candidates
        .iter()
        .rev()
        .max_by_key(|c| {
            (
                is_lib(c) && from_matches(c),
                from_matches(c),
                // apt's history says who did it; dpkg.log does not: prefer the entry that explains.
                c.by.commandline.is_some() || c.by.requested_by.is_some(),
                is_lib(c),
                c.at.clone(),
            )
        })
        .map(|c| (*c).clone())
}

fn note_nvml(facts: &HostFacts, d: &mut Diagnosis) {
    match &facts.nvml {
        Some(NvmlProbe::Ok {
            driver_version,
            device_count,
            ..
        }) => {
            d.reasons.push(Reason {
                code: "nvml-ok",
                message: format!(
                    "NVML initialises: driver {driver_version}, {device_count} GPU(s)"
                ),
                evidence: Vec::new(),
            });
        }
        Some(NvmlProbe::Error {
            code,
            name,
            message,
            library,
        }) => {
            let code_text = code.map(|c| format!("{c} ")).unwrap_or_default();
            d.reasons.push(Reason {
                code: if *code == Some(18) {
                    "nvml-version-mismatch"
                } else {
                    "nvml-error"
                },
                message: format!("NVML ({library}) fails: {code_text}{name}: {message}"),
                evidence: Vec::new(),
            });
            if d.verdict == Verdict::Healthy {
                // The files agree but NVML does not: trust NVML for the verdict, keep the files' story in reasons.
                d.verdict = if *code == Some(18) {
                    Verdict::VersionMismatch
                } else {
                    Verdict::Degraded
                };
            }
        }
        Some(NvmlProbe::NotChecked { .. }) | None => {}
    }
}

fn note_kernel_log(facts: &HostFacts, d: &mut Diagnosis) {
    let Some(log) = &facts.kernel_log else { return };
    let Some(last) = log.api_mismatches.last() else {
        return;
    };
    let mut clients: Vec<String> = log
        .api_mismatches
        .iter()
        .filter_map(|m| {
            m.client.clone().map(|c| match m.pid {
                Some(p) => format!("{c} (pid {p})"),
                None => c,
            })
        })
        .collect();
    clients.sort();
    clients.dedup();
    let who = if clients.is_empty() {
        String::new()
    } else {
        format!("; clients: {}", clients.join(", "))
    };
    d.reasons.push(Reason {
        code: "kernel-log-api-mismatch",
        message: format!(
            "the kernel logged {} `NVRM: API mismatch` report(s), the last: client {} vs kernel module {}{who}",
            log.api_mismatches.len(),
            last.client_version,
            last.kernel_version
        ),
        evidence: facts
            .kernel_log_source
            .clone()
            .map(|f| Evidence::line(f, last.line, "NVRM: API mismatch"))
            .into_iter()
            .collect(),
    });
}

fn note_recurrence(facts: &HostFacts, d: &mut Diagnosis) {
    let Some(config) = &facts.unattended else {
        return;
    };
    if config.enabled != Some(true) {
        return;
    }
    note_blacklist_entries(config, d);
    let exposed = super::dpkg::unprotected_driver_packages(Some(config), &facts.driver_packages);
    if !exposed.is_empty() {
        d.reasons.push(Reason {
            code: "recurrence-risk",
            message: format!(
                "unattended-upgrades is enabled and {} driver package(s) are neither held nor blacklisted ({}{}): the \
                 next driver release will cause this again",
                exposed.len(),
                exposed.iter().take(4).cloned().collect::<Vec<_>>().join(", "),
                if exposed.len() > 4 { ", …" } else { "" }
            ),
            evidence: vec![Evidence::file("/etc/apt/apt.conf.d")],
        });
    }
}

/// Blacklist entries that protect nothing: Python rejects them (and unattended-upgrades with it, on every run), or
/// nvfix cannot reproduce what Python makes of them.
fn note_blacklist_entries(config: &super::dpkg::UnattendedConfig, d: &mut Diagnosis) {
    let blacklist = super::dpkg::Blacklist::of(Some(config));
    for (entry, why) in blacklist.invalid() {
        d.reasons.push(Reason {
            code: "blacklist-entry-invalid",
            message: format!(
                "the unattended-upgrades blacklist entry `{entry}` is not a valid Python regex ({why}): it protects \
                 nothing, and unattended-upgrades stops with this error on every run (no security updates either); \
                 fix or remove it"
            ),
            evidence: vec![Evidence::file("/etc/apt/apt.conf.d")],
        });
    }
    for (entry, why) in blacklist.unchecked() {
        d.reasons.push(Reason {
            code: "blacklist-entry-unchecked",
            message: format!(
                "nvfix cannot tell what unattended-upgrades makes of the blacklist entry `{entry}` ({why}): it is \
                 not counted as protecting any package"
            ),
            evidence: vec![Evidence::file("/etc/apt/apt.conf.d")],
        });
    }
}

/// Fabric manager must carry exactly the driver's version: after an upgrade that left it behind (held, pinned, or from
/// another repository) it refuses to start, and an NVSwitch system runs no CUDA, whatever the modules do.
fn note_fabric_manager(facts: &HostFacts, d: &mut Diagnosis) {
    let (Some(fm), Some(library)) = (&facts.fabric_manager, &facts.nvml_library) else {
        return;
    };
    let Some(have) = fm.version() else { return };
    if have == library.version {
        return;
    }
    d.reasons.push(Reason {
        code: "fabric-manager-version",
        message: format!(
            "fabric manager ({} {}) is not the driver's version {}: it refuses to start with another driver version, \
             and an NVSwitch system runs no CUDA without it (error 802, system not yet initialized)",
            fm.package.name, fm.package.version, library.version
        ),
        evidence: vec![Evidence::file("/var/lib/dpkg/status")],
    });
}

/// MIG instances do not survive a driver unload or a reboot: whoever fixes the host must know to re-create them.
fn note_mig(facts: &HostFacts, d: &mut Diagnosis) {
    if facts.mig_instances.is_empty() || !matches!(d.action, Action::Reload | Action::Reboot) {
        return;
    }
    let gpus: std::collections::BTreeSet<u32> = facts.mig_instances.iter().map(|m| m.gpu).collect();
    d.reasons.push(Reason {
        code: "mig-instances",
        message: format!(
            "{} MIG GPU instance(s) exist on {} GPU(s); the {} destroys them (MIG mode stays on): {}",
            facts.mig_instances.len(),
            gpus.len(),
            if d.action == Action::Reload { "reload" } else { "reboot" },
            if facts.mig_manager_enabled {
                "nvidia-mig-manager.service re-creates them when restarted"
            } else {
                "re-create them afterwards (nvidia-mig-parted apply, or nvidia-smi mig -cgi … -C)"
            }
        ),
        evidence: vec![Evidence::file("/proc/driver/nvidia/capabilities")],
    });
}

fn note_holders(facts: &HostFacts, d: &mut Diagnosis) {
    if facts.holders.is_empty() {
        return;
    }
    let users = facts
        .holders
        .iter()
        .filter(|h| !h.runs_as_service())
        .count();
    let services = facts.holders.len() - users;
    d.reasons.push(Reason {
        code: "gpu-holders",
        message: format!(
            "{} process(es) hold the GPU ({users} user process(es), {services} GPU service(s)); a reload must stop them",
            facts.holders.len()
        ),
        evidence: Vec::new(),
    });
    if facts.drm_modeset == Some(true) && facts.loaded_module("nvidia_drm").is_some() {
        d.reasons.push(Reason {
            code: "drm-modeset",
            message: "nvidia_drm is loaded with modeset=1: a console or compositor may pin it, and a reload may need the \
                      display stopped"
                .into(),
            evidence: vec![Evidence::file("/sys/module/nvidia_drm/parameters/modeset")],
        });
    }
}

/// What repairs the host, by what is broken: the GPU's start (firmware, hardware), the user space, or the module.
fn repair_steps(facts: &HostFacts, d: &Diagnosis, want: &str, kernel: &str) -> Vec<NextStep> {
    let has = |code: &str| d.reasons.iter().any(|r| r.code == code);
    let loaded = facts
        .loaded_version()
        .map(|v| v.to_string())
        .unwrap_or_default();
    if has("gsp-firmware-failed") {
        let mut steps = repair_advice::firmware_steps(facts, &loaded);
        steps.push(NextStep {
            summary: "then start the GPU again: reboot (a module reload also works when nothing holds the GPU)".into(),
            command: "sudo reboot".into(),
        });
        return steps;
    }
    if has("adapter-init-failed") && d.verdict != Verdict::DriverNotLoaded {
        let gpu = facts
            .kernel_log
            .as_ref()
            .and_then(|l| l.adapter_failures_this_boot().last())
            .and_then(|f| f.gpu.clone());
        let mut steps = vec![NextStep {
            summary: "collect NVIDIA's bug report (GPU state, PCIe, power, kernel log) for the hardware vendor".into(),
            command: "sudo nvidia-bug-report.sh".into(),
        }];
        if let Some(gpu) = gpu {
            steps.push(NextStep {
                summary: format!("check the GPU's PCIe link (LnkSta against LnkCap) and that it is seen at {gpu}"),
                command: format!("sudo lspci -vvv -s {gpu}"),
            });
        }
        steps.push(NextStep {
            summary: "check the GPU's power cables and seating, then restart the host (if the GPU still fails, a cold \
                      power cycle through the BMC: a warm reboot may not reset it)"
                .into(),
            command: "sudo reboot".into(),
        });
        return steps;
    }
    match &facts.host_kind {
        HostKind::Container { engine } => repair_advice::container_steps(facts, engine),
        _ if facts.nvml_library.is_none() && facts.loaded_version().is_some() => {
            repair_advice::user_space_steps(facts)
        }
        _ => repair_advice::module_steps(facts, want, kernel),
    }
}

/// An `nvfix upgrade` that stopped part-way: say so, and make finishing it the first step (it reloads what is not
/// loaded and holds the new version, which a bare reload would not).
fn note_pending_upgrade(facts: &HostFacts, d: &mut Diagnosis) {
    let Some(p) = &facts.pending_upgrade else {
        return;
    };
    let phase = serde_json::to_value(p.phase)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    d.reasons.push(Reason {
        code: "upgrade-unfinished",
        message: format!(
            "an nvfix upgrade from {} to {} stopped at phase {phase}: `sudo nvfix upgrade --resume` finishes it \
             (install, reload, verify, hold again)",
            p.from_version, p.to_version
        ),
        evidence: vec![Evidence::file(crate::model::upgrade::JOURNAL_PATH)],
    });
    d.next_steps.insert(
        0,
        NextStep {
            summary: format!("finish the interrupted upgrade to {}", p.to_version),
            command: "sudo nvfix upgrade --resume".into(),
        },
    );
}

fn next_steps(facts: &HostFacts, d: &Diagnosis) -> Vec<NextStep> {
    let want = facts
        .nvml_library
        .as_ref()
        .map(|l| l.version.to_string())
        .unwrap_or_default();
    let kernel = facts
        .kernel_release
        .clone()
        .unwrap_or_else(|| "$(uname -r)".into());
    let mut steps = Vec::new();
    match d.action {
        Action::None => {}
        Action::Reload => steps.push(NextStep {
            summary: if d.verdict == Verdict::DriverNotLoaded {
                "load the installed modules".into()
            } else {
                "reload the kernel modules without a reboot (stops the GPU's holders first, asks before each step)".into()
            },
            command: "sudo nvfix reload".into(),
        }),
        Action::Reboot => steps.push(NextStep {
            summary: format!("reboot into kernel {} (its module matches the library)", d.matching_kernels.join(", ")),
            command: "sudo nvfix reboot".into(),
        }),
        Action::Repair if !d.preflight.is_empty() => {
            let mut seen = std::collections::BTreeSet::new();
            for f in d.preflight.iter().filter(|f| seen.insert(f.fix.clone())) {
                steps.push(NextStep {
                    summary: format!("so that {} loads ({})", f.module, f.code),
                    command: f.fix.clone(),
                });
            }
            steps.push(NextStep {
                summary: "then check again (nothing was touched: the old driver still runs)".into(),
                command: "sudo nvfix diagnose".into(),
            });
        }
        Action::Repair => {
            steps.extend(repair_steps(facts, d, &want, &kernel));
            steps.push(NextStep { summary: "then check again".into(), command: "sudo nvfix diagnose".into() });
        }
        Action::External => steps.push(NextStep {
            summary: "the GPU Operator's driver container owns the driver: restart its driver pod instead".into(),
            command: "kubectl -n gpu-operator delete pod -l app=nvidia-driver-daemonset --field-selector spec.nodeName=$(hostname)".into(),
        }),
    }
    if let (Some(fm), true) = (
        &facts.fabric_manager,
        d.reasons.iter().any(|r| r.code == "fabric-manager-version"),
    ) {
        let name = &fm.package.name;
        let step = NextStep {
            summary: format!(
                "install fabric manager {want}, the driver's version (`apt-cache madison {name}` lists the versions)"
            ),
            command: format!("sudo apt-get install {name}={want}-<revision>"),
        };
        // Before a reload or reboot, so fabric manager can start once the new driver is in.
        if matches!(d.action, Action::Reload | Action::Reboot) {
            steps.insert(0, step);
        } else {
            steps.push(step);
        }
    }
    if d.reasons.iter().any(|r| r.code == "recurrence-risk") {
        steps.push(NextStep {
            summary: "hold the driver packages so the next unattended upgrade cannot do this again"
                .into(),
            command: "sudo nvfix hold".into(),
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::apt_history::ChangedBy;
    use crate::model::driver_version::{LoadedDriver, ModuleFlavor};
    use crate::model::modules::{LoadedModule, ModuleState};

    fn v(s: &str) -> DriverVersion {
        s.parse().unwrap()
    }

    fn module(kernel: &str, name: &str, version: &str) -> ModuleFile {
        ModuleFile {
            name: name.into(),
            kernel: kernel.into(),
            path: format!("/lib/modules/{kernel}/updates/dkms/{name}.ko"),
            version: Some(v(version)),
            flavor: Some(ModuleFlavor::Proprietary),
            not_read: false,
        }
    }

    /// The incident: 580.65.06 loaded, 580.95.05 library and module on disk.
    fn incident() -> HostFacts {
        HostFacts {
            kernel_release: Some("6.8.0-85-generic".into()),
            loaded_driver: Some(LoadedDriver {
                version: v("580.65.06"),
                flavor: ModuleFlavor::Proprietary,
                arch: Some("x86_64".into()),
                build: None,
                compiler: None,
            }),
            loaded_modules: vec![LoadedModule {
                name: "nvidia".into(),
                size: 1,
                refcount: 0,
                used_by: vec![],
                state: ModuleState::Live,
                taint: None,
                version: Some(v("580.65.06")),
            }],
            nvml_library: Some(LibraryFile {
                path: "/usr/lib/libnvidia-ml.so.580.95.05".into(),
                version: v("580.95.05"),
                link: None,
            }),
            module_files: vec![module("6.8.0-85-generic", "nvidia", "580.95.05")],
            ..Default::default()
        }
    }

    fn codes(d: &Diagnosis) -> Vec<&'static str> {
        d.reasons.iter().map(|r| r.code).collect()
    }

    #[test]
    fn mismatch_with_matching_module_on_disk_reloads() {
        let d = diagnose(&incident());
        assert_eq!(
            (d.verdict, d.action),
            (Verdict::VersionMismatch, Action::Reload)
        );
        assert!(codes(&d).contains(&"module-on-disk-matches"));
        assert_eq!(d.next_steps[0].command, "sudo nvfix reload");
    }

    /// What the pre-flight would read on the incident host: nvidia.ko for the running kernel, unsigned.
    fn preflight_inputs(sig_enforce: bool) -> crate::model::preflight::PreflightInputs {
        use crate::model::module_signature::SignatureState;
        use crate::model::preflight::*;
        let k = "6.8.0-85-generic";
        PreflightInputs {
            kernel: k.into(),
            modules_dep: format!("/lib/modules/{k}/modules.dep"),
            modules_dep_error: None,
            running_vermagic: None,
            policy: KernelModulePolicy {
                sig_enforce: Some(sig_enforce),
                ..Default::default()
            },
            modules: vec![ResolvedModule {
                name: "nvidia".into(),
                requested_as: None,
                alias_file: None,
                path: Some(format!("/lib/modules/{k}/updates/dkms/nvidia.ko")),
                depmod_would_pick: None,
                deps: vec![],
                read_error: None,
                version: Some("580.95.05".into()),
                vermagic: Some(format!("{k} SMP preempt mod_unload ")),
                modversions: false,
                signature: Some(SignatureState::Unsigned),
                firmware: vec![],
                modprobe: ModprobeView::Agrees,
            }],
        }
    }

    #[test]
    fn a_new_driver_the_kernel_would_refuse_makes_the_reload_a_repair() {
        let mut f = incident();
        f.preflight = Some(preflight_inputs(false));
        let d = diagnose(&f);
        assert_eq!(d.action, Action::Reload);
        assert!(d.preflight.is_empty());

        f.preflight = Some(preflight_inputs(true));
        let d = diagnose(&f);
        assert_eq!(d.action, Action::Repair);
        assert_eq!(d.preflight.len(), 1);
        let r = d
            .reasons
            .iter()
            .find(|r| r.code == "preflight-signature")
            .unwrap();
        assert!(r
            .message
            .starts_with("the new driver would not load: nvidia is not signed"));
        assert_eq!(
            r.evidence[0].file,
            "/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko"
        );
        let on_disk = d
            .reasons
            .iter()
            .find(|r| r.code == "module-on-disk-matches")
            .unwrap();
        assert!(
            on_disk.message.contains("the kernel would refuse it"),
            "{}",
            on_disk.message
        );
        assert!(d.next_steps[0].command.contains("mokutil --import"));
        assert!(d
            .next_steps
            .iter()
            .all(|s| !s.command.contains("nvfix reload") && !s.command.contains("nvfix reboot")));
    }

    #[test]
    fn a_stack_module_of_the_old_version_blocks_reload() {
        let mut f = incident();
        f.module_files
            .push(module("6.8.0-85-generic", "nvidia_uvm", "580.65.06"));
        let d = diagnose(&f);
        assert_eq!(d.action, Action::Repair);
        let differs = d
            .reasons
            .iter()
            .find(|r| r.code == "module-on-disk-differs")
            .unwrap();
        assert!(
            differs.message.contains("nvidia_uvm"),
            "{}",
            differs.message
        );
    }

    #[test]
    fn only_another_kernel_matches_means_reboot() {
        let mut f = incident();
        f.module_files = vec![
            module("6.8.0-85-generic", "nvidia", "580.65.06"),
            module("6.8.0-87-generic", "nvidia", "580.95.05"),
        ];
        let d = diagnose(&f);
        assert_eq!(d.action, Action::Reboot);
        assert_eq!(d.matching_kernels, vec!["6.8.0-87-generic".to_string()]);
    }

    #[test]
    fn nothing_matching_means_repair_with_dkms_hint() {
        let mut f = incident();
        f.module_files = vec![module("6.8.0-85-generic", "nvidia", "580.65.06")];
        f.dkms = vec![crate::model::dkms::DkmsEntry {
            module: "nvidia".into(),
            version: "580.95.05".into(),
            kernel: None,
            arch: None,
            state: "added".into(),
        }];
        let d = diagnose(&f);
        assert_eq!(d.action, Action::Repair);
        assert_eq!(
            d.next_steps[0].command,
            "sudo dkms install nvidia/580.95.05 -k 6.8.0-85-generic"
        );
    }

    #[test]
    fn matching_versions_are_healthy_unless_nvml_disagrees() {
        let mut f = incident();
        f.loaded_driver.as_mut().unwrap().version = v("580.95.05");
        assert_eq!(diagnose(&f).verdict, Verdict::Healthy);
        f.nvml = Some(NvmlProbe::Error {
            code: Some(18),
            name: "LIB_RM_VERSION_MISMATCH".into(),
            message: "Driver/library version mismatch".into(),
            library: "libnvidia-ml.so.1".into(),
        });
        let d = diagnose(&f);
        assert_eq!(d.verdict, Verdict::VersionMismatch);
        assert!(codes(&d).contains(&"nvml-version-mismatch"));
    }

    #[test]
    fn healthy_but_next_boot_differs_is_reported() {
        let mut f = incident();
        f.loaded_driver.as_mut().unwrap().version = v("580.95.05");
        f.module_files = vec![module("6.8.0-85-generic", "nvidia", "580.105.08")];
        let d = diagnose(&f);
        assert_eq!(d.verdict, Verdict::Healthy);
        assert!(codes(&d).contains(&"next-boot-differs"));
    }

    #[test]
    fn driver_container_hands_over() {
        let mut f = incident();
        f.driver_container = true;
        let d = diagnose(&f);
        assert_eq!(d.action, Action::External);
        assert!(codes(&d).contains(&"driver-container"));
    }

    #[test]
    fn nothing_at_all_is_no_driver() {
        let d = diagnose(&HostFacts::default());
        assert_eq!((d.verdict, d.action), (Verdict::NoDriver, Action::None));
    }

    #[test]
    fn loaded_without_library_needs_repair() {
        let mut f = incident();
        f.nvml_library = None;
        let d = diagnose(&f);
        assert_eq!((d.verdict, d.action), (Verdict::Degraded, Action::Repair));
    }

    #[test]
    fn upgrade_prefers_the_library_package_from_the_loaded_version() {
        let change = |pkg: &str, from: &str, to: &str, at: &str, by: Option<&str>| PackageChange {
            package: pkg.into(),
            arch: None,
            kind: ChangeKind::Upgrade,
            from: Some(from.into()),
            to: Some(to.into()),
            at: at.into(),
            by: ChangedBy {
                commandline: by.map(Into::into),
                requested_by: None,
                unattended: false,
            },
            evidence: Evidence::file("/var/log/apt/history.log"),
        };
        let mut f = incident();
        f.package_changes = vec![
            change(
                "libnvidia-compute-580",
                "580.65.06-0ubuntu1",
                "580.95.05-0ubuntu1",
                "2025-10-22 06:25:10",
                None,
            ),
            change(
                "libnvidia-compute-580",
                "580.65.06-0ubuntu1",
                "580.95.05-0ubuntu1",
                "2025-10-22 06:25:01",
                Some("apt upgrade"),
            ),
            change(
                "nvidia-utils-580",
                "580.65.06-0ubuntu1",
                "580.95.05-0ubuntu1",
                "2025-10-22 06:25:30",
                Some("apt upgrade"),
            ),
            change(
                "libnvidia-compute-580",
                "570.1.1-0ubuntu1",
                "580.95.05-0ubuntu1",
                "2025-10-23 06:25:01",
                Some("apt upgrade"),
            ),
        ];
        let d = diagnose(&f);
        let u = d.upgrade.unwrap();
        assert_eq!(
            (u.package.as_str(), u.at.as_str()),
            ("libnvidia-compute-580", "2025-10-22 06:25:01")
        );
    }

    fn with_log(mut f: HostFacts, text: &str) -> HostFacts {
        f.kernel_log = Some(crate::model::kernel_log::parse_kernel_log(text));
        f.kernel_log_source = Some("/var/log/kern.log".into());
        f
    }

    const GSP_LINES: &str = "[    6.120004] NVRM RmInitAdapter: Cannot initialize GSP firmware RM\n\
                             [    6.120311] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x63:0x56:1689)\n";

    #[test]
    fn an_adapter_init_failure_with_matching_versions_is_not_healthy() {
        let mut f = incident();
        f.loaded_driver.as_mut().unwrap().version = v("580.95.05");
        f.host_kind = HostKind::Apt;
        let d = diagnose(&with_log(f.clone(), GSP_LINES));
        assert_eq!((d.verdict, d.action), (Verdict::Degraded, Action::Repair));
        assert!(codes(&d).contains(&"gsp-firmware-failed"));
        assert_eq!(
            d.next_steps[0].command,
            "sudo apt-get install --reinstall nvidia-firmware-580-580.95.05"
        );
        assert!(d.repair_cause().unwrap().contains("GSP firmware"));

        let d = diagnose(&with_log(
            f.clone(),
            "[    6.1] NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x63:0x56:1689)\n",
        ));
        assert!(codes(&d).contains(&"adapter-init-failed"));
        assert_eq!(d.next_steps[0].command, "sudo nvidia-bug-report.sh");

        let earlier_boot = format!(
            "{GSP_LINES}[    0.000000] Linux version 6.8.0-85-generic (buildd@x) #85-Ubuntu\n"
        );
        assert_eq!(
            diagnose(&with_log(f, &earlier_boot)).verdict,
            Verdict::Healthy
        );
    }

    #[test]
    fn in_a_container_a_reload_becomes_a_user_space_repair() {
        let mut f = incident();
        f.host_kind = HostKind::Container {
            engine: "docker".into(),
        };
        let d = diagnose(&f);
        assert_eq!(
            (d.verdict, d.action),
            (Verdict::VersionMismatch, Action::Repair)
        );
        assert!(codes(&d).contains(&"in-container"));
        assert!(!codes(&d).contains(&"module-on-disk-matches"));
        assert!(d.installed_module.is_none());
        assert!(d
            .next_steps
            .iter()
            .all(|s| !s.command.contains("nvfix reload")));
    }

    #[test]
    fn a_jetson_without_nvml_is_judged_by_nvidia_l4t_core() {
        let mut f = incident();
        f.loaded_driver.as_mut().unwrap().version = v("35.4.1");
        f.nvml_library = None;
        f.host_kind = HostKind::Jetson {
            release: Some("R35.4.1".into()),
        };
        f.l4t_core_version = Some("35.4.1-20230801124926".into());
        let d = diagnose(&f);
        assert_eq!((d.verdict, d.action), (Verdict::Healthy, Action::None));
        assert!(!codes(&d).contains(&"library-missing"));
        f.l4t_core_version = Some("35.5.0-20240219203809".into());
        let d = diagnose(&f);
        assert_eq!(
            (d.verdict, d.action),
            (Verdict::VersionMismatch, Action::Repair)
        );
        assert!(codes(&d).contains(&"l4t-packages-differ"));
    }
}
