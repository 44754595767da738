//! The man pages say what each command really does: every command has its text, each page lists exactly its own
//! exit statuses (from the command's one declaration, held to the statuses its code names), the named files are
//! described, nvfix-playbook(5) covers every key of the schema, and groff reads every page without a warning.

use clap::CommandFactory;
use nvfix::commands::doc::{doc_for, EVERY_COMMAND};
use nvfix::render::man::{documented, page_statuses, reference};
use std::collections::BTreeSet;
use std::path::Path;

fn built_command() -> clap::Command {
    let mut top = nvfix::cli::Cli::command().disable_help_subcommand(true);
    top.build();
    top
}

fn page(name: &str) -> String {
    let pages = nvfix::commands::man::pages().unwrap();
    let (_, text) = pages
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"));
    String::from_utf8(text.clone()).unwrap()
}

/// The codes a page's EXIT STATUS section lists (`.TP` then `\fB<code>\fR`).
fn listed_statuses(page: &str) -> BTreeSet<i32> {
    let section = page
        .split(".SH \"EXIT STATUS\"\n")
        .nth(1)
        .expect("an EXIT STATUS section");
    let section = section.split("\n.SH ").next().unwrap();
    section
        .split(".TP\n")
        .skip(1)
        .map(|entry| {
            let tag = entry.lines().next().unwrap();
            tag.trim_start_matches("\\fB")
                .trim_end_matches("\\fR")
                .parse()
                .unwrap_or_else(|_| panic!("not a status: {tag}"))
        })
        .collect()
}

/// The `exit::NAME` constants a command's source names outside its tests and its man-page text.
fn statuses_named_in(source: &str) -> BTreeSet<i32> {
    let code = source.split("#[cfg(test)]").next().unwrap();
    let code: String = {
        // Drop the DOC declarations: they name every status by construction.
        let mut out = String::new();
        let mut rest = code;
        while let Some(start) = rest.find(": CommandDoc = CommandDoc {") {
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            rest = &rest[rest.find("\n};").map(|e| e + 3).unwrap_or(rest.len())..];
        }
        out.push_str(rest);
        out
    };
    nvfix::exit::ALL
        .iter()
        .filter(|(_, name, _)| {
            let needle = format!("exit::{name}");
            code.match_indices(&needle).any(|(i, _)| {
                !code[i + needle.len()..]
                    .starts_with(|c: char| c == '_' || c.is_ascii_alphanumeric())
            })
        })
        .map(|(code, _, _)| *code)
        .collect()
}

#[test]
fn every_visible_command_has_its_own_page_text() {
    let top = built_command();
    let all = documented(&top).unwrap_or_else(|e| panic!("{e}"));
    let paths: Vec<&str> = all.iter().map(|d| d.path.as_str()).collect();
    for expected in ["", "diagnose", "reload", "playbook", "playbook check"] {
        assert!(paths.contains(&expected), "{expected:?} in {paths:?}");
    }
    let names: Vec<String> = nvfix::commands::man::pages()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.contains(&"nvfix-playbook.5".to_string()), "{names:?}");
    for hidden in ["nvfix-completions.1", "nvfix-man.1"] {
        assert!(
            !names.contains(&hidden.to_string()),
            "hidden helper commands get no page"
        );
    }
    for d in &all {
        let text = page(&format!("{}.1", d.page_name()));
        for section in [
            ".SH \"NAME\"",
            ".SH \"SYNOPSIS\"",
            ".SH \"DESCRIPTION\"",
            ".SH \"EXIT STATUS\"",
            ".SH \"ENVIRONMENT\"",
            ".SH \"EXAMPLES\"",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(text.contains(section), "{} lacks {section}", d.page_name());
        }
        for tool in reference::SEE_ALSO_EVERYWHERE {
            let (name, _) = tool.split_once('(').unwrap();
            assert!(
                text.contains(&format!("\\fB{}\\fR(", name.replace('-', "\\-"))),
                "{} lacks {tool}",
                d.page_name()
            );
        }
    }
}

#[test]
fn each_page_lists_exactly_its_commands_statuses() {
    let top = built_command();
    let all = documented(&top).unwrap();
    for d in all.iter().filter(|d| !d.path.is_empty()) {
        let listed = listed_statuses(&page(&format!("{}.1", d.page_name())));
        let declared: BTreeSet<i32> = page_statuses(&all, d).iter().map(|e| e.code).collect();
        assert_eq!(listed, declared, "{}", d.page_name());
        for every in EVERY_COMMAND {
            assert!(
                listed.contains(&every.code),
                "{} lacks {}",
                d.page_name(),
                every.code
            );
        }
    }
    // The copies the old pages had: hold's 69 on reload's page, the playbook's 65 on metrics'.
    let reload = page("nvfix-reload.1");
    assert!(
        !reload.contains("versionlock") && !reload.contains("for hold"),
        "{reload}"
    );
    assert!(!listed_statuses(&page("nvfix-metrics.1")).contains(&65));
    assert!(!listed_statuses(&page("nvfix-diagnose.1")).contains(&75));
}

#[test]
fn a_commands_code_returns_no_status_its_page_leaves_out() {
    let top = built_command();
    let all = documented(&top).unwrap();
    for d in all.iter().filter(|d| !d.path.is_empty()) {
        let module = d.path.split(' ').next().unwrap();
        // A command is one file, or a folder of files (`upgrade/mod.rs`, `upgrade/run.rs`).
        let commands = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
        let source = match std::fs::read_to_string(commands.join(format!("{module}.rs"))) {
            Ok(text) => text,
            Err(_) => std::fs::read_dir(commands.join(module))
                .unwrap()
                .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect::<Vec<_>>()
                .join("\n"),
        };
        // A module that holds a group and its commands (playbook, playbook check) answers for all of them.
        let declared: BTreeSet<i32> = all
            .iter()
            .filter(|o| o.path == module || o.path.starts_with(&format!("{module} ")))
            .flat_map(|o| page_statuses(&all, o))
            .map(|e| e.code)
            .collect();
        let named = statuses_named_in(&source);
        let missing: Vec<&i32> = named.difference(&declared).collect();
        assert!(
            missing.is_empty(),
            "src/commands/{module}.rs returns {missing:?}, which `nvfix {}`'s DOC does not declare",
            d.path
        );
    }
}

#[test]
fn every_file_a_page_names_is_described() {
    let top = built_command();
    for d in documented(&top).unwrap() {
        for file in d.doc.files {
            assert!(
                reference::file(file).is_some(),
                "{file} (nvfix {}) is not in reference::FILES",
                d.path
            );
        }
    }
    let top_page = page("nvfix.1");
    for (path, _) in reference::FILES {
        assert!(
            top_page.contains(&path.replace('-', "\\-")),
            "nvfix.1 lacks {path}"
        );
    }
    assert!(doc_for("no-such-command").is_none());
}

/// Every key path in `value` (`reload.never_kill.users`); a list of mappings adds its entries' keys as `hook.KEY`.
fn key_paths(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                key_paths(v, &path, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items.iter().filter(|i| i.is_object()) {
                // Hooks are described once, as "A hook".
                if let serde_json::Value::Object(map) = item {
                    out.extend(map.keys().cloned());
                }
            }
        }
        _ => {}
    }
}

#[test]
fn the_playbook_page_documents_every_key_of_the_schema() {
    // Defaults serialise every key that has one; the text adds the keys that are left out when empty.
    let full = "version: 1\nname: n\ndescription: d\n\
        reload: {never_kill: {users: [root], commands: [slurmd]}}\n\
        reboot:\n  method: handoff\n  maintenance_window: {days: [mon], start: '01:00', end: '02:00', timezone: UTC}\n\
        \x20 handoff: [{name: h, argv: [/bin/true], timeout_seconds: 5, on_failure: continue}]\n\
        \x20 cancel_handoff: [{argv: [/bin/true]}]\n\
        hooks: {before_reload: [{argv: [/bin/true]}]}\n\
        verify: {gpu_count: 8}\n";
    let mut schema = BTreeSet::new();
    for text in ["version: 1\n", full] {
        let playbook = nvfix::model::playbook::parse_playbook(text).unwrap();
        key_paths(&serde_json::to_value(&playbook).unwrap(), "", &mut schema);
    }
    let documented: BTreeSet<String> = nvfix::render::man::playbook_format::documented_keys()
        .into_iter()
        .collect();
    let missing: Vec<&String> = schema.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "nvfix-playbook(5) does not document {missing:?}"
    );
    assert!(page("nvfix-playbook.5").contains("slurm") || documented.contains("reboot.handoff"));
}

#[test]
fn groff_reads_every_page_without_a_warning() {
    let Ok(probe) = std::process::Command::new("groff")
        .arg("--version")
        .output()
    else {
        eprintln!("groff is not installed: skipped (apt-get install groff)");
        return;
    };
    assert!(probe.status.success());
    for (name, text) in nvfix::commands::man::pages().unwrap() {
        let mut child = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&text).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{name}");
        assert!(
            out.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
