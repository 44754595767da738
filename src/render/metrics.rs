//! node_exporter textfile metrics: one gauge per verdict and action, the versions as info metrics, the holders.

use crate::model::facts::HostFacts;
use crate::model::verdict::{Action, Diagnosis, Verdict};

/// Every verdict, so each gets a 0/1 series (a missing series reads as "unknown" in PromQL, not as 0).
pub const VERDICTS: [Verdict; 5] = [
    Verdict::Healthy,
    Verdict::VersionMismatch,
    Verdict::DriverNotLoaded,
    Verdict::NoDriver,
    Verdict::Degraded,
];

/// Every action, likewise.
pub const ACTIONS: [Action; 5] = [
    Action::None,
    Action::Reload,
    Action::Reboot,
    Action::Repair,
    Action::External,
];

// A new variant fails to compile here until it is added to the lists above.
const _: fn(Verdict, Action) = |v, a| {
    match v {
        Verdict::Healthy
        | Verdict::VersionMismatch
        | Verdict::DriverNotLoaded
        | Verdict::NoDriver
        | Verdict::Degraded => {}
    }
    match a {
        Action::None | Action::Reload | Action::Reboot | Action::Repair | Action::External => {}
    }
};

/// A label value in the exposition format: backslash, double quote and newline escaped.
pub(crate) fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) fn header(out: &mut String, name: &str, help: &str) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
}

/// The textfile for one check. `holders_scanned`: false leaves `nvfix_gpu_holders` out (not scanned ≠ zero).
/// `now_seconds`: the check's Unix time.
pub fn textfile(
    facts: &HostFacts,
    diagnosis: &Diagnosis,
    holders_scanned: bool,
    now_seconds: u64,
) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "nvfix_verdict",
        "1 for nvfix's current verdict on the NVIDIA driver, 0 for the others.",
    );
    for v in VERDICTS {
        out.push_str(&format!(
            "nvfix_verdict{{verdict=\"{}\"}} {}\n",
            v.as_str(),
            u8::from(v == diagnosis.verdict)
        ));
    }
    header(
        &mut out,
        "nvfix_action",
        "1 for the action nvfix recommends (none, reload, reboot, repair, external), 0 for the others.",
    );
    for a in ACTIONS {
        out.push_str(&format!(
            "nvfix_action{{action=\"{}\"}} {}\n",
            a.as_str(),
            u8::from(a == diagnosis.action)
        ));
    }
    if let Some(v) = facts.loaded_version() {
        header(
            &mut out,
            "nvfix_loaded_driver_info",
            "The loaded NVIDIA kernel module's version.",
        );
        out.push_str(&format!(
            "nvfix_loaded_driver_info{{version=\"{}\"}} 1\n",
            label(&v.to_string())
        ));
    }
    if let Some(lib) = &facts.nvml_library {
        header(
            &mut out,
            "nvfix_library_info",
            "The version of the libnvidia-ml the loader picks.",
        );
        out.push_str(&format!(
            "nvfix_library_info{{version=\"{}\"}} 1\n",
            label(&lib.version.to_string())
        ));
    }
    if holders_scanned {
        header(
            &mut out,
            "nvfix_gpu_holders",
            "Processes holding the GPU (device nodes or driver libraries).",
        );
        out.push_str(&format!("nvfix_gpu_holders {}\n", facts.holders.len()));
    }
    if facts.container_mounts.is_some() && facts.loaded_version().is_some() {
        header(
            &mut out,
            "nvfix_stale_containers",
            "GPU containers whose mounted driver libraries are not the loaded module's version (restart them).",
        );
        out.push_str(&format!(
            "nvfix_stale_containers {}\n",
            crate::model::containers::stale_containers(facts).len()
        ));
    }
    let exposed = diagnosis
        .reasons
        .iter()
        .any(|r| r.code == "recurrence-risk");
    header(
        &mut out,
        "nvfix_recurrence_risk",
        "1 when unattended-upgrades could upgrade a driver package that is neither held nor blacklisted.",
    );
    out.push_str(&format!("nvfix_recurrence_risk {}\n", u8::from(exposed)));
    header(
        &mut out,
        "nvfix_last_check_timestamp_seconds",
        "Unix time of the check that wrote this file.",
    );
    out.push_str(&format!(
        "nvfix_last_check_timestamp_seconds {now_seconds}\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::verdict::diagnose;

    fn value<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn every_verdict_and_action_has_a_series_and_exactly_one_is_set() {
        let facts = HostFacts::default();
        let d = diagnose(&facts);
        let text = textfile(&facts, &d, true, 1_700_000_000);
        let ones = |prefix: &str| {
            text.lines()
                .filter(|l| l.starts_with(prefix) && l.ends_with(" 1"))
                .count()
        };
        assert_eq!(ones("nvfix_verdict{"), 1);
        assert_eq!(ones("nvfix_action{"), 1);
        assert_eq!(
            value(
                &text,
                &format!("nvfix_verdict{{verdict=\"{}\"}}", d.verdict.as_str())
            ),
            Some("1")
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("nvfix_verdict{"))
                .count(),
            5
        );
        assert_eq!(value(&text, "nvfix_gpu_holders"), Some("0"));
        assert_eq!(
            value(&text, "nvfix_last_check_timestamp_seconds"),
            Some("1700000000")
        );
        assert!(!text.contains("nvfix_loaded_driver_info"), "nothing loaded");
        assert!(text.ends_with('\n'));
        // Every sample line is `name{labels} value` or `name value`, after its HELP and TYPE.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            assert!(v.parse::<f64>().is_ok(), "{line}");
        }
        let unscanned = textfile(&facts, &d, false, 0);
        assert!(!unscanned.contains("nvfix_gpu_holders"));
    }

    #[test]
    fn stale_containers_are_counted_when_looked_at() {
        use crate::model::containers::{ContainerMounts, DriverMount};
        use crate::model::driver_version::{LoadedDriver, ModuleFlavor};
        let mount = |version: &str| ContainerMounts {
            pid: 1,
            container: None,
            mounts: vec![DriverMount {
                mount_point: format!("/usr/lib/libnvidia-ml.so.{version}"),
                version: version.parse().unwrap(),
                deleted: false,
            }],
        };
        let mut facts = HostFacts {
            loaded_driver: Some(LoadedDriver {
                version: "580.95.05".parse().unwrap(),
                flavor: ModuleFlavor::Proprietary,
                arch: None,
                build: None,
                compiler: None,
            }),
            ..Default::default()
        };
        let d = diagnose(&facts);
        assert!(
            !textfile(&facts, &d, true, 0).contains("nvfix_stale_containers"),
            "not looked at"
        );
        facts.container_mounts = Some(vec![
            mount("580.65.06"),
            mount("580.95.05"),
            mount("570.1.2"),
        ]);
        let text = textfile(&facts, &d, true, 0);
        assert_eq!(value(&text, "nvfix_stale_containers"), Some("2"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
