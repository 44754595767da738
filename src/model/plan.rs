//! The reload plan as data: from facts and a diagnosis to ordered steps (each with why it is there), or a refusal.
//!
//! Pure: no I/O. The executor (`host::reload`) runs a plan step by step and journals it; `--dry-run` prints it.
//! The module order comes from the live holder graph (`used_by` / sysfs `holders/`), never from a fixed list.

use super::facts::HostFacts;
use super::holder_stops::{holder_stops, ServiceStop};
use super::holders::{GpuHolder, KnownService};
use super::log_position::LogMark;
use super::modules::{LoadedModule, ModuleState};
use super::preflight;
use super::verdict::{Action, Diagnosis};
use crate::exit;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What the admin allowed on the command line (or policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// SIGKILL what is still running after the grace period.
    pub kill: bool,
    /// Stop the display manager (the local console goes dark).
    pub allow_display_stop: bool,
    /// Seconds a process gets to exit after SIGTERM.
    pub grace_secs: u64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            kill: false,
            allow_display_stop: false,
            grace_secs: 10,
        }
    }
}

/// Why no plan can run, with the exit status that classifies it (`crate::exit`) and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub code: i32,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A process the plan signals. The start time (seconds after boot) makes sure a recycled pid is never hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessTarget {
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start_time: Option<u64>,
    pub user: String,
    pub command: String,
    /// `runtime:id` of the container it runs in, when it runs in one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub container: Option<String>,
    /// The device nodes it holds open.
    #[serde(default)]
    pub devices: Vec<String>,
}

impl ProcessTarget {
    pub fn from_holder(h: &GpuHolder) -> Self {
        ProcessTarget {
            pid: h.pid,
            start_time: h.started_secs_after_boot,
            user: h.user.clone(),
            command: h.command.clone(),
            container: h
                .container
                .as_ref()
                .map(|c| format!("{}:{}", c.runtime, c.short_id())),
            devices: h.devices.clone(),
        }
    }
    /// One line for prompts and plans: `pid 4242 (alice) python3 train.py [docker:abc123]`.
    pub fn describe(&self) -> String {
        let container = self
            .container
            .as_ref()
            .map(|c| format!(" [container {c}]"))
            .unwrap_or_default();
        format!(
            "pid {} ({}) {}{container}",
            self.pid,
            self.user,
            shorten(&self.command, 60)
        )
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

/// One thing the executor does. Every kind that changes the host has an inverse ([`StepKind::inverse`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StepKind {
    /// `systemctl stop <unit>` (so it does not respawn); the processes are what it ran on the GPU.
    StopService {
        unit: String,
        label: String,
        #[serde(default)]
        processes: Vec<ProcessTarget>,
    },
    /// `systemctl start <unit>`.
    StartService { unit: String, label: String },
    /// `systemctl start` (or `restart`) of a service the new driver needs up that nvfix did not stop: fabric manager
    /// that could not start against the old module, the MIG manager that re-creates the MIG instances an unload
    /// destroys. A failure is reported, not undone: the driver is right either way.
    BringUpService {
        unit: String,
        label: String,
        #[serde(default)]
        restart: bool,
    },
    /// `echo quit | nvidia-cuda-mps-control`: the MPS daemon stops its servers itself.
    QuitMps {
        #[serde(default)]
        processes: Vec<ProcessTarget>,
    },
    /// SIGTERM through a pidfd, then wait the grace period.
    #[serde(rename = "terminate")]
    TerminateProcess { process: ProcessTarget },
    /// SIGKILL through a pidfd when it is still running (only with `--kill`).
    #[serde(rename = "kill")]
    KillProcess { process: ProcessTarget },
    /// Re-read holders and refcounts right before unloading; abort when anything still holds the modules.
    Rescan,
    /// `modprobe -r <module>` (one module per call, never forced).
    Unload { module: String },
    /// `modprobe <module>` (one module per call: a second name would be a module parameter).
    Load { module: String },
    /// `nvidia-modprobe -u -c=0`: recreate /dev/nvidia-uvm* and /dev/nvidia0 when nvidia-modprobe is installed.
    #[serde(rename = "device-nodes")]
    CreateDeviceNodes,
    /// NVML initialises and every version agrees; no new API mismatch in the kernel log.
    Verify,
}

impl StepKind {
    /// The step that undoes this one, when there is one (a terminated process cannot be brought back).
    pub fn inverse(&self) -> Option<StepKind> {
        match self {
            StepKind::StopService { unit, label, .. } => Some(StepKind::StartService {
                unit: unit.clone(),
                label: label.clone(),
            }),
            StepKind::StartService { unit, label } => Some(StepKind::StopService {
                unit: unit.clone(),
                label: label.clone(),
                processes: Vec::new(),
            }),
            StepKind::Unload { module } => Some(StepKind::Load {
                module: module.clone(),
            }),
            StepKind::Load { module } => Some(StepKind::Unload {
                module: module.clone(),
            }),
            _ => None,
        }
    }
    /// Short name used by the JSON (`kind`), logs and the `NVFIX_TEST_PAUSE_AFTER_STEP` test hook.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::StopService { .. } => "stop-service",
            StepKind::StartService { .. } => "start-service",
            StepKind::BringUpService { .. } => "bring-up-service",
            StepKind::QuitMps { .. } => "quit-mps",
            StepKind::TerminateProcess { .. } => "terminate",
            StepKind::KillProcess { .. } => "kill",
            StepKind::Rescan => "rescan",
            StepKind::Unload { .. } => "unload",
            StepKind::Load { .. } => "load",
            StepKind::CreateDeviceNodes => "device-nodes",
            StepKind::Verify => "verify",
        }
    }
    /// The confirmation group a step belongs to (one question per group on a TTY).
    pub fn group(&self) -> StepGroup {
        match self {
            StepKind::StopService { .. } | StepKind::QuitMps { .. } => StepGroup::Services,
            StepKind::TerminateProcess { .. } | StepKind::KillProcess { .. } => {
                StepGroup::Processes
            }
            StepKind::Rescan | StepKind::Unload { .. } => StepGroup::Unload,
            _ => StepGroup::Restore,
        }
    }
    /// One line saying what the step does, for plans and progress.
    pub fn describe(&self) -> String {
        match self {
            StepKind::StopService { unit, label, .. } => format!("stop {unit} ({label})"),
            StepKind::StartService { unit, label } => format!("start {unit} ({label})"),
            StepKind::BringUpService {
                unit,
                label,
                restart,
            } => format!(
                "{} {unit} ({label})",
                if *restart { "restart" } else { "start" }
            ),
            StepKind::QuitMps { .. } => {
                "stop the CUDA MPS daemon (echo quit | nvidia-cuda-mps-control)".into()
            }
            StepKind::TerminateProcess { process } => format!("terminate {}", process.describe()),
            StepKind::KillProcess { process } => {
                format!("kill {} if still running", process.describe())
            }
            StepKind::Rescan => "re-check holders and refcounts".into(),
            StepKind::Unload { module } => format!("unload {module} (modprobe -r {module})"),
            StepKind::Load { module } => format!("load {module} (modprobe {module})"),
            StepKind::CreateDeviceNodes => {
                "recreate device nodes (nvidia-modprobe -u -c=0, when installed)".into()
            }
            StepKind::Verify => "verify: NVML, versions, kernel log".into(),
        }
    }
}

/// Destructive groups the admin confirms one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepGroup {
    Services,
    Processes,
    Unload,
    Restore,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// 1-based position in the plan.
    pub id: usize,
    #[serde(flatten)]
    pub kind: StepKind,
    pub why: String,
}

/// Something found at plan time that makes the reload impossible or unsafe; the plan does not run while any exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    /// Stable identifier: `unexplained-references`, `module-going`, `no-module-unload`, `display-in-use`, and the
    /// pre-flight's `preflight-*` codes (`preflight-not-checked` when it did not run).
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub module: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hint: Option<String>,
}

impl Blocker {
    /// A pre-flight finding: the new modules would not load (a reboot does not help either).
    pub fn is_preflight(&self) -> bool {
        self.code.starts_with("preflight-")
    }
}

/// What the verification compares against: the state when the plan was made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyBaseline {
    /// GPUs seen before (NVML's count, else `/proc/driver/nvidia/gpus/*`), when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device_count: Option<u32>,
    /// The newest kernel-log line's position at plan time (kmsg sequence number, or the line's date): only lines
    /// after it count as new, however the ring buffer wrapped or the file rotated meanwhile.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kernel_log_mark: Option<LogMark>,
    /// Kernel log size and counts at plan time: where no position can be compared, only lines after it count as new.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kernel_log_lines: Option<usize>,
    #[serde(default)]
    pub api_mismatches: usize,
    #[serde(default)]
    pub init_failures: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadPlan {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kernel: Option<String>,
    /// The loaded driver version now, and the one the modules on disk bring in.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub to_version: Option<String>,
    /// Modules loaded before, in load order: exactly these come back.
    pub modules_before: Vec<String>,
    /// Holders first: every module comes off after all modules that use it.
    pub unload_order: Vec<String>,
    pub load_order: Vec<String>,
    /// systemd units stopped, in stop order (started again in reverse).
    pub services: Vec<String>,
    /// Processes signalled.
    pub processes: Vec<ProcessTarget>,
    /// Processes that only map the driver's libraries (no device open): they do not pin the modules and are left
    /// alone, but they keep running the old user-space driver until restarted.
    pub library_users: Vec<ProcessTarget>,
    pub grace_secs: u64,
    pub kill: bool,
    pub blockers: Vec<Blocker>,
    pub notes: Vec<String>,
    pub baseline: VerifyBaseline,
    pub steps: Vec<Step>,
}

impl ReloadPlan {
    /// The refusal the blockers add up to (exit 69 with a pointer to `nvfix reboot`), if any.
    pub fn refusal(&self) -> Option<Refusal> {
        if self.blockers.is_empty() {
            return None;
        }
        let preflight: Vec<&Blocker> = self.blockers.iter().filter(|b| b.is_preflight()).collect();
        if !preflight.is_empty() {
            let mut fixes: Vec<String> = Vec::new();
            for b in &preflight {
                if let Some(h) = &b.hint {
                    if !fixes.contains(h) {
                        fixes.push(h.clone());
                    }
                }
            }
            let checked = preflight.iter().any(|b| b.code != "preflight-not-checked");
            return Some(Refusal {
                code: exit::UNAVAILABLE,
                reason: format!(
                    "{}: {}; nothing was touched, the old driver still runs",
                    if checked {
                        "the new driver would not load"
                    } else {
                        "the reload cannot run before its pre-flight"
                    },
                    preflight
                        .iter()
                        .map(|b| b.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                hint: Some(fixes.join("; then ")).filter(|h| !h.is_empty()),
            });
        }
        let reason = self
            .blockers
            .iter()
            .map(|b| b.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        let hint = self
            .blockers
            .iter()
            .find_map(|b| b.hint.clone())
            .or_else(|| Some("sudo nvfix reboot".into()));
        Some(Refusal {
            code: exit::UNAVAILABLE,
            reason: if self.blockers.iter().all(|b| b.code == "display-in-use") {
                format!("the reload cannot run without stopping the display: {reason}")
            } else {
                format!("the reload cannot run (reboot required): {reason}")
            },
            hint,
        })
    }
}

/// The order NVIDIA's stack is built in; unknown modules load after these (and after what they depend on).
const LOAD_PRIORITY: &[&str] = &[
    "nvidia",
    "nvidia_uvm",
    "nvidia_modeset",
    "nvidia_drm",
    "nvidia_peermem",
];

/// Modules that take more than one reference on each module they use (vGPU's VFIO module holds 2 on nvidia).
pub fn references_taken_by(holder: &str) -> i64 {
    if holder == "nvidia_vgpu_vfio" {
        2
    } else {
        1
    }
}

fn priority(name: &str) -> usize {
    LOAD_PRIORITY
        .iter()
        .position(|p| *p == name)
        .unwrap_or(LOAD_PRIORITY.len())
}

/// The module whose device node this is: the reference an open file takes is on that module.
pub fn module_of_device(path: &str) -> &'static str {
    let p = path.trim_end_matches(" (deleted)");
    if p.starts_with("/dev/nvidia-uvm") {
        "nvidia_uvm"
    } else if p == "/dev/nvidia-modeset" {
        "nvidia_modeset"
    } else if p.starts_with("/dev/dri/") {
        "nvidia_drm"
    } else {
        "nvidia"
    }
}

/// The module graph: every loaded module in the set and the modules that use it.
fn graph(modules: &[LoadedModule]) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in modules {
        let entry = g.entry(m.name.clone()).or_default();
        for u in &m.used_by {
            entry.insert(u.clone());
        }
        for u in &m.used_by {
            g.entry(u.clone()).or_default();
        }
    }
    g
}

/// Unload order from the live holder graph: a module comes off only after every module that uses it. Ties go
/// top of the stack first (nvidia_drm before nvidia_modeset, …), unknown holders (gdrdrv) before NVIDIA's own.
/// A cycle (impossible on a real kernel, possible in garbled input) is broken by name and reported.
pub fn unload_order(modules: &[LoadedModule]) -> (Vec<String>, Option<String>) {
    let g = graph(modules);
    // Kahn's algorithm over "holder before held": pending = number of holders not yet removed.
    let mut pending: BTreeMap<&str, usize> = g.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    let mut order = Vec::new();
    let mut cycle = None;
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(k, _)| *k)
            .max_by_key(|k| (priority(k), std::cmp::Reverse(*k)));
        let next = match ready {
            Some(k) => k,
            None => {
                let k = *pending.keys().next().unwrap_or(&"");
                cycle = Some(format!("module holders form a cycle at {k}"));
                k
            }
        };
        pending.remove(next);
        order.push(next.to_string());
        // `next` is gone: it no longer holds what it used.
        for (held, users) in &g {
            if users.contains(next) {
                if let Some(n) = pending.get_mut(held.as_str()) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
    (order, cycle)
}

/// Load order: a module after every module it uses; ties in NVIDIA's order (nvidia, nvidia_uvm, nvidia_modeset,
/// nvidia_drm), others after that, by name.
pub fn load_order(modules: &[LoadedModule]) -> Vec<String> {
    let (mut order, _) = unload_order(modules);
    order.reverse();
    // Reversing the unload order respects dependencies; a stable re-sort by priority only where no dependency
    // between two neighbours forbids it keeps nvidia_uvm right after nvidia (the order NVIDIA's init scripts use).
    let g = graph(modules);
    let uses = |a: &str, b: &str| g.get(b).is_some_and(|users| users.contains(a));
    let mut sorted: Vec<String> = Vec::new();
    let mut remaining = order;
    while !remaining.is_empty() {
        // Pick the highest-priority module whose dependencies are all placed.
        let idx = remaining
            .iter()
            .enumerate()
            .filter(|(_, m)| remaining.iter().all(|other| other == *m || !uses(m, other)))
            .min_by_key(|(i, m)| (priority(m), *i))
            .map(|(i, _)| i)
            .unwrap_or(0);
        sorted.push(remaining.remove(idx));
    }
    sorted
}

fn stop_service_step(stop: &ServiceStop) -> (StepKind, String) {
    (
        StepKind::StopService {
            unit: stop.unit.clone(),
            label: stop.label.clone(),
            processes: stop.processes.clone(),
        },
        stop.why(),
    )
}

/// Makes the plan, or says why there is none. Not-root (77) and the lock (75) are the command's and executor's.
pub fn make_plan(
    facts: &HostFacts,
    diagnosis: &Diagnosis,
    opts: &PlanOptions,
) -> Result<ReloadPlan, Refusal> {
    let container_refusal = || {
        Refusal {
            code: exit::NO_PERMISSION,
            reason: "the driver is run by a container (/run/nvidia/driver: NVIDIA GPU Operator); nvfix does not touch \
                     modules the operator owns"
                .into(),
            hint: Some(
                "let the operator restart its driver pod (kubectl delete pod -n gpu-operator -l app=nvidia-driver-daemonset \
                 --field-selector spec.nodeName=<node>)"
                    .into(),
            ),
    }
    };
    if facts.driver_container {
        return Err(container_refusal());
    }
    let repair_hint = || diagnosis.next_steps.first().map(|s| s.command.clone());
    match diagnosis.action {
        Action::None => {
            return Err(Refusal {
                code: exit::OK,
                reason: "nothing to do: the loaded driver matches its libraries".into(),
                hint: None,
            })
        }
        Action::Reboot => {
            return Err(Refusal {
                code: exit::UNAVAILABLE,
                reason: format!(
                    "reloading cannot help: the module installed for the running kernel does not match the library; only \
                     kernel {} has a matching module",
                    diagnosis.matching_kernels.join(", ")
                ),
                hint: Some(repair_hint().unwrap_or_else(|| "sudo nvfix reboot".into())),
            })
        }
        // The stack on disk matches, but the kernel would refuse it: the plan is shown, blocked by the findings.
        Action::Repair if !diagnosis.preflight.is_empty() => {}
        Action::Repair => {
            return Err(Refusal {
                code: exit::UNAVAILABLE,
                reason: match diagnosis.repair_cause() {
                    Some(cause) if !cause.starts_with("no installed kernel") => {
                        format!("reloading cannot help: {cause}")
                    }
                    _ => "reloading cannot help: no installed module matches the library (a reboot would not help \
                          either)"
                        .into(),
                },
                hint: repair_hint(),
            })
        }
        Action::External => return Err(container_refusal()),
        Action::Reload => {}
    }

    let mut plan = ReloadPlan {
        kernel: facts.kernel_release.clone(),
        from_version: facts.loaded_version().map(|v| v.to_string()),
        to_version: diagnosis
            .installed_module
            .as_ref()
            .and_then(|m| m.version.as_ref())
            .map(|v| v.to_string()),
        modules_before: Vec::new(),
        unload_order: Vec::new(),
        load_order: Vec::new(),
        services: Vec::new(),
        processes: Vec::new(),
        library_users: Vec::new(),
        grace_secs: opts.grace_secs,
        kill: opts.kill,
        blockers: Vec::new(),
        notes: Vec::new(),
        baseline: baseline(facts),
        steps: Vec::new(),
    };
    let mut steps: Vec<(StepKind, String)> = Vec::new();

    // Modules: the live graph, holders included (gather keeps every module that uses an NVIDIA one).
    let modules = &facts.loaded_modules;
    let (unload, cycle) = unload_order(modules);
    if let Some(c) = cycle {
        plan.notes.push(c);
    }
    plan.unload_order = unload;
    plan.load_order = if modules.is_empty() {
        // Nothing loaded (driver-not-loaded): load the base and UVM; modeset/drm load on demand or at boot.
        plan.notes.push(
            "no NVIDIA module is loaded: loading nvidia and nvidia_uvm (nvidia_modeset and nvidia_drm load on demand)"
                .into(),
        );
        vec!["nvidia".into(), "nvidia_uvm".into()]
    } else {
        load_order(modules)
    };
    plan.modules_before = load_order(modules);

    // Holders: services by the unit their cgroup names, MPS through its control program, other processes by signal.
    let stops = holder_stops(&facts.holders);
    let (mps, display) = (stops.mps, stops.display);
    plan.processes = stops.processes;
    plan.library_users = stops.library_users;
    if !display.is_empty() && !opts.allow_display_stop {
        plan.blockers.push(Blocker {
            code: "display-in-use".into(),
            module: None,
            message: format!(
                "a display server uses the GPU ({}): stopping display-manager.service turns the local console and \
                 every graphical session dark",
                display
                    .iter()
                    .map(|p| p.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: Some("sudo nvfix reload --allow-display-stop (from an SSH session)".into()),
        });
    }
    let (late, early): (Vec<ServiceStop>, Vec<ServiceStop>) =
        stops.services.into_iter().partition(|s| s.stops_last());
    for stop in &early {
        plan.services.push(stop.unit.clone());
        steps.push(stop_service_step(stop));
    }
    if !mps.is_empty() {
        steps.push((
            StepKind::QuitMps {
                processes: mps.clone(),
            },
            "CUDA MPS holds the GPU; it is stopped with its control program, not by a signal (start it again by hand)"
                .into(),
        ));
        plan.notes.push(
            "the CUDA MPS daemon is not restarted by nvfix: start it again the way it was started"
                .into(),
        );
    }
    for p in &plan.processes {
        steps.push((
            StepKind::TerminateProcess { process: p.clone() },
            format!(
                "holds {}; SIGTERM, then up to {}s to exit",
                p.devices.join(", "),
                opts.grace_secs
            ),
        ));
    }
    if opts.kill {
        for p in &plan.processes {
            steps.push((
                StepKind::KillProcess { process: p.clone() },
                "--kill: SIGKILL if it ignored SIGTERM".into(),
            ));
        }
    }
    for stop in &late {
        plan.services.push(stop.unit.clone());
        steps.push(stop_service_step(stop));
    }

    blockers_from_modules(facts, &mut plan);
    blockers_from_preflight(facts, &mut plan);

    if !plan.unload_order.is_empty() {
        steps.push((
            StepKind::Rescan,
            "whatever reopened the device meanwhile (respawned services, pollers, udev) is shown, not ignored".into(),
        ));
    }
    for m in &plan.unload_order {
        // `used_by`: the modules that use m (they come off first); `uses`: the modules m itself uses.
        let users: Vec<String> = facts
            .loaded_module(m)
            .map(|lm| lm.used_by.clone())
            .unwrap_or_default();
        let uses: Vec<&str> = modules
            .iter()
            .filter(|x| x.used_by.contains(m))
            .map(|x| x.name.as_str())
            .collect();
        let why = match (users.is_empty(), uses.is_empty()) {
            (true, true) => "nothing uses it".to_string(),
            (true, false) => format!("uses {}, so it comes off before it", uses.join(", ")),
            (false, true) => format!("used by {}, so it comes off after them", users.join(", ")),
            (false, false) => format!(
                "used by {} (they come off first); uses {}",
                users.join(", "),
                uses.join(", ")
            ),
        };
        steps.push((StepKind::Unload { module: m.clone() }, why));
    }
    for m in &plan.load_order {
        let why = if m == "nvidia" {
            format!(
                "the module on disk{} (host's modprobe configuration applies)",
                plan.to_version
                    .as_ref()
                    .map(|v| format!(" is {v}"))
                    .unwrap_or_default()
            )
        } else {
            "was loaded before; loaded again after what it depends on".to_string()
        };
        steps.push((StepKind::Load { module: m.clone() }, why));
    }
    steps.push((
        StepKind::CreateDeviceNodes,
        "/dev/nvidia-uvm* may be missing until nvidia-modprobe creates them".into(),
    ));
    mig(facts, &mut plan, &mut steps);
    for unit in plan.services.iter().rev() {
        let label = steps
            .iter()
            .find_map(|(k, _)| match k {
                StepKind::StopService { unit: u, label, .. } if u == unit => Some(label.clone()),
                _ => None,
            })
            .unwrap_or_default();
        steps.push((
            StepKind::StartService {
                unit: unit.clone(),
                label,
            },
            "was running before; started again in reverse order".into(),
        ));
    }
    fabric_manager(facts, &mut plan, &mut steps);
    containers_left_behind(facts, &mut plan);
    steps.push((
        StepKind::Verify,
        "NVML must initialise with driver == module == library version, and no new API mismatch may be logged".into(),
    ));
    if !plan.library_users.is_empty() {
        plan.notes.push(format!(
            "{} process(es) map the driver's libraries without a device open; they are left running and keep the old \
             user-space driver until restarted",
            plan.library_users.len()
        ));
    }
    plan.steps = steps
        .into_iter()
        .enumerate()
        .map(|(i, (kind, why))| Step {
            id: i + 1,
            kind,
            why,
        })
        .collect();
    Ok(plan)
}

/// The pre-flight gate: every module the plan loads must have been checked, and every check passed. Without the
/// pre-flight's inputs nothing runs (an unload whose load is refused leaves the host with no driver).
fn blockers_from_preflight(facts: &HostFacts, plan: &mut ReloadPlan) {
    let Some(inputs) = &facts.preflight else {
        plan.blockers.push(Blocker {
            code: "preflight-not-checked".into(),
            module: None,
            message: "whether the kernel accepts the new modules was not checked (the running kernel's modules were not read)"
                .into(),
            hint: Some("sudo nvfix diagnose".into()),
        });
        return;
    };
    for m in &plan.load_order {
        if !inputs.modules.iter().any(|r| &r.name == m) {
            plan.blockers.push(Blocker {
                code: "preflight-not-checked".into(),
                module: Some(m.clone()),
                message: format!("{m} is loaded by the plan but was not checked by the pre-flight"),
                hint: Some("sudo nvfix diagnose".into()),
            });
        }
    }
    for f in preflight::check(inputs) {
        plan.blockers.push(Blocker {
            code: f.code.into(),
            module: Some(f.module),
            message: format!("{}: {} [{}]", f.code, f.message, f.evidence),
            hint: Some(f.fix),
        });
    }
    plan.notes.extend(preflight::notes(inputs));
}

/// An unload destroys every MIG GPU and compute instance (MIG mode itself persists). Say so, and when the MIG manager
/// is enabled restart it right after the load, before the other services come back: it applies its configuration
/// when it starts (a oneshot that already ran, so `start` alone would do nothing).
fn mig(facts: &HostFacts, plan: &mut ReloadPlan, steps: &mut Vec<(StepKind, String)>) {
    if facts.mig_instances.is_empty() {
        return;
    }
    let mut per_gpu: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for m in &facts.mig_instances {
        per_gpu
            .entry(m.gpu)
            .or_default()
            .push(format!("gi{}", m.gpu_instance));
    }
    let listed: Vec<String> = per_gpu
        .iter()
        .map(|(gpu, gis)| format!("gpu{gpu}: {}", gis.join(", ")))
        .collect();
    const UNIT: &str = "nvidia-mig-manager.service";
    plan.notes.push(format!(
        "the unload destroys {} MIG GPU instance(s) ({}); {}",
        facts.mig_instances.len(),
        listed.join("; "),
        if facts.mig_manager_enabled {
            format!("{UNIT} is restarted after the load to re-create them")
        } else {
            "re-create them afterwards with the tool that made them (nvidia-mig-parted apply, nvidia-smi mig -cgi … \
             -C, or the cluster's MIG manager)"
                .to_string()
        }
    ));
    if facts.mig_manager_enabled {
        steps.push((
            StepKind::BringUpService {
                unit: UNIT.into(),
                label: "MIG manager".into(),
                restart: true,
            },
            "the unload destroyed the MIG instances; the MIG manager applies its configuration again".into(),
        ));
    }
}

/// GPU containers keep the driver libraries they were started with (bind mounts). Those on another version than the
/// new driver's fail with the mismatch after the reload until their owners restart them: say so up front (`nvfix
/// verify` names the ones still there afterwards). Terminating a holder inside one does not always end the container
/// (it need not be the container's first process), so none is left out here.
fn containers_left_behind(facts: &HostFacts, plan: &mut ReloadPlan) {
    let (Some(containers), Some(new)) = (
        &facts.container_mounts,
        plan.to_version
            .as_deref()
            .and_then(super::DriverVersion::parse_prefix),
    ) else {
        return;
    };
    let left: Vec<String> = containers
        .iter()
        .filter(|c| !c.stale_versions(&new).is_empty())
        .map(|c| c.describe())
        .collect();
    if !left.is_empty() {
        plan.notes.push(format!(
            "{} container(s) mount another version's driver libraries; any that outlive the reload fail until \
             restarted: {} (`nvfix verify` lists the ones left afterwards)",
            left.len(),
            left.join(", ")
        ));
    }
}

/// Fabric manager starts only against a driver of its own version. When it failed to start because the loaded module
/// was the old one, the reload is what lets it run: start it when it is enabled (a running one is restarted with the
/// other services). When its version is not the new driver's, it cannot start at all: say so before anything is done.
fn fabric_manager(facts: &HostFacts, plan: &mut ReloadPlan, steps: &mut Vec<(StepKind, String)>) {
    let Some(fm) = &facts.fabric_manager else {
        return;
    };
    let unit = super::facts::FabricManager::UNIT;
    let new_version = plan
        .to_version
        .as_deref()
        .and_then(super::DriverVersion::parse_prefix);
    match (fm.version(), new_version) {
        (Some(have), Some(new)) if have != new => plan.notes.push(format!(
            "fabric manager ({} {}) is not the new driver's version {new}: it will not start until it is \
             (NVSwitch systems run no CUDA until then); see `nvfix diagnose`",
            fm.package.name, fm.package.version
        )),
        (Some(_), Some(_)) if fm.enabled && !plan.services.iter().any(|s| s == unit) => steps.push((
            StepKind::BringUpService {
                unit: unit.into(),
                label: KnownService::FabricManager.label().into(),
                restart: false,
            },
            "enabled but not running (it cannot start while the loaded module is another version); NVSwitch \
             systems run no CUDA without it"
                .into(),
        )),
        _ => {}
    }
}

fn baseline(facts: &HostFacts) -> VerifyBaseline {
    let device_count = match &facts.nvml {
        Some(super::facts::NvmlProbe::Ok { device_count, .. }) => Some(*device_count),
        _ => None,
    };
    VerifyBaseline {
        device_count,
        kernel_log_mark: facts.kernel_log.as_ref().and_then(|l| l.mark()),
        kernel_log_lines: facts.kernel_log.as_ref().map(|l| l.lines),
        api_mismatches: facts
            .kernel_log
            .as_ref()
            .map_or(0, |l| l.api_mismatches.len()),
        init_failures: facts
            .kernel_log
            .as_ref()
            .map_or(0, |l| l.init_failures.len()),
    }
}

/// References no holder module and no process explains, module stuck in `going`, a kernel that cannot unload.
fn blockers_from_modules(facts: &HostFacts, plan: &mut ReloadPlan) {
    for m in &facts.loaded_modules {
        if m.state == ModuleState::Going {
            plan.blockers.push(Blocker {
                code: "module-going".into(),
                module: Some(m.name.clone()),
                message: format!(
                    "{} is stuck unloading (state going): only a reboot clears it",
                    m.name
                ),
                hint: Some("sudo nvfix reboot".into()),
            });
            continue;
        }
        if m.refcount < 0 {
            plan.blockers.push(Blocker {
                code: "no-module-unload".into(),
                module: Some(m.name.clone()),
                message: format!(
                    "the kernel shows no reference count for {} (built without module unloading)",
                    m.name
                ),
                hint: Some("sudo nvfix reboot".into()),
            });
            continue;
        }
        // An open file takes references on its module; how many is not knowable from outside, so any process
        // holding one of the module's devices explains its references (they go when the process is stopped).
        let held_by_process = facts
            .holders
            .iter()
            .any(|h| h.devices.iter().any(|d| module_of_device(d) == m.name));
        if held_by_process {
            continue;
        }
        let by_modules: i64 = m.used_by.iter().map(|u| references_taken_by(u)).sum();
        let unexplained = m.refcount - by_modules;
        if unexplained <= 0 {
            continue;
        }
        let pinned = m.name == "nvidia_drm" && facts.drm_modeset == Some(true);
        let message = if pinned {
            format!(
                "nvidia_drm is pinned by {unexplained} reference(s) that no process or module explains: with modeset=1{} \
                 the framebuffer console (fbcon) or a compositor holds it, and it cannot be unloaded safely",
                if facts.drm_fbdev == Some(true) {
                    " and fbdev=1"
                } else {
                    ""
                }
            )
        } else {
            format!(
                "{} is blocked by {unexplained} unexplained reference(s) (refcount {}, {} from holder modules, no process \
                 holds its devices): {}",
                m.name,
                m.refcount,
                by_modules,
                likely_pinner(&m.name)
            )
        };
        plan.blockers.push(Blocker {
            code: "unexplained-references".into(),
            module: Some(m.name.clone()),
            message,
            hint: Some(if pinned {
                "sudo nvfix reboot (with nvidia_drm fbdev=0 the next driver update can be reloaded)"
                    .into()
            } else {
                "sudo nvfix reboot".into()
            }),
        });
    }
}

/// Who usually holds references that no holder list or open file shows, by module.
fn likely_pinner(module: &str) -> &'static str {
    match module {
        "nvidia_drm" | "nvidia_modeset" => {
            "the console (fbcon), a compositor or another DRM client holds it without an open device node"
        }
        "nvidia" => {
            "a module took references through symbol_get, which no holder list shows (EFA, a vendor RDMA or storage \
             module)"
        }
        _ => "something took a reference that no holder list shows",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, refcount: i64, used_by: &[&str]) -> LoadedModule {
        LoadedModule {
            name: name.into(),
            size: 1,
            refcount,
            used_by: used_by.iter().map(|s| s.to_string()).collect(),
            state: ModuleState::Live,
            taint: None,
            version: None,
        }
    }

    fn stack() -> Vec<LoadedModule> {
        vec![
            module("gdrdrv", 0, &[]),
            module(
                "nvidia",
                4,
                &["nvidia_modeset", "nvidia_uvm", "nvidia_peermem", "gdrdrv"],
            ),
            module("nvidia_drm", 0, &[]),
            module("nvidia_modeset", 1, &["nvidia_drm"]),
            module("nvidia_peermem", 0, &[]),
            module("nvidia_uvm", 0, &[]),
        ]
    }

    #[test]
    fn unload_order_puts_every_holder_first() {
        let (order, cycle) = unload_order(&stack());
        assert_eq!(cycle, None);
        assert_eq!(
            order,
            vec![
                "gdrdrv",
                "nvidia_peermem",
                "nvidia_drm",
                "nvidia_modeset",
                "nvidia_uvm",
                "nvidia"
            ]
        );
        for m in stack() {
            let pos = order.iter().position(|x| *x == m.name).unwrap();
            for u in &m.used_by {
                assert!(
                    order.iter().position(|x| x == u).unwrap() < pos,
                    "{u} before {}",
                    m.name
                );
            }
        }
    }

    #[test]
    fn load_order_is_nvidia_first_drm_after_modeset_holders_last() {
        assert_eq!(
            load_order(&stack()),
            vec![
                "nvidia",
                "nvidia_uvm",
                "nvidia_modeset",
                "nvidia_drm",
                "nvidia_peermem",
                "gdrdrv"
            ]
        );
    }

    #[test]
    fn a_holder_named_only_in_used_by_is_unloaded_too() {
        let (order, _) = unload_order(&[module("nvidia", 1, &["nvidia_fs"])]);
        assert_eq!(order, vec!["nvidia_fs", "nvidia"]);
    }

    #[test]
    fn a_cycle_in_garbled_input_is_broken_and_reported() {
        let (order, cycle) = unload_order(&[module("a", 1, &["b"]), module("b", 1, &["a"])]);
        assert_eq!(order.len(), 2);
        assert!(cycle.is_some());
    }

    #[test]
    fn inverse_pairs() {
        let u = StepKind::Unload {
            module: "nvidia".into(),
        };
        assert_eq!(
            u.inverse(),
            Some(StepKind::Load {
                module: "nvidia".into()
            })
        );
        assert_eq!(u.inverse().unwrap().inverse(), Some(u));
        let s = StepKind::StopService {
            unit: "a.service".into(),
            label: "a".into(),
            processes: vec![],
        };
        assert!(
            matches!(s.inverse(), Some(StepKind::StartService { unit, .. }) if unit == "a.service")
        );
        assert_eq!(StepKind::Rescan.inverse(), None);
    }

    #[test]
    fn json_kind_is_the_name_the_test_hook_uses() {
        let p = ProcessTarget {
            pid: 1,
            start_time: None,
            user: "u".into(),
            command: "c".into(),
            container: None,
            devices: vec![],
        };
        for k in [
            StepKind::TerminateProcess { process: p.clone() },
            StepKind::KillProcess { process: p },
            StepKind::CreateDeviceNodes,
            StepKind::QuitMps { processes: vec![] },
            StepKind::Rescan,
            StepKind::Verify,
            StepKind::Load { module: "m".into() },
        ] {
            assert_eq!(serde_json::to_value(&k).unwrap()["kind"], k.name());
        }
    }

    #[test]
    fn devices_map_to_their_modules() {
        assert_eq!(module_of_device("/dev/nvidia-uvm-tools"), "nvidia_uvm");
        assert_eq!(module_of_device("/dev/nvidia-modeset"), "nvidia_modeset");
        assert_eq!(module_of_device("/dev/dri/renderD128"), "nvidia_drm");
        assert_eq!(module_of_device("/dev/nvidia0 (deleted)"), "nvidia");
        assert_eq!(module_of_device("/dev/nvidiactl"), "nvidia");
    }

    #[test]
    fn steps_serialize_flat_with_their_kind() {
        let s = Step {
            id: 3,
            kind: StepKind::Unload {
                module: "nvidia".into(),
            },
            why: "w".into(),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["kind"], "unload");
        assert_eq!(v["module"], "nvidia");
        let back: Step = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
