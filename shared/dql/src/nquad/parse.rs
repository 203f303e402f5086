//! The N-Quad parser: a hand-written scanner over a [`Cursor`], one statement at a time.

use super::{Facet, FacetValue, NQuad, Object, Predicate, Subject, Value};
use crate::cursor::{Cursor, describe_char, parse_uid, read_hex_escape};
use crate::datetime::{is_datetime, is_facet_datetime};
use crate::error::{ParseError, Pos, Result};

/// Which mutation the N-Quads belong to; `*` is only meaningful in deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Any,
    Set,
    Delete,
}

/// Parses N-Quads without checking what the mutation kind allows (`*` is accepted anywhere it
/// is syntactically valid). Prefer [`parse_set_nquads`] / [`parse_delete_nquads`] when the kind
/// is known.
pub fn parse_nquads(input: &str) -> Result<Vec<NQuad>> {
    let mut cur = Cursor::new(input);
    parse_all(&mut cur, Mode::Any, None)
}

/// Parses the N-Quads of a `set` block or `set_nquads`: `*` is an error.
pub fn parse_set_nquads(input: &str) -> Result<Vec<NQuad>> {
    let mut cur = Cursor::new(input);
    parse_all(&mut cur, Mode::Set, None)
}

/// Parses the N-Quads of a `delete` block or `del_nquads`: `S P *` and `S * *` are allowed.
pub fn parse_delete_nquads(input: &str) -> Result<Vec<NQuad>> {
    let mut cur = Cursor::new(input);
    parse_all(&mut cur, Mode::Delete, None)
}

/// Parses N-Quads from inside a `{ ... }` block of an upsert; the cursor is just after the
/// opening brace and is left just after the closing one. `block` names the block and where it
/// opened, for the "not closed" error.
pub(crate) fn parse_block(
    cur: &mut Cursor<'_>,
    mode: Mode,
    block: (&str, Pos),
) -> Result<Vec<NQuad>> {
    parse_all(cur, mode, Some(block))
}

fn parse_all(cur: &mut Cursor<'_>, mode: Mode, block: Option<(&str, Pos)>) -> Result<Vec<NQuad>> {
    let mut out = Vec::new();
    loop {
        skip_space_and_comments(cur);
        match (cur.peek(), block) {
            (None, None) => return Ok(out),
            (None, Some((name, open))) => {
                return Err(cur.error(format!(
                    "expected '}}' to close the {name} block opened at {open}"
                )));
            }
            (Some('}'), Some(_)) => {
                cur.bump();
                return Ok(out);
            }
            _ => out.push(statement(cur, mode)?),
        }
    }
}

fn skip_space_and_comments(cur: &mut Cursor<'_>) {
    loop {
        cur.take_while(char::is_whitespace);
        if cur.peek() == Some('#') {
            cur.take_while(|c| c != '\n');
        } else {
            return;
        }
    }
}

/// Skips spaces before the next term of the statement begun at `start`, failing when the line
/// ends first: an N-Quad must be on one line.
fn before_term(cur: &mut Cursor<'_>, what: &str, start: Pos) -> Result<()> {
    cur.skip_inline_space();
    match cur.peek() {
        None | Some('\n') | Some('\r') | Some('#') => Err(cur.error(format!(
            "expected {what}, found {}; the N-Quad that starts at {start} must be on one line and end with '.'",
            match cur.peek() {
                Some('#') => "a comment".to_string(),
                c => describe_char(c),
            }
        ))),
        _ => Ok(()),
    }
}

fn statement(cur: &mut Cursor<'_>, mode: Mode) -> Result<NQuad> {
    let start = cur.pos();
    let subject = subject(cur)?;
    before_term(cur, "a predicate", start)?;
    let pred_pos = cur.pos();
    let (predicate, pred_lang) = predicate(cur)?;
    before_term(cur, "an object", start)?;
    let obj_pos = cur.pos();
    let (object, lit_lang) = object(cur)?;
    cur.skip_inline_space();
    let facets = if cur.peek() == Some('(') {
        facets(cur)?
    } else {
        Vec::new()
    };
    cur.skip_inline_space();
    match cur.peek() {
        Some('.') => {
            cur.bump();
        }
        Some('<') | Some('_') => {
            return Err(cur.error(
                "graph labels (a fourth term before '.') are not supported; write subject, predicate and object, then '.'",
            ));
        }
        c => {
            return Err(cur.error(format!(
                "expected '.' to end the N-Quad that starts at {start}, found {}",
                describe_char(c)
            )));
        }
    }

    let lang = match (pred_lang, lit_lang) {
        (Some(_), Some(_)) => {
            return Err(ParseError::at(
                obj_pos,
                "the language is given twice, on the predicate and on the literal; keep one",
            ));
        }
        (Some(l), None) => {
            if !matches!(object, Object::Value(_)) {
                return Err(ParseError::at(
                    pred_pos,
                    format!(
                        "language @{l} only applies to literal values, but the object is not a literal"
                    ),
                ));
            }
            Some(l)
        }
        (None, l) => l,
    };

    if predicate == Predicate::Star && object != Object::Star {
        return Err(ParseError::at(
            obj_pos,
            "when the predicate is '*' the object must be '*' too (S * * deletes every edge of S)",
        ));
    }
    if mode == Mode::Set {
        if predicate == Predicate::Star {
            return Err(ParseError::at(
                pred_pos,
                "'*' is only allowed in delete mutations",
            ));
        }
        if object == Object::Star {
            return Err(ParseError::at(
                obj_pos,
                "'*' is only allowed in delete mutations",
            ));
        }
    }
    Ok(NQuad {
        subject,
        predicate,
        object,
        lang,
        facets,
    })
}

fn subject(cur: &mut Cursor<'_>) -> Result<Subject> {
    let pos = cur.pos();
    match cur.peek() {
        Some('<') => {
            let iri = iri(cur)?;
            match bracketed_blank(&iri, pos)? {
                Some(label) => Ok(Subject::Blank(label)),
                None => uid_from_iri(&iri, pos, "subject").map(Subject::Uid),
            }
        }
        Some('_') => blank(cur).map(Subject::Blank),
        Some('u') if cur.starts_with("uid") => var_func(cur, "uid").map(Subject::Var),
        Some(c) if c.is_ascii_digit() => {
            let text = cur.take_while(|c| !c.is_whitespace());
            parse_uid(text).map(Subject::Uid).ok_or_else(|| {
                ParseError::at(
                    pos,
                    format!("expected a uid like 0x1a as the subject, found \"{text}\""),
                )
            })
        }
        Some('*') => Err(cur.error("'*' is not allowed as a subject; write the uid of the node")),
        c => Err(cur.error(format!(
            "expected a subject (<0x1a>, _:blank or uid(var)), found {}",
            describe_char(c)
        ))),
    }
}

/// `<_:name>`, which Dgraph reads as the blank node `_:name` (its exports write them so): the
/// label, if `iri` is one.
fn bracketed_blank(iri: &str, pos: Pos) -> Result<Option<String>> {
    let Some(label) = iri.strip_prefix("_:") else {
        return Ok(None);
    };
    if label.is_empty() {
        return Err(ParseError::at(
            pos,
            "expected the name of the blank node after '<_:'",
        ));
    }
    Ok(Some(label.to_string()))
}

fn uid_from_iri(iri: &str, pos: Pos, role: &str) -> Result<u64> {
    parse_uid(iri).ok_or_else(|| {
        let hint = if iri == "0" || iri.eq_ignore_ascii_case("0x0") {
            "uid 0 is not a valid node".to_string()
        } else {
            format!("<{iri}> is not a uid")
        };
        ParseError::at(
            pos,
            format!(
                "{hint}: the {role} must be a uid like <0x1a>, a blank node like _:name or uid(var)"
            ),
        )
    })
}

/// Reads `<...>` and returns what is inside.
fn iri(cur: &mut Cursor<'_>) -> Result<String> {
    let open = cur.pos();
    cur.bump();
    let mut out = String::new();
    loop {
        match cur.peek() {
            Some('>') => {
                cur.bump();
                return Ok(out);
            }
            None | Some('\n') | Some('\r') => {
                return Err(cur.error(format!("expected '>' to close the '<' opened at {open}")));
            }
            Some(c) if c.is_whitespace() || "<\"{}|^`\\".contains(c) => {
                return Err(cur.error(format!("character '{c}' is not allowed inside <...>")));
            }
            Some(c) => {
                out.push(c);
                cur.bump();
            }
        }
    }
}

fn is_pn_chars_base(c: char) -> bool {
    c.is_ascii_alphabetic()
        || matches!(c as u32,
            0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x2FF | 0x370..=0x37D | 0x37F..=0x1FFF
            | 0x200C..=0x200D | 0x2070..=0x218F | 0x2C00..=0x2FEF | 0x3001..=0xD7FF
            | 0xF900..=0xFDCF | 0xFDF0..=0xFFFD | 0x10000..=0xEFFFF)
}

fn is_pn_chars_u(c: char) -> bool {
    c == '_' || c == ':' || is_pn_chars_base(c)
}

fn is_pn_char(c: char) -> bool {
    is_pn_chars_u(c)
        || c == '-'
        || c.is_ascii_digit()
        || matches!(c as u32, 0xB7 | 0x300..=0x36F | 0x203F..=0x2040)
}

/// Reads `_:label` (RDF's BLANK_NODE_LABEL: dots allowed inside, not at the end) and returns the
/// label.
fn blank(cur: &mut Cursor<'_>) -> Result<String> {
    if !cur.starts_with("_:") {
        cur.bump();
        return Err(cur.error(format!(
            "expected ':' after '_' in a blank node like _:name, found {}",
            describe_char(cur.peek())
        )));
    }
    cur.bump();
    cur.bump();
    match cur.peek() {
        Some(c) if is_pn_chars_u(c) || c.is_ascii_digit() => {}
        c => {
            return Err(cur.error(format!(
                "expected the name of the blank node after '_:', found {}",
                describe_char(c)
            )));
        }
    }
    // Trailing dots end the statement rather than belong to the label.
    let rest = cur.rest();
    let mut len = 0;
    let mut last_non_dot = 0;
    for c in rest.chars() {
        if c == '.' || is_pn_char(c) {
            len += c.len_utf8();
            if c != '.' {
                last_non_dot = len;
            }
        } else {
            break;
        }
    }
    let label = &rest[..last_non_dot];
    for _ in label.chars() {
        cur.bump();
    }
    Ok(label.to_string())
}

/// Reads `uid(name)` or `val(name)` and returns the variable name.
fn var_func(cur: &mut Cursor<'_>, func: &str) -> Result<String> {
    let pos = cur.pos();
    for _ in func.chars() {
        cur.bump();
    }
    cur.skip_inline_space();
    if !cur.eat('(') {
        return Err(cur.error(format!(
            "expected '(' after {func}, as in {func}(v), found {}",
            describe_char(cur.peek())
        )));
    }
    cur.skip_inline_space();
    let name = cur.take_while(is_var_char);
    if name.is_empty() {
        return Err(cur.error(format!(
            "expected a variable name inside {func}( ), found {}",
            describe_char(cur.peek())
        )));
    }
    cur.skip_inline_space();
    if !cur.eat(')') {
        return Err(cur.error(format!(
            "expected ')' to close the {func}( opened at {pos}, found {}",
            describe_char(cur.peek())
        )));
    }
    Ok(name.to_string())
}

pub(crate) fn is_var_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

fn is_bare_pred_char(c: char) -> bool {
    c.is_alphanumeric() || "_.-:/@~".contains(c)
}

/// Splits `name@lang` at the last `@`.
fn split_lang(s: &str) -> (&str, Option<&str>) {
    match s.rfind('@') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

fn predicate(cur: &mut Cursor<'_>) -> Result<(Predicate, Option<String>)> {
    let pos = cur.pos();
    let text = match cur.peek() {
        Some('*') => {
            cur.bump();
            return Ok((Predicate::Star, None));
        }
        Some('<') => iri(cur)?,
        Some(c) if c.is_alphabetic() || c == '_' || c == '~' => {
            cur.take_while(is_bare_pred_char).to_string()
        }
        c => {
            return Err(cur.error(format!(
                "expected a predicate (<name> or name), found {}",
                describe_char(c)
            )));
        }
    };
    let (name, lang) = split_lang(&text);
    if let Some(forward) = name.strip_prefix('~') {
        return Err(ParseError::at(
            pos,
            format!(
                "reverse predicate <{name}> cannot be mutated; mutate the forward edge <{forward}> instead"
            ),
        ));
    }
    if !name.chars().any(char::is_alphanumeric) {
        return Err(ParseError::at(
            pos,
            format!("predicate \"{name}\" must contain at least one letter or digit"),
        ));
    }
    let lang = match lang {
        Some(l) if !is_lang_tag(l) => {
            return Err(ParseError::at(
                pos,
                format!(
                    "\"{l}\" is not a language tag; write letters, then optional -subtags, like en or en-US"
                ),
            ));
        }
        l => l.map(str::to_string),
    };
    Ok((Predicate::Named(name.to_string()), lang))
}

fn is_lang_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or("");
    !first.is_empty()
        && first.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn object(cur: &mut Cursor<'_>) -> Result<(Object, Option<String>)> {
    let pos = cur.pos();
    let obj = match cur.peek() {
        Some('<') => {
            let iri = iri(cur)?;
            match bracketed_blank(&iri, pos)? {
                Some(label) => Object::Blank(label),
                None => Object::Uid(uid_from_iri(&iri, pos, "object")?),
            }
        }
        Some('_') => Object::Blank(blank(cur)?),
        Some('u') if cur.starts_with("uid") => Object::UidVar(var_func(cur, "uid")?),
        Some('v') if cur.starts_with("val") => Object::ValVar(var_func(cur, "val")?),
        Some('*') => {
            cur.bump();
            Object::Star
        }
        Some('"') => return literal(cur),
        c => {
            return Err(cur.error(format!(
                "expected an object (<0x1a>, _:blank, uid(v), val(v), * or a \"literal\"), found {}",
                describe_char(c)
            )));
        }
    };
    Ok((obj, None))
}

/// Reads a double-quoted literal with its escapes, leaving the cursor after the closing quote.
pub(crate) fn quoted_string(cur: &mut Cursor<'_>) -> Result<String> {
    let open = cur.pos();
    cur.bump();
    let mut out = String::new();
    loop {
        let here = cur.pos();
        match cur.bump() {
            Some('"') => return Ok(out),
            None | Some('\n') | Some('\r') => {
                return Err(ParseError::at(
                    here,
                    format!(
                        "expected '\"' to close the string opened at {open}; write a line break as \\n"
                    ),
                ));
            }
            Some('\\') => {
                let c = match cur.bump() {
                    Some('"') => '"',
                    Some('\'') => '\'',
                    Some('\\') => '\\',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some('b') => '\u{8}',
                    Some('f') => '\u{c}',
                    Some(u @ ('u' | 'U')) => {
                        let code = read_hex_escape(cur, if u == 'u' { 4 } else { 8 }, here)?;
                        char::from_u32(code).ok_or_else(|| {
                            ParseError::at(
                                here,
                                format!("\\{u}{code:X} is not a valid Unicode character"),
                            )
                        })?
                    }
                    c => {
                        return Err(ParseError::at(
                            here,
                            format!(
                                "unknown escape sequence \\{}; use \\\", \\\\, \\n, \\r, \\t, \\b, \\f, \\uXXXX or \\UXXXXXXXX",
                                c.map(String::from).unwrap_or_default()
                            ),
                        ));
                    }
                };
                out.push(c);
            }
            Some(c) => out.push(c),
        }
    }
}

fn literal(cur: &mut Cursor<'_>) -> Result<(Object, Option<String>)> {
    let lit_pos = cur.pos();
    let text = quoted_string(cur)?;
    if cur.peek() == Some('@') {
        cur.bump();
        let pos = cur.pos();
        let tag = cur.take_while(|c| c.is_ascii_alphanumeric() || c == '-');
        if !is_lang_tag(tag) {
            return Err(ParseError::at(
                pos,
                format!("expected a language tag like en or en-US after '@', found \"{tag}\""),
            ));
        }
        return Ok((Object::Value(Value::Default(text)), Some(tag.to_string())));
    }
    if cur.starts_with("^^") {
        cur.bump();
        cur.bump();
        let pos = cur.pos();
        if cur.peek() != Some('<') {
            return Err(cur.error(format!(
                "expected a type like <xs:int> after '^^', found {}",
                describe_char(cur.peek())
            )));
        }
        let ty = iri(cur)?;
        return Ok((Object::Value(typed_value(text, &ty, lit_pos, pos)?), None));
    }
    Ok((Object::Value(Value::Default(text)), None))
}

const XSD: &str = "http://www.w3.org/2001/XMLSchema#";

/// Converts a typed literal; errors about the value point at the literal (`lit_pos`), errors
/// about the type at the type (`ty_pos`).
fn typed_value(text: String, ty: &str, lit_pos: Pos, ty_pos: Pos) -> Result<Value> {
    let short = match ty.strip_prefix(XSD) {
        Some(rest) => format!("xs:{rest}"),
        None => ty.to_string(),
    };
    let bad = |what: &str| {
        ParseError::at(
            lit_pos,
            format!("\"{text}\" is not {what}, as the type <{ty}> requires"),
        )
    };
    if text.is_empty() && short != "xs:string" {
        return Err(ParseError::at(
            lit_pos,
            format!("an empty literal cannot have the type <{ty}>"),
        ));
    }
    Ok(match short.as_str() {
        "xs:string" => Value::Str(text),
        "xs:int" | "xs:integer" | "xs:positiveInteger" => {
            Value::Int(text.trim().parse().map_err(|_| bad("a 64-bit integer"))?)
        }
        "xs:float" | "xs:double" => {
            let f: f64 = text.trim().parse().map_err(|_| bad("a number"))?;
            if !f.is_finite() {
                return Err(bad("a finite number"));
            }
            Value::Float(f)
        }
        "xs:boolean" => Value::Bool(match text.trim() {
            "true" | "True" | "TRUE" | "t" | "T" | "1" => true,
            "false" | "False" | "FALSE" | "f" | "F" | "0" => false,
            _ => return Err(bad("a boolean (true or false)")),
        }),
        "xs:dateTime" | "xs:date" | "xs:gYear" | "xs:gYearMonth" => {
            if !is_datetime(text.trim()) {
                return Err(bad("a date-time like 2006-01-02T15:04:05Z"));
            }
            Value::DateTime(text)
        }
        "xs:password" => Value::Password(text),
        "geo:geojson" => {
            if !serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v.is_object()) {
                return Err(bad("a GeoJSON object"));
            }
            Value::Geo(text)
        }
        _ => {
            return Err(ParseError::at(
                ty_pos,
                format!(
                    "unsupported type <{ty}>; use xs:string, xs:int, xs:float, xs:double, xs:boolean, xs:dateTime, xs:date, xs:password or geo:geojson"
                ),
            ));
        }
    })
}

fn facets(cur: &mut Cursor<'_>) -> Result<Vec<Facet>> {
    let open = cur.pos();
    cur.bump();
    let mut out: Vec<Facet> = Vec::new();
    cur.skip_inline_space();
    if cur.eat(')') {
        return Ok(out);
    }
    loop {
        cur.skip_inline_space();
        let key_pos = cur.pos();
        let key = cur.take_while(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-');
        if key.is_empty() {
            return Err(cur.error(format!(
                "expected a facet name, found {}",
                describe_char(cur.peek())
            )));
        }
        if out.iter().any(|f| f.key == key) {
            return Err(ParseError::at(
                key_pos,
                format!("facet \"{key}\" is given twice"),
            ));
        }
        cur.skip_inline_space();
        if !cur.eat('=') {
            return Err(cur.error(format!(
                "expected '=' after the facet name \"{key}\", found {}",
                describe_char(cur.peek())
            )));
        }
        cur.skip_inline_space();
        let value = match cur.peek() {
            Some('"') => FacetValue::Str(quoted_string(cur)?),
            Some(',') | Some(')') => FacetValue::Str(String::new()),
            _ => {
                let pos = cur.pos();
                let raw = cur.take_while(|c| !c.is_whitespace() && c != ',' && c != ')');
                infer_facet(raw).ok_or_else(|| {
                    ParseError::at(
                        pos,
                        format!(
                            "could not read the facet value {raw}: expected an int, a float, true, false, a date-time, or a \"quoted string\""
                        ),
                    )
                })?
            }
        };
        out.push(Facet {
            key: key.to_string(),
            value,
        });
        cur.skip_inline_space();
        match cur.peek() {
            Some(',') => {
                cur.bump();
            }
            Some(')') => {
                cur.bump();
                return Ok(out);
            }
            c => {
                return Err(cur.error(format!(
                    "expected ',' or ')' to close the facets opened at {open}, found {}",
                    describe_char(c)
                )));
            }
        }
    }
}

/// Infers the type of an unquoted RDF facet value the way Dgraph does: int, float, bool,
/// date-time.
fn infer_facet(raw: &str) -> Option<FacetValue> {
    if let Some(i) = parse_go_int(raw) {
        return Some(FacetValue::Int(i));
    }
    let unsigned = raw.trim_start_matches(['+', '-']);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        // All digits but not an i64: too big, not a float.
        return None;
    }
    let looks_numeric = unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric && let Ok(f) = raw.parse::<f64>() {
        return f.is_finite().then_some(FacetValue::Float(f));
    }
    match raw {
        "true" => return Some(FacetValue::Bool(true)),
        "false" => return Some(FacetValue::Bool(false)),
        _ => {}
    }
    is_facet_datetime(raw).then(|| FacetValue::DateTime(raw.to_string()))
}

/// An integer with an optional sign and an optional `0x` / `0o` / `0b` base prefix.
fn parse_go_int(raw: &str) -> Option<i64> {
    let (neg, digits) = match raw.as_bytes().first()? {
        b'-' => (true, &raw[1..]),
        b'+' => (false, &raw[1..]),
        _ => (false, raw),
    };
    let (radix, body) = match digits.get(..2) {
        Some("0x") | Some("0X") => (16, &digits[2..]),
        Some("0o") | Some("0O") => (8, &digits[2..]),
        Some("0b") | Some("0B") => (2, &digits[2..]),
        _ => (10, digits),
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    i64::try_from(if neg { -magnitude } else { magnitude }).ok()
}

#[cfg(test)]
mod tests;
