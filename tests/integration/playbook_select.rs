//! Which playbook `auto` and `reboot` use: `--playbook NAME|PATH`, /etc/nvfix/nvfix.yaml, `nvfix playbook list`.

use crate::harness::{copy_fixture, nvfix, write_file};
use std::path::Path;

/// A shipped-style playbook whose `name:` tells which file was read.
fn playbook_named(name: &str) -> String {
    format!("version: 1\nname: {name}\nreload:\n  allowed: true\n")
}

/// The incident host with the package's playbook folders: `slurm-node` both local and shipped, `workstation` shipped.
fn host() -> tempfile::TempDir {
    let t = copy_fixture("incident");
    let root = t.path();
    write_file(
        root,
        "/usr/share/nvfix/playbooks/slurm-node.yaml",
        playbook_named("shipped-slurm").as_bytes(),
    );
    write_file(
        root,
        "/usr/share/nvfix/playbooks/workstation.yaml",
        playbook_named("shipped-ws").as_bytes(),
    );
    write_file(
        root,
        "/etc/nvfix/playbooks/slurm-node.yaml",
        playbook_named("local-slurm").as_bytes(),
    );
    t
}

fn auto_playbook(root: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let mut args = vec!["auto", "--dry-run", "--json"];
    args.extend_from_slice(extra);
    let run = nvfix(root, &args);
    let v = serde_json::from_str(&run.stdout).unwrap_or(serde_json::Value::Null);
    (run.status, v["playbook"].clone(), run.stderr)
}

#[test]
fn a_name_resolves_local_first_then_shipped() {
    let t = host();
    let (_, pb, err) = auto_playbook(t.path(), &["--playbook", "slurm-node"]);
    assert_eq!(pb["name"], "local-slurm", "{err}");
    assert_eq!(pb["source"], "/etc/nvfix/playbooks/slurm-node.yaml");
    let (_, pb, err) = auto_playbook(t.path(), &["--playbook", "workstation"]);
    assert_eq!(pb["name"], "shipped-ws", "{err}");
    assert_eq!(pb["source"], "/usr/share/nvfix/playbooks/workstation.yaml");
    // Without any file of that name, `default` is the built-in playbook.
    let (_, pb, _) = auto_playbook(t.path(), &["--playbook", "default"]);
    assert_eq!(pb["source"], "built-in default");
}

#[test]
fn a_missing_name_is_one_line_saying_where_it_looked() {
    let t = host();
    let run = nvfix(t.path(), &["auto", "--dry-run", "--playbook", "slurm"]);
    assert_eq!(run.status, 66, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("/etc/nvfix/playbooks/slurm.yaml")
            && run.stderr.contains("/usr/share/nvfix/playbooks/slurm.yaml"),
        "{}",
        run.stderr
    );
    let run = nvfix(t.path(), &["auto", "--dry-run", "--playbook", "slurm node"]);
    assert_eq!(run.status, 64, "{}", run.stderr);
}

#[test]
fn the_conffile_selects_the_playbook_auto_and_reboot_use() {
    let t = host();
    let root = t.path();
    // No conffile: `default`, here the built-in one.
    let (_, pb, _) = auto_playbook(root, &[]);
    assert_eq!(pb["source"], "built-in default");
    write_file(
        root,
        "/etc/nvfix/nvfix.yaml",
        b"version: 1\nplaybook: slurm-node\n",
    );
    let (_, pb, err) = auto_playbook(root, &[]);
    assert_eq!(pb["name"], "local-slurm", "{err}");
    // --playbook wins over the conffile.
    let (_, pb, _) = auto_playbook(root, &["--playbook", "workstation"]);
    assert_eq!(pb["name"], "shipped-ws");
    // A path in the conffile is a file of the host, under --root.
    write_file(root, "/srv/gpu.yaml", playbook_named("srv").as_bytes());
    write_file(
        root,
        "/etc/nvfix/nvfix.yaml",
        b"version: 1\nplaybook: /srv/gpu.yaml\n",
    );
    let (_, pb, err) = auto_playbook(root, &[]);
    assert_eq!(pb["name"], "srv", "{err}");
    // A broken conffile stops both commands with 78 and its position, before anything is judged.
    write_file(
        root,
        "/etc/nvfix/nvfix.yaml",
        b"version: 1\nplaybok: slurm-node\n",
    );
    for cmd in [&["auto", "--dry-run"][..], &["reboot", "--dry-run"][..]] {
        let run = nvfix(root, cmd);
        assert_eq!(run.status, 78, "{cmd:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("/etc/nvfix/nvfix.yaml:2:1: "),
            "{}",
            run.stderr
        );
    }
    write_file(
        root,
        "/etc/nvfix/nvfix.yaml",
        b"version: 1\nplaybook: nope\n",
    );
    let run = nvfix(root, &["reboot", "--dry-run"]);
    assert_eq!(run.status, 66, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("/etc/nvfix/nvfix.yaml: playbook: no playbook named `nope`"),
        "{}",
        run.stderr
    );
}

#[test]
fn playbook_list_shows_names_origins_and_the_selected_one() {
    let t = host();
    let root = t.path();
    write_file(
        root,
        "/etc/nvfix/nvfix.yaml",
        b"version: 1\nplaybook: workstation\n",
    );
    let run = nvfix(root, &["playbook", "list"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let line = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .unwrap_or_else(|| panic!("no {name} in:\n{}", run.stdout))
            .to_string()
    };
    assert!(
        line("slurm-node").contains("local")
            && line("slurm-node").contains("(hides /usr/share/nvfix/playbooks/slurm-node.yaml)")
    );
    assert!(line("workstation").starts_with(" *"), "{}", run.stdout);
    assert!(line("default").contains("built-in"), "{}", run.stdout);
    assert!(
        run.stdout.contains("selected by /etc/nvfix/nvfix.yaml"),
        "{}",
        run.stdout
    );

    let run = nvfix(root, &["playbook", "list", "--json"]);
    let v = run.json();
    assert_eq!(v["schema"], "nvfix.playbooks/v1");
    assert_eq!(
        v["selected"]["source"],
        "/usr/share/nvfix/playbooks/workstation.yaml"
    );
    let selected: Vec<&str> = v["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["selected"] == true)
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(selected, ["workstation"]);

    // A conffile naming nothing usable: the list still prints, the status says what auto would hit.
    write_file(
        root,
        "/etc/nvfix/nvfix.yaml",
        b"version: 1\nplaybook: nope\n",
    );
    let run = nvfix(root, &["playbook", "list", "--json"]);
    assert_eq!(run.status, 66);
    assert!(run.json()["error"].as_str().unwrap().contains("`nope`"));
}
