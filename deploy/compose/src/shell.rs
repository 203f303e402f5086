//! Shell words: splitting `--extra_*_flags` into arguments, and quoting a command line for the
//! file's header.

/// Splits `s` into words as a POSIX shell would without expanding anything: blanks separate
/// words, single quotes keep everything, double quotes keep everything but `\"` and `\\`, and a
/// backslash outside quotes keeps the next character.
pub fn split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed ' in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unclosed \" in {s:?}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed \" in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("{s:?} ends with a lone backslash")),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// `word` quoted for a shell when it needs to be.
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:,@%+".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The words joined into one command line.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        assert_eq!(
            split(r#" --a=1  --b 'two words' "x \"y\"" c\ d "#).unwrap(),
            ["--a=1", "--b", "two words", "x \"y\"", "c d"]
        );
        assert_eq!(
            split(r#"--tls "server-cert=/c; server-key=/k""#).unwrap(),
            ["--tls", "server-cert=/c; server-key=/k"]
        );
        assert_eq!(split("''").unwrap(), [""]);
        assert!(split("'open").unwrap_err().contains("unclosed '"));
        assert!(split("\"open").unwrap_err().contains("unclosed \""));
        assert!(split("end\\").unwrap_err().contains("lone backslash"));
    }

    #[test]
    fn quotes_what_a_shell_would_change() {
        assert_eq!(
            join(&["lodestar", "compose", "-O", "/tmp/a b", "it's", ""]),
            r#"lodestar compose -O '/tmp/a b' 'it'\''s' ''"#
        );
    }
}
