//! The query string of a static-file request (RFC 3986 section 3.4, decoded as
//! `application/x-www-form-urlencoded` with the `form_urlencoded` crate): `download`, `sort`,
//! `order` and `format`. Unknown keys are ignored (cache busters like `?v=3` keep working); a
//! malformed query or a bad value for a known key is an error (400).
//!
//! A request without a query allocates nothing here.

use std::fmt;

/// Column a directory listing is sorted by (`?sort=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Name,
    Size,
    Modified,
}

impl SortKey {
    /// The query value naming this key.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Modified => "modified",
        }
    }
}

/// Sort direction (`?order=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

impl Order {
    /// The query value naming this order.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

/// Representation of a directory listing (`?format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
}

/// What the query asks of a static-file response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileQuery {
    /// `?download`: send the file as an attachment.
    pub download: bool,
    pub sort: SortKey,
    pub order: Order,
    /// `None`: decided by the `Accept` field.
    pub format: Option<Format>,
}

/// Why a query was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded query is not UTF-8.
    NotUtf8,
    /// A known key with a value it does not take.
    BadValue(&'static str),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::BadEscape => f.write_str("malformed percent escape in the query"),
            QueryError::NotUtf8 => f.write_str("query is not UTF-8"),
            QueryError::BadValue(key) => write!(f, "bad value for query key {key}"),
        }
    }
}

/// Parses the query (without the `?`), if any.
pub fn parse(query: Option<&str>) -> Result<FileQuery, QueryError> {
    let mut q = FileQuery::default();
    let Some(query) = query else {
        return Ok(q);
    };
    if query.is_empty() {
        return Ok(q);
    }
    validate(query.as_bytes())?;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "download" => {
                q.download = match &*value {
                    "" | "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => return Err(QueryError::BadValue("download")),
                }
            }
            "sort" => {
                q.sort = match &*value {
                    "name" => SortKey::Name,
                    "size" => SortKey::Size,
                    "modified" | "mtime" | "date" => SortKey::Modified,
                    _ => return Err(QueryError::BadValue("sort")),
                };
            }
            "order" => {
                q.order = match &*value {
                    "asc" => Order::Asc,
                    "desc" => Order::Desc,
                    _ => return Err(QueryError::BadValue("order")),
                };
            }
            "format" => {
                q.format = Some(match &*value {
                    "html" => Format::Html,
                    "json" => Format::Json,
                    _ => return Err(QueryError::BadValue("format")),
                });
            }
            _ => {}
        }
    }
    Ok(q)
}

/// Checks what `form_urlencoded` would silently repair: every `%` starts a two-digit hex escape,
/// and the decoded bytes are UTF-8 (it would substitute U+FFFD).
pub fn validate(query: &[u8]) -> Result<(), QueryError> {
    let mut i = 0;
    while let Some(at) = query[i..].iter().position(|&b| b == b'%') {
        let esc = i + at;
        let ok = query.len() > esc + 2
            && query[esc + 1].is_ascii_hexdigit()
            && query[esc + 2].is_ascii_hexdigit();
        if !ok {
            return Err(QueryError::BadEscape);
        }
        i = esc + 3;
    }
    if i > 0 {
        percent_encoding::percent_decode(query)
            .decode_utf8()
            .map_err(|_| QueryError::NotUtf8)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> FileQuery {
        parse(Some(q)).unwrap_or_else(|e| panic!("{q:?}: {e}"))
    }

    #[test]
    fn absent_and_empty_queries_are_the_defaults() {
        assert_eq!(parse(None), Ok(FileQuery::default()));
        assert_eq!(ok(""), FileQuery::default());
        assert_eq!(ok("&&"), FileQuery::default());
        let d = FileQuery::default();
        assert!(!d.download);
        assert_eq!(
            (d.sort, d.order, d.format),
            (SortKey::Name, Order::Asc, None)
        );
    }

    #[test]
    fn download_flag() {
        for q in [
            "download",
            "download=",
            "download=1",
            "download=true",
            "x=1&download",
        ] {
            assert!(ok(q).download, "{q}");
        }
        for q in ["download=0", "download=false", "downloads", "x=download"] {
            assert!(!ok(q).download, "{q}");
        }
        assert_eq!(
            parse(Some("download=maybe")),
            Err(QueryError::BadValue("download"))
        );
    }

    #[test]
    fn listing_keys() {
        let q = ok("sort=size&order=desc&format=json");
        assert_eq!(
            (q.sort, q.order, q.format),
            (SortKey::Size, Order::Desc, Some(Format::Json))
        );
        assert_eq!(ok("sort=modified").sort, SortKey::Modified);
        assert_eq!(ok("format=html").format, Some(Format::Html));
        // percent-encoded and plus-encoded keys and values decode first
        assert_eq!(ok("%73ort=%6Eame").sort, SortKey::Name);
        assert_eq!(ok("sort=size&sort=name").sort, SortKey::Name, "last wins");
        // unknown keys are ignored
        assert_eq!(ok("v=3&utm_source=x+y"), FileQuery::default());
        for (q, key) in [
            ("sort=colour", "sort"),
            ("sort=", "sort"),
            ("sort=Name", "sort"),
            ("order=up", "order"),
            ("format=xml", "format"),
        ] {
            assert_eq!(parse(Some(q)), Err(QueryError::BadValue(key)), "{q}");
        }
    }

    #[test]
    fn malformed_queries() {
        for q in ["%", "a=%", "a=%4", "a=%zz", "sort=%G1", "a=b%"] {
            assert_eq!(parse(Some(q)), Err(QueryError::BadEscape), "{q}");
        }
        assert_eq!(parse(Some("a=%ff")), Err(QueryError::NotUtf8));
        assert_eq!(parse(Some("a=%C3%A9")), Ok(FileQuery::default()));
    }
}
