//! The HTML directory listing: reading a directory's entries, ordering them, and rendering one
//! self-contained HTML5 page (inline CSS, no scripts, no external assets).

use std::cmp::Ordering;
use std::io::{self, Write};

use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rustix::fs::{statat, AtFlags, Dir, FileType};

/// Bytes left as they are in a link: RFC 3986 section 2.3 unreserved characters and `/`.
/// Encoding everything else also keeps a name like `a:b` from reading as a URI scheme.
const HREF: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

struct Entry {
    name: Vec<u8>,
    is_dir: bool,
    /// `None` when the entry could not be stat'ed (for example a dangling symlink).
    size: Option<u64>,
    modified: Option<i64>,
}

/// Writes a complete HTML listing page of `dir`, whose URL path is `url_path` (percent-encoded as
/// received, ending in `/`), into `out`. Entries are stat'ed through symlinks; those that cannot
/// be are listed as files without size or date.
pub fn render_listing(dir: &std::fs::File, url_path: &str, out: &mut Vec<u8>) -> io::Result<()> {
    let mut entries = read_entries(dir)?;
    entries.sort_by(order);

    let display_path = percent_decode_str(url_path).decode_utf8_lossy();
    out.extend_from_slice(HEAD_START.as_bytes());
    out.extend_from_slice(b"<title>Index of ");
    escape_html(display_path.as_bytes(), out);
    out.extend_from_slice(b"</title>\n");
    out.extend_from_slice(STYLE.as_bytes());
    out.extend_from_slice(b"</head>\n<body>\n<h1>Index of ");
    escape_html(display_path.as_bytes(), out);
    out.extend_from_slice(TABLE_START.as_bytes());
    if url_path != "/" {
        out.extend_from_slice(
            b"<tr><td class=\"n\"><a href=\"../\">../</a></td><td class=\"s\"></td><td class=\"m\"></td></tr>\n",
        );
    }
    for entry in &entries {
        write_row(entry, out)?;
    }
    out.extend_from_slice(b"</tbody>\n</table>\n</body>\n</html>\n");
    Ok(())
}

fn read_entries(dir: &std::fs::File) -> io::Result<Vec<Entry>> {
    // `read_from` opens the directory afresh, so the caller's file offset is left alone.
    let mut reader = Dir::read_from(dir)?;
    let mut entries = Vec::new();
    while let Some(entry) = reader.read() {
        let entry = entry?;
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let stat = statat(dir, name, AtFlags::empty()).ok();
        let is_dir = match &stat {
            Some(stat) => FileType::from_raw_mode(stat.st_mode) == FileType::Directory,
            None => entry.file_type() == FileType::Directory,
        };
        let (size, modified) = match stat {
            Some(stat) => stat_size_and_mtime(&stat),
            None => (None, None),
        };
        entries.push(Entry {
            name: bytes.to_vec(),
            is_dir,
            size,
            modified,
        });
    }
    Ok(entries)
}

// The field types of `struct stat` differ between architectures; on some these casts are no-ops.
#[allow(clippy::unnecessary_cast)]
fn stat_size_and_mtime(stat: &rustix::fs::Stat) -> (Option<u64>, Option<i64>) {
    (
        u64::try_from(stat.st_size as i64).ok(),
        Some(stat.st_mtime as i64),
    )
}

/// Directories first, then by name ignoring ASCII case, then by exact bytes.
fn order(a: &Entry, b: &Entry) -> Ordering {
    b.is_dir.cmp(&a.is_dir).then_with(|| {
        let fold_a = a.name.iter().map(u8::to_ascii_lowercase);
        let fold_b = b.name.iter().map(u8::to_ascii_lowercase);
        fold_a.cmp(fold_b).then_with(|| a.name.cmp(&b.name))
    })
}

fn write_row(entry: &Entry, out: &mut Vec<u8>) -> io::Result<()> {
    out.extend_from_slice(b"<tr><td class=\"n\"><a href=\"");
    // The encoded href contains only unreserved bytes, '/' and %XX: nothing to escape in HTML.
    for chunk in percent_encode(&entry.name, HREF) {
        out.extend_from_slice(chunk.as_bytes());
    }
    if entry.is_dir {
        out.push(b'/');
    }
    out.extend_from_slice(b"\">");
    escape_html(String::from_utf8_lossy(&entry.name).as_bytes(), out);
    if entry.is_dir {
        out.push(b'/');
    }
    out.extend_from_slice(b"</a></td><td class=\"s\">");
    match entry.size {
        Some(size) if !entry.is_dir => write_size(size, out)?,
        _ => out.extend_from_slice(b"-"),
    }
    out.extend_from_slice(b"</td><td class=\"m\">");
    if let Some(secs) = entry.modified {
        write_utc_minutes(secs, out)?;
    }
    out.extend_from_slice(b"</td></tr>\n");
    Ok(())
}

/// Appends `text` with `& < > " '` replaced by character references.
fn escape_html(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            _ => out.push(b),
        }
    }
}

/// `512 B`, `1.2 KiB`, `3.0 MiB`: binary units, one decimal, rounded to nearest.
fn write_size(size: u64, out: &mut Vec<u8>) -> io::Result<()> {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if size < 1024 {
        return write!(out, "{size} B");
    }
    let size = u128::from(size);
    let mut unit = 1;
    while unit + 1 < UNITS.len() && size >= 1024u128.pow(unit as u32 + 1) {
        unit += 1;
    }
    let mut scale = 1024u128.pow(unit as u32);
    let mut tenths = (size * 10 + scale / 2) / scale;
    // Rounding can reach the next unit (1023.96 KiB): show it as 1.0 MiB.
    if tenths >= 10240 && unit + 1 < UNITS.len() {
        unit += 1;
        scale *= 1024;
        tenths = (size * 10 + scale / 2) / scale;
    }
    write!(out, "{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// `YYYY-MM-DD HH:MM` in UTC for `secs` since the Unix epoch (proleptic Gregorian calendar).
fn write_utc_minutes(secs: i64, out: &mut Vec<u8>) -> io::Result<()> {
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_date(days);
    write!(
        out,
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        in_day / 3600,
        in_day % 3600 / 60
    )
}

/// The calendar date `days` after 1970-01-01. Counts in 400-year eras that start on March 1st,
/// so the leap day is the last day of each era-year and month lengths follow a fixed pattern.
fn civil_date(days: i64) -> (i64, u32, u32) {
    const DAYS_PER_ERA: i64 = 146_097; // 400 years
    let since_epoch_era = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = since_epoch_era.div_euclid(DAYS_PER_ERA);
    let day_of_era = since_epoch_era.rem_euclid(DAYS_PER_ERA);
    // Leap days before this day within the era: one per 4 years, minus centuries, plus 400th.
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524
        - day_of_era / (DAYS_PER_ERA - 1))
        / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 31,30,31,30,31,31,30,31,30,31,31,(29|28) fit (153 * m + 2) / 5.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

const HEAD_START: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";

const STYLE: &str = "<style>\n\
:root{color-scheme:light dark}\n\
body{font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;margin:0 auto;padding:1rem;max-width:60rem}\n\
h1{font-size:1.25rem;font-weight:600;margin:.5rem 0 1rem;overflow-wrap:anywhere}\n\
table{width:100%;border-collapse:collapse}\n\
th,td{padding:.4rem .5rem;text-align:left;border-bottom:1px solid #8883}\n\
th{font-weight:600;opacity:.7}\n\
td.n{overflow-wrap:anywhere}\n\
.s,.m{white-space:nowrap;font-variant-numeric:tabular-nums;opacity:.8}\n\
.s{text-align:right}\n\
a{text-decoration:none}a:hover{text-decoration:underline}\n\
@media (max-width:32rem){.m{display:none}}\n\
</style>\n";

const TABLE_START: &str = "</h1>\n<table>\n<thead><tr><th>Name</th><th class=\"s\">Size</th>\
<th class=\"m\">Modified (UTC)</th></tr></thead>\n<tbody>\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn size(n: u64) -> String {
        let mut out = Vec::new();
        write_size(n, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn date(secs: i64) -> String {
        let mut out = Vec::new();
        write_utc_minutes(secs, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn human_sizes() {
        for (n, want) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1229, "1.2 KiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (5 * 1024 * 1024 + 512 * 1024, "5.5 MiB"),
            (3 << 30, "3.0 GiB"),
            (u64::MAX, "16.0 EiB"),
        ] {
            assert_eq!(size(n), want, "{n}");
        }
    }

    #[test]
    fn utc_dates_match_httpdate() {
        // httpdate's formatter is an independent implementation of the same calendar.
        for secs in [
            0i64,
            59,
            951_782_400,
            1_700_000_000,
            4_107_542_399,
            253_402_300_799,
        ] {
            let http = httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64),
            );
            let ours = date(secs);
            let (d, t) = ours.split_once(' ').unwrap();
            let mut parts = d.split('-');
            let (y, m, day) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let month = MONTHS[m.parse::<usize>().unwrap() - 1];
            assert!(
                http.contains(&format!("{day} {month} {y} {t}:")),
                "{secs}: {http} vs {ours}"
            );
        }
        assert_eq!(date(0), "1970-01-01 00:00");
        assert_eq!(date(951_825_600), "2000-02-29 12:00");
        assert_eq!(date(-60), "1969-12-31 23:59");
    }

    #[test]
    fn html_escaping() {
        let mut out = Vec::new();
        escape_html(b"<script>&\"'x", &mut out);
        assert_eq!(out, b"&lt;script&gt;&amp;&quot;&#39;x");
    }
}
