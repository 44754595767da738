//! Fuzzes the files nvfix reads back about itself and the host's reboot blockers: the hold and reboot state JSON,
//! the upgrade journal and `systemd-inhibit --list` output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::guards::parse_inhibitors;
use nvfix::model::{hold, reboot_state, upgrade};

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    if let Ok(state) = hold::parse_state(&text) {
        // What nvfix writes it reads back the same.
        let again =
            hold::parse_state(&hold::state_text(&state)).expect("a written hold state reads back");
        assert_eq!(again, state);
    }
    if let Ok(state) = reboot_state::parse_state(&text) {
        // Times at their extremes, against records with any numbers: checked arithmetic, never a wrap or a panic.
        for now in [i64::MIN, -1, 0, 1_700_000_000, i64::MAX] {
            let _ = state.after_boot("b1", now);
            let _ = state.recent(now);
            let _ = state.recent_unfixed(now);
        }
    }
    if let Ok(journal) = upgrade::UpgradeJournal::parse(&text) {
        let again =
            upgrade::UpgradeJournal::parse(&journal.text()).expect("a written journal reads back");
        assert_eq!(again, journal);
        let _ = upgrade::resume_step(&journal.plan, &[], None);
        let _ = journal.plan.rollback_command();
    }
    for inhibitor in parse_inhibitors(&text) {
        let _ = inhibitor.blocks_shutdown();
    }
});
