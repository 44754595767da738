//! Huge and hostile inputs, generated here (never committed): every read stays within its budget with a warning naming
//! the file, blacklist entries mean what Python makes of them, foreign-architecture packages are held and counted.

use crate::harness::{copy_fixture, nvfix, reason_codes, write_file};
use nvfix::commands::hold::{hold, status, Mode};
use nvfix::host::runner::RecordingRunner;
use nvfix::host::HostRoot;
use std::io::Write;
use std::path::Path;

/// The warnings nvfix gave about `file`.
fn warnings_about(v: &serde_json::Value, file: &str) -> Vec<String> {
    v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["file"] == file)
        .map(|w| w["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `members` copies of one gzip member of `text` (1 MiB of it): gzip readers read every member, so a small file
/// expands to `members` MiB.
fn gzip_members(text: &str, members: usize) -> Vec<u8> {
    let block: String = text.repeat(1 + (1 << 20) / text.len())[..1 << 20].to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(block.as_bytes()).unwrap();
    let member = gz.finish().unwrap();
    member.repeat(members)
}

const DRIVER_ENTRY: &str = "Start-Date: 2025-10-23  06:00:00\nCommandline: /usr/bin/unattended-upgrade\n\
Upgrade: libnvidia-compute-580:amd64 (580.65.06-0ubuntu1, 580.95.05-0ubuntu1)\nEnd-Date: 2025-10-23  06:00:09\n\n";

#[test]
fn a_gzip_log_expanding_to_gigabytes_is_cut_with_a_warning_naming_it() {
    let tree = copy_fixture("incident");
    std::fs::remove_file(tree.path().join("var/log/apt/history.log")).unwrap();
    // 1 GiB of driver upgrades in a few megabytes.
    let bomb = gzip_members(DRIVER_ENTRY, 1024);
    assert!(bomb.len() < 8 << 20, "{}", bomb.len());
    write_file(tree.path(), "/var/log/apt/history.log.1.gz", &bomb);
    let started = std::time::Instant::now();
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
    assert_eq!(v["verdict"], "version-mismatch");
    let warned = warnings_about(&v, "/var/log/apt/history.log.1.gz");
    assert!(
        warned.iter().any(|w| w.contains("passed 4 MiB")),
        "{warned:?}"
    );
}

#[test]
fn a_gzip_log_of_other_packages_stops_at_its_decompressed_budget() {
    let tree = copy_fixture("incident");
    let other = DRIVER_ENTRY.replace("libnvidia-compute-580", "libfoo1");
    // 40 MiB of other packages' upgrades, past the 32 MiB budget.
    write_file(
        tree.path(),
        "/var/log/apt/history.log.1.gz",
        &gzip_members(&other, 40),
    );
    // The current log does not explain the library, so the rotation is read.
    write_file(tree.path(), "/var/log/apt/history.log", b"");
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    let warned = warnings_about(&v, "/var/log/apt/history.log.1.gz");
    assert!(
        warned
            .iter()
            .any(|w| w.contains("budget of 32 MiB") && w.contains("rest left out")),
        "{warned:?}"
    );
}

#[test]
fn a_zstd_module_expanding_to_gigabytes_is_refused_with_a_warning_naming_it() {
    let tree = copy_fixture("incident");
    let module = "/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst";
    // An ELF header whose section headers lie past the end, then 1 GiB of zeros, compressed frame by frame.
    let mut header = [0u8; 64];
    header[..6].copy_from_slice(b"\x7fELF\x02\x01");
    header[0x28..0x30].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let mut bomb = zstd::encode_all(&header[..], 3).unwrap();
    let zeros = zstd::encode_all(&vec![0u8; 16 << 20][..], 3).unwrap();
    for _ in 0..64 {
        bomb.extend_from_slice(&zeros);
    }
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    write_file(tree.path(), module, &bomb);
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    let all = serde_json::to_string(&v["warnings"]).unwrap();
    assert!(
        all.contains("nvidia.ko.zst") && all.contains("more than 96 MiB"),
        "{all}"
    );
}

#[test]
fn a_kernel_log_past_its_budget_is_read_from_its_newest_lines() {
    let tree = copy_fixture("incident");
    let original =
        std::fs::read_to_string(tree.path().join("var/log/kern.log")).unwrap_or_default();
    // 20 MiB of chatter, then the real log (its NVRM lines are the newest).
    let chatter = "Oct 21 06:30:01 gpu01 kernel: usb 1-1: some device chatter\n";
    let mut text = chatter.repeat((20 << 20) / chatter.len());
    text.push_str(&original);
    write_file(tree.path(), "/var/log/kern.log", text.as_bytes());
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    let warned = warnings_about(&v, "/var/log/kern.log");
    assert!(
        warned.iter().any(|w| w.contains("newest lines")),
        "{warned:?}"
    );
    assert!(
        reason_codes(&v).contains(&"kernel-log-api-mismatch".to_string()),
        "{:?}",
        reason_codes(&v)
    );
}

#[test]
fn a_configuration_file_past_its_budget_is_refused_with_a_warning_naming_it() {
    let tree = copy_fixture("incident");
    let path = "/etc/apt/apt.conf.d/50unattended-upgrades";
    let mut text = "// padding\n".repeat((9 << 20) / 11);
    text.push_str("Unattended-Upgrade::Package-Blacklist { \"nvidia-\"; };\n");
    write_file(tree.path(), path, text.as_bytes());
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    let warned = warnings_about(&v, path);
    assert!(
        warned
            .iter()
            .any(|w| w.contains("configuration budget of 8 MiB") && w.contains("not read")),
        "{warned:?} {}",
        v["warnings"]
    );
}

fn set_blacklist(root: &Path, entries: &[&str]) {
    let mut text = String::from("Unattended-Upgrade::Package-Blacklist {\n");
    for e in entries {
        text.push_str(&format!("    \"{e}\";\n"));
    }
    text.push_str("};\n");
    write_file(
        root,
        "/etc/apt/apt.conf.d/50unattended-upgrades",
        text.as_bytes(),
    );
}

#[test]
fn a_blacklist_entry_python_rejects_is_its_own_reason_and_protects_nothing() {
    let tree = copy_fixture("incident");
    // The regex crate would read `^(?:x)|(nvidia)`: every *nvidia* package "protected". Python refuses the entry.
    set_blacklist(tree.path(), &["x)|(nvidia", "libnvidia-", "nvidia-"]);
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    let codes = reason_codes(&v);
    assert!(
        codes.contains(&"blacklist-entry-invalid".to_string()),
        "{codes:?}"
    );
    let reason = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "blacklist-entry-invalid")
        .unwrap();
    let message = reason["message"].as_str().unwrap();
    assert!(
        message.contains("x)|(nvidia") && message.contains("unbalanced parenthesis"),
        "{message}"
    );

    // Alone, it protects nothing: every driver package is exposed.
    set_blacklist(tree.path(), &["x)|(nvidia"]);
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    let codes = reason_codes(&v);
    assert!(codes.contains(&"recurrence-risk".to_string()), "{codes:?}");
    let st = status(&HostRoot::new(tree.path()), &RecordingRunner::new()).unwrap();
    assert!(st.packages.iter().all(|p| !p.blacklisted), "{st:?}");
    assert!(st.at_risk);
}

/// Adds an i386 copy of the incident host's libnvidia-compute-580 (`Multi-Arch: same`) and dpkg's own stanza.
fn add_i386_library(root: &Path) {
    let path = root.join("var/lib/dpkg/status");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let stanza = text
        .split("\n\n")
        .find(|s| s.starts_with("Package: libnvidia-compute-580\n"))
        .expect("the incident fixture has libnvidia-compute-580")
        .to_string();
    let i386 = stanza.replace("Architecture: amd64", "Architecture: i386");
    assert_ne!(i386, stanza);
    text = format!(
        "Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.22.6\n\n{}\n\n{i386}\n",
        text.trim_end()
    );
    std::fs::write(path, text).unwrap();
}

#[test]
fn foreign_architecture_driver_packages_are_held_blacklisted_and_counted() {
    let tree = copy_fixture("incident");
    add_i386_library(tree.path());
    // An admin's exact entries for the native names leave the i386 library to unattended-upgrades.
    set_blacklist(
        tree.path(),
        &["libnvidia-compute-580$", "libnvidia-gl-580$", "nvidia-"],
    );
    let v = nvfix(tree.path(), &["diagnose", "--json"]).json();
    let risk = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "recurrence-risk")
        .unwrap_or_else(|| panic!("{:?}", reason_codes(&v)));
    assert!(
        risk["message"]
            .as_str()
            .unwrap()
            .contains("libnvidia-compute-580:i386"),
        "{risk}"
    );

    let root = HostRoot::new(tree.path());
    let runner = RecordingRunner::new();
    let before = status(&root, &runner).unwrap();
    assert_eq!(before.exposed, vec!["libnvidia-compute-580:i386"]);
    hold(&root, &runner, Mode::Apply).unwrap();
    let commands = runner.commands();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(
        commands[0].starts_with("apt-mark hold ")
            && commands[0].contains(" libnvidia-compute-580 ")
            && commands[0].contains(" libnvidia-compute-580:i386 "),
        "{commands:?}"
    );
    // The drop-in alone (apt-mark's effect is not seen on a recorded run) protects both architectures.
    let after = status(&root, &runner).unwrap();
    assert!(after.exposed.is_empty(), "{:?}", after.exposed);
    assert!(after
        .packages
        .iter()
        .any(|p| p.name == "libnvidia-compute-580:i386" && p.blacklisted));
}
