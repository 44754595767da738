//! Which kernel systemd-boot starts next, from its configuration and EFI variables (the rules `bootctl` applies).
//!
//! Entries are Boot Loader Specification files: Type #1 `loader/entries/*.conf` and Type #2 unified kernel images
//! `EFI/Linux/*.efi`, on the ESP or the XBOOTLDR partition. They are sorted as systemd-boot sorts its menu: entries
//! with a `sort-key` first (by sort key, then machine id, then version, newest first), the rest by id, newest first.
//! The default is the first entry matched by `LoaderEntryOneShot` (one boot, from `bootctl set-oneshot`), then
//! `LoaderEntryDefault` (`bootctl set-default`), then `default` in `loader.conf`, each a case-insensitive glob where
//! `@saved` means the entry selected on this boot (`LoaderEntrySelected`); else the first entry.

use super::guards::{compare_kernel_releases, NextBoot};
use std::cmp::Ordering;

/// What systemd-boot's configuration and EFI variables say, as read from the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemdBootConfig {
    /// The `LoaderInfo` EFI variable (`systemd-boot 255.4-1ubuntu8`): systemd-boot started this boot.
    pub loader_info: Option<String>,
    /// `loader/loader.conf` text.
    pub loader_conf: Option<String>,
    /// Entry files: the file name and, for a Type #1 `.conf`, its text (None for a unified kernel image).
    pub entries: Vec<(String, Option<String>)>,
    /// `LoaderEntryOneShot`, `LoaderEntryDefault` and `LoaderEntrySelected`.
    pub one_shot: Option<String>,
    pub default: Option<String>,
    pub selected: Option<String>,
}

impl SystemdBootConfig {
    /// systemd-boot started the running system (its `LoaderInfo` says so).
    pub fn started_this_boot(&self) -> bool {
        self.loader_info
            .as_deref()
            .is_some_and(|i| i.starts_with("systemd-boot"))
    }
}

/// The GUID systemd-boot's EFI variables live under (`/sys/firmware/efi/efivars/<Name>-<GUID>`).
pub const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// A string EFI variable as efivarfs shows it: four bytes of attributes, then UTF-16LE text ending in a NUL.
pub fn efi_string(bytes: &[u8]) -> Option<String> {
    let units: Vec<u16> = bytes
        .get(4..)?
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|&u| u != 0)
        .collect();
    let text = String::from_utf16(&units).ok()?;
    (!text.is_empty()).then_some(text)
}

/// One menu entry, with the fields that order it and say which kernel it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: String,
    sort_key: Option<String>,
    machine_id: Option<String>,
    version: Option<String>,
    linux: Option<String>,
}

/// The entry file's id (its name without a boot-counting `+LEFT[-DONE]` suffix) and fields.
fn parse_entry(file_name: &str, text: Option<&str>) -> Entry {
    let id = strip_tries(file_name);
    let mut entry = Entry {
        id,
        sort_key: None,
        machine_id: None,
        version: None,
        linux: None,
    };
    for line in text.unwrap_or("").lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let value = Some(value.trim().to_string()).filter(|v| !v.is_empty());
        match key {
            "sort-key" => entry.sort_key = value,
            "machine-id" => entry.machine_id = value,
            "version" => entry.version = value,
            "linux" | "efi" => entry.linux = entry.linux.take().or(value),
            _ => {}
        }
    }
    entry
}

/// `linux-6.8+3-1.conf` → `linux-6.8.conf`: the tries counter is not part of the id.
fn strip_tries(file_name: &str) -> String {
    let Some(dot) = file_name.rfind('.') else {
        return file_name.to_string();
    };
    let (stem, suffix) = file_name.split_at(dot);
    let Some(plus) = stem.rfind('+') else {
        return file_name.to_string();
    };
    let counter = &stem[plus + 1..];
    let (left, done) = counter.split_once('-').unwrap_or((counter, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(left) && digits(done) {
        format!("{}{suffix}", &stem[..plus])
    } else {
        file_name.to_string()
    }
}

/// The menu order: sort-keyed entries first (key, machine id, newest version), then the rest by id, newest first.
fn menu_order(a: &Entry, b: &Entry) -> Ordering {
    let newest_first = |x: &Option<String>, y: &Option<String>| {
        compare_kernel_releases(y.as_deref().unwrap_or(""), x.as_deref().unwrap_or(""))
    };
    a.sort_key
        .is_none()
        .cmp(&b.sort_key.is_none())
        .then_with(|| match (&a.sort_key, &b.sort_key) {
            (Some(x), Some(y)) => x
                .cmp(y)
                .then_with(|| a.machine_id.cmp(&b.machine_id))
                .then_with(|| newest_first(&a.version, &b.version)),
            _ => Ordering::Equal,
        })
        .then_with(|| compare_kernel_releases(&b.id, &a.id))
}

/// `default` from loader.conf (the last one wins).
fn default_pattern(loader_conf: &str) -> Option<String> {
    loader_conf
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("default"))
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .map(|rest| rest.trim().to_string())
        .rfind(|v| !v.is_empty())
}

/// fnmatch(3) with FNM_CASEFOLD, for the patterns boot entries are chosen by: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => class_matches(&p[pi..], t[ti]),
            Some(c) if *c == t[ti] => Some(1),
            _ => None,
        };
        match step {
            Some(width) => {
                pi += width;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// When `class` starts with a bracket expression that matches `c`: how many pattern characters it spans.
fn class_matches(class: &[char], c: char) -> Option<usize> {
    let end = class.iter().skip(2).position(|&x| x == ']')? + 2;
    let body = &class[1..end];
    let (negated, body) = match body.first() {
        Some('!') | Some('^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= (body[i]..=body[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    (hit != negated).then_some(end + 1)
}

/// Which kernel systemd-boot starts next, among `kernels` (installed releases).
pub fn next_boot(cfg: &SystemdBootConfig, kernels: &[String]) -> NextBoot {
    let mut entries: Vec<Entry> = cfg
        .entries
        .iter()
        .map(|(name, text)| parse_entry(name, text.as_deref()))
        .collect();
    entries.sort_by(menu_order);
    entries.dedup_by(|a, b| a.id == b.id);
    let find = |pattern: &str| {
        let pattern = if pattern.eq_ignore_ascii_case("@saved") {
            cfg.selected.as_deref()?
        } else {
            pattern
        };
        entries.iter().find(|e| glob_matches(pattern, &e.id))
    };
    let loader_default = cfg.loader_conf.as_deref().and_then(default_pattern);
    let chosen = [
        (
            cfg.one_shot.as_deref(),
            "LoaderEntryOneShot (one boot, from bootctl set-oneshot)",
        ),
        (
            cfg.default.as_deref(),
            "LoaderEntryDefault (bootctl set-default)",
        ),
        (loader_default.as_deref(), "loader.conf default"),
    ]
    .into_iter()
    .find_map(|(pattern, why)| {
        let pattern = pattern?;
        find(pattern).map(|e| {
            (
                e,
                format!("systemd-boot: {why} `{pattern}` selects entry {}", e.id),
            )
        })
    })
    .or_else(|| {
        entries.first().map(|e| {
            (
                e,
                format!(
                    "systemd-boot: no default set, the first menu entry {} (newest first)",
                    e.id
                ),
            )
        })
    });
    let Some((entry, rule)) = chosen else {
        return NextBoot {
            kernel: None,
            rule: "systemd-boot: no boot entries found (loader/entries/*.conf, EFI/Linux/*.efi)"
                .into(),
        };
    };
    // The entry's version when it names an installed kernel, else the release its kernel path or id contains.
    let named = |text: &str| {
        kernels
            .iter()
            .filter(|k| text.contains(k.as_str()))
            .max_by_key(|k| k.len())
    };
    let kernel = [
        entry.version.as_deref(),
        entry.linux.as_deref(),
        Some(entry.id.as_str()),
    ]
    .into_iter()
    .flatten()
    .find_map(named);
    match kernel {
        Some(k) => NextBoot {
            kernel: Some(k.clone()),
            rule: format!("{rule}, which starts kernel {k}"),
        },
        None => NextBoot {
            kernel: None,
            rule: format!("{rule}, which names no installed kernel"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const MACHINE: &str = "0123456789abcdef0123456789abcdef";

    /// kernel-install's Type #1 entries for two kernels (sort key and version set, as it writes them).
    fn two_kernels() -> SystemdBootConfig {
        let entry = |release: &str| {
            (
                format!("{MACHINE}-{release}.conf"),
                Some(format!(
                    "title      Ubuntu 24.04 LTS\nversion    {release}\nmachine-id {MACHINE}\nsort-key   ubuntu\n\
                     options    root=UUID=x ro\nlinux      /{MACHINE}/{release}/linux\ninitrd     /{MACHINE}/{release}/initrd\n"
                )),
            )
        };
        SystemdBootConfig {
            loader_info: Some("systemd-boot 255.4-1ubuntu8".into()),
            loader_conf: Some("timeout 3\n#default x\n".into()),
            entries: vec![entry("6.8.0-85-generic"), entry("6.8.0-100-generic")],
            ..Default::default()
        }
    }

    const KERNELS: &[&str] = &["6.8.0-85-generic", "6.8.0-100-generic"];

    #[test]
    fn without_a_default_the_newest_entry_boots() {
        let next = next_boot(&two_kernels(), &ks(KERNELS));
        assert_eq!(
            next.kernel.as_deref(),
            Some("6.8.0-100-generic"),
            "{}",
            next.rule
        );
        assert!(next.rule.contains("no default set"), "{}", next.rule);
    }

    #[test]
    fn one_shot_then_efi_default_then_loader_conf_decide() {
        let mut cfg = two_kernels();
        cfg.loader_conf = Some("default *-6.8.0-85-generic.conf\n".into());
        assert_eq!(
            next_boot(&cfg, &ks(KERNELS)).kernel.as_deref(),
            Some("6.8.0-85-generic")
        );
        cfg.default = Some(format!("{MACHINE}-6.8.0-100-generic.conf"));
        assert_eq!(
            next_boot(&cfg, &ks(KERNELS)).kernel.as_deref(),
            Some("6.8.0-100-generic")
        );
        cfg.one_shot = Some(format!("{}-6.8.0-85-GENERIC.conf", MACHINE.to_uppercase()));
        let next = next_boot(&cfg, &ks(KERNELS));
        assert_eq!(
            next.kernel.as_deref(),
            Some("6.8.0-85-generic"),
            "case-insensitive: {}",
            next.rule
        );
        assert!(next.rule.contains("LoaderEntryOneShot"), "{}", next.rule);
        // A pattern that matches nothing falls through to the next rule.
        cfg.one_shot = Some("gone.conf".into());
        assert_eq!(
            next_boot(&cfg, &ks(KERNELS)).kernel.as_deref(),
            Some("6.8.0-100-generic")
        );
    }

    #[test]
    fn saved_means_the_entry_selected_this_boot() {
        let mut cfg = two_kernels();
        cfg.loader_conf = Some("default @saved\n".into());
        cfg.selected = Some(format!("{MACHINE}-6.8.0-85-generic.conf"));
        assert_eq!(
            next_boot(&cfg, &ks(KERNELS)).kernel.as_deref(),
            Some("6.8.0-85-generic")
        );
        cfg.selected = None;
        assert_eq!(
            next_boot(&cfg, &ks(KERNELS)).kernel.as_deref(),
            Some("6.8.0-100-generic")
        );
    }

    #[test]
    fn unified_images_and_plain_entries_sort_by_id_newest_first() {
        let cfg = SystemdBootConfig {
            entries: vec![
                ("ubuntu-6.8.0-85-generic.efi".into(), None),
                ("ubuntu-6.8.0-100-generic+2-1.efi".into(), None),
                (
                    "arch.conf".into(),
                    Some("title Arch\nlinux /vmlinuz-linux\n".into()),
                ),
            ],
            ..Default::default()
        };
        let next = next_boot(&cfg, &ks(KERNELS));
        // `ubuntu-…` > `arch.conf` by id; among them 100 is newer than 85; the tries suffix is not part of the id.
        assert_eq!(
            next.kernel.as_deref(),
            Some("6.8.0-100-generic"),
            "{}",
            next.rule
        );
        assert!(
            next.rule.contains("ubuntu-6.8.0-100-generic.efi"),
            "{}",
            next.rule
        );
        // An entry that names no installed kernel (Arch's `linux`) is unknown, not guessed.
        let arch = SystemdBootConfig {
            loader_conf: Some("default arch.conf".into()),
            ..cfg
        };
        assert_eq!(next_boot(&arch, &ks(KERNELS)).kernel, None);
        assert_eq!(
            next_boot(&SystemdBootConfig::default(), &ks(KERNELS)).kernel,
            None
        );
    }

    #[test]
    fn efi_variables_decode() {
        let mut bytes = vec![0x07, 0, 0, 0];
        for u in "systemd-boot 255".encode_utf16().chain([0]) {
            bytes.extend(u.to_le_bytes());
        }
        assert_eq!(efi_string(&bytes).as_deref(), Some("systemd-boot 255"));
        assert_eq!(efi_string(&[7, 0, 0]), None);
        assert_eq!(efi_string(&[7, 0, 0, 0, 0, 0]), None);
        assert_eq!(
            efi_string(&[7, 0, 0, 0, 0x00, 0xd8, 0x41, 0x00]),
            None,
            "a lone surrogate"
        );
    }

    #[test]
    fn junk_never_panics() {
        const PIECES: [&str; 14] = [
            "[", "]", "!", "-", "*", "?", "a", "Ä", "\0", "+", ".", "conf", "default ", "\n",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut junk = || {
            let mut text = String::new();
            for _ in 0..(seed % 9) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            }
            seed = seed.wrapping_add(0x9e37_79b9);
            text
        };
        for _ in 0..2000 {
            let (pattern, text) = (junk(), junk());
            let _ = glob_matches(&pattern, &text);
            let _ = strip_tries(&text);
            let cfg = SystemdBootConfig {
                loader_conf: Some(format!("default {pattern}")),
                entries: vec![(junk(), Some(junk())), (junk(), None)],
                one_shot: Some(junk()),
                ..Default::default()
            };
            let _ = next_boot(&cfg, &ks(KERNELS));
        }
    }

    #[test]
    fn globs_and_ids() {
        assert!(glob_matches("*-6.8.0-85-*", "abc-6.8.0-85-generic.conf"));
        assert!(glob_matches("ubuntu-?.conf", "UBUNTU-1.conf"));
        assert!(glob_matches("[a-c]x[!0-9]", "bxz"));
        assert!(!glob_matches("[a-c]x[!0-9]", "bx5"));
        assert!(!glob_matches("*.efi", "x.conf"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("[unclosed", "u"));
        assert_eq!(strip_tries("linux-6.8+3-1.conf"), "linux-6.8.conf");
        assert_eq!(strip_tries("linux-6.8+3.conf"), "linux-6.8.conf");
        assert_eq!(strip_tries("a+b.conf"), "a+b.conf");
        assert_eq!(strip_tries("noext"), "noext");
        assert_eq!(
            default_pattern("default  a.conf\ndefault b.conf\n# default c"),
            Some("b.conf".into())
        );
        assert_eq!(default_pattern("defaults x\ndefault\n"), None);
    }
}
