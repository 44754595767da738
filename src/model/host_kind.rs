//! What kind of host this is, for repair advice: which package manager owns the driver, or why none may be used
//! (an image-based system, a container, a Jetson), told from os-release, marker files and package databases.

use serde::Serialize;

/// The kind of host, as far as fixing the driver's packages goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum HostKind {
    /// Debian, Ubuntu and derivatives.
    Apt,
    /// RHEL 8+, Rocky, Alma, Fedora, Amazon Linux 2023.
    Dnf,
    /// RHEL/CentOS 7, Amazon Linux 2.
    Yum,
    /// SUSE, openSUSE.
    Zypper,
    /// Arch and derivatives.
    Pacman,
    /// An rpm-ostree image (Fedora Silverblue/Kinoite, Bazzite, …): packages come with the image.
    RpmOstree,
    /// Inside a container: the kernel module is the host's.
    Container { engine: String },
    /// NVIDIA Jetson (L4T): `nvidia-l4t-*` packages, no NVML.
    Jetson {
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<String>,
    },
    /// Could not be told (no os-release, or the package databases contradict it).
    #[default]
    Unknown,
}

impl HostKind {
    /// A short name for reports: `apt`, `dnf`, `container (docker)`, `Jetson (L4T R35.4.1)`, `unknown`.
    pub fn describe(&self) -> String {
        match self {
            HostKind::Apt => "apt".into(),
            HostKind::Dnf => "dnf".into(),
            HostKind::Yum => "yum".into(),
            HostKind::Zypper => "zypper".into(),
            HostKind::Pacman => "pacman".into(),
            HostKind::RpmOstree => "rpm-ostree image".into(),
            HostKind::Container { engine } => format!("container ({engine})"),
            HostKind::Jetson { release: Some(r) } => format!("Jetson (L4T {r})"),
            HostKind::Jetson { release: None } => "Jetson (L4T)".into(),
            HostKind::Unknown => "unknown".into(),
        }
    }
}

/// A package database found on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageDb {
    /// `/var/lib/dpkg/status`.
    Dpkg,
    /// `/var/lib/rpm` or `/usr/lib/sysimage/rpm`.
    Rpm,
    /// `/var/lib/pacman/local`.
    Pacman,
}

/// What the host layer read to tell the kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostKindInputs {
    /// `/etc/os-release` (else `/usr/lib/os-release`).
    pub os_release: Option<String>,
    /// `/run/ostree-booted` exists.
    pub ostree_booted: bool,
    /// `/.dockerenv` exists.
    pub dockerenv: bool,
    /// `/run/.containerenv` exists (podman, buildah).
    pub containerenv: bool,
    /// `/proc/1/cgroup`.
    pub init_cgroup: Option<String>,
    /// `/etc/nv_tegra_release`.
    pub nv_tegra_release: Option<String>,
    pub package_dbs: Vec<PackageDb>,
}

/// The fields of os-release that tell the distribution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    pub id: Option<String>,
    pub id_like: Vec<String>,
    pub version_id: Option<String>,
}

/// Parses os-release's `KEY=value` lines (values optionally quoted); unknown and garbled lines are skipped.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        if value.is_empty() {
            continue;
        }
        match key.trim() {
            "ID" => os.id = Some(value.to_ascii_lowercase()),
            "ID_LIKE" => {
                os.id_like = value
                    .split_whitespace()
                    .map(str::to_ascii_lowercase)
                    .collect()
            }
            "VERSION_ID" => os.version_id = Some(value.to_string()),
            _ => {}
        }
    }
    os
}

/// `# R35 (release), REVISION: 4.1, GCID: …` → `R35.4.1`; None when the line is not in that shape.
pub fn parse_tegra_release(text: &str) -> Option<String> {
    let line = text.lines().next()?.trim().trim_start_matches('#').trim();
    let major = line.split_whitespace().next()?;
    let digits = major.strip_prefix('R')?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let revision = line.split_once("REVISION:")?.1.split(',').next()?.trim();
    if revision.is_empty() || !revision.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    Some(format!("{major}.{revision}"))
}

/// The container engine a `/proc/1/cgroup` names (`docker`, `kubepods`, `containerd`, `libpod`, `lxc`), if any. On a
/// host, init's cgroup is `/` or `/init.scope`.
pub fn container_from_cgroup(text: &str) -> Option<&'static str> {
    const ENGINES: &[(&str, &str)] = &[
        ("kubepods", "kubernetes"),
        ("docker", "docker"),
        ("libpod", "podman"),
        ("containerd", "containerd"),
        ("lxc", "lxc"),
    ];
    text.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        ENGINES
            .iter()
            .find(|(needle, _)| path.contains(needle))
            .map(|(_, engine)| *engine)
    })
}

/// The distribution family os-release names, by ID first, then ID_LIKE.
fn family(os: &OsRelease) -> Option<HostKind> {
    let ids = os.id.iter().chain(os.id_like.iter());
    for id in ids {
        let kind = match id.as_str() {
            "debian" | "ubuntu" | "linuxmint" | "pop" | "raspbian" => HostKind::Apt,
            "arch" | "manjaro" | "endeavouros" | "cachyos" => HostKind::Pacman,
            "suse" | "opensuse" | "sles" | "opensuse-leap" | "opensuse-tumbleweed" => {
                HostKind::Zypper
            }
            "rhel" | "centos" | "rocky" | "almalinux" | "ol" | "fedora" | "amzn" => {
                if uses_yum(os) {
                    HostKind::Yum
                } else {
                    HostKind::Dnf
                }
            }
            _ => continue,
        };
        return Some(kind);
    }
    None
}

/// RHEL/CentOS 7 and Amazon Linux 2 have yum, not dnf.
fn uses_yum(os: &OsRelease) -> bool {
    let major = os
        .version_id
        .as_deref()
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    match os.id.as_deref() {
        Some("amzn") => major == Some(2),
        Some("fedora") => false,
        _ => major.is_some_and(|m| m < 8),
    }
}

/// The database a package manager keeps.
fn database_of(kind: &HostKind) -> Option<PackageDb> {
    match kind {
        HostKind::Apt => Some(PackageDb::Dpkg),
        HostKind::Dnf | HostKind::Yum | HostKind::Zypper => Some(PackageDb::Rpm),
        HostKind::Pacman => Some(PackageDb::Pacman),
        _ => None,
    }
}

/// Tells the kind: a container first (the module is the host's, whatever the image is), then a Jetson, an rpm-ostree
/// image, then the distribution os-release names, as long as the package databases found do not contradict it.
/// Without os-release, a single package database decides; anything else is [`HostKind::Unknown`].
pub fn classify(inputs: &HostKindInputs) -> HostKind {
    if inputs.dockerenv {
        return HostKind::Container {
            engine: "docker".into(),
        };
    }
    if inputs.containerenv {
        return HostKind::Container {
            engine: "podman".into(),
        };
    }
    if let Some(engine) = inputs
        .init_cgroup
        .as_deref()
        .and_then(container_from_cgroup)
    {
        return HostKind::Container {
            engine: engine.into(),
        };
    }
    if let Some(text) = &inputs.nv_tegra_release {
        return HostKind::Jetson {
            release: parse_tegra_release(text),
        };
    }
    if inputs.ostree_booted {
        return HostKind::RpmOstree;
    }
    let os = inputs.os_release.as_deref().map(parse_os_release);
    match os.as_ref().and_then(family) {
        Some(kind) => {
            let db = database_of(&kind);
            let contradicted = !inputs.package_dbs.is_empty()
                && db.is_some_and(|db| !inputs.package_dbs.contains(&db));
            if contradicted {
                HostKind::Unknown
            } else {
                kind
            }
        }
        None => match inputs.package_dbs.as_slice() {
            [PackageDb::Dpkg] => HostKind::Apt,
            [PackageDb::Pacman] => HostKind::Pacman,
            // rpm alone could be dnf, yum or zypper.
            _ => HostKind::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_os(os_release: &str, dbs: &[PackageDb]) -> HostKind {
        classify(&HostKindInputs {
            os_release: Some(os_release.into()),
            package_dbs: dbs.to_vec(),
            ..Default::default()
        })
    }

    #[test]
    fn distributions_from_real_os_release_files() {
        use PackageDb::*;
        let cases = [
            ("PRETTY_NAME=\"Ubuntu 24.04.3 LTS\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n", Dpkg, HostKind::Apt),
            ("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n", Dpkg, HostKind::Apt),
            ("NAME=\"Rocky Linux\"\nVERSION_ID=\"9.5\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n", Rpm, HostKind::Dnf),
            ("NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.4\"\n", Rpm, HostKind::Dnf),
            ("NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n", Rpm, HostKind::Yum),
            ("NAME=\"Amazon Linux\"\nVERSION=\"2\"\nID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\nVERSION_ID=\"2\"\n", Rpm, HostKind::Yum),
            ("NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\n", Rpm, HostKind::Dnf),
            ("NAME=\"Fedora Linux\"\nVERSION_ID=40\nID=fedora\n", Rpm, HostKind::Dnf),
            ("NAME=\"openSUSE Tumbleweed\"\nID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\n", Rpm, HostKind::Zypper),
            ("NAME=\"Arch Linux\"\nPRETTY_NAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling\n", Pacman, HostKind::Pacman),
        ];
        for (text, db, want) in cases {
            assert_eq!(with_os(text, &[db]), want, "{text}");
            assert_eq!(with_os(text, &[]), want, "without a database: {text}");
        }
    }

    #[test]
    fn contradicting_or_missing_evidence_is_unknown_not_a_guess() {
        assert_eq!(
            with_os("ID=fedora\n", &[PackageDb::Dpkg]),
            HostKind::Unknown
        );
        assert_eq!(with_os("ID=gentoo\n", &[PackageDb::Rpm]), HostKind::Unknown);
        assert_eq!(classify(&HostKindInputs::default()), HostKind::Unknown);
        let rpm_only = HostKindInputs {
            package_dbs: vec![PackageDb::Rpm],
            ..Default::default()
        };
        assert_eq!(classify(&rpm_only), HostKind::Unknown);
        let dpkg_only = HostKindInputs {
            package_dbs: vec![PackageDb::Dpkg],
            ..Default::default()
        };
        assert_eq!(classify(&dpkg_only), HostKind::Apt);
    }

    #[test]
    fn containers_images_and_jetsons_come_before_the_distribution() {
        let ubuntu = Some("ID=ubuntu\n".to_string());
        let docker = HostKindInputs {
            os_release: ubuntu.clone(),
            dockerenv: true,
            ..Default::default()
        };
        assert_eq!(
            classify(&docker),
            HostKind::Container {
                engine: "docker".into()
            }
        );
        let k8s = HostKindInputs {
            os_release: ubuntu.clone(),
            init_cgroup: Some("12:pids:/kubepods/besteffort/pod1f2e/0a1b2c\n".into()),
            ..Default::default()
        };
        assert_eq!(
            classify(&k8s),
            HostKind::Container {
                engine: "kubernetes".into()
            }
        );
        let host = HostKindInputs {
            os_release: ubuntu.clone(),
            init_cgroup: Some("0::/init.scope\n".into()),
            ..Default::default()
        };
        assert_eq!(classify(&host), HostKind::Apt);
        let bazzite = HostKindInputs {
            os_release: Some(
                "NAME=\"Bazzite\"\nID=bazzite\nID_LIKE=\"fedora\"\nVERSION_ID=\"41\"\n".into(),
            ),
            ostree_booted: true,
            package_dbs: vec![PackageDb::Rpm],
            ..Default::default()
        };
        assert_eq!(classify(&bazzite), HostKind::RpmOstree);
        let jetson = HostKindInputs {
            os_release: ubuntu,
            nv_tegra_release: Some(
                "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023\n"
                    .into(),
            ),
            ..Default::default()
        };
        assert_eq!(
            classify(&jetson),
            HostKind::Jetson {
                release: Some("R35.4.1".into())
            }
        );
    }

    #[test]
    fn garbled_inputs_do_not_panic() {
        for junk in [
            "",
            "=",
            "ID",
            "ID=\"",
            "\u{0}\u{ff}=\n",
            "R\nREVISION:",
            "# R35 (release), REVISION: x",
        ] {
            let _ = parse_os_release(junk);
            let _ = parse_tegra_release(junk);
            let _ = container_from_cgroup(junk);
        }
        assert_eq!(parse_tegra_release("# Rxx (release), REVISION: 4.1"), None);
        assert_eq!(
            parse_tegra_release("# R35 (release), REVISION: 4.1x,"),
            None
        );
        assert_eq!(container_from_cgroup("garbage without colons docker"), None);
    }
}
