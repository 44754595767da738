//! Size and nesting limits a YAML text must keep before any YAML parser sees it, checked by a quick scan of the text.
//!
//! Deeply nested flow collections (`[[[[…`) cost the YAML parser quadratic time before it gives up (80 KB took 2.9 s,
//! 200 KB 25 s). A playbook is a page of YAML nested three or four levels deep, so this scan refuses, with the
//! position, a text larger than [`MAX_BYTES`] or nested deeper than [`MAX_DEPTH`] — flow (`[`, `{`) or block
//! (indentation, `- ` entries) — in one linear pass. It knows just enough YAML to not count brackets inside quoted
//! scalars, plain scalars, comments and block scalars (`|`, `>`), and does not depend on the YAML crate.

/// The largest YAML text accepted (the playbook's read budget).
pub const MAX_BYTES: usize = 1 << 20;
/// The deepest nesting accepted, flow and block levels counted together.
pub const MAX_DEPTH: usize = 32;

/// Where and why a text broke a limit (line and column from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Checks `text` against [`MAX_BYTES`] and [`MAX_DEPTH`].
pub fn check_yaml_limits(text: &str) -> Result<(), LimitError> {
    if text.len() > MAX_BYTES {
        let (line, column) = position_of(text, MAX_BYTES);
        return Err(LimitError {
            line,
            column,
            message: format!(
                "larger than {} KiB: refused before parsing",
                MAX_BYTES >> 10
            ),
        });
    }
    Scanner::default().scan(text)
}

/// The line and column of byte `at` (columns count characters).
fn position_of(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[derive(Default)]
struct Scanner {
    /// Open flow collections.
    flow: usize,
    /// Indentations of the open block levels.
    indents: Vec<usize>,
    /// Inside a quoted scalar (`'` or `"`), which may span lines.
    quote: Option<char>,
    /// Inside a block scalar: lines indented more than this belong to it.
    block_scalar: Option<usize>,
}

impl Scanner {
    fn scan(mut self, text: &str) -> Result<(), LimitError> {
        for (index, line) in text.split('\n').enumerate() {
            self.line(index + 1, line)?;
        }
        Ok(())
    }

    fn too_deep(line: usize, column: usize, what: &str) -> Result<(), LimitError> {
        Err(LimitError {
            line,
            column,
            message: format!(
                "nested more than {MAX_DEPTH} levels deep ({what}): refused before parsing"
            ),
        })
    }

    fn line(&mut self, number: usize, line: &str) -> Result<(), LimitError> {
        let indent = line.chars().take_while(|c| *c == ' ').count();
        let content = line.trim_start_matches(' ');
        if let Some(parent) = self.block_scalar {
            if content.trim().is_empty() || indent > parent {
                return Ok(());
            }
            self.block_scalar = None;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = indent;
        // A new block line (not inside a flow collection or a quoted scalar that began earlier).
        let mut node_start = true;
        if self.flow == 0 && self.quote.is_none() {
            if content.is_empty() || content.starts_with('#') {
                return Ok(());
            }
            while self.indents.last().is_some_and(|top| *top > indent) {
                self.indents.pop();
            }
            if self.indents.last().is_none_or(|top| *top < indent) {
                self.indents.push(indent);
            }
            // `- - - x`: each entry marker opens one more level on the same line.
            let mut dashes = 0;
            while chars.get(i) == Some(&'-') && chars.get(i + 1).is_none_or(|c| *c == ' ') {
                dashes += 1;
                i += 1;
                while chars.get(i) == Some(&' ') {
                    i += 1;
                }
            }
            if self.indents.len() + dashes > MAX_DEPTH {
                return Self::too_deep(number, i + 1, "block");
            }
        }
        let mut previous = ' ';
        while let Some(&c) = chars.get(i) {
            i += 1;
            if let Some(q) = self.quote {
                if c == q {
                    // `''` inside a single-quoted scalar is a quote, not the end.
                    if q == '\'' && chars.get(i) == Some(&'\'') {
                        i += 1;
                        continue;
                    }
                    self.quote = None;
                } else if c == '\\' && q == '"' {
                    i += 1;
                }
                previous = c;
                continue;
            }
            match c {
                '#' if previous == ' ' || previous == '\t' => break,
                '\'' | '"' if node_start => self.quote = Some(c),
                '[' | '{' if node_start || self.flow > 0 => {
                    self.flow += 1;
                    if self.indents.len() + self.flow > MAX_DEPTH {
                        return Self::too_deep(number, i, "flow");
                    }
                    node_start = true;
                    previous = c;
                    continue;
                }
                ']' | '}' if self.flow > 0 => self.flow -= 1,
                ',' if self.flow > 0 => {
                    node_start = true;
                    previous = c;
                    continue;
                }
                ' ' | '\t' => {
                    // `key: value`, `- item`, `? key`: a node starts after the indicator and its blank.
                    node_start = node_start || matches!(previous, ':' | '-' | '?');
                    previous = c;
                    continue;
                }
                _ => {}
            }
            node_start = false;
            previous = c;
        }
        if self.flow == 0 && self.quote.is_none() && ends_with_block_scalar_header(line) {
            self.block_scalar = Some(indent);
        }
        Ok(())
    }
}

/// Does the line end (before a comment) with a block scalar header: `|`, `>`, with chomping and indentation
/// indicators (`|-`, `>+2`)?
fn ends_with_block_scalar_header(line: &str) -> bool {
    let body = match line.find(" #") {
        Some(at) => &line[..at],
        None => line,
    };
    let last = body.split_whitespace().last().unwrap_or("");
    let mut chars = last.chars();
    matches!(chars.next(), Some('|' | '>'))
        && chars.all(|c| c == '-' || c == '+' || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> LimitError {
        check_yaml_limits(text).expect_err(text)
    }

    #[test]
    fn a_playbook_passes() {
        let text = "version: 1\nreload:\n  allowed: true\n  stop_units: [nvidia-persistenced, \"dcgm]\"]\n\
                    reboot:\n  method: handoff\n  handoff: [scontrol, reboot, '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[']\n\
                    notes: |\n  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n  done\n\
                    message: don't [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n";
        assert_eq!(check_yaml_limits(text), Ok(()));
        assert_eq!(
            check_yaml_limits(crate::model::playbook::DEFAULT_PLAYBOOK),
            Ok(())
        );
    }

    #[test]
    fn deep_flow_nesting_is_refused_where_it_passes_the_limit() {
        let e = err(&format!("version: 1\nx: {}", "[".repeat(100_000)));
        assert_eq!((e.line, e.column), (2, 4 + MAX_DEPTH - 1));
        assert!(e.message.contains("flow"), "{}", e.message);
        let e = err(&"{a: ".repeat(40));
        assert_eq!(e.line, 1);
    }

    #[test]
    fn a_playbook_nested_200_kb_deep_is_refused_before_the_yaml_parser_sees_it() {
        let text = format!("version: 1\nreload: {}", "[".repeat(200_000));
        let e = crate::model::playbook::parse_playbook(&text).unwrap_err();
        assert_eq!(
            e.display_for("p.yaml"),
            format!(
                "p.yaml:2:{}: nested more than 32 levels deep (flow): refused before parsing",
                9 + MAX_DEPTH - 1
            )
        );
    }

    #[test]
    fn deep_block_nesting_is_refused() {
        let mut text = String::new();
        for depth in 0..40 {
            text.push_str(&format!("{}k{depth}:\n", " ".repeat(depth)));
        }
        let e = err(&text);
        assert_eq!(e.line, MAX_DEPTH + 1);
        let e = err(&format!("{}x\n", "- ".repeat(40)));
        assert!(e.message.contains("block"), "{}", e.message);
    }

    #[test]
    fn a_text_too_large_is_refused_with_the_position_of_the_limit() {
        let text = "# comment\n".repeat(MAX_BYTES / 10 + 1);
        let e = err(&text);
        assert_eq!((e.line, e.column), (MAX_BYTES / 10 + 1, MAX_BYTES % 10 + 1));
    }

    #[test]
    fn quotes_hide_brackets_only_where_they_open_a_scalar() {
        // A quote inside a plain scalar does not open one: the flow nesting after it is still seen.
        let e = err(&format!("a: it's\nb: {}", "[".repeat(40)));
        assert_eq!(e.line, 2);
        // A quoted scalar may span lines.
        assert_eq!(
            check_yaml_limits(&format!("a: \"x\n{}\"\n", "[".repeat(40))),
            Ok(())
        );
    }
}
