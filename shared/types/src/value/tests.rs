use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use proptest::prelude::*;

use super::*;

fn dt(s: &str) -> Val {
    Val::DateTime(Val::parse_datetime(s).unwrap())
}

fn conv(v: Val, to: ScalarType) -> Result<Val, ConvertError> {
    v.convert(to)
}

fn text(s: &str, to: ScalarType) -> Result<Val, ConvertError> {
    Val::Default(s.into()).convert(to)
}

#[test]
fn type_names_round_trip_and_ignore_case() {
    for t in ScalarType::ALL {
        assert_eq!(ScalarType::from_name(t.name()), Some(t));
    }
    assert_eq!(
        ScalarType::from_name("dateTime"),
        Some(ScalarType::DateTime)
    );
    assert_eq!(ScalarType::from_name("STRING"), Some(ScalarType::String));
    assert_eq!(ScalarType::from_name("text"), None);
    assert_eq!(ScalarType::DateTime.to_string(), "datetime");
    assert_eq!(
        serde_json::to_string(&ScalarType::DateTime).unwrap(),
        "\"datetime\""
    );
}

#[test]
fn rdf_types_follow_dgraphs_table() {
    let cases = [
        ("xs:string", Some(ScalarType::String)),
        ("xs:int", Some(ScalarType::Int)),
        ("xs:integer", Some(ScalarType::Int)),
        ("xs:positiveInteger", Some(ScalarType::Int)),
        ("xs:boolean", Some(ScalarType::Bool)),
        ("xs:double", Some(ScalarType::Float)),
        ("xs:float", Some(ScalarType::Float)),
        ("xs:date", Some(ScalarType::DateTime)),
        ("xs:dateTime", Some(ScalarType::DateTime)),
        ("xs:password", Some(ScalarType::Password)),
        ("geo:geojson", Some(ScalarType::Geo)),
        (
            "http://www.w3.org/2001/XMLSchema#int",
            Some(ScalarType::Int),
        ),
        (
            "http://www.w3.org/2001/XMLSchema#gYear",
            Some(ScalarType::DateTime),
        ),
        (
            "http://www.w3.org/2001/XMLSchema#gYearMonth",
            Some(ScalarType::DateTime),
        ),
        ("http://www.w3.org/2001/XMLSchema#password", None),
        ("xs:gYear", None),
        ("xs:base64Binary", None),
        ("xs:decimal", None),
        ("xsd:int", None),
    ];
    for (iri, want) in cases {
        assert_eq!(ScalarType::from_rdf_type(iri), want, "{iri}");
    }
}

#[test]
fn strings_to_int_use_go_parse_int() {
    assert_eq!(text("42", ScalarType::Int), Ok(Val::Int(42)));
    assert_eq!(text("+7", ScalarType::Int), Ok(Val::Int(7)));
    assert_eq!(text("-007", ScalarType::Int), Ok(Val::Int(-7)));
    assert_eq!(
        text(&i64::MIN.to_string(), ScalarType::Int),
        Ok(Val::Int(i64::MIN))
    );
    for bad in ["abc", "1.5", " 1", "1_000", "", "0x10", "1e3"] {
        assert!(text(bad, ScalarType::Int).is_err(), "{bad:?}");
    }
    assert_eq!(
        text("abc", ScalarType::Int).unwrap_err().to_string(),
        "cannot convert \"abc\" to int: expected a base-10 integer"
    );
    assert_eq!(
        text("9223372036854775808", ScalarType::Int)
            .unwrap_err()
            .to_string(),
        "cannot convert \"9223372036854775808\" to int: out of int64 range"
    );
}

#[test]
fn strings_to_float_refuse_nan_and_overflow() {
    assert_eq!(text("1.5", ScalarType::Float), Ok(Val::Float(1.5)));
    assert_eq!(text(".5", ScalarType::Float), Ok(Val::Float(0.5)));
    assert_eq!(text("-1E3", ScalarType::Float), Ok(Val::Float(-1000.0)));
    assert_eq!(
        text("Inf", ScalarType::Float),
        Ok(Val::Float(f64::INFINITY))
    );
    assert_eq!(
        text("-infinity", ScalarType::Float),
        Ok(Val::Float(f64::NEG_INFINITY))
    );
    assert_eq!(
        text("NaN", ScalarType::Float).unwrap_err().to_string(),
        "cannot convert \"NaN\" to float: NaN cannot be stored"
    );
    assert_eq!(
        text("1e400", ScalarType::Float).unwrap_err().to_string(),
        "cannot convert \"1e400\" to float: out of float64 range"
    );
    assert!(text("one", ScalarType::Float).is_err());
}

#[test]
fn strings_to_bool_accept_go_parse_bool_forms() {
    for t in ["1", "t", "T", "TRUE", "true", "True"] {
        assert_eq!(text(t, ScalarType::Bool), Ok(Val::Bool(true)), "{t}");
    }
    for f in ["0", "f", "F", "FALSE", "false", "False"] {
        assert_eq!(text(f, ScalarType::Bool), Ok(Val::Bool(false)), "{f}");
    }
    for bad in ["yes", "tRUE", "2", ""] {
        assert!(text(bad, ScalarType::Bool).is_err(), "{bad:?}");
    }
}

#[test]
fn strings_to_datetime_and_geo() {
    assert_eq!(
        text("2006-01-02", ScalarType::DateTime),
        Ok(dt("2006-01-02T00:00:00Z"))
    );
    let err = text("yesterday", ScalarType::DateTime)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot convert \"yesterday\" to datetime: expected RFC 3339"),
        "{err}"
    );
    let point = text("{'type':'Point','coordinates':[1.5,2]}", ScalarType::Geo).unwrap();
    assert_eq!(
        point,
        Val::Geo(r#"{"coordinates":[1.5,2],"type":"Point"}"#.into())
    );
    assert!(text(r#"{"type":"Circle","coordinates":[1]}"#, ScalarType::Geo).is_err());
    assert!(text(r#"{"type":"Point"}"#, ScalarType::Geo).is_err());
    assert!(text("[1,2]", ScalarType::Geo).is_err());
    assert!(
        text(
            r#"{"type":"GeometryCollection","geometries":[]}"#,
            ScalarType::Geo
        )
        .is_ok()
    );
}

#[test]
fn default_and_string_interconvert() {
    assert_eq!(text("x", ScalarType::String), Ok(Val::String("x".into())));
    assert_eq!(
        conv(Val::String("x".into()), ScalarType::Default),
        Ok(Val::Default("x".into()))
    );
}

#[test]
fn numbers_and_bools_interconvert() {
    assert_eq!(conv(Val::Int(3), ScalarType::Float), Ok(Val::Float(3.0)));
    assert_eq!(conv(Val::Int(0), ScalarType::Bool), Ok(Val::Bool(false)));
    assert_eq!(conv(Val::Int(-2), ScalarType::Bool), Ok(Val::Bool(true)));
    assert_eq!(
        conv(Val::Int(-2), ScalarType::String),
        Ok(Val::String("-2".into()))
    );
    assert_eq!(conv(Val::Float(-2.9), ScalarType::Int), Ok(Val::Int(-2)));
    assert_eq!(
        conv(Val::Float(0.0), ScalarType::Bool),
        Ok(Val::Bool(false))
    );
    assert_eq!(
        conv(Val::Float(1e6), ScalarType::String),
        Ok(Val::String("1E+06".into()))
    );
    assert_eq!(
        conv(Val::Float(2.5), ScalarType::Default),
        Ok(Val::Default("2.5".into()))
    );
    assert_eq!(
        conv(Val::Float(1e19), ScalarType::Int)
            .unwrap_err()
            .to_string(),
        "cannot convert 1E+19 to int: out of int64 range"
    );
    assert!(conv(Val::Float(f64::NAN), ScalarType::Int).is_err());
    assert!(conv(Val::Float(9.3e18), ScalarType::Int).is_err());
    assert_eq!(
        conv(Val::Float(i64::MIN as f64), ScalarType::Int),
        Ok(Val::Int(i64::MIN))
    );
    assert_eq!(conv(Val::Bool(true), ScalarType::Int), Ok(Val::Int(1)));
    assert_eq!(
        conv(Val::Bool(false), ScalarType::Float),
        Ok(Val::Float(0.0))
    );
    assert_eq!(
        conv(Val::Bool(true), ScalarType::String),
        Ok(Val::String("true".into()))
    );
}

#[test]
fn numbers_and_datetimes_use_unix_seconds() {
    assert_eq!(
        conv(Val::Int(86_400), ScalarType::DateTime),
        Ok(dt("1970-01-02T00:00:00Z"))
    );
    assert_eq!(
        conv(Val::Float(-0.5), ScalarType::DateTime),
        Ok(dt("1969-12-31T23:59:59.5Z"))
    );
    assert_eq!(
        conv(Val::Int(1 << 40), ScalarType::DateTime)
            .unwrap_err()
            .to_string(),
        "cannot convert 1099511627776 to datetime: year outside of range [0,9999]"
    );
    let t = dt("2001-09-09T01:46:40.25+02:00");
    assert_eq!(conv(t.clone(), ScalarType::Int), Ok(Val::Int(999_992_800)));
    assert_eq!(
        conv(t.clone(), ScalarType::Float),
        Ok(Val::Float(999_992_800.25))
    );
    assert_eq!(
        conv(t, ScalarType::String),
        Ok(Val::String("2001-09-09T01:46:40.25+02:00".into()))
    );
}

#[test]
fn impossible_conversions_are_refused() {
    let cases = [
        (Val::Int(1), ScalarType::Uid),
        (Val::Bool(true), ScalarType::DateTime),
        (Val::Uid(1), ScalarType::String),
        (Val::Uid(1), ScalarType::Int),
        (dt("2020"), ScalarType::Bool),
        (Val::Geo("{}".into()), ScalarType::Int),
        (Val::Password("h".into()), ScalarType::Int),
        (Val::Password("h".into()), ScalarType::Default),
        (Val::Default("1".into()), ScalarType::Uid),
    ];
    for (v, to) in cases {
        assert_eq!(
            v.clone().convert(to),
            Err(ConvertError::Incompatible { from: v.ty(), to }),
            "{v:?} -> {to}"
        );
    }
    assert_eq!(
        conv(Val::Int(1), ScalarType::Uid).unwrap_err().to_string(),
        "cannot convert int to type uid"
    );
    assert_eq!(
        text("secret", ScalarType::Password),
        Err(ConvertError::PasswordNeedsHash)
    );
    assert_eq!(
        conv(Val::Password("$argon2id$x".into()), ScalarType::String),
        Ok(Val::String("$argon2id$x".into()))
    );
    assert_eq!(
        conv(Val::Geo(r#"{"type":"Point"}"#.into()), ScalarType::String),
        Ok(Val::String("{'type':'Point'}".into()))
    );
}

#[test]
fn literals_become_storage_values() {
    assert_eq!(
        Val::from_literal(&Literal::Untyped("5")),
        Ok(Val::Default("5".into()))
    );
    assert_eq!(
        Val::from_literal(&Literal::Str("5")),
        Ok(Val::String("5".into()))
    );
    assert_eq!(
        Val::from_literal(&Literal::Typed {
            value: "5",
            ty: ScalarType::Int
        }),
        Ok(Val::Int(5))
    );
    assert!(
        Val::from_literal(&Literal::Typed {
            value: "five",
            ty: ScalarType::Int
        })
        .is_err()
    );
    assert_eq!(
        Val::from_literal(&Literal::Typed {
            value: "pw",
            ty: ScalarType::Password
        }),
        Err(ConvertError::PasswordNeedsHash)
    );
    assert!(Val::from_literal(&Literal::Float(f64::NAN)).is_err());
}

#[test]
fn literals_convert_to_the_schema_type() {
    // A default predicate keeps the literal's own type.
    assert_eq!(
        Val::from_literal_for(&Literal::Int(5), ScalarType::Default),
        Ok(Val::Int(5))
    );
    assert_eq!(
        Val::from_literal_for(&Literal::Untyped("5"), ScalarType::Int),
        Ok(Val::Int(5))
    );
    assert_eq!(
        Val::from_literal_for(&Literal::Int(5), ScalarType::String),
        Ok(Val::String("5".into()))
    );
    // Dgraph truncates a float stored into an int predicate.
    assert_eq!(
        Val::from_literal_for(&Literal::Float(1.9), ScalarType::Int),
        Ok(Val::Int(1))
    );
    assert_eq!(
        Val::from_literal_for(&Literal::Bool(true), ScalarType::Float),
        Ok(Val::Float(1.0))
    );
    assert!(Val::from_literal_for(&Literal::Untyped("x"), ScalarType::Int).is_err());
}

#[test]
fn json_literals_are_typed_like_dgraphs_json_parser() {
    let j: serde_json::Value =
        serde_json::from_str(r#"[1, -1, 1.0, 1e2, 18446744073709551615, true, "s", null, [], {}]"#)
            .unwrap();
    let lits: Vec<_> = j
        .as_array()
        .unwrap()
        .iter()
        .map(Literal::from_json)
        .collect();
    assert_eq!(
        lits,
        vec![
            Some(Literal::Int(1)),
            Some(Literal::Int(-1)),
            Some(Literal::Float(1.0)),
            Some(Literal::Float(100.0)),
            Some(Literal::Float(18446744073709551615.0)),
            Some(Literal::Bool(true)),
            Some(Literal::Str("s")),
            None,
            None,
            None,
        ]
    );
}

#[test]
fn json_text_matches_dgraphs_output() {
    let cases = [
        (Val::Int(-3), "-3"),
        (Val::Float(1.5), "1.500000"),
        (Val::Float(0.0), "0.000000"),
        (Val::Float(1e20), "100000000000000000000.000000"),
        (Val::Bool(false), "false"),
        (Val::Uid(31), "\"0x1f\""),
        (Val::String("a\"b\n".into()), r#""a\"b\n""#),
        (Val::Default("x".into()), "\"x\""),
        (
            dt("2006-01-02T15:04:05.5+05:30"),
            "\"2006-01-02T15:04:05.5+05:30\"",
        ),
        (dt("2006-01-02"), "\"2006-01-02T00:00:00Z\""),
        (dt("0001-01-01T00:00:00Z"), "\"\""),
        (
            Val::Geo(r#"{"type":"Point","coordinates":[1,2]}"#.into()),
            r#"{"type":"Point","coordinates":[1,2]}"#,
        ),
    ];
    for (v, want) in cases {
        assert_eq!(v.to_json_text().unwrap(), want, "{v:?}");
    }
    assert_eq!(
        Val::Float(f64::INFINITY)
            .to_json_text()
            .unwrap_err()
            .to_string(),
        "cannot render float inf as json: only finite numbers are representable"
    );
}

#[test]
fn json_values() {
    assert_eq!(Val::Int(7).to_json().unwrap(), serde_json::json!(7));
    assert_eq!(Val::Float(2.5).to_json().unwrap(), serde_json::json!(2.5));
    assert_eq!(Val::Uid(255).to_json().unwrap(), serde_json::json!("0xff"));
    assert_eq!(
        dt("2020-05-06T07:08:09Z").to_json().unwrap(),
        serde_json::json!("2020-05-06T07:08:09Z")
    );
    assert_eq!(
        Val::Geo(r#"{"type":"Point","coordinates":[1,2]}"#.into())
            .to_json()
            .unwrap(),
        serde_json::json!({"type": "Point", "coordinates": [1, 2]})
    );
    assert!(Val::Float(f64::NAN).to_json().is_err());
    assert!(Val::Geo("nope".into()).to_json().is_err());
}

#[test]
fn sort_order_is_by_type_then_value() {
    let mut vals = vec![
        Val::String("b".into()),
        Val::Int(10),
        Val::Float(f64::NEG_INFINITY),
        Val::String("B".into()),
        Val::Int(-10),
        Val::Float(-0.0),
        Val::Float(0.0),
        Val::Bool(true),
        Val::Bool(false),
        dt("2020-01-01T01:00:00+01:00"),
        dt("2019-01-01"),
        dt("2020-01-01T00:00:00Z"),
    ];
    vals.sort();
    assert_eq!(
        vals,
        vec![
            Val::Int(-10),
            Val::Int(10),
            Val::Float(f64::NEG_INFINITY),
            Val::Float(-0.0),
            Val::Float(0.0),
            Val::Bool(false),
            Val::Bool(true),
            dt("2019-01-01"),
            dt("2020-01-01T00:00:00Z"),
            dt("2020-01-01T01:00:00+01:00"),
            Val::String("B".into()),
            Val::String("b".into()),
        ]
    );
}

#[test]
fn query_comparison_is_semantic() {
    assert_eq!(
        dt("2020-01-01T01:00:00+01:00").compare(&dt("2020-01-01T00:00:00Z")),
        Some(Ordering::Equal)
    );
    assert_ne!(dt("2020-01-01T01:00:00+01:00"), dt("2020-01-01T00:00:00Z"));
    assert_eq!(
        Val::Float(-0.0).compare(&Val::Float(0.0)),
        Some(Ordering::Equal)
    );
    assert_eq!(Val::Float(f64::NAN).compare(&Val::Float(0.0)), None);
    assert_eq!(
        Val::Default("a".into()).compare(&Val::String("b".into())),
        Some(Ordering::Less)
    );
    assert_eq!(Val::Int(1).compare(&Val::Float(1.0)), None);
    assert_eq!(Val::Int(2).compare(&Val::Int(1)), Some(Ordering::Greater));
}

#[test]
fn encoding_is_pinned() {
    // Stored bytes: these must never change.
    assert_eq!(Val::Int(1).encode(), [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(Val::Default("a".into()).encode(), [1, 0, b'a']);
    assert_eq!(Val::String("a".into()).encode(), [1, 9, b'a']);
    assert_eq!(Val::Bool(true).encode(), [1, 4, 1]);
    assert_eq!(
        Val::Float(1.0).encode(),
        [1, 3, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(Val::Uid(0x0102).encode(), [1, 7, 0, 0, 0, 0, 0, 0, 1, 2]);
    assert_eq!(
        dt("1970-01-01T01:00:01.5+01:00").encode(),
        [
            1, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0x1d, 0xcd, 0x65, 0, 0, 0, 0x0e, 0x10
        ]
    );
}

#[test]
fn malformed_encodings_are_refused() {
    let cases: [(&[u8], DecodeError); 9] = [
        (&[], DecodeError::Empty),
        (&[2, 2], DecodeError::UnsupportedVersion(2)),
        (&[1], DecodeError::MissingTag),
        (&[1, 1], DecodeError::UnknownTag(1)),
        (
            &[1, 2, 0, 0],
            DecodeError::Length {
                ty: ScalarType::Int,
                expected: 8,
                got: 2,
            },
        ),
        (&[1, 9, 0xff], DecodeError::InvalidUtf8(ScalarType::String)),
        (&[1, 4, 2], DecodeError::InvalidBool(2)),
        (
            &[
                1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0x3b, 0x9a, 0xca, 0, 0, 0, 0, 0,
            ],
            DecodeError::InvalidDateTime,
        ),
        (
            &[1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x51, 0x80],
            DecodeError::InvalidDateTime,
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(Val::decode(bytes), Err(want), "{bytes:?}");
    }
    assert_eq!(
        Val::decode(&[3]).unwrap_err().to_string(),
        "cannot decode value encoding version 3: this build reads version 1"
    );
}

fn datetime_strategy() -> impl Strategy<Value = DateTime<FixedOffset>> {
    (
        -62_167_219_200i64..253_402_300_799,
        0u32..1_000_000_000,
        -86_399i32..86_399,
    )
        .prop_map(|(s, n, o)| {
            let off = FixedOffset::east_opt(o).unwrap();
            DateTime::from_timestamp(s, n).unwrap().with_timezone(&off)
        })
}

fn val_strategy() -> impl Strategy<Value = Val> {
    prop_oneof![
        any::<String>().prop_map(Val::Default),
        any::<String>().prop_map(Val::String),
        any::<i64>().prop_map(Val::Int),
        any::<f64>().prop_map(Val::Float),
        any::<bool>().prop_map(Val::Bool),
        datetime_strategy().prop_map(Val::DateTime),
        any::<String>().prop_map(Val::Password),
        any::<u64>().prop_map(Val::Uid),
        any::<String>().prop_map(Val::Geo),
    ]
}

proptest! {
    #[test]
    fn encode_decode_round_trips(v in val_strategy()) {
        let bytes = v.encode();
        let back = Val::decode(&bytes).unwrap();
        prop_assert_eq!(back.ty(), v.ty());
        // Eq is the total order, so this also checks float bits and datetime offsets.
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back, v);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
        let _ = Val::decode(&bytes);
    }

    #[test]
    fn conversions_never_panic(v in val_strategy()) {
        for to in ScalarType::ALL {
            if let Ok(out) = v.convert(to) {
                prop_assert_eq!(out.ty(), to);
            }
            let _ = v.to_json_text();
            let _ = v.to_json();
        }
    }

    #[test]
    fn text_conversions_never_panic(s in "\\PC{0,40}") {
        for to in ScalarType::ALL {
            if let Ok(out) = text(&s, to) {
                prop_assert_eq!(out.ty(), to);
            }
        }
    }

    #[test]
    fn datetime_text_conversions_never_panic(s in "[0-9T:. +Z,-]{0,36}") {
        let _ = Val::parse_datetime(&s);
    }

    #[test]
    fn datetime_text_round_trips(t in datetime_strategy()) {
        // Offsets render to the minute, as in Go; keep whole minutes so the text is exact.
        let t = t.with_timezone(&FixedOffset::east_opt(t.offset().local_minus_utc() / 60 * 60).unwrap());
        let s = conv(Val::DateTime(t), ScalarType::String).unwrap();
        let Val::String(s) = s else { unreachable!() };
        prop_assert_eq!(text(&s, ScalarType::DateTime).unwrap(), Val::DateTime(t));
    }

    #[test]
    fn int_text_round_trips(i: i64) {
        let s = conv(Val::Int(i), ScalarType::String).unwrap();
        prop_assert_eq!(s.convert(ScalarType::Int).unwrap(), Val::Int(i));
    }

    #[test]
    fn float_text_round_trips(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let s = conv(Val::Float(f), ScalarType::String).unwrap();
        prop_assert_eq!(s.convert(ScalarType::Float).unwrap(), Val::Float(f));
    }

    #[test]
    fn sort_order_is_total_and_consistent(a in val_strategy(), b in val_strategy()) {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
    }
}
