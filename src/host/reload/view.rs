//! The executor's view of the host, re-read between steps: loaded modules (refcounts, holders, state), the
//! processes holding the GPU, and the facts verification judges. The real one re-gathers under the host root.

use crate::host::gather::{gather, GatherOptions};
use crate::host::nvml_gate::{LockHeld, NvmlLock};
use crate::host::HostRoot;
use crate::model::facts::HostFacts;
use crate::model::holders::GpuHolder;
use crate::model::modules::LoadedModule;
use std::path::PathBuf;

/// The seam tests replace with a simulated host whose modules change as recorded modprobe commands run.
pub trait HostView {
    /// NVIDIA's loaded modules and every module that uses one of them, as the kernel shows them now.
    fn modules(&self) -> Vec<LoadedModule>;
    /// Processes holding the GPU now (device nodes open or driver libraries mapped).
    fn holders(&self) -> Vec<GpuHolder>;
    /// Everything verification needs, NVML included. Only called while the modules are loaded: NVIDIA's library
    /// loads the driver by itself when run as root with no module loaded.
    fn verify_facts(&self) -> HostFacts;
    /// Is this program installed (`nvidia-modprobe`)?
    fn has_program(&self, name: &str) -> bool;
    /// Is systemd the init system (`/run/systemd/system` exists, as sd_booted() checks)? Without it `systemctl`
    /// is missing or cannot operate (containers, non-systemd distributions, the QEMU lab), so services are stopped
    /// by signalling their processes. Defaults to true for views that simulate a systemd host.
    fn runs_systemd(&self) -> bool {
        true
    }
}

/// The real view: gathers from the host root, under the run lock the executor's caller holds.
#[derive(Debug, Clone)]
pub struct GatherView {
    pub root: HostRoot,
    pub nvml_lib: Option<PathBuf>,
    /// Proof of the run lock: verification calls NVML under it.
    pub lock: LockHeld,
}

impl HostView for GatherView {
    // The re-scan polls these for seconds: read only what they need, not the whole host.
    fn modules(&self) -> Vec<LoadedModule> {
        crate::host::gather::loaded_modules(&self.root)
    }
    fn holders(&self) -> Vec<GpuHolder> {
        crate::host::gather::device_holders(&self.root)
    }
    fn verify_facts(&self) -> HostFacts {
        gather(
            &self.root,
            &GatherOptions {
                nvml_lib: self.nvml_lib.clone(),
                nvml_lock: NvmlLock::Held(self.lock),
                holders: false,
                // Containers still running the old user-space driver are named for their owners to restart.
                containers: true,
                all_kernels: false,
                read_only: false,
            },
        )
    }
    fn has_program(&self, name: &str) -> bool {
        ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
            .iter()
            .any(|d| self.root.exists(&format!("{d}/{name}")))
    }
    fn runs_systemd(&self) -> bool {
        self.root.is_dir("/run/systemd/system")
    }
}

/// Number of GPUs the loaded driver shows (`/proc/driver/nvidia/gpus/*`), the baseline when NVML cannot tell.
pub fn gpu_count(root: &HostRoot) -> Option<u32> {
    root.read_dir_names("/proc/driver/nvidia/gpus")
        .ok()
        .map(|n| n.len() as u32)
        .filter(|n| *n > 0)
}
