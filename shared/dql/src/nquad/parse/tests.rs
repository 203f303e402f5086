use super::*;

fn one(src: &str) -> NQuad {
    let mut v = parse_nquads(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    assert_eq!(v.len(), 1, "{src}");
    v.remove(0)
}

fn err(src: &str) -> ParseError {
    match parse_nquads(src) {
        Ok(v) => panic!("{src} parsed to {v:?}"),
        Err(e) => e,
    }
}

fn named(p: &str) -> Predicate {
    Predicate::Named(p.to_string())
}

#[test]
fn subjects() {
    assert_eq!(one("<0x1a> <name> \"x\" .").subject, Subject::Uid(26));
    assert_eq!(one("<123> <name> \"x\" .").subject, Subject::Uid(123));
    assert_eq!(one("0x1a <name> \"x\" .").subject, Subject::Uid(26));
    assert_eq!(
        one("_:alice <name> \"x\" .").subject,
        Subject::Blank("alice".into())
    );
    assert_eq!(
        one("uid(v) <name> \"x\" .").subject,
        Subject::Var("v".into())
    );
    assert_eq!(
        one("uid( v ) <name> \"x\" .").subject,
        Subject::Var("v".into())
    );
}

#[test]
fn bad_subjects() {
    assert!(
        err("<alice> <name> \"x\" .")
            .message
            .contains("<alice> is not a uid")
    );
    assert!(
        err("<0x0> <name> \"x\" .")
            .message
            .contains("uid 0 is not a valid node")
    );
    assert!(
        err("* <name> \"x\" .")
            .message
            .contains("not allowed as a subject")
    );
    assert!(
        err("_alice <name> \"x\" .")
            .message
            .contains("expected ':' after '_'")
    );
    assert!(
        err("uid() <name> \"x\" .")
            .message
            .contains("expected a variable name")
    );
    assert!(
        err("\"x\" <name> \"x\" .")
            .message
            .contains("expected a subject")
    );
}

#[test]
fn predicates() {
    assert_eq!(one("_:a <name> \"x\" .").predicate, named("name"));
    assert_eq!(one("_:a name \"x\" .").predicate, named("name"));
    assert_eq!(
        one("_:a dgraph.type \"Person\" .").predicate,
        named("dgraph.type")
    );
    assert_eq!(
        one("_:a <http://schema.org/name> \"x\" .").predicate,
        named("http://schema.org/name")
    );
    let nq = one("<0x1> * * .");
    assert_eq!((nq.predicate, nq.object), (Predicate::Star, Object::Star));
    let nq = one("_:a <name@en> \"x\" .");
    assert_eq!(
        (nq.predicate, nq.lang.as_deref()),
        (named("name"), Some("en"))
    );
}

#[test]
fn reverse_predicates_are_rejected() {
    let e = err("<0x1> <~friend> <0x2> .");
    assert_eq!((e.line, e.column), (1, 7));
    assert!(
        e.message
            .contains("reverse predicate <~friend> cannot be mutated"),
        "{e}"
    );
    assert!(
        err("<0x1> ~friend <0x2> .")
            .message
            .contains("reverse predicate")
    );
}

#[test]
fn objects() {
    assert_eq!(one("_:a <f> <0x2> .").object, Object::Uid(2));
    assert_eq!(one("_:a <f> _:b .").object, Object::Blank("b".into()));
    assert_eq!(one("_:a <f> _:b.c .").object, Object::Blank("b.c".into()));
    assert_eq!(one("_:a <f> uid(w) .").object, Object::UidVar("w".into()));
    assert_eq!(one("_:a <f> val(w) .").object, Object::ValVar("w".into()));
    assert_eq!(one("<0x1> <f> * .").object, Object::Star);
}

#[test]
fn blank_node_trailing_dot_ends_the_statement() {
    let nq = one("_:a <f> _:b.");
    assert_eq!(nq.object, Object::Blank("b".into()));
}

#[test]
fn string_escapes() {
    let nq = one(r#"_:a <n> "q\" b\\ n\n t\t r\r \u00e9 \U0001F600 \'" ."#);
    assert_eq!(
        nq.object,
        Object::Value(Value::Default("q\" b\\ n\n t\t r\r é 😀 '".into()))
    );
    assert!(
        err(r#"_:a <n> "\x41" ."#)
            .message
            .contains("unknown escape sequence \\x")
    );
    assert!(err(r#"_:a <n> "\u12" ."#).message.contains("hex digits"));
    assert!(
        err(r#"_:a <n> "\UFFFFFFFF" ."#)
            .message
            .contains("not a valid Unicode character")
    );
    let e = err("_:a <n> \"abc\n\" .");
    assert!(
        e.message
            .contains("expected '\"' to close the string opened at line 1 column 9"),
        "{e}"
    );
}

#[test]
fn language_tags() {
    let nq = one(r#"_:a <name> "chat"@fr ."#);
    assert_eq!(nq.object, Object::Value(Value::Default("chat".into())));
    assert_eq!(nq.lang.as_deref(), Some("fr"));
    assert_eq!(
        one(r#"_:a <name> "x"@en-US ."#).lang.as_deref(),
        Some("en-US")
    );
    assert!(err(r#"_:a <name> "x"@ ."#).message.contains("language tag"));
    assert!(
        err(r#"_:a <name@en> "x"@fr ."#)
            .message
            .contains("language is given twice")
    );
    assert!(
        err(r#"_:a <friend@en> <0x1> ."#)
            .message
            .contains("only applies to literal values")
    );
}

#[test]
fn typed_literals() {
    let cases = [
        (r#""x"^^<xs:string>"#, Value::Str("x".into())),
        (r#""42"^^<xs:int>"#, Value::Int(42)),
        (r#""-7"^^<xs:integer>"#, Value::Int(-7)),
        (r#""1.5"^^<xs:float>"#, Value::Float(1.5)),
        (r#""1e3"^^<xs:double>"#, Value::Float(1000.0)),
        (r#""true"^^<xs:boolean>"#, Value::Bool(true)),
        (r#""0"^^<xs:boolean>"#, Value::Bool(false)),
        (
            r#""2006-01-02T15:04:05Z"^^<xs:dateTime>"#,
            Value::DateTime("2006-01-02T15:04:05Z".into()),
        ),
        (
            r#""2006-01-02"^^<xs:date>"#,
            Value::DateTime("2006-01-02".into()),
        ),
        (
            r#""s3cret!"^^<xs:password>"#,
            Value::Password("s3cret!".into()),
        ),
        (
            r#""{\"type\":\"Point\",\"coordinates\":[1,2]}"^^<geo:geojson>"#,
            Value::Geo(r#"{"type":"Point","coordinates":[1,2]}"#.into()),
        ),
        (
            r#""9"^^<http://www.w3.org/2001/XMLSchema#int>"#,
            Value::Int(9),
        ),
        (r#"""^^<xs:string>"#, Value::Str(String::new())),
    ];
    for (lit, want) in cases {
        let src = format!("_:a <p> {lit} .");
        assert_eq!(one(&src).object, Object::Value(want), "{src}");
    }
}

#[test]
fn bad_typed_literals() {
    assert!(
        err(r#"_:a <p> "x"^^<xs:int> ."#)
            .message
            .contains("\"x\" is not a 64-bit integer")
    );
    assert!(
        err(r#"_:a <p> "99999999999999999999"^^<xs:int> ."#)
            .message
            .contains("64-bit")
    );
    assert!(
        err(r#"_:a <p> "NaN"^^<xs:float> ."#)
            .message
            .contains("finite")
    );
    assert!(
        err(r#"_:a <p> "yes"^^<xs:boolean> ."#)
            .message
            .contains("boolean")
    );
    assert!(
        err(r#"_:a <p> "today"^^<xs:dateTime> ."#)
            .message
            .contains("date-time")
    );
    assert!(
        err(r#"_:a <p> "[1"^^<geo:geojson> ."#)
            .message
            .contains("GeoJSON")
    );
    assert!(
        err(r#"_:a <p> ""^^<xs:int> ."#)
            .message
            .contains("empty literal")
    );
    let e = err(r#"_:a <p> "x"^^<xs:thing> ."#);
    assert!(e.message.starts_with("unsupported type <xs:thing>"), "{e}");
    assert_eq!(e.column, 14);
    assert!(
        err(r#"_:a <p> "x"^^xs:int ."#)
            .message
            .contains("expected a type like <xs:int>")
    );
}

#[test]
fn facets_are_typed_as_dgraph_infers() {
    let nq = one(
        r#"_:a <friend> _:b (since=2006-01-02T15:04:05, close=true, weight=0.5, nick="x", n=-3, d=2006-01-02, hex=0x10, e=, z=1e3, f=false) ."#,
    );
    let got: Vec<(String, FacetValue)> = nq.facets.into_iter().map(|f| (f.key, f.value)).collect();
    assert_eq!(
        got,
        vec![
            (
                "since".into(),
                FacetValue::DateTime("2006-01-02T15:04:05".into())
            ),
            ("close".into(), FacetValue::Bool(true)),
            ("weight".into(), FacetValue::Float(0.5)),
            ("nick".into(), FacetValue::Str("x".into())),
            ("n".into(), FacetValue::Int(-3)),
            ("d".into(), FacetValue::DateTime("2006-01-02".into())),
            ("hex".into(), FacetValue::Int(16)),
            ("e".into(), FacetValue::Str(String::new())),
            ("z".into(), FacetValue::Float(1000.0)),
            ("f".into(), FacetValue::Bool(false)),
        ]
    );
}

#[test]
fn facet_edge_cases() {
    assert!(one("_:a <p> \"x\" () .").facets.is_empty());
    assert_eq!(
        one("_:a <p> \"x\" ( k = \"a, b)\" ) .").facets[0].value,
        FacetValue::Str("a, b)".into())
    );
    assert!(
        err("_:a <p> \"x\" (k=maybe) .")
            .message
            .contains("could not read the facet value maybe")
    );
    assert!(
        err("_:a <p> \"x\" (k=99999999999999999999) .")
            .message
            .contains("facet value")
    );
    assert!(
        err("_:a <p> \"x\" (k=1, k=2) .")
            .message
            .contains("given twice")
    );
    assert!(
        err("_:a <p> \"x\" (k 1) .")
            .message
            .contains("expected '='")
    );
    assert!(
        err("_:a <p> \"x\" (=1) .")
            .message
            .contains("expected a facet name")
    );
    let e = err("_:a <p> \"x\" (k=1 .");
    assert!(
        e.message
            .contains("close the facets opened at line 1 column 13"),
        "{e}"
    );
}

#[test]
fn comments_blank_lines_and_several_per_line() {
    let src = "# a comment\n\n  <0x1> <name> \"a\" . # trailing\n<0x2> <name> \"b\" . <0x3> <name> \"c\" .\n";
    let v = parse_nquads(src).unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[2].subject, Subject::Uid(3));
    assert_eq!(parse_nquads("").unwrap(), vec![]);
    assert_eq!(parse_nquads("  # only a comment").unwrap(), vec![]);
}

#[test]
fn statement_end_errors() {
    let e = err("<0x1> <name> \"x\"\n<0x2> <name> \"y\" .");
    assert_eq!((e.line, e.column), (1, 17));
    assert!(
        e.message
            .contains("expected '.' to end the N-Quad that starts at line 1 column 1"),
        "{e}"
    );
    let e = err("<0x1> <name> \"x\" <graph> .");
    assert!(e.message.starts_with("graph labels"), "{e}");
    let e = err("<0x1> <name>\n\"x\" .");
    assert!(
        e.message.contains("expected an object, found end of line"),
        "{e}"
    );
    let e = err("<0x1> <name> # \"x\" .");
    assert!(e.message.contains("found a comment"), "{e}");
    assert!(
        err("<0x1> <name> 42 .")
            .message
            .contains("expected an object")
    );
    assert!(
        err("<0x1 <name> \"x\" .")
            .message
            .contains("not allowed inside <...>")
    );
}

#[test]
fn positions_are_one_based_and_count_characters() {
    let e = err("<0x1> <name> \"é\" .\n  <0x2> <name> \"x\"^^<xs:int> .");
    assert_eq!((e.line, e.column), (2, 16));
    assert_eq!(e.to_string(), format!("line 2 column 16: {}", e.message));
}

#[test]
fn star_rules_depend_on_the_mutation() {
    let e = parse_set_nquads("<0x1> <name> * .").unwrap_err();
    assert!(e.message.contains("only allowed in delete"), "{e}");
    assert_eq!(e.column, 14);
    assert!(parse_set_nquads("<0x1> * * .").is_err());
    assert_eq!(
        parse_delete_nquads("<0x1> <name> * .\n<0x1> * * .")
            .unwrap()
            .len(),
        2
    );
    assert!(
        err("<0x1> * \"x\" .")
            .message
            .contains("the object must be '*' too")
    );
    assert!(parse_set_nquads("uid(v) <age> val(a) .").is_ok());
}

#[test]
fn sanity_needs_a_letter_or_digit() {
    assert!(
        err("_:a <_._> \"x\" .")
            .message
            .contains("at least one letter or digit")
    );
}

#[test]
fn bracketed_blank_nodes_are_blank_nodes() {
    let nq = one("<_:alice> <friend> <_:bob> .");
    assert_eq!(nq.subject, Subject::Blank("alice".into()));
    assert_eq!(nq.object, Object::Blank("bob".into()));
    // The same node as the unbracketed form.
    assert_eq!(one("_:alice <friend> _:bob .").subject, nq.subject);
    let e = err("<_:> <name> \"x\" .");
    assert!(e.message.contains("name of the blank node"), "{e}");
    assert_eq!(e.column, 1);
    // Other IRIs are still not nodes.
    assert!(
        err("<alice> <name> \"x\" .")
            .message
            .contains("is not a uid")
    );
}
