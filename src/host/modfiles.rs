//! Finds NVIDIA kernel module files under `/lib/modules/*` and reads their `.modinfo` (plain, .xz, .zst).

use super::module_reader::ModuleReader;
use super::module_stream::{decoder, read_whole, Compression, StreamLimits};
use super::HostRoot;
use crate::model::dkms::DkmsEntry;
use crate::model::driver_version::ModuleFlavor;
use crate::model::facts::{GatherWarning, ModuleFile};
use crate::model::modinfo::{canonical_module_name, module_flavor, module_search_rank};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

const MODULES_DIR: &str = "/lib/modules";
const DKMS_DIR: &str = "/var/lib/dkms";

/// Folder depth below `/lib/modules/<kernel>/` that is searched; real trees go 5 deep
/// (`kernel/drivers/gpu/drm/x/`), so this only stops pathological trees.
const MAX_DEPTH: usize = 16;

/// Every nvidia* module file for every kernel under `/lib/modules`, not read yet (`not_read`, no version or flavor).
///
/// Only files whose names are NVIDIA module names (see [`canonical_module_name`]) are listed; linked folders
/// (`build`, `source` → kernel headers) are not entered. Output is sorted by kernel, name, depmod preference
/// ([`module_search_rank`]), path: for each kernel and name the first file is the one modprobe loads.
pub fn list_module_files(root: &HostRoot) -> (Vec<ModuleFile>, Vec<GatherWarning>) {
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    let kernels = match root.read_dir_names(MODULES_DIR) {
        Ok(names) => names,
        Err(e) if e.is_not_found() => return (files, warnings),
        Err(e) => {
            warnings.push(warning(MODULES_DIR, e.to_string()));
            return (files, warnings);
        }
    };
    for kernel in kernels {
        let kernel_dir = format!("{MODULES_DIR}/{kernel}");
        if !root.is_dir(&kernel_dir) {
            continue;
        }
        let mut found = Vec::new();
        let local = root.resolve(&kernel_dir);
        walk(&local, &kernel_dir, 0, &mut found, &mut warnings);
        for (path, name) in found {
            files.push(ModuleFile {
                name: name.to_string(),
                kernel: kernel.clone(),
                path,
                version: None,
                flavor: None,
                not_read: true,
            });
        }
    }
    files.sort_by(|a, b| {
        (
            &a.kernel,
            &a.name,
            module_search_rank(&a.path, &a.kernel),
            &a.path,
        )
            .cmp(&(
                &b.kernel,
                &b.name,
                module_search_rank(&b.path, &b.kernel),
                &b.path,
            ))
    });
    (files, warnings)
}

/// Reads version and flavor of the listed files that `wanted` picks and were not read yet.
///
/// The flavor comes from the license where it tells (nvidia, nvidia_modeset); nvidia_uvm, nvidia_drm and
/// nvidia_peermem take the flavor of the nvidia.ko of the same version in the same folder.
pub fn read_module_versions(
    files: &mut [ModuleFile],
    reader: &ModuleReader<'_>,
    wanted: impl Fn(&ModuleFile) -> bool,
    warnings: &mut Vec<GatherWarning>,
) {
    for f in files.iter_mut().filter(|f| f.not_read && wanted(f)) {
        f.not_read = false;
        match reader.read(&f.path) {
            Ok(facts) => {
                f.version = facts.info.driver_version();
                f.flavor = module_flavor(&f.name, &facts.info);
            }
            Err(message) => warnings.push(warning(&f.path, message)),
        }
    }
    inherit_flavor_from_nvidia_ko(files);
}

/// Collects `(host path, canonical name)` of NVIDIA module files below `local` (which stands for `host_dir`).
/// Linked folders are skipped; linked files are kept (RHEL's `weak-updates/` are links to another kernel's modules).
fn walk(
    local: &Path,
    host_dir: &str,
    depth: usize,
    found: &mut Vec<(String, &'static str)>,
    warnings: &mut Vec<GatherWarning>,
) {
    let entries = match fs::read_dir(local) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            warnings.push(warning(host_dir, format!("cannot read folder: {e}")));
            return;
        }
    };
    let mut entries: Vec<(String, Option<fs::FileType>)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.file_type().ok(),
            )
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, file_type) in entries {
        let Some(file_type) = file_type else { continue };
        let host_path = format!("{host_dir}/{name}");
        if file_type.is_dir() {
            if depth < MAX_DEPTH {
                walk(&local.join(&name), &host_path, depth + 1, found, warnings);
            }
        } else if !(file_type.is_file() || file_type.is_symlink()) {
            // A FIFO or device named like a module would block or mislead the read: not a module file.
            continue;
        } else if let Some(canonical) = canonical_module_name(&name) {
            found.push((host_path, canonical));
        }
    }
}

/// The module's ELF bytes: as they are, or decompressed when they carry an xz, zstd or gzip header (whole, in memory:
/// for tests and tools; nvfix itself reads modules through [`ModuleReader`], streamed).
pub fn decompress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    let kind = Compression::sniff(bytes)
        .ok_or_else(|| "neither an ELF object nor xz, zstd or gzip data".to_string())?;
    if kind == Compression::Plain {
        return Ok(bytes.to_vec());
    }
    let mut stream = decoder(bytes, kind)?;
    let limits = StreamLimits::default().for_input(bytes.len() as u64);
    read_whole(&mut stream, kind, &limits)
}

/// nvidia_uvm, nvidia_drm and nvidia_peermem carry licenses that do not tell the flavor: give them the flavor of the
/// nvidia.ko of the same version in the same folder (DKMS and the prebuilt packages install the set together).
fn inherit_flavor_from_nvidia_ko(files: &mut [ModuleFile]) {
    let mut by_folder: BTreeMap<(String, String), ModuleFlavor> = BTreeMap::new();
    for f in files.iter().filter(|f| f.name == "nvidia") {
        if let (Some(version), Some(flavor)) = (&f.version, f.flavor) {
            by_folder.insert(
                (folder_of(&f.path).to_string(), version.as_str().to_string()),
                flavor,
            );
        }
    }
    for f in files.iter_mut().filter(|f| f.flavor.is_none()) {
        if let Some(version) = &f.version {
            let key = (folder_of(&f.path).to_string(), version.as_str().to_string());
            f.flavor = by_folder.get(&key).copied();
        }
    }
}

fn folder_of(host_path: &str) -> &str {
    host_path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// DKMS state from `/var/lib/dkms/<module>/<version>/<kernel>/<arch>/`.
///
/// A `<kernel>/<arch>` folder holding built modules under `module/` is `built`, or `installed` when DKMS's
/// `kernel-<kernel>-<arch>` link in the module folder points at this version (DKMS makes it on install). Without
/// such a link, `installed` means a file of that name is in the kernel's `updates/dkms`, `updates` or `extra`
/// folder. A version with no built kernel is `added`. The `<version>/source` and `build` entries and the
/// `kernel-*` links are not kernels. Sorted by module, version, kernel, arch.
pub fn read_dkms_tree(root: &HostRoot) -> Vec<DkmsEntry> {
    let mut entries = Vec::new();
    let Ok(modules) = root.read_dir_names(DKMS_DIR) else {
        return entries;
    };
    for module in modules {
        let module_dir = format!("{DKMS_DIR}/{module}");
        let Ok(names) = root.read_dir_names(&module_dir) else {
            continue;
        };
        // (kernel, arch) → version the install link points at.
        let mut installed: BTreeMap<(String, String), String> = BTreeMap::new();
        for link in names.iter().filter(|n| n.starts_with("kernel-")) {
            if let Ok(target) = root.read_link(&format!("{module_dir}/{link}")) {
                let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
                if let [.., version, kernel, arch] = parts.as_slice() {
                    installed.insert((kernel.to_string(), arch.to_string()), version.to_string());
                }
            }
        }
        let versions = names.iter().filter(|n| {
            !n.starts_with("kernel-")
                && n.as_str() != "original_module"
                && is_real_dir(root, &module_dir, n)
        });
        for version in versions {
            let version_dir = format!("{module_dir}/{version}");
            let mut built_any = false;
            let kernels = root.read_dir_names(&version_dir).unwrap_or_default();
            for kernel in kernels.iter().filter(|k| {
                k.starts_with(|c: char| c.is_ascii_digit()) && is_real_dir(root, &version_dir, k)
            }) {
                let kernel_dir = format!("{version_dir}/{kernel}");
                for arch in root.read_dir_names(&kernel_dir).unwrap_or_default() {
                    let module_files = root
                        .read_dir_names(&format!("{kernel_dir}/{arch}/module"))
                        .unwrap_or_default();
                    if module_files.is_empty() {
                        continue;
                    }
                    built_any = true;
                    let is_installed = match installed.get(&(kernel.clone(), arch.clone())) {
                        Some(linked) => linked == version,
                        None => module_files
                            .iter()
                            .any(|f| installed_in_kernel_tree(root, kernel, f)),
                    };
                    entries.push(DkmsEntry {
                        module: module.clone(),
                        version: version.clone(),
                        kernel: Some(kernel.clone()),
                        arch: Some(arch),
                        state: if is_installed { "installed" } else { "built" }.to_string(),
                    });
                }
            }
            if !built_any {
                entries.push(DkmsEntry {
                    module: module.clone(),
                    version: version.clone(),
                    kernel: None,
                    arch: None,
                    state: "added".to_string(),
                });
            }
        }
    }
    entries.sort_by(|a, b| {
        (&a.module, &a.version, &a.kernel, &a.arch)
            .cmp(&(&b.module, &b.version, &b.kernel, &b.arch))
    });
    entries
}

/// Is a DKMS-built file of this name in one of the places DKMS installs to for `kernel`?
fn installed_in_kernel_tree(root: &HostRoot, kernel: &str, file_name: &str) -> bool {
    ["updates/dkms", "updates", "extra"]
        .iter()
        .any(|dir| root.exists(&format!("{MODULES_DIR}/{kernel}/{dir}/{file_name}")))
}

/// A folder that is not a link (DKMS's `source` link and `kernel-*` links are not versions or kernels).
fn is_real_dir(root: &HostRoot, host_dir: &str, name: &str) -> bool {
    fs::symlink_metadata(root.resolve(host_dir).join(name)).is_ok_and(|m| m.is_dir())
}

fn warning(file: &str, message: impl Into<String>) -> GatherWarning {
    GatherWarning {
        file: file.to_string(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::module_cache::ModuleCache;
    use crate::model::modinfo::modinfo_from_elf;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    const K85: &str = "6.8.0-85-generic";
    const K79: &str = "6.8.0-79-generic";
    const DEB: &str = "6.1.0-26-amd64";

    /// Every module file with its version, read without a cache.
    fn find(root: &HostRoot) -> (Vec<ModuleFile>, Vec<GatherWarning>) {
        let (mut files, mut warnings) = list_module_files(root);
        let reader = ModuleReader::with_cache(root, ModuleCache::disabled());
        read_module_versions(&mut files, &reader, |_| true, &mut warnings);
        (files, warnings)
    }

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/modules")
            .join(rel)
    }

    /// Copies fixture module `from` to `<root>/<to>`, making folders.
    fn put(root: &Path, from: &str, to: &str) {
        let dest = root.join(to.trim_start_matches('/'));
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(fixture(from), &dest).unwrap_or_else(|e| panic!("{from}: {e}"));
    }

    fn write(root: &Path, to: &str, bytes: &[u8]) {
        let dest = root.join(to.trim_start_matches('/'));
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::write(dest, bytes).unwrap();
    }

    /// A host with merged /usr (`/lib` → `usr/lib`), three kernels, DKMS, prebuilt, RHEL-style and Debian modules.
    fn host() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("usr/lib/modules")).unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        let m = "/usr/lib/modules";
        // 6.8.0-85: DKMS 580.95.05 (zstd) plus Ubuntu's prebuilt open 580.65.06.
        for f in [
            "nvidia",
            "nvidia-uvm",
            "nvidia-modeset",
            "nvidia-drm",
            "nvidia-peermem",
        ] {
            put(
                r,
                &format!("580.95.05/{f}.ko.zst"),
                &format!("{m}/{K85}/updates/dkms/{f}.ko.zst"),
            );
            put(
                r,
                &format!("580.65.06-open/{f}.ko"),
                &format!("{m}/{K85}/kernel/nvidia-580-open/{f}.ko"),
            );
        }
        // A kernel module that is not NVIDIA's, with junk content: must not be opened.
        write(
            r,
            &format!("{m}/{K85}/kernel/drivers/net/e1000.ko.zst"),
            b"junk",
        );
        write(r, &format!("{m}/{K85}/modules.dep"), b"");
        // Headers link: a nvidia.ko there must not be found.
        put(
            r,
            "580.95.05/nvidia.ko",
            "/usr/src/linux-headers-6.8.0-85-generic/nvidia.ko",
        );
        symlink(
            "/usr/src/linux-headers-6.8.0-85-generic",
            r.join(format!("usr/lib/modules/{K85}/build")),
        )
        .unwrap();
        // 6.8.0-79: RHEL-like extra/ (xz, gz), a garbled .ko and a zero-byte .ko.xz.
        put(
            r,
            "580.65.06/nvidia.ko.xz",
            &format!("{m}/{K79}/extra/nvidia.ko.xz"),
        );
        put(
            r,
            "580.65.06/nvidia-uvm.ko.gz",
            &format!("{m}/{K79}/extra/nvidia-uvm.ko.gz"),
        );
        write(
            r,
            &format!("{m}/{K79}/extra/nvidia-drm.ko"),
            b"\x7fELF garbled beyond repair",
        );
        write(r, &format!("{m}/{K79}/extra/nvidia-modeset.ko.xz"), b"");
        // Debian: nvidia-current names, xz.
        for (from, to) in [
            ("nvidia", "nvidia-current"),
            ("nvidia-uvm", "nvidia-current-uvm"),
            ("nvidia-modeset", "nvidia-current-modeset"),
            ("nvidia-drm", "nvidia-current-drm"),
            ("nvidia-peermem", "nvidia-current-peermem"),
        ] {
            put(
                r,
                &format!("580.95.05-open/{from}.ko.xz"),
                &format!("{m}/{DEB}/updates/dkms/{to}.ko.xz"),
            );
        }
        t
    }

    fn summary(files: &[ModuleFile]) -> Vec<String> {
        files
            .iter()
            .map(|f| {
                format!(
                    "{} {} {} {} {}",
                    f.kernel,
                    f.name,
                    f.version.as_ref().map_or("-", |v| v.as_str()),
                    f.flavor.map_or("-", |fl| fl.as_str()),
                    f.path
                )
            })
            .collect()
    }

    #[test]
    fn finds_every_nvidia_module_with_version_and_flavor() {
        let t = host();
        let (files, warnings) = find(&HostRoot::new(t.path()));
        let got = summary(&files);
        let expected = vec![
            "6.1.0-26-amd64 nvidia 580.95.05 open /lib/modules/6.1.0-26-amd64/updates/dkms/nvidia-current.ko.xz",
            "6.1.0-26-amd64 nvidia_drm 580.95.05 open /lib/modules/6.1.0-26-amd64/updates/dkms/nvidia-current-drm.ko.xz",
            "6.1.0-26-amd64 nvidia_modeset 580.95.05 open /lib/modules/6.1.0-26-amd64/updates/dkms/nvidia-current-modeset.ko.xz",
            "6.1.0-26-amd64 nvidia_peermem 580.95.05 open /lib/modules/6.1.0-26-amd64/updates/dkms/nvidia-current-peermem.ko.xz",
            "6.1.0-26-amd64 nvidia_uvm 580.95.05 open /lib/modules/6.1.0-26-amd64/updates/dkms/nvidia-current-uvm.ko.xz",
            "6.8.0-79-generic nvidia 580.65.06 proprietary /lib/modules/6.8.0-79-generic/extra/nvidia.ko.xz",
            "6.8.0-79-generic nvidia_drm - - /lib/modules/6.8.0-79-generic/extra/nvidia-drm.ko",
            "6.8.0-79-generic nvidia_modeset - - /lib/modules/6.8.0-79-generic/extra/nvidia-modeset.ko.xz",
            "6.8.0-79-generic nvidia_uvm 580.65.06 proprietary /lib/modules/6.8.0-79-generic/extra/nvidia-uvm.ko.gz",
            "6.8.0-85-generic nvidia 580.95.05 proprietary /lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst",
            "6.8.0-85-generic nvidia 580.65.06 open /lib/modules/6.8.0-85-generic/kernel/nvidia-580-open/nvidia.ko",
            "6.8.0-85-generic nvidia_drm 580.95.05 proprietary /lib/modules/6.8.0-85-generic/updates/dkms/nvidia-drm.ko.zst",
            "6.8.0-85-generic nvidia_drm 580.65.06 open /lib/modules/6.8.0-85-generic/kernel/nvidia-580-open/nvidia-drm.ko",
            "6.8.0-85-generic nvidia_modeset 580.95.05 proprietary /lib/modules/6.8.0-85-generic/updates/dkms/nvidia-modeset.ko.zst",
            "6.8.0-85-generic nvidia_modeset 580.65.06 open /lib/modules/6.8.0-85-generic/kernel/nvidia-580-open/nvidia-modeset.ko",
            "6.8.0-85-generic nvidia_peermem 580.95.05 proprietary /lib/modules/6.8.0-85-generic/updates/dkms/nvidia-peermem.ko.zst",
            "6.8.0-85-generic nvidia_peermem 580.65.06 open /lib/modules/6.8.0-85-generic/kernel/nvidia-580-open/nvidia-peermem.ko",
            "6.8.0-85-generic nvidia_uvm 580.95.05 proprietary /lib/modules/6.8.0-85-generic/updates/dkms/nvidia-uvm.ko.zst",
            "6.8.0-85-generic nvidia_uvm 580.65.06 open /lib/modules/6.8.0-85-generic/kernel/nvidia-580-open/nvidia-uvm.ko",
        ];
        assert_eq!(got, expected);
        let mut warned: Vec<&str> = warnings.iter().map(|w| w.file.as_str()).collect();
        warned.sort();
        assert_eq!(
            warned,
            vec![
                "/lib/modules/6.8.0-79-generic/extra/nvidia-drm.ko",
                "/lib/modules/6.8.0-79-generic/extra/nvidia-modeset.ko.xz",
            ]
        );
        for w in &warnings {
            assert!(!w.message.is_empty() && !w.message.contains('\n'), "{w:?}");
        }
        assert!(
            warnings.iter().any(|w| w.message.contains("empty")),
            "{warnings:?}"
        );
    }

    #[test]
    fn the_preferred_file_comes_first_for_each_name() {
        let t = host();
        let (files, _) = find(&HostRoot::new(t.path()));
        let first = files
            .iter()
            .find(|f| f.kernel == K85 && f.name == "nvidia")
            .unwrap();
        assert_eq!(
            first.path,
            "/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst"
        );
        assert_eq!(first.version.as_ref().unwrap().as_str(), "580.95.05");
    }

    #[test]
    fn every_compression_reads_the_same() {
        let plain = modinfo_from_elf(&fs::read(fixture("580.95.05/nvidia.ko")).unwrap()).unwrap();
        for ext in ["xz", "zst", "gz"] {
            let bytes = fs::read(fixture(&format!("580.95.05/nvidia.ko.{ext}"))).unwrap();
            let elf = decompress(&bytes).unwrap();
            assert_eq!(modinfo_from_elf(&elf).unwrap(), plain, "{ext}");
        }
    }

    #[test]
    fn broken_compressed_data_is_a_one_line_error() {
        let xz = fs::read(fixture("580.95.05/nvidia.ko.xz")).unwrap();
        let zst = fs::read(fixture("580.95.05/nvidia.ko.zst")).unwrap();
        let gz = fs::read(fixture("580.95.05/nvidia.ko.gz")).unwrap();
        for (what, bytes) in [
            ("xz", &xz[..xz.len() / 2]),
            ("zstd", &zst[..zst.len() / 2]),
            ("gzip", &gz[..gz.len() / 2]),
            ("xz", &xz[..7]),
        ] {
            let e = decompress(bytes).unwrap_err();
            assert!(e.contains(what) && !e.contains('\n'), "{what}: {e}");
        }
        assert!(decompress(b"").unwrap_err().contains("empty"));
        assert!(decompress(b"garbage").unwrap_err().contains("neither"));
    }

    #[test]
    fn no_modules_folder_is_not_a_warning() {
        let t = tempfile::tempdir().unwrap();
        let (files, warnings) = find(&HostRoot::new(t.path()));
        assert!(files.is_empty());
        assert!(warnings.is_empty());
    }

    #[test]
    fn weak_update_links_are_followed_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        put(
            r,
            "580.65.06/nvidia.ko.xz",
            "/lib/modules/5.14.0-427.el9.x86_64/extra/nvidia.ko.xz",
        );
        fs::create_dir_all(r.join("lib/modules/5.14.0-503.el9.x86_64/weak-updates/nvidia"))
            .unwrap();
        symlink(
            "/lib/modules/5.14.0-427.el9.x86_64/extra/nvidia.ko.xz",
            r.join("lib/modules/5.14.0-503.el9.x86_64/weak-updates/nvidia/nvidia.ko.xz"),
        )
        .unwrap();
        let (files, warnings) = find(&HostRoot::new(r));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].kernel, "5.14.0-503.el9.x86_64");
        assert_eq!(
            files[1].path,
            "/lib/modules/5.14.0-503.el9.x86_64/weak-updates/nvidia/nvidia.ko.xz"
        );
        assert_eq!(files[1].version.as_ref().unwrap().as_str(), "580.65.06");
    }

    /// `/var/lib/dkms/nvidia` as DKMS 3 leaves it after installing 580.95.05 for 6.8.0-85 over 580.65.06.
    fn dkms_host() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let d = "/var/lib/dkms/nvidia";
        for (version, kernel) in [
            ("580.65.06", K79),
            ("580.65.06", K85),
            ("580.95.05", K85),
            ("580.95.05", "6.8.0-86-generic"),
        ] {
            put(
                r,
                &format!("{version}/nvidia.ko.zst"),
                &format!("{d}/{version}/{kernel}/x86_64/module/nvidia.ko.zst"),
            );
            write(
                r,
                &format!("{d}/{version}/{kernel}/x86_64/log/make.log"),
                b"ok",
            );
        }
        for version in ["580.65.06", "580.95.05", "590.44.01"] {
            fs::create_dir_all(r.join(format!("usr/src/nvidia-{version}"))).unwrap();
            fs::create_dir_all(r.join(format!("var/lib/dkms/nvidia/{version}"))).unwrap();
            symlink(
                format!("/usr/src/nvidia-{version}"),
                r.join(format!("var/lib/dkms/nvidia/{version}/source")),
            )
            .unwrap();
        }
        // A failed build leaves an arch folder without modules.
        write(r, &format!("{d}/590.44.01/build/make.log"), b"error");
        symlink(
            "580.65.06/6.8.0-79-generic/x86_64",
            r.join("var/lib/dkms/nvidia/kernel-6.8.0-79-generic-x86_64"),
        )
        .unwrap();
        symlink(
            "580.95.05/6.8.0-85-generic/x86_64",
            r.join("var/lib/dkms/nvidia/kernel-6.8.0-85-generic-x86_64"),
        )
        .unwrap();
        write(r, "/var/lib/dkms/dkms_dbversion", b"3.0.0");
        // A module with no install links: installed is judged from /lib/modules.
        put(
            r,
            "580.95.05/nvidia-peermem.ko",
            "/var/lib/dkms/gdrdrv/2.4.4/6.8.0-85-generic/x86_64/module/gdrdrv.ko",
        );
        put(
            r,
            "580.95.05/nvidia-peermem.ko",
            "/lib/modules/6.8.0-85-generic/updates/dkms/gdrdrv.ko",
        );
        put(
            r,
            "580.95.05/nvidia-peermem.ko",
            "/var/lib/dkms/gdrdrv/2.4.4/6.8.0-86-generic/x86_64/module/gdrdrv.ko",
        );
        t
    }

    #[test]
    fn dkms_tree_states() {
        let t = dkms_host();
        let got: Vec<String> = read_dkms_tree(&HostRoot::new(t.path()))
            .iter()
            .map(|e| {
                format!(
                    "{}/{}, {}, {}: {}",
                    e.module,
                    e.version,
                    e.kernel.as_deref().unwrap_or("-"),
                    e.arch.as_deref().unwrap_or("-"),
                    e.state
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "gdrdrv/2.4.4, 6.8.0-85-generic, x86_64: installed",
                "gdrdrv/2.4.4, 6.8.0-86-generic, x86_64: built",
                "nvidia/580.65.06, 6.8.0-79-generic, x86_64: installed",
                "nvidia/580.65.06, 6.8.0-85-generic, x86_64: built",
                "nvidia/580.95.05, 6.8.0-85-generic, x86_64: installed",
                "nvidia/580.95.05, 6.8.0-86-generic, x86_64: built",
                "nvidia/590.44.01, -, -: added",
            ]
        );
    }

    #[test]
    fn no_dkms_tree_gives_nothing() {
        let t = tempfile::tempdir().unwrap();
        assert!(read_dkms_tree(&HostRoot::new(t.path())).is_empty());
    }

    /// A zstd frame of `blocks` RLE blocks of 128 KiB zeros: 4 bytes of input per 128 KiB of output.
    fn zstd_rle_bomb(blocks: usize) -> Vec<u8> {
        // Magic, a frame header without content size, a 128 KiB window.
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38];
        for i in 0..blocks {
            let last = u32::from(i + 1 == blocks);
            let header = (128 * 1024) << 3 | 1 << 1 | last; // size, type RLE, last-block bit
            frame.extend_from_slice(&header.to_le_bytes()[..3]);
            frame.push(0); // the repeated byte
        }
        frame
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_the_cap() {
        // 64 KiB that expand to 2 GiB, twice the cap: read whole, refused at the 16 MiB floor of a whole read (a
        // stream may go on to 96 MiB, holding only its spans), long before the cap.
        let bomb = zstd_rle_bomb(16 * 1024);
        assert_eq!(bomb.len(), 6 + 16 * 1024 * 4);
        let started = std::time::Instant::now();
        let e = decompress(&bomb).unwrap_err();
        assert!(e.contains("decompressed (zstd) to more than 16 MiB"), "{e}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "refused in {:?}",
            started.elapsed()
        );
        // The same frame, short of the floor, is decompressed in full: the floor, not the ratio, decides here.
        assert_eq!(decompress(&zstd_rle_bomb(8)).unwrap().len(), 8 * 128 * 1024);
        // Streamed from a file, with the real limits: refused at once (zeros are no ELF header, and the output cap
        // would stop it at 96 MiB anyway).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nvidia.ko.zst");
        fs::write(&path, &bomb).unwrap();
        let (got, _) = crate::host::module_reader::read_module_file(
            fs::File::open(&path).unwrap(),
            &crate::host::module_stream::StreamLimits::default(),
        );
        let e = got.unwrap_err();
        assert!(
            e.contains("not an ELF") || e.contains("more than 96 MiB"),
            "{e}"
        );
    }
}
