//! The JSON directory listing: an array of `{"name", "type", "size", "modified"}` objects built
//! with serde_json (RFC 8259). `type` is `"dir"` or `"file"`; `size` is the length in bytes of a
//! file and `null` for a directory or an entry that could not be stat'ed; `modified` is an RFC 3339
//! UTC timestamp (`2024-05-01T12:00:00Z`) or `null`. Names that are not UTF-8 are converted with
//! U+FFFD for invalid sequences. The parent directory is not listed.

use std::io;

use serde_json::{json, Value};

use super::{sorted_entries, utc_fields, ListingOrder};

/// Writes the JSON listing of `dir`, ordered as `how` says, followed by a newline, into `out`.
pub fn render_listing_json(
    dir: &std::fs::File,
    how: ListingOrder,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let entries = sorted_entries(dir, how)?;
    let items: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "name": String::from_utf8_lossy(&e.name),
                "type": if e.is_dir { "dir" } else { "file" },
                "size": if e.is_dir { None } else { e.size },
                "modified": e.modified.map(rfc3339),
            })
        })
        .collect();
    serde_json::to_writer(&mut *out, &items)?;
    out.push(b'\n');
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for `secs` since the Unix epoch (RFC 3339 section 5.6, UTC).
fn rfc3339(secs: i64) -> String {
    let (year, month, day, hour, minute, second) = utc_fields(secs);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn listing_as_json() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("b \"q\".txt"), b"12345").unwrap();
        std::fs::write(tmp.path().join("a.txt"), b"1").unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        let mut out = Vec::new();
        render_listing_json(&dir, ListingOrder::default(), &mut out).unwrap();
        assert!(out.ends_with(b"]\n"));
        let v: Value = serde_json::from_slice(&out).unwrap();
        let items = v.as_array().unwrap();
        let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["sub", "a.txt", "b \"q\".txt"]);
        assert_eq!(items[0]["type"], "dir");
        assert_eq!(items[0]["size"], Value::Null);
        assert_eq!(items[2]["type"], "file");
        assert_eq!(items[2]["size"], 5);
        let modified = items[2]["modified"].as_str().unwrap();
        assert_eq!(modified.len(), 20, "{modified}");
        assert!(modified.ends_with('Z') && modified.as_bytes()[10] == b'T');
        for item in items {
            assert_eq!(item.as_object().unwrap().len(), 4, "{item}");
        }
    }
}
