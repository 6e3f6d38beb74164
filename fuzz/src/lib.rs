//! Helpers shared by the fuzz targets: how a target turns its leading control bytes into a
//! schedule of read sizes, and small byte predicates used by the oracles.
//!
//! Every target reads a few control bytes first and treats the rest as the data under test, so
//! the seed corpus files start with those bytes too (see `fuzz/gen_corpus.py`).

/// The schedule of read sizes, shared with the whole-connection harness of the main crate.
pub use sluice::harness::Cuts;

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
