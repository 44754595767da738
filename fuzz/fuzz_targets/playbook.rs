//! Fuzzes the playbook YAML (schema and semantic checks after the YAML parser).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::playbook::parse_playbook;

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    if let Err(e) = parse_playbook(&text) {
        let _ = e.display_for("/etc/nvfix/playbook.yaml");
    }
});
