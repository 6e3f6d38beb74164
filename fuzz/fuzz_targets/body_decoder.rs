//! The request body decoders (`sluice::http::body::BodyDecoder`): Content-Length and chunked.
//!
//! Input: `[config] [len lo] [len hi] [split mode] body...`. `config` bits 0-1 choose the framing
//! (chunked, Content-Length with the 16-bit length that follows, or none), bits 2-4 the body cap;
//! the split mode chooses the read sizes (see `sluice_fuzz::Cuts`). The body is decoded in one call and again in reads of
//! the chosen sizes, each call getting the unconsumed rest plus the new bytes, as a connection
//! does. Both runs must deliver the same bytes and end the same way; consumption never exceeds
//! what was given and stops at the end of the body; a finished or failed decoder stays so; and a
//! chunked body that sluice accepts decodes to the same bytes with a deliberately lenient
//! reference decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::http::error::RequestError;
use sluice::http::body::BodyDecoder;
use sluice::http::request::BodyFraming;
use sluice_fuzz::{find, Cuts};

const MAX_BODY: [u64; 8] = [0, 1, 16, 255, 4096, 1 << 20, i64::MAX as u64, u64::MAX];

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    consumed: usize,
    done: bool,
    error: Option<RequestError>,
}

fuzz_target!(|input: &[u8]| {
    let [config, len_lo, len_hi, mode, data @ ..] = input else {
        return;
    };
    let framing = match config & 3 {
        1 => BodyFraming::Length(u64::from(u16::from_le_bytes([*len_lo, *len_hi]))),
        2 => BodyFraming::None,
        _ => BodyFraming::Chunked,
    };
    let max_body = MAX_BODY[usize::from(config >> 2 & 7)];

    let whole = drive(data, framing, max_body, None);
    let split = drive(data, framing, max_body, Some(Cuts::new(*mode)));
    assert_eq!(
        whole, split,
        "split decoding disagrees with one-shot decoding"
    );

    assert!(whole.body.len() as u64 <= max_body, "body over the cap");
    if whole.error.is_none() && !whole.done {
        assert_eq!(whole.consumed, data.len(), "stopped early without ending");
    }
    match (framing, &whole) {
        (_, Outcome { error: Some(e), .. }) => assert!(
            matches!(
                e,
                RequestError::MalformedChunk
                    | RequestError::BodyTooLarge
                    | RequestError::TrailersTooLarge
            ),
            "unexpected error {e:?}"
        ),
        (BodyFraming::None, o) => assert!(o.done && o.consumed == 0),
        (BodyFraming::Length(n), o) => {
            let n = n as usize;
            if o.done {
                assert_eq!((o.consumed, &o.body[..]), (n, &data[..n]));
            } else {
                assert_eq!(o.body, data);
            }
        }
        (BodyFraming::Chunked, o) if o.done => {
            let framed = &data[..o.consumed];
            assert_eq!(
                reference_chunked(framed),
                Some((o.body.clone(), o.consumed))
            );
        }
        (BodyFraming::Chunked, _) => {}
    }
});

/// Decodes `data` in one call (`cuts` = None) or in reads of the sizes `cuts` yields.
fn drive(data: &[u8], framing: BodyFraming, max_body: u64, cuts: Option<Cuts>) -> Outcome {
    let mut decoder = BodyDecoder::new(framing, max_body);
    let mut cuts = cuts;
    let mut pending: Vec<u8> = Vec::new();
    let mut body = Vec::new();
    let (mut consumed, mut fed) = (0, 0);
    loop {
        let next = match cuts.as_mut() {
            Some(c) => (fed + c.next_size()).min(data.len()),
            None => data.len(),
        };
        pending.extend_from_slice(&data[fed..next]);
        fed = next;
        let result = decoder.decode(&pending, &mut |run| {
            assert!(!run.is_empty(), "empty run handed to the sink");
            body.extend_from_slice(run);
        });
        assert_eq!(decoder.received(), body.len() as u64);
        match result {
            Err(e) => {
                // The first error sticks. (What was consumed before it does not matter: the
                // connection closes.)
                assert_eq!(
                    decoder.decode(b"0\r\n\r\n", &mut |_| panic!("data after error")),
                    Err(e)
                );
                return Outcome {
                    body,
                    consumed: 0,
                    done: false,
                    error: Some(e),
                };
            }
            Ok(d) => {
                assert!(d.consumed <= pending.len(), "consumed more than given");
                pending.drain(..d.consumed);
                consumed += d.consumed;
                if d.done {
                    // A finished decoder takes nothing more.
                    let mut rest = pending.clone();
                    rest.extend_from_slice(&data[fed..]);
                    let again = decoder.decode(&rest, &mut |_| panic!("data after the end"));
                    assert_eq!(again.map(|d| (d.consumed, d.done)), Ok((0, true)));
                    return Outcome {
                        body,
                        consumed,
                        done: true,
                        error: None,
                    };
                }
                if fed == data.len() {
                    return Outcome {
                        body,
                        consumed,
                        done: false,
                        error: None,
                    };
                }
            }
        }
    }
}

/// A chunked decoder that knows only the outline of RFC 9112 section 7.1 (size in hex, anything
/// up to CRLF, data, CRLF; after size 0, lines up to an empty one). It accepts more than sluice,
/// so on what sluice accepts it must agree: same data, same end.
fn reference_chunked(framed: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut pos = 0;
    let line = |pos: usize| -> Option<(&[u8], usize)> {
        let rest = framed.get(pos..)?;
        let end = find(rest, b"\r\n")?;
        Some((&rest[..end], pos + end + 2))
    };
    loop {
        let (size_line, next) = line(pos)?;
        let digits = size_line
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let size = u64::from_str_radix(std::str::from_utf8(&size_line[..digits]).ok()?, 16).ok()?;
        pos = next;
        if size == 0 {
            loop {
                let (trailer, next) = line(pos)?;
                pos = next;
                if trailer.is_empty() {
                    return Some((body, pos));
                }
            }
        }
        let end = pos.checked_add(usize::try_from(size).ok()?)?;
        body.extend_from_slice(framed.get(pos..end)?);
        pos = end;
        if framed.get(pos..pos + 2)? != b"\r\n" {
            return None;
        }
        pos += 2;
    }
}
