//! A character cursor over the source text that keeps line and column up to date, shared by
//! every lexer so that a parser can hand its position to another (the upsert parser hands the
//! body of a `set { ... }` block to the N-Quad parser and gets it back after the closing brace).

use crate::error::{ParseError, Pos};

/// The deepest nesting of brackets, objects or boolean expressions any parser accepts, so that
/// hostile input cannot overflow the stack of a recursive-descent parser.
pub(crate) const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    src: &'a str,
    pos: Pos,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Cursor {
            src,
            pos: Pos::START,
        }
    }

    pub(crate) fn pos(&self) -> Pos {
        self.pos
    }

    pub(crate) fn src(&self) -> &'a str {
        self.src
    }

    /// The text from the cursor to the end.
    pub(crate) fn rest(&self) -> &'a str {
        &self.src[self.pos.offset..]
    }

    pub(crate) fn is_eof(&self) -> bool {
        self.pos.offset >= self.src.len()
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn starts_with(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos.offset += c.len_utf8();
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// Consumes characters while `f` holds and returns them as a slice of the source.
    pub(crate) fn take_while(&mut self, mut f: impl FnMut(char) -> bool) -> &'a str {
        let start = self.pos.offset;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.bump();
        }
        &self.src[start..self.pos.offset]
    }

    /// Skips spaces and tabs (not newlines).
    pub(crate) fn skip_inline_space(&mut self) {
        self.take_while(|c| c == ' ' || c == '\t');
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::at(self.pos, message)
    }
}

/// Describes the next character for a "found ..." part of an error message.
pub(crate) fn describe_char(c: Option<char>) -> String {
    match c {
        None => "end of input".to_string(),
        Some('\n') | Some('\r') => "end of line".to_string(),
        Some(c) if c.is_control() => format!("control character U+{:04X}", c as u32),
        Some(c) => format!("'{c}'"),
    }
}

/// Reads the `XXXX` of a `\uXXXX` escape (or the eight digits of `\UXXXXXXXX`) and returns the
/// character; `start` is where the backslash was, for the error.
pub(crate) fn read_hex_escape(
    cur: &mut Cursor<'_>,
    digits: usize,
    start: Pos,
) -> Result<u32, ParseError> {
    let mut v: u32 = 0;
    for _ in 0..digits {
        match cur.peek().and_then(|c| c.to_digit(16)) {
            Some(d) => {
                v = v * 16 + d;
                cur.bump();
            }
            None => {
                return Err(ParseError::at(
                    start,
                    format!(
                        "expected {digits} hex digits in this escape sequence, found {}",
                        describe_char(cur.peek())
                    ),
                ));
            }
        }
    }
    Ok(v)
}

/// Parses a uid as Dgraph writes it: `0x` hexadecimal or decimal, greater than zero.
pub(crate) fn parse_uid(s: &str) -> Option<u64> {
    let v = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()?
    } else {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u64>().ok()?
    };
    (v != 0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_tracks_lines_and_columns_in_characters() {
        let mut c = Cursor::new("aé\nb");
        c.bump();
        c.bump();
        assert_eq!(
            c.pos(),
            Pos {
                line: 1,
                column: 3,
                offset: 3
            }
        );
        c.bump();
        assert_eq!(
            c.pos(),
            Pos {
                line: 2,
                column: 1,
                offset: 4
            }
        );
        assert_eq!(c.peek(), Some('b'));
    }

    #[test]
    fn uids_are_hex_or_decimal_and_nonzero() {
        assert_eq!(parse_uid("0x1a"), Some(26));
        assert_eq!(parse_uid("123"), Some(123));
        assert_eq!(parse_uid("0x0"), None);
        assert_eq!(parse_uid("0"), None);
        assert_eq!(parse_uid("0x"), None);
        assert_eq!(parse_uid("-1"), None);
        assert_eq!(parse_uid("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_uid("0x1ffffffffffffffff"), None);
        assert_eq!(parse_uid("alice"), None);
    }
}
