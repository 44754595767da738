//! What clap_complete cannot generate: playbook names for `--playbook`, read from the playbook folders when the
//! user presses Tab, and (in bash) directories alone for `--root`. Applied to clap's scripts as small, checked edits.

use clap_complete::Shell;
use regex::Regex;

/// Where `--playbook NAME` finds playbooks, local ones first (the same order the resolution uses).
pub const PLAYBOOK_DIRS: [&str; 2] = ["/etc/nvfix/playbooks", "/usr/share/nvfix/playbooks"];

/// `script` (clap_complete's output for `shell`) with the value completions above added where the shell allows.
/// Elvish and PowerShell keep clap's output: their generators offer no hook for computed values.
pub fn finish(shell: Shell, script: String) -> String {
    match shell {
        Shell::Bash => bash(script),
        Shell::Zsh => zsh(script),
        Shell::Fish => fish(script),
        _ => script,
    }
}

/// Replaces the body of every `--option)` case in clap's bash script (up to its `;;`) with `body`.
fn bash_case(script: &str, option: &str, body: &str) -> String {
    let case = Regex::new(&format!(
        r"(?m)^(?P<indent>[ ]+)--{}\)\n(?:.*\n)*?[ ]+;;\n",
        regex::escape(option)
    ))
    .expect("a fixed pattern");
    let replaced = case.replace_all(script, |c: &regex::Captures<'_>| {
        let indent = &c["indent"];
        let mut out = format!("{indent}--{option})\n");
        for line in body.lines() {
            out.push_str(&format!("{indent}    {line}\n"));
        }
        out.push_str(&format!("{indent}    return 0\n{indent}    ;;\n"));
        out
    });
    replaced.into_owned()
}

fn bash(script: String) -> String {
    let dirs = PLAYBOOK_DIRS.join(" ");
    let names = format!(
        r#"# Playbook names nvfix --playbook NAME resolves (local ones first), for completion.
_nvfix_playbook_names() {{
    local d f
    for d in {dirs}; do
        for f in "$d"/*.yaml; do
            [[ -f "$f" ]] || continue
            f="${{f##*/}}"
            printf '%s\n' "${{f%.yaml}}"
        done
    done
}}

"#
    );
    // A name, or a path once the word has a slash in it.
    let playbook = r#"if [[ "${cur}" == */* ]]; then
    COMPREPLY=($(compgen -f -- "${cur}"))
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        compopt -o filenames 2>/dev/null
    fi
else
    COMPREPLY=($(compgen -W "$(_nvfix_playbook_names)" -- "${cur}"))
fi"#;
    // Directories only: clap leaves COMPREPLY empty and relies on `plusdirs`, which falls back to every file.
    let root = r#"COMPREPLY=($(compgen -d -- "${cur}"))
if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
    compopt -o filenames 2>/dev/null
fi"#;
    let script = bash_case(&script, "playbook", playbook);
    let script = bash_case(&script, "root", root);
    names + &script
}

fn zsh(script: String) -> String {
    let dirs = PLAYBOOK_DIRS
        .iter()
        .map(|d| format!("{d}/*.yaml(N:t:r)"))
        .collect::<Vec<_>>()
        .join(" ");
    let function = format!(
        r#"(( $+functions[_nvfix_playbooks] )) ||
_nvfix_playbooks() {{
    local -a names
    names=({dirs})
    _alternative 'names:playbook name:compadd -a names' 'files:playbook file:_files -g "*.(yaml|yml)"'
}}

"#
    );
    let spec = Regex::new(r"(?m)^('--playbook=\[[^\n]*\]):FILE:_files'").expect("a fixed pattern");
    let script = spec
        .replace_all(&script, "$1:PLAYBOOK:_nvfix_playbooks'")
        .into_owned();
    match script.rfind("if [ \"$funcstack[1]\" = \"_nvfix\" ]") {
        Some(at) => format!("{}{function}{}", &script[..at], &script[at..]),
        None => script + &function,
    }
}

fn fish(script: String) -> String {
    let dirs = PLAYBOOK_DIRS.join(" ");
    let function = format!(
        r#"
# Playbook names nvfix --playbook NAME resolves (local ones first).
function __fish_nvfix_playbooks
    for d in {dirs}
        for f in $d/*.yaml
            basename $f .yaml
        end
    end
end
"#
    );
    let spec =
        Regex::new(r"(?m)^(complete -c nvfix .* -l playbook .*) -r -F$").expect("a fixed pattern");
    let script = spec
        .replace_all(&script, "$1 -r -a \"(__fish_nvfix_playbooks)\"")
        .into_owned();
    // The function must exist before a completion calls it; fish reads the whole file first, so the end is fine.
    script + &function
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_edit_finds_its_place() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let clap_script = super::super::completions::clap_script(shell);
            let done = finish(shell, String::from_utf8(clap_script).unwrap());
            assert!(done.contains("/usr/share/nvfix/playbooks"), "{shell}");
            match shell {
                Shell::Bash => {
                    assert_eq!(
                        done.matches("_nvfix_playbook_names)\"").count(),
                        2,
                        "auto and reboot"
                    );
                    assert!(!done.contains("plusdirs"), "--root is done by compgen -d");
                }
                Shell::Zsh => assert_eq!(done.matches(":PLAYBOOK:_nvfix_playbooks'").count(), 2),
                Shell::Fish => assert_eq!(done.matches("(__fish_nvfix_playbooks)").count(), 2),
                _ => {}
            }
        }
    }
}
