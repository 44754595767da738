//! Loads NVML through nvml-wrapper from a configurable path and reports what it says (never required for a verdict).

use crate::model::facts::NvmlProbe;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// `name` of a probe whose library could not be dlopen'ed (missing, not an ELF library, wrong architecture).
pub const LIBRARY_NOT_LOADABLE: &str = "LIBRARY_NOT_LOADABLE";
/// `name` of a probe whose library loaded but lacks an NVML entry point (not an NVML library, or a very old one).
pub const SYMBOL_NOT_FOUND: &str = "SYMBOL_NOT_FOUND";
/// `name` of a failure inside nvml-wrapper itself rather than an NVML return code (bad UTF-8 in a version, …).
pub const WRAPPER_ERROR: &str = "WRAPPER_ERROR";
/// `name` of an nvmlReturn_t value this build does not know.
pub const UNRECOGNIZED_CODE: &str = "UNRECOGNIZED_CODE";
/// The entry point nvml-wrapper's builder calls first.
const INIT_CALL: &str = "nvmlInit_v2";

/// Initialises NVML from `lib_path` and reads driver version, CUDA driver version and device count.
/// Never call this while nvfix has the modules out: as root, NVML loads the driver itself.
pub fn probe(lib_path: &Path) -> NvmlProbe {
    let library = lib_path.display().to_string();
    // nvml-wrapper panics in a few corners (its Drop calls nvmlShutdown through `expect`); a probe must not.
    match catch_unwind(AssertUnwindSafe(|| probe_unguarded(lib_path, &library))) {
        Ok(result) => result,
        Err(_) => NvmlProbe::Error {
            code: None,
            name: WRAPPER_ERROR.to_string(),
            message: "nvml-wrapper panicked while talking to the library".to_string(),
            library,
        },
    }
}

fn probe_unguarded(lib_path: &Path, library: &str) -> NvmlProbe {
    let nvml = match Nvml::builder().lib_path(lib_path.as_os_str()).init() {
        Ok(nvml) => nvml,
        Err(e) => return error_probe(&e, INIT_CALL, library),
    };
    let result = read_facts(&nvml, library);
    close(nvml);
    result
}

fn read_facts(nvml: &Nvml, library: &str) -> NvmlProbe {
    let driver_version = match nvml.sys_driver_version() {
        Ok(v) => v,
        Err(e) => return error_probe(&e, "nvmlSystemGetDriverVersion", library),
    };
    let device_count = match nvml.device_count() {
        Ok(n) => n,
        Err(e) => return error_probe(&e, "nvmlDeviceGetCount_v2", library),
    };
    // Optional in the report: older libraries lack the _v2 entry point, and it only decorates the verdict.
    let cuda_driver_version = nvml.sys_cuda_driver_version().ok().map(format_cuda_version);
    NvmlProbe::Ok {
        driver_version,
        cuda_driver_version,
        device_count,
        library: library.to_string(),
    }
}

/// Shuts NVML down without letting nvml-wrapper's Drop hit its `expect` on a library that has no nvmlShutdown.
fn close(nvml: Nvml) {
    if nvml.lib().nvmlShutdown.is_ok() {
        // A failed shutdown changes nothing nvfix reports.
        let _ = nvml.shutdown();
    } else {
        // Leaks one library handle; the alternative is a panic in Drop.
        std::mem::forget(nvml);
    }
}

/// `13000` → `13.0`, `12020` → `12.2` (NVML encodes CUDA versions as major * 1000 + minor * 10).
pub fn format_cuda_version(version: i32) -> String {
    format!("{}.{}", version / 1000, (version % 1000) / 10)
}

fn error_probe(error: &NvmlError, call: &str, library: &str) -> NvmlProbe {
    let (code, name) = code_and_name(error);
    let detail = match code.and_then(nvml_error_text) {
        Some(text) => text.to_string(),
        None => error.to_string(),
    };
    let message = match error {
        // dlerror() already names the file and the reason; nothing to add.
        NvmlError::LibloadingError(_) => one_line(&detail),
        // Worded as nvidia-smi words it, so users recognise the failure they saw.
        _ if call == INIT_CALL => one_line(&format!("Failed to initialize NVML: {detail}")),
        _ => one_line(&format!("{call} failed: {detail}")),
    };
    NvmlProbe::Error {
        code,
        name: name.to_string(),
        message,
        library: library.to_string(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The nvmlReturn_t value and its NVML name for an nvml-wrapper error; no code for errors NVML did not return.
#[allow(deprecated)] // AlreadyInitialized is deprecated in NVML but still a value it can return.
pub fn code_and_name(error: &NvmlError) -> (Option<u32>, &'static str) {
    use NvmlError::*;
    match error {
        LibloadingError(_) => (None, LIBRARY_NOT_LOADABLE),
        FailedToLoadSymbol(_) => (None, SYMBOL_NOT_FOUND),
        Utf8Error(_)
        | NulError(_)
        | StringTooLong { .. }
        | IncorrectBits(_)
        | SetReleaseFailed
        | GetPciInfoFailed
        | PciInfoToCFailed => (None, WRAPPER_ERROR),
        Uninitialized => (Some(1), "UNINITIALIZED"),
        InvalidArg => (Some(2), "INVALID_ARGUMENT"),
        NotSupported => (Some(3), "NOT_SUPPORTED"),
        NoPermission => (Some(4), "NO_PERMISSION"),
        AlreadyInitialized => (Some(5), "ALREADY_INITIALIZED"),
        NotFound => (Some(6), "NOT_FOUND"),
        InsufficientSize(_) => (Some(7), "INSUFFICIENT_SIZE"),
        InsufficientPower => (Some(8), "INSUFFICIENT_POWER"),
        DriverNotLoaded => (Some(9), "DRIVER_NOT_LOADED"),
        Timeout => (Some(10), "TIMEOUT"),
        IrqIssue => (Some(11), "IRQ_ISSUE"),
        LibraryNotFound => (Some(12), "LIBRARY_NOT_FOUND"),
        FunctionNotFound => (Some(13), "FUNCTION_NOT_FOUND"),
        CorruptedInfoROM => (Some(14), "CORRUPTED_INFOROM"),
        GpuLost => (Some(15), "GPU_IS_LOST"),
        ResetRequired => (Some(16), "RESET_REQUIRED"),
        OperatingSystem => (Some(17), "OPERATING_SYSTEM"),
        LibRmVersionMismatch => (Some(18), "LIB_RM_VERSION_MISMATCH"),
        InUse => (Some(19), "IN_USE"),
        InsufficientMemory => (Some(20), "MEMORY"),
        NoData => (Some(21), "NO_DATA"),
        VgpuEccNotSupported => (Some(22), "VGPU_ECC_NOT_SUPPORTED"),
        Unknown => (Some(999), "UNKNOWN"),
        UnexpectedVariant(code) => (Some(*code), UNRECOGNIZED_CODE),
    }
}

/// What `nvmlErrorString` says for a code: the text users know from `nvidia-smi` ("Failed to initialize NVML: …").
/// Kept here because after a failed init the library is already unloaded and cannot be asked.
pub fn nvml_error_text(code: u32) -> Option<&'static str> {
    Some(match code {
        1 => "Uninitialized",
        2 => "Invalid Argument",
        3 => "Not Supported",
        4 => "Insufficient Permissions",
        5 => "Already Initialized",
        6 => "Not Found",
        7 => "Insufficient Size",
        8 => "Insufficient External Power",
        9 => "Driver Not Loaded",
        10 => "Timeout",
        11 => "Interrupt request issue",
        12 => "NVML Shared Library Not Found",
        13 => "Function Not Found",
        14 => "Corrupted infoROM",
        15 => "GPU is lost",
        16 => "GPU requires restart",
        17 => "GPU access blocked by the operating system",
        18 => "Driver/library version mismatch",
        19 => "In use by another client",
        20 => "Insufficient Memory",
        21 => "No data",
        999 => "Unknown Error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect_error(probe: NvmlProbe) -> (Option<u32>, String, String, String) {
        match probe {
            NvmlProbe::Error {
                code,
                name,
                message,
                library,
            } => (code, name, message, library),
            other => panic!("expected an error probe, got {other:?}"),
        }
    }

    #[test]
    fn nvml_return_codes_keep_their_real_numbers() {
        assert_eq!(
            code_and_name(&NvmlError::LibRmVersionMismatch),
            (Some(18), "LIB_RM_VERSION_MISMATCH")
        );
        assert_eq!(
            code_and_name(&NvmlError::DriverNotLoaded),
            (Some(9), "DRIVER_NOT_LOADED")
        );
        assert_eq!(
            code_and_name(&NvmlError::NoPermission),
            (Some(4), "NO_PERMISSION")
        );
        assert_eq!(
            code_and_name(&NvmlError::LibraryNotFound),
            (Some(12), "LIBRARY_NOT_FOUND")
        );
        assert_eq!(
            code_and_name(&NvmlError::OperatingSystem),
            (Some(17), "OPERATING_SYSTEM")
        );
        assert_eq!(code_and_name(&NvmlError::Unknown), (Some(999), "UNKNOWN"));
        assert_eq!(
            code_and_name(&NvmlError::InsufficientSize(Some(80))),
            (Some(7), "INSUFFICIENT_SIZE")
        );
    }

    #[test]
    fn codes_agree_with_nvml_wrapper_in_both_directions() {
        // nvml-wrapper turns a raw nvmlReturn_t into its enum; our mapping must give the same number back.
        for raw in (1..=22).chain([999]) {
            let error = NvmlError::from(raw);
            let (code, name) = code_and_name(&error);
            assert_eq!(code, Some(raw), "{error:?}");
            assert_ne!(name, UNRECOGNIZED_CODE, "{error:?}");
        }
    }

    #[test]
    fn unknown_codes_keep_their_number() {
        assert_eq!(
            code_and_name(&NvmlError::from(4242)),
            (Some(4242), UNRECOGNIZED_CODE)
        );
    }

    #[test]
    fn wrapper_side_errors_have_no_code() {
        assert_eq!(
            code_and_name(&NvmlError::FailedToLoadSymbol("x".into())),
            (None, SYMBOL_NOT_FOUND)
        );
        assert_eq!(
            code_and_name(&NvmlError::StringTooLong {
                max_len: 1,
                actual_len: 2
            }),
            (None, WRAPPER_ERROR)
        );
    }

    #[test]
    fn mismatch_message_is_what_nvidia_smi_prints() {
        let (code, name, message, library) = expect_error(error_probe(
            &NvmlError::LibRmVersionMismatch,
            "nvmlInit_v2",
            "/lib/libnvidia-ml.so.1",
        ));
        assert_eq!(code, Some(18));
        assert_eq!(name, "LIB_RM_VERSION_MISMATCH");
        assert_eq!(
            message,
            "Failed to initialize NVML: Driver/library version mismatch"
        );
        assert_eq!(library, "/lib/libnvidia-ml.so.1");
    }

    #[test]
    fn failures_after_init_name_the_call() {
        let (code, _, message, _) = expect_error(error_probe(
            &NvmlError::Uninitialized,
            "nvmlDeviceGetCount_v2",
            "x",
        ));
        assert_eq!(code, Some(1));
        assert_eq!(message, "nvmlDeviceGetCount_v2 failed: Uninitialized");
    }

    #[test]
    fn unrecognized_code_falls_back_to_the_wrapper_text() {
        let (code, _, message, _) =
            expect_error(error_probe(&NvmlError::from(4242), "nvmlInit_v2", "x"));
        assert_eq!(code, Some(4242));
        assert!(message.contains("4242"), "{message}");
    }

    #[test]
    fn missing_library_is_not_loadable_without_a_code() {
        let (code, name, message, library) =
            expect_error(probe(Path::new("/nonexistent/dir/libnvidia-ml.so.1")));
        assert_eq!(code, None);
        assert_eq!(name, LIBRARY_NOT_LOADABLE);
        assert!(
            message.contains("/nonexistent/dir/libnvidia-ml.so.1"),
            "{message}"
        );
        assert!(!message.contains('\n'));
        assert_eq!(library, "/nonexistent/dir/libnvidia-ml.so.1");
    }

    #[test]
    fn garbage_file_is_not_loadable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libnvidia-ml.so.1");
        std::fs::write(&path, b"\x7fELF this is not a library \x00\x01\x02").unwrap();
        let (code, name, _, _) = expect_error(probe(&path));
        assert_eq!(code, None);
        assert_eq!(name, LIBRARY_NOT_LOADABLE);
    }

    #[test]
    fn a_library_without_nvml_symbols_is_reported_not_panicked() {
        // libc loads fine but has no nvmlInit_v2.
        let (code, name, message, _) = expect_error(probe(Path::new("libc.so.6")));
        assert_eq!(code, None);
        assert_eq!(name, SYMBOL_NOT_FOUND);
        assert!(message.contains("nvmlInit_v2"), "{message}");
    }

    #[test]
    fn cuda_versions_format_as_major_dot_minor() {
        assert_eq!(format_cuda_version(13000), "13.0");
        assert_eq!(format_cuda_version(12020), "12.2");
        assert_eq!(format_cuda_version(12090), "12.9");
        assert_eq!(format_cuda_version(11040), "11.4");
    }

    #[test]
    fn every_known_code_has_a_text_and_success_has_none() {
        assert_eq!(nvml_error_text(0), None);
        assert_eq!(nvml_error_text(9), Some("Driver Not Loaded"));
        assert_eq!(nvml_error_text(12345), None);
    }
}
