//! Fuzzes dpkg's status file, apt.conf (unattended-upgrades settings), dnf's versionlock list and `rpm -qa` output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::dpkg::{parse_apt_conf, parse_dpkg_status, UnattendedConfig};
use nvfix::model::hold::{parse_rpm_names, parse_versionlock};

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    let _ = parse_dpkg_status(&text);
    let mut config = UnattendedConfig::default();
    parse_apt_conf(&text, &mut config);
    // A second file adds to the first, as apt reads apt.conf.d in order.
    parse_apt_conf(&text, &mut config);
    let _ = parse_versionlock(&text);
    let _ = parse_rpm_names(&text);
});
