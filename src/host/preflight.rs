//! Reads what the pre-flight needs for the running kernel (the rules are `model::preflight`'s).
//!
//! The modules a reload would load, resolved the way kmod does, their files (vermagic, signature, firmware), the
//! kernel's signature policy and trusted keys; on the live host also what `modprobe --show-depends` says.

use super::module_reader::ModuleReader;
use super::runner::{CommandRunner, CommandSpec};
use super::HostRoot;
use crate::model::facts::ModuleFile;
use crate::model::kmod_config::{
    self, host_path, module_name_of_path, parse_modules_dep, DepmodConfig, ModprobeAlias,
    ModulesDep,
};
use crate::model::preflight::{
    parse_lockdown, parse_proc_keys, parse_secure_boot_variable, parse_sig_enforce, DependencyFile,
    FirmwareFile, KernelModulePolicy, ModprobeView, PreflightInputs, ResolvedModule,
    RunningVermagic, LOCKDOWN_PATH, PROC_KEYS_PATH, SECURE_BOOT_PATH, SIG_ENFORCE_PATH,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// kmod's configuration folders, highest priority first (a file name in an earlier folder hides the same name later).
const MODPROBE_DIRS: &[&str] = &[
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/lib/modprobe.d",
    "/usr/lib/modprobe.d",
];
const DEPMOD_DIRS: &[&str] = &[
    "/etc/depmod.d",
    "/run/depmod.d",
    "/usr/local/lib/depmod.d",
    "/lib/depmod.d",
    "/usr/lib/depmod.d",
];
/// Where the kernel's firmware loader looks, in its order (`<kernel>` is replaced).
const FIRMWARE_DIRS: &[&str] = &[
    "/lib/firmware/updates/<kernel>",
    "/lib/firmware/updates",
    "/lib/firmware/<kernel>",
    "/lib/firmware",
];
/// In-tree modules tried for the running kernel's own vermagic before giving up.
const MAX_VERMAGIC_PROBES: usize = 4;

/// What the pre-flight reads for `kernel`: `names` are the modules the reload would load (in load order);
/// `module_files` are the NVIDIA module files gather found (for the depmod staleness check).
pub fn gather_inputs(
    root: &HostRoot,
    reader: &ModuleReader<'_>,
    kernel: &str,
    names: &[String],
    module_files: &[ModuleFile],
) -> PreflightInputs {
    let (modules_dep, dep, modules_dep_error) = read_modules_dep(root, kernel);
    let aliases = read_aliases(root);
    let depmod = read_depmod_config(root);
    let loaded = loaded_module_names(root);
    let reload_set: BTreeSet<String> = names.iter().map(|n| kmod_config::normalise(n)).collect();
    let modules = names
        .iter()
        .map(|name| {
            resolve_module(
                root,
                reader,
                Context {
                    kernel,
                    dep: &dep,
                    aliases: &aliases,
                    depmod: &depmod,
                    loaded: &loaded,
                    reload_set: &reload_set,
                    module_files,
                },
                name,
            )
        })
        .collect();
    PreflightInputs {
        kernel: kernel.to_string(),
        modules_dep,
        modules_dep_error,
        running_vermagic: running_vermagic(reader, kernel, &dep, &loaded),
        policy: read_policy(root),
        modules,
    }
}

/// The pre-flight's inputs for module files that are not installed yet (`nvfix upgrade`'s trial): each file judged
/// as the module modprobe would load, against the running kernel's vermagic and signature policy. `new_firmware`
/// are firmware names (relative to `/lib/firmware`) the upgrade's packages bring.
pub fn trial_inputs(
    root: &HostRoot,
    reader: &ModuleReader<'_>,
    kernel: &str,
    files: &[String],
    new_firmware: &[String],
) -> PreflightInputs {
    let (modules_dep, dep, modules_dep_error) = read_modules_dep(root, kernel);
    let loaded = loaded_module_names(root);
    let modules = files
        .iter()
        .map(|path| {
            let mut m = ResolvedModule {
                name: kmod_config::module_name_of_path(path),
                requested_as: None,
                alias_file: None,
                path: None,
                depmod_would_pick: None,
                deps: Vec::new(),
                read_error: None,
                version: None,
                vermagic: None,
                modversions: false,
                signature: None,
                firmware: Vec::new(),
                modprobe: ModprobeView::NotChecked {
                    reason: "not installed yet: judged from the trial's file".into(),
                },
            };
            read_module_file(root, reader, kernel, path.clone(), new_firmware, &mut m);
            m
        })
        .collect();
    PreflightInputs {
        kernel: kernel.to_string(),
        modules_dep,
        modules_dep_error,
        running_vermagic: running_vermagic(reader, kernel, &dep, &loaded),
        policy: read_policy(root),
        modules,
    }
}

/// What every module's resolution shares.
#[derive(Clone, Copy)]
struct Context<'a> {
    kernel: &'a str,
    dep: &'a ModulesDep,
    aliases: &'a [ModprobeAlias],
    depmod: &'a DepmodConfig,
    loaded: &'a BTreeSet<String>,
    reload_set: &'a BTreeSet<String>,
    module_files: &'a [ModuleFile],
}

fn resolve_module(
    root: &HostRoot,
    reader: &ModuleReader<'_>,
    cx: Context<'_>,
    name: &str,
) -> ResolvedModule {
    let resolution = kmod_config::resolve(name, cx.aliases, cx.dep);
    let renamed = resolution.module != resolution.requested;
    let mut m = ResolvedModule {
        name: name.to_string(),
        requested_as: renamed.then(|| resolution.module.clone()),
        alias_file: resolution.alias.as_ref().map(|a| a.file.clone()),
        path: None,
        depmod_would_pick: None,
        deps: Vec::new(),
        read_error: None,
        version: None,
        vermagic: None,
        modversions: false,
        signature: None,
        firmware: Vec::new(),
        modprobe: ModprobeView::NotChecked {
            reason: "under --root the host's modprobe would read this machine's configuration, not the tree's"
                .into(),
        },
    };
    let Some(entry) = resolution.entry else {
        return m;
    };
    let path = host_path(cx.kernel, &entry.path);
    m.depmod_would_pick = depmod_disagreement(cx, &resolution.module, &entry.path);
    m.deps = entry
        .deps
        .iter()
        .map(|d| {
            let module = module_name_of_path(d);
            let dep_path = host_path(cx.kernel, d);
            DependencyFile {
                present: root.exists(&dep_path),
                needed: !cx.loaded.contains(&module) || cx.reload_set.contains(&module),
                module,
                path: dep_path,
            }
        })
        .collect();
    read_module_file(root, reader, cx.kernel, path, &[], &mut m);
    m
}

/// `modules.dep` of `kernel`: its host path, what it says, and why it could not be read.
fn read_modules_dep(root: &HostRoot, kernel: &str) -> (String, ModulesDep, Option<String>) {
    let path = format!("/lib/modules/{kernel}/modules.dep");
    match root.read_to_string(&path) {
        Ok(text) => (path, parse_modules_dep(&text), None),
        Err(e) => (path, ModulesDep::default(), Some(one_line(&e))),
    }
}

/// What the module file at `path` says (signature, modversions, version, vermagic, the firmware it lists and where
/// each is found), into `m`. `new_firmware`: firmware names (relative to `/lib/firmware`) that packages not installed
/// yet bring, counted as found.
fn read_module_file(
    root: &HostRoot,
    reader: &ModuleReader<'_>,
    kernel: &str,
    path: String,
    new_firmware: &[String],
    m: &mut ResolvedModule,
) {
    match reader.read(&path) {
        Ok(facts) => {
            m.signature = Some(facts.signature);
            m.modversions = facts.modversions;
            m.firmware = facts
                .info
                .firmware
                .iter()
                .map(|f| FirmwareFile {
                    name: f.clone(),
                    found: find_firmware(root, kernel, f).or_else(|| {
                        new_firmware
                            .iter()
                            .any(|n| {
                                n == f
                                    || n.strip_suffix(".zst").or(n.strip_suffix(".xz")) == Some(f)
                            })
                            .then(|| format!("{f} (in the upgrade's packages)"))
                    }),
                })
                .collect();
            m.version = facts.info.version;
            m.vermagic = facts.info.vermagic;
        }
        Err(e) => m.read_error = Some(e),
    }
    m.path = Some(path);
}

/// The file depmod's rules pick for `module` among the files on disk, when it is not the one `modules.dep` names.
/// Only judged when the host has a `depmod.d` configuration (without one the default order is kmod's build choice).
fn depmod_disagreement(cx: Context<'_>, module: &str, dep_path: &str) -> Option<String> {
    if cx.depmod.search.is_empty() && cx.depmod.overrides.is_empty() {
        return None;
    }
    let prefix = format!("/lib/modules/{}/", cx.kernel);
    let mut candidates = vec![dep_path.to_string()];
    for f in cx.module_files.iter().filter(|f| f.kernel == cx.kernel) {
        if module_name_of_path(&f.path) != module {
            continue;
        }
        let rel = f
            .path
            .strip_prefix(&prefix)
            .or_else(|| f.path.strip_prefix(&format!("/usr{prefix}")));
        if let Some(rel) = rel {
            if !candidates.iter().any(|c| c == rel) {
                candidates.push(rel.to_string());
            }
        }
    }
    let pick = cx.depmod.pick(module, cx.kernel, &candidates)?;
    (pick != dep_path).then(|| host_path(cx.kernel, pick))
}

/// The firmware file the kernel's loader would find for `name` (plain, `.zst` or `.xz`).
fn find_firmware(root: &HostRoot, kernel: &str, name: &str) -> Option<String> {
    if name.split('/').any(|part| part == "..") {
        return None;
    }
    FIRMWARE_DIRS.iter().find_map(|dir| {
        let dir = dir.replace("<kernel>", kernel);
        ["", ".zst", ".xz"].iter().find_map(|ext| {
            let p = format!("{dir}/{name}{ext}");
            root.exists(&p).then_some(p)
        })
    })
}

/// Names of the modules loaded now (`/proc/modules`, first word of each line).
fn loaded_module_names(root: &HostRoot) -> BTreeSet<String> {
    root.read_to_string("/proc/modules")
        .map(|text| {
            text.lines()
                .filter_map(|l| l.split_whitespace().next())
                .map(kmod_config::normalise)
                .collect()
        })
        .unwrap_or_default()
}

/// The vermagic of one of the running kernel's own loaded modules under `kernel/` (not NVIDIA's).
fn running_vermagic(
    reader: &ModuleReader<'_>,
    kernel: &str,
    dep: &ModulesDep,
    loaded: &BTreeSet<String>,
) -> Option<RunningVermagic> {
    dep.by_name
        .iter()
        .filter(|(name, e)| {
            e.path.starts_with("kernel/") && loaded.contains(*name) && !name.starts_with("nvidia")
        })
        .take(MAX_VERMAGIC_PROBES)
        .find_map(|(_, e)| {
            let path = host_path(kernel, &e.path);
            let vermagic = reader.read(&path).ok()?.info.vermagic?;
            Some(RunningVermagic {
                vermagic,
                from: path,
            })
        })
}

/// Configuration files of kmod's folders: one per name (the first folder wins), sorted by name.
fn config_files(root: &HostRoot, dirs: &[&str]) -> Vec<String> {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for dir in dirs {
        for name in root.read_dir_names(dir).unwrap_or_default() {
            if name.ends_with(".conf") {
                by_name
                    .entry(name.clone())
                    .or_insert_with(|| format!("{dir}/{name}"));
            }
        }
    }
    by_name.into_values().collect()
}

fn read_aliases(root: &HostRoot) -> Vec<ModprobeAlias> {
    config_files(root, MODPROBE_DIRS)
        .iter()
        .filter_map(|f| {
            root.read_to_string(f)
                .ok()
                .map(|t| kmod_config::parse_modprobe_aliases(f, &t))
        })
        .flatten()
        .collect()
}

fn read_depmod_config(root: &HostRoot) -> DepmodConfig {
    let mut config = DepmodConfig::default();
    for f in config_files(root, DEPMOD_DIRS) {
        if let Ok(text) = root.read_to_string(&f) {
            kmod_config::parse_depmod_config(&text, &mut config);
        }
    }
    config
}

fn read_policy(root: &HostRoot) -> KernelModulePolicy {
    let text = |p: &str| root.read_to_string(p).ok();
    KernelModulePolicy {
        sig_enforce: text(SIG_ENFORCE_PATH).and_then(|t| parse_sig_enforce(&t)),
        lockdown: text(LOCKDOWN_PATH).and_then(|t| parse_lockdown(&t)),
        secure_boot: root
            .read_bytes(SECURE_BOOT_PATH)
            .ok()
            .and_then(|b| parse_secure_boot_variable(&b)),
        trusted_keys: text(PROC_KEYS_PATH).and_then(|t| parse_proc_keys(&t)),
    }
}

/// Asks `modprobe --show-depends` (read-only: it loads nothing) which files it would insert for each resolved
/// module, and records where it disagrees with nvfix's resolution. Only meaningful on the live host.
pub fn cross_check_with_modprobe(runner: &dyn CommandRunner, inputs: &mut PreflightInputs) {
    for m in inputs.modules.iter_mut().filter(|m| m.path.is_some()) {
        // Through an alias, ask for the module it leads to. `--ignore-install`: an install command of the module
        // itself (a udev-style hook, `modprobe --ignore-install X && make-nodes`) is shown as `install …` after the
        // dependencies' `insmod` lines, so the last `insmod` would be a dependency; ignoring install commands makes
        // the last line the module's own file.
        let name = m.requested_as.clone().unwrap_or_else(|| m.name.clone());
        let spec = CommandSpec::new("modprobe", &["--ignore-install", "--show-depends", &name])
            .with_timeout(Duration::from_secs(15));
        m.modprobe = match runner.run(&spec) {
            Err(e) => ModprobeView::NotChecked {
                reason: one_line(&e),
            },
            // kmod says `FATAL`/`ERROR` when it cannot resolve a module; anything else (busybox's modprobe, which has
            // no --show-depends) says nothing about the module.
            Ok(out) if !out.success() => {
                let message = first_line(&out.stderr)
                    .unwrap_or_else(|| format!("exit status {}", out.status));
                if message.contains("FATAL") || message.contains("ERROR") {
                    ModprobeView::Failed { message }
                } else {
                    ModprobeView::NotChecked {
                        reason: format!("modprobe --show-depends {name} failed: {message}"),
                    }
                }
            }
            // A modprobe that still shows an install command for the module itself says nothing about its file.
            Ok(out)
                if out
                    .stdout
                    .lines()
                    .rfind(|l| !l.trim().is_empty())
                    .is_some_and(|l| l.trim_start().starts_with("install ")) =>
            {
                ModprobeView::NotChecked {
                    reason: format!("{name} is loaded through an install command in modprobe.d"),
                }
            }
            Ok(out) => {
                let insmod = kmod_config::parse_show_depends(&out.stdout);
                let same =
                    insmod.last().map(|p| without_usr(p)) == m.path.as_deref().map(without_usr);
                if same {
                    ModprobeView::Agrees
                } else {
                    ModprobeView::Disagrees { insmod }
                }
            }
        };
    }
}

/// kmod prints `/usr/lib/modules/…` or `/lib/modules/…` depending on how it was built; both are the same file on a
/// merged-/usr host.
fn without_usr(p: &str) -> &str {
    p.strip_prefix("/usr").unwrap_or(p)
}

fn first_line(s: &str) -> Option<String> {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::module_cache::ModuleCache;
    use crate::host::runner::{CommandOutput, RecordingRunner};
    use crate::model::module_signature::SignatureState;
    use crate::model::preflight::check;
    use std::fs;
    use std::path::Path;

    fn reader(root: &HostRoot) -> ModuleReader<'_> {
        ModuleReader::with_cache(root, ModuleCache::disabled())
    }

    const K: &str = "6.8.0-85-generic";

    fn fixture(rel: &str) -> Vec<u8> {
        fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/modules")
                .join(rel),
        )
        .unwrap()
    }

    fn write(root: &Path, to: &str, bytes: &[u8]) {
        let dest = root.join(to.trim_start_matches('/'));
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::write(dest, bytes).unwrap();
    }

    /// Ubuntu-like: branch-named files reached through a modprobe.d alias, one signed module, firmware compressed.
    fn host() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let m = format!("/lib/modules/{K}");
        write(
            r,
            &format!("{m}/updates/dkms/nvidia_367.ko"),
            &fixture("signed/nvidia.ko"),
        );
        write(
            r,
            &format!("{m}/updates/dkms/nvidia_367_uvm.ko"),
            &fixture("580.95.05/nvidia-uvm.ko"),
        );
        write(
            r,
            &format!("{m}/kernel/drivers/video/video.ko"),
            &fixture("580.95.05/nvidia-peermem.ko"),
        );
        write(
            r,
            &format!("{m}/modules.dep"),
            b"kernel/drivers/video/video.ko:\nupdates/dkms/nvidia_367.ko:\n\
              updates/dkms/nvidia_367_uvm.ko: updates/dkms/nvidia_367.ko kernel/drivers/missing/ib_core.ko\n",
        );
        write(
            r,
            "/etc/modprobe.d/nvidia-367.conf",
            b"alias nvidia nvidia_367\nalias nvidia-uvm nvidia_367_uvm\n",
        );
        write(
            r,
            "/proc/modules",
            b"video 77824 0 - Live 0x0\nnvidia 1 0 - Live 0x0\n",
        );
        write(r, "/lib/firmware/nvidia/580.95.05/gsp_ga10x.bin.zst", b"fw");
        write(r, SIG_ENFORCE_PATH, b"Y\n");
        write(r, LOCKDOWN_PATH, b"[none] integrity confidentiality\n");
        write(
            r,
            PROC_KEYS_PATH,
            b"1e7c8ed6 I------     1 perm 1f0b0000     0     0 keyring   .builtin_trusted_keys: 1\n",
        );
        t
    }

    fn names() -> Vec<String> {
        vec!["nvidia".into(), "nvidia_uvm".into()]
    }

    #[test]
    fn resolves_aliases_reads_files_and_finds_what_would_fail() {
        let t = host();
        let root = HostRoot::new(t.path());
        let inputs = gather_inputs(&root, &reader(&root), K, &names(), &[]);
        let nv = &inputs.modules[0];
        assert_eq!(nv.requested_as.as_deref(), Some("nvidia_367"));
        assert_eq!(
            nv.alias_file.as_deref(),
            Some("/etc/modprobe.d/nvidia-367.conf")
        );
        assert_eq!(
            nv.path.as_deref(),
            Some(format!("/lib/modules/{K}/updates/dkms/nvidia_367.ko").as_str())
        );
        assert!(matches!(
            nv.signature,
            Some(SignatureState::Signed {
                signer: Some(_),
                ..
            })
        ));
        assert_eq!(nv.firmware.len(), 2);
        assert!(nv.firmware.iter().any(
            |f| f.found.as_deref() == Some("/lib/firmware/nvidia/580.95.05/gsp_ga10x.bin.zst")
        ));
        let uvm = &inputs.modules[1];
        assert_eq!(uvm.signature, Some(SignatureState::Unsigned));
        // nvidia is loaded but the reload takes it out: needed; ib_core is not loaded: needed, and missing.
        assert!(uvm.deps.iter().all(|d| d.needed));
        assert!(!uvm.deps[1].present);
        // The kernel's own vermagic comes from the loaded in-tree module.
        assert_eq!(
            inputs.running_vermagic.as_ref().unwrap().from,
            format!("/lib/modules/{K}/kernel/drivers/video/video.ko")
        );
        assert_eq!(inputs.policy.sig_enforce, Some(true));
        assert_eq!(inputs.policy.trusted_keys, Some(vec![]));
        let findings = check(&inputs);
        let codes: Vec<(&str, &str)> = findings
            .iter()
            .map(|f| (f.code, f.module.as_str()))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("preflight-signature", "nvidia"),
                ("preflight-firmware", "nvidia"),
                ("preflight-missing-dependency", "nvidia_uvm"),
                ("preflight-signature", "nvidia_uvm"),
            ]
        );
    }

    #[test]
    fn absent_modules_dep_and_garbled_files_become_findings_not_panics() {
        let t = tempfile::tempdir().unwrap();
        let root = HostRoot::new(t.path());
        let inputs = gather_inputs(&root, &reader(&root), K, &names(), &[]);
        assert!(inputs.modules_dep_error.is_some());
        assert!(check(&inputs)
            .iter()
            .all(|f| f.code == "preflight-missing-module"));
        let r = t.path();
        write(
            r,
            &format!("/lib/modules/{K}/modules.dep"),
            b"updates/nvidia.ko:\nupdates/nvidia-uvm.ko.zst:\n",
        );
        write(
            r,
            &format!("/lib/modules/{K}/updates/nvidia.ko"),
            b"\x7fELF junk",
        );
        write(
            r,
            &format!("/lib/modules/{K}/updates/nvidia-uvm.ko.zst"),
            b"",
        );
        write(r, SECURE_BOOT_PATH, &[7, 0, 0, 0]);
        write(r, PROC_KEYS_PATH, &[0xff, 0xfe, 0, 1]);
        let inputs = gather_inputs(&root, &reader(&root), K, &names(), &[]);
        assert_eq!(inputs.policy.secure_boot, None);
        assert!(check(&inputs)
            .iter()
            .all(|f| f.code == "preflight-unreadable-module"));
    }

    #[test]
    fn modprobe_show_depends_is_compared() {
        let t = host();
        let root = HostRoot::new(t.path());
        let mut inputs = gather_inputs(&root, &reader(&root), K, &names(), &[]);
        let runner = RecordingRunner::new();
        runner.respond(
            "modprobe --ignore-install --show-depends nvidia_367_uvm",
            CommandOutput {
                status: 0,
                stdout: format!("insmod /usr/lib/modules/{K}/updates/dkms/nvidia_367.ko \ninsmod /lib/modules/{K}/kernel/nvidia_uvm.ko\n"),
                stderr: String::new(),
            },
        );
        runner.respond(
            "modprobe --ignore-install --show-depends nvidia_367",
            CommandOutput {
                status: 0,
                stdout: format!(
                    "insmod /usr/lib/modules/{K}/updates/dkms/nvidia_367.ko NVreg_X=1\n"
                ),
                stderr: String::new(),
            },
        );
        cross_check_with_modprobe(&runner, &mut inputs);
        assert_eq!(
            runner.commands(),
            vec![
                "modprobe --ignore-install --show-depends nvidia_367",
                "modprobe --ignore-install --show-depends nvidia_367_uvm"
            ]
        );
        assert_eq!(inputs.modules[0].modprobe, ModprobeView::Agrees);
        assert!(matches!(
            inputs.modules[1].modprobe,
            ModprobeView::Disagrees { .. }
        ));
        let failing = RecordingRunner::new();
        failing.respond(
            "modprobe",
            CommandOutput {
                status: 1,
                stdout: String::new(),
                stderr: format!(
                    "modprobe: FATAL: Module nvidia not found in directory /lib/modules/{K}\n"
                ),
            },
        );
        cross_check_with_modprobe(&failing, &mut inputs);
        assert!(
            matches!(&inputs.modules[0].modprobe, ModprobeView::Failed { message } if message.contains("FATAL"))
        );
        let custom = RecordingRunner::new();
        custom.respond(
            "modprobe",
            CommandOutput {
                status: 0,
                stdout:
                    "install /sbin/modprobe --ignore-install nvidia; /usr/bin/nvidia-smi -pm 1\n"
                        .into(),
                stderr: String::new(),
            },
        );
        cross_check_with_modprobe(&custom, &mut inputs);
        assert!(
            matches!(&inputs.modules[0].modprobe, ModprobeView::NotChecked { reason } if reason.contains("install command"))
        );
        // A modprobe without --show-depends (busybox) proves nothing either way.
        let busybox = RecordingRunner::new();
        busybox.respond(
            "modprobe",
            CommandOutput {
                status: 1,
                stdout: String::new(),
                stderr: "modprobe: unrecognized option '--show-depends'\nBusyBox v1.36.1\n".into(),
            },
        );
        cross_check_with_modprobe(&busybox, &mut inputs);
        assert!(
            matches!(&inputs.modules[0].modprobe, ModprobeView::NotChecked { reason } if reason.contains("unrecognized"))
        );
    }

    #[test]
    fn stale_modules_dep_against_depmod_search_order() {
        let t = host();
        let r = t.path();
        write(
            r,
            "/etc/depmod.d/ubuntu.conf",
            b"search updates ubuntu built-in\n",
        );
        write(
            r,
            &format!("/lib/modules/{K}/modules.dep"),
            b"kernel/nvidia-580/nvidia.ko:\n",
        );
        let root = HostRoot::new(r);
        let files = vec![ModuleFile {
            name: "nvidia".into(),
            kernel: K.into(),
            path: format!("/lib/modules/{K}/updates/dkms/nvidia.ko.zst"),
            version: None,
            flavor: None,
            not_read: false,
        }];
        fs::remove_file(r.join("etc/modprobe.d/nvidia-367.conf")).unwrap();
        let inputs = gather_inputs(&root, &reader(&root), K, &["nvidia".into()], &files);
        assert_eq!(
            inputs.modules[0].depmod_would_pick.as_deref(),
            Some(format!("/lib/modules/{K}/updates/dkms/nvidia.ko.zst").as_str())
        );
    }
}
