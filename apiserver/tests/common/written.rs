//! JSON as it was written: each object's keys in the order they came on the wire
//! (`serde_json::Value` sorts them), to check the key order of raw responses.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON value with its objects' keys in written order.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// An object: its entries in written order.
    Object(Vec<(String, Written)>),
    /// An array.
    Array(Vec<Written>),
    /// Anything else.
    Scalar(Value),
}

impl Written {
    /// Parses JSON text (panics when it is not JSON).
    pub fn parse(text: &[u8]) -> Written {
        serde_json::from_slice(text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(text)))
    }

    /// An object's keys in written order (empty for anything else).
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Written::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// The value of an object's key (panics when absent).
    pub fn get(&self, key: &str) -> &Written {
        match self {
            Written::Object(entries) => entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no {key:?} in {:?}", self.keys())),
            other => panic!("{key:?} of a non-object: {other:?}"),
        }
    }

    /// An array's element (panics when absent).
    pub fn at(&self, index: usize) -> &Written {
        match self {
            Written::Array(items) => &items[index],
            other => panic!("[{index}] of a non-array: {other:?}"),
        }
    }
}

struct WrittenVisitor;

impl<'de> Visitor<'de> for WrittenVisitor {
    type Value = Written;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Written, E> {
        Ok(Written::Scalar(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Written, E> {
        Ok(Written::Scalar(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Written, E> {
        Ok(Written::Scalar(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Written, E> {
        Ok(Written::Scalar(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Written, E> {
        Ok(Written::Scalar(Value::String(v.to_string())))
    }

    fn visit_unit<E>(self) -> Result<Written, E> {
        Ok(Written::Scalar(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Written, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Written::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Written, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Written>()? {
            entries.push((k, v));
        }
        Ok(Written::Object(entries))
    }
}

impl<'de> Deserialize<'de> for Written {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Written, D::Error> {
        d.deserialize_any(WrittenVisitor)
    }
}
