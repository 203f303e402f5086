//! Lexer and recursive-descent parser for schema text, following the grammar of Dgraph's
//! `schema/state.go` and `schema/parse.go`: a predicate is `name: type @directive... .` on one
//! line (ended by a newline or the end of the text), a type is `type Name { fields }`.
//!
//! Inside a type's braces fields may share a line; Dgraph wants one per line, so this accepts
//! a superset.

use std::collections::HashSet;

use super::{
    PredicateSchema, SchemaError, SchemaErrorKind, SchemaUpdate, TypeDef, check_indexable,
    check_tokenizer_fits,
};
use crate::tokenizer::IndexKind;
use crate::value::ScalarType;

/// Dgraph type names Lodestar does not implement, refused with a clearer message than
/// "Undefined Type".
const UNSUPPORTED_TYPES: [&str; 3] = ["bigfloat", "float32vector", "binary"];

/// Dgraph tokenizers Lodestar does not implement.
const UNSUPPORTED_TOKENIZERS: [&str; 3] = ["ngram", "bigfloat", "hnsw"];

/// Parses schema text into predicate and type definitions, applying every validation rule
/// (see [`PredicateSchema::validate`]), refusing duplicate predicates, types and fields, and
/// reporting the line and column of the first problem. `@unique` turns `@upsert` on.
pub fn parse(text: &str) -> Result<SchemaUpdate, SchemaError> {
    let tokens = lex(text)?;
    Parser { tokens, i: 0 }.schema()
}

/// Whether `name` lexes as a single bare word (no `<>` needed).
pub(crate) fn is_bare_word(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(is_name_suffix)
}

fn is_name_suffix(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word.
    Word(String),
    /// The contents of `<...>`.
    Iri(String),
    Colon,
    At,
    LParen,
    RParen,
    LSquare,
    RSquare,
    LCurl,
    RCurl,
    Dot,
    Comma,
    Bang,
    NewLine,
    Eof,
}

impl Tok {
    /// How error messages show the token.
    fn text(&self) -> String {
        match self {
            Tok::Word(w) => w.clone(),
            Tok::Iri(w) => format!("<{w}>"),
            Tok::Colon => ":".into(),
            Tok::At => "@".into(),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::LSquare => "[".into(),
            Tok::RSquare => "]".into(),
            Tok::LCurl => "{".into(),
            Tok::RCurl => "}".into(),
            Tok::Dot => ".".into(),
            Tok::Comma => ",".into(),
            Tok::Bang => "!".into(),
            Tok::NewLine => "new line".into(),
            Tok::Eof => "EOF".into(),
        }
    }

    /// The name a word or IRI stands for.
    fn name(&self) -> Option<&str> {
        match self {
            Tok::Word(w) | Tok::Iri(w) => Some(w),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: u32,
    column: u32,
}

impl Token {
    fn err(&self, kind: SchemaErrorKind) -> SchemaError {
        SchemaError {
            line: self.line,
            column: self.column,
            kind,
        }
    }

    fn syntax(&self, msg: impl Into<String>) -> SchemaError {
        self.err(SchemaErrorKind::Syntax(msg.into()))
    }
}

/// The longest predicate, type or field name a schema may use.
pub const MAX_NAME_LEN: usize = 1024;

fn lex(text: &str) -> Result<Vec<Token>, SchemaError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    while i < chars.len() {
        let c = chars[i];
        let (start_line, start_col) = (line, col);
        let single = match c {
            ':' => Some(Tok::Colon),
            '@' => Some(Tok::At),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LSquare),
            ']' => Some(Tok::RSquare),
            '{' => Some(Tok::LCurl),
            '}' => Some(Tok::RCurl),
            '.' => Some(Tok::Dot),
            ',' => Some(Tok::Comma),
            '!' => Some(Tok::Bang),
            _ => None,
        };
        let push = |tokens: &mut Vec<Token>, tok: Tok| {
            let token = Token {
                tok,
                line: start_line,
                column: start_col,
            };
            if token.tok.name().is_some_and(|n| n.len() > MAX_NAME_LEN) {
                return Err(token.syntax(format!(
                    "Invalid schema: a name of {} bytes is longer than the {MAX_NAME_LEN} allowed",
                    token.tok.name().map_or(0, str::len)
                )));
            }
            tokens.push(token);
            Ok(())
        };
        if let Some(tok) = single {
            push(&mut tokens, tok)?;
            i += 1;
            col += 1;
        } else if c == ' ' || c == '\t' {
            i += 1;
            col += 1;
        } else if c == '\n' || c == '\r' {
            push(&mut tokens, Tok::NewLine)?;
            i += 1;
            line += 1;
            col = 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' && chars[i] != '\r' {
                i += 1;
                col += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            i += 1;
            while i < chars.len() && is_name_suffix(chars[i]) {
                i += 1;
            }
            col += (i - start) as u32;
            push(&mut tokens, Tok::Word(chars[start..i].iter().collect()))?;
        } else if c == '<' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && is_iri_char(chars[i]) {
                i += 1;
            }
            if chars.get(i) != Some(&'>') {
                let found = chars.get(i).map_or("EOF".into(), |c| format!("{c:?}"));
                return Err(Token {
                    tok: Tok::Eof,
                    line,
                    column: col + (i - start + 1) as u32,
                }
                .syntax(format!(
                    "Invalid schema: unexpected {found} in <name>, expected '>'"
                )));
            }
            let name: String = chars[start..i].iter().collect();
            if name.is_empty() {
                return Err(Token {
                    tok: Tok::Eof,
                    line,
                    column: col,
                }
                .syntax("Invalid schema: empty name <>"));
            }
            i += 1;
            col += (i - start + 1) as u32;
            push(&mut tokens, Tok::Iri(name))?;
        } else {
            return Err(Token {
                tok: Tok::Eof,
                line,
                column: col,
            }
            .syntax(format!("Invalid schema. Unexpected {c}")));
        }
    }
    tokens.push(Token {
        tok: Tok::Eof,
        line,
        column: col,
    });
    Ok(tokens)
}

/// IRIREF characters of the N-Quads grammar, without escapes.
fn is_iri_char(c: char) -> bool {
    c > ' ' && !matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '^' | '`' | '\\')
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.i + ahead).min(self.tokens.len() - 1)].tok
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.tokens.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn schema(mut self) -> Result<SchemaUpdate, SchemaError> {
        let mut update = SchemaUpdate::default();
        let mut predicate_names = HashSet::new();
        let mut type_names = HashSet::new();
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::Eof => return Ok(update),
                Tok::NewLine => {
                    self.next();
                }
                Tok::Word(_) | Tok::Iri(_) => {
                    let is_type = t.tok.name() == Some("type")
                        && self.peek_at(1).name().is_some()
                        && *self.peek_at(2) == Tok::LCurl;
                    if is_type {
                        let def = self.type_decl()?;
                        if !type_names.insert(def.name.clone()) {
                            return Err(t.err(SchemaErrorKind::DuplicateType { name: def.name }));
                        }
                        update.types.push(def);
                    } else {
                        let p = self.predicate()?;
                        if !predicate_names.insert(p.name.clone()) {
                            return Err(
                                t.err(SchemaErrorKind::DuplicatePredicate { predicate: p.name })
                            );
                        }
                        update.predicates.push(p);
                    }
                }
                other => {
                    return Err(t.syntax(format!(
                        "Unexpected token: {} while parsing schema",
                        other.text()
                    )));
                }
            }
        }
    }

    /// `name: [type] @directives .` followed by a new line or the end.
    fn predicate(&mut self) -> Result<PredicateSchema, SchemaError> {
        let name_tok = self.next();
        let name = name_tok.tok.name().unwrap_or_default().to_owned();
        let t = self.next();
        if t.tok == Tok::At || name.contains('@') {
            return Err(t.syntax("Invalid '@' in name"));
        }
        if t.tok != Tok::Colon {
            return Err(t.syntax("Missing colon"));
        }
        let mut t = self.next();
        if t.tok == Tok::Eof {
            return Err(t.syntax("Invalid ending while trying to parse schema."));
        }
        let list = t.tok == Tok::LSquare;
        if list {
            t = self.next();
        }
        let Some(type_name) = t.tok.name() else {
            return Err(t.syntax("Missing Type"));
        };
        let ty = match ScalarType::from_name(type_name) {
            Some(ty) => ty,
            None if UNSUPPORTED_TYPES.contains(&type_name.to_ascii_lowercase().as_str()) => {
                return Err(t.err(SchemaErrorKind::UnsupportedType {
                    name: type_name.to_owned(),
                }));
            }
            None => {
                return Err(t.err(SchemaErrorKind::UndefinedType {
                    name: type_name.to_owned(),
                }));
            }
        };
        if list && matches!(ty, ScalarType::Bool | ScalarType::Password) {
            return Err(t.err(SchemaErrorKind::UnsupportedListType { ty }));
        }
        let mut p = PredicateSchema::new(name, ty);
        p.list = list;
        if list {
            let t = self.next();
            if t.tok != Tok::RSquare {
                return Err(t.syntax(format!("Unclosed [ while parsing schema for: {}", p.name)));
            }
        }
        while self.peek().tok == Tok::At {
            self.next();
            self.directive(&mut p)?;
        }
        let t = self.next();
        if t.tok != Tok::Dot {
            return Err(t.syntax("Invalid ending"));
        }
        let t = self.next();
        if !matches!(t.tok, Tok::NewLine | Tok::Eof) {
            return Err(t.syntax("Invalid ending"));
        }
        if p.unique {
            p.upsert = true;
        }
        p.validate().map_err(|kind| name_tok.err(kind))?;
        Ok(p)
    }

    /// One directive after its `@`.
    fn directive(&mut self, p: &mut PredicateSchema) -> Result<(), SchemaError> {
        let t = self.next();
        let Tok::Word(directive) = &t.tok else {
            return Err(t.syntax("Missing directive name"));
        };
        match directive.as_str() {
            "reverse" => {
                if p.value_type != ScalarType::Uid {
                    return Err(t.err(SchemaErrorKind::ReverseNonUid));
                }
                p.reverse = true;
            }
            "index" => {
                check_indexable(&p.name, p.value_type).map_err(|k| t.err(k))?;
                p.indexes = self.tokenizers(p)?;
            }
            "count" => p.count = true,
            "upsert" => p.upsert = true,
            "unique" => p.unique = true,
            "noconflict" => p.noconflict = true,
            "lang" => {
                if p.value_type != ScalarType::String || p.list {
                    return Err(t.err(SchemaErrorKind::LangNonString {
                        ty: p.value_type,
                        predicate: p.name.clone(),
                    }));
                }
                p.lang = true;
            }
            other => {
                return Err(t.err(SchemaErrorKind::UnknownDirective {
                    name: other.to_owned(),
                }));
            }
        }
        Ok(())
    }

    /// `(tok, tok, ...)` after `@index`.
    fn tokenizers(&mut self, p: &PredicateSchema) -> Result<Vec<IndexKind>, SchemaError> {
        let open = self.peek().clone();
        if open.tok != Tok::LParen {
            return Err(open.err(SchemaErrorKind::MissingTokenizer {
                predicate: p.name.clone(),
            }));
        }
        self.next();
        let mut kinds: Vec<IndexKind> = Vec::new();
        loop {
            let t = self.next();
            let Tok::Word(name) = &t.tok else {
                return Err(t.syntax(format!(
                    "Expected a tokenizer name, but found '{}'",
                    t.tok.text()
                )));
            };
            let kind = match IndexKind::from_name(name) {
                Some(kind) => kind,
                None if UNSUPPORTED_TOKENIZERS.contains(&name.to_ascii_lowercase().as_str()) => {
                    return Err(t.err(SchemaErrorKind::UnsupportedTokenizer { name: name.clone() }));
                }
                None => return Err(t.err(SchemaErrorKind::InvalidTokenizer { name: name.clone() })),
            };
            check_tokenizer_fits(&p.name, p.value_type, kind).map_err(|k| t.err(k))?;
            if kinds.contains(&kind) {
                return Err(t.err(SchemaErrorKind::DuplicateTokenizer {
                    predicate: p.name.clone(),
                }));
            }
            if kind.is_sortable() && kinds.iter().any(|k| k.is_sortable()) {
                return Err(t.err(SchemaErrorKind::MultipleSortable {
                    predicate: p.name.clone(),
                }));
            }
            kinds.push(kind);
            let sep = self.next();
            match sep.tok {
                Tok::RParen => return Ok(kinds),
                Tok::Comma => {}
                _ => {
                    return Err(sep.syntax(format!(
                        "Expected ',' or ')' but found '{}' for predicate '{}'",
                        sep.tok.text(),
                        p.name
                    )));
                }
            }
        }
    }

    /// `type Name { field ... }` followed by a new line or the end.
    fn type_decl(&mut self) -> Result<TypeDef, SchemaError> {
        self.next(); // `type`
        let name = self.next().tok.name().unwrap_or_default().to_owned();
        self.next(); // `{`, checked by the caller
        let mut def = TypeDef {
            name,
            fields: Vec::new(),
        };
        loop {
            let t = self.next();
            match &t.tok {
                Tok::NewLine | Tok::Comma => {}
                Tok::RCurl => {
                    let after = self.peek();
                    if !matches!(after.tok, Tok::NewLine | Tok::Eof) {
                        return Err(after.syntax(format!(
                            "Expected new line or EOF after type declaration. Got {}",
                            after.tok.text()
                        )));
                    }
                    return Ok(def);
                }
                Tok::Word(field) | Tok::Iri(field) => {
                    if def.fields.contains(field) {
                        return Err(t.err(SchemaErrorKind::DuplicateField {
                            name: field.clone(),
                        }));
                    }
                    def.fields.push(field.clone());
                    if self.peek().tok == Tok::Colon {
                        self.next();
                        self.deprecated_field_type()?;
                    }
                }
                Tok::Eof => {
                    return Err(t.syntax(format!(
                        "Invalid ending while parsing type {}: expected }}",
                        def.name
                    )));
                }
                other => return Err(t.syntax(format!("Unexpected token. Got {}", other.text()))),
            }
        }
    }

    /// The ignored `: [type!]!` of the old `field: type` form.
    fn deprecated_field_type(&mut self) -> Result<(), SchemaError> {
        let list = self.peek().tok == Tok::LSquare;
        if list {
            self.next();
        }
        let t = self.next();
        if t.tok.name().is_none() {
            return Err(t.syntax(format!(
                "Missing field type in type declaration. Got {}",
                t.tok.text()
            )));
        }
        if self.peek().tok == Tok::Bang {
            self.next();
        }
        if list {
            let t = self.next();
            if t.tok != Tok::RSquare {
                return Err(t.syntax(format!(
                    "Expected matching square bracket. Got {}",
                    t.tok.text()
                )));
            }
            if self.peek().tok == Tok::Bang {
                self.next();
            }
        }
        Ok(())
    }
}
