//! Who holds the GPU: the holder record and the pure classification rules (devices, libraries, services, containers).

use serde::Serialize;

/// A GPU service nvfix knows by name, so it can be stopped the right way and restarted after a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KnownService {
    Persistenced,
    FabricManager,
    Dcgm,
    DcgmExporter,
    MpsControl,
    MpsServer,
    DisplayServer,
    DisplayManager,
}

impl KnownService {
    /// The systemd unit that runs it on common distributions, when there is one.
    pub fn unit(self) -> Option<&'static str> {
        match self {
            KnownService::Persistenced => Some("nvidia-persistenced.service"),
            KnownService::FabricManager => Some("nvidia-fabricmanager.service"),
            KnownService::Dcgm => Some("nvidia-dcgm.service"),
            KnownService::DcgmExporter => Some("dcgm-exporter.service"),
            KnownService::MpsControl | KnownService::MpsServer => None,
            KnownService::DisplayServer | KnownService::DisplayManager => {
                Some("display-manager.service")
            }
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            KnownService::Persistenced => "nvidia-persistenced",
            KnownService::FabricManager => "fabric manager",
            KnownService::Dcgm => "DCGM host engine",
            KnownService::DcgmExporter => "DCGM exporter",
            KnownService::MpsControl => "CUDA MPS control daemon",
            KnownService::MpsServer => "CUDA MPS server",
            KnownService::DisplayServer => "display server",
            KnownService::DisplayManager => "display manager",
        }
    }
}

/// The container a process runs in, from its cgroup path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerRef {
    /// `docker`, `containerd`, `cri-o`, `podman`, `kubernetes`.
    pub runtime: String,
    /// Full or short container id.
    pub id: String,
    /// Kubernetes pod UID, when the cgroup names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
}

/// A process that holds the GPU: has a device open or maps the driver's libraries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuHolder {
    pub pid: i32,
    pub user: String,
    pub uid: u32,
    /// The command line joined with spaces (or `[comm]` when empty).
    pub command: String,
    pub comm: String,
    /// Start time as seconds since boot (from /proc/<pid>/stat), when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_secs_after_boot: Option<u64>,
    /// Device paths held open (`/dev/nvidia0`, `/dev/nvidiactl`, `/dev/dri/renderD128`, …), sorted, unique.
    pub devices: Vec<String>,
    /// Driver libraries mapped (`/usr/lib/…/libcuda.so.580.65.06`, possibly with ` (deleted)`), sorted, unique.
    pub libraries: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<KnownService>,
}

impl GpuHolder {
    /// Maps a library that was replaced on disk (the old user-space driver, still in memory).
    pub fn maps_deleted_library(&self) -> bool {
        self.libraries.iter().any(|l| l.ends_with(" (deleted)"))
    }
}

/// Is this path (an fd link target) one of NVIDIA's device nodes: `/dev/nvidiactl`, `/dev/nvidiaN`, `/dev/nvidia-uvm`,
/// `/dev/nvidia-uvm-tools`, `/dev/nvidia-modeset`, `/dev/nvidia-caps/*`, `/dev/nvidia-nvswitchN`, …?
pub fn is_nvidia_device(path: &str) -> bool {
    let _ = path;
    false
}

/// Is this a path in a `/proc/<pid>/maps` line one of the driver's user-space libraries (libcuda, libnvidia-ml, other
/// `libnvidia-*.so.<ver>`), including ` (deleted)` maps of a replaced file?
pub fn is_driver_library(path: &str) -> bool {
    let _ = path;
    false
}

/// Labels a process as a known GPU service from its comm and exe/argv[0] base name.
pub fn classify_service(comm: &str, exe_name: &str) -> Option<KnownService> {
    let _ = (comm, exe_name);
    None
}

/// Finds the container from `/proc/<pid>/cgroup` text (v1 and v2; docker, containerd/cri, cri-o, podman, kubepods).
pub fn container_from_cgroup(text: &str) -> Option<ContainerRef> {
    let _ = text;
    None
}
