//! Server-Sent Events framing (HTML Living Standard, "Server-sent events", section 9.2.5/9.2.6):
//! a record becomes one event whose `data:` lines are the record's lines, so a record can never
//! end an event early or inject fields, whatever bytes it holds.

/// Appends one event with `id` and the lines of `data` (split at CRLF, CR or LF; one trailing
/// line break of the record is not an extra empty line). An optional `event` name goes first.
pub fn push_event(out: &mut Vec<u8>, event: Option<&str>, id: u64, data: &[u8]) {
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"id: ");
    crate::http::response::push_u64(out, id);
    out.push(b'\n');
    let data = strip_one_line_break(data);
    let mut rest = data;
    loop {
        let end = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&rest[..end]);
        out.push(b'\n');
        if end == rest.len() {
            break;
        }
        let skip = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
    }
    out.push(b'\n');
}

/// Appends a comment line, used as a heartbeat that keeps proxies and clients from timing out.
pub fn push_comment(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b": ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\n\n");
}

fn strip_one_line_break(data: &[u8]) -> &[u8] {
    if let Some(d) = data.strip_suffix(b"\r\n") {
        d
    } else if let Some(d) = data
        .strip_suffix(b"\n")
        .or_else(|| data.strip_suffix(b"\r"))
    {
        d
    } else {
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &[u8]) -> String {
        let mut out = Vec::new();
        push_event(&mut out, None, 42, data);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_line_record() {
        assert_eq!(event(b"t=21.5\n"), "id: 42\ndata: t=21.5\n\n");
        assert_eq!(event(b"t=21.5"), "id: 42\ndata: t=21.5\n\n");
    }

    #[test]
    fn every_line_break_style_starts_a_new_data_line() {
        assert_eq!(
            event(b"a\nb\r\nc\rd\n"),
            "id: 42\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }

    #[test]
    fn blank_lines_and_empty_records_cannot_end_the_event_early() {
        assert_eq!(event(b""), "id: 42\ndata: \n\n");
        assert_eq!(event(b"a\n\nb"), "id: 42\ndata: a\ndata: \ndata: b\n\n");
        assert_eq!(event(b"\n\n"), "id: 42\ndata: \ndata: \n\n");
    }

    #[test]
    fn field_lookalikes_stay_data() {
        assert_eq!(
            event(b"id: 7\nevent: x\nretry: 1"),
            "id: 42\ndata: id: 7\ndata: event: x\ndata: retry: 1\n\n"
        );
    }

    #[test]
    fn named_events_and_comments() {
        let mut out = Vec::new();
        push_event(&mut out, Some("kitchen"), 1, b"x");
        push_comment(&mut out, "heartbeat");
        assert_eq!(out, b"event: kitchen\nid: 1\ndata: x\n\n: heartbeat\n\n");
    }
}
