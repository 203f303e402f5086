//! A small JSON parser that remembers where every value starts, so that mutation errors can
//! name a line and column, and that keeps object members in document order.

use crate::cursor::{Cursor, MAX_DEPTH, describe_char, read_hex_escape};
use crate::error::{ParseError, Pos, Result};

/// A JSON value with its position and byte range in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JVal {
    pub pos: Pos,
    pub start: usize,
    pub end: usize,
    pub kind: JKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JKind {
    Null,
    Bool(bool),
    /// The number as written; JSON's grammar has been checked.
    Num(String),
    Str(String),
    Arr(Vec<JVal>),
    /// Members in document order; a repeated key keeps its first place and its last value.
    Obj(Vec<Member>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    pub key: String,
    pub key_pos: Pos,
    pub value: JVal,
}

impl JKind {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            JKind::Null => "null",
            JKind::Bool(_) => "a boolean",
            JKind::Num(_) => "a number",
            JKind::Str(_) => "a string",
            JKind::Arr(_) => "an array",
            JKind::Obj(_) => "an object",
        }
    }
}

/// Parses one JSON document; only whitespace may follow it.
pub(crate) fn parse(src: &str) -> Result<JVal> {
    let mut cur = Cursor::new(src);
    skip_ws(&mut cur);
    let v = value(&mut cur, 0)?;
    skip_ws(&mut cur);
    if !cur.is_eof() {
        return Err(cur.error(format!(
            "expected the end of the JSON text after the top-level value, found {}",
            describe_char(cur.peek())
        )));
    }
    Ok(v)
}

fn skip_ws(cur: &mut Cursor<'_>) {
    cur.take_while(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
}

fn value(cur: &mut Cursor<'_>, depth: usize) -> Result<JVal> {
    let pos = cur.pos();
    let kind = match cur.peek() {
        Some('{') => object(cur, depth)?,
        Some('[') => array(cur, depth)?,
        Some('"') => JKind::Str(string(cur)?),
        Some('-' | '0'..='9') => JKind::Num(number(cur)?),
        Some(c) if c.is_ascii_alphabetic() => {
            let word = cur.take_while(|c| c.is_ascii_alphanumeric());
            match word {
                "true" => JKind::Bool(true),
                "false" => JKind::Bool(false),
                "null" => JKind::Null,
                _ => {
                    return Err(ParseError::at(
                        pos,
                        format!(
                            "expected a JSON value, found {word}; strings must be in double quotes"
                        ),
                    ));
                }
            }
        }
        c => return Err(cur.error(format!("expected a JSON value, found {}", describe_char(c)))),
    };
    Ok(JVal {
        pos,
        start: pos.offset,
        end: cur.pos().offset,
        kind,
    })
}

fn too_deep(cur: &Cursor<'_>) -> ParseError {
    cur.error(format!("JSON nested deeper than {MAX_DEPTH} levels"))
}

fn object(cur: &mut Cursor<'_>, depth: usize) -> Result<JKind> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(cur));
    }
    let open = cur.pos();
    cur.bump();
    let mut members: Vec<Member> = Vec::new();
    skip_ws(cur);
    if cur.eat('}') {
        return Ok(JKind::Obj(members));
    }
    loop {
        skip_ws(cur);
        let key_pos = cur.pos();
        if cur.peek() != Some('"') {
            return Err(cur.error(format!(
                "expected a \"key\" in the object opened at {open}, found {}",
                describe_char(cur.peek())
            )));
        }
        let key = string(cur)?;
        skip_ws(cur);
        if !cur.eat(':') {
            return Err(cur.error(format!(
                "expected ':' after the key \"{key}\", found {}",
                describe_char(cur.peek())
            )));
        }
        skip_ws(cur);
        let v = value(cur, depth + 1)?;
        match members.iter_mut().find(|m| m.key == key) {
            Some(m) => m.value = v,
            None => members.push(Member {
                key,
                key_pos,
                value: v,
            }),
        }
        skip_ws(cur);
        match cur.peek() {
            Some(',') => {
                cur.bump();
            }
            Some('}') => {
                cur.bump();
                return Ok(JKind::Obj(members));
            }
            c => {
                return Err(cur.error(format!(
                    "expected ',' or '}}' to close the object opened at {open}, found {}",
                    describe_char(c)
                )));
            }
        }
    }
}

fn array(cur: &mut Cursor<'_>, depth: usize) -> Result<JKind> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(cur));
    }
    let open = cur.pos();
    cur.bump();
    let mut items = Vec::new();
    skip_ws(cur);
    if cur.eat(']') {
        return Ok(JKind::Arr(items));
    }
    loop {
        skip_ws(cur);
        items.push(value(cur, depth + 1)?);
        skip_ws(cur);
        match cur.peek() {
            Some(',') => {
                cur.bump();
            }
            Some(']') => {
                cur.bump();
                return Ok(JKind::Arr(items));
            }
            c => {
                return Err(cur.error(format!(
                    "expected ',' or ']' to close the array opened at {open}, found {}",
                    describe_char(c)
                )));
            }
        }
    }
}

fn string(cur: &mut Cursor<'_>) -> Result<String> {
    let open = cur.pos();
    cur.bump();
    let mut out = String::new();
    loop {
        let here = cur.pos();
        match cur.bump() {
            None => {
                return Err(ParseError::at(
                    here,
                    format!("expected '\"' to close the string opened at {open}"),
                ));
            }
            Some('"') => return Ok(out),
            Some('\\') => {
                let c = match cur.bump() {
                    Some('"') => '"',
                    Some('\\') => '\\',
                    Some('/') => '/',
                    Some('b') => '\u{8}',
                    Some('f') => '\u{c}',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    Some('u') => unicode_escape(cur, here)?,
                    c => {
                        return Err(ParseError::at(
                            here,
                            format!(
                                "invalid escape sequence \\{} in a JSON string",
                                c.map(String::from).unwrap_or_default()
                            ),
                        ));
                    }
                };
                out.push(c);
            }
            Some(c) if (c as u32) < 0x20 => {
                return Err(ParseError::at(
                    here,
                    format!(
                        "control character U+{:04X} must be escaped in a JSON string",
                        c as u32
                    ),
                ));
            }
            Some(c) => out.push(c),
        }
    }
}

fn unicode_escape(cur: &mut Cursor<'_>, start: Pos) -> Result<char> {
    let hi = read_hex_escape(cur, 4, start)?;
    let code = if (0xD800..0xDC00).contains(&hi) {
        if !cur.starts_with("\\u") {
            return Err(ParseError::at(
                start,
                "a high surrogate \\uD8xx must be followed by a low surrogate \\uDCxx",
            ));
        }
        cur.bump();
        cur.bump();
        let lo = read_hex_escape(cur, 4, start)?;
        if !(0xDC00..0xE000).contains(&lo) {
            return Err(ParseError::at(
                start,
                "a high surrogate \\uD8xx must be followed by a low surrogate \\uDCxx",
            ));
        }
        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
    } else {
        hi
    };
    char::from_u32(code).ok_or_else(|| {
        ParseError::at(
            start,
            format!("\\u{code:04X} is not a valid Unicode character"),
        )
    })
}

fn number(cur: &mut Cursor<'_>) -> Result<String> {
    let start = cur.pos().offset;
    let bad = |cur: &Cursor<'_>| {
        cur.error(format!(
            "malformed JSON number, found {} where a digit was expected",
            describe_char(cur.peek())
        ))
    };
    cur.eat('-');
    match cur.peek() {
        Some('0') => {
            cur.bump();
        }
        Some('1'..='9') => {
            cur.take_while(|c| c.is_ascii_digit());
        }
        _ => return Err(bad(cur)),
    }
    if cur.eat('.') && cur.take_while(|c| c.is_ascii_digit()).is_empty() {
        return Err(bad(cur));
    }
    if cur.eat('e') || cur.eat('E') {
        if !cur.eat('+') {
            cur.eat('-');
        }
        if cur.take_while(|c| c.is_ascii_digit()).is_empty() {
            return Err(bad(cur));
        }
    }
    Ok(cur.src()[start..cur.pos().offset].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(src: &str) -> JKind {
        parse(src).unwrap().kind
    }

    #[test]
    fn scalars_and_escapes() {
        assert_eq!(kind("true"), JKind::Bool(true));
        assert_eq!(kind(" null "), JKind::Null);
        assert_eq!(kind("-1.5e3"), JKind::Num("-1.5e3".into()));
        assert_eq!(
            kind(r#""a\"\\\/\n\u00e9\ud83d\ude00""#),
            JKind::Str("a\"\\/\né😀".into())
        );
    }

    #[test]
    fn objects_keep_order_and_last_duplicate_wins() {
        let JKind::Obj(m) = kind(r#"{"b": 1, "a": 2, "b": 3}"#) else {
            panic!()
        };
        let keys: Vec<_> = m.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(m[0].value.kind, JKind::Num("3".into()));
    }

    #[test]
    fn positions_and_raw_ranges() {
        let src = "{\n  \"k\": [1, {\"x\": 2}]\n}";
        let v = parse(src).unwrap();
        let JKind::Obj(m) = v.kind else { panic!() };
        assert_eq!((m[0].key_pos.line, m[0].key_pos.column), (2, 3));
        assert_eq!(&src[m[0].value.start..m[0].value.end], "[1, {\"x\": 2}]");
    }

    #[test]
    fn errors_name_the_place() {
        let e = parse("{\"a\": 1,\n \"b\" 2}").unwrap_err();
        assert_eq!((e.line, e.column), (2, 6));
        assert!(e.message.contains("expected ':'"), "{e}");
        let e = parse("[1, 2").unwrap_err();
        assert!(
            e.message
                .contains("close the array opened at line 1 column 1"),
            "{e}"
        );
        assert!(parse("01").is_err());
        assert!(parse("1.").is_err());
        assert!(parse("{} x").is_err());
        assert!(parse("'a'").is_err());
        assert!(parse("\"\\ud800\"").is_err());
        assert!(parse("\"a\nb\"").is_err());
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).unwrap_err().message.contains("nested deeper"));
    }
}
