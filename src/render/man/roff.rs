//! A small roff writer for man(7) pages: escaping, fonts, and the few requests nvfix's pages use.

use std::fmt::Write as _;

/// Text as roff reads it literally: `\` and `-` escaped, every non-ASCII character as `\[uXXXX]` (so groff needs no
/// input encoding), and a line that would start with `.` or `'` (a request) guarded with `\&`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '\n' => out.push(' '),
            c if c.is_ascii() => out.push(c),
            c => {
                let _ = write!(out, "\\[u{:04X}]", c as u32);
            }
        }
    }
    out
}

/// `text` in bold.
pub fn bold(text: &str) -> String {
    format!("\\fB{}\\fR", escape(text))
}

/// `text` in italics (an argument's name).
pub fn italic(text: &str) -> String {
    format!("\\fI{}\\fR", escape(text))
}

/// A man page being written.
#[derive(Debug, Default)]
pub struct Roff {
    out: String,
}

impl Roff {
    /// A page titled `title(section)`; `source` is the program and version, `manual` the manual's name.
    pub fn new(title: &str, section: &str, source: &str, manual: &str) -> Roff {
        let mut r = Roff::default();
        r.request("TH", &[title, section, "", source, manual]);
        r
    }

    /// A request line (`.SH "EXIT STATUS"`), its arguments quoted and escaped.
    pub fn request(&mut self, name: &str, args: &[&str]) {
        self.out.push('.');
        self.out.push_str(name);
        for a in args {
            let _ = write!(self.out, " \"{}\"", escape(a).replace('"', "\\(dq"));
        }
        self.out.push('\n');
    }

    /// A section heading.
    pub fn section(&mut self, name: &str) {
        self.request("SH", &[name]);
    }

    /// A subsection heading.
    pub fn subsection(&mut self, name: &str) {
        self.request("SS", &[name]);
    }

    /// A new paragraph of plain text.
    pub fn paragraph(&mut self, text: &str) {
        self.request("PP", &[]);
        self.text(text);
    }

    /// A tagged paragraph: `tag` (already roff, e.g. from [`bold`]) on its own line, `text` indented below it.
    pub fn tagged(&mut self, tag: &str, text: &str) {
        self.request("TP", &[]);
        self.line(tag);
        self.text(text);
    }

    /// Plain text, escaped.
    pub fn text(&mut self, text: &str) {
        self.line(&escape(text));
    }

    /// A line that is already roff (fonts applied, text escaped); guarded when it would read as a request.
    pub fn line(&mut self, roff: &str) {
        if roff.starts_with('.') || roff.starts_with('\'') {
            self.out.push_str("\\&");
        }
        self.out.push_str(roff);
        self.out.push('\n');
    }

    /// Lines shown as they are (a YAML example): no filling, no adjusting, indented.
    pub fn literal(&mut self, text: &str) {
        self.request("RS", &["4"]);
        self.request("nf", &[]);
        for l in text.lines() {
            if l.is_empty() {
                // An empty input line is a blank line in no-fill mode, but reads as a mistake to some checkers.
                self.line("\\&");
            } else {
                self.line(&escape(l));
            }
        }
        self.request("fi", &[]);
        self.request("RE", &[]);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_roff() {
        assert_eq!(escape(r"--root C:\x"), r"\-\-root C:\ex");
        assert_eq!(escape("cut…"), r"cut\[u2026]");
        let mut r = Roff::default();
        r.text(".hidden request");
        r.text("'also one");
        assert_eq!(r.finish(), "\\&.hidden request\n\\&'also one\n");
    }

    #[test]
    fn requests_quote_their_arguments() {
        let mut r = Roff::new("NVFIX-PS", "1", "nvfix 0.1.0", "nvfix manual");
        r.section("EXIT STATUS");
        assert_eq!(
            r.finish(),
            ".TH \"NVFIX\\-PS\" \"1\" \"\" \"nvfix 0.1.0\" \"nvfix manual\"\n.SH \"EXIT STATUS\"\n"
        );
    }
}
