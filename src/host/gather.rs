//! Gathers [`HostFacts`] from a host root: reads each source once and turns read/parse failures into warnings.

use super::module_cache::ModuleCache;
use super::module_reader::ModuleReader;
use super::narrow::{self, Records};
use super::nvml_gate::{probe_nvml_if_loaded, NvmlLock};
use super::read_budget::{self, Bounded, FileKind, StopAtError};
use super::runner::SystemRunner;
use super::{host_kind, journal, kmsg, modfiles, preflight, procscan, HostRoot};
use crate::model::apt_history::{self, PackageChange};
use crate::model::dpkg::{self, UnattendedConfig};
use crate::model::driver_version::parse_proc_driver_version;
use crate::model::facts::{
    indexed_name, FabricManager, GatherWarning, HostFacts, MigInstance, NvmlProbe,
};
use crate::model::host_kind::{classify, parse_os_release};
use crate::model::kernel_log::{parse_kernel_log, parse_kmsg};
use crate::model::library::{version_from_file_name, LibraryFile};
use crate::model::modules::{self, is_nvidia_related, LoadedModule};
use crate::model::plan::load_order;
use crate::model::unattended_log;
use crate::model::verdict::{diagnose, Action, Verdict};
use crate::model::{DriverVersion, Evidence};
use std::path::PathBuf;

/// What to gather beyond the files.
#[derive(Debug, Clone, Default)]
pub struct GatherOptions {
    /// The NVML library to probe; None → NVML not checked.
    pub nvml_lib: Option<PathBuf>,
    /// How the NVML call holds the run lock (taken for the call, or already held by the caller).
    pub nvml_lock: NvmlLock,
    /// Scan processes for GPU holders.
    pub holders: bool,
    /// Look into other mount namespaces for containers with driver libraries mounted (verification does).
    pub containers: bool,
    /// Read every kernel's module files, not only those the verdict needs (reboot and auto judge the kernel that
    /// boots next).
    pub all_kernels: bool,
    /// Write nothing, not even the module cache (`nvfix check`: a monitoring probe leaves no trace).
    pub read_only: bool,
}

/// Library folders searched on every host, in the order the dynamic loader's trusted paths are tried, after the
/// folders named in `/etc/ld.so.conf.d`. Debian's `nvidia/current` is reached through alternatives links, but is
/// listed so a broken alternatives link still shows what is installed.
const LIBRARY_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu/nvidia/current",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu/nvidia/current",
    "/usr/lib64",
    "/usr/lib",
    "/lib64",
];

/// Reads everything the verdict needs. Never fails: what cannot be read is recorded as a warning (when the file
/// exists but is unreadable or garbled) or simply absent (when the host has no such file).
pub fn gather(root: &HostRoot, options: &GatherOptions) -> HostFacts {
    let cache = ModuleCache::open(root);
    let cache = if options.read_only {
        cache.never_saved()
    } else {
        cache
    };
    let reader = ModuleReader::with_cache(root, cache);
    let mut g = Gatherer {
        root,
        facts: HostFacts {
            root: root.path().display().to_string(),
            ..Default::default()
        },
        log_allowance: read_budget::PACKAGE_LOGS_PER_RUN,
    };
    // The process scan is most of the time on a busy host and shares nothing with the files: run it beside them.
    std::thread::scope(|scope| {
        let scan = options
            .holders
            .then(|| scope.spawn(|| scan_device_holders(root)));
        g.kernel();
        g.loaded_driver();
        g.loaded_modules();
        g.libraries();
        g.packages();
        let kind_inputs = host_kind::read_inputs(root);
        g.facts.host_kind = classify(&kind_inputs);
        g.facts.os_id = kind_inputs
            .os_release
            .as_deref()
            .and_then(|t| parse_os_release(t).id);
        g.facts.has_akmods = host_kind::has_akmods(root);
        g.facts.firmware_versions = host_kind::firmware_versions(root);
        g.module_files(&reader, options.all_kernels);
        g.facts.dkms = modfiles::read_dkms_tree(root);
        g.facts.dkms_build_logs = dkms_build_logs(root);
        g.package_logs();
        g.kernel_log();
        g.facts.driver_container = root.exists("/run/nvidia/driver");
        g.pending_upgrade();
        g.mig();
        if options.containers {
            g.facts.container_mounts = Some(procscan::scan_container_mounts(root));
        }
        if let Some(scan) = scan {
            match scan.join() {
                Ok(result) => g.take_holders(result),
                Err(_) => g.warn("/proc", "the process scan failed unexpectedly"),
            }
        }
    });
    g.facts.nvml = Some(match &options.nvml_lib {
        None => NvmlProbe::NotChecked {
            reason: "no NVML library given for this root (use --nvml-lib)".into(),
        },
        // Checked again right before the call, under the run lock: the module may have gone since it was read.
        Some(lib) => probe_nvml_if_loaded(root, lib, options.nvml_lock),
    });
    if g.other_kernels_needed() {
        g.read_module_versions(&reader, |_| true);
    }
    g.preflight(&reader);
    g.facts.warnings.extend(reader.cache_warning());
    reader.finish();
    g.facts
}

struct Gatherer<'a> {
    root: &'a HostRoot,
    facts: HostFacts,
    /// Decompressed bytes the package logs may still add up to in this run ([`read_budget::PACKAGE_LOGS_PER_RUN`]).
    log_allowance: u64,
}

impl Gatherer<'_> {
    /// Lists every kernel's NVIDIA module files and reads those of the running kernel (of every kernel when `all`):
    /// a real nvidia.ko is tens of megabytes to decompress, and other kernels only matter when a reboot is the
    /// question ([`Self::other_kernels_needed`]).
    fn module_files(&mut self, reader: &ModuleReader<'_>, all: bool) {
        let (files, warnings) = modfiles::list_module_files(self.root);
        self.facts.module_files = files;
        self.facts.warnings.extend(warnings);
        let running = self.facts.kernel_release.clone();
        self.read_module_versions(reader, |f| all || Some(&f.kernel) == running.as_ref());
    }

    fn read_module_versions(
        &mut self,
        reader: &ModuleReader<'_>,
        wanted: impl Fn(&crate::model::facts::ModuleFile) -> bool,
    ) {
        let mut warnings = Vec::new();
        modfiles::read_module_versions(&mut self.facts.module_files, reader, wanted, &mut warnings);
        self.facts.warnings.extend(warnings);
    }

    /// Whether the verdict may depend on other kernels' modules: not when the running kernel's modules already make
    /// it a reload, nor on a healthy host (both judged on the running kernel alone, so reading the others changes
    /// neither); yes for everything else (a reboot or a repair is the question) and when the kernel is unknown.
    fn other_kernels_needed(&self) -> bool {
        if !self.facts.module_files.iter().any(|f| f.not_read) {
            return false;
        }
        if self.facts.kernel_release.is_none() {
            return true;
        }
        let d = diagnose(&self.facts);
        !(d.action == Action::Reload || d.verdict == Verdict::Healthy)
    }

    /// The pre-flight, only when the verdict would be a reload (it reads the new modules in full: not worth it on a
    /// healthy host). On the live host modprobe's own resolution is compared too.
    fn preflight(&mut self, reader: &ModuleReader<'_>) {
        if diagnose(&self.facts).action != Action::Reload {
            return;
        }
        let Some(kernel) = self.facts.kernel_release.clone() else {
            return;
        };
        let names = if self.facts.loaded_modules.is_empty() {
            vec!["nvidia".to_string(), "nvidia_uvm".to_string()]
        } else {
            load_order(&self.facts.loaded_modules)
        };
        let mut inputs =
            preflight::gather_inputs(self.root, reader, &kernel, &names, &self.facts.module_files);
        if self.root.is_system() {
            preflight::cross_check_with_modprobe(&SystemRunner, &mut inputs);
        }
        self.facts.preflight = Some(inputs);
    }

    /// `nvfix upgrade`'s journal, when one is left (a garbled one is a warning; `nvfix upgrade` refuses it with 65).
    fn pending_upgrade(&mut self) {
        use crate::model::upgrade::{UpgradeJournal, JOURNAL_PATH};
        match self.root.read_to_string(JOURNAL_PATH) {
            Ok(text) => match UpgradeJournal::parse(&text) {
                Ok(j) => {
                    self.facts.pending_upgrade = Some(crate::model::facts::PendingUpgrade {
                        from_version: j.plan.from_version,
                        to_version: j.plan.to_version,
                        phase: j.phase,
                    })
                }
                Err(e) => self.warn(JOURNAL_PATH, e),
            },
            Err(e) if e.is_not_found() => {}
            Err(e) => self.warn(JOURNAL_PATH, e.to_string()),
        }
    }

    fn warn(&mut self, file: &str, message: impl Into<String>) {
        self.facts.warnings.push(GatherWarning {
            file: file.to_string(),
            message: message.into(),
        });
    }

    /// Reads a file that may legitimately be absent: Some(text) when present, None when absent, a warning otherwise.
    /// A file that may legitimately be absent, within its budget: a log larger than its budget is cut (with a warning
    /// naming it), any other file refused (with a warning naming it).
    fn optional_text(&mut self, path: &str) -> Option<String> {
        match self.root.read_text(path) {
            Ok(read) => {
                if let Some(why) = read.cut {
                    self.warn(path, why);
                }
                Some(read.text)
            }
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                self.warn(path, e.to_string());
                None
            }
        }
    }

    fn kernel(&mut self) {
        self.facts.kernel_release = self.first_line("/proc/sys/kernel/osrelease");
        self.facts.boot_id = self.first_line("/proc/sys/kernel/random/boot_id");
        self.facts.boot_time = boot_time(self.root);
    }

    fn first_line(&mut self, path: &str) -> Option<String> {
        let text = self.optional_text(path)?;
        let line = text.lines().next().unwrap_or("").trim();
        if line.is_empty() || line.chars().any(|c| c.is_control()) {
            self.warn(path, "empty or unreadable");
            return None;
        }
        Some(line.to_string())
    }

    fn loaded_driver(&mut self) {
        const PATH: &str = "/proc/driver/nvidia/version";
        if let Some(text) = self.optional_text(PATH) {
            match parse_proc_driver_version(&text) {
                Ok(d) => {
                    let first = text.lines().next().unwrap_or("").trim().to_string();
                    self.facts.loaded_driver_evidence = Some(Evidence::line(PATH, 1, first));
                    self.facts.loaded_driver = Some(d);
                }
                Err(e) => self.warn(PATH, e.to_string()),
            }
        }
        const SYSFS: &str = "/sys/module/nvidia/version";
        if let Some(text) = self.optional_text(SYSFS) {
            match text.trim().parse::<DriverVersion>() {
                Ok(v) => self.facts.sysfs_driver_version = Some(v),
                Err(e) => self.warn(SYSFS, e),
            }
        }
    }

    fn loaded_modules(&mut self) {
        const PATH: &str = "/proc/modules";
        let mut all = match self
            .optional_text(PATH)
            .map(|t| modules::parse_proc_modules(&t))
        {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                self.warn(PATH, e.to_string());
                Vec::new()
            }
            None => Vec::new(),
        };
        // A module missing from /proc/modules but present in sysfs (garbled /proc/modules) is still loaded.
        for name in [
            "nvidia",
            "nvidia_uvm",
            "nvidia_modeset",
            "nvidia_drm",
            "nvidia_peermem",
        ] {
            if !all.iter().any(|m| m.name == name)
                && self.root.is_dir(&format!("/sys/module/{name}/holders"))
            {
                all.push(LoadedModule {
                    name: name.to_string(),
                    size: 0,
                    refcount: 0,
                    used_by: Vec::new(),
                    state: modules::ModuleState::Live,
                    taint: None,
                    version: None,
                });
            }
        }
        // Keep NVIDIA's modules and every module that uses one of them (gdrdrv, nvidia_fs, vendor helpers), so the
        // holder graph the reload engine walks is complete.
        let (mut kept, mut rest): (Vec<LoadedModule>, Vec<LoadedModule>) =
            all.into_iter().partition(|m| is_nvidia_related(&m.name));
        for m in &mut kept {
            self.merge_sysfs(m);
        }
        loop {
            let users: Vec<String> = kept
                .iter()
                .flat_map(|m| m.used_by.iter().cloned())
                .collect();
            let (mut more, others): (Vec<LoadedModule>, Vec<LoadedModule>) =
                rest.into_iter().partition(|m| users.contains(&m.name));
            rest = others;
            if more.is_empty() {
                break;
            }
            for m in &mut more {
                self.merge_sysfs(m);
            }
            kept.extend(more);
        }
        kept.sort_by(|a, b| a.name.cmp(&b.name));
        self.facts.loaded_modules = kept;
        self.facts.drm_modeset = self.bool_param("/sys/module/nvidia_drm/parameters/modeset");
        self.facts.drm_fbdev = self.bool_param("/sys/module/nvidia_drm/parameters/fbdev");
    }

    /// Adds what sysfs knows and /proc/modules does not: version, holders (authoritative), refcnt, initstate.
    fn merge_sysfs(&mut self, m: &mut LoadedModule) {
        let base = format!("/sys/module/{}", m.name);
        if let Some(t) = self.optional_text(&format!("{base}/version")) {
            m.version = t.trim().parse().ok();
        }
        if let Ok(holders) = self.root.read_dir_names(&format!("{base}/holders")) {
            for h in holders {
                if !m.used_by.contains(&h) {
                    m.used_by.push(h);
                }
            }
            m.used_by.sort();
        }
        if let Some(t) = self.optional_text(&format!("{base}/refcnt")) {
            if let Ok(r) = modules::parse_refcnt(&t) {
                m.refcount = r;
            }
        }
        if let Some(t) = self.optional_text(&format!("{base}/initstate")) {
            if let Ok(s) = modules::parse_initstate(&t) {
                m.state = s;
            }
        }
    }

    fn bool_param(&mut self, path: &str) -> Option<bool> {
        self.optional_text(path)
            .and_then(|t| modules::parse_bool_param(&t))
    }

    /// Library folders: ld.so.conf's first (they come first in the loader's cache), then the distributions' defaults.
    fn library_dirs(&mut self) -> Vec<String> {
        let mut dirs = Vec::new();
        let mut conf_files = vec!["/etc/ld.so.conf".to_string()];
        if let Ok(names) = self.root.read_dir_names("/etc/ld.so.conf.d") {
            conf_files.extend(
                names
                    .into_iter()
                    .filter(|n| n.ends_with(".conf"))
                    .map(|n| format!("/etc/ld.so.conf.d/{n}")),
            );
        }
        for f in conf_files {
            if let Some(text) = self.optional_text(&f) {
                for line in text.lines() {
                    let line = line.split('#').next().unwrap_or("").trim();
                    if line.starts_with('/')
                        && !line.contains(char::is_whitespace)
                        && !dirs.iter().any(|d| d == line)
                    {
                        dirs.push(line.trim_end_matches('/').to_string());
                    }
                }
            }
        }
        for d in LIBRARY_DIRS {
            if !dirs.iter().any(|x| x == d) {
                dirs.push(d.to_string());
            }
        }
        dirs
    }

    fn libraries(&mut self) {
        // List each folder once (they hold thousands of files), and a folder reached twice through links only once.
        let mut seen = Vec::new();
        let mut listings = Vec::new();
        for dir in self.library_dirs() {
            let real = self.root.resolve_host(&dir);
            if seen.contains(&real) {
                continue;
            }
            seen.push(real.clone());
            if let Ok(names) = self
                .root
                .read_dir_names_starting_with(&real, &["libnvidia-ml.so", "libcuda.so"])
            {
                listings.push((real, names));
            }
        }
        let (nvml, all) = self.find_library(&listings, "libnvidia-ml");
        self.facts.nvml_library = nvml;
        self.facts.nvml_libraries = all;
        self.facts.cuda_library = self.find_library(&listings, "libcuda").0;
    }

    /// Finds `<stem>.so.<version>` files, and the one the loader would pick: the first folder whose `<stem>.so.1`
    /// resolves to a versioned file (else the newest file found).
    fn find_library(
        &mut self,
        listings: &[(String, Vec<String>)],
        stem: &str,
    ) -> (Option<LibraryFile>, Vec<LibraryFile>) {
        let mut all: Vec<LibraryFile> = Vec::new();
        let mut chosen: Option<LibraryFile> = None;
        for (dir, names) in listings {
            for name in names {
                if let Some(version) = version_from_file_name(name, stem) {
                    let path = format!("{dir}/{name}");
                    // The same file is often reachable through two folders (Debian's nvidia/current): count it once.
                    let real = self.root.resolve_host(&path);
                    if !all.iter().any(|l| self.root.resolve_host(&l.path) == real) {
                        all.push(LibraryFile {
                            path,
                            version,
                            link: None,
                        });
                    }
                }
            }
            let link = format!("{dir}/{stem}.so.1");
            if chosen.is_none() && names.iter().any(|n| n == &format!("{stem}.so.1")) {
                let target = self.root.resolve_host(&link);
                let file_name = target.rsplit('/').next().unwrap_or("");
                // Jetson's libcuda.so.1 leads to libcuda.so.1.1: a real file whose name carries no driver version.
                let soname_only = self.root.exists(&target)
                    && file_name
                        .strip_prefix(stem)
                        .and_then(|r| r.strip_prefix(".so."))
                        .is_some_and(|r| r.parse::<DriverVersion>().is_ok());
                match version_from_file_name(file_name, stem) {
                    Some(version) if self.root.exists(&target) => {
                        chosen = Some(LibraryFile { path: target, version, link: Some(link) })
                    }
                    None if soname_only => {}
                    _ => self.warn(&link, format!("{stem}.so.1 does not lead to a versioned library (dangling or unversioned link)")),
                }
            }
        }
        all.sort_by(|a, b| a.version.cmp(&b.version).then(a.path.cmp(&b.path)));
        if chosen.is_none() {
            chosen = all.last().cloned();
        }
        (chosen, all)
    }

    fn packages(&mut self) {
        // A busy host's status file is megabytes; only driver packages and unattended-upgrades matter.
        // dpkg's own stanza names the native architecture (foreign packages are `name:arch` to apt).
        let needles = [
            apt_history::DRIVER_NAME_NEEDLES,
            &["unattended-upgrades", "Package: dpkg"],
        ]
        .concat();
        if let Some(text) =
            self.optional_narrowed("/var/lib/dpkg/status", &needles, Records::Stanzas)
        {
            let all = dpkg::parse_dpkg_status(&text);
            let uu_installed = all.iter().any(|p| p.name == "unattended-upgrades");
            if let Some(package) = all
                .iter()
                .find(|p| dpkg::is_fabric_manager_package(&p.name))
            {
                self.facts.fabric_manager = Some(FabricManager {
                    package: package.clone(),
                    enabled: self.unit_enabled(FabricManager::UNIT),
                });
            }
            self.facts.l4t_core_version = all
                .iter()
                .find(|p| p.name == "nvidia-l4t-core")
                .map(|p| p.version.clone());
            self.facts.driver_packages = all
                .into_iter()
                .filter(|p| apt_history::is_driver_package(&p.name))
                .collect();
            let mut config = UnattendedConfig::default();
            if let Ok(names) = self.root.read_dir_names("/etc/apt/apt.conf.d") {
                for n in names {
                    let path = format!("/etc/apt/apt.conf.d/{n}");
                    if let Some(t) = self.optional_text(&path) {
                        dpkg::parse_apt_conf(&t, &mut config);
                    }
                }
            }
            if !uu_installed {
                config.enabled = Some(false);
            }
            self.facts.unattended = Some(config);
        }
    }

    /// MIG GPU and compute instances from the driver's capability files, and whether a MIG manager re-applies them.
    fn mig(&mut self) {
        const CAPS: &str = "/proc/driver/nvidia/capabilities";
        let names = |path: &str| self.root.read_dir_names(path).unwrap_or_default();
        let mut found = Vec::new();
        for gpu_name in names(CAPS) {
            let Some(gpu) = indexed_name(&gpu_name, "gpu") else {
                continue;
            };
            let mig = format!("{CAPS}/{gpu_name}/mig");
            for gi_name in names(&mig) {
                let Some(gpu_instance) = indexed_name(&gi_name, "gi") else {
                    continue;
                };
                let compute_instances = names(&format!("{mig}/{gi_name}"))
                    .iter()
                    .filter(|n| indexed_name(n, "ci").is_some())
                    .count();
                found.push(MigInstance {
                    gpu,
                    gpu_instance,
                    compute_instances,
                });
            }
        }
        found.sort_by_key(|m| (m.gpu, m.gpu_instance));
        // Only a host with MIG instances needs to know who re-creates them.
        self.facts.mig_manager_enabled =
            !found.is_empty() && self.unit_enabled("nvidia-mig-manager.service");
        self.facts.mig_instances = found;
    }

    /// Is `unit` enabled: linked from a `*.wants` folder under `/etc/systemd/system` (the link need not resolve
    /// inside a fixture tree)?
    fn unit_enabled(&self, unit: &str) -> bool {
        let Ok(names) = self.root.read_dir_names("/etc/systemd/system") else {
            return false;
        };
        names.iter().filter(|n| n.ends_with(".wants")).any(|wants| {
            let link = format!("/etc/systemd/system/{wants}/{unit}");
            self.root.read_link(&link).is_ok() || self.root.exists(&link)
        })
    }

    fn package_logs(&mut self) {
        let mut changes: Vec<PackageChange> = Vec::new();
        type Parser = fn(&str, &str) -> Vec<PackageChange>;
        const UU: &str = "/var/log/unattended-upgrades";
        // unattended-upgrades' own logs come last: on some hosts history.log has rotated away and they are all
        // that is left (its dpkg log has the versions, its run log only names and times).
        let logs: [(&str, &str, Parser); 5] = [
            (
                "/var/log/apt",
                "history.log",
                apt_history::parse_apt_history,
            ),
            ("/var/log", "dpkg.log", apt_history::parse_dpkg_log),
            ("/var/log", "dnf.rpm.log", apt_history::parse_dnf_rpm_log),
            (
                UU,
                "unattended-upgrades-dpkg.log",
                unattended_log::parse_unattended_dpkg_log,
            ),
            (
                UU,
                "unattended-upgrades.log",
                unattended_log::parse_unattended_upgrades_log,
            ),
        ];
        let library = self.facts.nvml_library.as_ref().map(|l| l.version.clone());
        // dpkg.log repeats what apt's history says, without who asked: skip it once apt's history explained.
        let mut apt_explained = false;
        for (dir, base, parse) in logs {
            if base != "history.log" && base != "dnf.rpm.log" && apt_explained {
                continue;
            }
            let Ok(names) = self.root.read_dir_names(dir) else {
                continue;
            };
            // Newest first (`log`, `log.1`, `log.2.gz`, …): once a log explains the library on disk, the older
            // rotations (a dozen gzip files on a long-lived host) are not read.
            let mut rotations: Vec<(u32, &String)> = names
                .iter()
                .filter_map(|n| rotation_index(n, base).map(|i| (i, n)))
                .collect();
            rotations.sort();
            for (_, name) in rotations {
                let path = format!("{dir}/{name}");
                // Blank the entries or lines that name no driver package (line numbers stay right): a long-lived
                // host's logs list thousands of other packages.
                let records = match base {
                    "history.log" => Some(Records::Entries),
                    // Its `Log started:` lines date the lines after them: read whole.
                    "unattended-upgrades-dpkg.log" => None,
                    _ => Some(Records::Lines),
                };
                let Some(text) = self.log_text(&path, records) else {
                    continue;
                };
                let found: Vec<PackageChange> = parse(&text, &path)
                    .into_iter()
                    .filter(|c| apt_history::is_driver_package(&c.package))
                    .collect();
                let explains = library.as_ref().is_some_and(|want| {
                    found.iter().any(|c| {
                        c.to.as_deref()
                            .and_then(DriverVersion::parse_prefix)
                            .as_ref()
                            == Some(want)
                    })
                });
                changes.extend(found);
                if explains {
                    apt_explained |= base == "history.log";
                    break;
                }
            }
        }
        changes.sort_by(|a, b| a.at.cmp(&b.at).then(a.evidence.file.cmp(&b.evidence.file)));
        self.facts.package_changes = changes;
    }

    /// Reads a file that may legitimately be absent, keeping only the records that mention one of `needles`.
    fn optional_narrowed(
        &mut self,
        path: &str,
        needles: &[&str],
        records: Records,
    ) -> Option<String> {
        let limit = match FileKind::of(path) {
            FileKind::PackageLog => self.log_allowance,
            kind => kind.budget(),
        };
        match self.root.read_narrowed(path, needles, records, limit) {
            Ok(read) => {
                if FileKind::of(path) == FileKind::PackageLog {
                    self.log_allowance = self.log_allowance.saturating_sub(read.read);
                }
                if let Some(why) = read.cut {
                    self.warn(path, why);
                }
                Some(read.text)
            }
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                self.warn(path, e.to_string());
                None
            }
        }
    }

    /// A package log's text narrowed to the records that mention a driver package (the others emptied in place);
    /// `.gz` files are decompressed. Every read is within its budget and this run's allowance for logs; a truncated
    /// gzip keeps what could be read, with a warning.
    fn log_text(&mut self, path: &str, records: Option<Records>) -> Option<String> {
        let needles = apt_history::DRIVER_NAME_NEEDLES;
        if !path.ends_with(".gz") {
            return match records {
                Some(records) => self.optional_narrowed(path, needles, records),
                None => self.optional_text(path),
            };
        }
        self.gzip_log_text(path, records)
    }

    /// A rotated `.gz` log, decompressed as a stream within its budgets (compressed, decompressed, kept) and this
    /// run's allowance; a truncated gzip keeps what could be read, with a warning.
    fn gzip_log_text(&mut self, path: &str, records: Option<Records>) -> Option<String> {
        let needles = apt_history::DRIVER_NAME_NEEDLES;
        if self.log_allowance == 0 {
            self.warn(path, read_budget::cut_message(FileKind::CompressedLog, 0));
            return None;
        }
        let file = match std::fs::File::open(self.root.resolve(path)) {
            Ok(f) => f,
            Err(source) => {
                let e = super::HostError::Read {
                    path: path.into(),
                    source,
                };
                if !e.is_not_found() {
                    self.warn(path, e.to_string());
                }
                return None;
            }
        };
        let limit = self.log_allowance.min(FileKind::CompressedLog.budget());
        let mut compressed = Bounded::new(file, read_budget::COMPRESSED_LOG_INPUT);
        let mut decoder = StopAtError::new(flate2::read::MultiGzDecoder::new(&mut compressed));
        let mut text = Bounded::new(&mut decoder, limit);
        let narrowed = match records {
            Some(records) => narrow::read_narrowed_within(
                &mut text,
                needles,
                records,
                narrow::CHUNK,
                read_budget::KEPT_PER_FILE,
            ),
            None => read_budget::read_capped(&mut text, limit)
                .map(|(bytes, _)| (String::from_utf8_lossy(&bytes).into_owned(), false)),
        };
        let (read, cut) = (limit - text.left(), text.was_cut());
        let decode_error = decoder.error.take();
        drop(decoder);
        self.log_allowance = self.log_allowance.saturating_sub(read);
        let (narrowed, kept_cut) = match narrowed {
            Ok(t) => t,
            Err(e) => {
                self.warn(path, format!("cannot read: {e}"));
                return None;
            }
        };
        if compressed.was_cut() {
            self.warn(
                path,
                format!(
                    "larger than the {} budget for a compressed log; read up to there, the rest left out",
                    read_budget::show_bytes(read_budget::COMPRESSED_LOG_INPUT)
                ),
            );
        } else if let Some(e) = decode_error {
            self.warn(
                path,
                format!("not a complete gzip file ({e}); read what was there"),
            );
        }
        if kept_cut {
            self.warn(path, read_budget::kept_message());
        } else if cut {
            self.warn(
                path,
                read_budget::cut_message(FileKind::CompressedLog, limit),
            );
        }
        Some(narrowed)
    }

    fn kernel_log(&mut self) {
        if self.root.is_system() {
            // Without CAP_SYSLOG (or with dmesg_restrict) the ring buffer is closed: fall back to the log files.
            if let Ok(ring) = kmsg::read_kmsg() {
                self.facts.kernel_log = Some(match ring {
                    kmsg::KernelRing::Records(records) => parse_kmsg(&records),
                    kmsg::KernelRing::Dmesg(text) => parse_kernel_log(&text),
                });
                self.facts.kernel_log_source = Some("kernel ring buffer (/dev/kmsg)".into());
                return;
            }
        }
        // Debian/Ubuntu's rsyslog writes kern.log; RHEL's writes everything, the kernel included, to messages.
        for path in ["/var/log/kern.log", "/var/log/messages", "/var/log/dmesg"] {
            if let Some(text) = self.optional_text(path) {
                self.facts.kernel_log = Some(parse_kernel_log(&text));
                self.facts.kernel_log_source = Some(path.to_string());
                return;
            }
        }
        // No text log (no rsyslog): the journal, on the live host only (under --root it would be this machine's).
        if self.root.is_system() {
            if let Some(text) = journal::kernel_messages(&SystemRunner) {
                self.facts.kernel_log = Some(parse_kernel_log(&text));
                self.facts.kernel_log_source = Some("journal (journalctl -k)".into());
            }
        }
    }

    fn take_holders(&mut self, result: Result<procscan::HolderScan, super::HostError>) {
        match result {
            Ok(scan) => {
                if let Some(note) = scan.unreadable_note() {
                    self.warn("/proc", note);
                }
                self.facts.holders = scan.holders;
            }
            Err(e) => self.warn("/proc", e.to_string()),
        }
    }
}

/// Host paths of DRM nodes driven by nvidia-drm: `/sys/class/drm/<node>/device/driver` leads to `…/nvidia`
/// (the PCI driver); card*/renderD* nodes become `/dev/dri/<node>`.
pub fn nvidia_drm_nodes(root: &HostRoot) -> Vec<String> {
    let Ok(names) = root.read_dir_names("/sys/class/drm") else {
        return Vec::new();
    };
    names
        .into_iter()
        .filter(|n| (n.starts_with("card") || n.starts_with("renderD")) && !n.contains('-'))
        .filter(|n| {
            let driver = root.resolve_host(&format!("/sys/class/drm/{n}/device/driver"));
            driver.rsplit('/').next() == Some("nvidia")
        })
        .map(|n| format!("/dev/dri/{n}"))
        .collect()
}

/// `btime` from `/proc/stat`: when the host booted, in seconds since the epoch.
pub fn boot_time(root: &HostRoot) -> Option<u64> {
    let text = root.read_to_string("/proc/stat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `make.log` files DKMS leaves in `/var/lib/dkms/nvidia/<version>/build/` when a build fails (a successful build
/// moves its log next to the built modules).
fn dkms_build_logs(root: &HostRoot) -> Vec<String> {
    let Ok(versions) = root.read_dir_names("/var/lib/dkms/nvidia") else {
        return Vec::new();
    };
    versions
        .into_iter()
        .map(|v| format!("/var/lib/dkms/nvidia/{v}/build/make.log"))
        .filter(|p| root.exists(p))
        .collect()
}

/// Device holders (what blocks a reload), with the libraries of those holders. Processes that only map the driver
/// libraries are `nvfix ps`'s job: reading every process's maps would make diagnose several times slower.
fn scan_device_holders(root: &HostRoot) -> Result<procscan::HolderScan, super::HostError> {
    let options = procscan::ScanOptions {
        nvidia_drm_nodes: nvidia_drm_nodes(root),
        library_maps: procscan::LibraryMaps::OfDeviceHolders,
    };
    procscan::scan_holders_report(root, &options)
}

/// Only the loaded NVIDIA modules (with sysfs holders, refcounts, states): what the reload engine re-reads right
/// before each unload, without re-reading packages, logs and module files.
pub fn loaded_modules(root: &HostRoot) -> Vec<LoadedModule> {
    let mut g = Gatherer {
        root,
        facts: HostFacts::default(),
        log_allowance: read_budget::PACKAGE_LOGS_PER_RUN,
    };
    g.loaded_modules();
    g.facts.loaded_modules
}

/// Only the device holders (the same scan `gather` runs), for the reload engine's re-scan.
pub fn device_holders(root: &HostRoot) -> Vec<crate::model::holders::GpuHolder> {
    scan_device_holders(root)
        .map(|scan| scan.holders)
        .unwrap_or_default()
}

/// `history.log` → 0, `history.log.1` → 1, `history.log.2.gz` → 2; other names → None.
fn rotation_index(name: &str, base: &str) -> Option<u32> {
    let rest = name.strip_prefix(base)?;
    if rest.is_empty() {
        return Some(0);
    }
    let rest = rest.strip_prefix('.')?;
    rest.strip_suffix(".gz").unwrap_or(rest).parse().ok()
}
