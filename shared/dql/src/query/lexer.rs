//! The DQL lexer: turns text into tokens on demand, with one token of lookahead. The upsert
//! parser borrows its cursor to let the N-Quad parser read a `set { }` body in place.

use std::fmt;

use crate::cursor::{Cursor, describe_char};
use crate::error::{ParseError, Pos, Result};
use crate::nquad::quoted_string;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Colon,
    Comma,
    At,
    Equals,
    Bang,
    /// `$name`, without the `$`.
    Var(String),
    /// A double-quoted string, unescaped.
    Str(String),
    /// A name, number, uid or other bare text.
    Word(String),
    /// `<...>`, a predicate written as an IRI.
    Iri(String),
    /// `/pattern/flags`, a regular expression (`\/` in the pattern read as `/`): the pattern
    /// between the slashes and the letters after the closing one. Boxed to keep every token
    /// small: the parser's deep recursions hold tokens in each frame.
    Regex(Box<(String, String)>),
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::LBrace => f.write_str("'{'"),
            Tok::RBrace => f.write_str("'}'"),
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::LBracket => f.write_str("'['"),
            Tok::RBracket => f.write_str("']'"),
            Tok::Colon => f.write_str("':'"),
            Tok::Comma => f.write_str("','"),
            Tok::At => f.write_str("'@'"),
            Tok::Equals => f.write_str("'='"),
            Tok::Bang => f.write_str("'!'"),
            Tok::Var(v) => write!(f, "${v}"),
            Tok::Str(s) => write!(f, "{}", crate::nquad::quote(s)),
            Tok::Word(w) => write!(f, "{w}"),
            Tok::Iri(i) => write!(f, "<{i}>"),
            Tok::Regex(r) => write!(f, "/{}/{}", r.0, r.1),
            Tok::Eof => f.write_str("end of input"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '+' | '~' | '*')
}

#[derive(Clone)]
pub(crate) struct Lexer<'a> {
    cur: Cursor<'a>,
    peeked: Option<Token>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            cur: Cursor::new(src),
            peeked: None,
        }
    }

    pub(crate) fn peek(&mut self) -> Result<&Token> {
        if self.peeked.is_none() {
            let t = self.lex()?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    pub(crate) fn next(&mut self) -> Result<Token> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(),
        }
    }

    /// The raw cursor, for a sub-parser that reads the text itself. Only valid when no token
    /// has been peeked past the current position.
    pub(crate) fn cursor(&mut self) -> &mut Cursor<'a> {
        debug_assert!(
            self.peeked.is_none(),
            "a token was peeked before handing off the cursor"
        );
        &mut self.cur
    }

    fn skip_trivia(&mut self) {
        loop {
            self.cur.take_while(char::is_whitespace);
            if self.cur.peek() == Some('#') {
                self.cur.take_while(|c| c != '\n');
            } else {
                return;
            }
        }
    }

    fn lex(&mut self) -> Result<Token> {
        self.skip_trivia();
        let pos = self.cur.pos();
        let Some(c) = self.cur.peek() else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let single = match c {
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ':' => Some(Tok::Colon),
            ',' => Some(Tok::Comma),
            '@' => Some(Tok::At),
            '=' => Some(Tok::Equals),
            '!' => Some(Tok::Bang),
            _ => None,
        };
        if let Some(tok) = single {
            self.cur.bump();
            return Ok(Token { tok, pos });
        }
        let tok = match c {
            '"' => Tok::Str(quoted_string(&mut self.cur)?),
            '$' => {
                self.cur.bump();
                let name = self.cur.take_while(|c| c.is_alphanumeric() || c == '_');
                if name.is_empty() {
                    return Err(self.cur.error(format!(
                        "expected a variable name after '$', found {}",
                        describe_char(self.cur.peek())
                    )));
                }
                Tok::Var(name.to_string())
            }
            '<' => {
                self.cur.bump();
                let name = self
                    .cur
                    .take_while(|c| c != '>' && !c.is_whitespace() && c != '<');
                if !self.cur.eat('>') {
                    return Err(self.cur.error(format!(
                        "expected '>' to close the '<' opened at {pos}, found {}",
                        describe_char(self.cur.peek())
                    )));
                }
                if name.is_empty() {
                    return Err(ParseError::at(pos, "empty predicate name <>"));
                }
                Tok::Iri(name.to_string())
            }
            '/' => self.regex(pos)?,
            c if is_word_char(c) => Tok::Word(self.cur.take_while(is_word_char).to_string()),
            c => {
                return Err(self
                    .cur
                    .error(format!("unexpected character {}", describe_char(Some(c)))));
            }
        };
        Ok(Token { tok, pos })
    }

    /// `/pattern/flags`, the cursor on the opening slash. A backslash keeps the character
    /// after it (`\/` stands for `/`, other escapes are the expression's own).
    fn regex(&mut self, open: Pos) -> Result<Tok> {
        self.cur.bump();
        let mut pattern = String::new();
        loop {
            match self.cur.peek() {
                None | Some('\n') => {
                    return Err(self.cur.error(format!(
                        "expected '/' to close the regular expression opened at {open}, found {}",
                        describe_char(self.cur.peek())
                    )));
                }
                Some('/') => {
                    self.cur.bump();
                    break;
                }
                Some('\\') => {
                    self.cur.bump();
                    match self.cur.peek() {
                        Some('/') => pattern.push('/'),
                        Some(c) => {
                            pattern.push('\\');
                            pattern.push(c);
                        }
                        None => continue,
                    }
                    self.cur.bump();
                }
                Some(c) => {
                    pattern.push(c);
                    self.cur.bump();
                }
            }
        }
        let flags = self
            .cur
            .take_while(|c| c.is_ascii_alphanumeric())
            .to_string();
        Ok(Tok::Regex(Box::new((pattern, flags))))
    }
}
