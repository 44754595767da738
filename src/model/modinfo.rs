//! Reading a kernel module's `.modinfo` section from ELF bytes (no `modinfo` process).

use super::driver_version::ModuleFlavor;
use super::{DriverVersion, ParseError};
use serde::Serialize;

/// The `key=value` strings a module carries in `.modinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModInfo {
    pub name: Option<String>,
    pub version: Option<String>,
    pub license: Option<String>,
    pub vermagic: Option<String>,
    pub depends: Vec<String>,
    pub firmware: Vec<String>,
}

impl ModInfo {
    pub fn driver_version(&self) -> Option<DriverVersion> {
        self.version.as_deref().and_then(|v| v.parse().ok())
    }
    pub fn flavor(&self) -> Option<ModuleFlavor> {
        self.license.as_deref().and_then(ModuleFlavor::from_license)
    }
}

/// Parses the NUL-separated `key=value` strings of a `.modinfo` section.
pub fn parse_modinfo_section(bytes: &[u8]) -> ModInfo {
    let _ = bytes;
    ModInfo::default()
}

/// Finds `.modinfo` in an (uncompressed) ELF relocatable object and parses it.
pub fn modinfo_from_elf(bytes: &[u8]) -> Result<ModInfo, ParseError> {
    let _ = bytes;
    Err(ParseError::new("kernel module", 0, "not implemented"))
}
