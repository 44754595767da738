//! `nvfix playbook check FILE` and `nvfix playbook list`, and choosing and loading the playbook for `auto`/`reboot`
//! (`--playbook NAME|PATH`, else the one /etc/nvfix/nvfix.yaml selects): read safely, check who may write it, parse
//! it with positions.

use super::doc::{own, CommandDoc};
use super::Context;
use crate::cli::{PlaybookArgs, PlaybookCommand, PlaybookListArgs};
use crate::error::Failure;
use crate::exit;
use crate::host::playbook_files::{self, NamedPlaybook, Origin};
use crate::host::read_budget::{over_budget_message, FileKind};
use crate::host::HostRoot;
use crate::model::nvfix_config::{parse_config, NvfixConfig};
use crate::model::playbook::{
    check_ownership, default_playbook, parse_playbook, FileOwnership, Playbook, PlaybookErrorKind,
};
use crate::model::playbook_ref::{not_found_message, PlaybookRef, CONFIG_PATH};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// `nvfix playbook`'s man page text (see `doc.rs`); its statuses are its commands'.
pub const DOC: CommandDoc = CommandDoc {
    description: &[
        "Works with playbooks, the written policy nvfix auto and nvfix reboot act within: what a reload may stop, \
         when a reboot may happen and how, which commands run around them. nvfix-playbook(5) describes the format.",
    ],
    exit: &[],
    files: &["/etc/nvfix/playbooks/NAME.yaml", "/usr/share/nvfix/playbooks/NAME.yaml"],
    examples: &[(
        "nvfix playbook check /usr/share/nvfix/playbooks/kubernetes-node.yaml",
        "Validate a playbook: exit 0, or FILE:LINE:COLUMN errors.",
    )],
    see_also: &["nvfix-playbook(5)"],
};

/// `nvfix playbook check`'s man page text (see `doc.rs`).
pub const CHECK_DOC: CommandDoc = CommandDoc {
    description: &[
        "Validates a playbook the way nvfix auto reads it: the file must be YAML, follow the schema in \
         nvfix-playbook(5) (unknown keys are errors, so a typo is never ignored), and, when nvfix runs as root, be \
         owned by root and writable by no one else, because a playbook names commands that run as root.",
        "Prints one line on success; each error names FILE:LINE:COLUMN and quotes at most the offending value.",
    ],
    exit: &[
        own(exit::OK, "The playbook is valid."),
        own(exit::DATA_ERROR, "The file is not YAML (or not UTF-8 text)."),
        own(exit::NO_INPUT, "The file (or the --root folder) does not exist."),
        own(exit::NO_PERMISSION, "The file cannot be read, or (as root) its owner or mode is unsafe."),
        own(exit::CONFIG, "The YAML is not a valid playbook."),
    ],
    files: &[],
    examples: &[
        ("nvfix playbook check ./my-node.yaml", "Validate a playbook before nvfix auto uses it."),
        ("nvfix playbook check /usr/share/nvfix/playbooks/slurm-node.yaml", "Validate a shipped one."),
    ],
    see_also: &["nvfix-playbook(5)"],
};

/// `nvfix playbook list`'s man page text (see `doc.rs`).
pub const LIST_DOC: CommandDoc = CommandDoc {
    description: &[
        "Lists the playbooks a name given to --playbook can mean: files in /etc/nvfix/playbooks (the admin's, found \
         first), then the shipped ones in /usr/share/nvfix/playbooks, then the built-in default. Marks the one \
         /etc/nvfix/nvfix.yaml selects, which nvfix auto and nvfix reboot use when --playbook is not given, and says \
         when a shipped playbook is shadowed by a local file of the same name.",
        "With --json, prints the same as one JSON object for scripts.",
    ],
    exit: &[
        own(exit::OK, "The list was printed."),
        own(exit::CONFIG, "/etc/nvfix/nvfix.yaml is not valid."),
        own(exit::NO_PERMISSION, "/etc/nvfix/nvfix.yaml cannot be read, or (as root) its owner or mode is unsafe."),
    ],
    files: &[
        "/etc/nvfix/nvfix.yaml",
        "/etc/nvfix/playbooks/NAME.yaml",
        "/usr/share/nvfix/playbooks/NAME.yaml",
    ],
    examples: &[
        ("nvfix playbook list", "Which playbooks exist, and which one auto uses."),
        ("nvfix playbook list --json | jq -r '.selected.source'", "Where the selected playbook comes from, for a script."),
    ],
    see_also: &["nvfix-playbook(5)", "nvfix-auto(1)"],
};

pub fn run(ctx: &Context, args: &PlaybookArgs) -> anyhow::Result<i32> {
    match &args.command {
        PlaybookCommand::List(list_args) => list(ctx, list_args),
        PlaybookCommand::Check(check) => {
            let p = load(&check.file, effective_uid() == 0)?;
            crate::outln!(
                "{}: ok (playbook{} version 1; reload {}, reboot {})",
                check.file.display(),
                p.name
                    .as_deref()
                    .map(|n| format!(" `{n}`"))
                    .unwrap_or_default(),
                if p.reload.allowed {
                    "allowed"
                } else {
                    "not allowed"
                },
                if p.reboot.allowed {
                    "allowed"
                } else {
                    "not allowed"
                },
            );
            Ok(exit::OK)
        }
    }
}

pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Reads and parses a playbook. The ownership is checked on the opened file (fstat), so it cannot be swapped between
/// the check and the read. Exit statuses: 66 missing, 77 unsafe ownership, 65 not YAML, 78 not a valid playbook.
pub fn load(path: &Path, running_as_root: bool) -> Result<Playbook, Failure> {
    load_shown(path, &path.display().to_string(), running_as_root)
}

/// [`load`], naming the file as `shown` in messages (the host path, when the file was found under `--root`).
fn load_shown(path: &Path, shown: &str, running_as_root: bool) -> Result<Playbook, Failure> {
    let text = read_checked(path, shown, running_as_root)?;
    let playbook = parse_playbook(&text).map_err(|e| {
        let code = match e.kind {
            PlaybookErrorKind::Syntax => exit::DATA_ERROR,
            PlaybookErrorKind::Schema => exit::CONFIG,
        };
        Failure::new(code, e.display_for(shown))
    })?;
    // A zone name is only known to be real once the host's time-zone database has it.
    if let Some(w) = &playbook.reboot.maintenance_window {
        if let crate::model::playbook::Timezone::Named(name) = &w.timezone {
            if crate::host::reboot::zone_offset_minutes(name, 0).is_none() {
                return Err(Failure::new(
                    exit::CONFIG,
                    format!(
                        "{shown}: reboot.maintenance_window.timezone: `{name}` is not in this host's time-zone \
                         database (/usr/share/zoneinfo)"
                    ),
                ));
            }
        }
    }
    Ok(playbook)
}

/// Reads a file that can make root run commands (a playbook, the conffile naming one): regular, and as root owned by
/// root and writable by no one else, checked on the opened file (fstat) so it cannot be swapped between the check and
/// the read; at most 1 MiB of UTF-8. Exit statuses: 66 missing, 77 unsafe ownership, 65 not UTF-8.
fn read_checked(path: &Path, shown: &str, running_as_root: bool) -> Result<String, Failure> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => exit::NO_INPUT,
                std::io::ErrorKind::PermissionDenied => exit::NO_PERMISSION,
                _ => exit::NO_INPUT,
            };
            Failure::new(code, format!("{shown}: {e}"))
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Failure::new(exit::NO_INPUT, format!("{shown}: {e}")))?;
    let ownership = FileOwnership {
        uid: meta.uid(),
        mode: meta.mode(),
        is_regular: meta.file_type().is_file(),
    };
    check_ownership(&ownership, running_as_root).map_err(|why| {
        Failure::new(
            exit::NO_PERMISSION,
            format!("{shown}: refusing this playbook: {why}"),
        )
    })?;
    // A playbook is a page of YAML; a huge file is a mistake, not a policy: refused whole, never cut (a cut
    // playbook could parse as a different policy).
    let kind = FileKind::Playbook;
    let mut bytes = Vec::new();
    file.by_ref()
        .take(kind.budget() + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::new(exit::NO_INPUT, format!("{shown}: {e}")))?;
    if bytes.len() as u64 > kind.budget() {
        return Err(Failure::new(
            exit::CONFIG,
            format!("{shown}: {}", over_budget_message(kind, "refused")),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| Failure::new(exit::DATA_ERROR, format!("{shown}: not UTF-8 text")))
}

/// How the playbook was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `--playbook` on the command line.
    Flag,
    /// `playbook:` in /etc/nvfix/nvfix.yaml.
    Config,
    /// Neither: the name `default` (a file of that name, else the built-in one).
    Default,
}

/// The playbook `auto` and `reboot` act within, and where it came from.
#[derive(Debug, Clone)]
pub struct SelectedPlaybook {
    pub playbook: Playbook,
    /// For reports: the file (host path under `--root`, or as given on the command line), or `built-in default`.
    pub source: String,
    /// The host path of a file found under `--root` (by name or through the conffile).
    pub host_path: Option<String>,
    pub via: Via,
}

/// `--playbook NAME|PATH` when given, else what /etc/nvfix/nvfix.yaml selects, else `default`. A name resolves in
/// /etc/nvfix/playbooks, then /usr/share/nvfix/playbooks (under `--root`), `default` finally to the built-in one.
/// Exit statuses: 64 a value that is neither name nor path, 66 not found, 77 unsafe ownership, 78 an invalid playbook
/// or conffile (the one status `auto` and `reboot` give every playbook error).
pub fn select(
    root: &HostRoot,
    arg: Option<&str>,
    running_as_root: bool,
) -> Result<SelectedPlaybook, Failure> {
    let as_config_error = |f: Failure| match f.code {
        exit::DATA_ERROR => Failure::new(exit::CONFIG, f.message),
        _ => f,
    };
    let (reference, via) = match arg {
        Some(value) => (
            PlaybookRef::parse(value)
                .map_err(|e| Failure::new(exit::USAGE, format!("--playbook: {e}")))?,
            Via::Flag,
        ),
        None => match read_config(root, running_as_root)?.and_then(|c| c.playbook) {
            Some(r) => (r, Via::Config),
            None => (
                PlaybookRef::Name(crate::model::playbook_ref::BUILT_IN_NAME.into()),
                Via::Default,
            ),
        },
    };
    let selected = |playbook, source: String, host_path| SelectedPlaybook {
        playbook,
        source,
        host_path,
        via,
    };
    match reference {
        // On the command line: a path on this machine, as given (relative to the current folder).
        PlaybookRef::Path(p) if via == Via::Flag => {
            let playbook = load(Path::new(&p), running_as_root).map_err(as_config_error)?;
            Ok(selected(playbook, p, None))
        }
        // In the conffile: a file of the host being acted on, under --root.
        PlaybookRef::Path(p) => {
            let playbook =
                load_shown(&root.resolve(&p), &p, running_as_root).map_err(as_config_error)?;
            Ok(selected(playbook, p.clone(), Some(p)))
        }
        PlaybookRef::Name(name) => {
            let Some(found) = playbook_files::find(root, &name) else {
                let why = not_found_message(&name);
                let message = match via {
                    Via::Config => format!("{CONFIG_PATH}: playbook: {why}"),
                    _ => format!("--playbook: {why}"),
                };
                return Err(Failure::new(exit::NO_INPUT, message));
            };
            match (found.local_path, found.host_path) {
                (Some(local), Some(host)) => {
                    let playbook =
                        load_shown(&local, &host, running_as_root).map_err(as_config_error)?;
                    Ok(selected(playbook, host.clone(), Some(host)))
                }
                _ => Ok(selected(
                    default_playbook(),
                    "built-in default".into(),
                    None,
                )),
            }
        }
    }
}

/// /etc/nvfix/nvfix.yaml under `--root`, or None when there is none. It names the playbook root acts within, so it is
/// read as carefully as one (ownership checked); any error in it is a configuration error (78).
pub fn read_config(root: &HostRoot, running_as_root: bool) -> Result<Option<NvfixConfig>, Failure> {
    let local = root.resolve(CONFIG_PATH);
    if std::fs::symlink_metadata(&local).is_err() {
        return Ok(None);
    }
    let text = read_checked(&local, CONFIG_PATH, running_as_root).map_err(|f| match f.code {
        exit::DATA_ERROR => Failure::new(exit::CONFIG, f.message),
        _ => f,
    })?;
    parse_config(&text)
        .map(Some)
        .map_err(|e| Failure::new(exit::CONFIG, e.display_for(CONFIG_PATH)))
}

/// One line of `nvfix playbook list --json`.
#[derive(Debug, serde::Serialize)]
struct ListedPlaybook<'a> {
    name: &'a str,
    origin: Origin,
    path: Option<&'a str>,
    shadows: Option<&'a str>,
    selected: bool,
}

/// `nvfix playbook list`: every name, where it resolves, and which one `auto`/`reboot` use without `--playbook`. A
/// conffile that selects nothing usable is reported after the list, with its exit status.
fn list(ctx: &Context, args: &PlaybookListArgs) -> anyhow::Result<i32> {
    let playbooks = playbook_files::list(&ctx.root);
    let selection = select(&ctx.root, None, effective_uid() == 0);
    let is_selected = |p: &NamedPlaybook| match &selection {
        Ok(sel) => match (&sel.host_path, &p.host_path) {
            (Some(a), Some(b)) => a == b,
            (None, None) => sel.via != Via::Flag && p.origin == Origin::BuiltIn,
            _ => false,
        },
        Err(_) => false,
    };
    let config_exists = std::fs::symlink_metadata(ctx.root.resolve(CONFIG_PATH)).is_ok();
    if args.json {
        let listed: Vec<ListedPlaybook> = playbooks
            .iter()
            .map(|p| ListedPlaybook {
                name: &p.name,
                origin: p.origin,
                path: p.host_path.as_deref(),
                shadows: p.shadows.as_deref(),
                selected: is_selected(p),
            })
            .collect();
        let report = serde_json::json!({
            "schema": "nvfix.playbooks/v1",
            "config": CONFIG_PATH,
            "config_exists": config_exists,
            "selected": selection.as_ref().ok().map(|s| serde_json::json!({
                "source": s.source,
                "via": match s.via { Via::Config => "config", _ => "default" },
            })),
            "error": selection.as_ref().err().map(|f| f.message.clone()),
            "playbooks": listed,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::outln!("    NAME              FROM      FILE");
        for p in &playbooks {
            crate::outln!(
                "{}  {:<16}  {:<8}  {}{}",
                if is_selected(p) { " *" } else { "  " },
                p.name,
                p.origin.as_str(),
                p.host_path.as_deref().unwrap_or("(compiled into nvfix)"),
                p.shadows
                    .as_deref()
                    .map(|s| format!(" (hides {s})"))
                    .unwrap_or_default(),
            );
        }
        // An error is printed by main, after the list.
        if let Ok(sel) = &selection {
            crate::outln!(
                "\n* used by `nvfix auto` and `nvfix reboot` without --playbook ({}):\n  {}",
                match (sel.via, config_exists) {
                    (Via::Config, _) => format!("selected by {CONFIG_PATH}"),
                    (_, true) => format!("{CONFIG_PATH} selects none"),
                    (_, false) => format!("{CONFIG_PATH} does not exist"),
                },
                sel.source
            );
        }
    }
    match selection {
        Ok(_) => Ok(exit::OK),
        Err(f) => Err(f.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(text: &str, mode: u32) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        f
    }

    #[test]
    fn named_time_zones_must_exist_on_the_host() {
        let ok = file("version: 1\nreboot:\n  maintenance_window: {start: '01:00', end: '02:00', timezone: UTC}\n", 0o644);
        assert!(load(ok.path(), false).is_ok());
        if crate::host::reboot::zone_offset_minutes("Europe/Berlin", 0).is_some() {
            let berlin =
                file("version: 1\nreboot:\n  maintenance_window: {start: '01:00', end: '02:00', timezone: Europe/Berlin}\n", 0o644);
            assert!(load(berlin.path(), false).is_ok());
        }
        let typo =
            file("version: 1\nreboot:\n  maintenance_window: {start: '01:00', end: '02:00', timezone: Europe/Berln}\n", 0o644);
        let e = load(typo.path(), false).unwrap_err();
        assert_eq!(e.code, exit::CONFIG);
        assert!(e.message.contains("Europe/Berln"), "{}", e.message);
    }

    #[test]
    fn an_error_quotes_at_most_one_line_of_the_file() {
        // A passwd-like file is one long YAML scalar: serde would quote all of it.
        let passwd: String = (0..200)
            .map(|i| format!("user{i}:x:{i}:{i}:User {i}:/home/user{i}:/bin/bash\n"))
            .collect();
        // A bad time written as a multi-line scalar: the value itself spans lines.
        let multi_line_time = format!(
            "version: 1\nreboot:\n  maintenance_window:\n    start: |\n{}    end: '02:00'\n",
            "      01:00\n".repeat(50)
        );
        for text in [passwd, multi_line_time] {
            let f = file(&text, 0o644);
            let e = load(f.path(), false).unwrap_err();
            assert!(!e.message.contains('\n'), "{}", e.message);
            let quoted = e.message.len() - f.path().display().to_string().len();
            assert!(quoted < 200, "{} bytes: {}", e.message.len(), e.message);
            assert!(e.message.contains('…'), "{}", e.message);
        }
    }

    #[test]
    fn loads_a_safe_playbook() {
        let f = file("version: 1\nname: t\n", 0o644);
        assert_eq!(load(f.path(), false).unwrap().name.as_deref(), Some("t"));
    }

    #[test]
    fn world_writable_playbook_is_refused_for_root_only() {
        let f = file("version: 1\n", 0o666);
        // The tests run as whoever runs them; the file is owned by that user. Judge both ways through the pure rule's
        // two branches: as root (uid 0 owns it here when the tests run as root) and as a user.
        let as_root = load(f.path(), true).unwrap_err();
        assert_eq!(as_root.code, exit::NO_PERMISSION);
        assert!(
            as_root.message.contains("refusing this playbook"),
            "{}",
            as_root.message
        );
        assert!(load(f.path(), false).is_ok());
    }

    #[test]
    fn errors_carry_exit_statuses_and_positions() {
        let missing = load(Path::new("/nonexistent/nvfix.yaml"), false).unwrap_err();
        assert_eq!(missing.code, exit::NO_INPUT);
        let bad = file("version: 1\nreload: {allowed: true\n", 0o644);
        assert_eq!(load(bad.path(), false).unwrap_err().code, exit::DATA_ERROR);
        let unknown = file("version: 1\nreboot:\n  alowed: true\n", 0o644);
        let e = load(unknown.path(), false).unwrap_err();
        assert_eq!(e.code, exit::CONFIG);
        assert!(
            e.message
                .starts_with(&format!("{}:3:3: ", unknown.path().display())),
            "{}",
            e.message
        );
        let binary = file("", 0o644);
        std::fs::write(binary.path(), [0xff, 0xfe, 0x00]).unwrap();
        assert_eq!(
            load(binary.path(), false).unwrap_err().code,
            exit::DATA_ERROR
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), false).is_err());
    }
}
