//! What a person running sluice in a terminal sees, as with `python3 -m http.server`: one short
//! line per request on stderr (`20:41:07 192.168.1.23 GET /index.html 200 1.2 KiB`), and a line
//! at shutdown. Only when stderr is a terminal and `--quiet` is not given (`Config::console`);
//! the request fields are escaped as in the access log, so a client cannot send control
//! sequences to the terminal.
use super::access_log::{write_escaped, Entry};
use super::units::{counted, write_size};
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes the line for `entry`, answered at `now`, to `out`.
pub fn write_request(out: &mut impl Write, entry: &Entry<'_>, now: SystemTime) -> io::Result<()> {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    write!(
        out,
        "{:02}:{:02}:{:02} {} ",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        entry.peer
    )?;
    match entry.request {
        Some((method, target, _)) => {
            write_escaped(out, method.as_bytes())?;
            out.write_all(b" ")?;
            write_escaped(out, target.as_bytes())?;
        }
        None => out.write_all(b"-")?,
    }
    write!(out, " {} ", entry.status)?;
    write_size(entry.bytes, out)?;
    writeln!(out)
}

/// Prints the line for `entry` on stderr.
pub fn request(entry: &Entry<'_>, now: SystemTime) {
    let _ = write_request(&mut io::stderr().lock(), entry, now);
}

/// Prints the line at shutdown.
pub fn stopped(requests: u64, connections: u64) {
    let _ = writeln!(
        io::stderr().lock(),
        "sluice: stopped after {} on {}",
        counted(requests, "request"),
        counted(connections, "connection")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_request_line_is_short_and_escaped() {
        let entry = Entry {
            peer: "192.168.1.23".parse().unwrap(),
            request: Some(("GET", "/a\u{1b}[2J", "HTTP/1.1")),
            status: 200,
            bytes: 1229,
            referer: None,
            user_agent: None,
        };
        let at = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 20 * 3600 + 41 * 60 + 7);
        let mut out = Vec::new();
        write_request(&mut out, &entry, at).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "20:41:07 192.168.1.23 GET /a\\x1b[2J 200 1.2 KiB\n"
        );
    }
}
