//! Containers that still have another driver version's libraries mounted: started before the driver changed, they
//! keep the old user-space driver until restarted.
//!
//! nvidia-container-cli bind-mounts each driver library file (`libnvidia-ml.so.580.65.06`, `libcuda.so.580.65.06`)
//! into a GPU container at the path it has on the host. A bind mount pins the file it was made from, so when apt
//! replaces the library the container keeps the old one (its mount source then ends in `//deleted`). After a reload
//! to the new module, such a container's CUDA and NVML calls fail with the very mismatch nvfix just fixed, until
//! the container is restarted. A container that held the GPU during the reload was stopped by it; these are the
//! ones that did not, so only a restart by their owner cures them.

use super::facts::HostFacts;
use super::holders::ContainerRef;
use super::library::version_from_file_name;
use super::DriverVersion;
use serde::Serialize;

/// One driver library mounted into a mount namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverMount {
    /// Where it is mounted inside the container.
    pub mount_point: String,
    /// The version its file name carries.
    pub version: DriverVersion,
    /// The host's file was removed or replaced since it was mounted (the source ends in `//deleted`).
    pub deleted: bool,
}

/// A mount namespace other than the host's with driver libraries mounted, seen through one of its processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerMounts {
    /// A process in the namespace (the lowest pid seen).
    pub pid: i32,
    /// That process's container, from its cgroup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerRef>,
    pub mounts: Vec<DriverMount>,
}

impl ContainerMounts {
    /// The driver versions mounted that are not `loaded`, sorted and unique: empty when the container is current.
    pub fn stale_versions(&self, loaded: &DriverVersion) -> Vec<DriverVersion> {
        let mut versions: Vec<DriverVersion> = self
            .mounts
            .iter()
            .filter(|m| m.version != *loaded)
            .map(|m| m.version.clone())
            .collect();
        versions.sort();
        versions.dedup();
        versions
    }

    /// How to name it to an admin: `docker container 3f2a…` or `process 4242's mount namespace`.
    pub fn describe(&self) -> String {
        match &self.container {
            Some(c) => format!(
                "{} container {} (pid {})",
                c.runtime,
                c.short_id(),
                self.pid
            ),
            None => format!("the mount namespace of pid {}", self.pid),
        }
    }
}

/// A container started before the driver changed: it runs the old user-space driver until restarted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleContainer {
    #[serde(flatten)]
    pub container: ContainerMounts,
    /// The mounted driver versions that are not the loaded module's.
    pub stale_versions: Vec<DriverVersion>,
}

impl StaleContainer {
    /// The command that restarts it, where the runtime has one (Kubernetes restarts a pod by deleting it).
    pub fn restart_hint(&self) -> String {
        match &self.container.container {
            Some(c) => {
                let id = c.short_id();
                match c.runtime.as_str() {
                    "docker" => format!("docker restart {id}"),
                    "podman" => format!("podman restart {id}"),
                    _ => match &c.pod_uid {
                        Some(uid) => format!(
                            "kubectl delete pod of uid {uid} (kubectl get pods -A -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid | grep {uid})"
                        ),
                        None => format!("restart it through its runtime (crictl inspect {id})"),
                    },
                }
            }
            None => format!("restart the service or job of pid {}", self.container.pid),
        }
    }
}

/// The containers whose mounted driver libraries are not the loaded module's version; none when containers were not
/// looked at or no module is loaded.
pub fn stale_containers(facts: &HostFacts) -> Vec<StaleContainer> {
    let (Some(containers), Some(loaded)) = (&facts.container_mounts, facts.loaded_version()) else {
        return Vec::new();
    };
    containers
        .iter()
        .filter_map(|c| {
            let stale_versions = c.stale_versions(loaded);
            (!stale_versions.is_empty()).then(|| StaleContainer {
                container: c.clone(),
                stale_versions,
            })
        })
        .collect()
}

/// The driver libraries mounted according to `/proc/<pid>/mountinfo` text.
///
/// Lines are `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER_OPTIONS`, with spaces,
/// tabs, newlines and backslashes in paths written as octal escapes (`\040`). For a bind-mounted file ROOT is its
/// path in the source file system, ending in `//deleted` once the file was removed. Garbled lines are skipped.
pub fn driver_library_mounts(mountinfo: &str) -> Vec<DriverMount> {
    let mut mounts = Vec::new();
    for line in mountinfo.lines() {
        let mut fields = line.split_whitespace();
        let (Some(root), Some(mount_point)) = (fields.nth(3), fields.next()) else {
            continue;
        };
        let root = unescape(root);
        let mount_point = unescape(mount_point);
        let (root, deleted) = match root.strip_suffix("//deleted") {
            Some(r) => (r.to_string(), true),
            None => (root, false),
        };
        // The mount point keeps the name the file had when it was mounted; the root may be another name for it.
        let version = [&mount_point, &root].into_iter().find_map(|path| {
            let name = path.rsplit('/').next().unwrap_or("");
            ["libnvidia-ml", "libcuda"]
                .iter()
                .find_map(|stem| version_from_file_name(name, stem))
        });
        if let Some(version) = version {
            mounts.push(DriverMount {
                mount_point,
                version,
                deleted,
            });
        }
    }
    mounts
}

/// Undoes the kernel's octal escapes in mountinfo paths (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| b == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match octal {
            Some(value) => {
                out.push(value);
                i += 4;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> DriverVersion {
        s.parse().unwrap()
    }

    /// A GPU container's mountinfo as nvidia-container-cli leaves it (trimmed), after apt replaced the host's
    /// 580.65.06 libraries: their sources end in `//deleted`.
    const CONTAINER: &str = "\
1285 1180 0:151 / / rw,relatime master:520 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X
1290 1285 0:154 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
1310 1285 259:2 /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.65.06//deleted /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.65.06 ro,nosuid,nodev,relatime master:1 - ext4 /dev/nvme0n1p2 rw
1311 1285 259:2 /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06//deleted /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06 ro,nosuid,nodev,relatime master:1 - ext4 /dev/nvme0n1p2 rw
1312 1285 259:2 /usr/lib/x86_64-linux-gnu/libcudadebugger.so.580.65.06 /usr/lib/x86_64-linux-gnu/libcudadebugger.so.580.65.06 ro - ext4 /dev/nvme0n1p2 rw
1320 1290 0:5 /nvidia0 /dev/nvidia0 ro,nosuid,noexec master:2 - devtmpfs udev rw
1330 1285 0:22 /driver/nvidia /proc/driver/nvidia ro,nosuid,nodev,noexec - proc proc rw
";

    #[test]
    fn the_driver_libraries_of_a_container_are_found_with_their_versions() {
        let mounts = driver_library_mounts(CONTAINER);
        assert_eq!(
            mounts,
            vec![
                DriverMount {
                    mount_point: "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.65.06".into(),
                    version: v("580.65.06"),
                    deleted: true,
                },
                DriverMount {
                    mount_point: "/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06".into(),
                    version: v("580.65.06"),
                    deleted: true,
                },
            ]
        );
        let container = ContainerMounts {
            pid: 4242,
            container: Some(ContainerRef {
                runtime: "docker".into(),
                id: "3f2a9c1b7d4e5f60718293a4b5c6d7e8".into(),
                pod_uid: None,
            }),
            mounts,
        };
        assert_eq!(
            container.stale_versions(&v("580.95.05")),
            vec![v("580.65.06")]
        );
        assert!(container.stale_versions(&v("580.65.06")).is_empty());
        assert_eq!(
            container.describe(),
            "docker container 3f2a9c1b7d4e (pid 4242)"
        );
    }

    #[test]
    fn the_host_namespace_and_garbage_have_no_driver_mounts() {
        let host = "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n\
                    25 22 0:22 / /proc rw,nosuid shared:12 - proc proc rw\n";
        assert!(driver_library_mounts(host).is_empty());
        for junk in [
            "",
            "\0\0\u{1}",
            "1 2 3",
            "a b c /x/libnvidia-ml.so.1 /libnvidia-ml.so.1 rw",
            "\\\\\\0",
        ] {
            assert!(driver_library_mounts(junk).is_empty(), "{junk:?}");
        }
    }

    #[test]
    fn escaped_paths_are_read_back() {
        let line = "1 2 0:1 /opt/my\\040libs/libnvidia-ml.so.580.95.05 /opt/my\\040libs/libnvidia-ml.so.580.95.05 ro - ext4 /dev/x rw";
        let mounts = driver_library_mounts(line);
        assert_eq!(mounts.len(), 1);
        assert_eq!(
            mounts[0].mount_point,
            "/opt/my libs/libnvidia-ml.so.580.95.05"
        );
        assert_eq!(unescape("a\\134b\\011c\\9"), "a\\b\tc\\9");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }
}
