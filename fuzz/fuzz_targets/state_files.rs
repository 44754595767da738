//! Fuzzes the files nvfix reads back about itself and the host's reboot blockers: the hold and reboot state JSON
//! and `systemd-inhibit --list` output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::guards::parse_inhibitors;
use nvfix::model::{hold, reboot_state};

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    if let Ok(state) = hold::parse_state(&text) {
        // What nvfix writes it reads back the same.
        let again =
            hold::parse_state(&hold::state_text(&state)).expect("a written hold state reads back");
        assert_eq!(again, state);
    }
    let _ = reboot_state::parse_state(&text);
    for inhibitor in parse_inhibitors(&text) {
        let _ = inhibitor.blocks_shutdown();
    }
});
