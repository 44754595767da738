//! Command-line definitions (clap derive types only; behaviour lives in `commands`).

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "nvfix",
    version,
    about = "Explain and repair NVIDIA driver/library version mismatches, without a reboot when that is safe",
    long_about = "nvfix reads the host's own evidence (loaded module, installed libraries and modules, package logs, \
kernel log, GPU holders, NVML) to explain a `Failed to initialize NVML: Driver/library version mismatch`, \
and says exactly what will fix it."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Host root to inspect: every file is read under it (a fixture tree, a mounted image)
    #[arg(
        long,
        global = true,
        env = "NVFIX_ROOT",
        default_value = "/",
        value_name = "DIR",
        value_hint = ValueHint::DirPath
    )]
    pub root: PathBuf,
    /// NVML library to load [default: the system's libnvidia-ml.so.1 when --root is /; not checked otherwise]
    #[arg(long, global = true, env = "NVFIX_NVML_LIB", value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub nvml_lib: Option<PathBuf>,
    /// When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1
    /// forces it)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Explain the driver's state: what is loaded, what is installed, what changed, who holds the GPU, what to do
    Diagnose(DiagnoseArgs),
    /// List the processes that hold the GPU (open /dev/nvidia* or DRM nodes, mapped driver libraries)
    Ps(PsArgs),
    /// Swap the NVIDIA kernel modules without a reboot: stop the GPU's holders, unload, load, verify (journaled)
    Reload(ReloadArgs),
    /// Check the driver after a reload: NVML initialises, NVML == module == library version, no new API mismatch
    Verify(VerifyArgs),
    /// Pin the installed driver packages (apt-mark hold + unattended-upgrades blacklist, or dnf versionlock)
    Hold(HoldArgs),
    /// Write node_exporter textfile metrics: the verdict, the action, the versions, the GPU holders
    Metrics(MetricsArgs),
    /// Read-only check in a monitoring engine's format: Nagios, node-problem-detector, Prometheus textfile, JSON
    #[command(
        long_about = "Read-only check of the NVIDIA driver, in the format a monitoring engine expects. \
It diagnoses exactly as `nvfix diagnose` does (never loading NVML, which could load a kernel module), takes no lock, \
and writes nothing but its --output, atomically.\n\n\
--format nagios: one status line with perfdata; exit 0 OK (healthy), 1 WARNING (healthy, but unattended-upgrades \
could break the driver again), 2 CRITICAL (mismatch, driver not loaded, degraded), 3 UNKNOWN (no driver).\n\
--format npd: node-problem-detector's custom-plugin contract: exit 0 OK, 1 problem, 2 unknown, one message line \
(deploy/kubernetes/ ships the plugin config).\n\
--format prometheus: the node_exporter textfile, the same metrics as `nvfix metrics`; exit 0.\n\
--format json: the nvfix.check/v1 object; exit 0 healthy, 1 a problem."
    )]
    Check(CheckArgs),
    /// Runbook mode: diagnose, then reload or reboot within a playbook's policy; exit status says what happened
    Auto(AutoArgs),
    /// kured's reboot sentinel: exit 0 only when a reboot is needed, would fix the driver, and no reload can
    #[command(
        long_about = "kured's --reboot-sentinel-command. Exits 0 only when the NVIDIA driver needs a reboot, \
the kernel that boots next has a module matching the library (the reboot would fix it), every reboot guard but the \
GPU's holders passes (kured drains the pods), and no reload is possible under the playbook (a GPU that is merely busy \
is a reload once its jobs end, not a reboot). Any other answer, and any error, exits non-zero: kured does not \
reboot (fail closed). Read-only: runs `nvfix auto --dry-run` with the playbook's reboot authorised, its hooks and \
quarantine left out, and never loads NVML.\n\n\
kured: --reboot-sentinel-command=\"/usr/bin/nvfix sentinel --playbook kubernetes-node\" \
(see deploy/kubernetes/)."
    )]
    Sentinel(SentinelArgs),
    /// Reboot safely into a kernel whose NVIDIA module matches the library, after checking every guard
    Reboot(RebootArgs),
    /// Work with playbooks (the policy `nvfix auto` acts within)
    Playbook(PlaybookArgs),
    /// Upgrade a held driver as one planned step: plan, trial build, install, reload, verify, hold again (journaled)
    Upgrade(UpgradeArgs),
    /// Print or write shell completions (bash, zsh, fish, elvish, powershell)
    #[command(hide = true)]
    Completions(CompletionsArgs),
    /// Write the man pages (nvfix.1, one per command, nvfix-playbook.5) into a folder
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Print one JSON object (the documented, stable contract) instead of the report
    #[arg(long)]
    pub json: bool,
    /// Do not scan processes for GPU holders
    #[arg(long)]
    pub no_holders: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Print the holders as a JSON array
    #[arg(long)]
    pub json: bool,
    /// Also list processes that only map the driver libraries (libcuda, libnvidia-ml) without a device open — e.g. a
    /// job whose CUDA init failed during the mismatch and stays broken until restarted. Slower: reads every
    /// process's memory maps
    #[arg(long)]
    pub all: bool,
    /// Print every column in full; by default the table fits the terminal (80 columns when not a terminal), long
    /// cells cut with `…`
    #[arg(long)]
    pub wide: bool,
}

#[derive(Debug, Args)]
pub struct HoldArgs {
    /// Release exactly what nvfix held (packages held before nvfix ran stay held) and remove its drop-in
    #[arg(long, conflicts_with = "status")]
    pub undo: bool,
    /// Show what is held and whether an automatic upgrade could still replace the driver (exit 1 when it could)
    #[arg(long)]
    pub status: bool,
    /// Show the commands and files without running or writing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Where to write the textfile (atomically); `-` prints to stdout [default: under --root,
    /// /var/lib/prometheus/node-exporter/nvfix.prom]
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub textfile: Option<PathBuf>,
    /// Do not scan processes for GPU holders (nvfix_gpu_holders is then left out)
    #[arg(long)]
    pub no_holders: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Nagios/Icinga plugin: status line with perfdata, exit 0/1/2/3
    Nagios,
    /// node-problem-detector custom plugin: one message line, exit 0/1/2
    Npd,
    /// node_exporter textfile (the metrics of `nvfix metrics`)
    Prometheus,
    /// The nvfix.check/v1 JSON object
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Json)]
    pub format: CheckFormat,
    /// Write the output to this file (atomically) instead of stdout
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Do not scan processes for GPU holders (faster; the holder count is left out)
    #[arg(long)]
    pub no_holders: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell; without it, --dir is required and every shell's file is written
    #[arg(value_enum, required_unless_present = "dir")]
    pub shell: Option<clap_complete::Shell>,
    /// Write the file(s) into this folder under their standard names instead of printing
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The folder to write nvfix.1, nvfix-<command>.1 and nvfix-playbook.5 into
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// Print the plan (steps, holders, blockers) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON (the plan with --dry-run, the run's report otherwise) instead of text
    #[arg(long)]
    pub json: bool,
    /// Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// SIGKILL processes still running after the grace period
    #[arg(long)]
    pub kill: bool,
    /// Undo an interrupted reload from its journal (/run/nvfix/journal.json): load the modules, start the services
    #[arg(long, conflicts_with = "dry_run")]
    pub resume: bool,
    /// Allow stopping the display manager (the local console and graphical sessions go dark)
    #[arg(long)]
    pub allow_display_stop: bool,
    /// Seconds a process gets to exit after SIGTERM (at most 3600)
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_hint = ValueHint::Other,
          value_parser = clap::value_parser!(u64).range(..=crate::model::playbook::MAX_GRACE_SECONDS))]
    pub grace: u64,
    /// Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_hint = ValueHint::Other, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub module_timeout: u64,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print the checks as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AutoArgs {
    /// The playbook to act within: a name (/etc/nvfix/playbooks/NAME.yaml, then /usr/share/nvfix/playbooks/NAME.yaml)
    /// or a path (with a `/` or ending in .yaml) [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in
    /// default: reload only when no user process holds the GPU, never reboot]
    #[arg(long, value_name = "NAME|PATH")]
    pub playbook: Option<String>,
    /// Allow a reboot for this run even if the playbook does not (--yes never does)
    #[arg(long)]
    pub allow_reboot: bool,
    /// Decide and check every guard, but change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON (schema nvfix.auto/v1)
    #[arg(long)]
    pub json: bool,
    /// Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_hint = ValueHint::Other, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub module_timeout: u64,
}

#[derive(Debug, Args)]
pub struct SentinelArgs {
    /// The playbook whose reload policy decides whether a reload could fix the host instead: a name or a path, as for
    /// `nvfix auto` [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default]
    #[arg(long, value_name = "NAME|PATH")]
    pub playbook: Option<String>,
}

#[derive(Debug, Args)]
pub struct RebootArgs {
    /// Do not ask for confirmation (needed without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Check and report every guard, schedule nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON (schema nvfix.reboot/v1)
    #[arg(long)]
    pub json: bool,
    /// Minutes until the reboot (wall message to logged-in users; 0 reboots now; at most 1440) [default: the
    /// playbook's, 5]
    #[arg(long, value_name = "MIN", conflicts_with = "now", value_hint = ValueHint::Other,
          value_parser = clap::value_parser!(u32).range(..=crate::model::playbook::MAX_REBOOT_DELAY_MINUTES as i64))]
    pub delay: Option<u32>,
    /// Reboot now, through systemctl reboot --check-inhibitors=yes
    #[arg(long)]
    pub now: bool,
    /// Cancel the reboot nvfix scheduled (shutdown -c), or take back one it handed off (the playbook's reboot.cancel_handoff)
    #[arg(long, conflicts_with_all = ["now", "delay", "dry_run"])]
    pub cancel: bool,
    /// Take the delay, the maintenance window, the reboot limit and the handoff commands from this playbook: a name
    /// or a path, as for `nvfix auto` [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default]
    #[arg(long, value_name = "NAME|PATH")]
    pub playbook: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlaybookArgs {
    #[command(subcommand)]
    pub command: PlaybookCommand,
}

#[derive(Debug, Subcommand)]
pub enum PlaybookCommand {
    /// Validate a playbook: exit 0, or FILE:LINE:COLUMN errors (65 not YAML, 78 not a valid playbook, 77 unsafe owner)
    Check(PlaybookCheckArgs),
    /// List the playbook names (local in /etc/nvfix/playbooks, shipped in /usr/share/nvfix/playbooks, built-in) and
    /// which one /etc/nvfix/nvfix.yaml selects
    List(PlaybookListArgs),
}

#[derive(Debug, Args)]
pub struct PlaybookListArgs {
    /// Print one JSON object (schema nvfix.playbooks/v1) instead of the table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlaybookCheckArgs {
    /// The playbook file
    #[arg(value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The version to install: the driver version (580.95.05) or the exact package version
    #[arg(long, value_name = "VERSION", conflicts_with = "latest", value_hint = ValueHint::Other)]
    pub to: Option<String>,
    /// The newest version of the installed branch the repositories offer (the default)
    #[arg(long)]
    pub latest: bool,
    /// Print the plan (packages and versions, kernels, what the reload stops, the way back) and change nothing
    #[arg(long, conflicts_with_all = ["resume", "check"])]
    pub dry_run: bool,
    /// Say whether a newer driver of the installed branch is offered, and whether applying it is a reload or a
    /// reboot here (read-only)
    #[arg(long, conflicts_with_all = ["resume", "to"])]
    pub check: bool,
    /// With --check: write node_exporter metrics (nvfix_driver_upgrade_*) to this file, atomically (`-`: stdout)
    #[arg(long, value_name = "PATH", requires = "check", value_hint = ValueHint::FilePath)]
    pub textfile: Option<PathBuf>,
    /// Finish an interrupted upgrade from its journal (/var/lib/nvfix/upgrade.json)
    #[arg(long, conflicts_with = "to")]
    pub resume: bool,
    /// Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print one JSON object (schema nvfix.upgrade/v1; nvfix.upgrade-check/v1 with --check)
    #[arg(long)]
    pub json: bool,
    /// Let this playbook decide how the new version is loaded, as nvfix auto does (reload, quarantine until idle,
    /// or a reboot): a name or a path [default: reload now, as nvfix reload]
    #[arg(long, value_name = "NAME|PATH")]
    pub playbook: Option<String>,
    /// SIGKILL processes still running after the grace period
    #[arg(long)]
    pub kill: bool,
    /// Seconds a process gets to exit after SIGTERM (at most 3600)
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_hint = ValueHint::Other,
          value_parser = clap::value_parser!(u64).range(..=crate::model::playbook::MAX_GRACE_SECONDS))]
    pub grace: u64,
    /// Allow stopping the display manager (the local console and graphical sessions go dark)
    #[arg(long)]
    pub allow_display_stop: bool,
    /// Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_hint = ValueHint::Other, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub module_timeout: u64,
}
