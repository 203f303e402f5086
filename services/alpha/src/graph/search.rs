//! The search functions of DQL: `alloftext`/`anyoftext` (fulltext index), `regexp` and
//! `match` (trigram index), `between` (a sortable index), and `near`, `within`, `contains`,
//! `intersects` (geo index); plus `eq` with a language at the root.
//!
//! At the root each function takes candidates from its index (refusing, with Dgraph's words,
//! a predicate without it) and then checks every candidate's values, since these indexes are
//! lossy; in `@filter` it only checks the values and needs no index (Dgraph wants one there
//! too for all but `regexp`; accepting more refuses none of its applications).
//! A child module of `query`, so it works on the engine's `Exec` directly.

use std::collections::BTreeSet;

use lodestar_dql::query::ast::{CompareOp, Func, FuncValue, GeoOp, GeoShape};
use lodestar_types::tokenizer::geo::{self as geotok, GeoQuery};
use lodestar_types::tokenizer::trigram::{self, TrigramQuery};
use lodestar_types::tokenizer::{self, IndexKind, fulltext};
use lodestar_types::value::{ScalarType, Val};

use super::{Exec, GraphError, lang_list, not_indexed};
use crate::graph::stream::{Postings, Stream};
use lodestar_storage::keys;

/// A search function made ready to check values.
enum Check {
    Text { all: bool, words: BTreeSet<String> },
    Regexp(regex::Regex),
    Match { text: String, distance: usize },
    Geo(GeoQuery),
}

impl<'v> Exec<'_, 'v> {
    /// A search function at the root: candidates from its index, then checked.
    pub(super) fn search_root(&self, func: &Func) -> Result<Vec<u64>, GraphError> {
        match func {
            Func::Text {
                all,
                predicate,
                lang,
                text,
            } => {
                self.require_index(predicate, IndexKind::Fulltext, missing_index)?;
                let lists = tokenizer::tokens_for_text(text, lang.as_deref())
                    .iter()
                    .map(|t| self.token_list(predicate, t))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut candidates = if *all {
                    Stream::All(lists)
                } else {
                    Stream::Any(lists)
                };
                candidates.plan(true)?;
                self.check_each(func, candidates.uids())
            }
            Func::Regexp {
                predicate,
                pattern,
                ignore_case,
                ..
            } => {
                self.require_index(predicate, IndexKind::Trigram, |p, _| {
                    GraphError::Invalid(format!(
                        "Attribute {p} does not have trigram index for regex matching. Please add a trigram index or use has/uid function with regexp() as filter."
                    ))
                })?;
                // Refuse a bad expression before looking anything up.
                compile_regex(pattern, *ignore_case)?;
                let query = trigram::regex_query(pattern, *ignore_case)
                    .map_err(|e| GraphError::Invalid(e.to_string()))?;
                let mut candidates = self.trigram_stream(predicate, &query)?;
                candidates.plan(true)?;
                self.check_each(func, candidates.uids())
            }
            Func::Match {
                predicate, text, ..
            } => {
                self.require_index(predicate, IndexKind::Trigram, |p, _| {
                    GraphError::Invalid(format!(
                        "Attribute {p} does not have trigram index for fuzzy matching. Please add a trigram index or use has/uid function with match() as filter."
                    ))
                })?;
                // Any value sharing a trigram with the text, as Dgraph looks them up.
                let lists = trigram::tokens(text)
                    .iter()
                    .map(|t| self.token_list(predicate, t))
                    .collect::<Result<Vec<_>, _>>()?;
                self.check_each(func, Stream::Any(lists).uids())
            }
            Func::Between { predicate, .. } => {
                let schema = self
                    .schema(predicate)
                    .ok_or_else(|| not_indexed(predicate))?;
                let kind = schema
                    .indexes
                    .iter()
                    .copied()
                    .find(|k| k.is_sortable())
                    .ok_or_else(|| not_indexed(predicate))?;
                let candidates = self.index_subjects(predicate, kind)?;
                self.search_filter(func, candidates)
            }
            Func::Geo { predicate, .. } => {
                self.require_index(predicate, IndexKind::Geo, missing_index)?;
                let Check::Geo(query) = self.check_for(func)? else {
                    return Ok(Vec::new());
                };
                let lists = query
                    .tokens()
                    .iter()
                    .map(|t| self.token_list(predicate, t))
                    .collect::<Result<Vec<_>, _>>()?;
                self.check_each(func, Stream::Any(lists).uids())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The candidates whose values satisfy a search function (in `@filter`, and to confirm
    /// index hits at the root).
    pub(super) fn search_filter(
        &self,
        func: &Func,
        candidates: Vec<u64>,
    ) -> Result<Vec<u64>, GraphError> {
        if let Func::Between {
            predicate,
            lang,
            low,
            high,
        } = func
        {
            let Some(schema) = self.schema(predicate) else {
                return Ok(Vec::new());
            };
            let low = self.func_values(&schema, &[FuncValue::Literal(low.clone())])?;
            let high = self.func_values(&schema, &[FuncValue::Literal(high.clone())])?;
            let above =
                self.compare_values(predicate, CompareOp::Ge, &low, lang.as_deref(), candidates)?;
            return self.compare_values(predicate, CompareOp::Le, &high, lang.as_deref(), above);
        }
        self.check_each(func, candidates.into_iter().map(Ok))
    }

    /// The candidates (in uid order) whose values satisfy a search function other than
    /// `between`; at the root, only as many as the block can show.
    fn check_each(
        &self,
        func: &Func,
        candidates: impl Iterator<Item = Result<u64, GraphError>>,
    ) -> Result<Vec<u64>, GraphError> {
        let (predicate, lang) = match func {
            Func::Text {
                predicate, lang, ..
            }
            | Func::Regexp {
                predicate, lang, ..
            }
            | Func::Match {
                predicate, lang, ..
            } => (predicate, lang.as_deref()),
            Func::Geo { predicate, .. } => (predicate, None),
            _ => return Ok(Vec::new()),
        };
        let kind = match func {
            Func::Regexp { .. } => Some("Regex"),
            Func::Match { .. } => Some("Fuzzy"),
            _ => None,
        };
        if let (Some(kind), Some(schema)) = (kind, self.schema(predicate))
            && !matches!(schema.value_type, ScalarType::String | ScalarType::Default)
        {
            return Err(GraphError::Invalid(format!(
                "Got non-string type. {kind} match is allowed only on string type."
            )));
        }
        let check = self.check_for(func)?;
        let mut out = Vec::new();
        for u in candidates {
            let u = u?;
            // At the root, candidates come in uid order: the block shows the first matches.
            if self.root_limit.is_some_and(|n| out.len() >= n) {
                break;
            }
            let mut hit = false;
            for (value_lang, posting) in self.values(predicate, u, &lang_list(lang))? {
                if let Some(v) = &posting.value
                    && check.holds(v, value_lang.as_deref().or(lang))
                {
                    hit = true;
                    break;
                }
            }
            if hit {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// `eq(pred@lang, ...)` at the root: the index's candidates whose value in that language
    /// is one of the values.
    pub(super) fn eq_in_lang(
        &self,
        name: &str,
        vals: &[Val],
        lang: &str,
    ) -> Result<Vec<u64>, GraphError> {
        let candidates = self.eq_index(name, vals, true)?;
        self.compare_values(name, CompareOp::Eq, vals, Some(lang), candidates)
    }

    fn check_for(&self, func: &Func) -> Result<Check, GraphError> {
        Ok(match func {
            Func::Text {
                all, lang, text, ..
            } => Check::Text {
                all: *all,
                words: fulltext::words(text, lang.as_deref()).into_iter().collect(),
            },
            Func::Regexp {
                pattern,
                ignore_case,
                ..
            } => Check::Regexp(compile_regex(pattern, *ignore_case)?),
            Func::Match { text, distance, .. } => Check::Match {
                text: text.clone(),
                distance: *distance as usize,
            },
            Func::Geo {
                op,
                shape,
                distance,
                ..
            } => Check::Geo(geo_query(*op, shape, *distance)?),
            other => {
                return Err(GraphError::Internal(format!(
                    "{other} is not a search function"
                )));
            }
        })
    }

    fn require_index(
        &self,
        predicate: &str,
        kind: IndexKind,
        missing: fn(&str, IndexKind) -> GraphError,
    ) -> Result<(), GraphError> {
        match self.schema(predicate) {
            Some(s) if s.indexes.contains(&kind) => Ok(()),
            _ => Err(missing(predicate, kind)),
        }
    }

    /// The posting list of `token` in `predicate`'s index.
    fn token_list(&self, predicate: &str, token: &[u8]) -> Result<Stream<'v>, GraphError> {
        Ok(match self.pred_id(predicate) {
            Some(pred) => Stream::List(Postings::new(self.view, keys::index_prefix(pred, token))?),
            None => Stream::Any(Vec::new()),
        })
    }

    /// The nodes whose trigram entries satisfy `query`, as a stream.
    fn trigram_stream(
        &self,
        predicate: &str,
        query: &TrigramQuery,
    ) -> Result<Stream<'v>, GraphError> {
        Ok(match query {
            TrigramQuery::All => {
                return Err(GraphError::Invalid(
                    trigram::RegexError::TooWide.to_string(),
                ));
            }
            TrigramQuery::Trigram(t) => {
                let mut token = vec![IndexKind::Trigram.id()];
                token.extend_from_slice(t);
                self.token_list(predicate, &token)?
            }
            TrigramQuery::And(parts) => Stream::All(
                parts
                    .iter()
                    .map(|p| self.trigram_stream(predicate, p))
                    .collect::<Result<_, _>>()?,
            ),
            TrigramQuery::Or(parts) => Stream::Any(
                parts
                    .iter()
                    .map(|p| self.trigram_stream(predicate, p))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

impl Check {
    /// Whether value `v` (in language `lang`) satisfies the function.
    fn holds(&self, v: &Val, lang: Option<&str>) -> bool {
        match (self, v) {
            (Check::Text { all, words }, Val::String(s) | Val::Default(s)) => {
                if words.is_empty() {
                    return false;
                }
                let have: BTreeSet<String> = fulltext::words(s, lang).into_iter().collect();
                if *all {
                    words.iter().all(|w| have.contains(w))
                } else {
                    words.iter().any(|w| have.contains(w))
                }
            }
            (Check::Regexp(re), Val::String(s) | Val::Default(s)) => re.is_match(s),
            // Levenshtein over characters; an empty value never matches, as in Dgraph.
            (Check::Match { text, distance }, Val::String(s) | Val::Default(s)) => {
                !s.is_empty() && strsim::levenshtein(s, text) <= *distance
            }
            (Check::Geo(q), Val::Geo(text)) => {
                geotok::parse_geojson(text).is_ok_and(|g| q.matches(&g))
            }
            _ => false,
        }
    }
}

fn missing_index(predicate: &str, kind: IndexKind) -> GraphError {
    GraphError::Invalid(format!(
        "Attribute {predicate} is not indexed with type {kind}"
    ))
}

fn compile_regex(pattern: &str, ignore_case: bool) -> Result<regex::Regex, GraphError> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(ignore_case)
        .build()
        .map_err(|e| GraphError::Invalid(format!("invalid regular expression /{pattern}/: {e}")))
}

fn geo_query(op: GeoOp, shape: &GeoShape, distance: Option<f64>) -> Result<GeoQuery, GraphError> {
    use geo::{Coord, Geometry, LineString, MultiPolygon, Point, Polygon};
    let polygon = |rings: &Vec<Vec<[f64; 2]>>| {
        let mut rings = rings.iter().map(|r| {
            LineString::from(
                r.iter()
                    .map(|[x, y]| Coord { x: *x, y: *y })
                    .collect::<Vec<_>>(),
            )
        });
        let exterior = rings.next().unwrap_or_else(|| LineString::new(Vec::new()));
        Polygon::new(exterior, rings.collect())
    };
    let area = || match shape {
        GeoShape::Polygon(rings) => Ok(MultiPolygon(vec![polygon(rings)])),
        GeoShape::MultiPolygon(polys) => Ok(MultiPolygon(polys.iter().map(polygon).collect())),
        GeoShape::Point(_) => Err(GraphError::Invalid(format!(
            "{} needs a polygon or a multipolygon",
            op.name()
        ))),
    };
    Ok(match op {
        GeoOp::Near => {
            let GeoShape::Point([x, y]) = shape else {
                return Err(GraphError::Invalid("near needs a point [long, lat]".into()));
            };
            GeoQuery::Near {
                center: Point::new(*x, *y),
                metres: distance.unwrap_or(0.0),
            }
        }
        GeoOp::Within => GeoQuery::Within(area()?),
        GeoOp::Intersects => GeoQuery::Intersects(area()?),
        GeoOp::Contains => GeoQuery::Contains(match shape {
            GeoShape::Point([x, y]) => Geometry::Point(Point::new(*x, *y)),
            GeoShape::Polygon(rings) => Geometry::Polygon(polygon(rings)),
            GeoShape::MultiPolygon(polys) => {
                Geometry::MultiPolygon(MultiPolygon(polys.iter().map(polygon).collect()))
            }
        }),
    })
}
