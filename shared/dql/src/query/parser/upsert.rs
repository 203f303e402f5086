//! Schema queries, upsert blocks and `{ set { } delete { } }` mutation blocks.

use super::*;

impl Parser<'_, '_> {
    // ----- schema -----

    pub(super) fn schema(&mut self, q: &mut Query) -> Result<()> {
        let kw = self.next()?.pos;
        if q.schema.is_some() {
            return Err(ParseError::at(kw, "only one schema block is allowed"));
        }
        let mut s = SchemaQuery::default();
        if self.peek_is(&Tok::LParen)? {
            let open = self.next()?.pos;
            loop {
                let (key, kpos) = self.name("pred or type")?;
                self.expect(&Tok::Colon, || format!("after {key}"))?;
                let names = self.schema_names()?;
                match key.as_str() {
                    "pred" => s.predicates.extend(names),
                    "type" => s.types.extend(names),
                    _ => {
                        return Err(ParseError::at(
                            kpos,
                            format!("unknown schema argument {key}; expected pred or type"),
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
                                "expected ',' or ')' to close the schema( opened at {open}, found {other}"
                            ),
                        ));
                    }
                }
            }
        }
        let open = self
            .expect(&Tok::LBrace, || {
                "to start the schema fields, as in schema { type index }".to_string()
            })?
            .pos;
        loop {
            let t = self.next()?;
            match t.tok {
                Tok::RBrace => break,
                Tok::Comma => {}
                Tok::Word(w) => s.fields.push(w),
                Tok::Eof => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected '}}' to close the schema block opened at {open}"),
                    ));
                }
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected a schema field like type or index, found {other}"),
                    ));
                }
            }
        }
        q.schema = Some(s);
        Ok(())
    }

    pub(super) fn schema_names(&mut self) -> Result<Vec<String>> {
        let t = self.next()?;
        match t.tok {
            Tok::Word(w) | Tok::Iri(w) | Tok::Str(w) => Ok(vec![w]),
            Tok::LBracket => {
                let mut out = Vec::new();
                if self.eat(&Tok::RBracket)? {
                    return Ok(out);
                }
                loop {
                    let n = self.next()?;
                    match n.tok {
                        Tok::Word(w) | Tok::Iri(w) | Tok::Str(w) => out.push(w),
                        other => {
                            return Err(ParseError::at(
                                n.pos,
                                format!("expected a name, found {other}"),
                            ));
                        }
                    }
                    let sep = self.next()?;
                    match sep.tok {
                        Tok::Comma => {}
                        Tok::RBracket => return Ok(out),
                        other => {
                            return Err(ParseError::at(
                                sep.pos,
                                format!(
                                    "expected ',' or ']' to close the list opened at {}, found {other}",
                                    t.pos
                                ),
                            ));
                        }
                    }
                }
            }
            other => Err(ParseError::at(
                t.pos,
                format!("expected a name or a [list] of names, found {other}"),
            )),
        }
    }

    // ----- upserts and mutation blocks -----

    /// An upsert block and nothing else.
    pub(crate) fn upsert_only(mut self) -> Result<Upsert> {
        if !self.peek_word("upsert")? {
            let t = self.next()?;
            return Err(ParseError::at(
                t.pos,
                format!(
                    "expected an upsert block (upsert {{ query {{ ... }} mutation {{ ... }} }}), found {}",
                    t.tok
                ),
            ));
        }
        self.upsert_document()
    }

    pub(super) fn upsert_document(mut self) -> Result<Upsert> {
        let kw = self.next()?.pos;
        let open = self
            .expect(&Tok::LBrace, || "after upsert".to_string())?
            .pos;
        let mut query: Option<Query> = None;
        let mut mutations = Vec::new();
        loop {
            let t = self.next()?;
            match &t.tok {
                Tok::RBrace => break,
                Tok::Word(w) if w == "query" => {
                    if query.is_some() {
                        return Err(ParseError::at(
                            t.pos,
                            "an upsert block may hold only one query",
                        ));
                    }
                    let mut q = Query::default();
                    self.operation_after_keyword(&mut q)?;
                    query = Some(q);
                }
                Tok::Word(w) if w == "mutation" => {
                    let cond = if self.peek_is(&Tok::At)? {
                        Some(self.if_directive()?)
                    } else {
                        None
                    };
                    if !self.peek_is(&Tok::LBrace)? {
                        let t = self.next()?;
                        return Err(ParseError::at(
                            t.pos,
                            format!("expected '{{' to start the mutation, found {}", t.tok),
                        ));
                    }
                    mutations.push(self.mutation_body(cond)?);
                }
                Tok::Word(w) if w == "fragment" => {
                    return Err(ParseError::at(t.pos, "fragments are not supported"));
                }
                Tok::Eof => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected '}}' to close the upsert block opened at {open}"),
                    ));
                }
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!(
                            "expected query, mutation or '}}' in the upsert block, found {other}"
                        ),
                    ));
                }
            }
        }
        self.expect_eof()?;
        let Some(query) = query else {
            return Err(ParseError::at(kw, "an upsert block needs a query { ... }"));
        };
        if mutations.is_empty() {
            return Err(ParseError::at(
                kw,
                "an upsert block needs at least one mutation { ... }",
            ));
        }
        self.check_no_vars_given()?;
        self.check_var_uses()?;
        Ok(Upsert { query, mutations })
    }

    /// `{ set { ... } delete { ... } }`; the `{` is next.
    pub(super) fn mutation_body(&mut self, cond: Option<Condition>) -> Result<Mutation> {
        let open = self.next()?.pos;
        let mut m = Mutation {
            cond,
            ..Mutation::default()
        };
        loop {
            let t = self.next()?;
            let (mode, name) = match &t.tok {
                Tok::RBrace => return Ok(m),
                Tok::Word(w) if w == "set" => (Mode::Set, "set"),
                Tok::Word(w) if w == "delete" => (Mode::Delete, "delete"),
                Tok::Word(w) if w == "schema" || w == "dropall" => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("{w} is not allowed in a mutation; use the alter operation"),
                    ));
                }
                Tok::Eof => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected '}}' to close the mutation opened at {open}"),
                    ));
                }
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected set {{ ... }} or delete {{ ... }}, found {other}"),
                    ));
                }
            };
            // Read the `{` without peeking past it, then let the N-Quad parser read the body.
            let brace = self.next()?;
            if brace.tok != Tok::LBrace {
                return Err(ParseError::at(
                    brace.pos,
                    format!("expected '{{' after {name}, found {}", brace.tok),
                ));
            }
            let nquads = parse_block(self.lex.cursor(), mode, (name, brace.pos))?;
            match mode {
                Mode::Delete => m.delete.extend(nquads),
                _ => m.set.extend(nquads),
            }
        }
    }
}
