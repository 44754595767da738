//! The man pages: nvfix(1), one page per command from clap's model plus the command's [`CommandDoc`], and
//! nvfix-playbook(5). Pure text in, roff out; `nvfix man DIR` writes them, a drift test compares them with man/.

pub mod playbook_format;
pub mod reference;
pub mod roff;

use crate::commands::doc::{doc_for, CommandDoc, ExitDoc};
use crate::exit;
use roff::{bold, escape, italic, Roff};

const MANUAL: &str = "nvfix manual";

fn source() -> String {
    format!("nvfix {}", env!("CARGO_PKG_VERSION"))
}

/// A command to document: its path below nvfix (`""` for nvfix itself, `"playbook check"`), clap's model of it,
/// and its text.
pub struct Documented<'a> {
    pub path: String,
    pub cmd: &'a clap::Command,
    pub doc: &'static CommandDoc,
}

impl Documented<'_> {
    fn full_name(&self) -> String {
        if self.path.is_empty() {
            "nvfix".into()
        } else {
            format!("nvfix {}", self.path)
        }
    }
    /// `nvfix-playbook-check`.
    pub fn page_name(&self) -> String {
        self.full_name().replace(' ', "-")
    }
}

/// The visible commands below `cmd` (not hidden, not clap's `help`).
pub fn visible(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// Every command below `top` (a built clap command) with its doc, depth first; an error names a command without one.
pub fn documented(top: &clap::Command) -> Result<Vec<Documented<'_>>, String> {
    fn walk<'a>(
        cmd: &'a clap::Command,
        path: String,
        out: &mut Vec<Documented<'a>>,
    ) -> Result<(), String> {
        let doc = doc_for(&path).ok_or_else(|| {
            format!(
                "`nvfix {path}` has no man page text: add its CommandDoc to commands::doc::doc_for"
            )
        })?;
        out.push(Documented {
            path: path.clone(),
            cmd,
            doc,
        });
        for sub in visible(cmd) {
            let sub_path = if path.is_empty() {
                sub.get_name().to_string()
            } else {
                format!("{path} {}", sub.get_name())
            };
            walk(sub, sub_path, out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(top, String::new(), &mut out)?;
    Ok(out)
}

/// The statuses a command's page lists: its declaration's, or for a command group the union of its commands'.
pub fn page_statuses(all: &[Documented<'_>], d: &Documented<'_>) -> Vec<ExitDoc> {
    let children: Vec<&Documented<'_>> = all
        .iter()
        .filter(|c| !d.path.is_empty() && c.path.starts_with(&format!("{} ", d.path)))
        .collect();
    if children.is_empty() {
        return d.doc.statuses();
    }
    let mut codes: Vec<i32> = children
        .iter()
        .flat_map(|c| c.doc.statuses())
        .map(|e| e.code)
        .collect();
    codes.sort();
    codes.dedup();
    codes
        .into_iter()
        .map(crate::commands::doc::general)
        .collect()
}

/// Every page as (file name, roff text), sorted by name.
pub fn pages(top: &clap::Command) -> Result<Vec<(String, String)>, String> {
    let all = documented(top)?;
    let mut out: Vec<(String, String)> = all
        .iter()
        .map(|d| {
            let text = if d.path.is_empty() {
                top_page(&all, d)
            } else {
                command_page(&all, d)
            };
            (format!("{}.1", d.page_name()), text)
        })
        .collect();
    out.push((
        "nvfix-playbook.5".into(),
        playbook_format::page(&source(), MANUAL),
    ));
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn title(d: &Documented<'_>) -> Roff {
    let mut r = Roff::new(&d.page_name().to_uppercase(), "1", &source(), MANUAL);
    r.section("NAME");
    let about = d.cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    r.line(&format!(
        "{} \\- {}",
        escape(&d.page_name()),
        escape(&about)
    ));
    r
}

fn top_page(all: &[Documented<'_>], d: &Documented<'_>) -> String {
    let mut r = title(d);
    r.section("SYNOPSIS");
    r.line(&format!(
        "{} [{}] {} [{}]",
        bold("nvfix"),
        italic("GLOBAL OPTIONS"),
        italic("COMMAND"),
        italic("ARGS")
    ));
    r.section("DESCRIPTION");
    for p in d.doc.description {
        r.paragraph(p);
    }
    r.section("COMMANDS");
    for c in all.iter().filter(|c| !c.path.is_empty()) {
        let about = c.cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        r.tagged(
            &bold(&c.full_name()),
            &format!("{about}. See {}(1).", c.page_name()),
        );
    }
    r.section("GLOBAL OPTIONS");
    r.paragraph("Every command takes these, before or after its name.");
    options(&mut r, d.cmd, true);
    r.section("EXIT STATUS");
    r.paragraph(
        "0 and 1 answer the question asked; 10 and 11 are nvfix auto's; 64 and up say nvfix could not do what was \
         asked (sysexits.h). Each command's page says what its statuses mean for it.",
    );
    // Commands without commands of their own: a group's statuses are its commands'.
    let leaves: Vec<&Documented<'_>> = all
        .iter()
        .filter(|c| !c.path.is_empty() && visible(c.cmd).next().is_none())
        .collect();
    for (code, _, meaning) in exit::ALL {
        let users: Vec<&str> = leaves
            .iter()
            .filter(|c| c.doc.statuses().iter().any(|e| e.code == code))
            .map(|c| c.path.as_str())
            .collect();
        let who = if users.len() == leaves.len() {
            "Every command.".to_string()
        } else {
            format!("From: {}.", users.join(", "))
        };
        r.tagged(&bold(&code.to_string()), &format!("{meaning} {who}"));
    }
    environment(&mut r);
    files(&mut r, reference::FILES.iter().map(|(p, _)| *p));
    examples(&mut r, d.doc);
    let mut refs: Vec<String> = all
        .iter()
        .filter(|c| !c.path.is_empty())
        .map(|c| format!("{}(1)", c.page_name()))
        .collect();
    refs.extend(d.doc.see_also.iter().map(|s| s.to_string()));
    see_also(&mut r, refs);
    r.finish()
}

fn command_page(all: &[Documented<'_>], d: &Documented<'_>) -> String {
    let mut r = title(d);
    r.section("SYNOPSIS");
    r.line(&synopsis(d));
    r.section("DESCRIPTION");
    for p in d.doc.description {
        r.paragraph(p);
    }
    let subcommands: Vec<&clap::Command> = visible(d.cmd).collect();
    if !subcommands.is_empty() {
        r.section("COMMANDS");
        for sub in subcommands {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            let page = format!("{}-{}", d.page_name(), sub.get_name());
            r.tagged(&bold(sub.get_name()), &format!("{about}. See {page}(1)."));
        }
    }
    r.section("OPTIONS");
    options(&mut r, d.cmd, false);
    r.paragraph("The global options (--root, --nvml-lib, --color) are described in nvfix(1).");
    r.section("EXIT STATUS");
    for e in page_statuses(all, d) {
        let meaning = e
            .meaning
            .or_else(|| exit::meaning(e.code))
            .unwrap_or_default();
        r.tagged(&bold(&e.code.to_string()), meaning);
    }
    environment(&mut r);
    if !d.doc.files.is_empty() {
        files(&mut r, d.doc.files.iter().copied());
    }
    examples(&mut r, d.doc);
    let mut refs = vec!["nvfix(1)".to_string()];
    // A command group's page names its commands' pages; a command names its group's.
    for c in all
        .iter()
        .filter(|c| !c.path.is_empty() && c.path != d.path)
    {
        let child = c.path.starts_with(&format!("{} ", d.path));
        let parent = d.path.starts_with(&format!("{} ", c.path));
        if child || parent {
            refs.push(format!("{}(1)", c.page_name()));
        }
    }
    refs.extend(d.doc.see_also.iter().map(|s| s.to_string()));
    see_also(&mut r, refs);
    r.finish()
}

/// `nvfix [GLOBAL OPTIONS] reload [--dry-run] [--grace SECONDS] …`, every option with its argument's name.
fn synopsis(d: &Documented<'_>) -> String {
    let mut words = vec![bold("nvfix"), format!("[{}]", italic("GLOBAL OPTIONS"))];
    words.extend(d.path.split(' ').map(bold));
    for a in own_arguments(d.cmd) {
        let value = value_name(a);
        let word = if a.is_positional() {
            italic(&value)
        } else {
            let flag = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => {
                    format!("{}|{}", bold(&format!("-{s}")), bold(&format!("--{l}")))
                }
                (Some(s), None) => bold(&format!("-{s}")),
                (None, Some(l)) => bold(&format!("--{l}")),
                (None, None) => continue,
            };
            if a.get_action().takes_values() {
                format!("{flag} {}", italic(&value))
            } else {
                flag
            }
        };
        // `\%`: a flag is never hyphenated across lines.
        words.push(if a.is_required_set() {
            format!("\\%{word}")
        } else {
            format!("\\%[{word}]")
        });
    }
    if d.cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        words.push(italic("COMMAND"));
    }
    words.join(" ")
}

/// A command's own arguments: not hidden, not the global ones (nvfix(1) documents those), not help or version.
fn own_arguments(cmd: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments().filter(|a| {
        !a.is_hide_set() && !a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version")
    })
}

fn value_name(a: &clap::Arg) -> String {
    a.get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| a.get_id().as_str().to_uppercase())
}

/// OPTIONS entries: each flag with its argument's name, the help text, its default, its values, its variable.
fn options(r: &mut Roff, cmd: &clap::Command, global: bool) {
    let args: Vec<&clap::Arg> = if global {
        cmd.get_arguments()
            .filter(|a| {
                !a.is_hide_set()
                    && (a.is_global_set() || matches!(a.get_id().as_str(), "help" | "version"))
            })
            .collect()
    } else {
        own_arguments(cmd).collect()
    };
    if args.is_empty() {
        r.paragraph("None of its own.");
        return;
    }
    for a in args {
        let value = value_name(a);
        let mut tag = Vec::new();
        if a.is_positional() {
            tag.push(italic(&value));
        } else {
            if let Some(s) = a.get_short() {
                tag.push(bold(&format!("-{s}")));
            }
            if let Some(l) = a.get_long() {
                tag.push(bold(&format!("--{l}")));
            }
        }
        let mut tag = tag.join(", ");
        if !a.is_positional() && a.get_action().takes_values() {
            tag.push(' ');
            tag.push_str(&italic(&value));
        }
        let mut text = a
            .get_long_help()
            .or_else(|| a.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        if !text.is_empty() && !text.ends_with('.') && !text.ends_with(']') {
            text.push('.');
        }
        let values: Vec<String> = a
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        if !values.is_empty() && a.get_action().takes_values() {
            text.push_str(&format!(" {value} is one of: {}.", values.join(", ")));
        }
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && !a.is_hide_default_value_set() && a.get_action().takes_values() {
            text.push_str(&format!(" Default: {}.", defaults.join(", ")));
        }
        if let Some(env) = a.get_env() {
            text.push_str(&format!(" Also set by {}.", env.to_string_lossy()));
        }
        r.tagged(&tag, text.trim());
    }
}

fn environment(r: &mut Roff) {
    r.section("ENVIRONMENT");
    for (name, what) in reference::ENVIRONMENT {
        r.tagged(&bold(name), what);
    }
}

fn files<'p>(r: &mut Roff, paths: impl Iterator<Item = &'p str>) {
    r.section("FILES");
    for path in paths {
        r.tagged(&italic(path), reference::file(path).unwrap_or_default());
    }
}

fn examples(r: &mut Roff, doc: &CommandDoc) {
    if doc.examples.is_empty() {
        return;
    }
    r.section("EXAMPLES");
    for (line, what) in doc.examples {
        r.tagged(&bold(line), what);
    }
}

/// SEE ALSO: the page's own references, then the tools every page names, each once, as `\fBname\fR(section)`.
fn see_also(r: &mut Roff, mut refs: Vec<String>) {
    refs.extend(reference::SEE_ALSO_EVERYWHERE.iter().map(|s| s.to_string()));
    let mut seen = std::collections::HashSet::new();
    refs.retain(|x| seen.insert(x.clone()));
    r.section("SEE ALSO");
    let linked: Vec<String> = refs
        .iter()
        .map(|x| match x.split_once('(') {
            Some((name, section)) => format!("{}({}", bold(name), escape(section)),
            None => escape(x),
        })
        .collect();
    r.line(&linked.join(", "));
}
