//! Table tests for `Range` parsing, resolution, coalescing and caps (RFC 9110 section 14).
use super::*;
use crate::limits::MAX_RANGES;

fn r(first: u64, last: u64) -> ByteRange {
    ByteRange { first, last }
}

/// The ranges of a 206 decision, or a panic naming the field.
fn partial(field: &str, len: u64) -> Vec<(u64, u64)> {
    match evaluate(field.as_bytes(), len) {
        RangeDecision::Partial(set) => set.as_slice().iter().map(|x| (x.first, x.last)).collect(),
        other => panic!("{field:?} on {len} bytes: expected 206, got {other:?}"),
    }
}

macro_rules! cases {
    ($len:expr; $($field:expr => $want:expr),* $(,)?) => {
        $( assert_eq!(evaluate($field.as_bytes(), $len), $want, "{:?} on {} bytes", $field, $len); )*
    };
}

#[test]
fn single_ranges_of_every_form() {
    for (field, want) in [
        ("bytes=0-0", (0, 0)),
        ("bytes=0-99", (0, 99)),
        ("bytes=10-19", (10, 19)),
        ("bytes=10-", (10, 99)),
        ("bytes=99-", (99, 99)),
        ("bytes=-1", (99, 99)),
        ("bytes=-10", (90, 99)),
        // clipped to the length
        ("bytes=50-1000", (50, 99)),
        ("bytes=-1000", (0, 99)),
        ("bytes=0-18446744073709551615", (0, 99)),
        // unit is case-insensitive
        ("BYTES=1-2", (1, 2)),
        ("Bytes=1-2", (1, 2)),
        // leading zeros are digits like any other
        ("bytes=007-0009", (7, 9)),
    ] {
        assert_eq!(partial(field, 100), vec![want], "{field}");
    }
}

#[test]
fn invalid_fields_are_ignored() {
    use Ignored::*;
    use RangeDecision::Full;
    cases!(100;
        "" => Full(Invalid),
        "bytes" => Full(Invalid),
        "bytes=" => Full(Invalid),
        "bytes=," => Full(Invalid),
        "bytes= , ," => Full(Invalid),
        "bytes=-" => Full(Invalid),
        "bytes=--1" => Full(Invalid),
        "bytes=1--2" => Full(Invalid),
        "bytes=a-b" => Full(Invalid),
        "bytes=1-b" => Full(Invalid),
        "bytes=+1-2" => Full(Invalid),
        "bytes=1-+2" => Full(Invalid),
        "bytes=0x10-20" => Full(Invalid),
        "bytes=1.5-2" => Full(Invalid),
        "bytes=5-4" => Full(Invalid),
        "bytes=0-1,5-4" => Full(Invalid),
        "bytes=0-1,x" => Full(Invalid),
        "bytes=1" => Full(Invalid),
        "=0-1" => Full(Invalid),
        "by tes=0-1" => Full(Invalid),
        "bytes=0-1;x" => Full(Invalid),
        "items=0-1" => Full(UnknownUnit),
        "none=0-1" => Full(UnknownUnit),
        "bytes2=0-1" => Full(UnknownUnit),
    );
}

#[test]
fn whitespace_only_around_commas() {
    use Ignored::*;
    use RangeDecision::Full;
    assert_eq!(partial("bytes=0-1, 5-6", 100), vec![(0, 1), (5, 6)]);
    assert_eq!(partial("bytes=0-1 ,\t5-6", 100), vec![(0, 1), (5, 6)]);
    assert_eq!(partial("bytes= 0-1", 100), vec![(0, 1)]);
    assert_eq!(partial("bytes=0-1 ", 100), vec![(0, 1)]);
    // empty list elements are skipped (section 5.6.1.2)
    assert_eq!(partial("bytes=,0-1,,5-6,", 100), vec![(0, 1), (5, 6)]);
    cases!(100;
        "bytes =0-1" => Full(Invalid),
        " bytes=0-1" => Full(Invalid),
        "bytes=0 -1" => Full(Invalid),
        "bytes=0- 1" => Full(Invalid),
        "bytes=- 1" => Full(Invalid),
        "bytes=0-1 2" => Full(Invalid),
    );
}

#[test]
fn numbers_too_large_for_64_bits_saturate() {
    let huge = "99999999999999999999999999999999";
    assert_eq!(
        evaluate(format!("bytes={huge}-").as_bytes(), 100),
        RangeDecision::Unsatisfiable
    );
    assert_eq!(
        evaluate(format!("bytes=18446744073709551615-{huge}").as_bytes(), 100),
        RangeDecision::Unsatisfiable
    );
    assert_eq!(partial(&format!("bytes=5-{huge}"), 100), vec![(5, 99)]);
    assert_eq!(partial(&format!("bytes=-{huge}"), 100), vec![(0, 99)]);
    // lengths past 4 GiB keep every bit
    let len = (1u64 << 32) + (1 << 20);
    assert_eq!(
        partial("bytes=4294967296-4294971391", len),
        vec![(1 << 32, (1 << 32) + 4095)]
    );
    assert_eq!(partial("bytes=-1", len), vec![(len - 1, len - 1)]);
    assert_eq!(partial("bytes=0-", u64::MAX), vec![(0, u64::MAX - 1)]);
    assert_eq!(
        partial("bytes=-18446744073709551615", u64::MAX),
        vec![(0, u64::MAX - 1)]
    );
}

#[test]
fn unsatisfiable_ranges() {
    use RangeDecision::*;
    cases!(100;
        "bytes=100-" => Unsatisfiable,
        "bytes=100-200" => Unsatisfiable,
        "bytes=-0" => Unsatisfiable,
        "bytes=100-,200-300,-0" => Unsatisfiable,
    );
    // one satisfiable range among unsatisfiable ones is enough
    assert_eq!(partial("bytes=100-,5-6,-0", 100), vec![(5, 6)]);
    // an empty representation: int-ranges are unsatisfiable, suffix-ranges select nothing
    cases!(0;
        "bytes=0-" => Unsatisfiable,
        "bytes=0-0" => Unsatisfiable,
        "bytes=-0" => Unsatisfiable,
        "bytes=-5" => Full(Ignored::EmptyRepresentation),
        "bytes=0-,-5" => Full(Ignored::EmptyRepresentation),
    );
}

#[test]
fn overlapping_and_adjacent_ranges_coalesce_in_ascending_order() {
    assert_eq!(partial("bytes=0-9,10-19", 100), vec![(0, 19)]);
    assert_eq!(partial("bytes=10-19,0-9", 100), vec![(0, 19)]);
    assert_eq!(partial("bytes=0-10,5-15", 100), vec![(0, 15)]);
    assert_eq!(partial("bytes=0-9,11-19", 100), vec![(0, 9), (11, 19)]);
    assert_eq!(partial("bytes=50-59,0-9", 100), vec![(0, 9), (50, 59)]);
    assert_eq!(partial("bytes=-10,0-0", 100), vec![(0, 0), (90, 99)]);
    assert_eq!(partial("bytes=0-0,-100", 100), vec![(0, 99)]);
    // a range bridging several others swallows them all
    assert_eq!(
        partial("bytes=0-1,10-11,20-21,30-31,2-29", 100),
        vec![(0, 31)]
    );
    assert_eq!(
        partial("bytes=20-21,0-1,10-11,5-15", 100),
        vec![(0, 1), (5, 15), (20, 21)]
    );
    // the same range many times
    assert_eq!(partial("bytes=5-6,5-6,5-6", 100), vec![(5, 6)]);
}

#[test]
fn total_len_sums_the_ranges() {
    let RangeDecision::Partial(set) = evaluate(b"bytes=0-9,20-29,-5", 100) else {
        panic!()
    };
    assert_eq!(set.as_slice(), &[r(0, 9), r(20, 29), r(95, 99)]);
    assert_eq!(set.total_len(), 25);
}

/// `count` disjoint one-byte ranges `0-0,2-2,4-4,...`.
fn scattered(count: usize) -> String {
    let specs: Vec<String> = (0..count).map(|i| format!("{0}-{0}", 2 * i)).collect();
    format!("bytes={}", specs.join(","))
}

#[test]
fn cap_exactly_at_the_limit_and_one_over() {
    let at = partial(&scattered(MAX_RANGES), 1000);
    assert_eq!(at.len(), MAX_RANGES);
    assert_eq!(at[MAX_RANGES - 1], (30, 30));
    assert_eq!(
        evaluate(scattered(MAX_RANGES + 1).as_bytes(), 1000),
        RangeDecision::Full(Ignored::TooManyRanges)
    );
    // Ranges past the end do not count towards the cap.
    let with_dead = format!("{},900-,950-960", scattered(MAX_RANGES));
    assert_eq!(partial(&with_dead, 900).len(), MAX_RANGES);
    // Ranges that coalesce do not count either: 18 specs, 16 distinct.
    let merged = format!("{},30-30,0-0", scattered(MAX_RANGES));
    assert_eq!(partial(&merged, 1000).len(), MAX_RANGES);
    // An invalid spec after the cap was reached still makes the whole field invalid.
    let invalid_after = format!("{},9-8", scattered(MAX_RANGES + 1));
    assert_eq!(
        evaluate(invalid_after.as_bytes(), 1000),
        RangeDecision::Full(Ignored::Invalid)
    );
}

#[test]
fn apache_killer_headers_get_a_small_answer() {
    // The classic: `0-` plus 1,300 overlapping ranges. Coalesced to the one whole range.
    let mut field = String::from("bytes=0-");
    for i in 0..1300 {
        field.push_str(&format!(",5-{}", 5 + i));
    }
    assert_eq!(partial(&field, 10_000), vec![(0, 9_999)]);
    // 1,300 adjacent one-byte ranges: one range.
    let specs: Vec<String> = (0..1300).map(|i| format!("{i}-{i}")).collect();
    let field = format!("bytes={}", specs.join(","));
    assert_eq!(partial(&field, 10_000), vec![(0, 1299)]);
    // The same in reverse order.
    let specs: Vec<String> = (0..1300).rev().map(|i| format!("{i}-{i}")).collect();
    let field = format!("bytes={}", specs.join(","));
    assert_eq!(partial(&field, 10_000), vec![(0, 1299)]);
    // 1,300 scattered ranges: the whole file once, with 200.
    assert_eq!(
        evaluate(scattered(1300).as_bytes(), 10_000),
        RangeDecision::Full(Ignored::TooManyRanges)
    );
    // 1,300 identical suffix ranges.
    let field = format!("bytes={}", vec!["-1"; 1300].join(","));
    assert_eq!(partial(&field, 10_000), vec![(9_999, 9_999)]);
}

#[test]
fn insert_keeps_the_set_sorted_disjoint_and_apart() {
    // Every pair order of a few ranges gives the same normalized set.
    let input = [
        r(0, 0),
        r(2, 3),
        r(5, 9),
        r(4, 4),
        r(20, 25),
        r(11, 12),
        r(24, 30),
    ];
    let mut orders = vec![input.to_vec()];
    let mut rev = input.to_vec();
    rev.reverse();
    orders.push(rev);
    for order in orders {
        let mut set = RangeSet::EMPTY;
        for x in order {
            assert!(set.insert(x));
        }
        assert_eq!(set.as_slice(), &[r(0, 0), r(2, 9), r(11, 12), r(20, 30)]);
    }
    // ranges touching u64::MAX do not overflow
    let mut set = RangeSet::EMPTY;
    assert!(set.insert(r(u64::MAX - 1, u64::MAX)));
    assert!(set.insert(r(0, u64::MAX - 2)));
    assert_eq!(set.as_slice(), &[r(0, u64::MAX)]);
}

#[test]
fn header_writers() {
    let mut out = Vec::new();
    content_range(&mut out, r(0, 99), 1000);
    unsatisfied_range(&mut out, 1000);
    assert_eq!(
        out,
        b"Content-Range: bytes 0-99/1000\r\nContent-Range: bytes */1000\r\n"
    );
    let b = boundary(0x0123_4567_89ab_cdef);
    assert_eq!(&b, b"sluice-0123456789abcdef");
    assert!(b.iter().all(|&c| is_tchar(c)));
    let mut out = Vec::new();
    part_head(&mut out, &b, b"text/plain", r(5, 9), 10);
    multipart_end(&mut out, &b);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\r\n--sluice-0123456789abcdef\r\nContent-Type: text/plain\r\n\
         Content-Range: bytes 5-9/10\r\n\r\n\r\n--sluice-0123456789abcdef--\r\n"
    );
    assert_eq!(trim_ows(b" \t a b\t "), b"a b");
    assert_eq!(trim_ows(b" \t "), b"");
}

/// Found by the `range` fuzz target (fuzz/regressions/range/).
#[test]
fn numbers_past_64_bits_are_compared_exactly() {
    let huge = b"bytes=18446744073709551617-18446744073709551616";
    assert_eq!(evaluate(huge, 100), RangeDecision::Full(Ignored::Invalid));
    let mixed = b"bytes=0-9,18446744073709551617-18446744073709551616";
    assert_eq!(evaluate(mixed, 100), RangeDecision::Full(Ignored::Invalid));
    let ok = b"bytes=18446744073709551616-18446744073709551617";
    assert_eq!(evaluate(ok, 100), RangeDecision::Unsatisfiable);
}

/// Found by the `range` fuzz target: the verdict must not depend on the order of the ranges.
#[test]
fn the_range_cap_counts_after_merging_in_any_order() {
    let scattered: Vec<String> = (0..17).map(|i| format!("{0}-{0}", i * 2)).collect();
    let last = format!("bytes={},0-", scattered.join(","));
    let first = format!("bytes=0-,{}", scattered.join(","));
    for field in [last, first] {
        match evaluate(field.as_bytes(), 100) {
            RangeDecision::Partial(set) => {
                assert_eq!(
                    set.as_slice(),
                    &[ByteRange { first: 0, last: 99 }],
                    "{field}"
                );
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    let too_many: Vec<String> = (0..17).map(|i| format!("{0}-{0}", i * 2)).collect();
    let field = format!("bytes={}", too_many.join(","));
    assert_eq!(
        evaluate(field.as_bytes(), 100),
        RangeDecision::Full(Ignored::TooManyRanges)
    );
}
