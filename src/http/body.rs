//! Request body decoders (RFC 9112 sections 6 and 7): Content-Length and chunked, strict and
//! bounded. Byte-at-a-time safe: any split of the input gives the same result.
use crate::error::RequestError;
use crate::http::request::BodyFraming;

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
pub struct BodyDecoder { /* fields chosen by the implementation */ }

/// Cap on the trailer section of a chunked body, in bytes (431 `TrailersTooLarge` beyond it).
pub const MAX_TRAILER_BYTES: usize = 8 * 1024;
/// Cap on one chunk-size line including extensions, in bytes (`MalformedChunk` beyond it).
pub const MAX_CHUNK_LINE: usize = 4 * 1024;

impl BodyDecoder {
    /// A decoder for `framing` that refuses bodies longer than `max_body` bytes with
    /// `BodyTooLarge` (as soon as a length or chunk size shows it, before the data arrives).
    pub fn new(framing: BodyFraming, max_body: u64) -> Self {
        let _ = (framing, max_body);
        todo!()
    }

    /// Consumes as much of `input` as possible, passing each run of body data to `sink` in order.
    /// Returns after `input` is exhausted or the body ends (bytes after the end are not consumed:
    /// they belong to the next request).
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<Decoded, RequestError> {
        let _ = (input, sink);
        todo!()
    }

    /// Body bytes delivered so far.
    pub fn received(&self) -> u64 {
        todo!()
    }
}
