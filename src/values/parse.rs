//! Readings in one record: the named numeric fields of a JSON object, of `key=value` pairs, of
//! an InfluxDB line-protocol line, or of a bare number (README.md, "Readings").
//!
//! The parsers read bytes and fill a reused [`Readings`]; they never fail a POST, never panic,
//! and allocate nothing once the scratch space has grown to its bounds: at most
//! `max_fields` fields, names of at most [`MAX_FIELD_NAME_BYTES`], JSON nested at most
//! [`MAX_JSON_DEPTH`] deep. A record that is none of the shapes gives no fields.
use crate::limits::{MAX_FIELD_NAME_BYTES, MAX_JSON_DEPTH, MAX_NUMBER_BYTES};
use std::ops::Range;

/// Which shape a record had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Json,
    Pairs,
    LineProtocol,
    Number,
}

/// The fields of the last record parsed (scratch space, reused from record to record).
#[derive(Debug, Default)]
pub struct Readings {
    /// The names, one after the other, as the record wrote them (see [`field_name`]).
    names: Vec<u8>,
    fields: Vec<(Range<usize>, f64)>,
    /// Fields beyond the cap, or with empty or too long names or values out of range, in the
    /// last record.
    pub skipped: usize,
    max_fields: usize,
}

impl Readings {
    /// The fields found, in record order (a name repeated in one record appears twice).
    /// Names are raw bytes: [`field_name`] turns one into a name, once, when a new field is
    /// tracked, so that the hot path of a known field never validates text.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        self.fields
            .iter()
            .map(|(name, value)| (&self.names[name.clone()], *value))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    fn clear(&mut self, max_fields: usize) {
        self.names.clear();
        self.fields.clear();
        self.skipped = 0;
        self.max_fields = max_fields;
    }

    /// Adds a field named by the concatenation of `parts`, unless the name is empty, too long
    /// or not UTF-8, or the record already gave `max_fields` fields.
    fn push(&mut self, parts: &[&[u8]], value: f64) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let unusable = len == 0 || len > MAX_FIELD_NAME_BYTES || !value.is_finite();
        if self.fields.len() >= self.max_fields || unusable {
            self.skipped += 1;
            return;
        }
        let at = self.names.len();
        for p in parts {
            self.names.extend_from_slice(p);
        }
        self.fields.push((at..self.names.len(), value));
    }
}

/// Parses one record (without its line break or `--timestamp` prefix) into `out`, keeping at
/// most `max_fields` fields. Tries, in order: a JSON object, a bare number, a line-protocol
/// line, `key=value` pairs.
pub fn parse(record: &[u8], max_fields: usize, out: &mut Readings) -> Option<Shape> {
    out.clear(max_fields);
    let record = trim(record);
    let shape = if record.first() == Some(&b'{') {
        json(record, out).then_some(Shape::Json)
    } else if let Some(value) = number(record) {
        out.push(&[b"value"], value);
        Some(Shape::Number)
    } else if line_protocol(record, out) {
        Some(Shape::LineProtocol)
    } else {
        out.clear(max_fields);
        pairs(record, out).then_some(Shape::Pairs)
    };
    if shape.is_none() {
        out.clear(max_fields);
    }
    shape
}

/// A field name as text: UTF-8 without control characters; `None` for a name that cannot be
/// one (the field is not tracked).
pub fn field_name(raw: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(raw).ok()?;
    (!name.chars().any(char::is_control)).then_some(name)
}

/// `bytes` without ASCII white space at either end.
pub fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(start), Some(end)) => &bytes[start..=end],
        _ => &[],
    }
}

/// A finite number written as Rust's `f64` parser accepts it, without `inf` or `nan`.
pub fn number(text: &[u8]) -> Option<f64> {
    if text.is_empty() || text.len() > MAX_NUMBER_BYTES {
        return None;
    }
    // `inf`, `nan` and `infinity` parse, and are refused as not finite.
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    value.is_finite().then_some(value)
}

// ---- key=value pairs

/// `t=21.5 h=40`, `t=21.5,h=40`, `t=21.5;h=40`, `t=21.5&h=40`: every pair whose value is a
/// number; other tokens are ignored. True when at least one pair was found.
fn pairs(record: &[u8], out: &mut Readings) -> bool {
    let separators = |b: &u8| matches!(b, b' ' | b'\t' | b',' | b';' | b'&');
    for token in record.split(separators) {
        let Some(eq) = token.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (key, value) = (&token[..eq], &token[eq + 1..]);
        if let Some(value) = number(value) {
            out.push(&[key], value);
        }
    }
    !out.is_empty() || out.skipped > 0
}

// ---- InfluxDB line protocol

/// `measurement[,tag=v...] field=v[,field=v...] [timestamp]`. Each numeric, integer (`2i`,
/// `2u`) or boolean field becomes `measurement.field`; string fields are skipped; the timestamp
/// is ignored (readings take their receive time). False unless the line has that shape.
fn line_protocol(line: &[u8], out: &mut Readings) -> bool {
    let Some((head, rest)) = split_unescaped(line, b' ') else {
        return false;
    };
    let Some(measurement) = series_key(head) else {
        return false;
    };
    let fields = match split_field_set(rest) {
        Some((fields, timestamp)) => {
            let digits = timestamp.strip_prefix(b"-").unwrap_or(timestamp);
            let well_formed = digits.iter().all(u8::is_ascii_digit);
            if !timestamp.is_empty() && (digits.is_empty() || !well_formed) {
                return false;
            }
            fields
        }
        None => return false,
    };
    let mut any = false;
    let mut rest = fields;
    while !rest.is_empty() {
        let Some(eq) = find_unescaped(rest, b'=') else {
            return false;
        };
        let key = &rest[..eq];
        let after = &rest[eq + 1..];
        let Some((value, next)) = field_value(after) else {
            return false;
        };
        if key.is_empty() {
            return false;
        }
        any = true;
        if let Some(value) = value {
            push_unescaped(out, measurement, key, value);
        }
        rest = next;
    }
    any
}

/// The measurement of a series key (`cpu,host=a` -> `cpu`), if the key is well formed: a
/// non-empty measurement without `=`, then `,tag=value` pairs.
fn series_key(head: &[u8]) -> Option<&[u8]> {
    let (measurement, mut tags) = match find_unescaped(head, b',') {
        Some(i) => (&head[..i], &head[i + 1..]),
        None => (head, &head[head.len()..]),
    };
    if measurement.is_empty() || find_unescaped(measurement, b'=').is_some() {
        return None;
    }
    if tags.is_empty() && head.len() == measurement.len() {
        return Some(measurement);
    }
    loop {
        let (tag, rest) = match find_unescaped(tags, b',') {
            Some(i) => (&tags[..i], &tags[i + 1..]),
            None => (tags, &tags[tags.len()..]),
        };
        let eq = find_unescaped(tag, b'=')?;
        if eq == 0 || eq + 1 == tag.len() {
            return None;
        }
        if rest.is_empty() {
            break;
        }
        tags = rest;
    }
    Some(measurement)
}

/// Whether `line` is one well-formed line of InfluxDB line protocol.
pub fn is_line_protocol(line: &[u8]) -> bool {
    let mut none = Readings::default();
    line_protocol(trim(line), &mut none)
}

/// The value of one line-protocol tag (`device` in `m,device=kitchen t=1`), escapes left in.
pub fn line_protocol_tag<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let (head, _) = split_unescaped(line, b' ')?;
    let i = find_unescaped(head, b',')?;
    let mut tags = &head[i + 1..];
    loop {
        let (tag, rest) = match find_unescaped(tags, b',') {
            Some(i) => (&tags[..i], Some(&tags[i + 1..])),
            None => (tags, None),
        };
        if let Some(eq) = find_unescaped(tag, b'=') {
            if &tag[..eq] == key {
                return Some(&tag[eq + 1..]);
            }
        }
        tags = rest?;
    }
}

/// Splits the field set from the optional timestamp: the first space outside a quoted string.
fn split_field_set(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut quoted = false;
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'\\' => i += 1,
            b'"' => quoted = !quoted,
            b' ' if !quoted => return Some((&rest[..i], trim(&rest[i + 1..]))),
            _ => {}
        }
        i += 1;
    }
    (!quoted).then_some((rest, &rest[rest.len()..]))
}

/// One field value and what follows its comma: `Some(number)` for numbers, integers and
/// booleans, `None` for strings. `None` overall when the value is malformed.
fn field_value(text: &[u8]) -> Option<(Option<f64>, &[u8])> {
    if text.first() == Some(&b'"') {
        let mut i = 1;
        while i < text.len() {
            match text[i] {
                b'\\' => i += 1,
                b'"' => {
                    return match text.get(i + 1) {
                        None => Some((None, &text[i + 1..])),
                        Some(b',') => Some((None, &text[i + 2..])),
                        Some(_) => None,
                    };
                }
                _ => {}
            }
            i += 1;
        }
        return None;
    }
    let (value, next) = match text.iter().position(|&b| b == b',') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, &text[text.len()..]),
    };
    let parsed = match value {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => 1.0,
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => 0.0,
        _ => match value.last() {
            Some(b'i' | b'u') => {
                let digits = &value[..value.len() - 1];
                let unsigned = digits.strip_prefix(b"-").unwrap_or(digits);
                if unsigned.is_empty() || !unsigned.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                number(digits)?
            }
            _ => number(value)?,
        },
    };
    if !next.is_empty() || text.len() == value.len() {
        Some((Some(parsed), next))
    } else {
        None // a trailing comma
    }
}

/// Pushes `measurement.key` with line-protocol escapes (`\ `, `\,`, `\=`) removed.
fn push_unescaped(out: &mut Readings, measurement: &[u8], key: &[u8], value: f64) {
    let mut name = [0u8; MAX_FIELD_NAME_BYTES + 1];
    let mut len = 0;
    for part in [measurement, b".", key] {
        let mut i = 0;
        while i < part.len() {
            let mut b = part[i];
            if b == b'\\' && matches!(part.get(i + 1), Some(b' ' | b',' | b'=' | b'\\')) {
                i += 1;
                b = part[i];
            }
            if len == name.len() {
                out.skipped += 1;
                return;
            }
            name[len] = b;
            len += 1;
            i += 1;
        }
    }
    out.push(&[&name[..len]], value);
}

/// The first `byte` not preceded by a backslash.
fn find_unescaped(text: &[u8], byte: u8) -> Option<usize> {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 1,
            b if b == byte => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn split_unescaped(text: &[u8], byte: u8) -> Option<(&[u8], &[u8])> {
    let i = find_unescaped(text, byte)?;
    Some((&text[..i], &text[i + 1..]))
}

// ---- JSON

/// A JSON object: every number (and boolean, as 1 or 0) at the top level or in nested objects
/// (named `outer.inner`); arrays, strings and null are skipped. False unless the whole record
/// is one well-formed object nested at most `MAX_JSON_DEPTH` deep.
fn json(text: &[u8], out: &mut Readings) -> bool {
    let mut parser = Json {
        text,
        at: 0,
        path: [0; MAX_FIELD_NAME_BYTES + 1],
    };
    parser.object(0, 0, out).is_some() && {
        parser.space();
        parser.at == text.len()
    }
}

struct Json<'a> {
    text: &'a [u8],
    at: usize,
    /// The dotted name of the object being read (`a.b.`); too long a path is marked by a length
    /// past `MAX_FIELD_NAME_BYTES`, and its fields are skipped.
    path: [u8; MAX_FIELD_NAME_BYTES + 1],
}

impl<'a> Json<'a> {
    fn space(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.space();
        (self.text.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    /// An object whose members are named `path[..path_len]` + key. `depth` counts the objects
    /// and arrays around it.
    fn object(&mut self, depth: usize, path_len: usize, out: &mut Readings) -> Option<()> {
        if depth >= MAX_JSON_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.space();
            let key = self.string()?;
            self.eat(b':')?;
            self.space();
            // The member's name: the path, then the key (unusable if it holds escapes).
            let name_len = path_len + key.len();
            let usable = !key.contains(&b'\\') && name_len <= MAX_FIELD_NAME_BYTES;
            if usable {
                self.path[path_len..name_len].copy_from_slice(key);
            }
            match self.text.get(self.at) {
                Some(b'{') => {
                    let inner = if usable && name_len < MAX_FIELD_NAME_BYTES {
                        self.path[name_len] = b'.';
                        name_len + 1
                    } else {
                        MAX_FIELD_NAME_BYTES + 1
                    };
                    self.object(depth + 1, inner, out)?;
                }
                Some(b'[') => self.array(depth + 1)?,
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true", Some(1.0), usable, name_len, out)?,
                Some(b'f') => self.literal(b"false", Some(0.0), usable, name_len, out)?,
                Some(b'n') => self.literal(b"null", None, usable, name_len, out)?,
                _ => {
                    let value = self.number()?;
                    if usable {
                        out.push(&[&self.path[..name_len]], value);
                    } else {
                        out.skipped += 1;
                    }
                }
            }
            if self.eat(b',').is_some() {
                continue;
            }
            return self.eat(b'}');
        }
    }

    fn literal(
        &mut self,
        word: &[u8],
        value: Option<f64>,
        usable: bool,
        name_len: usize,
        out: &mut Readings,
    ) -> Option<()> {
        if !self.text[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        if let Some(value) = value {
            if usable {
                out.push(&[&self.path[..name_len]], value);
            } else {
                out.skipped += 1;
            }
        }
        Some(())
    }

    /// Skips an array and everything in it.
    fn array(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_JSON_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.skip_value(depth)?;
            if self.eat(b',').is_some() {
                continue;
            }
            return self.eat(b']');
        }
    }

    fn skip_value(&mut self, depth: usize) -> Option<()> {
        self.space();
        match self.text.get(self.at)? {
            b'{' => {
                let mut ignore = Readings::default();
                self.object(depth + 1, MAX_FIELD_NAME_BYTES + 1, &mut ignore)
            }
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(drop),
            b't' | b'f' | b'n' => {
                let word: &[u8] = match self.text[self.at] {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                self.text[self.at..]
                    .starts_with(word)
                    .then(|| self.at += word.len())
            }
            _ => self.number().map(drop),
        }
    }

    /// A string's raw bytes between its quotes (escapes left in, checked for shape). Control
    /// characters inside are let through: a reading is not refused for them.
    fn string(&mut self) -> Option<&'a [u8]> {
        let text = self.text;
        if text.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at + 1;
        let mut i = start;
        loop {
            i += memchr::memchr2(b'"', b'\\', text.get(i..)?)?;
            if text[i] == b'"' {
                break;
            }
            match *text.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' => {
                    let hex = text.get(i + 2..i + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            }
        }
        self.at = i + 1;
        Some(&text[start..i])
    }

    /// A number in JSON's grammar.
    fn number(&mut self) -> Option<f64> {
        let text = self.text;
        let start = self.at;
        let mut i = start;
        if text.get(i) == Some(&b'-') {
            i += 1;
        }
        let digits = |i: &mut usize| {
            let from = *i;
            while text.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        match text.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => return None,
        }
        if text.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if matches!(text.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(text.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.at = i;
        // Too long or not finite: a well-formed number, but not a reading (skipped when pushed).
        Some(number(&text[start..i]).unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
