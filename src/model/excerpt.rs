//! Quoting input inside a message: at most one line of it, cut short, so an error never repeats a whole file.
//!
//! Why: a parser that quotes the value it rejects (serde's `invalid type: string "…"`) quotes all of it, and a file
//! that is not what it should be (`nvfix playbook check /etc/passwd`) is one long YAML scalar: the error would print
//! the whole file, to a terminal or to a journal.

/// The most characters of input a message quotes.
pub const EXCERPT_MAX_CHARS: usize = 60;

/// The first line of `text`, at most [`EXCERPT_MAX_CHARS`] characters, with `…` where anything was left out.
pub fn excerpt(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(EXCERPT_MAX_CHARS).collect();
    if out.len() < text.trim_end_matches(['\n', '\r']).len() {
        out.push('…');
    }
    out
}

/// `message` with every double-quoted string in it (serde's Debug-escaped `string "…"`) cut to one line of at most
/// [`EXCERPT_MAX_CHARS`] characters, `…` marking the cut; a literal newline in the message becomes a space.
pub fn shorten_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4 * EXCERPT_MAX_CHARS));
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                quoted_excerpt(&mut chars, &mut out);
            }
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Copies one quoted string (after its opening quote) into `out` up to its closing quote, cut as [`shorten_quoted`]
/// says; consumes the rest of it. An escape (`\n`, `\"`, `\u{…}`) counts as one character and is never split.
fn quoted_excerpt(chars: &mut std::str::Chars<'_>, out: &mut String) {
    let mut kept = 0;
    let mut cut = false;
    while let Some(c) = chars.next() {
        if c == '"' {
            break;
        }
        let mut unit = String::from(c);
        if c == '\\' {
            let Some(next) = chars.next() else { break };
            unit.push(next);
            if next == 'u' {
                for u in chars.by_ref() {
                    unit.push(u);
                    if u == '}' {
                        break;
                    }
                }
            }
            // An escaped line break ends the line this excerpt keeps.
            if next == 'n' || next == 'r' {
                cut = true;
            }
        }
        if c == '\n' || c == '\r' {
            cut = true;
        }
        if !cut && kept < EXCERPT_MAX_CHARS {
            out.push_str(&unit);
            kept += 1;
        } else {
            cut = true;
        }
    }
    if cut {
        out.push('…');
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_the_first_line_cut_short() {
        assert_eq!(excerpt("580.65.06"), "580.65.06");
        assert_eq!(excerpt("580.65.06\n"), "580.65.06");
        assert_eq!(excerpt("one\ntwo"), "one…");
        let long = "x".repeat(500);
        assert_eq!(
            excerpt(&long),
            format!("{}…", "x".repeat(EXCERPT_MAX_CHARS))
        );
        assert_eq!(excerpt(""), "");
    }

    #[test]
    fn quoted_strings_keep_one_short_line() {
        let passwd = "root:x:0:0:root:/root:/bin/bash daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin bin:x:2:2";
        let msg = format!("invalid type: string {passwd:?}, expected struct Playbook");
        let short = shorten_quoted(&msg);
        assert!(
            short.starts_with("invalid type: string \"root:x:0:0:root:/root:/bin/bash daemon"),
            "{short}"
        );
        assert!(short.ends_with("…\", expected struct Playbook"), "{short}");
        assert!(short.chars().count() < msg.chars().count(), "{short}");

        let lines = format!(
            "invalid type: string {:?}, expected u32",
            "first line\nsecond line"
        );
        assert_eq!(
            shorten_quoted(&lines),
            "invalid type: string \"first line…\", expected u32"
        );
        // Short strings, escapes and text outside quotes pass through untouched.
        let plain = r#"unknown field `alowed`, expected one of `allowed`, "a\"b" here"#;
        assert_eq!(shorten_quoted(plain), plain);
        assert_eq!(shorten_quoted("a\nb"), "a b");
        // An unterminated quote (a message cut short) still ends.
        assert_eq!(shorten_quoted("string \"abc"), "string \"abc\"");
    }

    #[test]
    fn an_escape_is_never_split() {
        let s = format!("{}\u{1}tail", "y".repeat(EXCERPT_MAX_CHARS - 1));
        let short = shorten_quoted(&format!("{s:?}"));
        assert_eq!(
            short,
            format!("\"{}\\u{{1}}…\"", "y".repeat(EXCERPT_MAX_CHARS - 1))
        );
    }
}
