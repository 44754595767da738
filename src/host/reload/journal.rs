//! The reload journal (`<root>/run/nvfix/journal.json`): the plan and each step's state, written before and after
//! every step, so an interrupted reload (killed, crashed, Ctrl-C) can be undone by `nvfix reload --resume`.
//!
//! Written through [`crate::host::atomic_write`] (the folder private, 0700; the file 0600); read with O_NOFOLLOW, so a
//! link planted in its place is refused instead of followed.

use crate::host::atomic_write::{write_file, DirRule};
use crate::host::{HostError, HostRoot};
use crate::model::plan::ReloadPlan;
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Bumped when the journal's shape changes incompatibly.
pub const JOURNAL_FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
    /// Deselected by the admin, or not needed when its turn came.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: usize,
    pub state: StepState,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    /// The nvfix process that wrote it (a later run knows it is not its own).
    pub pid: u32,
    /// Seconds since the epoch when the run started.
    pub started_at: u64,
    pub plan: ReloadPlan,
    pub steps: Vec<StepRecord>,
    /// Units nvfix stopped (recorded before `systemctl stop` runs: starting a running unit is harmless).
    pub stopped_services: Vec<String>,
    /// Modules that went away during the run (including ones modprobe removed as unused dependencies).
    pub unloaded: Vec<String>,
    /// Modules nvfix loaded.
    pub loaded: Vec<String>,
    /// Module commands that ran past `--module-timeout` (a `modprobe -r` whose module exit never returns). While one
    /// is recorded the stack counts as stuck: nvfix runs no module command against it again; only a reboot recovers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overran: Vec<OverranCommand>,
}

/// A command that ran past its limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverranCommand {
    pub command: String,
    pub pid: u32,
    pub seconds: u64,
    /// True when it did not exit even after SIGKILL (stuck in the kernel) and nvfix left it behind.
    pub left_behind: bool,
}

impl Journal {
    pub fn new(plan: &ReloadPlan, started_at: u64) -> Self {
        Journal {
            format: JOURNAL_FORMAT,
            pid: std::process::id(),
            started_at,
            plan: plan.clone(),
            steps: plan
                .steps
                .iter()
                .map(|s| StepRecord {
                    id: s.id,
                    state: StepState::Pending,
                    detail: None,
                })
                .collect(),
            stopped_services: Vec::new(),
            unloaded: Vec::new(),
            loaded: Vec::new(),
            overran: Vec::new(),
        }
    }

    pub fn set(&mut self, id: usize, state: StepState, detail: Option<String>) {
        if let Some(r) = self.steps.iter_mut().find(|r| r.id == id) {
            r.state = state;
            r.detail = detail;
        }
    }

    pub fn state(&self, id: usize) -> Option<StepState> {
        self.steps.iter().find(|r| r.id == id).map(|r| r.state)
    }

    /// `<root>/run/nvfix/journal.json`.
    pub fn path(root: &HostRoot) -> PathBuf {
        root.path().join("run/nvfix/journal.json")
    }

    /// Reads the journal at `path`: None when there is none. A link, a garbled file or another format is an error
    /// naming the file (the admin must look at it: nvfix will not guess what an unreadable journal changed).
    pub fn load(path: &Path) -> Result<Option<Journal>, HostError> {
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(HostError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let kind = crate::host::read_budget::FileKind::Record;
        let (bytes, cut) = crate::host::read_budget::read_capped(&mut file, kind.budget())
            .map_err(|source| HostError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if cut {
            return Err(HostError::OverBudget {
                path: path.to_path_buf(),
                message: crate::host::read_budget::over_budget_message(kind, "not read"),
            });
        }
        let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| HostError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "not a readable nvfix journal ({})",
                crate::model::excerpt::shorten_quoted(&e.to_string())
            ),
        })?;
        if journal.format != JOURNAL_FORMAT {
            return Err(HostError::Invalid {
                path: path.to_path_buf(),
                message: format!("journal format {} is not {JOURNAL_FORMAT}", journal.format),
            });
        }
        Ok(Some(journal))
    }

    /// Writes the journal (0600) through the one safe writer, in a private folder (created 0700; a linked, foreign
    /// or group/world-writable folder is refused).
    pub fn save(&self, path: &Path) -> Result<(), HostError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| HostError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        text.push('\n');
        write_file(path, text.as_bytes(), 0o600, DirRule::Private)
    }

    /// Removes the journal (the run finished and nothing is left to undo).
    pub fn remove(path: &Path) -> Result<(), HostError> {
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(HostError::Write {
                path: path.to_path_buf(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::plan::{ReloadPlan, Step, StepKind, VerifyBaseline};
    use std::os::unix::fs::PermissionsExt;

    fn plan() -> ReloadPlan {
        ReloadPlan {
            kernel: Some("6.8.0-85-generic".into()),
            from_version: Some("580.65.06".into()),
            to_version: Some("580.95.05".into()),
            modules_before: vec!["nvidia".into()],
            unload_order: vec!["nvidia".into()],
            load_order: vec!["nvidia".into()],
            services: vec![],
            processes: vec![],
            library_users: vec![],
            grace_secs: 10,
            kill: false,
            blockers: vec![],
            notes: vec![],
            baseline: VerifyBaseline::default(),
            steps: vec![Step {
                id: 1,
                kind: StepKind::Unload {
                    module: "nvidia".into(),
                },
                why: "w".into(),
            }],
        }
    }

    #[test]
    fn round_trip_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let path = Journal::path(&root);
        assert_eq!(Journal::load(&path).unwrap(), None);
        let mut j = Journal::new(&plan(), 1);
        j.set(1, StepState::Running, None);
        j.save(&path).unwrap();
        let back = Journal::load(&path).unwrap().unwrap();
        assert_eq!(back, j);
        assert_eq!(back.state(1), Some(StepState::Running));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
        Journal::remove(&path).unwrap();
        assert_eq!(Journal::load(&path).unwrap(), None);
    }

    #[test]
    fn a_link_in_place_of_the_journal_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere.json");
        fs::write(
            &target,
            serde_json::to_string(&Journal::new(&plan(), 1)).unwrap(),
        )
        .unwrap();
        let path = dir.path().join("run/nvfix/journal.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(Journal::load(&path).is_err());
        // A linked folder is refused too.
        let dir2 = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir2.path().join("real")).unwrap();
        fs::create_dir_all(dir2.path().join("run")).unwrap();
        std::os::unix::fs::symlink(dir2.path().join("real"), dir2.path().join("run/nvfix"))
            .unwrap();
        let err = Journal::new(&plan(), 1)
            .save(&dir2.path().join("run/nvfix/journal.json"))
            .unwrap_err();
        assert!(err.to_string().contains("link"), "{err}");
    }

    #[test]
    fn a_journal_written_before_overran_existed_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.json");
        let mut old = serde_json::to_value(Journal::new(&plan(), 1)).unwrap();
        assert!(old.get("overran").is_none(), "empty: not written");
        old.as_object_mut().unwrap().remove("overran");
        fs::write(&path, old.to_string()).unwrap();
        assert_eq!(Journal::load(&path).unwrap().unwrap().overran, vec![]);
    }

    #[test]
    fn garbled_journal_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.json");
        fs::write(&path, b"\xff\x00{not json").unwrap();
        let err = Journal::load(&path).unwrap_err();
        assert!(err.to_string().contains("journal.json"), "{err}");
        fs::write(&path, b"{\"format\": 1}").unwrap();
        assert!(Journal::load(&path).is_err());
    }
}
