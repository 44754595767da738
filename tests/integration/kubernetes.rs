//! Kubernetes: the manifests in deploy/kubernetes/ validated offline against the API schemas (kubernetes-validate,
//! from PyPI), the node-problem-detector config kept in one copy, and `nvfix sentinel` (kured's reboot sentinel) on
//! fixture trees, run exactly as kured-values.yaml spells it.

use crate::auto::set_refcount;
use crate::harness::{copy_fixture, fixture, nvfix, Run};
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// `kubernetes-validate --strict` on the files; its output and whether it passed.
fn validate(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "kubernetes-validate is needed to check deploy/kubernetes offline ({e}): `pip install \
                 kubernetes-validate` (.ci/run installs it)"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn manifests_validate_offline_and_a_broken_one_does_not() {
    let manifests: Vec<PathBuf> = [
        "namespace.yaml",
        "nvfix-check-daemonset.yaml",
        "nvfix-node-rbac.yaml",
        "nvfix-npd-configmap.yaml",
    ]
    .iter()
    .map(|f| deploy().join(f))
    .collect();
    let (ok, text) = validate(&manifests);
    assert!(ok, "{text}");
    assert_eq!(text.matches(" passed for resource ").count(), 6, "{text}");
    // The control: a misspelt field is caught, so the pass above means something.
    let t = tempfile::tempdir().unwrap();
    let broken = t.path().join("broken.yaml");
    let ds = std::fs::read_to_string(&manifests[1]).unwrap();
    std::fs::write(&broken, ds.replace("hostPID: true", "hostPid: true")).unwrap();
    let (ok, text) = validate(&[broken]);
    assert!(!ok, "{text}");
}

#[test]
fn the_daemonset_runs_a_read_only_check_into_the_textfile_folder() {
    let text = std::fs::read_to_string(deploy().join("nvfix-check-daemonset.yaml")).unwrap();
    let ds: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let c = &ds["spec"]["template"]["spec"]["containers"][0];
    let script = c["args"][0].as_str().unwrap();
    assert!(script.contains("/usr/bin/nvfix --root /host --color never check --format prometheus"));
    assert!(script.contains("--output /textfile/nvfix.prom"));
    let host = &c["volumeMounts"][0];
    assert_eq!(
        (host["mountPath"].as_str(), host["readOnly"].as_bool()),
        (Some("/host"), Some(true))
    );
    // The command the DaemonSet runs, against a fixture tree standing in for /host.
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("nvfix.prom");
    let run = nvfix(
        &fixture("incident"),
        &[
            "--color",
            "never",
            "check",
            "--format",
            "prometheus",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(std::fs::read_to_string(file)
        .unwrap()
        .contains("nvfix_verdict{verdict=\"version-mismatch\"} 1"));
}

#[test]
fn the_npd_configmap_carries_the_plugin_config_and_its_command_runs() {
    let json = std::fs::read_to_string(deploy().join("nvfix-npd-monitor.json")).unwrap();
    let cm: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(deploy().join("nvfix-npd-configmap.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(cm["data"]["nvfix-npd-monitor.json"].as_str().unwrap(), json);
    let cfg: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rule = &cfg["rules"][0];
    assert_eq!(rule["path"], "/usr/bin/nvfix");
    assert_eq!(cfg["pluginConfig"]["max_output_length"], 80);
    // The rule's arguments, with the fixture tree for /host: exit 1 (problem) and one line on the incident.
    let args: Vec<String> = rule["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(&args[..2], ["--root", "/host"]);
    let rest: Vec<&str> = args[2..].iter().map(String::as_str).collect();
    for (scenario, status) in [("incident", 1), ("healthy", 0), ("no-nvidia", 2)] {
        let run = nvfix(&fixture(scenario), &rest);
        assert_eq!(run.status, status, "{scenario}: {}", run.stdout);
        assert_eq!(run.stdout.lines().count(), 1);
    }
}

/// `nvfix sentinel` with kured-values.yaml's arguments, the playbook taken from playbooks/.
fn sentinel(root: &Path) -> Run {
    let values: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(deploy().join("kured-values.yaml")).unwrap(),
    )
    .unwrap();
    let cmd = values["configuration"]["rebootSentinelCommand"]
        .as_str()
        .unwrap();
    let words: Vec<&str> = cmd.split_whitespace().collect();
    assert_eq!(words[..3], ["/usr/bin/nvfix", "sentinel", "--playbook"]);
    // A name: /etc/nvfix/playbooks/kubernetes-node.yaml on a node that has one, else the shipped playbook used here.
    assert_eq!(words[3], "kubernetes-node");
    let pb = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/kubernetes-node.yaml");
    nvfix(root, &["sentinel", "--playbook", pb.to_str().unwrap()])
}

#[test]
fn sentinel_asks_kured_for_a_reboot_only_when_nothing_else_fixes_the_driver() {
    // Only a reboot loads a matching module, and the next boot has one: reboot.
    let r = sentinel(&fixture("reboot-needed"));
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("reboot: "), "{}", r.stdout);
    // The incident: a reload fixes it once the user's job ends — a busy GPU is not a reboot.
    let busy = copy_fixture("incident");
    set_refcount(busy.path(), "nvidia_drm", 0);
    let r = sentinel(busy.path());
    assert_eq!(r.status, 1, "{}", r.stdout);
    assert!(r.stdout.contains("once the GPU's jobs end"), "{}", r.stdout);
    // The console pins nvidia_drm: the reload plan cannot run, a reboot is the fix.
    set_refcount(busy.path(), "nvidia_drm", 2);
    let r = sentinel(busy.path());
    assert_eq!(r.status, 0, "{}", r.stdout);
    for (scenario, why) in [
        ("healthy", "healthy"),
        ("repair-needed", "repair-needed"),
        ("no-nvidia", "repair-needed"),
    ] {
        let r = sentinel(&fixture(scenario));
        assert_eq!(r.status, 1, "{scenario}: {}", r.stdout);
        assert!(r.stdout.contains(why), "{scenario}: {}", r.stdout);
    }
}

#[test]
fn sentinel_writes_nothing() {
    let t = copy_fixture("reboot-needed");
    // A trusted module-cache folder: a run that acts writes the module cache there.
    let cache = t.path().join("var/cache/nvfix");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::set_permissions(&cache, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    assert_eq!(sentinel(t.path()).status, 0);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
    assert!(!t.path().join("var/lib/nvfix").exists());
    // The control: diagnose does write there.
    nvfix(t.path(), &["diagnose"]);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
}

#[test]
fn sentinel_refuses_the_gpu_operators_driver_and_fails_closed_on_errors() {
    let t = copy_fixture("reboot-needed");
    std::fs::create_dir_all(t.path().join("run/nvidia/driver")).unwrap();
    let r = sentinel(t.path());
    assert_eq!(r.status, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("driver upgrade controller"),
        "{}",
        r.stdout
    );
    // A playbook that cannot be read is not a yes.
    let r = nvfix(
        &fixture("reboot-needed"),
        &["sentinel", "--playbook", "/nonexistent.yaml"],
    );
    assert_ne!(r.status, 0);
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "version: 2\n").unwrap();
    let r = nvfix(
        &fixture("reboot-needed"),
        &["sentinel", "--playbook", bad.path().to_str().unwrap()],
    );
    assert_ne!(r.status, 0, "{}", r.stderr);
}
