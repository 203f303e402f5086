//! Load files as the loaders read them: found under the paths given, decrypted when a key is
//! given (a 16-byte IV first, then AES-CTR, as exports and backups are written), gunzipped
//! when their bytes are gzip, and cut into pieces of whole N-Quads or whole JSON objects.

use lodestar_crypto::{DecryptingReader, EncryptionKey};
use lodestar_runtime::ServiceError;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// What a data file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Rdf,
    Json,
}

impl Format {
    /// The format a file's name says (`.rdf`, `.nq`, `.nt`, `.json`, each optionally `.gz`).
    pub fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if [".rdf", ".nq", ".nt"].iter().any(|e| name.ends_with(e)) {
            Some(Format::Rdf)
        } else if name.ends_with(".json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// The data files named by `list` (comma-separated files or directories; a directory gives
/// every file under it whose name says a format), in name order within each directory.
pub fn data_files(list: &str) -> Result<Vec<PathBuf>, ServiceError> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let path = PathBuf::from(item);
        let meta =
            std::fs::metadata(&path).map_err(|e| ServiceError::invalid(format!("{item}: {e}")))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(&path, &mut found)?;
            found.sort();
            out.extend(found);
        } else {
            out.push(path);
        }
    }
    if out.is_empty() {
        return Err(ServiceError::invalid(format!(
            "no data files in {list:?}: name .rdf, .nq, .json files (gzipped or not) or directories holding them"
        )));
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ServiceError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ServiceError::invalid(format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry
            .map_err(|e| ServiceError::invalid(format!("{}: {e}", dir.display())))?
            .path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if Format::of(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

/// Opens a load file: decrypted under `key` when given, gunzipped when its bytes are gzip.
pub fn open(
    path: &Path,
    key: Option<&EncryptionKey>,
) -> Result<Box<dyn BufRead + Send>, ServiceError> {
    let shown = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|e| ServiceError::invalid(format!("{shown}: {e}")))?;
    let raw: Box<dyn Read + Send> = match key {
        Some(key) => Box::new(
            DecryptingReader::new(file, key)
                .map_err(|e| ServiceError::invalid(format!("{shown}: cannot read its IV: {e}")))?,
        ),
        None => Box::new(file),
    };
    let mut reader = BufReader::with_capacity(1 << 20, raw);
    let head = reader
        .fill_buf()
        .map_err(|e| ServiceError::invalid(format!("{shown}: {e}")))?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    })
}

/// Reads all of a (schema) file as text.
pub fn read_text(path: &Path, key: Option<&EncryptionKey>) -> Result<String, ServiceError> {
    let mut text = String::new();
    open(path, key)?.read_to_string(&mut text).map_err(|e| {
        ServiceError::invalid(format!(
            "{}: {e}{}",
            path.display(),
            if key.is_some() {
                " (is it encrypted with this key?)"
            } else {
                " (if it is encrypted, give --encryption_key_file)"
            }
        ))
    })?;
    Ok(text)
}

/// A piece of a data file: whole N-Quads (lines) or whole JSON objects, with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The 1-based line (RDF) or object number (JSON) the piece starts at.
    pub first: u64,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Rdf(String),
    Json(Vec<serde_json::Value>),
}

impl Body {
    /// N-Quad lines or objects in the piece.
    pub fn len(&self) -> usize {
        match self {
            Body::Rdf(text) => text.lines().count(),
            Body::Json(objects) => objects.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Cuts a data file into pieces of `size` N-Quads (RDF lines that are not blank or comments)
/// or `size` top-level JSON objects (the file is one array of objects, or objects one after
/// another), calling `each` with every piece in order; stops at its first error.
pub fn pieces(
    reader: Box<dyn BufRead + Send>,
    format: Format,
    size: usize,
    name: &str,
    mut each: impl FnMut(Piece) -> Result<(), ServiceError>,
) -> Result<(), ServiceError> {
    let size = size.max(1);
    let failed = |e: std::io::Error| ServiceError::invalid(format!("{name}: {e}"));
    match format {
        Format::Rdf => {
            let (mut text, mut count, mut first, mut line_no) = (String::new(), 0, 1, 0u64);
            for line in reader.lines() {
                let line = line.map_err(failed)?;
                line_no += 1;
                let trimmed = line.trim();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                if count == 0 {
                    first = line_no;
                }
                text.push_str(trimmed);
                text.push('\n');
                count += 1;
                if count == size {
                    each(Piece {
                        first,
                        body: Body::Rdf(std::mem::take(&mut text)),
                    })?;
                    count = 0;
                }
            }
            if count > 0 {
                each(Piece {
                    first,
                    body: Body::Rdf(text),
                })?;
            }
        }
        Format::Json => {
            let mut objects = Vec::with_capacity(size);
            let mut first = 1;
            let mut n = 0u64;
            let mut splitter = JsonObjects::new(reader);
            while let Some(raw) = splitter.next_object().map_err(failed)? {
                n += 1;
                let value: serde_json::Value = serde_json::from_slice(&raw)
                    .map_err(|e| ServiceError::invalid(format!("{name}: JSON object {n}: {e}")))?;
                if objects.is_empty() {
                    first = n;
                }
                objects.push(value);
                if objects.len() == size {
                    each(Piece {
                        first,
                        body: Body::Json(std::mem::take(&mut objects)),
                    })?;
                }
            }
            if !objects.is_empty() {
                each(Piece {
                    first,
                    body: Body::Json(objects),
                })?;
            }
        }
    }
    Ok(())
}

/// Splits a stream holding one JSON array of objects (or objects one after another) into the
/// bytes of each top-level object, without reading the whole stream.
struct JsonObjects<R: BufRead> {
    reader: R,
}

impl<R: BufRead> JsonObjects<R> {
    fn new(reader: R) -> Self {
        JsonObjects { reader }
    }

    fn byte(&mut self) -> std::io::Result<Option<u8>> {
        let buf = self.reader.fill_buf()?;
        let Some(&b) = buf.first() else {
            return Ok(None);
        };
        self.reader.consume(1);
        Ok(Some(b))
    }

    /// The next top-level object's bytes, or `None` at the end.
    fn next_object(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        // Skip what separates objects: whitespace, the array's brackets, commas.
        let start = loop {
            match self.byte()? {
                None => return Ok(None),
                Some(b) if b.is_ascii_whitespace() || matches!(b, b'[' | b']' | b',') => {}
                Some(b'{') => break b'{',
                Some(other) => {
                    return Err(bad(format!(
                        "expected a JSON object, found {:?}",
                        other as char
                    )));
                }
            }
        };
        let mut out = vec![start];
        let (mut depth, mut in_string, mut escaped) = (1usize, false, false);
        while depth > 0 {
            let b = self
                .byte()?
                .ok_or_else(|| bad("the file ends inside a JSON object".into()))?;
            out.push(b);
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth -= 1,
                _ => {}
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str, format: Format, size: usize) -> Vec<Piece> {
        let mut out = Vec::new();
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_string()));
        pieces(reader, format, size, "test", |p| {
            out.push(p);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn rdf_is_cut_at_whole_lines_skipping_blanks_and_comments() {
        let text = "# header\n<0x1> <a> \"1\" .\n\n<0x1> <b> \"2\" .\n<0x2> <a> \"3\" .\n";
        let p = collect(text, Format::Rdf, 2);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].first, 2);
        assert_eq!(p[0].body.len(), 2);
        assert_eq!(p[1].first, 5);
        assert_eq!(p[1].body, Body::Rdf("<0x2> <a> \"3\" .\n".into()));
    }

    #[test]
    fn json_arrays_and_object_streams_split_into_objects() {
        let text =
            "[\n{\"uid\":\"0x1\",\"s\":\"a } ] \\\" {\"},\n{\"n\":{\"x\":[1,{\"y\":2}]}}\n]\n";
        let p = collect(text, Format::Json, 1);
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0].body,
            Body::Json(vec![serde_json::json!({"uid": "0x1", "s": "a } ] \" {"})])
        );
        assert_eq!(p[1].first, 2);
        let stream = collect("{\"a\":1} {\"a\":2}\n{\"a\":3}", Format::Json, 2);
        assert_eq!(stream.len(), 2);
        assert_eq!(stream[1].body.len(), 1);
        let mut err = Vec::new();
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new("[{\"a\":1}, 7]"));
        let e = pieces(reader, Format::Json, 5, "f.json", |p| {
            err.push(p);
            Ok(())
        })
        .unwrap_err();
        assert!(e.message.contains("expected a JSON object"), "{e:?}");
    }

    #[test]
    fn formats_come_from_names() {
        assert_eq!(Format::of(Path::new("g01.rdf.gz")), Some(Format::Rdf));
        assert_eq!(Format::of(Path::new("x/G02.JSON")), Some(Format::Json));
        assert_eq!(Format::of(Path::new("a.nq")), Some(Format::Rdf));
        assert_eq!(Format::of(Path::new("g01.schema.gz")), None);
    }

    #[test]
    fn gzip_and_encryption_are_seen_through() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let key = EncryptionKey::from_bytes(&[7u8; 32]).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<0x1> <a> \"z\" .\n").unwrap();
        let zipped = gz.finish().unwrap();
        let plain = dir.path().join("p.rdf.gz");
        std::fs::write(&plain, &zipped).unwrap();
        let sealed = dir.path().join("s.rdf.gz");
        let mut w = lodestar_crypto::EncryptingWriter::new(Vec::new(), &key).unwrap();
        w.write_all(&zipped).unwrap();
        std::fs::write(&sealed, w.into_inner()).unwrap();
        assert_eq!(read_text(&plain, None).unwrap(), "<0x1> <a> \"z\" .\n");
        assert_eq!(
            read_text(&sealed, Some(&key)).unwrap(),
            "<0x1> <a> \"z\" .\n"
        );
        let e = read_text(&sealed, None).unwrap_err();
        assert!(e.message.contains("--encryption_key_file"), "{e:?}");
    }
}
