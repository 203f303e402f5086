use super::*;

fn rdf(nquads: &[NQuad]) -> Vec<String> {
    nquads.iter().map(ToString::to_string).collect()
}

fn set(src: &str) -> Vec<String> {
    rdf(&parse_set_json(src).unwrap_or_else(|e| panic!("{src}: {e}")))
}

fn del(src: &str) -> Vec<String> {
    rdf(&parse_delete_json(src).unwrap_or_else(|e| panic!("{src}: {e}")))
}

#[test]
fn scalars_and_uids() {
    assert_eq!(
        set(
            r#"{"uid": "0x1a", "name": "Alice", "age": 26, "score": 1.5, "ok": true, "skip": null}"#
        ),
        [
            r#"<0x1a> <name> "Alice"^^<xs:string> ."#,
            r#"<0x1a> <age> "26"^^<xs:int> ."#,
            r#"<0x1a> <score> "1.5"^^<xs:float> ."#,
            r#"<0x1a> <ok> "true"^^<xs:boolean> ."#,
        ]
    );
    assert_eq!(
        set(r#"{"uid": "_:alice", "n": "a"}"#),
        [r#"_:alice <n> "a"^^<xs:string> ."#]
    );
    assert_eq!(
        set(r#"{"uid": " uid( v ) ", "n": "a"}"#),
        [r#"uid(v) <n> "a"^^<xs:string> ."#]
    );
    assert_eq!(
        set(r#"{"uid": 42, "n": "a"}"#),
        [r#"<0x2a> <n> "a"^^<xs:string> ."#]
    );
    assert_eq!(
        set(r#"{"n": 1e2}"#),
        [r#"_:dg.0 <n> "100.0"^^<xs:float> ."#]
    );
    assert_eq!(
        set(r#"{"uid": "0x0", "n": 1}"#),
        [r#"_:dg.0 <n> "1"^^<xs:int> ."#]
    );
    assert!(set("{}").is_empty());
    assert!(set("[]").is_empty());
}

#[test]
fn nested_objects_become_edges_with_generated_blank_nodes() {
    // The example of Dgraph's "JSON mutation format" docs.
    let got = set(r#"{
          "name": "Alice",
          "friend": [
            {"name": "Betty"},
            {"uid": "0x2", "name": "Chris"}
          ],
          "boss": {"name": "Dana"}
        }"#);
    assert_eq!(
        got,
        [
            r#"_:dg.0 <name> "Alice"^^<xs:string> ."#,
            r#"_:dg.1 <name> "Betty"^^<xs:string> ."#,
            "_:dg.0 <friend> _:dg.1 .",
            r#"<0x2> <name> "Chris"^^<xs:string> ."#,
            "_:dg.0 <friend> <0x2> .",
            r#"_:dg.2 <name> "Dana"^^<xs:string> ."#,
            "_:dg.0 <boss> _:dg.2 .",
        ]
    );
}

#[test]
fn lists_types_and_languages() {
    assert_eq!(
        set(
            r#"{"uid": "_:p", "dgraph.type": ["Person", "Agent"], "nick": ["a", "b"], "name@en": "Al", "name@zh-Hans": "阿"}"#
        ),
        [
            r#"_:p <dgraph.type> "Person"^^<xs:string> ."#,
            r#"_:p <dgraph.type> "Agent"^^<xs:string> ."#,
            r#"_:p <nick> "a"^^<xs:string> ."#,
            r#"_:p <nick> "b"^^<xs:string> ."#,
            r#"_:p <name@en> "Al"^^<xs:string> ."#,
            r#"_:p <name@zh-Hans> "阿"^^<xs:string> ."#,
        ]
    );
    let nq = &parse_set_json(r#"{"uid": "_:p", "dgraph.type": "Person"}"#).unwrap()[0];
    assert_eq!(nq.predicate, Predicate::Named("dgraph.type".into()));
    assert_eq!(nq.object, Object::Value(Value::Str("Person".into())));
    assert_eq!(
        set(r#"{"uid": "0x1", "friend": "uid(f)"}"#),
        ["<0x1> <friend> uid(f) ."]
    );
    assert_eq!(
        set(r#"{"uid": "0x1", "age": "val( a )"}"#),
        ["<0x1> <age> val(a) ."]
    );
    assert!(
        parse_set_json(r#"{"uid": "0x1", "friend": "uid(f"}"#)
            .unwrap_err()
            .message
            .contains("close its bracket")
    );
    assert!(
        parse_set_json(r#"{"uid": "0x1", "friend": "uid()"}"#)
            .unwrap_err()
            .message
            .contains("does not name a variable")
    );
    assert_eq!(
        set(r#"{"uid": "0x1", "namespace": "0x2", "n": 1}"#),
        [r#"<0x1> <n> "1"^^<xs:int> ."#]
    );
}

#[test]
fn facets_scalar_nested_and_list_forms() {
    assert_eq!(
        set(
            r#"{"uid": "_:c", "name": "Carol", "name|initial": "C", "name|n": 2, "name|w": 0.5, "name|ok": false, "name|at": "2006-01-02T15:04:05Z"}"#
        ),
        [
            r#"_:c <name> "Carol"^^<xs:string> (initial="C", n=2, w=0.5, ok=false, at=2006-01-02T15:04:05Z) ."#
        ]
    );
    // Facets of an edge are written inside the object it points to.
    assert_eq!(
        set(r#"{"uid": "_:c", "friend": {"uid": "_:d", "name": "Daryl", "friend|close": "yes"}}"#),
        [
            r#"_:d <name> "Daryl"^^<xs:string> ."#,
            r#"_:c <friend> _:d (close="yes") ."#
        ]
    );
    assert_eq!(
        set(r#"{"uid": "_:c", "nick": ["a", "b", "c"], "nick|kind": {"0": "short", "2": "long"}}"#),
        [
            r#"_:c <nick> "a"^^<xs:string> (kind="short") ."#,
            r#"_:c <nick> "b"^^<xs:string> ."#,
            r#"_:c <nick> "c"^^<xs:string> (kind="long") ."#,
        ]
    );
    let e = parse_set_json(r#"{"nick": ["a"], "nick|f": "x"}"#).unwrap_err();
    assert!(
        e.message.contains("must be written as {\"0\": value"),
        "{e}"
    );
    let e = parse_set_json(r#"{"nick": ["a"], "nick|f": {"first": "x"}}"#).unwrap_err();
    assert!(e.message.contains("keyed by element index"), "{e}");
    assert_eq!(e.column, 28);
    let e = parse_set_json(r#"{"name": "x", "name|f": {"0": 1}}"#).unwrap_err();
    assert!(e.message.contains("only for lists"), "{e}");
    let e = parse_set_json(r#"{"name": "x", "name|f": [1]}"#).unwrap_err();
    assert!(
        e.message
            .contains("must be a string, number or boolean, found an array"),
        "{e}"
    );
}

#[test]
fn geojson_objects_are_geo_values() {
    let src = r#"{"uid": "0x1", "loc": {"type": "Point", "coordinates": [1.5, 2]}}"#;
    let nqs = parse_set_json(src).unwrap();
    assert_eq!(nqs.len(), 1);
    assert_eq!(
        nqs[0].object,
        Object::Value(Value::Geo(
            r#"{"type": "Point", "coordinates": [1.5, 2]}"#.into()
        ))
    );
    // Not a geometry type: an ordinary nested node.
    let nqs =
        parse_set_json(r#"{"uid": "0x1", "x": {"type": "Thing", "coordinates": [1]}}"#).unwrap();
    assert_eq!(nqs.len(), 3);
}

#[test]
fn deletions() {
    assert_eq!(del(r#"{"uid": "0x1", "name": null}"#), ["<0x1> <name> * ."]);
    assert_eq!(del(r#"{"uid": "0x1"}"#), ["<0x1> * * ."]);
    assert_eq!(
        del(r#"[{"uid": "0x1"}, {"uid": "0x2", "name@en": null}]"#),
        ["<0x1> * * .", "<0x2> <name@en> * ."]
    );
    assert_eq!(
        del(r#"{"uid": "0x1", "name": "", "ok": false}"#),
        ["<0x1> <name> * .", "<0x1> <ok> * ."]
    );
    assert_eq!(
        del(r#"{"uid": "0x1", "name": "x", "friend": {"uid": "0x2"}}"#),
        [
            r#"<0x1> <name> "x"^^<xs:string> ."#,
            "<0x1> <friend> <0x2> ."
        ]
    );
    let e = parse_delete_json("{\n  \"name\": null\n}").unwrap_err();
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.contains("\"uid\""), "{e}");
    let e = parse_delete_json(r#"{"uid": "0x1", "friend": {"name": "x"}}"#).unwrap_err();
    assert_eq!(e.column, 26);
}

#[test]
fn blank_numbering_continues_across_bodies() {
    let mut p = JsonParser::new();
    let a = p.parse_set(r#"{"n": 1}"#).unwrap();
    let b = p.parse_set(r#"[{"n": 2}, {"n": 3}]"#).unwrap();
    assert_eq!(a[0].subject, Subject::Blank("dg.0".into()));
    assert_eq!(b[0].subject, Subject::Blank("dg.1".into()));
    assert_eq!(b[1].subject, Subject::Blank("dg.2".into()));
}

#[test]
fn errors_name_position_and_problem() {
    let e = parse_set_json("{\"uid\": \"0x1\",\n \"~friend\": {\"uid\": \"0x2\"}}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 2));
    assert!(
        e.message
            .contains("reverse predicate \"~friend\" cannot be mutated"),
        "{e}"
    );
    let e = parse_set_json(r#"{"uid": "alice"}"#).unwrap_err();
    assert_eq!(e.column, 9);
    assert!(e.message.starts_with("uid \"alice\" is not valid"), "{e}");
    assert!(parse_set_json(r#"{"uid": "uid(a b)"}"#).is_ok_and(|v| v.is_empty()));
    assert!(parse_set_json(r#"{"uid": "uid(a-b)"}"#).is_err());
    assert!(
        parse_set_json("42")
            .unwrap_err()
            .message
            .contains("object or an array of objects, found a number")
    );
    assert!(
        parse_set_json("[1]")
            .unwrap_err()
            .message
            .contains("expected an object in the top-level array")
    );
    assert!(
        parse_set_json(r#"{"a": [[1]]}"#)
            .unwrap_err()
            .message
            .contains("found an array")
    );
    assert!(
        parse_set_json(r#"{"a": [null]}"#)
            .unwrap_err()
            .message
            .contains("found null")
    );
    assert!(
        parse_set_json(r#"{"a": 99999999999999999999}"#)
            .unwrap_err()
            .message
            .contains("does not fit in 64 bits")
    );
    assert!(
        parse_set_json(r#"{"a": 1e999}"#)
            .unwrap_err()
            .message
            .contains("out of range")
    );
    assert!(
        parse_set_json(r#"{"@en": 1}"#)
            .unwrap_err()
            .message
            .contains("no predicate name")
    );
    assert!(
        parse_set_json(r#"{"a@": 1}"#)
            .unwrap_err()
            .message
            .contains("language tag")
    );
    assert!(
        parse_set_json(r#"{"a": 1, "a|": 1}"#)
            .unwrap_err()
            .message
            .contains("no facet name")
    );
    assert!(
        parse_set_json(r#"{"a": 1"#)
            .unwrap_err()
            .message
            .contains("close the object opened at line 1 column 1")
    );
}
