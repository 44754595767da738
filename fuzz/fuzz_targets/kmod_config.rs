//! Fuzzes kmod's configuration as nvfix resolves a module: modules.dep, modprobe.d aliases and install redirects,
//! depmod.d search and override lines, `modprobe --show-depends` output, and `dkms status`. The input is cut at NUL
//! bytes into those files and the module name asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::dkms::parse_dkms_status;
use nvfix::model::kmod_config::{
    host_path, module_name_of_path, parse_depmod_config, parse_modprobe_aliases, parse_modules_dep,
    parse_show_depends, resolve, DepmodConfig,
};

fuzz_target!(|data: &[u8]| {
    let [dep, modprobe, depmod, name, kernel]: [String; 5] =
        nvfix_fuzz::parts(data, 5).try_into().unwrap();
    let modules = parse_modules_dep(&dep);
    let aliases = parse_modprobe_aliases("/etc/modprobe.d/fuzz.conf", &modprobe);
    let mut config = DepmodConfig::default();
    parse_depmod_config(&depmod, &mut config);
    let resolution = resolve(&name, &aliases, &modules);
    if let Some(entry) = &resolution.entry {
        let _ = host_path(&kernel, &entry.path);
        assert_eq!(module_name_of_path(&entry.path), resolution.module);
    }
    let candidates: Vec<String> = modules.by_name.values().map(|e| e.path.clone()).collect();
    if let Some(picked) = config.pick(&resolution.module, &kernel, &candidates) {
        assert!(candidates.iter().any(|c| c == picked));
    }
    let _ = parse_show_depends(&modprobe);
    let _ = parse_dkms_status(&dep);
});
