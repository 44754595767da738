//! `nvfix upgrade`'s report (the nvfix.upgrade/v1 JSON object) and its human text: the plan, the trial, each step,
//! the outcome; `--check`'s answer.

use crate::commands::auto::AutoReport;
use crate::host::reload::ExecReport;
use crate::host::upgrade::{TrialFailure, TrialKernel};
use crate::model::auto::ActionRecord;
use crate::model::facts::HostFacts;
use crate::model::plan::Refusal;
use crate::model::upgrade::{ModuleSource, UpgradeCheck, UpgradePlan};
use serde::Serialize;

pub const SCHEMA: &str = "nvfix.upgrade/v1";

/// Everything one `nvfix upgrade` run did or would do.
#[derive(Debug, Serialize)]
pub struct UpgradeReport {
    pub schema: &'static str,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<UpgradePlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trial: Vec<TrialKernel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trial_failure: Option<TrialFailure>,
    pub actions: Vec<ActionRecord>,
    /// The reload engine's report (without --playbook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload: Option<ExecReport>,
    /// `nvfix auto`'s report (with --playbook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub message: String,
    pub exit_status: i32,
}

impl UpgradeReport {
    pub fn new(dry_run: bool) -> Self {
        UpgradeReport {
            schema: SCHEMA,
            dry_run,
            plan: None,
            refusal: None,
            trial: Vec::new(),
            trial_failure: None,
            actions: Vec::new(),
            reload: None,
            auto: None,
            problems: Vec::new(),
            message: String::new(),
            exit_status: 0,
        }
    }
}

fn source_text(s: &ModuleSource) -> String {
    match s {
        ModuleSource::Dkms { dkms_package } => format!("DKMS builds it ({dkms_package})"),
        ModuleSource::Prebuilt { package } => format!("prebuilt ({package})"),
    }
}

/// The plan for people.
pub fn plan_text(plan: &UpgradePlan) -> String {
    let older = match (
        plan.from_version
            .parse::<crate::model::version::DriverVersion>(),
        plan.to_version
            .parse::<crate::model::version::DriverVersion>(),
    ) {
        (Ok(from), Ok(to)) => to < from,
        _ => false,
    };
    let mut s = format!(
        "Upgrade plan: NVIDIA driver {} → {} (branch {}, {}{})\n",
        plan.from_version,
        plan.to_version,
        plan.branch,
        plan.manager.as_str(),
        if older { ", a downgrade" } else { "" }
    );
    s.push_str("  Packages (apt-get -s):\n");
    for c in &plan.changes {
        s.push_str(&format!(
            "    {:<9} {:<40} {} → {}\n",
            c.kind.text(),
            c.name,
            c.from.as_deref().unwrap_or("-"),
            c.to.as_deref().unwrap_or("-")
        ));
    }
    s.push_str("  Modules:\n");
    for k in &plan.kernels {
        s.push_str(&format!(
            "    kernel {} ({}): {}\n",
            k.kernel,
            k.role,
            source_text(&k.source)
        ));
    }
    s.push_str(&format!(
        "  Trial: {} in /var/lib/nvfix/upgrade-trial, then the pre-flight; nothing changes before it passes\n",
        if plan.dkms_kernels().is_empty() {
            "unpack the prebuilt modules"
        } else {
            "dkms build"
        }
    ));
    if plan.release_holds.is_empty() {
        s.push_str("  Hold: nothing nvfix held\n");
    } else {
        s.push_str(&format!(
            "  Release nvfix's hold: {}\n",
            plan.release_holds.join(" ")
        ));
    }
    s.push_str(&format!(
        "  Reload stops: {}\n",
        if plan.reload_stops.is_empty() {
            "nothing holds the GPU now".to_string()
        } else {
            plan.reload_stops.join(", ")
        }
    ));
    s.push_str(&format!(
        "  Afterwards: verify with NVML, hold {}\n",
        if plan.hold_after.is_empty() {
            "every driver package".to_string()
        } else {
            plan.hold_after.join(" ")
        }
    ));
    s.push_str(&format!("  Way back: {}\n", plan.rollback_command()));
    if !plan.rollback_missing.is_empty() {
        s.push_str(&format!(
            "    not offered by any repository any more: {} (keep the .deb files)\n",
            plan.rollback_missing.join(" ")
        ));
    }
    for n in &plan.notes {
        s.push_str(&format!("  Note: {n}\n"));
    }
    s
}

/// The whole report for people.
pub fn report_text(r: &UpgradeReport, color: bool) -> String {
    let mut s = String::new();
    if r.dry_run {
        if let Some(p) = &r.plan {
            s.push_str(&plan_text(p));
        }
    }
    for t in &r.trial {
        s.push_str(&format!(
            "Trial for kernel {}: {} — {} module(s){}\n",
            t.kernel,
            t.how,
            t.modules.len(),
            if t.findings.is_empty() {
                ", pre-flight passed".to_string()
            } else {
                format!(", {} pre-flight finding(s)", t.findings.len())
            }
        ));
    }
    if let Some(f) = &r.trial_failure {
        s.push_str(&format!("Trial failed: {}\n", f.message));
        for e in &f.excerpt {
            s.push_str(&format!("  {e}\n"));
        }
        if let Some(log) = &f.log {
            s.push_str(&format!("  build log: {log}\n"));
        }
    }
    for a in &r.actions {
        let mark = match a.ok {
            Some(true) => "ok",
            Some(false) => "FAILED",
            None => "-",
        };
        s.push_str(&format!(
            "[{mark}] {}{}\n",
            a.label,
            if a.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", a.detail)
            }
        ));
    }
    if let Some(rel) = &r.reload {
        s.push_str(&crate::render::plan::exec_report_text(rel, color));
    }
    if let Some(a) = &r.auto {
        s.push_str(&crate::commands::auto::report_text(a));
    }
    for p in &r.problems {
        s.push_str(&format!("problem: {p}\n"));
    }
    if let Some(refusal) = &r.refusal {
        s.push_str(&format!("Refused: {}\n", refusal.reason));
        if let Some(h) = &refusal.hint {
            s.push_str(&format!("  next: {h}\n"));
        }
    }
    if !r.message.is_empty() {
        s.push_str(&format!("{}\n", r.message));
    }
    s
}

/// What the report says when the install failed: what is loaded, what is installed, the way back.
pub fn install_failed_message(plan: &UpgradePlan, facts: &HostFacts, error: &str) -> String {
    let loaded = facts
        .loaded_driver
        .as_ref()
        .map_or("no driver".to_string(), |d| d.version.as_str().to_string());
    let library = facts
        .nvml_library
        .as_ref()
        .map_or("none".to_string(), |l| l.version.as_str().to_string());
    let mut s = format!(
        "the install of {} failed: {error}\nLoaded: {loaded}; installed library: {library}{}.\n\
         Retry: sudo nvfix upgrade --resume. Go back: {}",
        plan.to_version,
        if library == loaded {
            " — the old driver is still loaded and working".to_string()
        } else {
            " — the libraries no longer match the loaded module: new programs fail with \"Driver/library version \
             mismatch\" until the modules are swapped or the old versions are back"
                .to_string()
        },
        plan.rollback_command()
    );
    if plan.rollback_missing.is_empty() {
        s.push_str(" (every old version is still offered by a repository)");
    } else {
        s.push_str(&format!(
            " — no repository offers {} any more: use the .deb files from /var/cache/apt/archives",
            plan.rollback_missing.join(" ")
        ));
    }
    s
}

/// `--check` for people.
pub fn check_text(c: &UpgradeCheck) -> String {
    let mut s = match (&c.installed, &c.candidate) {
        (Some(i), Some(n)) if c.available => format!(
            "A newer driver is offered: {i} → {n} (branch {})\n",
            c.branch.unwrap_or_default()
        ),
        (Some(i), _) => format!(
            "No newer driver of branch {} is offered: {i} is the newest\n",
            c.branch.unwrap_or_default()
        ),
        (None, _) => "No NVIDIA driver is installed\n".to_string(),
    };
    match c.apply_by {
        "reload" => s.push_str("Applying it: a reload (sudo nvfix upgrade), no reboot\n"),
        "reboot" => s.push_str(&format!(
            "Applying it needs a reboot: {}\n",
            c.why.join("; ")
        )),
        _ => {
            for w in &c.why {
                s.push_str(&format!("{w}\n"));
            }
        }
    }
    s
}

/// `nvfix upgrade --check --textfile`: whether a newer driver of the installed branch is offered, and whether applying
/// it needs a reboot (1), a reload does (0), or nvfix cannot tell (the series is left out).
pub fn upgrade_metrics(check: &UpgradeCheck) -> String {
    let mut out = String::new();
    super::metrics::header(
        &mut out,
        "nvfix_driver_upgrade_available",
        "1 when the repositories offer a newer driver of the installed branch.",
    );
    out.push_str(&format!(
        "nvfix_driver_upgrade_available{{branch=\"{}\",installed=\"{}\",candidate=\"{}\"}} {}\n",
        check.branch.map(|b| b.to_string()).unwrap_or_default(),
        super::metrics::label(check.installed.as_deref().unwrap_or("")),
        super::metrics::label(check.candidate.as_deref().unwrap_or("")),
        u8::from(check.available)
    ));
    if check.apply_by == "reload" || check.apply_by == "reboot" {
        super::metrics::header(
            &mut out,
            "nvfix_driver_upgrade_needs_reboot",
            "1 when applying the offered driver needs a reboot on this host, 0 when a reload does.",
        );
        out.push_str(&format!(
            "nvfix_driver_upgrade_needs_reboot {}\n",
            u8::from(check.apply_by == "reboot")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hold::PackageManager;
    use crate::model::upgrade::PinnedPackage;

    fn plan(missing: &[&str]) -> UpgradePlan {
        let pin = |v: &str| PinnedPackage {
            name: "nvidia-driver-580".into(),
            version: v.into(),
        };
        UpgradePlan {
            manager: PackageManager::Apt,
            branch: 580,
            from_version: "580.65.06".into(),
            to_version: "580.95.05".into(),
            install: vec![pin("580.95.05-1")],
            changes: Vec::new(),
            kernels: Vec::new(),
            release_holds: Vec::new(),
            rollback: vec![pin("580.65.06-1")],
            rollback_missing: missing.iter().map(|m| m.to_string()).collect(),
            reload_stops: Vec::new(),
            hold_after: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn facts(loaded: &str, library: &str) -> HostFacts {
        HostFacts {
            loaded_driver: Some(crate::model::driver_version::LoadedDriver {
                version: loaded.parse().unwrap(),
                flavor: crate::model::driver_version::ModuleFlavor::Proprietary,
                arch: None,
                build: None,
                compiler: None,
            }),
            nvml_library: Some(crate::model::library::LibraryFile {
                path: format!("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{library}"),
                version: library.parse().unwrap(),
                link: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_downgrade_says_so() {
        let mut p = plan(&[]);
        assert!(plan_text(&p)
            .starts_with("Upgrade plan: NVIDIA driver 580.65.06 → 580.95.05 (branch 580, apt)\n"));
        p.from_version = "580.105.08".into();
        assert!(plan_text(&p).contains("(branch 580, apt, a downgrade)"));
    }

    #[test]
    fn a_failed_install_says_what_runs_and_the_way_back() {
        let m = install_failed_message(&plan(&[]), &facts("580.65.06", "580.65.06"), "dpkg exit 1");
        assert!(
            m.contains("the old driver is still loaded and working"),
            "{m}"
        );
        assert!(m.contains("sudo apt-get install --allow-downgrades --allow-change-held-packages nvidia-driver-580=580.65.06-1"), "{m}");
        assert!(m.contains("every old version is still offered"), "{m}");
        let m = install_failed_message(
            &plan(&["nvidia-driver-580=580.65.06-1"]),
            &facts("580.65.06", "580.95.05"),
            "dpkg exit 1",
        );
        assert!(m.contains("no longer match the loaded module"), "{m}");
        assert!(
            m.contains("no repository offers nvidia-driver-580=580.65.06-1 any more"),
            "{m}"
        );
    }
}
