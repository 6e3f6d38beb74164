//! The access log in Combined Log Format, one line per response, buffered and flushed once per
//! loop turn. Request-supplied fields are escaped so a client cannot forge lines or inject
//! terminal control sequences.
use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// What one log line records.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub peer: IpAddr,
    /// `METHOD target HTTP/x.y` pieces, or `None` when the request line could not be parsed.
    pub request: Option<(&'a str, &'a str, &'a str)>,
    pub status: u16,
    /// Body bytes of the response.
    pub bytes: u64,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
}

/// The parts of a request the access log needs, copied out of the read buffer for replies that
/// are written after the head is gone (ingest replies wait for the commit). Reused per
/// connection, so capturing does not allocate once warm.
#[derive(Debug, Default)]
pub struct RequestSummary {
    buf: Vec<u8>,
    method: std::ops::Range<usize>,
    target: std::ops::Range<usize>,
    version: &'static str,
    referer: Option<std::ops::Range<usize>>,
    user_agent: Option<std::ops::Range<usize>>,
}

impl RequestSummary {
    /// Copies the logged fields of a request.
    pub fn capture(
        &mut self,
        method: &str,
        target: &str,
        version: &'static str,
        referer: Option<&[u8]>,
        user_agent: Option<&[u8]>,
    ) {
        self.buf.clear();
        let mut push = |bytes: &[u8]| {
            let start = self.buf.len();
            self.buf.extend_from_slice(bytes);
            start..self.buf.len()
        };
        self.method = push(method.as_bytes());
        self.target = push(target.as_bytes());
        self.referer = referer.map(&mut push);
        self.user_agent = user_agent.map(&mut push);
        self.version = version;
    }

    /// The log entry for this request answered with `status` and `bytes` of body.
    pub fn entry(&self, peer: IpAddr, status: u16, bytes: u64) -> Entry<'_> {
        let text =
            |r: &std::ops::Range<usize>| std::str::from_utf8(&self.buf[r.clone()]).unwrap_or("-");
        Entry {
            peer,
            request: Some((text(&self.method), text(&self.target), self.version)),
            status,
            bytes,
            referer: self.referer.clone().map(|r| &self.buf[r]),
            user_agent: self.user_agent.clone().map(|r| &self.buf[r]),
        }
    }
}

/// A buffered access log.
pub struct AccessLog {
    /// Where it is written (`-` for standard output), for [`AccessLog::reopen`].
    path: std::path::PathBuf,
    out: BufWriter<Box<dyn Write + Send>>,
    stamp_second: u64,
    stamp: [u8; 26],
}

impl AccessLog {
    /// Opens `path` for appending (created if missing); `-` is standard output.
    pub fn open(path: &Path) -> io::Result<AccessLog> {
        Ok(AccessLog {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(64 * 1024, sink(path)?),
            stamp_second: u64::MAX,
            stamp: [b' '; 26],
        })
    }

    /// Appends one line for `entry`, stamped with `now`.
    pub fn record(&mut self, entry: &Entry<'_>, now: SystemTime) -> io::Result<()> {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs != self.stamp_second {
            self.stamp_second = secs;
            self.stamp = clf_timestamp(secs);
        }
        let out = &mut self.out;
        write!(out, "{} - - [", entry.peer)?;
        out.write_all(&self.stamp)?;
        out.write_all(b"] \"")?;
        match entry.request {
            Some((method, target, version)) => {
                write_escaped(out, method.as_bytes())?;
                out.write_all(b" ")?;
                write_escaped(out, target.as_bytes())?;
                out.write_all(b" ")?;
                out.write_all(version.as_bytes())?;
            }
            None => out.write_all(b"-")?,
        }
        write!(out, "\" {} {} \"", entry.status, entry.bytes)?;
        write_escaped(out, entry.referer.unwrap_or(b"-"))?;
        out.write_all(b"\" \"")?;
        write_escaped(out, entry.user_agent.unwrap_or(b"-"))?;
        out.write_all(b"\"\n")
    }

    /// Writes buffered lines out.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Writes buffered lines out and opens the path again (SIGHUP, after logrotate renamed the
    /// file): later lines go to a new file of that name. On error the old file stays in use.
    pub fn reopen(&mut self) -> io::Result<()> {
        self.out.flush()?;
        let sink = sink(&self.path)?;
        self.out = BufWriter::with_capacity(64 * 1024, sink);
        Ok(())
    }
}

/// The writer for `path`: the file opened for appending (created if missing), or stdout for `-`.
fn sink(path: &Path) -> io::Result<Box<dyn Write + Send>> {
    Ok(if path.as_os_str() == "-" {
        Box::new(io::stdout())
    } else {
        Box::new(OpenOptions::new().create(true).append(true).open(path)?)
    })
}

/// Copies `bytes`, escaping `"`, `\`, control characters and non-ASCII as `\xHH`.
pub fn write_escaped(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.write_all(&bytes[start..i])?;
            write!(out, "\\x{b:02x}")?;
            start = i + 1;
        }
    }
    out.write_all(&bytes[start..])
}

/// `10/Oct/2000:13:55:36 +0000` for `secs` since the epoch (UTC).
fn clf_timestamp(secs: u64) -> [u8; 26] {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let text = format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    let mut stamp = [b' '; 26];
    let n = text.len().min(26);
    stamp[..n].copy_from_slice(&text.as_bytes()[..n]);
    stamp
}

/// Proleptic Gregorian (year, month 1-12, day 1-31) for a count of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(&clf_timestamp(0), b"01/Jan/1970:00:00:00 +0000");
        assert_eq!(&clf_timestamp(971_186_136), b"10/Oct/2000:13:55:36 +0000");
        assert_eq!(&clf_timestamp(1_709_208_000), b"29/Feb/2024:12:00:00 +0000");
    }

    #[test]
    fn escapes_request_fields() {
        let mut out = Vec::new();
        write_escaped(&mut out, b"a\"b\\c\x1b[31m\n\xff").unwrap();
        assert_eq!(out, b"a\\x22b\\x5cc\\x1b[31m\\x0a\\xff");
    }

    #[test]
    fn writes_combined_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let mut log = AccessLog::open(&path).unwrap();
        let entry = Entry {
            peer: "127.0.0.1".parse().unwrap(),
            request: Some(("GET", "/x?y=1", "HTTP/1.1")),
            status: 404,
            bytes: 10,
            referer: None,
            user_agent: Some(b"curl/8"),
        };
        log.record(&entry, UNIX_EPOCH + Duration::from_secs(971_186_136))
            .unwrap();
        log.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /x?y=1 HTTP/1.1\" 404 10 \"-\" \"curl/8\"\n"
        );
    }
}
