//! Unit tests of the upgrade plan: the lab's v1 → v2 on strings and structs, and every refusal.

use super::*;
use crate::model::apt_simulation::{parse_apt_policy, parse_apt_simulation};

const V1: &str = "580.65.06-0ubuntu0.24.04.1";
const V2: &str = "580.95.05-0ubuntu0.24.04.1";
const K: &str = "6.1.0-57-amd64";

fn pkg(name: &str, version: &str, held: bool) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: None,
        held,
        state: "installed".into(),
    }
}

fn installed() -> Vec<InstalledPackage> {
    vec![
        pkg("libnvidia-compute-580", V1, true),
        pkg("nvidia-dkms-580", V1, true),
        pkg("nvidia-driver-580", V1, true),
        pkg("nvidia-firmware-580-580.65.06", V1, true),
        pkg("dkms", "3.0.10-8+deb12u1", false),
    ]
}

fn policy_text() -> String {
    let mut s = String::new();
    for name in [
        "libnvidia-compute-580",
        "nvidia-dkms-580",
        "nvidia-driver-580",
    ] {
        s.push_str(&format!(
            "{name}:\n  Installed: {V1}\n  Candidate: {V2}\n  Version table:\n     {V2} 500\n        500 file:/srv/nvfix-repo/current ./ Packages\n *** {V1} 500\n        500 file:/srv/nvfix-repo/current ./ Packages\n        100 /var/lib/dpkg/status\n"
        ));
    }
    s
}

fn sim_text() -> String {
    format!(
        "Inst libnvidia-compute-580 [{V1}] ({V2} nvfix-lab:./ [amd64]) []\n\
         Inst nvidia-firmware-580-580.95.05 ({V2} nvfix-lab:./ [amd64])\n\
         Inst nvidia-dkms-580 [{V1}] ({V2} nvfix-lab:./ [amd64])\n\
         Inst nvidia-driver-580 [{V1}] ({V2} nvfix-lab:./ [amd64])\n"
    )
}

fn state() -> HoldState {
    HoldState {
        manager: PackageManager::Apt,
        held: vec![
            "libnvidia-compute-580".into(),
            "nvidia-dkms-580".into(),
            "nvidia-driver-580".into(),
            "nvidia-firmware-580-580.65.06".into(),
        ],
        dropin: Some(hold::DROPIN_PATH.into()),
    }
}

struct World {
    installed: Vec<InstalledPackage>,
    policies: Vec<PackagePolicy>,
    state: HoldState,
    loaded: DriverVersion,
    library: DriverVersion,
    headers: Vec<String>,
    next: Option<String>,
}

impl World {
    fn lab() -> World {
        World {
            installed: installed(),
            policies: parse_apt_policy(&policy_text()),
            state: state(),
            loaded: "580.65.06".parse().unwrap(),
            library: "580.65.06".parse().unwrap(),
            headers: vec![K.into()],
            next: Some(K.into()),
        }
    }
    fn inputs(&self) -> UpgradeInputs<'_> {
        UpgradeInputs {
            manager: PackageManager::Apt,
            installed: &self.installed,
            hold_state: Some(&self.state),
            policies: &self.policies,
            loaded: Some(&self.loaded),
            library: Some(&self.library),
            running_kernel: K,
            next_kernel: self.next.as_deref(),
            kernels_with_headers: &self.headers,
            package_manager_busy: Vec::new(),
        }
    }
    fn plan_with(&self, inputs: &UpgradeInputs<'_>, sim: &str) -> Result<UpgradePlan, Refusal> {
        let target = choose_target(inputs, &TargetChoice::Latest)?;
        let Pins {
            install,
            rollback,
            notes,
        } = pin_packages(inputs, &target, &TargetChoice::Latest)?;
        make_plan(
            inputs,
            PlanParts {
                target,
                install,
                rollback,
                changes: parse_apt_simulation(sim).unwrap(),
                reload_stops: vec!["nvidia-persistenced.service".into()],
                notes,
            },
        )
    }
    fn plan(&self) -> Result<UpgradePlan, Refusal> {
        self.plan_with(&self.inputs(), &sim_text())
    }
}

#[test]
fn the_lab_upgrade_is_planned_exactly() {
    let plan = World::lab().plan().unwrap();
    assert_eq!(plan.from_version, "580.65.06");
    assert_eq!(plan.to_version, "580.95.05");
    assert_eq!(
        plan.install_args(),
        vec![
            format!("libnvidia-compute-580={V2}"),
            format!("nvidia-dkms-580={V2}"),
            format!("nvidia-driver-580={V2}"),
        ]
    );
    // The versioned firmware package is not asked for: apt pulls in the new one.
    assert!(!plan.install.iter().any(|p| p.name.contains("firmware")));
    assert_eq!(plan.kernels.len(), 1);
    assert_eq!(plan.kernels[0].role, "running, next-boot");
    assert_eq!(
        plan.kernels[0].source,
        ModuleSource::Dkms {
            dkms_package: "nvidia-dkms-580".into()
        }
    );
    assert_eq!(plan.dkms_kernels(), vec![K]);
    assert_eq!(
        plan.release_holds,
        vec![
            "libnvidia-compute-580",
            "nvidia-dkms-580",
            "nvidia-driver-580"
        ]
    );
    assert!(plan.rollback_missing.is_empty());
    // Held afterwards: every driver package installed then, the new firmware package included.
    assert_eq!(
        plan.hold_after,
        vec![
            "libnvidia-compute-580",
            "nvidia-dkms-580",
            "nvidia-driver-580",
            "nvidia-firmware-580-580.65.06",
            "nvidia-firmware-580-580.95.05"
        ]
    );
    assert_eq!(
        plan.rollback_command(),
        format!(
            "sudo apt-get install --allow-downgrades --allow-change-held-packages libnvidia-compute-580={V1} \
             nvidia-dkms-580={V1} nvidia-driver-580={V1}"
        )
    );
}

#[test]
fn exact_targets_upstream_or_package_version() {
    let w = World::lab();
    let i = w.inputs();
    let t = choose_target(&i, &TargetChoice::Exact("580.95.05".into())).unwrap();
    assert_eq!(t.as_str(), "580.95.05");
    let exact = TargetChoice::Exact(V2.into());
    let t = choose_target(&i, &exact).unwrap();
    let pins = pin_packages(&i, &t, &exact).unwrap().install;
    assert_eq!(pins.len(), 3);
    let missing = TargetChoice::Exact("580.999.01".into());
    let t = choose_target(&i, &missing).unwrap();
    let r = pin_packages(&i, &t, &missing).unwrap_err();
    assert_eq!(r.code, exit::UNAVAILABLE);
    assert!(r.reason.contains("580.999.01"), "{}", r.reason);
    assert_eq!(
        choose_target(&i, &TargetChoice::Exact("latest".into()))
            .unwrap_err()
            .code,
        exit::USAGE
    );
}

#[test]
fn refusals_before_anything_changes() {
    let w = World::lab();
    // Busy package manager: try again later.
    let mut i = w.inputs();
    i.package_manager_busy = vec!["/var/lib/dpkg/lock-frontend is held by apt-get (pid 42)".into()];
    assert_eq!(
        w.plan_with(&i, &sim_text()).unwrap_err().code,
        exit::TEMP_FAIL
    );

    // A mismatch now is fixed first.
    let mut w2 = World::lab();
    w2.library = "580.95.05".parse().unwrap();
    let r = w2.plan().unwrap_err();
    assert!(r.reason.contains("not consistent"), "{}", r.reason);

    // The next-boot kernel has no headers: DKMS cannot build for it.
    let mut w3 = World::lab();
    w3.next = Some("6.1.0-58-amd64".into());
    let r = w3.plan().unwrap_err();
    assert!(
        r.reason.contains("next-boot kernel 6.1.0-58-amd64"),
        "{}",
        r.reason
    );
    assert_eq!(
        r.hint.as_deref(),
        Some("sudo apt-get install linux-headers-6.1.0-58-amd64")
    );

    // An admin's hold is not nvfix's to release.
    let mut w4 = World::lab();
    w4.state.held.retain(|h| h != "nvidia-driver-580");
    let r = w4.plan().unwrap_err();
    assert!(
        r.reason
            .contains("held by someone other than nvfix: nvidia-driver-580"),
        "{}",
        r.reason
    );

    // apt would remove something that is not the driver.
    let sim = format!("{}Remv xserver-xorg-core [2:21.1.7-3]\n", sim_text());
    let r = w.plan_with(&w.inputs(), &sim).unwrap_err();
    assert!(r.reason.contains("xserver-xorg-core"), "{}", r.reason);

    // The library would stay at the old version (two versions of the driver at once).
    let sim: String = sim_text()
        .lines()
        .filter(|l| !l.contains("libnvidia-compute"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = w.plan_with(&w.inputs(), &sim).unwrap_err();
    assert!(r.reason.contains("libnvidia-compute-580"), "{}", r.reason);

    // No driver loaded.
    let mut i = w.inputs();
    i.loaded = None;
    assert_eq!(
        choose_target(&i, &TargetChoice::Latest).unwrap_err().code,
        exit::UNAVAILABLE
    );
}

#[test]
fn prebuilt_modules_cover_a_kernel_without_headers() {
    let mut w = World::lab();
    w.headers.clear();
    w.installed.retain(|p| p.name != "nvidia-dkms-580");
    let sim = format!(
        "Inst libnvidia-compute-580 [{V1}] ({V2} x [amd64])\nInst linux-modules-nvidia-580-{K} [{V1}] ({V2} x [amd64])\n"
    );
    let plan = w.plan_with(&w.inputs(), &sim).unwrap();
    assert_eq!(
        plan.kernels[0].source,
        ModuleSource::Prebuilt {
            package: format!("linux-modules-nvidia-580-{K}")
        }
    );
    assert!(plan.dkms_kernels().is_empty());
    // Without it and without DKMS, the running kernel gets nothing: refused.
    let sim = format!("Inst libnvidia-compute-580 [{V1}] ({V2} x [amd64])\n");
    let r = w.plan_with(&w.inputs(), &sim).unwrap_err();
    assert!(
        r.reason.contains("running, next-boot kernel"),
        "{}",
        r.reason
    );
}

#[test]
fn rollback_versions_no_repository_serves_are_named() {
    let mut w = World::lab();
    let text = policy_text().replace(
        &format!(" *** {V1} 500\n        500 file:/srv/nvfix-repo/current ./ Packages\n"),
        &format!(" *** {V1} 100\n"),
    );
    w.policies = parse_apt_policy(&text);
    let plan = w.plan().unwrap();
    assert_eq!(plan.rollback_missing.len(), 3);
    assert!(plan.rollback_missing[0].starts_with("libnvidia-compute-580=580.65.06"));
}

#[test]
fn resume_is_judged_on_the_host_as_it_is() {
    let w = World::lab();
    let plan = w.plan().unwrap();
    let v1: DriverVersion = "580.65.06".parse().unwrap();
    let v2: DriverVersion = "580.95.05".parse().unwrap();
    assert_eq!(
        resume_step(&plan, &w.installed, Some(&v1)),
        ResumeStep::Install
    );
    let mut after: Vec<InstalledPackage> = w
        .installed
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if plan.install.iter().any(|i| i.name == p.name) {
                p.version = V2.into();
            }
            p
        })
        .collect();
    assert_eq!(resume_step(&plan, &after, Some(&v1)), ResumeStep::Reload);
    assert_eq!(resume_step(&plan, &after, Some(&v2)), ResumeStep::Hold);
    // A package left half-configured by a failed DKMS build is not installed.
    after[1].state = "half-configured".into();
    assert_eq!(resume_step(&plan, &after, Some(&v1)), ResumeStep::Install);
}

#[test]
fn the_journal_round_trips_and_refuses_other_formats() {
    let j = UpgradeJournal {
        format: JOURNAL_FORMAT,
        started_at: 1,
        phase: UpgradePhase::Installed,
        plan: World::lab().plan().unwrap(),
        detail: None,
    };
    assert_eq!(UpgradeJournal::parse(&j.text()).unwrap(), j);
    let other = j.text().replace("\"format\": 1", "\"format\": 2");
    assert!(UpgradeJournal::parse(&other)
        .unwrap_err()
        .contains("format 2"));
    assert!(UpgradeJournal::parse("{")
        .unwrap_err()
        .starts_with("not an nvfix upgrade journal"));
}

#[test]
fn check_says_whether_a_newer_driver_is_offered_and_how_it_applies() {
    let w = World::lab();
    let c = check(&w.inputs(), Some(Vec::new()));
    assert!(c.available);
    assert_eq!(c.candidate.as_deref(), Some("580.95.05"));
    assert_eq!(c.branch, Some(580));
    assert_eq!(c.apply_by, "reload");
    let c = check(
        &w.inputs(),
        Some(vec!["the display manager uses the GPU".into()]),
    );
    assert_eq!(c.apply_by, "reboot");
    let mut w2 = World::lab();
    w2.policies = parse_apt_policy(
        &policy_text().replace(&format!("Candidate: {V2}"), &format!("Candidate: {V1}")),
    );
    let c = check(&w2.inputs(), Some(Vec::new()));
    assert!(!c.available);
    assert_eq!(c.candidate, None);
    assert_eq!(c.apply_by, "unknown");
}

#[test]
fn the_playbook_must_allow_upgrades_and_a_way_to_load_them() {
    use crate::model::playbook::parse_playbook;
    let ok = parse_playbook("version: 1\n").unwrap();
    assert!(playbook_allows(&ok, "x").is_ok());
    let no = parse_playbook("version: 1\nupgrade:\n  allowed: false\n").unwrap();
    let r = playbook_allows(&no, "/etc/nvfix/playbooks/wave.yaml").unwrap_err();
    assert_eq!(r.code, exit::UNAVAILABLE);
    assert!(r.reason.contains("forbids upgrades here"), "{}", r.reason);
    let stuck =
        parse_playbook("version: 1\nreload:\n  allowed: false\nreboot:\n  allowed: false\n")
            .unwrap();
    assert!(playbook_allows(&stuck, "x")
        .unwrap_err()
        .reason
        .contains("neither a reload nor a reboot"));
    assert!(parse_playbook("version: 1\nupgrade:\n  allowed: true\n  window: x\n").is_err());
}

#[test]
fn a_dnf_host_is_planned_from_repoquery_and_the_transaction_table() {
    use crate::model::dnf_transaction::{parse_dnf_transaction, parse_repoquery};
    let old = "3:580.65.06-1.el9";
    let new = "3:580.95.05-1.el9";
    let installed: Vec<InstalledPackage> = [
        "kmod-nvidia-open-dkms",
        "nvidia-driver",
        "nvidia-driver-libs",
    ]
    .iter()
    .map(|n| pkg(n, old, true))
    .collect();
    let mut repo = String::new();
    for p in &installed {
        repo.push_str(&format!(
            "{} {old} cuda-rhel9-x86_64\n{} {new} cuda-rhel9-x86_64\n",
            p.name, p.name
        ));
    }
    let versions: Vec<(String, String)> = installed
        .iter()
        .map(|p| (p.name.clone(), old.to_string()))
        .collect();
    let policies = parse_repoquery(&repo, &versions);
    let state = HoldState {
        manager: PackageManager::Dnf,
        held: installed.iter().map(|p| p.name.clone()).collect(),
        dropin: None,
    };
    let (loaded, headers): (DriverVersion, Vec<String>) =
        ("580.65.06".parse().unwrap(), vec![K.into()]);
    let inputs = UpgradeInputs {
        manager: PackageManager::Dnf,
        installed: &installed,
        hold_state: Some(&state),
        policies: &policies,
        loaded: Some(&loaded),
        library: Some(&loaded),
        running_kernel: K,
        next_kernel: Some(K),
        kernels_with_headers: &headers,
        package_manager_busy: Vec::new(),
    };
    let target = choose_target(&inputs, &TargetChoice::Latest).unwrap();
    assert_eq!(target.as_str(), "580.95.05");
    let pins = pin_packages(&inputs, &target, &TargetChoice::Latest).unwrap();
    let table = format!(
        "Upgrading:\n kmod-nvidia-open-dkms  noarch  {new}  cuda  45 M\n nvidia-driver  x86_64  {new}  cuda  1 M\n \
         nvidia-driver-libs  x86_64  {new}  cuda  95 M\n"
    );
    let plan = make_plan(
        &inputs,
        PlanParts {
            target,
            install: pins.install,
            rollback: pins.rollback,
            changes: parse_dnf_transaction(&table),
            reload_stops: Vec::new(),
            notes: pins.notes,
        },
    )
    .unwrap();
    assert_eq!(plan.install_args()[1], "nvidia-driver-3:580.95.05-1.el9");
    assert_eq!(
        plan.kernels[0].source,
        ModuleSource::Dkms {
            dkms_package: "kmod-nvidia-open-dkms".into()
        }
    );
    assert!(plan
        .rollback_command()
        .starts_with("sudo dnf downgrade kmod-nvidia-open-dkms-3:580.65.06-1.el9"));
    // Without the kernel's headers the hint names dnf's package.
    let none: Vec<String> = Vec::new();
    let r = make_plan(
        &UpgradeInputs {
            kernels_with_headers: &none,
            ..inputs.clone()
        },
        PlanParts {
            target: "580.95.05".parse().unwrap(),
            install: plan.install.clone(),
            rollback: plan.rollback.clone(),
            changes: plan.changes.clone(),
            reload_stops: Vec::new(),
            notes: Vec::new(),
        },
    )
    .unwrap_err();
    assert_eq!(
        r.hint.as_deref(),
        Some(format!("sudo dnf install kernel-devel-{K}").as_str())
    );
}
