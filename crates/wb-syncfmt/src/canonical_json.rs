//! The canonical JSON layout of a file body: keys sorted bytewise, one
//! member or element per line, two spaces of indent per level, integers
//! only, strings escaped as `serde_json` escapes them.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// The first non-integer number met while rendering.
pub(crate) struct FloatFound {
    /// 0-based index of the rendered line holding the number.
    pub(crate) line_index: usize,
    /// JSON pointer to the number.
    pub(crate) pointer: String,
    /// The number as `serde_json` prints it.
    pub(crate) value: String,
}

/// Renders `body` canonically, without the final newline.
///
/// Floats are rendered as `serde_json` prints them so the caller can still
/// compare layouts, and the first one is reported; a canonical body has none.
pub(crate) fn render(body: &Map<String, Value>) -> (String, Option<FloatFound>) {
    let mut out = String::new();
    let float = render_into(&mut out, body);
    (out, float)
}

/// As [`render`], appending to `out`; the reported line index counts from
/// where the body starts.
pub(crate) fn render_into(out: &mut String, body: &Map<String, Value>) -> Option<FloatFound> {
    let mut renderer = Renderer {
        start: out.len(),
        out,
        path: Vec::new(),
        float: None,
    };
    renderer.object(body, 0);
    renderer.float
}

/// One step of the path from the body to the value being rendered.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

struct Renderer<'o, 'a> {
    out: &'o mut String,
    /// Where the body starts in `out`.
    start: usize,
    /// The path to the value being rendered: turned into a JSON pointer only
    /// when a float needs reporting.
    path: Vec<Segment<'a>>,
    float: Option<FloatFound>,
}

impl<'a> Renderer<'_, 'a> {
    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }

    fn value(&mut self, value: &'a Value, level: usize) {
        match value {
            Value::Null => self.out.push_str("null"),
            Value::Bool(true) => self.out.push_str("true"),
            Value::Bool(false) => self.out.push_str("false"),
            Value::Number(n) => self.number(n),
            Value::String(s) => write_string(self.out, s),
            Value::Array(items) => self.array(items, level),
            Value::Object(map) => self.object(map, level),
        }
    }

    /// The JSON pointer of the value being rendered.
    fn pointer(&self) -> String {
        if self.path.is_empty() {
            return "/".to_owned();
        }
        let mut pointer = String::new();
        for segment in &self.path {
            pointer.push('/');
            match segment {
                Segment::Key(key) => pointer.push_str(&key.replace('~', "~0").replace('/', "~1")),
                // Writing into a String cannot fail.
                Segment::Index(i) => {
                    let _ = write!(pointer, "{i}");
                }
            }
        }
        pointer
    }

    fn number(&mut self, n: &Number) {
        if let Some(i) = n.as_i64() {
            // Writing into a String cannot fail.
            let _ = write!(self.out, "{i}");
        } else if let Some(u) = n.as_u64() {
            let _ = write!(self.out, "{u}");
        } else {
            let text = n.to_string();
            if self.float.is_none() {
                self.float = Some(FloatFound {
                    line_index: self.out[self.start..]
                        .bytes()
                        .filter(|&b| b == b'\n')
                        .count(),
                    pointer: self.pointer(),
                    value: text.clone(),
                });
            }
            self.out.push_str(&text);
        }
    }

    fn array(&mut self, items: &'a [Value], level: usize) {
        if items.is_empty() {
            self.out.push_str("[]");
            return;
        }
        self.out.push_str("[\n");
        for (i, item) in items.iter().enumerate() {
            self.path.push(Segment::Index(i));
            self.indent(level + 1);
            self.value(item, level + 1);
            if i + 1 < items.len() {
                self.out.push(',');
            }
            self.out.push('\n');
            self.path.pop();
        }
        self.indent(level);
        self.out.push(']');
    }

    fn object(&mut self, map: &'a Map<String, Value>, level: usize) {
        if map.is_empty() {
            self.out.push_str("{}");
            return;
        }
        // serde_json's Map iterates in key order unless some crate in the
        // build enables its `preserve_order` feature: sort only then.
        let sorted = map
            .keys()
            .zip(map.keys().skip(1))
            .all(|(a, b)| a.as_bytes() < b.as_bytes());
        if sorted {
            self.members(map.iter(), map.len(), level);
        } else {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            self.members(members.into_iter(), map.len(), level);
        }
    }

    fn members(
        &mut self,
        members: impl Iterator<Item = (&'a String, &'a Value)>,
        count: usize,
        level: usize,
    ) {
        self.out.push_str("{\n");
        for (i, (key, value)) in members.enumerate() {
            self.path.push(Segment::Key(key));
            self.indent(level + 1);
            write_string(self.out, key);
            self.out.push_str(": ");
            self.value(value, level + 1);
            if i + 1 < count {
                self.out.push(',');
            }
            self.out.push('\n');
            self.path.pop();
        }
        self.indent(level);
        self.out.push('}');
    }
}

/// Writes `s` as a JSON string exactly as `serde_json` does: `"` and `\\`
/// escaped, `\\b \\f \\n \\r \\t` in short form, other control characters as
/// `\\u00xx` (lowercase hex), everything else (including non-ASCII) raw.
/// Runs of bytes that need no escape are copied at once, and found eight
/// bytes at a time: bodies are most of an export's bytes.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(chunk) = bytes
            .get(i..i + 8)
            .and_then(|c| <[u8; 8]>::try_from(c).ok())
            && !needs_escape(u64::from_le_bytes(chunk))
        {
            i += 8;
            continue;
        }
        let byte = bytes[i];
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => {
                i += 1;
                continue;
            }
        };
        // Every byte that needs an escape is ASCII, so `run..i` and the
        // rest split `s` at character boundaries.
        out.push_str(&s[run..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        i += 1;
        run = i;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Whether any of the eight bytes of `x` is a control character, `"` or
/// `\\` (bytes of multi-byte characters are 0x80 and above: never).
#[inline]
fn needs_escape(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below 0x20 (the classic "has less than" test).
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    // A byte equal to `"` or `\\`: a zero byte after XOR-ing it away.
    let quote = x ^ (ONES * b'"' as u64);
    let backslash = x ^ (ONES * b'\\' as u64);
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    (control | zero(quote) | zero(backslash)) != 0
}

/// A JSON value read like [`serde_json::Value`], except that an object with
/// a repeated key is an error rather than keeping the last value.
pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity, so this is always a number.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key {:?}",
                    crate::ident::excerpt(&key)
                )));
            }
            let StrictValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}
