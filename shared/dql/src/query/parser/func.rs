//! Functions (`func:`, `@filter`), their arguments, and `@filter` / `@if` boolean expressions.

use super::*;

impl Parser<'_, '_> {
    // ----- functions -----

    pub(super) fn raw_arg(&mut self) -> Result<RawArg> {
        let t = self.next()?;
        let pos = t.pos;
        Ok(match t.tok {
            Tok::Str(s) => RawArg::Text {
                text: s,
                quoted: true,
                from_var: false,
                lang: None,
                pos,
            },
            Tok::Var(v) => RawArg::Text {
                text: self.var_value(&v, pos)?,
                quoted: true,
                from_var: true,
                lang: None,
                pos,
            },
            Tok::Word(w) | Tok::Iri(w) => {
                if self.peek_is(&Tok::LParen)? {
                    let args = self.call_args()?;
                    RawArg::Call {
                        name: w.to_ascii_lowercase(),
                        args,
                        pos,
                    }
                } else {
                    let mut lang = None;
                    if self.eat(&Tok::At)? {
                        let (l, lpos) = self.name("a language after '@'")?;
                        lang = Some(check_lang(l, lpos)?);
                    }
                    RawArg::Text {
                        text: w,
                        quoted: false,
                        from_var: false,
                        lang,
                        pos,
                    }
                }
            }
            Tok::Regex(r) => {
                let (pattern, flags) = *r;
                RawArg::Regex {
                    pattern,
                    flags,
                    pos,
                }
            }
            Tok::LBracket => {
                self.enter(pos)?;
                let mut items = Vec::new();
                if !self.eat(&Tok::RBracket)? {
                    loop {
                        items.push(self.raw_arg()?);
                        let t = self.next()?;
                        match t.tok {
                            Tok::Comma => {}
                            Tok::RBracket => break,
                            other => {
                                return Err(ParseError::at(
                                    t.pos,
                                    format!(
                                        "expected ',' or ']' to close the list opened at {pos}, found {other}"
                                    ),
                                ));
                            }
                        }
                    }
                }
                self.leave();
                RawArg::List(items, pos)
            }
            other => {
                return Err(ParseError::at(
                    pos,
                    format!("expected a value, found {other}"),
                ));
            }
        })
    }

    /// `( arg, ... )`, the `(` not yet read.
    pub(super) fn call_args(&mut self) -> Result<Vec<RawArg>> {
        let open = self.next()?.pos;
        self.enter(open)?;
        let mut args = Vec::new();
        if !self.eat(&Tok::RParen)? {
            loop {
                args.push(self.raw_arg()?);
                let t = self.next()?;
                match t.tok {
                    Tok::Comma => {}
                    Tok::RParen => break,
                    other => {
                        return Err(ParseError::at(
                            t.pos,
                            format!(
                                "expected ',' or ')' to close the arguments opened at {open}, found {other}"
                            ),
                        ));
                    }
                }
            }
        }
        self.leave();
        Ok(args)
    }

    pub(super) fn filter_leaf(&mut self) -> Result<Func> {
        let (name, pos) = self.name("a function like eq(...)")?;
        self.function(&name, pos)
    }

    /// A function whose name was just read; its arguments come next.
    pub(super) fn function(&mut self, name: &str, pos: Pos) -> Result<Func> {
        let lname = name.to_ascii_lowercase();
        if !is_filter_func(&lname) {
            return Err(ParseError::at(
                pos,
                if lname == "similar_to" {
                    "function similar_to is not supported by lodestar yet: vector search (float32vector, @index(hnsw), similar_to) is not implemented".to_string()
                } else if UNSUPPORTED_FUNCS.contains(&lname.as_str()) {
                    format!("function {lname} is not supported here")
                } else {
                    format!("unknown function {name}")
                },
            ));
        }
        if !self.peek_is(&Tok::LParen)? {
            let t = self.next()?;
            return Err(ParseError::at(
                t.pos,
                format!(
                    "expected '(' after the function name {name}, found {}",
                    t.tok
                ),
            ));
        }
        let args = self.call_args()?;
        let arity = |n: usize, form: &str| -> Result<()> {
            if args.len() == n {
                Ok(())
            } else {
                Err(ParseError::at(
                    pos,
                    format!(
                        "{lname} takes {n} argument{}: {form}",
                        if n == 1 { "" } else { "s" }
                    ),
                ))
            }
        };
        Ok(match lname.as_str() {
            "uid" => {
                if args.is_empty() {
                    return Err(ParseError::at(
                        pos,
                        "uid( ) needs at least one uid or variable",
                    ));
                }
                Func::Uid(self.uid_refs(&args)?)
            }
            "eq" | "le" | "lt" | "ge" | "gt" => {
                let op = compare_op(&lname);
                if args.len() < 2 {
                    return Err(ParseError::at(
                        pos,
                        format!("{lname} takes a predicate and a value: {lname}(pred, value)"),
                    ));
                }
                let attr = self.attr(&args[0], &lname)?;
                let mut values = Vec::new();
                for a in &args[1..] {
                    self.func_values(a, &lname, &mut values)?;
                }
                if op != CompareOp::Eq && values.len() != 1 {
                    return Err(ParseError::at(
                        pos,
                        format!("{lname} compares with exactly one value"),
                    ));
                }
                Func::Compare { op, attr, values }
            }
            "has" => {
                arity(1, "has(pred)")?;
                let (n, _) = pred_arg(&args[0], &lname)?;
                let (predicate, reverse) = predicate_parts(n, args[0].pos())?;
                Func::Has { predicate, reverse }
            }
            "type" => {
                arity(1, "type(TypeName)")?;
                match &args[0] {
                    RawArg::Text {
                        text, lang: None, ..
                    } => Func::Type(text.clone()),
                    other => {
                        return Err(ParseError::at(
                            other.pos(),
                            format!("expected a type name, found {}", other.describe()),
                        ));
                    }
                }
            }
            "allofterms" | "anyofterms" => {
                arity(2, &format!("{lname}(pred, \"terms\")"))?;
                let (n, lang) = pred_arg(&args[0], &lname)?;
                let (predicate, reverse) = predicate_parts(n, args[0].pos())?;
                if reverse {
                    return Err(ParseError::at(
                        args[0].pos(),
                        format!("{lname} needs a forward predicate"),
                    ));
                }
                let lang = lang.map(str::to_string);
                let terms = match &args[1] {
                    RawArg::Text {
                        text, lang: None, ..
                    } => text.clone(),
                    other => {
                        return Err(ParseError::at(
                            other.pos(),
                            format!("expected the terms as a string, found {}", other.describe()),
                        ));
                    }
                };
                if lname == "allofterms" {
                    Func::AllOfTerms {
                        predicate,
                        lang,
                        terms,
                    }
                } else {
                    Func::AnyOfTerms {
                        predicate,
                        lang,
                        terms,
                    }
                }
            }
            "uid_in" => {
                if args.len() < 2 {
                    return Err(ParseError::at(
                        pos,
                        "uid_in takes a predicate and uids: uid_in(pred, 0x1)",
                    ));
                }
                let (n, _) = pred_arg(&args[0], &lname)?;
                let (predicate, reverse) = predicate_parts(n, args[0].pos())?;
                if reverse {
                    return Err(ParseError::at(
                        args[0].pos(),
                        "uid_in needs a forward predicate",
                    ));
                }
                Func::UidIn {
                    predicate,
                    uids: self.uid_refs(&args[1..])?,
                }
            }
            "alloftext" | "anyoftext" => {
                arity(2, &format!("{lname}(pred, \"text\")"))?;
                let (predicate, lang) = forward_pred(&args[0], &lname)?;
                Func::Text {
                    all: lname == "alloftext",
                    predicate,
                    lang,
                    text: text_arg(&args[1], "the text as a string")?,
                }
            }
            "regexp" => {
                arity(2, "regexp(pred, /expression/)")?;
                let (predicate, lang) = forward_pred(&args[0], &lname)?;
                let RawArg::Regex {
                    pattern,
                    flags,
                    pos: rpos,
                } = &args[1]
                else {
                    return Err(ParseError::at(
                        args[1].pos(),
                        format!(
                            "expected a regular expression like /^Ste.*n$/ or /steven/i, found {}",
                            args[1].describe()
                        ),
                    ));
                };
                if let Some(c) = flags.chars().find(|&c| c != 'i') {
                    return Err(ParseError::at(
                        *rpos,
                        format!("unknown regexp flag {c}: only i (ignore case) is supported"),
                    ));
                }
                Func::Regexp {
                    predicate,
                    lang,
                    pattern: pattern.clone(),
                    ignore_case: !flags.is_empty(),
                }
            }
            "match" => {
                arity(3, "match(pred, \"text\", distance)")?;
                let (predicate, lang) = forward_pred(&args[0], &lname)?;
                let text = text_arg(&args[1], "the text to match as a string")?;
                let d = text_arg(&args[2], "the distance as a whole number")?;
                let distance = d.trim().parse::<u32>().map_err(|_| {
                    ParseError::at(
                        args[2].pos(),
                        format!("expected the distance of match as a whole number, found {d}"),
                    )
                })?;
                Func::Match {
                    predicate,
                    lang,
                    text,
                    distance,
                }
            }
            "between" => {
                arity(3, "between(pred, low, high)")?;
                let (predicate, lang) = forward_pred(&args[0], &lname)?;
                Func::Between {
                    predicate,
                    lang,
                    low: text_arg(&args[1], "a lower bound")?,
                    high: text_arg(&args[2], "an upper bound")?,
                }
            }
            "near" | "within" | "contains" | "intersects" => {
                let op = match lname.as_str() {
                    "near" => GeoOp::Near,
                    "within" => GeoOp::Within,
                    "contains" => GeoOp::Contains,
                    _ => GeoOp::Intersects,
                };
                if op == GeoOp::Near {
                    arity(3, "near(pred, [long, lat], metres)")?;
                } else {
                    arity(2, &format!("{lname}(pred, [[[long, lat], ...]])"))?;
                }
                let (predicate, lang) = forward_pred(&args[0], &lname)?;
                if lang.is_some() {
                    return Err(ParseError::at(
                        args[0].pos(),
                        format!("{lname} takes a geo predicate, which has no language"),
                    ));
                }
                let shape = geo_shape(&args[1])?;
                let allowed = matches!(
                    (op, &shape),
                    (GeoOp::Near, GeoShape::Point(_))
                        | (GeoOp::Contains, GeoShape::Point(_) | GeoShape::Polygon(_))
                        | (
                            GeoOp::Within | GeoOp::Intersects,
                            GeoShape::Polygon(_) | GeoShape::MultiPolygon(_)
                        )
                );
                if !allowed {
                    let want = match op {
                        GeoOp::Near => "a point [long, lat]",
                        GeoOp::Contains => "a point [long, lat] or a polygon [[[long, lat], ...]]",
                        _ => {
                            "a polygon [[[long, lat], ...]] or a multipolygon [[[[long, lat], ...]]]"
                        }
                    };
                    return Err(ParseError::at(
                        args[1].pos(),
                        format!("{lname} takes {want}"),
                    ));
                }
                let distance = if op == GeoOp::Near {
                    let d = text_arg(&args[2], "the distance in metres")?;
                    match d.trim().parse::<f64>() {
                        Ok(m) if m.is_finite() && m >= 0.0 => Some(m),
                        _ => {
                            return Err(ParseError::at(
                                args[2].pos(),
                                format!(
                                    "expected the distance of near in metres, a number not below 0, found {d}"
                                ),
                            ));
                        }
                    }
                } else {
                    None
                };
                Func::Geo {
                    op,
                    predicate,
                    shape,
                    distance,
                }
            }
            _ => return Err(ParseError::at(pos, format!("unknown function {name}"))),
        })
    }

    pub(super) fn uid_refs(&mut self, args: &[RawArg]) -> Result<Vec<UidRef>> {
        let mut out = Vec::new();
        for a in args {
            self.uid_ref(a, &mut out)?;
        }
        Ok(out)
    }

    pub(super) fn uid_ref(&mut self, a: &RawArg, out: &mut Vec<UidRef>) -> Result<()> {
        match a {
            RawArg::Text {
                text,
                from_var: true,
                pos,
                ..
            } => {
                let inner = text.trim();
                let inner = inner
                    .strip_prefix('[')
                    .and_then(|s| s.strip_suffix(']'))
                    .unwrap_or(inner);
                for part in inner.split(',') {
                    let part = part.trim().trim_matches('"');
                    out.push(UidRef::Uid(parse_uid(part).ok_or_else(|| {
                        ParseError::at(*pos, format!("expected uids like 0x1a or [0x1, 0x2] in the variable, found \"{text}\""))
                    })?));
                }
            }
            RawArg::Text {
                text,
                lang: None,
                pos,
                ..
            } => {
                if let Some(u) = parse_uid(text) {
                    out.push(UidRef::Uid(u));
                } else if text.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(ParseError::at(
                        *pos,
                        format!("{text} is not a valid uid; uids are 0x-hex or decimal and not 0"),
                    ));
                } else if is_var_name(text) {
                    self.use_var(text, *pos);
                    out.push(UidRef::Var(text.clone()));
                } else {
                    return Err(ParseError::at(
                        *pos,
                        format!("expected a uid or a variable, found {}", a.describe()),
                    ));
                }
            }
            RawArg::List(items, _) => {
                for i in items {
                    self.uid_ref(i, out)?;
                }
            }
            RawArg::Call { name, args, .. } if name == "uid" => {
                for i in args {
                    self.uid_ref(i, out)?;
                }
            }
            other => {
                return Err(ParseError::at(
                    other.pos(),
                    format!("expected a uid or a variable, found {}", other.describe()),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn val_var(&mut self, args: &[RawArg], pos: Pos) -> Result<String> {
        match args {
            [a] => match a.bare_name() {
                Some((v, None)) if is_var_name(v) => {
                    self.use_var(v, a.pos());
                    Ok(v.to_string())
                }
                _ => Err(ParseError::at(
                    a.pos(),
                    format!("expected a variable name in val( ), found {}", a.describe()),
                )),
            },
            _ => Err(ParseError::at(pos, "val( ) takes one variable name")),
        }
    }

    pub(super) fn attr(&mut self, a: &RawArg, func: &str) -> Result<Attr> {
        match a {
            RawArg::Call { name, args, pos } if name == "val" => {
                Ok(Attr::Val(self.val_var(args, *pos)?))
            }
            RawArg::Call { name, args, pos } if name == "count" => match args.as_slice() {
                [p] => {
                    let (n, _) = pred_arg(p, "count")?;
                    let (name, reverse) = predicate_parts(n, p.pos())?;
                    Ok(Attr::Count { name, reverse })
                }
                _ => Err(ParseError::at(*pos, "count( ) takes one predicate")),
            },
            other => {
                let (n, lang) = pred_arg(other, func)?;
                if n.starts_with('~') {
                    return Err(ParseError::at(
                        other.pos(),
                        format!("{func} needs a forward predicate, found {n}"),
                    ));
                }
                Ok(Attr::Predicate {
                    name: n.to_string(),
                    lang: lang.map(str::to_string),
                })
            }
        }
    }

    pub(super) fn func_values(
        &mut self,
        a: &RawArg,
        func: &str,
        out: &mut Vec<FuncValue>,
    ) -> Result<()> {
        match a {
            RawArg::Text {
                text, lang: None, ..
            } => out.push(FuncValue::Literal(text.clone())),
            RawArg::Call { name, args, pos } if name == "val" => {
                out.push(FuncValue::Val(self.val_var(args, *pos)?))
            }
            RawArg::List(items, pos) if func == "eq" => {
                if items.is_empty() {
                    return Err(ParseError::at(*pos, "the list of values of eq is empty"));
                }
                for i in items {
                    if let RawArg::List(_, p) = i {
                        return Err(ParseError::at(*p, "lists cannot be nested"));
                    }
                    self.func_values(i, func, out)?;
                }
            }
            other => {
                return Err(ParseError::at(
                    other.pos(),
                    format!("expected a value for {func}, found {}", other.describe()),
                ));
            }
        }
        Ok(())
    }

    // ----- boolean expressions -----

    pub(super) fn bool_expr<T>(&mut self, leaf: fn(&mut Self) -> Result<T>) -> Result<BoolExpr<T>> {
        let mut terms = vec![self.and_expr(leaf)?];
        while self.peek_word("or")? {
            self.next()?;
            terms.push(self.and_expr(leaf)?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            BoolExpr::Or(terms)
        })
    }

    pub(super) fn and_expr<T>(&mut self, leaf: fn(&mut Self) -> Result<T>) -> Result<BoolExpr<T>> {
        let mut terms = vec![self.unary(leaf)?];
        while self.peek_word("and")? {
            self.next()?;
            terms.push(self.unary(leaf)?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            BoolExpr::And(terms)
        })
    }

    pub(super) fn unary<T>(&mut self, leaf: fn(&mut Self) -> Result<T>) -> Result<BoolExpr<T>> {
        let pos = self.lex.peek()?.pos;
        self.enter(pos)?;
        let e = if self.peek_word("not")? {
            self.next()?;
            BoolExpr::Not(Box::new(self.deeper(|p| p.unary(leaf))?))
        } else if self.peek_is(&Tok::LParen)? {
            let open = self.next()?.pos;
            let e = self.deeper(|p| p.bool_expr(leaf))?;
            self.close(&Tok::RParen, "parenthesis", open)?;
            e
        } else {
            BoolExpr::Leaf(leaf(self)?)
        };
        self.leave();
        Ok(e)
    }

    pub(super) fn len_leaf(&mut self) -> Result<LenCondition> {
        let (name, pos) = self.name("a comparison like eq(len(v), 1)")?;
        let lname = name.to_ascii_lowercase();
        if !matches!(lname.as_str(), "eq" | "le" | "lt" | "ge" | "gt") {
            return Err(ParseError::at(
                pos,
                format!("unknown function {name} in @if; expected eq, le, lt, ge or gt of len(v)"),
            ));
        }
        if !self.peek_is(&Tok::LParen)? {
            let t = self.next()?;
            return Err(ParseError::at(
                t.pos,
                format!("expected '(' after {name}, found {}", t.tok),
            ));
        }
        let args = self.call_args()?;
        let [
            RawArg::Call {
                name: len,
                args: inner,
                pos: lpos,
            },
            value,
        ] = args.as_slice()
        else {
            return Err(ParseError::at(
                pos,
                format!("expected {lname}(len(v), number)"),
            ));
        };
        if len != "len" {
            return Err(ParseError::at(
                *lpos,
                format!("expected len(v) in @if, found {len}(...)"),
            ));
        }
        let var = match inner.as_slice() {
            [a] => match a.bare_name() {
                Some((v, None)) if is_var_name(v) => v.to_string(),
                _ => {
                    return Err(ParseError::at(
                        a.pos(),
                        format!("expected a variable name in len( ), found {}", a.describe()),
                    ));
                }
            },
            _ => return Err(ParseError::at(*lpos, "len( ) takes one variable name")),
        };
        let value = match value {
            RawArg::Text {
                text,
                lang: None,
                pos,
                ..
            } => text.parse::<i64>().map_err(|_| {
                ParseError::at(
                    *pos,
                    format!("expected an integer to compare len({var}) with, found {text}"),
                )
            })?,
            other => {
                return Err(ParseError::at(
                    other.pos(),
                    format!("expected an integer, found {}", other.describe()),
                ));
            }
        };
        Ok(LenCondition {
            op: compare_op(&lname),
            var,
            value,
        })
    }

    /// `@if(...)` as a whole text, as sent in a mutation's `cond`.
    pub(crate) fn condition_document(mut self) -> Result<Condition> {
        let c = self.if_directive()?;
        self.expect_eof()?;
        Ok(c)
    }

    pub(super) fn if_directive(&mut self) -> Result<Condition> {
        self.expect(&Tok::At, || "to start the condition @if(...)".to_string())?;
        let (name, pos) = self.name("if after '@'")?;
        if name != "if" {
            return Err(ParseError::at(pos, format!("expected @if, found @{name}")));
        }
        let open = self.expect(&Tok::LParen, || "after @if".to_string())?.pos;
        let c = self.bool_expr(Self::len_leaf)?;
        self.close(&Tok::RParen, "@if(", open)?;
        Ok(c)
    }
}

/// A forward predicate with its optional language, the first argument of `func`.
fn forward_pred(a: &RawArg, func: &str) -> Result<(String, Option<String>)> {
    let (n, lang) = pred_arg(a, func)?;
    let (predicate, reverse) = predicate_parts(n, a.pos())?;
    if reverse {
        return Err(ParseError::at(
            a.pos(),
            format!("{func} needs a forward predicate"),
        ));
    }
    Ok((predicate, lang.map(str::to_string)))
}

/// A quoted or bare value; `what` says what was expected.
fn text_arg(a: &RawArg, what: &str) -> Result<String> {
    match a {
        RawArg::Text {
            text, lang: None, ..
        } => Ok(text.clone()),
        other => Err(ParseError::at(
            other.pos(),
            format!("expected {what}, found {}", other.describe()),
        )),
    }
}

/// Nested lists of numbers: a point (depth 1), a polygon (3) or a multipolygon (4).
fn geo_shape(a: &RawArg) -> Result<GeoShape> {
    fn coord(a: &RawArg) -> Result<[f64; 2]> {
        let bad = |pos| {
            ParseError::at(
                pos,
                "expected a coordinate [longitude, latitude] of two numbers",
            )
        };
        let RawArg::List(items, pos) = a else {
            return Err(bad(a.pos()));
        };
        let num = |i: &RawArg| match i {
            RawArg::Text {
                text,
                quoted: false,
                lang: None,
                pos,
                ..
            } => text
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| bad(*pos)),
            other => Err(bad(other.pos())),
        };
        match items.as_slice() {
            [x, y] => Ok([num(x)?, num(y)?]),
            _ => Err(bad(*pos)),
        }
    }
    fn list<T>(a: &RawArg, item: fn(&RawArg) -> Result<T>, what: &str) -> Result<Vec<T>> {
        match a {
            RawArg::List(items, _) if !items.is_empty() => items.iter().map(item).collect(),
            other => Err(ParseError::at(
                other.pos(),
                format!("expected {what}, found {}", other.describe()),
            )),
        }
    }
    fn ring(a: &RawArg) -> Result<Vec<[f64; 2]>> {
        let r = list(a, coord, "a ring of coordinates")?;
        if r.len() < 4 || r.first() != r.last() {
            return Err(ParseError::at(
                a.pos(),
                "a polygon's ring needs at least 4 coordinates, the last repeating the first",
            ));
        }
        Ok(r)
    }
    fn polygon(a: &RawArg) -> Result<Vec<Vec<[f64; 2]>>> {
        list(a, ring, "a polygon: a list of rings")
    }
    let depth = {
        let mut d = 0;
        let mut cur = a;
        while let RawArg::List(items, _) = cur {
            d += 1;
            match items.first() {
                Some(first) => cur = first,
                None => break,
            }
        }
        d
    };
    match depth {
        1 => coord(a).map(GeoShape::Point),
        3 => polygon(a).map(GeoShape::Polygon),
        4 => list(a, polygon, "a multipolygon: a list of polygons").map(GeoShape::MultiPolygon),
        _ => Err(ParseError::at(
            a.pos(),
            format!(
                "expected a geometry: a point [long, lat], a polygon [[[long, lat], ...]] or a multipolygon, found {}",
                a.describe()
            ),
        )),
    }
}
