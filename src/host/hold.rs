//! Effects of `nvfix hold`: read the package state under the root, run apt-mark / dnf versionlock through a
//! [`CommandRunner`], write the drop-in and the state file atomically under the root.

use super::atomic_write::{write_host_file, DirRule};
use super::runner::{CommandRunner, CommandSpec};
use super::{HostError, HostRoot};
use crate::model::apt_history;
use crate::model::dpkg::{self, InstalledPackage, UnattendedConfig};
use crate::model::hold::{self, HoldState, HoldStep, PackageManager};
use std::time::Duration;

/// Everything `nvfix hold` needs to know about the host's packages.
#[derive(Debug, Clone)]
pub struct HostPackages {
    pub manager: PackageManager,
    /// Installed packages (dpkg: all of them; RPM: names only), `held` when apt-mark/versionlock holds them.
    pub installed: Vec<InstalledPackage>,
    /// unattended-upgrades' merged configuration (apt only; includes nvfix's drop-in when present).
    pub unattended: Option<UnattendedConfig>,
    /// nvfix's record of what it held, if any.
    pub state: Option<HoldState>,
    /// The text at the drop-in's path, if the file exists.
    pub dropin: Option<String>,
    /// dnf: the versionlock plugin (or dnf 5's built-in) is available.
    pub versionlock_available: bool,
    /// How the installed RPM list was found (`rpm -qa` or the dnf logs), for the report.
    pub source: String,
}

fn optional_text(root: &HostRoot, path: &str) -> Result<Option<String>, HostError> {
    match root.read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads nvfix's state file; a garbled one is an error (nvfix never guesses what it held).
pub fn read_state(root: &HostRoot) -> Result<Option<HoldState>, HostError> {
    let Some(text) = optional_text(root, hold::STATE_PATH)? else {
        return Ok(None);
    };
    hold::parse_state(&text)
        .map(Some)
        .map_err(|message| HostError::Invalid {
            path: root.resolve(hold::STATE_PATH),
            message: format!("{message} (fix or remove it by hand)"),
        })
}

/// unattended-upgrades' configuration from `/etc/apt/apt.conf.d` (as gather reads it); `enabled` is false when the
/// unattended-upgrades package is not installed.
fn read_unattended(root: &HostRoot, installed: &[InstalledPackage]) -> UnattendedConfig {
    let mut config = UnattendedConfig::default();
    if let Ok(mut names) = root.read_dir_names("/etc/apt/apt.conf.d") {
        // apt reads the folder in name order; later files win.
        names.sort();
        for n in names {
            if let Ok(Some(t)) = optional_text(root, &format!("/etc/apt/apt.conf.d/{n}")) {
                dpkg::parse_apt_conf(&t, &mut config);
            }
        }
    }
    if !installed.iter().any(|p| p.name == "unattended-upgrades") {
        config.enabled = Some(false);
    }
    config
}

/// Installed RPM names: `rpm -qa` on the live host (`query_rpm`), else replayed from `/var/log/dnf.rpm.log*` (a
/// `--root` tree has no rpm database nvfix can query without running rpm against the wrong machine).
fn rpm_installed(
    root: &HostRoot,
    runner: &dyn CommandRunner,
    query_rpm: bool,
) -> Result<(Vec<String>, String), HostError> {
    if query_rpm {
        let cmd = CommandSpec::new("rpm", &["-qa", "--queryformat", "%{NAME}\\n"])
            .with_timeout(Duration::from_secs(60));
        let out = runner.run(&cmd)?;
        if !out.success() {
            return Err(HostError::Invalid {
                path: "rpm".into(),
                message: format!(
                    "`{}` failed (exit {}): {}",
                    cmd.display(),
                    out.status,
                    out.stderr.trim()
                ),
            });
        }
        return Ok((hold::parse_rpm_names(&out.stdout), "rpm -qa".into()));
    }
    let mut changes = Vec::new();
    let mut names = root.read_dir_names("/var/log").unwrap_or_default();
    // dnf.rpm.log.N are older than dnf.rpm.log; replay the oldest first.
    names.retain(|n| n == "dnf.rpm.log" || n.starts_with("dnf.rpm.log."));
    names.sort_by_key(|n| std::cmp::Reverse(n.clone()));
    for n in &names {
        let path = format!("/var/log/{n}");
        if let Some(text) = optional_text(root, &path)? {
            changes.extend(apt_history::parse_dnf_rpm_log(&text, &path));
        }
    }
    changes.sort_by(|a, b| a.at.cmp(&b.at));
    Ok((
        hold::installed_from_changes(&changes),
        "/var/log/dnf.rpm.log".into(),
    ))
}

/// Reads the package state under `root`. `query_rpm`: ask the live rpm database (only when root is `/`).
/// Returns Ok(None) when the host has neither dpkg nor RPM.
pub fn read_host_packages(
    root: &HostRoot,
    runner: &dyn CommandRunner,
    query_rpm: bool,
) -> Result<Option<HostPackages>, HostError> {
    let os_release = optional_text(root, "/etc/os-release")?;
    let has_dpkg = root.exists("/var/lib/dpkg/status");
    let has_rpm = root.exists("/var/log/dnf.rpm.log")
        || root.exists("/var/lib/rpm")
        || root.exists("/usr/lib/sysimage/rpm");
    let Some(manager) = hold::detect_manager(os_release.as_deref(), has_dpkg, has_rpm) else {
        return Ok(None);
    };
    let state = read_state(root)?;
    let dropin = optional_text(root, hold::DROPIN_PATH)?;
    match manager {
        PackageManager::Apt => {
            let text = optional_text(root, "/var/lib/dpkg/status")?.unwrap_or_default();
            let installed = dpkg::parse_dpkg_status(&text);
            let unattended = Some(read_unattended(root, &installed));
            Ok(Some(HostPackages {
                manager,
                installed,
                unattended,
                state,
                dropin,
                versionlock_available: false,
                source: "/var/lib/dpkg/status".into(),
            }))
        }
        PackageManager::Dnf => {
            let (names, source) = rpm_installed(root, runner, query_rpm)?;
            let mut locked = Vec::new();
            for path in [hold::VERSIONLOCK_LIST, hold::VERSIONLOCK_TOML] {
                if let Some(t) = optional_text(root, path)? {
                    locked.extend(hold::parse_versionlock(&t));
                }
            }
            let versionlock_available =
                root.exists("/etc/dnf/plugins/versionlock.conf") || root.exists("/usr/bin/dnf5");
            Ok(Some(HostPackages {
                manager,
                installed: hold::rpm_packages(&names, &locked),
                unattended: None,
                state,
                dropin,
                versionlock_available,
                source,
            }))
        }
    }
}

/// A failed hold step: which one and what the command said.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("`{command}` failed (exit {status}): {stderr}")]
    Command {
        command: String,
        status: i32,
        stderr: String,
    },
    #[error(transparent)]
    Host(#[from] HostError),
}

/// Executes the steps in order through `runner` and the root; stops at the first failure. Returns the steps done.
pub fn execute(
    root: &HostRoot,
    runner: &dyn CommandRunner,
    steps: &[HoldStep],
) -> Result<Vec<HoldStep>, StepError> {
    let mut done = Vec::new();
    for step in steps {
        match step {
            HoldStep::Run { argv } => {
                let Some((program, args)) = argv.split_first() else {
                    continue;
                };
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let cmd = CommandSpec::new(program, &args).with_timeout(Duration::from_secs(300));
                let out = runner.run(&cmd)?;
                if !out.success() {
                    return Err(StepError::Command {
                        command: cmd.display(),
                        status: out.status,
                        stderr: out.stderr.trim().to_string(),
                    });
                }
            }
            HoldStep::Write { path, text } => write_host_file(
                root,
                path,
                text.as_bytes(),
                0o644,
                DirRule::Shared { create_mode: 0o755 },
            )?,
            HoldStep::Remove { path } => {
                let local = root.resolve(path);
                match std::fs::remove_file(&local) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(HostError::Write {
                            path: local,
                            source,
                        }
                        .into())
                    }
                }
            }
        }
        done.push(step.clone());
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::runner::{CommandOutput, RecordingRunner};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_replaces_whole_file_with_0644_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let write = |text: &str| {
            let steps = [HoldStep::Write {
                path: hold::DROPIN_PATH.into(),
                text: text.into(),
            }];
            execute(&root, &RecordingRunner::new(), &steps).unwrap();
        };
        write("one\n");
        write("two\n");
        let path = dir.path().join("etc/apt/apt.conf.d/51nvfix-hold");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_link_planted_at_the_dropin_is_replaced_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let outside = dir.path().join("shadow");
        std::fs::write(&outside, "root:x:0:\n").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o600)).unwrap();
        let dropin = dir.path().join("etc/apt/apt.conf.d/51nvfix-hold");
        std::fs::create_dir_all(dropin.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&outside, &dropin).unwrap();
        let steps = [HoldStep::Write {
            path: hold::DROPIN_PATH.into(),
            text: "pin\n".into(),
        }];
        execute(&root, &RecordingRunner::new(), &steps).unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "root:x:0:\n");
        assert_eq!(
            std::fs::metadata(&outside).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(std::fs::symlink_metadata(&dropin).unwrap().is_file());
        assert_eq!(std::fs::read_to_string(&dropin).unwrap(), "pin\n");
    }

    #[test]
    fn execute_stops_at_a_failed_command() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let runner = RecordingRunner::new();
        runner.respond(
            "apt-mark hold",
            CommandOutput {
                status: 100,
                stdout: String::new(),
                stderr: "E: Can't select installed nor candidate version from package 'x'\n".into(),
            },
        );
        let steps = vec![
            HoldStep::Run {
                argv: vec!["apt-mark".into(), "hold".into(), "x".into()],
            },
            HoldStep::Write {
                path: hold::DROPIN_PATH.into(),
                text: "x".into(),
            },
        ];
        let err = execute(&root, &runner, &steps).unwrap_err();
        assert!(err.to_string().contains("exit 100"), "{err}");
        assert_eq!(runner.commands(), vec!["apt-mark hold x"]);
        assert!(!dir.path().join("etc/apt/apt.conf.d/51nvfix-hold").exists());
    }

    #[test]
    fn rpm_query_on_the_live_host_goes_through_the_runner() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/os-release"),
            "ID=rocky\nID_LIKE=\"rhel centos fedora\"\n",
        )
        .unwrap();
        let root = HostRoot::new(dir.path());
        let runner = RecordingRunner::new();
        runner.respond(
            "rpm -qa",
            CommandOutput {
                status: 0,
                stdout: "bash\nnvidia-driver\nlibnvidia-ml\n".into(),
                stderr: String::new(),
            },
        );
        let host = read_host_packages(&root, &runner, true).unwrap().unwrap();
        assert_eq!(host.manager, PackageManager::Dnf);
        assert_eq!(runner.commands(), vec!["rpm -qa --queryformat %{NAME}\\n"]);
        let names: Vec<_> = host.installed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["bash", "libnvidia-ml", "nvidia-driver"]);
        assert!(!host.versionlock_available);
    }

    #[test]
    fn garbled_state_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let steps = [HoldStep::Write {
            path: hold::STATE_PATH.into(),
            text: "{not json".into(),
        }];
        execute(&root, &RecordingRunner::new(), &steps).unwrap();
        let err = read_state(&root).unwrap_err();
        assert!(
            err.to_string().contains("not an nvfix hold state file"),
            "{err}"
        );
    }
}
