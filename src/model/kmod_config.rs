//! Which file modprobe loads for a module name, resolved the way kmod does.
//!
//! `modprobe.d` aliases (and Debian's `install … modprobe -i` redirects) first, then `modules.dep` by name, checked
//! against the `depmod.d` search order and overrides that wrote `modules.dep`.
//!
//! Pure: the host layer hands in the files' text. Module names are compared normalised (`-` → `_`), as kmod does.

use std::collections::BTreeMap;

/// One `modules.dep` line: a module file (relative to `/lib/modules/<kernel>/`, or absolute) and its dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepEntry {
    pub path: String,
    pub deps: Vec<String>,
    /// 1-based line in `modules.dep`.
    pub line: usize,
}

/// `modules.dep`, keyed by module name (the file name without `.ko[.xz|.zst|.gz]`, normalised).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModulesDep {
    pub by_name: BTreeMap<String, DepEntry>,
}

/// A module name as kmod compares it: `nvidia-uvm` and `nvidia_uvm` are the same module.
pub fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

/// The module name a module file carries by its file name: `updates/dkms/nvidia-uvm.ko.zst` → `nvidia_uvm`.
pub fn module_name_of_path(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let base = [".ko.zst", ".ko.xz", ".ko.gz", ".ko"]
        .iter()
        .find_map(|s| file.strip_suffix(s))
        .unwrap_or(file);
    normalise(base)
}

/// Parses `modules.dep` (`updates/dkms/nvidia-drm.ko.zst: kernel/drivers/gpu/drm/drm_kms_helper.ko.zst …`).
/// Lines without `:` are skipped; the first line for a name wins (depmod writes one).
pub fn parse_modules_dep(text: &str) -> ModulesDep {
    let mut dep = ModulesDep::default();
    for (i, line) in text.lines().enumerate() {
        let Some((path, deps)) = line.split_once(':') else {
            continue;
        };
        let path = path.trim();
        if path.is_empty() || path.starts_with('#') {
            continue;
        }
        dep.by_name
            .entry(module_name_of_path(path))
            .or_insert(DepEntry {
                path: path.to_string(),
                deps: deps.split_whitespace().map(str::to_string).collect(),
                line: i + 1,
            });
    }
    dep
}

/// The host path of a `modules.dep` path: relative ones lie under `/lib/modules/<kernel>/`.
pub fn host_path(kernel: &str, dep_path: &str) -> String {
    if dep_path.starts_with('/') {
        dep_path.to_string()
    } else {
        format!("/lib/modules/{kernel}/{dep_path}")
    }
}

/// Logical lines of a kmod configuration file: `#` comments dropped, a trailing `\` joins the next line.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        if current.is_empty() && raw.trim_start().starts_with('#') {
            continue;
        }
        match raw.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(raw);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// An `alias <name> <module>` line of a `modprobe.d` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModprobeAlias {
    pub alias: String,
    pub module: String,
    /// The file it came from.
    pub file: String,
}

/// The renaming lines of one `modprobe.d` file, names normalised: `alias <name> <module>`, and Debian's
/// `install nvidia modprobe -i nvidia-current $CMDLINE_OPTS` (an install command whose last step is
/// `modprobe -i <module>` loads that module instead). Other commands (options, blacklist, …) are skipped.
pub fn parse_modprobe_aliases(file: &str, text: &str) -> Vec<ModprobeAlias> {
    logical_lines(text)
        .iter()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (alias, module) = match (words.next(), words.next()) {
                (Some("alias"), Some(alias)) => (alias, words.next()?.to_string()),
                (Some("install"), Some(name)) => {
                    let command = line.splitn(3, char::is_whitespace).nth(2).unwrap_or("");
                    (name, install_target(command)?)
                }
                _ => return None,
            };
            Some(ModprobeAlias {
                alias: normalise(alias),
                module: normalise(&module),
                file: file.to_string(),
            })
        })
        .collect()
}

/// The module an install command loads in the end: the name after `modprobe -i` (or `--ignore-install`) in its last
/// `;`/`&&`-separated step that has one. None for any other command (nvfix cannot tell what it loads).
fn install_target(command: &str) -> Option<String> {
    command.split([';', '&', '|']).rev().find_map(|step| {
        let words: Vec<&str> = step.split_whitespace().collect();
        let (program, args) = words.split_first()?;
        if !program.ends_with("modprobe")
            || !args.iter().any(|a| *a == "-i" || *a == "--ignore-install")
        {
            return None;
        }
        args.iter()
            .find(|a| !a.starts_with('-') && !a.starts_with('$') && !a.contains('='))
            .map(|a| a.to_string())
    })
}

/// kmod looks config aliases up by name with shell wildcards (`fnmatch`); `*`, `?` and literal characters are
/// supported here (bracket classes match nothing, so such an alias is never taken for a plain name).
fn wildcard_matches(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative, with one backtrack point for the last `*` (a later `*` supersedes it): trying every split
    // recursively took exponential time on `*********x` (found by fuzzing).
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&n) = name.get(ni) {
        match pattern.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&p) if p == b'?' || (p == n && p != b'[') => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((star_pi, star_ni)) => {
                    pi = star_pi + 1;
                    ni = star_ni + 1;
                    star = Some((star_pi, star_ni + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(pi..)
        .unwrap_or_default()
        .iter()
        .all(|&c| c == b'*')
}

/// `depmod.d`'s `search` and `override` lines, in the order read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepmodConfig {
    /// Folders in priority order; `built-in` stands for the kernel's own tree (`kernel/`).
    pub search: Vec<String>,
    pub overrides: Vec<DepmodOverride>,
}

/// `override <module> <kernel> <subdir>`: depmod takes the module from that folder whatever the search order says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepmodOverride {
    pub module: String,
    pub kernel: String,
    pub subdir: String,
}

/// Adds one `depmod.d` file's `search` and `override` lines to `config` (files are read in depmod's order).
pub fn parse_depmod_config(text: &str, config: &mut DepmodConfig) {
    for line in logical_lines(text) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["search", dirs @ ..] => config.search.extend(dirs.iter().map(|d| d.to_string())),
            ["override", module, kernel, subdir, ..] => config.overrides.push(DepmodOverride {
                module: normalise(module),
                kernel: kernel.to_string(),
                subdir: subdir.trim_matches('/').to_string(),
            }),
            _ => {}
        }
    }
}

impl DepmodConfig {
    /// depmod's rank for a file (relative to the kernel's folder): lower wins. An override for the module puts its
    /// folder first; then the search list (`built-in` matches `kernel/`); folders not listed come last. Without any
    /// `search` line depmod searches `updates` before the built-in tree.
    fn rank(&self, name: &str, kernel: &str, rel_path: &str) -> usize {
        let in_dir = |dir: &str| {
            let dir = if dir == "built-in" { "kernel" } else { dir };
            rel_path.starts_with(&format!("{}/", dir.trim_matches('/')))
        };
        let overridden = self.overrides.iter().any(|o| {
            o.module == name
                && wildcard_matches(o.kernel.as_bytes(), kernel.as_bytes())
                && in_dir(&o.subdir)
        });
        if overridden {
            return 0;
        }
        let default = ["updates".to_string(), "built-in".to_string()];
        let search = if self.search.is_empty() {
            &default[..]
        } else {
            &self.search[..]
        };
        search
            .iter()
            .position(|d| in_dir(d))
            .map_or(search.len() + 1, |i| i + 1)
    }

    /// The file depmod would pick for `name` among `candidates` (paths relative to the kernel's folder); ties go to
    /// the first candidate.
    pub fn pick<'c>(&self, name: &str, kernel: &str, candidates: &'c [String]) -> Option<&'c str> {
        candidates
            .iter()
            .enumerate()
            .min_by_key(|(i, c)| (self.rank(name, kernel, c), *i))
            .map(|(_, c)| c.as_str())
    }
}

/// How a requested module name resolved: which config alias (if any) renamed it, and its `modules.dep` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub requested: String,
    /// The module name looked up in `modules.dep` (the alias target, or the requested name).
    pub module: String,
    pub alias: Option<ModprobeAlias>,
    pub entry: Option<DepEntry>,
}

/// Resolves a name as `modprobe <name>` does: a `modprobe.d` alias first, then `modules.dep` by name.
pub fn resolve(name: &str, aliases: &[ModprobeAlias], dep: &ModulesDep) -> Resolution {
    let requested = normalise(name);
    let alias = aliases
        .iter()
        .find(|a| wildcard_matches(a.alias.as_bytes(), requested.as_bytes()))
        .cloned();
    let module = alias
        .as_ref()
        .map_or(requested.clone(), |a| a.module.clone());
    Resolution {
        entry: dep.by_name.get(&module).cloned(),
        requested,
        module,
        alias,
    }
}

/// The `insmod <path>` lines `modprobe --show-depends` prints, in order (`builtin <name>` lines are skipped).
pub fn parse_show_depends(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("insmod "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "6.8.0-85-generic";

    #[test]
    fn modules_dep_lines_relative_and_absolute() {
        let dep = parse_modules_dep(
            "kernel/drivers/gpu/drm/drm.ko.zst:\n\
             updates/dkms/nvidia-drm.ko.zst: kernel/drivers/gpu/drm/drm_kms_helper.ko.zst updates/dkms/nvidia-modeset.ko.zst\n\
             garbage without colon\n\
             /opt/extra/nvidia.ko: \n\
             updates/dkms/nvidia.ko.zst:\n",
        );
        let drm = &dep.by_name["nvidia_drm"];
        assert_eq!(drm.path, "updates/dkms/nvidia-drm.ko.zst");
        assert_eq!(drm.deps.len(), 2);
        assert_eq!(drm.line, 2);
        // The first line for a name wins.
        assert_eq!(dep.by_name["nvidia"].path, "/opt/extra/nvidia.ko");
        assert_eq!(host_path(K, "/opt/extra/nvidia.ko"), "/opt/extra/nvidia.ko");
        assert_eq!(
            host_path(K, "updates/dkms/nvidia.ko.zst"),
            "/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst"
        );
        assert!(parse_modules_dep("").by_name.is_empty());
        assert!(parse_modules_dep("\u{0}\u{ff}:::\n:").by_name.len() <= 1);
    }

    #[test]
    fn aliases_with_comments_continuations_and_dashes() {
        let text = "# alias nvidia nouveau\nalias nvidia nvidia_367\nalias nvidia-uvm \\\n  nvidia_367_uvm\n\
                    options nvidia NVreg_X=1\nblacklist nouveau\nalias\n";
        let aliases = parse_modprobe_aliases("/etc/modprobe.d/nvidia.conf", text);
        assert_eq!(aliases.len(), 2);
        let dep = parse_modules_dep(
            "updates/dkms/nvidia_367.ko: \nupdates/dkms/nvidia_367_uvm.ko: updates/dkms/nvidia_367.ko\n",
        );
        let r = resolve("nvidia", &aliases, &dep);
        assert_eq!(r.module, "nvidia_367");
        assert_eq!(r.entry.unwrap().path, "updates/dkms/nvidia_367.ko");
        assert_eq!(r.alias.unwrap().file, "/etc/modprobe.d/nvidia.conf");
        let r = resolve("nvidia_uvm", &aliases, &dep);
        assert_eq!(r.module, "nvidia_367_uvm");
        let r = resolve("nvidia_drm", &aliases, &dep);
        assert_eq!((r.module.as_str(), r.entry), ("nvidia_drm", None));
    }

    #[test]
    fn debian_install_commands_redirect_to_the_current_modules() {
        let text = "install nvidia modprobe -i nvidia-current $CMDLINE_OPTS\n\n\
                    install nvidia-modeset modprobe nvidia ; modprobe -i nvidia-current-modeset $CMDLINE_OPTS\n\
                    install nvidia-drm modprobe nvidia-modeset ; modprobe -i nvidia-current-drm modeset=1 $CMDLINE_OPTS\n\
                    install nvidia-fs /bin/true\n\
                    install nvidia-uvm /sbin/modprobe --ignore-install nvidia-uvm; /usr/bin/nvidia-smi -pm 1\n\
                    remove nvidia modprobe -r -i nvidia-drm nvidia-current\n";
        let aliases = parse_modprobe_aliases("/etc/modprobe.d/nvidia.conf", text);
        let pairs: Vec<(&str, &str)> = aliases
            .iter()
            .map(|a| (a.alias.as_str(), a.module.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("nvidia", "nvidia_current"),
                ("nvidia_modeset", "nvidia_current_modeset"),
                ("nvidia_drm", "nvidia_current_drm"),
                ("nvidia_uvm", "nvidia_uvm"),
            ]
        );
    }

    #[test]
    fn wildcard_aliases() {
        assert!(wildcard_matches(b"nvidia*", b"nvidia_uvm"));
        assert!(wildcard_matches(b"nv?dia", b"nvidia"));
        assert!(!wildcard_matches(b"nvidia", b"nvidia_uvm"));
        assert!(!wildcard_matches(b"[nv]vidia", b"nvidia"));
        assert!(wildcard_matches(b"*", b""));
        assert!(wildcard_matches(b"*_uvm", b"nvidia_uvm"));
        assert!(wildcard_matches(b"n*i*a", b"nvidia"));
        assert!(!wildcard_matches(b"n*[*", b"nvidia["));
        assert!(!wildcard_matches(b"?", b""));
    }

    /// Found by fuzzing: an override whose kernel pattern is a run of stars took exponential time to fail.
    #[test]
    fn a_run_of_stars_in_an_override_fails_at_once() {
        let mut config = DepmodConfig::default();
        let stars = "*".repeat(40);
        let text =
            format!("search built-in updates\noverride nvidia 6.8.0-{stars}x updates/dkms\n");
        parse_depmod_config(&text, &mut config);
        let cands = vec![
            "kernel/nvidia-580/nvidia.ko".to_string(),
            "updates/dkms/nvidia.ko.zst".to_string(),
        ];
        // The override does not name this kernel: the search order decides.
        let kernel = "6.8.0-85-generic-with-a-long-local-version-tail";
        assert_eq!(
            config.pick("nvidia", kernel, &cands),
            Some("kernel/nvidia-580/nvidia.ko")
        );
        assert!(!wildcard_matches(
            format!("6.8.0-{stars}x").as_bytes(),
            kernel.as_bytes()
        ));
        assert!(wildcard_matches(
            format!("6.8.0-{stars}x").as_bytes(),
            b"6.8.0-85-generix"
        ));
    }

    #[test]
    fn depmod_search_order_and_overrides() {
        let cands = vec![
            "kernel/nvidia-580/nvidia.ko".to_string(),
            "updates/dkms/nvidia.ko.zst".to_string(),
            "extra/nvidia.ko.xz".to_string(),
        ];
        let ubuntu = {
            let mut c = DepmodConfig::default();
            parse_depmod_config("# ubuntu\nsearch updates ubuntu built-in\n", &mut c);
            c
        };
        assert_eq!(
            ubuntu.pick("nvidia", K, &cands),
            Some("updates/dkms/nvidia.ko.zst")
        );
        let mut rhel = DepmodConfig::default();
        parse_depmod_config("search extra built-in\n", &mut rhel);
        assert_eq!(rhel.pick("nvidia", K, &cands), Some("extra/nvidia.ko.xz"));
        let mut over = ubuntu.clone();
        parse_depmod_config("override nvidia 6.8.0-* kernel/nvidia-580\n", &mut over);
        assert_eq!(
            over.pick("nvidia", K, &cands),
            Some("kernel/nvidia-580/nvidia.ko")
        );
        // An override for another kernel does not apply.
        let mut other = ubuntu.clone();
        parse_depmod_config("override nvidia 5.15.* kernel/nvidia-580\n", &mut other);
        assert_eq!(
            other.pick("nvidia", K, &cands),
            Some("updates/dkms/nvidia.ko.zst")
        );
        // No search line: updates, then the built-in tree, then the rest.
        assert_eq!(
            DepmodConfig::default().pick("nvidia", K, &cands),
            Some("updates/dkms/nvidia.ko.zst")
        );
        assert_eq!(DepmodConfig::default().pick("nvidia", K, &[]), None);
    }

    #[test]
    fn show_depends_output() {
        let out = "builtin drm\ninsmod /lib/modules/6.8.0-85-generic/kernel/drivers/gpu/drm/drm_kms_helper.ko.zst \n\
                   insmod /lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst NVreg_X=1\n";
        assert_eq!(
            parse_show_depends(out),
            vec![
                "/lib/modules/6.8.0-85-generic/kernel/drivers/gpu/drm/drm_kms_helper.ko.zst",
                "/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst"
            ]
        );
        assert!(parse_show_depends("modprobe: FATAL: Module nvidia not found").is_empty());
    }
}
