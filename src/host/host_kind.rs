//! Reads what tells the host's kind (os-release, container and image markers, Jetson's release file, which package
//! databases exist), all under the host root; the model's `host_kind::classify` decides.

use super::HostRoot;
use crate::model::host_kind::{HostKindInputs, PackageDb};

/// The marker files and databases, read once. Absent or unreadable files count as absent.
pub fn read_inputs(root: &HostRoot) -> HostKindInputs {
    let text = |path: &str| root.read_to_string(path).ok();
    let dbs = [
        ("/var/lib/dpkg/status", PackageDb::Dpkg),
        ("/var/lib/rpm", PackageDb::Rpm),
        ("/usr/lib/sysimage/rpm", PackageDb::Rpm),
        ("/var/lib/pacman/local", PackageDb::Pacman),
    ];
    let mut package_dbs = Vec::new();
    for (path, db) in dbs {
        if root.exists(path) && !package_dbs.contains(&db) {
            package_dbs.push(db);
        }
    }
    HostKindInputs {
        os_release: text("/etc/os-release").or_else(|| text("/usr/lib/os-release")),
        ostree_booted: root.exists("/run/ostree-booted"),
        dockerenv: root.exists("/.dockerenv"),
        containerenv: root.exists("/run/.containerenv"),
        init_cgroup: text("/proc/1/cgroup"),
        nv_tegra_release: text("/etc/nv_tegra_release"),
        package_dbs,
    }
}

/// akmods (Fedora, RHEL with RPM Fusion) rebuilds kmods for new kernels; its presence changes the repair advice.
pub fn has_akmods(root: &HostRoot) -> bool {
    ["/usr/sbin/akmods", "/usr/bin/akmods"]
        .iter()
        .any(|p| root.exists(p))
}

/// The version folders under `/lib/firmware/nvidia/` (`580.95.05`, …): where the GSP firmware of each driver lives.
pub fn firmware_versions(root: &HostRoot) -> Vec<String> {
    let mut names = root
        .read_dir_names("/lib/firmware/nvidia")
        .unwrap_or_default();
    names.retain(|n| n.starts_with(|c: char| c.is_ascii_digit()));
    names.sort();
    names
}
