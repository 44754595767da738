//! Fuzzes unattended-upgrades blacklist entries (regexes matched at the start of a package name) against package
//! names, and checks that the entry `nvfix hold` writes for a package matches exactly that package.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::dpkg::{
    blacklist_matches, unprotected_driver_packages, InstalledPackage, UnattendedConfig,
};
use nvfix::model::hold::blacklist_pattern;

fuzz_target!(|data: &[u8]| {
    let [pattern, package]: [String; 2] = nvfix_fuzz::parts(data, 2).try_into().unwrap();
    let _ = blacklist_matches(&pattern, &package);
    // The entry written for a package protects it.
    assert!(
        blacklist_matches(&blacklist_pattern(&package), &package),
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
    let _ = unprotected_driver_packages(Some(&config), &installed);
});
