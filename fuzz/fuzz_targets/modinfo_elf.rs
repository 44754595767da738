//! Fuzzes the ELF reading of a kernel module: `.modinfo` from the section table, the section's key=value records,
//! the appended signature, and the module file name rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::modinfo::{
    canonical_module_name, elf_has_section, modinfo_from_elf, module_flavor, module_search_rank,
    parse_modinfo_section,
};
use nvfix::model::module_signature::parse_appended_signature;

fuzz_target!(|data: &[u8]| {
    let section = parse_modinfo_section(data);
    let _ = section.driver_version();
    let _ = section.flavor();
    if let Ok(info) = modinfo_from_elf(data) {
        let _ = module_flavor("nvidia", &info);
        let _ = info.driver_version();
    }
    let _ = elf_has_section(data, ".modinfo");
    let _ = parse_appended_signature(data);
    let name = nvfix_fuzz::text(data);
    if let Some(canonical) = canonical_module_name(&name) {
        let _ = module_flavor(canonical, &section);
    }
    let _ = module_search_rank(&name, "6.8.0-85-generic");
});
