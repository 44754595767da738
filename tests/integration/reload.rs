//! Integration tests for `nvfix reload` and `nvfix verify`: plans from fixture trees through the binary (dry runs
//! only), and the executor driven through the library against a simulated host whose modules change as the
//! recorded modprobe/systemctl commands run. No test runs a real modprobe or systemctl, or signals a process.

use crate::harness::{copy_fixture, fixture, nvfix, reason_codes, write_file};
use nvfix::host::gather::{gather, GatherOptions};
use nvfix::host::reload::{
    Answer, Clock, ExecOptions, ExecReport, Executor, HostView, Journal, Outcome, ProcessControl,
    ScriptedPrompter, Seams, Sig, StepState, Waited,
};
use nvfix::host::runner::{CommandOutput, CommandRunner, CommandSpec, RecordingRunner};
use nvfix::host::{HostError, HostRoot};
use nvfix::model::facts::{HostFacts, NvmlProbe};
use nvfix::model::holders::GpuHolder;
use nvfix::model::library::LibraryFile;
use nvfix::model::modules::{LoadedModule, ModuleState};
use nvfix::model::plan::{
    make_plan, module_of_device, references_taken_by, PlanOptions, ProcessTarget, ReloadPlan,
    StepKind,
};
use nvfix::model::preflight::{self, ModprobeView};
use nvfix::model::verdict::{diagnose, Action};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------------------------
// Plans through the binary (--dry-run only: a fixture root is never acted on).

fn dry_run_json(root: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["reload", "--dry-run", "--json"];
    args.extend_from_slice(extra);
    let run = nvfix(root, &args);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    (run.status, run.json())
}

fn kinds(v: &Value) -> Vec<String> {
    v["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let k = s["kind"].as_str().unwrap();
            match (
                s["module"].as_str(),
                s["unit"].as_str(),
                s["process"]["pid"].as_i64(),
            ) {
                (Some(m), _, _) => format!("{k} {m}"),
                (_, Some(u), _) => format!("{k} {u}"),
                (_, _, Some(p)) => format!("{k} {p}"),
                _ => k.to_string(),
            }
        })
        .collect()
}

/// The incident with nvidia_drm not pinned (refcount 0): the plan that runs.
/// A writable copy of the incident (a headless server: nothing pins nvidia_drm).
fn unpinned_incident() -> tempfile::TempDir {
    copy_fixture("incident")
}

#[test]
fn incident_plan_stops_holders_unloads_by_the_graph_loads_back_and_verifies() {
    let dir = unpinned_incident();
    let (status, v) = dry_run_json(dir.path(), &[]);
    assert_eq!(status, 0, "{v}");
    assert_eq!(v["status"], "plan");
    assert_eq!(
        kinds(&v),
        vec![
            "terminate 4242",
            "stop-service nvidia-persistenced.service",
            "rescan",
            "unload nvidia_drm",
            "unload nvidia_modeset",
            "unload nvidia_uvm",
            "unload nvidia",
            "load nvidia",
            "load nvidia_uvm",
            "load nvidia_modeset",
            "load nvidia_drm",
            "device-nodes",
            "start-service nvidia-persistenced.service",
            "verify",
        ]
    );
    let plan = &v["plan"];
    assert_eq!(plan["from_version"], "580.65.06");
    assert_eq!(plan["to_version"], "580.95.05");
    assert_eq!(plan["processes"][0]["user"], "alice");
    assert!(plan["processes"][0]["start_time"].is_u64());
    assert_eq!(plan["blockers"], serde_json::json!([]));
    for s in plan["steps"].as_array().unwrap() {
        assert!(
            !s["why"].as_str().unwrap().is_empty(),
            "every step says why: {s}"
        );
    }
}

#[test]
fn a_console_pinned_drm_module_blocks_the_reload() {
    let run = nvfix(&fixture("drm-pinned"), &["reload", "--dry-run"]);
    assert_eq!(run.status, 69, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("Reload plan: NVIDIA 580.65.06 → 580.95.05"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("BLOCKED"));
    assert!(
        run.stdout
            .contains("nvidia_drm is pinned by 2 reference(s)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("modeset=1 and fbdev=1"));
    assert!(run.stdout.contains("sudo nvfix reboot"));
    assert!(run.stdout.contains("nothing was changed"));
    let (status, v) = dry_run_json(&fixture("drm-pinned"), &[]);
    assert_eq!(status, 69);
    assert_eq!(v["status"], "blocked");
    assert_eq!(v["plan"]["blockers"][0]["code"], "unexplained-references");
    assert_eq!(v["plan"]["blockers"][0]["module"], "nvidia_drm");
    assert_eq!(v["refusal"]["code"], 69);
}

#[test]
fn kill_adds_sigkill_after_sigterm_and_grace_is_shown() {
    let dir = unpinned_incident();
    let (_, v) = dry_run_json(dir.path(), &["--kill", "--grace", "3"]);
    let k = kinds(&v);
    let term = k.iter().position(|s| s == "terminate 4242").unwrap();
    let kill = k.iter().position(|s| s == "kill 4242").unwrap();
    assert!(term < kill);
    assert_eq!(v["plan"]["grace_secs"], 3);
    assert_eq!(v["plan"]["kill"], true);
}

#[test]
fn refusals_carry_their_exit_status_and_next_command() {
    let (status, v) = dry_run_json(&fixture("reboot-needed"), &[]);
    assert_eq!(status, 69);
    assert_eq!(v["status"], "refused");
    assert_eq!(v["refusal"]["hint"], "sudo nvfix reboot");
    let (status, v) = dry_run_json(&fixture("repair-needed"), &[]);
    assert_eq!(status, 69);
    assert!(
        v["refusal"]["hint"]
            .as_str()
            .unwrap()
            .contains("dkms install"),
        "{v}"
    );
    let (status, v) = dry_run_json(&fixture("healthy"), &[]);
    assert_eq!(status, 0);
    assert_eq!(v["status"], "nothing-to-do");
    let run = nvfix(&fixture("healthy"), &["reload", "--dry-run"]);
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);

    let dir = unpinned_incident();
    std::fs::create_dir_all(dir.path().join("run/nvidia/driver")).unwrap();
    let (status, v) = dry_run_json(dir.path(), &[]);
    assert_eq!(status, 77, "{v}");
    assert!(v["refusal"]["reason"]
        .as_str()
        .unwrap()
        .contains("GPU Operator"));
}

#[test]
fn peermem_and_gdrdrv_come_off_before_nvidia_and_back_after_it() {
    let dir = copy_fixture("open-module");
    for m in ["nvidia_drm", "nvidia_uvm"] {
        write_file(dir.path(), &format!("/sys/module/{m}/refcnt"), b"0\n");
    }
    // gdrdrv holds nvidia: in /proc/modules and sysfs holders, unknown to any fixed list.
    let modules = std::fs::read_to_string(dir.path().join("proc/modules")).unwrap();
    let modules = modules.replace(
        "nvidia 104071168 3 nvidia_uvm,nvidia_modeset,nvidia_peermem,",
        "nvidia 104071168 4 nvidia_uvm,nvidia_modeset,nvidia_peermem,gdrdrv,",
    ) + "gdrdrv 24576 0 - Live 0x0000000000000000 (OE)\n";
    write_file(dir.path(), "/proc/modules", modules.as_bytes());
    write_file(dir.path(), "/sys/module/nvidia/refcnt", b"4\n");
    write_file(dir.path(), "/sys/module/nvidia/holders/gdrdrv", b"");
    // The reload loads gdrdrv back from disk, so the pre-flight wants its file (a stand-in object) in modules.dep.
    let dep = "/lib/modules/6.8.0-85-generic/modules.dep";
    let text = std::fs::read_to_string(dir.path().join(dep.trim_start_matches('/'))).unwrap();
    write_file(
        dir.path(),
        dep,
        (text + "updates/gdrdrv.ko: kernel/nvidia-580-open/nvidia.ko\n").as_bytes(),
    );
    let stand_in = std::fs::read(fixture("modules").join("580.95.05/nvidia-peermem.ko")).unwrap();
    write_file(
        dir.path(),
        "/lib/modules/6.8.0-85-generic/updates/gdrdrv.ko",
        &stand_in,
    );
    let (status, v) = dry_run_json(dir.path(), &[]);
    assert_eq!(status, 0, "{v}");
    let unload: Vec<&str> = v["plan"]["unload_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let load: Vec<&str> = v["plan"]["load_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        unload,
        vec![
            "gdrdrv",
            "nvidia_peermem",
            "nvidia_drm",
            "nvidia_modeset",
            "nvidia_uvm",
            "nvidia"
        ]
    );
    assert_eq!(
        load,
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
fn unexplained_references_block_by_module() {
    // nvidia_uvm has 2 references and nobody has /dev/nvidia-uvm open.
    let dir = copy_fixture("open-module");
    write_file(dir.path(), "/sys/module/nvidia_uvm/refcnt", b"2\n");
    let (status, v) = dry_run_json(dir.path(), &[]);
    assert_eq!(status, 69);
    let blocked: Vec<&str> = v["plan"]["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["module"].as_str().unwrap())
        .collect();
    assert!(blocked.contains(&"nvidia_uvm"), "{v}");
    assert!(v["plan"]["blockers"][0]["message"]
        .as_str()
        .unwrap()
        .contains("unexplained"));
}

#[test]
fn a_module_stuck_going_needs_a_reboot() {
    let dir = unpinned_incident();
    write_file(dir.path(), "/sys/module/nvidia_uvm/initstate", b"going\n");
    let (status, v) = dry_run_json(dir.path(), &[]);
    assert_eq!(status, 69);
    assert_eq!(v["plan"]["blockers"][0]["code"], "module-going");
}

#[test]
fn executing_against_a_fixture_tree_is_refused_and_touches_nothing() {
    let dir = unpinned_incident();
    for args in [
        &["reload", "--yes"][..],
        &["reload", "--resume"][..],
        &["reload"][..],
    ] {
        let run = nvfix(dir.path(), args);
        assert_eq!(run.status, 64, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("--dry-run"), "{}", run.stderr);
    }
    assert!(!dir.path().join("run/nvfix").exists());
}

#[test]
fn a_pending_journal_is_shown_by_the_dry_run() {
    let dir = unpinned_incident();
    let facts = facts_of(dir.path());
    let plan = make_plan(&facts, &diagnose(&facts), &PlanOptions::default()).unwrap();
    let mut journal = Journal::new(&plan, 0);
    journal.unloaded = vec!["nvidia_drm".into()];
    journal.stopped_services = vec!["nvidia-persistenced.service".into()];
    journal
        .save(&Journal::path(&HostRoot::new(dir.path())))
        .unwrap();
    let (status, v) = dry_run_json(dir.path(), &[]);
    assert_eq!(status, 0);
    assert_eq!(v["status"], "resume-pending");
    assert_eq!(v["journal"]["unloaded"][0], "nvidia_drm");
    let run = nvfix(dir.path(), &["reload", "--dry-run"]);
    assert!(run.stdout.contains("--resume"), "{}", run.stdout);
}

#[test]
fn verify_alone_on_fixture_trees() {
    let run = nvfix(&fixture("healthy"), &["verify"]);
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("files alone"), "{}", run.stdout);
    let run = nvfix(&fixture("incident"), &["verify", "--json"]);
    assert_eq!(run.status, 1);
    let v = run.json();
    assert_eq!(v["verified"], false);
    let failed: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"module-matches-library"), "{v}");
}

/// A process in its own mount namespace, with `mountinfo` mounting the driver libraries of `version` (deleted from
/// the host when `deleted`), in a docker container when `docker_id` is given.
fn add_container(
    root: &Path,
    pid: i32,
    namespace: u64,
    version: &str,
    deleted: bool,
    docker_id: Option<&str>,
) {
    let proc_pid = root.join(format!("proc/{pid}"));
    std::fs::create_dir_all(proc_pid.join("ns")).unwrap();
    std::os::unix::fs::symlink(format!("mnt:[{namespace}]"), proc_pid.join("ns/mnt")).unwrap();
    let gone = if deleted { "//deleted" } else { "" };
    let lib = |name: &str, id: u32| {
        let path = format!("/usr/lib/x86_64-linux-gnu/{name}.so.{version}");
        format!("{id} 900 259:2 {path}{gone} {path} ro,nosuid,nodev,relatime master:1 - ext4 /dev/nvme0n1p2 rw\n")
    };
    let mountinfo = format!(
        "900 800 0:151 / / rw,relatime - overlay overlay rw\n{}{}",
        lib("libnvidia-ml", 910),
        lib("libcuda", 911)
    );
    write_file(
        root,
        &format!("/proc/{pid}/mountinfo"),
        mountinfo.as_bytes(),
    );
    if let Some(id) = docker_id {
        let cgroup = format!("0::/system.slice/docker-{id}.scope\n");
        write_file(root, &format!("/proc/{pid}/cgroup"), cgroup.as_bytes());
    }
}

#[test]
fn verify_names_the_containers_still_running_the_old_driver() {
    let dir = copy_fixture("healthy");
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/1/ns")).unwrap();
    std::os::unix::fs::symlink("mnt:[4026531841]", root.join("proc/1/ns/mnt")).unwrap();
    // Started before apt replaced 580.65.06 and idle during the reload: still the old libraries.
    let stale = "3f2a9c1b7d4e5f60718293a4b5c6d7e8091a2b3c4d5e6f708192a3b4c5d6e7f8";
    add_container(root, 5100, 4026532101, "580.65.06", true, Some(stale));
    // A second process of the same container (same namespace) is not listed twice.
    add_container(root, 5101, 4026532101, "580.65.06", true, Some(stale));
    // Started after: current.
    add_container(
        root,
        5200,
        4026532202,
        "580.95.05",
        false,
        Some("aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999"),
    );
    // A process in the host's namespace mounting nothing special is not a container.
    add_container(root, 5300, 4026531841, "580.65.06", false, None);

    let run = nvfix(root, &["verify", "--json"]);
    assert_eq!(
        run.status, 0,
        "a stale container does not fail the host's verification: {}",
        run.stdout
    );
    let v = run.json();
    assert_eq!(v["verified"], true);
    let stale_list = v["stale_containers"].as_array().unwrap();
    assert_eq!(stale_list.len(), 1, "{v}");
    assert_eq!(stale_list[0]["pid"], 5100);
    assert_eq!(stale_list[0]["container"]["runtime"], "docker");
    assert_eq!(
        stale_list[0]["stale_versions"],
        serde_json::json!(["580.65.06"])
    );
    assert_eq!(stale_list[0]["mounts"][0]["deleted"], true);

    let text = nvfix(root, &["verify"]).stdout;
    assert!(text.contains("Restart these containers"), "{text}");
    assert!(
        text.contains("docker container 3f2a9c1b7d4e (pid 5100): driver libraries 580.65.06 mounted; docker restart 3f2a9c1b7d4e"),
        "{text}"
    );
}

#[test]
fn damaged_container_files_never_panic() {
    for (file, bytes) in [
        ("/proc/5100/mountinfo", &b""[..]),
        (
            "/proc/5100/mountinfo",
            &b"1 2 3:4 /a\\0 /libnvidia-ml.so.580.65.06 \xff\xfe"[..],
        ),
        ("/proc/5100/mountinfo", &[0u8, 159, 146, 150, 10][..]),
        (
            "/proc/5100/cgroup",
            &b"0::/system.slice/docker-.scope\n\xff"[..],
        ),
    ] {
        let dir = copy_fixture("healthy");
        add_container(dir.path(), 5100, 4026532101, "580.65.06", true, Some("abc"));
        write_file(dir.path(), file, bytes);
        let run = nvfix(dir.path(), &["verify", "--json"]);
        assert!(!run.stderr.contains("panicked"), "{file}: {}", run.stderr);
        assert!(run.json()["stale_containers"].is_array(), "{file}");
    }
}

#[test]
fn the_plan_names_the_containers_the_reload_leaves_on_the_old_driver() {
    let dir = unpinned_incident();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/1/ns")).unwrap();
    std::os::unix::fs::symlink("mnt:[4026531841]", root.join("proc/1/ns/mnt")).unwrap();
    let old = "3f2a9c1b7d4e5f60718293a4b5c6d7e8091a2b3c4d5e6f708192a3b4c5d6e7f8";
    add_container(root, 5100, 4026532101, "580.65.06", false, Some(old));
    add_container(
        root,
        5200,
        4026532202,
        "580.95.05",
        false,
        Some("aaaabbbbccccddddeeeeffff"),
    );
    let (status, v) = dry_run_json(root, &[]);
    assert_eq!(status, 0, "{v}");
    let notes = v["plan"]["notes"].to_string();
    assert!(
        notes.contains("1 container(s) mount another version's driver libraries; any that outlive the reload fail until restarted: docker container 3f2a9c1b7d4e (pid 5100)"),
        "{notes}"
    );
    let text = nvfix(root, &["reload", "--dry-run"]).stdout;
    assert!(
        text.contains("docker container 3f2a9c1b7d4e (pid 5100)"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The executor against a simulated host.

fn facts_of(root: &Path) -> HostFacts {
    gather(
        &HostRoot::new(root),
        &GatherOptions {
            nvml_lib: None,
            holders: true,
            containers: false,
            ..Default::default()
        },
    )
}

fn incident_plan(opts: &PlanOptions) -> (HostFacts, ReloadPlan) {
    let dir = unpinned_incident();
    let facts = facts_of(dir.path());
    let plan = make_plan(&facts, &diagnose(&facts), opts).expect("plan");
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    (facts, plan)
}

#[derive(Debug, Clone)]
struct SimModule {
    name: String,
    version: String,
    used_by: Vec<String>,
    pin: i64,
    state: ModuleState,
}

/// A host model: modules with versions and holders, services, processes. modprobe/systemctl change it the way
/// the kernel and kmod do (in use, dependencies loaded first, NVIDIA's upper modules refusing a base of another
/// version).
#[derive(Debug, Default)]
struct Sim {
    modules: Vec<SimModule>,
    disk_version: String,
    lib_version: String,
    holders: Vec<GpuHolder>,
    services: BTreeSet<String>,
    service_pids: BTreeMap<String, Vec<i32>>,
    commands: Vec<String>,
    /// Ignore SIGTERM.
    stubborn: BTreeSet<i32>,
    /// Appears when a process is terminated (a respawning client).
    respawn: Option<GpuHolder>,
    /// After `modprobe -r <first>`, something takes a reference on <second> (symbol_get).
    pin_after_unload: Option<(String, String)>,
    /// `modprobe -r` of this leaves it in state going.
    going_after_remove: Option<String>,
    /// `modprobe -r` of this never returns (its module exit blocks in the kernel): the runner leaves it behind.
    stuck_on_remove: Option<String>,
    /// `modprobe <this>` runs past its limit and is stopped (SIGTERM, SIGKILL, reaped).
    timeout_on_load: Option<String>,
    fail_load: BTreeSet<String>,
    /// NVML reports this driver version instead of the module's.
    nvml_lies: Option<String>,
}

fn deps(name: &str) -> Vec<&'static str> {
    match name {
        "nvidia" => vec![],
        "nvidia_drm" => vec!["nvidia_modeset"],
        _ => vec!["nvidia"],
    }
}

impl Sim {
    fn from_facts(facts: &HostFacts) -> Self {
        let version = facts
            .loaded_version()
            .map(|v| v.to_string())
            .unwrap_or_default();
        let mut sim = Sim {
            modules: facts
                .loaded_modules
                .iter()
                .map(|m| SimModule {
                    name: m.name.clone(),
                    version: version.clone(),
                    used_by: m.used_by.clone(),
                    pin: 0,
                    state: m.state,
                })
                .collect(),
            disk_version: "580.95.05".into(),
            lib_version: "580.95.05".into(),
            holders: facts.holders.clone(),
            ..Default::default()
        };
        for h in &facts.holders {
            if let Some(unit) = h.service.and_then(|s| s.unit()) {
                sim.services.insert(unit.to_string());
                sim.service_pids
                    .entry(unit.to_string())
                    .or_default()
                    .push(h.pid);
            }
        }
        sim
    }

    fn refcount(&self, m: &SimModule) -> i64 {
        let by_modules: i64 = m.used_by.iter().map(|u| references_taken_by(u)).sum();
        let files = self
            .holders
            .iter()
            .filter(|h| h.devices.iter().any(|d| module_of_device(d) == m.name))
            .count() as i64;
        by_modules + 2 * files + m.pin
    }

    fn loaded(&self, name: &str) -> bool {
        self.modules.iter().any(|m| m.name == name)
    }

    fn version_of(&self, name: &str) -> Option<String> {
        self.modules
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.version.clone())
    }

    fn insmod(&mut self, name: &str) -> CommandOutput {
        if self.loaded(name) {
            return ok();
        }
        if self.fail_load.contains(name) {
            return fail(&format!(
                "modprobe: ERROR: could not insert '{name}': No such device"
            ));
        }
        for d in deps(name) {
            let out = self.insmod(d);
            if !out.success() {
                return out;
            }
            if self.version_of(d).as_deref() != Some(self.disk_version.as_str()) {
                return fail(&format!(
                    "modprobe: ERROR: could not insert '{name}': Invalid argument"
                ));
            }
        }
        for d in deps(name) {
            if let Some(m) = self.modules.iter_mut().find(|m| m.name == d) {
                m.used_by.push(name.to_string());
            }
        }
        self.modules.push(SimModule {
            name: name.into(),
            version: self.disk_version.clone(),
            used_by: vec![],
            pin: 0,
            state: ModuleState::Live,
        });
        ok()
    }

    fn rmmod(&mut self, name: &str) -> CommandOutput {
        let Some(m) = self.modules.iter().find(|m| m.name == name).cloned() else {
            return fail(&format!("modprobe: FATAL: Module {name} is not in kernel."));
        };
        if self.refcount(&m) > 0 {
            return fail(&format!("modprobe: FATAL: Module {name} is in use."));
        }
        if self.going_after_remove.as_deref() == Some(name) {
            if let Some(m) = self.modules.iter_mut().find(|m| m.name == name) {
                m.state = ModuleState::Going;
            }
            return ok();
        }
        self.modules.retain(|m| m.name != name);
        for m in &mut self.modules {
            m.used_by.retain(|u| u != name);
        }
        if let Some((first, second)) = self.pin_after_unload.clone() {
            if first == name {
                if let Some(m) = self.modules.iter_mut().find(|m| m.name == second) {
                    m.pin += 1;
                }
            }
        }
        ok()
    }
}

fn ok() -> CommandOutput {
    CommandOutput::default()
}

fn fail(stderr: &str) -> CommandOutput {
    CommandOutput {
        status: 1,
        stdout: String::new(),
        stderr: format!("{stderr}\n"),
    }
}

struct SimHost(RefCell<Sim>);

impl CommandRunner for SimHost {
    fn run(&self, cmd: &CommandSpec) -> Result<CommandOutput, HostError> {
        let mut sim = self.0.borrow_mut();
        sim.commands.push(cmd.display());
        let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
        if let ("modprobe", ["-r", m]) = (cmd.program.as_str(), args.as_slice()) {
            if sim.stuck_on_remove.as_deref() == Some(*m) {
                if let Some(m) = sim.modules.iter_mut().find(|x| x.name == *m) {
                    m.state = ModuleState::Going;
                }
                return Err(HostError::Abandoned {
                    command: cmd.display(),
                    pid: 31337,
                    seconds: cmd.timeout.map_or(0, |t| t.as_secs()),
                });
            }
        }
        if let ("modprobe", [m]) = (cmd.program.as_str(), args.as_slice()) {
            if sim.timeout_on_load.as_deref() == Some(*m) {
                return Err(HostError::Timeout {
                    command: cmd.display(),
                    pid: 4711,
                    seconds: cmd.timeout.map_or(0, |t| t.as_secs()),
                });
            }
        }
        Ok(match (cmd.program.as_str(), args.as_slice()) {
            ("modprobe", ["-r", m]) => sim.rmmod(m),
            ("modprobe", [m]) if !m.starts_with('-') => sim.insmod(m),
            ("systemctl", ["stop", unit]) => {
                if !sim.services.remove(*unit) {
                    return Ok(CommandOutput {
                        status: 5,
                        stdout: String::new(),
                        stderr: format!("Failed to stop {unit}: Unit {unit} not loaded.\n"),
                    });
                }
                let pids = sim.service_pids.get(*unit).cloned().unwrap_or_default();
                sim.holders.retain(|h| !pids.contains(&h.pid));
                ok()
            }
            ("systemctl", ["start" | "restart", unit]) => {
                sim.services.insert(unit.to_string());
                ok()
            }
            ("nvidia-modprobe", ["-u", "-c=0"]) => ok(),
            // Any other command (a multi-module modprobe, -f) is a bug in the executor.
            _ => fail(&format!("sim: unexpected command {}", cmd.display())),
        })
    }
}

impl HostView for SimHost {
    fn modules(&self) -> Vec<LoadedModule> {
        let sim = self.0.borrow();
        sim.modules
            .iter()
            .map(|m| LoadedModule {
                name: m.name.clone(),
                size: 1,
                refcount: sim.refcount(m),
                used_by: m.used_by.clone(),
                state: m.state,
                taint: None,
                version: m.version.parse().ok(),
            })
            .collect()
    }
    fn holders(&self) -> Vec<GpuHolder> {
        self.0.borrow().holders.clone()
    }
    fn verify_facts(&self) -> HostFacts {
        let sim = self.0.borrow();
        let module = sim.version_of("nvidia");
        assert!(
            module.is_some(),
            "NVML must never be called while the modules are out"
        );
        HostFacts {
            sysfs_driver_version: module.as_ref().and_then(|v| v.parse().ok()),
            nvml_library: Some(LibraryFile {
                path: format!(
                    "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{}",
                    sim.lib_version
                ),
                version: sim.lib_version.parse().unwrap(),
                link: None,
            }),
            nvml: Some(NvmlProbe::Ok {
                driver_version: sim.nvml_lies.clone().or(module).unwrap_or_default(),
                cuda_driver_version: None,
                device_count: 1,
                library: "libnvidia-ml.so.1".into(),
            }),
            ..Default::default()
        }
    }
    fn has_program(&self, name: &str) -> bool {
        name == "nvidia-modprobe"
    }
}

impl ProcessControl for SimHost {
    fn signal_and_wait(
        &self,
        target: &ProcessTarget,
        signal: Option<Sig>,
        _wait: Duration,
    ) -> Result<Waited, HostError> {
        let mut sim = self.0.borrow_mut();
        if !sim.holders.iter().any(|h| h.pid == target.pid) {
            return Ok(Waited::NotThere);
        }
        match signal {
            None => Ok(Waited::StillRunning),
            Some(Sig::Term) if sim.stubborn.contains(&target.pid) => Ok(Waited::StillRunning),
            Some(_) => {
                sim.holders.retain(|h| h.pid != target.pid);
                if let Some(r) = sim.respawn.take() {
                    sim.holders.push(r);
                }
                Ok(Waited::Exited)
            }
        }
    }
}

#[derive(Default)]
struct FakeClock {
    slept: RefCell<Vec<Duration>>,
}

impl Clock for FakeClock {
    fn sleep(&self, d: Duration) {
        self.slept.borrow_mut().push(d);
    }
    fn now_unix(&self) -> u64 {
        1_761_114_301
    }
}

struct Run {
    report: ExecReport,
    commands: Vec<String>,
    journal_dir: tempfile::TempDir,
    prompter: ScriptedPrompter,
    slept: Vec<Duration>,
}

impl Run {
    fn journal(&self) -> Option<Journal> {
        Journal::load(&journal_path(self.journal_dir.path())).unwrap()
    }
}

fn journal_path(dir: &Path) -> std::path::PathBuf {
    Journal::path(&HostRoot::new(dir))
}

/// Runs `plan` on `host`; `answers` script the prompts (None: --yes).
fn execute(
    host: &SimHost,
    plan: &ReloadPlan,
    answers: Option<Vec<Answer>>,
    tweak: impl FnOnce(&mut ExecOptions),
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    run_in(host, plan, answers, tweak, dir)
}

fn run_in(
    host: &SimHost,
    plan: &ReloadPlan,
    answers: Option<Vec<Answer>>,
    tweak: impl FnOnce(&mut ExecOptions),
    dir: tempfile::TempDir,
) -> Run {
    let clock = FakeClock::default();
    let scripted = answers.is_some();
    let mut prompter = ScriptedPrompter::new(answers.unwrap_or_default());
    let mut auto = AutoYesQuiet(ScriptedPrompter::default());
    let mut opts = ExecOptions::new(journal_path(dir.path()));
    tweak(&mut opts);
    let seams = Seams {
        runner: host,
        processes: host,
        view: host,
        clock: &clock,
    };
    let report = if scripted {
        Executor::new(seams, &mut prompter, opts).execute(plan)
    } else {
        Executor::new(seams, &mut auto, opts).execute(plan)
    };
    let commands = std::mem::take(&mut host.0.borrow_mut().commands);
    let slept = clock.slept.borrow().clone();
    Run {
        report,
        commands,
        journal_dir: dir,
        prompter: if scripted { prompter } else { auto.0 },
        slept,
    }
}

/// `--yes` with events recorded: answers yes to everything.
struct AutoYesQuiet(ScriptedPrompter);

impl nvfix::host::reload::Prompter for AutoYesQuiet {
    fn confirm(&mut self, question: &str, _details: &[String]) -> bool {
        self.0.asked.push(question.into());
        true
    }
    fn choose(&mut self, question: &str, items: &[String]) -> Vec<bool> {
        self.0.asked.push(question.into());
        vec![true; items.len()]
    }
    fn started(&mut self, step: &nvfix::model::plan::Step) {
        self.0.started(step)
    }
    fn finished(&mut self, step: &nvfix::model::plan::Step, ok: bool, detail: &str) {
        self.0.finished(step, ok, detail)
    }
    fn note(&mut self, message: &str) {
        self.0.note(message)
    }
}

const SWAP: &[&str] = &[
    "modprobe -r nvidia_drm",
    "modprobe -r nvidia_modeset",
    "modprobe -r nvidia_uvm",
    "modprobe -r nvidia",
    "modprobe nvidia",
    "modprobe nvidia_uvm",
    "modprobe nvidia_modeset",
    "modprobe nvidia_drm",
    "nvidia-modprobe -u -c=0",
];

fn full_run_commands() -> Vec<String> {
    let mut c = vec!["systemctl stop nvidia-persistenced.service".to_string()];
    c.extend(SWAP.iter().map(|s| s.to_string()));
    c.push("systemctl start nvidia-persistenced.service".into());
    c
}

fn assert_fixed(host: &SimHost) {
    let sim = host.0.borrow();
    for m in ["nvidia", "nvidia_uvm", "nvidia_modeset", "nvidia_drm"] {
        assert_eq!(
            sim.version_of(m).as_deref(),
            Some("580.95.05"),
            "{m}: {:?}",
            sim.modules
        );
    }
    assert!(sim.services.contains("nvidia-persistenced.service"));
}

fn assert_as_before(host: &SimHost) {
    let sim = host.0.borrow();
    for m in ["nvidia", "nvidia_uvm", "nvidia_modeset", "nvidia_drm"] {
        assert_eq!(
            sim.version_of(m).as_deref(),
            Some("580.65.06"),
            "{m}: {:?}",
            sim.modules
        );
    }
    assert!(sim.services.contains("nvidia-persistenced.service"));
}

#[test]
fn executor_runs_the_exact_command_order_and_verifies() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
    let run = execute(&host, &plan, None, |_| {});
    assert_eq!(run.report.outcome, Outcome::Fixed, "{:#?}", run.report);
    assert_eq!(run.report.exit_code(), 0);
    assert_eq!(run.commands, full_run_commands());
    assert_fixed(&host);
    assert!(
        host.0.borrow().holders.iter().all(|h| h.pid != 4242),
        "the training job was terminated"
    );
    assert!(run.report.verify.as_ref().unwrap().verified);
    assert!(
        run.journal().is_none(),
        "the journal is removed after success"
    );
    assert!(run.report.steps.iter().all(|s| s.state == StepState::Done));
    // Every command and signal is in the action log (what goes to syslog).
    let actions = run.report.actions.join("\n");
    assert!(actions.contains("signal Term → pid 4242"), "{actions}");
    assert!(
        actions.contains("run: modprobe -r nvidia → exit 0"),
        "{actions}"
    );
}

#[test]
fn a_crash_after_any_step_is_resumed_to_where_it_began_or_fully_fixed() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    for step in &plan.steps {
        let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
        let run = execute(&host, &plan, None, |o| o.stop_after = Some(step.id));
        assert_eq!(
            run.report.outcome,
            Outcome::Crashed,
            "after step {}",
            step.id
        );
        let journal = run.journal().expect("a crash leaves the journal");
        assert_eq!(journal.state(step.id), Some(StepState::Done));
        assert!(journal
            .steps
            .iter()
            .filter(|s| s.id > step.id)
            .all(|s| s.state == StepState::Pending));
        // A later run (here, --resume) restores from the journal.
        let clock = FakeClock::default();
        let mut prompter = ScriptedPrompter::default();
        let report = Executor::new(
            Seams {
                runner: &host,
                processes: &host,
                view: &host,
                clock: &clock,
            },
            &mut prompter,
            ExecOptions::new(journal_path(run.journal_dir.path())),
        )
        .resume(journal);
        assert_eq!(
            report.outcome,
            Outcome::Resumed,
            "after step {}: {report:#?}",
            step.id
        );
        assert_eq!(report.exit_code(), 0, "after step {}: {report:#?}", step.id);
        assert!(run.journal().is_none(), "after step {}", step.id);
        let sim = host.0.borrow();
        let versions: BTreeSet<String> = ["nvidia", "nvidia_uvm", "nvidia_modeset", "nvidia_drm"]
            .iter()
            .map(|m| {
                sim.version_of(m)
                    .unwrap_or_else(|| panic!("{m} missing after step {}", step.id))
            })
            .collect();
        assert_eq!(
            versions.len(),
            1,
            "a mixed stack after step {}: {versions:?}",
            step.id
        );
        assert!(
            sim.services.contains("nvidia-persistenced.service"),
            "after step {}",
            step.id
        );
    }
}

#[test]
fn a_journal_written_mid_run_is_private_and_lists_what_changed() {
    use std::os::unix::fs::PermissionsExt;
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
    let unload_nvidia = plan
        .steps
        .iter()
        .find(|s| matches!(&s.kind, StepKind::Unload { module } if module == "nvidia"))
        .map(|s| s.id)
        .unwrap();
    let run = execute(&host, &plan, None, |o| o.stop_after = Some(unload_nvidia));
    let path = journal_path(run.journal_dir.path());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let j = run.journal().unwrap();
    assert_eq!(j.stopped_services, vec!["nvidia-persistenced.service"]);
    assert_eq!(
        j.unloaded,
        vec!["nvidia_drm", "nvidia_modeset", "nvidia_uvm", "nvidia"]
    );
}

#[test]
fn a_respawned_holder_is_caught_by_the_rescan_and_nothing_is_unloaded() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let mut sim = Sim::from_facts(&facts);
    let mut again = sim.holders.iter().find(|h| h.pid == 4242).unwrap().clone();
    again.pid = 5151;
    again.command = "/usr/bin/python3 train.py --resume".into();
    sim.respawn = Some(again);
    let host = SimHost(RefCell::new(sim));
    let run = execute(&host, &plan, None, |_| {});
    assert_eq!(run.report.outcome, Outcome::Restored, "{:#?}", run.report);
    assert_eq!(run.report.exit_code(), 1);
    assert!(
        run.report.reason.as_ref().unwrap().contains("pid 5151"),
        "{:?}",
        run.report.reason
    );
    assert_eq!(
        run.commands,
        vec![
            "systemctl stop nvidia-persistenced.service",
            "systemctl start nvidia-persistenced.service"
        ]
    );
    assert_as_before(&host);
    assert!(run.journal().is_none());
    assert_eq!(run.report.next.as_deref(), Some("sudo nvfix diagnose"));
}

#[test]
fn an_unload_that_stays_in_use_is_retried_then_restored_when_the_old_version_is_on_disk() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let mut sim = Sim::from_facts(&facts);
    // EFA-like: a symbol_get reference on nvidia appears once nvidia_uvm is gone.
    sim.pin_after_unload = Some(("nvidia_uvm".into(), "nvidia".into()));
    sim.disk_version = "580.65.06".into();
    let host = SimHost(RefCell::new(sim));
    // No settle period before unloading: only the backoff between tries sleeps here.
    let run = execute(&host, &plan, None, |o| o.rescan_settle = Duration::ZERO);
    assert_eq!(run.report.outcome, Outcome::Restored, "{:#?}", run.report);
    assert!(run
        .report
        .reason
        .as_ref()
        .unwrap()
        .contains("nvidia is still in use after 5 attempts"));
    assert_eq!(
        run.commands,
        vec![
            "systemctl stop nvidia-persistenced.service",
            "modprobe -r nvidia_drm",
            "modprobe -r nvidia_modeset",
            "modprobe -r nvidia_uvm",
            // nvidia's refcount is re-read before each try: no modprobe -r while it is in use.
            "modprobe nvidia_uvm",
            "modprobe nvidia_modeset",
            "modprobe nvidia_drm",
            "nvidia-modprobe -u -c=0",
            "systemctl start nvidia-persistenced.service",
        ]
    );
    assert_eq!(
        run.slept.len(),
        4,
        "backoff between the 5 tries: {:?}",
        run.slept
    );
    assert_as_before(&host);
}

#[test]
fn a_partial_stack_that_cannot_come_back_keeps_the_journal_and_says_what_next() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let mut sim = Sim::from_facts(&facts);
    sim.pin_after_unload = Some(("nvidia_uvm".into(), "nvidia".into()));
    let host = SimHost(RefCell::new(sim));
    let run = execute(&host, &plan, None, |_| {});
    // The new upper modules refuse the old base, and the base cannot come out: a reboot is the way out.
    assert_eq!(
        run.report.outcome,
        Outcome::RestoreIncomplete,
        "{:#?}",
        run.report
    );
    assert_eq!(run.report.exit_code(), 1);
    assert!(
        run.report
            .problems
            .iter()
            .any(|p| p.contains("Invalid argument")),
        "{:?}",
        run.report.problems
    );
    assert!(run.report.next.as_ref().unwrap().contains("--resume"));
    assert!(run.journal().is_some(), "kept for --resume");
    assert!(!run
        .commands
        .iter()
        .any(|c| c.contains(" -f") || c.matches(' ').count() > 2));
}

#[test]
fn a_module_stuck_going_after_removal_restores_and_says_reboot() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let mut sim = Sim::from_facts(&facts);
    sim.going_after_remove = Some("nvidia_drm".into());
    let host = SimHost(RefCell::new(sim));
    let run = execute(&host, &plan, None, |_| {});
    assert_eq!(
        run.report.outcome,
        Outcome::RebootRequired,
        "{:#?}",
        run.report
    );
    assert_eq!(run.report.exit_code(), 69);
    assert_eq!(run.report.next.as_deref(), Some("sudo nvfix reboot"));
    assert!(run.report.reason.as_ref().unwrap().contains("going"));
    assert!(host
        .0
        .borrow()
        .services
        .contains("nvidia-persistenced.service"));
}

#[test]
fn a_modprobe_stuck_in_the_kernel_is_left_behind_and_only_a_reboot_is_offered() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let mut sim = Sim::from_facts(&facts);
    sim.stuck_on_remove = Some("nvidia_modeset".into());
    let host = SimHost(RefCell::new(sim));
    let run = execute(&host, &plan, None, |o| {
        o.module_timeout = Duration::from_secs(10)
    });
    let report = &run.report;
    assert_eq!(report.outcome, Outcome::RebootRequired, "{report:#?}");
    assert_eq!(report.exit_code(), 69);
    assert_eq!(report.next.as_deref(), Some("sudo nvfix reboot"));
    let reason = report.reason.as_deref().unwrap();
    assert!(reason.contains("only a reboot recovers"), "{reason}");
    assert!(reason.contains("modprobe -r nvidia_modeset"), "{reason}");
    assert!(report.stack_stuck.is_some());
    let text = nvfix::render::plan::exec_report_text(report, false);
    assert!(text.contains("Only a reboot recovers"), "{text}");
    assert!(text.contains("sudo nvfix reboot"), "{text}");
    // Nothing touches the stuck stack again: the stuck command is the last module command.
    let stuck_at = run
        .commands
        .iter()
        .position(|c| c == "modprobe -r nvidia_modeset")
        .expect("the unload ran");
    let after: Vec<&String> = run.commands[stuck_at + 1..].iter().collect();
    assert!(
        after.iter().all(|c| !c.contains("modprobe")),
        "module commands after the stuck one: {after:?}"
    );
    // The service nvfix stopped is started again.
    assert!(after
        .iter()
        .any(|c| *c == "systemctl start nvidia-persistenced.service"));
    assert!(host
        .0
        .borrow()
        .services
        .contains("nvidia-persistenced.service"));
    // The journal is kept, naming the command left behind.
    let journal = run.journal().expect("kept");
    assert_eq!(journal.overran.len(), 1);
    assert_eq!(journal.overran[0].command, "modprobe -r nvidia_modeset");
    assert_eq!(journal.overran[0].pid, 31337);
    assert_eq!(journal.overran[0].seconds, 10);
    assert!(journal.overran[0].left_behind);
    assert!(journal.unloaded.contains(&"nvidia_drm".to_string()));

    let pending = nvfix::render::plan::pending_journal_text(&journal, false);
    assert!(
        pending
            .contains("`modprobe -r nvidia_modeset` (pid 31337) ran past 10 s and was left behind"),
        "{pending}"
    );
    // A later run in the same boot resumes from it: still no module command, still only a reboot.
    let clock = FakeClock::default();
    let mut prompter = ScriptedPrompter::default();
    let report = Executor::new(
        Seams {
            runner: &host,
            processes: &host,
            view: &host,
            clock: &clock,
        },
        &mut prompter,
        ExecOptions::new(journal_path(run.journal_dir.path())),
    )
    .resume(journal);
    assert_eq!(report.outcome, Outcome::RebootRequired, "{report:#?}");
    assert_eq!(report.exit_code(), 69);
    assert_eq!(report.next.as_deref(), Some("sudo nvfix reboot"));
    let commands = std::mem::take(&mut host.0.borrow_mut().commands);
    assert!(
        commands.iter().all(|c| !c.contains("modprobe")),
        "{commands:?}"
    );
    assert!(run.journal().is_some(), "still kept");

    // A new reload (auto goes on to plan after its resume) refuses to start over that journal.
    let mut prompter = ScriptedPrompter::default();
    let report = Executor::new(
        Seams {
            runner: &host,
            processes: &host,
            view: &host,
            clock: &clock,
        },
        &mut prompter,
        ExecOptions::new(journal_path(run.journal_dir.path())),
    )
    .execute(&plan);
    assert_eq!(report.outcome, Outcome::RebootRequired, "{report:#?}");
    assert!(report
        .reason
        .as_deref()
        .unwrap()
        .contains("only a reboot recovers"));
    assert_eq!(host.0.borrow().commands, Vec::<String>::new());
    assert_eq!(run.journal().unwrap().overran.len(), 1, "not overwritten");
}

#[test]
fn a_modprobe_that_times_out_loading_stops_all_module_commands_and_keeps_the_journal() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let mut sim = Sim::from_facts(&facts);
    sim.timeout_on_load = Some("nvidia".into());
    let host = SimHost(RefCell::new(sim));
    let run = execute(&host, &plan, None, |o| {
        o.module_timeout = Duration::from_secs(10)
    });
    assert_eq!(
        run.report.outcome,
        Outcome::RebootRequired,
        "{:#?}",
        run.report
    );
    assert_eq!(run.report.exit_code(), 69);
    assert_eq!(run.report.next.as_deref(), Some("sudo nvfix reboot"));
    let at = run
        .commands
        .iter()
        .position(|c| c == "modprobe nvidia")
        .unwrap();
    assert!(
        run.commands[at + 1..]
            .iter()
            .all(|c| !c.contains("modprobe")),
        "{:?}",
        run.commands
    );
    let journal = run.journal().expect("kept");
    assert_eq!(journal.overran.len(), 1);
    assert_eq!(journal.overran[0].command, "modprobe nvidia");
    assert!(!journal.overran[0].left_behind, "stopped and reaped");
    assert!(host
        .0
        .borrow()
        .services
        .contains("nvidia-persistenced.service"));
}

#[test]
fn a_stubborn_process_without_kill_stops_the_run_before_anything_else() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let mut sim = Sim::from_facts(&facts);
    sim.stubborn.insert(4242);
    let host = SimHost(RefCell::new(sim));
    let run = execute(&host, &plan, None, |_| {});
    assert_eq!(run.report.outcome, Outcome::Restored);
    assert!(run.report.reason.as_ref().unwrap().contains("--kill"));
    assert!(run.commands.is_empty(), "{:?}", run.commands);
    assert_as_before(&host);

    // With --kill, SIGKILL follows and the run completes.
    let (facts, plan) = incident_plan(&PlanOptions {
        kill: true,
        ..Default::default()
    });
    let mut sim = Sim::from_facts(&facts);
    sim.stubborn.insert(4242);
    let host = SimHost(RefCell::new(sim));
    let run = execute(&host, &plan, None, |_| {});
    assert_eq!(run.report.outcome, Outcome::Fixed, "{:#?}", run.report);
    assert!(run
        .report
        .actions
        .iter()
        .any(|a| a.contains("signal Kill → pid 4242")));
}

#[test]
fn prompts_confirm_each_group_and_declining_the_unload_restores() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
    // Processes (keep the one), services (yes), unload (no).
    let run = execute(
        &host,
        &plan,
        Some(vec![Answer::Select(vec![true]), Answer::Yes, Answer::No]),
        |_| {},
    );
    assert_eq!(run.report.outcome, Outcome::Cancelled, "{:#?}", run.report);
    assert_eq!(run.report.exit_code(), 1);
    assert_eq!(run.prompter.asked.len(), 3, "{:?}", run.prompter.asked);
    assert!(run.prompter.asked[0].contains("Terminate (SIGTERM) these 1 process(es)"));
    assert!(run.prompter.asked[1].contains("Stop 1 GPU service(s)"));
    assert!(run.prompter.asked[2].contains("Unload nvidia_drm, nvidia_modeset, nvidia_uvm, nvidia"));
    // Every group is asked before anything runs: a "no" to the unload leaves everything as it was.
    assert!(run.commands.is_empty(), "{:?}", run.commands);
    assert!(host.0.borrow().holders.iter().any(|h| h.pid == 4242));
    assert!(run.journal().is_none());
    assert_as_before(&host);

    // An unexpected question (no script left) is answered no.
    let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
    let run = execute(&host, &plan, Some(vec![Answer::Select(vec![true])]), |_| {});
    assert_eq!(run.report.outcome, Outcome::Cancelled);
    assert!(run.commands.is_empty());
}

#[test]
fn a_deselected_process_is_not_signalled_and_the_rescan_reports_it() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
    let run = execute(
        &host,
        &plan,
        Some(vec![Answer::Select(vec![false]), Answer::Yes, Answer::Yes]),
        |_| {},
    );
    assert_eq!(run.report.outcome, Outcome::Restored, "{:#?}", run.report);
    assert!(
        host.0.borrow().holders.iter().any(|h| h.pid == 4242),
        "not signalled"
    );
    assert!(run.report.reason.as_ref().unwrap().contains("pid 4242"));
    assert!(!run.commands.iter().any(|c| c.starts_with("modprobe")));
    assert_eq!(run.report.steps[0].state, StepState::Skipped);
    // The re-scan waited (half-second rounds over the grace period) before giving up.
    assert_eq!(run.slept.len() as u64, plan.grace_secs * 2 - 1);
}

static SIGNALS_SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn interrupted_from_the_sixth_step() -> bool {
    SIGNALS_SEEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 5
}

#[test]
fn ctrl_c_finishes_the_current_step_then_restores() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
    // The flag is polled before each step: it reads "interrupted" from step 6 on.
    let run = execute(&host, &plan, None, |o| {
        o.interrupted = interrupted_from_the_sixth_step
    });
    assert_eq!(
        run.report.outcome,
        Outcome::Interrupted,
        "{:#?}",
        run.report
    );
    assert_eq!(run.report.failed_step, Some(6));
    assert_eq!(
        &run.commands[..4],
        &[
            "systemctl stop nvidia-persistenced.service",
            "modprobe -r nvidia_drm",
            "modprobe -r nvidia_modeset",
            // Restore: the upper modules go back (from disk: the new version), which the old base refuses, so
            // the whole stack is reloaded.
            "modprobe nvidia_modeset",
        ]
    );
    let sim = host.0.borrow();
    let versions: BTreeSet<Option<String>> =
        ["nvidia", "nvidia_uvm", "nvidia_modeset", "nvidia_drm"]
            .iter()
            .map(|m| sim.version_of(m))
            .collect();
    assert_eq!(versions.len(), 1, "no mixed stack: {:?}", sim.modules);
    assert!(!versions.contains(&None));
    assert!(sim.services.contains("nvidia-persistenced.service"));
}

#[test]
fn the_test_hook_pauses_after_the_last_step_of_its_kind() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
    let run = execute(&host, &plan, None, |o| {
        o.pause_after = Some("unload".into());
        // No settle period before unloading: only the hook sleeps here.
        o.rescan_settle = Duration::ZERO;
    });
    assert_eq!(run.report.outcome, Outcome::Fixed);
    assert_eq!(run.slept, vec![Duration::from_secs(60)]);
    let note = run
        .prompter
        .events
        .iter()
        .position(|e| e.contains("NVFIX_TEST_PAUSE_AFTER_STEP=unload"))
        .unwrap();
    // Right after the last unload, before the first load.
    assert!(
        run.prompter.events[note - 1].starts_with("ok 7 unload"),
        "{:?}",
        run.prompter.events
    );
    assert!(run.prompter.events[note + 1].starts_with("start 8 load"));
}

#[test]
fn a_failed_verification_is_reported_without_undoing_the_reload() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let mut sim = Sim::from_facts(&facts);
    sim.nvml_lies = Some("580.65.06".into());
    let host = SimHost(RefCell::new(sim));
    let run = execute(&host, &plan, None, |_| {});
    assert_eq!(run.report.outcome, Outcome::VerifyFailed);
    assert_eq!(run.report.exit_code(), 1);
    assert!(run.report.reason.as_ref().unwrap().contains("NVML"));
    assert_eq!(run.commands, full_run_commands());
    assert!(run.journal().is_none());
}

#[test]
fn a_service_outside_systemd_is_terminated_and_reported_not_restarted() {
    let (facts, plan) = incident_plan(&PlanOptions::default());
    let mut sim = Sim::from_facts(&facts);
    sim.services.clear();
    let host = SimHost(RefCell::new(sim));
    let run = execute(&host, &plan, None, |_| {});
    assert_eq!(run.report.outcome, Outcome::Fixed, "{:#?}", run.report);
    assert_eq!(run.report.exit_code(), 1, "fixed, with a problem to report");
    assert!(run.report.problems[0].contains("not a systemd unit"));
    assert!(host.0.borrow().holders.iter().all(|h| h.pid != 1873));
    assert!(!run
        .commands
        .contains(&"systemctl start nvidia-persistenced.service".to_string()));
}

#[test]
fn a_blocked_plan_never_starts() {
    let facts = facts_of(&fixture("drm-pinned"));
    let plan = make_plan(&facts, &diagnose(&facts), &PlanOptions::default()).unwrap();
    assert!(!plan.blockers.is_empty());
    let runner = RecordingRunner::new();
    let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
    let clock = FakeClock::default();
    let mut prompter = ScriptedPrompter::default();
    let dir = tempfile::tempdir().unwrap();
    let report = Executor::new(
        Seams {
            runner: &runner,
            processes: &host,
            view: &host,
            clock: &clock,
        },
        &mut prompter,
        ExecOptions::new(journal_path(dir.path())),
    )
    .execute(&plan);
    assert_eq!(report.outcome, Outcome::NotStarted);
    assert_eq!(report.exit_code(), 1);
    assert!(runner.commands().is_empty());
    assert!(host.0.borrow().holders.iter().any(|h| h.pid == 4242));
    assert!(Journal::load(&journal_path(dir.path())).unwrap().is_none());
}

/// The incident's facts with the pre-flight input changed so that exactly `code` fails (None: not gathered).
fn facts_failing_preflight(code: &str) -> HostFacts {
    let dir = unpinned_incident();
    let mut facts = facts_of(dir.path());
    let Some(code) = code.strip_prefix("preflight-") else {
        unreachable!("{code}")
    };
    if code == "not-checked" {
        facts.preflight = None;
        return facts;
    }
    let inputs = facts
        .preflight
        .as_mut()
        .expect("the incident gathers the pre-flight");
    let (nvidia, uvm) = match inputs.modules.as_mut_slice() {
        [a, b, ..] => (a, b),
        _ => unreachable!(),
    };
    match code {
        "missing-module" => nvidia.path = None,
        "unreadable-module" => nvidia.read_error = Some("not an ELF file".into()),
        "missing-dependency" => uvm.deps[0].present = false,
        "stale-modules-dep" => {
            nvidia.depmod_would_pick = Some("/lib/modules/x/extra/nvidia.ko".into())
        }
        "modprobe-disagrees" => {
            nvidia.modprobe = ModprobeView::Disagrees {
                insmod: vec!["/lib/modules/x/extra/nvidia.ko".into()],
            }
        }
        "vermagic" => {
            nvidia.vermagic = Some("6.8.0-79-generic SMP preempt mod_unload modversions ".into())
        }
        // The stand-in modules are unsigned: turning enforcement on is enough.
        "signature" => inputs.policy.sig_enforce = Some(true),
        "firmware" => nvidia.firmware[0].found = None,
        other => panic!("no way to make {other} fail: add one"),
    }
    facts
}

#[test]
fn no_destructive_step_runs_before_every_preflight_check_has_passed() {
    let mut codes: Vec<&str> = preflight::FINDING_CODES.to_vec();
    codes.push("preflight-not-checked");
    for code in codes {
        let facts = facts_failing_preflight(code);
        if let Some(inputs) = &facts.preflight {
            let mut found: Vec<&str> = preflight::check(inputs).iter().map(|f| f.code).collect();
            found.dedup();
            assert_eq!(found, vec![code], "the mutation must fail exactly {code}");
        }
        let diagnosis = diagnose(&facts);
        let plan = make_plan(&facts, &diagnosis, &PlanOptions::default()).unwrap_or_else(|r| {
            panic!("{code}: the plan is shown, blocked, not refused early: {r:?}")
        });
        assert!(
            plan.blockers.iter().any(|b| b.code == code),
            "{code}: {:?}",
            plan.blockers
        );
        let refusal = plan.refusal().expect("blocked");
        assert_eq!(refusal.code, 69, "{code}");
        assert!(
            !refusal.reason.contains("reboot required"),
            "{code}: {}",
            refusal.reason
        );
        assert!(refusal.hint.is_some(), "{code}: the fix is named");
        if code != "preflight-not-checked" {
            assert_eq!(diagnosis.action, Action::Repair, "{code}");
            assert!(
                refusal
                    .reason
                    .starts_with("the new driver would not load: "),
                "{}",
                refusal.reason
            );
            assert!(diagnosis
                .reasons
                .iter()
                .any(|r| r.code == code && !r.evidence.is_empty()));
        }

        let runner = RecordingRunner::new();
        let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
        let modules_before: Vec<String> = host
            .0
            .borrow()
            .modules
            .iter()
            .map(|m| m.name.clone())
            .collect();
        let clock = FakeClock::default();
        let mut prompter = AutoYesQuiet(ScriptedPrompter::default());
        let dir = tempfile::tempdir().unwrap();
        let report = Executor::new(
            Seams {
                runner: &host,
                processes: &host,
                view: &host,
                clock: &clock,
            },
            &mut prompter,
            ExecOptions::new(journal_path(dir.path())),
        )
        .execute(&plan);
        assert_eq!(report.outcome, Outcome::NotStarted, "{code}");
        let sim = host.0.borrow();
        assert!(sim.commands.is_empty(), "{code}: {:?}", sim.commands);
        assert!(runner.commands().is_empty());
        assert!(
            sim.holders.iter().any(|h| h.pid == 4242),
            "{code}: the job was signalled"
        );
        let modules_after: Vec<String> = sim.modules.iter().map(|m| m.name.clone()).collect();
        assert_eq!(modules_after, modules_before, "{code}");
        assert!(Journal::load(&journal_path(dir.path())).unwrap().is_none());
    }
}

#[test]
fn a_display_server_blocks_unless_its_stop_is_allowed() {
    let dir = unpinned_incident();
    // pid 4242 becomes Xorg.
    write_file(dir.path(), "/proc/4242/comm", b"Xorg\n");
    write_file(dir.path(), "/proc/4242/exe", b"");
    write_file(
        dir.path(),
        "/proc/4242/cmdline",
        b"/usr/lib/xorg/Xorg\0:0\0",
    );
    let (status, v) = dry_run_json(dir.path(), &[]);
    assert_eq!(status, 69, "{v}");
    assert_eq!(v["plan"]["blockers"][0]["code"], "display-in-use");
    assert!(v["refusal"]["hint"]
        .as_str()
        .unwrap()
        .contains("--allow-display-stop"));
    let (status, v) = dry_run_json(dir.path(), &["--allow-display-stop"]);
    assert_eq!(status, 0, "{v}");
    let k = kinds(&v);
    assert_eq!(k[0], "stop-service display-manager.service", "{k:?}");
    assert!(!k.iter().any(|s| s.starts_with("terminate")), "{k:?}");
    assert!(k.contains(&"start-service display-manager.service".to_string()));
}

#[test]
fn snapshots_of_the_incident_plan() {
    let run = nvfix(&fixture("incident"), &["reload", "--dry-run"]);
    insta::assert_snapshot!("dry-run-incident", run.stdout);
    let dir = unpinned_incident();
    let (_, v) = dry_run_json(dir.path(), &[]);
    insta::assert_json_snapshot!("dry-run-incident-unpinned-json", v["plan"]);
}

// ---------------------------------------------------------------------------------------------------------------
// Fabric manager: it starts only against a driver of its own version.

/// Links `unit` from multi-user.target.wants, as `systemctl enable` does.
fn enable_unit(root: &Path, unit: &str) {
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(format!("/lib/systemd/system/{unit}"), wants.join(unit)).unwrap();
}

/// Adds an installed `nvidia-fabricmanager-580` of `version` to a copied tree, its unit enabled or not.
fn add_fabric_manager(root: &Path, version: &str, enabled: bool) {
    let status = root.join("var/lib/dpkg/status");
    let mut text = std::fs::read_to_string(&status).unwrap();
    text.push_str(&format!(
        "\nPackage: nvidia-fabricmanager-580\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
    ));
    std::fs::write(&status, text).unwrap();
    if enabled {
        enable_unit(root, "nvidia-fabricmanager.service");
    }
}

#[test]
fn an_enabled_fabric_manager_that_could_not_start_is_started_after_the_reload() {
    // The incident: apt upgraded fabric manager with the driver, so it is the library's version and cannot run
    // against the old module. The reload is what lets it start.
    let dir = unpinned_incident();
    add_fabric_manager(dir.path(), "580.95.05-0ubuntu0.24.04.1", true);
    let diagnosis = nvfix(dir.path(), &["diagnose", "--json"]).json();
    assert!(
        !reason_codes(&diagnosis).contains(&"fabric-manager-version".to_string()),
        "{diagnosis}"
    );
    let (status, v) = dry_run_json(dir.path(), &[]);
    assert_eq!(status, 0, "{v}");
    let steps = kinds(&v);
    let start = steps
        .iter()
        .position(|k| k == "bring-up-service nvidia-fabricmanager.service")
        .unwrap_or_else(|| panic!("fabric manager is started: {steps:?}"));
    let loaded = steps.iter().rposition(|k| k.starts_with("load ")).unwrap();
    assert!(
        start > loaded && steps.last().map(String::as_str) == Some("verify"),
        "{steps:?}"
    );

    // Not enabled: left alone (the admin did not want it at boot either).
    let dir = unpinned_incident();
    add_fabric_manager(dir.path(), "580.95.05-0ubuntu0.24.04.1", false);
    let (_, v) = dry_run_json(dir.path(), &[]);
    assert!(
        !kinds(&v).iter().any(|k| k.contains("fabricmanager")),
        "{v}"
    );
}

/// Two MIG GPU instances on gpu0 (one with a compute instance) and one on gpu1, as the driver's capability files show.
fn add_mig_instances(root: &Path, manager_enabled: bool) {
    let caps = root.join("proc/driver/nvidia/capabilities");
    for dir in [
        "gpu0/mig/gi1/ci0",
        "gpu0/mig/gi2",
        "gpu1/mig/gi1",
        "gpu0/mig/junk",
        "gpu1/mig/gi1/cix",
    ] {
        std::fs::create_dir_all(caps.join(dir)).unwrap();
    }
    if manager_enabled {
        enable_unit(root, "nvidia-mig-manager.service");
    }
}

#[test]
fn mig_instances_are_named_and_the_mig_manager_restarted_before_the_services() {
    let dir = unpinned_incident();
    add_mig_instances(dir.path(), true);
    add_fabric_manager(dir.path(), "580.95.05-0ubuntu0.24.04.1", true);
    let diagnosis = nvfix(dir.path(), &["diagnose", "--json"]).json();
    assert!(
        reason_codes(&diagnosis).contains(&"mig-instances".to_string()),
        "{diagnosis}"
    );
    let (status, v) = dry_run_json(dir.path(), &[]);
    assert_eq!(status, 0, "{v}");
    let notes = v["plan"]["notes"].to_string();
    assert!(
        notes.contains("destroys 3 MIG GPU instance(s) (gpu0: gi1, gi2; gpu1: gi1); nvidia-mig-manager.service is restarted"),
        "{notes}"
    );
    let steps = kinds(&v);
    let at = |kind: &str| {
        steps
            .iter()
            .position(|k| k == kind)
            .unwrap_or_else(|| panic!("{kind}: {steps:?}"))
    };
    let mig = at("bring-up-service nvidia-mig-manager.service");
    assert!(at("device-nodes") < mig, "{steps:?}");
    assert!(
        mig < at("start-service nvidia-persistenced.service"),
        "{steps:?}"
    );
    let text = nvfix(dir.path(), &["reload", "--dry-run"]).stdout;
    assert!(
        text.contains("restart nvidia-mig-manager.service (MIG manager)"),
        "{text}"
    );

    // Run it: the manager is restarted (a oneshot that already ran), fabric manager started, both after the load.
    let facts = facts_of(dir.path());
    let plan = make_plan(&facts, &diagnose(&facts), &PlanOptions::default()).unwrap();
    let host = SimHost(RefCell::new(Sim::from_facts(&facts)));
    let run = execute(&host, &plan, None, |_| {});
    assert_eq!(run.report.outcome, Outcome::Fixed, "{:#?}", run.report);
    let mut expected = full_run_commands();
    let persistenced = expected.len() - 1;
    expected.insert(
        persistenced,
        "systemctl restart nvidia-mig-manager.service".into(),
    );
    expected.push("systemctl start nvidia-fabricmanager.service".into());
    assert_eq!(run.commands, expected);

    // No MIG manager: the note says how to re-create them, and nothing is restarted.
    let dir = unpinned_incident();
    add_mig_instances(dir.path(), false);
    let (_, v) = dry_run_json(dir.path(), &[]);
    assert!(
        v["plan"]["notes"]
            .to_string()
            .contains("nvidia-mig-parted apply"),
        "{v}"
    );
    assert!(!kinds(&v).iter().any(|k| k.contains("mig")), "{v}");
}

#[test]
fn a_fabric_manager_left_behind_is_reported_and_not_started() {
    // Held at the old version: after the reload it would refuse to start.
    let dir = unpinned_incident();
    add_fabric_manager(dir.path(), "580.65.06-0ubuntu0.24.04.1", true);
    let run = nvfix(dir.path(), &["diagnose", "--json"]);
    let diagnosis = run.json();
    assert!(
        reason_codes(&diagnosis).contains(&"fabric-manager-version".to_string()),
        "{diagnosis}"
    );
    let first = diagnosis["next_steps"][0]["command"].to_string();
    assert!(
        first.contains("nvidia-fabricmanager-580=580.95.05-"),
        "installed before the reload: {diagnosis}"
    );
    let report = nvfix(dir.path(), &["diagnose"]).stdout;
    assert!(
        report.contains("fabric manager (nvidia-fabricmanager-580 580.65.06"),
        "{report}"
    );

    let (status, v) = dry_run_json(dir.path(), &[]);
    assert_eq!(status, 0, "{v}");
    assert!(
        !kinds(&v).iter().any(|k| k.contains("fabricmanager")),
        "{v}"
    );
    let notes = v["plan"]["notes"].to_string();
    assert!(
        notes.contains("not the new driver's version 580.95.05"),
        "{notes}"
    );
}

#[test]
fn module_timeout_is_bounded_by_the_parser() {
    let dir = unpinned_incident();
    for command in ["reload", "auto"] {
        for bad in ["0", "3601", "ten"] {
            let run = nvfix(dir.path(), &[command, "--dry-run", "--module-timeout", bad]);
            assert_eq!(run.status, 64, "{command} {bad}: {}", run.stderr);
            assert!(run.stderr.contains("--module-timeout"), "{}", run.stderr);
        }
        let run = nvfix(
            dir.path(),
            &[command, "--dry-run", "--module-timeout", "10"],
        );
        assert_ne!(run.status, 64, "{command}: {}", run.stderr);
    }
}
