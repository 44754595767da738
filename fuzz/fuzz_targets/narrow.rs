//! Differential fuzzing of the narrowing reader: reading a file in small chunks must give what narrowing the whole
//! text gives, that must be what the plain `split` definitions give, and parsing the narrowed text must find the
//! same driver packages as parsing the whole text (the reason narrowing is allowed at all).
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use nvfix::host::narrow::{narrow_text, read_narrowed_in_chunks, Records};
use nvfix::model::apt_history::{
    is_driver_package, parse_apt_history, parse_dnf_rpm_log, parse_dpkg_log, PackageChange,
    DRIVER_NAME_NEEDLES,
};
use nvfix::model::dpkg::{is_fabric_manager_package, parse_dpkg_status, InstalledPackage};

/// A reader that hands out a few bytes per call, as a pipe or a slow file system may.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        buf[..n].copy_from_slice(head);
        self.0 = tail;
        Ok(n)
    }
}

/// The plain definitions (as in narrow.rs's own tests).
fn reference(text: &str, needles: &[&str], records: Records) -> String {
    let mentions = |s: &str| needles.iter().any(|n| s.contains(n));
    match records {
        Records::Stanzas => text
            .split("\n\n")
            .filter(|b| mentions(b))
            .collect::<Vec<_>>()
            .join("\n\n"),
        Records::Entries => text
            .split("\n\n")
            .map(|b| {
                if mentions(b) {
                    b.to_string()
                } else {
                    "\n".repeat(b.matches('\n').count())
                }
            })
            .collect::<Vec<_>>()
            .join("\n\n"),
        Records::Lines => text.split('\n').fold(String::new(), |mut out, line| {
            if mentions(line) {
                out.push_str(line);
            }
            out.push('\n');
            out
        }),
    }
}

/// Package names are lower case in dpkg (it refuses others) and in the NVIDIA rpm packages; the needles rely on that.
fn driver_changes(changes: Vec<PackageChange>) -> Vec<PackageChange> {
    changes
        .into_iter()
        .filter(|c| is_driver_package(&c.package) && c.package == c.package.to_ascii_lowercase())
        .collect()
}

fn driver_packages(packages: &[InstalledPackage]) -> Vec<&InstalledPackage> {
    packages
        .iter()
        .filter(|p| {
            (is_driver_package(&p.name)
                || is_fabric_manager_package(&p.name)
                || p.name == "unattended-upgrades")
                && p.name == p.name.to_ascii_lowercase()
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, bytes)) = data.split_first() else {
        return;
    };
    let chunk = 1 + usize::from(knobs & 0x0f);
    let trickle = 1 + usize::from(knobs >> 4);
    let text = String::from_utf8_lossy(bytes);
    // As gather narrows the status: dpkg's own stanza names the native architecture.
    let status_needles = [
        DRIVER_NAME_NEEDLES,
        &["unattended-upgrades", "Package: dpkg"],
    ]
    .concat();
    for (records, needles) in [
        (Records::Stanzas, status_needles.as_slice()),
        (Records::Entries, DRIVER_NAME_NEEDLES),
        (Records::Lines, DRIVER_NAME_NEEDLES),
    ] {
        let whole = narrow_text(&text, needles, records);
        assert_eq!(
            whole,
            reference(&text, needles, records),
            "{records:?}: narrow_text"
        );
        let streamed =
            read_narrowed_in_chunks(Trickle(bytes, trickle), needles, records, chunk).unwrap();
        assert_eq!(streamed, whole, "{records:?}: in chunks of {chunk}");
    }
    // What gather parses from the narrowed text is what it would parse from the whole.
    let status = narrow_text(&text, &status_needles, Records::Stanzas);
    assert_eq!(
        driver_packages(&parse_dpkg_status(&status)),
        driver_packages(&parse_dpkg_status(&text)),
        "dpkg status"
    );
    let entries = narrow_text(&text, DRIVER_NAME_NEEDLES, Records::Entries);
    assert_eq!(
        driver_changes(parse_apt_history(&entries, "h")),
        driver_changes(parse_apt_history(&text, "h")),
        "apt history"
    );
    let lines = narrow_text(&text, DRIVER_NAME_NEEDLES, Records::Lines);
    for parse in [parse_dpkg_log, parse_dnf_rpm_log] {
        assert_eq!(
            driver_changes(parse(&lines, "l")),
            driver_changes(parse(&text, "l")),
            "log lines"
        );
    }
});
