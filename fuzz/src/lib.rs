//! Helpers shared by the fuzz targets: how a target turns its leading control bytes into a
//! schedule of read sizes, and small byte predicates used by the oracles.
//!
//! Every target reads a few control bytes first and treats the rest as the data under test, so
//! the seed corpus files start with those bytes too (see `fuzz/gen_corpus.py`).

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

/// True if some LF in `bytes` is not preceded by a CR (the first byte counts as not preceded).
pub fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// The first position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
