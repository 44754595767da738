//! Fuzzes the package manager logs: apt's `history.log`, `dpkg.log` and dnf's `dnf.rpm.log`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::apt_history::{
    is_driver_package, is_library_package, parse_apt_history, parse_dnf_rpm_log, parse_dpkg_log,
};

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    for parse in [parse_apt_history, parse_dpkg_log, parse_dnf_rpm_log] {
        for change in parse(&text, "/var/log/fuzz.log") {
            let _ = change.by.describe();
            let _ = is_driver_package(&change.package);
            let _ = is_library_package(&change.package);
        }
    }
});
