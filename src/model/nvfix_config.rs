//! `/etc/nvfix/nvfix.yaml`, nvfix's conffile: which playbook `auto`, `reboot` and the timer's runs use by default.

use super::playbook::{PlaybookError, PlaybookErrorKind};
use super::playbook_ref::PlaybookRef;
use serde::Deserialize;

/// The conffile's schema version.
pub const CONFIG_VERSION: u32 = 1;

/// The conffile, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NvfixConfig {
    /// The default playbook; None means the built-in default.
    pub playbook: Option<PlaybookRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: u32,
    #[serde(default)]
    playbook: Option<String>,
}

fn schema(message: String) -> PlaybookError {
    PlaybookError {
        kind: PlaybookErrorKind::Schema,
        line: None,
        column: None,
        message,
    }
}

/// Parses the conffile. An empty file (every line commented out) means the defaults. A path given as `playbook:`
/// must be absolute: it names a file on this host, whatever folder nvfix runs in.
pub fn parse_config(text: &str) -> Result<NvfixConfig, PlaybookError> {
    super::playbook::check_yaml_size(text)?;
    let value: serde_norway::Value = serde_norway::from_str(text)
        .map_err(|e| super::playbook::yaml_error(e, PlaybookErrorKind::Syntax))?;
    if value.is_null() {
        return Ok(NvfixConfig::default());
    }
    let raw: RawConfig = serde_norway::from_str(text)
        .map_err(|e| super::playbook::yaml_error(e, PlaybookErrorKind::Schema))?;
    if raw.version != CONFIG_VERSION {
        return Err(schema(format!(
            "version: {} is not supported (this nvfix reads version {CONFIG_VERSION})",
            raw.version
        )));
    }
    let playbook = match raw.playbook {
        None => None,
        Some(value) => {
            let r = PlaybookRef::parse(&value).map_err(|e| schema(format!("playbook: {e}")))?;
            if let PlaybookRef::Path(p) = &r {
                if !p.starts_with('/') {
                    return Err(schema(format!(
                        "playbook: `{}` is a relative path; give an absolute path or a name",
                        p.escape_debug()
                    )));
                }
            }
            Some(r)
        }
    };
    Ok(NvfixConfig { playbook })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_conffile_selects_the_default_playbook() {
        let c = parse_config(include_str!("../../packaging/etc/nvfix.yaml")).unwrap();
        assert_eq!(c.playbook, Some(PlaybookRef::Name("default".into())));
    }

    #[test]
    fn names_paths_and_nothing() {
        let c = parse_config("version: 1\nplaybook: /srv/gpu.yaml\n").unwrap();
        assert_eq!(c.playbook, Some(PlaybookRef::Path("/srv/gpu.yaml".into())));
        assert_eq!(parse_config("version: 1\n").unwrap().playbook, None);
        assert_eq!(
            parse_config("# all commented\n").unwrap(),
            NvfixConfig::default()
        );
    }

    #[test]
    fn mistakes_are_configuration_errors_with_positions() {
        let e = parse_config("version: 1\nplaybok: default\n").unwrap_err();
        assert_eq!(e.kind, PlaybookErrorKind::Schema);
        assert_eq!(e.line, Some(2), "{e}");
        let e = parse_config("version: 2\n").unwrap_err();
        assert!(e.message.contains("version: 2"), "{e}");
        let e = parse_config("version: 1\nplaybook: gpu/node.yaml\n").unwrap_err();
        assert!(e.message.contains("relative path"), "{e}");
        let e = parse_config("version: 1\nplaybook: 'a b'\n").unwrap_err();
        assert!(e.message.starts_with("playbook: "), "{e}");
        assert_eq!(
            parse_config("version: [1\n").unwrap_err().kind,
            PlaybookErrorKind::Syntax
        );
        assert_eq!(
            parse_config("playbook: default\n").unwrap_err().kind,
            PlaybookErrorKind::Schema
        );
    }
}
