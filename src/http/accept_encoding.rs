//! `Accept-Encoding` (RFC 9110 section 12.5.3) and the weighted-list syntax it shares with
//! `Accept` (section 12.4.2, `weight = OWS ";" OWS "q=" qvalue`). Sans-IO and allocation-free.
//!
//! The effective weight of a content coding for a field value:
//!
//! - an entry naming the coding (case-insensitive; `x-gzip` is `gzip`, section 8.4.1.3) gives its
//!   weight; the first such entry counts;
//! - otherwise `*` gives its weight to every coding not listed, `identity` included;
//! - otherwise `identity` is acceptable (weight 1) and every other coding is not;
//! - an empty field value accepts `identity` only.
//!
//! Without the field, section 12.5.3 says any coding is acceptable; sluice only sends a content
//! coding to a client that asked for it (a script or `curl` without `--compressed` must get the
//! bytes of the file), so without the field only `identity` is acceptable here.
//!
//! Elements that do not parse (a bad `q`) are skipped.

/// A weight in thousandths: `q=0.5` is 500, `q=1` is 1000.
pub type Weight = u16;

/// The highest weight.
pub const MAX_WEIGHT: Weight = 1000;

/// The effective weight of `coding` for the `Accept-Encoding` value `field` (see module docs);
/// 0 means not acceptable.
pub fn weight(field: Option<&[u8]>, coding: &str) -> Weight {
    let coding = canonical(coding.as_bytes());
    let is_identity = coding.eq_ignore_ascii_case(b"identity");
    let Some(field) = field else {
        return if is_identity { MAX_WEIGHT } else { 0 };
    };
    let mut star = None;
    for (name, q) in weighted(field) {
        if canonical(name).eq_ignore_ascii_case(coding) {
            return q;
        }
        if name == b"*" && star.is_none() {
            star = Some(q);
        }
    }
    match star {
        Some(q) => q,
        None if is_identity => MAX_WEIGHT,
        None => 0,
    }
}

/// Whether `coding` is acceptable (weight above 0) for the `Accept-Encoding` value `field`.
pub fn accepts(field: Option<&[u8]>, coding: &str) -> bool {
    weight(field, coding) > 0
}

/// The acceptable coding with the highest weight among `offered`, which is in the server's order
/// of preference (ties go to the earlier one); `None` if none is acceptable.
pub fn preferred<'c>(field: Option<&[u8]>, offered: &[&'c str]) -> Option<&'c str> {
    let mut best: Option<(&'c str, Weight)> = None;
    for &coding in offered {
        let q = weight(field, coding);
        if q > 0 && best.map_or(true, |(_, b)| q > b) {
            best = Some((coding, q));
        }
    }
    best.map(|(c, _)| c)
}

/// `x-gzip` and `x-compress` are the old names of `gzip` and `compress`.
fn canonical(coding: &[u8]) -> &[u8] {
    if coding.eq_ignore_ascii_case(b"x-gzip") {
        b"gzip"
    } else if coding.eq_ignore_ascii_case(b"x-compress") {
        b"compress"
    } else {
        coding
    }
}

/// The elements of a comma-separated list with optional parameters, each as its value (trimmed,
/// parameters removed) and its weight (`q`, default 1). Empty elements and elements whose `q`
/// does not parse are skipped. Used for `Accept-Encoding` and `Accept`.
pub fn weighted(field: &[u8]) -> impl Iterator<Item = (&[u8], Weight)> {
    field.split(|&b| b == b',').filter_map(|element| {
        let mut parts = element.split(|&b| b == b';');
        let value = trim(parts.next().unwrap_or(&[]));
        if value.is_empty() {
            return None;
        }
        let mut q = MAX_WEIGHT;
        for param in parts {
            let param = trim(param);
            if param.len() >= 2 && param[..2].eq_ignore_ascii_case(b"q=") {
                q = qvalue(&param[2..])?;
            }
        }
        Some((value, q))
    })
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` (section 12.4.2).
fn qvalue(s: &[u8]) -> Option<Weight> {
    let (&int, rest) = s.split_first()?;
    let frac = match rest {
        [] => &[][..],
        [b'.', frac @ ..] if frac.len() <= 3 => frac,
        _ => return None,
    };
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match int {
        b'0' => {
            let mut n: Weight = 0;
            for i in 0..3 {
                n = n * 10 + frac.get(i).map_or(0, |&d| Weight::from(d - b'0'));
            }
            Some(n)
        }
        b'1' if frac.iter().all(|&d| d == b'0') => Some(MAX_WEIGHT),
        _ => None,
    }
}

fn trim(s: &[u8]) -> &[u8] {
    super::range::trim_ows(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSER: &[u8] = b"gzip, deflate, br, zstd";

    #[test]
    fn qvalues() {
        for (s, want) in [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.123", Some(123)),
            ("0.000", Some(0)),
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("1.001", None),
            ("0.1234", None),
            ("2", None),
            ("-1", None),
            (".5", None),
            ("", None),
            ("0.5x", None),
            ("0,5", None),
        ] {
            assert_eq!(qvalue(s.as_bytes()), want, "{s:?}");
        }
    }

    #[test]
    fn weights_of_listed_codings() {
        let f = Some(&b"gzip;q=0.5, br;q=1.0, deflate;q=0"[..]);
        assert_eq!(weight(f, "gzip"), 500);
        assert_eq!(weight(f, "br"), 1000);
        assert_eq!(weight(f, "deflate"), 0);
        assert_eq!(weight(f, "zstd"), 0);
        assert_eq!(weight(f, "identity"), 1000);
        assert!(accepts(Some(BROWSER), "br"));
        assert!(accepts(Some(BROWSER), "GZIP"));
        assert!(!accepts(Some(BROWSER), "compress"));
        // whitespace and case
        let f = Some(&b" GZip ; Q=0.3 ,\tbr\t"[..]);
        assert_eq!(weight(f, "gzip"), 300);
        assert_eq!(weight(f, "br"), 1000);
        // the first entry for a coding counts
        assert_eq!(weight(Some(b"gzip;q=0, gzip"), "gzip"), 0);
        // x-gzip is gzip, both ways
        assert!(accepts(Some(b"x-gzip"), "gzip"));
        assert!(accepts(Some(b"gzip"), "x-gzip"));
        // other parameters are ignored, a bad q drops the element
        assert_eq!(weight(Some(b"gzip;level=9;q=0.2"), "gzip"), 200);
        assert_eq!(weight(Some(b"gzip;q=2, br"), "gzip"), 0);
        assert_eq!(weight(Some(b"gzip;q=2, br"), "br"), 1000);
        assert_eq!(weight(Some(b"gzip;q = 0.5"), "gzip"), MAX_WEIGHT);
    }

    #[test]
    fn star_and_identity() {
        assert!(accepts(Some(b"*"), "gzip"));
        assert!(accepts(Some(b"*"), "identity"));
        assert!(!accepts(Some(b"*;q=0"), "gzip"));
        assert!(!accepts(Some(b"*;q=0"), "identity"));
        assert!(accepts(Some(b"*;q=0, identity"), "identity"));
        assert!(accepts(Some(b"identity;q=0, *"), "gzip"));
        assert!(!accepts(Some(b"identity;q=0, *"), "identity"));
        assert!(!accepts(Some(b"identity;q=0"), "identity"));
        assert!(!accepts(Some(b"gzip, identity;q=0"), "identity"));
        assert_eq!(weight(Some(b"br, *;q=0.1"), "gzip"), 100);
        assert_eq!(weight(Some(b"br, *;q=0.1"), "br"), 1000);
        // an explicit entry wins over * wherever it is
        assert_eq!(weight(Some(b"*;q=0.1, gzip;q=0.9"), "gzip"), 900);
    }

    #[test]
    fn absent_and_empty_fields_mean_identity_only() {
        assert!(accepts(None, "identity"));
        assert!(!accepts(None, "gzip"));
        assert!(accepts(Some(b""), "identity"));
        assert!(!accepts(Some(b""), "gzip"));
        assert!(!accepts(Some(b" , ,"), "gzip"));
    }

    #[test]
    fn preference_picker() {
        let offer = ["br", "gzip"];
        assert_eq!(preferred(Some(BROWSER), &offer), Some("br"));
        assert_eq!(preferred(Some(b"gzip, br"), &offer), Some("br"));
        assert_eq!(preferred(Some(b"gzip;q=1, br;q=0.9"), &offer), Some("gzip"));
        assert_eq!(preferred(Some(b"gzip"), &offer), Some("gzip"));
        assert_eq!(preferred(Some(b"br;q=0, gzip;q=0"), &offer), None);
        assert_eq!(preferred(Some(b"deflate"), &offer), None);
        assert_eq!(preferred(None, &offer), None);
        assert_eq!(preferred(Some(b"*"), &offer), Some("br"));
        assert_eq!(preferred(Some(b"*"), &["gzip", "br"]), Some("gzip"));
        assert_eq!(
            preferred(Some(b"gzip;q=0.5"), &["br", "gzip", "identity"]),
            Some("identity")
        );
        assert_eq!(
            preferred(Some(b"identity;q=0"), &["br", "gzip", "identity"]),
            None
        );
        assert_eq!(preferred(Some(b"gzip"), &[]), None);
    }

    #[test]
    fn weighted_lists_for_accept() {
        let items: Vec<(&[u8], Weight)> =
            weighted(b"text/html, application/json;q=0.9 ,, */*;q=0.8;level=1").collect();
        assert_eq!(
            items,
            vec![
                (&b"text/html"[..], 1000),
                (&b"application/json"[..], 900),
                (&b"*/*"[..], 800)
            ]
        );
    }
}
