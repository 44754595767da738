//! Slurm on loopback: Debian's munged, slurmctld and slurmd run as this test's own children (temp key, socket, state,
//! 127.0.0.1 ports, no cgroups) and `nvfix auto --playbook slurm-node.yaml` (the library run, with only `scontrol`
//! reaching the real controller; the reload is a scripted engine, so nothing touches a module) hands the node to
//! Slurm and back: a job holding a stand-in GPU device under a fixture root drains the node with nvfix's reason
//! (exit 75), a new job does not land, the job ends, auto reloads and resumes; an admin's drain is never resumed;
//! a reboot is handed to Slurm, whose RebootProgram is a recorder.

use crate::auto::{idle_incident, playbook, reboot_needed, reloadable_incident, Scripted, NOW};
use nvfix::commands::auto::{run_auto, AutoInput, AutoReport};
use nvfix::host::runner::{CommandOutput, CommandRunner, CommandSpec, SystemRunner};
use nvfix::host::{HostError, HostRoot};
use nvfix::model::auto::{Outcome, QuarantineAction, ReloadResult};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The test's own Slurm: its folder, configuration and daemons, all stopped when it is dropped, even on failure.
struct Slurm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    daemons: Vec<(String, Child)>,
}

impl Drop for Slurm {
    fn drop(&mut self) {
        // Jobs end first (their scripts wait for this file and give up after a minute anyway), then the daemons.
        let _ = std::fs::write(self.dir.path().join("release"), b"");
        let _ = self.command("scancel", &["--full", "--partition=gpu"]);
        std::thread::sleep(Duration::from_millis(500));
        for (_, child) in self.daemons.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn wait_for(what: &str, slurm: &Slurm, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}\n{}", slurm.logs());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Slurm {
    fn start() -> Slurm {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        // munged wants every folder above its socket searchable by all, and its key private to its user.
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
        for sub in ["sock", "state", "spool"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        std::fs::set_permissions(
            d.join("sock"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let key: Vec<u8> = (0..1024u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        std::fs::write(d.join("munge.key"), key).unwrap();
        std::fs::set_permissions(
            d.join("munge.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o400),
        )
        .unwrap();
        let recorder = d.join("reboot-recorder.sh");
        std::fs::write(
            &recorder,
            format!(
                "#!/bin/sh\necho \"RebootProgram $*\" >> {}\n",
                d.join("reboots.log").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &recorder,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let host = output(Command::new("hostname").arg("-s"));
        let user = output(Command::new("id").arg("-un"));
        let conf = d.join("slurm.conf");
        let p = |name: &str| d.join(name).display().to_string();
        std::fs::write(
            &conf,
            format!(
                "ClusterName=nvfixlab\nSlurmctldHost={host}(127.0.0.1)\nSlurmctldPort={}\nSlurmdPort={}\n\
                 AuthType=auth/munge\nAuthInfo=socket={}\nCredType=cred/munge\nSlurmUser={user}\nSlurmdUser={user}\n\
                 StateSaveLocation={}\nSlurmdSpoolDir={}\nSlurmctldPidFile={}\nSlurmdPidFile={}\n\
                 SlurmctldLogFile={}\nSlurmdLogFile={}\n\
                 ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n\
                 AccountingStorageType=accounting_storage/none\nJobCompType=jobcomp/none\nSchedulerType=sched/builtin\n\
                 SelectType=select/cons_tres\nMpiDefault=none\nReturnToService=2\nRebootProgram={}\n\
                 NodeName=gpu07 NodeAddr=127.0.0.1 NodeHostname={host} CPUs=2 RealMemory=100 State=UNKNOWN\n\
                 PartitionName=gpu Nodes=gpu07 Default=YES MaxTime=INFINITE State=UP\n",
                free_port(),
                free_port(),
                p("sock/munge.sock"),
                p("state"),
                p("spool"),
                p("slurmctld.pid"),
                p("slurmd.pid"),
                p("slurmctld.log"),
                p("slurmd.log"),
                recorder.display(),
            ),
        )
        .unwrap();
        let mut slurm = Slurm {
            dir,
            conf: conf.clone(),
            daemons: Vec::new(),
        };
        let c = conf.display().to_string();
        slurm.spawn(
            "munged",
            &[
                "--foreground",
                &format!("--key-file={}", p("munge.key")),
                &format!("--socket={}", p("sock/munge.sock")),
                &format!("--pid-file={}", p("munged.pid")),
                &format!("--log-file={}", p("munged.log")),
                &format!("--seed-file={}", p("munged.seed")),
            ],
        );
        let sock = d.join("sock/munge.sock");
        wait_for("munged's socket", &slurm, || sock.exists());
        slurm.spawn("slurmctld", &["-D", "-i", "-f", &c]);
        slurm.spawn("slurmd", &["-D", "-f", &c, "-N", "gpu07"]);
        wait_for("gpu07 to register idle", &slurm, || {
            slurm.node().contains("State=IDLE")
        });
        slurm
    }

    fn spawn(&mut self, program: &str, args: &[&str]) {
        let child = Command::new(program)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join(format!("{program}.stderr"))).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program} is needed (Debian packages munge, slurmctld, slurmd, slurm-client): {e}")
            });
        self.daemons.push((program.to_string(), child));
    }

    /// A Slurm client command against this test's controller only.
    fn command(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new(program)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    fn node(&self) -> String {
        String::from_utf8_lossy(
            &self
                .command("scontrol", &["--oneliner", "show", "node", "gpu07"])
                .stdout,
        )
        .into_owned()
    }

    /// `State=…` and `Reason=…` of gpu07.
    fn state_and_reason(&self) -> (String, String) {
        let node = self.node();
        let state = node
            .split_whitespace()
            .find_map(|w| w.strip_prefix("State="))
            .unwrap_or("")
            .to_string();
        let reason = node
            .split(" Reason=")
            .nth(1)
            .unwrap_or("")
            .trim()
            .to_string();
        (state, reason)
    }

    fn squeue(&self) -> String {
        String::from_utf8_lossy(
            &self
                .command("squeue", &["--noheader", "--format=%i %t %N"])
                .stdout,
        )
        .into_owned()
    }

    fn sbatch(&self, script: &str) -> String {
        let out = self.command(
            "sbatch",
            &[
                "--parsable",
                &format!("--output={}/job-%j.out", self.dir.path().display()),
                "--wrap",
                script,
            ],
        );
        assert!(
            out.status.success(),
            "sbatch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for f in [
            "slurmctld.log",
            "slurmd.log",
            "munged.log",
            "slurmctld.stderr",
            "slurmd.stderr",
            "munged.stderr",
        ] {
            let text = std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            s.push_str(&format!(
                "--- {f}\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        s
    }
}

/// Runs `scontrol` for real against the test's own controller (SLURM_CONF set for that command only); records
/// everything else without running it.
struct LoopbackScontrol<'a> {
    conf: &'a Path,
    commands: Mutex<Vec<String>>,
}

impl CommandRunner for LoopbackScontrol<'_> {
    fn run(&self, cmd: &CommandSpec) -> Result<CommandOutput, HostError> {
        self.commands.lock().unwrap().push(cmd.display());
        if cmd.program != "/usr/bin/scontrol" {
            return Ok(CommandOutput::default());
        }
        let mut args = vec![
            format!("SLURM_CONF={}", self.conf.display()),
            cmd.program.clone(),
        ];
        args.extend(cmd.args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut real = CommandSpec::new("/usr/bin/env", &args);
        real.timeout = cmd.timeout;
        SystemRunner.run(&real)
    }
}

/// A job that holds the stand-in GPU device under `root` and shows itself in the tree's /proc as the fixture's job
/// does, until `release` exists (a minute at most).
fn holder_job(root: &Path, template: &Path, release: &Path) -> String {
    format!(
        "R={root}; P=$R/proc/$$; exec 3<$R/dev/nvidia0; cp -a {template} $P; \
         sed -i \"s/^4242 /$$ /\" $P/stat; sed -i \"s/^\\(Tgid\\|Pid\\):.*/\\1:\\t$$/\" $P/status; \
         trap 'rm -rf $P' EXIT; i=0; while [ ! -e {release} ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done",
        root = root.display(),
        template = template.display(),
        release = release.display()
    )
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

fn auto(root: &Path, runner: &LoopbackScontrol, engine: &mut Scripted) -> AutoReport {
    let input = AutoInput {
        root: HostRoot::new(root),
        nvml_lib: None,
        playbook: playbook("slurm-node"),
        playbook_source: "playbooks/slurm-node.yaml".into(),
        allow_reboot: false,
        dry_run: false,
        now: NOW,
        live_probes: false,
        nvml_lock: Default::default(),
    };
    let r = run_auto(&input, runner, engine);
    assert_eq!(r.exit_status, r.outcome.exit_status());
    r
}

#[test]
fn slurm_loopback_drain_wait_reload_resume_admin_drain_and_reboot_handoff() {
    let slurm = Slurm::start();
    let runner = LoopbackScontrol {
        conf: &slurm.conf,
        commands: Mutex::new(Vec::new()),
    };
    // The host: idle reference counts; the job's /proc entry is the fixture's user job, copied under its own pid.
    let host = idle_incident();
    let root = host.path();
    std::fs::create_dir_all(root.join("dev")).unwrap();
    std::fs::write(root.join("dev/nvidia0"), b"").unwrap();
    let busy = reloadable_incident();
    let template = slurm.dir.path().join("job-proc-template");
    std::fs::rename(busy.path().join("proc/4242"), &template).unwrap();
    let release = slurm.dir.path().join("release");
    let mut engine = Scripted::new(ReloadResult::Verified);
    let baseline = entries(&root.join("proc"));
    let holding = || entries(&root.join("proc")) > baseline;

    // 1. A job holds the GPU: drained at once with nvfix's reason, exit 75, nothing reloaded.
    let job = slurm.sbatch(&holder_job(root, &template, &release));
    wait_for("the job to hold the GPU", &slurm, || {
        holding() && slurm.squeue().contains(&format!("{job} R gpu07"))
    });
    let r = auto(root, &runner, &mut engine);
    assert_eq!(
        r.outcome,
        Outcome::Quarantined,
        "{}\n{}",
        r.message,
        slurm.logs()
    );
    assert_eq!(r.exit_status, 75);
    assert!(engine.plans.is_empty());
    let (state, reason) = slurm.state_and_reason();
    assert!(state.contains("DRAIN"), "{state}");
    assert!(
        reason.starts_with("nvfix: 580.65.06 vs 580.95.05"),
        "{reason}"
    );

    // 2. A job submitted meanwhile does not land on the drained node.
    let landed = slurm.dir.path().join("landed");
    let second = slurm.sbatch(&format!("touch {}", landed.display()));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        slurm.squeue().contains(&format!("{second} PD")),
        "{}",
        slurm.squeue()
    );
    assert!(!landed.exists());
    let r = auto(root, &runner, &mut engine);
    assert_eq!(
        r.quarantine.unwrap().action,
        QuarantineAction::AlreadyPlaced
    );

    // 3. The job ends: auto reloads (scripted), verifies and resumes; the waiting job then lands.
    std::fs::write(&release, b"").unwrap();
    wait_for("the job to end", &slurm, || {
        !slurm.squeue().contains(&format!("{job} "))
    });
    wait_for("the job's /proc entry to go", &slurm, || !holding());
    let r = auto(root, &runner, &mut engine);
    assert_eq!(r.outcome, Outcome::Fixed, "{}", r.message);
    assert_eq!(engine.plans.len(), 1);
    assert_eq!(r.quarantine.unwrap().action, QuarantineAction::Lift);
    wait_for("the waiting job to land after the resume", &slurm, || {
        landed.exists()
    });
    assert!(!slurm.state_and_reason().0.contains("DRAIN"));

    // 4. An admin drains the node for another reason while a job holds the GPU: never relabelled, never resumed.
    std::fs::remove_file(&release).unwrap();
    let job = slurm.sbatch(&holder_job(root, &template, &release));
    wait_for("the second holder", &slurm, || {
        holding() && slurm.squeue().contains(&format!("{job} R gpu07"))
    });
    let out = slurm.command(
        "scontrol",
        &[
            "update",
            "nodename=gpu07",
            "state=drain",
            "reason=fan 3 failing",
        ],
    );
    assert!(out.status.success());
    let r = auto(root, &runner, &mut engine);
    assert_eq!(r.outcome, Outcome::Quarantined);
    assert_eq!(r.quarantine.unwrap().action, QuarantineAction::LeaveOthers);
    std::fs::write(&release, b"").unwrap();
    wait_for("the job to end", &slurm, || {
        !slurm.squeue().contains(&format!("{job} "))
    });
    wait_for("the /proc entry to go", &slurm, || !holding());
    let r = auto(root, &runner, &mut engine);
    assert_eq!(r.outcome, Outcome::Fixed, "{}", r.message);
    assert_eq!(r.quarantine.unwrap().action, QuarantineAction::Nothing);
    let (state, reason) = slurm.state_and_reason();
    assert!(
        state.contains("DRAIN") && reason.starts_with("fan 3 failing"),
        "{state} {reason}"
    );
    assert!(slurm
        .command("scontrol", &["update", "nodename=gpu07", "state=resume"])
        .status
        .success());

    // 5. Only a reboot helps: handed to Slurm, whose RebootProgram (the recorder) is called for the idle node.
    let needs_reboot = reboot_needed();
    let r = auto(needs_reboot.path(), &runner, &mut engine);
    assert_eq!(r.outcome, Outcome::RebootHandedOff, "{}", r.message);
    assert_eq!(r.exit_status, 11);
    let log = slurm.dir.path().join("reboots.log");
    wait_for("RebootProgram", &slurm, || log.exists());
    assert!(slurm
        .state_and_reason()
        .1
        .starts_with("nvfix: NVIDIA driver/library mismatch"));
    // Only scontrol reached the controller; nothing else ran (the recorder kept the rest).
    let cmds = runner.commands.lock().unwrap().clone();
    assert!(
        cmds.iter()
            .any(|c| c.starts_with("/usr/bin/scontrol reboot ASAP nextstate=RESUME")),
        "{cmds:?}"
    );
    assert!(cmds.iter().all(|c| !c.contains("modprobe")), "{cmds:?}");
}

#[test]
fn healthcheck_program_hands_auto_to_systemd_and_returns_at_once() {
    let t = tempfile::tempdir().unwrap();
    let recorder = t.path().join("systemd-run");
    let log = t.path().join("argv");
    std::fs::write(
        &recorder,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &recorder,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/nvfix-healthcheck.sh");
    let started = Instant::now();
    let out = Command::new(&script)
        .env("SYSTEMD_RUN", &recorder)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "well within slurmd's 60 s"
    );
    let argv = std::fs::read_to_string(&log).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(
        argv,
        [
            "--unit=nvfix-auto-healthcheck",
            "--no-block",
            "--quiet",
            "--collect",
            "--property=TimeoutStartSec=30min",
            "--",
            "/usr/bin/nvfix",
            "--color",
            "never",
            "auto",
            "--playbook",
            // By name: the admin's /etc/nvfix/playbooks/slurm-node.yaml when there is one, else the shipped one.
            "slurm-node"
        ]
    );
}
