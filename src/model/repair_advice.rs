//! Repair advice in the host's own terms: the commands that rebuild or reinstall the driver with the package manager
//! that owns it (apt, dnf/yum, zypper, pacman), or what to do instead where packages are not the answer (an
//! rpm-ostree image, a container, a Jetson), or what to run to find out when the kind cannot be told.

use super::facts::HostFacts;
use super::host_kind::HostKind;
use super::verdict::NextStep;

/// What to run to tell the host's kind, when nvfix could not.
pub const FIND_OUT_COMMAND: &str = "cat /etc/os-release; ls -d /var/lib/dpkg /var/lib/rpm /usr/lib/sysimage/rpm \
                                    /var/lib/pacman /run/ostree-booted /.dockerenv /run/.containerenv \
                                    /etc/nv_tegra_release 2>/dev/null";

fn step(summary: impl Into<String>, command: impl Into<String>) -> NextStep {
    NextStep {
        summary: summary.into(),
        command: command.into(),
    }
}

/// The driver branch of a version: `580.95.05` → `580`.
fn branch(version: &str) -> &str {
    version.split('.').next().unwrap_or("")
}

/// DKMS builds the module wherever it is set up, whatever the distribution.
fn uses_dkms(facts: &HostFacts, want: &str) -> bool {
    facts
        .dkms
        .iter()
        .any(|e| e.module == "nvidia" && e.version == want)
        || facts
            .driver_packages
            .iter()
            .any(|p| p.name.starts_with("nvidia-dkms"))
}

/// How to get a kernel module of version `want` for `kernel` installed (no module on disk matches the library).
pub fn module_steps(facts: &HostFacts, want: &str, kernel: &str) -> Vec<NextStep> {
    let kind = &facts.host_kind;
    match kind {
        HostKind::RpmOstree => return image_steps(),
        HostKind::Container { engine } => return container_steps(facts, engine),
        HostKind::Jetson { release } => return jetson_steps(release.as_deref()),
        _ => {}
    }
    if want.is_empty() {
        return user_space_steps(facts);
    }
    if uses_dkms(facts, want) {
        return vec![step(
            format!("build the {want} module for the running kernel with DKMS"),
            format!("sudo dkms install nvidia/{want} -k {kernel}"),
        )];
    }
    let one = match kind {
        HostKind::Apt if facts.driver_packages.iter().any(|p| p.name.starts_with("linux-modules-nvidia-")) => step(
            "install the prebuilt module package for the running kernel",
            format!("sudo apt-get install linux-modules-nvidia-{}-{kernel}", branch(want)),
        ),
        HostKind::Apt => step(
            format!("install a kernel module of version {want} for kernel {kernel} (reinstall the driver)"),
            "sudo apt-get install --reinstall <the nvidia driver or dkms package>",
        ),
        HostKind::Dnf | HostKind::Yum if facts.has_akmods => step(
            format!("build the {want} kmod for the running kernel with akmods"),
            format!("sudo akmods --force --kernels {kernel}"),
        ),
        HostKind::Dnf | HostKind::Yum => {
            let tool = if *kind == HostKind::Yum { "yum" } else { "dnf" };
            step(
                format!(
                    "reinstall the package that ships the nvidia module for kernel {kernel} (a precompiled kmod must \
                     match the kernel: `rpm -qa 'kmod-nvidia*' 'nvidia-kmod*'` lists what is installed)"
                ),
                format!("sudo {tool} reinstall $(rpm -qa 'kmod-nvidia*' 'nvidia-kmod*')"),
            )
        }
        HostKind::Zypper => step(
            format!("reinstall the nvidia kernel module package (KMP) for kernel {kernel}"),
            "sudo zypper install --force $(rpm -qa '*nvidia*kmp*')",
        ),
        HostKind::Pacman => step(
            "the module package (nvidia, nvidia-open or nvidia-dkms) and nvidia-utils must come from the same sync: \
             finish the upgrade (partial upgrades are not supported on Arch), then reboot if the kernel changed",
            "sudo pacman -Syu",
        ),
        _ => return unknown_steps(&format!("install a kernel module of version {want} for kernel {kernel}")),
    };
    vec![one]
}

/// How to put the user-space driver back (the module is loaded, the libraries are missing).
pub fn user_space_steps(facts: &HostFacts) -> Vec<NextStep> {
    let loaded = facts
        .loaded_version()
        .map(|v| v.to_string())
        .unwrap_or_default();
    let b = if loaded.is_empty() {
        "<branch>".to_string()
    } else {
        branch(&loaded).to_string()
    };
    let one = match &facts.host_kind {
        HostKind::Apt => step(
            "reinstall the user-space driver packages",
            format!("sudo apt-get install --reinstall nvidia-driver-{b}"),
        ),
        HostKind::Dnf => step(
            "reinstall the user-space driver packages",
            "sudo dnf reinstall nvidia-driver nvidia-driver-libs",
        ),
        HostKind::Yum => step(
            "reinstall the user-space driver packages",
            "sudo yum reinstall nvidia-driver nvidia-driver-libs",
        ),
        HostKind::Zypper => step(
            "reinstall the user-space driver packages",
            "sudo zypper install --force $(rpm -qa 'nvidia-compute-G0*')",
        ),
        HostKind::Pacman => step(
            "reinstall the user-space driver package",
            "sudo pacman -S nvidia-utils",
        ),
        HostKind::RpmOstree => return image_steps(),
        HostKind::Container { engine } => return container_steps(facts, engine),
        HostKind::Jetson { release } => return jetson_steps(release.as_deref()),
        HostKind::Unknown => return unknown_steps("reinstall the user-space driver packages"),
    };
    vec![one]
}

/// rpm-ostree images: the driver comes with the image; layering packages does not replace the image's module.
pub fn image_steps() -> Vec<NextStep> {
    vec![
        step(
            "this is an rpm-ostree image: the driver comes with the image, so do not install packages on top; see \
             which deployment worked",
            "rpm-ostree status",
        ),
        step(
            "roll back to the previous deployment (or rebase to an image with a fixed driver), then reboot into it",
            "sudo rpm-ostree rollback && sudo systemctl reboot",
        ),
    ]
}

/// Inside a container the kernel module is the host's: user space must be the host's version.
pub fn container_steps(facts: &HostFacts, engine: &str) -> Vec<NextStep> {
    let loaded = facts
        .loaded_version()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "<the host's driver version>".into());
    let restart = match engine {
        "kubernetes" => "kubectl delete pod <this pod>   (run where kubectl reaches the cluster)",
        "podman" => "podman restart <this container>   (run on the host)",
        "lxc" => "lxc restart <this container>   (run on the host)",
        _ => "docker restart <this container>   (run on the host)",
    };
    vec![
        step(
            format!(
                "the kernel module is the host's ({loaded}); restart this container so the NVIDIA Container Toolkit \
                 mounts the host driver's libraries"
            ),
            restart,
        ),
        step(
            format!(
                "or, if the image ships its own driver libraries, install user space of the host's version {loaded} \
                 in the image (`apt-cache madison libnvidia-compute-{}` lists the versions)",
                branch(&loaded)
            ),
            format!("apt-get install libnvidia-compute-{}=<{loaded} revision>", branch(&loaded)),
        ),
    ]
}

/// Jetson (L4T): the driver is the `nvidia-l4t-*` packages, versioned with the L4T release.
pub fn jetson_steps(release: Option<&str>) -> Vec<NextStep> {
    let release = release.unwrap_or("in /etc/nv_tegra_release");
    vec![
        step(
            format!(
                "this is a Jetson: its driver is the nvidia-l4t-* packages of L4T {release}; see which of them \
                 disagree"
            ),
            "dpkg -l 'nvidia-l4t-*'",
        ),
        step(
            "bring them to one release (apt, from NVIDIA's L4T repository), then reboot",
            "sudo apt-get update && sudo apt-get install --only-upgrade 'nvidia-l4t-*'",
        ),
    ]
}

/// The kind could not be told: say how to find out, rather than guess a package manager.
pub fn unknown_steps(what: &str) -> Vec<NextStep> {
    vec![
        step(
            "nvfix could not tell which package manager owns the driver on this host; find out (os-release, package \
             databases, image or container markers)",
            FIND_OUT_COMMAND,
        ),
        step(format!("then {what} with that package manager"), "<the package manager's reinstall command>"),
    ]
}

/// The GSP firmware files of `version` are missing or unusable: the package that ships them, by host kind.
pub fn firmware_steps(facts: &HostFacts, version: &str) -> Vec<NextStep> {
    let dir = format!("/lib/firmware/nvidia/{version}/");
    let install = match &facts.host_kind {
        // Debian ships every driver's GSP firmware in one package; Ubuntu one package per driver version.
        HostKind::Apt if facts.os_id.as_deref() == Some("debian") => step(
            format!("install the GSP firmware of {version} into {dir}"),
            "sudo apt-get install --reinstall firmware-nvidia-gsp",
        ),
        HostKind::Apt => step(
            format!("install the GSP firmware of {version} into {dir}"),
            format!(
                "sudo apt-get install --reinstall nvidia-firmware-{}-{version}",
                branch(version)
            ),
        ),
        HostKind::Dnf | HostKind::Yum => {
            let tool = if facts.host_kind == HostKind::Yum {
                "yum"
            } else {
                "dnf"
            };
            step(
                format!("reinstall the package that ships {dir} (nvidia-kmod-common in NVIDIA's repository)"),
                format!("sudo {tool} reinstall nvidia-kmod-common"),
            )
        }
        HostKind::Pacman => step(
            format!("reinstall nvidia-utils, which ships {dir}"),
            "sudo pacman -S nvidia-utils",
        ),
        HostKind::Zypper => step(
            format!("reinstall the firmware package that ships {dir}"),
            "sudo zypper install --force $(rpm -qa 'nvidia-*firmware*' 'kernel-firmware-nvidia*')",
        ),
        HostKind::RpmOstree => return image_steps(),
        HostKind::Container { engine } => return container_steps(facts, engine),
        HostKind::Jetson { release } => return jetson_steps(release.as_deref()),
        HostKind::Unknown => {
            return unknown_steps(&format!("install the GSP firmware of {version} into {dir}"))
        }
    };
    vec![install]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: HostKind) -> HostFacts {
        HostFacts {
            host_kind: kind,
            ..Default::default()
        }
    }

    fn commands(steps: &[NextStep]) -> String {
        steps
            .iter()
            .map(|s| s.command.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    #[test]
    fn each_kind_gets_its_own_package_manager() {
        let k = "5.14.0-503.11.1.el9_5.x86_64";
        let cases = [
            (HostKind::Apt, "apt-get install --reinstall"),
            (HostKind::Dnf, "sudo dnf reinstall"),
            (HostKind::Yum, "sudo yum reinstall"),
            (HostKind::Zypper, "sudo zypper install --force"),
            (HostKind::Pacman, "sudo pacman -Syu"),
            (HostKind::RpmOstree, "rpm-ostree rollback"),
            (
                HostKind::Container {
                    engine: "docker".into(),
                },
                "docker restart",
            ),
            (
                HostKind::Jetson {
                    release: Some("R35.4.1".into()),
                },
                "nvidia-l4t-*",
            ),
            (HostKind::Unknown, "cat /etc/os-release"),
        ];
        for (kind, want) in cases {
            let got = commands(&module_steps(&facts(kind.clone()), "580.95.05", k));
            assert!(got.contains(want), "{kind:?}: {got}");
            if !matches!(
                kind,
                HostKind::Apt | HostKind::Container { .. } | HostKind::Jetson { .. }
            ) {
                assert!(!got.contains("apt-get"), "{kind:?}: {got}");
            }
        }
    }

    #[test]
    fn akmods_and_dkms_build_where_they_are_set_up() {
        let mut f = facts(HostKind::Dnf);
        f.has_akmods = true;
        assert_eq!(
            commands(&module_steps(&f, "580.95.05", "6.11.4-301.fc41.x86_64")),
            "sudo akmods --force --kernels 6.11.4-301.fc41.x86_64"
        );
        f.dkms = vec![crate::model::dkms::DkmsEntry {
            module: "nvidia".into(),
            version: "580.95.05".into(),
            kernel: None,
            arch: None,
            state: "added".into(),
        }];
        assert_eq!(
            commands(&module_steps(&f, "580.95.05", "k")),
            "sudo dkms install nvidia/580.95.05 -k k"
        );
    }

    #[test]
    fn firmware_names_the_package_and_the_folder() {
        let steps = firmware_steps(&facts(HostKind::Apt), "580.95.05");
        assert_eq!(
            steps[0].command,
            "sudo apt-get install --reinstall nvidia-firmware-580-580.95.05"
        );
        assert!(steps[0].summary.contains("/lib/firmware/nvidia/580.95.05/"));
        assert!(
            commands(&firmware_steps(&facts(HostKind::Dnf), "580.95.05"))
                .contains("dnf reinstall nvidia-kmod-common")
        );
        let mut debian = facts(HostKind::Apt);
        debian.os_id = Some("debian".into());
        assert_eq!(
            firmware_steps(&debian, "580.95.05")[0].command,
            "sudo apt-get install --reinstall firmware-nvidia-gsp"
        );
    }
}
