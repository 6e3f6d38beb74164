//! Content-Type of a served file, from its name's extension (mime_guess plus a few corrections),
//! computed and written without allocating.

/// A media type and whether it is sent with `; charset=utf-8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentType {
    /// The media type without parameters, e.g. `text/html`.
    pub essence: &'static str,
    /// Whether the header value carries `; charset=utf-8`.
    pub utf8: bool,
}

/// Longest extension looked up; longer ones are unknown (no registered type has one).
const MAX_EXT: usize = 16;

/// Extensions whose type is fixed here, whatever mime_guess says: text formats browsers should
/// show rather than download, and types older mime_guess tables get wrong or lack.
const OVERRIDES: &[(&str, &str)] = &[
    ("avif", "image/avif"),
    ("csv", "text/csv"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("ini", "text/plain"),
    ("js", "text/javascript"),
    ("json", "application/json"),
    ("log", "text/plain"),
    ("md", "text/markdown"),
    ("mjs", "text/javascript"),
    ("svg", "image/svg+xml"),
    ("toml", "text/plain"),
    ("txt", "text/plain"),
    ("wasm", "application/wasm"),
    ("webp", "image/webp"),
    ("yaml", "text/plain"),
    ("yml", "text/plain"),
];

impl ContentType {
    /// `application/octet-stream`, for names without a known extension.
    pub const OCTET_STREAM: ContentType = ContentType {
        essence: "application/octet-stream",
        utf8: false,
    };

    /// The type for a file named `name` (the last path segment, any bytes), from its extension.
    /// A leading dot does not start an extension (`.bashrc` has none).
    pub fn for_name(name: &[u8]) -> ContentType {
        let Some(dot) = name.iter().rposition(|&b| b == b'.') else {
            return Self::OCTET_STREAM;
        };
        if dot == 0 {
            return Self::OCTET_STREAM;
        }
        let ext = &name[dot + 1..];
        if ext.is_empty() || ext.len() > MAX_EXT || !ext.is_ascii() {
            return Self::OCTET_STREAM;
        }
        let mut buf = [0u8; MAX_EXT];
        let lower = &mut buf[..ext.len()];
        lower.copy_from_slice(ext);
        lower.make_ascii_lowercase();
        let Ok(lower) = std::str::from_utf8(lower) else {
            return Self::OCTET_STREAM;
        };
        let essence = match OVERRIDES.binary_search_by(|(e, _)| (*e).cmp(lower)) {
            Ok(i) => OVERRIDES[i].1,
            Err(_) => match mime_guess::from_ext(lower).first_raw() {
                Some(essence) => essence,
                None => return Self::OCTET_STREAM,
            },
        };
        ContentType {
            essence,
            utf8: needs_charset(essence),
        }
    }

    /// Appends the header value, e.g. `text/html; charset=utf-8`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.essence.as_bytes());
        if self.utf8 {
            out.extend_from_slice(b"; charset=utf-8");
        }
    }
}

/// Text types, whose default charset (US-ASCII, or whatever a browser sniffs) would garble UTF-8,
/// plus the script and JSON types that browsers decode the same way.
fn needs_charset(essence: &str) -> bool {
    essence.starts_with("text/") || matches!(essence, "application/javascript" | "application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str) -> String {
        let mut out = Vec::new();
        ContentType::for_name(name.as_bytes()).write_to(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn overrides_are_sorted_for_binary_search() {
        assert!(OVERRIDES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(OVERRIDES.iter().all(|(e, _)| e.len() <= MAX_EXT));
    }

    #[test]
    fn common_types() {
        for (name, want) in [
            ("index.html", "text/html; charset=utf-8"),
            ("INDEX.HTM", "text/html; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("mod.mjs", "text/javascript; charset=utf-8"),
            ("data.json", "application/json; charset=utf-8"),
            ("logo.svg", "image/svg+xml"),
            ("app.wasm", "application/wasm"),
            ("photo.webp", "image/webp"),
            ("photo.avif", "image/avif"),
            ("photo.JPG", "image/jpeg"),
            ("table.csv", "text/csv; charset=utf-8"),
            ("server.log", "text/plain; charset=utf-8"),
            ("notes.txt", "text/plain; charset=utf-8"),
            ("README.md", "text/markdown; charset=utf-8"),
            ("setup.ini", "text/plain; charset=utf-8"),
            ("Cargo.toml", "text/plain; charset=utf-8"),
            ("ci.yaml", "text/plain; charset=utf-8"),
            ("ci.yml", "text/plain; charset=utf-8"),
            ("doc.pdf", "application/pdf"),
            ("archive.tar.gz", "application/gzip"),
        ] {
            assert_eq!(header(name), want, "{name}");
        }
    }

    #[test]
    fn unknown_and_odd_names_are_octet_stream() {
        for name in [
            "",
            "noext",
            "file.",
            ".bashrc",
            "x.unknownext",
            "x.averyveryverylongextension",
            "x.\u{e9}",
        ] {
            assert_eq!(
                ContentType::for_name(name.as_bytes()),
                ContentType::OCTET_STREAM,
                "{name:?}"
            );
        }
        assert_eq!(ContentType::for_name(b"\xff\xfe.txt").essence, "text/plain");
        assert_eq!(header("blob.bin"), "application/octet-stream");
    }
}
