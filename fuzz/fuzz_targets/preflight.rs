//! Fuzzes what the pre-flight reads about module signing: `/proc/keys`, `/sys/kernel/security/lockdown`,
//! `sig_enforce` and the SecureBoot EFI variable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::preflight::{
    parse_lockdown, parse_proc_keys, parse_secure_boot_variable, parse_sig_enforce,
};

fuzz_target!(|data: &[u8]| {
    let _ = parse_secure_boot_variable(data);
    let text = nvfix_fuzz::text(data);
    let _ = parse_lockdown(&text);
    let _ = parse_sig_enforce(&text);
    let _ = parse_proc_keys(&text);
});
