//! Who holds the GPU: the holder record and the pure classification rules (devices, libraries, services, containers).

use super::systemd_unit::{place_from_cgroup, CgroupPlace};
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

/// The unit names GPU services are packaged under (NVIDIA's packages, distributions, the DCGM exporter's docs).
const PACKAGED_UNITS: &[(&str, KnownService)] = &[
    ("nvidia-persistenced.service", KnownService::Persistenced),
    ("nvidia-fabricmanager.service", KnownService::FabricManager),
    ("nvidia-fabric-manager.service", KnownService::FabricManager),
    ("nvidia-dcgm.service", KnownService::Dcgm),
    ("dcgm.service", KnownService::Dcgm),
    ("nv-hostengine.service", KnownService::Dcgm),
    ("dcgm-exporter.service", KnownService::DcgmExporter),
    ("nvidia-dcgm-exporter.service", KnownService::DcgmExporter),
    ("nvidia-mps.service", KnownService::MpsControl),
    ("nvidia-cuda-mps-control.service", KnownService::MpsControl),
    ("display-manager.service", KnownService::DisplayManager),
    ("gdm.service", KnownService::DisplayManager),
    ("gdm3.service", KnownService::DisplayManager),
    ("sddm.service", KnownService::DisplayManager),
    ("lightdm.service", KnownService::DisplayManager),
];

impl KnownService {
    /// The GPU service a unit runs, by the names it is packaged under.
    pub fn from_unit(unit: &str) -> Option<KnownService> {
        PACKAGED_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, service)| *service)
    }

    /// The unit that runs it on common distributions, when there is one: only for a holder whose cgroup names no
    /// unit (cgroup unreadable, or no systemd there, where the executor signals it instead).
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

impl ContainerRef {
    /// The id as runtimes print it: the first 12 characters (the whole id when it is shorter, or not ASCII there).
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
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
    /// The system service unit it runs in, as its cgroup names it (`dcgm.service`), checked against systemd's
    /// unit-name rules: the unit a reload stops and starts again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// It runs in a user's session or user manager: a user process, whatever its name.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub user_session: bool,
}

impl GpuHolder {
    /// Runs as a service of the host (a system unit, or a GPU service by name where no cgroup says otherwise),
    /// not as a user's job or in a container: it stops with the host rather than being cut off.
    pub fn runs_as_service(&self) -> bool {
        self.container.is_none() && (self.unit.is_some() || self.service.is_some())
    }

    /// Maps a library that was replaced on disk (the old user-space driver, still in memory).
    pub fn maps_deleted_library(&self) -> bool {
        self.libraries.iter().any(|l| l.ends_with(" (deleted)"))
    }
}

/// The kernel appends this to a link or map whose file was unlinked (replaced by a package upgrade, or a device node
/// deleted and recreated); the path before it is still the one to classify.
const DELETED_SUFFIX: &str = " (deleted)";

fn strip_deleted(path: &str) -> &str {
    path.trim_end()
        .strip_suffix(DELETED_SUFFIX)
        .unwrap_or(path.trim_end())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Is this path (an fd link target) one of NVIDIA's device nodes: `/dev/nvidiactl`, `/dev/nvidiaN`, `/dev/nvidia-uvm`,
/// `/dev/nvidia-uvm-tools`, `/dev/nvidia-modeset`, `/dev/nvidia-caps/*`, `/dev/nvidia-nvswitchN`, …?
pub fn is_nvidia_device(path: &str) -> bool {
    let Some(node) = strip_deleted(path).strip_prefix("/dev/") else {
        return false;
    };
    if let Some(cap) = node
        .strip_prefix("nvidia-caps/")
        .or_else(|| node.strip_prefix("nvidia-caps-imex-channels/"))
    {
        return !cap.is_empty() && !cap.contains('/');
    }
    if let Some(minor) = node.strip_prefix("nvidia") {
        if is_digits(minor) {
            return true;
        }
    }
    if let Some(n) = node.strip_prefix("nvidia-nvswitch") {
        if is_digits(n) {
            return true;
        }
    }
    if let Some(vgpu) = node.strip_prefix("nvidia-vgpu") {
        return !vgpu.contains('/');
    }
    matches!(
        node,
        "nvidiactl"
            | "nvidia-uvm"
            | "nvidia-uvm-tools"
            | "nvidia-modeset"
            | "nvidia-nvswitchctl"
            | "nvidia-nvlink"
    )
}

/// Base names (up to `.so`) of the driver's own libraries that do not start with `libnvidia-`.
const DRIVER_LIBRARY_STEMS: &[&str] = &[
    "libcuda",
    "libcudadebugger",
    "libnvcuvid",
    "libnvoptix",
    "libGLX_nvidia",
    "libEGL_nvidia",
    "libGLESv2_nvidia",
    "libGLESv1_CM_nvidia",
    "libvdpau_nvidia",
    "libglxserver_nvidia",
    "nvidia_drv",
];

/// `libnvidia-*` libraries that are not built from the driver (container stack, egl platform libraries).
const NOT_DRIVER_LIBNVIDIA: &[&str] = &[
    "libnvidia-container",
    "libnvidia-egl-wayland",
    "libnvidia-egl-gbm",
    "libnvidia-egl-xcb",
    "libnvidia-egl-xlib",
];

/// Is this a path in a `/proc/<pid>/maps` line one of the driver's user-space libraries (libcuda, libnvidia-ml, other
/// `libnvidia-*.so.<ver>`), including ` (deleted)` maps of a replaced file?
///
/// The CUDA runtime (`libcudart.so`) belongs to the toolkit, not the driver, and does not pin the driver's version.
pub fn is_driver_library(path: &str) -> bool {
    let path = strip_deleted(path);
    let base = path.rsplit('/').next().unwrap_or(path);
    // `libfoo.so`, `libfoo.so.1`, `libfoo.so.580.65.06`: the stem is everything before `.so`.
    let Some(so) = base.find(".so") else {
        return false;
    };
    let after = &base[so + 3..];
    if !(after.is_empty() || after.starts_with('.')) {
        return false;
    }
    let stem = &base[..so];
    if let Some(rest) = stem.strip_prefix("libnvidia-") {
        return !rest.is_empty() && !NOT_DRIVER_LIBNVIDIA.iter().any(|n| stem.starts_with(n));
    }
    DRIVER_LIBRARY_STEMS.contains(&stem)
}

/// The kernel keeps only the first 15 bytes of a process name in `comm`.
const COMM_MAX: usize = 15;

/// Known GPU services by program name.
const SERVICE_NAMES: &[(&str, KnownService)] = &[
    ("nvidia-persistenced", KnownService::Persistenced),
    ("nv-fabricmanager", KnownService::FabricManager),
    ("nv-hostengine", KnownService::Dcgm),
    ("dcgm-exporter", KnownService::DcgmExporter),
    ("nvidia-cuda-mps-control", KnownService::MpsControl),
    ("nvidia-cuda-mps-server", KnownService::MpsServer),
    ("Xorg", KnownService::DisplayServer),
    ("X", KnownService::DisplayServer),
    ("Xwayland", KnownService::DisplayServer),
    ("gnome-shell", KnownService::DisplayServer),
    ("kwin_wayland", KnownService::DisplayServer),
    ("kwin_x11", KnownService::DisplayServer),
    ("gdm", KnownService::DisplayManager),
    ("gdm3", KnownService::DisplayManager),
    ("sddm", KnownService::DisplayManager),
    ("lightdm", KnownService::DisplayManager),
];

fn truncate_to_comm(name: &str) -> &str {
    // Service names are ASCII; a name cut inside a character cannot be a comm anyway, so it stays whole.
    name.get(..COMM_MAX).unwrap_or(name)
}

/// Labels a process as a known GPU service from its comm and exe/argv[0] base name.
///
/// The exe name decides when it is known (it is not truncated); otherwise the comm is compared with each name cut to
/// 15 bytes. `nvidia-cuda-mps` (comm of both MPS programs) then reads as the control daemon: stopping that daemon
/// (`echo quit | nvidia-cuda-mps-control`) is also how its servers are stopped.
pub fn classify_service(comm: &str, exe_name: &str) -> Option<KnownService> {
    let exe = strip_deleted(exe_name);
    let exe = exe.rsplit('/').next().unwrap_or(exe);
    if let Some((_, service)) = SERVICE_NAMES.iter().find(|(name, _)| *name == exe) {
        return Some(*service);
    }
    let comm = comm.trim();
    SERVICE_NAMES
        .iter()
        .find(|(name, _)| !comm.is_empty() && truncate_to_comm(name) == comm)
        .map(|(_, service)| *service)
}

/// What a holder is, from its names and its cgroup: the fields of [`GpuHolder`] that say how it is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HolderKind {
    pub service: Option<KnownService>,
    pub container: Option<ContainerRef>,
    pub unit: Option<String>,
    pub user_session: bool,
}

/// Classifies a holder by its cgroup first, its names second.
///
/// - In a container: the container, and the service its name says (the runtime restarts it, not systemd).
/// - In a system service unit: that unit, and the GPU service its packaged unit name or program name says.
/// - In a user session: a user process. Only what is stopped without a system unit of its own keeps its label: a CUDA
///   MPS daemon (quit through its control program) and a display server (the display blocker, and the display
///   manager that owns the session). A user's `nv-hostengine` never makes nvfix stop a system unit.
/// - Nowhere systemd says (no systemd, an unreadable cgroup): today's rule, the program name.
pub fn classify_holder(comm: &str, exe_name: &str, cgroup: Option<&str>) -> HolderKind {
    let by_name = classify_service(comm, exe_name);
    let cgroup = cgroup.unwrap_or("");
    if let Some(container) = container_from_cgroup(cgroup) {
        return HolderKind {
            service: by_name,
            container: Some(container),
            ..HolderKind::default()
        };
    }
    match place_from_cgroup(cgroup) {
        CgroupPlace::SystemService(unit) => HolderKind {
            service: KnownService::from_unit(&unit).or(by_name),
            unit: Some(unit),
            ..HolderKind::default()
        },
        CgroupPlace::UserSession => HolderKind {
            service: by_name.filter(|s| {
                matches!(
                    s,
                    KnownService::MpsControl
                        | KnownService::MpsServer
                        | KnownService::DisplayServer
                )
            }),
            user_session: true,
            ..HolderKind::default()
        },
        CgroupPlace::Other => HolderKind {
            service: by_name,
            ..HolderKind::default()
        },
    }
}

fn is_hex_id(s: &str, min_len: usize) -> bool {
    s.len() >= min_len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A pod UID from a cgroup segment: `kubepods-burstable-pod<uid_with_underscores>.slice` (systemd driver) or
/// `pod<uid>` (cgroupfs driver); systemd's underscores become the API's dashes.
fn pod_uid_from_segment(segment: &str) -> Option<String> {
    let segment = segment.strip_suffix(".slice").unwrap_or(segment);
    let uid = if segment.starts_with("kubepods") {
        segment.rsplit_once("-pod")?.1
    } else {
        segment.strip_prefix("pod")?
    };
    let uid = uid.replace('_', "-");
    let looks_like_uid = uid.len() >= 32 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    looks_like_uid.then_some(uid)
}

/// A container scope segment `<prefix><id>[.scope]` → (runtime, id). Conmon's own scopes (`crio-conmon-…`,
/// `libpod-conmon-…`) are the monitor, not the container, and are left out.
fn container_from_segment(segment: &str) -> Option<(&'static str, String)> {
    const PREFIXES: &[(&str, &str)] = &[
        ("docker-", "docker"),
        ("cri-containerd-", "containerd"),
        ("nerdctl-", "containerd"),
        ("crio-", "cri-o"),
        ("libpod-", "podman"),
    ];
    let bare = segment.strip_suffix(".scope").unwrap_or(segment);
    PREFIXES.iter().find_map(|(prefix, runtime)| {
        let id = bare.strip_prefix(prefix)?;
        is_hex_id(id, 12).then(|| (*runtime, id.to_string()))
    })
}

/// Reads one cgroup path (the part after `hierarchy:controllers:`).
fn container_from_cgroup_path(path: &str) -> Option<ContainerRef> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let in_kubepods = segments.iter().any(|s| s.starts_with("kubepods"));
    let pod_uid = if in_kubepods {
        segments.iter().find_map(|s| pod_uid_from_segment(s))
    } else {
        None
    };
    for (i, segment) in segments.iter().enumerate() {
        if let Some((runtime, id)) = container_from_segment(segment) {
            return Some(ContainerRef {
                runtime: runtime.to_string(),
                id,
                pod_uid,
            });
        }
        // cgroup v1 cgroupfs layouts: `/docker/<id>` and `/kubepods/<qos>/pod<uid>/<id>`.
        let next_is_id = segments.get(i + 1).is_some_and(|n| is_hex_id(n, 32));
        if *segment == "docker" && next_is_id {
            return Some(ContainerRef {
                runtime: "docker".to_string(),
                id: segments[i + 1].to_string(),
                pod_uid,
            });
        }
        if pod_uid_from_segment(segment).is_some() && in_kubepods && next_is_id {
            // The runtime is not named in this layout; the pod is.
            return Some(ContainerRef {
                runtime: "kubernetes".to_string(),
                id: segments[i + 1].to_string(),
                pod_uid,
            });
        }
    }
    None
}

/// Finds the container from `/proc/<pid>/cgroup` text (v1 and v2; docker, containerd/cri, cri-o, podman, kubepods).
///
/// Lines are `hierarchy-ID:controllers:path`; the first line whose path names a container wins. The id is kept whole.
pub fn container_from_cgroup(text: &str) -> Option<ContainerRef> {
    text.lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .find_map(|path| container_from_cgroup_path(path.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_container_ids_never_split_a_character() {
        let c = |id: &str| ContainerRef {
            runtime: "docker".into(),
            id: id.into(),
            pod_uid: None,
        };
        assert_eq!(c("3f2a9c1b7d4e5f60718293a4").short_id(), "3f2a9c1b7d4e");
        assert_eq!(c("abc").short_id(), "abc");
        // A garbled cgroup can name anything: byte 12 inside a character keeps the whole id rather than panic.
        assert_eq!(c("12345678901é2").short_id(), "12345678901é2");
    }

    #[test]
    fn nvidia_device_nodes_are_recognised() {
        for path in [
            "/dev/nvidiactl",
            "/dev/nvidia0",
            "/dev/nvidia7",
            "/dev/nvidia15",
            "/dev/nvidia-uvm",
            "/dev/nvidia-uvm-tools",
            "/dev/nvidia-modeset",
            "/dev/nvidia-caps/nvidia-cap1",
            "/dev/nvidia-caps/nvidia-cap2",
            "/dev/nvidia-caps-imex-channels/channel0",
            "/dev/nvidia-nvswitchctl",
            "/dev/nvidia-nvswitch0",
            "/dev/nvidia-nvswitch11",
            "/dev/nvidia-nvlink",
            "/dev/nvidia-vgpu1",
            "/dev/nvidia0 (deleted)",
            "/dev/nvidiactl (deleted)",
        ] {
            assert!(is_nvidia_device(path), "{path} is an NVIDIA device");
        }
        for path in [
            "/dev/nvidia",
            "/dev/nvidiafoo",
            "/dev/nvidia-",
            "/dev/nvidia0x",
            "/dev/nvidia-uvmx",
            "/dev/nvidia-caps/",
            "/dev/nvidia-caps",
            "/dev/dri/renderD128",
            "/dev/dri/card0",
            "/dev/null",
            "nvidiactl",
            "/tmp/dev/nvidiactl",
            "/dev/nvidia-nvswitch",
            "socket:[12345]",
            "",
        ] {
            assert!(!is_nvidia_device(path), "{path} is not an NVIDIA device");
        }
    }

    #[test]
    fn driver_libraries_are_recognised_including_deleted_maps() {
        for path in [
            "/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06",
            "/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06 (deleted)",
            "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
            "/usr/lib64/libcuda.so",
            "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.65.06 (deleted)",
            "/usr/lib/x86_64-linux-gnu/nvidia/current/libnvidia-ml.so.1",
            "/usr/lib64/libnvidia-ml.so.1",
            "/usr/lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.580.65.06",
            "/usr/lib/x86_64-linux-gnu/libnvidia-gpucomp.so.580.65.06",
            "/usr/lib/x86_64-linux-gnu/libnvidia-nvvm.so.4",
            "/usr/lib/x86_64-linux-gnu/libnvcuvid.so.580.65.06",
            "/usr/lib/x86_64-linux-gnu/libcudadebugger.so.580.65.06",
            "/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0",
            "/usr/lib/x86_64-linux-gnu/libEGL_nvidia.so.580.65.06",
            "/usr/lib/xorg/modules/drivers/nvidia_drv.so",
            "/run/nvidia/driver/usr/lib64/libcuda.so.570.124.06",
        ] {
            assert!(is_driver_library(path), "{path} is a driver library");
        }
        for path in [
            "/usr/local/cuda-13.0/lib64/libcudart.so.13.0.48",
            "/usr/local/cuda/lib64/libcudart.so",
            "/usr/lib/x86_64-linux-gnu/libnvidia-container.so.1.17.8",
            "/usr/lib/x86_64-linux-gnu/libnvidia-container-go.so.1",
            "/usr/lib/x86_64-linux-gnu/libnvidia-egl-wayland.so.1.1.13",
            "/usr/local/cuda/lib64/libcublas.so.13",
            "/usr/lib/x86_64-linux-gnu/libnvidia-",
            "/usr/lib/x86_64-linux-gnu/libnvidia-.so.1",
            "/usr/lib/x86_64-linux-gnu/libcuda.sox",
            "/usr/lib/x86_64-linux-gnu/libcudax.so.1",
            "/usr/share/doc/libcuda.txt",
            "[heap]",
            "",
        ] {
            assert!(!is_driver_library(path), "{path} is not a driver library");
        }
    }

    #[test]
    fn services_are_classified_from_truncated_comm_or_exe() {
        assert_eq!(
            classify_service("nvidia-persiste", ""),
            Some(KnownService::Persistenced)
        );
        assert_eq!(
            classify_service("nvidia-persiste", "nvidia-persistenced"),
            Some(KnownService::Persistenced)
        );
        assert_eq!(
            classify_service("nv-fabricmanage", ""),
            Some(KnownService::FabricManager)
        );
        assert_eq!(
            classify_service("nv-hostengine", "nv-hostengine"),
            Some(KnownService::Dcgm)
        );
        assert_eq!(
            classify_service("dcgm-exporter", ""),
            Some(KnownService::DcgmExporter)
        );
        assert_eq!(
            classify_service("nvidia-cuda-mps", "nvidia-cuda-mps-server"),
            Some(KnownService::MpsServer)
        );
        assert_eq!(
            classify_service("nvidia-cuda-mps", "nvidia-cuda-mps-control"),
            Some(KnownService::MpsControl)
        );
        assert_eq!(
            classify_service("nvidia-cuda-mps", ""),
            Some(KnownService::MpsControl)
        );
        assert_eq!(
            classify_service("whatever", "/usr/bin/nvidia-cuda-mps-server (deleted)"),
            Some(KnownService::MpsServer)
        );
        for comm in ["Xorg", "X", "Xwayland", "gnome-shell", "kwin_wayland"] {
            assert_eq!(
                classify_service(comm, ""),
                Some(KnownService::DisplayServer),
                "{comm}"
            );
        }
        for comm in ["gdm", "gdm3", "sddm", "lightdm"] {
            assert_eq!(
                classify_service(comm, comm),
                Some(KnownService::DisplayManager),
                "{comm}"
            );
        }
        assert_eq!(classify_service("python3", "python3.12"), None);
        assert_eq!(classify_service("nvidia-smi", "nvidia-smi"), None);
        assert_eq!(classify_service("nvidia-persistenced-x", ""), None);
        assert_eq!(
            classify_service("xorg", ""),
            None,
            "names are case-sensitive"
        );
        assert_eq!(classify_service("", ""), None);
    }

    const DOCKER_ID: &str = "4f2d1e8a9b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e";

    #[test]
    fn gpu_services_are_known_under_every_packaged_unit_name() {
        for (unit, service) in [
            ("dcgm.service", KnownService::Dcgm),
            ("nvidia-dcgm.service", KnownService::Dcgm),
            ("nvidia-persistenced.service", KnownService::Persistenced),
            ("nvidia-fabricmanager.service", KnownService::FabricManager),
            ("dcgm-exporter.service", KnownService::DcgmExporter),
            ("gdm.service", KnownService::DisplayManager),
        ] {
            assert_eq!(KnownService::from_unit(unit), Some(service), "{unit}");
        }
        assert_eq!(KnownService::from_unit("dcgm"), None);
        assert_eq!(KnownService::from_unit("my-dcgm.service"), None);
    }

    #[test]
    fn a_service_is_stopped_as_the_unit_its_cgroup_names() {
        // DCGM packaged as dcgm.service: that unit, not the fixed nvidia-dcgm.service.
        let k = classify_holder(
            "nv-hostengine",
            "nv-hostengine",
            Some("0::/system.slice/dcgm.service\n"),
        );
        assert_eq!(k.service, Some(KnownService::Dcgm));
        assert_eq!(k.unit.as_deref(), Some("dcgm.service"));
        assert!(!k.user_session);
        // A packaged unit name is recognised whatever the program is called.
        let k = classify_holder(
            "hostengine-wra",
            "wrapper.sh",
            Some("0::/system.slice/nvidia-dcgm.service\n"),
        );
        assert_eq!(k.service, Some(KnownService::Dcgm));
        assert_eq!(k.unit.as_deref(), Some("nvidia-dcgm.service"));
        // A known program in a unit of another name: labelled by its name, stopped as its unit.
        let k = classify_holder(
            "nv-hostengine",
            "nv-hostengine",
            Some("0::/system.slice/monitoring.service\n"),
        );
        assert_eq!(k.service, Some(KnownService::Dcgm));
        assert_eq!(k.unit.as_deref(), Some("monitoring.service"));
        // An unknown program in a system unit: no label, but its unit.
        let k = classify_holder(
            "python3",
            "python3.12",
            Some("0::/system.slice/inference.service\n"),
        );
        assert_eq!(
            (k.service, k.unit.as_deref()),
            (None, Some("inference.service"))
        );
    }

    #[test]
    fn a_user_session_makes_a_user_process_whatever_its_name() {
        let session = Some("0::/user.slice/user-1000.slice/session-3.scope\n");
        let k = classify_holder("nv-hostengine", "nv-hostengine", session);
        assert_eq!(
            k,
            HolderKind {
                user_session: true,
                ..HolderKind::default()
            }
        );
        let k = classify_holder(
            "nvidia-persiste",
            "nvidia-persistenced",
            Some("0::/user.slice/user-1000.slice/user@1000.service/app.slice/nvidia-persistenced.service\n"),
        );
        assert_eq!((k.service, k.unit, k.user_session), (None, None, true));
        // A user's own MPS daemon is still quit through its control program; a session's X server is the display.
        let k = classify_holder("nvidia-cuda-mps", "nvidia-cuda-mps-control", session);
        assert_eq!(k.service, Some(KnownService::MpsControl));
        assert_eq!(
            classify_holder("Xorg", "Xorg", session).service,
            Some(KnownService::DisplayServer)
        );
    }

    #[test]
    fn containers_and_hosts_without_systemd_keep_the_name_rules() {
        let k = classify_holder(
            "nv-hostengine",
            "nv-hostengine",
            Some(&format!("0::/system.slice/docker-{DOCKER_ID}.scope\n")),
        );
        assert_eq!(k.service, Some(KnownService::Dcgm));
        assert!(k.container.is_some());
        assert_eq!(k.unit, None);
        for cgroup in [
            None,
            Some("0::/\n"),
            Some("0::/init.scope\n"),
            Some("garbage"),
        ] {
            let k = classify_holder("nv-hostengine", "nv-hostengine", cgroup);
            assert_eq!(
                k,
                HolderKind {
                    service: Some(KnownService::Dcgm),
                    ..HolderKind::default()
                },
                "{cgroup:?}"
            );
        }
        // An invalid unit name is not trusted: the name rule applies, nothing from the cgroup reaches a command.
        let k = classify_holder(
            "nv-hostengine",
            "",
            Some("0::/system.slice/x;reboot.service\n"),
        );
        assert_eq!((k.service, k.unit), (Some(KnownService::Dcgm), None));
    }

    #[test]
    fn docker_containers_from_v2_and_v1() {
        let v2 = format!("0::/system.slice/docker-{DOCKER_ID}.scope\n");
        let c = container_from_cgroup(&v2).expect("docker v2");
        assert_eq!(c.runtime, "docker");
        assert_eq!(c.id, DOCKER_ID);
        assert_eq!(c.pod_uid, None);
        let v1 = format!(
            "12:pids:/docker/{DOCKER_ID}\n11:memory:/docker/{DOCKER_ID}\n1:name=systemd:/docker/{DOCKER_ID}\n0::/system.slice/containerd.service\n"
        );
        let c = container_from_cgroup(&v1).expect("docker v1");
        assert_eq!((c.runtime.as_str(), c.id.as_str()), ("docker", DOCKER_ID));
    }

    #[test]
    fn kubernetes_containers_carry_the_pod_uid_with_dashes() {
        let v2 = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice/cri-containerd-{DOCKER_ID}.scope\n"
        );
        let c = container_from_cgroup(&v2).expect("containerd v2");
        assert_eq!(c.runtime, "containerd");
        assert_eq!(c.id, DOCKER_ID);
        assert_eq!(
            c.pod_uid.as_deref(),
            Some("0a1b2c3d-4e5f-6789-abcd-ef0123456789")
        );

        let guaranteed = format!("0::/kubepods.slice/kubepods-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice/crio-{DOCKER_ID}.scope");
        let c = container_from_cgroup(&guaranteed).expect("cri-o v2");
        assert_eq!(c.runtime, "cri-o");
        assert_eq!(
            c.pod_uid.as_deref(),
            Some("0a1b2c3d-4e5f-6789-abcd-ef0123456789")
        );

        let v1 = format!(
            "11:devices:/kubepods/besteffort/pod0a1b2c3d-4e5f-6789-abcd-ef0123456789/{DOCKER_ID}\n"
        );
        let c = container_from_cgroup(&v1).expect("kubepods v1");
        assert_eq!(c.runtime, "kubernetes");
        assert_eq!(c.id, DOCKER_ID);
        assert_eq!(
            c.pod_uid.as_deref(),
            Some("0a1b2c3d-4e5f-6789-abcd-ef0123456789")
        );

        // A process in the pod's cgroup but no container's (pause setup) names no container.
        assert_eq!(container_from_cgroup("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice"), None);
    }

    #[test]
    fn podman_and_crio_scopes_skip_conmon() {
        let c = container_from_cgroup(&format!(
            "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{DOCKER_ID}.scope/container"
        ))
        .expect("podman");
        assert_eq!((c.runtime.as_str(), c.id.as_str()), ("podman", DOCKER_ID));
        assert_eq!(
            container_from_cgroup(&format!(
                "0::/machine.slice/libpod-conmon-{DOCKER_ID}.scope"
            )),
            None
        );
        assert_eq!(
            container_from_cgroup(&format!("0::/system.slice/crio-conmon-{DOCKER_ID}.scope")),
            None
        );
        let c = container_from_cgroup(&format!("0::/system.slice/crio-{DOCKER_ID}.scope"))
            .expect("cri-o");
        assert_eq!(c.runtime, "cri-o");
    }

    #[test]
    fn host_processes_and_garbage_have_no_container() {
        for text in [
            "0::/user.slice/user-1000.slice/session-3.scope",
            "0::/system.slice/nvidia-persistenced.service",
            "0::/system.slice/docker.service",
            "0::/init.scope",
            "12:pids:/docker/notahexid",
            "0::/system.slice/docker-xyz.scope",
            "garbage without colons",
            "\u{0}\u{1}\u{fffd}",
            "",
        ] {
            assert_eq!(container_from_cgroup(text), None, "{text:?}");
        }
    }

    #[test]
    fn deleted_library_map_is_noticed() {
        let holder = GpuHolder {
            pid: 4242,
            user: "alice".into(),
            uid: 1000,
            command: "python3 train.py".into(),
            comm: "python3".into(),
            started_secs_after_boot: Some(12),
            devices: vec!["/dev/nvidia0".into(), "/dev/nvidiactl".into()],
            libraries: vec!["/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06 (deleted)".into()],
            container: None,
            service: None,
            unit: None,
            user_session: true,
        };
        assert!(holder.maps_deleted_library());
        let fresh = GpuHolder {
            libraries: vec!["/usr/lib/x86_64-linux-gnu/libcuda.so.580.95.05".into()],
            ..holder
        };
        assert!(!fresh.maps_deleted_library());
    }
}
