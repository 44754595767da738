//! A stand-in `libnvidia-ml.so` for tests and the lab: keeps NVML's C contract for the entry points nvfix calls,
//! and fails `nvmlInit` with LIB_RM_VERSION_MISMATCH exactly when its own version differs from the kernel module's.
//!
//! Its own version: env `NVML_STAND_IN_VERSION`, else its real file name (`libnvidia-ml.so.580.95.05`), else
//! [`DEFAULT_VERSION`]. The kernel module's version: the version-check ioctl on `<root>/dev/nvidiactl` when that is a
//! character device, else `<root>/proc/driver/nvidia/version`, where root = env `NVML_STAND_IN_ROOT` (default `/`).
//! Everything is read again at each init, so one process can load it many times under different settings.
//! Unlike the real library it never creates device nodes and never loads modules; where the real one would (every
//! init), it appends a line `init` to the file named by env `NVML_STAND_IN_INIT_LOG`, so a test can tell that it was
//! initialised at all.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr};
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// The version used when neither the environment nor the file name names one.
pub const DEFAULT_VERSION: &str = "580.95.05";

/// nvmlReturn_t values this library returns.
pub const NVML_SUCCESS: c_uint = 0;
pub const NVML_ERROR_UNINITIALIZED: c_uint = 1;
pub const NVML_ERROR_INVALID_ARGUMENT: c_uint = 2;
pub const NVML_ERROR_NO_PERMISSION: c_uint = 4;
pub const NVML_ERROR_INSUFFICIENT_SIZE: c_uint = 7;
pub const NVML_ERROR_DRIVER_NOT_LOADED: c_uint = 9;
pub const NVML_ERROR_LIB_RM_VERSION_MISMATCH: c_uint = 18;
pub const NVML_ERROR_UNKNOWN: c_uint = 999;

/// `_IOWR('F', 0xD2, struct { u32 cmd; u32 reply; char versionString[64]; })`: NV_ESC_CHECK_VERSION_STR.
const NV_ESC_CHECK_VERSION_STR: c_ulong = 0xC048_46D2;
/// `cmd` values of that ioctl: strict check of our version (logs the API mismatch on failure), or query.
const NV_RM_API_VERSION_CMD_STRICT: u32 = 0;
const NV_RM_API_VERSION_CMD_QUERY: u32 = b'2' as u32;

#[repr(C)]
struct VersionCheckParams {
    cmd: u32,
    reply: u32,
    version_string: [u8; 64],
}

#[repr(C)]
struct DlInfo {
    dli_fname: *const c_char,
    dli_fbase: *mut c_void,
    dli_sname: *const c_char,
    dli_saddr: *mut c_void,
}

extern "C" {
    fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
}

/// What a successful init found; read by the query functions until the last shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Session {
    version: String,
    device_count: u32,
}

/// NVML counts inits and shuts down at the last matching shutdown.
static INIT_COUNT: AtomicU32 = AtomicU32::new(0);
/// `Mutex::new` is const and needs no destructor, so the library can still be unloaded by dlclose.
static SESSION: Mutex<Option<Session>> = Mutex::new(None);

/// The stand-in's own (user-space) version.
fn library_version() -> String {
    if let Some(v) = env_nonempty("NVML_STAND_IN_VERSION") {
        return v;
    }
    own_file_path()
        .and_then(|p| version_from_library_file_name(&p))
        .unwrap_or_else(|| DEFAULT_VERSION.to_string())
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The file this library was loaded from, links resolved (`libnvidia-ml.so.1` → `libnvidia-ml.so.580.95.05`).
fn own_file_path() -> Option<PathBuf> {
    let mut info = DlInfo {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: dladdr only writes into `info`; the address is one of this library's own functions.
    let found = unsafe { dladdr(nvmlInit_v2 as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr returned a NUL-terminated name owned by the dynamic loader.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
    Some(fs::canonicalize(&path).unwrap_or(path))
}

/// `libnvidia-ml.so.580.95.05` → `580.95.05`; `libnvidia-ml.so.1` or `libnvidia_ml.so` → none.
fn version_from_library_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let (_, suffix) = name.split_once(".so.")?;
    let looks_like_version = suffix.contains('.')
        && suffix
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    looks_like_version.then(|| suffix.to_string())
}

/// The version in `/proc/driver/nvidia/version`: the first token after "Module" that starts with a digit
/// (which skips `for x86_64`).
fn version_from_proc_text(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.contains("NVRM version"))?;
    let after = &line[line.find("Module")? + "Module".len()..];
    after
        .split_whitespace()
        .find(|t| t.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
}

fn root() -> PathBuf {
    PathBuf::from(env_nonempty("NVML_STAND_IN_ROOT").unwrap_or_else(|| "/".to_string()))
}

/// Under `root`, strip the leading `/` so `Path::join` does not discard the root.
fn under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

/// Outcome of asking the kernel side.
enum KernelAnswer {
    Version(String),
    /// The strict check ran in the kernel and matched.
    StrictMatch,
    /// The strict check ran in the kernel and refused our version.
    StrictMismatch,
    Code(c_uint),
}

/// Asks `/dev/nvidiactl` through NV_ESC_CHECK_VERSION_STR. None: no such char device, or the ioctl is not there.
fn ask_nvidiactl(root: &Path, ours: &str) -> Option<KernelAnswer> {
    let node = under(root, "/dev/nvidiactl");
    let meta = fs::metadata(&node).ok()?;
    if !meta.file_type().is_char_device() {
        return None;
    }
    let file = match fs::OpenOptions::new().read(true).write(true).open(&node) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Some(KernelAnswer::Code(NVML_ERROR_NO_PERMISSION))
        }
        Err(_) => return None,
    };
    // Strict mode makes the kernel log its "API mismatch" lines, as the real library does.
    let strict = env_nonempty("NVML_STAND_IN_STRICT").is_some_and(|v| v != "0");
    let mut params = VersionCheckParams {
        cmd: if strict {
            NV_RM_API_VERSION_CMD_STRICT
        } else {
            NV_RM_API_VERSION_CMD_QUERY
        },
        reply: 0,
        version_string: [0; 64],
    };
    if strict {
        let bytes = ours.as_bytes();
        let n = bytes.len().min(params.version_string.len() - 1);
        params.version_string[..n].copy_from_slice(&bytes[..n]);
    }
    // SAFETY: the request encodes the 72-byte size of `params`, which lives across the call.
    let rc = unsafe {
        ioctl(
            file.as_raw_fd(),
            NV_ESC_CHECK_VERSION_STR,
            &mut params as *mut VersionCheckParams,
        )
    };
    if strict {
        return Some(if rc == 0 {
            KernelAnswer::StrictMatch
        } else if std::io::Error::last_os_error().raw_os_error() == Some(22) {
            KernelAnswer::StrictMismatch
        } else {
            return None;
        });
    }
    if rc != 0 {
        return None;
    }
    let end = params
        .version_string
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(params.version_string.len());
    let version = String::from_utf8_lossy(&params.version_string[..end])
        .trim()
        .to_string();
    (!version.is_empty()).then_some(KernelAnswer::Version(version))
}

fn count_gpus(root: &Path) -> u32 {
    if let Some(n) = env_nonempty("NVML_STAND_IN_DEVICES").and_then(|v| v.parse::<u32>().ok()) {
        return n;
    }
    match fs::read_dir(under(root, "/proc/driver/nvidia/gpus")) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .count() as u32,
        Err(_) => 1,
    }
}

/// One init: decide the return code from the current environment and files.
fn try_init() -> Result<Session, c_uint> {
    if let Some(code) = env_nonempty("NVML_STAND_IN_FAIL").and_then(|v| v.parse::<c_uint>().ok()) {
        if code != NVML_SUCCESS {
            return Err(code);
        }
    }
    let root = root();
    let ours = library_version();
    let theirs = match ask_nvidiactl(&root, &ours) {
        Some(KernelAnswer::Version(v)) => v,
        Some(KernelAnswer::StrictMatch) => ours.clone(),
        Some(KernelAnswer::StrictMismatch) => return Err(NVML_ERROR_LIB_RM_VERSION_MISMATCH),
        Some(KernelAnswer::Code(code)) => return Err(code),
        None => {
            let text = fs::read(under(&root, "/proc/driver/nvidia/version"))
                .map_err(|_| NVML_ERROR_DRIVER_NOT_LOADED)?;
            version_from_proc_text(&String::from_utf8_lossy(&text))
                .ok_or(NVML_ERROR_DRIVER_NOT_LOADED)?
        }
    };
    if theirs != ours {
        return Err(NVML_ERROR_LIB_RM_VERSION_MISMATCH);
    }
    Ok(Session {
        version: ours,
        device_count: count_gpus(&root),
    })
}

fn lock_session() -> std::sync::MutexGuard<'static, Option<Session>> {
    SESSION
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn current_session() -> Option<Session> {
    lock_session().clone()
}

/// A plausible CUDA driver version for a driver branch, as `major * 1000 + minor * 10`.
fn cuda_version_for(driver: &str) -> c_int {
    let branch: u32 = driver
        .split('.')
        .next()
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    match branch {
        580.. => 13000,
        575..=579 => 12090,
        570..=574 => 12080,
        560..=569 => 12060,
        550..=559 => 12040,
        545..=549 => 12030,
        535..=544 => 12020,
        530..=534 => 12010,
        525..=529 => 12000,
        520..=524 => 11080,
        _ => 11040,
    }
}

/// Copies `text` with its NUL into a caller buffer of `length` bytes.
unsafe fn copy_out(text: &str, buf: *mut c_char, length: c_uint) -> c_uint {
    if buf.is_null() {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    let bytes = text.as_bytes();
    if bytes.len() + 1 > length as usize {
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
    *buf.add(bytes.len()) = 0;
    NVML_SUCCESS
}

#[no_mangle]
pub extern "C" fn nvmlInit_v2() -> c_uint {
    nvmlInitWithFlags(0)
}

/// Flags are accepted and ignored: NO_GPUS / NO_ATTACH change nothing a stand-in without GPUs does.
#[no_mangle]
pub extern "C" fn nvmlInitWithFlags(_flags: c_uint) -> c_uint {
    if let Some(log) = env_nonempty("NVML_STAND_IN_INIT_LOG") {
        use std::io::Write;
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = f.write_all(b"init\n");
        }
    }
    match try_init() {
        Ok(session) => {
            *lock_session() = Some(session);
            INIT_COUNT.fetch_add(1, Ordering::SeqCst);
            NVML_SUCCESS
        }
        Err(code) => code,
    }
}

/// The old entry point, kept because old callers still look it up.
#[no_mangle]
pub extern "C" fn nvmlInit() -> c_uint {
    nvmlInitWithFlags(0)
}

#[no_mangle]
pub extern "C" fn nvmlShutdown() -> c_uint {
    let previous =
        INIT_COUNT.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    match previous {
        Ok(1) => {
            *lock_session() = None;
            NVML_SUCCESS
        }
        Ok(_) => NVML_SUCCESS,
        Err(_) => NVML_ERROR_UNINITIALIZED,
    }
}

/// NVML's own texts (what nvidia-smi prints after "Failed to initialize NVML: ").
#[no_mangle]
pub extern "C" fn nvmlErrorString(result: c_uint) -> *const c_char {
    let text: &'static CStr = match result {
        0 => c"Success",
        1 => c"Uninitialized",
        2 => c"Invalid Argument",
        3 => c"Not Supported",
        4 => c"Insufficient Permissions",
        5 => c"Already Initialized",
        6 => c"Not Found",
        7 => c"Insufficient Size",
        8 => c"Insufficient External Power",
        9 => c"Driver Not Loaded",
        10 => c"Timeout",
        11 => c"Interrupt request issue",
        12 => c"NVML Shared Library Not Found",
        13 => c"Function Not Found",
        14 => c"Corrupted infoROM",
        15 => c"GPU is lost",
        16 => c"GPU requires restart",
        17 => c"GPU access blocked by the operating system",
        18 => c"Driver/library version mismatch",
        19 => c"In use by another client",
        20 => c"Insufficient Memory",
        21 => c"No data",
        _ => c"Unknown Error",
    };
    text.as_ptr()
}

#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetDriverVersion(
    version: *mut c_char,
    length: c_uint,
) -> c_uint {
    match current_session() {
        Some(s) => copy_out(&s.version, version, length),
        None => NVML_ERROR_UNINITIALIZED,
    }
}

/// NVML's own version: `12.580.95.05` style (CUDA major, then the driver version).
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetNVMLVersion(version: *mut c_char, length: c_uint) -> c_uint {
    // Works without init in the real library, so it does here too.
    let driver = current_session()
        .map(|s| s.version)
        .unwrap_or_else(library_version);
    let text = format!("{}.{}", cuda_version_for(&driver) / 1000, driver);
    copy_out(&text, version, length)
}

#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetCudaDriverVersion(cuda: *mut c_int) -> c_uint {
    if cuda.is_null() {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    match current_session() {
        Some(s) => {
            *cuda = cuda_version_for(&s.version);
            NVML_SUCCESS
        }
        None => NVML_ERROR_UNINITIALIZED,
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetCudaDriverVersion_v2(cuda: *mut c_int) -> c_uint {
    nvmlSystemGetCudaDriverVersion(cuda)
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCount_v2(count: *mut c_uint) -> c_uint {
    if count.is_null() {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    match current_session() {
        Some(s) => {
            *count = s.device_count;
            NVML_SUCCESS
        }
        None => NVML_ERROR_UNINITIALIZED,
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCount(count: *mut c_uint) -> c_uint {
    nvmlDeviceGetCount_v2(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comes_from_a_full_version_file_name_only() {
        let v = |s: &str| version_from_library_file_name(Path::new(s));
        assert_eq!(
            v("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.95.05").as_deref(),
            Some("580.95.05")
        );
        assert_eq!(v("/x/libnvidia-ml.so.580.142").as_deref(), Some("580.142"));
        assert_eq!(v("/x/libnvidia-ml.so.1"), None);
        assert_eq!(v("/x/libnvidia_ml.so"), None);
        assert_eq!(v("/x/libnvidia-ml.so.580.95.05~rc"), None);
    }

    #[test]
    fn proc_version_parses_proprietary_open_and_aarch64_lines() {
        let prop = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  520.56.06  Thu Oct  6 21:38:55 UTC 2022\nGCC version:  gcc version 12\n";
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.142  Release Build  (dvs-builder@x)  Tue Mar  3 19:14:46 UTC 2026\n";
        let arm = "NVRM version: NVIDIA UNIX Kernel Module for aarch64  34.1.1  Release Build\n";
        assert_eq!(version_from_proc_text(prop).as_deref(), Some("520.56.06"));
        assert_eq!(version_from_proc_text(open).as_deref(), Some("580.142"));
        assert_eq!(version_from_proc_text(arm).as_deref(), Some("34.1.1"));
        assert_eq!(version_from_proc_text("garbage\n"), None);
        assert_eq!(version_from_proc_text("NVRM version: Module\n"), None);
        assert_eq!(version_from_proc_text(""), None);
    }

    #[test]
    fn cuda_version_is_13_0_for_the_580_branch() {
        assert_eq!(cuda_version_for("580.95.05"), 13000);
        assert_eq!(cuda_version_for("535.104.05"), 12020);
        assert_eq!(cuda_version_for("junk"), 11040);
    }

    #[test]
    fn error_strings_are_nvml_texts() {
        let s = |c| {
            unsafe { CStr::from_ptr(nvmlErrorString(c)) }
                .to_str()
                .unwrap()
        };
        assert_eq!(s(18), "Driver/library version mismatch");
        assert_eq!(s(9), "Driver Not Loaded");
        assert_eq!(s(4), "Insufficient Permissions");
        assert_eq!(s(12345), "Unknown Error");
    }

    #[test]
    fn copy_out_refuses_short_buffers_and_null() {
        let mut buf = [1 as c_char; 4];
        unsafe {
            assert_eq!(copy_out("580", buf.as_mut_ptr(), 4), NVML_SUCCESS);
            assert_eq!(buf[3], 0);
            assert_eq!(
                copy_out("580.95", buf.as_mut_ptr(), 4),
                NVML_ERROR_INSUFFICIENT_SIZE
            );
            assert_eq!(
                copy_out("5", std::ptr::null_mut(), 4),
                NVML_ERROR_INVALID_ARGUMENT
            );
        }
    }
}
