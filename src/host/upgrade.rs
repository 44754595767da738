//! Effects of `nvfix upgrade`: asking apt (policy, simulation), the trial (download the new kernel-side packages,
//! build them with DKMS in a private tree, pre-flight what was built), the install, and the upgrade journal.

use super::atomic_write::{write_host_file, DirRule};
use super::module_reader::ModuleReader;
use super::runner::{CommandOutput, CommandRunner, CommandSpec};
use super::{HostError, HostRoot};
use crate::model::apt_simulation::{
    parse_apt_policy, parse_apt_simulation, PackagePolicy, TransactionChange,
};
use crate::model::dkms::parse_dkms_status;
use crate::model::hold;
use crate::model::kmod_config::module_name_of_path;
use crate::model::preflight::{self, PreflightFinding};
use crate::model::upgrade::{
    ModuleSource, PinnedPackage, UpgradeJournal, UpgradePlan, JOURNAL_PATH, TRIAL_DIR,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// apt's messages are translated; nvfix parses them, so every apt command runs in the C locale.
fn apt(program: &str, args: &[&str]) -> CommandSpec {
    let mut all = vec!["LC_ALL=C", "DEBIAN_FRONTEND=noninteractive", program];
    all.extend_from_slice(args);
    CommandSpec::new("env", &all)
}

fn run_ok(runner: &dyn CommandRunner, cmd: &CommandSpec) -> Result<CommandOutput, String> {
    let out = runner.run(cmd).map_err(|e| e.to_string())?;
    if out.success() {
        Ok(out)
    } else {
        Err(format!(
            "`{}` failed (exit {}): {}",
            cmd.display(),
            out.status,
            last_lines(&format!("{}\n{}", out.stdout, out.stderr), 6)
        ))
    }
}

/// The last `n` non-empty lines, joined with ` | ` (an error message stays one line).
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// `apt-cache policy` for the packages.
pub fn apt_policies(
    runner: &dyn CommandRunner,
    names: &[String],
) -> Result<Vec<PackagePolicy>, String> {
    let mut args = vec!["policy"];
    args.extend(names.iter().map(String::as_str));
    let out = run_ok(
        runner,
        &apt("apt-cache", &args).with_timeout(Duration::from_secs(120)),
    )?;
    Ok(parse_apt_policy(&out.stdout))
}

/// What `apt-get install NAME=VERSION…` would do, without doing it (no lock taken: the busy check comes first).
pub fn apt_simulate(
    runner: &dyn CommandRunner,
    pins: &[PinnedPackage],
) -> Result<Vec<TransactionChange>, String> {
    let pinned: Vec<String> = pins.iter().map(PinnedPackage::apt_arg).collect();
    let mut args = vec![
        "-s",
        "-o",
        "Debug::NoLocking=true",
        "--allow-change-held-packages",
        "install",
    ];
    args.extend(pinned.iter().map(String::as_str));
    let out = run_ok(
        runner,
        &apt("apt-get", &args).with_timeout(Duration::from_secs(300)),
    )?;
    parse_apt_simulation(&out.stdout)
}

/// dnf's side of the plan: the installed versions (`rpm -q`), what the repositories offer (`dnf repoquery`), and
/// the versions installed set on `installed`. On a tree (not the live host) rpm and dnf are never run.
pub fn dnf_policies(
    runner: &dyn CommandRunner,
    installed: &mut [crate::model::dpkg::InstalledPackage],
    names: &[String],
) -> Result<Vec<PackagePolicy>, String> {
    use crate::model::dnf_transaction::{parse_repoquery, parse_rpm_versions};
    let mut args = vec!["-q", "--qf", "%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n"];
    args.extend(names.iter().map(String::as_str));
    // rpm -q exits 1 when one name is not installed; the others are still printed.
    let out = runner
        .run(&CommandSpec::new("rpm", &args).with_timeout(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let versions = parse_rpm_versions(&out.stdout);
    for p in installed.iter_mut() {
        if let Some((_, v)) = versions.iter().find(|(n, _)| *n == p.name) {
            p.version = v.clone();
        }
    }
    let mut args = vec![
        "repoquery",
        "--quiet",
        "--qf",
        "%{name} %{evr} %{repoid}\\n",
    ];
    args.extend(names.iter().map(String::as_str));
    let out = run_ok(
        runner,
        &CommandSpec::new("dnf", &args).with_timeout(Duration::from_secs(300)),
    )?;
    Ok(parse_repoquery(&out.stdout, &versions))
}

/// What `dnf install NAME-EVR…` would do (`--assumeno`: dnf resolves, prints the transaction and stops; its exit
/// status 1 then is the expected one).
pub fn dnf_simulate(
    runner: &dyn CommandRunner,
    pins: &[PinnedPackage],
) -> Result<Vec<TransactionChange>, String> {
    let pinned: Vec<String> = pins.iter().map(PinnedPackage::dnf_arg).collect();
    let mut args = vec!["install", "--assumeno"];
    args.extend(pinned.iter().map(String::as_str));
    let cmd = CommandSpec::new("env", &[&["LC_ALL=C", "dnf"], &args[..]].concat())
        .with_timeout(Duration::from_secs(300));
    let out = runner.run(&cmd).map_err(|e| e.to_string())?;
    if out.stdout.contains("Error:") || out.stderr.contains("Error:") {
        return Err(format!(
            "`{}` failed: {}",
            cmd.display(),
            last_lines(&format!("{}\n{}", out.stdout, out.stderr), 4)
        ));
    }
    Ok(crate::model::dnf_transaction::parse_dnf_transaction(
        &out.stdout,
    ))
}

/// Kernels under `/lib/modules` with their headers (`build` link) installed: DKMS can build for them.
pub fn kernels_with_headers(root: &HostRoot) -> Vec<String> {
    let mut out: Vec<String> = root
        .read_dir_names("/lib/modules")
        .unwrap_or_default()
        .into_iter()
        .filter(|k| root.exists(&format!("/lib/modules/{k}/build/Makefile")))
        .collect();
    out.sort();
    out
}

/// Why the package manager is busy now: lock files held, apt/dpkg/unattended-upgrade running.
pub fn package_manager_busy(root: &HostRoot) -> Vec<String> {
    let (locks, _) = super::reboot::probe_package_locks(root);
    let mut out: Vec<String> = locks
        .iter()
        .map(|l| match l.pid {
            Some(pid) => format!("{} is held (pid {pid})", l.path),
            None => format!("{} is held", l.path),
        })
        .collect();
    out.extend(super::reboot::package_processes(root).iter().map(|p| {
        format!(
            "pid {} runs {}",
            p.pid,
            crate::model::excerpt::excerpt(&p.command)
        )
    }));
    out
}

/// What the trial proved for one kernel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrialKernel {
    pub kernel: String,
    /// `dkms build` in nvfix's private tree, or the prebuilt package unpacked.
    pub how: String,
    /// The module files it produced (host paths, removed with the trial).
    pub modules: Vec<String>,
    /// The pre-flight's findings on them (the running kernel only: its policy and vermagic are what load them).
    pub findings: Vec<PreflightFinding>,
}

/// Why the trial says no.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrialFailure {
    pub message: String,
    /// DKMS's build log, kept with the trial folder for the admin to read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The compiler's first error lines.
    pub excerpt: Vec<String>,
}

/// The trial's folder on the host (under the root).
pub fn trial_dir(root: &HostRoot) -> PathBuf {
    root.resolve(TRIAL_DIR)
}

/// Removes the trial folder (nvfix's own; absent is fine).
pub fn remove_trial(root: &HostRoot) -> Result<(), HostError> {
    let dir = trial_dir(root);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(HostError::Write { path: dir, source }),
    }
}

fn fresh_dir(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&p, keep, out),
            Ok(t) if t.is_file() && keep(&p) => out.push(p),
            _ => {}
        }
    }
}

fn is_module_file(p: &Path) -> bool {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .any(|e| n.ends_with(e))
}

/// The host path of a local path under the root.
fn host_path(root: &HostRoot, local: &Path) -> String {
    let rel = local.strip_prefix(root.path()).unwrap_or(local);
    format!("/{}", rel.to_string_lossy().trim_start_matches('/'))
}

/// `PACKAGE_NAME`/`PACKAGE_VERSION` of a `dkms.conf`.
fn dkms_conf_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim().trim_matches(['"', '\'']).to_string()).filter(|v| !v.is_empty())
    })
}

/// The packages whose files the trial needs: DKMS sources, prebuilt modules, firmware.
fn trial_packages(plan: &UpgradePlan) -> Vec<PinnedPackage> {
    let mut wanted: Vec<&str> = plan
        .kernels
        .iter()
        .map(|k| match &k.source {
            ModuleSource::Dkms { dkms_package } => dkms_package.as_str(),
            ModuleSource::Prebuilt { package } => package.as_str(),
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    plan.changes
        .iter()
        .filter(|c| {
            wanted.contains(&c.name.as_str())
                || (c.name.contains("firmware") && hold::is_hold_candidate(&c.name))
        })
        .filter_map(|c| {
            c.to.as_ref().map(|v| PinnedPackage {
                name: c.name.clone(),
                version: v.clone(),
            })
        })
        .collect()
}

/// The trial: proves, before anything is changed, that the new version's modules exist for every kernel the plan
/// names and that the running kernel would accept them. Downloads the kernel-side packages (`apt-get download`),
/// unpacks them (`dpkg-deb -x`) and runs `dkms build` in a private tree under [`TRIAL_DIR`]: the system's DKMS
/// tree, `/usr/src` and `/lib/modules` are not touched.
pub fn run_trial(
    root: &HostRoot,
    runner: &dyn CommandRunner,
    plan: &UpgradePlan,
    running_kernel: &str,
) -> Result<Vec<TrialKernel>, TrialFailure> {
    let fail = |message: String| TrialFailure {
        message,
        log: None,
        excerpt: Vec::new(),
    };
    remove_trial(root).map_err(|e| fail(e.to_string()))?;
    let dir = trial_dir(root);
    let (debs, tree, dkms_tree) = (dir.join("debs"), dir.join("root"), dir.join("dkms"));
    for d in [&debs, &tree, &dkms_tree] {
        fresh_dir(d).map_err(fail)?;
    }
    let firmware = download_and_unpack(runner, plan, &debs, &tree).map_err(fail)?;
    let mut out = Vec::new();
    for k in &plan.kernels {
        let (how, modules) = match &k.source {
            ModuleSource::Dkms { .. } => dkms_trial_build(runner, &tree, &dkms_tree, &k.kernel)?,
            ModuleSource::Prebuilt { package } => {
                let mut found = Vec::new();
                files_under(
                    &tree.join(format!("lib/modules/{}", k.kernel)),
                    &is_module_file,
                    &mut found,
                );
                files_under(
                    &tree.join(format!("usr/lib/modules/{}", k.kernel)),
                    &is_module_file,
                    &mut found,
                );
                (format!("{package} unpacked"), found)
            }
        };
        if !modules
            .iter()
            .any(|m| module_name_of_path(&m.to_string_lossy()) == "nvidia")
        {
            return Err(fail(format!(
                "the new version has no nvidia module for the {} kernel {} ({how})",
                k.role, k.kernel
            )));
        }
        let modules: Vec<String> = modules.iter().map(|m| host_path(root, m)).collect();
        let findings = if k.kernel == running_kernel {
            let reader = ModuleReader::new(root);
            let inputs =
                super::preflight::trial_inputs(root, &reader, &k.kernel, &modules, &firmware);
            preflight::check(&inputs)
        } else {
            Vec::new()
        };
        out.push(TrialKernel {
            kernel: k.kernel.clone(),
            how,
            modules,
            findings,
        });
    }
    Ok(out)
}

/// Downloads the trial's packages into `debs` (`apt-get download`, exact versions) and unpacks them into `tree`.
/// Returns the firmware names they bring (relative to `/lib/firmware`).
fn download_and_unpack(
    runner: &dyn CommandRunner,
    plan: &UpgradePlan,
    debs: &Path,
    tree: &Path,
) -> Result<Vec<String>, String> {
    let pinned: Vec<String> = trial_packages(plan)
        .iter()
        .map(PinnedPackage::apt_arg)
        .collect();
    let mut args = vec!["download"];
    args.extend(pinned.iter().map(String::as_str));
    run_ok(
        runner,
        &apt("apt-get", &args)
            .with_timeout(Duration::from_secs(1800))
            .in_dir(debs),
    )?;
    let mut files = Vec::new();
    files_under(
        debs,
        &|p| p.extension().is_some_and(|e| e == "deb"),
        &mut files,
    );
    files.sort();
    for deb in &files {
        let (d, t) = (deb.to_string_lossy(), tree.to_string_lossy());
        run_ok(
            runner,
            &CommandSpec::new("dpkg-deb", &["-x", &d, &t]).with_timeout(Duration::from_secs(600)),
        )?;
    }
    let mut firmware = Vec::new();
    for base in ["lib/firmware", "usr/lib/firmware"] {
        let fw_root = tree.join(base);
        let mut found = Vec::new();
        files_under(&fw_root, &|_| true, &mut found);
        firmware.extend(found.iter().filter_map(|f| {
            f.strip_prefix(&fw_root)
                .ok()
                .map(|r| r.to_string_lossy().into_owned())
        }));
    }
    Ok(firmware)
}

/// `dkms add` + `dkms build` of the unpacked sources for `kernel`, in the private tree. The built modules, or the
/// failure with DKMS's own log.
fn dkms_trial_build(
    runner: &dyn CommandRunner,
    tree: &Path,
    dkms_tree: &Path,
    kernel: &str,
) -> Result<(String, Vec<PathBuf>), TrialFailure> {
    let fail = |message: String| TrialFailure {
        message,
        log: None,
        excerpt: Vec::new(),
    };
    let src = tree.join("usr/src");
    let mut confs = Vec::new();
    files_under(
        &src,
        &|p| p.file_name().is_some_and(|n| n == "dkms.conf"),
        &mut confs,
    );
    let conf = confs
        .first()
        .ok_or_else(|| fail("the DKMS package has no dkms.conf under /usr/src".into()))?;
    let text =
        std::fs::read_to_string(conf).map_err(|e| fail(format!("{}: {e}", conf.display())))?;
    let (Some(name), Some(version)) = (
        dkms_conf_value(&text, "PACKAGE_NAME"),
        dkms_conf_value(&text, "PACKAGE_VERSION"),
    ) else {
        return Err(fail(format!(
            "{}: no PACKAGE_NAME or PACKAGE_VERSION",
            conf.display()
        )));
    };
    let (s, d) = (
        src.to_string_lossy().into_owned(),
        dkms_tree.to_string_lossy().into_owned(),
    );
    let trees = ["--sourcetree", s.as_str(), "--dkmstree", d.as_str()];
    let mut add = vec!["add", "-m", name.as_str(), "-v", version.as_str()];
    add.extend_from_slice(&trees);
    run_ok(
        runner,
        &CommandSpec::new("dkms", &add).with_timeout(Duration::from_secs(120)),
    )
    .map_err(fail)?;
    let mut build = vec![
        "build",
        "-m",
        name.as_str(),
        "-v",
        version.as_str(),
        "-k",
        kernel,
    ];
    build.extend_from_slice(&trees);
    let how = format!("dkms build -m {name} -v {version} -k {kernel} (nvfix's private tree)");
    let out = runner
        .run(&CommandSpec::new("dkms", &build).with_timeout(Duration::from_secs(3600)))
        .map_err(|e| fail(e.to_string()))?;
    let log = dkms_tree.join(format!("{name}/{version}/build/make.log"));
    if !out.success() {
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        let mut excerpt: Vec<String> = log_text
            .lines()
            .filter(|l| l.contains("error:") || l.contains("Error "))
            .take(5)
            .map(compiler_line)
            .collect();
        if excerpt.is_empty() {
            excerpt.push(last_lines(&format!("{}\n{}", out.stdout, out.stderr), 3));
        }
        return Err(TrialFailure {
            message: format!(
                "DKMS cannot build {name} {version} for kernel {kernel} (exit {})",
                out.status
            ),
            log: log.exists().then(|| log.to_string_lossy().into_owned()),
            excerpt,
        });
    }
    let mut modules = Vec::new();
    files_under(
        &dkms_tree.join(format!("{name}/{version}/{kernel}")),
        &is_module_file,
        &mut modules,
    );
    modules.sort();
    Ok((how, modules))
}

/// A compiler's line for a report: the source file by its name only (`nvidia.c:172:2: error: …`), at most 200
/// characters.
fn compiler_line(line: &str) -> String {
    let line = line.trim();
    let shown = match line.split_once(':') {
        Some((path, rest)) if path.contains('/') && !path.contains(' ') => {
            format!("{}:{rest}", path.rsplit('/').next().unwrap_or(path))
        }
        _ => line.to_string(),
    };
    match shown.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &shown[..i]),
        None => shown,
    }
}

/// The install itself: `apt-get install -y NAME=VERSION…`, keeping local configuration files. Long: DKMS builds
/// the modules for every kernel with headers in the package's postinst.
pub fn apt_install(
    runner: &dyn CommandRunner,
    pins: &[PinnedPackage],
) -> Result<CommandOutput, String> {
    let pinned: Vec<String> = pins.iter().map(PinnedPackage::apt_arg).collect();
    let mut args = vec![
        "install",
        "-y",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
        "--allow-change-held-packages",
        "--allow-downgrades",
    ];
    args.extend(pinned.iter().map(String::as_str));
    run_ok(
        runner,
        &apt("apt-get", &args).with_timeout(Duration::from_secs(3 * 3600)),
    )
}

/// `apt-mark unhold` of exactly these packages.
pub fn release_holds(runner: &dyn CommandRunner, names: &[String]) -> Result<(), String> {
    if names.is_empty() {
        return Ok(());
    }
    let argv = hold::hold_command(hold::PackageManager::Apt, false, names);
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    run_ok(
        runner,
        &CommandSpec::new(&argv[0], &args).with_timeout(Duration::from_secs(300)),
    )
    .map(|_| ())
}

/// After the install: DKMS says the new version is installed for each kernel it builds for (the module files are
/// judged again by the reload's pre-flight). Returns what is missing.
pub fn dkms_missing(runner: &dyn CommandRunner, plan: &UpgradePlan) -> Result<Vec<String>, String> {
    let kernels = plan.dkms_kernels();
    if kernels.is_empty() {
        return Ok(Vec::new());
    }
    let out = run_ok(
        runner,
        &CommandSpec::new("dkms", &["status"]).with_timeout(Duration::from_secs(120)),
    )?;
    let entries = parse_dkms_status(&out.stdout);
    Ok(kernels
        .iter()
        .filter(|k| {
            !entries.iter().any(|e| {
                e.module.starts_with("nvidia")
                    && e.version == plan.to_version
                    && e.kernel.as_deref() == Some(**k)
                    && e.state == "installed"
            })
        })
        .map(|k| {
            format!(
                "DKMS has not installed nvidia {} for kernel {k}",
                plan.to_version
            )
        })
        .collect())
}

/// Reads the upgrade journal; a garbled one is an error (nvfix never guesses where an upgrade stopped).
pub fn load_journal(root: &HostRoot) -> Result<Option<UpgradeJournal>, HostError> {
    match root.read_to_string(JOURNAL_PATH) {
        Ok(text) => UpgradeJournal::parse(&text)
            .map(Some)
            .map_err(|message| HostError::Invalid {
                path: root.resolve(JOURNAL_PATH),
                message,
            }),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn save_journal(root: &HostRoot, journal: &UpgradeJournal) -> Result<(), HostError> {
    write_host_file(
        root,
        JOURNAL_PATH,
        journal.text().as_bytes(),
        0o600,
        DirRule::Shared { create_mode: 0o755 },
    )
}

pub fn remove_journal(root: &HostRoot) -> Result<(), HostError> {
    let path = root.resolve(JOURNAL_PATH);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(HostError::Write { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::runner::RecordingRunner;

    #[test]
    fn apt_runs_in_the_c_locale_and_reads_the_simulation() {
        let r = RecordingRunner::new();
        r.respond(
            "env LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get -s",
            CommandOutput {
                status: 0,
                stdout: "Inst a [1] (2 x [amd64])\n".into(),
                stderr: String::new(),
            },
        );
        let pins = vec![PinnedPackage {
            name: "a".into(),
            version: "2".into(),
        }];
        let c = apt_simulate(&r, &pins).unwrap();
        assert_eq!(c[0].to.as_deref(), Some("2"));
        assert_eq!(
            r.commands(),
            vec![
                "env LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get -s -o Debug::NoLocking=true \
                  --allow-change-held-packages install a=2"
            ]
        );
        r.respond(
            "env LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get install",
            CommandOutput {
                status: 100,
                stdout: "Setting up nvidia-dkms-580\n".into(),
                stderr: "E: Sub-process /usr/bin/dpkg returned an error code (1)\n".into(),
            },
        );
        let e = apt_install(&r, &pins).unwrap_err();
        assert!(
            e.contains("exit 100") && e.contains("returned an error code (1)"),
            "{e}"
        );
    }

    #[test]
    fn dkms_conf_and_module_names() {
        let conf = "PACKAGE_NAME=\"nvidia\"\nPACKAGE_VERSION='580.95.05'\nAUTOINSTALL=yes\n";
        assert_eq!(
            dkms_conf_value(conf, "PACKAGE_NAME").as_deref(),
            Some("nvidia")
        );
        assert_eq!(
            dkms_conf_value(conf, "PACKAGE_VERSION").as_deref(),
            Some("580.95.05")
        );
        assert_eq!(dkms_conf_value(conf, "MAKE"), None);
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(
            compiler_line("/var/lib/nvfix/upgrade-trial/dkms/nvidia/580.95.05/build/nvidia.c:172:2: error: #error \"x\""),
            "nvidia.c:172:2: error: #error \"x\""
        );
        assert_eq!(compiler_line(&"x".repeat(300)).chars().count(), 201);
    }

    /// The trial's pre-flight on files that are not installed: the fixture trees' modules judged as the new version's.
    fn trial_codes(scenario: &str, new_firmware: &[String]) -> Vec<&'static str> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(scenario);
        let root = HostRoot::new(&dir);
        let kernel = "6.8.0-85-generic";
        let file = format!("/lib/modules/{kernel}/updates/dkms/nvidia.ko.zst");
        let reader = ModuleReader::new(&root);
        let inputs =
            super::super::preflight::trial_inputs(&root, &reader, kernel, &[file], new_firmware);
        preflight::check(&inputs).iter().map(|f| f.code).collect()
    }

    #[test]
    fn the_trial_preflight_refuses_what_the_kernel_would() {
        assert!(
            trial_codes("healthy", &[]).is_empty(),
            "{:?}",
            trial_codes("healthy", &[])
        );
        assert_eq!(
            trial_codes("vermagic-mismatch", &[]),
            vec!["preflight-vermagic"]
        );
        assert_eq!(
            trial_codes("unsigned-secure-boot", &[]),
            vec!["preflight-signature"]
        );
        assert!(trial_codes("firmware-missing", &[])
            .iter()
            .all(|c| *c == "preflight-firmware"));
        assert!(!trial_codes("firmware-missing", &[]).is_empty());
    }

    #[test]
    fn firmware_the_upgrade_brings_counts_as_present() {
        let root = HostRoot::new(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/firmware-missing"),
        );
        let reader = ModuleReader::new(&root);
        let kernel = "6.8.0-85-generic";
        let file = format!("/lib/modules/{kernel}/updates/dkms/nvidia.ko.zst");
        let names: Vec<String> = reader.read(&file).unwrap().info.firmware;
        assert!(!names.is_empty());
        assert!(trial_codes("firmware-missing", &names).is_empty());
    }

    #[test]
    fn headers_are_found_per_kernel() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib/modules/6.1.0-57-amd64/build")).unwrap();
        std::fs::write(
            dir.path().join("lib/modules/6.1.0-57-amd64/build/Makefile"),
            "",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("lib/modules/6.1.0-58-amd64/kernel")).unwrap();
        let root = HostRoot::new(dir.path());
        assert_eq!(kernels_with_headers(&root), vec!["6.1.0-57-amd64"]);
    }
}
