//! The one way nvfix writes a file as root: a temp file nobody can plant, synced, renamed over the target.
//!
//! The folder is opened once (O_DIRECTORY|O_NOFOLLOW: a linked final folder is refused) and everything after is
//! relative to that descriptor, so swapping the folder mid-way changes nothing. The temp file has an unpredictable
//! name and is created O_CREAT|O_EXCL|O_NOFOLLOW, so a link planted at any name is never followed; its mode is set on
//! the descriptor (the umask does not matter); `renameat` replaces a link at the target instead of writing through
//! it; the folder is synced so the rename survives a crash. The temp file is removed on every error path.

use crate::host::{HostError, HostRoot};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// How the target's folder is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirRule {
    /// Created with this mode (and missing parents) when absent; an existing folder is used as it is.
    Shared { create_mode: u32 },
    /// nvfix's own state folder: created 0700 when absent; it must belong to the effective user and be writable by
    /// nobody else, else it was planted and is refused.
    Private,
}

/// Opens `dir` without following a link at its last component, creating it first as `rule` says.
pub fn open_dir(dir: &Path, rule: DirRule) -> Result<OwnedFd, HostError> {
    let create_mode = match rule {
        DirRule::Shared { create_mode } => create_mode,
        DirRule::Private => 0o700,
    };
    let open = || {
        rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let fd = match open() {
        Err(Errno::NOENT) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(create_mode)
                .create(dir)
                .map_err(|source| write_err(dir, source))?;
            open()
        }
        other => other,
    }
    .map_err(|e| match e {
        // O_NOFOLLOW on a link gives ELOOP; O_DIRECTORY on a file gives ENOTDIR.
        Errno::LOOP | Errno::NOTDIR => HostError::Invalid {
            path: dir.to_path_buf(),
            message: "is a link or not a folder; nvfix refuses to write through it".into(),
        },
        e => write_err(dir, e.into()),
    })?;
    if rule == DirRule::Private {
        check_private(dir, &fd)?;
    }
    Ok(fd)
}

/// A private folder belongs to the effective user and is writable by nobody else; anything else was planted.
fn check_private(dir: &Path, fd: &OwnedFd) -> Result<(), HostError> {
    let st = rustix::fs::fstat(fd).map_err(|e| write_err(dir, e.into()))?;
    let euid = rustix::process::geteuid().as_raw();
    if st.st_uid != euid {
        return Err(HostError::Invalid {
            path: dir.to_path_buf(),
            message: format!(
                "belongs to uid {}, not to uid {euid} running nvfix: someone else created it; check it and remove it",
                st.st_uid
            ),
        });
    }
    if st.st_mode & 0o022 != 0 {
        return Err(HostError::Invalid {
            path: dir.to_path_buf(),
            message: format!(
                "is writable by others (mode {:o}): someone could plant files in it; check it and remove it",
                st.st_mode & 0o7777
            ),
        });
    }
    Ok(())
}

/// Writes a host path under `root` (`/etc/apt/apt.conf.d/51nvfix-hold` → `<root>/etc/…`). Only the folders above
/// the file's folder are resolved through the root's links: a link at the folder is refused and a link at the file
/// replaced, never followed (resolving either would write wherever it points).
pub fn write_host_file(
    root: &HostRoot,
    host_path: &str,
    bytes: &[u8],
    mode: u32,
    rule: DirRule,
) -> Result<(), HostError> {
    let (dir, name) = split(Path::new(host_path))?;
    // Links above the folder resolve inside the root; the folder itself is opened without following a link.
    let local_dir = match (dir.parent(), dir.file_name()) {
        (Some(up), Some(last)) => root.resolve(&up.to_string_lossy()).join(last),
        _ => root.resolve(&dir.to_string_lossy()),
    };
    write_file(&local_dir.join(name), bytes, mode, rule)
}

/// Writes `bytes` to `path` atomically with `mode`, its folder treated as `rule` says.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32, rule: DirRule) -> Result<(), HostError> {
    let (dir, name) = split(path)?;
    let dir_fd = open_dir(&dir, rule)?;
    write_in_dir(&dir_fd, &dir, name, bytes, mode)
}

/// Writes `bytes` to `name` inside the open folder `dir_fd` (`dir` only names it in errors).
pub fn write_in_dir(
    dir_fd: &OwnedFd,
    dir: &Path,
    name: &OsStr,
    bytes: &[u8],
    mode: u32,
) -> Result<(), HostError> {
    let target = dir.join(name);
    let err = |e: Errno| write_err(&target, e.into());
    let (tmp_name, tmp) = create_temp(dir_fd, name).map_err(err)?;
    let written = (|| {
        rustix::fs::fchmod(&tmp, Mode::from_raw_mode(mode))?;
        write_all(&tmp, bytes)?;
        rustix::fs::fsync(&tmp)?;
        drop(tmp);
        rustix::fs::renameat(dir_fd, &tmp_name, dir_fd, name)
    })();
    if let Err(e) = written {
        let _ = rustix::fs::unlinkat(dir_fd, &tmp_name, AtFlags::empty());
        return Err(err(e));
    }
    rustix::fs::fsync(dir_fd).map_err(|e| write_err(dir, e.into()))
}

/// Creates `.<name>.<16 random hex digits>.tmp` exclusively: a leading dot and a `.tmp` end, because
/// node_exporter's textfile collector reads only `*.prom` and apt skips dotfiles and unknown endings.
fn create_temp(dir_fd: &OwnedFd, name: &OsStr) -> Result<(PathBuf, OwnedFd), Errno> {
    let mut last = Errno::EXIST;
    for _ in 0..8 {
        let random = getrandom::u64().map_err(|_| Errno::IO)?;
        let mut tmp = std::ffi::OsString::from(".");
        tmp.push(name);
        tmp.push(format!(".{random:016x}.tmp"));
        let tmp = PathBuf::from(tmp);
        match rustix::fs::openat(
            dir_fd,
            &tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => return Ok((tmp, fd)),
            Err(Errno::EXIST) => last = Errno::EXIST,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn write_all(fd: &impl AsFd, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn split(path: &Path) -> Result<(PathBuf, &OsStr), HostError> {
    let name = path.file_name().ok_or_else(|| HostError::Invalid {
        path: path.to_path_buf(),
        message: "names no file".into(),
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

fn write_err(path: &Path, source: std::io::Error) -> HostError {
    HostError::Write {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    /// A file outside the folder written to, with a known content and mode, that no write may touch.
    fn bystander(dir: &Path) -> PathBuf {
        let p = dir.join("precious");
        fs::write(&p, "keep me\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    fn untouched(p: &Path) {
        assert_eq!(fs::read_to_string(p).unwrap(), "keep me\n");
        assert_eq!(mode(p), 0o600);
    }

    #[test]
    fn writes_with_the_mode_asked_whatever_the_umask_and_leaves_no_temp_file() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("a/b/nvfix.prom");
        write_file(
            &path,
            b"one\n",
            0o644,
            DirRule::Shared { create_mode: 0o755 },
        )
        .unwrap();
        write_file(
            &path,
            b"two\n",
            0o640,
            DirRule::Shared { create_mode: 0o755 },
        )
        .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
        assert_eq!(mode(&path), 0o640);
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("nvfix.prom")]);
    }

    #[test]
    fn a_link_at_the_target_is_replaced_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let outside = bystander(t.path());
        let dir = t.path().join("etc");
        fs::create_dir(&dir).unwrap();
        let target = dir.join("51nvfix-hold");
        symlink(&outside, &target).unwrap();
        write_file(
            &target,
            b"hold\n",
            0o644,
            DirRule::Shared { create_mode: 0o755 },
        )
        .unwrap();
        untouched(&outside);
        let meta = fs::symlink_metadata(&target).unwrap();
        assert!(
            meta.file_type().is_file(),
            "the link was replaced by a file"
        );
        assert_eq!(mode(&target), 0o644);
        assert_eq!(fs::read_to_string(&target).unwrap(), "hold\n");
    }

    #[test]
    fn links_at_the_old_predictable_temp_names_are_never_followed() {
        let t = tempfile::tempdir().unwrap();
        let outside = bystander(t.path());
        let dir = t.path().join("state");
        fs::create_dir(&dir).unwrap();
        // What the three old writers used: `.<name>.<pid>.tmp`, `journal.json.tmp`, `.reboots.json.tmp`.
        for planted in [
            format!(".nvfix.prom.{}.tmp", std::process::id()),
            "journal.json.tmp".into(),
            ".reboots.json.tmp".into(),
        ] {
            symlink(&outside, dir.join(planted)).unwrap();
        }
        for name in ["nvfix.prom", "journal.json", "reboots.json"] {
            write_file(&dir.join(name), b"new\n", 0o600, DirRule::Private).unwrap();
            assert_eq!(fs::read_to_string(dir.join(name)).unwrap(), "new\n");
        }
        untouched(&outside);
    }

    #[test]
    fn a_linked_folder_is_refused_and_nothing_is_created_behind_it() {
        let t = tempfile::tempdir().unwrap();
        let elsewhere = t.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        symlink(&elsewhere, t.path().join("linked")).unwrap();
        for rule in [DirRule::Private, DirRule::Shared { create_mode: 0o755 }] {
            let err = write_file(&t.path().join("linked/file"), b"x", 0o644, rule).unwrap_err();
            assert!(err.to_string().contains("link"), "{err}");
        }
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn host_paths_resolve_links_above_the_folder_only() {
        let t = tempfile::tempdir().unwrap();
        let root = HostRoot::new(t.path());
        // `/var/run -> /run` style: a link above the folder resolves inside the root.
        fs::create_dir_all(t.path().join("real/lib")).unwrap();
        symlink("/real/lib", t.path().join("lib")).unwrap();
        write_host_file(&root, "/lib/nvfix/state", b"x", 0o644, DirRule::Private).unwrap();
        assert!(t.path().join("real/lib/nvfix/state").is_file());
        // A link at the folder itself is refused.
        let elsewhere = t.path().join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::create_dir_all(t.path().join("etc/apt")).unwrap();
        symlink(&elsewhere, t.path().join("etc/apt/apt.conf.d")).unwrap();
        let shared = DirRule::Shared { create_mode: 0o755 };
        let err = write_host_file(
            &root,
            "/etc/apt/apt.conf.d/51nvfix-hold",
            b"x",
            0o644,
            shared,
        )
        .unwrap_err();
        assert!(err.to_string().contains("link"), "{err}");
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn a_private_folder_writable_by_others_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("run/nvfix");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let err = write_file(&dir.join("journal.json"), b"x", 0o600, DirRule::Private).unwrap_err();
        assert!(err.to_string().contains("writable by others"), "{err}");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        // Created by nvfix: 0700.
        let fresh = t.path().join("fresh/nvfix");
        write_file(&fresh.join("journal.json"), b"x", 0o600, DirRule::Private).unwrap();
        assert_eq!(mode(&fresh), 0o700);
    }

    #[test]
    fn a_failed_write_leaves_no_temp_file() {
        let t = tempfile::tempdir().unwrap();
        // A folder at the target: the rename fails after the temp file was written.
        fs::create_dir(t.path().join("target")).unwrap();
        fs::write(t.path().join("target/inside"), "x").unwrap();
        let dir = t.path().to_path_buf();
        assert!(write_file(&dir.join("target"), b"x", 0o644, DirRule::Private).is_err());
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec![std::ffi::OsString::from("target")]);
    }
}
