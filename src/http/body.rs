//! Request body decoders (RFC 9112 sections 6 and 7): Content-Length and chunked, strict and
//! bounded. Byte-at-a-time safe: any split of the input gives the same result.
//!
//! The chunked framing (size lines, extensions, CRLFs, trailers) is a state machine fed one byte
//! at a time, so nothing is buffered; chunk data is handed to the sink in runs as large as the
//! input allows.
use crate::http::error::RequestError;
use crate::http::request::{is_tchar, BodyFraming};
use crate::limits::{MAX_CHUNK_LINE_BYTES, MAX_TRAILER_BYTES};

/// What one `decode` call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of `input` consumed (framing and data). The caller drops them from its buffer.
    pub consumed: usize,
    /// The body (and, for chunked, its trailer section) has ended.
    pub done: bool,
}

/// Decodes one request body. Holds no buffer: partial chunk lines are tracked in its state.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    /// `Length`: body bytes still expected. `Size`: the chunk size read so far.
    /// `Data`: bytes left in the current chunk.
    remaining: u64,
    /// Hex digits in the current chunk-size from its first non-zero one (1 for zeros only).
    digits: u8,
    /// Bytes of the current chunk-size line (CRLF excluded), or of the trailer section.
    line: usize,
    max_body: u64,
    received: u64,
    /// The first error; every later call repeats it.
    failed: Option<RequestError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Content-Length data.
    Length,
    /// Chunk-size hex digits.
    Size,
    /// After the chunk-size: extensions up to the CR.
    Ext(Ext),
    /// The LF ending a chunk-size line.
    SizeLf,
    /// Chunk data.
    Data,
    /// The CRLF after chunk data.
    DataCr,
    DataLf,
    /// Start of a trailer field line, or the CR of the final empty line.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// The LF of the final empty line.
    FinalLf,
    Done,
}

/// Positions inside `chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`
/// (RFC 9112 section 7.1.1), with `ext-val = token / quoted-string`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// Right after the size or a complete extension: CR, ";" or BWS.
    Start,
    /// BWS that must be followed by ";".
    Ws,
    BeforeName,
    Name,
    /// BWS after a name: "=" or ";" must follow.
    AfterName,
    BeforeValue,
    Token,
    Quoted,
    Escape,
}

const CR: u8 = b'\r';
const LF: u8 = b'\n';

impl BodyDecoder {
    /// A decoder for `framing` that refuses bodies longer than `max_body` bytes with
    /// `BodyTooLarge` (as soon as a length or chunk size shows it, before the data arrives).
    pub fn new(framing: BodyFraming, max_body: u64) -> Self {
        let (state, remaining) = match framing {
            BodyFraming::None => (State::Done, 0),
            BodyFraming::Length(n) => (State::Length, n),
            BodyFraming::Chunked => (State::Size, 0),
        };
        let failed = match framing {
            BodyFraming::Length(n) if n > max_body => Some(RequestError::BodyTooLarge),
            _ => None,
        };
        BodyDecoder {
            state,
            remaining,
            digits: 0,
            line: 0,
            max_body,
            received: 0,
            failed,
        }
    }

    /// Consumes as much of `input` as possible, passing each run of body data to `sink` in order.
    /// Returns after `input` is exhausted or the body ends (bytes after the end are not consumed:
    /// they belong to the next request).
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<Decoded, RequestError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let result = self.run(input, sink);
        if let Err(e) = result {
            self.failed = Some(e);
        }
        result
    }

    /// Body bytes delivered so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    fn run(&mut self, input: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<Decoded, RequestError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => {
                    return Ok(Decoded {
                        consumed: pos,
                        done: true,
                    })
                }
                State::Length | State::Data if self.remaining == 0 => {
                    self.state = match self.state {
                        State::Length => State::Done,
                        _ => State::DataCr,
                    };
                }
                State::Length | State::Data => {
                    let available = input.get(pos..).unwrap_or_default();
                    if available.is_empty() {
                        break;
                    }
                    let n = usize::try_from(self.remaining)
                        .map_or(available.len(), |r| r.min(available.len()));
                    sink(&available[..n]);
                    pos += n;
                    self.remaining -= n as u64;
                    self.received += n as u64;
                }
                _ => {
                    let Some(&b) = input.get(pos) else { break };
                    pos += 1;
                    self.state = self.step(b)?;
                }
            }
        }
        Ok(Decoded {
            consumed: pos,
            done: false,
        })
    }

    /// One framing byte of a chunked body (RFC 9112 section 7.1). Returns the next state.
    fn step(&mut self, b: u8) -> Result<State, RequestError> {
        let malformed = Err(RequestError::MalformedChunk);
        match self.state {
            State::Size | State::Ext(_) if b != CR => {
                self.line += 1;
                if self.line > MAX_CHUNK_LINE_BYTES {
                    return malformed;
                }
            }
            State::TrailerStart
            | State::TrailerName
            | State::TrailerValue
            | State::TrailerLf
            | State::FinalLf => {
                self.line += 1;
                if self.line > MAX_TRAILER_BYTES {
                    return Err(RequestError::TrailersTooLarge);
                }
            }
            _ => {}
        }
        match self.state {
            // chunk-size = 1*HEXDIG; at most 16 significant digits, so the value always fits in
            // a u64. Leading zeros are valid however many (the line's length still bounds them).
            State::Size => match hex_value(b) {
                Some(d) if self.remaining == 0 => {
                    self.digits = 1;
                    self.remaining = d;
                    Ok(State::Size)
                }
                Some(d) if self.digits < 16 => {
                    self.digits += 1;
                    self.remaining = self.remaining << 4 | d;
                    Ok(State::Size)
                }
                Some(_) => malformed,
                None if self.digits == 0 => malformed,
                None => self.ext(Ext::Start, b),
            },
            State::Ext(at) => self.ext(at, b),
            State::SizeLf if b == LF => self.end_size_line(),
            State::DataCr if b == CR => Ok(State::DataLf),
            State::DataLf if b == LF => {
                self.remaining = 0;
                self.digits = 0;
                self.line = 0;
                Ok(State::Size)
            }
            // trailer-section = *( field-line CRLF ); field-line = token ":" OWS value OWS.
            State::TrailerStart if b == CR => Ok(State::FinalLf),
            State::TrailerStart | State::TrailerName if is_tchar(b) => Ok(State::TrailerName),
            State::TrailerName if b == b':' => Ok(State::TrailerValue),
            State::TrailerValue if is_field_byte(b) => Ok(State::TrailerValue),
            State::TrailerValue if b == CR => Ok(State::TrailerLf),
            State::TrailerLf if b == LF => Ok(State::TrailerStart),
            State::FinalLf if b == LF => Ok(State::Done),
            _ => malformed,
        }
    }

    /// The chunk-size line is complete: check the size against the body cap.
    fn end_size_line(&mut self) -> Result<State, RequestError> {
        let size = self.remaining;
        match self.received.checked_add(size) {
            Some(total) if total <= self.max_body => {}
            _ => return Err(RequestError::BodyTooLarge),
        }
        self.line = 0;
        Ok(if size == 0 {
            State::TrailerStart
        } else {
            State::Data
        })
    }

    /// One byte of the chunk extensions; they are checked and ignored.
    fn ext(&self, at: Ext, b: u8) -> Result<State, RequestError> {
        let ws = b == b' ' || b == b'\t';
        let next = match at {
            Ext::Start | Ext::Token if b == CR => return Ok(State::SizeLf),
            Ext::Name if b == CR => return Ok(State::SizeLf),
            Ext::Start | Ext::Ws | Ext::Name | Ext::AfterName | Ext::Token if b == b';' => {
                Ext::BeforeName
            }
            Ext::Start | Ext::Ws | Ext::Token if ws => Ext::Ws,
            Ext::BeforeName | Ext::Name if is_tchar(b) => Ext::Name,
            Ext::BeforeName if ws => Ext::BeforeName,
            Ext::Name | Ext::AfterName if ws => Ext::AfterName,
            Ext::Name | Ext::AfterName if b == b'=' => Ext::BeforeValue,
            Ext::BeforeValue if ws => Ext::BeforeValue,
            Ext::BeforeValue if b == b'"' => Ext::Quoted,
            Ext::BeforeValue | Ext::Token if is_tchar(b) => Ext::Token,
            // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 section 5.6.4)
            Ext::Quoted if b == b'"' => Ext::Start,
            Ext::Quoted if b == b'\\' => Ext::Escape,
            Ext::Quoted | Ext::Escape if is_field_byte(b) => Ext::Quoted,
            _ => return Err(RequestError::MalformedChunk),
        };
        Ok(State::Ext(next))
    }
}

fn hex_value(b: u8) -> Option<u64> {
    char::from(b).to_digit(16).map(u64::from)
}

/// HTAB, SP, VCHAR or obs-text: the bytes allowed in a field value, `qdtext` (which also excludes
/// `"` and `\`, matched before this) and a `quoted-pair`.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || b.is_ascii_graphic() || b >= 0x80
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
