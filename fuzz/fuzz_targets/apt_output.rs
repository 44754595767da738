//! Fuzzes what `nvfix upgrade` reads from apt: `apt-get -s install` output and `apt-cache policy` output (the input
//! cut at the first NUL into the two), and the plan choices made on the versions they name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::apt_simulation::{parse_apt_policy, parse_apt_simulation};

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    let (sim, policy) = text
        .split_once('\0')
        .unwrap_or((text.as_str(), text.as_str()));
    if let Ok(changes) = parse_apt_simulation(sim) {
        for c in &changes {
            // A change always names one package, as one word.
            assert!(
                !c.name.is_empty() && !c.name.contains(char::is_whitespace),
                "{c:?}"
            );
        }
    }
    for p in parse_apt_policy(policy) {
        assert!(!p.name.is_empty());
        for v in &p.versions {
            let _ = v.downloadable();
            let _ = p.offers(&v.version);
        }
    }
});
