use super::*;
use crate::limits::{MAX_FIELD_NAME_BYTES, MAX_JSON_DEPTH};

fn fields(record: &str) -> (Option<Shape>, Vec<(String, f64)>) {
    let mut out = Readings::default();
    let shape = parse(record.as_bytes(), 32, &mut out);
    let list = out
        .iter()
        .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), v))
        .collect();
    (shape, list)
}

fn pairs_of(list: &[(&str, f64)]) -> Vec<(String, f64)> {
    list.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

#[test]
fn json_objects_give_numbers_booleans_and_flattened_names() {
    let (shape, got) = fields(
        r#"{"t": 21.5, "h": 40, "ok": true, "off": false, "name": "kitchen", "n": null,
            "list": [1, {"x": 2}], "env": {"co2": 415, "deep": {"pm": 1e1}}, "neg": -0.5e-1}"#,
    );
    assert_eq!(shape, Some(Shape::Json));
    let want = [
        ("t", 21.5),
        ("h", 40.0),
        ("ok", 1.0),
        ("off", 0.0),
        ("env.co2", 415.0),
        ("env.deep.pm", 10.0),
        ("neg", -0.05),
    ];
    assert_eq!(got, pairs_of(&want));
}

#[test]
fn malformed_json_gives_nothing() {
    for bad in [
        r#"{"t": 21.5"#,
        r#"{"t": 21.5,}"#,
        r#"{"t": 01}"#,
        r#"{"t": 1.}"#,
        r#"{"t": .5}"#,
        r#"{"t": +1}"#,
        r#"{"t": tru}"#,
        r#"{"t": 1} x"#,
        r#"{t: 1}"#,
        r#"{"t": "a\q"}"#,
        r#"{"t": 1 "h": 2}"#,
    ] {
        assert_eq!(fields(bad), (None, vec![]), "{bad}");
    }
}

#[test]
fn json_huge_and_escaped_keys_and_numbers_are_skipped_not_fatal() {
    let (shape, got) = fields(
        r#"{"big": 1e400, "long": 1234567890123456789012345678901234567890123456789012345678901234567890, "a\"b": 1, "ok": 2}"#,
    );
    assert_eq!(shape, Some(Shape::Json));
    assert_eq!(got, pairs_of(&[("ok", 2.0)]));
}

#[test]
fn control_bytes_in_json_strings_are_let_through() {
    let (shape, got) = fields("{\"s\": \"a\u{1}b\", \"t\": 2}");
    assert_eq!(shape, Some(Shape::Json));
    assert_eq!(got, pairs_of(&[("t", 2.0)]));
}

#[test]
fn json_nesting_is_bounded() {
    let nested = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    assert_eq!(fields(&nested(MAX_JSON_DEPTH)).0, Some(Shape::Json));
    assert_eq!(fields(&nested(MAX_JSON_DEPTH + 1)), (None, vec![]));
    let arrays = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(fields(&arrays), (None, vec![]));
}

#[test]
fn names_longer_than_the_cap_are_skipped() {
    let name = "n".repeat(MAX_FIELD_NAME_BYTES);
    let (_, got) = fields(&format!("{{\"{name}\": 1, \"{name}x\": 2}}"));
    assert_eq!(got, vec![(name.clone(), 1.0)]);
    // A flattened name counts its whole path.
    let half = "h".repeat(MAX_FIELD_NAME_BYTES / 2);
    let (_, got) = fields(&format!("{{\"{half}\": {{\"{half}\": 3, \"x\": 4}}}}"));
    assert_eq!(got, vec![(format!("{half}.x"), 4.0)]);
}

#[test]
fn the_field_cap_holds_for_ten_thousand_fields() {
    let record: String = (0..10_000).map(|i| format!("f{i}={i} ")).collect();
    let mut out = Readings::default();
    assert_eq!(parse(record.as_bytes(), 16, &mut out), Some(Shape::Pairs));
    assert_eq!(out.len(), 16);
    assert_eq!(out.skipped, 10_000 - 16);
    let json = format!(
        "{{{}}}",
        (0..10_000)
            .map(|i| format!("\"f{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(parse(json.as_bytes(), 16, &mut out), Some(Shape::Json));
    assert_eq!(out.len(), 16);
}

#[test]
fn key_value_pairs_with_every_separator() {
    for record in [
        "t=21.5 h=40",
        "t=21.5,h=40",
        "t=21.5;h=40",
        "t=21.5&h=40",
        " t=21.5\th=40 ",
    ] {
        assert_eq!(
            fields(record),
            (Some(Shape::Pairs), pairs_of(&[("t", 21.5), ("h", 40.0)])),
            "{record}"
        );
    }
    // Non-numeric values and bare words are ignored.
    assert_eq!(
        fields("room=kitchen t=-3 ok rssi=-67"),
        (
            Some(Shape::Pairs),
            pairs_of(&[("t", -3.0), ("rssi", -67.0)])
        )
    );
    assert_eq!(fields("hello world"), (None, vec![]));
    assert_eq!(fields("t=nan h=inf"), (None, vec![]));
}

#[test]
fn bare_numbers_are_the_field_value() {
    assert_eq!(
        fields("21.5"),
        (Some(Shape::Number), pairs_of(&[("value", 21.5)]))
    );
    assert_eq!(
        fields(" -4e2 "),
        (Some(Shape::Number), pairs_of(&[("value", -400.0)]))
    );
    assert_eq!(fields("inf"), (None, vec![]));
    assert_eq!(fields("1e999"), (None, vec![]));
}

#[test]
fn line_protocol_fields_are_named_by_measurement() {
    assert_eq!(
        fields(
            r#"weather,location=us\ west,device=k temp=82,rain=2i,up=12u,ok=t,note="a, b=c" 1465839830100400200"#
        ),
        (
            Some(Shape::LineProtocol),
            pairs_of(&[
                ("weather.temp", 82.0),
                ("weather.rain", 2.0),
                ("weather.up", 12.0),
                ("weather.ok", 1.0)
            ])
        )
    );
    assert_eq!(
        fields(r"my\ room temp\,c=21"),
        (
            Some(Shape::LineProtocol),
            pairs_of(&[("my room.temp,c", 21.0)])
        )
    );
    assert_eq!(
        fields("cpu usage=-0.5 -10"),
        (Some(Shape::LineProtocol), pairs_of(&[("cpu.usage", -0.5)]))
    );
}

#[test]
fn malformed_line_protocol_is_not_taken_for_line_protocol() {
    // Each of these is not line protocol; some still hold pairs.
    assert_eq!(fields("cpu usage="), (None, vec![]));
    assert_eq!(
        fields("cpu usage=1,"),
        (Some(Shape::Pairs), pairs_of(&[("usage", 1.0)]))
    );
    assert_eq!(
        fields("cpu,host usage=1"),
        (Some(Shape::Pairs), pairs_of(&[("usage", 1.0)]))
    );
    assert_eq!(
        fields("cpu usage=1 12x"),
        (Some(Shape::Pairs), pairs_of(&[("usage", 1.0)]))
    );
    assert_eq!(fields("cpu usage=\"open"), (None, vec![]));
    assert_eq!(fields("cpu usage=1x"), (None, vec![]));
}

#[test]
fn tags_are_found_by_key() {
    let line = br"m,host=h1,device=kitchen\ 2 t=1";
    assert_eq!(
        line_protocol_tag(line, b"device"),
        Some(&br"kitchen\ 2"[..])
    );
    assert_eq!(line_protocol_tag(line, b"host"), Some(&b"h1"[..]));
    assert_eq!(line_protocol_tag(line, b"room"), None);
    assert_eq!(line_protocol_tag(b"m t=1", b"host"), None);
}

#[test]
fn field_names_are_text_without_control_characters() {
    assert_eq!(field_name(b"env.co2"), Some("env.co2"));
    assert_eq!(field_name("t\u{b0}C".as_bytes()), Some("t\u{b0}C"));
    assert_eq!(field_name(b"a\x01"), None);
    assert_eq!(field_name(b"a\x7f"), None);
    assert_eq!(field_name(b"\xff"), None);
}
