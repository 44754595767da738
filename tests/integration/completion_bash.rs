//! The committed bash completion, driven by a real bash: COMP_WORDS/COMP_CWORD set, the function called, COMPREPLY
//! read back; the playbook folders pointed at temporary ones.

use std::path::Path;
use std::process::Command;

/// A working folder with a file and a folder in it, and two playbook folders with names in them.
struct Scene {
    dir: tempfile::TempDir,
    script: std::path::PathBuf,
}

fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("work/hostroot")).unwrap();
    std::fs::write(d.join("work/notes.txt"), "x").unwrap();
    std::fs::create_dir_all(d.join("etc-playbooks")).unwrap();
    std::fs::write(d.join("etc-playbooks/my-node.yaml"), "version: 1\n").unwrap();
    std::fs::create_dir_all(d.join("share-playbooks")).unwrap();
    for name in ["slurm-node", "kubernetes-node"] {
        std::fs::write(
            d.join(format!("share-playbooks/{name}.yaml")),
            "version: 1\n",
        )
        .unwrap();
    }
    std::fs::write(d.join("share-playbooks/README"), "not a playbook").unwrap();
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/nvfix.bash"),
    )
    .unwrap();
    let [etc, share] = nvfix::commands::completion_hints::PLAYBOOK_DIRS;
    assert!(committed.contains(etc) && committed.contains(share));
    let script = committed
        .replace(etc, &d.join("etc-playbooks").display().to_string())
        .replace(share, &d.join("share-playbooks").display().to_string());
    let path = d.join("nvfix.bash");
    std::fs::write(&path, script).unwrap();
    Scene { dir, script: path }
}

/// What bash offers for the last word of `words` (the command line up to the cursor).
fn complete(scene: &Scene, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let program = format!(
        r#"source "$1"
# compopt only works inside a real completion; here its options do not matter.
compopt() {{ :; }}
COMP_WORDS=({words})
COMP_CWORD={cword}
_nvfix nvfix "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = quoted.join(" "),
    );
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(program)
        .arg("bash")
        .arg(&scene.script)
        .current_dir(scene.dir.path().join("work"))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_offers_the_visible_commands_only() {
    let s = scene();
    let offered = complete(&s, &["nvfix", ""]);
    for visible in [
        "diagnose", "ps", "reload", "hold", "auto", "reboot", "playbook",
    ] {
        assert!(
            offered.iter().any(|o| o == visible),
            "{visible} in {offered:?}"
        );
    }
    for hidden in ["completions", "man"] {
        assert!(
            !offered.iter().any(|o| o == hidden),
            "{hidden} in {offered:?}"
        );
    }
    assert_eq!(complete(&s, &["nvfix", "re"]), ["reload", "reboot"]);
}

#[test]
fn bash_completes_numbers_with_nothing() {
    let s = scene();
    for words in [
        &["nvfix", "reload", "--grace", ""][..],
        &["nvfix", "reload", "--module-timeout", ""],
        &["nvfix", "auto", "--module-timeout", ""],
        &["nvfix", "reboot", "--delay", ""],
    ] {
        assert_eq!(complete(&s, words), Vec::<String>::new(), "{words:?}");
    }
}

#[test]
fn bash_completes_root_with_folders_only() {
    let s = scene();
    assert_eq!(complete(&s, &["nvfix", "--root", ""]), ["hostroot"]);
    assert_eq!(
        complete(&s, &["nvfix", "diagnose", "--root", "h"]),
        ["hostroot"]
    );
    assert_eq!(
        complete(&s, &["nvfix", "--root", "n"]),
        Vec::<String>::new()
    );
}

#[test]
fn bash_completes_playbook_names_then_paths() {
    let s = scene();
    let mut names = complete(&s, &["nvfix", "auto", "--playbook", ""]);
    names.sort();
    assert_eq!(names, ["kubernetes-node", "my-node", "slurm-node"]);
    assert_eq!(
        complete(&s, &["nvfix", "reboot", "--playbook", "sl"]),
        ["slurm-node"]
    );
    // A word with a slash is a path.
    assert_eq!(
        complete(&s, &["nvfix", "auto", "--playbook", "./no"]),
        ["./notes.txt"]
    );
}
