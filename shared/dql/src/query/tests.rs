use super::*;
use crate::nquad::{NQuad, Object, Predicate, Subject, Value};

fn no_vars() -> HashMap<String, String> {
    HashMap::new()
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn q(src: &str) -> Query {
    parse_query(src, &no_vars()).unwrap_or_else(|e| panic!("{src}\n{e}"))
}

fn err(src: &str) -> crate::ParseError {
    match parse_query(src, &no_vars()) {
        Ok(q) => panic!("{src} parsed to {q:?}"),
        Err(e) => e,
    }
}

fn root_func(src: &str) -> Func {
    q(&format!("{{ me(func: {src}) {{ uid }} }}"))
        .blocks
        .remove(0)
        .func
        .expect("a root function")
}

fn filter(src: &str) -> Filter {
    q(&format!("{{ me(func: has(a)) @filter({src}) {{ uid }} }}"))
        .blocks
        .remove(0)
        .filter
        .expect("filter")
}

fn fields(src: &str) -> Vec<Field> {
    q(&format!("{{ me(func: has(a)) {{ {src} }} }}"))
        .blocks
        .remove(0)
        .children
}

fn edge(f: &Field) -> &Edge {
    match &f.kind {
        FieldKind::Predicate(e) => e,
        other => panic!("not a predicate: {other:?}"),
    }
}

fn lit(s: &str) -> FuncValue {
    FuncValue::Literal(s.to_string())
}

fn pred(name: &str) -> Attr {
    Attr::Predicate {
        name: name.into(),
        lang: None,
    }
}

fn leaf(f: Func) -> Filter {
    BoolExpr::Leaf(f)
}

fn has(p: &str) -> Func {
    Func::Has {
        predicate: p.into(),
        reverse: false,
    }
}

/// The example of the "Reset Groot Password" section of the enterprise-features doc page
/// (seed 000), verbatim.
const SEED_UPSERT: &str = r#"upsert {
  query {
    groot as var(func: eq(dgraph.xid, "groot"))
  }
  mutation {
    set {
      uid(groot) <dgraph.password> "newpassword" .
    }
  }
}"#;

#[test]
fn seed_upsert_example_parses() {
    let u = parse_upsert(SEED_UPSERT, &no_vars()).unwrap();
    assert_eq!(u.query.blocks.len(), 1);
    let b = &u.query.blocks[0];
    assert_eq!((b.name.as_str(), b.var.as_deref()), ("var", Some("groot")));
    assert!(b.is_var_block());
    assert_eq!(
        b.func.clone().unwrap(),
        Func::Compare {
            op: CompareOp::Eq,
            attr: pred("dgraph.xid"),
            values: vec![lit("groot")],
        }
    );
    assert!(b.children.is_empty());
    assert_eq!(
        u.mutations,
        vec![Mutation {
            cond: None,
            set: vec![NQuad {
                subject: Subject::Var("groot".into()),
                predicate: Predicate::Named("dgraph.password".into()),
                object: Object::Value(Value::Default("newpassword".into())),
                lang: None,
                facets: vec![],
            }],
            delete: vec![],
        }]
    );
    assert!(matches!(
        parse_dql(SEED_UPSERT, &no_vars()).unwrap(),
        Document::Upsert(_)
    ));
}

#[test]
fn anonymous_query_with_several_blocks() {
    let query = q("{\n  a(func: uid(0x1)) { name }\n  b(func: has(age)) { age }\n}");
    assert_eq!(query.name, None);
    let names: Vec<_> = query.blocks.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(query.blocks[0].func, Some(Func::Uid(vec![UidRef::Uid(1)])));
    // Several `{ }` operations add up, commas between blocks are allowed.
    assert_eq!(
        q("{ a(func: has(x)) { uid }, } { b(func: has(y)) { uid } }")
            .blocks
            .len(),
        2
    );
    assert_eq!(q("{ }").blocks.len(), 0);
}

#[test]
fn named_query_with_variables() {
    let src = r#"query people($name: string = "Alice", $n: int, $f: float = 1.5, $ok: bool = true, $req: int!) {
      me(func: eq(name, $name), first: $n) @filter(ge(score, $f) AND eq(ok, $ok) AND lt(age, $req)) { uid }
    }"#;
    let query = parse_query(src, &vars(&[("$n", "5"), ("req", "40")])).unwrap();
    assert_eq!(query.name.as_deref(), Some("people"));
    let b = &query.blocks[0];
    assert_eq!(
        b.func.clone().unwrap(),
        Func::Compare {
            op: CompareOp::Eq,
            attr: pred("name"),
            values: vec![lit("Alice")],
        }
    );
    assert_eq!(b.args.first, Some(5));
    let BoolExpr::And(parts) = b.filter.as_ref().unwrap() else {
        panic!()
    };
    let values: Vec<_> = parts
        .iter()
        .map(|p| match p {
            BoolExpr::Leaf(Func::Compare { values, .. }) => values[0].clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(values, [lit("1.5"), lit("true"), lit("40")]);
    // A given value overrides the default.
    let query = parse_query(src, &vars(&[("$name", "Bob"), ("$n", "1"), ("$req", "1")])).unwrap();
    let Some(Func::Compare { values, .. }) = &query.blocks[0].func else {
        panic!()
    };
    assert_eq!(values, &[lit("Bob")]);
}

#[test]
fn variable_errors() {
    let src = "query q($n: int) { me(func: has(a), first: $n) { uid } }";
    let e = parse_query(src, &no_vars()).unwrap_err();
    assert_eq!((e.line, e.column), (1, 44));
    assert!(e.message.contains("variable $n has no value"), "{e}");
    let e = parse_query(src, &vars(&[("$n", "ten")])).unwrap_err();
    assert!(
        e.message
            .contains("declared int but its value \"ten\" is not a valid int"),
        "{e}"
    );
    let e = parse_query(src, &vars(&[("$n", "1"), ("$m", "2")])).unwrap_err();
    assert!(
        e.message
            .contains("variable $m was passed but the query does not declare it"),
        "{e}"
    );
    let e = parse_query("{ me(func: eq(name, $x)) { uid } }", &no_vars()).unwrap_err();
    assert!(e.message.contains("variable $x is not declared"), "{e}");
    assert_eq!(e.column, 21);
    let e = parse_query("query q($a: int!) { me(func: has(a)) { uid } }", &no_vars()).unwrap_err();
    assert!(
        e.message
            .contains("required (!) but the request gives no value"),
        "{e}"
    );
    let e = parse_query(
        "query q($a: int! = 1) { me(func: has(a)) { uid } }",
        &vars(&[("a", "1")]),
    )
    .unwrap_err();
    assert!(e.message.contains("cannot have a default"), "{e}");
    let e = parse_query("query q($a: date) { me(func: has(a)) { uid } }", &no_vars()).unwrap_err();
    assert!(e.message.starts_with("unknown variable type date"), "{e}");
    let e = parse_query(
        "query q($a: int, $a: int) { me(func: has(a)) { uid } }",
        &no_vars(),
    )
    .unwrap_err();
    assert!(e.message.contains("declared twice"), "{e}");
    let e = parse_query(
        "query q($a: bool = maybe) { me(func: has(a)) { uid } }",
        &no_vars(),
    )
    .unwrap_err();
    assert!(e.message.contains("not a valid bool"), "{e}");
}

#[test]
fn uid_list_in_a_string_variable() {
    let query = parse_query(
        "query q($ids: string) { me(func: uid($ids)) { uid } }",
        &vars(&[("$ids", "[0x1, 0x2, \"3\"]")]),
    )
    .unwrap();
    assert_eq!(
        query.blocks[0].func.clone().unwrap(),
        Func::Uid(vec![UidRef::Uid(1), UidRef::Uid(2), UidRef::Uid(3)])
    );
    let e = parse_query(
        "query q($ids: string) { me(func: uid($ids)) { uid } }",
        &vars(&[("$ids", "x")]),
    )
    .unwrap_err();
    assert!(e.message.contains("expected uids like 0x1a"), "{e}");
}

#[test]
fn root_functions() {
    assert_eq!(
        q("{ v as var(func: has(a)) me(func: uid(0x1, 2, v)) { uid } }").blocks[1]
            .func
            .clone()
            .unwrap(),
        Func::Uid(vec![
            UidRef::Uid(1),
            UidRef::Uid(2),
            UidRef::Var("v".into())
        ])
    );
    assert_eq!(
        root_func(r#"eq(name@en, ["a", "b"])"#),
        Func::Compare {
            op: CompareOp::Eq,
            attr: Attr::Predicate {
                name: "name".into(),
                lang: Some("en".into())
            },
            values: vec![lit("a"), lit("b")],
        }
    );
    assert_eq!(
        root_func("eq(age, 30)"),
        Func::Compare {
            op: CompareOp::Eq,
            attr: pred("age"),
            values: vec![lit("30")],
        }
    );
    for (name, op) in [
        ("le", CompareOp::Le),
        ("lt", CompareOp::Lt),
        ("ge", CompareOp::Ge),
        ("gt", CompareOp::Gt),
    ] {
        assert_eq!(
            root_func(&format!("{name}(dob, \"1980-01-01\")")),
            Func::Compare {
                op,
                attr: pred("dob"),
                values: vec![lit("1980-01-01")],
            }
        );
    }
    assert_eq!(
        root_func("gt(count(~friend), 3)"),
        Func::Compare {
            op: CompareOp::Gt,
            attr: Attr::Count {
                name: "friend".into(),
                reverse: true
            },
            values: vec![lit("3")],
        }
    );
    assert_eq!(
        root_func("has(~friend)"),
        Func::Has {
            predicate: "friend".into(),
            reverse: true
        }
    );
    assert_eq!(root_func("type(Person)"), Func::Type("Person".into()));
    assert_eq!(
        root_func("type(\"dgraph.type.User\")"),
        Func::Type("dgraph.type.User".into())
    );
    assert_eq!(
        root_func("allofterms(name@en, \"jones indiana\")"),
        Func::AllOfTerms {
            predicate: "name".into(),
            lang: Some("en".into()),
            terms: "jones indiana".into()
        }
    );
    assert_eq!(
        root_func("anyofterms(name, \"a b\")"),
        Func::AnyOfTerms {
            predicate: "name".into(),
            lang: None,
            terms: "a b".into()
        }
    );
    assert_eq!(root_func("EQ(a, 1)"), root_func("eq(a, 1)"));
}

#[test]
fn uid_in_forms() {
    let one = Func::UidIn {
        predicate: "boss".into(),
        uids: vec![UidRef::Uid(0x1a)],
    };
    assert_eq!(filter("uid_in(boss, 0x1a)"), leaf(one));
    assert_eq!(
        filter("uid_in(boss, [0x1, 0x2])"),
        leaf(Func::UidIn {
            predicate: "boss".into(),
            uids: vec![UidRef::Uid(1), UidRef::Uid(2)]
        })
    );
    let query =
        q("{ b as var(func: has(x)) me(func: has(a)) @filter(uid_in(boss, uid(b))) { uid } }");
    assert_eq!(
        query.blocks[1].filter,
        Some(leaf(Func::UidIn {
            predicate: "boss".into(),
            uids: vec![UidRef::Var("b".into())]
        }))
    );
}

#[test]
fn value_variables_in_functions_and_order() {
    let query = q(
        "{ var(func: has(a)) { v as age } me(func: uid(0x1), orderasc: val(v)) @filter(eq(val(v), 3) OR eq(age, val(v))) { val(v) } }",
    );
    let b = &query.blocks[1];
    assert_eq!(
        b.args.order,
        vec![Order {
            desc: false,
            by: OrderBy::Val("v".into())
        }]
    );
    let BoolExpr::Or(parts) = b.filter.as_ref().unwrap() else {
        panic!()
    };
    assert_eq!(
        parts[0],
        leaf(Func::Compare {
            op: CompareOp::Eq,
            attr: Attr::Val("v".into()),
            values: vec![lit("3")]
        })
    );
    assert_eq!(
        parts[1],
        leaf(Func::Compare {
            op: CompareOp::Eq,
            attr: pred("age"),
            values: vec![FuncValue::Val("v".into())]
        })
    );
    assert_eq!(b.children[0].kind, FieldKind::Val("v".into()));
    assert_eq!(query.defined_vars().into_iter().collect::<Vec<_>>(), ["v"]);
    assert_eq!(query.used_vars().into_iter().collect::<Vec<_>>(), ["v"]);
}

#[test]
fn unknown_and_unsupported_functions() {
    let e = err("{\n  me(func: foo(name, 1)) { uid }\n}");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 12, "unknown function foo")
    );
    let e = err("{ me(func: has(a)) @filter(bar(x)) { uid } }");
    assert_eq!(e.message, "unknown function bar");
    let e = err("{ me(func: similar_to(v, 3, \"[1.0]\")) { uid } }");
    assert!(e.message.contains("vector search"), "{e}");
    let e = err("{ me(func: has(a)) { x as count(f) s as math(x + ) } }");
    assert!(
        e.message.contains("expected a number, a value variable"),
        "{e}"
    );
    let e = err("{ me(func: has(a)) { eq(a, 1) } }");
    assert!(e.message.contains("cannot be selected"), "{e}");
    assert!(
        err("{ me(func: lt(a, 1, 2)) { uid } }")
            .message
            .contains("exactly one value")
    );
    assert!(
        err("{ me(func: lt(a, [1])) { uid } }")
            .message
            .contains("expected a value for lt, found a list")
    );
    assert!(
        err("{ me(func: eq(a)) { uid } }")
            .message
            .contains("takes a predicate and a value")
    );
    assert!(
        err("{ me(func: has(a, b)) { uid } }")
            .message
            .contains("has takes 1 argument")
    );
    assert!(
        err("{ me(func: uid()) { uid } }")
            .message
            .contains("at least one")
    );
    assert!(
        err("{ me(func: uid(0x0)) { uid } }")
            .message
            .contains("not a valid uid")
    );
    assert!(
        err("{ me(func: eq(\"a\", 1)) { uid } }")
            .message
            .contains("expected a predicate")
    );
    assert!(
        err("{ me(func: has) { uid } }")
            .message
            .contains("expected '(' after the function name has")
    );
}

#[test]
fn block_arguments() {
    let b = q("{ me(func: has(a), first: -2, offset: 10, after: 0x5, orderasc: name@en, orderdesc: age) { uid } }")
        .blocks
        .remove(0);
    assert_eq!(
        b.args,
        EdgeArgs {
            first: Some(-2),
            offset: Some(10),
            after: Some(5),
            order: vec![
                Order {
                    desc: false,
                    by: OrderBy::Predicate {
                        name: "name".into(),
                        lang: Some("en".into())
                    }
                },
                Order {
                    desc: true,
                    by: OrderBy::Predicate {
                        name: "age".into(),
                        lang: None
                    }
                },
            ],
        }
    );
    assert!(
        err("{ me(func: has(a), first: 1, first: 2) { uid } }")
            .message
            .contains("first is given twice")
    );
    assert!(
        err("{ me(func: has(a), random: 2) { uid } }")
            .message
            .starts_with("unknown argument random")
    );
    assert!(
        err("{ me(first: 2) { uid } }")
            .message
            .contains("Only aggregation/math functions allowed inside empty blocks. Got: uid")
    );
    assert!(
        err("{ me { uid } }")
            .message
            .contains("expected '(' after the block name me")
    );
    assert!(
        err("{ me(func: has(a), first: x) { uid } }")
            .message
            .contains("expected an integer for first")
    );
    assert!(
        err("{ me(func: has(a), after: x) { uid } }")
            .message
            .contains("expected a uid")
    );
    assert!(
        err("{ me(func: has(a)) { f(func: has(b)) } }")
            .message
            .starts_with("unknown argument func")
    );
}

#[test]
fn filters_precedence_and_grouping() {
    let (a, b, c) = (leaf(has("a")), leaf(has("b")), leaf(has("c")));
    assert_eq!(
        filter("has(a) or has(b) and has(c)"),
        BoolExpr::Or(vec![a.clone(), BoolExpr::And(vec![b.clone(), c.clone()])])
    );
    assert_eq!(
        filter("(has(a) OR has(b)) AND has(c)"),
        BoolExpr::And(vec![BoolExpr::Or(vec![a.clone(), b.clone()]), c.clone()])
    );
    assert_eq!(
        filter("not has(a) and has(b)"),
        BoolExpr::And(vec![BoolExpr::Not(Box::new(a.clone())), b.clone()])
    );
    assert_eq!(
        filter("NOT (has(a) or has(b))"),
        BoolExpr::Not(Box::new(BoolExpr::Or(vec![a.clone(), b.clone()])))
    );
    assert_eq!(
        filter("has(a) AND has(b) AND has(c)"),
        BoolExpr::And(vec![a, b, c])
    );
    let e = err("{ me(func: has(a)) @filter((has(a) and has(b)) { uid } }");
    assert!(
        e.message
            .contains("to close the @filter( opened at line 1 column 27"),
        "{e}"
    );
    let e = err("{ me(func: has(a)) @filter(has(a) and (has(b) { uid } }");
    assert!(
        e.message
            .contains("to close the parenthesis opened at line 1 column 39"),
        "{e}"
    );
    let deep = format!(
        "{{ me(func: has(a)) @filter({}has(a){}) {{ uid }} }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert!(err(&deep).message.contains("nesting deeper than"));
}

#[test]
fn directives() {
    let b = q("{ me(func: has(a)) @cascade @normalize { friend @facets @cascade(name) { name } c: friend @facets(since, close) { uid } } }")
        .blocks
        .remove(0);
    assert_eq!(b.directives.cascade, Some(vec![]));
    assert!(b.directives.normalize);
    assert_eq!(edge(&b.children[0]).directives.facets, Some(vec![]));
    assert_eq!(
        edge(&b.children[0]).directives.cascade,
        Some(vec!["name".to_string()])
    );
    assert_eq!(
        edge(&b.children[1]).directives.facets,
        Some(vec![FacetKey::named("since"), FacetKey::named("close")])
    );
    let b = q("{ me(func: has(a)) @recurse(depth: 3, loop: true) @ignorereflex { uid } }")
        .blocks
        .remove(0);
    assert_eq!(
        b.directives.recurse,
        Some(Recurse {
            depth: Some(3),
            allow_loop: true
        })
    );
    assert!(b.directives.ignorereflex);
    assert!(
        err("{ me(func: has(a)) @recurse(loop: true) { uid } }")
            .message
            .contains("Depth must be > 0 when loop is true for recurse query")
    );
    let b = q("{ me(func: has(a)) @groupby(g: genre, name@en) { count(uid) } }")
        .blocks
        .remove(0);
    let keys = b.directives.groupby.unwrap();
    assert_eq!(keys[0].alias.as_deref(), Some("g"));
    assert_eq!(keys[1].lang.as_deref(), Some("en"));
    assert!(
        err("{ me(func: has(a)) @whatever { uid } }")
            .message
            .starts_with("unknown directive @whatever")
    );
    assert!(
        err("{ me(func: has(a)) { f @facets(eq(close, true)) @facets(lt(a, 1)) { uid } } }")
            .message
            .contains("a facet filter is given twice")
    );
    assert!(
        err("{ me(func: has(a)) @filter(has(a)) @filter(has(b)) { uid } }")
            .message
            .contains("@filter is given twice")
    );
    assert!(
        err("{ me(func: has(a)) { name@en@fr } }")
            .message
            .contains("unknown directive @fr")
    );
}

#[test]
fn selections() {
    let f = fields(
        "uid
         name
         n: name@en:fr:.
         v as age
         f as friend (first: 2, orderasc: name) @filter(has(name)) { uid }
         ~friend { name }
         c: count(uid)
         count(friend)
         count(~friend @filter(has(x)))
         val(v)
         expand(_all_) { uid }
         expand(Person, Animal)
         ok: checkpwd(password, \"secret\")
         <http://schema.org/name>",
    );
    assert_eq!(f.len(), 14);
    assert_eq!(f[0].kind, FieldKind::Uid);
    assert_eq!(edge(&f[1]).name, "name");
    assert!(edge(&f[1]).children.is_empty());
    assert_eq!(f[2].alias.as_deref(), Some("n"));
    assert_eq!(edge(&f[2]).langs, ["en", "fr", "."]);
    assert_eq!(
        (f[3].var.as_deref(), edge(&f[3]).name.as_str()),
        (Some("v"), "age")
    );
    let fr = edge(&f[4]);
    assert_eq!(f[4].var.as_deref(), Some("f"));
    assert_eq!(fr.args.first, Some(2));
    assert_eq!(fr.filter, Some(leaf(has("name"))));
    assert_eq!(fr.children[0].kind, FieldKind::Uid);
    assert!(edge(&f[5]).reverse);
    assert_eq!(edge(&f[5]).name, "friend");
    assert_eq!(
        (f[6].alias.as_deref(), &f[6].kind),
        (Some("c"), &FieldKind::Count(CountOf::Uid))
    );
    assert_eq!(
        f[7].kind,
        FieldKind::Count(CountOf::Predicate {
            name: "friend".into(),
            reverse: false,
            filter: None
        })
    );
    assert_eq!(
        f[8].kind,
        FieldKind::Count(CountOf::Predicate {
            name: "friend".into(),
            reverse: true,
            filter: Some(leaf(has("x")))
        })
    );
    assert_eq!(f[9].kind, FieldKind::Val("v".into()));
    assert_eq!(
        f[10].kind,
        FieldKind::Expand {
            what: Expand::All,
            children: vec![Field {
                alias: None,
                var: None,
                kind: FieldKind::Uid
            }]
        }
    );
    assert_eq!(
        f[11].kind,
        FieldKind::Expand {
            what: Expand::Types(vec!["Person".into(), "Animal".into()]),
            children: vec![]
        }
    );
    assert_eq!(
        (f[12].alias.as_deref(), &f[12].kind),
        (
            Some("ok"),
            &FieldKind::Checkpwd {
                predicate: "password".into(),
                password: "secret".into()
            }
        )
    );
    assert_eq!(edge(&f[13]).name, "http://schema.org/name");
}

#[test]
fn checkpwd_takes_a_variable() {
    let query = parse_query(
        "query login($pw: string) { me(func: eq(dgraph.xid, \"groot\")) { ok: checkpwd(dgraph.password, $pw) } }",
        &vars(&[("$pw", "password")]),
    )
    .unwrap();
    assert_eq!(
        query.blocks[0].children[0].kind,
        FieldKind::Checkpwd {
            predicate: "dgraph.password".into(),
            password: "password".into()
        }
    );
}

#[test]
fn variables_must_be_defined() {
    let e = err("{\n  me(func: uid(f)) { uid }\n}");
    assert_eq!((e.line, e.column), (2, 16));
    assert!(
        e.message.contains("variable f is used but not defined"),
        "{e}"
    );
    assert!(
        err("{ me(func: has(a)) { val(x) } }")
            .message
            .contains("variable x is used but not defined")
    );
    // Definition after use (in a later block) is fine.
    assert_eq!(
        q("{ me(func: uid(f)) { uid } f as var(func: has(a)) }")
            .blocks
            .len(),
        2
    );
}

#[test]
fn schema_queries() {
    assert_eq!(q("schema {}").schema, Some(SchemaQuery::default()));
    assert_eq!(
        q("schema { type index }").schema.unwrap().fields,
        ["type", "index"]
    );
    assert_eq!(
        q("schema(pred: [name, age]) { type index }").schema,
        Some(SchemaQuery {
            predicates: vec!["name".into(), "age".into()],
            types: vec![],
            fields: vec!["type".into(), "index".into()]
        })
    );
    let s = q("schema(pred: name, type: Person) {}").schema.unwrap();
    assert_eq!(
        (s.predicates, s.types),
        (vec!["name".to_string()], vec!["Person".to_string()])
    );
    assert!(
        err("schema(foo: x) {}")
            .message
            .contains("unknown schema argument foo")
    );
    assert!(
        err("schema {} schema {}")
            .message
            .contains("only one schema block")
    );
    let e = err("schema { type");
    assert!(
        e.message
            .contains("close the schema block opened at line 1 column 8"),
        "{e}"
    );
}

#[test]
fn unclosed_block_names_where_it_opened() {
    let e = err("{\n  me(func: has(a)) {\n    name\n");
    assert_eq!((e.line, e.column), (4, 1));
    assert_eq!(
        e.message,
        "expected '}' to close the block opened at line 2 column 20, found end of input"
    );
    let e = err("{ me(func: has(a)) { name }");
    assert!(
        e.message
            .contains("to close the query opened at line 1 column 1"),
        "{e}"
    );
}

#[test]
fn comments_and_odd_tokens() {
    let query = q("# leading\n{ me(func: has(a)) { # inside\n name # after\n } }");
    assert_eq!(query.blocks[0].children.len(), 1);
    assert!(
        err("{ me(func: has(a)) { name ; } }")
            .message
            .contains("unexpected character ';'")
    );
    assert!(
        err("mutation { }")
            .message
            .contains("only allowed inside upsert")
    );
    assert!(
        err("fragment f { }")
            .message
            .contains("fragments are not supported")
    );
    assert!(err("upsert { }").message.contains("found an upsert block"));
    let b = q(
        "{ p as shortest(from: 0x1, to: 0x2, numpaths: 2, depth: 3, maxweight: 2.5) { friend } }",
    )
    .blocks
    .remove(0);
    let sp = b.shortest.unwrap();
    assert_eq!((sp.from, sp.to), (UidRef::Uid(1), UidRef::Uid(2)));
    assert_eq!(
        (sp.numpaths, sp.depth, sp.maxweight),
        (2, Some(3), Some(2.5))
    );
    assert!(
        err("{ shortest(from: 0x1) { friend } }")
            .message
            .contains("needs both from: and to:")
    );
}

#[test]
fn upsert_with_conditions_and_several_mutations() {
    let src = r#"upsert {
  query {
    v as var(func: eq(email, "a@b.c"))
    w as var(func: has(x))
  }
  mutation @if(eq(len(v), 1) AND gt(len(w), 0)) {
    set { uid(v) <name> "A" . }
    delete {
      uid(w) <name> * .
    }
  }
  mutation @if(NOT eq(len(v), 1) OR le(len(w), 2)) {
    set {
      _:new <email> "a@b.c" .
    }
  }
}"#;
    let u = parse_upsert(src, &no_vars()).unwrap();
    assert_eq!(u.query.blocks.len(), 2);
    assert_eq!(u.mutations.len(), 2);
    let len = |op, var: &str, value| {
        BoolExpr::Leaf(LenCondition {
            op,
            var: var.into(),
            value,
        })
    };
    assert_eq!(
        u.mutations[0].cond,
        Some(BoolExpr::And(vec![
            len(CompareOp::Eq, "v", 1),
            len(CompareOp::Gt, "w", 0)
        ]))
    );
    assert_eq!(u.mutations[0].set.len(), 1);
    assert_eq!(u.mutations[0].delete[0].object, Object::Star);
    assert_eq!(
        u.mutations[1].cond,
        Some(BoolExpr::Or(vec![
            BoolExpr::Not(Box::new(len(CompareOp::Eq, "v", 1))),
            len(CompareOp::Le, "w", 2)
        ]))
    );
    assert_eq!(
        u.mutations[0].used_vars().into_iter().collect::<Vec<_>>(),
        ["v", "w"]
    );
}

#[test]
fn nquad_errors_inside_upserts_have_absolute_positions() {
    let src = "upsert {\n  query { v as var(func: has(a)) }\n  mutation {\n    set {\n      uid(v) <name> \"x\"^^<xs:int> .\n    }\n  }\n}";
    let e = parse_upsert(src, &no_vars()).unwrap_err();
    assert_eq!((e.line, e.column), (5, 21));
    assert!(e.message.contains("\"x\" is not a 64-bit integer"), "{e}");
    let src = "upsert {\n  query { v as var(func: has(a)) }\n  mutation {\n    set {\n      uid(v) <name> * .\n    }\n  }\n}";
    let e = parse_upsert(src, &no_vars()).unwrap_err();
    assert_eq!((e.line, e.column), (5, 21));
    assert!(e.message.contains("only allowed in delete"), "{e}");
    let src = "upsert {\n  query { v as var(func: has(a)) }\n  mutation {\n    set {\n      uid(v) <name> \"x\" .\n";
    let e = parse_upsert(src, &no_vars()).unwrap_err();
    assert!(
        e.message
            .contains("expected '}' to close the set block opened at line 4 column 9"),
        "{e}"
    );
}

#[test]
fn upsert_errors() {
    let e = parse_upsert(
        "upsert { mutation { set { _:a <n> \"x\" . } } }",
        &no_vars(),
    )
    .unwrap_err();
    assert!(e.message.contains("needs a query"), "{e}");
    let e = parse_upsert("upsert { query { v as var(func: has(a)) } }", &no_vars()).unwrap_err();
    assert!(e.message.contains("at least one mutation"), "{e}");
    let e = parse_upsert("upsert { query { } query { } mutation { } }", &no_vars()).unwrap_err();
    assert!(e.message.contains("only one query"), "{e}");
    let e = parse_upsert("upsert { query { } mutation { schema { } } }", &no_vars()).unwrap_err();
    assert!(e.message.contains("use the alter operation"), "{e}");
    let e = parse_upsert(
        "upsert { query { } mutation @if(eq(count(v), 1)) { } }",
        &no_vars(),
    )
    .unwrap_err();
    assert!(e.message.contains("expected len(v) in @if"), "{e}");
    let e = parse_upsert("upsert { query { } mutation { } } extra", &no_vars()).unwrap_err();
    assert!(e.message.contains("expected the end of the text"), "{e}");
    let e = parse_upsert("\n  { me(func: has(a)) { uid } }", &no_vars()).unwrap_err();
    assert_eq!((e.line, e.column), (2, 3));
    assert!(e.message.starts_with("expected an upsert block"), "{e}");
    let e = parse_query("{ set { _:a <n> \"x\" . } }", &no_vars()).unwrap_err();
    assert!(
        e.message.ends_with("a mutation block is not a query"),
        "{e}"
    );
}

#[test]
fn mutation_block_document() {
    let doc = parse_dql(
        "{\n  set {\n    _:a <name> \"A\" .\n  }\n  delete { <0x1> * * . }\n}",
        &no_vars(),
    )
    .unwrap();
    let Document::Mutation(m) = doc else {
        panic!("{doc:?}")
    };
    assert_eq!((m.set.len(), m.delete.len(), m.cond), (1, 1, None));
    assert!(matches!(
        parse_dql("{ me(func: has(a)) { uid } }", &no_vars()).unwrap(),
        Document::Query(_)
    ));
    // A block called `set` is still a query block.
    assert!(matches!(
        parse_dql("{ set(func: has(a)) { uid } }", &no_vars()).unwrap(),
        Document::Query(_)
    ));
}

#[test]
fn conditions_as_sent_in_mutation_cond() {
    assert_eq!(
        parse_condition("@if(eq(len(v), 1))").unwrap(),
        BoolExpr::Leaf(LenCondition {
            op: CompareOp::Eq,
            var: "v".into(),
            value: 1
        })
    );
    assert!(parse_condition("  @if( (lt(len(a), 1)) and ge(len(b), 3) )  ").is_ok());
    assert!(
        parse_condition("eq(len(v), 1)")
            .unwrap_err()
            .message
            .contains("expected '@'")
    );
    assert!(
        parse_condition("@if(foo(len(v), 1))")
            .unwrap_err()
            .message
            .contains("unknown function foo in @if")
    );
    assert!(
        parse_condition("@if(eq(len(v), x))")
            .unwrap_err()
            .message
            .contains("expected an integer")
    );
    assert!(
        parse_condition("@if(eq(len(v), 1)")
            .unwrap_err()
            .message
            .contains("to close the @if( opened at line 1 column 4")
    );
    assert!(
        parse_condition("@filter(eq(len(v), 1))")
            .unwrap_err()
            .message
            .contains("expected @if")
    );
}

#[test]
fn rendering_reads_back() {
    let src = r#"query q {
      me(func: eq(name@en, "x"), first: 10, orderasc: name) @filter(has(friend) AND NOT (lt(age, 5) OR gt(age, 7))) @cascade {
        uid
        n: name@en:fr
        v as age
        f as friend (first: 2, offset: 1, orderdesc: val(v)) @facets(close) @filter(uid_in(boss, 0x1)) {
          ~friend { count(uid) }
          count(friend)
          expand(_all_) { uid }
        }
        ok: checkpwd(pass, "p\"w")
      }
      var(func: uid(f)) { x as count(~friend @filter(type(Person))) }
      other(func: uid(0x1, f), after: 0x5) @normalize { val(x) }
    }
    schema(pred: [name]) { type }"#;
    let parsed = q(src);
    let text = parsed.to_string();
    assert_eq!(q(&text), parsed, "{text}");
    let u = parse_upsert(SEED_UPSERT, &no_vars()).unwrap();
    assert_eq!(parse_upsert(&u.to_string(), &no_vars()).unwrap(), u);
}

#[test]
fn deep_nesting_is_bounded_not_a_stack_overflow() {
    let nested = |depth: usize| {
        format!(
            "{{ me(func: has(a)) {}{} }}",
            "{ a ".repeat(depth),
            "}".repeat(depth)
        )
    };
    let ok = q(&nested(100));
    let mut level = &ok.blocks[0].children;
    let mut depth = 0;
    while let Some(f) = level.first() {
        level = &edge(f).children;
        depth += 1;
    }
    assert_eq!(depth, 100);
    assert!(
        err(&nested(1000))
            .message
            .starts_with("nesting deeper than")
    );
    let nots = format!(
        "{{ me(func: has(a)) @filter({}has(a)) {{ uid }} }}",
        "not ".repeat(1000)
    );
    assert!(err(&nots).message.starts_with("nesting deeper than"));
    let lists = format!(
        "{{ me(func: eq(a, {}1{})) {{ uid }} }}",
        "[".repeat(1000),
        "]".repeat(1000)
    );
    assert!(err(&lists).message.starts_with("nesting deeper than"));
}

#[test]
fn math_expressions_follow_precedence() {
    let b = q("{ me(func: has(a)) { a as count(f) b as count(g) s as math(a + b * 2 >= -a && !(b == 1)) c as math(cond(a > b, pow(a, 2), logbase(b, 10))) } }")
        .blocks
        .remove(0);
    let FieldKind::Math(e) = &b.children[2].kind else {
        panic!("{:?}", b.children[2]);
    };
    assert_eq!(e.to_string(), "(((a + (b * 2)) >= -(a)) && !((b == 1)))");
    let FieldKind::Math(e) = &b.children[3].kind else {
        panic!("{:?}", b.children[3]);
    };
    assert_eq!(e.to_string(), "cond((a > b), pow(a, 2), logbase(b, 10))");
    let e = err("{ me(func: has(a)) { a as count(f) s as math(foo(a)) } }");
    assert!(e.message.starts_with("unknown math function foo"), "{e}");
    let e = err("{ me(func: has(a)) { a as count(f) s as math(ln(a, a)) } }");
    assert!(e.message.contains("ln takes 1 argument"), "{e}");
    let e = err("{ me(func: has(a)) { s as math(zz + 1) } }");
    assert!(e.message.contains("zz"), "{e}");
}

#[test]
fn aggregates_and_empty_blocks() {
    let query = q(
        "{ var(func: has(a)) { x as age } me() { lo: min(val(x)) max(val(x)) s as sum(val(x)) } }",
    );
    let b = &query.blocks[1];
    assert!(b.func.is_none());
    assert_eq!(
        b.children[0].kind,
        FieldKind::Aggregate {
            func: Aggregate::Min,
            arg: AggArg::Val("x".into())
        }
    );
    assert_eq!(b.children[0].alias.as_deref(), Some("lo"));
    let b = q("{ me(func: has(a)) @groupby(age) { max(name) } }")
        .blocks
        .remove(0);
    assert_eq!(
        b.children[0].kind,
        FieldKind::Aggregate {
            func: Aggregate::Max,
            arg: AggArg::Predicate("name".into())
        }
    );
    let e = err("{ me(func: has(a)) { min(~f) } }");
    assert!(e.message.contains("min(val(v))"), "{e}");
}

#[test]
fn facet_filters_orders_aliases_and_variables() {
    let b = q("{ me(func: has(a)) { friend @facets(eq(close, true) AND ge(since, 2006)) @facets(orderdesc: since, c: close, w as weight) { name } } }")
        .blocks
        .remove(0);
    let e = edge(&b.children[0]);
    assert!(matches!(e.directives.facet_filter, Some(BoolExpr::And(_))));
    assert_eq!(e.directives.facet_order, vec![(true, "since".to_string())]);
    let keys = e.directives.facets.as_ref().unwrap();
    assert_eq!(keys[0], FacetKey::named("since"));
    assert_eq!(keys[1].alias.as_deref(), Some("c"));
    assert_eq!(keys[2].var.as_deref(), Some("w"));
    // Reads back the same.
    let text = Document::Query(q("{ me(func: has(a)) { friend @facets(not eq(close, true)) @facets(orderasc: since, c: close) { name } } }")).to_string();
    assert_eq!(
        parse_dql(&text, &no_vars()).unwrap(),
        Document::Query(q(
            "{ me(func: has(a)) { friend @facets(not eq(close, true)) @facets(orderasc: since, c: close) { name } } }"
        ))
    );
    let e = err("{ me(func: has(a)) { friend @facets(a) @facets(b) { name } } }");
    assert!(e.message.contains("@facets is given twice"), "{e}");
}

#[test]
fn search_functions() {
    assert_eq!(
        root_func("alloftext(name@de, \"Häuser Gärten\")"),
        Func::Text {
            all: true,
            predicate: "name".into(),
            lang: Some("de".into()),
            text: "Häuser Gärten".into()
        }
    );
    assert_eq!(
        filter("anyoftext(name, \"run\")"),
        leaf(Func::Text {
            all: false,
            predicate: "name".into(),
            lang: None,
            text: "run".into()
        })
    );
    assert_eq!(
        root_func("regexp(name@en, /^Steven Sp.*$/)"),
        Func::Regexp {
            predicate: "name".into(),
            lang: Some("en".into()),
            pattern: "^Steven Sp.*$".into(),
            ignore_case: false
        }
    );
    assert_eq!(
        filter("regexp(path, /a\\/b\\d+/i)"),
        leaf(Func::Regexp {
            predicate: "path".into(),
            lang: None,
            pattern: "a/b\\d+".into(),
            ignore_case: true
        })
    );
    assert_eq!(
        root_func("match(name@en, \"Stephen\", 8)"),
        Func::Match {
            predicate: "name".into(),
            lang: Some("en".into()),
            text: "Stephen".into(),
            distance: 8
        }
    );
    assert_eq!(
        root_func("between(dob, \"1980-01-01\", \"1990-12-31\")"),
        Func::Between {
            predicate: "dob".into(),
            lang: None,
            low: "1980-01-01".into(),
            high: "1990-12-31".into()
        }
    );
    assert_eq!(
        root_func("near(loc, [-122.469829, 37.771935], 1000)"),
        Func::Geo {
            op: GeoOp::Near,
            predicate: "loc".into(),
            shape: GeoShape::Point([-122.469829, 37.771935]),
            distance: Some(1000.0)
        }
    );
    let ring = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]];
    assert_eq!(
        root_func("within(loc, [[[0, 0], [1, 0], [1, 1], [0, 0]]])"),
        Func::Geo {
            op: GeoOp::Within,
            predicate: "loc".into(),
            shape: GeoShape::Polygon(vec![ring.clone()]),
            distance: None
        }
    );
    assert_eq!(
        filter("intersects(loc, [[[[0, 0], [1, 0], [1, 1], [0, 0]]]])"),
        leaf(Func::Geo {
            op: GeoOp::Intersects,
            predicate: "loc".into(),
            shape: GeoShape::MultiPolygon(vec![vec![ring]]),
            distance: None
        })
    );
    assert_eq!(
        root_func("contains(loc, [2.5, -3])"),
        Func::Geo {
            op: GeoOp::Contains,
            predicate: "loc".into(),
            shape: GeoShape::Point([2.5, -3.0]),
            distance: None
        }
    );
}

#[test]
fn search_function_errors() {
    let e = err("{\n  me(func: regexp(name, /a/x)) { uid }\n}");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (
            2,
            25,
            "unknown regexp flag x: only i (ignore case) is supported"
        )
    );
    let e = err("{ me(func: regexp(name, \"a\")) { uid } }");
    assert!(e.message.contains("expected a regular expression"), "{e}");
    let e = err("{ me(func: regexp(name, /abc)) { uid } }");
    assert!(e.message.contains("expected '/' to close"), "{e}");
    let e = err("{ me(func: match(name, \"x\", -1)) { uid } }");
    assert!(e.message.contains("whole number"), "{e}");
    let e = err("{ me(func: near(loc, [[[0, 0], [1, 0], [1, 1], [0, 0]]], 5)) { uid } }");
    assert_eq!(e.message, "near takes a point [long, lat]");
    let e = err("{ me(func: within(loc, [1, 2])) { uid } }");
    assert!(e.message.starts_with("within takes a polygon"), "{e}");
    let e = err("{ me(func: within(loc, [[[0, 0], [1, 0], [1, 1]]])) { uid } }");
    assert!(e.message.contains("the last repeating the first"), "{e}");
    let e = err("{ me(func: near(loc, [1, 2], -5)) { uid } }");
    assert!(e.message.contains("not below 0"), "{e}");
    let e = err("{ me(func: near(loc, [1, \"x\"], 5)) { uid } }");
    assert!(e.message.contains("two numbers"), "{e}");
    let e = err("{ me(func: alloftext(~name, \"x\")) { uid } }");
    assert!(e.message.contains("forward predicate"), "{e}");
    let e = err("{ me(func: between(age, 1)) { uid } }");
    assert!(e.message.contains("between takes 3 arguments"), "{e}");
}
