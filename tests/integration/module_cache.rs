//! The module cache through the binary: a warm run answers like a cold one, and only the modules the verdict needs
//! are read (other kernels only when a reboot is the question).

use crate::harness::{copy_fixture, nvfix};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The paths the cache holds entries for, sorted.
fn cached_paths(tree: &Path) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(tree.join("var/cache/nvfix/modules.json")).unwrap())
            .unwrap();
    let mut paths: Vec<String> = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    paths
}

fn private_cache_dir(tree: &Path) {
    let dir = tree.join("var/cache/nvfix");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
}

/// Copies kernel `from`'s module folder as kernel `to` (another installed kernel).
fn add_kernel(tree: &Path, from: &str, to: &str) {
    let src = tree.join("lib/modules").join(from).join("updates/dkms");
    let dst = tree.join("lib/modules").join(to).join("updates/dkms");
    fs::create_dir_all(&dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_warm_run_says_what_the_cold_run_said() {
    let tree = copy_fixture("incident");
    private_cache_dir(tree.path());
    let cold = nvfix(tree.path(), &["diagnose", "--json", "--no-holders"]);
    assert!(tree.path().join("var/cache/nvfix/modules.json").exists());
    let warm = nvfix(tree.path(), &["diagnose", "--json", "--no-holders"]);
    assert_eq!(cold.status, warm.status);
    assert_eq!(cold.json(), warm.json());
    assert_eq!(cold.json()["action"], "reload");
}

#[test]
fn a_reload_verdict_reads_only_the_running_kernels_modules() {
    let tree = copy_fixture("incident");
    private_cache_dir(tree.path());
    add_kernel(tree.path(), "6.8.0-85-generic", "6.8.0-79-generic");
    // Another kernel's module that cannot be read: not read, so not warned about.
    fs::write(
        tree.path()
            .join("lib/modules/6.8.0-79-generic/updates/dkms/nvidia-drm.ko.zst"),
        b"garbled",
    )
    .unwrap();
    let run = nvfix(tree.path(), &["diagnose", "--json", "--no-holders"]);
    assert_eq!(run.json()["action"], "reload");
    let cached = cached_paths(tree.path());
    assert!(!cached.is_empty());
    assert!(
        cached.iter().all(|p| !p.contains("6.8.0-79-generic")),
        "{cached:?}"
    );
    assert!(!run.stdout.contains("6.8.0-79-generic"), "{}", run.stdout);
}

#[test]
fn a_reboot_verdict_reads_the_other_kernels_too() {
    let tree = copy_fixture("reboot-needed");
    private_cache_dir(tree.path());
    let run = nvfix(tree.path(), &["diagnose", "--json", "--no-holders"]);
    assert_eq!(run.json()["action"], "reboot");
    assert_eq!(run.json()["matching_kernels"][0], "6.8.0-87-generic");
    let cached = cached_paths(tree.path());
    assert!(
        cached.iter().any(|p| p.contains("6.8.0-87-generic")),
        "{cached:?}"
    );
}

#[test]
fn a_fixture_tree_without_a_cache_folder_is_left_as_it_was() {
    let tree = copy_fixture("incident");
    nvfix(tree.path(), &["diagnose", "--json", "--no-holders"]);
    assert!(!tree.path().join("var/cache/nvfix").exists());
}
