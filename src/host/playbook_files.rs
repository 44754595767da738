//! Finds playbooks by name under the host root (`/etc/nvfix/playbooks`, then `/usr/share/nvfix/playbooks`) and lists them.

use super::HostRoot;
use crate::model::playbook_ref::{candidates, name_of_file, BUILT_IN_NAME, LOCAL_DIR, SHIPPED_DIR};
use serde::Serialize;
use std::path::PathBuf;

/// Where a playbook name resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The admin's, in /etc/nvfix/playbooks.
    Local,
    /// The package's, in /usr/share/nvfix/playbooks.
    Shipped,
    /// Compiled into nvfix (only `default`, when no file of that name exists).
    BuiltIn,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Shipped => "shipped",
            Origin::BuiltIn => "built-in",
        }
    }
}

/// A playbook a name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPlaybook {
    pub name: String,
    pub origin: Origin,
    /// The host path (None for the built-in one).
    pub host_path: Option<String>,
    /// Where to open it on this machine (under `--root`).
    pub local_path: Option<PathBuf>,
    /// The shipped file a local one of the same name hides.
    pub shadows: Option<String>,
}

/// The playbook `name` resolves to: the first candidate that is a file, else the built-in `default`; None otherwise.
pub fn find(root: &HostRoot, name: &str) -> Option<NamedPlaybook> {
    let [local, shipped] = candidates(name);
    let is_file = |host: &str| root.resolve(host).is_file();
    let found = |host: String, origin, shadows| NamedPlaybook {
        name: name.to_string(),
        origin,
        local_path: Some(root.resolve(&host)),
        host_path: Some(host),
        shadows,
    };
    if is_file(&local) {
        let shadows = is_file(&shipped).then_some(shipped);
        return Some(found(local, Origin::Local, shadows));
    }
    if is_file(&shipped) {
        return Some(found(shipped, Origin::Shipped, None));
    }
    (name == BUILT_IN_NAME).then(|| NamedPlaybook {
        name: name.to_string(),
        origin: Origin::BuiltIn,
        host_path: None,
        local_path: None,
        shadows: None,
    })
}

/// Every name a playbook can be selected by, sorted, each resolved as [`find`] would (the built-in `default` always
/// among them). Unreadable or missing folders contribute nothing.
pub fn list(root: &HostRoot) -> Vec<NamedPlaybook> {
    let mut names: Vec<String> = [LOCAL_DIR, SHIPPED_DIR]
        .iter()
        .flat_map(|dir| root.read_dir_names(dir).unwrap_or_default())
        .filter_map(|file| name_of_file(&file).map(str::to_string))
        .chain([BUILT_IN_NAME.to_string()])
        .collect();
    names.sort();
    names.dedup();
    names.iter().filter_map(|n| find(root, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> (tempfile::TempDir, HostRoot) {
        let t = tempfile::tempdir().unwrap();
        for f in files {
            let p = t.path().join(f.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "version: 1\n").unwrap();
        }
        let root = HostRoot::new(t.path());
        (t, root)
    }

    #[test]
    fn local_playbooks_win_over_shipped_ones_and_say_so() {
        let (_t, root) = tree(&[
            "/etc/nvfix/playbooks/slurm-node.yaml",
            "/usr/share/nvfix/playbooks/slurm-node.yaml",
            "/usr/share/nvfix/playbooks/workstation.yaml",
        ]);
        let s = find(&root, "slurm-node").unwrap();
        assert_eq!(s.origin, Origin::Local);
        assert_eq!(
            s.host_path.as_deref(),
            Some("/etc/nvfix/playbooks/slurm-node.yaml")
        );
        assert_eq!(
            s.shadows.as_deref(),
            Some("/usr/share/nvfix/playbooks/slurm-node.yaml")
        );
        assert!(s.local_path.unwrap().starts_with(root.path()));
        let w = find(&root, "workstation").unwrap();
        assert_eq!(w.origin, Origin::Shipped);
        assert_eq!(w.shadows, None);
        assert_eq!(find(&root, "nope"), None);
    }

    #[test]
    fn default_falls_back_to_the_built_in_playbook() {
        let (_t, root) = tree(&[]);
        assert_eq!(find(&root, "default").unwrap().origin, Origin::BuiltIn);
        let (_t, root) = tree(&["/usr/share/nvfix/playbooks/default.yaml"]);
        assert_eq!(find(&root, "default").unwrap().origin, Origin::Shipped);
    }

    #[test]
    fn lists_each_name_once_skipping_what_is_not_a_playbook() {
        let (t, root) = tree(&[
            "/etc/nvfix/playbooks/slurm-node.yaml",
            "/etc/nvfix/playbooks/.slurm-node.yaml.swp",
            "/etc/nvfix/playbooks/notes.txt",
            "/usr/share/nvfix/playbooks/slurm-node.yaml",
            "/usr/share/nvfix/playbooks/default.yaml",
        ]);
        std::fs::create_dir_all(t.path().join("etc/nvfix/playbooks/dir.yaml")).unwrap();
        let names: Vec<(String, Origin)> = list(&root)
            .into_iter()
            .map(|p| (p.name, p.origin))
            .collect();
        assert_eq!(
            names,
            vec![
                ("default".to_string(), Origin::Shipped),
                ("slurm-node".to_string(), Origin::Local)
            ]
        );
    }
}
