//! How `--playbook NAME|PATH` and the conffile's `playbook:` name a playbook: path or name, and where a name is looked for.

/// The conffile `auto`, `reboot` and the timer's runs read when no `--playbook` is given.
pub const CONFIG_PATH: &str = "/etc/nvfix/nvfix.yaml";
/// The admin's playbooks: a name is looked for here first.
pub const LOCAL_DIR: &str = "/etc/nvfix/playbooks";
/// The playbooks the package ships.
pub const SHIPPED_DIR: &str = "/usr/share/nvfix/playbooks";
/// The name of the playbook compiled into nvfix (`playbooks/default.yaml`), used when no file of that name exists.
pub const BUILT_IN_NAME: &str = "default";

/// What a `--playbook` value (or the conffile's `playbook:`) means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybookRef {
    /// A file: the value has a `/` or ends in `.yaml`/`.yml`.
    Path(String),
    /// A name, resolved in [`LOCAL_DIR`], then [`SHIPPED_DIR`].
    Name(String),
}

impl PlaybookRef {
    /// Classifies a value. A name is letters, digits, `.`, `_` and `-`, not starting with `.` or `-`; anything else
    /// without a `/` is refused, so a typo never silently becomes a file in the current folder.
    pub fn parse(value: &str) -> Result<PlaybookRef, String> {
        if value.is_empty() {
            return Err("an empty playbook name".into());
        }
        if value.contains('/') || value.ends_with(".yaml") || value.ends_with(".yml") {
            return Ok(PlaybookRef::Path(value.to_string()));
        }
        if is_name(value) {
            Ok(PlaybookRef::Name(value.to_string()))
        } else {
            Err(format!(
                "`{}` is neither a playbook name (letters, digits, `.`, `_`, `-`) nor a path (with a `/` or ending \
                 in .yaml)",
                value.escape_debug()
            ))
        }
    }

    /// The value as given, for messages and reports.
    pub fn as_str(&self) -> &str {
        match self {
            PlaybookRef::Path(p) | PlaybookRef::Name(p) => p,
        }
    }
}

/// True for a playbook name: what `NAME.yaml` in a playbook folder may be called.
pub fn is_name(value: &str) -> bool {
    let mut chars = value.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Where a name is looked for, in order (host paths).
pub fn candidates(name: &str) -> [String; 2] {
    [
        format!("{LOCAL_DIR}/{name}.yaml"),
        format!("{SHIPPED_DIR}/{name}.yaml"),
    ]
}

/// The playbook name a file in a playbook folder stands for (`slurm-node.yaml` → `slurm-node`), if any.
pub fn name_of_file(file_name: &str) -> Option<&str> {
    file_name.strip_suffix(".yaml").filter(|n| is_name(n))
}

/// The one-line error for a name found nowhere.
pub fn not_found_message(name: &str) -> String {
    let [local, shipped] = candidates(name);
    format!("no playbook named `{name}`: looked for {local} and {shipped}; `nvfix playbook list` shows the names")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slash_or_a_yaml_ending_makes_a_path() {
        assert_eq!(
            PlaybookRef::parse("/etc/nvfix/playbook.yaml"),
            Ok(PlaybookRef::Path("/etc/nvfix/playbook.yaml".into()))
        );
        assert_eq!(
            PlaybookRef::parse("./gpu"),
            Ok(PlaybookRef::Path("./gpu".into()))
        );
        assert_eq!(
            PlaybookRef::parse("mine.yml"),
            Ok(PlaybookRef::Path("mine.yml".into()))
        );
        assert_eq!(
            PlaybookRef::parse("slurm-node"),
            Ok(PlaybookRef::Name("slurm-node".into()))
        );
        assert_eq!(
            PlaybookRef::parse("v1.2_x"),
            Ok(PlaybookRef::Name("v1.2_x".into()))
        );
    }

    #[test]
    fn odd_values_are_refused_not_guessed() {
        for bad in ["", "..", ".hidden", "-x", "a b", "nvfix\n", "ü"] {
            assert!(PlaybookRef::parse(bad).is_err(), "{bad:?}");
        }
        let e = PlaybookRef::parse("a\nb").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn names_are_looked_for_locally_then_in_the_shipped_folder() {
        assert_eq!(
            candidates("slurm-node"),
            [
                "/etc/nvfix/playbooks/slurm-node.yaml".to_string(),
                "/usr/share/nvfix/playbooks/slurm-node.yaml".to_string()
            ]
        );
        let m = not_found_message("slurm");
        assert!(m.contains("/etc/nvfix/playbooks/slurm.yaml"), "{m}");
        assert!(m.contains("/usr/share/nvfix/playbooks/slurm.yaml"), "{m}");
    }

    #[test]
    fn only_yaml_files_with_valid_names_are_playbooks() {
        assert_eq!(name_of_file("slurm-node.yaml"), Some("slurm-node"));
        assert_eq!(name_of_file("slurm-node.yml"), None);
        assert_eq!(name_of_file(".default.yaml.swp"), None);
        assert_eq!(name_of_file(".x.yaml"), None);
        assert_eq!(name_of_file("README"), None);
    }
}
