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
