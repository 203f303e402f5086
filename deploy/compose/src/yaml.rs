//! A small YAML writer for the compose file: block mappings and sequences, comments, and
//! scalars the way docker-compose reads them.
//!
//! Every string is written double-quoted, so no value is ever taken for a number, a boolean or
//! a null, and `$` is doubled: docker-compose substitutes `$NAME` and `${NAME}` in every value,
//! and `$$` is its escape for a literal `$` (shell scripts and paths keep theirs).

/// A YAML node.
#[derive(Debug, Clone)]
pub enum Node {
    /// A string, written quoted with `$` escaped for docker-compose.
    Str(String),
    /// A plain scalar written as is (`true`, `3`): only for values this crate makes.
    Plain(&'static str),
    /// A block sequence.
    List(Vec<Node>),
    /// A block mapping, in this order.
    Map(Map),
}

/// A mapping whose entries may carry comment lines.
#[derive(Debug, Clone, Default)]
pub struct Map {
    entries: Vec<Entry>,
    /// A blank line between entries (the services, the top-level keys).
    spaced: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    comment: Vec<String>,
    key: String,
    value: Node,
}

impl Map {
    pub fn new() -> Map {
        Map::default()
    }

    /// A mapping written with a blank line between its entries.
    pub fn spaced() -> Map {
        Map {
            entries: Vec::new(),
            spaced: true,
        }
    }

    /// Adds `key: value`.
    pub fn put(&mut self, key: impl Into<String>, value: Node) -> &mut Map {
        self.put_commented(&[], key, value)
    }

    /// Adds `key: value` after `comment`, one `#` line per element.
    pub fn put_commented(
        &mut self,
        comment: &[&str],
        key: impl Into<String>,
        value: Node,
    ) -> &mut Map {
        let key = key.into();
        debug_assert!(
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
            "mapping keys are plain names: {key:?}"
        );
        self.entries.push(Entry {
            comment: comment.iter().map(|c| c.to_string()).collect(),
            key,
            value,
        });
        self
    }

    /// Adds `key: "value"`.
    pub fn str(&mut self, key: &str, value: impl Into<String>) -> &mut Map {
        self.put(key, Node::Str(value.into()))
    }

    /// Whether the mapping has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A list of strings.
pub fn strs<I, S>(items: I) -> Node
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Node::List(items.into_iter().map(|s| Node::Str(s.into())).collect())
}

/// Writes `map` as a YAML document after `header` (comment lines).
pub fn document(header: &[String], map: &Map) -> String {
    let mut out = String::new();
    for line in header {
        comment_line(&mut out, 0, line);
    }
    if !header.is_empty() {
        out.push('\n');
    }
    write_map(&mut out, 0, map);
    out
}

fn comment_line(out: &mut String, indent: usize, line: &str) {
    push_indent(out, indent);
    if line.is_empty() {
        out.push_str("#\n");
    } else {
        out.push_str("# ");
        // A comment ends at the line's end: a newline inside one would start a YAML line.
        out.push_str(&line.replace(['\n', '\r'], " "));
        out.push('\n');
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_map(out: &mut String, indent: usize, map: &Map) {
    for (i, entry) in map.entries.iter().enumerate() {
        if map.spaced && i > 0 {
            out.push('\n');
        }
        for line in &entry.comment {
            comment_line(out, indent, line);
        }
        push_indent(out, indent);
        out.push_str(&entry.key);
        out.push(':');
        write_value(out, indent + entry.key.len() + 1, indent, &entry.value);
    }
}

/// Writes what follows `key:` or `-` (which end at column `column`; the block's own lines
/// are at `indent`): a scalar or a short flow list on the same line, or a block on the next
/// ones.
fn write_value(out: &mut String, column: usize, indent: usize, value: &Node) {
    match value {
        Node::Str(s) if is_literal_block(s) => {
            out.push_str(" |-\n");
            for line in s.split('\n') {
                if !line.is_empty() {
                    push_indent(out, indent + 2);
                    out.push_str(&line.replace('$', "$$"));
                }
                out.push('\n');
            }
        }
        Node::Str(s) => {
            out.push(' ');
            out.push_str(&quote(s));
            out.push('\n');
        }
        Node::Plain(s) => {
            out.push(' ');
            out.push_str(s);
            out.push('\n');
        }
        Node::List(items) if items.is_empty() => out.push_str(" []\n"),
        Node::Map(map) if map.is_empty() => out.push_str(" {}\n"),
        Node::List(items) => match flow(items) {
            Some(flow) if column + 1 + flow.len() <= FLOW_WIDTH => {
                out.push(' ');
                out.push_str(&flow);
                out.push('\n');
            }
            _ => {
                out.push('\n');
                write_list(out, indent + 2, items);
            }
        },
        Node::Map(map) => {
            out.push('\n');
            write_map(out, indent + 2, map);
        }
    }
}

/// Lists of strings that fit in this many columns are written on one line.
const FLOW_WIDTH: usize = 100;

/// `["a", "b"]` when every item is a one-line string.
fn flow(items: &[Node]) -> Option<String> {
    let quoted: Option<Vec<String>> = items
        .iter()
        .map(|item| match item {
            Node::Str(s) if !s.contains('\n') => Some(quote(s)),
            _ => None,
        })
        .collect();
    Some(format!("[{}]", quoted?.join(", ")))
}

/// Whether `s` reads better as a literal block (`|-`): several lines, each printable and
/// free of trailing blanks, the first not indented (a block takes its indentation from it).
fn is_literal_block(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && !s.ends_with('\n')
        && s.split('\n').all(|line| {
            !line.ends_with([' ', '\t'])
                && line
                    .chars()
                    .all(|c| c == '\t' || !(c.is_control() || c == '\u{feff}'))
        })
}

fn write_list(out: &mut String, indent: usize, items: &[Node]) {
    for item in items {
        push_indent(out, indent);
        out.push('-');
        match item {
            Node::Map(map) if !map.is_empty() => {
                // `- key: value` with the following keys under the first one.
                let mut nested = String::new();
                write_map(&mut nested, indent + 2, map);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            other => write_value(out, indent + 1, indent, other),
        }
    }
}

/// `s` as a double-quoted YAML scalar, with `$` doubled for docker-compose.
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '$' => q.push_str("$$"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                q.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_quoted_and_dollars_escaped() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("${f##*/}"), "\"$${f##*/}\"");
        assert_eq!(quote("x\ny\u{1}"), "\"x\\ny\\x01\"");
    }

    #[test]
    fn blocks_nest_and_lists_of_maps_start_on_the_dash() {
        let mut inner = Map::new();
        inner
            .str("type", "bind")
            .put("read_only", Node::Plain("true"));
        let mut svc = Map::new();
        svc.str("image", "lodestar:0.1.0")
            .put("command", strs(["zero", "--idx"]))
            .put("volumes", Node::List(vec![Node::Map(inner)]))
            .put("ports", Node::List(vec![]));
        svc.put(
            "script",
            strs(["set -eu\nfor d in $A; do\n\n  echo \"$d\"\ndone"]),
        );
        svc.put(
            "long",
            strs(["a-fairly-long-argument-to-push-the-line-past-its-width"; 2]),
        );
        let mut root = Map::spaced();
        root.put_commented(&["the zeros"], "zero1", Node::Map(svc));
        root.str("zero2", "x");
        let text = document(&["header".to_string(), String::new()], &root);
        assert_eq!(
            text,
            r#"# header
#

# the zeros
zero1:
  image: "lodestar:0.1.0"
  command: ["zero", "--idx"]
  volumes:
    - type: "bind"
      read_only: true
  ports: []
  script:
    - |-
      set -eu
      for d in $$A; do

        echo "$$d"
      done
  long:
    - "a-fairly-long-argument-to-push-the-line-past-its-width"
    - "a-fairly-long-argument-to-push-the-line-past-its-width"

zero2: "x"
"#
        );
        assert!(!is_literal_block("one line"));
        assert!(!is_literal_block(" indented\nfirst"));
        assert!(!is_literal_block("trailing \nblank"));
        assert!(!is_literal_block("a\u{1}\nb"));
    }
}
