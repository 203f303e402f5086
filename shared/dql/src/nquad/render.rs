//! RDF text for N-Quads: what [`super::parse_nquads`] reads back to an equal value.

use std::fmt::{self, Write};

use super::{Facet, FacetValue, NQuad, Object, Predicate, Subject, Value};

/// Appends `s` escaped for a double-quoted RDF or DQL literal.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `s` as a double-quoted, escaped literal.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    escape_into(&mut out, s);
    out.push('"');
    out
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Uid(u) => write!(f, "<{u:#x}>"),
            Subject::Blank(b) => write!(f, "_:{b}"),
            Subject::Var(v) => write!(f, "uid({v})"),
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::Named(n) => write!(f, "<{n}>"),
            Predicate::Star => f.write_str("*"),
        }
    }
}

/// The literal form: `"x"`, `"42"^^<xs:int>`, ...
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (text, ty) = match self {
            Value::Default(s) => (quote(s), None),
            Value::Str(s) => (quote(s), Some("xs:string")),
            Value::Int(i) => (format!("\"{i}\""), Some("xs:int")),
            Value::Float(x) => (format!("\"{x:?}\""), Some("xs:float")),
            Value::Bool(b) => (format!("\"{b}\""), Some("xs:boolean")),
            Value::DateTime(s) => (quote(s), Some("xs:dateTime")),
            Value::Password(s) => (quote(s), Some("xs:password")),
            Value::Geo(s) => (quote(s), Some("geo:geojson")),
        };
        f.write_str(&text)?;
        if let Some(ty) = ty {
            write!(f, "^^<{ty}>")?;
        }
        Ok(())
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Uid(u) => write!(f, "<{u:#x}>"),
            Object::Blank(b) => write!(f, "_:{b}"),
            Object::UidVar(v) => write!(f, "uid({v})"),
            Object::ValVar(v) => write!(f, "val({v})"),
            Object::Star => f.write_str("*"),
            Object::Value(v) => v.fmt(f),
        }
    }
}

/// The facet value as written inside `( )`: strings quoted, the rest bare. Floats always carry
/// a `.` or an exponent so that they read back as floats.
impl fmt::Display for FacetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FacetValue::Str(s) => f.write_str(&quote(s)),
            FacetValue::Int(i) => write!(f, "{i}"),
            FacetValue::Float(x) => write!(f, "{x:?}"),
            FacetValue::Bool(b) => write!(f, "{b}"),
            FacetValue::DateTime(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for Facet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// One line of RDF, ending in ` .` (no newline). A language tag is written on the literal; on a
/// typed value it is written on the predicate (`<name@en>`), the only place RDF allows it.
impl fmt::Display for NQuad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.subject)?;
        let literal_lang = matches!(self.object, Object::Value(Value::Default(_)));
        match (&self.predicate, &self.lang) {
            (Predicate::Named(n), Some(l)) if !literal_lang => write!(f, "<{n}@{l}>")?,
            (p, _) => write!(f, "{p}")?,
        }
        write!(f, " {}", self.object)?;
        if let (Some(l), true) = (&self.lang, literal_lang) {
            write!(f, "@{l}")?;
        }
        if !self.facets.is_empty() {
            f.write_str(" (")?;
            for (i, facet) in self.facets.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{facet}")?;
            }
            f.write_str(")")?;
        }
        f.write_str(" .")
    }
}

impl NQuad {
    /// Renders a list of N-Quads as RDF text, one per line, that parses back to the same list.
    pub fn to_rdf(nquads: &[NQuad]) -> String {
        let mut out = String::new();
        for nq in nquads {
            let _ = writeln!(out, "{nq}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_nquads;
    use super::*;

    fn nq(subject: Subject, p: &str, object: Object) -> NQuad {
        NQuad {
            subject,
            predicate: Predicate::Named(p.into()),
            object,
            lang: None,
            facets: Vec::new(),
        }
    }

    #[test]
    fn renders_every_object_kind() {
        let mut with_facets = nq(
            Subject::Blank("a".into()),
            "friend",
            Object::Blank("b".into()),
        );
        with_facets.facets = vec![
            Facet {
                key: "since".into(),
                value: FacetValue::DateTime("2006-01-02".into()),
            },
            Facet {
                key: "w".into(),
                value: FacetValue::Float(1.0),
            },
            Facet {
                key: "nick".into(),
                value: FacetValue::Str("a \"b\"".into()),
            },
        ];
        assert_eq!(
            with_facets.to_string(),
            r#"_:a <friend> _:b (since=2006-01-02, w=1.0, nick="a \"b\"") ."#
        );
        let mut lang = nq(
            Subject::Uid(26),
            "name",
            Object::Value(Value::Default("chat\n".into())),
        );
        lang.lang = Some("fr".into());
        assert_eq!(lang.to_string(), r#"<0x1a> <name> "chat\n"@fr ."#);
        let mut typed_lang = nq(
            Subject::Var("v".into()),
            "name",
            Object::Value(Value::Str("x".into())),
        );
        typed_lang.lang = Some("en".into());
        assert_eq!(
            typed_lang.to_string(),
            r#"uid(v) <name@en> "x"^^<xs:string> ."#
        );
        assert_eq!(
            nq(Subject::Uid(1), "age", Object::Value(Value::Int(-4))).to_string(),
            r#"<0x1> <age> "-4"^^<xs:int> ."#
        );
        assert_eq!(
            nq(Subject::Uid(1), "f", Object::Value(Value::Float(1e300))).to_string(),
            r#"<0x1> <f> "1e300"^^<xs:float> ."#
        );
        let star = NQuad {
            predicate: Predicate::Star,
            ..nq(Subject::Uid(1), "x", Object::Star)
        };
        assert_eq!(star.to_string(), "<0x1> * * .");
        assert_eq!(
            nq(Subject::Uid(1), "a", Object::ValVar("v".into())).to_string(),
            "<0x1> <a> val(v) ."
        );
        assert_eq!(quote("\u{1}"), "\"\\u0001\"");
    }

    #[test]
    fn to_rdf_reads_back() {
        let src = "_:a <name> \"A\"@en (k=1) .\n<0x2> <friend> uid(v) .\n<0x3> <ok> \"true\"^^<xs:boolean> .\n";
        let parsed = parse_nquads(src).unwrap();
        assert_eq!(NQuad::to_rdf(&parsed), src);
    }
}
