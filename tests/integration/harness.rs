//! A small builder harness: make a host tree, run nvfix against it, read its output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The nvfix binary cargo built for this test run.
pub fn nvfix_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nvfix"))
}

/// The repository's `tests/fixtures/<scenario>` tree.
pub fn fixture(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(scenario)
}

/// Output of one nvfix run.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs nvfix with `args` against `root`, with NVML off unless the args name a library.
pub fn nvfix(root: &Path, args: &[&str]) -> Run {
    let out = Command::new(nvfix_bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("NVFIX_NVML_LIB")
        .env_remove("NVFIX_ROOT")
        .env("NO_COLOR", "1")
        .output()
        .expect("run nvfix");
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`nvfix`] with the colour environment cleared (NO_COLOR, CLICOLOR, CLICOLOR_FORCE, TERM), then `env` set.
pub fn nvfix_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(nvfix_bin());
    cmd.arg("--root").arg(root).args(args);
    for name in [
        "NVFIX_NVML_LIB",
        "NVFIX_ROOT",
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "TERM",
    ] {
        cmd.env_remove(name);
    }
    let out = cmd.envs(env.iter().copied()).output().expect("run nvfix");
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Copies a fixture tree into a fresh temporary folder (links kept as links), so a test can damage files in it.
pub fn copy_fixture(scenario: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&fixture(scenario), dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        let dest = to.join(entry.file_name());
        if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else if ty.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Replaces (or creates) a file in a tree.
pub fn write_file(root: &Path, host_path: &str, bytes: &[u8]) {
    let p = root.join(host_path.trim_start_matches('/'));
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let _ = std::fs::remove_file(&p);
    std::fs::write(p, bytes).unwrap();
}

/// The `code` of every reason in a `diagnose --json` object, in order.
pub fn reason_codes(v: &serde_json::Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect()
}
