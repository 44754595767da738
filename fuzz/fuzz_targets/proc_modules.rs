//! Fuzzes `/proc/modules` and the sysfs module files (`initstate`, `refcnt`, boolean parameters).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::modules::{
    is_nvidia_related, parse_bool_param, parse_initstate, parse_proc_modules, parse_refcnt,
};

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    if let Ok(modules) = parse_proc_modules(&text) {
        for m in &modules {
            let _ = is_nvidia_related(&m.name);
        }
    }
    let _ = parse_initstate(&text);
    let _ = parse_refcnt(&text);
    let _ = parse_bool_param(&text);
});
