//! Integration tests: `nvfix ps --json` against a host tree with GPU holders, services, containers and bystanders.

use crate::harness;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

const CRI_ID: &str = "9d1c3e5f7a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d";
const POD_UID: &str = "5f0e1d2c-3b4a-5968-7788-99aabbccddee";

/// One process in a fixture tree, with the files `host::procscan` documents.
struct Proc<'a> {
    pid: i32,
    comm: &'a str,
    uid: u32,
    argv: &'a [&'a str],
    exe: &'a str,
    fds: &'a [&'a str],
    maps: &'a [&'a str],
    cgroup: &'a str,
}

impl Proc<'_> {
    fn write(&self, root: &Path) {
        let dir = root.join(format!("proc/{}", self.pid));
        fs::create_dir_all(dir.join("fd")).unwrap();
        for (n, target) in self.fds.iter().enumerate() {
            symlink(target, dir.join(format!("fd/{n}"))).unwrap();
        }
        let maps: String = self
            .maps
            .iter()
            .enumerate()
            .map(|(i, path)| {
                format!("7f{i:02x}00000000-7f{i:02x}00001000 r-xp 00000000 08:01 {i} {path}\n")
            })
            .collect();
        fs::write(dir.join("maps"), maps).unwrap();
        fs::write(
            dir.join("stat"),
            format!(
                "{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 1523 0 0 0 12 7 0 0 20 0 1 0 250000 26456064 2874 \
                 18446744073709551615 1 1 0 0 0 0 0 4096 16386 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
                pid = self.pid,
                comm = self.comm
            ),
        )
        .unwrap();
        fs::write(dir.join("comm"), format!("{}\n", self.comm)).unwrap();
        fs::write(
            dir.join("status"),
            format!(
                "Name:\t{}\nUid:\t{u}\t{u}\t{u}\t{u}\n",
                self.comm,
                u = self.uid
            ),
        )
        .unwrap();
        let cmdline: String = self.argv.iter().map(|a| format!("{a}\0")).collect();
        fs::write(dir.join("cmdline"), cmdline).unwrap();
        symlink(self.exe, dir.join("exe")).unwrap();
        fs::write(dir.join("cgroup"), self.cgroup).unwrap();
    }
}

fn host_with_holders() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    fs::create_dir_all(r.join("etc")).unwrap();
    fs::write(
        r.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n\
         nvidia-persistenced:x:121:128::/nonexistent:/usr/sbin/nologin\n",
    )
    .unwrap();
    // renderD128 is nvidia_drm's; card0 belongs to the integrated GPU.
    fs::create_dir_all(r.join("sys/class/drm/renderD128/device")).unwrap();
    symlink(
        "/sys/bus/pci/drivers/nvidia",
        r.join("sys/class/drm/renderD128/device/driver"),
    )
    .unwrap();
    fs::create_dir_all(r.join("sys/class/drm/card0/device")).unwrap();
    symlink(
        "/sys/bus/pci/drivers/i915",
        r.join("sys/class/drm/card0/device/driver"),
    )
    .unwrap();

    Proc {
        pid: 812,
        comm: "nvidia-persiste",
        uid: 121,
        argv: &[
            "/usr/bin/nvidia-persistenced",
            "--user",
            "nvidia-persistenced",
        ],
        exe: "/usr/bin/nvidia-persistenced",
        fds: &["/dev/null", "/dev/nvidiactl", "/dev/nvidia0"],
        maps: &["/usr/bin/nvidia-persistenced"],
        cgroup: "0::/system.slice/nvidia-persistenced.service\n",
    }
    .write(r);
    Proc {
        pid: 2001,
        comm: "python3",
        uid: 1000,
        argv: &["/usr/bin/python3", "train.py"],
        exe: "/usr/bin/python3.12",
        fds: &[
            "/dev/pts/1",
            "/dev/nvidia0",
            "/dev/nvidiactl",
            "/dev/nvidia-uvm",
            "/dev/nvidia0",
        ],
        maps: &[
            "/usr/bin/python3.12",
            "/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06",
            "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.65.06",
        ],
        cgroup: "0::/user.slice/user-1000.slice/session-3.scope\n",
    }
    .write(r);
    Proc {
        pid: 3100,
        comm: "nvtop",
        uid: 1000,
        argv: &["nvtop"],
        exe: "/usr/bin/nvtop",
        fds: &["/dev/pts/2"],
        maps: &["/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.65.06 (deleted)"],
        cgroup: "0::/user.slice/user-1000.slice/session-3.scope\n",
    }
    .write(r);
    Proc {
        pid: 4500,
        comm: "ffmpeg",
        uid: 0,
        argv: &["ffmpeg", "-hwaccel", "cuda", "-i", "in.mp4"],
        exe: "/usr/bin/ffmpeg",
        fds: &["/dev/dri/renderD128", "/dev/dri/card0"],
        maps: &[],
        cgroup: &format!(
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{CRI_ID}.scope\n",
            POD_UID.replace('-', "_")
        ),
    }
    .write(r);
    // Bystanders: they hold nothing of the GPU's.
    Proc {
        pid: 1,
        comm: "systemd",
        uid: 0,
        argv: &["/sbin/init"],
        exe: "/usr/lib/systemd/systemd",
        fds: &["/dev/kmsg", "anon_inode:[eventpoll]", "socket:[1]"],
        maps: &[
            "/usr/lib/systemd/systemd",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
        ],
        cgroup: "0::/init.scope\n",
    }
    .write(r);
    Proc {
        pid: 1500,
        comm: "bash",
        uid: 1000,
        argv: &["-bash"],
        exe: "/usr/bin/bash",
        fds: &["/dev/pts/1", "/dev/pts/1", "/dev/pts/1"],
        maps: &["/usr/bin/bash"],
        cgroup: "0::/user.slice/user-1000.slice/session-3.scope\n",
    }
    .write(r);
    t
}

fn holder(holders: &[Value], pid: i64) -> &Value {
    holders
        .iter()
        .find(|h| h["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not among holders: {holders:#?}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn ps_json_lists_each_holder_with_devices_users_services_and_containers() {
    let t = host_with_holders();
    // By default: the processes with a device open (what blocks an unload), like diagnose.
    let run = harness::nvfix(t.path(), &["ps", "--json"]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let pids: Vec<i64> = run
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(pids, vec![812, 2001, 4500]);

    // --all adds nvtop, which only maps the replaced libnvidia-ml.
    let run = harness::nvfix(t.path(), &["ps", "--all", "--json"]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let json = run.json();
    let holders = json.as_array().expect("a JSON array of holders");
    let pids: Vec<i64> = holders.iter().map(|h| h["pid"].as_i64().unwrap()).collect();
    assert_eq!(pids, vec![812, 2001, 3100, 4500]);

    let daemon = holder(holders, 812);
    assert_eq!(daemon["service"], "persistenced");
    assert_eq!(daemon["user"], "nvidia-persistenced");
    assert_eq!(daemon["uid"], 121);
    assert_eq!(
        daemon["command"],
        "/usr/bin/nvidia-persistenced --user nvidia-persistenced"
    );
    assert_eq!(
        strings(&daemon["devices"]),
        ["/dev/nvidia0", "/dev/nvidiactl"]
    );
    assert!(daemon.get("container").is_none());

    let job = holder(holders, 2001);
    assert_eq!(job["user"], "alice");
    assert_eq!(job["command"], "/usr/bin/python3 train.py");
    assert_eq!(job["comm"], "python3");
    assert_eq!(
        strings(&job["devices"]),
        ["/dev/nvidia-uvm", "/dev/nvidia0", "/dev/nvidiactl"]
    );
    assert_eq!(
        strings(&job["libraries"]),
        [
            "/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06",
            "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.65.06"
        ]
    );
    assert!(job.get("service").is_none());
    assert!(job["started_secs_after_boot"].as_u64().is_some());

    let nvtop = holder(holders, 3100);
    assert_eq!(strings(&nvtop["devices"]), Vec::<&str>::new());
    assert_eq!(
        strings(&nvtop["libraries"]),
        ["/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.65.06 (deleted)"]
    );

    let pod = holder(holders, 4500);
    assert_eq!(pod["user"], "root");
    assert_eq!(pod["command"], "ffmpeg -hwaccel cuda -i in.mp4");
    // card0 is the integrated GPU's: only nvidia_drm's node counts.
    assert_eq!(strings(&pod["devices"]), ["/dev/dri/renderD128"]);
    let container = &pod["container"];
    let id = container["id"].as_str().expect("a container id");
    assert!(
        id.len() >= 12 && CRI_ID.starts_with(id),
        "container: {container}"
    );
    assert!(
        ["containerd", "kubernetes"].contains(&container["runtime"].as_str().unwrap_or("")),
        "container: {container}"
    );
    // The systemd cgroup driver writes the pod UID with `_` for `-`; either spelling names the pod.
    let pod_uid = container["pod_uid"].as_str().unwrap_or("");
    assert!(
        pod_uid == POD_UID || pod_uid == POD_UID.replace('-', "_"),
        "container: {container}"
    );
}

#[test]
fn ps_json_on_a_host_without_holders_is_an_empty_array() {
    let t = tempfile::tempdir().unwrap();
    Proc {
        pid: 1,
        comm: "systemd",
        uid: 0,
        argv: &["/sbin/init"],
        exe: "/usr/lib/systemd/systemd",
        fds: &["/dev/null"],
        maps: &["/usr/lib/systemd/systemd"],
        cgroup: "0::/init.scope\n",
    }
    .write(t.path());
    let run = harness::nvfix(t.path(), &["ps", "--json"]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(run.json(), serde_json::json!([]));
}

/// A holder whose command line runs far past 80 columns (a training job with its flags).
fn host_with_a_long_command_line() -> tempfile::TempDir {
    let t = host_with_holders();
    let flags: Vec<String> = (0..20)
        .map(|i| format!("--hyperparameter-{i}=0.{i}"))
        .collect();
    let mut argv = vec![
        "/usr/bin/python3",
        "/srv/jobs/experiment-2026-12/train_large_model.py",
    ];
    argv.extend(flags.iter().map(String::as_str));
    Proc {
        pid: 4711,
        comm: "python3",
        uid: 1000,
        argv: &argv,
        exe: "/usr/bin/python3.12",
        fds: &[
            "/dev/nvidiactl",
            "/dev/nvidia-uvm",
            "/dev/nvidia0",
            "/dev/nvidia1",
        ],
        maps: &["/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06"],
        cgroup: "0::/system.slice/slurmstepd.scope/job_4711/step_0/user/task_0\n",
    }
    .write(t.path());
    t
}

#[test]
fn ps_fits_80_columns_unless_wide_and_json_keeps_everything() {
    let t = host_with_a_long_command_line();
    // Not a terminal: 80 columns.
    let run = harness::nvfix(t.path(), &["ps"]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    for line in run.stdout.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line:?}",
            line.chars().count()
        );
    }
    let long = run
        .stdout
        .lines()
        .find(|l| l.starts_with("4711"))
        .expect("the job's row");
    assert!(long.ends_with('…'), "{long}");

    let run = harness::nvfix(t.path(), &["ps", "--wide"]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert!(!run.stdout.contains('…'), "{}", run.stdout);
    assert!(
        run.stdout.contains("--hyperparameter-19=0.19"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().any(|l| l.chars().count() > 200),
        "{}",
        run.stdout
    );

    let run = harness::nvfix(t.path(), &["ps", "--json"]);
    let job = holder(run.json().as_array().unwrap(), 4711).clone();
    assert!(
        job["command"]
            .as_str()
            .unwrap()
            .ends_with("--hyperparameter-19=0.19"),
        "{job}"
    );
}

#[test]
fn colour_follows_no_color_and_clicolor() {
    let t = host_with_holders();
    let bold = "\u{1b}[";
    let coloured = |env: &[(&str, &str)]| {
        let run = harness::nvfix_env(t.path(), &["ps"], env);
        assert_eq!(run.status, 0, "stderr: {}", run.stderr);
        run.stdout.contains(bold)
    };
    // Into a pipe: none, unless forced.
    assert!(!coloured(&[]));
    assert!(coloured(&[("CLICOLOR_FORCE", "1")]));
    assert!(coloured(&[
        ("CLICOLOR_FORCE", "1"),
        ("TERM", "dumb"),
        ("CLICOLOR", "0")
    ]));
    assert!(!coloured(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]));
    assert!(!coloured(&[("CLICOLOR_FORCE", "0")]));
    // --color decides alone.
    let run = harness::nvfix_env(t.path(), &["--color", "always", "ps"], &[("NO_COLOR", "1")]);
    assert!(run.stdout.contains(bold), "{}", run.stdout);
}
