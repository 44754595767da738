//! Parsers for loaded-module state: `/proc/modules` lines and the small `/sys/module/<name>/*` files.

use super::ParseError;
use serde::Serialize;

/// A module's life-cycle state (`Live`, `Loading`, `Unloading` in /proc/modules; `live`, `coming`, `going` in sysfs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleState {
    Live,
    Coming,
    Going,
}

/// One line of `/proc/modules`, e.g. `nvidia 104071168 3 nvidia_uvm,nvidia_modeset, Live 0x0000000000000000 (POE)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadedModule {
    pub name: String,
    pub size: u64,
    /// Reference count. Each open file adds 2 on the real driver (cdev and fops owners): it does not count processes.
    pub refcount: i64,
    /// Modules that use this one (from the used-by list, or sysfs `holders/`).
    pub used_by: Vec<String>,
    pub state: ModuleState,
    /// Taint flags without parentheses (`POE`), when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taint: Option<String>,
    /// `/sys/module/<name>/version`, when the module exports one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<super::DriverVersion>,
}

/// Parses all of `/proc/modules`. A malformed line is an error naming its line number.
pub fn parse_proc_modules(text: &str) -> Result<Vec<LoadedModule>, ParseError> {
    let _ = text;
    Err(ParseError::new("/proc/modules", 0, "not implemented"))
}

/// Parses `/sys/module/<name>/initstate` (`live`, `coming`, `going`).
pub fn parse_initstate(text: &str) -> Result<ModuleState, ParseError> {
    let _ = text;
    Err(ParseError::new("initstate", 0, "not implemented"))
}

/// Parses a sysfs integer file such as `refcnt`.
pub fn parse_refcnt(text: &str) -> Result<i64, ParseError> {
    let _ = text;
    Err(ParseError::new("refcnt", 0, "not implemented"))
}

/// Parses a boolean module parameter (`Y`/`N`/`1`/`0`), e.g. nvidia_drm's `modeset` and `fbdev`.
pub fn parse_bool_param(text: &str) -> Option<bool> {
    let _ = text;
    None
}

/// Is this one of NVIDIA's modules or a known holder of `nvidia` (nvidia*, gdrdrv, …)?
pub fn is_nvidia_related(name: &str) -> bool {
    name == "nvidia" || name.starts_with("nvidia_") || name == "gdrdrv"
}
