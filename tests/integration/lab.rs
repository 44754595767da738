//! QEMU lab scenarios: boot Debian's kernel with stand-in NVIDIA modules and run real kmod and nvfix inside it.
//!
//! Each test runs `tests/lab/lab.sh run <scenario>` (after one `lab.sh prepare` per test binary) and asserts on the
//! guest's final state, which the guest leaves on its 9p disk under `tests/lab/build/disks/<scenario>/lab/results/`.
//! Scenarios run one at a time: each boots a whole emulated machine, and CI has two cores.
//! When the lab cannot be prepared (no QEMU, no network for the kernel) these tests fail; they never skip.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

#[path = "lab_debian.rs"]
mod debian;

fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab")
}

/// Runs `tests/lab/lab.sh <command>` (`prepare` or `prepare-debian`); the error holds its output.
fn run_prepare(command: &str) -> Result<(), String> {
    let out = Command::new(lab_dir().join("lab.sh"))
        .arg(command)
        .output()
        .map_err(|e| format!("cannot run tests/lab/lab.sh: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tests/lab/lab.sh {command} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs `lab.sh prepare` once per test binary.
fn prepared() -> &'static Result<(), String> {
    static PREPARED: OnceLock<Result<(), String>> = OnceLock::new();
    PREPARED.get_or_init(|| run_prepare("prepare"))
}

/// One finished scenario: whether the guest reported success, its console, and its results folder.
struct Scenario {
    name: String,
    passed: bool,
    host_output: String,
    log: String,
    results: PathBuf,
}

/// Runs `lab.sh prepare-debian` once per test binary (the busybox lab's `prepare`, the stand-in driver's packages and
/// the Debian guest image, cached under tests/lab/cache).
fn debian_prepared() -> &'static Result<(), String> {
    static PREPARED: OnceLock<Result<(), String>> = OnceLock::new();
    PREPARED.get_or_init(|| run_prepare("prepare-debian"))
}

/// Boots a scenario (serialised with the others) and collects what it left behind.
fn run_scenario(name: &str) -> Scenario {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    // Preparing is serialised too: the Debian image build and `prepare` share the build folder.
    let prepare_turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let ready = if name.starts_with("debian-") {
        debian_prepared()
    } else {
        prepared()
    };
    drop(prepare_turn);
    if let Err(e) = ready {
        panic!("the QEMU lab could not be prepared, so scenario {name} cannot run:\n{e}");
    }
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let out = Command::new(lab_dir().join("lab.sh"))
        .args(["run", name])
        .env("NVFIX_BIN", env!("CARGO_BIN_EXE_nvfix"))
        .output()
        .expect("run tests/lab/lab.sh");
    let log_path = lab_dir().join("build/logs").join(format!("{name}.log"));
    Scenario {
        name: name.to_string(),
        passed: out.status.success(),
        host_output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        log: fs::read_to_string(&log_path)
            .unwrap_or_else(|e| format!("(no console log at {}: {e})", log_path.display())),
        results: lab_dir().join("build/disks").join(name).join("lab/results"),
    }
}

impl Scenario {
    /// The last lines of the console, for failure messages.
    fn tail(&self) -> String {
        let lines: Vec<&str> = self.log.lines().collect();
        let start = lines.len().saturating_sub(80);
        lines[start..].join("\n")
    }

    /// Panics, showing the console's tail, unless the guest reported success.
    fn assert_passed(&self) {
        assert!(
            self.passed,
            "lab scenario {} failed: {}\n---- console tail (tests/lab/build/logs/{}.log) ----\n{}",
            self.name,
            self.host_output.trim(),
            self.name,
            self.tail()
        );
    }

    /// A result file the guest wrote (trimmed).
    fn result(&self, key: &str) -> String {
        match fs::read_to_string(self.results.join(key)) {
            Ok(s) => s.trim_end().to_string(),
            Err(e) => panic!(
                "scenario {}: no result {key} ({e})\n---- console tail ----\n{}",
                self.name,
                self.tail()
            ),
        }
    }

    /// Loaded NVIDIA modules at the end of the last boot, as (name, version) pairs.
    fn final_versions(&self) -> Vec<(String, String)> {
        self.result("final/versions")
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((f.next()?.to_string(), f.next()?.to_string()))
            })
            .collect()
    }

    /// Asserts that exactly `modules` are loaded, all at `version`.
    fn assert_stack(&self, modules: &[&str], version: &str) {
        let want: Vec<(String, String)> = modules
            .iter()
            .map(|m| (m.to_string(), version.to_string()))
            .collect();
        let mut got = self.final_versions();
        got.sort();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(
            got,
            want_sorted,
            "scenario {}: loaded modules\n{}",
            self.name,
            self.tail()
        );
    }

    fn console_contains(&self, needle: &str) -> bool {
        self.log.contains(needle)
    }
}

const V1: &str = "580.65.06";
const V2: &str = "580.95.05";
const STACK: [&str; 4] = ["nvidia", "nvidia_uvm", "nvidia_modeset", "nvidia_drm"];

#[test]
fn lab_boot_loads_the_v1_stack() {
    let s = run_scenario("boot");
    s.assert_passed();
    s.assert_stack(&STACK, V1);
    assert!(s.result("final/proc-version").starts_with(&format!(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  {V1}  "
    )));
}

#[test]
fn lab_partial_unload_stops_at_nvidia_in_use() {
    let s = run_scenario("partial-unload");
    s.assert_passed();
    assert_eq!(s.result("after-modprobe-r"), "nvidia");
    assert!(s
        .result("modprobe-r-output")
        .contains("modprobe: FATAL: Module nvidia is in use."));
    // The scenario reloads the stack after the partial unload; the holder is still there.
    s.assert_stack(&STACK, V1);
    assert!(s.result("final/ps").contains("cuda-app"), "{}", s.tail());
}

#[test]
fn lab_new_modeset_refuses_old_nvidia() {
    let s = run_scenario("modeset-refuses");
    s.assert_passed();
    s.assert_stack(&["nvidia"], V1);
    assert!(s.result("final/dmesg").contains(&format!(
        "nvidia-modeset: Version mismatch: nvidia.ko({V1}) nvidia-modeset.ko({V2})"
    )));
}

#[test]
fn lab_pinned_drm_cannot_be_removed() {
    let s = run_scenario("pinned");
    s.assert_passed();
    s.assert_stack(&STACK, V1);
    assert!(
        s.console_contains("modprobe: FATAL: Module nvidia_drm is in use."),
        "{}",
        s.tail()
    );
}

#[test]
fn lab_reboot_boots_the_upgrade_from_disk() {
    let s = run_scenario("reboot");
    s.assert_passed();
    assert_eq!(s.result("final/boots"), "2");
    assert_eq!(s.result("boot1-loaded-version"), V1);
    assert!(
        s.console_contains("reboot: Restarting system"),
        "{}",
        s.tail()
    );
    s.assert_stack(&STACK, V2);
}

#[test]
fn lab_diagnose_prints_json_with_a_verdict() {
    let s = run_scenario("diagnose");
    s.assert_passed();
    let out = s.result("diagnose.out");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!(
            "nvfix diagnose --json in the guest printed no JSON ({e}):\n{out}\n{}",
            s.tail()
        )
    });
    // v1 loaded by the real kernel, v2 modules and library on disk: the incident, read from a real /proc and /sys.
    assert_eq!(json["verdict"], "version-mismatch", "{json}");
    assert_eq!(json["action"], "reload", "{json}");
    assert_eq!(json["loaded_module"]["version"], V1, "{json}");
    assert_eq!(json["library"]["version"], V2, "{json}");
    assert_eq!(json["installed_module"]["version"], V2, "{json}");
    s.assert_stack(&STACK, V1);
}

#[test]
fn lab_real_nvidia_smi_reports_the_mismatch() {
    let s = run_scenario("real-nvml");
    s.assert_passed();
    assert_eq!(s.result("nvidia-smi-status"), "18");
    assert!(s
        .result("nvidia-smi-output")
        .contains("Failed to initialize NVML: Driver/library version mismatch"));
    assert!(s
        .result("final/dmesg")
        .contains("NVRM: API mismatch: the client 'nvidia-smi'"));
}

#[test]
fn lab_real_nvml_diagnose_reports_code_18() {
    let s = run_scenario("real-nvml-diagnose");
    s.assert_passed();
    let json: serde_json::Value = serde_json::from_str(&s.result("diagnose.out"))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.tail()));
    assert_eq!(json["nvml"]["code"], 18, "{json}");
}

// Reload-engine scenarios: the real `nvfix reload`, `reload --resume`, `verify` and `reboot` inside the guest.

impl Scenario {
    /// A result nvfix printed as JSON (`<key>.out`).
    fn json(&self, key: &str) -> serde_json::Value {
        let text = self.result(&format!("{key}.out"));
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "scenario {}: {key}.out is not JSON ({e}):\n{text}\n---- console tail ----\n{}",
                self.name,
                self.tail()
            )
        })
    }

    /// nvfix's exit status for a result key.
    fn status(&self, key: &str) -> i32 {
        let s = self.result(&format!("{key}.status"));
        s.parse()
            .unwrap_or_else(|_| panic!("scenario {}: {key}.status is {s:?}", self.name))
    }

    /// How many times the guest's kernel loaded the stand-in nvidia module (each load logs one line).
    fn nvidia_loads(&self) -> usize {
        self.result("final/dmesg")
            .matches("nvidia: loading stand-in")
            .count()
    }
}

#[test]
fn lab_incident_reload_fixes_the_mismatch() {
    let s = run_scenario("incident");
    s.assert_passed();
    let before = s.json("diagnose-before");
    assert_eq!(before["verdict"], "version-mismatch", "{before}");
    assert_eq!(before["action"], "reload", "{before}");
    assert_eq!(before["nvml"]["code"], 18, "{before}");
    assert_eq!(s.status("reload"), 0);
    let reload = s.json("reload");
    assert_eq!(reload["outcome"], "fixed", "{reload}");
    assert_eq!(reload["verify"]["verified"], true, "{reload}");
    let actions: Vec<&str> = reload["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for holder in ["cuda-app", "uvm-app"] {
        assert!(
            actions
                .iter()
                .any(|a| a.starts_with("signal Term → pid") && a.contains(holder)),
            "{holder} was not terminated: {actions:?}"
        );
    }
    assert_eq!(s.status("verify"), 0);
    assert_eq!(s.json("verify")["verified"], true);
    let after = s.json("diagnose-after");
    assert_eq!(after["verdict"], "healthy", "{after}");
    assert_eq!(after["nvml"]["status"], "ok", "{after}");
    assert_eq!(after["nvml"]["driver_version"], V2, "{after}");
    s.assert_stack(&STACK, V2);
    assert!(s
        .result("final/proc-version")
        .contains(&format!("Kernel Module  {V2}  ")));
    let ps = s.result("final/ps");
    assert!(!ps.contains("cuda-app") && !ps.contains("uvm-app"), "{ps}");
    assert_eq!(s.nvidia_loads(), 2, "loaded v1, then v2 once");
}

#[test]
fn lab_killed_midway_resume_restores_the_stack() {
    let s = run_scenario("killed-midway");
    s.assert_passed();
    // The journal the SIGKILLed run left: every module out, none loaded yet.
    let journal: serde_json::Value = serde_json::from_str(&s.result("journal-after-kill"))
        .unwrap_or_else(|e| panic!("journal after the kill is not JSON: {e}\n{}", s.tail()));
    let unloaded = journal["unloaded"].to_string();
    for m in STACK {
        assert!(
            unloaded.contains(&format!("\"{m}\"")),
            "{m} not journaled as unloaded: {journal}"
        );
    }
    assert_eq!(journal["loaded"], serde_json::json!([]), "{journal}");
    assert_eq!(s.status("resume"), 0);
    let resume = s.json("resume");
    assert_eq!(resume["outcome"], "resumed", "{resume}");
    assert_eq!(resume["verify"]["verified"], true, "{resume}");
    assert_eq!(s.status("verify"), 0);
    s.assert_stack(&STACK, V2);
    assert!(
        !s.result("final/ps").contains(" T "),
        "a process was left stopped"
    );
}

#[test]
fn lab_respawning_holder_leaves_no_partial_stack() {
    let s = run_scenario("respawn");
    s.assert_passed();
    assert_eq!(s.status("reload"), 1);
    let reload = s.json("reload");
    assert_eq!(reload["outcome"], "restored", "{reload}");
    let reason = reload["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("still in use right before unloading")
            && reason.contains("cuda-worker")
            && reason.contains("dcgm-exporter"),
        "{reason}"
    );
    assert!(
        !reload["actions"].to_string().contains("modprobe"),
        "nothing may be unloaded or loaded: {reload}"
    );
    s.assert_stack(&STACK, V1);
    assert_eq!(s.nvidia_loads(), 1);
    assert_ne!(s.result("holders-after"), s.result("holders-before"));
    assert!(s.result("final/ps").contains("dcgm-exporter"));
}

#[test]
fn lab_old_module_on_disk_unloads_nothing() {
    let s = run_scenario("old-on-disk");
    s.assert_passed();
    assert_eq!(s.json("diagnose")["verdict"], "version-mismatch");
    assert_ne!(s.json("diagnose")["action"], "reload");
    assert_eq!(s.status("reload"), 69);
    assert_eq!(s.json("reload")["status"], "refused");
    assert_eq!(s.status("reload-text"), 69);
    s.assert_stack(&STACK, V1);
    assert_eq!(s.nvidia_loads(), 1);
    assert!(s.result("final/ps").contains("cuda-app"));
}

#[test]
fn lab_healthy_host_is_left_alone() {
    let s = run_scenario("healthy");
    s.assert_passed();
    assert_eq!(s.json("diagnose")["verdict"], "healthy");
    assert_eq!(s.status("reload"), 0);
    assert!(
        format!("{}{}", s.result("reload.out"), s.result("reload.err")).contains("nothing to do")
    );
    assert_eq!(s.json("reload-json")["status"], "nothing-to-do");
    assert_eq!(s.status("verify"), 0);
    s.assert_stack(&STACK, V2);
    assert_eq!(s.nvidia_loads(), 1);
    assert!(s.result("final/ps").contains("cuda-app"));
}

#[test]
fn lab_pinned_reload_refuses_then_reboots() {
    let s = run_scenario("pinned-reload");
    s.assert_passed();
    assert_eq!(s.status("reload"), 69);
    let reload = s.json("reload");
    let reason = reload["refusal"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("reboot required") && reason.contains("nvidia_drm"),
        "{reload}"
    );
    assert_eq!(reload["refusal"]["hint"], "sudo nvfix reboot");
    assert_eq!(
        s.result("boot1-stack"),
        format!("nvidia={V1} nvidia_uvm={V1} nvidia_modeset={V1} nvidia_drm={V1}")
    );
    assert_eq!(s.json("reboot-dry-run")["outcome"], "would-reboot");
    assert!(
        s.console_contains("reboot: Restarting system"),
        "{}",
        s.tail()
    );
    assert_eq!(s.result("final/boots"), "2");
    assert_eq!(s.json("diagnose")["verdict"], "healthy");
    assert_eq!(s.status("verify"), 0);
    s.assert_stack(&STACK, V2);
    // nvfix recorded the reboot before it set it in motion (the loop guard counts it).
    let record =
        fs::read_to_string(lab_dir().join("build/disks/pinned-reload/var/lib/nvfix/reboots.json"))
            .expect("nvfix's reboot record on the guest's disk");
    assert!(
        record.contains(&format!("\"expected_version\": \"{V2}\"")),
        "{record}"
    );
}

#[test]
fn lab_interactive_reload_on_a_terminal() {
    let s = run_scenario("interactive");
    s.assert_passed();
    assert_eq!(s.result("interactive-status"), "0");
    let screen = s.result("interactive.txt");
    for shown in [
        "version-mismatch",
        "Reload plan: NVIDIA 580.65.06 → 580.95.05",
        "Terminate (SIGTERM) these 2 process(es)?",
        "from disk (driver 580.95.05)? yes",
        "FIXED: the new driver is loaded and verified.",
    ] {
        assert!(
            screen.contains(shown),
            "{shown:?} not on the screen:\n{screen}"
        );
    }
    s.assert_stack(&STACK, V2);
}

// Issue 10: never leave a host worse. Each scenario shows the real kernel's behaviour first (the kernel-side results
// below), then what nvfix must do about it: refuse before stopping anything (pre-flight), give up on a module exit
// that never returns, or defer to a running reload.

impl Scenario {
    /// nvfix's stdout and stderr for a result key, together (text output: the wording may go to either).
    fn said(&self, key: &str) -> String {
        format!(
            "{}\n{}",
            self.result(&format!("{key}.out")),
            self.result(&format!("{key}.err"))
        )
    }

    /// After a refusal: the whole v1 stack is loaded with the load stamps it had before nvfix ran (never unloaded
    /// and loaded again), the kernel loaded nvidia once, and `holder` still runs.
    fn assert_old_stack_kept(&self, holder: &str) {
        self.assert_stack(&STACK, V1);
        assert_eq!(
            self.result("final/stamps"),
            self.result("stamps-before"),
            "scenario {}: the v1 stack was reloaded\n{}",
            self.name,
            self.tail()
        );
        assert_eq!(self.nvidia_loads(), 1);
        assert!(self
            .result("final/proc-version")
            .contains(&format!("Kernel Module  {V1}  ")));
        assert!(
            self.result("final/ps").contains(holder),
            "{holder} was stopped"
        );
    }

    /// Asserts `nvfix diagnose --json` (result `diagnose`) says repair, with a reason of the finding `code` whose
    /// evidence names `evidence` (a file).
    fn assert_diagnose_repair(&self, code: &str, evidence: &str) {
        let diagnose = self.json("diagnose");
        assert_eq!(diagnose["action"], "repair", "{diagnose}");
        let reasons: Vec<&serde_json::Value> = diagnose["reasons"]
            .as_array()
            .map(|r| r.iter().filter(|r| r["code"] == code).collect())
            .unwrap_or_default();
        assert!(!reasons.is_empty(), "no {code} reason: {diagnose}");
        assert!(
            reasons.iter().any(|r| r.to_string().contains(evidence)),
            "no {code} reason names {evidence}: {reasons:?}"
        );
    }
}

#[test]
fn lab_preflight_signature_refuses_before_stopping_anything() {
    let s = run_scenario("preflight-signature");
    // The kernel's own refusal: enforcement on, the unsigned v2 nvidia.ko cannot load.
    assert!(
        s.result("kernel-refusal")
            .contains("Key was rejected by service"),
        "{}",
        s.tail()
    );
    assert!(s
        .result("final/dmesg")
        .contains("Loading of unsigned module is rejected"));
    s.assert_passed();
    s.assert_diagnose_repair("preflight-signature", &s.result("new-nvidia"));
    assert_eq!(s.status("reload"), 69);
    let said = s.said("reload");
    assert!(said.contains("signature"), "{said}");
    s.assert_old_stack_kept("cuda-app");
}

#[test]
fn lab_preflight_vermagic_refuses_before_stopping_anything() {
    let s = run_scenario("preflight-vermagic");
    // The kernel's own refusal: a module built for the PREEMPT_RT flavour of the same ABI.
    let kver = s.result("vermagic-kernel");
    assert_eq!(
        s.result("vermagic-on-disk"),
        format!(
            "{} SMP preempt_rt mod_unload modversions",
            kver.replace("-amd64", "-rt-amd64")
        ),
    );
    assert!(
        s.result("kernel-refusal").contains("Invalid module format"),
        "{}",
        s.tail()
    );
    assert!(
        s.result("kernel-log").contains(&format!(
            "nvidia: version magic '{}-rt-amd64 SMP preempt_rt",
            kver.trim_end_matches("-amd64")
        )),
        "{}",
        s.result("kernel-log")
    );
    s.assert_passed();
    s.assert_diagnose_repair("preflight-vermagic", &s.result("new-nvidia"));
    assert_eq!(s.status("reload"), 69);
    let said = s.said("reload");
    assert!(
        said.contains("vermagic") || said.contains("version magic"),
        "{said}"
    );
    s.assert_old_stack_kept("cuda-app");
}

#[test]
fn lab_preflight_missing_firmware_refuses_before_stopping_anything() {
    let s = run_scenario("preflight-firmware");
    assert_eq!(
        s.result("firmware-listed"),
        format!("nvidia/{V2}/gsp_ga10x.bin nvidia/{V2}/gsp_tu10x.bin")
    );
    s.assert_passed();
    s.assert_diagnose_repair("preflight-firmware", "gsp_ga10x.bin");
    assert_eq!(s.status("reload"), 69);
    let said = s.said("reload");
    assert!(said.contains("gsp_ga10x.bin"), "{said}");
    s.assert_old_stack_kept("cuda-app");
}

#[test]
fn lab_stuck_unload_gives_up_and_says_reboot() {
    let s = run_scenario("stuck-unload");
    // The kernel: rmmod of a module whose exit sleeps uninterruptibly is in D state, SIGKILL or not, for as long.
    let blocked: f64 = s.result("kernel-block-seconds").parse().unwrap();
    assert!(blocked >= 4.0, "the exit blocked only {blocked} s");
    s.assert_passed();
    assert_eq!(s.status("reload"), 69);
    let seconds: f64 = s.result("reload.seconds").parse().unwrap();
    assert!(
        seconds < 45.0,
        "nvfix waited {seconds} s for a module exit that blocks 60 s"
    );
    assert!(s.said("reload").contains("reboot"), "{}", s.said("reload"));
    // The child nvfix left behind, still in the kernel; the journal stays and records it.
    let stuck = s.result("stuck-child");
    let fields: Vec<&str> = stuck.split_whitespace().collect();
    assert!(
        fields.len() > 2 && fields[1].starts_with('D') && stuck.contains("-r nvidia_uvm"),
        "{stuck}"
    );
    let journal = s.result("journal");
    assert!(
        journal.contains("modprobe -r nvidia_uvm") && journal.contains(fields[0]),
        "the journal does not record pid {} `modprobe -r nvidia_uvm`:\n{journal}",
        fields[0]
    );
    // nvidia itself was never unloaded: the same load as before.
    let nvidia_stamp = |stamps: String| stamps.split(' ').next().unwrap_or_default().to_string();
    assert_eq!(
        nvidia_stamp(s.result("final/stamps")),
        nvidia_stamp(s.result("stamps-before"))
    );
}

#[test]
fn lab_auto_during_a_reload_defers_and_leaves_it_alone() {
    let s = run_scenario("concurrent-auto");
    s.assert_passed();
    assert_eq!(s.status("auto"), 75);
    let auto_seconds: f64 = s.result("auto.seconds").parse().unwrap();
    assert!(auto_seconds < 5.0, "auto took {auto_seconds} s");
    // auto neither resumed nor removed the running reload's journal.
    let journal = s.result("journal-after-auto");
    let journal: serde_json::Value = serde_json::from_str(&journal)
        .unwrap_or_else(|e| panic!("no journal after auto ({e}): {journal:?}\n{}", s.tail()));
    assert_eq!(
        journal["pid"].to_string(),
        s.result("reload-pid"),
        "{journal}"
    );
    assert_eq!(s.status("reload"), 0);
    let reload = s.json("reload");
    assert_eq!(reload["outcome"], "fixed", "{reload}");
    let reload_seconds: f64 = s.result("reload.seconds").parse().unwrap();
    assert!(
        reload_seconds >= 5.0,
        "the holder keeps the GPU 5 s after SIGTERM: {reload_seconds} s"
    );
    assert_eq!(s.status("verify"), 0);
    s.assert_stack(&STACK, V2);
    assert_eq!(s.nvidia_loads(), 2, "loaded v1, then v2 once");
}
