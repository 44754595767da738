//! `nvfix playbook check FILE`, and loading a playbook for `auto`/`reboot`: read it safely, check who may write it,
//! parse it with positions.

use super::doc::{own, CommandDoc};
use super::Context;
use crate::cli::{PlaybookArgs, PlaybookCommand};
use crate::error::Failure;
use crate::exit;
use crate::model::playbook::{
    check_ownership, parse_playbook, FileOwnership, Playbook, PlaybookErrorKind,
};
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

pub fn run(_ctx: &Context, args: &PlaybookArgs) -> anyhow::Result<i32> {
    match &args.command {
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

/// [`load`] for `auto` and `reboot`, whose contract has one status for every playbook error: 78.
pub fn load_policy(path: &Path, running_as_root: bool) -> Result<Playbook, Failure> {
    load(path, running_as_root).map_err(|f| match f.code {
        exit::DATA_ERROR => Failure::new(exit::CONFIG, f.message),
        _ => f,
    })
}

/// Reads and parses a playbook. The ownership is checked on the opened file (fstat), so it cannot be swapped between
/// the check and the read. Exit statuses: 66 missing, 77 unsafe ownership, 65 not YAML, 78 not a valid playbook.
pub fn load(path: &Path, running_as_root: bool) -> Result<Playbook, Failure> {
    let shown = path.display().to_string();
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
    // A playbook is a page of YAML; a huge file is a mistake, not a policy.
    let mut bytes = Vec::new();
    file.by_ref()
        .take(1 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::new(exit::NO_INPUT, format!("{shown}: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::new(exit::DATA_ERROR, format!("{shown}: not UTF-8 text")))?;
    let playbook = parse_playbook(&text).map_err(|e| {
        let code = match e.kind {
            PlaybookErrorKind::Syntax => exit::DATA_ERROR,
            PlaybookErrorKind::Schema => exit::CONFIG,
        };
        Failure::new(code, e.display_for(&shown))
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
