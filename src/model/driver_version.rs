//! Parser for `/proc/driver/nvidia/version`: which kernel module is loaded, its version and flavor.

use super::excerpt::excerpt;
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
///
/// The version is the first token after "Module" (skipping `for <arch>`) that starts with a digit; the flavor is
/// open when the line says "Open Kernel Module". A second line `GCC version:  …` becomes `compiler`.
pub fn parse_proc_driver_version(text: &str) -> Result<LoadedDriver, ParseError> {
    const WHAT: &str = "/proc/driver/nvidia/version";
    if text.trim().is_empty() {
        return Err(ParseError::new(WHAT, 0, "empty file"));
    }
    let Some((index, line)) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("Kernel Module"))
    else {
        return Err(ParseError::new(
            WHAT,
            1,
            "no \"Kernel Module\" line (truncated or not an NVRM version file)",
        ));
    };
    let line_no = index + 1;
    let module_at = line.find("Kernel Module").unwrap_or(0);
    let before = &line[..module_at];
    let after = &line[module_at + "Kernel Module".len()..];

    let mut flavor = ModuleFlavor::Proprietary;
    let mut arch = None;
    // Older wording names the arch before "Kernel Module" (`NVIDIA UNIX x86_64 Kernel Module`).
    match before.split_whitespace().last() {
        Some("Open") => flavor = ModuleFlavor::Open,
        Some(word) if !matches!(word, "UNIX" | "NVIDIA" | "version:") => {
            arch = Some(word.to_string())
        }
        _ => {}
    }

    let mut rest = after.trim_start();
    let mut version = None;
    let mut expect_arch = false;
    while let Some(token) = rest.split_whitespace().next() {
        let token_end = rest.find(token).unwrap_or(0) + token.len();
        rest = rest[token_end..].trim_start();
        if expect_arch {
            arch = Some(token.to_string());
            expect_arch = false;
        } else if token == "for" {
            expect_arch = true;
        } else if token.starts_with(|c: char| c.is_ascii_digit()) {
            version = Some(token);
            break;
        }
    }
    let Some(version_text) = version else {
        return Err(ParseError::new(
            WHAT,
            line_no,
            "no version after \"Kernel Module\" (truncated?)",
        ));
    };
    let version: DriverVersion = version_text.parse().map_err(|_| {
        ParseError::new(
            WHAT,
            line_no,
            format!("{:?} is not a driver version", excerpt(version_text)),
        )
    })?;
    let build = Some(rest.trim())
        .filter(|b| !b.is_empty())
        .map(str::to_string);
    let compiler = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("GCC version:"))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    Ok(LoadedDriver {
        version,
        flavor,
        arch,
        build,
        compiler,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROPRIETARY: &str = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  520.56.06  Thu Oct  6 21:38:55 UTC 2022\nGCC version:  gcc version 9.4.0 (Ubuntu 9.4.0-1ubuntu1~20.04.1) \n";
    const OPEN: &str = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.142  Release Build  (dvs-builder@U22-I3-AF03-09-1)  Tue Mar  3 19:14:46 UTC 2026\nGCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04) \n";
    const JETSON: &str = "NVRM version: NVIDIA UNIX Kernel Module for aarch64  34.1.1  Release Build  (buildbrain@mobile-u64-5273-d7000)  Wed Mar 16 17:23:24 PDT 2022\n";

    #[test]
    fn proprietary_x86_64() {
        let d = parse_proc_driver_version(PROPRIETARY).unwrap();
        assert_eq!(d.version.as_str(), "520.56.06");
        assert_eq!(d.flavor, ModuleFlavor::Proprietary);
        assert_eq!(d.arch.as_deref(), Some("x86_64"));
        assert_eq!(d.build.as_deref(), Some("Thu Oct  6 21:38:55 UTC 2022"));
        assert_eq!(
            d.compiler.as_deref(),
            Some("gcc version 9.4.0 (Ubuntu 9.4.0-1ubuntu1~20.04.1)")
        );
    }

    #[test]
    fn open_module_with_two_part_version() {
        let d = parse_proc_driver_version(OPEN).unwrap();
        assert_eq!(d.version.as_str(), "580.142");
        assert_eq!(d.version.parts(), &[580, 142]);
        assert_eq!(d.flavor, ModuleFlavor::Open);
        assert_eq!(d.arch.as_deref(), Some("x86_64"));
        assert_eq!(
            d.build.as_deref(),
            Some("Release Build  (dvs-builder@U22-I3-AF03-09-1)  Tue Mar  3 19:14:46 UTC 2026")
        );
        assert!(d.compiler.unwrap().starts_with("gcc version 13.3.0"));
    }

    #[test]
    fn jetson_aarch64_without_gcc_line() {
        let d = parse_proc_driver_version(JETSON).unwrap();
        assert_eq!(d.version.as_str(), "34.1.1");
        assert_eq!(d.flavor, ModuleFlavor::Proprietary);
        assert_eq!(d.arch.as_deref(), Some("aarch64"));
        assert_eq!(d.compiler, None);
    }

    #[test]
    fn line_without_the_nvrm_prefix_and_without_build_text() {
        let d = parse_proc_driver_version("NVIDIA UNIX Kernel Module for aarch64  34.1.1").unwrap();
        assert_eq!(d.version.as_str(), "34.1.1");
        assert_eq!(d.build, None);
    }

    #[test]
    fn empty_file_is_an_error() {
        let e = parse_proc_driver_version("  \n").unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }

    #[test]
    fn truncated_line_is_a_one_line_error() {
        for text in [
            "NVRM version: NVIDIA UNIX x86_64 Kern",
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  ",
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64",
        ] {
            let e = parse_proc_driver_version(text).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
            assert!(e.starts_with("/proc/driver/nvidia/version"), "{e}");
        }
    }

    #[test]
    fn bad_version_token_is_an_error() {
        let e =
            parse_proc_driver_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  5x0.1\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("not a driver version"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn binary_junk_is_an_error_not_a_panic() {
        let junk =
            String::from_utf8_lossy(&[0xff, 0x00, 0x13, 0x80, b'\n', 0xfe, 0x7f]).into_owned();
        assert!(parse_proc_driver_version(&junk).is_err());
        let junk = "Kernel Module\u{fffd}\u{0}  \u{fffd}9";
        assert!(parse_proc_driver_version(junk).is_err());
    }

    #[test]
    fn flavor_from_license() {
        assert_eq!(
            ModuleFlavor::from_license("NVIDIA"),
            Some(ModuleFlavor::Proprietary)
        );
        assert_eq!(
            ModuleFlavor::from_license("Dual MIT/GPL"),
            Some(ModuleFlavor::Open)
        );
        assert_eq!(ModuleFlavor::from_license("Dual BSD/GPL"), None);
    }
}
