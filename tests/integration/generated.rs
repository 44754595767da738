//! The committed completions/ and man/ must be what the clap definitions generate today.

use std::collections::BTreeMap;
use std::path::Path;

const REFRESH: &str =
    "run `cargo run -q -- completions --dir completions && cargo run -q -- man man` to refresh";

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}; {REFRESH}", dir.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Compares a committed folder with a fresh generation; names every stale, missing or extra file.
fn assert_same(committed: &Path, fresh: &Path) {
    let (want, have) = (files(fresh), files(committed));
    let mut problems = Vec::new();
    for (name, bytes) in &want {
        match have.get(name) {
            None => problems.push(format!("missing {name}")),
            Some(b) if b != bytes => problems.push(format!("stale {name}")),
            Some(_) => {}
        }
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        problems.push(format!("not generated any more: {name}"));
    }
    assert!(
        problems.is_empty(),
        "{} differs from the clap definitions ({}); {REFRESH}",
        committed.display(),
        problems.join(", ")
    );
}

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn committed_completions_match_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let written = nvfix::commands::completions::write_all(tmp.path()).unwrap();
    assert_eq!(written.len(), 5, "bash, zsh, fish, elvish, powershell");
    assert_same(&repo("completions"), tmp.path());
}

#[test]
fn committed_man_pages_match_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    nvfix::commands::man::write_all(tmp.path()).unwrap();
    assert_same(&repo("man"), tmp.path());
}

#[test]
fn the_binary_prints_one_shell_and_writes_all() {
    let run = crate::harness::nvfix(Path::new("/"), &["completions", "bash"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("_nvfix()"),
        "{}",
        &run.stdout[..run.stdout.len().min(200)]
    );
    let tmp = tempfile::tempdir().unwrap();
    let run = crate::harness::nvfix(
        Path::new("/"),
        &["completions", "--dir", tmp.path().to_str().unwrap()],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_same(&repo("completions"), tmp.path());
    let run = crate::harness::nvfix(Path::new("/"), &["completions"]);
    assert_eq!(run.status, 64, "a shell or --dir is required");
}
