//! Integration tests: `host::nvml::probe` through the real nvml-wrapper loading path, against the stand-in libnvidia-ml.
//!
//! Each probe that needs the stand-in's environment runs in a child process (this test binary re-run on
//! [`probe_child`]): NVML keeps process-global state and env vars are process-global, while tests run in threads.

use nvfix::host::nvml::probe;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Set on the child: the library paths to probe, `\n`-separated, one probe per line.
const CHILD_LIBS_ENV: &str = "NVFIX_TEST_NVML_CHILD_LIBS";
/// Set on the child: a root for each probe (`\n`-separated), exported as NVML_STAND_IN_ROOT before it.
const CHILD_ROOTS_ENV: &str = "NVFIX_TEST_NVML_CHILD_ROOTS";
/// Prefix of each result line the child prints.
const RESULT_PREFIX: &str = "NVML_PROBE_RESULT=";
/// The stand-in's settings, cleared on every child so the caller's environment cannot leak in.
const STAND_IN_ENV: [&str; 6] = [
    "NVML_STAND_IN_VERSION",
    "NVML_STAND_IN_ROOT",
    "NVML_STAND_IN_DEVICES",
    "NVML_STAND_IN_FAIL",
    "NVML_STAND_IN_STRICT",
    "NVML_STAND_IN_INIT_LOG",
];

const OLD_PROC_VERSION: &str = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 07:09:25 UTC 2025\nGCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n";
const NEW_PROC_VERSION: &str = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.95.05  Tue Sep 23 09:55:41 UTC 2025\nGCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n";
const OPEN_PROC_VERSION: &str = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.142  Release Build  (dvs-builder@U22-I3-AF03-09-1)  Tue Mar  3 19:14:46 UTC 2026\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";

/// Not a test: the body of the child process the other tests start. Without the child's env it does nothing.
#[test]
#[ignore = "helper run in a child process by the other nvml tests"]
fn probe_child() {
    let Ok(libs) = std::env::var(CHILD_LIBS_ENV) else {
        return;
    };
    let roots = std::env::var(CHILD_ROOTS_ENV).unwrap_or_default();
    let mut roots = roots.lines();
    for lib in libs.lines() {
        if let Some(root) = roots.next() {
            // This child runs this one test on one thread, so changing its environment races with nothing.
            std::env::set_var("NVML_STAND_IN_ROOT", root);
        }
        let result = probe(Path::new(lib));
        println!("{RESULT_PREFIX}{}", serde_json::to_string(&result).unwrap());
    }
}

/// One probe in a child process; see [`probe_many_in_child`].
fn probe_in_child(lib: &Path, root: &Path, env: &[(&str, &str)]) -> Value {
    let mut results = probe_many_in_child(&[lib], &[root], env);
    assert_eq!(results.len(), 1, "{results:?}");
    results.remove(0)
}

/// Runs `probe` on each of `libs` in order in one fresh child process, with `env` set for the stand-in and
/// NVML_STAND_IN_ROOT set to `roots[i]` before the i-th probe; returns each result as JSON.
fn probe_many_in_child(libs: &[&Path], roots: &[&Path], env: &[(&str, &str)]) -> Vec<Value> {
    let join = |paths: &[&Path]| {
        paths
            .iter()
            .map(|p| p.to_str().expect("test paths are UTF-8"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut child = Command::new(std::env::current_exe().expect("test binary path"));
    child.args([
        "--exact",
        "nvml::probe_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for name in STAND_IN_ENV {
        child.env_remove(name);
    }
    child.env(CHILD_LIBS_ENV, join(libs));
    child.env(CHILD_ROOTS_ENV, join(roots));
    child.envs(env.iter().copied());
    let out = child.output().expect("start the probe child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "probe child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = stdout
        .lines()
        // libtest prints "test nvml::probe_child ... " on the same line as the first result.
        .filter_map(|l| l.split_once(RESULT_PREFIX).map(|(_, json)| json))
        .map(|json| serde_json::from_str(json).expect("child printed JSON"))
        .collect();
    assert_eq!(results.len(), libs.len(), "child output:\n{stdout}");
    results
}

/// The stand-in cdylib, built once per test process (other test modules may use it too: the lab, say).
///
/// `cargo test --workspace` builds only the stand-in's test harness, never its cdylib, so the tests build it
/// themselves, into their own target dir under CARGO_TARGET_TMPDIR: a nested cargo on the outer build's
/// target dir could wait on the lock the outer cargo holds.
pub(crate) fn stand_in_library() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(build_stand_in) {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

fn build_stand_in() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nvml-stand-in-target");
    let out = Command::new(&cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .args([
            "-p",
            "nvml-stand-in",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // An outer `cargo test --target …` must not move the stand-in to another triple than this process's.
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build -p nvml-stand-in failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Cargo names the artifact; asking it avoids guessing the profile folder.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact")
        .filter(|msg| msg["target"]["name"] == "nvidia_ml")
        .flat_map(|msg| msg["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "so"))
        .ok_or_else(|| "cargo built nvml-stand-in but named no libnvidia_ml.so".to_string())
}

/// A scratch folder with a host root and a library folder.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Self {
        Scene {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `<scene>/root`, with `/proc/driver/nvidia/version` holding `proc_version` (none when None) and `gpus` GPU folders.
    fn root(&self, name: &str, proc_version: Option<&str>, gpus: usize) -> PathBuf {
        let root = self.dir.path().join(name);
        let nvidia = root.join("proc/driver/nvidia");
        std::fs::create_dir_all(root.join("proc")).unwrap();
        if let Some(text) = proc_version {
            std::fs::create_dir_all(nvidia.join("gpus")).unwrap();
            std::fs::write(nvidia.join("version"), text).unwrap();
            for i in 0..gpus {
                std::fs::create_dir_all(nvidia.join(format!("gpus/0000:{:02x}:00.0", i + 1)))
                    .unwrap();
            }
        }
        root
    }

    /// Installs the stand-in the way the driver packages do: `libnvidia-ml.so.<ver>` and a `libnvidia-ml.so.1`
    /// link to it; returns the link.
    fn install_library(&self, version: &str) -> PathBuf {
        let lib_dir = self.dir.path().join(format!("lib-{version}"));
        std::fs::create_dir_all(&lib_dir).unwrap();
        let real = lib_dir.join(format!("libnvidia-ml.so.{version}"));
        std::fs::copy(stand_in_library(), &real).expect("copy the stand-in");
        let link = lib_dir.join("libnvidia-ml.so.1");
        std::os::unix::fs::symlink(real.file_name().unwrap(), &link).unwrap();
        link
    }
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field} in {v}"))
}

#[test]
fn matching_versions_report_driver_cuda_and_device_count() {
    let scene = Scene::new();
    let root = scene.root("root", Some(NEW_PROC_VERSION), 2);
    let lib = scene.install_library("580.95.05");
    let v = probe_in_child(&lib, &root, &[]);
    assert_eq!(text(&v, "status"), "ok", "{v}");
    assert_eq!(text(&v, "driver_version"), "580.95.05");
    assert_eq!(text(&v, "cuda_driver_version"), "13.0");
    assert_eq!(v["device_count"], 2);
    assert_eq!(text(&v, "library"), lib.to_str().unwrap());
}

#[test]
fn upgraded_library_over_old_module_is_a_version_mismatch() {
    let scene = Scene::new();
    let root = scene.root("root", Some(OLD_PROC_VERSION), 1);
    let lib = scene.install_library("580.95.05");
    let v = probe_in_child(&lib, &root, &[]);
    assert_eq!(text(&v, "status"), "error", "{v}");
    assert_eq!(v["code"], 18);
    assert_eq!(text(&v, "name"), "LIB_RM_VERSION_MISMATCH");
    assert!(
        text(&v, "message").contains("Driver/library version mismatch"),
        "{v}"
    );
    assert_eq!(text(&v, "library"), lib.to_str().unwrap());
}

#[test]
fn no_loaded_module_is_driver_not_loaded() {
    let scene = Scene::new();
    let root = scene.root("root", None, 0);
    let lib = scene.install_library("580.95.05");
    let v = probe_in_child(&lib, &root, &[]);
    assert_eq!(v["code"], 9, "{v}");
    assert_eq!(text(&v, "name"), "DRIVER_NOT_LOADED");
    assert!(text(&v, "message").contains("Driver Not Loaded"), "{v}");
}

#[test]
fn forced_no_permission_comes_back_as_code_4() {
    let scene = Scene::new();
    let root = scene.root("root", Some(NEW_PROC_VERSION), 1);
    let lib = scene.install_library("580.95.05");
    let v = probe_in_child(&lib, &root, &[("NVML_STAND_IN_FAIL", "4")]);
    assert_eq!(v["code"], 4, "{v}");
    assert_eq!(text(&v, "name"), "NO_PERMISSION");
    assert!(
        text(&v, "message").contains("Insufficient Permissions"),
        "{v}"
    );
}

#[test]
fn env_version_and_device_count_override_the_file_name_and_gpu_folders() {
    let scene = Scene::new();
    let root = scene.root("root", Some(OLD_PROC_VERSION), 3);
    let lib = scene.install_library("580.95.05");
    let v = probe_in_child(
        &lib,
        &root,
        &[
            ("NVML_STAND_IN_VERSION", "580.65.06"),
            ("NVML_STAND_IN_DEVICES", "8"),
        ],
    );
    assert_eq!(text(&v, "status"), "ok", "{v}");
    assert_eq!(text(&v, "driver_version"), "580.65.06");
    assert_eq!(v["device_count"], 8);
}

#[test]
fn open_module_with_a_two_part_version_matches_its_library() {
    let scene = Scene::new();
    let root = scene.root("root", Some(OPEN_PROC_VERSION), 1);
    let lib = scene.install_library("580.142");
    let v = probe_in_child(&lib, &root, &[]);
    assert_eq!(text(&v, "status"), "ok", "{v}");
    assert_eq!(text(&v, "driver_version"), "580.142");
    assert_eq!(v["device_count"], 1);
}

#[test]
fn library_without_a_version_in_its_name_is_the_default_580_95_05() {
    let scene = Scene::new();
    let new_root = scene.root("new", Some(NEW_PROC_VERSION), 1);
    let old_root = scene.root("old", Some(OLD_PROC_VERSION), 1);
    let lib = stand_in_library();
    let results = probe_many_in_child(&[lib, lib], &[&new_root, &old_root], &[]);
    assert_eq!(
        text(&results[0], "driver_version"),
        "580.95.05",
        "{results:?}"
    );
    assert_eq!(results[1]["code"], 18, "{results:?}");
}

#[test]
fn repeated_init_and_shutdown_in_one_process_follow_the_root_each_time() {
    let scene = Scene::new();
    let good = scene.root("good", Some(NEW_PROC_VERSION), 2);
    let stale = scene.root("stale", Some(OLD_PROC_VERSION), 2);
    let gone = scene.root("gone", None, 0);
    let lib = scene.install_library("580.95.05");
    let lib = lib.as_path();
    let results = probe_many_in_child(&[lib, lib, lib, lib], &[&good, &stale, &gone, &good], &[]);
    let codes: Vec<&Value> = results.iter().map(|r| &r["code"]).collect();
    assert_eq!(text(&results[0], "status"), "ok", "{results:?}");
    assert_eq!(codes[1], 18, "{results:?}");
    assert_eq!(codes[2], 9, "{results:?}");
    assert_eq!(text(&results[3], "status"), "ok", "{results:?}");
    assert_eq!(results[3]["device_count"], 2);
}

#[test]
fn nonexistent_library_is_not_loadable() {
    let scene = Scene::new();
    let missing = scene.dir.path().join("no/such/libnvidia-ml.so.1");
    let v = serde_json::to_value(probe(&missing)).unwrap();
    assert_eq!(text(&v, "status"), "error", "{v}");
    assert_eq!(text(&v, "name"), "LIBRARY_NOT_LOADABLE");
    assert!(v.get("code").is_none(), "{v}");
    assert!(!text(&v, "message").contains('\n'), "{v}");
    assert_eq!(text(&v, "library"), missing.to_str().unwrap());
}

#[test]
fn garbage_bytes_are_not_loadable() {
    let scene = Scene::new();
    let junk = scene.dir.path().join("libnvidia-ml.so.580.95.05");
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&junk, bytes).unwrap();
    let v = serde_json::to_value(probe(&junk)).unwrap();
    assert_eq!(text(&v, "name"), "LIBRARY_NOT_LOADABLE", "{v}");
    assert!(v.get("code").is_none(), "{v}");
}

#[test]
fn a_char_device_without_the_version_ioctl_falls_back_to_proc() {
    // /dev/null is a character device that answers every ioctl with ENOTTY, like a node of some other driver.
    let scene = Scene::new();
    let root = scene.root("root", Some(OLD_PROC_VERSION), 1);
    std::fs::create_dir_all(root.join("dev")).unwrap();
    std::os::unix::fs::symlink("/dev/null", root.join("dev/nvidiactl")).unwrap();
    let lib = scene.install_library("580.95.05");
    for strict in ["0", "1"] {
        let v = probe_in_child(&lib, &root, &[("NVML_STAND_IN_STRICT", strict)]);
        assert_eq!(v["code"], 18, "strict={strict}: {v}");
    }
}

#[test]
fn nvfix_diagnose_reports_the_probe_in_its_json() {
    let scene = Scene::new();
    let root = scene.root("root", Some(OLD_PROC_VERSION), 1);
    let lib = scene.install_library("580.95.05");
    let mut nvfix = Command::new(crate::harness::nvfix_bin());
    for name in STAND_IN_ENV {
        nvfix.env_remove(name);
    }
    let out = nvfix
        .arg("--root")
        .arg(&root)
        .arg("--nvml-lib")
        .arg(&lib)
        .args(["diagnose", "--json"])
        .env("NVML_STAND_IN_ROOT", &root)
        .env_remove("NVFIX_NVML_LIB")
        .env_remove("NVFIX_ROOT")
        .env("NO_COLOR", "1")
        .output()
        .expect("run nvfix");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let nvml = &doc["nvml"];
    assert_eq!(text(nvml, "status"), "error", "{doc}");
    assert_eq!(nvml["code"], 18, "{doc}");
    assert_eq!(
        text(nvml, "message"),
        "Failed to initialize NVML: Driver/library version mismatch"
    );
    assert_eq!(text(nvml, "library"), lib.to_str().unwrap());
}

/// Runs nvfix on `root` with the stand-in at `lib` reading that root, its inits logged to `init_log`.
fn nvfix_with_stand_in(root: &Path, lib: &Path, init_log: &Path, args: &[&str]) -> (i32, String) {
    let mut nvfix = Command::new(crate::harness::nvfix_bin());
    for name in STAND_IN_ENV {
        nvfix.env_remove(name);
    }
    let out = nvfix
        .arg("--root")
        .arg(root)
        .arg("--nvml-lib")
        .arg(lib)
        .args(args)
        .env("NVML_STAND_IN_ROOT", root)
        .env("NVML_STAND_IN_INIT_LOG", init_log)
        .env_remove("NVFIX_NVML_LIB")
        .env_remove("NVFIX_ROOT")
        .env("NO_COLOR", "1")
        .output()
        .expect("run nvfix");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn inits(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |t| t.lines().count())
}

#[test]
fn while_another_nvfix_holds_the_lock_nvml_is_not_checked_and_never_initialised() {
    let scene = Scene::new();
    let root = scene.root("root", Some(OLD_PROC_VERSION), 1);
    let lib = scene.install_library("580.95.05");
    let log = scene.dir.path().join("inits.log");

    let held = nvfix::host::run_lock::acquire(&nvfix::host::HostRoot::new(&root), 0)
        .expect("take the lock");
    let (_, stdout) = nvfix_with_stand_in(&root, &lib, &log, &["diagnose", "--json"]);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(text(&doc["nvml"], "status"), "not-checked", "{doc}");
    assert!(
        text(&doc["nvml"], "reason").contains("another nvfix"),
        "{doc}"
    );
    let (status, metrics) = nvfix_with_stand_in(&root, &lib, &log, &["metrics", "--textfile", "-"]);
    assert_eq!(status, 0, "{metrics}");
    let (_, verify) = nvfix_with_stand_in(&root, &lib, &log, &["verify", "--json"]);
    assert!(verify.contains("another nvfix"), "{verify}");
    assert_eq!(
        inits(&log),
        0,
        "the library was initialised under another nvfix's lock"
    );

    // Once the lock is free the same commands call NVML (and the stand-in sees the init).
    drop(held);
    let (_, stdout) = nvfix_with_stand_in(&root, &lib, &log, &["diagnose", "--json"]);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["nvml"]["code"], 18, "{doc}");
    assert_eq!(inits(&log), 1);
}

#[test]
fn nvml_is_not_called_when_the_module_is_gone_by_the_time_of_the_call() {
    let scene = Scene::new();
    // /proc/driver/nvidia/version says loaded, but the kernel's module list says it is on its way out.
    let root = scene.root("root", Some(NEW_PROC_VERSION), 1);
    std::fs::create_dir_all(root.join("sys/module/nvidia")).unwrap();
    std::fs::write(root.join("sys/module/nvidia/initstate"), "going\n").unwrap();
    let lib = scene.install_library("580.95.05");
    let log = scene.dir.path().join("inits.log");
    let (_, stdout) = nvfix_with_stand_in(&root, &lib, &log, &["diagnose", "--json"]);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(text(&doc["nvml"], "status"), "not-checked", "{doc}");
    assert_eq!(inits(&log), 0);
}
