//! Fuzzes `/proc/driver/nvidia/version` and the other places a driver version is read from text (library file
//! names, package versions, `ModuleFlavor` from a license).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::driver_version::{parse_proc_driver_version, ModuleFlavor};
use nvfix::model::library::version_from_file_name;
use nvfix::model::DriverVersion;

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    if let Ok(loaded) = parse_proc_driver_version(&text) {
        // A parsed version always has a branch and prints as it was read.
        let _ = loaded.version.branch();
        assert!(text.contains(loaded.version.as_str()));
    }
    let _ = version_from_file_name(&text, "libnvidia-ml.so");
    let _ = version_from_file_name(&text, "libcuda.so");
    let _ = ModuleFlavor::from_license(&text);
    if let Some(v) = DriverVersion::parse_prefix(&text) {
        let _ = v.branch();
    }
});
