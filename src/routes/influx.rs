//! The InfluxDB write API, so firmware written for the InfluxDB client libraries posts to
//! sluice by changing its URL: `POST /api/v2/write` (2.x) and `POST /write` (1.x) take line
//! protocol, plain or gzip, and store each line as a record of the device its `device` tag names
//! (else its `host` tag, else the client's address); `GET /ping` and `GET /health` answer the
//! libraries' connection checks. The `org`, `bucket`, `db` and `precision` parameters are
//! accepted and not used.
use super::context::Context;
use crate::http::error::RequestError;
use crate::http::reply::{Framing, Reply};
use crate::http::request::RequestHead;
use crate::http::response;
use crate::store::{Appended, DeviceId, Waiter};
use crate::values::parse::{is_line_protocol, line_protocol_tag, trim};
use std::collections::HashMap;
use std::io::Read as _;
use std::net::IpAddr;

/// Methods the write routes allow.
pub const ALLOW_WRITE: &str = "POST, OPTIONS";

/// Whether the body of a write comes gzip-encoded: `Content-Encoding` absent, `identity` or
/// `gzip`; anything else is 415.
pub fn gzip_encoded(head: &RequestHead<'_, '_>) -> Result<bool, RequestError> {
    match head.header("content-encoding").map(trim) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case(b"identity") || v.is_empty() => Ok(false),
        Some(v) if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") => Ok(true),
        Some(_) => Err(RequestError::UnsupportedEncoding),
    }
}

/// What storing a write did: how many device appends wait for their commit (each completes
/// the connection's waiter once), and the first error.
pub struct Written {
    pub waiting: u32,
    pub result: Result<(), RequestError>,
}

/// Stores the lines of a write body (inflated first when `gzip`, to at most `--max-body`
/// bytes). Every line is checked before anything is stored: one that is not line protocol
/// makes the write 400 with nothing stored. Empty lines and `#` comments are skipped.
pub fn store(ctx: &mut Context, body: &[u8], gzip: bool, peer: IpAddr, waiter: Waiter) -> Written {
    let refused = |err| Written {
        waiting: 0,
        result: Err(err),
    };
    let inflated;
    let text = if gzip {
        match inflate(body, ctx.config.max_body) {
            Ok(bytes) => {
                inflated = bytes;
                &inflated[..]
            }
            Err(err) => return refused(err),
        }
    } else {
        body
    };
    // The lines of each device, in the order devices first appear.
    let mut order: Vec<DeviceId> = Vec::new();
    let mut by_device: HashMap<DeviceId, Vec<u8>> = HashMap::new();
    for line in text.split(|&b| b == b'\n') {
        let line = trim(line);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        if !is_line_protocol(line) {
            return refused(RequestError::BadLineProtocol);
        }
        let id =
            match line_protocol_tag(line, b"device").or_else(|| line_protocol_tag(line, b"host")) {
                Some(name) => match DeviceId::parse(name) {
                    Ok(id) => id,
                    Err(err) => return refused(err),
                },
                None => DeviceId::from_ip(peer),
            };
        let lines = by_device.entry(id).or_insert_with(|| {
            order.push(id);
            Vec::new()
        });
        lines.extend_from_slice(line);
        lines.push(b'\n');
    }
    if order.is_empty() {
        return refused(RequestError::NoRecord);
    }
    if let Err(err) = ctx.open_store() {
        return refused(err);
    }
    let mut written = Written {
        waiting: 0,
        result: Ok(()),
    };
    for id in order {
        let lines = &by_device[&id];
        match ctx.store.append(id, (lines, None), peer, ctx.wall, waiter) {
            Ok(Appended::Waiting) => written.waiting += 1,
            Ok(Appended::Acknowledged | Appended::Duplicate) => {}
            Err(err) => {
                if written.result.is_ok() {
                    written.result = Err(err);
                }
            }
        }
    }
    written
}

/// A gzip body inflated, refused past `max` bytes (413) or when it does not inflate (400).
fn inflate(body: &[u8], max: u64) -> Result<Vec<u8>, RequestError> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(max.saturating_add(1));
    decoder
        .read_to_end(&mut out)
        .map_err(|_| RequestError::BadGzip)?;
    if out.len() as u64 > max {
        return Err(RequestError::BodyTooLarge);
    }
    Ok(out)
}

/// `GET /ping` (1.x): 204, as InfluxDB answers it.
pub fn ping(out: &mut Vec<u8>, date: &[u8], framing: Framing) -> Reply {
    response::start(out, 204, date);
    response::header(out, "X-Influxdb-Version", b"sluice");
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    Reply::buffered(204, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_bodies_inflate_up_to_the_cap() {
        let text = b"m t=1\n".repeat(100);
        assert_eq!(inflate(&gzip(&text), 600), Ok(text.clone()));
        assert_eq!(inflate(&gzip(&text), 599), Err(RequestError::BodyTooLarge));
        // A bomb stops at the cap, not at its size.
        let bomb = gzip(&vec![b'a'; 64 << 20]);
        assert_eq!(inflate(&bomb, 1 << 20), Err(RequestError::BodyTooLarge));
        assert_eq!(inflate(b"not gzip", 100), Err(RequestError::BadGzip));
        let mut cut = gzip(&text);
        cut.truncate(cut.len() / 2);
        assert_eq!(inflate(&cut, 1000), Err(RequestError::BadGzip));
    }
}
