//! Tests of validators and the precedence of preconditions (RFC 9110 section 13.2.2).
use super::*;

const TAG: &[u8] = b"\"abc\"";
/// Last-Modified of the representation under test: Sun, 06 Nov 1994 08:49:37 GMT plus 0.5 s.
const MODIFIED_SECS: u64 = 784_111_777;
const AT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

fn modified() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(MODIFIED_SECS * 1000 + 500)
}

fn v() -> Validators<'static> {
    Validators {
        etag: TAG,
        last_modified: modified(),
    }
}

fn eval(fields: &[(&'static str, &'static str)], get_or_head: bool) -> Precondition {
    let headers: Vec<httparse::Header<'static>> = fields
        .iter()
        .map(|&(name, value)| httparse::Header {
            name,
            value: value.as_bytes(),
        })
        .collect();
    evaluate(&headers, get_or_head, &v())
}

use Precondition::{Failed, NotModified, Proceed};

#[test]
fn etag_format() {
    let t = ETag::for_file(0x1a2b, 1024, UNIX_EPOCH + Duration::new(1, 5), "");
    assert_eq!(t.as_bytes(), b"\"1a2b-400-3b9aca05\"");
    let gz = ETag::for_file(0x1a2b, 1024, UNIX_EPOCH + Duration::new(1, 5), "gz");
    assert_eq!(gz.as_bytes(), b"\"1a2b-400-3b9aca05-gz\"");
    let zero = ETag::for_file(0, 0, UNIX_EPOCH, "");
    assert_eq!(zero.as_bytes(), b"\"0-0-0\"");
    let before = ETag::for_file(1, 1, UNIX_EPOCH - Duration::from_nanos(16), "");
    assert_eq!(before.as_bytes(), b"\"1-1-m10\"");
    let max = ETag::for_file(u64::MAX, u64::MAX, SystemTime::now(), "longsuffixcut");
    let s = std::str::from_utf8(max.as_bytes()).unwrap();
    assert!(s.starts_with("\"ffffffffffffffff-ffffffffffffffff-"), "{s}");
    assert!(s.ends_with("-longsuff\""), "{s}");
    assert!(max.as_bytes().len() <= ETAG_MAX);
    // nanoseconds matter: two writes within one second give two tags
    let a = ETag::for_file(1, 1, UNIX_EPOCH + Duration::new(5, 1), "");
    let b = ETag::for_file(1, 1, UNIX_EPOCH + Duration::new(5, 2), "");
    assert_ne!(a.as_bytes(), b.as_bytes());
}

#[test]
fn etag_hex_matches_the_standard_formatting_on_both_sides_of_64_bits() {
    let nanos_past_u64 = Duration::from_secs(20_000_000_000); // year 2603: more than 2^64 ns
    for (inode, size, since_epoch) in [
        (0x10, 0xf, Duration::from_nanos(0x1_0000_0000_0000)),
        (1 << 63, 7, Duration::from_nanos(u64::MAX)),
        (3, 0x1_0000_0000, nanos_past_u64),
        (u64::MAX, 0, nanos_past_u64 + Duration::from_nanos(1)),
    ] {
        let tag = ETag::for_file(inode, size, UNIX_EPOCH + since_epoch, "br");
        let expected = format!("\"{inode:x}-{size:x}-{:x}-br\"", since_epoch.as_nanos());
        assert_eq!(std::str::from_utf8(tag.as_bytes()).unwrap(), expected);
    }
}

#[test]
fn no_preconditions_proceed() {
    assert_eq!(eval(&[], true), Proceed);
    assert_eq!(eval(&[("Accept", "*/*")], true), Proceed);
}

#[test]
fn if_match_uses_strong_comparison() {
    assert_eq!(eval(&[("If-Match", "\"abc\"")], true), Proceed);
    assert_eq!(eval(&[("If-Match", "*")], true), Proceed);
    assert_eq!(eval(&[("If-Match", "\"x\", \"abc\"")], true), Proceed);
    assert_eq!(eval(&[("If-Match", "\"x\"")], true), Failed);
    assert_eq!(eval(&[("If-Match", "W/\"abc\"")], true), Failed);
    assert_eq!(eval(&[("If-Match", "abc")], true), Failed);
    assert_eq!(eval(&[("If-Match", "")], true), Failed);
    // list split over two fields
    assert_eq!(
        eval(&[("If-Match", "\"x\""), ("if-match", "\"abc\"")], true),
        Proceed
    );
    // a malformed element ends the list: what follows does not count
    assert_eq!(eval(&[("If-Match", "\"x\" y, \"abc\"")], true), Failed);
}

#[test]
fn if_none_match_uses_weak_comparison() {
    assert_eq!(eval(&[("If-None-Match", "\"abc\"")], true), NotModified);
    assert_eq!(eval(&[("If-None-Match", "W/\"abc\"")], true), NotModified);
    assert_eq!(eval(&[("If-None-Match", "*")], true), NotModified);
    assert_eq!(
        eval(&[("If-None-Match", "\"a\",W/\"abc\"")], true),
        NotModified
    );
    assert_eq!(eval(&[("If-None-Match", " \"a\" , \"b\" ")], true), Proceed);
    assert_eq!(eval(&[("If-None-Match", "\"ABC\"")], true), Proceed);
    assert_eq!(eval(&[("If-None-Match", "abc")], true), Proceed);
    assert_eq!(
        eval(
            &[("If-None-Match", "\"a\""), ("If-None-Match", "\"abc\"")],
            true
        ),
        NotModified
    );
    // on methods other than GET and HEAD a false If-None-Match is 412
    assert_eq!(eval(&[("If-None-Match", "\"abc\"")], false), Failed);
    assert_eq!(eval(&[("If-None-Match", "\"zzz\"")], false), Proceed);
}

#[test]
fn if_modified_since_compares_dates() {
    assert_eq!(eval(&[("If-Modified-Since", AT)], true), NotModified);
    assert_eq!(eval(&[("If-Modified-Since", AFTER)], true), NotModified);
    assert_eq!(eval(&[("If-Modified-Since", BEFORE)], true), Proceed);
    // the obsolete forms are dates too; same instant, different text
    assert_eq!(
        eval(
            &[("If-Modified-Since", "Sunday, 06-Nov-94 08:49:37 GMT")],
            true
        ),
        NotModified
    );
    assert_eq!(
        eval(&[("If-Modified-Since", "Sun Nov  6 08:49:37 1994")], true),
        NotModified
    );
    // Found by the conditional fuzz target: httpdate took any byte between an RFC 850 date and
    // its time. Not an HTTP-date, so the field is ignored.
    assert_eq!(
        eval(
            &[("If-Modified-Since", "Sunday, 06-Nov-94A08:49:37 GMT")],
            true
        ),
        Proceed
    );
    // unparseable or repeated: ignored
    assert_eq!(eval(&[("If-Modified-Since", "yesterday")], true), Proceed);
    assert_eq!(eval(&[("If-Modified-Since", "")], true), Proceed);
    assert_eq!(
        eval(
            &[("If-Modified-Since", AT), ("If-Modified-Since", AT)],
            true
        ),
        Proceed
    );
    // only for GET and HEAD
    assert_eq!(eval(&[("If-Modified-Since", AT)], false), Proceed);
}

#[test]
fn if_unmodified_since_compares_dates() {
    assert_eq!(eval(&[("If-Unmodified-Since", AT)], true), Proceed);
    assert_eq!(eval(&[("If-Unmodified-Since", AFTER)], true), Proceed);
    assert_eq!(eval(&[("If-Unmodified-Since", BEFORE)], true), Failed);
    assert_eq!(eval(&[("If-Unmodified-Since", "garbage")], true), Proceed);
    assert_eq!(eval(&[("If-Unmodified-Since", BEFORE)], false), Failed);
}

#[test]
fn precedence_of_section_13_2_2() {
    // Step 1 before step 3: a failed If-Match is 412 even when If-None-Match would give 304.
    assert_eq!(
        eval(&[("If-None-Match", "\"abc\""), ("If-Match", "\"x\"")], true),
        Failed
    );
    // Step 1 true, step 3 false: 304.
    assert_eq!(
        eval(
            &[("If-Match", "\"abc\""), ("If-None-Match", "\"abc\"")],
            true
        ),
        NotModified
    );
    // If-Match present: If-Unmodified-Since is not evaluated (it would fail).
    assert_eq!(
        eval(
            &[("If-Match", "\"abc\""), ("If-Unmodified-Since", BEFORE)],
            true
        ),
        Proceed
    );
    // If-Match false and If-Unmodified-Since true: still 412.
    assert_eq!(
        eval(
            &[("If-Match", "\"x\""), ("If-Unmodified-Since", AFTER)],
            true
        ),
        Failed
    );
    // Step 2 before step 4: a failed If-Unmodified-Since is 412 even with a 304 pending.
    assert_eq!(
        eval(
            &[("If-Modified-Since", AT), ("If-Unmodified-Since", BEFORE)],
            true
        ),
        Failed
    );
    // Step 2 true, step 4 false: 304.
    assert_eq!(
        eval(
            &[("If-Unmodified-Since", AT), ("If-Modified-Since", AT)],
            true
        ),
        NotModified
    );
    // If-None-Match present: If-Modified-Since is ignored, whichever way it points.
    assert_eq!(
        eval(
            &[("If-None-Match", "\"other\""), ("If-Modified-Since", AFTER)],
            true
        ),
        Proceed
    );
    assert_eq!(
        eval(
            &[("If-None-Match", "\"abc\""), ("If-Modified-Since", BEFORE)],
            true
        ),
        NotModified
    );
    // An unparseable If-Unmodified-Since does not stop a 304.
    assert_eq!(
        eval(
            &[("If-Unmodified-Since", "x"), ("If-None-Match", "*")],
            true
        ),
        NotModified
    );
    // All four, all passing: proceed.
    assert_eq!(
        eval(
            &[
                ("If-Match", "*"),
                ("If-Unmodified-Since", AFTER),
                ("If-None-Match", "\"zzz\""),
                ("If-Modified-Since", BEFORE),
            ],
            true
        ),
        Proceed
    );
}

#[test]
fn if_range_with_entity_tags_is_strong() {
    let now = modified() + Duration::from_secs(60);
    assert!(if_range_holds(b"\"abc\"", &v(), now));
    assert!(if_range_holds(b" \"abc\" ", &v(), now));
    assert!(!if_range_holds(b"W/\"abc\"", &v(), now));
    assert!(!if_range_holds(b"\"abd\"", &v(), now));
    assert!(!if_range_holds(b"\"abc\", \"abc\"", &v(), now));
    assert!(!if_range_holds(b"\"abc", &v(), now));
    assert!(!if_range_holds(b"", &v(), now));
    assert!(!if_range_holds(b"*", &v(), now));
}

#[test]
fn if_range_with_dates_is_exact_and_settled() {
    let now = modified() + Duration::from_secs(60);
    assert!(if_range_holds(AT.as_bytes(), &v(), now));
    assert!(!if_range_holds(AFTER.as_bytes(), &v(), now));
    assert!(!if_range_holds(BEFORE.as_bytes(), &v(), now));
    assert!(!if_range_holds(b"not a date", &v(), now));
    // modified less than a second ago: the date may hide a second change
    assert!(!if_range_holds(
        AT.as_bytes(),
        &v(),
        modified() + Duration::from_millis(999)
    ));
    assert!(if_range_holds(
        AT.as_bytes(),
        &v(),
        modified() + Duration::from_secs(1)
    ));
}

#[test]
fn entity_tag_lists() {
    let tags = |s: &'static str| -> Vec<Result<(bool, &'static [u8]), ()>> {
        EntityTags::new(s.as_bytes())
            .map(|t| t.map(|t| (t.weak, t.opaque)))
            .collect()
    };
    assert_eq!(tags(""), vec![]);
    assert_eq!(tags(" , ,"), vec![]);
    assert_eq!(
        tags("\"a\", W/\"b\",,\"\""),
        vec![
            Ok((false, &b"\"a\""[..])),
            Ok((true, &b"W/\"b\""[2..])),
            Ok((false, &b"\"\""[..]))
        ]
    );
    assert_eq!(tags("\"a\" \"b\""), vec![Err(())]);
    assert_eq!(tags("\"a b\""), vec![Err(())]);
    assert_eq!(tags("w/\"a\""), vec![Err(())]);
    assert_eq!(tags("\"a\",b"), vec![Ok((false, &b"\"a\""[..])), Err(())]);
}

#[test]
fn dates_before_1970_are_dates() {
    // Found by fuzz/fuzz_targets/conditional.rs: httpdate refuses years before 1970, so these
    // fields were ignored, and a file changed after such a date passed If-Unmodified-Since.
    let old = Validators {
        etag: TAG,
        last_modified: UNIX_EPOCH - Duration::from_millis(2500),
    };
    let eval_old = |name, value: &'static str| {
        let h = [httparse::Header {
            name,
            value: value.as_bytes(),
        }];
        evaluate(&h, true, &old)
    };
    // Modified at 1969-12-31 23:59:57.5.
    let hour_before = "Wed, 31 Dec 1969 22:59:58 GMT";
    assert_eq!(eval_old("If-Unmodified-Since", hour_before), Failed);
    assert_eq!(
        eval_old("If-Unmodified-Since", "Wed Dec 31 23:59:57 1969"),
        Proceed
    );
    assert_eq!(
        eval_old("If-Modified-Since", "Wed, 31 Dec 1969 23:59:57 GMT"),
        NotModified
    );
    assert_eq!(
        eval_old("If-Modified-Since", "Wed, 31 Dec 1969 23:59:56 GMT"),
        Proceed
    );
    assert_eq!(parse_date(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(parse_date(b"Wed, 31 Dec 1969 23:59:59 GMT"), Some(-1));
    assert_eq!(
        parse_date(b"Sat, 01 Jan 1600 00:00:00 GMT"),
        Some(-11_676_096_000)
    );
    assert_eq!(
        parse_date(b"Sat Jan  1 00:00:00 0000"),
        Some(-62_167_219_200)
    );
    assert_eq!(
        parse_date(b"Thu, 29 Feb 1968 12:00:00 GMT"),
        Some(-58_017_600)
    );
    // Still checked: the weekday, the day of the month, the form.
    assert_eq!(parse_date(b"Mon, 01 Jan 1600 00:00:00 GMT"), None);
    assert_eq!(parse_date(b"Fri, 29 Feb 1967 00:00:00 GMT"), None);
    assert_eq!(parse_date(b"Sat, 01 Jan 1600 00:00:00 UTC"), None);
    assert_eq!(parse_date(b"Sat, 01 Jan -600 00:00:00 GMT"), None);
}

#[test]
fn unix_seconds_round_down() {
    assert_eq!(unix_secs(UNIX_EPOCH + Duration::from_millis(1500)), 1);
    assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_millis(500)), -1);
    assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(2)), -2);
}
