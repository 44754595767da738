//! Gathers [`HostFacts`] from a host root: reads each source once and turns read/parse failures into warnings.

use super::HostRoot;
use crate::model::facts::HostFacts;
use std::path::PathBuf;

/// What to gather beyond the files.
#[derive(Debug, Clone, Default)]
pub struct GatherOptions {
    /// The NVML library to probe; None → NVML not checked.
    pub nvml_lib: Option<PathBuf>,
    /// Scan processes for GPU holders.
    pub holders: bool,
}

pub fn gather(root: &HostRoot, options: &GatherOptions) -> HostFacts {
    let _ = options;
    HostFacts {
        root: root.path().display().to_string(),
        ..Default::default()
    }
}

/// Host paths of DRM nodes driven by nvidia-drm: `/sys/class/drm/<node>/device/driver` leads to `…/nvidia`
/// (the PCI driver) and the node's `device/drm` lists it; card*/renderD* nodes become `/dev/dri/<node>`.
pub fn nvidia_drm_nodes(root: &HostRoot) -> Vec<String> {
    let Ok(names) = root.read_dir_names("/sys/class/drm") else {
        return Vec::new();
    };
    names
        .into_iter()
        .filter(|n| (n.starts_with("card") || n.starts_with("renderD")) && !n.contains('-'))
        .filter(|n| {
            let driver = root.resolve_host(&format!("/sys/class/drm/{n}/device/driver"));
            driver.rsplit('/').next() == Some("nvidia")
        })
        .map(|n| format!("/dev/dri/{n}"))
        .collect()
}
