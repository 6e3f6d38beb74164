//! What did my device send? `POST /echo` answers the body back exactly as sent, and `/anything`
//! (any method, any subpath, as httpbin.org's route that IoT developers already use) answers a
//! JSON object: the method, the URL, the query parameters, the headers, the body as `data`, and
//! the body parsed when it is JSON (`json`) or a form (`form`). Both are bounded by `--max-body`
//! like any body. The request's parts are copied out of its head ([`Captured`]) because the
//! answer is written after the body has been read.
use crate::http::reply::{Framing, Reply, ReplyKit, Send};
use crate::http::request::RequestHead;
use serde_json::{Map, Value};
use std::net::IpAddr;

/// The parts of a request `/anything` reports.
#[derive(Debug, Clone)]
pub struct Captured {
    method: String,
    url: String,
    query: String,
    headers: Vec<(String, String)>,
    origin: IpAddr,
    accept_encoding: Option<Vec<u8>>,
}

impl Captured {
    /// Copies what `/anything` reports of `head`, received from `peer`.
    pub fn of(head: &RequestHead<'_, '_>, peer: IpAddr) -> Captured {
        let host = head
            .host
            .map_or(std::borrow::Cow::Borrowed(""), String::from_utf8_lossy);
        let query = head.query.unwrap_or("");
        let url = match head.query {
            Some(q) => format!("http://{host}{}?{q}", head.path),
            None => format!("http://{host}{}", head.path),
        };
        Captured {
            method: head.method_str.to_string(),
            url,
            query: query.to_string(),
            headers: head
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            origin: peer,
            accept_encoding: head.header("accept-encoding").map(<[u8]>::to_vec),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `POST /echo`: `body` back as sent: `text/plain` when it is UTF-8, else
/// `application/octet-stream`; never sniffed, never HTML.
pub fn echo(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    accept_encoding: Option<&[u8]>,
    body: &[u8],
) -> Reply {
    let content_type: &[u8] = if std::str::from_utf8(body).is_ok() {
        b"text/plain; charset=utf-8"
    } else {
        b"application/octet-stream"
    };
    let how = Send {
        nosniff: true,
        ..Send::ok(content_type)
    };
    kit.send(out, framing, accept_encoding, how, body)
}

/// `/anything`: the JSON object described in the module docs, for `req` with `body`.
pub fn anything(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    req: &Captured,
    body: &[u8],
) -> Reply {
    let json = render(req, body);
    let how = Send {
        nosniff: true,
        ..Send::ok(b"application/json")
    };
    let accept = req.accept_encoding.clone();
    kit.send(out, framing, accept.as_deref(), how, json.as_bytes())
}

/// The JSON text for `req` with `body`.
pub fn render(req: &Captured, body: &[u8]) -> String {
    let content_type = req
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let form = if content_type.starts_with("application/x-www-form-urlencoded") {
        pairs(form_urlencoded::parse(body))
    } else {
        Map::new()
    };
    // Parsed whenever it is JSON, whatever it claims to be; serde_json refuses nesting past 128
    // levels, which leaves `json` null.
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut headers = Map::new();
    for (name, value) in &req.headers {
        let joined = match headers.get(name) {
            Some(Value::String(earlier)) => format!("{earlier}, {value}"),
            _ => value.clone(),
        };
        headers.insert(name.clone(), Value::String(joined));
    }
    let mut object = Map::new();
    object.insert(
        "args".into(),
        Value::Object(pairs(form_urlencoded::parse(req.query.as_bytes()))),
    );
    object.insert(
        "data".into(),
        Value::String(String::from_utf8_lossy(body).into_owned()),
    );
    object.insert("form".into(), Value::Object(form));
    object.insert("headers".into(), Value::Object(headers));
    object.insert("json".into(), json);
    object.insert("method".into(), Value::String(req.method.clone()));
    object.insert("origin".into(), Value::String(req.origin.to_string()));
    object.insert("url".into(), Value::String(req.url.clone()));
    let mut text = serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default();
    text.push('\n');
    text
}

/// Decoded `key=value` pairs as an object: one value as a string, a repeated key as an array of
/// its values in order (as httpbin does).
fn pairs<'a>(
    parsed: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in parsed {
        let value = Value::String(value.into_owned());
        match map.get_mut(key.as_ref()) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => {
                let first = first.take();
                map.insert(key.into_owned(), Value::Array(vec![first, value]));
            }
            None => {
                map.insert(key.into_owned(), value);
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(query: &str, headers: &[(&str, &str)]) -> Captured {
        Captured {
            method: "POST".into(),
            url: format!("http://h/anything/x?{query}"),
            query: query.into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
                .collect(),
            origin: "192.168.1.23".parse().unwrap(),
            accept_encoding: None,
        }
    }

    fn parsed(req: &Captured, body: &[u8]) -> Value {
        serde_json::from_str(&render(req, body)).unwrap()
    }

    #[test]
    fn query_headers_and_a_json_body() {
        let req = captured(
            "a=1&b=2&a=3&c=%20x",
            &[
                ("Host", "h"),
                ("X-Multi", "1"),
                ("X-Multi", "2"),
                ("Content-Type", "application/json"),
            ],
        );
        let v = parsed(&req, br#"{"t": 21.5, "ok": true}"#);
        assert_eq!(
            v["args"],
            serde_json::json!({"a": ["1", "3"], "b": "2", "c": " x"})
        );
        assert_eq!(v["headers"]["X-Multi"], "1, 2");
        assert_eq!(v["json"], serde_json::json!({"t": 21.5, "ok": true}));
        assert_eq!(v["data"], r#"{"t": 21.5, "ok": true}"#);
        assert_eq!(v["form"], serde_json::json!({}));
        assert_eq!(v["method"], "POST");
        assert_eq!(v["origin"], "192.168.1.23");
        assert_eq!(v["url"], "http://h/anything/x?a=1&b=2&a=3&c=%20x");
    }

    #[test]
    fn a_form_body_is_parsed_and_other_bodies_are_data_only() {
        let form = captured("", &[("Content-Type", "application/x-www-form-urlencoded")]);
        let v = parsed(&form, b"t=21.5&unit=C&t=22");
        assert_eq!(
            v["form"],
            serde_json::json!({"t": ["21.5", "22"], "unit": "C"})
        );
        assert_eq!(v["json"], Value::Null);
        let plain = captured("", &[("Content-Type", "text/plain")]);
        let v = parsed(&plain, b"t=21.5\n\xff");
        assert_eq!(v["form"], serde_json::json!({}));
        assert_eq!(v["data"], "t=21.5\n\u{fffd}");
    }

    #[test]
    fn hostile_bodies_stay_bounded() {
        let req = captured("", &[("Content-Type", "application/json")]);
        let deep = "[".repeat(100_000);
        assert_eq!(parsed(&req, deep.as_bytes())["json"], Value::Null);
        let big = format!("[{}1]", "1,".repeat(10_000));
        assert_eq!(
            parsed(&req, big.as_bytes())["json"]
                .as_array()
                .map(Vec::len),
            Some(10_001)
        );
    }
}
