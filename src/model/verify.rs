//! Verification after a reload (and `nvfix verify`): NVML initialises, every version agrees, nothing new went wrong.
//!
//! Pure: judges [`HostFacts`] gathered after the reload against a [`VerifyBaseline`] taken before it.

use super::containers::{stale_containers, StaleContainer};
use super::facts::{HostFacts, NvmlProbe};
use super::kernel_log::KernelLogFacts;
use super::log_position::LogMark;
use super::plan::VerifyBaseline;
use serde::Serialize;

/// One check with its outcome. `ok: None` means it could not be checked (and does not fail the verification).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: Option<bool>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Every check that ran passed (and at least the module/library versions were compared).
    pub verified: bool,
    pub checks: Vec<Check>,
    /// Containers that still have another driver version's libraries mounted. They do not fail the verification
    /// (the host's driver is right; a reboot would not be the cure): their owners must restart them.
    pub stale_containers: Vec<StaleContainer>,
}

impl VerifyReport {
    /// The failed checks' details, joined: the one-line reason a verification failed.
    pub fn failures(&self) -> String {
        self.checks
            .iter()
            .filter(|c| c.ok == Some(false))
            .map(|c| c.detail.clone())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Judges the host. Without a baseline (`nvfix verify` alone) the kernel log check looks for API mismatches that
/// name the module loaded now: those can only come from clients that still mismatch.
pub fn verify_host(facts: &HostFacts, baseline: Option<&VerifyBaseline>) -> VerifyReport {
    let mut checks = Vec::new();
    let sysfs = facts.sysfs_driver_version.as_ref().map(|v| v.to_string());
    let proc_version = facts.loaded_driver.as_ref().map(|d| d.version.to_string());
    let loaded = sysfs.clone().or(proc_version.clone());
    let library = facts.nvml_library.as_ref().map(|l| l.version.to_string());

    checks.push(match &loaded {
        Some(v) => Check {
            name: "module-loaded",
            ok: Some(true),
            detail: format!("the nvidia module {v} is loaded"),
        },
        None => Check {
            name: "module-loaded",
            ok: Some(false),
            detail: "the nvidia module is not loaded".into(),
        },
    });
    if let (Some(s), Some(p)) = (&sysfs, &proc_version) {
        if s != p {
            checks.push(Check {
                name: "module-versions",
                ok: Some(false),
                detail: format!(
                    "/sys/module/nvidia/version says {s} but /proc/driver/nvidia/version says {p}"
                ),
            });
        }
    }
    checks.push(match (&loaded, &library) {
        (Some(m), Some(l)) if m == l => Check {
            name: "module-matches-library",
            ok: Some(true),
            detail: format!("module and libnvidia-ml are both {m}"),
        },
        (Some(m), Some(l)) => Check {
            name: "module-matches-library",
            ok: Some(false),
            detail: format!("the module is {m} but libnvidia-ml is {l}"),
        },
        (_, None) => Check {
            name: "module-matches-library",
            ok: Some(false),
            detail: "no libnvidia-ml found".into(),
        },
        (None, Some(_)) => Check {
            name: "module-matches-library",
            ok: Some(false),
            detail: "no loaded module to compare with the library".into(),
        },
    });
    checks.push(nvml_check(facts, loaded.as_deref(), baseline));
    checks.push(kernel_log_check(facts, loaded.as_deref(), baseline));
    let verified = checks.iter().all(|c| c.ok != Some(false));
    let stale_containers = stale_containers(facts);
    VerifyReport {
        verified,
        checks,
        stale_containers,
    }
}

fn nvml_check(facts: &HostFacts, loaded: Option<&str>, baseline: Option<&VerifyBaseline>) -> Check {
    match &facts.nvml {
        Some(NvmlProbe::Ok {
            driver_version,
            device_count,
            library,
            ..
        }) => {
            if Some(driver_version.as_str()) != loaded {
                return Check {
                    name: "nvml",
                    ok: Some(false),
                    detail: format!(
                        "NVML ({library}) reports driver {driver_version}, the module is {}",
                        loaded.unwrap_or("not loaded")
                    ),
                };
            }
            if let Some(before) = baseline.and_then(|b| b.device_count) {
                if before != *device_count {
                    return Check {
                        name: "nvml",
                        ok: Some(false),
                        detail: format!(
                            "NVML sees {device_count} GPU(s), {before} before the reload"
                        ),
                    };
                }
            }
            Check {
                name: "nvml",
                ok: Some(true),
                detail: format!("NVML initialises: driver {driver_version}, {device_count} GPU(s)"),
            }
        }
        Some(NvmlProbe::Error {
            code,
            name,
            message,
            library,
        }) => Check {
            name: "nvml",
            ok: Some(false),
            detail: format!(
                "NVML ({library}) fails: {}{name}: {message}",
                code.map(|c| format!("{c} ")).unwrap_or_default()
            ),
        },
        Some(NvmlProbe::NotChecked { reason }) => Check {
            name: "nvml",
            ok: None,
            detail: format!("NVML not checked ({reason}): verified on files alone"),
        },
        None => Check {
            name: "nvml",
            ok: None,
            detail: "NVML not checked: verified on files alone".into(),
        },
    }
}

/// API mismatches and init failures logged after `mark`, by position; None when a line states no position on the
/// mark's clock (the log changed source), where line numbers and counts are all there is to go by.
fn new_since_mark(log: &KernelLogFacts, mark: &LogMark) -> Option<(usize, usize)> {
    let count_new = |lines: Vec<usize>| -> Option<usize> {
        lines.into_iter().try_fold(0, |n, line| {
            Some(n + usize::from(log.is_after(line, mark)?))
        })
    };
    Some((
        count_new(log.api_mismatches.iter().map(|m| m.line).collect())?,
        count_new(log.init_failures.clone())?,
    ))
}

fn kernel_log_check(
    facts: &HostFacts,
    loaded: Option<&str>,
    baseline: Option<&VerifyBaseline>,
) -> Check {
    let Some(log) = &facts.kernel_log else {
        return Check {
            name: "kernel-log",
            ok: None,
            detail: "no kernel log to read".into(),
        };
    };
    let since_mark = baseline
        .and_then(|b| b.kernel_log_mark)
        .and_then(|mark| new_since_mark(log, &mark));
    let (mismatches, failures) = match (since_mark, baseline) {
        (Some(counts), _) => counts,
        (None, Some(b)) => match b.kernel_log_lines {
            // The log grew: only lines after the mark are new.
            Some(mark) if log.lines >= mark => (
                log.api_mismatches.iter().filter(|m| m.line > mark).count(),
                log.init_failures.iter().filter(|l| **l > mark).count(),
            ),
            // Rotated or wrapped (or no mark): compare counts.
            _ => (
                log.api_mismatches.len().saturating_sub(b.api_mismatches),
                log.init_failures.len().saturating_sub(b.init_failures),
            ),
        },
        (None, None) => (
            log.api_mismatches
                .iter()
                .filter(|m| Some(m.kernel_version.as_str()) == loaded)
                .count(),
            0,
        ),
    };
    if mismatches == 0 && failures == 0 {
        return Check {
            name: "kernel-log",
            ok: Some(true),
            detail: if baseline.is_some() {
                "no new `NVRM: API mismatch` or `RmInitAdapter failed` in the kernel log".into()
            } else {
                "no `NVRM: API mismatch` against the loaded module in the kernel log".into()
            },
        };
    }
    let mut parts = Vec::new();
    if mismatches > 0 {
        parts.push(format!("{mismatches} new `NVRM: API mismatch` report(s)"));
    }
    if failures > 0 {
        parts.push(format!("{failures} new `RmInitAdapter failed` line(s)"));
    }
    Check {
        name: "kernel-log",
        ok: Some(false),
        detail: format!("the kernel log has {}", parts.join(" and ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernel_log::{ApiMismatch, KernelLogFacts};
    use crate::model::library::LibraryFile;

    fn fixed() -> HostFacts {
        HostFacts {
            sysfs_driver_version: Some("580.95.05".parse().unwrap()),
            nvml_library: Some(LibraryFile {
                path: "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.95.05".into(),
                version: "580.95.05".parse().unwrap(),
                link: None,
            }),
            nvml: Some(NvmlProbe::Ok {
                driver_version: "580.95.05".into(),
                cuda_driver_version: None,
                device_count: 2,
                library: "libnvidia-ml.so.1".into(),
            }),
            kernel_log: Some(KernelLogFacts {
                api_mismatches: vec![mismatch(10, "580.65.06")],
                lines: 40,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn mismatch(line: usize, kernel: &str) -> ApiMismatch {
        ApiMismatch {
            client_version: "580.95.05".into(),
            kernel_version: kernel.into(),
            client: None,
            pid: None,
            line,
            timestamp: None,
        }
    }

    fn baseline() -> VerifyBaseline {
        VerifyBaseline {
            device_count: Some(2),
            kernel_log_mark: None,
            kernel_log_lines: Some(40),
            api_mismatches: 1,
            init_failures: 0,
        }
    }

    #[test]
    fn a_fixed_host_verifies() {
        let r = verify_host(&fixed(), Some(&baseline()));
        assert!(r.verified, "{r:?}");
        assert_eq!(r.failures(), "");
    }

    #[test]
    fn nvml_disagreeing_with_the_module_fails() {
        let mut f = fixed();
        f.nvml = Some(NvmlProbe::Ok {
            driver_version: "580.65.06".into(),
            cuda_driver_version: None,
            device_count: 2,
            library: "x".into(),
        });
        let r = verify_host(&f, Some(&baseline()));
        assert!(!r.verified);
        assert!(r.failures().contains("580.65.06"), "{}", r.failures());
    }

    #[test]
    fn a_lost_gpu_fails() {
        let mut b = baseline();
        b.device_count = Some(3);
        let r = verify_host(&fixed(), Some(&b));
        assert!(!r.verified);
        assert!(r.failures().contains("3 before"), "{}", r.failures());
    }

    #[test]
    fn a_new_api_mismatch_after_the_mark_fails_an_old_one_does_not() {
        let mut f = fixed();
        if let Some(l) = f.kernel_log.as_mut() {
            l.lines = 50;
            l.api_mismatches.push(mismatch(45, "580.95.05"));
        }
        let r = verify_host(&f, Some(&baseline()));
        assert!(!r.verified);
        assert!(
            r.failures().contains("1 new `NVRM: API mismatch`"),
            "{}",
            r.failures()
        );
        // Rotated log (fewer lines than the mark): counts decide.
        if let Some(l) = f.kernel_log.as_mut() {
            l.lines = 5;
            l.api_mismatches = vec![mismatch(2, "580.65.06")];
        }
        assert!(verify_host(&f, Some(&baseline())).verified);
    }

    #[test]
    fn without_nvml_files_alone_decide_and_say_so() {
        let mut f = fixed();
        f.nvml = Some(NvmlProbe::NotChecked {
            reason: "no library".into(),
        });
        let r = verify_host(&f, None);
        assert!(r.verified);
        assert!(r
            .checks
            .iter()
            .any(|c| c.ok.is_none() && c.detail.contains("files alone")));
    }

    #[test]
    fn nvml_error_and_version_mismatch_fail() {
        let mut f = fixed();
        f.nvml = Some(NvmlProbe::Error {
            code: Some(18),
            name: "LIB_RM_VERSION_MISMATCH".into(),
            message: "Driver/library version mismatch".into(),
            library: "libnvidia-ml.so.1".into(),
        });
        f.sysfs_driver_version = Some("580.65.06".parse().unwrap());
        let r = verify_host(&f, None);
        assert!(!r.verified);
        assert!(r.failures().contains("18 LIB_RM_VERSION_MISMATCH"));
        assert!(r
            .failures()
            .contains("the module is 580.65.06 but libnvidia-ml is 580.95.05"));
    }

    #[test]
    fn standalone_flags_mismatches_against_the_loaded_module_only() {
        let mut f = fixed();
        assert!(
            verify_host(&f, None).verified,
            "an old mismatch against the old module is history"
        );
        if let Some(l) = f.kernel_log.as_mut() {
            l.api_mismatches.push(mismatch(30, "580.95.05"));
        }
        assert!(!verify_host(&f, None).verified);
    }

    /// `count` kmsg records from `first_seq` on, with a 575-style API mismatch block at `mismatch_at` (an index).
    fn kmsg_buffer(first_seq: u64, count: u64, mismatch_at: Option<u64>) -> String {
        let mut out = String::new();
        for i in 0..count {
            let seq = first_seq + i;
            let micros = 1_000_000 * seq;
            if Some(i) == mismatch_at {
                for (k, line) in [
                    "NVRM: API mismatch: the client 'nvidia-smi' (pid 48213)",
                    "NVRM: has the version 580.95.05, but this kernel module has",
                    "NVRM: the version 580.65.06.  Please make sure that this",
                ]
                .iter()
                .enumerate()
                {
                    out.push_str(&format!("4,{},{micros},-;{line}\n", seq * 10 + k as u64));
                }
            } else {
                out.push_str(&format!(
                    "6,{},{micros},-;usb 1-1: some device chatter {i}\n",
                    seq * 10
                ));
            }
        }
        out
    }

    #[test]
    fn a_new_mismatch_is_found_after_the_ring_buffer_wrapped() {
        use crate::model::kernel_log::parse_kmsg;
        // Plan time: 100 records, the newest with sequence number 99 × 10; no mismatch.
        let before = parse_kmsg(&kmsg_buffer(0, 100, None));
        let base = VerifyBaseline {
            kernel_log_mark: before.mark(),
            kernel_log_lines: Some(before.lines),
            api_mismatches: before.api_mismatches.len(),
            init_failures: 0,
            ..baseline()
        };
        assert_eq!(
            base.kernel_log_mark.map(|m| m.at),
            Some(990),
            "the mark is the newest sequence number"
        );
        // After the reload the buffer wrapped: it now starts at record 500, and holds as many lines as before, with
        // a new mismatch early in it (line 5, which a line-index mark of 100 would call old).
        let mut f = fixed();
        f.kernel_log = Some(parse_kmsg(&kmsg_buffer(500, 98, Some(4))));
        assert_eq!(f.kernel_log.as_ref().unwrap().lines, 100);
        let r = verify_host(&f, Some(&base));
        assert!(!r.verified, "{r:?}");
        assert!(
            r.failures().contains("1 new `NVRM: API mismatch`"),
            "{}",
            r.failures()
        );

        // The same buffer without the mismatch verifies; an old mismatch still in the buffer is history.
        f.kernel_log = Some(parse_kmsg(&kmsg_buffer(500, 100, None)));
        assert!(verify_host(&f, Some(&base)).verified);
        let old = parse_kmsg(&kmsg_buffer(0, 120, Some(50)));
        let base_old = VerifyBaseline {
            kernel_log_mark: parse_kmsg(&kmsg_buffer(0, 100, Some(50))).mark(),
            api_mismatches: 1,
            ..base
        };
        f.kernel_log = Some(old);
        assert!(verify_host(&f, Some(&base_old)).verified);
    }

    #[test]
    fn a_rotated_kern_log_is_judged_by_syslog_dates() {
        use crate::model::kernel_log::parse_kernel_log;
        let before = parse_kernel_log(
            "Oct 22 06:30:01 gpu7 kernel: [81234.1] usb 1-1: chatter\n\
             Oct 22 06:31:00 gpu7 kernel: [81293.1] eth0: link up\n",
        );
        let base = VerifyBaseline {
            kernel_log_mark: before.mark(),
            kernel_log_lines: Some(before.lines),
            api_mismatches: 0,
            init_failures: 0,
            ..baseline()
        };
        // Rotated meanwhile: a short new file whose mismatch is on line 1.
        let mut f = fixed();
        f.kernel_log = Some(parse_kernel_log(
            "Oct 22 06:35:10 gpu7 kernel: [81603.2] NVRM: API mismatch: the client 'nvidia-smi' (pid 7)\n\
             Oct 22 06:35:10 gpu7 kernel: [81603.2] NVRM: has the version 580.95.05, but this kernel module has\n\
             Oct 22 06:35:10 gpu7 kernel: [81603.2] NVRM: the version 580.65.06.  Please make sure that this\n",
        ));
        let r = verify_host(&f, Some(&base));
        assert!(r.failures().contains("1 new `NVRM: API mismatch`"), "{r:?}");
    }

    #[test]
    fn a_baseline_from_an_older_journal_without_a_mark_still_reads() {
        let old: VerifyBaseline = serde_json::from_str(
            r#"{"device_count": 2, "kernel_log_lines": 40, "api_mismatches": 1, "init_failures": 0}"#,
        )
        .unwrap();
        assert_eq!(old.kernel_log_mark, None);
        assert!(verify_host(&fixed(), Some(&old)).verified);
    }

    #[test]
    fn nothing_loaded_fails() {
        let r = verify_host(&HostFacts::default(), None);
        assert!(!r.verified);
        assert!(r.failures().contains("not loaded"));
    }
}
