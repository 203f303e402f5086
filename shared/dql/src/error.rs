//! The one error type every parser in this crate returns.

use std::fmt;

/// A place in the parsed text: 1-based line and column (columns count characters, not bytes)
/// plus the 0-based byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in Unicode scalar values.
    pub column: usize,
    /// 0-based byte offset into the parsed text.
    pub offset: usize,
}

impl Pos {
    /// The position of the first character of a text.
    pub const START: Pos = Pos {
        line: 1,
        column: 1,
        offset: 0,
    };
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} column {}", self.line, self.column)
    }
}

/// A syntax or validation error, naming where in the text it was found.
///
/// Displayed as `line L column C: message`; messages are lowercase and say what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} column {column}: {message}")]
pub struct ParseError {
    /// 1-based line of the offending text.
    pub line: usize,
    /// 1-based column (in characters) of the offending text.
    pub column: usize,
    /// What was wrong and what was expected, without the position.
    pub message: String,
}

impl ParseError {
    /// An error at `pos`.
    pub fn at(pos: Pos, message: impl Into<String>) -> Self {
        ParseError {
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }
}

/// Shorthand for results of this crate's parsers.
pub type Result<T, E = ParseError> = std::result::Result<T, E>;
