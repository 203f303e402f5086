//! Query blocks, their arguments and directives, and selection sets.

use super::*;

impl Parser<'_, '_> {
    // ----- blocks -----

    pub(super) fn block(&mut self) -> Result<Block> {
        let (mut name, mut pos) = self.name("a block name like me(func: ...)")?;
        let mut var = None;
        if self.peek_word("as")? {
            self.next()?;
            self.define_var(&name);
            var = Some(name);
            (name, pos) = self.name("a block name after 'as'")?;
        }
        if !self.peek_is(&Tok::LParen)? {
            let t = self.next()?;
            let hint = if (name == "set" || name == "delete") && t.tok == Tok::LBrace {
                "; a mutation block is not a query"
            } else {
                ""
            };
            return Err(ParseError::at(
                t.pos,
                format!(
                    "expected '(' after the block name {name}, as in {name}(func: ...), found {}{hint}",
                    t.tok
                ),
            ));
        }
        let (func, args, shortest) = if name == "shortest" {
            let sp = self.shortest_args()?;
            (None, EdgeArgs::default(), Some(sp))
        } else {
            let (func, args) = self.args(true)?;
            (func, args, None)
        };
        let mut filter = None;
        let mut directives = Directives::default();
        self.directives(&mut filter, &mut directives)?;
        // A block may omit its selection, as var blocks of upserts often do:
        // `v as var(func: eq(email, "a@b.c"))`.
        let children = if self.peek_is(&Tok::LBrace)? {
            self.selection()?
        } else {
            Vec::new()
        };
        if func.is_none() && shortest.is_none() {
            // A block without a root function has no nodes: it can only aggregate.
            if let Some(f) = children
                .iter()
                .find(|f| !matches!(f.kind, FieldKind::Aggregate { .. } | FieldKind::Math(_)))
            {
                return Err(ParseError::at(
                    pos,
                    format!(
                        "Only aggregation/math functions allowed inside empty blocks. Got: {}",
                        f.label()
                    ),
                ));
            }
        }
        Ok(Block {
            name,
            var,
            func,
            shortest,
            args,
            filter,
            directives,
            children,
        })
    }

    /// `( key: value, ... )` of a block (`root`: `func:` allowed and expected) or an edge.
    pub(super) fn args(&mut self, root: bool) -> Result<(Option<Func>, EdgeArgs)> {
        let open = self.next()?.pos;
        let mut func = None;
        let mut args = EdgeArgs::default();
        if self.eat(&Tok::RParen)? {
            return Ok((func, args));
        }
        loop {
            let (key, key_pos) = self.name("an argument name like first")?;
            self.expect(&Tok::Colon, || format!("after the argument name {key}"))?;
            let dup = || ParseError::at(key_pos, format!("argument {key} is given twice"));
            match key.as_str() {
                "func" if root => {
                    if func.is_some() {
                        return Err(dup());
                    }
                    let (fname, fpos) = self.name("a function like eq(...)")?;
                    func = Some(self.function(&fname, fpos)?);
                }
                "first" | "offset" => {
                    let v = self.int_arg(&key)?;
                    let slot = if key == "first" {
                        &mut args.first
                    } else {
                        &mut args.offset
                    };
                    if slot.is_some() {
                        return Err(dup());
                    }
                    *slot = Some(v);
                }
                "after" => {
                    if args.after.is_some() {
                        return Err(dup());
                    }
                    let (text, pos) = self.scalar_arg("after")?;
                    args.after = Some(parse_uid(&text).ok_or_else(|| {
                        ParseError::at(
                            pos,
                            format!("expected a uid like 0x1a for after, found {text}"),
                        )
                    })?);
                }
                "orderasc" | "orderdesc" => {
                    let arg = self.raw_arg()?;
                    let by = match &arg {
                        RawArg::Call { name, args, pos } if name == "val" => {
                            OrderBy::Val(self.val_var(args, *pos)?)
                        }
                        other => match other.bare_name() {
                            Some((n, lang)) if is_predicate_name(n) && !n.starts_with('~') => {
                                OrderBy::Predicate {
                                    name: n.to_string(),
                                    lang: lang.map(str::to_string),
                                }
                            }
                            _ => {
                                return Err(ParseError::at(
                                    other.pos(),
                                    format!(
                                        "expected a predicate or val(v) to order by, found {}",
                                        other.describe()
                                    ),
                                ));
                            }
                        },
                    };
                    args.order.push(Order {
                        desc: key == "orderdesc",
                        by,
                    });
                }
                _ => {
                    let allowed = if root {
                        "func, first, offset, after, orderasc or orderdesc"
                    } else {
                        "first, offset, after, orderasc or orderdesc"
                    };
                    return Err(ParseError::at(
                        key_pos,
                        format!("unknown argument {key}; expected {allowed}"),
                    ));
                }
            }
            let t = self.next()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => return Ok((func, args)),
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

    /// `(from: 0x1, to: uid(v), numpaths: 2, depth: 3, minweight: 1, maxweight: 10)` of a
    /// shortest-path block, the `(` not yet read.
    fn shortest_args(&mut self) -> Result<Shortest> {
        let open = self.next()?.pos;
        let (mut from, mut to) = (None, None);
        let mut sp = Shortest {
            from: UidRef::Uid(0),
            to: UidRef::Uid(0),
            numpaths: 1,
            depth: None,
            minweight: None,
            maxweight: None,
        };
        if !self.eat(&Tok::RParen)? {
            loop {
                let (key, key_pos) = self.name("an argument of shortest like from")?;
                self.expect(&Tok::Colon, || format!("after the argument name {key}"))?;
                match key.as_str() {
                    "from" | "to" => {
                        let arg = self.raw_arg()?;
                        let refs = self.uid_refs(std::slice::from_ref(&arg))?;
                        let [r] = <[UidRef; 1]>::try_from(refs).map_err(|_| {
                            ParseError::at(
                                arg.pos(),
                                format!("{key} takes one uid or one uid variable"),
                            )
                        })?;
                        if key == "from" {
                            from = Some(r);
                        } else {
                            to = Some(r);
                        }
                    }
                    "numpaths" | "depth" => {
                        let v = self.int_arg(&key)?;
                        let v = u64::try_from(v).map_err(|_| {
                            ParseError::at(key_pos, format!("{key} must not be negative"))
                        })?;
                        if key == "numpaths" {
                            sp.numpaths = v;
                        } else {
                            sp.depth = Some(v);
                        }
                    }
                    "minweight" | "maxweight" => {
                        let (text, pos) = self.scalar_arg(&key)?;
                        let w: f64 = text.parse().map_err(|_| {
                            ParseError::at(
                                pos,
                                format!("expected a number for {key}, found {text}"),
                            )
                        })?;
                        if key == "minweight" {
                            sp.minweight = Some(w);
                        } else {
                            sp.maxweight = Some(w);
                        }
                    }
                    _ => {
                        return Err(ParseError::at(
                            key_pos,
                            format!(
                                "unknown argument {key} of shortest; expected from, to, numpaths, depth, minweight or maxweight"
                            ),
                        ));
                    }
                }
                if self.comma_or_close("the arguments", open)? {
                    break;
                }
            }
        }
        match (from, to) {
            (Some(f), Some(t)) => {
                sp.from = f;
                sp.to = t;
                Ok(sp)
            }
            _ => Err(ParseError::at(open, "shortest needs both from: and to:")),
        }
    }

    /// A single value: a word, a string or a `$variable`.
    pub(super) fn scalar_arg(&mut self, what: &str) -> Result<(String, Pos)> {
        let t = self.next()?;
        match t.tok {
            Tok::Word(w) | Tok::Str(w) => Ok((w, t.pos)),
            Tok::Var(v) => Ok((self.var_value(&v, t.pos)?, t.pos)),
            other => Err(ParseError::at(
                t.pos,
                format!("expected a value for {what}, found {other}"),
            )),
        }
    }

    pub(super) fn int_arg(&mut self, what: &str) -> Result<i64> {
        let (text, pos) = self.scalar_arg(what)?;
        text.parse().map_err(|_| {
            ParseError::at(pos, format!("expected an integer for {what}, found {text}"))
        })
    }

    pub(super) fn directives(
        &mut self,
        filter: &mut Option<Filter>,
        d: &mut Directives,
    ) -> Result<()> {
        while self.peek_is(&Tok::At)? {
            self.next()?;
            let (name, pos) = self.name("a directive name like filter")?;
            self.directive(&name, pos, filter, d)?;
        }
        Ok(())
    }

    /// One directive, its `@` and name already read.
    pub(super) fn directive(
        &mut self,
        name: &str,
        pos: Pos,
        filter: &mut Option<Filter>,
        d: &mut Directives,
    ) -> Result<()> {
        let dup = || ParseError::at(pos, format!("@{name} is given twice"));
        match name {
            "filter" => {
                if filter.is_some() {
                    return Err(dup());
                }
                let open = self
                    .expect(&Tok::LParen, || "after @filter".to_string())?
                    .pos;
                *filter = Some(self.bool_expr(Self::filter_leaf)?);
                self.close(&Tok::RParen, "@filter(", open)?;
            }
            "facets" => self.facets_directive(d, pos)?,
            "cascade" => {
                if d.cascade.is_some() {
                    return Err(dup());
                }
                d.cascade = Some(self.name_list("@cascade")?);
            }
            "normalize" => d.normalize = true,
            "ignorereflex" => d.ignorereflex = true,
            "recurse" => {
                if d.recurse.is_some() {
                    return Err(dup());
                }
                d.recurse = Some(self.recurse_args()?);
            }
            "groupby" => {
                if d.groupby.is_some() {
                    return Err(dup());
                }
                d.groupby = Some(self.groupby_keys(pos)?);
            }
            n if UNSUPPORTED_DIRECTIVES.contains(&n) => {
                let hint = if n == "if" {
                    "; @if belongs on an upsert mutation"
                } else {
                    ""
                };
                return Err(ParseError::at(
                    pos,
                    format!("directive @{n} is not supported here{hint}"),
                ));
            }
            n => {
                return Err(ParseError::at(
                    pos,
                    format!(
                        "unknown directive @{n}; expected @filter, @facets, @cascade, @normalize, @recurse, @groupby or @ignorereflex"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The optional `(depth: N, loop: true)` of `@recurse`.
    fn recurse_args(&mut self) -> Result<Recurse> {
        let mut r = Recurse::default();
        if !self.peek_is(&Tok::LParen)? {
            return Ok(r);
        }
        let open = self.next()?.pos;
        if self.eat(&Tok::RParen)? {
            return Ok(r);
        }
        loop {
            let (key, key_pos) = self.name("depth or loop in @recurse(...)")?;
            self.expect(&Tok::Colon, || format!("after {key} in @recurse"))?;
            let (text, pos) = self.scalar_arg(&key)?;
            match key.as_str() {
                "depth" => {
                    r.depth = Some(text.parse().map_err(|_| {
                        ParseError::at(
                            pos,
                            format!("expected a non-negative integer for depth, found {text}"),
                        )
                    })?)
                }
                "loop" => {
                    r.allow_loop = match text.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ParseError::at(
                                pos,
                                format!("expected true or false for loop, found {text}"),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(ParseError::at(
                        key_pos,
                        format!("unknown argument {key} of @recurse; expected depth or loop"),
                    ));
                }
            }
            if self.comma_or_close("@recurse(", open)? {
                break;
            }
        }
        if r.allow_loop && r.depth.is_none() {
            return Err(ParseError::at(
                open,
                "Depth must be > 0 when loop is true for recurse query",
            ));
        }
        Ok(r)
    }

    /// `(a, alias: b@en)` of `@groupby`.
    fn groupby_keys(&mut self, at: Pos) -> Result<Vec<GroupKey>> {
        let open = self
            .expect(&Tok::LParen, || "after @groupby".to_string())?
            .pos;
        let mut keys = Vec::new();
        loop {
            let (mut word, mut pos) = self.name("a predicate in @groupby(...)")?;
            let mut alias = None;
            if self.eat(&Tok::Colon)? {
                alias = Some(word);
                (word, pos) = self.name("a predicate after the alias")?;
            }
            let (predicate, reverse) = predicate_parts(&word, pos)?;
            if reverse {
                return Err(ParseError::at(pos, "@groupby takes forward predicates"));
            }
            let mut lang = None;
            if self.eat(&Tok::At)? {
                let (l, lpos) = self.name("a language after '@'")?;
                lang = Some(check_lang(l, lpos)?);
            }
            keys.push(GroupKey {
                alias,
                predicate,
                lang,
            });
            if self.comma_or_close("@groupby(", open)? {
                break;
            }
        }
        let _ = at;
        Ok(keys)
    }

    /// `@facets`, `@facets(a, alias: b, v as c, orderasc: d)` or `@facets(eq(k, v) AND ...)`;
    /// one edge may have one of each kind.
    fn facets_directive(&mut self, d: &mut Directives, at: Pos) -> Result<()> {
        let twice = || ParseError::at(at, "@facets is given twice");
        if !self.peek_is(&Tok::LParen)? {
            if d.facets.is_some() {
                return Err(twice());
            }
            d.facets = Some(Vec::new());
            return Ok(());
        }
        let open = self.next()?.pos;
        if self.eat(&Tok::RParen)? {
            if d.facets.is_some() {
                return Err(twice());
            }
            d.facets = Some(Vec::new());
            return Ok(());
        }
        // A filter starts with a function call, `not` or a parenthesis.
        let save = self.lex.clone();
        let is_filter = match self.next()?.tok {
            Tok::LParen => true,
            Tok::Word(w) => w.eq_ignore_ascii_case("not") || self.peek_is(&Tok::LParen)?,
            _ => false,
        };
        self.lex = save;
        if is_filter {
            if d.facet_filter.is_some() {
                return Err(ParseError::at(at, "a facet filter is given twice"));
            }
            d.facet_filter = Some(self.bool_expr(Self::filter_leaf)?);
            self.close(&Tok::RParen, "@facets(", open)?;
            return Ok(());
        }
        if d.facets.is_some() {
            return Err(twice());
        }
        let mut keys = Vec::new();
        loop {
            let (mut word, mut pos) = self.name("a facet name in @facets(...)")?;
            let mut key = FacetKey::named("");
            if self.peek_word("as")? {
                self.next()?;
                self.define_var(&word);
                key.var = Some(word);
                (word, pos) = self.name("a facet name after 'as'")?;
            } else if self.eat(&Tok::Colon)? {
                if word == "orderasc" || word == "orderdesc" {
                    let (k, _) = self.name("a facet name to order by")?;
                    d.facet_order.push((word == "orderdesc", k.clone()));
                    if !keys.iter().any(|f: &FacetKey| f.key == k) {
                        keys.push(FacetKey::named(k));
                    }
                    if self.comma_or_close("@facets(", open)? {
                        break;
                    }
                    continue;
                }
                key.alias = Some(word);
                (word, pos) = self.name("a facet name after the alias")?;
            }
            let _ = pos;
            key.key = word;
            keys.push(key);
            if self.comma_or_close("@facets(", open)? {
                break;
            }
        }
        d.facets = Some(keys);
        Ok(())
    }

    /// An optional `(a, b, c)` after `@cascade`.
    pub(super) fn name_list(&mut self, what: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if !self.peek_is(&Tok::LParen)? {
            return Ok(out);
        }
        let open = self.next()?.pos;
        if self.eat(&Tok::RParen)? {
            return Ok(out);
        }
        loop {
            let (n, _) = self.name(&format!("a name in {what}(...)"))?;
            out.push(n);
            let t = self.next()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => return Ok(out),
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!(
                            "expected ',' or ')' to close the {what}( opened at {open}, found {other}"
                        ),
                    ));
                }
            }
        }
    }

    // ----- selections -----

    /// `{ field* }`.
    pub(super) fn selection(&mut self) -> Result<Vec<Field>> {
        let open = self.next()?.pos;
        self.enter(open)?;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                Tok::RBrace => {
                    self.next()?;
                    break;
                }
                Tok::Eof => {
                    self.close(&Tok::RBrace, "block", open)?;
                }
                Tok::Comma => {
                    self.next()?;
                }
                _ => out.push(self.deeper(Self::field)?),
            }
        }
        self.leave();
        Ok(out)
    }

    pub(super) fn field(&mut self) -> Result<Field> {
        let (mut word, mut pos) = self.name("a predicate or uid")?;
        let mut var = None;
        let mut alias = None;
        if self.peek_word("as")? {
            self.next()?;
            self.define_var(&word);
            var = Some(word);
            (word, pos) = self.name("a predicate after 'as'")?;
        }
        if self.eat(&Tok::Colon)? {
            alias = Some(word);
            (word, pos) = self.name("a predicate after the alias")?;
        }
        let call = self.peek_is(&Tok::LParen)?;
        let kind = match word.as_str() {
            "uid" if !call => FieldKind::Uid,
            "count" if call => FieldKind::Count(self.count()?),
            "val" if call => {
                let open = self.next()?.pos;
                let (v, vpos) = self.name("a variable name in val( )")?;
                self.use_var(&v, vpos);
                self.close(&Tok::RParen, "val(", open)?;
                FieldKind::Val(v)
            }
            "expand" if call => self.expand()?,
            "checkpwd" if call => self.checkpwd()?,
            "math" if call => self.math()?,
            w if call && Aggregate::from_name(w).is_some() => self.aggregate(w)?,
            w if call && (UNSUPPORTED_FUNCS.contains(&w) || is_filter_func(w)) => {
                return Err(ParseError::at(
                    pos,
                    if is_filter_func(w) {
                        format!(
                            "function {w}(...) cannot be selected; use it in func: or @filter(...)"
                        )
                    } else {
                        format!("{w}(...) is not supported in a selection")
                    },
                ));
            }
            _ => FieldKind::Predicate(self.edge(word, pos)?),
        };
        Ok(Field { alias, var, kind })
    }

    pub(super) fn edge(&mut self, word: String, pos: Pos) -> Result<Edge> {
        let (name, reverse) = predicate_parts(&word, pos)?;
        let mut e = Edge {
            name,
            reverse,
            ..Edge::default()
        };
        let mut lang_allowed = true;
        loop {
            match self.peek()? {
                Tok::At => {
                    self.next()?;
                    let (w, wpos) = self.name("a language or a directive after '@'")?;
                    if DIRECTIVES.contains(&w.as_str())
                        || UNSUPPORTED_DIRECTIVES.contains(&w.as_str())
                    {
                        lang_allowed = false;
                        self.directive(&w, wpos, &mut e.filter, &mut e.directives)?;
                    } else if lang_allowed {
                        lang_allowed = false;
                        e.langs = self.lang_list(w, wpos)?;
                    } else {
                        return Err(ParseError::at(
                            wpos,
                            format!(
                                "unknown directive @{w}; expected @filter, @facets, @cascade, @normalize, @recurse, @groupby or @ignorereflex"
                            ),
                        ));
                    }
                }
                Tok::LParen => {
                    if e.args != EdgeArgs::default() {
                        let t = self.next()?;
                        return Err(ParseError::at(
                            t.pos,
                            "the arguments of this predicate are given twice",
                        ));
                    }
                    lang_allowed = false;
                    e.args = self.args(false)?.1;
                }
                Tok::LBrace => {
                    e.children = self.selection()?;
                    return Ok(e);
                }
                _ => return Ok(e),
            }
        }
    }

    /// `en:fr:.` after `name@`; `first` is the first language, already read.
    pub(super) fn lang_list(&mut self, first: String, pos: Pos) -> Result<Vec<String>> {
        let mut out = vec![check_lang(first, pos)?];
        while self.peek_is(&Tok::Colon)? {
            self.next()?;
            let (l, lpos) = self.name("a language after ':'")?;
            out.push(check_lang(l, lpos)?);
        }
        Ok(out)
    }

    pub(super) fn count(&mut self) -> Result<CountOf> {
        let open = self.next()?.pos;
        let (word, pos) = self.name("uid or a predicate inside count( )")?;
        let c = if word == "uid" {
            CountOf::Uid
        } else {
            let (name, reverse) = predicate_parts(&word, pos)?;
            let mut filter = None;
            if self.peek_is(&Tok::At)? {
                self.next()?;
                let (d, dpos) = self.name("filter after '@'")?;
                if d != "filter" {
                    return Err(ParseError::at(
                        dpos,
                        format!("only @filter is allowed inside count( ), found @{d}"),
                    ));
                }
                let mut ignored = Directives::default();
                self.directive(&d, dpos, &mut filter, &mut ignored)?;
            }
            CountOf::Predicate {
                name,
                reverse,
                filter,
            }
        };
        self.close(&Tok::RParen, "count(", open)?;
        Ok(c)
    }

    pub(super) fn expand(&mut self) -> Result<FieldKind> {
        let open = self.next()?.pos;
        let mut types = Vec::new();
        let mut all = false;
        loop {
            let t = self.next()?;
            match t.tok {
                Tok::Word(w) if w == "_all_" => all = true,
                Tok::Word(w) if w == "val" || w == "_forward_" || w == "_reverse_" => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expand({w}...) is not supported; use _all_ or type names"),
                    ));
                }
                Tok::Word(w) | Tok::Str(w) | Tok::Iri(w) => types.push(w),
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected _all_ or a type name in expand( ), found {other}"),
                    ));
                }
            }
            let t = self.next()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => break,
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!(
                            "expected ',' or ')' to close the expand( opened at {open}, found {other}"
                        ),
                    ));
                }
            }
        }
        if all && !types.is_empty() {
            return Err(ParseError::at(
                open,
                "expand(_all_) cannot be combined with type names",
            ));
        }
        let children = if self.peek_is(&Tok::LBrace)? {
            self.selection()?
        } else {
            Vec::new()
        };
        Ok(FieldKind::Expand {
            what: if all {
                Expand::All
            } else {
                Expand::Types(types)
            },
            children,
        })
    }

    /// `min(val(v))` and the other aggregates; the name read, `(` peeked.
    #[inline(never)]
    fn aggregate(&mut self, w: &str) -> Result<FieldKind> {
        let func = Aggregate::from_name(w).expect("the caller checked the name");
        let open = self.next()?.pos;
        let (inner, ipos) = self.name("val(v) inside the aggregate")?;
        let arg = if inner == "val" && self.peek_is(&Tok::LParen)? {
            let vopen = self.next()?.pos;
            let (v, vpos) = self.name("a variable name in val( )")?;
            self.use_var(&v, vpos);
            self.close(&Tok::RParen, "val(", vopen)?;
            AggArg::Val(v)
        } else {
            // A predicate: only @groupby accepts it, which the engine checks.
            let (name, reverse) = predicate_parts(&inner, ipos)?;
            if reverse {
                return Err(ParseError::at(
                    ipos,
                    format!("{w}( ) aggregates a value variable: {w}(val(v))"),
                ));
            }
            AggArg::Predicate(name)
        };
        self.close(&Tok::RParen, &format!("{w}("), open)?;
        Ok(FieldKind::Aggregate { func, arg })
    }

    pub(super) fn checkpwd(&mut self) -> Result<FieldKind> {
        let open = self.next()?.pos;
        let (word, pos) = self.name("the password predicate in checkpwd( )")?;
        let (predicate, reverse) = predicate_parts(&word, pos)?;
        if reverse {
            return Err(ParseError::at(
                pos,
                "checkpwd needs a forward password predicate",
            ));
        }
        self.expect(&Tok::Comma, || {
            "after the predicate of checkpwd".to_string()
        })?;
        let (password, _) = self.scalar_arg("the password of checkpwd")?;
        self.close(&Tok::RParen, "checkpwd(", open)?;
        Ok(FieldKind::Checkpwd {
            predicate,
            password,
        })
    }
}
