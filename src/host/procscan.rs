//! Scans processes (through procfs, under the host root) for GPU holders: open NVIDIA devices and mapped driver libraries.
//!
//! # What a fixture process needs
//!
//! A fixture host tree describes process `<pid>` with files under `<root>/proc/<pid>/`; only the first is required:
//!
//! - `fd/<n>`: one symlink per open descriptor whose *text* is the target (`/dev/nvidia0`, `/dev/nvidiactl`,
//!   `socket:[1234]`, …). The link is read, never followed, so the target need not exist in the tree. A process with
//!   no `fd` folder (or an empty one) and no driver library in `maps` is not a holder.
//! - `maps`: the kernel's text, one mapping a line (`7f…-7f… r-xp 00000000 08:01 1234   /usr/lib/…/libcuda.so.1`,
//!   possibly ending in ` (deleted)`). Only the path column matters (everything from the first `/`). Read for every
//!   process when library maps are asked for (`nvfix ps`, `diagnose`).
//! - `stat`: one line as the kernel writes it, all 52 fields: `<pid> (<comm>) S <ppid> …`; nvfix uses comm (field 2)
//!   and starttime (field 22, clock ticks after boot: 100 a second on x86 and arm64). Missing or garbled: the holder is
//!   still listed, with comm from `comm` and no start time.
//! - `comm`: the command name and a newline; only read when `stat` cannot be parsed.
//! - `status`: only the `Uid:` line is read (`Uid:\t1000\t1000\t1000\t1000`, real uid first). Missing: the owner of
//!   the `proc/<pid>` folder is used.
//! - `cmdline`: argv NUL-separated (`/usr/bin/python3\0train.py\0`); empty for kernel threads and zombies.
//! - `exe`: symlink to the executable's host path (text only); its base name labels known services.
//! - `cgroup`: `0::/system.slice/docker-<id>.scope`, `0::/system.slice/dcgm.service`, `0::/user.slice/…`: names the
//!   container, the system service unit, or the user session it runs in.
//!
//! User names come from `<root>/etc/passwd` (uid number when absent). A tree whose `proc/self` links to the scanner's
//! own pid (the live `/proc`) gets the scanner itself skipped.

use super::read_budget::{read_capped, FileKind};
use super::{HostError, HostRoot};
use crate::model::containers::{driver_library_mounts, ContainerMounts};
use crate::model::holders::{
    classify_holder, container_from_cgroup, is_driver_library, is_nvidia_device, GpuHolder,
};
use procfs::process::Process;
use procfs::ProcError;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What to look for besides `/dev/nvidia*`.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Host paths of DRM nodes driven by nvidia_drm (`/dev/dri/card1`, `/dev/dri/renderD128`), from sysfs.
    pub nvidia_drm_nodes: Vec<String>,
    /// Which processes' `/proc/<pid>/maps` to read for driver libraries.
    pub library_maps: LibraryMaps,
}

/// Reading `maps` is most of a scan's cost (the kernel formats every mapping), so callers choose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LibraryMaps {
    /// Devices only: what blocks an unload (fuser's job). The fast scan.
    #[default]
    Skip,
    /// Devices, then the libraries of the processes found holding one (to flag `(deleted)` old libraries).
    /// `diagnose` uses this: it stays fast on hosts with thousands of processes.
    OfDeviceHolders,
    /// Every process: also finds processes that only map libcuda/libnvidia-ml — e.g. a job whose CUDA init failed
    /// during the mismatch and will keep failing until restarted. `nvfix ps` does this.
    All,
}

/// The result of one scan: the holders, and how many processes could not be looked into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolderScan {
    /// Every process holding the GPU, sorted by pid.
    pub holders: Vec<GpuHolder>,
    /// Processes whose open files or maps were denied to us (another user's, when not run as root): any of them
    /// may hold the GPU unseen, so callers should say "N processes could not be inspected (run as root)".
    pub unreadable: usize,
}

impl HolderScan {
    /// What to tell the user about the processes that could not be inspected, if any: any of them may hold the GPU.
    pub fn unreadable_note(&self) -> Option<String> {
        let n = self.unreadable;
        (n > 0).then(|| {
            if rustix::process::geteuid().is_root() {
                // Root is refused too when a process belongs to another user namespace or a security module says no.
                format!("{n} process(es) could not be inspected even as root (another user namespace or a security module refused)")
            } else {
                format!("{n} process(es) could not be inspected (run as root to see them all)")
            }
        })
    }
}

/// The text the kernel appends to a path whose file was removed or replaced while still open or mapped.
const DELETED_SUFFIX: &str = " (deleted)";

/// Every process holding the GPU, sorted by pid.
pub fn scan_holders(root: &HostRoot, options: &ScanOptions) -> Result<Vec<GpuHolder>, HostError> {
    scan_holders_report(root, options).map(|scan| scan.holders)
}

/// Scans every process under `<root>/proc` and reports the holders and the count of processes it could not inspect.
/// Processes that exit during the scan are skipped silently.
pub fn scan_holders_report(
    root: &HostRoot,
    options: &ScanOptions,
) -> Result<HolderScan, HostError> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    scan_with_threads(root, options, cpus.min(MAX_SCAN_THREADS))
}

/// The scan, on at most `max_threads` threads.
fn scan_with_threads(
    root: &HostRoot,
    options: &ScanOptions,
    max_threads: usize,
) -> Result<HolderScan, HostError> {
    let proc_dir = root.resolve("/proc");
    let pids = match list_pids(&proc_dir) {
        Ok(pids) => pids,
        // A tree with no /proc (an image, a partial fixture) simply has no processes to hold anything.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(HolderScan::default()),
        Err(source) => {
            return Err(HostError::Read {
                path: "/proc".into(),
                source,
            })
        }
    };
    let own_pid = own_pid_under(&proc_dir);
    /// Pids a worker takes at a time from the shared cursor.
    const SCAN_BATCH: usize = 64;

    // The scan is syscall-bound (the kernel formats every fd link and maps line), so it spreads over a few threads;
    // on a 3,000-process host each thread still has hundreds of processes to amortise its start.
    let threads = max_threads
        .max(1)
        .min(pids.len().div_ceil(MIN_PIDS_PER_THREAD).max(1));
    let mut scan = HolderScan::default();
    if threads <= 1 {
        scan_pids(&proc_dir, &pids, own_pid, options, &mut scan);
    } else {
        // Workers take small batches from a shared cursor rather than fixed halves: a thread that is slowed (by
        // diagnose's file reads beside it, or by processes with thousands of fds) does not hold the others up.
        let cursor = std::sync::atomic::AtomicUsize::new(0);
        let parts: Vec<HolderScan> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let (proc_dir, pids, cursor) = (&proc_dir, &pids, &cursor);
                    scope.spawn(move || {
                        let mut part = HolderScan::default();
                        loop {
                            let start =
                                cursor.fetch_add(SCAN_BATCH, std::sync::atomic::Ordering::Relaxed);
                            let Some(batch) = pids.get(start..(start + SCAN_BATCH).min(pids.len()))
                            else {
                                break;
                            };
                            if batch.is_empty() {
                                break;
                            }
                            scan_pids(proc_dir, batch, own_pid, options, &mut part);
                        }
                        part
                    })
                })
                .collect();
            workers
                .into_iter()
                // A worker can only panic on a bug; its share is then missing rather than the whole scan failing.
                .filter_map(|w| w.join().ok())
                .collect()
        });
        for part in parts {
            scan.holders.extend(part.holders);
            scan.unreadable += part.unreadable;
        }
    }

    if !scan.holders.is_empty() {
        let names = load_user_names(root);
        for holder in &mut scan.holders {
            holder.user = names
                .get(&holder.uid)
                .cloned()
                .unwrap_or_else(|| holder.uid.to_string());
        }
    }
    scan.holders.sort_by_key(|h| h.pid);
    Ok(scan)
}

/// At most this many scanning threads: beyond it the kernel's per-process locks, not the CPUs, limit the scan.
const MAX_SCAN_THREADS: usize = 8;
/// Fewer processes than this per thread are not worth a thread's start.
const MIN_PIDS_PER_THREAD: usize = 256;

/// The mount namespaces other than the host's that have driver libraries mounted (GPU containers), each seen through
/// its lowest pid. The host's namespace is pid 1's. One readlink per process (its `ns/mnt`), then `mountinfo` and
/// `cgroup` once per other namespace; processes that cannot be looked at (another user's, exited) are skipped.
pub fn scan_container_mounts(root: &HostRoot) -> Vec<ContainerMounts> {
    let proc_dir = root.resolve("/proc");
    let Ok(pids) = list_pids(&proc_dir) else {
        return Vec::new();
    };
    let namespace_of = |pid: i32| std::fs::read_link(proc_dir.join(format!("{pid}/ns/mnt"))).ok();
    let host = namespace_of(1);
    let mut seen = std::collections::HashSet::new();
    let mut found = Vec::new();
    for pid in pids {
        let Some(ns) = namespace_of(pid) else {
            continue;
        };
        if Some(&ns) == host.as_ref() || !seen.insert(ns) {
            continue;
        }
        let pid_dir = proc_dir.join(pid.to_string());
        let Some(mountinfo) = read_kernel_file(&pid_dir.join("mountinfo")) else {
            continue;
        };
        let mounts = driver_library_mounts(&String::from_utf8_lossy(&mountinfo));
        if mounts.is_empty() {
            continue;
        }
        let container = read_kernel_file(&pid_dir.join("cgroup"))
            .and_then(|text| container_from_cgroup(&String::from_utf8_lossy(&text)));
        found.push(ContainerMounts {
            pid,
            container,
            mounts,
        });
    }
    found
}

/// The numeric entries of `<proc>` (processes; threads are not listed there, so each process is seen once).
fn list_pids(proc_dir: &Path) -> std::io::Result<Vec<i32>> {
    let mut pids: Vec<i32> = std::fs::read_dir(proc_dir)?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Scans some pids into `scan` (user names are filled in later, once for all holders).
fn scan_pids(
    proc_dir: &Path,
    pids: &[i32],
    own_pid: Option<i32>,
    options: &ScanOptions,
    scan: &mut HolderScan,
) {
    let mut scratch = Scratch::default();
    let mut pid_path = proc_dir.to_path_buf();
    for &pid in pids {
        if Some(pid) == own_pid {
            continue;
        }
        pid_path.push(pid.to_string());
        // Most processes are not holders: look at their files by path (one open each for `fd` and `maps`), and
        // only open the process through procfs for the few that are.
        let inspection = collect_held_files(&pid_path, options, &mut scratch);
        if let Inspection::Holder = inspection {
            match Process::new_with_root(pid_path.clone()) {
                Ok(process) => scan.holders.push(describe_holder(&process, &mut scratch)),
                Err(ProcError::PermissionDenied(_)) => scan.unreadable += 1,
                Err(_) => {} // exited since
            }
        }
        pid_path.pop();
        match inspection {
            Inspection::Holder | Inspection::NotHolder | Inspection::Gone => {}
            Inspection::Denied => scan.unreadable += 1,
        }
    }
}

/// Buffers reused across processes, so that scanning thousands of non-holders allocates next to nothing.
#[derive(Default)]
struct Scratch {
    devices: Vec<String>,
    libraries: Vec<String>,
    file_bytes: Vec<u8>,
}

/// What looking at one process's open files and maps found.
enum Inspection {
    Holder,
    NotHolder,
    /// The process exited while we looked.
    Gone,
    /// Its fds or maps are not ours to read.
    Denied,
}

/// Fills `scratch.devices` and `scratch.libraries` (sorted, unique) with what this process holds.
fn collect_held_files(pid_dir: &Path, options: &ScanOptions, scratch: &mut Scratch) -> Inspection {
    scratch.devices.clear();
    scratch.libraries.clear();
    let mut denied = false;

    // rustix opens and reads the folder with exactly openat + getdents64 (no fdopendir fstat/fcntl/lseek): on
    // thousands of processes, those extra calls were a third of the scan.
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match rustix::fs::openat(rustix::fs::CWD, pid_dir.join("fd"), flags, Mode::empty()) {
        Ok(dir) => collect_devices(dir, options, &mut scratch.devices),
        Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => denied = true,
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::SRCH) => return Inspection::Gone,
        // Anything else (a fixture's `fd` that is not a folder, an I/O error): nothing readable is held there.
        Err(_) => {}
    }

    let read_maps = match options.library_maps {
        LibraryMaps::Skip => false,
        LibraryMaps::OfDeviceHolders => !scratch.devices.is_empty(),
        LibraryMaps::All => true,
    };
    if read_maps && !denied {
        scratch.file_bytes.clear();
        let read = std::fs::File::open(pid_dir.join("maps"))
            .and_then(|mut f| read_all(&mut f, &mut scratch.file_bytes));
        match read {
            Ok(_) => collect_libraries(&scratch.file_bytes, &mut scratch.libraries),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => denied = true,
            Err(_) => {}
        }
    }

    scratch.devices.sort_unstable();
    scratch.devices.dedup();
    scratch.libraries.sort_unstable();
    scratch.libraries.dedup();
    if !scratch.devices.is_empty() || !scratch.libraries.is_empty() {
        Inspection::Holder
    } else if denied {
        Inspection::Denied
    } else {
        Inspection::NotHolder
    }
}

/// Reads one `fd` folder: usually a single getdents64 and one readlinkat per entry, nothing allocated for targets
/// outside `/dev/`.
fn collect_devices(dir: OwnedFd, options: &ScanOptions, devices: &mut Vec<String>) {
    let mut entries = [0u8; 8192];
    let mut target_buf = [0u8; 512];
    loop {
        // SAFETY: getdents64 writes at most `entries.len()` bytes of linux_dirent64 records into our buffer.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                entries.as_mut_ptr(),
                entries.len(),
            )
        };
        let Ok(n) = usize::try_from(n) else { return };
        if n == 0 {
            return;
        }
        for name in dirent_names(entries.get(..n).unwrap_or_default()) {
            if !name.first().is_some_and(u8::is_ascii_digit) {
                continue; // `.` and `..`
            }
            let Ok(name) = std::ffi::CStr::from_bytes_with_nul(name) else {
                continue;
            };
            let Some(target) = read_link_at(dir.as_fd(), name, &mut target_buf) else {
                continue; // closed since the readdir
            };
            if !target.starts_with(b"/dev/") {
                continue; // sockets, pipes, anon inodes, regular files
            }
            let target = target
                .strip_suffix(DELETED_SUFFIX.as_bytes())
                .unwrap_or(target);
            let Ok(target) = std::str::from_utf8(target) else {
                continue;
            };
            if is_nvidia_device(target) || options.nvidia_drm_nodes.iter().any(|n| n == target) {
                devices.push(target.to_string());
            }
        }
        // The kernel fills the buffer while entries fit: room left for another record means the folder is done,
        // which saves the second getdents64 (a third of the calls for a process with a few descriptors).
        if entries.len() - n > MAX_DIRENT_SIZE {
            return;
        }
    }
}

/// The largest linux_dirent64 record: 19 bytes of header, a 255-byte name, its NUL, padding to 8.
const MAX_DIRENT_SIZE: usize = 280;

/// The names (each with its trailing NUL) of the linux_dirent64 records in `buf`; stops at a malformed record.
fn dirent_names(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut offset = 0usize;
    std::iter::from_fn(move || {
        // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
        let reclen = u16::from_ne_bytes([*buf.get(offset + 16)?, *buf.get(offset + 17)?]) as usize;
        let record = buf.get(offset..offset.checked_add(reclen)?)?;
        if reclen < 20 {
            return None;
        }
        offset += reclen;
        let name = record.get(19..)?;
        let end = name.iter().position(|&b| b == 0)?;
        name.get(..=end)
    })
}

/// readlinkat(2) into a stack buffer; `None` when the link is gone or its text does not fit (no device path is that long).
fn read_link_at<'a>(
    dir: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    buf: &'a mut [u8],
) -> Option<&'a [u8]> {
    // SAFETY: `dir` is an open descriptor, `name` is NUL-terminated, and the kernel writes at most `buf.len()` bytes.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).ok()?;
    if n >= buf.len() {
        return None;
    }
    buf.get(..n)
}

/// Adds the driver libraries named in `/proc/<pid>/maps` text. A library takes several consecutive lines (one per
/// segment), so each distinct run of one path is checked once.
fn collect_libraries(maps: &[u8], libraries: &mut Vec<String>) {
    let mut previous: &[u8] = b"";
    for line in maps.split(|&b| b == b'\n') {
        // The path column is the only one that can contain `/`; anonymous maps (`[heap]`, none) have no path.
        let Some(start) = line.iter().position(|&b| b == b'/') else {
            continue;
        };
        let path = line.get(start..).unwrap_or_default();
        if path == previous {
            continue;
        }
        previous = path;
        let Ok(path) = std::str::from_utf8(path) else {
            continue;
        };
        if is_driver_library(path) {
            libraries.push(path.to_string());
        }
    }
}

/// Everything shown about a holder; only holders pay for these reads.
fn describe_holder(process: &Process, scratch: &mut Scratch) -> GpuHolder {
    let pid = process.pid;
    let stat = read_small(process, "stat", &mut scratch.file_bytes).and_then(|t| parse_stat(&t));
    let (comm, started_secs_after_boot) = match stat {
        Some(stat) => (
            stat.comm,
            Some(stat.starttime / procfs::ticks_per_second().max(1)),
        ),
        None => (
            read_small(process, "comm", &mut scratch.file_bytes)
                .map(|s| s.trim_end_matches('\n').to_string())
                .unwrap_or_default(),
            None,
        ),
    };
    let uid = read_small(process, "status", &mut scratch.file_bytes)
        .and_then(|text| uid_from_status(&text))
        .or_else(|| process.uid().ok())
        .unwrap_or(u32::MAX);
    // Read as bytes: argv need not be UTF-8, and procfs's `cmdline()` fails on such processes.
    let argv: Vec<String> = read_small(process, "cmdline", &mut scratch.file_bytes)
        .map(|text| {
            text.split('\0')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let command = if argv.is_empty() {
        format!("[{comm}]")
    } else {
        argv.join(" ")
    };
    let exe_name = process
        .exe()
        .ok()
        .and_then(|exe| base_name(exe.as_os_str()))
        .or_else(|| argv.first().and_then(|a| base_name(OsStr::new(a))))
        .unwrap_or_default();
    let cgroup = read_small(process, "cgroup", &mut scratch.file_bytes);
    let kind = classify_holder(&comm, &exe_name, cgroup.as_deref());
    GpuHolder {
        pid,
        user: String::new(), // filled in from passwd once the scan is done
        uid,
        command,
        comm,
        started_secs_after_boot,
        devices: std::mem::take(&mut scratch.devices),
        libraries: std::mem::take(&mut scratch.libraries),
        container: kind.container,
        service: kind.service,
        unit: kind.unit,
        user_session: kind.user_session,
    }
}

/// Parses `/proc/<pid>/stat` with procfs, after checking the shape its parser slices by: it indexes around the
/// parentheses without bounds checks and would panic on a garbled line such as `(x)` or `1 (x)`.
fn parse_stat(text: &str) -> Option<procfs::process::Stat> {
    use procfs::FromRead;
    let line = text.trim();
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let bytes = line.as_bytes();
    let shaped = open >= 1
        && close > open
        && bytes.get(open - 1) == Some(&b' ')
        && bytes.get(close + 1) == Some(&b' ')
        && close + 2 < bytes.len();
    if !shaped {
        return None;
    }
    procfs::process::Stat::from_read(line.as_bytes()).ok()
}

/// A per-process file within the kernel-file budget (a container's mountinfo can be megabytes, never more).
fn read_kernel_file(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let (bytes, cut) = read_capped(file, FileKind::Kernel.budget()).ok()?;
    (!cut).then_some(bytes)
}

/// Reads a proc file to its end into `buf`, growing it as needed. Unlike `read_to_end` it does not first fstat and
/// lseek for a size hint (proc files report size 0), which is two syscalls per process saved on a full scan.
fn read_all(file: &mut std::fs::File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    const CHUNK: usize = 16 * 1024;
    let start = buf.len();
    loop {
        let filled = buf.len();
        buf.resize(filled + CHUNK, 0);
        let got = loop {
            match file.read(buf.get_mut(filled..).unwrap_or_default()) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    buf.truncate(filled);
                    return Err(e);
                }
            }
        };
        buf.truncate(filled + got);
        if got == 0 {
            return Ok(buf.len() - start);
        }
        if (buf.len() - start) as u64 > FileKind::Kernel.budget() {
            return Err(std::io::Error::other("larger than the kernel-file budget"));
        }
    }
}

/// A small per-process file as (lossy) text, or `None` when it cannot be read.
fn read_small(process: &Process, name: &str, buf: &mut Vec<u8>) -> Option<String> {
    buf.clear();
    let mut file = process.open_relative(name).ok()?;
    read_all(&mut file, buf).ok()?;
    Some(String::from_utf8_lossy(buf).into_owned())
}

/// The real uid: the first number of the `Uid:` line of `/proc/<pid>/status`.
fn uid_from_status(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// The file name of a path or argv[0], without a ` (deleted)` suffix (a binary replaced by an upgrade).
fn base_name(path: &OsStr) -> Option<String> {
    let bytes = path.as_bytes();
    let bytes = bytes
        .strip_suffix(DELETED_SUFFIX.as_bytes())
        .unwrap_or(bytes);
    let name = bytes.rsplit(|&b| b == b'/').next()?;
    if name.is_empty() {
        return None;
    }
    Some(String::from_utf8_lossy(name).into_owned())
}

/// The pid `<proc>/self` names when `<proc>` is the live /proc and we are in it, so the scan can leave itself out.
fn own_pid_under(proc_dir: &Path) -> Option<i32> {
    let own = i32::try_from(std::process::id()).ok()?;
    let text = std::fs::read_link(proc_dir.join("self")).ok()?;
    let named: i32 = text.to_str()?.parse().ok()?;
    (named == own).then_some(own)
}

/// uid → user name from `<root>/etc/passwd`; empty when the file is missing.
fn load_user_names(root: &HostRoot) -> HashMap<u32, String> {
    root.read_to_string("/etc/passwd")
        .map(|text| parse_passwd(&text))
        .unwrap_or_default()
}

/// Parses passwd(5) lines `name:password:uid:gid:gecos:home:shell`; malformed lines and comments are skipped.
/// When two names share a uid the first wins, as with getpwuid(3).
fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_password), Some(uid)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(uid) = uid.trim().parse::<u32>() else {
            continue;
        };
        if !name.is_empty() {
            names.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::holders::KnownService;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    const LIBCUDA_DELETED: &str = "/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06 (deleted)";
    const DOCKER_ID: &str = "4f2c1b9e8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e";

    /// A `/proc/<pid>/stat` line with all 52 fields, as Linux 6.x writes it.
    fn stat_line(pid: i32, comm: &str, starttime_ticks: u64) -> String {
        format!(
            "{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 1523 0 0 0 12 7 0 0 20 0 4 0 {starttime_ticks} \
             26456064 2874 18446744073709551615 94312245342208 94312245637857 140726390663184 0 0 0 0 \
             4096 16386 0 0 0 17 1 0 0 0 0 0 94312245712944 94312245724384 94312263364608 \
             140726390670123 140726390670160 140726390670160 140726390673385 0\n"
        )
    }

    /// One fixture process: the files procscan reads (see the module docs).
    struct FakeProcess<'a> {
        pid: i32,
        comm: &'a str,
        uid: u32,
        argv: &'a [&'a str],
        exe: &'a str,
        fds: &'a [&'a str],
        maps: &'a [&'a str],
        cgroup: &'a str,
        starttime_ticks: u64,
    }

    impl Default for FakeProcess<'_> {
        fn default() -> Self {
            FakeProcess {
                pid: 1,
                comm: "sleep",
                uid: 0,
                argv: &[],
                exe: "/usr/bin/sleep",
                fds: &["/dev/null", "pipe:[31337]", "socket:[4242]"],
                maps: &["/usr/bin/sleep", "/usr/lib/x86_64-linux-gnu/libc.so.6"],
                cgroup: "0::/user.slice/user-1000.slice/session-2.scope\n",
                starttime_ticks: 4200,
            }
        }
    }

    impl FakeProcess<'_> {
        fn write(&self, root: &Path) {
            let dir = root.join(format!("proc/{}", self.pid));
            fs::create_dir_all(dir.join("fd")).unwrap();
            for (n, target) in self.fds.iter().enumerate() {
                symlink(target, dir.join(format!("fd/{n}"))).unwrap();
            }
            let mut maps = String::from(
                "7ffd1c5e0000-7ffd1c601000 rw-p 00000000 00:00 0                          [stack]\n",
            );
            for (i, path) in self.maps.iter().enumerate() {
                // Two segments per file, as the loader maps text and data separately.
                for seg in 0..2 {
                    maps.push_str(&format!(
                        "7f{i:02x}{seg}0000000-7f{i:02x}{seg}0001000 r-xp 00000000 08:01 {} {path}\n",
                        1000 + i
                    ));
                }
            }
            fs::write(dir.join("maps"), maps).unwrap();
            fs::write(
                dir.join("stat"),
                stat_line(self.pid, self.comm, self.starttime_ticks),
            )
            .unwrap();
            fs::write(dir.join("comm"), format!("{}\n", self.comm)).unwrap();
            fs::write(
                dir.join("status"),
                format!(
                    "Name:\t{}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t1\n\
                     Uid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{uid}\t{uid}\t{uid}\t{uid}\n",
                    self.comm,
                    pid = self.pid,
                    uid = self.uid
                ),
            )
            .unwrap();
            let mut cmdline = Vec::new();
            for a in self.argv {
                cmdline.extend_from_slice(a.as_bytes());
                cmdline.push(0);
            }
            fs::write(dir.join("cmdline"), cmdline).unwrap();
            symlink(self.exe, dir.join("exe")).unwrap();
            fs::write(dir.join("cgroup"), self.cgroup).unwrap();
        }
    }

    fn write_passwd(root: &Path) {
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\n# a comment\ngarbled line\n\
             alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\nnvidia-persistenced:x:121:128::/nonexistent:/usr/sbin/nologin\n",
        )
        .unwrap();
    }

    fn maps_options() -> ScanOptions {
        ScanOptions {
            nvidia_drm_nodes: vec!["/dev/dri/renderD128".into()],
            library_maps: LibraryMaps::All,
        }
    }

    /// The tree every scan test starts from: holders of each kind and non-holders around them.
    fn host_tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write_passwd(r);
        // A CUDA job with the control node, a GPU and the same GPU twice (dup'ed fd).
        FakeProcess {
            pid: 2001,
            comm: "python3",
            uid: 1000,
            argv: &["/usr/bin/python3", "train.py", "--epochs", "3"],
            exe: "/usr/bin/python3.12",
            fds: &[
                "/dev/pts/0",
                "/dev/nvidiactl",
                "/dev/nvidia0",
                "/dev/nvidia0",
                "/dev/nvidia-uvm",
                "anon_inode:[eventfd]",
            ],
            maps: &[
                "/usr/bin/python3.12",
                "/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06",
            ],
            starttime_ticks: 123_456,
            ..FakeProcess::default()
        }
        .write(r);
        // nvidia-persistenced: comm is cut to 15 characters by the kernel.
        FakeProcess {
            pid: 812,
            comm: "nvidia-persiste",
            uid: 121,
            argv: &[
                "/usr/bin/nvidia-persistenced",
                "--user",
                "nvidia-persistenced",
            ],
            exe: "/usr/bin/nvidia-persistenced",
            fds: &["/dev/null", "/dev/nvidiactl", "/dev/nvidia0"],
            cgroup: "0::/system.slice/nvidia-persistenced.service\n",
            ..FakeProcess::default()
        }
        .write(r);
        // Maps the old libcuda that an upgrade replaced on disk, no device open.
        FakeProcess {
            pid: 3100,
            comm: "nvtop",
            uid: 1000,
            argv: &["nvtop"],
            exe: "/usr/bin/nvtop",
            maps: &["/usr/bin/nvtop", LIBCUDA_DELETED],
            ..FakeProcess::default()
        }
        .write(r);
        // In a docker container, holding a DRM render node named by the options.
        FakeProcess {
            pid: 4500,
            comm: "ffmpeg",
            uid: 0,
            argv: &["ffmpeg", "-hwaccel", "cuda"],
            exe: "/usr/bin/ffmpeg",
            fds: &["/dev/dri/renderD128", "/dev/dri/card0"],
            cgroup: &format!("0::/system.slice/docker-{DOCKER_ID}.scope\n"),
            ..FakeProcess::default()
        }
        .write(r);
        // Non-holders: a shell, and a process with a garbled stat that holds nothing.
        FakeProcess {
            pid: 1500,
            comm: "bash",
            argv: &["-bash"],
            exe: "/usr/bin/bash",
            ..FakeProcess::default()
        }
        .write(r);
        t
    }

    fn holder(scan: &HolderScan, pid: i32) -> &GpuHolder {
        scan.holders
            .iter()
            .find(|h| h.pid == pid)
            .unwrap_or_else(|| panic!("pid {pid} not among holders: {:#?}", scan.holders))
    }

    #[test]
    fn finds_holders_of_each_kind_sorted_by_pid() {
        let t = host_tree();
        let scan = scan_holders_report(&HostRoot::new(t.path()), &maps_options()).unwrap();
        let pids: Vec<i32> = scan.holders.iter().map(|h| h.pid).collect();
        assert_eq!(pids, vec![812, 2001, 3100, 4500]);
        assert_eq!(scan.unreadable, 0);
    }

    #[test]
    fn a_cuda_job_is_described_fully() {
        let t = host_tree();
        let scan = scan_holders_report(&HostRoot::new(t.path()), &maps_options()).unwrap();
        let job = holder(&scan, 2001);
        assert_eq!(job.user, "alice");
        assert_eq!(job.uid, 1000);
        assert_eq!(job.command, "/usr/bin/python3 train.py --epochs 3");
        assert_eq!(job.comm, "python3");
        assert_eq!(
            job.devices,
            vec!["/dev/nvidia-uvm", "/dev/nvidia0", "/dev/nvidiactl"]
        );
        assert_eq!(
            job.libraries,
            vec!["/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06"]
        );
        assert_eq!(
            job.started_secs_after_boot,
            Some(123_456 / procfs::ticks_per_second())
        );
        assert_eq!(job.container, None);
        assert_eq!(job.service, None);
        assert!(job.user_session, "its cgroup is a login session's");
        assert_eq!(job.unit, None);
    }

    #[test]
    fn persistenced_is_labelled_as_the_service() {
        let t = host_tree();
        let scan = scan_holders(&HostRoot::new(t.path()), &maps_options()).unwrap();
        let daemon = scan.iter().find(|h| h.pid == 812).unwrap();
        assert_eq!(daemon.service, Some(KnownService::Persistenced));
        assert_eq!(daemon.unit.as_deref(), Some("nvidia-persistenced.service"));
        assert!(!daemon.user_session);
        assert_eq!(daemon.user, "nvidia-persistenced");
        assert_eq!(daemon.devices, vec!["/dev/nvidia0", "/dev/nvidiactl"]);
    }

    #[test]
    fn a_deleted_library_map_makes_a_holder_only_when_maps_are_read() {
        let t = host_tree();
        let root = HostRoot::new(t.path());
        let scan = scan_holders_report(&root, &maps_options()).unwrap();
        let nvtop = holder(&scan, 3100);
        assert!(nvtop.devices.is_empty());
        assert_eq!(nvtop.libraries, vec![LIBCUDA_DELETED]);
        assert!(nvtop.maps_deleted_library());

        let fds_only = ScanOptions {
            library_maps: LibraryMaps::Skip,
            ..maps_options()
        };
        let scan = scan_holders_report(&root, &fds_only).unwrap();
        assert!(scan.holders.iter().all(|h| h.pid != 3100));
        // A device holder is still found, without reading its maps.
        assert!(holder(&scan, 2001).libraries.is_empty());
    }

    #[test]
    fn a_container_and_drm_nodes_named_by_the_options() {
        let t = host_tree();
        let scan = scan_holders_report(&HostRoot::new(t.path()), &maps_options()).unwrap();
        let ffmpeg = holder(&scan, 4500);
        // card0 is not driven by nvidia_drm here: only the node the options name counts.
        assert_eq!(ffmpeg.devices, vec!["/dev/dri/renderD128"]);
        let container = ffmpeg.container.as_ref().expect("a docker container");
        assert_eq!(container.runtime, "docker");
        assert!(DOCKER_ID.starts_with(&container.id) && container.id.len() >= 12);
        assert_eq!(ffmpeg.user, "root");
    }

    #[test]
    fn a_garbled_stat_still_lists_the_holder() {
        let t = host_tree();
        let r = t.path();
        FakeProcess {
            pid: 5000,
            comm: "cuda-app",
            argv: &[],
            fds: &["/dev/nvidia0"],
            ..FakeProcess::default()
        }
        .write(r);
        fs::write(r.join("proc/5000/stat"), b"5000 (cuda-app\xff\x00 garbage").unwrap();
        fs::remove_file(r.join("proc/5000/status")).unwrap();
        let scan = scan_holders_report(&HostRoot::new(r), &maps_options()).unwrap();
        let app = holder(&scan, 5000);
        assert_eq!(app.comm, "cuda-app");
        assert_eq!(app.command, "[cuda-app]");
        assert_eq!(app.started_secs_after_boot, None);
        assert_eq!(app.devices, vec!["/dev/nvidia0"]);
    }

    #[test]
    fn garbled_stat_lines_never_panic() {
        for text in [
            "",
            "(x)",
            "1 (x)",
            "1 (x) ",
            ") 1 (",
            "(",
            "1 (é)S 1",
            "1 \u{e9}(x) S",
            "\u{0}\u{1}\u{2}",
            "1 (x) S notanumber",
        ] {
            assert!(parse_stat(text).is_none(), "{text:?}");
        }
        let stat = parse_stat(&stat_line(7, "a (b) c", 900)).expect("a valid line");
        assert_eq!(stat.comm, "a (b) c");
        assert_eq!(stat.starttime, 900);
    }

    #[test]
    fn an_unreadable_fd_folder_is_counted_not_fatal() {
        let t = host_tree();
        let r = t.path();
        FakeProcess {
            pid: 6000,
            comm: "secret",
            fds: &["/dev/nvidia0"],
            maps: &[],
            ..FakeProcess::default()
        }
        .write(r);
        fs::set_permissions(r.join("proc/6000/fd"), fs::Permissions::from_mode(0o000)).unwrap();
        let scan = scan_holders_report(&HostRoot::new(r), &maps_options());
        fs::set_permissions(r.join("proc/6000/fd"), fs::Permissions::from_mode(0o755)).unwrap();
        let scan = scan.unwrap();
        if rustix::process::geteuid().is_root() {
            // root reads through the mode bits, as it does on a real host.
            assert_eq!(scan.unreadable, 0);
            assert_eq!(holder(&scan, 6000).devices, vec!["/dev/nvidia0"]);
        } else {
            assert_eq!(scan.unreadable, 1);
            assert!(scan.holders.iter().all(|h| h.pid != 6000));
        }
        // The others are found either way.
        assert!(scan.holders.iter().any(|h| h.pid == 2001));
    }

    #[test]
    fn the_unreadable_note_counts_and_advises_by_who_runs_it() {
        assert_eq!(HolderScan::default().unreadable_note(), None);
        let note = HolderScan {
            holders: Vec::new(),
            unreadable: 3,
        }
        .unreadable_note()
        .unwrap();
        assert!(
            note.starts_with("3 process(es) could not be inspected"),
            "{note}"
        );
        // "Run as root" is advice only for someone who is not.
        assert_eq!(
            note.contains("run as root"),
            !rustix::process::geteuid().is_root(),
            "{note}"
        );
    }

    #[test]
    fn junk_in_proc_is_skipped() {
        let t = host_tree();
        let r = t.path();
        // Not a pid, a pid whose fd is a file, and a pid folder with nothing in it (a process that just exited).
        fs::create_dir_all(r.join("proc/sys/kernel")).unwrap();
        fs::create_dir_all(r.join("proc/7000")).unwrap();
        fs::write(r.join("proc/7000/fd"), "not a folder").unwrap();
        fs::create_dir_all(r.join("proc/7001")).unwrap();
        fs::write(r.join("proc/uptime"), "1.0 1.0\n").unwrap();
        let scan = scan_holders_report(&HostRoot::new(r), &maps_options()).unwrap();
        assert_eq!(scan.holders.len(), 4);
        assert_eq!(scan.unreadable, 0);
    }

    #[test]
    fn threads_share_the_work_without_losing_or_doubling_anyone() {
        let t = host_tree();
        let r = t.path();
        for pid in 10_000..10_700 {
            let fds: &[&str] = if pid % 100 == 0 {
                &["/dev/nvidiactl"]
            } else {
                &["/dev/null"]
            };
            FakeProcess {
                pid,
                fds,
                maps: &[],
                ..FakeProcess::default()
            }
            .write(r);
        }
        let root = HostRoot::new(r);
        let one = scan_with_threads(&root, &maps_options(), 1).unwrap();
        let four = scan_with_threads(&root, &maps_options(), 4).unwrap();
        assert_eq!(one, four);
        let pids: Vec<i32> = four.holders.iter().map(|h| h.pid).collect();
        let mut expected = vec![812, 2001, 3100, 4500];
        expected.extend((10_000..10_700).step_by(100));
        assert_eq!(pids, expected);
        assert!(four.holders.iter().all(|h| !h.user.is_empty()));
    }

    #[test]
    fn a_tree_without_proc_has_no_holders() {
        let t = tempfile::tempdir().unwrap();
        let scan = scan_holders_report(&HostRoot::new(t.path()), &maps_options()).unwrap();
        assert_eq!(scan, HolderScan::default());
    }

    #[test]
    fn the_scanner_leaves_itself_out() {
        let t = host_tree();
        let r = t.path();
        let me = i32::try_from(std::process::id()).unwrap();
        FakeProcess {
            pid: me,
            comm: "nvfix",
            fds: &["/dev/nvidiactl"],
            ..FakeProcess::default()
        }
        .write(r);
        let root = HostRoot::new(r);
        // Without proc/self pointing at us this is just another fixture process…
        assert!(scan_holders(&root, &maps_options())
            .unwrap()
            .iter()
            .any(|h| h.pid == me));
        // …with it, the tree is our own /proc and we are not a holder of our own.
        symlink(me.to_string(), r.join("proc/self")).unwrap();
        assert!(scan_holders(&root, &maps_options())
            .unwrap()
            .iter()
            .all(|h| h.pid != me));
    }

    #[test]
    fn the_live_proc_finds_a_child_holding_a_named_node() {
        // A file under /dev/shm stands in for a DRM node: it is a /dev path a test can open without a GPU.
        let node = format!("/dev/shm/nvfix-procscan-test-{}", std::process::id());
        if fs::write(&node, b"").is_err() {
            eprintln!("skipped: cannot create {node}");
            return;
        }
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(fs::File::open(&node).unwrap())
            .spawn()
            .unwrap();
        let options = ScanOptions {
            nvidia_drm_nodes: vec![node.clone()],
            library_maps: LibraryMaps::All,
        };
        let scan = scan_holders_report(&HostRoot::system(), &options);
        let _ = child.kill();
        let _ = child.wait();
        let _ = fs::remove_file(&node);
        let scan = scan.unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let sleeper = holder(&scan, pid);
        assert_eq!(sleeper.devices, vec![node]);
        assert_eq!(sleeper.command, "sleep 30");
        assert_eq!(sleeper.comm, "sleep");
        assert!(sleeper.started_secs_after_boot.is_some());
        assert_eq!(sleeper.uid, rustix::process::getuid().as_raw());
    }

    #[test]
    fn passwd_parsing_skips_junk_and_keeps_the_first_name() {
        let names = parse_passwd(
            "root:x:0:0::/root:/bin/sh\n\n#c:x:5:5\nbad\nx:y:notanumber:1\ntoor:x:0:0::/:/bin/sh\n:x:9:9\nbob:x:1001:1001\n",
        );
        assert_eq!(names.get(&0).map(String::as_str), Some("root"));
        assert_eq!(names.get(&1001).map(String::as_str), Some("bob"));
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn every_descriptor_is_read_when_the_folder_needs_several_reads() {
        // 1,500 entries are several getdents64 buffers: the scan must keep reading, and see every one of them.
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write_passwd(r);
        let nodes: Vec<String> = (0..1500).map(|i| format!("/dev/dri/renderD{i}")).collect();
        let fds: Vec<&str> = nodes.iter().map(String::as_str).collect();
        FakeProcess {
            pid: 77,
            comm: "many",
            uid: 1000,
            argv: &["many"],
            exe: "/usr/bin/many",
            fds: &fds,
            ..FakeProcess::default()
        }
        .write(r);
        let options = ScanOptions {
            nvidia_drm_nodes: nodes.clone(),
            ..ScanOptions::default()
        };
        let scan = scan_holders_report(&HostRoot::new(r), &options).unwrap();
        assert_eq!(scan.holders.len(), 1);
        assert_eq!(scan.holders[0].devices.len(), 1500);
    }

    #[test]
    fn dirent_records_are_parsed_and_junk_stops_the_walk() {
        let mut buf = Vec::new();
        for (ino, name) in [(1u64, &b"."[..]), (2, b".."), (3, b"17")] {
            let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
            let start = buf.len();
            buf.extend_from_slice(&ino.to_ne_bytes());
            buf.extend_from_slice(&0i64.to_ne_bytes());
            buf.extend_from_slice(&(reclen as u16).to_ne_bytes());
            buf.push(10);
            buf.extend_from_slice(name);
            buf.resize(start + reclen, 0);
        }
        let names: Vec<&[u8]> = dirent_names(&buf).collect();
        assert_eq!(names, vec![&b".\0"[..], b"..\0", b"17\0"]);
        // A truncated or zero-length record ends the walk instead of looping or reading past the buffer.
        assert_eq!(dirent_names(&buf[..30]).count(), 1);
        assert_eq!(dirent_names(&[0u8; 64]).count(), 0);
    }

    #[test]
    fn small_helpers() {
        assert_eq!(
            uid_from_status("Name:\tx\nUid:\t1000\t0\t0\t0\n"),
            Some(1000)
        );
        assert_eq!(uid_from_status("Uid:\tjunk\n"), None);
        assert_eq!(uid_from_status(""), None);
        assert_eq!(
            base_name(OsStr::new("/usr/bin/nvidia-persistenced (deleted)")).as_deref(),
            Some("nvidia-persistenced")
        );
        assert_eq!(base_name(OsStr::new("nvtop")).as_deref(), Some("nvtop"));
        assert_eq!(base_name(OsStr::new("/usr/bin/")), None);
        let mut libs = Vec::new();
        collect_libraries(
            b"55d0-55d1 r--p 0 08:01 1 /usr/bin/x\n7f00-7f01 r-xp 0 00:00 0 [vdso]\n\xff\xfe junk / \n",
            &mut libs,
        );
        assert!(libs.is_empty());
    }
}
