//! Word lists for backup series ids: `<adjective>_<surname><digit>`, the shape Dgraph gives its
//! `backup_id`s (e.g. `quirky_kapitsa4`). The lists are our own; any id of that shape works with
//! Dgraph's tools, which only compare ids for equality.

use rand::Rng;
use rand::seq::SliceRandom;

/// Adjectives for the first half of an id.
const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "curious", "daring",
    "eager", "early", "fancy", "fearless", "gentle", "glad", "golden", "happy", "humble", "jolly",
    "keen", "kind", "lively", "lucky", "mellow", "merry", "modest", "nimble", "noble", "patient",
    "polite", "proud", "quiet", "quirky", "rapid", "serene", "sharp", "shiny", "silent", "steady",
    "sunny", "swift", "tidy", "upbeat", "vivid", "warm", "wise", "witty", "zealous", "zesty",
];

/// Surnames of scientists and engineers for the second half of an id.
const SURNAMES: &[&str] = &[
    "agnesi",
    "babbage",
    "banach",
    "bohr",
    "boole",
    "cantor",
    "curie",
    "darwin",
    "dijkstra",
    "euler",
    "faraday",
    "fermat",
    "feynman",
    "franklin",
    "gauss",
    "germain",
    "godel",
    "hamilton",
    "hopper",
    "hubble",
    "hypatia",
    "kapitsa",
    "kepler",
    "knuth",
    "kovalevskaya",
    "lamarr",
    "laplace",
    "leavitt",
    "liskov",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "noether",
    "pascal",
    "pauli",
    "planck",
    "poincare",
    "ramanujan",
    "riemann",
    "shannon",
    "somerville",
    "tesla",
    "turing",
    "volta",
    "wiles",
    "wu",
    "yalow",
    "yonath",
    "zuse",
];

/// A fresh random series id such as `quirky_kapitsa4`.
pub fn new_backup_id() -> String {
    let mut rng = rand::thread_rng();
    let adjective = ADJECTIVES.choose(&mut rng).copied().unwrap_or("steady");
    let surname = SURNAMES.choose(&mut rng).copied().unwrap_or("noether");
    let digit: u8 = rng.gen_range(0..10);
    format!("{adjective}_{surname}{digit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_dgraph_shape() {
        for _ in 0..200 {
            let id = new_backup_id();
            let (adjective, rest) = id.split_once('_').expect("one underscore");
            assert!(ADJECTIVES.contains(&adjective), "{id}");
            let (surname, digit) = rest.split_at(rest.len() - 1);
            assert!(SURNAMES.contains(&surname), "{id}");
            assert!(digit.chars().all(|c| c.is_ascii_digit()), "{id}");
        }
    }

    #[test]
    fn word_lists_are_plain_lowercase() {
        for word in ADJECTIVES.iter().chain(SURNAMES) {
            assert!(word.chars().all(|c| c.is_ascii_lowercase()), "{word}");
        }
    }
}
