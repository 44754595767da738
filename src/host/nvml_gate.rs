//! The one way nvfix calls NVML: under the run lock, right after seeing the nvidia module loaded.
//!
//! As root, NVIDIA's library creates `/dev/nvidiactl` and loads the driver by itself when no module is loaded (as
//! any user through the setuid `nvidia-modprobe`). A reload in another nvfix could take the modules out between a
//! read-only command's first look and its NVML call; holding the run lock across the check and the call closes that
//! window, and the check is made again right before the call.

use super::nvml;
use super::run_lock::{self, LockError, RunLock};
use super::HostRoot;
use crate::model::facts::NvmlProbe;
use std::path::Path;

/// Proof that the caller holds the run lock: only made from a [`RunLock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockHeld(());

impl LockHeld {
    pub fn of(_lock: &RunLock) -> Self {
        LockHeld(())
    }
}

/// How the NVML call gets the run lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NvmlLock {
    /// Read-only commands: take it without waiting, for the call only; when another nvfix holds it, NVML is not
    /// checked.
    #[default]
    Take,
    /// The caller (the executor, `reload` planning under its lock) holds it already.
    Held(LockHeld),
}

/// Is the nvidia module loaded and live now? `/sys/module/nvidia/initstate`, else its `/proc/modules` line, else
/// `/proc/driver/nvidia/version` (which exists only while the module is in). A module `coming` or `going` is not.
pub fn nvidia_module_live(root: &HostRoot) -> bool {
    if let Ok(state) = root.read_to_string("/sys/module/nvidia/initstate") {
        return state.trim() == "live";
    }
    if let Ok(modules) = root.read_to_string("/proc/modules") {
        let line = modules
            .lines()
            .find(|l| l.split_whitespace().next() == Some("nvidia"));
        if let Some(line) = line {
            return line.split_whitespace().nth(4) == Some("Live");
        }
        if root.exists("/sys/module") {
            return false;
        }
    }
    root.exists("/proc/driver/nvidia/version")
}

/// Probes NVML from `lib` only when the run lock is held (taken here when `lock` says so) and the nvidia module is
/// live right before the call; otherwise NVML is `not-checked`, with the reason.
pub fn probe_nvml_if_loaded(root: &HostRoot, lib: &Path, lock: NvmlLock) -> NvmlProbe {
    let not_checked = |reason: String| NvmlProbe::NotChecked { reason };
    let _taken = match lock {
        NvmlLock::Held(_) => None,
        NvmlLock::Take => match run_lock::acquire(root, unix_now()) {
            Ok(taken) => Some(taken),
            Err(LockError::Busy { .. }) => {
                return not_checked(
                    "another nvfix is changing the driver (the run lock is held)".into(),
                )
            }
            Err(e) => return not_checked(format!("NVML is only called under the run lock: {e}")),
        },
    };
    if !nvidia_module_live(root) {
        return not_checked(
            "the nvidia module is not loaded; NVML would load it as a side effect".into(),
        );
    }
    nvml::probe(lib)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, HostRoot) {
        let t = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = t.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let root = HostRoot::new(t.path());
        (t, root)
    }

    #[test]
    fn the_module_counts_only_while_live() {
        let (_t, r) = tree(&[("sys/module/nvidia/initstate", "live\n")]);
        assert!(nvidia_module_live(&r));
        let (_t, r) = tree(&[("sys/module/nvidia/initstate", "going\n")]);
        assert!(!nvidia_module_live(&r));
        let live = "nvidia 104071168 3 nvidia_uvm, Live 0x0000000000000000 (POE)\n";
        let (_t, r) = tree(&[("proc/modules", live)]);
        assert!(nvidia_module_live(&r));
        let going = "nvidia 104071168 0 - Unloading 0x0000000000000000 (POE)\n";
        let (_t, r) = tree(&[("proc/modules", going)]);
        assert!(!nvidia_module_live(&r));
        let (_t, r) = tree(&[
            ("proc/modules", "nvidia_uvm 1 0 - Live 0x0\n"),
            ("sys/module/x", ""),
        ]);
        assert!(!nvidia_module_live(&r), "nvidia_uvm is not nvidia");
        let (_t, r) = tree(&[("proc/driver/nvidia/version", "NVRM version: …\n")]);
        assert!(nvidia_module_live(&r));
        let (_t, r) = tree(&[]);
        assert!(!nvidia_module_live(&r));
    }

    #[test]
    fn nvml_is_not_called_while_another_nvfix_holds_the_lock_or_the_module_is_out() {
        // A library path that does not exist: had it been tried, the probe would say LIBRARY_NOT_LOADABLE.
        let missing = Path::new("/nonexistent/libnvidia-ml.so.1");
        let (_t, r) = tree(&[("sys/module/nvidia/initstate", "live\n")]);
        let held = run_lock::acquire(&r, 0).unwrap();
        match probe_nvml_if_loaded(&r, missing, NvmlLock::Take) {
            NvmlProbe::NotChecked { reason } => {
                assert!(reason.contains("another nvfix"), "{reason}")
            }
            other => panic!("NVML was tried under another's lock: {other:?}"),
        }
        // The holder itself passes its proof and gets the call.
        assert!(matches!(
            probe_nvml_if_loaded(&r, missing, NvmlLock::Held(LockHeld::of(&held))),
            NvmlProbe::Error { .. }
        ));
        drop(held);
        assert!(matches!(
            probe_nvml_if_loaded(&r, missing, NvmlLock::Take),
            NvmlProbe::Error { .. }
        ));
        let (_t, r) = tree(&[("sys/module/nvidia/initstate", "going\n")]);
        assert!(matches!(
            probe_nvml_if_loaded(&r, missing, NvmlLock::Take),
            NvmlProbe::NotChecked { .. }
        ));
    }
}
