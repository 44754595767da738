//! Rendering for `nvfix reload` and `nvfix verify`: the plan, a refusal, the run's summary, the verification.

use super::report::Style;
use crate::host::reload::{ExecReport, Journal, Outcome};
use crate::model::facts::HostFacts;
use crate::model::plan::{Refusal, ReloadPlan};
use crate::model::verdict::Diagnosis;
use crate::model::verify::VerifyReport;
use serde_json::{json, Value};
use std::fmt::Write;

/// The plan as `nvfix reload --dry-run` prints it.
pub fn plan_text(plan: &ReloadPlan, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        st.bold(&format!(
            "Reload plan: NVIDIA {} → {}{}",
            plan.from_version.as_deref().unwrap_or("(not loaded)"),
            plan.to_version.as_deref().unwrap_or("?"),
            plan.kernel
                .as_ref()
                .map(|k| format!(" on kernel {k}"))
                .unwrap_or_default()
        ))
    );
    out.push('\n');
    let _ = writeln!(out, "{}", st.bold("Modules (from the live holder graph)"));
    if !plan.unload_order.is_empty() {
        let _ = writeln!(out, "  unload: {}", plan.unload_order.join(" → "));
    }
    let _ = writeln!(out, "  load:   {}", plan.load_order.join(" → "));
    if !plan.services.is_empty() || !plan.processes.is_empty() {
        let _ = writeln!(out, "{}", st.bold("Holders"));
        for s in &plan.services {
            let _ = writeln!(out, "  service  {s} (stopped, started again afterwards)");
        }
        for p in &plan.processes {
            let _ = writeln!(
                out,
                "  process  {} — {}",
                p.describe(),
                p.devices.join(", ")
            );
        }
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{}",
        st.bold(&format!(
            "Steps (SIGTERM grace {}s{})",
            plan.grace_secs,
            if plan.kill {
                ", then SIGKILL"
            } else {
                ", no SIGKILL without --kill"
            }
        ))
    );
    for s in &plan.steps {
        let _ = writeln!(out, "  {:>2}. {}", s.id, s.kind.describe());
        let _ = writeln!(out, "      {}", st.dim(&format!("why: {}", s.why)));
    }
    if !plan.blockers.is_empty() {
        out.push('\n');
        let _ = writeln!(out, "{}", st.bad("BLOCKED — this plan will not run:"));
        for b in &plan.blockers {
            let _ = writeln!(out, "  ✗ {}", b.message);
            if let Some(h) = &b.hint {
                let _ = writeln!(out, "    → {h}");
            }
        }
    }
    if !plan.notes.is_empty() {
        out.push('\n');
        let _ = writeln!(out, "{}", st.bold("Notes"));
        for n in &plan.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}

/// A refusal: the reason and what to do instead.
pub fn refusal_text(r: &Refusal, color: bool) -> String {
    let st = Style { color };
    let mut out = if r.code == crate::exit::OK {
        format!("{}\n", st.good(&r.reason))
    } else {
        format!("{} {}\n", st.bad("nvfix reload refuses:"), r.reason)
    };
    if let Some(h) = &r.hint {
        let _ = writeln!(out, "  next: {h}");
    }
    out
}

/// A few lines of the diagnosis, shown before the plan in an interactive run.
pub fn diagnosis_summary(facts: &HostFacts, d: &Diagnosis, color: bool) -> String {
    let st = Style { color };
    let mut out = format!(
        "{} — the kernel runs {}, the libraries are {}; action: {}\n",
        st.bold(d.verdict.as_str()),
        facts
            .loaded_version()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "no nvidia module".into()),
        facts
            .nvml_library
            .as_ref()
            .map(|l| l.version.to_string())
            .unwrap_or_else(|| "?".into()),
        d.action.as_str()
    );
    for r in d.reasons.iter().take(4) {
        let _ = writeln!(out, "  - {}", r.message);
    }
    out
}

/// What `--dry-run` found when an interrupted run left its journal: resume comes first.
pub fn pending_journal_text(j: &Journal, color: bool) -> String {
    let st = Style { color };
    let mut out = format!(
        "{} an interrupted reload (process {}) left its journal: `sudo nvfix reload --resume` (or any reload) restores \
         first.\n",
        st.warn("Pending:"),
        j.pid
    );
    if !j.unloaded.is_empty() {
        let _ = writeln!(out, "  modules taken out: {}", j.unloaded.join(", "));
    }
    if !j.stopped_services.is_empty() {
        let _ = writeln!(
            out,
            "  services stopped:  {}",
            j.stopped_services.join(", ")
        );
    }
    for c in &j.overran {
        let _ = writeln!(
            out,
            "  stuck:             `{}` (pid {}) ran past {} s{}; only a reboot recovers (sudo nvfix reboot)",
            c.command,
            c.pid,
            c.seconds,
            if c.left_behind {
                " and was left behind"
            } else {
                ""
            }
        );
    }
    out
}

/// The summary after a run (or resume).
pub fn exec_report_text(r: &ExecReport, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    let headline = match r.outcome {
        Outcome::Fixed if r.problems.is_empty() => {
            st.good("FIXED: the new driver is loaded and verified.")
        }
        Outcome::Fixed => st.warn("FIXED, with problems: the new driver is loaded and verified."),
        Outcome::Resumed => st.good("RESUMED: the interrupted reload was undone."),
        Outcome::VerifyFailed => {
            st.bad("NOT VERIFIED: the modules were reloaded but verification failed.")
        }
        Outcome::Restored => st.bad("FAILED: the reload stopped; what nvfix changed was restored."),
        Outcome::RestoreIncomplete => st.bad("FAILED, NOT FULLY RESTORED: see the problems below."),
        Outcome::RebootRequired if r.stack_stuck.is_some() => st.bad(
            "REBOOT REQUIRED: the module stack is stuck; nvfix ran no further module command, started the services \
             it stopped and kept its journal. Only a reboot recovers.",
        ),
        Outcome::RebootRequired => st.bad(
            "REBOOT REQUIRED: the modules cannot be swapped without one; the host was restored.",
        ),
        Outcome::Cancelled => st.warn("CANCELLED: what nvfix changed was restored."),
        Outcome::Interrupted => st.warn(
            "INTERRUPTED: the run stopped after the current step; what nvfix changed was restored.",
        ),
        Outcome::NotStarted => st.bad("NOT STARTED: nothing was changed."),
        Outcome::Crashed => st.bad("CRASHED (simulated): the journal was left for --resume."),
    };
    let _ = writeln!(out, "{headline}");
    if let Some(reason) = &r.reason {
        let step = r
            .failed_step
            .map(|s| format!("step {s}: "))
            .unwrap_or_default();
        let _ = writeln!(out, "  why: {step}{reason}");
    }
    for p in &r.problems {
        let _ = writeln!(out, "  problem: {p}");
    }
    if let Some(v) = &r.verify {
        out.push_str(&verify_text(v, color));
    }
    if let Some(n) = &r.next {
        let _ = writeln!(out, "  next: {n}");
    }
    out
}

/// The verification checks, one line each.
pub fn verify_text(v: &VerifyReport, color: bool) -> String {
    let st = Style { color };
    let mut out = format!(
        "{}\n",
        if v.verified {
            st.good("Verified:")
        } else {
            st.bad("Not verified:")
        }
    );
    for c in &v.checks {
        let mark = match c.ok {
            Some(true) => st.good("✓"),
            Some(false) => st.bad("✗"),
            None => st.dim("-"),
        };
        let _ = writeln!(out, "  {mark} {}", c.detail);
    }
    if !v.stale_containers.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            st.bad("Restart these containers: they still run another version's user-space driver")
        );
        for s in &v.stale_containers {
            let versions: Vec<String> = s.stale_versions.iter().map(|v| v.to_string()).collect();
            let _ = writeln!(
                out,
                "  ! {}: driver libraries {} mounted; {}",
                s.container.describe(),
                versions.join(", "),
                s.restart_hint()
            );
        }
    }
    out
}

/// `--dry-run --json`: one object with a status (`plan`, `blocked`, `refused`, `nothing-to-do`, `resume-pending`).
pub fn dry_run_json(
    plan: Option<&ReloadPlan>,
    refusal: Option<&Refusal>,
    journal: Option<&Journal>,
) -> Value {
    let status = match (journal, refusal, plan) {
        (Some(_), _, _) => "resume-pending",
        (_, Some(r), _) if r.code == crate::exit::OK => "nothing-to-do",
        (_, Some(_), _) => "refused",
        (_, _, Some(p)) if !p.blockers.is_empty() => "blocked",
        _ => "plan",
    };
    let mut v = json!({ "status": status });
    if let Some(p) = plan {
        v["plan"] = serde_json::to_value(p).unwrap_or(Value::Null);
    }
    if let Some(r) = refusal.cloned().or_else(|| plan.and_then(|p| p.refusal())) {
        v["refusal"] = serde_json::to_value(r).unwrap_or(Value::Null);
    }
    if let Some(j) = journal {
        v["journal"] = json!({
            "pid": j.pid,
            "started_at": j.started_at,
            "unloaded": j.unloaded,
            "stopped_services": j.stopped_services,
        });
    }
    v
}

/// The distinct kinds in a plan, for tests and the summary line.
pub fn step_kinds(plan: &ReloadPlan) -> Vec<&'static str> {
    plan.steps.iter().map(|s| s.kind.name()).collect()
}
