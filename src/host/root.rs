//! The host root: every file nvfix reads is taken under it, with links resolved inside it (`--root DIR`).

use super::read_budget::{
    cut_message, kept_message, over_budget_message, read_capped, read_end, Bounded, BoundedText,
    FileKind, OverBudget, KEPT_PER_FILE,
};
use super::HostError;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Links followed while resolving one path before giving up (the kernel's own limit is 40).
const MAX_LINK_HOPS: usize = 40;

/// A host's file system seen from a root folder. On a real host the root is `/` and paths are used as they are;
/// under a fixture tree, an absolute link target means "relative to the root", and `..` never climbs above it.
#[derive(Debug, Clone)]
pub struct HostRoot {
    root: PathBuf,
}

impl HostRoot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HostRoot { root: root.into() }
    }

    /// The real machine's root.
    pub fn system() -> Self {
        HostRoot::new("/")
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// True when this is the live machine (root `/`): only then may nvfix talk to the kernel or NVML by default.
    pub fn is_system(&self) -> bool {
        self.root == Path::new("/")
    }

    /// The local path for a host path (`/proc/modules` → `<root>/proc/modules`), resolving links inside the root.
    /// A path that does not exist resolves as far as it can; the rest is appended unchanged.
    pub fn resolve(&self, host_path: &str) -> PathBuf {
        if self.is_system() {
            return PathBuf::from(host_path);
        }
        self.local(&self.resolve_host(host_path))
    }

    /// Resolves links in a host path, returning the host path they lead to (still relative to the root).
    pub fn resolve_host(&self, host_path: &str) -> String {
        if self.is_system() {
            // The live host: the kernel resolves links. A path that does not exist stays as it was given.
            return fs::canonicalize(host_path)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| host_path.to_string());
        }
        let mut pending: Vec<Vec<u8>> =
            components(host_path.as_bytes()).into_iter().rev().collect();
        let mut done: Vec<Vec<u8>> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_slice() {
                b"." => continue,
                b".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(part);
            let here = self.local(&join(&done));
            if hops < MAX_LINK_HOPS {
                if let Ok(target) = fs::read_link(&here) {
                    hops += 1;
                    done.pop();
                    let target = target.as_os_str().as_bytes().to_vec();
                    if target.first() == Some(&b'/') {
                        done.clear();
                    }
                    for c in components(&target).into_iter().rev() {
                        pending.push(c);
                    }
                }
            }
        }
        join(&done)
    }

    fn local(&self, host_path: &str) -> PathBuf {
        let rel = host_path.trim_start_matches('/');
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// Maps a local path under the root back to the host path it stands for.
    pub fn host_path_of(&self, local: &Path) -> String {
        match local.strip_prefix(&self.root) {
            Ok(rel) => format!("/{}", rel.display()).replace("//", "/"),
            Err(_) => local.display().to_string(),
        }
    }

    /// A whole text file within its budget (see [`super::read_budget`]); a file larger than its budget is refused
    /// with an error naming it. For the kinds that may be cut (logs), [`Self::read_text`] says what was kept.
    pub fn read_to_string(&self, host_path: &str) -> Result<String, HostError> {
        let read = self.read_text(host_path)?;
        match read.cut {
            None => Ok(read.text),
            Some(_) => Err(self.over_budget(host_path, FileKind::of(host_path), "not read")),
        }
    }

    /// A text file within its kind's budget: refused when larger (configuration, records, kernel files), else cut
    /// (the start of a package log, the end of a kernel log), with the warning to give.
    pub fn read_text(&self, host_path: &str) -> Result<BoundedText, HostError> {
        let kind = FileKind::of(host_path);
        let read_err = |source| HostError::Read {
            path: host_display(host_path),
            source,
        };
        let mut file = fs::File::open(self.resolve(host_path)).map_err(read_err)?;
        let budget = kind.budget();
        let (bytes, cut) = match kind.over_budget() {
            OverBudget::KeepEnd => read_end(&mut file, budget).map_err(read_err)?,
            _ => read_capped(&mut file, budget).map_err(read_err)?,
        };
        let cut = match (cut, kind.over_budget()) {
            (false, _) => None,
            (true, OverBudget::Refuse) => return Err(self.over_budget(host_path, kind, "not read")),
            (true, OverBudget::KeepStart) => Some(over_budget_message(
                kind,
                "read up to there, the rest left out",
            )),
            (true, OverBudget::KeepEnd) => Some(over_budget_message(
                kind,
                "only its newest lines (the end) were read",
            )),
        };
        // Garbled or binary files must not stop nvfix: replace invalid UTF-8 and let the parser judge the text.
        // Valid text (nearly always) keeps its buffer rather than being copied.
        let read = bytes.len() as u64;
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned());
        Ok(BoundedText { text, cut, read })
    }

    /// A text file with only the stanzas or lines that mention one of `needles` (see [`super::narrow`]): for big
    /// files of which nvfix needs a few entries. At most `limit` bytes are read (the kind's budget, or less when a
    /// run's allowance for logs is nearly spent); a longer file is cut there, with the warning to give.
    pub fn read_narrowed(
        &self,
        host_path: &str,
        needles: &[&str],
        records: super::narrow::Records,
        limit: u64,
    ) -> Result<BoundedText, HostError> {
        let kind = FileKind::of(host_path);
        let limit = limit.min(kind.budget());
        let p = self.resolve(host_path);
        let mut bounded = Bounded::new(
            fs::File::open(&p).map_err(|source| HostError::Read {
                path: host_display(host_path),
                source,
            })?,
            limit,
        );
        let (text, kept_cut) = super::narrow::read_narrowed_within(
            &mut bounded,
            needles,
            records,
            super::narrow::CHUNK,
            KEPT_PER_FILE,
        )
        .map_err(|source| HostError::Read {
            path: host_display(host_path),
            source,
        })?;
        let cut = if kept_cut {
            Some(kept_message())
        } else {
            bounded.was_cut().then(|| cut_message(kind, limit))
        };
        Ok(BoundedText {
            text,
            cut,
            read: limit.saturating_sub(bounded.left()),
        })
    }

    /// A small binary file (an EFI variable, a process's command line) within its kind's budget; refused when larger.
    pub fn read_bytes(&self, host_path: &str) -> Result<Vec<u8>, HostError> {
        let kind = FileKind::of(host_path);
        let p = self.resolve(host_path);
        let (bytes, cut) = fs::File::open(&p)
            .and_then(|file| read_capped(file, kind.budget()))
            .map_err(|source| HostError::Read {
                path: host_display(host_path),
                source,
            })?;
        if cut {
            return Err(self.over_budget(host_path, kind, "not read"));
        }
        Ok(bytes)
    }

    fn over_budget(&self, host_path: &str, kind: FileKind, what_happened: &str) -> HostError {
        HostError::OverBudget {
            path: host_display(host_path),
            message: over_budget_message(kind, what_happened),
        }
    }

    /// Entry names of a folder, sorted (so output never depends on directory order).
    pub fn read_dir_names(&self, host_path: &str) -> Result<Vec<String>, HostError> {
        // Every name starts with the empty prefix.
        self.read_dir_names_starting_with(host_path, &[""])
    }

    /// Entry names of a folder that start with one of `prefixes`, sorted. Library folders hold thousands of files;
    /// only the few that can matter are turned into strings.
    pub fn read_dir_names_starting_with(
        &self,
        host_path: &str,
        prefixes: &[&str],
    ) -> Result<Vec<String>, HostError> {
        let p = self.resolve(host_path);
        let rd = fs::read_dir(&p).map_err(|source| HostError::Read {
            path: host_display(host_path),
            source,
        })?;
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| {
                prefixes
                    .iter()
                    .any(|pre| e.file_name().as_bytes().starts_with(pre.as_bytes()))
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The text of a link (not resolved), e.g. an fd's target `/dev/nvidia0`.
    pub fn read_link(&self, host_path: &str) -> Result<String, HostError> {
        let parent_resolved = match host_path.rsplit_once('/') {
            Some((dir, name)) => {
                let d = if dir.is_empty() {
                    "/".to_string()
                } else {
                    self.resolve_host(dir)
                };
                self.local(&format!("{}/{}", d.trim_end_matches('/'), name))
            }
            None => self.resolve(host_path),
        };
        fs::read_link(&parent_resolved)
            .map(|t| t.to_string_lossy().into_owned())
            .map_err(|source| HostError::Read {
                path: host_display(host_path),
                source,
            })
    }

    pub fn exists(&self, host_path: &str) -> bool {
        self.resolve(host_path).exists()
    }

    pub fn is_dir(&self, host_path: &str) -> bool {
        self.resolve(host_path).is_dir()
    }
}

fn host_display(host_path: &str) -> PathBuf {
    PathBuf::from(host_path)
}

fn components(path: &[u8]) -> Vec<Vec<u8>> {
    Path::new(OsStr::from_bytes(path))
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.as_bytes().to_vec()),
            Component::ParentDir => Some(b"..".to_vec()),
            Component::CurDir => Some(b".".to_vec()),
            Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn join(parts: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(p));
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_links_stay_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("usr/lib/x86_64-linux-gnu")).unwrap();
        fs::write(
            r.join("usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.95.05"),
            b"lib",
        )
        .unwrap();
        symlink(
            "libnvidia-ml.so.580.95.05",
            r.join("usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"),
        )
        .unwrap();
        symlink("/usr/lib", r.join("lib")).unwrap();
        let root = HostRoot::new(r);
        assert_eq!(
            root.resolve_host("/lib/x86_64-linux-gnu/libnvidia-ml.so.1"),
            "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.95.05"
        );
        assert_eq!(
            root.read_to_string("/lib/x86_64-linux-gnu/libnvidia-ml.so.1")
                .unwrap(),
            "lib"
        );
    }

    #[test]
    fn dotdot_never_climbs_above_the_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("etc")).unwrap();
        symlink("../../../../etc", r.join("etc/up")).unwrap();
        let root = HostRoot::new(r);
        assert_eq!(root.resolve_host("/etc/up/passwd"), "/etc/passwd");
    }

    #[test]
    fn link_loops_end() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        symlink("/b", r.join("a")).unwrap();
        symlink("/a", r.join("b")).unwrap();
        let root = HostRoot::new(r);
        let _ = root.resolve_host("/a/x");
        assert!(root.read_to_string("/a/x").is_err());
    }

    #[test]
    fn the_live_root_follows_links_too() {
        // The live root must resolve `libnvidia-ml.so.1 -> libnvidia-ml.so.<version>` like a fixture root does.
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("libnvidia-ml.so.580.95.05"), b"lib").unwrap();
        symlink(
            "libnvidia-ml.so.580.95.05",
            t.path().join("libnvidia-ml.so.1"),
        )
        .unwrap();
        let link = t.path().join("libnvidia-ml.so.1");
        let resolved = HostRoot::system().resolve_host(link.to_str().unwrap());
        assert!(
            resolved.ends_with("/libnvidia-ml.so.580.95.05"),
            "{resolved}"
        );
        assert_eq!(
            HostRoot::system().resolve_host("/no/such/path"),
            "/no/such/path"
        );
    }

    #[test]
    fn read_link_gives_the_link_text() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("proc/42/fd")).unwrap();
        symlink("/dev/nvidia0", r.join("proc/42/fd/3")).unwrap();
        let root = HostRoot::new(r);
        assert_eq!(root.read_link("/proc/42/fd/3").unwrap(), "/dev/nvidia0");
    }
}
