//! Quarantine, then reload when idle, through whole `nvfix auto` runs: a fake Slurm controller and a fake Kubernetes
//! API answer scontrol's and kubectl's argument forms exactly as the shipped playbooks use them (nothing real runs).

use crate::auto::{idle_incident, input, playbook, reloadable_incident, Scripted};
use crate::harness::nvfix;
use nvfix::commands::auto::{run_auto, AutoReport};
use nvfix::host::runner::{CommandOutput, CommandRunner, CommandSpec};
use nvfix::host::HostError;
use nvfix::model::auto::{Outcome, QuarantineAction, QuarantineState, ReloadResult};
use std::cell::RefCell;
use std::path::Path;

/// A node as its scheduler sees it: out of service or not, with the reason (Slurm) or annotation (Kubernetes).
#[derive(Debug, Clone, Default, PartialEq)]
struct Node {
    out_of_service: bool,
    /// Slurm's Reason, or the `nvfix.io/quarantine` annotation.
    note: Option<String>,
}

/// Answers scontrol or kubectl as the node's controller would, records every command; anything else (modprobe,
/// systemctl) is only recorded.
struct FakeScheduler {
    node: RefCell<Node>,
    commands: RefCell<Vec<String>>,
    /// What each command was given on standard input.
    stdins: RefCell<Vec<String>>,
    /// When set, every scheduler command fails like an unreachable controller.
    down: bool,
}

impl FakeScheduler {
    fn new(node: Node) -> Self {
        FakeScheduler {
            node: RefCell::new(node),
            commands: RefCell::new(Vec::new()),
            stdins: RefCell::new(Vec::new()),
            down: false,
        }
    }
    fn commands(&self) -> Vec<String> {
        self.commands.borrow().clone()
    }
    fn node(&self) -> Node {
        self.node.borrow().clone()
    }
    fn slurm(&self, args: &[String]) -> CommandOutput {
        let mut node = self.node.borrow_mut();
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["--oneliner", "show", "node", name] => ok(&format!(
                "NodeName={name} Arch=x86_64 CoresPerSocket=8 State={} Gres=gpu:8 Reason={}",
                if node.out_of_service {
                    "MIXED+DRAIN"
                } else {
                    "MIXED"
                },
                node.note
                    .as_deref()
                    .map(|r| format!("{r} [root@2026-12-03T00:40:00]"))
                    .unwrap_or("(null)".into())
            )),
            ["update", "nodename=gpu07", "state=drain", reason] => {
                node.out_of_service = true;
                node.note = Some(reason.strip_prefix("reason=").unwrap().to_string());
                ok("")
            }
            ["update", "nodename=gpu07", "state=resume"] => {
                *node = Node::default();
                ok("")
            }
            _ => panic!("scontrol form nvfix should not use: {a:?}"),
        }
    }
    fn kubectl(&self, args: &[String]) -> CommandOutput {
        let mut node = self.node.borrow_mut();
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let ["--kubeconfig", "/etc/nvfix/kubeconfig", rest @ ..] = a.as_slice() else {
            panic!("kubectl without nvfix's kubeconfig: {a:?}")
        };
        match rest {
            ["get", "node", "gpu07", "-o", "jsonpath={.spec.unschedulable}|{.metadata.annotations.nvfix\\.io/quarantine}"] => {
                ok(&format!(
                    "{}|{}",
                    if node.out_of_service { "true" } else { "" },
                    node.note.clone().unwrap_or_default()
                ))
            }
            ["annotate", "--overwrite", "node", "gpu07", value] => {
                node.note = Some(
                    value
                        .strip_prefix("nvfix.io/quarantine=")
                        .unwrap()
                        .to_string(),
                );
                ok("node/gpu07 annotated")
            }
            ["annotate", "node", "gpu07", "nvfix.io/quarantine-"] => {
                node.note = None;
                ok("node/gpu07 annotated")
            }
            ["cordon", "gpu07"] => {
                node.out_of_service = true;
                ok("node/gpu07 cordoned")
            }
            ["uncordon", "gpu07"] => {
                node.out_of_service = false;
                ok("node/gpu07 uncordoned")
            }
            ["get", "pods", "--all-namespaces", "--field-selector", "spec.nodeName=gpu07", "-o", "json"] => {
                ok(GPU_PODS)
            }
            ["create", "--raw", path, "-f", "-"] if path.ends_with("/eviction") => {
                if path.contains("/pods/guarded/") {
                    return CommandOutput {
                        status: 1,
                        stdout: String::new(),
                        stderr: "Error from server (TooManyRequests): Cannot evict pod as it would violate the pod's disruption budget.".into(),
                    };
                }
                ok("")
            }
            _ => panic!("kubectl form nvfix should not use: {rest:?}"),
        }
    }
}

/// Two pods on gpu07 request GPUs (one protected by a disruption budget); one does not.
const GPU_PODS: &str = r#"{"items":[
  {"metadata":{"name":"train-0","namespace":"ml"},
   "spec":{"containers":[{"name":"t","resources":{"limits":{"nvidia.com/gpu":"8"}}}]},"status":{"phase":"Running"}},
  {"metadata":{"name":"guarded","namespace":"serve"},
   "spec":{"containers":[{"name":"g","resources":{"requests":{"nvidia.com/mig-1g.10gb":"1"}}}]},"status":{"phase":"Running"}},
  {"metadata":{"name":"web","namespace":"default"},
   "spec":{"containers":[{"name":"w","resources":{"limits":{"cpu":"1"}}}]},"status":{"phase":"Running"}}]}"#;

fn ok(stdout: &str) -> CommandOutput {
    CommandOutput {
        status: 0,
        stdout: format!("{stdout}\n"),
        stderr: String::new(),
    }
}

impl CommandRunner for FakeScheduler {
    fn run(&self, cmd: &CommandSpec) -> Result<CommandOutput, HostError> {
        self.commands.borrow_mut().push(cmd.display());
        if let Some(stdin) = &cmd.stdin {
            self.stdins.borrow_mut().push(stdin.clone());
        }
        let scheduler = matches!(
            cmd.program.as_str(),
            "/usr/bin/scontrol" | "/usr/bin/kubectl"
        );
        if scheduler && self.down {
            return Ok(CommandOutput {
                status: 1,
                stdout: String::new(),
                stderr: "Unable to contact slurm controller (connect failure)".into(),
            });
        }
        Ok(match cmd.program.as_str() {
            "/usr/bin/scontrol" => self.slurm(&cmd.args),
            "/usr/bin/kubectl" => self.kubectl(&cmd.args),
            _ => CommandOutput::default(),
        })
    }
}

fn auto(root: &Path, name: &str, sched: &FakeScheduler, engine: &mut Scripted) -> AutoReport {
    let r = run_auto(&input(root, playbook(name), false), sched, engine);
    assert_eq!(r.exit_status, r.outcome.exit_status());
    r
}

fn mismatch(r: &AutoReport) -> String {
    format!(
        "nvfix: {} vs {}",
        r.detection.loaded_version.as_deref().unwrap(),
        r.detection.library_version.as_deref().unwrap()
    )
}

#[test]
fn slurm_busy_node_is_drained_at_once_then_reloaded_and_resumed_when_idle() {
    let busy = reloadable_incident();
    let slurm = FakeScheduler::new(Node::default());
    let mut engine = Scripted::new(ReloadResult::Verified);
    let r = auto(busy.path(), "slurm-node", &slurm, &mut engine);
    assert_eq!(r.outcome, Outcome::Quarantined, "{}", r.message);
    assert_eq!(r.exit_status, 75);
    assert!(engine.plans.is_empty(), "the job's GPU is not touched");
    assert!(r.reboot.is_none(), "a busy GPU is not a reason to reboot");
    let q = r.quarantine.as_ref().unwrap();
    assert_eq!(
        (q.state, q.action, q.ok),
        (
            Some(QuarantineState::InService),
            QuarantineAction::Place,
            Some(true)
        )
    );
    let reason = mismatch(&r);
    assert_eq!(
        slurm.commands(),
        vec![
            "/usr/bin/scontrol --oneliner show node gpu07".to_string(),
            format!("/usr/bin/scontrol update nodename=gpu07 state=drain \"reason={reason}\""),
        ]
    );
    assert_eq!(slurm.node().note.as_deref(), Some(reason.as_str()));

    // The timer fires again while the job runs: nothing new, still 75.
    let r = auto(busy.path(), "slurm-node", &slurm, &mut engine);
    assert_eq!(r.outcome, Outcome::Quarantined);
    assert_eq!(
        r.quarantine.unwrap().action,
        QuarantineAction::AlreadyPlaced
    );
    assert_eq!(slurm.commands().len(), 3, "{:?}", slurm.commands());

    // The job ended: reload, verify, resume.
    let idle = idle_incident();
    let r = auto(idle.path(), "slurm-node", &slurm, &mut engine);
    assert_eq!(r.outcome, Outcome::Fixed, "{}", r.message);
    assert_eq!(engine.plans.len(), 1);
    assert_eq!(r.quarantine.unwrap().action, QuarantineAction::Lift);
    assert_eq!(
        slurm.commands()[3..],
        [
            "/usr/bin/scontrol --oneliner show node gpu07",
            "/usr/bin/scontrol --oneliner show node gpu07",
            "/usr/bin/scontrol update nodename=gpu07 state=resume",
        ]
    );
    assert_eq!(slurm.node(), Node::default());
}

#[test]
fn slurm_node_an_admin_drained_is_never_resumed_nor_relabelled() {
    let admin = Node {
        out_of_service: true,
        note: Some("fan 3 failing".into()),
    };
    let slurm = FakeScheduler::new(admin.clone());
    let mut engine = Scripted::new(ReloadResult::Verified);
    let r = auto(
        reloadable_incident().path(),
        "slurm-node",
        &slurm,
        &mut engine,
    );
    assert_eq!(r.outcome, Outcome::Quarantined);
    assert_eq!(
        r.quarantine.as_ref().unwrap().action,
        QuarantineAction::LeaveOthers
    );
    assert!(r.message.contains("another reason"), "{}", r.message);
    let r = auto(idle_incident().path(), "slurm-node", &slurm, &mut engine);
    assert_eq!(r.outcome, Outcome::Fixed, "{}", r.message);
    assert_eq!(r.quarantine.unwrap().action, QuarantineAction::Nothing);
    assert!(
        slurm.commands().iter().all(|c| !c.contains(" update ")),
        "{:?}",
        slurm.commands()
    );
    assert_eq!(slurm.node(), admin);
}

#[test]
fn an_unreachable_controller_fails_closed() {
    let mut slurm = FakeScheduler::new(Node::default());
    slurm.down = true;
    let mut engine = Scripted::new(ReloadResult::Verified);
    let r = auto(
        reloadable_incident().path(),
        "slurm-node",
        &slurm,
        &mut engine,
    );
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.message);
    assert_eq!(r.exit_status, 1);
    let q = r.quarantine.unwrap();
    assert_eq!((q.state, q.ok), (None, Some(false)));
    // Idle: without a drain in place no reload starts (a job could land while the modules are out).
    let r = auto(idle_incident().path(), "slurm-node", &slurm, &mut engine);
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(engine.plans.is_empty());
    assert!(r.message.contains("nothing was changed"), "{}", r.message);
}

#[test]
fn a_healthy_node_gets_back_only_nvfix_own_quarantine() {
    let healthy = crate::harness::copy_fixture("healthy");
    crate::harness::write_file(healthy.path(), "/proc/sys/kernel/hostname", b"gpu07\n");
    let mut engine = Scripted::new(ReloadResult::Verified);
    let ours = FakeScheduler::new(Node {
        out_of_service: true,
        note: Some("nvfix: 580.65.06 vs 580.95.05".into()),
    });
    let r = auto(healthy.path(), "slurm-node", &ours, &mut engine);
    assert_eq!(r.outcome, Outcome::Healthy, "{}", r.message);
    assert_eq!(ours.node(), Node::default(), "{:?}", ours.commands());
    let theirs = Node {
        out_of_service: true,
        note: Some("RMA".into()),
    };
    let admin = FakeScheduler::new(theirs.clone());
    auto(healthy.path(), "slurm-node", &admin, &mut engine);
    assert_eq!(admin.node(), theirs);
    // Without a quarantine in the playbook, a healthy run asks the scheduler nothing.
    let none = FakeScheduler::new(Node::default());
    auto(healthy.path(), "default", &none, &mut engine);
    assert!(none.commands().is_empty());
}

#[test]
fn kubernetes_busy_node_is_cordoned_with_nvfix_annotation_and_uncordoned_when_fixed() {
    let kube = FakeScheduler::new(Node::default());
    let mut engine = Scripted::new(ReloadResult::Verified);
    let r = auto(
        reloadable_incident().path(),
        "kubernetes-node",
        &kube,
        &mut engine,
    );
    assert_eq!(r.outcome, Outcome::Quarantined, "{}", r.message);
    let k = "/usr/bin/kubectl --kubeconfig /etc/nvfix/kubeconfig";
    assert_eq!(
        kube.commands(),
        vec![
            format!("{k} get node gpu07 -o jsonpath={{.spec.unschedulable}}|{{.metadata.annotations.nvfix\\.io/quarantine}}"),
            format!("{k} cordon gpu07"),
            format!("{k} annotate --overwrite node gpu07 \"nvfix.io/quarantine={}\"", mismatch(&r)),
        ]
    );
    let r = auto(
        idle_incident().path(),
        "kubernetes-node",
        &kube,
        &mut engine,
    );
    assert_eq!(r.outcome, Outcome::Fixed, "{}", r.message);
    assert_eq!(
        kube.commands()[kube.commands().len() - 2..],
        [
            format!("{k} annotate node gpu07 nvfix.io/quarantine-"),
            format!("{k} uncordon gpu07")
        ]
    );
    assert_eq!(kube.node(), Node::default());
}

#[test]
fn kubernetes_node_already_cordoned_stays_cordoned() {
    let cordoned = Node {
        out_of_service: true,
        note: None,
    };
    let kube = FakeScheduler::new(cordoned.clone());
    let mut engine = Scripted::new(ReloadResult::Verified);
    let r = auto(
        reloadable_incident().path(),
        "kubernetes-node",
        &kube,
        &mut engine,
    );
    assert_eq!(r.quarantine.unwrap().action, QuarantineAction::LeaveOthers);
    let r = auto(
        idle_incident().path(),
        "kubernetes-node",
        &kube,
        &mut engine,
    );
    assert_eq!(r.outcome, Outcome::Fixed);
    assert_eq!(kube.node(), cordoned);
    assert!(
        kube.commands().iter().all(|c| c.contains(" get node ")),
        "only probes: {:?}",
        kube.commands()
    );
}

#[test]
fn kubernetes_node_leaves_reboots_to_kured() {
    let kube = FakeScheduler::new(Node::default());
    let r = auto(
        crate::auto::reboot_needed().path(),
        "kubernetes-node",
        &kube,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert_eq!(r.outcome, Outcome::RebootRequired, "{}", r.message);
    assert_eq!(r.exit_status, 10);
    assert!(kube.commands().is_empty(), "{:?}", kube.commands());
}

#[test]
fn dry_run_reports_the_quarantine_it_would_place() {
    let t = reloadable_incident();
    let pb = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/slurm-node.yaml");
    let run = nvfix(
        t.path(),
        &[
            "auto",
            "--dry-run",
            "--json",
            "--playbook",
            pb.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status, 75, "{}{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["outcome"], "quarantined");
    assert_eq!(v["quarantine"]["action"], "place");
    assert_eq!(v["quarantine"]["ok"], serde_json::Value::Null);
    let drain = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["label"] == "quarantine: drain")
        .unwrap();
    assert_eq!(
        drain["ok"],
        serde_json::Value::Null,
        "a dry run runs nothing"
    );
    assert!(drain["command"]
        .as_str()
        .unwrap()
        .contains("state=drain reason=nvfix: "));
}

#[test]
fn kubernetes_evicts_gpu_pods_only_when_the_playbook_allows_and_only_under_its_own_cordon() {
    let k = "/usr/bin/kubectl --kubeconfig /etc/nvfix/kubeconfig";
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/kubernetes-node.yaml"),
    )
    .unwrap();
    let evicting = text
        + "  evict_gpu_pods:\n    list:\n      argv: [/usr/bin/kubectl, --kubeconfig, /etc/nvfix/kubeconfig, get, pods, \
           --all-namespaces, --field-selector, \"spec.nodeName={hostname}\", -o, json]\n    evict:\n      argv: \
           [/usr/bin/kubectl, --kubeconfig, /etc/nvfix/kubeconfig, create, --raw, \
           \"/api/v1/namespaces/{namespace}/pods/{pod}/eviction\", -f, \"-\"]\n";
    let pb = nvfix::model::playbook::parse_playbook(&evicting).unwrap();
    let busy = reloadable_incident();
    let kube = FakeScheduler::new(Node::default());
    let mut inp = input(busy.path(), pb.clone(), false);
    inp.playbook_source = "evicting".into();
    let r = run_auto(&inp, &kube, &mut Scripted::new(ReloadResult::Verified));
    assert_eq!(r.outcome, Outcome::Quarantined, "{}", r.message);
    let cmds = kube.commands();
    assert_eq!(
        cmds[3..],
        [
            format!("{k} get pods --all-namespaces --field-selector spec.nodeName=gpu07 -o json"),
            format!("{k} create --raw /api/v1/namespaces/ml/pods/train-0/eviction -f -"),
            format!("{k} create --raw /api/v1/namespaces/serve/pods/guarded/eviction -f -"),
        ],
        "after the cordon: {cmds:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&kube.stdins.borrow()[0]).unwrap();
    assert_eq!(
        (body["kind"].as_str(), body["metadata"]["name"].as_str()),
        (Some("Eviction"), Some("train-0"))
    );
    // The disruption budget's refusal is recorded; the node stays quarantined (75) and the next run retries.
    let refused = r
        .actions
        .iter()
        .find(|a| a.label.ends_with("serve/guarded"))
        .unwrap();
    assert_eq!(refused.ok, Some(false));
    assert!(refused.detail.contains("disruption budget"));

    // Someone else's cordon: nvfix evicts nothing.
    let admin = FakeScheduler::new(Node {
        out_of_service: true,
        note: None,
    });
    run_auto(
        &input(busy.path(), pb, false),
        &admin,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert!(
        admin
            .commands()
            .iter()
            .all(|c| !c.contains(" pods ") && !c.contains("eviction")),
        "{:?}",
        admin.commands()
    );
    // The shipped playbook never evicts.
    let plain = FakeScheduler::new(Node::default());
    auto(
        busy.path(),
        "kubernetes-node",
        &plain,
        &mut Scripted::new(ReloadResult::Verified),
    );
    assert!(plain.commands().iter().all(|c| !c.contains("eviction")));
}
