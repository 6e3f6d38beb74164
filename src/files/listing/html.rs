//! The HTML directory listing: one self-contained HTML5 page (inline CSS, no external assets)
//! that reads well on a phone: a viewport, a fluid table, the date column hidden on narrow
//! screens; the heading's path is breadcrumbs (each folder a link). A filter box narrows the rows
//! as one types; it is an inline script's, shown only when scripts run, and the page is whole
//! without it. Names are HTML-escaped and links percent-encoded (RFC 3986 section 2.1).

use std::io::{self, Write};

use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{sorted_entries, utc_fields, Entry, ListingOrder};
use crate::http::query::{Order, SortKey};

/// Bytes left as they are in a link: RFC 3986 section 2.3 unreserved characters and `/`.
/// Encoding everything else also keeps a name like `a:b` from reading as a URI scheme.
const HREF: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Writes a complete HTML listing page of `dir`, whose URL path is `url_path` (percent-encoded as
/// received, ending in `/`), into `out`, ordered as `how` says. The parent directory comes
/// first; the column headers link to the listing sorted by that column.
pub fn render_listing(
    dir: &std::fs::File,
    url_path: &str,
    how: ListingOrder,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let entries = sorted_entries(dir, how)?;

    let display_path = percent_decode_str(url_path).decode_utf8_lossy();
    out.extend_from_slice(HEAD_START.as_bytes());
    out.extend_from_slice(b"<title>Index of ");
    escape_html(display_path.as_bytes(), out);
    out.extend_from_slice(b"</title>\n");
    out.extend_from_slice(STYLE.as_bytes());
    out.extend_from_slice(b"</head>\n<body>\n<h1>Index of ");
    breadcrumbs(url_path, out);
    out.extend_from_slice(b"</h1>\n");
    out.extend_from_slice(TOOLS.as_bytes());
    if how.uploads {
        out.extend_from_slice(UPLOAD.as_bytes());
    }
    out.extend_from_slice(FILTER.as_bytes());
    out.extend_from_slice(b"<table>\n<thead><tr>");
    column_header(out, how, SortKey::Name, "n", "Name");
    column_header(out, how, SortKey::Size, "s", "Size");
    column_header(out, how, SortKey::Modified, "m", "Modified (UTC)");
    out.extend_from_slice(b"</tr></thead>\n<tbody>\n");
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

/// The path `url_path` (percent-encoded as received) with each folder on it a link to that
/// folder: `/`, `a/`, `b/` for `/a/b/`. Dot segments are resolved first (`/a/b/..` is `/a/`),
/// as path resolution did.
fn breadcrumbs(url_path: &str, out: &mut Vec<u8>) {
    let mut folders: Vec<&str> = Vec::new();
    for segment in url_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                folders.pop();
            }
            name => folders.push(name),
        }
    }
    out.extend_from_slice(b"<a href=\"/\">/</a>");
    let mut href = String::from("/");
    for name in folders {
        href.push_str(name);
        href.push('/');
        out.extend_from_slice(b"<a href=\"");
        escape_html(href.as_bytes(), out);
        out.extend_from_slice(b"\">");
        escape_html(&percent_decode_str(name).collect::<Vec<u8>>(), out);
        out.extend_from_slice(b"</a>/");
    }
}

/// A `<th>` whose link sorts by `key`: the active column's link flips the direction and shows an
/// arrow; the others sort by name ascending, or by size and date descending (largest and newest
/// first), which is what one usually wants from them.
fn column_header(out: &mut Vec<u8>, how: ListingOrder, key: SortKey, class: &str, label: &str) {
    let active = how.key == key;
    let next = match (active, how.order, key) {
        (true, Order::Asc, _) => Order::Desc,
        (true, Order::Desc, _) => Order::Asc,
        (false, _, SortKey::Name) => Order::Asc,
        (false, _, _) => Order::Desc,
    };
    out.extend_from_slice(b"<th class=\"");
    out.extend_from_slice(class.as_bytes());
    out.push(b'"');
    if active {
        out.extend_from_slice(match how.order {
            Order::Asc => b" aria-sort=\"ascending\"",
            Order::Desc => b" aria-sort=\"descending\"",
        });
    }
    out.extend_from_slice(b"><a href=\"?sort=");
    out.extend_from_slice(key.as_str().as_bytes());
    out.extend_from_slice(b"&amp;order=");
    out.extend_from_slice(next.as_str().as_bytes());
    out.extend_from_slice(b"\">");
    out.extend_from_slice(label.as_bytes());
    if active {
        out.extend_from_slice(match how.order {
            Order::Asc => " \u{25b2}".as_bytes(),
            Order::Desc => " \u{25bc}".as_bytes(),
        });
    }
    out.extend_from_slice(b"</a></th>");
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
        Some(size) if !entry.is_dir => crate::observe::units::write_size(size, out)?,
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

/// `YYYY-MM-DD HH:MM` in UTC for `secs` since the Unix epoch.
fn write_utc_minutes(secs: i64, out: &mut Vec<u8>) -> io::Result<()> {
    let (year, month, day, hour, minute, _) = utc_fields(secs);
    write!(out, "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

const HEAD_START: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<link rel=\"icon\" href=\"data:,\">\n";

/// What a folder offers besides its rows: itself as one zip (`files/archive.rs`).
const TOOLS: &str = "<p class=\"tools\"><a href=\"?download\" download>Download this folder \
(.zip)</a></p>\n";

/// Uploads into this folder: a file picker and a drop zone, hidden until the script runs. Each
/// file is sent by itself (`POST /files/{folder}/{name}`) with a progress bar; once all are
/// done, the rows are read again so the new files show.
const UPLOAD: &str = "<form id=\"upload\" class=\"upload\" hidden>\
<label>Upload files: <input type=\"file\" id=\"pick\" multiple></label> or drop them here\
<ul id=\"progress\"></ul></form>\n\
<script>(function(){var form=document.getElementById('upload'),pick=document.getElementById('pick'),\
list=document.getElementById('progress'),base='/files'+location.pathname,running=0;form.hidden=false;\
function refresh(){fetch(location.href,{headers:{Accept:'text/html'}}).then(function(r){return r.text();})\
.then(function(t){var fresh=new DOMParser().parseFromString(t,'text/html').querySelector('tbody');\
var old=document.querySelector('tbody');if(fresh&&old){old.replaceWith(fresh);}});}\
function one(f){var li=document.createElement('li'),bar=document.createElement('progress'),\
note=document.createElement('span');li.textContent=f.name+' ';bar.max=f.size||1;bar.value=0;\
li.appendChild(bar);li.appendChild(note);list.appendChild(li);running++;\
var x=new XMLHttpRequest();x.open('POST',base+encodeURIComponent(f.name));\
x.upload.onprogress=function(e){if(e.lengthComputable){bar.max=e.total||1;bar.value=e.loaded;\
note.textContent=' '+Math.floor(100*e.loaded/(e.total||1))+'%';}};\
function end(ok,text){li.className=ok?'ok':'failed';note.textContent=' '+text;if(ok){bar.value=bar.max;}\
if(--running===0){refresh();}}\
x.onload=function(){if(x.status===201){end(true,'done');}else{end(false,x.status+' '+x.responseText.trim());}};\
x.onerror=function(){end(false,'failed: connection lost');};x.send(f);}\
function send(files){for(var i=0;i<files.length;i++){one(files[i]);}}\
pick.addEventListener('change',function(){send(pick.files);pick.value='';});\
form.addEventListener('dragover',function(e){e.preventDefault();form.classList.add('over');});\
form.addEventListener('dragleave',function(){form.classList.remove('over');});\
form.addEventListener('drop',function(e){e.preventDefault();form.classList.remove('over');\
send(e.dataTransfer.files);});})();</script>\n";

/// The filter box: hidden until its script runs; typing hides the rows whose name does not
/// contain the text (ignoring case).
const FILTER: &str = "<input type=\"search\" id=\"filter\" placeholder=\"Filter names\" \
aria-label=\"Filter names\" autocomplete=\"off\" hidden>\n\
<script>(function(){var f=document.getElementById('filter');f.hidden=false;\
f.addEventListener('input',function(){var q=f.value.toLowerCase();\
document.querySelectorAll('tbody tr').forEach(function(r){var n=r.querySelector('td.n');\
r.hidden=!!q&&n.textContent!=='../'&&n.textContent.toLowerCase().indexOf(q)<0;});});})();\
</script>\n";

const STYLE: &str = "<style>\n\
:root{color-scheme:light dark}\n\
body{font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;margin:0 auto;padding:1rem;max-width:60rem}\n\
h1{font-size:1.25rem;font-weight:600;margin:.5rem 0 1rem;overflow-wrap:anywhere}\n\
h1 a{color:inherit}\n\
.tools{margin:0 0 .5rem}\n\
.upload{border:2px dashed #8886;border-radius:.5rem;padding:.75rem;margin:0 0 .75rem}\n\
.upload.over{border-color:#3b82f6;background:#3b82f611}\n\
.upload ul{list-style:none;margin:.5rem 0 0;padding:0}.upload li{overflow-wrap:anywhere}\n\
.upload progress{width:8rem;vertical-align:middle}.upload .failed{color:#dc2626}\n\
#filter{font:inherit;width:100%;max-width:20rem;box-sizing:border-box;padding:.3rem .5rem;margin:0 0 .5rem}\n\
table{width:100%;border-collapse:collapse}\n\
th,td{padding:.4rem .5rem;text-align:left;border-bottom:1px solid #8883}\n\
th{font-weight:600}th a{color:inherit;opacity:.75}th[aria-sort] a{opacity:1}\n\
td.n{overflow-wrap:anywhere}\n\
.s,.m{white-space:nowrap;font-variant-numeric:tabular-nums;opacity:.8}\n\
.s{text-align:right}\n\
a{text-decoration:none}a:hover{text-decoration:underline}\n\
@media (max-width:32rem){.m{display:none}}\n\
</style>\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn date(secs: i64) -> String {
        let mut out = Vec::new();
        write_utc_minutes(secs, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn breadcrumbs_link_every_folder_on_the_path() {
        let crumbs = |path: &str| {
            let mut out = Vec::new();
            breadcrumbs(path, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(crumbs("/"), "<a href=\"/\">/</a>");
        assert_eq!(crumbs("/a/."), crumbs("/a/"));
        assert_eq!(crumbs("/a/b/.."), crumbs("/a/"));
        assert_eq!(crumbs("//x//"), crumbs("/x/"));
        assert_eq!(
            crumbs("/a%20b/%3Cc%3E/"),
            "<a href=\"/\">/</a><a href=\"/a%20b/\">a b</a>/\
             <a href=\"/a%20b/%3Cc%3E/\">&lt;c&gt;</a>/"
        );
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
