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
///
/// Format: `name size refcount used_by state address [(taint)]`. `used_by` is `-` or a comma-terminated list;
/// the kernel's `[permanent]` marker (a module without an exit function) is not a module and is left out.
/// Kernels built without module unloading print `-` for the refcount: it becomes -1 ("unknown"), so that a caller
/// testing `refcount == 0` never takes such a module for unused.
pub fn parse_proc_modules(text: &str) -> Result<Vec<LoadedModule>, ParseError> {
    let mut modules = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        modules.push(
            parse_proc_modules_line(line)
                .map_err(|message| ParseError::new("/proc/modules", index + 1, message))?,
        );
    }
    Ok(modules)
}

fn parse_proc_modules_line(line: &str) -> Result<LoadedModule, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 6 {
        return Err(format!(
            "expected at least 6 fields, found {}",
            fields.len()
        ));
    }
    let name = fields[0];
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err("module name has unexpected characters".into());
    }
    let size = fields[1]
        .parse::<u64>()
        .map_err(|_| format!("size of {name} is not a number"))?;
    let refcount = match fields[2] {
        "-" => -1,
        n => n
            .parse::<i64>()
            .map_err(|_| format!("refcount of {name} is not a number"))?,
    };
    let used_by = fields[3]
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty() && *u != "-" && *u != "[permanent]")
        .map(str::to_string)
        .collect();
    let state = match fields[4] {
        "Live" => ModuleState::Live,
        "Loading" => ModuleState::Coming,
        "Unloading" => ModuleState::Going,
        _ => return Err(format!("unknown state for {name}")),
    };
    let taint = fields
        .get(6)
        .map(|t| t.trim_start_matches('(').trim_end_matches(')'))
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Ok(LoadedModule {
        name: name.to_string(),
        size,
        refcount,
        used_by,
        state,
        taint,
        version: None,
    })
}

/// Parses `/sys/module/<name>/initstate` (`live`, `coming`, `going`).
pub fn parse_initstate(text: &str) -> Result<ModuleState, ParseError> {
    match text.trim() {
        "live" => Ok(ModuleState::Live),
        "coming" => Ok(ModuleState::Coming),
        "going" => Ok(ModuleState::Going),
        "" => Err(ParseError::new("initstate", 0, "empty file")),
        other => Err(ParseError::new(
            "initstate",
            0,
            format!("unknown state {:?}", short(other)),
        )),
    }
}

/// Parses a sysfs integer file such as `refcnt`.
pub fn parse_refcnt(text: &str) -> Result<i64, ParseError> {
    let t = text.trim();
    t.parse::<i64>()
        .map_err(|_| ParseError::new("refcnt", 0, format!("{:?} is not a number", short(t))))
}

/// Parses a boolean module parameter (`Y`/`N`/`1`/`0`), e.g. nvidia_drm's `modeset` and `fbdev`.
pub fn parse_bool_param(text: &str) -> Option<bool> {
    match text.trim() {
        "Y" | "y" | "1" => Some(true),
        "N" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Modules outside the `nvidia_*` family that take references on `nvidia`: GDRCopy's `gdrdrv` and Mellanox's
/// legacy `nv_peer_mem` (nvidia_peermem, nvidia_fs and nvidia_vgpu_vfio are matched by their prefix).
pub const OTHER_NVIDIA_HOLDERS: &[&str] = &["gdrdrv", "nv_peer_mem"];

/// Is this one of NVIDIA's modules or a known holder of `nvidia` (nvidia*, gdrdrv, …)?
/// Dashes count as underscores, as modprobe treats them.
pub fn is_nvidia_related(name: &str) -> bool {
    let name = name.replace('-', "_");
    name == "nvidia" || name.starts_with("nvidia_") || OTHER_NVIDIA_HOLDERS.contains(&name.as_str())
}

/// The first 40 characters of garbled input, for a one-line message.
fn short(text: &str) -> String {
    text.chars()
        .take(40)
        .collect::<String>()
        .escape_debug()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
nvidia_uvm 2076672 0 - Live 0x0000000000000000 (POE)
nvidia_drm 135168 4 - Live 0xffffffffc1a2b000 (POE)
nvidia_modeset 1638400 5 nvidia_drm, Live 0x0000000000000000 (POE)
nvidia 104071168 3 nvidia_uvm,nvidia_modeset, Live 0x0000000000000000 (POE)
video 77824 1 nvidia_modeset, Live 0x0000000000000000
ext4 1077248 1 - Live 0x0000000000000000
";

    #[test]
    fn parses_a_real_proc_modules() {
        let m = parse_proc_modules(SAMPLE).unwrap();
        assert_eq!(m.len(), 6);
        let nvidia = &m[3];
        assert_eq!(nvidia.name, "nvidia");
        assert_eq!(nvidia.size, 104071168);
        assert_eq!(nvidia.refcount, 3);
        assert_eq!(nvidia.used_by, vec!["nvidia_uvm", "nvidia_modeset"]);
        assert_eq!(nvidia.state, ModuleState::Live);
        assert_eq!(nvidia.taint.as_deref(), Some("POE"));
        assert_eq!(nvidia.version, None);
        assert!(m[0].used_by.is_empty());
        assert_eq!(m[2].used_by, vec!["nvidia_drm"]);
        assert_eq!(m[5].taint, None);
    }

    #[test]
    fn loading_and_unloading_map_to_coming_and_going() {
        let m = parse_proc_modules(
            "nvidia_drm 135168 0 - Loading 0x0 (POE)\nnvidia_uvm 2076672 0 - Unloading 0x0 (POE)\n",
        )
        .unwrap();
        assert_eq!(m[0].state, ModuleState::Coming);
        assert_eq!(m[1].state, ModuleState::Going);
    }

    #[test]
    fn kernel_without_module_unload_gives_unknown_refcount() {
        let m = parse_proc_modules("nvidia 104071168 - - Live 0x0000000000000000 (POE)\n").unwrap();
        assert_eq!(m[0].refcount, -1);
        assert!(m[0].used_by.is_empty());
    }

    #[test]
    fn permanent_marker_is_not_a_holder() {
        let m = parse_proc_modules("crc32c 16384 2 ext4,[permanent], Live 0x0\n").unwrap();
        assert_eq!(m[0].used_by, vec!["ext4"]);
    }

    #[test]
    fn malformed_line_names_its_line_number() {
        let e = parse_proc_modules("ext4 1077248 1 - Live 0x0\nnvidia 1040 3\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(!e.to_string().contains('\n'));
        let e = parse_proc_modules("nvidia big 3 - Live 0x0\n").unwrap_err();
        assert!(e.message.contains("size"), "{e}");
        let e = parse_proc_modules("nvidia 1 3 - Sleeping 0x0\n").unwrap_err();
        assert!(e.message.contains("state"), "{e}");
    }

    #[test]
    fn binary_junk_and_empty_input() {
        assert_eq!(parse_proc_modules("").unwrap(), vec![]);
        let junk =
            String::from_utf8_lossy(&[0xff, 0xfe, 0x00, b' ', 0x80, b'\n', 0x01]).into_owned();
        assert!(parse_proc_modules(&junk).is_err());
    }

    #[test]
    fn sysfs_files() {
        assert_eq!(parse_initstate("live\n").unwrap(), ModuleState::Live);
        assert_eq!(parse_initstate("coming\n").unwrap(), ModuleState::Coming);
        assert_eq!(parse_initstate("going\n").unwrap(), ModuleState::Going);
        assert!(parse_initstate("").is_err());
        assert!(parse_initstate("\u{fffd}\u{0}").is_err());
        assert_eq!(parse_refcnt("3\n").unwrap(), 3);
        assert_eq!(parse_refcnt("0").unwrap(), 0);
        assert!(parse_refcnt("three").is_err());
        assert!(parse_refcnt("").is_err());
    }

    #[test]
    fn bool_params() {
        assert_eq!(parse_bool_param("Y\n"), Some(true));
        assert_eq!(parse_bool_param("N\n"), Some(false));
        assert_eq!(parse_bool_param("1"), Some(true));
        assert_eq!(parse_bool_param("0"), Some(false));
        assert_eq!(parse_bool_param("maybe"), None);
        assert_eq!(parse_bool_param(""), None);
    }

    #[test]
    fn nvidia_related_names() {
        for name in [
            "nvidia",
            "nvidia_uvm",
            "nvidia_modeset",
            "nvidia_drm",
            "nvidia_peermem",
            "nvidia_fs",
            "nvidia_vgpu_vfio",
            "gdrdrv",
            "nv_peer_mem",
            "nvidia-uvm",
        ] {
            assert!(is_nvidia_related(name), "{name}");
        }
        for name in [
            "nvidiafb", "nouveau", "video", "drm", "nv", "ib_core", "efa",
        ] {
            assert!(!is_nvidia_related(name), "{name}");
        }
    }
}
