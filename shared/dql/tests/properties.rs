//! Property tests: N-Quads and DQL written by our renderers read back unchanged, and no parser
//! panics on any input.

use std::collections::HashMap;

use lodestar_dql::query::*;
use lodestar_dql::{
    Facet, FacetValue, NQuad, Object, ParseError, Predicate, Subject, Value, parse_condition,
    parse_delete_json, parse_dql, parse_nquads, parse_query, parse_set_json, parse_upsert,
};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        // Shrunk failures are printed; there is no source tree to persist them in.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ----- N-Quads -----

fn ident() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_]{0,7}"
}

fn blank_label() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_\\-]{0,6}",
        "[a-z][a-z0-9]{0,3}\\.[a-z0-9]{1,3}",
        "[é日][a-z]{0,3}"
    ]
}

fn pred_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_.]{0,8}[a-z0-9]",
        "dgraph\\.type",
        "[a-z]{1,4}:[a-z]{1,4}/[a-z]{1,4}"
    ]
}

fn lang_tag() -> impl Strategy<Value = String> {
    // `@if` is the upsert condition directive, so `if` cannot be a language tag (no ISO 639
    // language is called that).
    "[a-z]{2,3}(-[A-Z0-9]{2,4})?".prop_filter("not a directive", |s| s != "if")
}

fn datetime() -> impl Strategy<Value = String> {
    (
        1000u32..3000,
        1u32..13,
        1u32..29,
        0u32..24,
        0u32..60,
        0u32..60,
        0usize..4,
    )
        .prop_map(|(y, mo, d, h, mi, s, form)| {
            let date = format!("{y:04}-{mo:02}-{d:02}");
            match form {
                0 => date,
                1 => format!("{date}T{h:02}:{mi:02}:{s:02}"),
                2 => format!("{date}T{h:02}:{mi:02}:{s:02}Z"),
                _ => format!("{date}T{h:02}:{mi:02}:{s:02}.123+05:30"),
            }
        })
}

fn finite_f64() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::Default),
        any::<String>().prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        finite_f64().prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        datetime().prop_map(Value::DateTime),
        // Dgraph rejects an empty typed literal other than xs:string.
        ".+".prop_map(Value::Password),
        (finite_f64(), finite_f64()).prop_map(|(x, y)| Value::Geo(format!(
            r#"{{"type": "Point", "coordinates": [{x:?}, {y:?}]}}"#
        ))),
    ]
}

fn facet_value() -> impl Strategy<Value = FacetValue> {
    prop_oneof![
        any::<String>().prop_map(FacetValue::Str),
        any::<i64>().prop_map(FacetValue::Int),
        finite_f64().prop_map(FacetValue::Float),
        any::<bool>().prop_map(FacetValue::Bool),
        datetime().prop_map(FacetValue::DateTime),
    ]
}

fn facets() -> impl Strategy<Value = Vec<Facet>> {
    prop::collection::btree_map("[a-z][a-z0-9_]{0,6}", facet_value(), 0..4).prop_map(|m| {
        m.into_iter()
            .map(|(key, value)| Facet { key, value })
            .collect()
    })
}

fn subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        (1u64..).prop_map(Subject::Uid),
        blank_label().prop_map(Subject::Blank),
        ident().prop_map(Subject::Var),
    ]
}

fn nquad(allow_star: bool) -> impl Strategy<Value = NQuad> {
    let object = prop_oneof![
        (1u64..).prop_map(Object::Uid),
        blank_label().prop_map(Object::Blank),
        ident().prop_map(Object::UidVar),
        ident().prop_map(Object::ValVar),
        value().prop_map(Object::Value),
        value().prop_map(Object::Value),
    ];
    (
        subject(),
        pred_name(),
        object,
        prop::option::of(lang_tag()),
        facets(),
        0u8..10,
    )
        .prop_map(move |(subject, p, object, lang, facets, star)| {
            let (predicate, object) = match (allow_star, star) {
                (true, 0) => (Predicate::Star, Object::Star),
                (true, 1) => (Predicate::Named(p), Object::Star),
                _ => (Predicate::Named(p), object),
            };
            let lang = if matches!(object, Object::Value(_)) {
                lang
            } else {
                None
            };
            NQuad {
                subject,
                predicate,
                object,
                lang,
                facets,
            }
        })
}

fn nquads(allow_star: bool) -> impl Strategy<Value = Vec<NQuad>> {
    prop::collection::vec(nquad(allow_star), 0..6)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn nquads_round_trip(nqs in nquads(true)) {
        let text = NQuad::to_rdf(&nqs);
        let back = parse_nquads(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, nqs, "{}", text);
    }

    #[test]
    fn single_nquad_display_round_trips(nq in nquad(true)) {
        let text = nq.to_string();
        prop_assert_eq!(parse_nquads(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?, vec![nq]);
    }
}

// ----- no panics, and errors always have a sane position -----

fn check(src: &str, r: Result<impl Sized, ParseError>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        let lines = src.split('\n').count();
        prop_assert!(
            e.line >= 1 && e.line <= lines,
            "line {} of {} lines: {}",
            e.line,
            lines,
            e
        );
        prop_assert!(e.column >= 1, "{}", e);
        prop_assert!(!e.message.is_empty());
        let prefix = format!("line {} column {}: ", e.line, e.column);
        prop_assert!(e.to_string().starts_with(&prefix), "{}", e);
    }
    Ok(())
}

fn all_parsers(src: &str) -> Result<(), TestCaseError> {
    let mut vars = HashMap::new();
    vars.insert("$a".to_string(), "1".to_string());
    check(src, parse_nquads(src))?;
    check(src, parse_set_json(src))?;
    check(src, parse_delete_json(src))?;
    check(src, parse_query(src, &HashMap::new()))?;
    check(src, parse_dql(src, &vars))?;
    check(src, parse_condition(src))?;
    Ok(())
}

/// Text made of the characters the grammars care about, to get past the first token.
fn grammar_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("(".to_string()),
            Just(")".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            Just("\n".to_string()),
            Just(".".to_string()),
            Just("@".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("<0x1>".to_string()),
            Just("_:a".to_string()),
            Just("uid(v)".to_string()),
            Just("*".to_string()),
            Just("func:".to_string()),
            Just("eq(".to_string()),
            Just("len(".to_string()),
            Just("@if(".to_string()),
            Just("@filter(".to_string()),
            Just("upsert".to_string()),
            Just("query".to_string()),
            Just("mutation".to_string()),
            Just("set".to_string()),
            Just("delete".to_string()),
            Just("schema".to_string()),
            Just("$a".to_string()),
            Just("\"uid\"".to_string()),
            Just("null".to_string()),
            Just("^^<xs:int>".to_string()),
            Just("#".to_string()),
            Just("math(".to_string()),
            Just("+ - * / % < <= == != && || !".to_string()),
            Just("min(val(v))".to_string()),
            Just("v as".to_string()),
            Just("@recurse(depth: 2, loop: true)".to_string()),
            Just("@groupby(".to_string()),
            Just("@facets(".to_string()),
            Just("orderasc:".to_string()),
            Just("@cascade(".to_string()),
            Just("@normalize".to_string()),
            Just("shortest(from: 0x1, to:".to_string()),
            Just("me()".to_string()),
            Just("<_:b>".to_string()),
            "[a-z0-9~|=-]{1,4}",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parsers_never_panic_on_any_string(src in any::<String>()) {
        all_parsers(&src)?;
    }

    #[test]
    fn parsers_never_panic_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        all_parsers(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn parsers_never_panic_on_grammar_soup(src in grammar_soup()) {
        all_parsers(&src)?;
    }
}

// ----- DQL round trip -----

const RESERVED: &[&str] = &[
    "uid",
    "count",
    "val",
    "expand",
    "checkpwd",
    "as",
    "and",
    "or",
    "not",
    "eq",
    "le",
    "lt",
    "ge",
    "gt",
    "has",
    "type",
    "allofterms",
    "anyofterms",
    "uid_in",
    "math",
    "min",
    "max",
    "sum",
    "avg",
    "regexp",
    "match",
    "near",
    "within",
    "contains",
    "intersects",
    "between",
    "similar_to",
    "alloftext",
    "anyoftext",
    "schema",
    "query",
    "shortest",
    "upsert",
    "mutation",
    "fragment",
    "set",
    "delete",
    "var",
    "len",
];

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.]{0,6}[a-z0-9]?"
        .prop_filter("not a keyword", |s| !RESERVED.contains(&s.as_str()))
}

fn order() -> impl Strategy<Value = Order> {
    (any::<bool>(), name(), prop::option::of(lang_tag())).prop_map(|(desc, name, lang)| Order {
        desc,
        by: OrderBy::Predicate { name, lang },
    })
}

fn edge_args() -> impl Strategy<Value = EdgeArgs> {
    (
        prop::option::of(any::<i64>()),
        prop::option::of(any::<i64>()),
        prop::option::of(1u64..),
        prop::collection::vec(order(), 0..3),
    )
        .prop_map(|(first, offset, after, order)| EdgeArgs {
            first,
            offset,
            after,
            order,
        })
}

fn func() -> impl Strategy<Value = Func> {
    let op = prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Le),
        Just(CompareOp::Lt),
        Just(CompareOp::Ge),
        Just(CompareOp::Gt)
    ];
    let attr = prop_oneof![
        (name(), prop::option::of(lang_tag()))
            .prop_map(|(name, lang)| Attr::Predicate { name, lang }),
        (name(), any::<bool>()).prop_map(|(name, reverse)| Attr::Count { name, reverse }),
    ];
    prop_oneof![
        prop::collection::vec((1u64..).prop_map(UidRef::Uid), 1..4).prop_map(Func::Uid),
        (op, attr, prop::collection::vec(any::<String>(), 1..4)).prop_map(
            |(op, attr, mut values)| {
                if op != CompareOp::Eq {
                    values.truncate(1);
                }
                Func::Compare {
                    op,
                    attr,
                    values: values.into_iter().map(FuncValue::Literal).collect(),
                }
            }
        ),
        (name(), any::<bool>()).prop_map(|(predicate, reverse)| Func::Has { predicate, reverse }),
        any::<String>().prop_map(Func::Type),
        (
            name(),
            prop::option::of(lang_tag()),
            any::<String>(),
            any::<bool>()
        )
            .prop_map(|(predicate, lang, terms, all)| if all {
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
            }),
        (
            name(),
            prop::collection::vec((1u64..).prop_map(UidRef::Uid), 1..3)
        )
            .prop_map(|(predicate, uids)| Func::UidIn { predicate, uids }),
        search_func(),
    ]
}

fn coord() -> impl Strategy<Value = [f64; 2]> {
    (-180.0f64..180.0, -90.0f64..90.0).prop_map(|(x, y)| [x, y])
}

fn ring() -> impl Strategy<Value = Vec<[f64; 2]>> {
    prop::collection::vec(coord(), 3..6).prop_map(|mut r| {
        r.push(r[0]);
        r
    })
}

fn search_func() -> impl Strategy<Value = Func> {
    prop_oneof![
        (
            any::<bool>(),
            name(),
            prop::option::of(lang_tag()),
            any::<String>()
        )
            .prop_map(|(all, predicate, lang, text)| Func::Text {
                all,
                predicate,
                lang,
                text
            }),
        (
            name(),
            prop::option::of(lang_tag()),
            "([a-z0-9 .*+?^$/|]|\\\\[dws.])*",
            any::<bool>()
        )
            .prop_map(|(predicate, lang, pattern, ignore_case)| Func::Regexp {
                predicate,
                lang,
                pattern,
                ignore_case
            }),
        (
            name(),
            prop::option::of(lang_tag()),
            any::<String>(),
            any::<u32>()
        )
            .prop_map(|(predicate, lang, text, distance)| Func::Match {
                predicate,
                lang,
                text,
                distance
            }),
        (
            name(),
            prop::option::of(lang_tag()),
            any::<String>(),
            any::<String>()
        )
            .prop_map(|(predicate, lang, low, high)| Func::Between {
                predicate,
                lang,
                low,
                high
            }),
        (name(), coord(), 0.0f64..1e7).prop_map(|(predicate, p, d)| Func::Geo {
            op: GeoOp::Near,
            predicate,
            shape: GeoShape::Point(p),
            distance: Some(d)
        }),
        (name(), prop::collection::vec(ring(), 1..3), any::<bool>()).prop_map(
            |(predicate, rings, within)| Func::Geo {
                op: if within {
                    GeoOp::Within
                } else {
                    GeoOp::Contains
                },
                predicate,
                shape: GeoShape::Polygon(rings),
                distance: None
            }
        ),
        (
            name(),
            prop::collection::vec(prop::collection::vec(ring(), 1..2), 1..3)
        )
            .prop_map(|(predicate, polys)| Func::Geo {
                op: GeoOp::Intersects,
                predicate,
                shape: GeoShape::MultiPolygon(polys),
                distance: None
            }),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    func()
        .prop_map(BoolExpr::Leaf)
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(BoolExpr::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(BoolExpr::Or),
                inner.prop_map(|e| BoolExpr::Not(Box::new(e))),
            ]
        })
}

fn directives() -> impl Strategy<Value = Directives> {
    (
        prop::option::of(prop::collection::vec(name(), 0..3)),
        prop::option::of(prop::collection::vec(name(), 0..3)),
        any::<bool>(),
        prop::option::of((prop::option::of(0u64..10), any::<bool>())),
        any::<bool>(),
        prop::option::of(prop::collection::vec(
            (
                prop::option::of(name()),
                name(),
                prop::option::of(lang_tag()),
            ),
            1..3,
        )),
    )
        .prop_map(
            |(facets, cascade, normalize, recurse, ignorereflex, groupby)| Directives {
                facets: facets.map(|keys| keys.into_iter().map(FacetKey::named).collect()),
                facet_filter: None,
                facet_order: Vec::new(),
                cascade,
                normalize,
                // loop: true needs a depth.
                recurse: recurse.map(|(depth, l)| Recurse {
                    depth,
                    allow_loop: l && depth.is_some(),
                }),
                ignorereflex,
                groupby: groupby.map(|keys| {
                    keys.into_iter()
                        .map(|(alias, predicate, lang)| GroupKey {
                            alias,
                            predicate,
                            lang,
                        })
                        .collect()
                }),
            },
        )
}

fn leaf_field() -> impl Strategy<Value = FieldKind> {
    prop_oneof![
        Just(FieldKind::Uid),
        (
            name(),
            any::<bool>(),
            prop::collection::vec(prop_oneof![lang_tag(), Just(".".to_string())], 0..3)
        )
            .prop_map(|(name, reverse, langs)| FieldKind::Predicate(Edge {
                name,
                reverse,
                langs,
                ..Edge::default()
            })),
        Just(FieldKind::Count(CountOf::Uid)),
        (name(), any::<bool>(), prop::option::of(filter())).prop_map(|(name, reverse, filter)| {
            FieldKind::Count(CountOf::Predicate {
                name,
                reverse,
                filter,
            })
        }),
        (name(), any::<String>()).prop_map(|(predicate, password)| FieldKind::Checkpwd {
            predicate,
            password
        }),
    ]
}

fn field_kind() -> impl Strategy<Value = FieldKind> {
    leaf_field().prop_recursive(2, 16, 4, |inner| {
        let child = (prop::option::of(name()), prop::option::of(name()), inner)
            .prop_map(|(alias, var, kind)| Field { alias, var, kind });
        let children = prop::collection::vec(child, 1..4);
        prop_oneof![
            (
                name(),
                any::<bool>(),
                edge_args(),
                prop::option::of(filter()),
                directives(),
                children
            )
                .prop_map(|(name, reverse, args, filter, directives, children)| {
                    FieldKind::Predicate(Edge {
                        name,
                        reverse,
                        langs: vec![],
                        args,
                        filter,
                        directives,
                        children,
                    })
                }),
            (
                prop_oneof![
                    Just(Expand::All),
                    prop::collection::vec(name(), 1..3).prop_map(Expand::Types)
                ],
                prop::collection::vec(
                    (prop::option::of(name()), leaf_field()).prop_map(|(alias, kind)| Field {
                        alias,
                        var: None,
                        kind
                    }),
                    0..3
                )
            )
                .prop_map(|(what, children)| FieldKind::Expand { what, children }),
        ]
    })
}

fn field() -> impl Strategy<Value = Field> {
    (
        prop::option::of(name()),
        prop::option::of(name()),
        field_kind(),
    )
        .prop_map(|(alias, var, kind)| Field { alias, var, kind })
}

fn block() -> impl Strategy<Value = Block> {
    (
        prop_oneof![name(), Just("var".to_string())],
        prop::option::of(name()),
        prop::option::of(func()),
        edge_args(),
        prop::option::of(filter()),
        directives(),
        prop::collection::vec(field(), 0..4),
    )
        .prop_map(
            |(name, var, func, args, filter, directives, children)| Block {
                name,
                var,
                // A block without a root function may only aggregate.
                children: if func.is_some() { children } else { Vec::new() },
                func,
                shortest: None,
                args,
                filter,
                directives,
            },
        )
}

fn schema() -> impl Strategy<Value = SchemaQuery> {
    let field = prop_oneof![
        Just("type"),
        Just("index"),
        Just("reverse"),
        Just("tokenizer"),
        Just("count")
    ];
    (
        prop::collection::vec(name(), 0..3),
        prop::collection::vec(name(), 0..2),
        prop::collection::vec(field.prop_map(String::from), 0..3),
    )
        .prop_map(|(predicates, types, fields)| SchemaQuery {
            predicates,
            types,
            fields,
        })
}

fn query() -> impl Strategy<Value = Query> {
    (
        prop::option::of(name()),
        prop::collection::vec(block(), 0..3),
        prop::option::of(schema()),
    )
        .prop_map(|(name, blocks, schema)| Query {
            name,
            blocks,
            schema,
        })
}

fn condition() -> impl Strategy<Value = Condition> {
    let op = prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Le),
        Just(CompareOp::Lt),
        Just(CompareOp::Ge),
        Just(CompareOp::Gt)
    ];
    (op, name(), any::<i64>())
        .prop_map(|(op, var, value)| BoolExpr::Leaf(LenCondition { op, var, value }))
        .prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(BoolExpr::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(BoolExpr::Or),
                inner.prop_map(|e| BoolExpr::Not(Box::new(e))),
            ]
        })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (prop::option::of(condition()), nquads(false), nquads(true))
        .prop_map(|(cond, set, delete)| Mutation { cond, set, delete })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn dql_query_round_trip(q in query()) {
        let text = q.to_string();
        let back = parse_query(&text, &HashMap::new()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, q, "{}", text);
    }

    #[test]
    fn upsert_round_trip(q in query(), mutations in prop::collection::vec(mutation(), 1..3)) {
        let u = Upsert { query: q, mutations };
        let text = u.to_string();
        let back = parse_upsert(&text, &HashMap::new()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, u, "{}", text);
    }

    #[test]
    fn condition_round_trip(c in condition()) {
        let text = format!("@if({c})");
        prop_assert_eq!(parse_condition(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?, c);
    }
}

// ----- JSON mutations -----

/// A predicate name for a JSON member: `uid` names the node itself and yields no N-Quad.
fn json_key() -> impl Strategy<Value = String> + Clone {
    "[a-z]{1,3}".prop_filter("uid is the node's id, not a predicate", |k| k != "uid")
}

/// A JSON value and the number of N-Quads a set mutation of it yields.
fn json_node() -> impl Strategy<Value = (serde_json::Value, usize)> {
    use serde_json::Value as J;
    let scalar = prop_oneof![
        any::<String>().prop_map(|s| (J::from(s), 1)),
        any::<i64>().prop_map(|i| (J::from(i), 1)),
        finite_f64().prop_map(|f| (J::from(f), 1)),
        any::<bool>().prop_map(|b| (J::from(b), 1)),
        Just((J::Null, 0)),
    ];
    scalar.prop_recursive(3, 24, 4, |inner| {
        let member = (json_key(), inner.clone());
        let object = prop::collection::btree_map(json_key(), inner.clone(), 0..4).prop_map(|m| {
            let count: usize = m.values().map(|(_, c)| c).sum();
            let obj: serde_json::Map<String, J> = m.into_iter().map(|(k, (v, _))| (k, v)).collect();
            // A nested object is one edge plus its own N-Quads; an empty one is skipped.
            let edge = usize::from(!obj.is_empty());
            (J::Object(obj), count + edge)
        });
        let item = prop_oneof![
            any::<String>().prop_map(|s| (J::from(s), 1)),
            any::<i64>().prop_map(|i| (J::from(i), 1)),
            // In a list even an empty object is a (new) node with an edge to it, as in Dgraph.
            object.clone().prop_map(|(v, c)| {
                let empty = v.as_object().is_some_and(serde_json::Map::is_empty);
                (v, if empty { 1 } else { c })
            }),
        ];
        prop_oneof![
            object,
            prop::collection::vec(item, 0..4).prop_map(|items| {
                let count = items.iter().map(|(_, c)| c).sum();
                (J::Array(items.into_iter().map(|(v, _)| v).collect()), count)
            }),
            member.prop_map(|(k, (v, c))| {
                let mut m = serde_json::Map::new();
                m.insert(k, v);
                (J::Object(m), c + 1)
            }),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_set_yields_one_nquad_per_value_and_edge(
        members in prop::collection::btree_map(json_key(), json_node(), 1..5)
    ) {
        let expected: usize = members.values().map(|(_, c)| c).sum();
        let obj: serde_json::Map<String, serde_json::Value> = members.into_iter().map(|(k, (v, _))| (k, v)).collect();
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(obj)).expect("serializable");
        let nqs = parse_set_json(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(nqs.len(), expected, "{}", text);
        for nq in &nqs {
            let generated = matches!(&nq.subject, Subject::Blank(b) if b.starts_with("dg."));
            prop_assert!(generated, "{:?}", nq.subject);
        }
        // The same body as a deletion fails: its objects have no uid.
        prop_assert!(parse_delete_json(&text).is_err());
    }
}

/// A fuzz of every parser for a bounded time (`LODESTAR_FUZZ_SECONDS`, default 10): random
/// text built from the grammars' tokens, each a new random case; no input may panic and every
/// error must name its line and column.
#[test]
fn parsers_survive_a_timed_fuzz() {
    let seconds: u64 = std::env::var("LODESTAR_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 512,
        ..config()
    });
    let mut rounds = 0u64;
    while std::time::Instant::now() < deadline {
        runner
            .run(&grammar_soup(), |src| all_parsers(&src))
            .unwrap_or_else(|e| panic!("after {rounds} rounds of 512 inputs: {e}"));
        rounds += 1;
    }
    assert!(rounds > 0, "the fuzz ran no input");
}
