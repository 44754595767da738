//! The human report: written like an expert's incident note — state, story, who holds the GPU, what to do next.

use crate::model::facts::{HostFacts, NvmlProbe};
use crate::model::holders::GpuHolder;
use crate::model::host_kind::HostKind;
use crate::model::preflight::{self, PreflightFinding, PreflightInputs};
use crate::model::verdict::{Action, Diagnosis, Verdict};
use owo_colors::OwoColorize;
use std::fmt::Write;

/// Colours on or off (off when piped or NO_COLOR is set).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn bold(&self, s: &str) -> String {
        if self.color {
            s.bold().to_string()
        } else {
            s.to_string()
        }
    }
    pub fn bad(&self, s: &str) -> String {
        if self.color {
            s.red().bold().to_string()
        } else {
            s.to_string()
        }
    }
    pub fn good(&self, s: &str) -> String {
        if self.color {
            s.green().bold().to_string()
        } else {
            s.to_string()
        }
    }
    pub fn warn(&self, s: &str) -> String {
        if self.color {
            s.yellow().bold().to_string()
        } else {
            s.to_string()
        }
    }
    pub fn dim(&self, s: &str) -> String {
        if self.color {
            s.dimmed().to_string()
        } else {
            s.to_string()
        }
    }
}

fn headline(facts: &HostFacts, d: &Diagnosis, st: Style) -> String {
    let loaded = facts.loaded_version().map(|v| v.to_string());
    let lib = facts.nvml_library.as_ref().map(|l| l.version.to_string());
    let jetson = matches!(facts.host_kind, HostKind::Jetson { .. });
    match d.verdict {
        Verdict::Healthy => st.good(&format!("HEALTHY: NVIDIA driver {} is loaded and matches its libraries.", loaded.unwrap_or_default())),
        Verdict::VersionMismatch => st.bad(&format!(
            "VERSION MISMATCH: the kernel runs NVIDIA {}, the {} {}.",
            loaded.unwrap_or_else(|| "?".into()),
            if jetson { "L4T packages are" } else { "libraries are" },
            match (lib, &facts.l4t_core_version) {
                (Some(lib), _) => lib,
                (None, Some(core)) if jetson => core.clone(),
                (None, _) => "?".into(),
            }
        )),
        Verdict::DriverNotLoaded => st.bad("DRIVER NOT LOADED: the NVIDIA driver is installed but its kernel module is not loaded."),
        Verdict::NoDriver => st.warn("NO DRIVER: no NVIDIA driver is loaded or installed on this host."),
        Verdict::Degraded => st.warn("DEGRADED: the driver is loaded but not usable as it is."),
    }
}

/// The whole `nvfix diagnose` report; the holders' table fits `columns` (less its indent).
pub fn diagnosis_report(facts: &HostFacts, d: &Diagnosis, color: bool, columns: usize) -> String {
    let st = Style { color };
    let mut o = String::new();
    let kernel = facts.kernel_release.as_deref().unwrap_or("unknown kernel");
    let _ = writeln!(
        o,
        "{}",
        st.bold(&format!("nvfix diagnose — kernel {kernel}"))
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "{}", headline(facts, d, st));
    let _ = writeln!(o);

    // The state table: one line per fact, with where it came from.
    let mut rows: Vec<(String, String, String)> = Vec::new();
    match (&facts.loaded_driver, &facts.sysfs_driver_version) {
        (Some(l), _) => rows.push((
            "Loaded module".into(),
            format!("{} ({})", l.version, l.flavor.as_str()),
            "/proc/driver/nvidia/version".into(),
        )),
        (None, Some(v)) => rows.push((
            "Loaded module".into(),
            v.to_string(),
            "/sys/module/nvidia/version".into(),
        )),
        (None, None) => rows.push(("Loaded module".into(), "none".into(), String::new())),
    }
    match &facts.nvml_library {
        Some(l) => rows.push((
            "Library".into(),
            format!("{} (libnvidia-ml)", l.version),
            l.path.clone(),
        )),
        None if matches!(facts.host_kind, HostKind::Jetson { .. }) => rows.push((
            "Library".into(),
            "no NVML on Jetson (L4T)".into(),
            String::new(),
        )),
        None => rows.push(("Library".into(), "none found".into(), String::new())),
    }
    if let Some(c) = &facts.cuda_library {
        rows.push((
            "CUDA library".into(),
            format!("{} (libcuda)", c.version),
            c.path.clone(),
        ));
    }
    match &d.installed_module {
        Some(m) => rows.push((
            "Module on disk".into(),
            format!(
                "{} for {}",
                m.version
                    .as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "unknown version".into()),
                m.kernel
            ),
            m.path.clone(),
        )),
        None if matches!(facts.host_kind, HostKind::Container { .. }) => rows.push((
            "Module on disk".into(),
            "the host's (not visible from this container)".into(),
            String::new(),
        )),
        None => rows.push((
            "Module on disk".into(),
            format!("none for {kernel}"),
            String::new(),
        )),
    }
    if !d.matching_kernels.is_empty() {
        rows.push((
            "Matching kernels".into(),
            d.matching_kernels.join(", "),
            String::new(),
        ));
    }
    rows.push(("NVML".into(), nvml_line(facts.nvml.as_ref()), String::new()));
    if let Some(u) = &d.upgrade {
        let change = match (&u.from, &u.to) {
            (Some(f), Some(t)) => format!("{f} → {t}"),
            (None, Some(t)) => format!("installed {t}"),
            _ => String::new(),
        };
        rows.push((
            "Changed".into(),
            format!("{} by {}: {} {change}", u.at, u.by.describe(), u.package),
            u.evidence.to_string(),
        ));
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (k, v, src) in rows {
        let src = if src.is_empty() {
            String::new()
        } else {
            format!("  {}", st.dim(&src))
        };
        let _ = writeln!(o, "  {:width$}  {v}{src}", k);
    }

    let story: Vec<&crate::model::verdict::Reason> = d.reasons.iter().collect();
    if !story.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "{}", st.bold("Why"));
        for r in story {
            let ev = if r.evidence.is_empty() {
                String::new()
            } else {
                format!(
                    "  [{}]",
                    r.evidence
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let _ = writeln!(o, "  - {}{}", r.message, st.dim(&ev));
        }
    }

    if let Some(inputs) = &facts.preflight {
        preflight_section(&mut o, inputs, &d.preflight, st);
    }

    if !facts.holders.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{}",
            st.bold(&format!("Who holds the GPU ({})", facts.holders.len()))
        );
        for line in holders_table(&facts.holders, color, Some(columns.saturating_sub(2))).lines() {
            let _ = writeln!(o, "  {line}");
        }
    }

    let _ = writeln!(o);
    let _ = writeln!(o, "{}", st.bold("What to do"));
    if d.next_steps.is_empty() {
        let _ = writeln!(
            o,
            "  Nothing: {}",
            if d.action == Action::None {
                "no action needed."
            } else {
                "see above."
            }
        );
    }
    for s in &d.next_steps {
        let _ = writeln!(o, "  - {}:", s.summary);
        let _ = writeln!(o, "      {}", st.bold(&s.command));
    }

    if !facts.warnings.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{}",
            st.warn(&format!(
                "Could not read everything ({})",
                facts.warnings.len()
            ))
        );
        for w in &facts.warnings {
            let _ = writeln!(o, "  - {}: {}", w.file, w.message);
        }
    }
    o
}

/// "Will the new driver load": each module the reload would load, the file modprobe takes, and the verdict of the
/// pre-flight on it; then what could not be checked.
fn preflight_section(
    o: &mut String,
    inputs: &PreflightInputs,
    findings: &[PreflightFinding],
    st: Style,
) {
    let _ = writeln!(o);
    let _ = writeln!(o, "{}", st.bold("Will the new driver load"));
    let width = inputs
        .modules
        .iter()
        .map(|m| m.name.len())
        .max()
        .unwrap_or(0);
    for m in &inputs.modules {
        let mut codes: Vec<&str> = findings
            .iter()
            .filter(|f| f.module == m.name)
            .map(|f| f.code.trim_start_matches("preflight-"))
            .collect();
        codes.dedup();
        let verdict = if codes.is_empty() {
            st.good("ok")
        } else {
            st.bad(&format!("refused ({})", codes.join(", ")))
        };
        let file = m.path.as_deref().unwrap_or("not in modules.dep");
        let via = m
            .requested_as
            .as_ref()
            .map(|r| format!(" (as {r})"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  {:width$}  {verdict}  {}",
            m.name,
            st.dim(&format!("{file}{via}"))
        );
    }
    for n in preflight::notes(inputs) {
        let _ = writeln!(o, "  {}", st.dim(&format!("note: {n}")));
    }
}

fn nvml_line(p: Option<&NvmlProbe>) -> String {
    match p {
        Some(NvmlProbe::Ok {
            driver_version,
            cuda_driver_version,
            device_count,
            ..
        }) => format!(
            "ok: driver {driver_version}{}, {device_count} GPU(s)",
            cuda_driver_version
                .as_ref()
                .map(|c| format!(", CUDA {c}"))
                .unwrap_or_default()
        ),
        Some(NvmlProbe::Error {
            code: Some(c),
            name,
            message,
            ..
        }) => format!("error {c} ({name}): {message}"),
        Some(NvmlProbe::Error {
            code: None,
            message,
            ..
        }) => format!("not loadable: {message}"),
        Some(NvmlProbe::NotChecked { reason }) => format!("not checked ({reason})"),
        None => "not checked".into(),
    }
}

/// The holders as a table: PID, USER, WHAT (service or container), DEVICES, COMMAND.
/// The holders as a table. With `width` every line fits in it (cells cut with `…`); `None` prints everything.
pub fn holders_table(holders: &[GpuHolder], color: bool, width: Option<usize>) -> String {
    let st = Style { color };
    if holders.is_empty() {
        return "No process holds the GPU.\n".into();
    }
    let rows: Vec<[String; 5]> = holders
        .iter()
        .map(|h| {
            let what = match (&h.service, &h.container, &h.unit) {
                (Some(s), _, _) => s.label().to_string(),
                (None, Some(c), _) => format!("{} {}", c.runtime, c.short_id()),
                (None, None, Some(unit)) => unit.clone(),
                (None, None, None) => "process".to_string(),
            };
            // The replaced library first: it is the fact a cut cell must keep. Devices without `/dev/` (the
            // column says what they are; --json has the paths).
            let mut held: Vec<String> = Vec::new();
            if h.maps_deleted_library() {
                held.push("deleted library".into());
            } else if h.devices.is_empty() && !h.libraries.is_empty() {
                held.push("driver library".into());
            }
            held.extend(
                h.devices
                    .iter()
                    .map(|d| d.strip_prefix("/dev/").unwrap_or(d).to_string()),
            );
            [
                h.pid.to_string(),
                h.user.clone(),
                what,
                held.join(","),
                h.command.clone(),
            ]
        })
        .collect();
    // A pid is never cut (it is what `kill` needs). The device list gives way first (`--wide` or `--json` has it),
    // then the user, the service, and last the command line, each keeping a readable start.
    let pid_width = rows.iter().map(|r| r[0].len()).max().unwrap_or(3).max(3);
    let shrink = super::table::Shrink {
        min: [pid_width, 10, 14, 16, 20],
        order: [3, 1, 2, 4, 0],
    };
    super::table::render(
        ["PID", "USER", "WHAT", "HOLDS", "COMMAND"],
        &rows,
        &shrink,
        width,
        |s| st.bold(s),
    )
}
