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
    let mut renderer = Renderer {
        out: String::new(),
        pointer: String::new(),
        float: None,
    };
    renderer.object(body, 0);
    (renderer.out, renderer.float)
}

struct Renderer {
    out: String,
    pointer: String,
    float: Option<FloatFound>,
}

impl Renderer {
    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }

    fn value(&mut self, value: &Value, level: usize) {
        match value {
            Value::Null => self.out.push_str("null"),
            Value::Bool(true) => self.out.push_str("true"),
            Value::Bool(false) => self.out.push_str("false"),
            Value::Number(n) => self.number(n),
            Value::String(s) => write_string(&mut self.out, s),
            Value::Array(items) => self.array(items, level),
            Value::Object(map) => self.object(map, level),
        }
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
                    line_index: self.out.bytes().filter(|&b| b == b'\n').count(),
                    pointer: if self.pointer.is_empty() {
                        "/".to_owned()
                    } else {
                        self.pointer.clone()
                    },
                    value: text.clone(),
                });
            }
            self.out.push_str(&text);
        }
    }

    fn array(&mut self, items: &[Value], level: usize) {
        if items.is_empty() {
            self.out.push_str("[]");
            return;
        }
        self.out.push_str("[\n");
        for (i, item) in items.iter().enumerate() {
            let saved = self.pointer.len();
            let _ = write!(self.pointer, "/{i}");
            self.indent(level + 1);
            self.value(item, level + 1);
            if i + 1 < items.len() {
                self.out.push(',');
            }
            self.out.push('\n');
            self.pointer.truncate(saved);
        }
        self.indent(level);
        self.out.push(']');
    }

    fn object(&mut self, map: &Map<String, Value>, level: usize) {
        if map.is_empty() {
            self.out.push_str("{}");
            return;
        }
        // serde_json's Map is sorted unless some crate in the build enables
        // its `preserve_order` feature, so sort explicitly.
        let mut members: Vec<(&String, &Value)> = map.iter().collect();
        members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.out.push_str("{\n");
        let count = members.len();
        for (i, (key, value)) in members.into_iter().enumerate() {
            let saved = self.pointer.len();
            self.pointer.push('/');
            self.pointer
                .push_str(&key.replace('~', "~0").replace('/', "~1"));
            self.indent(level + 1);
            write_string(&mut self.out, key);
            self.out.push_str(": ");
            self.value(value, level + 1);
            if i + 1 < count {
                self.out.push(',');
            }
            self.out.push('\n');
            self.pointer.truncate(saved);
        }
        self.indent(level);
        self.out.push('}');
    }
}

/// Writes `s` as a JSON string exactly as `serde_json` does: `"` and `\`
/// escaped, `\b \f \n \r \t` in short form, other control characters as
/// `\u00xx` (lowercase hex), everything else (including non-ASCII) raw.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
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
