//! Fuzzes `/proc/<pid>/cgroup` (the systemd unit or container a GPU holder runs in) and `/proc/<pid>/mountinfo`
//! (driver libraries bind-mounted into a container).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::containers::driver_library_mounts;
use nvfix::model::holders::{classify_holder, container_from_cgroup};
use nvfix::model::systemd_unit::{is_valid_service_name, place_from_cgroup};

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    let _ = place_from_cgroup(&text);
    if let Some(container) = container_from_cgroup(&text) {
        let _ = container.short_id();
    }
    let _ = classify_holder("python3", "python3.12", Some(&text));
    let _ = classify_holder(&text, &text, None);
    let _ = is_valid_service_name(&text);
    let _ = driver_library_mounts(&text);
});
