//! Scalar types and typed values: conversion from mutation literals with Dgraph's rules, a
//! stable binary encoding for storage, Dgraph's JSON rendering and a total sort order.
//!
//! Conversion rules follow Dgraph's `types.Convert` (v24/v25): strings parse into every
//! scalar type, `int` widens to `float`, numbers and bools interconvert, numbers become
//! datetimes as Unix seconds, and anything else is refused.

mod codec;
mod datetime;
mod gofmt;

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

pub use codec::{DecodeError, ENCODING_VERSION};

/// The type of a predicate's values, as named in the schema language.
///
/// The discriminants are the value-type numbers of Dgraph's `pb.Posting.ValType`, so that
/// logs and stored tags read the same as in Dgraph; they are also the tags of [`Val::encode`]
/// and must never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum ScalarType {
    /// Untyped values: whatever type the literal carried (an RDF literal without a type is a
    /// string).
    Default = 0,
    /// 64-bit signed integer.
    Int = 2,
    /// 64-bit IEEE 754 float; NaN is refused.
    Float = 3,
    /// Boolean.
    Bool = 4,
    /// Instant with the offset it was written with.
    DateTime = 5,
    /// GeoJSON geometry.
    Geo = 6,
    /// Edge to another node.
    Uid = 7,
    /// Password, stored as a PHC hash string (see [`crate::password`]).
    Password = 8,
    /// UTF-8 string.
    String = 9,
}

impl ScalarType {
    /// Every scalar type.
    pub const ALL: [ScalarType; 9] = [
        ScalarType::Default,
        ScalarType::Int,
        ScalarType::Float,
        ScalarType::Bool,
        ScalarType::DateTime,
        ScalarType::Geo,
        ScalarType::Uid,
        ScalarType::Password,
        ScalarType::String,
    ];

    /// The schema-language name (`datetime`, `uid`, ...), also used in Dgraph's JSON.
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::Default => "default",
            ScalarType::Int => "int",
            ScalarType::Float => "float",
            ScalarType::Bool => "bool",
            ScalarType::DateTime => "datetime",
            ScalarType::Geo => "geo",
            ScalarType::Uid => "uid",
            ScalarType::Password => "password",
            ScalarType::String => "string",
        }
    }

    /// Looks a type up by schema name, ignoring ASCII case as Dgraph does (`dateTime` works).
    pub fn from_name(name: &str) -> Option<ScalarType> {
        ScalarType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// The type of an RDF typed literal `"v"^^<iri>`, with Dgraph's table
    /// (`chunker/rdf_parser.go`): `xs:string`, `xs:int`, `xs:integer`, `xs:positiveInteger`,
    /// `xs:boolean`, `xs:double`, `xs:float`, `xs:date`, `xs:dateTime`, `xs:password`,
    /// `geo:geojson`, and the `http://www.w3.org/2001/XMLSchema#` forms (which add `gYear`
    /// and `gYearMonth`). `xs:base64Binary`, `xs:decimal` and vectors are not supported.
    pub fn from_rdf_type(iri: &str) -> Option<ScalarType> {
        const XSD: &str = "http://www.w3.org/2001/XMLSchema#";
        let short = match iri.strip_prefix(XSD) {
            Some(rest) => match rest {
                "gYear" | "gYearMonth" => return Some(ScalarType::DateTime),
                "password" => return None,
                other => other,
            },
            None => match iri.strip_prefix("xs:") {
                Some(rest) => rest,
                None => {
                    return (iri == "geo:geojson").then_some(ScalarType::Geo);
                }
            },
        };
        Some(match short {
            "password" => ScalarType::Password,
            "string" => ScalarType::String,
            "date" | "dateTime" => ScalarType::DateTime,
            "int" | "integer" | "positiveInteger" => ScalarType::Int,
            "boolean" => ScalarType::Bool,
            "double" | "float" => ScalarType::Float,
            _ => return None,
        })
    }

    /// Whether values of this type are strings for conversion purposes (`default` and
    /// `string` are interchangeable in Dgraph).
    fn is_stringish(self) -> bool {
        matches!(self, ScalarType::Default | ScalarType::String)
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A typed value.
///
/// Equality and ordering are the total order used for sorting (see the [`Ord`] impl), so
/// `-0.0 != 0.0` and two datetimes at the same instant but with different offsets differ;
/// query comparisons should use [`Val::compare`].
#[derive(Debug, Clone)]
pub enum Val {
    /// A `default`-typed string.
    Default(String),
    /// A string.
    String(String),
    /// An integer.
    Int(i64),
    /// A float (never NaN when produced by a conversion).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A datetime with the offset it was written with.
    DateTime(DateTime<FixedOffset>),
    /// A password's PHC hash string, never the plaintext.
    Password(String),
    /// A node id.
    Uid(u64),
    /// A GeoJSON geometry, kept as compact JSON text.
    Geo(String),
}

impl Val {
    /// The value's type.
    pub fn ty(&self) -> ScalarType {
        match self {
            Val::Default(_) => ScalarType::Default,
            Val::String(_) => ScalarType::String,
            Val::Int(_) => ScalarType::Int,
            Val::Float(_) => ScalarType::Float,
            Val::Bool(_) => ScalarType::Bool,
            Val::DateTime(_) => ScalarType::DateTime,
            Val::Password(_) => ScalarType::Password,
            Val::Uid(_) => ScalarType::Uid,
            Val::Geo(_) => ScalarType::Geo,
        }
    }

    /// Parses `text` as a datetime with Dgraph's accepted layouts (see [`Val::convert`]).
    pub fn parse_datetime(text: &str) -> Result<DateTime<FixedOffset>, ConvertError> {
        datetime::parse(text).ok_or_else(|| ConvertError::Invalid {
            value: text.to_owned(),
            to: ScalarType::DateTime,
            reason: DATETIME_FORMATS,
        })
    }

    /// Converts the value to `to` with Dgraph's rules (`types.Convert`):
    ///
    /// * `string`/`default` to `int` (base-10, optional sign), `float` (NaN and overflow
    ///   refused), `bool` (`1 t T TRUE true True 0 f F FALSE false False`), `datetime` (RFC 3339
    ///   with or without fraction and zone, `2006-01-02T15:04:05`, `2006-01-02`, `2006-01`,
    ///   `2006`, Go's `2006-01-02 15:04:05 -0700 MST`) and `geo` (GeoJSON, `'` accepted for `"`);
    /// * `int` to `float`, `bool` (non-zero), string, `datetime` (Unix seconds, UTC);
    /// * `float` to `int` (truncated; out-of-range refused), `bool`, string (Go's `%G`
    ///   shortest form), `datetime` (Unix seconds with fraction);
    /// * `bool` to `int`/`float` (0 or 1) and string; `datetime` to string (RFC 3339),
    ///   `int` (Unix seconds) and `float`; `password` and `geo` to string.
    ///
    /// Converting to `password` is refused: a plaintext must go through
    /// [`crate::password::hash`]. Datetimes must fall in years 0 to 9999, the range Dgraph can
    /// render.
    pub fn convert(&self, to: ScalarType) -> Result<Val, ConvertError> {
        if self.ty() == to {
            return Ok(self.clone());
        }
        let incompatible = || ConvertError::Incompatible {
            from: self.ty(),
            to,
        };
        if to == ScalarType::Password {
            return Err(if self.ty().is_stringish() {
                ConvertError::PasswordNeedsHash
            } else {
                incompatible()
            });
        }
        match self {
            Val::Default(s) | Val::String(s) => from_text(s, self.ty(), to),
            Val::Int(i) => match to {
                ScalarType::Float => Ok(Val::Float(*i as f64)),
                ScalarType::Bool => Ok(Val::Bool(*i != 0)),
                ScalarType::DateTime => {
                    datetime_from_unix(*i, 0).ok_or_else(|| out_of_range(i, to, YEAR_RANGE))
                }
                t if t.is_stringish() => Ok(text_val(t, i.to_string())),
                _ => Err(incompatible()),
            },
            Val::Float(f) => match to {
                ScalarType::Int => float_to_int(*f),
                ScalarType::Bool => Ok(Val::Bool(*f != 0.0)),
                ScalarType::DateTime => float_to_datetime(*f),
                t if t.is_stringish() => Ok(text_val(t, gofmt::format_float_g(*f))),
                _ => Err(incompatible()),
            },
            Val::Bool(b) => match to {
                ScalarType::Int => Ok(Val::Int(i64::from(*b))),
                ScalarType::Float => Ok(Val::Float(if *b { 1.0 } else { 0.0 })),
                t if t.is_stringish() => Ok(text_val(t, b.to_string())),
                _ => Err(incompatible()),
            },
            Val::DateTime(t) => match to {
                ScalarType::Int => Ok(Val::Int(t.timestamp())),
                ScalarType::Float => Ok(Val::Float(
                    t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9,
                )),
                k if k.is_stringish() => Ok(text_val(k, datetime::format_rfc3339_nano(t))),
                _ => Err(incompatible()),
            },
            Val::Password(h) => match to {
                ScalarType::String => Ok(Val::String(h.clone())),
                _ => Err(incompatible()),
            },
            Val::Geo(g) => match to {
                t if t.is_stringish() => Ok(text_val(t, g.replace('"', "'"))),
                _ => Err(incompatible()),
            },
            Val::Uid(_) => Err(incompatible()),
        }
    }

    /// The value a mutation literal denotes before any schema is applied: what Dgraph calls
    /// the storage type. Untyped RDF literals become `default`, JSON strings `string`, typed
    /// literals are parsed as their type.
    pub fn from_literal(lit: &Literal<'_>) -> Result<Val, ConvertError> {
        match *lit {
            Literal::Untyped(s) => Ok(Val::Default(s.to_owned())),
            Literal::Str(s) => Ok(Val::String(s.to_owned())),
            Literal::Typed { value, ty } => match ty {
                ScalarType::Password => Err(ConvertError::PasswordNeedsHash),
                ScalarType::Uid => Err(ConvertError::Incompatible {
                    from: ScalarType::String,
                    to: ScalarType::Uid,
                }),
                ty => from_text(value, ScalarType::String, ty),
            },
            Literal::Int(i) => Ok(Val::Int(i)),
            Literal::Float(f) if f.is_nan() => Err(ConvertError::Invalid {
                value: "NaN".into(),
                to: ScalarType::Float,
                reason: "NaN cannot be stored",
            }),
            Literal::Float(f) => Ok(Val::Float(f)),
            Literal::Bool(b) => Ok(Val::Bool(b)),
        }
    }

    /// Converts a mutation literal for a predicate of type `schema`, as Dgraph's
    /// `ValidateAndConvert` does: a `default` predicate keeps the literal's own type,
    /// anything else converts to the schema type.
    pub fn from_literal_for(lit: &Literal<'_>, schema: ScalarType) -> Result<Val, ConvertError> {
        let stored = Val::from_literal(lit)?;
        if schema == ScalarType::Default {
            Ok(stored)
        } else {
            stored.convert(schema)
        }
    }

    /// Compares two values the way query functions do (`eq`, `lt`, ...): only values of the
    /// same type compare (`default` and `string` count as one), datetimes by instant, floats
    /// numerically (`-0.0 == 0.0`). `None` when the values cannot be compared.
    pub fn compare(&self, other: &Val) -> Option<Ordering> {
        match (self, other) {
            (Val::DateTime(a), Val::DateTime(b)) => Some(a.cmp(b)),
            (Val::Float(a), Val::Float(b)) => a.partial_cmp(b),
            (Val::Default(a) | Val::String(a), Val::Default(b) | Val::String(b)) => Some(a.cmp(b)),
            _ if self.ty() == other.ty() => Some(self.cmp(other)),
            _ => None,
        }
    }

    /// The value as a JSON value for a query response. Floats become plain JSON numbers here;
    /// [`Val::to_json_text`] gives Dgraph's exact text.
    pub fn to_json(&self) -> Result<serde_json::Value, RenderError> {
        use serde_json::Value as J;
        Ok(match self {
            Val::Default(s) | Val::String(s) | Val::Password(s) => J::String(s.clone()),
            Val::Int(i) => J::from(*i),
            Val::Float(f) => {
                J::Number(serde_json::Number::from_f64(*f).ok_or(RenderError::NonFiniteFloat(*f))?)
            }
            Val::Bool(b) => J::Bool(*b),
            Val::DateTime(t) => J::String(datetime_json(t)),
            Val::Uid(u) => J::String(format!("{u:#x}")),
            Val::Geo(g) => serde_json::from_str(g).map_err(|_| RenderError::Geo(g.clone()))?,
        })
    }

    /// The value as Dgraph writes it in a JSON response (`query/outputnode.go`): ints as
    /// numbers, floats with Go's `%f` (six decimals, so `1.5` is `1.500000`), datetimes in RFC
    /// 3339 with nanoseconds and the original offset (the zero time as `""`), uids as `"0x.."`
    /// strings, geo as GeoJSON. NaN and infinities are refused, as in Dgraph.
    pub fn to_json_text(&self) -> Result<String, RenderError> {
        Ok(match self {
            Val::Float(f) if !f.is_finite() => return Err(RenderError::NonFiniteFloat(*f)),
            Val::Float(f) => format!("{f:.6}"),
            Val::Int(i) => i.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Uid(u) => format!("\"{u:#x}\""),
            Val::Geo(g) => g.clone(),
            Val::DateTime(t) => json_string(&datetime_json(t)),
            Val::Default(s) | Val::String(s) | Val::Password(s) => json_string(s),
        })
    }
}

impl Val {
    /// The value as the text of a typed literal (RDF `"text"^^<xs:…>`, or a JSON string for
    /// datetimes and geometries) that converts back to an equal value: floats in their
    /// shortest exact form, datetimes in RFC 3339 with nanoseconds and their offset (Go's zero
    /// time too), uids as `0x…`, passwords as their stored hash.
    pub fn literal_text(&self) -> String {
        match self {
            Val::Default(s) | Val::String(s) | Val::Password(s) | Val::Geo(s) => s.clone(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => format!("{f:?}"),
            Val::Bool(b) => b.to_string(),
            Val::DateTime(t) => datetime::format_rfc3339_nano(t),
            Val::Uid(u) => format!("{u:#x}"),
        }
    }
}

/// What [`ScalarType::DateTime`] parse failures tell the user.
const DATETIME_FORMATS: &str = "expected RFC 3339 (2006-01-02T15:04:05Z07:00, fraction and zone \
     optional), 2006-01-02, 2006-01 or 2006";
const YEAR_RANGE: &str = "year outside of range [0,9999]";

fn datetime_json(t: &DateTime<FixedOffset>) -> String {
    // Dgraph renders Go's zero time as an empty string (issue #3166).
    if t.timestamp() == GO_ZERO_TIME_UNIX && t.timestamp_subsec_nanos() == 0 {
        String::new()
    } else {
        datetime::format_rfc3339_nano(t)
    }
}

/// 0001-01-01T00:00:00Z, Go's zero `time.Time`, in Unix seconds.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn text_val(ty: ScalarType, s: String) -> Val {
    if ty == ScalarType::Default {
        Val::Default(s)
    } else {
        Val::String(s)
    }
}

fn out_of_range(value: &impl fmt::Display, to: ScalarType, reason: &'static str) -> ConvertError {
    ConvertError::OutOfRange {
        value: value.to_string(),
        to,
        reason,
    }
}

/// Parses text of type `from` (`default` or `string`) as `to`.
fn from_text(s: &str, from: ScalarType, to: ScalarType) -> Result<Val, ConvertError> {
    let invalid = |reason: &'static str| ConvertError::Invalid {
        value: s.to_owned(),
        to,
        reason,
    };
    match to {
        ScalarType::Default | ScalarType::String => Ok(text_val(to, s.to_owned())),
        ScalarType::Int => s.parse::<i64>().map(Val::Int).map_err(|e| match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                out_of_range(&format!("{s:?}"), to, "out of int64 range")
            }
            _ => invalid("expected a base-10 integer"),
        }),
        ScalarType::Float => parse_go_float(s).map(Val::Float),
        ScalarType::Bool => match s {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Val::Bool(true)),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Val::Bool(false)),
            _ => Err(invalid("expected true, false, 1 or 0")),
        },
        ScalarType::DateTime => Val::parse_datetime(s).map(Val::DateTime),
        ScalarType::Geo => parse_geojson(s).map(Val::Geo),
        ScalarType::Password => Err(ConvertError::PasswordNeedsHash),
        ScalarType::Uid => Err(ConvertError::Incompatible { from, to }),
    }
}

/// Go's `strconv.ParseFloat(s, 64)` acceptance (decimal forms, `inf`, `infinity`; hex floats
/// and underscores are not accepted here), then Dgraph's refusal of NaN.
fn parse_go_float(s: &str) -> Result<f64, ConvertError> {
    let f: f64 = s.parse().map_err(|_| ConvertError::Invalid {
        value: s.to_owned(),
        to: ScalarType::Float,
        reason: "expected a decimal number",
    })?;
    if f.is_nan() {
        return Err(ConvertError::Invalid {
            value: s.to_owned(),
            to: ScalarType::Float,
            reason: "NaN cannot be stored",
        });
    }
    if f.is_infinite() {
        let word = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if word != "inf" && word != "infinity" {
            return Err(out_of_range(
                &format!("{s:?}"),
                ScalarType::Float,
                "out of float64 range",
            ));
        }
    }
    Ok(f)
}

fn float_to_int(f: f64) -> Result<Val, ConvertError> {
    // 2^63 is the first float past i64::MAX; Go's check lets it through and overflows.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    // NaN is outside every range.
    if !(-LIMIT..LIMIT).contains(&f) {
        return Err(out_of_range(
            &gofmt::format_float_g(f),
            ScalarType::Int,
            "out of int64 range",
        ));
    }
    Ok(Val::Int(f as i64))
}

fn float_to_datetime(f: f64) -> Result<Val, ConvertError> {
    let err = || out_of_range(&gofmt::format_float_g(f), ScalarType::DateTime, YEAR_RANGE);
    // Years 0..=9999 are well inside ±2^38 seconds, so anything bigger is out of range anyway.
    if !f.is_finite() || f.abs() >= 274_877_906_944.0 {
        return Err(err());
    }
    let secs = f.trunc() as i64;
    let nanos = ((f - f.trunc()) * 1e9) as i64;
    datetime_from_unix(secs, nanos).ok_or_else(err)
}

/// UTC datetime from Unix seconds plus a (possibly negative) nanosecond adjustment, limited
/// to years 0..=9999.
fn datetime_from_unix(secs: i64, nanos: i64) -> Option<Val> {
    let secs = secs.checked_add(nanos.div_euclid(1_000_000_000))?;
    let nanos = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
    let t = DateTime::<Utc>::from_timestamp(secs, nanos)?;
    let year = chrono::Datelike::year(&t);
    (0..=9999)
        .contains(&year)
        .then(|| Val::DateTime(t.fixed_offset()))
}

/// Accepts GeoJSON geometries as Dgraph does (single quotes may stand for double quotes) and
/// keeps them as compact JSON. Only the shape is checked: a `type` naming a geometry and its
/// `coordinates` (or `geometries` for a collection).
fn parse_geojson(s: &str) -> Result<String, ConvertError> {
    let invalid = |reason| ConvertError::Invalid {
        value: s.to_owned(),
        to: ScalarType::Geo,
        reason,
    };
    let v: serde_json::Value = serde_json::from_str(&s.replace('\'', "\""))
        .map_err(|_| invalid("expected a GeoJSON geometry object"))?;
    let obj = v
        .as_object()
        .ok_or(invalid("expected a GeoJSON geometry object"))?;
    let member = match obj.get("type").and_then(|t| t.as_str()) {
        Some(
            "Point" | "MultiPoint" | "LineString" | "MultiLineString" | "Polygon" | "MultiPolygon",
        ) => "coordinates",
        Some("GeometryCollection") => "geometries",
        _ => return Err(invalid("expected a GeoJSON geometry type")),
    };
    if !obj.get(member).is_some_and(serde_json::Value::is_array) {
        return Err(invalid("the geometry has no coordinates"));
    }
    Ok(v.to_string())
}

impl Ord for Val {
    /// A total order for sorting (`orderasc`): by type (in tag order), then by value. Strings
    /// compare as bytes, floats with IEEE total order (`-0.0 < 0.0`, NaN last), datetimes by
    /// instant and then by offset, `false < true`.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Val::Default(a), Val::Default(b))
            | (Val::String(a), Val::String(b))
            | (Val::Password(a), Val::Password(b))
            | (Val::Geo(a), Val::Geo(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Val::Int(a), Val::Int(b)) => a.cmp(b),
            (Val::Float(a), Val::Float(b)) => a.total_cmp(b),
            (Val::Bool(a), Val::Bool(b)) => a.cmp(b),
            (Val::Uid(a), Val::Uid(b)) => a.cmp(b),
            (Val::DateTime(a), Val::DateTime(b)) => a.cmp(b).then_with(|| {
                a.offset()
                    .local_minus_utc()
                    .cmp(&b.offset().local_minus_utc())
            }),
            _ => (self.ty() as u8).cmp(&(other.ty() as u8)),
        }
    }
}

impl PartialOrd for Val {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Val {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Val {}

/// A literal as the N-Quad and JSON mutation parsers see it, before the schema applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Literal<'a> {
    /// An RDF literal without a type (`"abc"`): Dgraph's `default`.
    Untyped(&'a str),
    /// A JSON string value: Dgraph's `string`.
    Str(&'a str),
    /// An RDF typed literal `"v"^^<iri>` whose IRI maps to `ty` (see
    /// [`ScalarType::from_rdf_type`]).
    Typed {
        /// The lexical form.
        value: &'a str,
        /// The type its IRI names.
        ty: ScalarType,
    },
    /// A JSON number that fits an `i64`.
    Int(i64),
    /// Any other JSON number.
    Float(f64),
    /// A JSON boolean.
    Bool(bool),
}

impl<'a> Literal<'a> {
    /// The literal for a scalar JSON value, as Dgraph's JSON mutation parser types them:
    /// integers that fit `i64` are ints, other numbers floats. `None` for null, arrays and
    /// objects, which are not scalar values.
    pub fn from_json(v: &'a serde_json::Value) -> Option<Literal<'a>> {
        match v {
            serde_json::Value::String(s) => Some(Literal::Str(s)),
            serde_json::Value::Bool(b) => Some(Literal::Bool(*b)),
            serde_json::Value::Number(n) => Some(match n.as_i64() {
                Some(i) => Literal::Int(i),
                None => Literal::Float(n.as_f64()?),
            }),
            _ => None,
        }
    }
}

/// A value that cannot be converted to the requested type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The text is not a valid lexical form of the type.
    #[error("cannot convert {value:?} to {to}: {reason}")]
    Invalid {
        /// The offending text.
        value: String,
        /// The target type.
        to: ScalarType,
        /// What was expected.
        reason: &'static str,
    },
    /// The value is valid but does not fit the type's range.
    #[error("cannot convert {value} to {to}: {reason}")]
    OutOfRange {
        /// The offending value as written.
        value: String,
        /// The target type.
        to: ScalarType,
        /// Which range it exceeds.
        reason: &'static str,
    },
    /// Dgraph has no conversion between the two types.
    #[error("cannot convert {from} to type {to}")]
    Incompatible {
        /// The value's type.
        from: ScalarType,
        /// The target type.
        to: ScalarType,
    },
    /// A plaintext was given for a `password` value.
    #[error("cannot convert a plaintext to password: hash it with password::hash first")]
    PasswordNeedsHash,
}

/// A value that cannot be written as JSON.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// NaN and infinities have no JSON form.
    #[error("cannot render float {0} as json: only finite numbers are representable")]
    NonFiniteFloat(f64),
    /// A stored geo value is not JSON (it was not produced by a conversion).
    #[error("cannot render geo value {0:?} as json: it is not valid GeoJSON")]
    Geo(String),
}

#[cfg(test)]
mod tests;
