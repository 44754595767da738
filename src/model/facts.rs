//! Everything nvfix learned about a host, gathered by the host layer and judged by the verdict.

use super::apt_history::PackageChange;
use super::containers::ContainerMounts;
use super::dkms::DkmsEntry;
use super::dpkg::{InstalledPackage, UnattendedConfig};
use super::driver_version::{LoadedDriver, ModuleFlavor};
use super::holders::GpuHolder;
use super::host_kind::HostKind;
use super::kernel_log::KernelLogFacts;
use super::library::LibraryFile;
use super::modules::LoadedModule;
use super::preflight::PreflightInputs;
use super::{DriverVersion, Evidence};
use serde::Serialize;

/// A kernel module file found under `/lib/modules/<kernel>/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleFile {
    /// Canonical module name (`nvidia`, `nvidia_uvm`, …; Debian's `nvidia-current-uvm` maps to `nvidia_uvm`).
    pub name: String,
    pub kernel: String,
    /// Host path, e.g. `/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<DriverVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flavor: Option<ModuleFlavor>,
    /// The file's `.modinfo` was not read (so no version or flavor): another kernel's module, when the verdict did
    /// not need it (the running kernel's modules already decide; see `host::gather`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_read: bool,
}

/// The state of the NVML probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum NvmlProbe {
    Ok {
        driver_version: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        cuda_driver_version: Option<String>,
        device_count: u32,
        library: String,
    },
    Error {
        /// nvmlReturn_t code when NVML returned one (18 mismatch, 9 not loaded, …); absent when the library could not load.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<u32>,
        /// NVML's name for it (`LIB_RM_VERSION_MISMATCH`) or `LIBRARY_NOT_LOADABLE`.
        name: String,
        message: String,
        library: String,
    },
    NotChecked {
        reason: String,
    },
}

/// A non-fatal problem met while gathering: the file could not be read or parsed. Shown in the report as one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatherWarning {
    pub file: String,
    pub message: String,
}

/// Every fact about the host that the verdict looks at.
/// One MIG GPU instance, as `/proc/driver/nvidia/capabilities/gpu<N>/mig/gi<M>/` (with a `ci<K>/` folder per compute
/// instance) shows it: the driver creates those capability files with the instances and removes them with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigInstance {
    /// The GPU's minor number (`gpu0` → 0).
    pub gpu: u32,
    /// The GPU instance id (`gi2` → 2).
    pub gpu_instance: u32,
    pub compute_instances: usize,
}

/// The number in a capability folder name: `gpu3` with prefix `gpu` → 3; anything else → None.
pub fn indexed_name(name: &str, prefix: &str) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// NVIDIA fabric manager: it refuses to start unless its version equals the driver's, and without it an NVSwitch
/// system runs no CUDA (`cudaErrorSystemNotReady`, 802).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FabricManager {
    /// The installed package (`nvidia-fabricmanager-580`, `nvidia-fabricmanager`).
    pub package: InstalledPackage,
    /// Its unit is enabled (a `*.wants/nvidia-fabricmanager.service` link under `/etc/systemd/system`).
    pub enabled: bool,
}

impl FabricManager {
    /// The systemd unit fabric manager runs as.
    pub const UNIT: &'static str = "nvidia-fabricmanager.service";

    /// The driver version its package carries (`580.95.05-1` → 580.95.05).
    pub fn version(&self) -> Option<DriverVersion> {
        DriverVersion::parse_prefix(&self.package.version)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HostFacts {
    /// Host root nvfix looked at (`/` on a real host).
    pub root: String,
    /// Running kernel release from `/proc/sys/kernel/osrelease`.
    pub kernel_release: Option<String>,
    /// Boot id from `/proc/sys/kernel/random/boot_id`.
    pub boot_id: Option<String>,
    /// Boot time (seconds since the epoch) from `btime` in `/proc/stat`.
    pub boot_time: Option<u64>,
    /// From `/proc/driver/nvidia/version`.
    pub loaded_driver: Option<LoadedDriver>,
    pub loaded_driver_evidence: Option<Evidence>,
    /// From `/sys/module/nvidia/version`.
    pub sysfs_driver_version: Option<DriverVersion>,
    /// Loaded NVIDIA-related modules (and any module that holds one of them), with sysfs holders and versions merged in.
    pub loaded_modules: Vec<LoadedModule>,
    /// nvidia_drm parameters.
    pub drm_modeset: Option<bool>,
    pub drm_fbdev: Option<bool>,
    /// The libnvidia-ml the loader would pick (`libnvidia-ml.so.1` target) — the version NVML clients run.
    pub nvml_library: Option<LibraryFile>,
    /// All libnvidia-ml versioned files seen (several after a half-finished upgrade).
    pub nvml_libraries: Vec<LibraryFile>,
    pub cuda_library: Option<LibraryFile>,
    /// Installed NVIDIA driver packages (dpkg).
    pub driver_packages: Vec<InstalledPackage>,
    /// nvidia module files for every kernel under /lib/modules.
    pub module_files: Vec<ModuleFile>,
    pub dkms: Vec<DkmsEntry>,
    /// DKMS build logs left behind by a failed build (`/var/lib/dkms/nvidia/<version>/build/make.log`).
    pub dkms_build_logs: Vec<String>,
    /// Driver package changes from apt/dpkg/dnf logs, oldest first.
    pub package_changes: Vec<PackageChange>,
    pub unattended: Option<UnattendedConfig>,
    pub kernel_log: Option<KernelLogFacts>,
    pub kernel_log_source: Option<String>,
    pub holders: Vec<GpuHolder>,
    pub nvml: Option<NvmlProbe>,
    /// `/run/nvidia/driver` exists: the GPU Operator's driver container owns the driver.
    pub driver_container: bool,
    /// GPU containers' mounted driver libraries; None when not looked at (only verification looks).
    pub container_mounts: Option<Vec<ContainerMounts>>,
    /// MIG GPU instances that exist now, from the driver's capability files; a driver unload destroys them.
    pub mig_instances: Vec<MigInstance>,
    /// `nvidia-mig-manager.service` is enabled: it applies the MIG configuration when it starts.
    pub mig_manager_enabled: bool,
    /// NVIDIA fabric manager (NVSwitch systems), when its package is installed.
    pub fabric_manager: Option<FabricManager>,
    /// What the pre-flight read for the running kernel (will the modules a reload loads be accepted?); gathered
    /// only when the diagnosis is `reload`, None otherwise. A reload plan without it is blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<PreflightInputs>,
    /// Which package manager owns the driver, or why packages are not the fix (image, container, Jetson).
    pub host_kind: HostKind,
    /// os-release's `ID` (`ubuntu`, `debian`, `rocky`, …): package names differ within one package manager.
    pub os_id: Option<String>,
    /// `akmods` is installed (Fedora/RHEL hosts that build kmods at boot).
    pub has_akmods: bool,
    /// The versions under `/lib/firmware/nvidia/` (GSP firmware folders).
    pub firmware_versions: Vec<String>,
    /// Jetson: the installed `nvidia-l4t-core` version (`35.4.1-20230801124926`), from dpkg's status.
    pub l4t_core_version: Option<String>,
    pub warnings: Vec<GatherWarning>,
    /// An `nvfix upgrade` that has not finished (its journal), so diagnose says so and points at `--resume`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_upgrade: Option<PendingUpgrade>,
}

impl HostFacts {
    /// The module file named `name` for `kernel`, if any.
    pub fn module_file(&self, kernel: &str, name: &str) -> Option<&ModuleFile> {
        self.module_files
            .iter()
            .find(|m| m.kernel == kernel && m.name == name)
    }
    /// The loaded module named `name`, if any.
    pub fn loaded_module(&self, name: &str) -> Option<&LoadedModule> {
        self.loaded_modules.iter().find(|m| m.name == name)
    }
    /// Version of the loaded kernel driver: `/proc/driver/nvidia/version`, else sysfs.
    pub fn loaded_version(&self) -> Option<&DriverVersion> {
        self.loaded_driver
            .as_ref()
            .map(|d| &d.version)
            .or(self.sysfs_driver_version.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_folder_names_give_their_index() {
        assert_eq!(indexed_name("gpu0", "gpu"), Some(0));
        assert_eq!(indexed_name("gi14", "gi"), Some(14));
        for junk in ["gpu", "gpux", "gpu-1", "gpu1a", "ci0", "gpu99999999999"] {
            assert_eq!(indexed_name(junk, "gpu"), None, "{junk}");
        }
    }
}

/// The upgrade journal, as diagnose reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingUpgrade {
    pub from_version: String,
    pub to_version: String,
    pub phase: crate::model::upgrade::UpgradePhase,
}
