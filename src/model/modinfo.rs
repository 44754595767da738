//! Reading a kernel module's `.modinfo` section from ELF bytes (no `modinfo` process).

use super::driver_version::ModuleFlavor;
use super::{DriverVersion, ParseError};
use serde::{Deserialize, Serialize};

/// The `key=value` strings a module carries in `.modinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
/// Padding NULs between strings and entries without `=` are skipped; unknown keys are ignored; for single-valued
/// keys the first occurrence wins.
pub fn parse_modinfo_section(bytes: &[u8]) -> ModInfo {
    let mut info = ModInfo::default();
    for entry in bytes.split(|b| *b == 0) {
        let entry = String::from_utf8_lossy(entry);
        let Some((key, value)) = entry.split_once('=') else {
            continue;
        };
        let value = value.to_string();
        match key {
            "name" => {
                info.name.get_or_insert(value);
            }
            "version" => {
                info.version.get_or_insert(value);
            }
            "license" => {
                info.license.get_or_insert(value);
            }
            "vermagic" => {
                info.vermagic.get_or_insert(value);
            }
            "depends" => info.depends.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
            ),
            "firmware" => info.firmware.push(value),
            _ => {}
        }
    }
    // The compiler emits the strings in reverse source order; sort so output does not depend on it.
    info.firmware.sort();
    info
}

/// Finds `.modinfo` in an (uncompressed) ELF relocatable object and parses it.
pub fn modinfo_from_elf(bytes: &[u8]) -> Result<ModInfo, ParseError> {
    use object::{Object, ObjectSection};
    const WHAT: &str = "kernel module";
    if bytes.is_empty() {
        return Err(ParseError::new(WHAT, 0, "empty file"));
    }
    if !bytes.starts_with(b"\x7fELF") {
        return Err(ParseError::new(WHAT, 0, "not an ELF file"));
    }
    // The ELF reader wants its input aligned for the header structs; a Vec<u8> usually is, but need not be.
    let aligned;
    let data = if (bytes.as_ptr() as usize) % 8 == 0 {
        bytes
    } else {
        aligned = AlignedCopy::new(bytes);
        aligned.as_slice()
    };
    let file = object::File::parse(data)
        .map_err(|e| ParseError::new(WHAT, 0, format!("unreadable ELF: {e}")))?;
    let section = file
        .section_by_name(".modinfo")
        .ok_or_else(|| ParseError::new(WHAT, 0, "no .modinfo section"))?;
    let content = section
        .data()
        .map_err(|e| ParseError::new(WHAT, 0, format!("unreadable .modinfo section: {e}")))?;
    Ok(parse_modinfo_section(content))
}

/// Does the (uncompressed) ELF object have a section of this name? `__versions` means the module was built with
/// modversions: the kernel then compares symbol CRCs and, in the vermagic, only what follows the kernel release.
/// False for anything that is not a readable ELF object.
pub fn elf_has_section(bytes: &[u8], name: &str) -> bool {
    use object::Object;
    if !bytes.starts_with(b"\x7fELF") {
        return false;
    }
    let aligned;
    let data = if (bytes.as_ptr() as usize) % 8 == 0 {
        bytes
    } else {
        aligned = AlignedCopy::new(bytes);
        aligned.as_slice()
    };
    object::File::parse(data).is_ok_and(|f| f.section_by_name(name).is_some())
}

/// A copy of some bytes that starts on an 8-byte boundary (safe code: over-allocate, then start at the right offset).
struct AlignedCopy {
    buffer: Vec<u8>,
    start: usize,
}

impl AlignedCopy {
    fn new(bytes: &[u8]) -> Self {
        let mut buffer = vec![0u8; bytes.len() + 8];
        let start = (8 - (buffer.as_ptr() as usize) % 8) % 8;
        buffer[start..start + bytes.len()].copy_from_slice(bytes);
        buffer.truncate(start + bytes.len());
        AlignedCopy { buffer, start }
    }
    fn as_slice(&self) -> &[u8] {
        &self.buffer[self.start..]
    }
}

/// The flavor a module file shows, given its canonical name (`nvidia`, `nvidia_uvm`, …).
///
/// Only nvidia.ko and nvidia-modeset.ko tell the flavors apart (`NVIDIA` in the proprietary build, `Dual MIT/GPL`
/// in the open one). nvidia-uvm.ko and nvidia-drm.ko are `Dual MIT/GPL` in both builds and nvidia-peermem.ko is
/// `Dual BSD/GPL`, so for those this returns None rather than a guess.
pub fn module_flavor(canonical_name: &str, info: &ModInfo) -> Option<ModuleFlavor> {
    match canonical_name {
        "nvidia" | "nvidia_modeset" => info.flavor(),
        _ => None,
    }
}

/// The NVIDIA modules nvfix looks for, by canonical name.
pub const NVIDIA_MODULE_NAMES: &[&str] = &[
    "nvidia",
    "nvidia_uvm",
    "nvidia_modeset",
    "nvidia_drm",
    "nvidia_peermem",
];

/// The canonical module name for a module file name, when it is one of NVIDIA's: `nvidia-uvm.ko.zst` →
/// `nvidia_uvm`; Debian's `nvidia-current-uvm.ko.xz` → `nvidia_uvm`. Plain, `.xz`, `.zst` and `.gz` files count.
pub fn canonical_module_name(file_name: &str) -> Option<&'static str> {
    let base = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .find_map(|suffix| file_name.strip_suffix(suffix))?;
    let base = base.replace('-', "_");
    let base = match base.strip_prefix("nvidia_current") {
        Some(rest) => format!("nvidia{rest}"),
        None => strip_branch(&base),
    };
    NVIDIA_MODULE_NAMES.iter().copied().find(|n| *n == base)
}

/// Older Ubuntu and legacy packages name the files after the branch (`nvidia_367`, `nvidia_367_modeset`,
/// `nvidia_340_uvm`) and load them through a modprobe.d alias (`alias nvidia nvidia_367`): the branch is dropped.
fn strip_branch(base: &str) -> String {
    let Some(rest) = base.strip_prefix("nvidia_") else {
        return base.to_string();
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(2..=4).contains(&digits) {
        return base.to_string();
    }
    match &rest[digits..] {
        "" => "nvidia".to_string(),
        tail if tail.starts_with('_') => format!("nvidia{tail}"),
        _ => base.to_string(),
    }
}

/// How strongly depmod prefers a module file of a kernel, by where it lies (lower = preferred):
/// `updates/` (DKMS's `updates/dkms`) 0, `extra/` (RHEL kmods, other DKMS setups) 1, `kernel/` (the kernel's own
/// tree, Ubuntu's `kernel/nvidia-580[-open]`) 2, anything else under the kernel's folder (`weak-updates/`, …) 3,
/// a path outside `/lib/modules/<kernel>/` 4.
///
/// This follows Debian/Ubuntu's depmod.d `search updates ubuntu built-in` and RHEL's
/// `search updates extra built-in weak-updates`.
pub fn module_search_rank(host_path: &str, kernel: &str) -> u8 {
    let rest = ["/lib/modules/", "/usr/lib/modules/"]
        .iter()
        .find_map(|base| {
            host_path
                .strip_prefix(base)
                .and_then(|p| p.strip_prefix(kernel))
                .and_then(|p| p.strip_prefix('/'))
        });
    let Some(rest) = rest else {
        return 4;
    };
    match rest.split('/').next() {
        Some("updates") => 0,
        Some("extra") => 1,
        Some("kernel") => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/modules")
            .join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn section_with_padding_and_repeated_keys() {
        let bytes = b"\0\0license=NVIDIA\0version=580.95.05\0\0\0firmware=nvidia/580.95.05/gsp_tu10x.bin\0\
firmware=nvidia/580.95.05/gsp_ga10x.bin\0depends=drm_kms_helper,drm,nvidia-modeset\0name=nvidia_drm\0\
vermagic=6.8.0-85-generic SMP preempt mod_unload modversions \0version=1.0\0garbage\0";
        let info = parse_modinfo_section(bytes);
        assert_eq!(info.license.as_deref(), Some("NVIDIA"));
        assert_eq!(info.version.as_deref(), Some("580.95.05"));
        assert_eq!(info.name.as_deref(), Some("nvidia_drm"));
        assert_eq!(
            info.vermagic.as_deref(),
            Some("6.8.0-85-generic SMP preempt mod_unload modversions ")
        );
        assert_eq!(
            info.depends,
            vec!["drm_kms_helper", "drm", "nvidia-modeset"]
        );
        assert_eq!(
            info.firmware,
            vec![
                "nvidia/580.95.05/gsp_ga10x.bin",
                "nvidia/580.95.05/gsp_tu10x.bin"
            ]
        );
        assert_eq!(info.driver_version().unwrap().as_str(), "580.95.05");
        assert_eq!(info.flavor(), Some(ModuleFlavor::Proprietary));
    }

    #[test]
    fn empty_and_junk_sections_give_empty_info() {
        assert_eq!(parse_modinfo_section(b""), ModInfo::default());
        assert_eq!(
            parse_modinfo_section(&[0xff, 0x00, 0xfe, 0x80]),
            ModInfo::default()
        );
        let info = parse_modinfo_section(b"depends=\0version=\xff\xfe\0");
        assert!(info.depends.is_empty());
        assert_eq!(info.driver_version(), None);
    }

    #[test]
    fn reads_the_proprietary_fixture() {
        let info = modinfo_from_elf(&fixture("580.95.05/nvidia.ko")).unwrap();
        assert_eq!(info.name.as_deref(), Some("nvidia"));
        assert_eq!(info.version.as_deref(), Some("580.95.05"));
        assert_eq!(info.license.as_deref(), Some("NVIDIA"));
        assert_eq!(info.flavor(), Some(ModuleFlavor::Proprietary));
        assert!(info.vermagic.unwrap().starts_with("6.8.0-85-generic "));
        assert_eq!(info.firmware.len(), 2);
        assert!(info.depends.is_empty());
    }

    #[test]
    fn reads_the_open_and_older_fixtures() {
        let info = modinfo_from_elf(&fixture("580.65.06-open/nvidia.ko")).unwrap();
        assert_eq!(info.version.as_deref(), Some("580.65.06"));
        assert_eq!(info.flavor(), Some(ModuleFlavor::Open));
        let uvm = modinfo_from_elf(&fixture("580.65.06/nvidia-uvm.ko")).unwrap();
        assert_eq!(uvm.name.as_deref(), Some("nvidia_uvm"));
        assert_eq!(uvm.depends, vec!["nvidia"]);
        // The proprietary uvm says Dual MIT/GPL: its license alone must not make it "open".
        assert_eq!(uvm.flavor(), Some(ModuleFlavor::Open));
        assert_eq!(module_flavor("nvidia_uvm", &uvm), None);
        let modeset = modinfo_from_elf(&fixture("580.65.06/nvidia-modeset.ko")).unwrap();
        assert_eq!(
            module_flavor("nvidia_modeset", &modeset),
            Some(ModuleFlavor::Proprietary)
        );
    }

    #[test]
    fn misaligned_input_still_parses() {
        let bytes = fixture("580.95.05/nvidia-drm.ko");
        let mut shifted = vec![0u8; bytes.len() + 1];
        shifted[1..].copy_from_slice(&bytes);
        let info = modinfo_from_elf(&shifted[1..]).unwrap();
        assert_eq!(info.name.as_deref(), Some("nvidia_drm"));
    }

    #[test]
    fn not_elf_truncated_and_sectionless_are_errors() {
        let e = modinfo_from_elf(b"").unwrap_err();
        assert!(e.message.contains("empty"));
        let e = modinfo_from_elf(b"garbled module text").unwrap_err();
        assert!(e.message.contains("not an ELF"), "{e}");
        let bytes = fixture("580.95.05/nvidia.ko");
        for cut in [4, 20, 64, bytes.len() / 2, bytes.len() - 1] {
            // Truncated files must fail (or, where the cut misses everything read, succeed), never panic.
            let _ = modinfo_from_elf(&bytes[..cut]);
        }
        assert!(modinfo_from_elf(&bytes[..64]).is_err());
        // An ELF object with the section renamed has no .modinfo.
        let mut renamed = bytes.clone();
        let at = renamed
            .windows(8)
            .position(|w| w == b".modinfo")
            .expect("section name in the string table");
        renamed[at + 1] = b'x';
        let e = modinfo_from_elf(&renamed).unwrap_err();
        assert!(e.message.contains("no .modinfo"), "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn section_presence() {
        let bytes = fixture("580.95.05/nvidia.ko");
        assert!(elf_has_section(&bytes, ".modinfo"));
        assert!(!elf_has_section(&bytes, "__versions"));
        assert!(!elf_has_section(b"", ".modinfo"));
        assert!(!elf_has_section(&bytes[..40], ".modinfo"));
    }

    #[test]
    fn canonical_names_from_file_names() {
        assert_eq!(canonical_module_name("nvidia.ko"), Some("nvidia"));
        // Branch-named files of older Ubuntu and legacy packages.
        for (file, name) in [
            ("nvidia_367.ko", "nvidia"),
            ("nvidia_367_modeset.ko", "nvidia_modeset"),
            ("nvidia_367_drm.ko", "nvidia_drm"),
            ("nvidia_367_uvm.ko", "nvidia_uvm"),
            ("nvidia_384.ko", "nvidia"),
            ("nvidia_340.ko", "nvidia"),
            ("nvidia-340-uvm.ko.xz", "nvidia_uvm"),
        ] {
            assert_eq!(canonical_module_name(file), Some(name), "{file}");
        }
        for other in [
            "nvidia_367x.ko",
            "nvidia_1.ko",
            "nvidia_36712.ko",
            "nvidia_367_fs.ko",
            "nvidia_.ko",
            "nvidia_367_.ko",
        ] {
            assert_eq!(canonical_module_name(other), None, "{other}");
        }
        assert_eq!(
            canonical_module_name("nvidia-uvm.ko.zst"),
            Some("nvidia_uvm")
        );
        assert_eq!(
            canonical_module_name("nvidia-modeset.ko.xz"),
            Some("nvidia_modeset")
        );
        assert_eq!(
            canonical_module_name("nvidia-drm.ko.gz"),
            Some("nvidia_drm")
        );
        assert_eq!(
            canonical_module_name("nvidia-peermem.ko"),
            Some("nvidia_peermem")
        );
        assert_eq!(canonical_module_name("nvidia_uvm.ko"), Some("nvidia_uvm"));
        assert_eq!(
            canonical_module_name("nvidia-current.ko.xz"),
            Some("nvidia")
        );
        assert_eq!(
            canonical_module_name("nvidia-current-uvm.ko.xz"),
            Some("nvidia_uvm")
        );
        assert_eq!(
            canonical_module_name("nvidia-current-modeset.ko"),
            Some("nvidia_modeset")
        );
        assert_eq!(
            canonical_module_name("nvidia-current-drm.ko.zst"),
            Some("nvidia_drm")
        );
        assert_eq!(
            canonical_module_name("nvidia-current-peermem.ko"),
            Some("nvidia_peermem")
        );
        for other in [
            "nvidia.ko.bak",
            "nvidia",
            "nvidiafb.ko",
            "nvidia-fs.ko",
            "nvidia-vgpu-vfio.ko",
            "nouveau.ko.zst",
            "nvidia.o",
            ".ko",
        ] {
            assert_eq!(canonical_module_name(other), None, "{other}");
        }
    }

    #[test]
    fn search_rank_prefers_updates_then_extra_then_kernel() {
        let k = "6.8.0-85-generic";
        let rank = |p: &str| module_search_rank(p, k);
        assert_eq!(
            rank("/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst"),
            0
        );
        assert_eq!(rank("/lib/modules/6.8.0-85-generic/extra/nvidia.ko.xz"), 1);
        assert_eq!(
            rank("/lib/modules/6.8.0-85-generic/kernel/nvidia-580-open/nvidia.ko"),
            2
        );
        assert_eq!(
            rank("/lib/modules/6.8.0-85-generic/weak-updates/nvidia/nvidia.ko"),
            3
        );
        assert_eq!(
            rank("/usr/lib/modules/6.8.0-85-generic/updates/nvidia.ko"),
            0
        );
        assert_eq!(
            rank("/lib/modules/6.8.0-85-generic-64k/updates/dkms/nvidia.ko"),
            4
        );
        assert_eq!(rank("/tmp/nvidia.ko"), 4);
    }
}
