//! Fuzzes unattended-upgrades blacklist entries (Python regexes matched at the start of a package name) against package
//! names: Python's grammar as nvfix reads it never panics, a compiled entry answers as a one-off match does, and the
//! entry `nvfix hold` writes for a package matches exactly that package.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::dpkg::{
    blacklist_matches, unprotected_driver_packages, Blacklist, InstalledPackage, UnattendedConfig,
};
use nvfix::model::hold::blacklist_pattern;

fuzz_target!(|data: &[u8]| {
    let [pattern, package]: [String; 2] = nvfix_fuzz::parts(data, 2).try_into().unwrap();
    // Each entry is compiled once (`Blacklist`), as diagnose and `hold --status` do.
    let entries = [pattern.clone(), blacklist_pattern(&package)];
    let blacklist = Blacklist::new(&entries);
    let _ = blacklist.invalid().count() + blacklist.unchecked().count();
    // The entry written for a package protects it.
    assert!(
        Blacklist::new(&entries[1..]).protects(&package),
        "the hold entry for {package:?} does not match it"
    );
    let config = UnattendedConfig {
        blacklist: vec![pattern],
        ..Default::default()
    };
    let installed = [InstalledPackage {
        name: package,
        version: "580.95.05-0ubuntu1".into(),
        arch: None,
        held: false,
        state: "installed".into(),
    }];
    let exposed = unprotected_driver_packages(Some(&config), &installed);
    // A one-off match agrees with the compiled blacklist.
    if exposed.is_empty() && nvfix::model::apt_history::is_driver_package(&installed[0].name) {
        assert!(blacklist_matches(&config.blacklist[0], &installed[0].name));
    }
});
