//! Where a fact came from (file and line), and the error a parser returns on input it cannot read.

use serde::Serialize;
use std::fmt;

/// A pointer to the evidence behind a fact: the file (as seen on the host, e.g. `/proc/driver/nvidia/version`)
/// and, when it is line-oriented, the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The line's text (trimmed), when it helps a reader see why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Evidence {
    pub fn file(file: impl Into<String>) -> Self {
        Evidence {
            file: file.into(),
            line: None,
            text: None,
        }
    }
    pub fn line(file: impl Into<String>, line: usize, text: impl Into<String>) -> Self {
        Evidence {
            file: file.into(),
            line: Some(line),
            text: Some(text.into()),
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{}", self.file, n),
            None => write!(f, "{}", self.file),
        }
    }
}

/// A parser's complaint: what it was reading, where (1-based line, 0 when not line-oriented) and why.
/// Rendered as one line, because that is what the user sees for garbled input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}{}: {message}", if *line > 0 { format!(" line {line}") } else { String::new() })]
pub struct ParseError {
    pub what: &'static str,
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(what: &'static str, line: usize, message: impl Into<String>) -> Self {
        ParseError {
            what,
            line,
            message: message.into(),
        }
    }
}
