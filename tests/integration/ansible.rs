//! Ansible: deploy/ansible/nvfix-rollout.yml run for real by Debian's ansible-core, local connection, each inventory
//! host mapped to a fixture tree in dry-run mode. Checks the branches on exit statuses and that a failing batch stops
//! the rollout.

use crate::harness::{fixture, nvfix_bin};
use std::path::Path;
use std::process::Command;

/// Runs the rollout over `hosts` (name, fixture scenario, node playbook) in batches of `batch`; (exit status, output).
fn rollout(hosts: &[(&str, &str, &str)], batch: u32) -> (i32, String) {
    let t = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inv = String::from("[gpu_nodes]\n");
    for (name, scenario, playbook) in hosts {
        inv.push_str(&format!(
            "{name} nvfix_root={} nvfix_playbook={}\n",
            fixture(scenario).display(),
            repo.join("playbooks")
                .join(format!("{playbook}.yaml"))
                .display()
        ));
    }
    inv.push_str(&format!(
        "\n[gpu_nodes:vars]\nansible_connection=local\nansible_python_interpreter=/usr/bin/python3\n\
         nvfix_dry_run=true\nnvfix_bin={}\n",
        nvfix_bin().display()
    ));
    std::fs::write(t.path().join("inventory.ini"), inv).unwrap();
    let out = Command::new("ansible-playbook")
        .args(["-i", "inventory.ini", "-e", &format!("nvfix_batch={batch}")])
        .arg(repo.join("deploy/ansible/nvfix-rollout.yml"))
        .current_dir(t.path())
        .env("ANSIBLE_HOME", t.path().join("ansible"))
        .env("ANSIBLE_LOCAL_TEMP", t.path().join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_STDOUT_CALLBACK", "default")
        .env_remove("ANSIBLE_CONFIG")
        .output()
        .unwrap_or_else(|e| {
            panic!("ansible-playbook is needed (Debian package ansible-core): {e}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The PLAY RECAP line of `host`, if it ran at all.
fn recap<'a>(text: &'a str, host: &str) -> Option<&'a str> {
    let recap = text.split("PLAY RECAP").nth(1)?;
    recap
        .lines()
        .find(|l| l.split_whitespace().next() == Some(host))
}

#[test]
fn rollout_branches_on_exit_statuses_and_stops_after_a_failing_batch() {
    let hosts = [
        ("gpu01", "healthy", "default"),
        ("gpu02", "incident", "slurm-node"),
        ("gpu03", "reboot-needed", "default"),
        ("gpu04", "repair-needed", "default"),
        ("gpu05", "healthy", "default"),
    ];
    let (status, text) = rollout(&hosts, 2);
    assert_eq!(status, 2, "a failed host fails the run:\n{text}");
    assert!(text.contains("gpu01: healthy — "), "{text}");
    assert!(
        text.contains("gpu02: quarantined — "),
        "slurm-node on a busy GPU (75):\n{text}"
    );
    assert!(
        text.contains("gpu03: needs a reboot"),
        "10 is reported, not a failure:\n{text}"
    );
    assert!(
        text.contains("gpu04: nvfix auto exited 69 (repair-needed)"),
        "{text}"
    );
    for (host, failed) in [("gpu01", 0), ("gpu02", 0), ("gpu03", 0), ("gpu04", 1)] {
        let line = recap(&text, host).unwrap_or_else(|| panic!("{host} did not run:\n{text}"));
        assert!(line.contains(&format!("failed={failed}")), "{line}");
    }
    assert_eq!(
        recap(&text, "gpu05"),
        None,
        "the batch after a failure never starts:\n{text}"
    );
}

#[test]
fn a_clean_fleet_rolls_out_to_every_batch() {
    let hosts = [
        ("gpu01", "healthy", "default"),
        ("gpu02", "reboot-needed", "dedicated-node"),
        ("gpu03", "healthy", "default"),
    ];
    let (status, text) = rollout(&hosts, 1);
    assert_eq!(status, 0, "{text}");
    for host in ["gpu01", "gpu02", "gpu03"] {
        assert!(recap(&text, host).unwrap().contains("failed=0"), "{text}");
    }
}
