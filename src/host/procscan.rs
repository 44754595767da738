//! Scans processes (through procfs, under the host root) for GPU holders: open NVIDIA devices and mapped driver libraries.

use super::{HostError, HostRoot};
use crate::model::holders::GpuHolder;

/// What to look for besides `/dev/nvidia*`.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Host paths of DRM nodes driven by nvidia_drm (`/dev/dri/card1`, `/dev/dri/renderD128`), from sysfs.
    pub nvidia_drm_nodes: Vec<String>,
    /// Also read `/proc/<pid>/maps` for driver libraries (slower; `ps` does, `reload`'s re-scan too).
    pub include_library_maps: bool,
}

/// Every process holding the GPU, sorted by pid.
pub fn scan_holders(root: &HostRoot, options: &ScanOptions) -> Result<Vec<GpuHolder>, HostError> {
    let _ = (root, options);
    Ok(Vec::new())
}
