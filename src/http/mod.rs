//! Sans-IO HTTP/1.1: request heads, body decoders, response heads, dates, ranges, validators and
//! preconditions, content negotiation, query strings, `Content-Disposition`.
//!
//! Nothing in this folder touches a socket, the reactor or the device store: it reads `&[u8]` and
//! writes `&mut Vec<u8>`, so it can be unit-tested, fuzzed and benched without I/O.

pub mod accept_encoding;
pub mod body;
pub mod conditional;
pub mod date;
pub mod disposition;
pub mod error;
pub mod gzip;
pub mod query;
pub mod range;
pub mod reply;
pub mod request;
pub mod response;
pub mod sse;
mod target;

/// Parse outcome for incremental parsers: complete, or more bytes needed (not an error).
/// Errors travel separately as `Err(RequestError)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<T> {
    Complete(T),
    NeedMore,
}
