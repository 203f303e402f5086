//! The `fulltext` analysis: the words of a text as `alloftext`/`anyoftext` compare them, in
//! the text's language.
//!
//! Both sides (a stored value and a query's text) go through the same steps, as in Dgraph:
//! Unicode words (UAX #29), lowercased, normalized to NFKC (accents are kept: `café` and
//! `cafe` are different words), stop words of the language dropped, the rest stemmed with the
//! language's Snowball stemmer, duplicates removed.
//!
//! The language is the base of the value's tag (`de-AT` → `de`); no tag, or one that is not a
//! language code, means English, as in Dgraph. A language without a stemmer keeps its words
//! unstemmed, one without a stop-word list keeps every word. Stemmers: `ar da de en es fi fr hu
//! it nl no pt ro ru sv tr` (Snowball; Dgraph uses Porter for English and "light" stemmers for
//! `de es fr it pt`, so a few words stem differently). Stop words (NLTK's lists, which are
//! Snowball's): `ar ca da de el en es eu fi fr hu id it nl no pt ro ru sv tr`. Chinese,
//! Japanese and Korean (`zh ja ko`) text is cut into overlapping pairs of characters, as
//! Dgraph does: each run of consecutive CJK characters gives its bigrams (a lone character
//! stays itself). Dgraph also stems `hi` and `ckb` and removes stop words of
//! `bg cs fa ga gl hi hy ckb`; here those languages keep every word as it is.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// The languages whose stop words are removed (those Dgraph removes that have a list here).
const STOP_WORD_LANGS: [&str; 20] = [
    "ar", "ca", "da", "de", "el", "en", "es", "eu", "fi", "fr", "hu", "id", "it", "nl", "no", "pt",
    "ro", "ru", "sv", "tr",
];

/// The language whose rules apply to a value tagged `lang`: the tag's primary subtag,
/// lowercased, or `en` when there is no tag or it does not start with a language code.
pub fn lang_base(lang: Option<&str>) -> String {
    let Some(tag) = lang else {
        return "en".into();
    };
    let primary = tag.split(['-', '_']).next().unwrap_or_default();
    if (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic()) {
        primary.to_ascii_lowercase()
    } else {
        "en".into()
    }
}

fn stemmer(base: &str) -> Option<Stemmer> {
    let algorithm = match base {
        "ar" => Algorithm::Arabic,
        "da" => Algorithm::Danish,
        "de" => Algorithm::German,
        "en" => Algorithm::English,
        "es" => Algorithm::Spanish,
        "fi" => Algorithm::Finnish,
        "fr" => Algorithm::French,
        "hu" => Algorithm::Hungarian,
        "it" => Algorithm::Italian,
        "nl" => Algorithm::Dutch,
        "no" => Algorithm::Norwegian,
        "pt" => Algorithm::Portuguese,
        "ro" => Algorithm::Romanian,
        "ru" => Algorithm::Russian,
        "sv" => Algorithm::Swedish,
        "tr" => Algorithm::Turkish,
        _ => return None,
    };
    Some(Stemmer::create(algorithm))
}

fn stop_words(base: &str) -> Option<&'static HashSet<&'static str>> {
    static LISTS: OnceLock<HashMap<&'static str, HashSet<&'static str>>> = OnceLock::new();
    LISTS
        .get_or_init(|| {
            STOP_WORD_LANGS
                .iter()
                .filter_map(|&l| Some((l, stop_words::lookup(l)?.iter().copied().collect())))
                .collect()
        })
        .get(base)
}

/// The `fulltext` words of `text` in language `lang` (see the module docs), in first-seen
/// order without duplicates.
pub fn words(text: &str, lang: Option<&str>) -> Vec<String> {
    let base = lang_base(lang);
    let stops = stop_words(&base);
    let stem = stemmer(&base);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let normalized = text.unicode_words().map(|w| {
        let lower: String = w.chars().flat_map(char::to_lowercase).collect();
        lower.nfkc().collect::<String>()
    });
    let units: Vec<String> = if matches!(base.as_str(), "zh" | "ja" | "ko") {
        cjk_bigrams(normalized)
    } else {
        normalized.collect()
    };
    for norm in units {
        if norm.is_empty() || stops.is_some_and(|s| s.contains(norm.as_str())) {
            continue;
        }
        let word = match &stem {
            Some(s) => s.stem(&norm).into_owned(),
            None => norm,
        };
        if !word.is_empty() && seen.insert(word.clone()) {
            out.push(word);
        }
    }
    out
}

/// Whether `c` is written in a CJK script (Han, kana, Hangul).
fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x11FF      // Hangul Jamo
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3130..=0x318F    // Hangul compatibility Jamo
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // halfwidth Katakana
        | 0x20000..=0x2FA1F) // CJK extensions B and later
}

/// Words with runs of consecutive CJK words replaced by the bigrams of their characters (a
/// run of one character stays itself); other words pass unchanged.
fn cjk_bigrams(words: impl Iterator<Item = String>) -> Vec<String> {
    fn flush(run: &mut Vec<char>, out: &mut Vec<String>) {
        match run.len() {
            0 => {}
            1 => out.push(run[0].to_string()),
            _ => out.extend(run.windows(2).map(|w| w.iter().collect())),
        }
        run.clear();
    }
    let mut out = Vec::new();
    let mut run = Vec::new();
    for w in words {
        if !w.is_empty() && w.chars().all(is_cjk) {
            run.extend(w.chars());
        } else {
            flush(&mut run, &mut out);
            out.push(w);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn english_is_the_default() {
        assert_eq!(lang_base(None), "en");
        assert_eq!(lang_base(Some("de-AT")), "de");
        assert_eq!(lang_base(Some("PT_br")), "pt");
        assert_eq!(lang_base(Some("x-klingon")), "en");
        assert_eq!(lang_base(Some("")), "en");
        assert_eq!(
            words("The runners were running", None),
            words("The runners were running", Some("en"))
        );
    }

    #[test]
    fn english_drops_stop_words_and_stems() {
        assert_eq!(
            words("The Runners are running to the Hills!", None),
            vec!["runner", "run", "hill"]
        );
        assert!(words("the and of", None).is_empty());
        assert!(words("", None).is_empty());
    }

    #[test]
    fn german_uses_german_rules() {
        // "und", "die" are German stop words; "Häuser" stems to "haus".
        assert_eq!(
            words("Die Häuser und Gärten", Some("de")),
            vec!["haus", "gart"]
        );
        // English rules would keep "die" (not an English stop word).
        assert!(words("Die Häuser", None).contains(&"die".to_string()));
    }

    #[test]
    fn accents_are_kept_and_nfkc_applies() {
        // (Swahili has no stemmer here, so the words are compared as they are.)
        assert_eq!(words("Café", Some("sw")), vec!["café"]);
        assert_ne!(words("café", Some("sw")), words("cafe", Some("sw")));
        // The "fi" ligature is the letters f, i under NFKC.
        assert_eq!(words("ﬁnd", None), words("find", None));
    }

    #[test]
    fn stems_of_real_words_are_stable() {
        // Querying with a word's stem finds the word for ordinary inflections. Snowball is not
        // idempotent on every string ("oase" -> "oas" -> "oa"), so only the same surface word
        // is guaranteed to meet itself (see the property below).
        for (lang, text) in [
            (
                None,
                "running runs houses connection connected generously argued",
            ),
            (Some("de"), "häuser gärten kinder laufen"),
            (Some("fr"), "maisons continuellement chanteuses"),
            (Some("es"), "corriendo casas"),
        ] {
            for stem in words(text, lang) {
                assert_eq!(words(&stem, lang), vec![stem.clone()], "{lang:?} {stem}");
            }
        }
    }

    #[test]
    fn cjk_text_is_cut_into_bigrams() {
        assert_eq!(words("北京大学", Some("zh")), vec!["北京", "京大", "大学"]);
        assert_eq!(
            words("東京タワー", Some("ja")),
            vec!["東京", "京タ", "タワ", "ワー"]
        );
        // A lone character stays itself; other words pass unchanged.
        assert_eq!(
            words("猫 and Tokyo", Some("zh")),
            vec!["猫", "and", "tokyo"]
        );
        // Without the language, each ideograph is a word of its own (UAX #29).
        assert_eq!(words("北京", None), vec!["北", "京"]);
    }

    #[test]
    fn languages_without_rules_keep_words() {
        assert_eq!(words("Kumbwa kubwa", Some("sw")), vec!["kumbwa", "kubwa"]);
    }

    proptest! {
        #[test]
        fn a_text_matches_its_own_words(text in "[a-zA-Zäöüßéè]{1,10}( [a-zA-Zäöüßéè]{1,10}){0,5}",
                                        lang in prop::sample::select(vec![None, Some("en"), Some("de"), Some("fr"), Some("ru")])) {
            // Index and query side agree: every word of a value's own text is among its tokens.
            let stored: HashSet<String> = words(&text, lang).into_iter().collect();
            for w in text.split(' ') {
                for token in words(w, lang) {
                    prop_assert!(stored.contains(&token));
                }
            }
        }

        #[test]
        fn a_cjk_text_matches_its_own_phrases(text in "[北京大学東京タワー한국어]{2,12}", from in 0usize..12, len in 2usize..6) {
            // Any stretch of two or more characters is found in the text it comes from.
            let chars: Vec<char> = text.chars().collect();
            let from = from.min(chars.len() - 2);
            let part: String = chars[from..(from + len).min(chars.len())].iter().collect();
            let stored: HashSet<String> = words(&text, Some("zh")).into_iter().collect();
            for token in words(&part, Some("zh")) {
                prop_assert!(stored.contains(&token), "{part} in {text}: {token}");
            }
        }

        #[test]
        fn analysis_is_deterministic_and_lowercase(text: String) {
            let a = words(&text, None);
            prop_assert_eq!(&a, &words(&text, None));
            for w in a {
                prop_assert!(!w.is_empty());
            }
        }
    }
}
