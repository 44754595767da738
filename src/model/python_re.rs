//! Python's `re.match(pattern, name)` on package names, reproduced with the `regex` crate or refused with the reason.
//!
//! unattended-upgrades (2.9.1, `is_pkgname_in_blacklist`) tests each `Package-Blacklist` entry with
//! `re.match(entry, pkg.name)`: a Python regex, anchored at the start only, and compiled by Python, which rejects
//! patterns the `regex` crate accepts (`x)|(nvidia`: "unbalanced parenthesis") and accepts patterns it cannot express
//! (lookaround, backreferences, possessive repeats, atomic groups). Wrapping an entry as `^(?:entry)` for the `regex`
//! crate is therefore wrong both ways: `x)|(nvidia` becomes two alternatives, the second unanchored.
//!
//! This module parses the entry with the grammar of CPython 3.11's `re/_parser.py` (Debian 12; Ubuntu 24.04's 3.12
//! parses the same), raising where it raises, and writes what it parsed as an equivalent `regex` pattern, node by
//! node. What a Rust pattern cannot say identically is refused as [`PythonRegex::Unchecked`].
//!
//! The subjects are package names: dpkg allows `[a-z0-9][a-z0-9+.-]+`, and python-apt's `pkg.name` adds `:arch` for a
//! foreign architecture — ASCII, no newline. The translation is exact on such names, which is what lets it map
//! Python's Unicode classes to their ASCII members (`\w` → `[0-9A-Za-z_]`: the same on ASCII, and cheap to compile
//! where the Unicode class repeated 500 times took 140 ms), `$` to the end of the text (Python's `$` also matches
//! before a final newline, which a package name never has), and to refuse case-insensitive non-ASCII letters (Python
//! folds `ı` to `i`, Rust does not).

use std::fmt::Write as _;

/// A blacklist entry as unattended-upgrades' Python sees it.
#[derive(Debug, Clone)]
pub enum PythonRegex {
    /// A pattern Python compiles, and its exact equivalent for package names.
    Exact(regex::bytes::Regex),
    /// Python raises on this pattern (`re.error` or `OverflowError`): `re.match` fails on every call, so the entry
    /// protects nothing and unattended-upgrades stops with the error. The text is Python's message.
    Invalid(String),
    /// Python compiles it, but nvfix cannot reproduce it identically (the text says which construct): nvfix does not
    /// count it as protecting anything.
    Unchecked(String),
}

impl PythonRegex {
    /// Compiles `pattern` for `re.match` (anchored at the start, not at the end).
    pub fn compile(pattern: &str) -> PythonRegex {
        let mut p = Parser {
            chars: pattern.chars().collect(),
            at: 0,
            groups: 1,
            open: Vec::new(),
            names: Vec::new(),
            flags: Flags::default(),
            unchecked: None,
            condition_refs: Vec::new(),
            ascii: false,
            unicode: false,
        };
        let body = match p.parse_pattern() {
            Ok(body) => body,
            Err(Failure::Invalid(m)) => return PythonRegex::Invalid(m),
            Err(Failure::Unchecked(m)) => return PythonRegex::Unchecked(m),
        };
        if let Some(why) = p.unchecked {
            return PythonRegex::Unchecked(why);
        }
        match regex::bytes::RegexBuilder::new(&format!(r"\A(?:{body})"))
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 20)
            .build()
        {
            Ok(re) => PythonRegex::Exact(re),
            Err(_) => PythonRegex::Unchecked("too large for nvfix's regex engine to check".into()),
        }
    }

    /// `re.match(pattern, name) is not None`; None when Python raises or nvfix cannot tell.
    pub fn matches(&self, name: &str) -> Option<bool> {
        match self {
            PythonRegex::Exact(re) => Some(re.is_match(name.as_bytes())),
            _ => None,
        }
    }
}

/// Python's `_sre.MAXREPEAT` (a repeat count at or past it is an `OverflowError`).
const MAXREPEAT: u64 = u32::MAX as u64;
/// Python folds case by its own table (`ı` matches `i`); Rust by Unicode's simple folding: they differ off ASCII.
const NON_ASCII_WITHOUT_CASE: &str =
    "a non-ASCII character matched ignoring case (Python's case folding differs from the regex crate's)";
/// Deeper than this, nvfix does not follow (Python itself fails with `RecursionError` a few hundred levels down).
const MAX_NESTING: usize = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Flags {
    ignore_case: bool,
    multiline: bool,
    dot_all: bool,
    verbose: bool,
}

enum Failure {
    Invalid(String),
    Unchecked(String),
}

fn invalid<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Invalid(message.into()))
}

/// One parsed item of a sequence, already written as Rust syntax.
struct Item {
    rust: String,
    kind: ItemKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    /// Matches text (a literal, a class, a group).
    Unit,
    /// An assertion of position (`^`, `$`, `\A`, `\Z`, `\b`, `\B`): Python refuses to repeat it.
    At,
    /// A repeat: Python refuses to repeat it again ("multiple repeat").
    Repeat,
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    /// Python's `state.groups`: the next group number.
    groups: usize,
    /// Groups opened and not yet closed.
    open: Vec<usize>,
    names: Vec<(String, usize)>,
    /// The global flags (`(?i)` at the start).
    flags: Flags,
    /// The first construct nvfix cannot reproduce (parsing goes on: an error later still makes the entry invalid).
    unchecked: Option<String>,
    /// Group numbers named by conditionals (`(?(2)…)`), checked at the end like Python's `grouprefpos`.
    condition_refs: Vec<u64>,
    /// Global `(?a)` and `(?u)`, which Python refuses together.
    ascii: bool,
    unicode: bool,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_is(&self, c: char) -> bool {
        self.peek() == Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek_is(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    fn cannot(&mut self, why: &str) {
        if self.unchecked.is_none() {
            self.unchecked = Some(why.to_string());
        }
    }

    /// Python's `parse()`: the top-level alternation, then "unbalanced parenthesis" if a `)` is left.
    fn parse_pattern(&mut self) -> Result<String, Failure> {
        let flags = self.flags;
        let body = self.parse_alternation(flags, 0)?;
        if self.peek().is_some() {
            return invalid("unbalanced parenthesis");
        }
        if self.ascii && self.unicode {
            return invalid("ASCII and UNICODE flags are incompatible (ValueError)");
        }
        if let Some(g) = self
            .condition_refs
            .iter()
            .find(|g| **g >= self.groups as u64)
        {
            return invalid(format!("invalid group reference {g}"));
        }
        Ok(body)
    }

    /// `_parse_sub`: branches separated by `|`.
    fn parse_alternation(&mut self, flags: Flags, nested: usize) -> Result<String, Failure> {
        let mut branches = Vec::new();
        let mut flags = flags;
        loop {
            let first = nested == 0 && branches.is_empty();
            branches.push(self.parse_sequence(&mut flags, nested, first)?);
            if !self.eat('|') {
                break;
            }
            if nested == 0 {
                // Global flags set at the start of the first branch hold for the later ones.
                flags = self.flags;
            }
        }
        Ok(branches.join("|"))
    }

    /// `_parse`: a sequence of items up to `|`, `)` or the end.
    fn parse_sequence(
        &mut self,
        flags: &mut Flags,
        nested: usize,
        first: bool,
    ) -> Result<String, Failure> {
        if nested > MAX_NESTING {
            return Err(Failure::Unchecked(format!(
                "nested more than {MAX_NESTING} groups deep"
            )));
        }
        let mut items: Vec<Item> = Vec::new();
        // Global flags (at the very start only) hold for the rest of this sequence.
        let mut local = *flags;
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            self.at += 1;
            if local.verbose {
                if " \t\n\r\u{b}\u{c}".contains(c) {
                    continue;
                }
                if c == '#' {
                    while let Some(c) = self.next() {
                        if c == '\n' {
                            break;
                        }
                    }
                    continue;
                }
            }
            match c {
                '\\' => {
                    let item = self.escape(&local)?;
                    items.push(item);
                }
                '[' => {
                    let rust = self.class(&local)?;
                    items.push(Item {
                        rust,
                        kind: ItemKind::Unit,
                    });
                }
                '*' | '+' | '?' | '{' => self.repeat(c, &mut items)?,
                '.' => items.push(Item {
                    rust: if local.dot_all {
                        "(?s-u:.)"
                    } else {
                        "(?-u:[^\\n])"
                    }
                    .into(),
                    kind: ItemKind::Unit,
                }),
                '^' => items.push(Item {
                    rust: if local.multiline { "(?m:^)" } else { r"\A" }.into(),
                    kind: ItemKind::At,
                }),
                '$' => items.push(Item {
                    rust: if local.multiline { "(?m:$)" } else { r"\z" }.into(),
                    kind: ItemKind::At,
                }),
                '(' => {
                    if let Some(item) = self.group(&mut local, nested, first && items.is_empty())? {
                        items.push(item);
                    }
                }
                c => items.push(self.literal(c, &local)?),
            }
        }
        Ok(items.into_iter().map(|i| i.rust).collect())
    }

    fn literal(&mut self, c: char, flags: &Flags) -> Result<Item, Failure> {
        if flags.ignore_case && !c.is_ascii() {
            self.cannot(NON_ASCII_WITHOUT_CASE);
        }
        let rust = if flags.ignore_case && c.is_ascii_alphabetic() {
            format!("(?i:{})", regex::escape(c.encode_utf8(&mut [0; 4])))
        } else {
            regex::escape(c.encode_utf8(&mut [0; 4]))
        };
        Ok(Item {
            rust,
            kind: ItemKind::Unit,
        })
    }

    /// A repeat of the last item (`*`, `+`, `?`, `{m,n}`), greedy, lazy (`?`) or possessive (`+`, Python 3.11).
    fn repeat(&mut self, c: char, items: &mut Vec<Item>) -> Result<(), Failure> {
        let (min, max) = match c {
            '?' => (0, Some(1)),
            '*' => (0, None),
            '+' => (1, None),
            _ => {
                // `{`: a repeat only when it reads `{m}`, `{m,}`, `{,n}`, `{m,n}` (or `{,}`); else a literal `{`.
                let here = self.at;
                if self.peek_is('}') {
                    items.push(self.literal('{', &Flags::default())?);
                    return Ok(());
                }
                let lo = self.digits();
                let hi = if self.eat(',') {
                    self.digits()
                } else {
                    lo.clone()
                };
                if !self.eat('}') {
                    self.at = here;
                    items.push(self.literal('{', &Flags::default())?);
                    return Ok(());
                }
                let min = match lo.as_str() {
                    "" => 0,
                    digits => count(digits)?,
                };
                let max = match hi.as_str() {
                    "" => None,
                    digits => Some(count(digits)?),
                };
                if max.is_some_and(|max| max < min) {
                    return invalid("min repeat greater than max repeat");
                }
                (min, max)
            }
        };
        let Some(last) = items.last_mut() else {
            return invalid("nothing to repeat");
        };
        match last.kind {
            ItemKind::At => return invalid("nothing to repeat"),
            ItemKind::Repeat => return invalid("multiple repeat"),
            ItemKind::Unit => {}
        }
        let lazy = self.eat('?');
        if !lazy && self.eat('+') {
            self.cannot("a possessive repeat");
        }
        let mut rust = format!("(?:{})", last.rust);
        match max {
            Some(max) => write!(rust, "{{{min},{max}}}"),
            None => write!(rust, "{{{min},}}"),
        }
        .ok();
        if lazy {
            rust.push('?');
        }
        *last = Item {
            rust,
            kind: ItemKind::Repeat,
        };
        Ok(())
    }

    fn digits(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            s.push(c);
            self.at += 1;
        }
        s
    }

    /// An escape outside a class (`_escape`).
    fn escape(&mut self, flags: &Flags) -> Result<Item, Failure> {
        let Some(c) = self.next() else {
            return invalid("bad escape (end of pattern)");
        };
        let at = |rust: &str| {
            Ok(Item {
                rust: rust.into(),
                kind: ItemKind::At,
            })
        };
        let unit = |rust: String| {
            Ok(Item {
                rust,
                kind: ItemKind::Unit,
            })
        };
        match c {
            'A' => return at(r"\A"),
            'Z' => return at(r"\z"),
            'b' => return at(r"(?-u:\b)"),
            'B' => return at(r"(?-u:\B)"),
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => return unit(format!("(?-u:{})", category(c))),
            _ => {}
        }
        if let Some(code) = simple_escape(c) {
            return self.literal(code, flags);
        }
        match c {
            'x' | 'u' | 'U' | 'N' => {
                let code = self.code_escape(c)?;
                self.literal(code, flags)
            }
            '0' => {
                let mut digits = String::from("0");
                digits.push_str(&self.octal_digits(2));
                let code = u32::from_str_radix(&digits, 8).unwrap_or(0);
                self.literal(char::from_u32(code).unwrap_or('\0'), flags)
            }
            '1'..='9' => {
                let mut digits = String::from(c);
                if let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.at += 1;
                    digits.push(d);
                    if c <= '7' && d <= '7' && self.peek().is_some_and(|e| ('0'..='7').contains(&e))
                    {
                        digits.push(self.next().unwrap_or('0'));
                        let code = u32::from_str_radix(&digits, 8).unwrap_or(0);
                        if code > 0o377 {
                            return invalid(format!(
                                "octal escape value \\{digits} outside of range 0-0o377"
                            ));
                        }
                        return self.literal(char::from_u32(code).unwrap_or('\0'), flags);
                    }
                }
                let group: usize = digits.parse().unwrap_or(usize::MAX);
                if group < self.groups {
                    if self.open.contains(&group) {
                        return invalid("cannot refer to an open group");
                    }
                    self.cannot("a backreference");
                    return unit(String::new());
                }
                invalid(format!("invalid group reference {group}"))
            }
            c if c.is_ascii_alphabetic() => invalid(format!("bad escape \\{c}")),
            c => self.literal(c, flags),
        }
    }

    /// `\xhh`, `\uhhhh`, `\Uhhhhhhhh` (exactly that many hex digits) and `\N{NAME}`.
    fn code_escape(&mut self, c: char) -> Result<char, Failure> {
        if c == 'N' {
            if !self.eat('{') {
                return invalid("missing {");
            }
            let name = self.until('}', "character name")?;
            self.cannot("a named character (\\N{…})");
            let _ = name;
            return Ok('\0');
        }
        let want = match c {
            'x' => 2,
            'u' => 4,
            _ => 8,
        };
        let mut hex = String::new();
        while hex.len() < want {
            match self.peek().filter(char::is_ascii_hexdigit) {
                Some(h) => {
                    hex.push(h);
                    self.at += 1;
                }
                None => break,
            }
        }
        if hex.len() != want {
            return invalid(format!("incomplete escape \\{c}{hex}"));
        }
        let code = u32::from_str_radix(&hex, 16).unwrap_or(u32::MAX);
        match char::from_u32(code) {
            Some(ch) => Ok(ch),
            // Surrogates are code points Python accepts and Rust strings cannot hold (never in a package name).
            None if code <= 0x10FFFF => {
                self.cannot("a surrogate code point");
                Ok('\0')
            }
            None => invalid(format!("bad escape \\{c}{hex}")),
        }
    }

    fn octal_digits(&mut self, most: usize) -> String {
        let mut s = String::new();
        while s.len() < most {
            match self.peek().filter(|c| ('0'..='7').contains(c)) {
                Some(d) => {
                    s.push(d);
                    self.at += 1;
                }
                None => break,
            }
        }
        s
    }

    /// `getuntil`: the text up to `end` (not empty).
    fn until(&mut self, end: char, what: &str) -> Result<String, Failure> {
        let mut s = String::new();
        loop {
            match self.next() {
                None if s.is_empty() => return invalid(format!("missing {what}")),
                None => return invalid(format!("missing {end}, unterminated name")),
                Some(c) if c == end => {
                    if s.is_empty() {
                        return invalid(format!("missing {what}"));
                    }
                    return Ok(s);
                }
                Some(c) => s.push(c),
            }
        }
    }

    /// A character class, after its `[`.
    fn class(&mut self, flags: &Flags) -> Result<String, Failure> {
        let negate = self.eat('^');
        let mut members: Vec<String> = Vec::new();
        loop {
            let Some(c) = self.next() else {
                return invalid("unterminated character set");
            };
            if c == ']' && !members.is_empty() {
                break;
            }
            let first = self.class_member(c)?;
            if self.eat('-') {
                let Some(that) = self.next() else {
                    return invalid("unterminated character set");
                };
                if that == ']' {
                    members.push(first.rust(flags, self)?);
                    members.push(regex::escape("-"));
                    break;
                }
                let second = self.class_member(that)?;
                match (first, second) {
                    (ClassMember::Char(lo), ClassMember::Char(hi)) if lo <= hi => {
                        if flags.ignore_case && !(lo.is_ascii() && hi.is_ascii()) {
                            self.cannot(NON_ASCII_WITHOUT_CASE);
                        }
                        members.push(format!("{}-{}", class_char(lo), class_char(hi)));
                    }
                    _ => return invalid("bad character range"),
                }
            } else {
                members.push(first.rust(flags, self)?);
            }
        }
        let body = members.concat();
        let class = format!("[{}{body}]", if negate { "^" } else { "" });
        // A class of ASCII members is compiled as bytes (exact on ASCII names, and small where a negated Unicode
        // class is a large automaton); one with other members keeps Unicode.
        let unicode = if ascii_escapes_only(&body) { "-u" } else { "" };
        let case = if flags.ignore_case { "i" } else { "" };
        Ok(format!("(?{case}{unicode}:{class})"))
    }

    /// One member of a class: a character or a category (`_class_escape` for escapes).
    fn class_member(&mut self, c: char) -> Result<ClassMember, Failure> {
        if c != '\\' {
            return Ok(ClassMember::Char(c));
        }
        let Some(e) = self.next() else {
            return invalid("bad escape (end of pattern)");
        };
        if e == 'b' {
            return Ok(ClassMember::Char('\u{8}'));
        }
        if let Some(code) = simple_escape(e) {
            return Ok(ClassMember::Char(code));
        }
        match e {
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => Ok(ClassMember::Category(e)),
            'x' | 'u' | 'U' | 'N' => Ok(ClassMember::Char(self.code_escape(e)?)),
            '0'..='7' => {
                let mut digits = String::from(e);
                digits.push_str(&self.octal_digits(2));
                let code = u32::from_str_radix(&digits, 8).unwrap_or(0);
                if code > 0o377 {
                    return invalid(format!(
                        "octal escape value \\{digits} outside of range 0-0o377"
                    ));
                }
                Ok(ClassMember::Char(char::from_u32(code).unwrap_or('\0')))
            }
            e if e.is_ascii_alphanumeric() => invalid(format!("bad escape \\{e}")),
            e => Ok(ClassMember::Char(e)),
        }
    }

    /// A group after its `(`: None when it was only flags or a comment (nothing to add).
    fn group(
        &mut self,
        flags: &mut Flags,
        nested: usize,
        at_start: bool,
    ) -> Result<Option<Item>, Failure> {
        let mut capture = true;
        let mut name = None;
        let mut inner = *flags;
        if self.eat('?') {
            let Some(c) = self.next() else {
                return invalid("unexpected end of pattern");
            };
            match c {
                'P' => match self.python_extension()? {
                    Some(n) => name = Some(n),
                    None => return Ok(Some(unchecked_item())),
                },
                ':' => capture = false,
                '#' => {
                    loop {
                        match self.next() {
                            None => return invalid("missing ), unterminated comment"),
                            Some(')') => break,
                            Some(_) => {}
                        }
                    }
                    return Ok(None);
                }
                '=' | '!' | '<' => return self.lookaround(c, *flags, nested).map(Some),
                '(' => return self.conditional(flags, nested).map(Some),
                '>' => {
                    capture = false;
                    self.cannot("an atomic group");
                }
                c if "iLmsxatu-".contains(c) => match self.inline_flags(c)? {
                    None => {
                        if !at_start {
                            return invalid("global flags not at the start of the expression");
                        }
                        *flags = self.flags;
                        return Ok(None);
                    }
                    Some((add, del)) => {
                        inner = apply(inner, add, true);
                        inner = apply(inner, del, false);
                        capture = false;
                    }
                },
                c => return invalid(format!("unknown extension ?{c}")),
            }
        }
        let gid = if capture {
            let gid = self.groups;
            self.groups += 1;
            if let Some(n) = name {
                if let Some((_, was)) = self.names.iter().find(|(k, _)| *k == n) {
                    return invalid(format!(
                        "redefinition of group name '{n}' as group {gid}; was group {was}"
                    ));
                }
                self.names.push((n, gid));
            }
            self.open.push(gid);
            Some(gid)
        } else {
            None
        };
        let body = self.parse_alternation(inner, nested + 1)?;
        if !self.eat(')') {
            return invalid("missing ), unterminated subpattern");
        }
        if let Some(gid) = gid {
            self.open.retain(|g| *g != gid);
        }
        Ok(Some(Item {
            rust: format!("(?:{body})"),
            kind: ItemKind::Unit,
        }))
    }

    /// After `(?P`: a named group's name (`<name>`), or a named backreference (`=name)`, None: parsed for its errors,
    /// never reproduced).
    fn python_extension(&mut self) -> Result<Option<String>, Failure> {
        if self.eat('<') {
            let n = self.until('>', "group name")?;
            self.check_group_name(&n)?;
            return Ok(Some(n));
        }
        if !self.eat('=') {
            return match self.next() {
                None => invalid("unexpected end of pattern"),
                Some(c) => invalid(format!("unknown extension ?P{c}")),
            };
        }
        let n = self.until(')', "group name")?;
        self.check_group_name(&n)?;
        let Some(gid) = self.names.iter().find(|(k, _)| *k == n).map(|(_, g)| *g) else {
            return invalid(format!("unknown group name '{n}'"));
        };
        if self.open.contains(&gid) {
            return invalid("cannot refer to an open group");
        }
        self.cannot("a backreference");
        Ok(None)
    }

    /// A lookahead or lookbehind, after `(?` and its first character: parsed for its errors, never reproduced.
    fn lookaround(&mut self, c: char, flags: Flags, nested: usize) -> Result<Item, Failure> {
        if c == '<' {
            match self.next() {
                None => return invalid("unexpected end of pattern"),
                Some('=' | '!') => {}
                Some(d) => return invalid(format!("unknown extension ?<{d}")),
            }
        }
        self.cannot("a lookahead or lookbehind assertion");
        self.parse_alternation(flags, nested + 1)?;
        if !self.eat(')') {
            return invalid("missing ), unterminated subpattern");
        }
        Ok(unchecked_item())
    }

    /// `(?(id)yes|no)`, after `(?(`: parsed for its errors, never reproduced.
    fn conditional(&mut self, flags: &mut Flags, nested: usize) -> Result<Item, Failure> {
        let name = self.until(')', "group name")?;
        if is_identifier(&name) {
            self.check_group_name(&name)?;
            if !self.names.iter().any(|(k, _)| *k == name) {
                return invalid(format!("unknown group name '{name}'"));
            }
        } else {
            let Some(n) = name
                .chars()
                .all(|c| c.is_ascii_digit())
                .then(|| name.parse::<u64>().ok())
                .flatten()
            else {
                return invalid(format!("bad character in group name '{name}'"));
            };
            if n == 0 {
                return invalid("bad group number");
            }
            if n >= 1 << 30 {
                return invalid(format!("invalid group reference {n}"));
            }
            self.condition_refs.push(n);
        }
        self.cannot("a conditional group");
        let mut local = *flags;
        self.parse_sequence(&mut local, nested + 1, false)?;
        if self.eat('|') {
            self.parse_sequence(&mut local, nested + 1, false)?;
            if self.peek_is('|') {
                return invalid("conditional backref with more than two branches");
            }
        }
        if !self.eat(')') {
            return invalid("missing ), unterminated subpattern");
        }
        Ok(Item {
            rust: String::new(),
            kind: ItemKind::Unit,
        })
    }

    fn check_group_name(&mut self, name: &str) -> Result<(), Failure> {
        if !name.is_ascii() {
            // Python's identifier rules for non-ASCII names are Unicode's XID classes and NFKC; not reproduced.
            self.cannot("a non-ASCII group name");
            return Ok(());
        }
        if !is_identifier(name) {
            return invalid(format!("bad character in group name '{name}'"));
        }
        Ok(())
    }

    /// `_parse_flags`, after `(?` and its first character: None for global flags (`(?i)`), else the scoped flags
    /// turned on and off (`(?i-s:`).
    fn inline_flags(&mut self, first: char) -> Result<Option<(String, String)>, Failure> {
        let mut add = String::new();
        let mut del = String::new();
        let mut c = first;
        if c != '-' {
            loop {
                if c == 'L' {
                    return invalid("bad inline flags: cannot use 'L' flag with a str pattern");
                }
                add.push(c);
                if "au".contains(c) && add.contains('a') && add.contains('u') {
                    return invalid("bad inline flags: flags 'a', 'u' and 'L' are incompatible");
                }
                c = match self.next() {
                    None => return invalid("missing -, : or )"),
                    Some(c) => c,
                };
                if ")-:".contains(c) {
                    break;
                }
                if !"iLmsxatu".contains(c) {
                    return invalid(if c.is_alphabetic() {
                        "unknown flag"
                    } else {
                        "missing -, : or )"
                    });
                }
            }
        }
        if c == ')' {
            for f in add.chars() {
                match f {
                    'i' => self.flags.ignore_case = true,
                    'm' => self.flags.multiline = true,
                    's' => self.flags.dot_all = true,
                    'x' => self.flags.verbose = true,
                    't' => self.cannot("the template flag"),
                    'a' => self.ascii = true,
                    'u' => self.unicode = true,
                    _ => {}
                }
            }
            return Ok(None);
        }
        if add.contains('t') {
            return invalid("bad inline flags: cannot turn on global flag");
        }
        if c == '-' {
            c = match self.next() {
                None => return invalid("missing flag"),
                Some(c) if "iLmsxatu".contains(c) => c,
                Some(c) if c.is_alphabetic() => return invalid("unknown flag"),
                Some(_) => return invalid("missing flag"),
            };
            loop {
                if "aLu".contains(c) {
                    return invalid("bad inline flags: cannot turn off flags 'a', 'u' and 'L'");
                }
                del.push(c);
                c = match self.next() {
                    None => return invalid("missing :"),
                    Some(':') => break,
                    Some(c) if "iLmsxatu".contains(c) => c,
                    Some(c) if c.is_alphabetic() => return invalid("unknown flag"),
                    Some(_) => return invalid("missing :"),
                };
            }
        }
        if del.contains('t') {
            return invalid("bad inline flags: cannot turn off global flag");
        }
        if add.chars().any(|f| del.contains(f)) {
            return invalid("bad inline flags: flag turned on and off");
        }
        Ok(Some((add, del)))
    }
}

/// What stands for a construct nvfix does not reproduce (the pattern is refused as a whole anyway).
fn unchecked_item() -> Item {
    Item {
        rust: String::new(),
        kind: ItemKind::Unit,
    }
}

/// A class member before it is written out.
enum ClassMember {
    Char(char),
    Category(char),
}

impl ClassMember {
    fn rust(&self, flags: &Flags, p: &mut Parser) -> Result<String, Failure> {
        Ok(match self {
            ClassMember::Char(c) => {
                if flags.ignore_case && !c.is_ascii() {
                    p.cannot(NON_ASCII_WITHOUT_CASE);
                }
                class_char(*c)
            }
            ClassMember::Category(c) => category(*c).into(),
        })
    }
}

fn apply(mut flags: Flags, letters: String, on: bool) -> Flags {
    for f in letters.chars() {
        match f {
            'i' => flags.ignore_case = on,
            'm' => flags.multiline = on,
            's' => flags.dot_all = on,
            'x' => flags.verbose = on,
            _ => {}
        }
    }
    flags
}

/// A repeat count; Python raises `OverflowError` at `MAXREPEAT` and beyond.
fn count(digits: &str) -> Result<u64, Failure> {
    match digits.parse::<u64>() {
        Ok(n) if n < MAXREPEAT => Ok(n),
        _ => invalid("the repetition number is too large (OverflowError)"),
    }
}

/// `\a \f \n \r \t \v \\` (`\b` is a boundary outside a class, a backspace inside).
fn simple_escape(c: char) -> Option<char> {
    Some(match c {
        'a' => '\u{7}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        '\\' => '\\',
        _ => return None,
    })
}

/// Python's categories, as their ASCII members (exact on ASCII names; see the module comment). Python's `\s` is
/// `str.isspace()`, which holds for \x1c–\x1f as well.
fn category(c: char) -> &'static str {
    match c {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        's' => r"[\t\n\x0B\x0C\r \x1C-\x1F]",
        'S' => r"[^\t\n\x0B\x0C\r \x1C-\x1F]",
        'w' => "[0-9A-Za-z_]",
        _ => "[^0-9A-Za-z_]",
    }
}

/// Are all the `\x{…}` escapes in a class body ASCII (at most `\x{7F}`)?
fn ascii_escapes_only(body: &str) -> bool {
    body.split("\\x{").skip(1).all(|rest| {
        rest.split('}')
            .next()
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .is_some_and(|code| code < 0x80)
    })
}

/// One character inside a Rust class, escaped whatever it is.
fn class_char(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", u32::from(c))
    }
}

/// Python's `str.isidentifier()` for ASCII names.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> Option<bool> {
        PythonRegex::compile(pattern).matches(name)
    }

    fn invalid_message(pattern: &str) -> String {
        match PythonRegex::compile(pattern) {
            PythonRegex::Invalid(m) => m,
            other => panic!("{pattern}: {other:?}"),
        }
    }

    #[test]
    fn anchored_at_the_start_only() {
        assert_eq!(m("nvidia-", "nvidia-driver-580"), Some(true));
        assert_eq!(m("nvidia-", "libnvidia-compute-580"), Some(false));
        assert_eq!(m("nvidia-driver-580$", "nvidia-driver-580"), Some(true));
        assert_eq!(
            m("nvidia-driver-580$", "nvidia-driver-580-open"),
            Some(false)
        );
        assert_eq!(m("a|nvidia", "nvidia-utils-580"), Some(true));
        assert_eq!(m("a|nvidia", "xnvidia"), Some(false));
        assert_eq!(m("", "anything"), Some(true));
    }

    #[test]
    fn an_unbalanced_parenthesis_is_python_s_error_not_a_second_unanchored_alternative() {
        assert_eq!(invalid_message("x)|(nvidia"), "unbalanced parenthesis");
        assert_eq!(m("x)|(nvidia", "libnvidia-compute-580"), None);
        assert_eq!(
            invalid_message("(nvidia"),
            "missing ), unterminated subpattern"
        );
    }

    #[test]
    fn python_errors_are_python_s() {
        for (pattern, message) in [
            ("nvidia-[", "unterminated character set"),
            ("*nvidia", "nothing to repeat"),
            ("^*", "nothing to repeat"),
            ("a**", "multiple repeat"),
            ("a{2}{3}", "multiple repeat"),
            ("a{3,2}", "min repeat greater than max repeat"),
            (
                "a{4294967295}",
                "the repetition number is too large (OverflowError)",
            ),
            (r"\q", "bad escape \\q"),
            (r"\x4", "incomplete escape \\x4"),
            (r"\1", "invalid group reference 1"),
            (r"(a\1)", "cannot refer to an open group"),
            ("[z-a]", "bad character range"),
            (r"[\w-z]", "bad character range"),
            ("a(?i)", "global flags not at the start of the expression"),
            (
                "(?L)a",
                "bad inline flags: cannot use 'L' flag with a str pattern",
            ),
            (
                "(?au)a",
                "bad inline flags: flags 'a', 'u' and 'L' are incompatible",
            ),
            ("(?<n>a)", "unknown extension ?<n"),
            ("(?P<1>a)", "bad character in group name '1'"),
            (
                "(?P<a>x)(?P<a>y)",
                "redefinition of group name 'a' as group 2; was group 1",
            ),
            ("(?i-i:a)", "bad inline flags: flag turned on and off"),
            ("(?#x", "missing ), unterminated comment"),
            ("\\", "bad escape (end of pattern)"),
            (r"\400", "octal escape value \\400 outside of range 0-0o377"),
            (r"(?(2)a|b)(c)", "invalid group reference 2"),
        ] {
            assert_eq!(invalid_message(pattern), message, "{pattern}");
        }
    }

    #[test]
    fn what_rust_cannot_say_is_unchecked_not_guessed() {
        for pattern in [
            "nvidia(?!-open)",
            "(?<=x)a",
            r"(a)\1",
            "(?P<x>a)(?P=x)",
            "a*+",
            "(?>a)",
            "(a)(?(1)b)",
            r"\N{LATIN SMALL LETTER A}",
            "(?i)ı",
        ] {
            assert!(
                matches!(PythonRegex::compile(pattern), PythonRegex::Unchecked(_)),
                "{pattern}"
            );
        }
    }

    #[test]
    fn python_only_syntax_means_what_python_means() {
        // `{` that is not a repeat is a literal; `{,n}` is `{0,n}`.
        assert_eq!(m("a{", "a{"), Some(true));
        assert_eq!(m("a{x}", "a{x}"), Some(true));
        assert_eq!(m("a{}", "a{}"), Some(true));
        assert_eq!(m("xa{,2}$", "xaa"), Some(true));
        assert_eq!(m("xa{,2}$", "xaaa"), Some(false));
        // `]` first in a class is a member; `[` inside is a member.
        assert_eq!(m("[]a]+$", "a]a"), Some(true));
        assert_eq!(m("[[a]$", "["), Some(true));
        // A comment group repeats the item before it.
        assert_eq!(m("ab(?#c)*$", "a"), Some(true));
        // Verbose mode drops blanks and comments outside classes.
        assert_eq!(m("(?x) nvidia - [ ]  # the driver", "nvidia- "), Some(true));
        // `\Z` is the very end; octal and hex escapes.
        assert_eq!(m(r"nvidia\Z", "nvidia"), Some(true));
        assert_eq!(m(r"\x6evidia", "nvidia"), Some(true));
        assert_eq!(m(r"\156vidia", "nvidia"), Some(true));
        // Case-insensitive ASCII.
        assert_eq!(m("(?i)NVIDIA", "nvidia-driver"), Some(true));
        assert_eq!(m("(?i:N)vidia", "nvidia"), Some(true));
        assert_eq!(m("(?i:N)VIDIA", "nvidia"), Some(false));
    }

    #[test]
    fn a_huge_word_class_compiles_quickly() {
        let started = std::time::Instant::now();
        let re = PythonRegex::compile(r"\w{500}");
        assert_eq!(re.matches("nvidia"), Some(false));
        assert!(
            started.elapsed().as_millis() < 2000,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn nesting_past_the_limit_is_unchecked_not_a_stack_overflow() {
        let deep = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(matches!(
            PythonRegex::compile(&deep),
            PythonRegex::Unchecked(_)
        ));
    }
}
