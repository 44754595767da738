//! `nvfix man DIR`: man pages generated from the clap definitions (nvfix.1 and nvfix-<command>.1, committed under
//! man/), with EXIT STATUS, EXAMPLES and SEE ALSO sections added to what clap_mangen renders.

use super::completions::documented_command;
use crate::cli::ManArgs;
use crate::exit;
use crate::host::atomic_write::{write_file, DirRule};
use anyhow::Context as _;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use std::path::{Path, PathBuf};

/// Exit statuses every command shares (beyond 0 and 1, which each page explains for itself).
const COMMON_STATUSES: &[(i32, &str)] = &[
    (exit::USAGE, "Command-line usage error."),
    (
        exit::DATA_ERROR,
        "Input data was malformed (for example a playbook that does not parse).",
    ),
    (
        exit::NO_INPUT,
        "A required input does not exist (the --root folder, a file named on the command line).",
    ),
    (
        exit::UNAVAILABLE,
        "The action cannot help here (for example no package manager, or dnf versionlock missing, for hold).",
    ),
    (exit::SOFTWARE, "An internal error (a bug in nvfix)."),
    (
        exit::TEMP_FAIL,
        "Temporary failure: try again later (another nvfix holds the lock, a guard deferred the action).",
    ),
    (
        exit::NO_PERMISSION,
        "Permission denied: not root, or refused by policy.",
    ),
    (exit::CONFIG, "Configuration error."),
];

/// What 0 and 1 mean for one command (`None`: the general meaning from exit.rs).
fn ok_and_problem(command: &str) -> (&'static str, &'static str) {
    match command {
        "nvfix" => (
            "The host is healthy, or the requested action succeeded.",
            "A problem was found, or a remediation failed and the host was restored.",
        ),
        "diagnose" => (
            "The verdict is healthy.",
            "Any other verdict (version-mismatch, driver-not-loaded, no-driver, degraded); see the report or --json.",
        ),
        "ps" => ("The holders were listed (possibly none).", "Not used."),
        "hold" => (
            "The packages are held (or released with --undo), or --status found the driver protected.",
            "--status: an automatic upgrade could still replace the driver; otherwise apt-mark or dnf failed.",
        ),
        "metrics" => (
            "The textfile was written; the verdict itself is in the metrics, not the exit status.",
            "Not used.",
        ),
        "completions" | "man" => ("The files were written.", "Not used."),
        "playbook check" => (
            "The playbook is valid.",
            "Not used: a broken playbook exits 65 (not YAML) or 78 (not a valid playbook), an unsafe owner 77.",
        ),
        _ => (
            "The host is healthy, or the requested action succeeded.",
            "A problem was found, or the action failed and the host was restored.",
        ),
    }
}

/// Examples per command: (command line, what it does).
fn examples(cmd: &clap::Command, command: &str) -> Vec<(String, String)> {
    let ex = |c: &str, d: &str| (c.to_string(), d.to_string());
    match command {
        "nvfix" => vec![
            ex("nvfix diagnose", "Explain the driver's state and what to do."),
            ex("nvfix diagnose --json", "The same as one JSON object, for scripts."),
            ex("sudo nvfix hold", "Pin the driver so the next unattended upgrade cannot break NVML again."),
            ex("nvfix --root /mnt/image diagnose", "Inspect a mounted image or a copied host tree."),
        ],
        "diagnose" => vec![
            ex("nvfix diagnose", "The report: loaded module, installed library, what changed, who holds the GPU, next steps."),
            ex("nvfix diagnose --json | jq -r .verdict", "Only the verdict, for a script."),
            ex("nvfix diagnose --no-holders", "Skip the process scan (faster on busy hosts)."),
        ],
        "ps" => vec![
            ex("sudo nvfix ps", "Every process that holds /dev/nvidia*, a DRM node or a driver library."),
            ex("sudo nvfix ps --json", "The same as a JSON array."),
        ],
        "hold" => vec![
            ex("sudo nvfix hold --dry-run", "Show the apt-mark/dnf command and the drop-in without changing anything."),
            ex("sudo nvfix hold", "Hold every installed driver package and blacklist them for unattended-upgrades."),
            ex("nvfix hold --status", "What is held, and whether an automatic upgrade could still replace the driver."),
            ex("sudo nvfix hold --undo", "Release exactly what nvfix held; packages the admin held stay held."),
        ],
        "metrics" => vec![
            ex("sudo nvfix metrics", "Write /var/lib/prometheus/node-exporter/nvfix.prom (what nvfix-check.timer runs)."),
            ex("nvfix metrics --textfile -", "Print the metrics instead."),
        ],
        "completions" => vec![
            ex("nvfix completions bash > ~/.local/share/bash-completion/completions/nvfix", "Install bash completions for one user."),
            ex("nvfix completions --dir completions", "Regenerate the committed completion files (every shell)."),
        ],
        "man" => vec![ex("nvfix man man", "Regenerate the committed man pages.")],
        "reload" => vec![
            ex("sudo nvfix reload --dry-run", "The plan: holders to stop, modules to unload and load, blockers."),
            ex("sudo nvfix reload", "Swap the modules, asking before each step."),
            ex("sudo nvfix reload --yes --grace 30", "Without questions; processes get 30 s after SIGTERM."),
            ex("sudo nvfix reload --resume", "Finish or undo an interrupted reload from its journal."),
        ],
        "verify" => vec![
            ex("nvfix verify", "NVML initialises and NVML, module and library versions agree (what nvfix-verify.service runs)."),
            ex("nvfix verify --json", "The checks as JSON."),
        ],
        "reboot" => vec![
            ex("sudo nvfix reboot --dry-run", "Check every guard, schedule nothing."),
            ex("sudo nvfix reboot --delay 15", "Reboot in 15 minutes, warning logged-in users."),
            ex("sudo nvfix reboot --cancel", "Cancel the reboot nvfix scheduled."),
        ],
        "auto" => vec![
            ex("sudo nvfix auto --dry-run", "Decide what the playbook allows and check every guard, changing nothing."),
            ex("sudo nvfix auto --playbook /usr/share/nvfix/playbooks/slurm-node.yaml", "Act within a shipped playbook."),
        ],
        "playbook check" => vec![
            ex("nvfix playbook check ./my-node.yaml", "Validate your playbook before nvfix auto uses it."),
            ex("nvfix playbook check /usr/share/nvfix/playbooks/slurm-node.yaml", "Validate a shipped one."),
        ],
        "playbook" => vec![ex(
            "nvfix playbook check /usr/share/nvfix/playbooks/kubernetes-node.yaml",
            "Validate a playbook: exit 0, or FILE:LINE:COLUMN errors.",
        )],
        _ => {
            // A command without examples of its own yet: derive them from its flags.
            let has = |id: &str| cmd.get_arguments().any(|a| a.get_id() == id);
            let mut v = vec![ex(&format!("sudo nvfix {command}"), "Run it.")];
            if has("dry_run") {
                v.push(ex(&format!("sudo nvfix {command} --dry-run"), "Show what it would do without doing it."));
            }
            if has("json") {
                v.push(ex(&format!("nvfix {command} --json"), "The result as JSON."));
            }
            v
        }
    }
}

fn extra_sections(cmd: &clap::Command, command: &str, subcommands: &[String]) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    let (ok, problem) = ok_and_problem(command);
    for (code, text) in [(exit::OK, ok), (exit::PROBLEM, problem)]
        .into_iter()
        .chain(COMMON_STATUSES.iter().copied())
    {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(text)]);
    }
    roff.control("SH", ["EXAMPLES"]);
    for (line, what) in examples(cmd, command) {
        roff.control("TP", []);
        roff.text([bold(line)]);
        roff.text([roman(what)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<String> = if command == "nvfix" {
        subcommands
            .iter()
            .map(|s| format!("nvfix-{s}(1)"))
            .collect()
    } else {
        vec!["nvfix(1)".to_string()]
    };
    if command == "hold" {
        refs.extend(["apt-mark(8)".to_string(), "dnf(8)".to_string()]);
    }
    roff.text([roman(refs.join(", "))]);
    roff
}

/// One page: clap_mangen's sections, then EXIT STATUS, EXAMPLES, SEE ALSO, then the version.
fn render_page(
    cmd: clap::Command,
    command: &str,
    subcommands: &[String],
) -> std::io::Result<Vec<u8>> {
    // The footer names the program and its version on every page, not the bare subcommand name.
    let man = Man::new(cmd.clone()).source(format!("nvfix {}", env!("CARGO_PKG_VERSION")));
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut buf)?;
    }
    // `nvfix` lists its commands; a command with its own subcommands (`playbook check`) lists those.
    if cmd
        .get_subcommands()
        .any(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        man.render_subcommands_section(&mut buf)?;
    }
    extra_sections(&cmd, command, subcommands).to_writer(&mut buf)?;
    if cmd.get_version().is_some() {
        man.render_version_section(&mut buf)?;
    }
    Ok(buf)
}

/// Every page as (file name, roff text): nvfix.1 and one nvfix-<command>.1 per visible subcommand.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut top = documented_command().disable_help_subcommand(true);
    top.build();
    let names: Vec<String> = visible_subcommands(&top)
        .iter()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut out = vec![(
        "nvfix.1".to_string(),
        render_page(top.clone(), "nvfix", &names)?,
    )];
    let mut pending = visible_subcommands(&top);
    // Nested commands (`playbook check`) get their own page too: `nvfix-playbook-check.1`.
    while let Some(sub) = pending.pop() {
        pending.extend(visible_subcommands(&sub));
        // `playbook check` for a nested command: clap's bin name after build is `nvfix playbook check`.
        let name = sub
            .get_bin_name()
            .and_then(|b| b.strip_prefix("nvfix "))
            .unwrap_or(sub.get_name())
            .to_string();
        let file = Man::new(sub.clone()).get_filename();
        out.push((file, render_page(sub, &name, &[])?));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Subcommands that get a page: not hidden, not clap's generated `help`.
fn visible_subcommands(cmd: &clap::Command) -> Vec<clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .cloned()
        .collect()
}

/// Writes every page into `dir` (created if missing); returns the paths written.
pub fn write_all(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (file, bytes) in pages()? {
        let path = dir.join(file);
        write_file(&path, &bytes, 0o644, DirRule::Shared { create_mode: 0o755 })?;
        written.push(path);
    }
    Ok(written)
}

pub fn run(args: &ManArgs) -> anyhow::Result<i32> {
    for path in write_all(&args.dir)
        .with_context(|| format!("writing man pages into {}", args.dir.display()))?
    {
        crate::outln!("{}", path.display());
    }
    Ok(exit::OK)
}
