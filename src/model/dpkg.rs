//! Parsers for installed-package state: dpkg's status file and unattended-upgrades' configuration.

use super::apt_history::is_driver_package;
use super::python_re::PythonRegex;
use serde::Serialize;

/// One stanza of `/var/lib/dpkg/status` that is installed (or half-installed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// `Status: hold ok installed` → true.
    pub held: bool,
    /// The `Status:` line's last word (`installed`, `half-configured`, …).
    pub state: String,
}

/// dpkg states in which the package's files are on disk (the last word of `Status:`). `config-files` and
/// `not-installed` leave no binaries behind, so they are not "installed" for nvfix.
const ON_DISK_STATES: &[&str] = &[
    "installed",
    "half-installed",
    "half-configured",
    "unpacked",
    "triggers-awaited",
    "triggers-pending",
];

/// The fields of one stanza that nvfix reads, as they come.
#[derive(Default)]
struct StatusStanza {
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    status: Option<String>,
    /// The stanza's name line is exactly `Package: dpkg` (the form gather's narrowing keeps): dpkg's own.
    is_dpkg: bool,
}

impl StatusStanza {
    fn finish(self) -> Option<InstalledPackage> {
        let name = self
            .name
            .filter(|n| !n.is_empty() && !n.contains(char::is_whitespace))?;
        let version = self.version.filter(|v| !v.is_empty())?;
        let status = self.status?;
        let words: Vec<&str> = status.split_whitespace().collect();
        // `want flag state`, e.g. `hold ok installed`; anything else is garbled.
        let [want, _flag, state] = words.as_slice() else {
            return None;
        };
        if !ON_DISK_STATES.contains(state) {
            return None;
        }
        Some(InstalledPackage {
            name,
            version,
            arch: self.arch.filter(|a| !a.is_empty()),
            held: *want == "hold",
            state: state.to_string(),
        })
    }
}

/// Is this NVIDIA fabric manager's daemon package (`nvidia-fabricmanager-580`, `nvidia-fabricmanager`), not its SDK
/// (`nvidia-fabricmanager-dev-580`)?
pub fn is_fabric_manager_package(name: &str) -> bool {
    let name = name.split(':').next().unwrap_or(name);
    name.strip_prefix("nvidia-fabricmanager")
        .is_some_and(|rest| rest.is_empty() || (rest.starts_with('-') && !rest.starts_with("-dev")))
}

/// Parses `/var/lib/dpkg/status`; stanzas that are not installed (`deinstall ok config-files`, `not-installed`) are
/// left out. Tolerant of garbled stanzas.
///
/// "Installed" means the files are on disk: `installed`, `half-installed`, `half-configured`, `unpacked` and the
/// `triggers-*` states. A stanza without `Package:`, `Version:` or a three-word `Status:` is skipped.
pub fn parse_dpkg_status(text: &str) -> Vec<InstalledPackage> {
    let mut packages = Vec::new();
    let mut stanza = StatusStanza::default();
    let mut native: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            end_stanza(&mut stanza, &mut packages, &mut native);
            continue;
        }
        // Continuation lines (Description, Conffiles, …) start with a space or a tab.
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let value = Some(value.trim().to_string());
        // deb822 field names are case-insensitive.
        let field = field.trim().to_ascii_lowercase();
        match field.as_str() {
            "package" => {
                // A new Package: without a blank line before it: the previous stanza ended (garbled file).
                if stanza.name.is_some() {
                    end_stanza(&mut stanza, &mut packages, &mut native);
                }
                stanza.is_dpkg = line.trim_end() == "Package: dpkg";
                stanza.name = value;
            }
            "version" => stanza.version = value,
            "architecture" => stanza.arch = value,
            "status" => stanza.status = value,
            _ => {}
        }
    }
    end_stanza(&mut stanza, &mut packages, &mut native);
    if let Some(native) = native {
        name_foreign_packages(&mut packages, &native);
    }
    packages
}

/// Ends the stanza being read: its package (when installed) joins `packages`; dpkg's own names the native
/// architecture.
fn end_stanza(
    stanza: &mut StatusStanza,
    packages: &mut Vec<InstalledPackage>,
    native: &mut Option<String>,
) {
    let stanza = std::mem::take(stanza);
    if stanza.is_dpkg && native.is_none() {
        native.clone_from(&stanza.arch);
    }
    packages.extend(stanza.finish());
}

/// Gives each package of a foreign architecture the name apt and unattended-upgrades use for it: `name:arch`.
///
/// unattended-upgrades 2.9.1 matches blacklist entries against python-apt's `pkg.name`, which is
/// `self._pkg.get_fullname(True)` (python-apt 2.6, `apt/package.py`): apt's `FullName(Pretty=true)`, the bare name
/// for the native architecture and for `all`, `name:arch` for any other. So `libnvidia-compute-580$` does not match
/// `libnvidia-compute-580:i386`, and `apt-mark hold libnvidia-compute-580` holds the native package only. The native
/// architecture is dpkg's own (the `Package: dpkg` stanza, which a narrowed read keeps; dpkg is essential, so every
/// dpkg host has one). Without it nothing is called foreign: a guess from the other packages would depend on which
/// stanzas a narrowed read kept.
fn name_foreign_packages(packages: &mut [InstalledPackage], native: &str) {
    for p in packages.iter_mut() {
        let foreign = p
            .arch
            .as_deref()
            .filter(|a| !["all", "none", native].contains(a));
        if let Some(arch) = foreign {
            if !p.name.contains(':') {
                p.name = format!("{}:{arch}", p.name);
            }
        }
    }
}

/// What the unattended-upgrades configuration says, merged over all files read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnattendedConfig {
    /// `APT::Periodic::Unattended-Upgrade "1";` (from `20auto-upgrades`), when set.
    pub enabled: Option<bool>,
    /// `Unattended-Upgrade::Package-Blacklist { "…"; };` entries (Python regexes matched at the start of the name).
    pub blacklist: Vec<String>,
}

/// One token of apt.conf syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ConfToken {
    /// An unquoted name such as `APT::Periodic::Unattended-Upgrade` (also unquoted values).
    Word(String),
    /// A `"quoted"` value.
    Quoted(String),
    Open,
    Close,
    Semicolon,
    /// `#clear A::B C::D;`: the names to clear follow as words.
    Clear,
}

/// Splits apt.conf text into tokens, dropping `//`, `/* */` and `#` comments. An unterminated quote or block comment
/// ends the text (what came before still counts).
fn tokenize_apt_conf(text: &str) -> Vec<ConfToken> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '{' => tokens.push(ConfToken::Open),
            '}' => tokens.push(ConfToken::Close),
            ';' => tokens.push(ConfToken::Semicolon),
            '"' => {
                let rest = &text[i + 1..];
                let Some(end) = rest.find('"') else { break };
                tokens.push(ConfToken::Quoted(rest[..end].to_string()));
                // Skip past the closing quote.
                while chars.peek().is_some_and(|(j, _)| *j <= i + 1 + end) {
                    chars.next();
                }
            }
            '/' if text[i..].starts_with("//") => skip_to_line_end(&mut chars),
            '/' if text[i..].starts_with("/*") => {
                let Some(end) = text[i + 2..].find("*/") else {
                    break;
                };
                let stop = i + 2 + end + 2;
                while chars.peek().is_some_and(|(j, _)| *j < stop) {
                    chars.next();
                }
            }
            '#' => {
                let directive = text[i..].split_whitespace().next().unwrap_or("");
                if directive == "#clear" {
                    tokens.push(ConfToken::Clear);
                    for _ in 1..directive.len() {
                        chars.next();
                    }
                } else {
                    // `#include` (not followed: other files are read by the caller) and `#` comments.
                    skip_to_line_end(&mut chars);
                }
            }
            _ => {
                let rest = &text[i..];
                let len = rest
                    .find(|ch: char| ch.is_whitespace() || matches!(ch, '{' | '}' | ';' | '"'))
                    .unwrap_or(rest.len());
                // A `//` or `/*` glued to a word starts a comment, not part of the word.
                let len = ["//", "/*"]
                    .iter()
                    .filter_map(|m| rest[..len].find(m))
                    .min()
                    .unwrap_or(len)
                    .max(c.len_utf8());
                tokens.push(ConfToken::Word(rest[..len].to_string()));
                while chars.peek().is_some_and(|(j, _)| *j < i + len) {
                    chars.next();
                }
            }
        }
    }
    tokens
}

fn skip_to_line_end(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) {
    for (_, c) in chars.by_ref() {
        if c == '\n' {
            break;
        }
    }
}

/// The list of package-name regexes unattended-upgrades will not touch. Newer releases also read `Package-Blocklist`.
fn is_blacklist_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("Unattended-Upgrade::Package-Blacklist")
        || key.eq_ignore_ascii_case("Unattended-Upgrade::Package-Blocklist")
}

/// apt's integer/boolean reading of `APT::Periodic::Unattended-Upgrade`: a day interval, 0 = off.
fn parse_periodic_flag(value: &str) -> Option<bool> {
    let value = value.trim();
    if let Ok(days) = value.parse::<i64>() {
        return Some(days > 0);
    }
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "always" => Some(true),
        "false" | "no" | "off" | "never" => Some(false),
        _ => None,
    }
}

/// Parses one apt.conf-style file and merges what it says into `into` (later files win for `enabled`).
///
/// Understands the subset unattended-upgrades' files use: `A::B "v";`, nested scopes `A { B { "x"; }; };`, list
/// items `"x";` inside a scope or as `A::B:: "x";`, `#clear A::B;`, and `//`, `/* */`, `#` comments. Keys compare
/// case-insensitively, as apt's do. Garbled text is skipped up to the next `;`; nothing here can fail.
pub fn parse_apt_conf(text: &str, into: &mut UnattendedConfig) {
    let tokens = tokenize_apt_conf(text);
    // The enclosing scopes' names, each possibly `A::B` itself.
    let mut scopes: Vec<String> = Vec::new();
    let full_key = |scopes: &[String], name: &str| {
        let mut parts: Vec<&str> = scopes.iter().map(String::as_str).collect();
        if !name.is_empty() {
            parts.push(name);
        }
        parts.join("::")
    };
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            ConfToken::Clear => {
                i += 1;
                while let Some(ConfToken::Word(name) | ConfToken::Quoted(name)) = tokens.get(i) {
                    if is_blacklist_key(&full_key(&scopes, name.trim_end_matches("::"))) {
                        into.blacklist.clear();
                    }
                    i += 1;
                }
            }
            ConfToken::Word(name) => match tokens.get(i + 1) {
                Some(ConfToken::Open) => {
                    scopes.push(name.trim_end_matches("::").to_string());
                    i += 1;
                }
                Some(ConfToken::Quoted(value) | ConfToken::Word(value)) => {
                    if let Some(list_key) = name.strip_suffix("::") {
                        // `A::B:: "x";` appends to the list A::B.
                        if is_blacklist_key(&full_key(&scopes, list_key)) {
                            push_unique(&mut into.blacklist, value);
                        }
                    } else if full_key(&scopes, name)
                        .eq_ignore_ascii_case("APT::Periodic::Unattended-Upgrade")
                    {
                        if let Some(flag) = parse_periodic_flag(value) {
                            into.enabled = Some(flag);
                        }
                    }
                    i += 1;
                }
                _ => {}
            },
            ConfToken::Quoted(value) => {
                // A bare value inside a scope is a list item of that scope.
                if is_blacklist_key(&full_key(&scopes, "")) {
                    push_unique(&mut into.blacklist, value);
                }
            }
            ConfToken::Close => {
                scopes.pop();
            }
            ConfToken::Open | ConfToken::Semicolon => {}
        }
        i += 1;
    }
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

/// Would this blacklist entry stop unattended-upgrades from upgrading `package`? Entries are Python regexes matched at
/// the start of the name (`re.match`), so `nvidia-` does not match `libnvidia-ml1` (see [`PythonRegex`]).
///
/// An entry Python rejects, or that nvfix cannot reproduce, never matches: unattended-upgrades fails on a
/// Python-invalid one, and claiming protection we cannot confirm would be worse than reporting none. Compiles the
/// entry on every call: for many names, use [`Blacklist`].
pub fn blacklist_matches(pattern: &str, package: &str) -> bool {
    PythonRegex::compile(pattern).matches(package) == Some(true)
}

/// The blacklist, each entry compiled once (a `\w{500}` entry compiled per package cost 140 ms each).
#[derive(Debug, Clone)]
pub struct Blacklist {
    entries: Vec<(String, PythonRegex)>,
}

impl Blacklist {
    pub fn new(entries: &[String]) -> Blacklist {
        Blacklist {
            entries: entries
                .iter()
                .map(|e| (e.clone(), PythonRegex::compile(e)))
                .collect(),
        }
    }

    /// The blacklist of `config` (empty without one).
    pub fn of(config: Option<&UnattendedConfig>) -> Blacklist {
        Blacklist::new(config.map(|c| c.blacklist.as_slice()).unwrap_or_default())
    }

    /// Does an entry nvfix can reproduce match `name`?
    pub fn protects(&self, name: &str) -> bool {
        self.entries
            .iter()
            .any(|(_, re)| re.matches(name) == Some(true))
    }

    /// The entries Python rejects, with Python's message.
    pub fn invalid(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().filter_map(|(e, re)| match re {
            PythonRegex::Invalid(why) => Some((e.as_str(), why.as_str())),
            _ => None,
        })
    }

    /// The entries nvfix cannot reproduce, with the construct that stops it.
    pub fn unchecked(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().filter_map(|(e, re)| match re {
            PythonRegex::Unchecked(why) => Some((e.as_str(), why.as_str())),
            _ => None,
        })
    }
}

/// The installed driver packages that unattended-upgrades could upgrade: neither held (`apt-mark hold`) nor matched by
/// a blacklist entry. Sorted and unique. Whether unattended-upgrades runs at all (`enabled`) is the caller's to weigh;
/// `None` config means no blacklist was found.
pub fn unprotected_driver_packages(
    config: Option<&UnattendedConfig>,
    packages: &[InstalledPackage],
) -> Vec<String> {
    let blacklist = Blacklist::of(config);
    let mut names: Vec<String> = packages
        .iter()
        .filter(|p| is_driver_package(&p.name) && !p.held)
        .filter(|p| !blacklist.protects(&p.name))
        .map(|p| p.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fabric_manager_is_the_daemon_package_not_its_sdk() {
        for name in [
            "nvidia-fabricmanager-580",
            "nvidia-fabricmanager",
            "nvidia-fabricmanager-580:amd64",
        ] {
            assert!(is_fabric_manager_package(name), "{name}");
        }
        for name in [
            "nvidia-fabricmanager-dev-580",
            "libnvidia-nscq-580",
            "nvidia-fabricmanagerx",
            "nvidia-driver-580",
        ] {
            assert!(!is_fabric_manager_package(name), "{name}");
        }
    }

    const STATUS: &str = "\
Package: nvidia-driver-580
Status: hold ok installed
Priority: optional
Section: restricted/libs
Installed-Size: 25
Maintainer: Ubuntu Core Developers <ubuntu-devel-discuss@lists.ubuntu.com>
Architecture: amd64
Source: nvidia-graphics-drivers-580
Version: 580.95.05-0ubuntu0.24.04.1
Depends: libnvidia-gl-580 (= 580.95.05-0ubuntu0.24.04.1), nvidia-dkms-580 (<= 580.95.05-1)
Description: NVIDIA driver metapackage
 This metapackage depends on the NVIDIA binary driver and on all of its libraries,
 .
 Package: fake-continuation-line
Original-Maintainer: Debian NVIDIA Maintainers <pkg-nvidia-devel@lists.alioth.debian.org>

Package: libnvidia-compute-580
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 580.95.05-0ubuntu0.24.04.1
Conffiles:
 /etc/foo 0123456789abcdef

Package: nvidia-dkms-580
Status: install ok half-configured
Architecture: amd64
Version: 580.95.05-0ubuntu0.24.04.1

Package: nvidia-utils-535
Status: deinstall ok config-files
Architecture: amd64
Version: 535.183.01-0ubuntu0.22.04.1

Package: nvidia-driver-470
Status: purge ok not-installed
Architecture: amd64

package: htop
status: install ok unpacked
version: 3.3.0-4build1

Package: no-version
Status: install ok installed
Architecture: amd64

Package: bad-status
Status: installed
Version: 1.0
";

    #[test]
    fn status_keeps_installed_and_half_states_and_reads_hold() {
        let packages = parse_dpkg_status(STATUS);
        let names: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "nvidia-driver-580",
                "libnvidia-compute-580",
                "nvidia-dkms-580",
                "htop"
            ]
        );
        let driver = &packages[0];
        assert!(driver.held);
        assert_eq!(driver.version, "580.95.05-0ubuntu0.24.04.1");
        assert_eq!(driver.arch.as_deref(), Some("amd64"));
        assert_eq!(driver.state, "installed");
        assert!(!packages[1].held);
        assert_eq!(packages[2].state, "half-configured");
        assert_eq!(packages[3].arch, None);
        assert_eq!(packages[3].state, "unpacked");
    }

    #[test]
    fn status_survives_garbage_and_missing_blank_lines() {
        assert!(parse_dpkg_status("").is_empty());
        assert!(parse_dpkg_status("\u{0}\u{1}\u{fffd}\n:::\n\n\n").is_empty());
        let glued = "Package: a\nStatus: install ok installed\nVersion: 1\nPackage: b\nStatus: hold ok installed\nVersion: 2";
        let packages = parse_dpkg_status(glued);
        assert_eq!(packages.len(), 2);
        assert_eq!((packages[1].name.as_str(), packages[1].held), ("b", true));
        let crlf = "Package: c\r\nStatus: install ok installed\r\nVersion: 3\r\n\r\n";
        assert_eq!(parse_dpkg_status(crlf)[0].version, "3");
    }

    const AUTO_UPGRADES: &str = "\
APT::Periodic::Update-Package-Lists \"1\";
APT::Periodic::Unattended-Upgrade \"1\";
";

    /// Ubuntu's 50unattended-upgrades, trimmed, with the blacklist an admin adds for the driver.
    const UNATTENDED_UPGRADES: &str = r#"// Automatically upgrade packages from these (origin:archive) pairs
Unattended-Upgrade::Allowed-Origins {
	"${distro_id}:${distro_codename}";
	"${distro_id}:${distro_codename}-security";
//	"${distro_id}:${distro_codename}-updates";
};

// Python regular expressions, matching packages to exclude from upgrading
Unattended-Upgrade::Package-Blacklist {
    // The following matches all packages starting with linux-
//  "linux-";
    "nvidia-";
    "libnvidia-"; /* the user-space libraries */
    # "cuda-";
    "xserver-xorg-video-nvidia-[0-9]+$";
};
Unattended-Upgrade::DevRelease "auto";
"#;

    #[test]
    fn periodic_flag_and_blacklist_are_read_past_comments() {
        let mut config = UnattendedConfig::default();
        parse_apt_conf(AUTO_UPGRADES, &mut config);
        parse_apt_conf(UNATTENDED_UPGRADES, &mut config);
        assert_eq!(config.enabled, Some(true));
        assert_eq!(
            config.blacklist,
            vec!["nvidia-", "libnvidia-", "xserver-xorg-video-nvidia-[0-9]+$"]
        );
    }

    #[test]
    fn later_files_win_for_enabled_and_lists_merge() {
        let mut config = UnattendedConfig::default();
        parse_apt_conf(AUTO_UPGRADES, &mut config);
        parse_apt_conf("APT::Periodic::Unattended-Upgrade \"0\";", &mut config);
        assert_eq!(config.enabled, Some(false));
        parse_apt_conf("apt::periodic::unattended-upgrade \"7\";", &mut config);
        assert_eq!(config.enabled, Some(true));
        parse_apt_conf("APT::Periodic::Unattended-Upgrade \"maybe\";", &mut config);
        assert_eq!(
            config.enabled,
            Some(true),
            "an unreadable value changes nothing"
        );
        parse_apt_conf(
            "Unattended-Upgrade::Package-Blacklist { \"a\"; };",
            &mut config,
        );
        parse_apt_conf(
            "Unattended-Upgrade::Package-Blacklist { \"b\"; \"a\"; };",
            &mut config,
        );
        assert_eq!(config.blacklist, vec!["a", "b"]);
    }

    #[test]
    fn clear_directive_empties_the_blacklist() {
        let mut config = UnattendedConfig::default();
        parse_apt_conf(UNATTENDED_UPGRADES, &mut config);
        parse_apt_conf("#clear Unattended-Upgrade::Package-Blacklist;\nUnattended-Upgrade::Package-Blacklist { \"cuda-\"; };", &mut config);
        assert_eq!(config.blacklist, vec!["cuda-"]);
    }

    #[test]
    fn nested_and_append_forms_are_understood() {
        let mut config = UnattendedConfig::default();
        let nested = r#"
Unattended-Upgrade {
  Package-Blacklist {
     "nvidia-driver-580$";
  };
  Mail "root";
};
APT { Periodic { Unattended-Upgrade "1"; }; };
Unattended-Upgrade::Package-Blacklist:: "libnvidia-compute-";
"#;
        parse_apt_conf(nested, &mut config);
        assert_eq!(config.enabled, Some(true));
        assert_eq!(
            config.blacklist,
            vec!["nvidia-driver-580$", "libnvidia-compute-"]
        );
        let mut other = UnattendedConfig::default();
        parse_apt_conf(
            "Unattended-Upgrade::Allowed-Origins { \"nvidia-\"; };",
            &mut other,
        );
        assert!(
            other.blacklist.is_empty(),
            "other lists are not the blacklist"
        );
    }

    #[test]
    fn garbled_conf_never_panics() {
        for text in [
            "",
            "\"unterminated",
            "/* unterminated",
            "Unattended-Upgrade::Package-Blacklist { \"x\"",
            "}}}};;;{{{",
            "#clear",
            "é::ü \"ß\"; /",
            "\u{0}\u{1}\u{fffd}",
            "Unattended-Upgrade::Package-Blacklist { \"ok\"; } \"unterminated",
        ] {
            let mut config = UnattendedConfig::default();
            parse_apt_conf(text, &mut config);
        }
        let mut config = UnattendedConfig::default();
        parse_apt_conf("Unattended-Upgrade::Package-Blacklist { \"x\"", &mut config);
        assert_eq!(config.blacklist, vec!["x"]);
    }

    #[test]
    fn blacklist_uses_python_re_match_semantics() {
        assert!(blacklist_matches("nvidia-", "nvidia-driver-580"));
        assert!(!blacklist_matches("nvidia-", "libnvidia-compute-580"));
        assert!(blacklist_matches("libnvidia-", "libnvidia-compute-580"));
        // Anchored at the start only: a prefix entry matches longer names, `$` makes it exact.
        assert!(blacklist_matches(
            "nvidia-driver-580",
            "nvidia-driver-580-open"
        ));
        assert!(!blacklist_matches(
            "nvidia-driver-580$",
            "nvidia-driver-580-open"
        ));
        assert!(blacklist_matches("nvidia-driver-580$", "nvidia-driver-580"));
        assert!(blacklist_matches("(lib)?nvidia-.*", "libnvidia-gl-580"));
        assert!(
            blacklist_matches("a|nvidia", "nvidia-utils-580"),
            "alternation stays anchored as a group"
        );
        assert!(!blacklist_matches("a|nvidia", "xnvidia"));
        assert!(
            !blacklist_matches("nvidia-[", "nvidia-["),
            "invalid regex never matches"
        );
        assert!(!blacklist_matches("(", "anything"));
    }

    fn installed(name: &str, held: bool) -> InstalledPackage {
        InstalledPackage {
            name: name.to_string(),
            version: "580.95.05-0ubuntu0.24.04.1".to_string(),
            arch: Some("amd64".to_string()),
            held,
            state: "installed".to_string(),
        }
    }

    #[test]
    fn unprotected_packages_are_driver_packages_neither_held_nor_blacklisted() {
        let packages = vec![
            installed("nvidia-driver-580", true),
            installed("libnvidia-compute-580", false),
            installed("nvidia-utils-580", false),
            installed("nvidia-dkms-580", false),
            installed("htop", false),
            installed("nvidia-container-toolkit", false),
        ];
        // Only the held metapackage is protected without a blacklist: its dependencies still upgrade.
        assert_eq!(
            unprotected_driver_packages(None, &packages),
            vec![
                "libnvidia-compute-580",
                "nvidia-dkms-580",
                "nvidia-utils-580"
            ]
        );
        let config = UnattendedConfig {
            enabled: Some(true),
            blacklist: vec!["nvidia-".to_string()],
        };
        // `nvidia-` leaves libnvidia-* exposed: the classic half-protection.
        assert_eq!(
            unprotected_driver_packages(Some(&config), &packages),
            vec!["libnvidia-compute-580"]
        );
        let config = UnattendedConfig {
            enabled: Some(true),
            blacklist: vec!["nvidia-".to_string(), "libnvidia-".to_string()],
        };
        assert!(unprotected_driver_packages(Some(&config), &packages).is_empty());
    }

    /// The incident host's own files: an empty blacklist and nothing held leaves every driver package exposed.
    #[test]
    fn incident_fixture_leaves_every_driver_package_exposed() {
        let mut config = UnattendedConfig::default();
        parse_apt_conf(
            include_str!("../../tests/fixtures/incident/etc/apt/apt.conf.d/20auto-upgrades"),
            &mut config,
        );
        parse_apt_conf(
            include_str!("../../tests/fixtures/incident/etc/apt/apt.conf.d/50unattended-upgrades"),
            &mut config,
        );
        assert_eq!(config.enabled, Some(true));
        assert!(
            config.blacklist.is_empty(),
            "the commented-out entries are not entries"
        );
        let packages = parse_dpkg_status(include_str!(
            "../../tests/fixtures/incident/var/lib/dpkg/status"
        ));
        assert!(
            packages.iter().all(|p| p.name != "nvidia-driver-570"),
            "config-files only"
        );
        assert_eq!(
            unprotected_driver_packages(Some(&config), &packages),
            vec![
                "libnvidia-compute-580",
                "libnvidia-gl-580",
                "nvidia-compute-utils-580",
                "nvidia-dkms-580",
                "nvidia-driver-580",
                "nvidia-kernel-common-580",
                "nvidia-utils-580",
            ]
        );
    }

    /// Every prefix of the samples (a file cut off) parses without a panic.
    #[test]
    fn every_truncation_of_the_samples_parses() {
        for (cut, _) in STATUS.char_indices() {
            assert!(parse_dpkg_status(&STATUS[..cut]).len() <= 4, "cut at {cut}");
        }
        for (cut, _) in UNATTENDED_UPGRADES.char_indices() {
            let mut config = UnattendedConfig::default();
            parse_apt_conf(&UNATTENDED_UPGRADES[..cut], &mut config);
            assert!(config.blacklist.len() <= 3, "cut at {cut}");
        }
    }

    /// A multiarch host: the 64-bit driver and its 32-bit libraries (`Multi-Arch: same`), as dpkg writes them.
    const MULTIARCH_STATUS: &str = "\
Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.22.6

Package: libnvidia-compute-580
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 580.95.05-0ubuntu1

Package: libnvidia-compute-580
Status: install ok installed
Architecture: i386
Multi-Arch: same
Version: 580.95.05-0ubuntu1

Package: nvidia-kernel-common-580
Status: install ok installed
Architecture: all
Version: 580.95.05-0ubuntu1
";

    #[test]
    fn foreign_packages_carry_their_architecture_as_apt_names_them() {
        let names: Vec<String> = parse_dpkg_status(MULTIARCH_STATUS)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(
            names,
            [
                "dpkg",
                "libnvidia-compute-580",
                "libnvidia-compute-580:i386",
                "nvidia-kernel-common-580"
            ]
        );
        // Without dpkg's own stanza nothing is guessed foreign.
        let without_dpkg = MULTIARCH_STATUS.replacen("Package: dpkg", "Package: other", 1);
        let names: Vec<String> = parse_dpkg_status(&without_dpkg)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert!(names.iter().all(|n| !n.contains(':')), "{names:?}");
    }

    #[test]
    fn an_exact_entry_for_the_native_name_leaves_the_foreign_package_exposed() {
        let packages = parse_dpkg_status(MULTIARCH_STATUS);
        let config = UnattendedConfig {
            enabled: Some(true),
            blacklist: vec!["libnvidia-compute-580$".into(), "nvidia-".into()],
        };
        assert_eq!(
            unprotected_driver_packages(Some(&config), &packages),
            vec!["libnvidia-compute-580:i386"]
        );
        let both = UnattendedConfig {
            blacklist: vec![
                "libnvidia-compute-580$".into(),
                "libnvidia-compute-580:i386$".into(),
                "nvidia-".into(),
            ],
            ..config
        };
        assert!(unprotected_driver_packages(Some(&both), &packages).is_empty());
    }

    #[test]
    fn an_entry_python_rejects_protects_nothing() {
        // `^(?:x)|(nvidia)` in the regex crate would match every *nvidia* name; Python refuses the entry.
        let blacklist = Blacklist::new(&["x)|(nvidia".to_string(), "cuda-".to_string()]);
        assert!(!blacklist.protects("libnvidia-compute-580"));
        assert!(blacklist.protects("cuda-drivers"));
        assert_eq!(
            blacklist.invalid().collect::<Vec<_>>(),
            vec![("x)|(nvidia", "unbalanced parenthesis")]
        );
        assert_eq!(blacklist.unchecked().count(), 0);
    }

    #[test]
    fn each_entry_is_compiled_once_however_many_packages() {
        // Ten `\w{500}` entries against 400 packages: compiled per package this took minutes.
        let config = UnattendedConfig {
            enabled: Some(true),
            blacklist: (0..10).map(|i| format!("\\w{{500}}{i}")).collect(),
        };
        let packages: Vec<InstalledPackage> = (0..400)
            .map(|i| InstalledPackage {
                name: format!("libnvidia-lib{i}-580"),
                version: "1".into(),
                arch: None,
                held: false,
                state: "installed".into(),
            })
            .collect();
        let started = std::time::Instant::now();
        assert_eq!(
            unprotected_driver_packages(Some(&config), &packages).len(),
            400
        );
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }
}
