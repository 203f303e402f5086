use proptest::prelude::*;

use super::*;

fn one(text: &str) -> PredicateSchema {
    let u = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(u.predicates.len(), 1, "{text:?}");
    u.predicates.into_iter().next().unwrap()
}

fn err(text: &str) -> String {
    parse(text)
        .err()
        .unwrap_or_else(|| panic!("{text:?} should be refused"))
        .to_string()
}

const EXAMPLE: &str = r#"
# People and their friends.
name: string @index(exact, term) @upsert @count @lang .
friend: [uid] @reverse @count .   # edges
age: int @index(int) .
password: password .
dob: datetime @index(hour) .
score: float @index(float) .
tags: [string] @index(exact) .
loc: geo .
misc: default .
active: bool @index(bool) .
email: string @index(hash) @unique .
counter: int @noconflict .
<http://schema.org/name>: string .

type Person {
    name
    friend
    <~friend>
}
type Old {
    name: string!
    tags: [string!]!
}
type OneLine { name friend }
"#;

#[test]
fn parses_every_supported_form() {
    let u = parse(EXAMPLE).unwrap();
    let names: Vec<_> = u.predicates.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "name",
            "friend",
            "age",
            "password",
            "dob",
            "score",
            "tags",
            "loc",
            "misc",
            "active",
            "email",
            "counter",
            "http://schema.org/name"
        ]
    );
    let p = |n: &str| u.predicates.iter().find(|p| p.name == n).unwrap();

    let name = p("name");
    assert_eq!(name.value_type, ScalarType::String);
    assert_eq!(name.indexes, [IndexKind::Exact, IndexKind::Term]);
    assert!(name.upsert && name.count && name.lang);
    assert!(!name.list && !name.reverse && !name.unique && !name.noconflict);

    let friend = p("friend");
    assert_eq!(friend.value_type, ScalarType::Uid);
    assert!(friend.list && friend.reverse && friend.count);
    assert!(friend.indexes.is_empty());

    assert_eq!(p("age").indexes, [IndexKind::Int]);
    assert_eq!(p("password").value_type, ScalarType::Password);
    assert_eq!(p("dob").indexes, [IndexKind::Hour]);
    assert_eq!(p("score").indexes, [IndexKind::Float]);
    assert!(p("tags").list);
    assert_eq!(p("loc").value_type, ScalarType::Geo);
    assert_eq!(p("misc").value_type, ScalarType::Default);
    assert_eq!(p("active").indexes, [IndexKind::Bool]);
    // @unique turns @upsert on.
    assert!(p("email").unique && p("email").upsert);
    assert!(p("counter").noconflict);

    assert_eq!(
        u.types,
        [
            TypeDef {
                name: "Person".into(),
                fields: vec!["name".into(), "friend".into(), "~friend".into()],
            },
            TypeDef {
                name: "Old".into(),
                fields: vec!["name".into(), "tags".into()],
            },
            TypeDef {
                name: "OneLine".into(),
                fields: vec!["name".into(), "friend".into()],
            },
        ]
    );
}

#[test]
fn small_forms() {
    assert_eq!(parse("").unwrap(), SchemaUpdate::default());
    assert_eq!(parse("# only a comment").unwrap(), SchemaUpdate::default());
    // Type names and tokenizers ignore case; `datetime` means `year`.
    let p = one("dob: dateTime @index(DATETIME) .");
    assert_eq!(p.value_type, ScalarType::DateTime);
    assert_eq!(p.indexes, [IndexKind::Year]);
    // Windows line ends and tabs.
    let u = parse("a: int .\r\n\tb: string .\r\n").unwrap();
    assert_eq!(u.predicates.len(), 2);
    // A predicate called `type` is not a type declaration.
    assert_eq!(one("type: string .").name, "type");
    let t = parse("type <my:type> {\n <field/one> # comment\n}").unwrap();
    assert_eq!(t.types[0].name, "my:type");
    assert_eq!(t.types[0].fields, ["field/one"]);
}

#[test]
fn tokenizer_must_fit_the_type() {
    assert_eq!(
        err("age: string @index(int) ."),
        "line 1 column 20: Tokenizer: int isn't valid for predicate: age of type: string"
    );
    assert_eq!(
        err("n: int @index(exact) ."),
        "line 1 column 15: Tokenizer: exact isn't valid for predicate: n of type: int"
    );
    assert_eq!(
        err("d: datetime @index(term) ."),
        "line 1 column 20: Tokenizer: term isn't valid for predicate: d of type: datetime"
    );
}

#[test]
fn index_is_refused_on_uid_default_and_password() {
    assert_eq!(
        err("f: [uid] @index(exact) ."),
        "line 1 column 11: Indexing not allowed on predicate f of type uid"
    );
    assert_eq!(
        err("x: default @index(exact) ."),
        "line 1 column 13: Indexing not allowed on predicate x of type default"
    );
    assert_eq!(
        err("p: password @index(exact) ."),
        "line 1 column 14: Indexing not allowed on predicate p of type password"
    );
}

#[test]
fn search_tokenizers_are_accepted() {
    let u =
        parse("name: string @index(term, fulltext, trigram) .\nloc: geo @index(geo) .").unwrap();
    assert_eq!(
        u.predicates[0].indexes,
        vec![IndexKind::Term, IndexKind::Fulltext, IndexKind::Trigram]
    );
    assert_eq!(u.predicates[1].indexes, vec![IndexKind::Geo]);
}

#[test]
fn tokenizer_lists_are_checked() {
    assert_eq!(
        err("n: string @index(foo) ."),
        "line 1 column 18: Invalid tokenizer foo"
    );
    assert!(
        err("n: string @index(ngram) .")
            .starts_with("line 1 column 18: tokenizer ngram is not supported by lodestar yet:")
    );
    assert!(err("v: string @index(hnsw) .").contains(
        "tokenizer hnsw is not supported by lodestar yet (vector search: float32vector, @index(hnsw) and similar_to are not implemented)"
    ));
    assert!(
        err("v: float32vector .")
            .contains("type float32vector is not supported by lodestar yet (vector search")
    );
    assert_eq!(
        err("n: int @index(fulltext) ."),
        "line 1 column 15: Tokenizer: fulltext isn't valid for predicate: n of type: int"
    );
    assert_eq!(
        err("n: geo @index(trigram) ."),
        "line 1 column 15: Tokenizer: trigram isn't valid for predicate: n of type: geo"
    );
    assert_eq!(
        err("n: string @index(geo) ."),
        "line 1 column 18: Tokenizer: geo isn't valid for predicate: n of type: string"
    );
    assert_eq!(
        err("n: string @index ."),
        "line 1 column 18: Require type of tokenizer for pred: n for indexing."
    );
    assert_eq!(
        err("n: string @index(exact, exact) ."),
        "line 1 column 25: Duplicate tokenizers defined for pred n"
    );
    assert_eq!(
        err("d: datetime @index(year, month) ."),
        "line 1 column 26: More than one sortable index encountered for: d"
    );
    assert_eq!(
        err("n: string @index(exact term) ."),
        "line 1 column 24: Expected ',' or ')' but found 'term' for predicate 'n'"
    );
    assert_eq!(
        err("n: string @index() ."),
        "line 1 column 18: Expected a tokenizer name, but found ')'"
    );
}

#[test]
fn directives_are_checked() {
    assert_eq!(
        err("name: string @reverse ."),
        "line 1 column 15: Cannot reverse for non-UID type"
    );
    assert_eq!(
        err("n: int @lang ."),
        "line 1 column 9: @lang directive can only be specified for string type. Got: [int] for attr: [n]"
    );
    assert!(err("n: [string] @lang .").contains("@lang directive can only be specified"));
    assert_eq!(
        err("n: string @sorted ."),
        "line 1 column 12: Invalid index specification: @sorted"
    );
    assert_eq!(
        err("n: string @ ."),
        "line 1 column 13: Missing directive name"
    );
}

#[test]
fn upsert_and_unique_need_an_index() {
    assert_eq!(
        err("jobs: string @upsert ."),
        "line 1 column 1: Index tokenizer is mandatory for: [jobs] when specifying @upsert directive"
    );
    assert_eq!(
        err("\nemail: string @unique ."),
        "line 2 column 1: index for predicate [email] is missing, add either hash or exact index with @unique"
    );
    assert_eq!(
        err("email: string @unique @index(term) ."),
        "line 1 column 1: index for predicate [email] is missing, add either hash or exact index with @unique"
    );
    assert_eq!(
        err("mobile: int @unique ."),
        "line 1 column 1: index for predicate [mobile] is missing, add int index with @unique"
    );
    let p = one("email: string @unique @index(term, exact) .");
    assert!(p.unique && p.upsert);
    assert!(one("jobs: string @index(exact) @upsert .").upsert);
}

#[test]
fn types_are_checked() {
    assert_eq!(err("n: strin ."), "line 1 column 4: Undefined Type: strin");
    assert!(
        err("v: float32vector .").contains("type float32vector is not supported by lodestar yet")
    );
    assert_eq!(
        err("b: [bool] ."),
        "line 1 column 5: Unsupported type for list: [bool]."
    );
    assert_eq!(
        err("p: [password] ."),
        "line 1 column 5: Unsupported type for list: [password]."
    );
    assert_eq!(
        err("uid: string ."),
        "line 1 column 1: Cannot create user-defined predicate with internal name uid"
    );
}

#[test]
fn grammar_errors_name_line_and_column() {
    assert_eq!(err("name string ."), "line 1 column 6: Missing colon");
    assert_eq!(
        err("name@en: string ."),
        "line 1 column 5: Invalid '@' in name"
    );
    assert_eq!(
        err("<name@en>: string ."),
        "line 1 column 10: Invalid '@' in name"
    );
    assert_eq!(err("n: ."), "line 1 column 4: Missing Type");
    assert_eq!(
        err("n:"),
        "line 1 column 3: Invalid ending while trying to parse schema."
    );
    assert_eq!(
        err("n: [string ."),
        "line 1 column 12: Unclosed [ while parsing schema for: n"
    );
    assert_eq!(err("n: string"), "line 1 column 10: Invalid ending");
    assert_eq!(err("a: int . b: int ."), "line 1 column 10: Invalid ending");
    assert_eq!(
        err("a: int .\n$"),
        "line 2 column 1: Invalid schema. Unexpected $"
    );
    assert_eq!(
        err("<a: int ."),
        "line 1 column 4: Invalid schema: unexpected ' ' in <name>, expected '>'"
    );
    assert_eq!(
        err("<abc"),
        "line 1 column 5: Invalid schema: unexpected EOF in <name>, expected '>'"
    );
    assert_eq!(
        err("<>: int ."),
        "line 1 column 1: Invalid schema: empty name <>"
    );
    assert_eq!(
        err(": int ."),
        "line 1 column 1: Unexpected token: : while parsing schema"
    );
}

#[test]
fn type_declaration_errors() {
    assert_eq!(
        err("type T {\n  a\n  a\n}"),
        "line 3 column 3: Duplicate fields with name: a"
    );
    assert_eq!(
        err("type T { a } x: int ."),
        "line 1 column 14: Expected new line or EOF after type declaration. Got x"
    );
    assert_eq!(
        err("type T {\n a"),
        "line 2 column 3: Invalid ending while parsing type T: expected }"
    );
    assert_eq!(
        err("type T { @ }"),
        "line 1 column 10: Unexpected token. Got @"
    );
    assert_eq!(
        err("type T { a: }"),
        "line 1 column 13: Missing field type in type declaration. Got }"
    );
    assert_eq!(
        err("type T { a: [int }"),
        "line 1 column 18: Expected matching square bracket. Got }"
    );
}

#[test]
fn duplicates_in_one_update_are_refused() {
    assert_eq!(
        err("a: int .\na: string ."),
        "line 2 column 1: predicate a defined multiple times"
    );
    assert_eq!(
        err("type T { a }\ntype T { b }"),
        "line 2 column 1: type T defined multiple times"
    );
}

#[test]
fn validate_applies_the_parser_rules_to_built_definitions() {
    let mut p = PredicateSchema::new("age", ScalarType::String);
    p.indexes = vec![IndexKind::Int];
    assert!(matches!(
        p.validate(),
        Err(SchemaErrorKind::TokenizerTypeMismatch { .. })
    ));
    let mut p = PredicateSchema::new("friend", ScalarType::Int);
    p.reverse = true;
    assert_eq!(p.validate(), Err(SchemaErrorKind::ReverseNonUid));
    let mut p = PredicateSchema::new("f", ScalarType::Uid);
    p.indexes = vec![IndexKind::Exact];
    assert!(matches!(
        p.validate(),
        Err(SchemaErrorKind::IndexNotAllowed { .. })
    ));
    let mut p = PredicateSchema::new("n", ScalarType::String);
    p.upsert = true;
    assert!(matches!(
        p.validate(),
        Err(SchemaErrorKind::UpsertWithoutIndex { .. })
    ));
    p.indexes = vec![IndexKind::Hash];
    assert_eq!(p.validate(), Ok(()));
}

#[test]
fn render_writes_dgraph_style_text() {
    assert_eq!(
        render(&one(
            "name: string @upsert @lang @index(exact, term) @count ."
        )),
        "name: string @index(exact,term) @count @lang @upsert ."
    );
    assert_eq!(
        render(&one("friend: [uid] @count @reverse .")),
        "friend: [uid] @reverse @count ."
    );
    assert_eq!(
        render(&one("<http://x.org/a#b>: int @noconflict .")),
        "<http://x.org/a#b>: int @noconflict ."
    );
    assert_eq!(
        render(&one("e: string @index(hash) @unique .")),
        "e: string @index(hash) @upsert @unique ."
    );
    let t = &parse("type Person { name <~friend> }").unwrap().types[0];
    assert_eq!(render_type(t), "type Person {\n\tname\n\t<~friend>\n}");
}

#[test]
fn schema_json_matches_dgraph() {
    let name = one("name: string @index(exact, term) @upsert @count @lang .");
    assert_eq!(
        serde_json::to_string(&name.to_schema_node()).unwrap(),
        r#"{"predicate":"name","type":"string","index":true,"tokenizer":["exact","term"],"count":true,"upsert":true,"lang":true}"#
    );
    // Shapes from Dgraph's own test fixtures (dgraphapi/cluster.go).
    let r = reserved::reserved();
    let node = |n: &str| r.predicates.iter().find(|p| p.name == n).unwrap().to_json();
    assert_eq!(
        node("dgraph.xid"),
        serde_json::json!({"predicate":"dgraph.xid","type":"string","index":true,"tokenizer":["exact"],"unique":true,"upsert":true})
    );
    assert_eq!(
        node("dgraph.user.group"),
        serde_json::json!({"predicate":"dgraph.user.group","list":true,"reverse":true,"type":"uid"})
    );
    assert_eq!(
        node("dgraph.password"),
        serde_json::json!({"predicate":"dgraph.password","type":"password"})
    );
    assert_eq!(
        node("dgraph.type"),
        serde_json::json!({"predicate":"dgraph.type","type":"string","index":true,"tokenizer":["exact"],"list":true})
    );
    let nc = one("c: int @noconflict .").to_json();
    assert_eq!(
        nc,
        serde_json::json!({"predicate":"c","type":"int","no_conflict":true})
    );

    let t = TypeDef {
        name: "Person".into(),
        fields: vec!["name".into(), "~friend".into()],
    };
    assert_eq!(
        serde_json::to_string(&t.to_type_node()).unwrap(),
        r#"{"name":"Person","fields":[{"name":"name"},{"name":"~friend"}]}"#
    );
    // The JSON reads back.
    let back: SchemaNode = serde_json::from_value(name.to_json()).unwrap();
    assert_eq!(back, name.to_schema_node());
}

#[test]
fn schema_changes_follow_dgraphs_rules() {
    let p = |text: &str| one(text);
    assert_eq!(
        check_change(&p("a: password ."), &p("a: string ."), false),
        Err(SchemaChangeError::Password {
            from: ScalarType::Password,
            to: ScalarType::String
        })
    );
    assert_eq!(
        check_change(&p("a: string ."), &p("a: password ."), false)
            .unwrap_err()
            .to_string(),
        "Schema change not allowed from string to password"
    );
    assert_eq!(
        check_change(&p("a: [string] ."), &p("a: string ."), true)
            .unwrap_err()
            .to_string(),
        "Schema change not allowed from [string] => string without deleting pred: a"
    );
    check_change(&p("a: [string] ."), &p("a: string ."), false).unwrap();
    assert_eq!(
        check_change(&p("a: [uid] ."), &p("a: string ."), true)
            .unwrap_err()
            .to_string(),
        "Schema change not allowed from scalar to uid or vice versa while there is data for pred: a"
    );
    check_change(&p("a: [uid] ."), &p("a: string ."), false).unwrap();
    check_change(&p("a: int ."), &p("a: string @index(exact) ."), true).unwrap();
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_.-]{0,12}",
        "[^<>\"{}|^`\\\\@\\x00-\\x20]{1,12}",
    ]
    .prop_filter("uid is reserved", |n| !n.eq_ignore_ascii_case("uid"))
}

fn predicate_strategy() -> impl Strategy<Value = PredicateSchema> {
    (
        name_strategy(),
        prop::sample::select(ScalarType::ALL.to_vec()),
        any::<[bool; 7]>(),
        prop::collection::vec(prop::sample::select(IndexKind::ALL.to_vec()), 0..4),
    )
        .prop_map(|(name, ty, flags, kinds)| {
            let mut p = PredicateSchema::new(name, ty);
            p.list = flags[0] && !matches!(ty, ScalarType::Bool | ScalarType::Password);
            if !matches!(
                ty,
                ScalarType::Uid | ScalarType::Default | ScalarType::Password
            ) {
                for k in kinds {
                    let sortable_taken =
                        k.is_sortable() && p.indexes.iter().any(|i| i.is_sortable());
                    if k.value_type() == ty && !p.indexes.contains(&k) && !sortable_taken {
                        p.indexes.push(k);
                    }
                }
            }
            p.reverse = flags[1] && ty == ScalarType::Uid;
            p.count = flags[2];
            p.lang = flags[3] && ty == ScalarType::String && !p.list;
            p.noconflict = flags[4];
            p.upsert = flags[5] && !p.indexes.is_empty();
            p.unique = flags[6];
            if p.unique {
                p.upsert = true;
                if p.validate().is_err() {
                    p.unique = false;
                    p.upsert = flags[5] && !p.indexes.is_empty();
                }
            }
            p
        })
}

proptest! {
    #[test]
    fn render_then_parse_round_trips(p in predicate_strategy()) {
        prop_assert_eq!(p.validate(), Ok(()));
        let text = render(&p);
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(back.predicates, vec![p]);
    }

    #[test]
    fn render_type_then_parse_round_trips(
        name in name_strategy().prop_filter("not the keyword", |n| n != "type"),
        fields in prop::collection::btree_set(name_strategy(), 0..5),
    ) {
        let t = TypeDef { name, fields: fields.into_iter().collect() };
        let text = render_type(&t);
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(back.types, vec![t]);
    }

    #[test]
    fn parse_never_panics(text in "[a-z:@()\\[\\]{}<>.,!# \\n~]{0,60}") {
        let _ = parse(&text);
    }

    #[test]
    fn parse_never_panics_on_any_text(text in "\\PC{0,60}") {
        let _ = parse(&text);
    }
}

#[test]
fn names_longer_than_the_limit_are_refused_with_their_position() {
    let ok = format!("{}: string .", "p".repeat(MAX_NAME_LEN));
    assert!(parse(&ok).is_ok());
    let long = "p".repeat(MAX_NAME_LEN + 1);
    for text in [format!("{long}: string ."), format!("<{long}>: string .")] {
        let err = parse(&text).unwrap_err();
        assert_eq!((err.line, err.column), (1, 1));
        assert!(
            err.to_string().contains("longer than the 1024 allowed"),
            "{err}"
        );
    }
}
