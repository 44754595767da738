//! Parser for `/proc/driver/nvidia/version`: which kernel module is loaded, its version and flavor.

use super::{DriverVersion, ParseError};
use serde::Serialize;

/// Proprietary (license `NVIDIA`) or open (license `Dual MIT/GPL`) kernel module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleFlavor {
    Proprietary,
    Open,
}

impl ModuleFlavor {
    /// From a module's `license=` string.
    pub fn from_license(license: &str) -> Option<ModuleFlavor> {
        match license.trim() {
            "NVIDIA" => Some(ModuleFlavor::Proprietary),
            "Dual MIT/GPL" | "GPL" | "Dual MIT/GPL v2" => Some(ModuleFlavor::Open),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleFlavor::Proprietary => "proprietary",
            ModuleFlavor::Open => "open",
        }
    }
}

/// The loaded kernel driver as `/proc/driver/nvidia/version` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadedDriver {
    pub version: DriverVersion,
    pub flavor: ModuleFlavor,
    /// `x86_64`, `aarch64`, … when the line names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The rest of the NVRM line after the version (build info, date), trimmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// The `GCC version:` line's text, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compiler: Option<String>,
}

/// Parses the whole file. Real samples:
/// `NVRM version: NVIDIA UNIX x86_64 Kernel Module  520.56.06  Thu Oct  6 21:38:55 UTC 2022`
/// `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.142  Release Build  (dvs-builder@…)  Tue Mar  3 …`
/// `NVRM version: NVIDIA UNIX Kernel Module for aarch64  34.1.1  Release Build  …`
pub fn parse_proc_driver_version(text: &str) -> Result<LoadedDriver, ParseError> {
    let _ = text;
    Err(ParseError::new(
        "/proc/driver/nvidia/version",
        1,
        "not implemented",
    ))
}
