//! Loads NVML through nvml-wrapper from a configurable path and reports what it says (never required for a verdict).

use crate::model::facts::NvmlProbe;
use std::path::Path;

/// Initialises NVML from `lib_path` and reads driver version, CUDA driver version and device count.
/// Never call this while nvfix has the modules out: as root, NVML loads the driver itself.
pub fn probe(lib_path: &Path) -> NvmlProbe {
    NvmlProbe::NotChecked {
        reason: format!("NVML probe of {} not implemented", lib_path.display()),
    }
}
