//! Table tests for the body decoders. Every case runs three ways: the whole input in one call,
//! split in two at every byte, and one new byte per call (each call gets the unconsumed rest plus
//! the new bytes, like a connection would); all must agree.
use super::*;
use crate::http::error::RequestError::{self, *};
use crate::limits::{MAX_CHUNK_LINE_BYTES, MAX_TRAILER_BYTES};

/// What a run produced. `consumed` counts only when the body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    consumed: usize,
    done: bool,
    error: Option<RequestError>,
}

/// Feeds `input` cut at `cuts` (ascending offsets) the way a connection would.
fn drive(input: &[u8], cuts: &[usize], framing: BodyFraming, max_body: u64) -> Outcome {
    let mut decoder = BodyDecoder::new(framing, max_body);
    let mut pending: Vec<u8> = Vec::new();
    let mut body = Vec::new();
    let mut consumed = 0;
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        pending.extend_from_slice(&input[start..end]);
        start = end;
        let result = decoder.decode(&pending, &mut |data| {
            assert!(!data.is_empty(), "the sink never gets an empty run");
            body.extend_from_slice(data);
        });
        assert_eq!(decoder.received(), body.len() as u64);
        match result {
            Err(e) => {
                // Errors stick.
                assert_eq!(decoder.decode(b"0\r\n\r\n", &mut |_| {}), Err(e));
                return Outcome {
                    body,
                    consumed: 0,
                    done: false,
                    error: Some(e),
                };
            }
            Ok(d) => {
                assert!(d.consumed <= pending.len());
                pending.drain(..d.consumed);
                consumed += d.consumed;
                if d.done {
                    // A finished decoder consumes nothing more.
                    let again = decoder.decode(&pending, &mut |_| panic!("data after the end"));
                    assert_eq!(
                        again,
                        Ok(Decoded {
                            consumed: 0,
                            done: true
                        })
                    );
                    return Outcome {
                        body,
                        consumed,
                        done: true,
                        error: None,
                    };
                }
            }
        }
    }
    Outcome {
        body,
        consumed,
        done: false,
        error: None,
    }
}

fn run_case(input: &[u8], framing: BodyFraming, max_body: u64) -> Outcome {
    let expected = drive(input, &[], framing, max_body);
    for at in 0..=input.len() {
        assert_eq!(
            drive(input, &[at], framing, max_body),
            expected,
            "split at {at}"
        );
    }
    let every: Vec<usize> = (0..input.len()).collect();
    assert_eq!(
        drive(input, &every, framing, max_body),
        expected,
        "one byte at a time"
    );
    expected
}

enum Want {
    /// The body ended after `consumed` bytes with these data bytes.
    Done(&'static [u8], usize),
    /// The body has not ended; these data bytes arrived so far.
    More(&'static [u8]),
    Err(RequestError),
}

impl Want {
    fn check(&self, got: &Outcome) {
        match *self {
            Done(body, consumed) => {
                assert_eq!((got.error, got.done), (None, true), "{got:?}");
                assert_eq!(got.body, body, "body");
                assert_eq!(got.consumed, consumed, "consumed");
            }
            More(body) => {
                assert_eq!((got.error, got.done), (None, false), "{got:?}");
                assert_eq!(got.body, body, "body");
            }
            Want::Err(e) => assert_eq!(got.error, Some(e), "{got:?}"),
        }
    }
}

const MAX: u64 = 1 << 20;

/// `name: input, framing [, max_body] => want;`
macro_rules! body_cases {
    ($($name:ident: $input:expr, $framing:expr $(, $max:expr)? => $want:expr;)*) => {$(
        #[test]
        fn $name() {
            #[allow(unused_variables)]
            let max = MAX;
            $(let max = $max;)?
            let input: Vec<u8> = $input.to_vec();
            $want.check(&run_case(&input, $framing, max));
        }
    )*};
}

use BodyFraming::{Chunked, Length};
use Want::{Done, More};

fn chunked_line_of(len: usize) -> Vec<u8> {
    // "1;" then an extension name filling the line to `len` bytes, then data and the end.
    let mut v = b"1;".to_vec();
    v.resize(len, b'e');
    v.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    v
}

fn trailers_of(len: usize) -> Vec<u8> {
    // A trailer section (final CRLF included) of exactly `len` bytes.
    let fixed = "T: \r\n\r\n".len();
    let mut v = b"0\r\nT: ".to_vec();
    v.resize(v.len() + len - fixed, b'v');
    v.extend_from_slice(b"\r\n\r\n");
    v
}

body_cases! {
    // --- no body, Content-Length ---
    none_is_done_at_once: b"GET / HTTP/1.1\r\n\r\n", BodyFraming::None => Done(b"", 0);
    none_on_empty_input: b"", BodyFraming::None => Done(b"", 0);
    length: b"hello", Length(5) => Done(b"hello", 5);
    length_leaves_the_next_request: b"helloGET /", Length(5) => Done(b"hello", 5);
    length_partial: b"hel", Length(5) => More(b"hel");
    length_zero: b"GET", Length(0) => Done(b"", 0);
    length_exactly_max: b"0123456789abcdef", Length(16), 16 => Done(b"0123456789abcdef", 16);
    length_one_over_max: b"0123456789abcdefg", Length(17), 16 => Want::Err(BodyTooLarge);
    length_over_max_before_data: b"", Length(u64::MAX), 16 => Want::Err(BodyTooLarge);

    // --- chunked ---
    chunked_simple: b"5\r\nhello\r\n0\r\n\r\n", Chunked => Done(b"hello", 15);
    chunked_in_order: b"3\r\nabc\r\n1\r\nd\r\nA\r\n0123456789\r\n0\r\n\r\n", Chunked
        => Done(b"abcd0123456789", 34);
    chunked_hex_any_case: b"a\r\n0123456789\r\nB\r\n0123456789a\r\n0\r\n\r\n", Chunked
        => Done(b"01234567890123456789a", 36);
    chunked_leading_zeros: b"0005\r\nhello\r\n000\r\n\r\n", Chunked => Done(b"hello", 20);
    chunked_leaves_the_next_request: b"1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", Chunked => Done(b"x", 11);
    chunked_empty_body: b"0\r\n\r\n", Chunked => Done(b"", 5);
    chunked_partial_data: b"5\r\nhel", Chunked => More(b"hel");
    chunked_partial_end: b"5\r\nhello\r\n0\r\n\r", Chunked => More(b"hello");
    chunked_extensions: b"5;a=b;c\r\nhello\r\n0;last\r\n\r\n", Chunked => Done(b"hello", 26);
    chunked_extension_bws: b"5 ;\ta \t= b ; c\r\nhello\r\n0\r\n\r\n", Chunked => Done(b"hello", 28);
    chunked_quoted_extension: b"5;a=\"x; y=\\\"z\\\"\"\r\nhello\r\n0\r\n\r\n", Chunked => Done(b"hello", 30);
    chunked_quoted_then_more: b"1;a=\"\";b\r\nx\r\n0\r\n\r\n", Chunked => Done(b"x", 18);
    chunked_extension_empty_name: b"5;=b\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_extension_double_semicolon: b"5;;a\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_extension_empty_value: b"5;a=\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_extension_unclosed_quote: b"5;a=\"b\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_extension_junk_after_quote: b"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_extension_space_in_token: b"5;a=b c\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_extension_bad_byte: b"5;a@b\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_space_after_size: b"5 \r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_space_before_size: b" 5\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_trailers: b"5\r\nhello\r\n0\r\nX-Sum: abc\r\nY:\r\nZ: \tv w \r\n\r\n", Chunked
        => Done(b"hello", 41);
    chunked_trailer_obs_fold: b"1\r\nx\r\n0\r\nX: a\r\n b\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_trailer_space_before_colon: b"1\r\nx\r\n0\r\nX : a\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_trailer_no_colon: b"1\r\nx\r\n0\r\nX\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_trailer_nul: b"1\r\nx\r\n0\r\nX: a\0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_trailer_bare_lf: b"1\r\nx\r\n0\r\nX: a\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_final_bare_lf: b"1\r\nx\r\n0\r\n\n", Chunked => Want::Err(MalformedChunk);
    chunked_trailers_exact_cap: trailers_of(MAX_TRAILER_BYTES), Chunked => Done(b"", 3 + MAX_TRAILER_BYTES);
    chunked_trailers_over_cap: trailers_of(MAX_TRAILER_BYTES + 1), Chunked => Want::Err(TrailersTooLarge);
    chunked_empty_size: b"\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_empty_size_before_ext: b";a\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_0x_prefix: b"0x10\r\n0123456789abcdef\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_sign: b"+5\r\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_bare_lf_size_line: b"5\nhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_bare_cr_size_line: b"5\rhello\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_bare_lf_last_chunk: b"5\r\nhello\r\n0\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_missing_crlf_after_data: b"5\r\nhelloX\r\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_lf_only_after_data: b"5\r\nhello\n0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_cr_only_after_data: b"5\r\nhello\r0\r\n\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_error_after_data_keeps_data: b"5\r\nhello\r\n1\r\nab", Chunked => Want::Err(MalformedChunk);
    chunked_sixteen_digits_over_max: b"ffffffffffffffff\r\n", Chunked => Want::Err(BodyTooLarge);
    chunked_sixteen_digits_with_zeros: b"0000000000000001\r\nx\r\n0\r\n\r\n", Chunked => Done(b"x", 26);
    chunked_zeros_past_sixteen_digits: b"000000000000000000000001\r\nx\r\n00000000000000000000\r\n\r\n", Chunked => Done(b"x", 53);
    chunked_seventeen_significant_digits: b"000100000000000000000\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_seventeen_digits_with_zeros: b"00000000000000001\r\nx\r\n0\r\n\r\n", Chunked => Done(b"x", 27);
    chunked_huge_size_overflow: b"123456789abcdef0123456789\r\n", Chunked => Want::Err(MalformedChunk);
    chunked_line_exact_cap: chunked_line_of(MAX_CHUNK_LINE_BYTES), Chunked => Done(b"x", MAX_CHUNK_LINE_BYTES + 10);
    chunked_line_over_cap: chunked_line_of(MAX_CHUNK_LINE_BYTES + 1), Chunked => Want::Err(MalformedChunk);
    chunked_exactly_max: b"8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n", Chunked, 16
        => Done(b"0123456789abcdef", 31);
    chunked_one_over_max: b"8\r\n01234567\r\n9\r\n89abcdefg\r\n0\r\n\r\n", Chunked, 16
        => Want::Err(BodyTooLarge);
    chunked_over_max_at_size_line: b"8\r\n01234567\r\n9\r\n", Chunked, 16 => Want::Err(BodyTooLarge);
    chunked_over_max_waits_for_the_line: b"8\r\n01234567\r\n9", Chunked, 16 => More(b"01234567");
}

#[test]
fn error_after_data_delivers_the_data_first() {
    // The "a" of the second chunk is delivered before the "b" that should have been CR.
    let got = run_case(b"5\r\nhello\r\n1\r\nab", Chunked, MAX);
    assert_eq!(
        (got.body.as_slice(), got.error),
        (&b"helloa"[..], Some(MalformedChunk))
    );
    let got = run_case(b"8\r\n01234567\r\n9\r\n", Chunked, 16);
    assert_eq!(
        (got.body.as_slice(), got.error),
        (&b"01234567"[..], Some(BodyTooLarge))
    );
}

#[test]
fn new_never_panics_and_received_starts_at_zero() {
    for framing in [BodyFraming::None, Length(0), Length(u64::MAX), Chunked] {
        for max in [0, 1, u64::MAX] {
            assert_eq!(BodyDecoder::new(framing, max).received(), 0);
        }
    }
}

#[test]
fn large_length_body_is_passed_in_bulk() {
    let input = vec![7u8; 100_000];
    let mut decoder = BodyDecoder::new(Length(100_000), u64::MAX);
    let mut calls = 0;
    let d = decoder.decode(&input, &mut |data| {
        calls += 1;
        assert_eq!(data.len(), 100_000);
    });
    assert_eq!(
        d,
        Ok(Decoded {
            consumed: 100_000,
            done: true
        })
    );
    assert_eq!((calls, decoder.received()), (1, 100_000));
}

#[test]
fn no_panic_on_arbitrary_bytes() {
    let alphabet = [
        b'0', b'f', b'\r', b'\n', b';', b'=', b'"', b'\\', b' ', b':',
    ];
    let mut input = [0u8; 6];
    for mut n in 0..alphabet.len().pow(6) as u32 {
        for b in input.iter_mut() {
            *b = alphabet[n as usize % alphabet.len()];
            n /= alphabet.len() as u32;
        }
        let mut decoder = BodyDecoder::new(Chunked, 4);
        let _ = decoder.decode(&input, &mut |_| {});
    }
}
