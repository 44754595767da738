//! `nvfix auto` end to end: the binary's dry runs on fixture trees, and whole runs through the library API with a
//! recording command runner and a scripted reload engine (nothing real is ever run).

use crate::harness::{copy_fixture, fixture, nvfix, write_file};
use nvfix::commands::auto::{run_auto, AutoInput, AutoReport, ReloadEngine};
use nvfix::host::runner::{CommandOutput, RecordingRunner};
use nvfix::host::HostRoot;
use nvfix::model::auto::{ActionRecord, Outcome, ReloadResult};
use nvfix::model::plan::ReloadPlan;
use nvfix::model::playbook::{default_playbook, parse_playbook, Playbook};
use nvfix::model::reboot_state::RebootState;
use std::path::Path;

/// Tue 2023-11-14 22:13:20 UTC.
pub(crate) const NOW: i64 = 1_700_000_000;
pub(crate) const BOOT: &str = "6f1f2c1e-3b7a-4d3e-9a57-1c1f0b0e9d21";

pub(crate) fn playbook(name: &str) -> Playbook {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("playbooks/{name}.yaml"));
    parse_playbook(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn inline(yaml: &str) -> Playbook {
    parse_playbook(yaml).unwrap()
}

/// A reload engine that answers from a script and remembers the plans it was given.
pub(crate) struct Scripted {
    pub(crate) result: ReloadResult,
    pub(crate) plans: Vec<ReloadPlan>,
}

impl Scripted {
    pub(crate) fn new(result: ReloadResult) -> Self {
        Scripted {
            result,
            plans: Vec::new(),
        }
    }
}

impl ReloadEngine for Scripted {
    fn reload(&mut self, plan: &ReloadPlan) -> (ReloadResult, Vec<ActionRecord>) {
        self.plans.push(plan.clone());
        (
            self.result.clone(),
            vec![ActionRecord {
                kind: "reload".into(),
                label: "scripted reload".into(),
                command: None,
                ok: Some(self.result == ReloadResult::Verified),
                detail: String::new(),
            }],
        )
    }
}

pub(crate) fn input(root: &Path, playbook: Playbook, allow_reboot: bool) -> AutoInput {
    AutoInput {
        root: HostRoot::new(root),
        nvml_lib: None,
        playbook,
        playbook_source: "test".into(),
        allow_reboot,
        dry_run: false,
        now: NOW,
        live_probes: true,
        nvml_lock: Default::default(),
    }
}

pub(crate) fn run(
    input: &AutoInput,
    runner: &RecordingRunner,
    engine: &mut Scripted,
) -> AutoReport {
    let r = run_auto(input, runner, engine);
    assert_eq!(r.exit_status, r.outcome.exit_status());
    r
}

/// Sets a module's reference count in `/proc/modules` and sysfs, whatever the fixture had.
pub(crate) fn set_refcount(root: &Path, module: &str, count: u32) {
    write_file(
        root,
        &format!("/sys/module/{module}/refcnt"),
        format!("{count}\n").as_bytes(),
    );
    let modules = std::fs::read_to_string(root.join("proc/modules")).unwrap();
    let lines: Vec<String> = modules
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(' ').collect();
            if f.first() == Some(&module) && f.len() > 2 {
                let c = count.to_string();
                f[2] = &c;
                return f.join(" ");
            }
            l.to_string()
        })
        .collect();
    write_file(root, "/proc/modules", (lines.join("\n") + "\n").as_bytes());
}

/// The incident with nvidia_drm not pinned by the console, so a reload plan can run (the user's job still holds it).
pub(crate) fn reloadable_incident() -> tempfile::TempDir {
    let t = copy_fixture("incident");
    set_refcount(t.path(), "nvidia_drm", 0);
    write_file(t.path(), "/proc/sys/kernel/hostname", b"gpu07\n");
    t
}

/// …and with the user's job gone: only nvidia-persistenced holds the GPU.
pub(crate) fn idle_incident() -> tempfile::TempDir {
    let t = reloadable_incident();
    std::fs::remove_dir_all(t.path().join("proc/4242")).unwrap();
    set_refcount(t.path(), "nvidia_uvm", 0);
    // nvidia: one reference from each holder module (uvm, modeset) and two from persistenced's open devices.
    set_refcount(t.path(), "nvidia", 4);
    t
}

pub(crate) fn reboot_needed() -> tempfile::TempDir {
    let t = copy_fixture("reboot-needed");
    write_file(t.path(), "/proc/sys/kernel/hostname", b"gpu07\n");
    t
}

pub(crate) fn guard<'a>(
    r: &'a AutoReport,
    stage: &str,
    name: &str,
) -> &'a nvfix::model::guards::GuardResult {
    &r.guards
        .iter()
        .find(|g| g.stage == stage && g.guard.name == name)
        .unwrap_or_else(|| panic!("no {stage} guard {name}: {:#?}", r.guards))
        .guard
}

fn state(root: &Path) -> RebootState {
    nvfix::host::reboot::read_state(&HostRoot::new(root)).unwrap()
}

// ---- the binary, dry runs on the fixture trees ----

#[test]
fn dry_run_on_every_fixture_exits_as_documented() {
    for (scenario, args, status, outcome) in [
        ("healthy", vec![], 0, "healthy"),
        ("reboot-needed", vec![], 10, "reboot-required"),
        ("reboot-needed", vec!["--allow-reboot"], 0, "would-reboot"),
        ("repair-needed", vec!["--allow-reboot"], 69, "repair-needed"),
        ("no-nvidia", vec![], 69, "repair-needed"),
    ] {
        let mut a = vec!["auto", "--dry-run", "--json"];
        a.extend(args.iter());
        let run = nvfix(&fixture(scenario), &a);
        assert_eq!(
            run.status, status,
            "{scenario} {args:?}: {}{}",
            run.stdout, run.stderr
        );
        let v = run.json();
        assert_eq!(v["schema"], "nvfix.auto/v1");
        assert_eq!(v["dry_run"], true);
        assert_eq!(v["outcome"], outcome, "{scenario}");
        assert_eq!(v["exit_status"], status);
        assert!(v["detection"]["verdict"].is_string());
        assert!(v["guards"].is_array() && v["actions"].is_array() && v["plan"].is_array());
    }
}

#[test]
fn incident_defers_for_the_users_job_or_needs_a_reboot_when_drm_is_pinned() {
    let t = reloadable_incident();
    let run = nvfix(t.path(), &["auto", "--dry-run", "--json"]);
    assert_eq!(run.status, 75, "{}", run.stdout);
    let v = run.json();
    assert_eq!(v["outcome"], "deferred");
    let busy = v["guards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "gpu-busy")
        .unwrap();
    assert_eq!(busy["block"], "defer");
    // The console pins nvidia_drm (modeset=1, fbdev=1): the plan cannot run, and only a reboot helps.
    set_refcount(t.path(), "nvidia_drm", 2);
    let run = nvfix(t.path(), &["auto", "--dry-run", "--json"]);
    assert_eq!(run.status, 10, "{}", run.stdout);
    assert_eq!(run.json()["outcome"], "reboot-required");
}

#[test]
fn dry_run_reboot_reports_each_guard_and_the_command() {
    let run = nvfix(
        &fixture("reboot-needed"),
        &["auto", "--dry-run", "--json", "--allow-reboot"],
    );
    let v = run.json();
    let names: Vec<&str> = v["guards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "next-boot-module",
            "package-manager-idle",
            "shutdown-inhibitors",
            "gpu-holders",
            "reboot-loop",
            "maintenance-window"
        ]
    );
    assert_eq!(v["reboot"]["next_boot"]["kernel"], "6.8.0-87-generic");
    let cmd = v["reboot"]["command"].as_str().unwrap();
    assert!(
        cmd.starts_with("shutdown -r +5 \"nvfix: rebooting into kernel 6.8.0-87-generic"),
        "{cmd}"
    );
    let action = &v["actions"][0];
    assert_eq!(action["kind"], "schedule-reboot");
    assert_eq!(
        action["ok"],
        serde_json::Value::Null,
        "a dry run runs nothing"
    );
    assert!(
        !fixture("reboot-needed").join("var/lib/nvfix").exists(),
        "a dry run writes nothing"
    );
}

#[test]
fn text_report_names_the_outcome_and_exit_status() {
    let run = nvfix(&fixture("reboot-needed"), &["auto", "--dry-run"]);
    assert_eq!(run.status, 10);
    assert!(
        run.stdout.contains("Outcome: reboot-required"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("(exit 10)"), "{}", run.stdout);
}

#[test]
fn acting_on_a_fixture_tree_is_refused() {
    let run = nvfix(&fixture("reboot-needed"), &["auto", "--allow-reboot"]);
    assert_eq!(run.status, 64, "{}", run.stderr);
    assert!(
        run.stderr.contains("only works with --dry-run"),
        "{}",
        run.stderr
    );
}

#[test]
fn playbook_errors_exit_78_and_name_the_position() {
    let t = tempfile::tempdir().unwrap();
    let bad = t.path().join("bad.yaml");
    std::fs::write(&bad, "version: 1\nreboot:\n  alowed: true\n").unwrap();
    let run = nvfix(
        &fixture("healthy"),
        &["auto", "--dry-run", "--playbook", bad.to_str().unwrap()],
    );
    assert_eq!(run.status, 78, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{}:3:3: reboot: unknown field `alowed`",
            bad.display()
        )),
        "{}",
        run.stderr
    );
    std::fs::write(&bad, "version: 1\nreboot: {allowed: true\n").unwrap();
    let run = nvfix(
        &fixture("healthy"),
        &["auto", "--dry-run", "--playbook", bad.to_str().unwrap()],
    );
    assert_eq!(
        run.status, 78,
        "not YAML is a playbook error too: {}",
        run.stderr
    );
    let run = nvfix(
        &fixture("healthy"),
        &["auto", "--dry-run", "--playbook", "/nonexistent.yaml"],
    );
    assert_eq!(run.status, 66);
}

#[test]
fn driver_container_is_refused() {
    let t = copy_fixture("incident");
    std::fs::create_dir_all(t.path().join("run/nvidia/driver")).unwrap();
    let run = nvfix(t.path(), &["auto", "--dry-run", "--json"]);
    assert_eq!(run.status, 77, "{}", run.stdout);
    assert_eq!(run.json()["outcome"], "refused");
}

// ---- whole runs through the library API ----

#[test]
fn reload_fixes_and_verifies() {
    let t = idle_incident();
    let runner = RecordingRunner::new();
    let mut engine = Scripted::new(ReloadResult::Verified);
    let r = run(
        &input(t.path(), default_playbook(), false),
        &runner,
        &mut engine,
    );
    assert_eq!(r.outcome, Outcome::Fixed, "{}", r.message);
    assert_eq!(r.exit_status, 0);
    assert_eq!(engine.plans.len(), 1);
    assert_eq!(
        engine.plans[0].services,
        vec!["nvidia-persistenced.service"]
    );
    assert!(!engine.plans[0].kill, "the default playbook never SIGKILLs");
    assert!(
        runner.commands().is_empty(),
        "no hooks, no reboot: {:?}",
        runner.commands()
    );
    assert_eq!(r.plan[0].stage, "reload");
}

#[test]
fn busy_gpu_defers_the_reload() {
    let t = reloadable_incident();
    // (slurm-node and kubernetes-node quarantine the node instead: tests/integration/quarantine.rs.)
    for name in ["default", "workstation"] {
        let runner = RecordingRunner::new();
        let mut engine = Scripted::new(ReloadResult::Verified);
        let pb = playbook(name);
        let r = run(&input(t.path(), pb, false), &runner, &mut engine);
        assert_eq!(r.outcome, Outcome::Deferred, "{name}: {}", r.message);
        assert_eq!(r.exit_status, 75);
        assert!(
            guard(&r, "reload", "gpu-busy").message.contains("alice"),
            "{name}"
        );
        assert!(engine.plans.is_empty(), "{name}: nothing may run");
        assert!(
            runner.commands().is_empty(),
            "{name}: {:?}",
            runner.commands()
        );
    }
}

#[test]
fn dedicated_node_terminates_jobs_with_sigkill_allowed() {
    let t = reloadable_incident();
    let runner = RecordingRunner::new();
    let mut engine = Scripted::new(ReloadResult::Verified);
    let r = run(
        &input(t.path(), playbook("dedicated-node"), false),
        &runner,
        &mut engine,
    );
    assert_eq!(r.outcome, Outcome::Fixed, "{}", r.message);
    let plan = &engine.plans[0];
    assert!(plan.kill);
    assert_eq!(plan.grace_secs, 60);
    assert_eq!(
        plan.processes.iter().map(|p| p.pid).collect::<Vec<_>>(),
        vec![4242]
    );
}

#[test]
fn never_kill_protects_a_user_even_where_jobs_may_be_terminated() {
    let t = reloadable_incident();
    let pb = inline("version: 1\nreload:\n  stop_services: ['nvidia-*']\n  allow_user_processes: true\n  max_holders_to_stop: 5\n  never_kill: {users: [alice]}\n");
    let mut engine = Scripted::new(ReloadResult::Verified);
    let r = run(
        &input(t.path(), pb, false),
        &RecordingRunner::new(),
        &mut engine,
    );
    assert_eq!(r.exit_status, 75);
    assert!(guard(&r, "reload", "gpu-busy")
        .message
        .contains("never_kill `alice`"));
    assert!(engine.plans.is_empty());
}

#[test]
fn failed_reload_exits_1_or_falls_back_to_an_allowed_reboot() {
    let t = idle_incident();
    let failed = ReloadResult::FailedRestored("modprobe nvidia failed".into());
    let runner = RecordingRunner::new();
    let r = run(
        &input(t.path(), default_playbook(), false),
        &runner,
        &mut Scripted::new(failed.clone()),
    );
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.exit_status, 1);
    assert!(runner.commands().is_empty());

    let runner = RecordingRunner::new();
    let r = run(
        &input(t.path(), default_playbook(), true),
        &runner,
        &mut Scripted::new(failed),
    );
    assert_eq!(r.outcome, Outcome::RebootScheduled, "{}", r.message);
    assert_eq!(r.exit_status, 11);
    let cmds = runner.commands();
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert_eq!(cmds[0], "dpkg --audit");
    assert!(
        cmds[1].starts_with("shutdown -r +5 \"nvfix: rebooting into kernel 6.8.0-85-generic"),
        "{cmds:?}"
    );
    let stages: Vec<&str> = r.plan.iter().map(|p| p.stage).collect();
    assert_eq!(stages, vec!["reload", "reboot"]);
}

#[test]
fn engine_refusals_pass_their_status_through() {
    let t = idle_incident();
    let r = run(
        &input(t.path(), default_playbook(), false),
        &RecordingRunner::new(),
        &mut Scripted::new(ReloadResult::Refused(75, "another nvfix is running".into())),
    );
    assert_eq!(r.exit_status, 75);
    let r = run(
        &input(t.path(), default_playbook(), false),
        &RecordingRunner::new(),
        &mut Scripted::new(ReloadResult::Refused(69, "nvidia is stuck in going".into())),
    );
    assert_eq!(r.outcome, Outcome::RebootRequired);
    assert_eq!(r.exit_status, 10);
}

#[test]
fn reboot_is_scheduled_recorded_and_not_repeated() {
    let t = reboot_needed();
    let runner = RecordingRunner::new();
    let mut engine = Scripted::new(ReloadResult::Verified);
    let r = run(
        &input(t.path(), default_playbook(), true),
        &runner,
        &mut engine,
    );
    assert_eq!(r.outcome, Outcome::RebootScheduled, "{}", r.message);
    assert_eq!(r.exit_status, 11);
    assert_eq!(
        runner.commands(),
        vec![
            "dpkg --audit".to_string(),
            "shutdown -r +5 \"nvfix: rebooting into kernel 6.8.0-87-generic to load NVIDIA driver 580.95.05; cancel with: nvfix reboot --cancel\"".to_string(),
        ]
    );
    let s = state(t.path());
    assert_eq!(s.reboots.len(), 1);
    assert_eq!(
        s.reboots[0].boot_id, BOOT,
        "the pre-reboot boot id is recorded"
    );
    assert_eq!(
        s.reboots[0].next_kernel.as_deref(),
        Some("6.8.0-87-generic")
    );
    assert_eq!(s.reboots[0].expected_version.as_deref(), Some("580.95.05"));
    assert!(engine.plans.is_empty());

    // Run again before the reboot: it is pending, nothing new is scheduled.
    let again = RecordingRunner::new();
    let r = run(
        &input(t.path(), default_playbook(), true),
        &again,
        &mut engine,
    );
    assert_eq!(r.outcome, Outcome::RebootPending);
    assert_eq!(r.exit_status, 11);
    assert!(again.commands().is_empty(), "{:?}", again.commands());
    assert_eq!(state(t.path()).reboots.len(), 1);
}

#[test]
fn reboot_without_authorisation_exits_10_and_yes_is_not_authorisation() {
    let t = reboot_needed();
    let runner = RecordingRunner::new();
    let r = run(
        &input(t.path(), default_playbook(), false),
        &runner,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert_eq!(r.outcome, Outcome::RebootRequired);
    assert_eq!(r.exit_status, 10);
    assert!(runner.commands().is_empty());
    // The CLI has no --yes for auto at all: only --allow-reboot or the playbook authorise a reboot.
    let run = nvfix(&fixture("reboot-needed"), &["auto", "--dry-run", "--yes"]);
    assert_eq!(run.status, 64, "{}", run.stderr);
}

#[test]
fn slurm_hands_the_reboot_to_slurm() {
    let t = reboot_needed();
    let runner = RecordingRunner::new();
    let r = run(
        &input(t.path(), playbook("slurm-node"), false),
        &runner,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert_eq!(r.outcome, Outcome::RebootHandedOff, "{}", r.message);
    assert_eq!(r.exit_status, 11);
    assert_eq!(
        runner.commands().last().unwrap(),
        "/usr/bin/scontrol reboot ASAP nextstate=RESUME \"reason=nvfix: NVIDIA driver/library mismatch\" gpu07"
    );
    assert_eq!(state(t.path()).reboots[0].method, "handoff");
}

#[test]
fn a_reboot_that_fixed_nothing_is_not_repeated() {
    let t = reboot_needed();
    run(
        &input(t.path(), default_playbook(), true),
        &RecordingRunner::new(),
        &mut Scripted::new(ReloadResult::Verified),
    );
    // The host came back on a new boot, still broken.
    write_file(
        t.path(),
        "/proc/sys/kernel/random/boot_id",
        b"99999999-2222-3333-4444-555555555555\n",
    );
    let mut inp = input(t.path(), default_playbook(), true);
    inp.now += 900;
    let runner = RecordingRunner::new();
    let r = run(&inp, &runner, &mut Scripted::new(ReloadResult::Verified));
    assert_eq!(r.outcome, Outcome::RepairNeeded, "{}", r.message);
    assert_eq!(r.exit_status, 69);
    assert!(!r.detection.after_reboot.as_ref().unwrap().verified);
    assert!(guard(&r, "reboot", "reboot-loop")
        .message
        .contains("did not fix"));
    assert!(!runner.commands().iter().any(|c| c.starts_with("shutdown")));
}

#[test]
fn reboot_guards_block_on_the_live_state_of_the_tree() {
    // The next boot would load the old module again: GRUB is pinned to the running kernel.
    let t = reboot_needed();
    write_file(t.path(), "/etc/default/grub", b"GRUB_DEFAULT=saved\n");
    write_file(
        t.path(),
        "/boot/grub/grubenv",
        b"# GRUB Environment Block\nsaved_entry=Advanced options for Ubuntu>Ubuntu, with Linux 6.8.0-85-generic\n",
    );
    write_file(t.path(), "/boot/vmlinuz-6.8.0-85-generic", b"");
    write_file(t.path(), "/boot/vmlinuz-6.8.0-87-generic", b"");
    let runner = RecordingRunner::new();
    let r = run(
        &input(t.path(), default_playbook(), true),
        &runner,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert_eq!(r.exit_status, 69, "{}", r.message);
    assert!(guard(&r, "reboot", "next-boot-module")
        .message
        .contains("6.8.0-85-generic"));
    assert!(!runner.commands().iter().any(|c| c.starts_with("shutdown")));

    // dpkg --audit finds a half-configured package.
    let t = reboot_needed();
    let runner = RecordingRunner::new();
    runner.respond(
        "dpkg --audit",
        CommandOutput {
            status: 0,
            stdout: "The following packages are only half configured, probably due to problems\n nvidia-dkms-580\n".into(),
            stderr: String::new(),
        },
    );
    let r = run(
        &input(t.path(), default_playbook(), true),
        &runner,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert_eq!(r.exit_status, 69);
    assert!(guard(&r, "reboot", "package-manager-idle")
        .message
        .contains("dpkg --configure -a"));

    // A block-mode shutdown inhibitor.
    let t = reboot_needed();
    std::fs::create_dir_all(t.path().join("run/systemd/system")).unwrap();
    let runner = RecordingRunner::new();
    runner.respond(
        "systemd-inhibit --list",
        CommandOutput {
            status: 0,
            stdout: "WHO    UID USER PID  COMM  WHAT     WHY            MODE\nbackup 0   root 4000 rsync shutdown Nightly backup block\n\n1 inhibitors listed.\n".into(),
            stderr: String::new(),
        },
    );
    let r = run(
        &input(t.path(), default_playbook(), true),
        &runner,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert_eq!(r.exit_status, 75, "{}", r.message);
    assert!(guard(&r, "reboot", "shutdown-inhibitors")
        .message
        .contains("Nightly backup"));
    assert!(!runner.commands().iter().any(|c| c.starts_with("shutdown")));

    // A user process holds the GPU and the playbook does not let a reboot cut it off.
    let t = reboot_needed();
    let inc = fixture("incident");
    copy_dir(&inc.join("proc/4242"), &t.path().join("proc/4242"));
    let runner = RecordingRunner::new();
    let r = run(
        &input(t.path(), default_playbook(), true),
        &runner,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert_eq!(r.exit_status, 75, "{}", r.message);
    assert!(guard(&r, "reboot", "gpu-holders")
        .message
        .contains("python3 (pid 4242, alice)"));
}

#[test]
fn a_held_dpkg_lock_defers_the_reboot() {
    use std::os::fd::AsRawFd;
    let t = reboot_needed();
    write_file(t.path(), "/var/lib/dpkg/lock-frontend", b"");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(t.path().join("var/lib/dpkg/lock-frontend"))
        .unwrap();
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    assert_eq!(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &fl) }, 0);
    // The binary, a separate process, sees the lock (checked first: closing any descriptor of the file, as the
    // in-process probe below does, drops this process's classic fcntl locks).
    let cli = nvfix(t.path(), &["auto", "--dry-run", "--allow-reboot", "--json"]);
    assert_eq!(cli.status, 75, "{}", cli.stdout);
    let runner = RecordingRunner::new();
    let r = run(
        &input(t.path(), default_playbook(), true),
        &runner,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert_eq!(r.exit_status, 75, "{}", r.message);
    assert!(guard(&r, "reboot", "package-manager-idle")
        .message
        .contains("/var/lib/dpkg/lock-frontend"));
    drop(f);
}

#[test]
fn the_loop_guard_allows_n_reboots_a_day() {
    let t = reboot_needed();
    let pb = inline("version: 1\nreboot: {allowed: true, max_per_24h: 1, delay_minutes: 1}\n");
    let r = run(
        &input(t.path(), pb.clone(), false),
        &RecordingRunner::new(),
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert_eq!(r.exit_status, 11);
    // The reboot never happened (cancelled by hand outside nvfix): an hour later, still the same boot.
    let mut inp = input(t.path(), pb, false);
    inp.now += 3600;
    let runner = RecordingRunner::new();
    let r = run(&inp, &runner, &mut Scripted::new(ReloadResult::Verified));
    assert_eq!(r.exit_status, 75, "{}", r.message);
    assert!(guard(&r, "reboot", "reboot-loop")
        .message
        .contains("1 time(s) in the last 24 hours"));
    assert!(!runner.commands().iter().any(|c| c.starts_with("shutdown")));
}

#[test]
fn garbled_reboot_record_fails_closed() {
    let t = reboot_needed();
    write_file(
        t.path(),
        "/var/lib/nvfix/reboots.json",
        b"{\"format\": 1, \"reb",
    );
    let runner = RecordingRunner::new();
    let r = run(
        &input(t.path(), default_playbook(), true),
        &runner,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert_eq!(r.exit_status, 75);
    assert!(!runner.commands().iter().any(|c| c.starts_with("shutdown")));
}

#[test]
fn expected_gpu_count_is_checked_on_a_healthy_host() {
    let pb = inline("version: 1\nverify: {gpu_count: 8}\n");
    let r = run(
        &input(&fixture("healthy"), pb, false),
        &RecordingRunner::new(),
        &mut Scripted::new(ReloadResult::Verified),
    );
    // NVML is not probed on fixture trees: the count cannot be confirmed, which a runbook must hear about.
    assert_eq!(r.exit_status, 69);
    assert!(r.message.contains("expects 8"), "{}", r.message);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        let dest = to.join(e.file_name());
        if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), dest).unwrap();
        } else if ty.is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}
