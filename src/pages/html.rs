//! Small pieces of the generated HTML: escaping, numbers and ages as people read them.
use std::borrow::Cow;

/// `at` in RFC 3339 with milliseconds, UTC (`2026-11-22T16:40:00.007Z`), as the API writes it.
pub fn rfc3339(at: std::time::SystemTime) -> String {
    let mut out = Vec::with_capacity(24);
    crate::store::record::push_rfc3339_millis(&mut out, at);
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` safe inside HTML text and quoted attribute values.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A reading as shown: at most three decimals, without trailing zeros (`21.5`, `40`, `0.125`).
pub fn number(value: f64) -> String {
    if value.abs() >= 1e15 {
        return format!("{value:e}");
    }
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" => "0".to_string(),
        t => t.to_string(),
    }
}

/// How long ago `at_ms` was at `now_ms`: `just now`, `12 s ago`, `5 min ago`, `3 h ago`,
/// `2 d ago`.
pub fn ago(now_ms: i64, at_ms: i64) -> String {
    let secs = (now_ms - at_ms).max(0) / 1000;
    match secs {
        0 => "just now".to_string(),
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_needs() {
        assert_eq!(escape("t"), "t");
        assert_eq!(
            escape(r#"<a href="x">'&'"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;"
        );
    }

    #[test]
    fn numbers_and_ages() {
        assert_eq!(number(21.5), "21.5");
        assert_eq!(number(40.0), "40");
        assert_eq!(number(1.0 / 3.0), "0.333");
        assert_eq!(number(-0.0001), "0");
        assert_eq!(number(1013.25), "1013.25");
        assert_eq!(number(2e20), "2e20");
        assert_eq!(ago(10_000, 10_000), "just now");
        assert_eq!(ago(70_000, 10_000), "1 min ago");
        assert_eq!(ago(10_000, 20_000), "just now");
        assert_eq!(ago(90_000_000, 0), "1 d ago");
    }
}
