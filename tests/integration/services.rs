//! Integration tests: GPU services are stopped through the systemd unit their cgroup names, through the binary's
//! reload plan (`--dry-run` on fixture trees): DCGM as `dcgm.service`, a user's `nv-hostengine`, an unknown unit.

use crate::harness::{copy_fixture, nvfix, write_file};
use serde_json::Value;
use std::path::Path;

/// Adds a process holding `/dev/nvidia0` to the tree: program `comm`, running in `cgroup`.
fn add_holder(root: &Path, pid: i32, comm: &str, uid: u32, cgroup: &str) {
    let dir = root.join(format!("proc/{pid}"));
    std::fs::create_dir_all(dir.join("fd")).unwrap();
    std::os::unix::fs::symlink("/dev/nvidia0", dir.join("fd/3")).unwrap();
    std::os::unix::fs::symlink(format!("/usr/bin/{comm}"), dir.join("exe")).unwrap();
    let p = |name: &str| format!("/proc/{pid}/{name}");
    write_file(root, &p("comm"), format!("{comm}\n").as_bytes());
    write_file(root, &p("cmdline"), format!("/usr/bin/{comm}\0").as_bytes());
    write_file(
        root,
        &p("status"),
        format!("Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n").as_bytes(),
    );
    let stat = format!(
        "{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 1 0 0 0 1 1 0 0 20 0 1 0 5000 1 1 0 0\n"
    );
    write_file(root, &p("stat"), stat.as_bytes());
    write_file(root, &p("cgroup"), cgroup.as_bytes());
}

fn plan(root: &Path) -> Value {
    let run = nvfix(root, &["reload", "--dry-run", "--json"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    run.json()["plan"].clone()
}

/// `kind target` for each step, the target being the unit or the pid.
fn steps(plan: &Value) -> Vec<String> {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            let kind = s["kind"].as_str()?;
            match (s["unit"].as_str(), s["process"]["pid"].as_i64()) {
                (Some(u), _) => Some(format!("{kind} {u}")),
                (_, Some(p)) => Some(format!("{kind} {p}")),
                _ => None,
            }
        })
        .collect()
}

fn why_of<'a>(plan: &'a Value, step: &str) -> &'a str {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            format!(
                "{} {}",
                s["kind"].as_str().unwrap(),
                s["unit"].as_str().unwrap_or("")
            ) == step
        })
        .and_then(|s| s["why"].as_str())
        .unwrap_or_else(|| panic!("no step {step} in {plan:#}"))
}

#[test]
fn dcgm_running_as_dcgm_service_is_stopped_as_that_unit_and_started_again() {
    let t = copy_fixture("incident");
    add_holder(
        t.path(),
        5000,
        "nv-hostengine",
        0,
        "0::/system.slice/dcgm.service\n",
    );
    let p = plan(t.path());
    let s = steps(&p);
    assert!(
        s.contains(&"stop-service dcgm.service".to_string()),
        "{s:?}"
    );
    assert!(
        s.contains(&"start-service dcgm.service".to_string()),
        "{s:?}"
    );
    assert!(
        !s.contains(&"terminate 5000".to_string()),
        "DCGM is not signalled (it would respawn): {s:?}"
    );
    assert!(
        !s.iter().any(|x| x.contains("nvidia-dcgm.service")),
        "{s:?}"
    );
    // Monitoring stops before the users' jobs are signalled; persistenced stays last.
    let at = |x: &str| s.iter().position(|y| y == x).unwrap();
    assert!(at("stop-service dcgm.service") < at("terminate 4242"));
    assert!(at("terminate 4242") < at("stop-service nvidia-persistenced.service"));
}

#[test]
fn a_users_nv_hostengine_is_a_user_process_and_stops_no_system_unit() {
    let t = copy_fixture("incident");
    add_holder(
        t.path(),
        5001,
        "nv-hostengine",
        1000,
        "0::/user.slice/user-1000.slice/session-3.scope\n",
    );
    let p = plan(t.path());
    let s = steps(&p);
    assert!(s.contains(&"terminate 5001".to_string()), "{s:?}");
    assert!(!s.iter().any(|x| x.contains("dcgm")), "{s:?}");
    let ps = nvfix(t.path(), &["ps", "--json"]).json();
    let h = ps
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["pid"] == 5001)
        .unwrap()
        .clone();
    assert_eq!(h["user_session"], true, "{h}");
    assert!(h.get("service").is_none() && h.get("unit").is_none(), "{h}");
}

#[test]
fn an_unknown_system_service_is_stopped_through_its_unit_and_the_plan_says_why() {
    let t = copy_fixture("incident");
    add_holder(
        t.path(),
        5002,
        "infer-server",
        0,
        "0::/system.slice/inference.service\n",
    );
    let p = plan(t.path());
    let s = steps(&p);
    assert!(
        s.contains(&"stop-service inference.service".to_string()),
        "{s:?}"
    );
    assert!(
        s.contains(&"start-service inference.service".to_string()),
        "{s:?}"
    );
    assert!(!s.contains(&"terminate 5002".to_string()), "{s:?}");
    let why = why_of(&p, "stop-service inference.service");
    assert!(
        why.contains("Restart=") && why.contains("infer-server"),
        "{why}"
    );
    assert!(p["services"]
        .as_array()
        .unwrap()
        .contains(&"inference.service".into()));
}

#[test]
fn a_unit_name_systemd_would_not_accept_never_reaches_a_command() {
    let t = copy_fixture("incident");
    add_holder(
        t.path(),
        5003,
        "worker",
        0,
        "0::/system.slice/x;reboot.service\n",
    );
    add_holder(t.path(), 5004, "worker", 0, "0::/system.slice/-H.service\n");
    let p = plan(t.path());
    let s = steps(&p);
    assert!(s.contains(&"terminate 5003".to_string()), "{s:?}");
    assert!(s.contains(&"terminate 5004".to_string()), "{s:?}");
    assert!(
        !s.iter().any(|x| x.contains("reboot") || x.contains("-H")),
        "{s:?}"
    );
}
