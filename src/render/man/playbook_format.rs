//! nvfix-playbook(5): the playbook format, key by key (the schema is `model::playbook`; a test holds this page to
//! every key it has).

use super::roff::{bold, italic, Roff};
use crate::model::playbook::{
    DEFAULT_PLAYBOOK, MAX_GRACE_SECONDS, MAX_HOOK_TIMEOUT_SECONDS, MAX_REBOOT_DELAY_MINUTES,
};

/// One key: (its path, its type and default, what it does).
type Key = (&'static str, &'static str, String);

fn keys() -> Vec<(&'static str, Vec<Key>)> {
    let k = |path: &'static str, kind: &'static str, what: &str| (path, kind, what.to_string());
    vec![
        (
            "Top level",
            vec![
                k("version", "number, required", "The schema version: 1. A newer file is refused, never half-read."),
                k("name", "string", "A name for reports and logs."),
                k("description", "string", "What the playbook is for, for the next admin."),
                k("reload", "mapping", "What a reload may do (below)."),
                k("reboot", "mapping", "Whether and how a reboot may happen (below)."),
                k("hooks", "mapping", "Commands run around the actions (below)."),
                k("verify", "mapping", "What the check after a fix expects (below)."),
                k("upgrade", "mapping", "What nvfix upgrade may do (below)."),
            ],
        ),
        (
            "reload",
            vec![
                k("allowed", "boolean, default true", "May nvfix auto reload the modules at all?"),
                k(
                    "stop_services",
                    "list of patterns, default empty",
                    "systemd units nvfix may stop before the unload and start again after it (nvidia-persistenced, \
                     DCGM, the fabric manager). The CUDA MPS daemon, which has no unit, is named \
                     nvidia-cuda-mps-control. A holder that is none of these, and not allowed below, defers the reload.",
                ),
                k(
                    "allow_user_processes",
                    "boolean, default false",
                    "May processes that are not services (users' jobs, containers) be terminated?",
                ),
                k(
                    "max_holders_to_stop",
                    "number, default 0",
                    "At most this many such processes are terminated; more defers the reload.",
                ),
                k(
                    "grace_period_seconds",
                    "number, default 30",
                    &format!(
                        "Seconds between SIGTERM and giving up (or SIGKILL, when allowed); at most \
                         {MAX_GRACE_SECONDS}."
                    ),
                ),
                k("allow_sigkill", "boolean, default false", "SIGKILL a process still running after the grace period."),
                k(
                    "never_kill",
                    "mapping",
                    "Holders never terminated: a match defers the reload instead. users: user names or uids; \
                     commands: matched against the executable's base name and the whole command line.",
                ),
                k("never_kill.users", "list of patterns", "User names (or numeric uids) whose processes are never terminated."),
                k("never_kill.commands", "list of patterns", "Commands never terminated."),
            ],
        ),
        (
            "reboot",
            vec![
                k(
                    "allowed",
                    "boolean, default false",
                    "May nvfix auto reboot? (--allow-reboot allows it for one run.)",
                ),
                k(
                    "method",
                    "shutdown or handoff, default shutdown",
                    "shutdown: nvfix schedules it with shutdown -r +DELAY (systemctl reboot --check-inhibitors=yes at \
                     delay 0). handoff: the handoff commands hand it to the cluster's engine (Slurm, kured).",
                ),
                k(
                    "delay_minutes",
                    "number, default 5",
                    &format!(
                        "Minutes between scheduling and rebooting, so logged-in users see the wall message; 0 reboots \
                         now; at most {MAX_REBOOT_DELAY_MINUTES}."
                    ),
                ),
                k(
                    "max_per_24h",
                    "number, default 1",
                    "At most this many nvfix reboots in any 24 hours: the loop guard. Must be at least 1 when allowed.",
                ),
                k(
                    "allow_gpu_holders",
                    "boolean, default false",
                    "Reboot even when a user process holds the GPU (services do not count: they stop with the host).",
                ),
                k(
                    "maintenance_window",
                    "mapping, default none (any time)",
                    "When a reboot may happen: days (a list of mon, tue, wed, thu, fri, sat, sun; empty is every day), \
                     start and end (HH:MM; an end before the start runs past midnight), timezone (UTC, local, an \
                     offset such as +02:00, or a zone such as Europe/Berlin from the host's zone database; default \
                     UTC).",
                ),
                k("maintenance_window.days", "list of weekdays", "The days the window opens on."),
                k("maintenance_window.start", "HH:MM, required", "When the window opens."),
                k("maintenance_window.end", "HH:MM, required", "When it closes; equal to start is an error."),
                k("maintenance_window.timezone", "zone, default UTC", "The zone start and end are in."),
                k(
                    "handoff",
                    "list of hooks",
                    "With method: handoff, the commands that hand the reboot over; each must succeed.",
                ),
                k(
                    "cancel_handoff",
                    "list of hooks",
                    "With method: handoff, the commands nvfix reboot --cancel runs to take a handed-off reboot back.",
                ),
            ],
        ),
        (
            "hooks",
            vec![
                k("before_reload", "list of hooks", "Run before a reload (drain the node); a failure stops it."),
                k("after_reload", "list of hooks", "Run after a reload (resume the node)."),
                k("before_reboot", "list of hooks", "Run before a reboot; a failure stops it."),
                k(
                    "after_reboot",
                    "list of hooks",
                    "Run by the first nvfix auto after an nvfix reboot, once the host is verified healthy.",
                ),
            ],
        ),
        (
            "A hook",
            vec![
                k("name", "string", "A label for reports."),
                k(
                    "argv",
                    "list of strings, required",
                    "The command, run without a shell; the program must be an absolute path. {hostname} in an \
                     argument becomes the host's name.",
                ),
                k(
                    "timeout_seconds",
                    "number, default 60",
                    &format!("How long it may run, 1 to {MAX_HOOK_TIMEOUT_SECONDS}; past it, it is stopped and fails."),
                ),
                k(
                    "on_failure",
                    "abort or continue, default abort",
                    "What a failure does to the action: abort stops it, continue goes on.",
                ),
            ],
        ),
        (
            "verify",
            vec![k(
                "gpu_count",
                "number",
                "The GPUs NVML must see after a fix (and on a healthy host); fewer is a failed check.",
            )],
        ),
        (
            "upgrade",
            vec![k(
                "allowed",
                "boolean, default true",
                "May nvfix upgrade install a new driver version on a host that uses this playbook (given with \
                 --playbook, or selected by /etc/nvfix/nvfix.yaml)? An upgrade also needs a way to load the new \
                 version: reload.allowed or reboot.allowed.",
            )],
        ),
    ]
}

/// Every key path the page documents (`reload.never_kill.users`), for the test that holds it to the schema.
pub fn documented_keys() -> Vec<String> {
    keys()
        .into_iter()
        .flat_map(|(section, ks)| {
            ks.into_iter().map(move |(path, _, _)| match section {
                "Top level" | "A hook" => path.to_string(),
                s => format!("{s}.{path}"),
            })
        })
        .collect()
}

/// The page's roff text.
pub fn page(source: &str, manual: &str) -> String {
    let mut r = Roff::new("NVFIX-PLAYBOOK", "5", source, manual);
    r.section("NAME");
    r.line("nvfix\\-playbook \\- the policy nvfix auto and nvfix reboot act within");
    r.section("SYNOPSIS");
    r.line(&italic("/etc/nvfix/playbooks/NAME.yaml"));
    r.request("br", &[]);
    r.line(&italic("/usr/share/nvfix/playbooks/NAME.yaml"));
    r.section("DESCRIPTION");
    r.paragraph(
        "A playbook is a YAML file that says what nvfix auto may do when it finds a driver/library mismatch: whether \
         it may reload the kernel modules and which of the GPU's holders it may stop for that, whether and when it \
         may reboot and how, which commands run around these actions, and what the check afterwards expects. \
         nvfix reboot reads its delay, window, limit and handoff commands from it too.",
    );
    r.paragraph(
        "--playbook NAME finds /etc/nvfix/playbooks/NAME.yaml, then /usr/share/nvfix/playbooks/NAME.yaml; a path \
         names a file directly. Without --playbook, the one /etc/nvfix/nvfix.yaml names applies, else the built-in \
         default shown below. nvfix playbook check FILE validates a file the way nvfix auto reads it.",
    );
    r.paragraph(
        "Every mapping rejects keys it does not know, so a misspelt key is an error, never silently ignored. Each \
         error names FILE:LINE:COLUMN. A key left out takes the default shown with it.",
    );
    r.section("KEYS");
    for (section, ks) in keys() {
        r.subsection(section);
        for (path, kind, what) in ks {
            r.tagged(
                &format!("{} ({})", bold(path), super::roff::escape(kind)),
                &what,
            );
        }
    }
    r.section("PATTERNS");
    r.paragraph(
        "A pattern matches a whole name: a glob, where * matches any run of characters and ? one character \
         (nvidia-*.service), or, prefixed with re:, a regular expression (re:^dcgm(-exporter)?\\.service$).",
    );
    r.section("SAFETY");
    r.paragraph(
        "A playbook names commands nvfix runs as root. When nvfix runs as root it refuses a playbook that is not a \
         regular file owned by root, or that group or others may write (exit status 77).",
    );
    r.section("EXAMPLE");
    r.paragraph(
        "The built-in default: reload when only NVIDIA's services hold the GPU, never reboot.",
    );
    r.literal(DEFAULT_PLAYBOOK);
    r.section("FILES");
    for (path, what) in super::reference::FILES
        .iter()
        .filter(|(p, _)| p.starts_with("/etc/nvfix") || p.starts_with("/usr/share/nvfix"))
    {
        r.tagged(&italic(path), what);
    }
    r.section("SEE ALSO");
    r.line(&format!(
        "{}(1), {}(1), {}(1), {}(1), {}(1)",
        bold("nvfix"),
        bold("nvfix-auto"),
        bold("nvfix-reboot"),
        bold("nvfix-playbook-check"),
        bold("systemctl")
    ));
    r.finish()
}
