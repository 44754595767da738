//! Fuzzes the playbook YAML (the size and nesting pre-scan, then schema and semantic checks after the YAML parser).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::playbook::parse_playbook;
use nvfix::model::yaml_limits::check_yaml_limits;

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    // The pre-scan alone (parse_playbook runs it first) never panics and names a position inside the text.
    if let Err(e) = check_yaml_limits(&text) {
        assert!(e.line >= 1 && e.line <= text.split('\n').count() && e.column >= 1);
    }
    if let Err(e) = parse_playbook(&text) {
        let _ = e.display_for("/etc/nvfix/playbook.yaml");
    }
});
