//! The `trigram` index: every 3-byte window of a string (as Dgraph: bytes, not characters, so
//! a multi-byte character spans windows; strings under 3 bytes have no trigram), and the
//! trigram query a regular expression's matches must satisfy.
//!
//! The query side walks the expression's syntax tree and keeps, for each part, either the
//! small set of exact strings it can match or a query over trigrams that any match satisfies.
//! A concatenation multiplies exact sets while they stay small, and turns them into a query
//! (any of the strings, each as all of its trigrams) when they grow; alternatives join with
//! `or`; optional parts and large classes (`.`, `\w`) constrain nothing. The result never
//! misses a matching string: a string that matches the expression satisfies the query.

use std::collections::BTreeSet;

use regex_syntax::hir::{Class, Hir, HirKind};

use super::IndexKind;

/// The most exact strings one part of an expression keeps before it becomes a query.
const MAX_EXACT: usize = 64;
/// The most characters a class may hold to count as a set of exact strings.
const MAX_CLASS: usize = 8;

/// The trigrams of `s` (3-byte windows, deduplicated), without the tokenizer byte.
pub fn trigrams(s: &[u8]) -> Vec<Vec<u8>> {
    let mut seen = BTreeSet::new();
    s.windows(3)
        .filter(|w| seen.insert(w.to_vec()))
        .map(<[u8]>::to_vec)
        .collect()
}

/// The `trigram` index tokens of `s`.
pub fn tokens(s: &str) -> Vec<Vec<u8>> {
    trigrams(s.as_bytes())
        .into_iter()
        .map(|t| super::prefixed(IndexKind::Trigram.id(), &t))
        .collect()
}

/// What the nodes holding a regular expression's matches must have in their trigram index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrigramQuery {
    /// No constraint: every string may match.
    All,
    /// This trigram (without the tokenizer byte).
    Trigram(Vec<u8>),
    /// Every part.
    And(Vec<TrigramQuery>),
    /// At least one part.
    Or(Vec<TrigramQuery>),
}

impl TrigramQuery {
    /// Whether a string with these trigrams satisfies the query.
    pub fn holds(&self, has: &dyn Fn(&[u8]) -> bool) -> bool {
        match self {
            TrigramQuery::All => true,
            TrigramQuery::Trigram(t) => has(t),
            TrigramQuery::And(parts) => parts.iter().all(|p| p.holds(has)),
            TrigramQuery::Or(parts) => parts.iter().any(|p| p.holds(has)),
        }
    }

    fn and(self, other: TrigramQuery) -> TrigramQuery {
        match (self, other) {
            (TrigramQuery::All, q) | (q, TrigramQuery::All) => q,
            (TrigramQuery::And(mut a), TrigramQuery::And(b)) => {
                a.extend(b);
                TrigramQuery::And(a)
            }
            (TrigramQuery::And(mut a), q) | (q, TrigramQuery::And(mut a)) => {
                a.push(q);
                TrigramQuery::And(a)
            }
            (a, b) => TrigramQuery::And(vec![a, b]),
        }
    }

    fn or(parts: Vec<TrigramQuery>) -> TrigramQuery {
        if parts.contains(&TrigramQuery::All) || parts.is_empty() {
            return TrigramQuery::All;
        }
        let mut flat = Vec::new();
        for p in parts {
            match p {
                TrigramQuery::Or(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            flat.pop().unwrap_or(TrigramQuery::All)
        } else {
            TrigramQuery::Or(flat)
        }
    }

    /// Any of `strings` occurs: each as all of its trigrams. A string under 3 bytes cannot be
    /// looked up, so it makes the whole query unconstrained.
    fn any_of(strings: &BTreeSet<Vec<u8>>) -> TrigramQuery {
        let mut parts = Vec::new();
        for s in strings {
            let grams = trigrams(s);
            if grams.is_empty() {
                return TrigramQuery::All;
            }
            parts.push(
                grams
                    .into_iter()
                    .map(TrigramQuery::Trigram)
                    .fold(TrigramQuery::All, TrigramQuery::and),
            );
        }
        TrigramQuery::or(parts)
    }
}

/// A regular expression refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegexError {
    /// It does not parse.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    Syntax {
        /// The expression.
        pattern: String,
        /// The parser's message.
        reason: String,
    },
    /// No trigram constrains its matches, so the index cannot narrow them (Dgraph's text).
    #[error("Regular expression is too wide-ranging and can't be executed efficiently.")]
    TooWide,
}

/// The trigram query every match of `pattern` satisfies (`ignore_case`: the `/i` flag).
pub fn regex_query(pattern: &str, ignore_case: bool) -> Result<TrigramQuery, RegexError> {
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .build()
        .parse(pattern)
        .map_err(|e| RegexError::Syntax {
            pattern: pattern.to_owned(),
            reason: e.to_string(),
        })?;
    match info(&hir).into_query() {
        TrigramQuery::All => Err(RegexError::TooWide),
        q => Ok(q),
    }
}

/// What one part of an expression tells: the exact strings it matches (when few), or a query
/// its matches satisfy.
enum Info {
    Exact(BTreeSet<Vec<u8>>),
    Query(TrigramQuery),
}

impl Info {
    fn into_query(self) -> TrigramQuery {
        match self {
            Info::Exact(set) => TrigramQuery::any_of(&set),
            Info::Query(q) => q,
        }
    }

    fn empty() -> Info {
        Info::Exact(BTreeSet::from([Vec::new()]))
    }
}

fn class_strings(class: &Class) -> Option<BTreeSet<Vec<u8>>> {
    let mut out = BTreeSet::new();
    match class {
        Class::Unicode(c) => {
            for r in c.ranges() {
                let (lo, hi) = (u32::from(r.start()), u32::from(r.end()));
                if (hi - lo) as usize >= MAX_CLASS || out.len() > MAX_CLASS {
                    return None;
                }
                for cp in lo..=hi {
                    let ch = char::from_u32(cp)?;
                    out.insert(ch.to_string().into_bytes());
                }
            }
        }
        Class::Bytes(c) => {
            for r in c.ranges() {
                if (r.end() - r.start()) as usize >= MAX_CLASS || out.len() > MAX_CLASS {
                    return None;
                }
                for b in r.start()..=r.end() {
                    out.insert(vec![b]);
                }
            }
        }
    }
    (out.len() <= MAX_CLASS).then_some(out)
}

fn info(hir: &Hir) -> Info {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Info::empty(),
        HirKind::Literal(lit) => Info::Exact(BTreeSet::from([lit.0.to_vec()])),
        HirKind::Class(class) => match class_strings(class) {
            Some(set) if !set.is_empty() => Info::Exact(set),
            _ => Info::Query(TrigramQuery::All),
        },
        HirKind::Capture(c) => info(&c.sub),
        HirKind::Repetition(rep) => {
            if rep.min == 0 {
                // `x?` is x or nothing; `x*` may be nothing.
                match (rep.max, info(&rep.sub)) {
                    (Some(1), Info::Exact(mut set)) if set.len() < MAX_EXACT => {
                        set.insert(Vec::new());
                        Info::Exact(set)
                    }
                    _ => Info::Query(TrigramQuery::All),
                }
            } else if rep.min == 1 && rep.max == Some(1) {
                info(&rep.sub)
            } else {
                // At least one copy occurs.
                Info::Query(info(&rep.sub).into_query())
            }
        }
        HirKind::Concat(parts) => {
            let mut query = TrigramQuery::All;
            let mut exact: Option<BTreeSet<Vec<u8>>> = Some(BTreeSet::from([Vec::new()]));
            for part in parts {
                match info(part) {
                    Info::Exact(set) => {
                        let current = exact.take().unwrap_or_else(|| BTreeSet::from([Vec::new()]));
                        if current.len() * set.len() > MAX_EXACT {
                            // Too many combinations: what was gathered must occur somewhere.
                            query = query.and(TrigramQuery::any_of(&current));
                            exact = Some(set);
                        } else {
                            let mut next = BTreeSet::new();
                            for a in &current {
                                for b in &set {
                                    let mut s = a.clone();
                                    s.extend_from_slice(b);
                                    next.insert(s);
                                }
                            }
                            exact = Some(next);
                        }
                    }
                    Info::Query(q) => {
                        if let Some(current) = exact.take() {
                            query = query.and(TrigramQuery::any_of(&current));
                        }
                        query = query.and(q);
                    }
                }
            }
            match (query, exact) {
                (TrigramQuery::All, Some(set)) => Info::Exact(set),
                (q, Some(set)) => Info::Query(q.and(TrigramQuery::any_of(&set))),
                (q, None) => Info::Query(q),
            }
        }
        HirKind::Alternation(alts) => {
            let infos: Vec<Info> = alts.iter().map(info).collect();
            let total: Option<usize> = infos
                .iter()
                .map(|i| match i {
                    Info::Exact(s) => Some(s.len()),
                    Info::Query(_) => None,
                })
                .sum();
            if total.is_some_and(|n| n <= MAX_EXACT) {
                let mut set = BTreeSet::new();
                for i in infos {
                    if let Info::Exact(s) = i {
                        set.extend(s);
                    }
                }
                Info::Exact(set)
            } else {
                Info::Query(TrigramQuery::or(
                    infos.into_iter().map(Info::into_query).collect(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> TrigramQuery {
        TrigramQuery::Trigram(s.as_bytes().to_vec())
    }

    #[test]
    fn trigrams_are_byte_windows() {
        assert_eq!(
            tokens("abcd"),
            vec![b"\x0Aabc".to_vec(), b"\x0Abcd".to_vec()]
        );
        assert_eq!(trigrams(b"aaaa"), vec![b"aaa".to_vec()]);
        assert!(tokens("ab").is_empty());
        // "é" is two bytes: "éa" is three.
        assert_eq!(trigrams("éa".as_bytes()).len(), 1);
    }

    #[test]
    fn literal_needs_all_its_trigrams() {
        assert_eq!(
            regex_query("abcd", false).unwrap(),
            TrigramQuery::And(vec![t("abc"), t("bcd")])
        );
        assert_eq!(
            regex_query("^.*(abc|xyz)", false).unwrap(),
            TrigramQuery::Or(vec![t("abc"), t("xyz")])
        );
    }

    #[test]
    fn too_wide_expressions_are_refused() {
        for re in ["a", "ab.*", ".*", "[a-z]+", "(abc)?"] {
            assert_eq!(regex_query(re, false), Err(RegexError::TooWide), "{re}");
        }
        assert_eq!(
            RegexError::TooWide.to_string(),
            "Regular expression is too wide-ranging and can't be executed efficiently."
        );
        assert!(matches!(
            regex_query("(abc", false),
            Err(RegexError::Syntax { .. })
        ));
    }

    #[test]
    fn ignore_case_asks_for_every_casing() {
        let q = regex_query("abc", true).unwrap();
        let has_only = |word: &'static [u8]| move |g: &[u8]| trigrams(word).iter().any(|w| w == g);
        assert!(q.holds(&has_only(b"xABc")));
        assert!(q.holds(&has_only(b"abc")));
        assert!(!q.holds(&has_only(b"abd")));
    }

    proptest! {
        #[test]
        fn no_false_negatives(
            re in prop::sample::select(vec![
                "abc", "ab+c", "a.c.e", "colou?r", "(foo|bar)baz", "x[yz]{2}w", "^ban(an)+a$",
                "[0-9]{3}-abc", "qu.ck", "hello\\s+world", "(?:ab|cd)(ef|gh)ij", "aé[bc]",
            ]),
            ignore_case: bool,
            text in "[a-zA-Z0-9é \\-]{0,24}",
            infix in prop::sample::select(vec![
                "abc", "abbc", "abcde", "color", "colour", "foobaz", "barbaz", "xyzw", "xzyw",
                "banana", "bananana", "123-abc", "quick", "hello  world", "abefij", "cdghij",
                "aéb", "ABC", "CoLoR", "BARBAZ", "",
            ]),
            at in 0usize..24,
        ) {
            // Mix the infix into random text so some strings match and some do not.
            let mut s: String = text.chars().take(at).collect();
            s.push_str(infix);
            s.extend(text.chars().skip(at));
            let Ok(query) = regex_query(re, ignore_case) else {
                return Ok(());
            };
            let matcher = regex::RegexBuilder::new(re).case_insensitive(ignore_case).build().unwrap();
            let grams = trigrams(s.as_bytes());
            if matcher.is_match(&s) {
                prop_assert!(query.holds(&|g: &[u8]| grams.iter().any(|x| x == g)),
                    "{re} matches {s:?} but its query {query:?} does not hold");
            }
        }
    }
}
