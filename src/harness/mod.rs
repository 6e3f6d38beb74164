//! A whole connection driven by a script instead of a socket, for tests and fuzzing.
//!
//! A [`Script`] says what a client sends, cut into the reads the server sees, when it half-closes,
//! and how fast it reads the answers. [`run`] builds a [`Context`](crate::routes::context::Context) the way
//! the server does (on a [`Fixture`]: a static root of numbered files whose bytes name the file
//! and the offset, an empty data directory, an upload directory), feeds the script through a
//! [`MemoryTransport`] and drives the [`Connection`](crate::conn::Connection) the way the reactor
//! does: readiness, turns, the commit point and its completions, then the deadlines. [`check`]
//! is the oracle: the output is a well-formed sequence of HTTP/1.1 responses, in request order
//! and with the right content as far as the [`reference`] understands the requests, nothing after
//! a response that closes, buffers within their caps, ingested bodies whole and in order.
//!
//! `fuzz/fuzz_targets/connection.rs` runs it on fuzzer input ([`Script::from_fuzz`]), and
//! `tests/connection_script.rs` on the seed corpus and on hand-made scripts.
mod driver;
mod fixture;
mod oracle;
pub mod reference;
pub mod responses;
mod transport;

pub use driver::{run, Run};
pub use fixture::Fixture;
pub use oracle::{check, Report};
pub use transport::MemoryTransport;

use crate::store::AckMode;

/// Marks a cut between two reads in fuzzer input (removed from the stream).
pub const CUT: &[u8] = b"\xfe\xff";

/// What the client sends and how: the input of [`run`].
#[derive(Debug, Clone)]
pub struct Script {
    /// Every byte the client sends.
    pub stream: Vec<u8>,
    /// Ends of successive reads: turn `i` delivers `stream[ends[i - 1]..ends[i]]`. Increasing;
    /// the last is `stream.len()` (empty for an empty stream).
    pub ends: Vec<usize>,
    /// The client half-closes after sending everything.
    pub fin: bool,
    /// The FIN is reported with the last read (EPOLLRDHUP in the same event) rather than later.
    pub fin_with_last: bool,
    /// Most bytes one send accepts.
    pub write_per_call: usize,
    /// Bytes sends accept per turn while the script is sent (doubling per turn afterwards).
    pub write_per_turn: usize,
    /// Every third I/O call fails with `EINTR` first.
    pub interrupts: bool,
    pub ack: AckMode,
    pub max_body: u64,
}

/// Per-send caps the fuzzer chooses from (low nibble of the second byte).
const PER_CALL: [usize; 16] = [
    usize::MAX,
    1,
    2,
    3,
    4,
    5,
    7,
    8,
    13,
    16,
    64,
    100,
    512,
    1400,
    4096,
    65536,
];
/// Per-turn write budgets (high nibble of the second byte).
const PER_TURN: [usize; 16] = [
    usize::MAX,
    1,
    2,
    3,
    7,
    16,
    31,
    100,
    256,
    1000,
    1500,
    4096,
    8192,
    16384,
    65536,
    262144,
];
/// `--max-body` values (bits 4 and 5 of the first byte).
const MAX_BODY: [u64; 4] = [1 << 20, 4096, 16, 0];

impl Script {
    /// `stream` in one read, then a FIN; answers read at once; `--ack write`, 1 MiB bodies.
    pub fn new(stream: &[u8]) -> Script {
        Script {
            stream: stream.to_vec(),
            ends: if stream.is_empty() {
                Vec::new()
            } else {
                vec![stream.len()]
            },
            fin: true,
            fin_with_last: false,
            write_per_call: usize::MAX,
            write_per_turn: usize::MAX,
            interrupts: false,
            ack: AckMode::Write,
            max_body: MAX_BODY[0],
        }
    }

    /// The same script with reads of the sizes `cuts` gives.
    pub fn cut_by(mut self, cuts: &mut Cuts) -> Script {
        self.ends = cut(&self.ends, cuts);
        self
    }

    /// Decodes fuzzer input: `[flags] [writes] [cuts] stream`.
    ///
    /// - flags: bit 0 the client half-closes at the end, bit 1 that FIN comes with the last
    ///   read, bit 2 `--ack buffer`, else bit 6 `--ack fsync`, else `write`, bit 3 `EINTR`s,
    ///   bits 4-5 `--max-body` of 1 MiB, 4096, 16 or 0 bytes. `SLUICE_FUZZ_ACK` (`write`,
    ///   `fsync`, `buffer`) sets the mode whatever the flags say, for a campaign in one mode.
    /// - writes: low nibble the bytes one send takes, high nibble the bytes per turn (tables
    ///   `PER_CALL` and `PER_TURN`, 0 meaning unlimited).
    /// - cuts: a [`Cuts`] mode cutting the reads further, 255 for none.
    /// - stream: the client's bytes; each [`CUT`] in it ends a read and is removed.
    pub fn from_fuzz(data: &[u8]) -> Option<Script> {
        let (&[flags, writes, cuts], rest) = (data.get(..3)?, &data[3..]) else {
            return None;
        };
        let mut stream = Vec::with_capacity(rest.len());
        let mut ends = Vec::new();
        let mut pieces = rest.split_inclusive(|&b| b == CUT[1]).peekable();
        while let Some(piece) = pieces.next() {
            match piece.strip_suffix(CUT) {
                Some(before) => {
                    stream.extend_from_slice(before);
                    ends.push(stream.len());
                }
                None => stream.extend_from_slice(piece),
            }
            if pieces.peek().is_none() {
                ends.push(stream.len());
            }
        }
        ends.dedup();
        ends.retain(|&e| e > 0);
        let mut script = Script {
            fin: flags & 1 != 0,
            fin_with_last: flags & 2 != 0,
            ack: forced_ack().unwrap_or(if flags & 4 != 0 {
                AckMode::Buffer
            } else if flags & 64 != 0 {
                AckMode::Fsync
            } else {
                AckMode::Write
            }),
            interrupts: flags & 8 != 0,
            max_body: MAX_BODY[usize::from(flags >> 4) & 3],
            write_per_call: PER_CALL[usize::from(writes & 15)],
            write_per_turn: PER_TURN[usize::from(writes >> 4)],
            ..Script::new(&stream)
        };
        script.ends = ends;
        if cuts != 255 {
            script = script.cut_by(&mut Cuts::new(cuts));
        }
        Some(script)
    }
}

/// The ack mode `SLUICE_FUZZ_ACK` names, read once.
fn forced_ack() -> Option<AckMode> {
    static FORCED: std::sync::OnceLock<Option<AckMode>> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| match std::env::var("SLUICE_FUZZ_ACK").ok()?.as_str() {
        "write" => Some(AckMode::Write),
        "fsync" => Some(AckMode::Fsync),
        "buffer" => Some(AckMode::Buffer),
        other => panic!("SLUICE_FUZZ_ACK={other}: write, fsync or buffer"),
    })
}

/// Every end of `ends` plus the ends of reads of the sizes `cuts` gives within each read.
fn cut(ends: &[usize], cuts: &mut Cuts) -> Vec<usize> {
    let mut out = Vec::new();
    let mut start = 0;
    for &end in ends {
        let mut at = start;
        while at < end {
            at = (at + cuts.next_size()).min(end);
            out.push(at);
        }
        start = end;
    }
    out
}

/// A deterministic schedule of read sizes, like the sizes of successive `read(2)` results.
///
/// `mode < 64`: a fixed stride of `mode + 1` bytes (mode 0 feeds one byte at a time).
/// `mode >= 64`: sizes from a small xorshift generator seeded by `mode`, each in
/// `1..=max` where `max` is `(mode & 63) + 1`; irregular splits find bugs fixed strides miss.
#[derive(Debug, Clone)]
pub struct Cuts {
    stride: Option<usize>,
    max: usize,
    state: u32,
}

impl Cuts {
    pub fn new(mode: u8) -> Self {
        if mode < 64 {
            Cuts {
                stride: Some(usize::from(mode) + 1),
                max: 0,
                state: 0,
            }
        } else {
            Cuts {
                stride: None,
                max: usize::from(mode & 63) + 1,
                // Never zero: xorshift would stay at zero.
                state: 0x9e37_79b9 ^ u32::from(mode),
            }
        }
    }

    /// The size of the next read, at least 1.
    pub fn next_size(&mut self) -> usize {
        if let Some(stride) = self.stride {
            return stride;
        }
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        (x as usize % self.max) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_input_is_flags_writes_cuts_then_the_stream_with_cut_marks() {
        let s = Script::from_fuzz(b"\x13\x21\xffab\xfe\xffcd\xfe\xff\xfe\xffe\xff").unwrap();
        assert_eq!(s.stream, b"abcde\xff");
        assert_eq!(s.ends, [2, 4, 6]);
        assert!(s.fin && s.fin_with_last && !s.interrupts);
        assert_eq!((s.ack, s.max_body), (AckMode::Write, 4096));
        assert_eq!((s.write_per_call, s.write_per_turn), (1, 2));
        let s = Script::from_fuzz(b"\x04\x00\x01abcde").unwrap();
        assert_eq!(s.ends, [2, 4, 5]);
        assert_eq!((s.ack, s.fin), (AckMode::Buffer, false));
        assert_eq!(s.write_per_call, usize::MAX);
        let s = Script::from_fuzz(b"\x00\x00\xff").unwrap();
        assert!(s.stream.is_empty() && s.ends.is_empty());
        assert_eq!(
            Script::from_fuzz(b"\x40\x00\xff").unwrap().ack,
            AckMode::Fsync
        );
        assert_eq!(
            Script::from_fuzz(b"\x44\x00\xff").unwrap().ack,
            AckMode::Buffer
        );
        assert!(Script::from_fuzz(b"\x00\x00").is_none());
    }

    #[test]
    fn cuts_split_within_each_read() {
        assert_eq!(cut(&[3, 5], &mut Cuts::new(1)), [2, 3, 5]);
        let mut irregular = Cuts::new(64 + 7);
        let sizes: Vec<usize> = (0..100).map(|_| irregular.next_size()).collect();
        assert!(sizes.iter().all(|&s| (1..=8).contains(&s)));
        assert!(sizes.iter().any(|&s| s != sizes[0]));
    }
}
