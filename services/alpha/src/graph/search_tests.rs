//! The search functions end to end on an in-memory store: `alloftext`/`anyoftext`, `regexp`,
//! `match`, `between`, the geo functions and `eq` with a language, at the root (through their
//! indexes) and in filters, with expectations taken from Dgraph's documented behaviour.

use super::engine_tests::{delete, graph, query, set};
use super::{Graph, GraphError};
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Applies schema text as an `Alter` does: changed indexes are rebuilt from the data.
async fn alter(g: &Graph, schema: &str) {
    g.alter_schema(schema).await.unwrap();
}

/// A graph with `schema` and the data of `rdf`.
async fn loaded(schema: &str, rdf: &str) -> Arc<Graph> {
    let g = graph().await;
    alter(&g, schema).await;
    set(&g, rdf).await;
    g
}

/// The error a query ends with.
async fn query_err(g: &Graph, q: &str) -> String {
    let ts = g.read_ts().await.unwrap();
    let parsed = lodestar_dql::parse_query(q, &HashMap::new()).unwrap();
    match g.run_query(&g.view(ts, None), &parsed) {
        Err(GraphError::Invalid(m)) => m,
        other => panic!("{q} should fail, got {other:?}"),
    }
}

/// Asserts that query `q` answers exactly these values of `field` (sorted) in block `q`.
async fn expect(g: &Graph, q: &str, field: &str, want: &[&str]) {
    assert_eq!(values(g, q, field).await, want, "{q}");
}

/// The sorted values of `field` in block `q` of the answer.
async fn values(g: &Graph, q: &str, field: &str) -> Vec<String> {
    let r = query(g, q).await;
    let mut out: Vec<String> = r["q"]
        .as_array()
        .unwrap_or_else(|| panic!("{q}: {r}"))
        .iter()
        .map(|o| match &o[field] {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    out.sort();
    out
}

const MOVIES: &str = r#"
    _:a <name> "Running Man"@en .
    _:a <name> "Die Menschenjagd"@de .
    _:b <name> "The Man Who Knew Too Much"@en .
    _:c <name> "He Runs the Hills"@en .
    _:d <name> "Die Häuser am See"@de .
    _:e <name> "Blade Runner" .
"#;

#[tokio::test(flavor = "multi_thread")]
async fn fulltext_stems_drops_stop_words_and_follows_the_language() {
    let g = loaded("name: string @index(term, fulltext) @lang .", MOVIES).await;
    // "running" and "runs" share the stem of "run"; "the" is a stop word.
    expect(
        &g,
        r#"{ q(func: anyoftext(name@en, "the run")) { name@en } }"#,
        "name@en",
        &["He Runs the Hills", "Running Man"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: alloftext(name@en, "man runs")) { name@en } }"#,
        "name@en",
        &["Running Man"],
    )
    .await;
    // allofterms does not stem.
    let r = query(
        &g,
        r#"{ q(func: allofterms(name@en, "man runs")) { uid } }"#,
    )
    .await;
    assert_eq!(r, json!({"q": []}));
    // German rules for German text: "Haus" finds "Häuser", only in German.
    expect(
        &g,
        r#"{ q(func: alloftext(name@de, "Haus")) { name@de } }"#,
        "name@de",
        &["Die Häuser am See"],
    )
    .await;
    let r = query(&g, r#"{ q(func: alloftext(name@en, "Haus")) { uid } }"#).await;
    assert_eq!(r, json!({"q": []}));
    // Without a language the text is English and only untagged values count (Dgraph checks
    // the untagged value of an @lang predicate, whatever its docs say of all languages).
    expect(
        &g,
        r#"{ q(func: anyoftext(name, "runner")) { name } }"#,
        "name",
        &["Blade Runner"],
    )
    .await;
    let r = query(
        &g,
        r#"{ q(func: anyoftext(name, "menschenjagd man")) { uid } }"#,
    )
    .await;
    assert_eq!(r, json!({"q": []}));
    // In a filter the values are checked directly.
    expect(
        &g,
        r#"{ q(func: has(name)) @filter(alloftext(name@en, "man knew")) { name@en } }"#,
        "name@en",
        &["The Man Who Knew Too Much"],
    )
    .await;
    // Chinese is cut into character pairs: a two-character word finds the longer name.
    set(&g, r#"_:z <name> "北京大学"@zh . _:y <name> "大阪"@zh ."#).await;
    expect(
        &g,
        r#"{ q(func: anyoftext(name@zh, "大学 东京")) { name@zh } }"#,
        "name@zh",
        &["北京大学"],
    )
    .await;
    // A text of stop words only matches nothing.
    let r = query(&g, r#"{ q(func: anyoftext(name@en, "the who")) { uid } }"#).await;
    assert_eq!(r, json!({"q": []}));
}

#[tokio::test(flavor = "multi_thread")]
async fn search_functions_at_the_root_need_their_index() {
    let g = graph().await;
    alter(&g, "name: string @index(term) .\nloc: geo .\nage: int .").await;
    set(&g, r#"_:a <name> "Steven" ."#).await;
    assert_eq!(
        query_err(&g, r#"{ q(func: alloftext(name, "x")) { uid } }"#).await,
        "Attribute name is not indexed with type fulltext"
    );
    assert_eq!(
        query_err(&g, r#"{ q(func: regexp(name, /Ste/)) { uid } }"#).await,
        "Attribute name does not have trigram index for regex matching. Please add a trigram index or use has/uid function with regexp() as filter."
    );
    assert_eq!(
        query_err(&g, r#"{ q(func: match(name, "Steve", 2)) { uid } }"#).await,
        "Attribute name does not have trigram index for fuzzy matching. Please add a trigram index or use has/uid function with match() as filter."
    );
    assert_eq!(
        query_err(&g, r#"{ q(func: near(loc, [0, 0], 10)) { uid } }"#).await,
        "Attribute loc is not indexed with type geo"
    );
    assert!(
        query_err(&g, r#"{ q(func: between(age, 1, 2)) { uid } }"#)
            .await
            .contains("not indexed")
    );
    set(&g, r#"_:n <age> "7" ."#).await;
    assert_eq!(
        query_err(
            &g,
            r#"{ q(func: has(age)) @filter(regexp(age, /7/)) { uid } }"#
        )
        .await,
        "Got non-string type. Regex match is allowed only on string type."
    );
    assert_eq!(
        query_err(
            &g,
            r#"{ q(func: has(age)) @filter(match(age, "7", 1)) { uid } }"#
        )
        .await,
        "Got non-string type. Fuzzy match is allowed only on string type."
    );
    // Filters need no index.
    expect(&g, r#"{ q(func: has(name)) @filter(regexp(name, /^Ste/) and match(name, "Stephen", 2)) { name } }"#, "name", &["Steven"]).await;
}

const PEOPLE: &str = r#"
    _:a <name> "Steven Spielberg"@en .
    _:a <name> "Steven Spielberg" .
    _:b <name> "Steven Soderbergh"@en .
    _:b <name> "Steven Soderbergh" .
    _:c <name> "Steve Spurrier"@en .
    _:c <name> "Steve Spurrier" .
    _:d <name> "Stephen Fry"@en .
    _:d <name> "Stephen Fry" .
    _:e <name> "Stephan"@en .
    _:e <name> "Stephan" .
    _:f <name> "Stefan Zweig"@en .
    _:f <name> "Stefan Zweig" .
"#;

#[tokio::test(flavor = "multi_thread")]
async fn regexp_uses_trigrams_then_the_expression() {
    let g = loaded("name: string @index(trigram) @lang .", PEOPLE).await;
    expect(
        &g,
        r#"{ q(func: regexp(name@en, /^Steven Sp.*$/)) { name@en } }"#,
        "name@en",
        &["Steven Spielberg"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: regexp(name, /steven/i)) { name } }"#,
        "name",
        &["Steven Soderbergh", "Steven Spielberg"],
    )
    .await;
    // A long literal under /i asks for every casing of its trigrams.
    expect(
        &g,
        r#"{ q(func: regexp(name, /^STEVEN SPIELBERG$/i)) { name } }"#,
        "name",
        &["Steven Spielberg"],
    )
    .await;
    // Case matters without the flag.
    let r = query(&g, r#"{ q(func: regexp(name, /steven/)) { uid } }"#).await;
    assert_eq!(r, json!({"q": []}));
    expect(
        &g,
        r#"{ q(func: regexp(name, /(berg|weig)$/)) { name } }"#,
        "name",
        &["Stefan Zweig", "Steven Spielberg"],
    )
    .await;
    assert_eq!(
        query_err(&g, r#"{ q(func: regexp(name, /^S.*$/)) { uid } }"#).await,
        "Regular expression is too wide-ranging and can't be executed efficiently."
    );
    assert!(
        query_err(&g, r#"{ q(func: regexp(name, /Ste(ven/)) { uid } }"#)
            .await
            .starts_with("invalid regular expression /Ste(ven/")
    );
    // In a filter, wide expressions are fine: the candidates are already known.
    expect(
        &g,
        r#"{ q(func: regexp(name, /^Steve /)) @filter(regexp(name, /r$/)) { name } }"#,
        "name",
        &["Steve Spurrier"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn match_is_levenshtein_within_the_distance() {
    let g = loaded("name: string @index(trigram) @lang .", PEOPLE).await;
    // Stephen: 0, Stephan: 1; Steven, Stefan (without Zweig) would be 2 and 3 but the whole
    // values are compared.
    expect(
        &g,
        r#"{ q(func: match(name, "Stephen", 2)) { name } }"#,
        "name",
        &["Stephan"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: match(name, "Stephen Fry", 0)) { name } }"#,
        "name",
        &["Stephen Fry"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: match(name@en, "Steven Spielburg", 3)) { name@en } }"#,
        "name@en",
        &["Steven Spielberg"],
    )
    .await;
    // An empty value is never close to anything.
    set(&g, r#"_:x <name> "" . _:x <born> "1" ."#).await;
    let r = query(
        &g,
        r#"{ q(func: has(born)) @filter(match(name, "a", 1)) { uid } }"#,
    )
    .await;
    assert_eq!(r, json!({"q": []}));
    expect(
        &g,
        r#"{ q(func: has(born)) @filter(match(name, "", 0)) { name } }"#,
        "name",
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn between_is_inclusive_at_the_root_and_in_filters() {
    let g = graph().await;
    alter(
        &g,
        "age: int @index(int) .\ndob: datetime @index(year) .\nname: string .",
    )
    .await;
    set(
        &g,
        r#"_:a <name> "a" .  _:a <age> "19" . _:a <dob> "1979-12-31" .
           _:b <name> "b" .  _:b <age> "20" . _:b <dob> "1980-01-01" .
           _:c <name> "c" .  _:c <age> "25" . _:c <dob> "1985-06-15" .
           _:d <name> "d" .  _:d <age> "30" . _:d <dob> "1990-12-31" .
           _:e <name> "e" .  _:e <age> "31" . _:e <dob> "1991-01-01" ."#,
    )
    .await;
    expect(
        &g,
        r#"{ q(func: between(age, 20, 30)) { name } }"#,
        "name",
        &["b", "c", "d"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: between(dob, "1980-01-01", "1990-12-31")) { name } }"#,
        "name",
        &["b", "c", "d"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: has(name)) @filter(between(age, 25, 31)) { name } }"#,
        "name",
        &["c", "d", "e"],
    )
    .await;
}

/// Points and an area around San Francisco's Golden Gate Park.
const PLACES: &str = r#"
    _:stow <name> "Stow Lake" .
    _:stow <loc> "{\"type\":\"Point\",\"coordinates\":[-122.4753,37.7693]}"^^<geo:geojson> .
    _:ferry <name> "Ferry Building" .
    _:ferry <loc> "{\"type\":\"Point\",\"coordinates\":[-122.3937,37.7955]}"^^<geo:geojson> .
    _:park <name> "Golden Gate Park" .
    _:park <loc> "{\"type\":\"Polygon\",\"coordinates\":[[[-122.511,37.764],[-122.453,37.766],[-122.454,37.774],[-122.510,37.771],[-122.511,37.764]]]}"^^<geo:geojson> .
"#;

#[tokio::test(flavor = "multi_thread")]
async fn geo_functions_find_candidates_by_cells_then_check_exactly() {
    let g = loaded("name: string .\nloc: geo @index(geo) .", PLACES).await;
    // Stow Lake is about 560 m away and inside the park; the Ferry Building is 7 km away.
    expect(
        &g,
        r#"{ q(func: near(loc, [-122.469829, 37.771935], 1000)) { name } }"#,
        "name",
        &["Golden Gate Park", "Stow Lake"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: near(loc, [-122.469829, 37.771935], 10000)) { name } }"#,
        "name",
        &["Ferry Building", "Golden Gate Park", "Stow Lake"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: near(loc, [-122.3937, 37.7955], 100)) { name } }"#,
        "name",
        &["Ferry Building"],
    )
    .await;
    let around_park = "[[[-122.52, 37.76], [-122.44, 37.76], [-122.44, 37.78], [-122.52, 37.78], [-122.52, 37.76]]]";
    expect(
        &g,
        &format!("{{ q(func: within(loc, {around_park})) {{ name }} }}"),
        "name",
        &["Golden Gate Park", "Stow Lake"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: contains(loc, [-122.4753, 37.7693])) { name } }"#,
        "name",
        &["Golden Gate Park"],
    )
    .await;
    let east_end = "[[[-122.46, 37.76], [-122.39, 37.76], [-122.39, 37.80], [-122.46, 37.80], [-122.46, 37.76]]]";
    expect(
        &g,
        &format!("{{ q(func: intersects(loc, {east_end})) {{ name }} }}"),
        "name",
        &["Ferry Building", "Golden Gate Park"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: has(name)) @filter(near(loc, [-122.3937, 37.7955], 50)) { name } }"#,
        "name",
        &["Ferry Building"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn eq_and_ranges_at_the_root_follow_the_language() {
    let g = graph().await;
    alter(&g, "name: string @index(exact) @lang .").await;
    set(
        &g,
        r#"_:a <name> "Dog"@en . _:a <name> "Hund"@de .
           _:b <name> "Hund"@en . _:b <name> "Chien"@fr .
           _:c <name> "Hund" ."#,
    )
    .await;
    expect(
        &g,
        r#"{ q(func: eq(name@de, "Hund")) { name@en } }"#,
        "name@en",
        &["Dog"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: eq(name@en, "Hund")) { name@fr } }"#,
        "name@fr",
        &["Chien"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: eq(name, "Hund")) { name } }"#,
        "name",
        &["Hund"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: ge(name@en, "E")) { name@en } }"#,
        "name@en",
        &["Hund"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn indexes_added_later_cover_existing_data_and_follow_mutations() {
    let g = graph().await;
    alter(&g, "name: string @lang .\nloc: geo .").await;
    let uids = set(&g, &format!("{MOVIES}\n{PLACES}")).await;
    alter(
        &g,
        "name: string @index(term, fulltext, trigram) @lang .\nloc: geo @index(geo) .",
    )
    .await;
    // Reindexed: existing values are found, with their languages.
    expect(
        &g,
        r#"{ q(func: alloftext(name@de, "Haus")) { name@de } }"#,
        "name@de",
        &["Die Häuser am See"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: regexp(name, /Lake|Ferry/)) { name } }"#,
        "name",
        &["Ferry Building", "Stow Lake"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: near(loc, [-122.4753, 37.7693], 10)) { name } }"#,
        "name",
        &["Golden Gate Park", "Stow Lake"],
    )
    .await;
    // A changed value leaves the old words, trigrams and cells behind.
    set(
        &g,
        &format!(
            r#"<{:#x}> <name> "Walking Man"@en .
               <{:#x}> <loc> "{{\"type\":\"Point\",\"coordinates\":[2.2945,48.8584]}}"^^<geo:geojson> ."#,
            uids["a"], uids["stow"]
        ),
    )
    .await;
    expect(
        &g,
        r#"{ q(func: anyoftext(name@en, "walk")) { name@en } }"#,
        "name@en",
        &["Walking Man"],
    )
    .await;
    let r = query(
        &g,
        r#"{ q(func: alloftext(name@en, "running")) { name@en } }"#,
    )
    .await;
    assert_eq!(r, json!({"q": [{"name@en": "He Runs the Hills"}]}));
    expect(
        &g,
        r#"{ q(func: near(loc, [-122.4753, 37.7693], 10)) { name } }"#,
        "name",
        &["Golden Gate Park"],
    )
    .await;
    expect(
        &g,
        r#"{ q(func: near(loc, [2.2945, 48.8584], 10)) { name } }"#,
        "name",
        &["Stow Lake"],
    )
    .await;
    // A deleted value leaves the index.
    delete(&g, &format!(r#"<{:#x}> <name> * ."#, uids["ferry"])).await;
    expect(
        &g,
        r#"{ q(func: regexp(name, /Lake|Ferry/)) { name } }"#,
        "name",
        &["Stow Lake"],
    )
    .await;
    // A value in one language leaves the index alone; then every value of a node.
    expect(
        &g,
        r#"{ q(func: anyoftext(name@de, "Menschenjagd")) { name@en } }"#,
        "name@en",
        &["Walking Man"],
    )
    .await;
    delete(
        &g,
        &format!(r#"<{:#x}> <name> "Die Menschenjagd"@de ."#, uids["a"]),
    )
    .await;
    let r = query(
        &g,
        r#"{ q(func: anyoftext(name@de, "Menschenjagd")) { uid } }"#,
    )
    .await;
    assert_eq!(r, json!({"q": []}));
    delete(&g, &format!(r#"<{:#x}> <name> * ."#, uids["d"])).await;
    let r = query(&g, r#"{ q(func: alloftext(name@de, "Haus")) { uid } }"#).await;
    assert_eq!(r, json!({"q": []}));
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_two_values_share_survive_deleting_one() {
    let g = loaded(
        "name: string @index(trigram, fulltext) @lang .\ntags: [string] @index(trigram) .",
        r#"_:a <name> "Stephen Runs"@en . _:a <name> "Stephan Runs"@de .
           _:a <tags> "apple" . _:a <tags> "apples" ."#,
    )
    .await;
    let a = query(&g, r#"{ q(func: regexp(tags, /apple/)) { uid } }"#).await["q"][0]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    // The list members share "app", "ppl", "ple"; the names share "Ste", "tep", "eph" and
    // the word "runs".
    delete(&g, &format!(r#"<{a}> <tags> "apples" ."#)).await;
    delete(&g, &format!(r#"<{a}> <name> "Stephan Runs"@de ."#)).await;
    for q in [
        r#"{ q(func: regexp(tags, /^apple$/)) { uid } }"#,
        r#"{ q(func: regexp(name@en, /Steph/)) { uid } }"#,
        r#"{ q(func: match(name@en, "Stephen Run", 1)) { uid } }"#,
    ] {
        assert_eq!(query(&g, q).await, json!({"q": [{"uid": a}]}), "{q}");
    }
    // What only the deleted values had is gone.
    let r = query(&g, r#"{ q(func: regexp(tags, /les/)) { uid } }"#).await;
    assert_eq!(r, json!({"q": []}));
    // Replacing a value keeps what its siblings still need.
    set(&g, &format!(r#"<{a}> <name> "Stepan Walks"@de ."#)).await;
    set(&g, &format!(r#"<{a}> <name> "Stefan Walks"@de ."#)).await;
    let r = query(&g, r#"{ q(func: regexp(name@en, /Stephen/)) { uid } }"#).await;
    assert_eq!(r, json!({"q": [{"uid": a}]}));
    let r = query(&g, r#"{ q(func: regexp(name@de, /Stepan/)) { uid } }"#).await;
    assert_eq!(r, json!({"q": []}));
}
