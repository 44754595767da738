//! A root-only cache of what module files say, so `nvfix-check.timer` does not decompress 80 MB every 5 minutes.
//!
//! `/var/cache/nvfix/modules.json` maps a file's identity (device, inode, size, mtime and ctime, all to the
//! nanosecond) to its facts. Any change to a file (rewritten, touched, replaced by a rename, its metadata changed)
//! changes its identity, so an entry can only ever answer for the very file it was read from. The folder is made
//! 0700 through the safe writer; the cache is trusted only when the folder and the file belong to root or to the user
//! running nvfix and nobody else can write them, else it is not read and not written (a warning says so). A garbled
//! cache is ignored and rewritten. Under `--root DIR` the cache lives in the tree only when `DIR/var/cache/nvfix`
//! already exists and passes the same checks: nvfix does not add folders to a tree it is pointed at.

use super::atomic_write::{write_file, DirRule};
use super::HostRoot;
use crate::model::facts::GatherWarning;
use crate::model::module_image::ModuleImageFacts;
use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Where the cache lives on the host.
pub const CACHE_DIR: &str = "/var/cache/nvfix";
const CACHE_FILE: &str = "modules.json";
/// Bumped whenever the facts or their meaning change: an older cache is then ignored.
const FORMAT: u32 = 1;
/// Bounds on what is read back (a real host has a few dozen module files).
const MAX_ENTRIES: usize = 1024;
const MAX_CACHE_BYTES: u64 = 16 << 20;

/// Who a file is: any change to its content or its inode changes one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
}

impl FileIdentity {
    pub fn of(m: &std::fs::Metadata) -> Self {
        FileIdentity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_nsec: m.ctime_nsec(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The host path it was read at (to drop entries of files that are gone; never used to find an entry).
    path: String,
    id: FileIdentity,
    facts: ModuleImageFacts,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    entries: Vec<Entry>,
}

/// The cache for one run: read once at the start, written once at the end when something changed.
pub struct ModuleCache {
    /// The cache folder as a local path, when the cache may be used at all.
    dir: Option<PathBuf>,
    loaded: HashMap<(u64, u64), Entry>,
    used: HashMap<(u64, u64), Entry>,
    changed: bool,
    /// Why the folder or file was not trusted (a warning for the report).
    refused: Option<GatherWarning>,
}

impl ModuleCache {
    /// A cache that is never read or written (tests; hosts where it is not wanted).
    pub fn disabled() -> Self {
        ModuleCache {
            dir: None,
            loaded: HashMap::new(),
            used: HashMap::new(),
            changed: false,
            refused: None,
        }
    }

    /// Opens the cache of `root` (see the module's rules for where and when).
    pub fn open(root: &HostRoot) -> Self {
        let mut cache = ModuleCache::disabled();
        let dir = cache_dir(root);
        let dir_fd = match open_nofollow(&dir, OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) if root.is_system() => {
                cache.dir = Some(dir); // made on the first write
                return cache;
            }
            Err(_) => return cache,
        };
        if let Err(why) = trusted(&dir_fd, true) {
            cache.refused = Some(GatherWarning {
                file: CACHE_DIR.to_string(),
                message: format!("{why}: the module cache there is not used"),
            });
            return cache;
        }
        cache.dir = Some(dir);
        cache.loaded = read_entries(&dir_fd).unwrap_or_default();
        cache
    }

    /// This cache, read as usual but never written back.
    pub fn never_saved(mut self) -> Self {
        self.dir = None;
        self
    }

    /// The warning to report when the cache folder was not trusted.
    pub fn refusal(&self) -> Option<&GatherWarning> {
        self.refused.as_ref()
    }

    /// The facts cached for exactly this file, if any.
    pub fn get(&mut self, id: &FileIdentity) -> Option<ModuleImageFacts> {
        let key = (id.dev, id.ino);
        if let Some(e) = self.used.get(&key).filter(|e| e.id == *id) {
            return Some(e.facts.clone());
        }
        match self.loaded.get(&key) {
            Some(e) if e.id == *id => {
                self.used.insert(key, e.clone());
                Some(e.facts.clone())
            }
            Some(_) => {
                self.changed = true; // a stale entry: rewrite without it
                None
            }
            None => None,
        }
    }

    /// Records what a file says. Kept for this run even when the cache is not written (a file reached by two paths,
    /// as RHEL's weak-updates links, is then decompressed once).
    pub fn put(&mut self, host_path: &str, id: FileIdentity, facts: ModuleImageFacts) {
        self.changed = true;
        self.used.insert(
            (id.dev, id.ino),
            Entry {
                path: host_path.to_string(),
                id,
                facts,
            },
        );
    }

    /// Writes the cache back when it changed: the entries used in this run, and the others whose file is still the
    /// same. Errors are not reported: a cache that cannot be written only costs the next run time.
    pub fn save(self, root: &HostRoot) {
        let Some(dir) = self.dir else { return };
        if !self.changed {
            return;
        }
        let mut entries: Vec<Entry> = self.used.into_values().collect();
        for (key, e) in self.loaded {
            if entries.iter().any(|u| (u.id.dev, u.id.ino) == key) {
                continue;
            }
            let same = std::fs::metadata(root.resolve(&e.path))
                .is_ok_and(|m| FileIdentity::of(&m) == e.id);
            if same {
                entries.push(e);
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries.truncate(MAX_ENTRIES);
        let Ok(bytes) = serde_json::to_vec(&CacheFile {
            format: FORMAT,
            entries,
        }) else {
            return;
        };
        let _ = write_file(&dir.join(CACHE_FILE), &bytes, 0o600, DirRule::Private);
    }
}

/// `<root>/var/cache/nvfix`: the folders above resolved inside the root, the last one never followed.
fn cache_dir(root: &HostRoot) -> PathBuf {
    let (up, name) = CACHE_DIR.rsplit_once('/').unwrap_or(("", CACHE_DIR));
    root.resolve(up).join(name)
}

fn open_nofollow(path: &std::path::Path, extra: OFlags) -> Result<OwnedFd, rustix::io::Errno> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | extra,
        Mode::empty(),
    )
}

/// Belongs to root or to the effective user, and nobody else may write it.
fn trusted(fd: &OwnedFd, is_dir: bool) -> Result<(), String> {
    let st = rustix::fs::fstat(fd).map_err(|e| format!("cannot check: {e}"))?;
    let euid = rustix::process::geteuid().as_raw();
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    let want = if is_dir {
        rustix::fs::FileType::Directory
    } else {
        rustix::fs::FileType::RegularFile
    };
    if kind != want {
        return Err("is not a plain folder or file".into());
    }
    if st.st_uid != 0 && st.st_uid != euid {
        return Err(format!(
            "belongs to uid {}, neither root nor uid {euid} running nvfix",
            st.st_uid
        ));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(format!(
            "is writable by group or others (mode {:o})",
            st.st_mode & 0o7777
        ));
    }
    Ok(())
}

/// The entries of a trusted cache file; None for a missing, untrusted, oversized or garbled one.
fn read_entries(dir_fd: &OwnedFd) -> Option<HashMap<(u64, u64), Entry>> {
    let fd = rustix::fs::openat(
        dir_fd,
        CACHE_FILE,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    trusted(&fd, false).ok()?;
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_CACHE_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MAX_CACHE_BYTES {
        return None;
    }
    let file: CacheFile = serde_json::from_slice(&bytes).ok()?;
    if file.format != FORMAT {
        return None;
    }
    Some(
        file.entries
            .into_iter()
            .take(MAX_ENTRIES)
            .map(|e| ((e.id.dev, e.id.ino), e))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::module_reader::ModuleReader;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    const MODULE: &str = "/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst";

    /// A tree with one module (580.95.05) and, when `cache`, a private cache folder.
    fn tree(cache: bool) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join(MODULE.trim_start_matches('/'));
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/modules/580.95.05/nvidia.ko.zst"),
            &dest,
        )
        .unwrap();
        if cache {
            let dir = t.path().join("var/cache/nvfix");
            fs::create_dir_all(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        }
        t
    }

    /// One run: the module's version as read, and the cache warning.
    fn run(root: &HostRoot) -> (Option<String>, Option<GatherWarning>) {
        let reader = ModuleReader::new(root);
        let version = reader.read(MODULE).ok().and_then(|f| f.info.version);
        let warning = reader.cache_warning();
        reader.finish();
        (version, warning)
    }

    fn cache_file(t: &tempfile::TempDir) -> std::path::PathBuf {
        t.path().join("var/cache/nvfix/modules.json")
    }

    /// Rewrites every cached version to `version`: a run that reports it answered from the cache.
    fn forge_cached_version(t: &tempfile::TempDir, version: &str) {
        let mut json: serde_json::Value =
            serde_json::from_slice(&fs::read(cache_file(t)).unwrap()).unwrap();
        for e in json["entries"].as_array_mut().unwrap() {
            e["facts"]["info"]["version"] = version.into();
        }
        fs::write(cache_file(t), serde_json::to_vec(&json).unwrap()).unwrap();
    }

    #[test]
    fn a_second_run_answers_from_the_cache() {
        let t = tree(true);
        let root = HostRoot::new(t.path());
        assert_eq!(run(&root).0.as_deref(), Some("580.95.05"));
        let mode = fs::metadata(cache_file(&t)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        forge_cached_version(&t, "1.2.3");
        assert_eq!(run(&root), (Some("1.2.3".into()), None));
    }

    #[test]
    fn a_changed_or_replaced_file_is_read_again() {
        let t = tree(true);
        let root = HostRoot::new(t.path());
        let module = t.path().join(MODULE.trim_start_matches('/'));
        run(&root);
        // Touched: same content, new mtime and ctime.
        forge_cached_version(&t, "1.2.3");
        let f = fs::File::options().write(true).open(&module).unwrap();
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
            .unwrap();
        drop(f);
        assert_eq!(run(&root).0.as_deref(), Some("580.95.05"));
        // Replaced by a rename (another inode), same size and content.
        forge_cached_version(&t, "1.2.3");
        let copy = module.with_extension("new");
        fs::copy(&module, &copy).unwrap();
        fs::rename(&copy, &module).unwrap();
        assert_eq!(run(&root).0.as_deref(), Some("580.95.05"));
        // Size changed in place (a trailing byte: zstd ignores nothing, so the read now fails; not the cached answer).
        forge_cached_version(&t, "1.2.3");
        let mut bytes = fs::read(&module).unwrap();
        bytes.push(0);
        fs::write(&module, &bytes).unwrap();
        assert_ne!(run(&root).0.as_deref(), Some("1.2.3"));
    }

    #[test]
    fn an_unsafe_cache_folder_is_neither_read_nor_written() {
        let t = tree(true);
        let root = HostRoot::new(t.path());
        run(&root);
        forge_cached_version(&t, "1.2.3");
        let dir = t.path().join("var/cache/nvfix");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let (version, warning) = run(&root);
        assert_eq!(version.as_deref(), Some("580.95.05"));
        let warning = warning.expect("a warning about the folder");
        assert_eq!(warning.file, CACHE_DIR);
        assert!(
            warning.message.contains("writable by group or others"),
            "{warning:?}"
        );
        // Not rewritten: the forged entry is still there.
        assert!(String::from_utf8(fs::read(cache_file(&t)).unwrap())
            .unwrap()
            .contains("1.2.3"));
    }

    #[test]
    fn a_cache_file_others_can_write_is_ignored() {
        let t = tree(true);
        let root = HostRoot::new(t.path());
        run(&root);
        forge_cached_version(&t, "1.2.3");
        fs::set_permissions(cache_file(&t), fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(run(&root).0.as_deref(), Some("580.95.05"));
    }

    #[test]
    fn a_linked_cache_folder_is_not_followed() {
        let t = tree(false);
        let elsewhere = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("var/cache")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), t.path().join("var/cache/nvfix")).unwrap();
        let root = HostRoot::new(t.path());
        assert_eq!(run(&root).0.as_deref(), Some("580.95.05"));
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_garbled_cache_is_ignored_and_rewritten() {
        let t = tree(true);
        let root = HostRoot::new(t.path());
        for garbage in [
            &b"{\"format\": 1, \"entries\": [{\"path\": 7"[..],
            b"\x00\xff",
            b"[]",
            b"",
        ] {
            fs::write(cache_file(&t), garbage).unwrap();
            fs::set_permissions(cache_file(&t), fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(run(&root), (Some("580.95.05".into()), None));
            let json: serde_json::Value =
                serde_json::from_slice(&fs::read(cache_file(&t)).unwrap()).unwrap();
            assert_eq!(json["entries"].as_array().unwrap().len(), 1);
        }
    }

    #[test]
    fn a_tree_without_a_cache_folder_gets_none() {
        let t = tree(false);
        let root = HostRoot::new(t.path());
        assert_eq!(run(&root), (Some("580.95.05".into()), None));
        assert!(!t.path().join("var").exists());
    }
}
