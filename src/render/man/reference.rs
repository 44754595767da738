//! What several man pages share, each declared once: the files nvfix reads and writes, the environment it reads,
//! and the pages every page points to.

/// Every file the pages name: (path on the host, what nvfix does with it). A command's page lists the ones its
/// [`crate::commands::doc::CommandDoc::files`] names; nvfix(1) lists them all. Paths are under `--root` when given.
pub const FILES: &[(&str, &str)] = &[
    (
        "/etc/nvfix/nvfix.yaml",
        "The configuration (a conffile): the playbook nvfix auto, nvfix reboot and nvfix-check.timer use by default.",
    ),
    (
        "/etc/nvfix/playbooks/NAME.yaml",
        "Local playbooks; --playbook NAME looks here first. See nvfix-playbook(5).",
    ),
    (
        "/usr/share/nvfix/playbooks/NAME.yaml",
        "The playbooks shipped with nvfix (default, dedicated-node, kubernetes-node, slurm-node, workstation); \
         --playbook NAME looks here second.",
    ),
    (
        "/run/nvfix/lock",
        "The run lock, in a folder only root may write: one nvfix at a time changes the host.",
    ),
    (
        "/run/nvfix/journal.json",
        "The reload journal: each step before and after it runs, so an interrupted reload is restored (reload \
         --resume, or the next nvfix auto). Removed when the reload ends.",
    ),
    (
        "/var/lib/nvfix/reboots.json",
        "The reboot record: nvfix's reboots with their boot ids, for the loop guard and the check after the boot.",
    ),
    (
        "/var/lib/nvfix/hold.json",
        "The hold record: which packages nvfix held, so hold --undo releases exactly those.",
    ),
    (
        "/var/lib/nvfix/upgrade.json",
        "The upgrade journal: the plan and how far nvfix upgrade got, so --resume (or nvfix auto) finishes it.",
    ),
    (
        "/var/lib/nvfix/upgrade-trial",
        "nvfix upgrade's trial: the downloaded kernel-side packages, unpacked, and DKMS's private build tree (kept \
         after a failed build for its make.log, removed when an upgrade ends).",
    ),
    (
        "/etc/apt/apt.conf.d/51nvfix-hold",
        "The apt drop-in nvfix hold writes: the driver packages on unattended-upgrades' blacklist.",
    ),
    (
        "/var/lib/prometheus/node-exporter/nvfix.prom",
        "The metrics textfile nvfix metrics writes for node_exporter's textfile collector.",
    ),
    (
        "/var/cache/nvfix/modules.json",
        "What each kernel module file says (version, signature), keyed by the file's identity, so unchanged modules \
         are not decompressed again. Root only; safe to delete.",
    ),
    (
        "/proc/driver/nvidia/version",
        "The loaded NVIDIA kernel module's version, read by every diagnosis.",
    ),
    (
        "/var/lib/dpkg/status",
        "The installed packages (with /var/log/apt/history.log, /var/log/dpkg.log and the unattended-upgrades logs: \
         what replaced the driver, and when).",
    ),
    (
        "/var/log/apt/history.log",
        "apt's history: which upgrade replaced the driver libraries.",
    ),
];

/// The environment every command reads: (variable, what it does).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("NVFIX_ROOT", "The host root, as --root: every file is read under it."),
    (
        "NVFIX_NVML_LIB",
        "The NVML library to load, as --nvml-lib (default: the system's libnvidia-ml.so.1 when the root is /).",
    ),
    ("NO_COLOR", "When set and not empty, human output has no colour (no-color.org)."),
    ("CLICOLOR", "When 0, human output has no colour."),
    (
        "CLICOLOR_FORCE",
        "When set and not 0, human output is coloured even into a pipe (NO_COLOR still wins).",
    ),
    ("TERM", "When dumb, human output has no colour."),
];

/// Pages every nvfix page points to after its own: the tools an admin uses beside nvfix.
pub const SEE_ALSO_EVERYWHERE: &[&str] = &[
    "nvidia-smi(1)",
    "modprobe(8)",
    "apt-mark(8)",
    "systemctl(1)",
];

/// A file's description, if the table has it.
pub fn file(path: &str) -> Option<&'static str> {
    FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, what)| *what)
}
