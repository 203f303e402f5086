//! `math( ... )`: arithmetic over value variables, read straight from the text (the query
//! lexer treats `+`, `-` and `*` as parts of names and `<` as the start of an IRI).
//!
//! Precedence, loosest first: `||`; `&&`; comparisons (`<`, `<=`, `>`, `>=`, `==`, `!=`);
//! `+`, `-`; `*`, `/`, `%`; unary `-` and `!`. Binary operators of one level associate to the
//! left. Calls: `min`, `max`, `pow`, `logbase` (two arguments), `ln`, `exp`, `sqrt`, `floor`,
//! `ceil`, `since` (one), `cond` (three).

use super::*;
use crate::cursor::{Cursor, describe_char};

/// Math functions and how many arguments each takes.
const MATH_FUNCS: &[(&str, usize)] = &[
    ("min", 2),
    ("max", 2),
    ("pow", 2),
    ("logbase", 2),
    ("ln", 1),
    ("exp", 1),
    ("sqrt", 1),
    ("floor", 1),
    ("ceil", 1),
    ("since", 1),
    ("cond", 3),
];

impl Parser<'_, '_> {
    /// `math(expr)`, `math` read and `(` peeked.
    pub(super) fn math(&mut self) -> Result<FieldKind> {
        let open = self.next()?.pos;
        let mut vars = Vec::new();
        let expr = {
            let cur = self.lex.cursor();
            let mut m = MathParser {
                cur,
                vars: &mut vars,
                depth: 0,
            };
            let e = m.or()?;
            m.space();
            if !m.cur.eat(')') {
                return Err(m.cur.error(format!(
                    "expected an operator or ')' to close the math( opened at {open}, found {}",
                    describe_char(m.cur.peek())
                )));
            }
            e
        };
        for (v, pos) in vars {
            self.use_var(&v, pos);
        }
        Ok(FieldKind::Math(expr))
    }
}

struct MathParser<'c, 'a> {
    cur: &'c mut Cursor<'a>,
    vars: &'c mut Vec<(String, Pos)>,
    depth: usize,
}

impl MathParser<'_, '_> {
    fn space(&mut self) {
        self.cur.take_while(char::is_whitespace);
    }

    /// Eats `op` if it comes next (and, for `<`/`>`/`!`, is not the start of a longer one).
    fn eat_op(&mut self, op: &str) -> bool {
        self.space();
        if !self.cur.starts_with(op) {
            return false;
        }
        if op.len() == 1 && matches!(op, "<" | ">" | "!") && self.cur.rest()[1..].starts_with('=') {
            return false;
        }
        for _ in 0..op.len() {
            self.cur.bump();
        }
        true
    }

    fn binary(
        &mut self,
        ops: &[(&str, MathOp)],
        next: fn(&mut Self) -> Result<MathExpr>,
    ) -> Result<MathExpr> {
        let mut left = next(self)?;
        'outer: loop {
            for (sym, op) in ops {
                if self.eat_op(sym) {
                    let right = next(self)?;
                    left = MathExpr::Binary(*op, Box::new(left), Box::new(right));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn or(&mut self) -> Result<MathExpr> {
        self.binary(&[("||", MathOp::Or)], Self::and)
    }

    fn and(&mut self) -> Result<MathExpr> {
        self.binary(&[("&&", MathOp::And)], Self::comparison)
    }

    fn comparison(&mut self) -> Result<MathExpr> {
        self.binary(
            &[
                ("<=", MathOp::Le),
                (">=", MathOp::Ge),
                ("==", MathOp::Eq),
                ("!=", MathOp::Ne),
                ("<", MathOp::Lt),
                (">", MathOp::Gt),
            ],
            Self::additive,
        )
    }

    fn additive(&mut self) -> Result<MathExpr> {
        self.binary(&[("+", MathOp::Add), ("-", MathOp::Sub)], Self::term)
    }

    fn term(&mut self) -> Result<MathExpr> {
        self.binary(
            &[("*", MathOp::Mul), ("/", MathOp::Div), ("%", MathOp::Rem)],
            Self::unary,
        )
    }

    fn unary(&mut self) -> Result<MathExpr> {
        if self.eat_op("-") {
            return Ok(MathExpr::Unary(MathOp::Sub, Box::new(self.unary()?)));
        }
        if self.eat_op("!") {
            return Ok(MathExpr::Unary(MathOp::Not, Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<MathExpr> {
        self.space();
        let pos = self.cur.pos();
        match self.cur.peek() {
            Some('(') => {
                self.nest(pos)?;
                self.cur.bump();
                let e = self.or()?;
                self.space();
                if !self.cur.eat(')') {
                    return Err(self.cur.error(format!(
                        "expected ')' to close the '(' opened at {pos}, found {}",
                        describe_char(self.cur.peek())
                    )));
                }
                self.depth -= 1;
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let text = self
                    .cur
                    .take_while(|c| c.is_ascii_alphanumeric() || c == '.');
                // An exponent's sign: `1e-3`.
                let mut text = text.to_string();
                if (text.ends_with('e') || text.ends_with('E'))
                    && matches!(self.cur.peek(), Some('+' | '-'))
                {
                    text.push(self.cur.bump().unwrap_or('+'));
                    text.push_str(self.cur.take_while(|c| c.is_ascii_digit()));
                }
                if text.parse::<f64>().is_err() {
                    return Err(ParseError::at(
                        pos,
                        format!("expected a number in math( ), found {text}"),
                    ));
                }
                Ok(MathExpr::Number(text))
            }
            Some(c) if c.is_alphabetic() || c == '_' => {
                let name = self
                    .cur
                    .take_while(|c| c.is_alphanumeric() || c == '_' || c == '.')
                    .to_string();
                self.space();
                if self.cur.peek() != Some('(') {
                    self.vars.push((name.clone(), pos));
                    return Ok(MathExpr::Var(name));
                }
                let lname = name.to_ascii_lowercase();
                let Some(&(_, arity)) = MATH_FUNCS.iter().find(|(n, _)| *n == lname) else {
                    return Err(ParseError::at(
                        pos,
                        format!(
                            "unknown math function {name}; expected one of {}",
                            MATH_FUNCS
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                };
                self.nest(pos)?;
                self.cur.bump();
                let mut args = Vec::new();
                self.space();
                if !self.cur.eat(')') {
                    loop {
                        args.push(self.or()?);
                        self.space();
                        if self.cur.eat(',') {
                            continue;
                        }
                        if self.cur.eat(')') {
                            break;
                        }
                        return Err(self.cur.error(format!(
                            "expected ',' or ')' in {lname}( opened at {pos}, found {}",
                            describe_char(self.cur.peek())
                        )));
                    }
                }
                self.depth -= 1;
                if args.len() != arity {
                    return Err(ParseError::at(
                        pos,
                        format!(
                            "{lname} takes {arity} argument{} in math( ), found {}",
                            if arity == 1 { "" } else { "s" },
                            args.len()
                        ),
                    ));
                }
                Ok(MathExpr::Call(lname, args))
            }
            c => Err(self.cur.error(format!(
                "expected a number, a value variable or a function in math( ), found {}",
                describe_char(c)
            ))),
        }
    }

    fn nest(&mut self, pos: Pos) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::at(
                pos,
                format!("math( ) nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }
}
