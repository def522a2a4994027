//! JSON values kept as their compact text.
//!
//! A parsed [`serde_json::Value`] costs about ten times the bytes of its text: every map is a
//! hash table plus an entry vector, every key and string its own allocation. Values that are
//! mostly kept and seldom read — the state's last-applied object of every resource, held for
//! the whole of a plan to be compared once — are cheaper as text. A [`CompactValue`] holds the
//! compact JSON text (shared, so clones are free), compares with a parsed value without
//! building one ([`CompactValue::equals`]), and is parsed only where a caller needs the tree
//! ([`CompactValue::to_value`]).
//!
//! It serialises as the JSON value it holds, through any serde format, and deserialises from
//! any: the state file keeps its shape. What it reads is parsed once and written out compact,
//! so a text it holds never has a key twice (a hand-edited state file may: the last one counts,
//! as when the file was read into a `Value`), which [`CompactValue::equals`] relies on.
//!
//! ```
//! use serde_json::json;
//! use strata_core::compact::CompactValue;
//!
//! let kept = CompactValue::from_value(&json!({"kind": "ConfigMap", "data": {"a": "1"}}));
//! assert!(kept.equals(&json!({"data": {"a": "1"}, "kind": "ConfigMap"})));
//! assert!(!kept.equals(&json!({"kind": "ConfigMap", "data": {"a": "2"}})));
//! assert_eq!(kept.to_value()["data"]["a"], "1");
//! ```

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use crate::plan::fields::numbers_equal;

/// A JSON value held as its compact text (see the [module documentation](self)).
#[derive(Clone)]
pub struct CompactValue {
    /// Compact JSON text (no insignificant whitespace), always valid.
    text: Arc<str>,
}

impl CompactValue {
    /// The compact text of `value`.
    pub fn from_value(value: &Value) -> Self {
        // Writing a `Value` to a `String` cannot fail: its keys are strings and its numbers
        // finite.
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
        Self { text: text.into() }
    }

    /// The compact form of the JSON text `json`, read without building a value (a key written
    /// twice counts once, the last value in the first key's place, as a `Value` keeps it).
    ///
    /// ```
    /// use strata_core::compact::CompactValue;
    ///
    /// let read = CompactValue::from_json_text(r#"{ "a": [1, 2.5], "b": {"c": null} }"#).unwrap();
    /// assert_eq!(read.as_json(), r#"{"a":[1,2.5],"b":{"c":null}}"#);
    /// assert!(CompactValue::from_json_text("{").is_err());
    /// ```
    pub fn from_json_text(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The value parsed.
    pub fn to_value(&self) -> Value {
        // The text was written by serde_json from a value; reading it back fails only past
        // serde_json's nesting limit (128), which manifests never reach (YAML input stops at
        // `yaml::MAX_DEPTH`). Saving such a value fails loudly (see `Serialize`).
        serde_json::from_str(&self.text).unwrap_or_else(|error| {
            tracing::error!(%error, "a kept JSON value could not be read back; using null");
            Value::Null
        })
    }

    /// The compact JSON text.
    pub fn as_json(&self) -> &str {
        &self.text
    }

    /// Whether `a` and `b` share one text (clones of one another).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.text, &b.text)
    }

    /// Whether the held value is equal to `value`, read straight from the text: maps equal
    /// whatever their key order, numbers equal when they are the same number (`1` and `1.0`),
    /// as [`crate::plan::fields::values_equal`] compares. Stops at the first difference and
    /// builds nothing.
    pub fn equals(&self, value: &Value) -> bool {
        let mut reader = serde_json::Deserializer::from_str(&self.text);
        matches!(EqualTo(value).deserialize(&mut reader), Ok(true))
    }
}

impl CompactValue {
    /// Whether every field set in `desired` has its value here, read straight from the text as
    /// the planner compares a manifest with its live object: fields only here do not count, a
    /// field `desired` sets to null may be missing, lists and the values inside them compare
    /// whole (as [`equals`](Self::equals) does), and `desired`'s top-level `status` is not
    /// read. Stops at the first difference and builds nothing.
    ///
    /// ```
    /// use serde_json::json;
    /// use strata_core::compact::CompactValue;
    ///
    /// let live = CompactValue::from_value(&json!({"kind": "ConfigMap", "data": {"a": "1"}, "x": 1}));
    /// assert!(live.covers(&json!({"data": {"a": "1"}, "status": {"ready": true}})));
    /// assert!(!live.covers(&json!({"data": {"a": "2"}})));
    /// ```
    pub fn covers(&self, desired: &Value) -> bool {
        let mut reader = serde_json::Deserializer::from_str(&self.text);
        matches!(
            Covers { desired, top: true }.deserialize(&mut reader),
            Ok(true)
        )
    }
}

impl From<&Value> for CompactValue {
    fn from(value: &Value) -> Self {
        Self::from_value(value)
    }
}

impl From<Value> for CompactValue {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

/// Equal when they hold equal values, as `serde_json::Value`s compare (maps in any order,
/// `1` and `1.0` different); [`CompactValue::equals`] is the planner's looser comparison.
impl PartialEq for CompactValue {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.text, &other.text)
            || self.text == other.text
            || self.to_value() == other.to_value()
    }
}

impl fmt::Debug for CompactValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for CompactValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut reader = serde_json::Deserializer::from_str(&self.text);
        serde_transcode::Transcoder::new(&mut reader).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CompactValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Written out compact as it is read, building no value. The text is what
        // `from_value` writes for the value the input reads as: numbers and strings are
        // written by serde_json itself, and a key written twice counts once, as a `Value`
        // keeps it (the last value, in the first one's place).
        let mut text = Vec::with_capacity(256);
        Compacting { out: &mut text }.deserialize(deserializer)?;
        let text = String::from_utf8(text).map_err(de::Error::custom)?;
        Ok(Self { text: text.into() })
    }
}

/// Writes the value it reads as compact JSON text to `out` (see `CompactValue`'s
/// `Deserialize`).
struct Compacting<'o> {
    out: &'o mut Vec<u8>,
}

/// Where one entry of a map being written lies in the output.
struct WrittenEntry<'de> {
    key: std::borrow::Cow<'de, str>,
    /// Where its value's text starts and ends.
    value: std::ops::Range<usize>,
}

/// Maps with more entries than this find a repeated key through a hash set.
const LINEAR_KEYS: usize = 16;

impl Compacting<'_> {
    fn write<T: Serialize + ?Sized, E: de::Error>(self, value: &T) -> Result<(), E> {
        serde_json::to_writer(&mut *self.out, value).map_err(E::custom)
    }
}

impl<'de> DeserializeSeed<'de> for Compacting<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Compacting<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.write(&Number::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.write(&Number::from(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<(), E> {
        let number = Number::deserialize(de::value::I128Deserializer::<E>::new(v))?;
        self.write(&number)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<(), E> {
        let number = Number::deserialize(de::value::U128Deserializer::<E>::new(v))?;
        self.write(&number)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match Number::from_f64(v) {
            Some(number) => self.write(&number),
            None => self.visit_unit(),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.write(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            let before = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if seq
                .next_element_seed(Compacting { out: self.out })?
                .is_none()
            {
                self.out.truncate(before);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push(b'{');
        let mut entries: Vec<WrittenEntry<'de>> = Vec::new();
        let mut index: Option<std::collections::HashMap<String, usize>> = None;
        loop {
            let entry_start = self.out.len();
            if !entries.is_empty() {
                self.out.push(b',');
            }
            let Some(key) = map.next_key_seed(MapKey)? else {
                self.out.truncate(entry_start);
                break;
            };
            serde_json::to_writer(&mut *self.out, key.as_ref()).map_err(de::Error::custom)?;
            self.out.push(b':');
            let value_start = self.out.len();
            map.next_value_seed(Compacting { out: self.out })?;
            let value = value_start..self.out.len();
            let earlier = match &mut index {
                Some(index) => index.get(key.as_ref()).copied(),
                None => entries.iter().position(|e| e.key == key),
            };
            match earlier {
                // A key written twice: its last value, in the first one's place.
                Some(at) => {
                    let text = self.out[value.clone()].to_vec();
                    self.out.truncate(entry_start);
                    let old = entries[at].value.clone();
                    let grown = text.len().wrapping_sub(old.len());
                    self.out.splice(old.clone(), text);
                    entries[at].value.end = entries[at].value.end.wrapping_add(grown);
                    for later in &mut entries[at + 1..] {
                        later.value.start = later.value.start.wrapping_add(grown);
                        later.value.end = later.value.end.wrapping_add(grown);
                    }
                }
                None => {
                    if let Some(index) = &mut index {
                        index.insert(key.to_string(), entries.len());
                    } else if entries.len() == LINEAR_KEYS {
                        let mut built: std::collections::HashMap<String, usize> = entries
                            .iter()
                            .enumerate()
                            .map(|(i, e)| (e.key.to_string(), i))
                            .collect();
                        built.insert(key.to_string(), entries.len());
                        index = Some(built);
                    }
                    entries.push(WrittenEntry { key, value });
                }
            }
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// Reads a map key, borrowing it from the input where the input allows.
struct MapKey;

impl<'de> DeserializeSeed<'de> for MapKey {
    type Value = std::borrow::Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for MapKey {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(key.to_owned()))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(key))
    }
}

/// Reads a JSON value and answers whether it equals the value it holds; a difference ends the
/// read with an error (nothing more needs reading).
struct EqualTo<'v>(&'v Value);

/// The error that ends a comparison at its first difference.
#[derive(Debug)]
struct Different;

impl fmt::Display for Different {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the values differ")
    }
}

impl<'de> DeserializeSeed<'de> for EqualTo<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl EqualTo<'_> {
    fn number<E: de::Error>(&self, read: Number) -> Result<bool, E> {
        match self.0 {
            Value::Number(held) if numbers_equal(held, &read) => Ok(true),
            _ => Err(E::custom(Different)),
        }
    }

    fn verdict<E: de::Error>(equal: bool) -> Result<bool, E> {
        if equal {
            Ok(true)
        } else {
            Err(E::custom(Different))
        }
    }
}

impl<'de> Visitor<'de> for EqualTo<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Self::verdict(self.0.as_bool() == Some(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.number(Number::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.number(Number::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        match Number::from_f64(v) {
            Some(n) => self.number(n),
            None => Err(E::custom(Different)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Self::verdict(self.0.as_str() == Some(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Self::verdict(self.0.is_null())
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let Value::Array(held) = self.0 else {
            return Err(de::Error::custom(Different));
        };
        let mut items = held.iter();
        loop {
            match items.next() {
                Some(item) => {
                    if seq.next_element_seed(EqualTo(item))?.is_none() {
                        return Err(de::Error::custom(Different));
                    }
                }
                None => {
                    return Self::verdict(seq.next_element::<IgnoredAny>()?.is_none());
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let Value::Object(held) = self.0 else {
            return Err(de::Error::custom(Different));
        };
        // Most texts keep the held map's key order: try the next held entry first.
        let mut aligned = held.iter();
        let mut read = 0usize;
        while let Some(key) = map.next_key_seed(KeyIn {
            held,
            aligned: &mut aligned,
        })? {
            match key {
                Some(expected) => {
                    map.next_value_seed(EqualTo(expected))?;
                    read += 1;
                }
                None => return Err(de::Error::custom(Different)),
            }
        }
        // Every key read was found and the text has no duplicate keys (it was written from a
        // map), so equal counts mean the same keys.
        Self::verdict(read == held.len())
    }
}

/// Reads a value, checking that it holds every field of `desired` (see [`CompactValue::covers`]);
/// below a list, or where `desired` is not a map, values compare whole ([`EqualTo`]).
struct Covers<'v> {
    desired: &'v Value,
    /// The top level, whose `status` is not compared.
    top: bool,
}

impl<'de> DeserializeSeed<'de> for Covers<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Covers<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        EqualTo(self.desired).visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        EqualTo(self.desired).visit_i64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        EqualTo(self.desired).visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        EqualTo(self.desired).visit_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        EqualTo(self.desired).visit_str(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        EqualTo(self.desired).visit_unit()
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        EqualTo(self.desired).visit_none()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        EqualTo(self.desired).visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let Value::Object(desired) = self.desired else {
            return Err(de::Error::custom(Different));
        };
        let top = self.top;
        let compared = |key: &str, value: &Value| !(value.is_null() || top && key == "status");
        let mut aligned = desired.iter();
        // Fields of `desired` with a value that must be here, found here with that value.
        let mut found = 0usize;
        while let Some(entry) = map.next_key_seed(EntryIn {
            held: desired,
            aligned: &mut aligned,
        })? {
            match entry {
                Some((key, expected)) if !(top && key == "status") => {
                    map.next_value_seed(Covers {
                        desired: expected,
                        top: false,
                    })?;
                    found += usize::from(!expected.is_null());
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // The text has no key twice (it was written from a map), so equal counts mean every
        // such field was found.
        let required = desired.iter().filter(|(k, v)| compared(k, v)).count();
        if found == required {
            Ok(true)
        } else {
            Err(de::Error::custom(Different))
        }
    }
}

/// Reads a map key and finds the held entry under it (`None` when the held map lacks it).
struct EntryIn<'v, 'i> {
    held: &'v Map<String, Value>,
    aligned: &'i mut serde_json::map::Iter<'v>,
}

impl<'de, 'v> DeserializeSeed<'de> for EntryIn<'v, '_> {
    type Value = Option<(&'v str, &'v Value)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'v> Visitor<'de> for EntryIn<'v, '_> {
    type Value = Option<(&'v str, &'v Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(match self.aligned.next() {
            Some((k, v)) if k == key => Some((k.as_str(), v)),
            _ => self.held.get_key_value(key).map(|(k, v)| (k.as_str(), v)),
        })
    }
}

/// Reads a map key and finds the held value under it (`None` when the held map lacks it).
struct KeyIn<'v, 'i> {
    held: &'v Map<String, Value>,
    aligned: &'i mut serde_json::map::Iter<'v>,
}

impl<'de, 'v> DeserializeSeed<'de> for KeyIn<'v, '_> {
    type Value = Option<&'v Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'v> Visitor<'de> for KeyIn<'v, '_> {
    type Value = Option<&'v Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(match self.aligned.next() {
            Some((k, v)) if k == key => Some(v),
            _ => self.held.get(key),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn values_equal(a: &Value, b: &Value) -> bool {
        crate::plan::fields::values_equal(a, b)
    }

    #[test]
    fn equality_reads_the_text_as_values_equal_compares() {
        let held = json!({"a": 1, "b": [1, "x", null, true], "c": {"d": 1.5, "e": {}}});
        let kept = CompactValue::from_value(&held);
        assert!(kept.equals(&held));
        assert!(
            kept.equals(&json!({"c": {"e": {}, "d": 1.5}, "b": [1, "x", null, true], "a": 1.0}))
        );
        for other in [
            json!({"a": 1, "b": [1, "x", null, true], "c": {"d": 1.5}}),
            json!({"a": 1, "b": [1, "x", null], "c": {"d": 1.5, "e": {}}}),
            json!({"a": 1, "b": [1, "x", null, true, 5], "c": {"d": 1.5, "e": {}}}),
            json!({"a": 2, "b": [1, "x", null, true], "c": {"d": 1.5, "e": {}}}),
            json!({"a": 1, "b": [1, "y", null, true], "c": {"d": 1.5, "e": {}}}),
            json!({"a": 1, "b": [1, "x", false, true], "c": {"d": 1.5, "e": {}}}),
            json!({"a": 1, "b": [1, "x", null, true], "c": {"d": 1.5, "e": []}}),
            json!({"a": 1, "b": [1, "x", null, true], "c": {"d": 1.5, "e": {}}, "f": 0}),
            json!({"a": "1", "b": [1, "x", null, true], "c": {"d": 1.5, "e": {}}}),
            json!(null),
            json!([]),
        ] {
            assert!(!kept.equals(&other), "{other}");
        }
    }

    #[test]
    fn it_serialises_as_the_value_it_holds_in_any_format() {
        let held = json!({"kind": "ConfigMap", "data": {"z": "1", "a": [1, 2.5, -3]}});
        let kept = CompactValue::from_value(&held);
        assert_eq!(
            kept.as_json(),
            r#"{"kind":"ConfigMap","data":{"z":"1","a":[1,2.5,-3]}}"#
        );
        assert_eq!(
            serde_json::to_string_pretty(&kept).unwrap(),
            serde_json::to_string_pretty(&held).unwrap()
        );
        assert_eq!(serde_json::to_value(&kept).unwrap(), held);
        let read: CompactValue = serde_json::from_str(
            " { \"kind\" : \"ConfigMap\",\n \"data\": {\"z\": \"1\", \"a\": [1, 2.5, -3]} }",
        )
        .unwrap();
        assert_eq!(read.as_json(), kept.as_json());
        let from_tree: CompactValue = serde_json::from_value(held.clone()).unwrap();
        assert_eq!(from_tree.as_json(), kept.as_json());
        assert_eq!(kept, from_tree);
    }

    #[test]
    fn a_key_written_twice_in_the_file_counts_once() {
        let read: CompactValue =
            serde_json::from_str(r#"{"kind": "A", "data": {"x": 1}, "data": {"x": 2}}"#).unwrap();
        assert_eq!(read.as_json(), r#"{"kind":"A","data":{"x":2}}"#);
        assert!(!read.equals(&json!({"kind": "A", "data": {"x": 2}, "metadata": {}})));
        assert!(read.equals(&json!({"data": {"x": 2}, "kind": "A"})));
    }

    /// A JSON document that may repeat keys, as a hand-edited state file may.
    #[derive(Debug, Clone)]
    enum Written {
        Leaf(Value),
        List(Vec<Written>),
        Map(Vec<(String, Written)>),
    }

    impl Written {
        fn text(&self) -> String {
            match self {
                Written::Leaf(v) => serde_json::to_string_pretty(v).unwrap(),
                Written::List(items) => format!(
                    "[ {} ]",
                    items
                        .iter()
                        .map(Written::text)
                        .collect::<Vec<_>>()
                        .join(" , ")
                ),
                Written::Map(entries) => format!(
                    "{{\n {} }}",
                    entries
                        .iter()
                        .map(|(k, v)| format!(
                            "{} : {}",
                            serde_json::to_string(k).unwrap(),
                            v.text()
                        ))
                        .collect::<Vec<_>>()
                        .join(",\n ")
                ),
            }
        }

        /// The value it reads as: a repeated key keeps its first place and its last value.
        fn value(&self) -> Value {
            match self {
                Written::Leaf(v) => v.clone(),
                Written::List(items) => Value::Array(items.iter().map(Written::value).collect()),
                Written::Map(entries) => {
                    let mut map = Map::new();
                    for (k, v) in entries {
                        map.insert(k.clone(), v.value());
                    }
                    Value::Object(map)
                }
            }
        }
    }

    fn any_written() -> impl Strategy<Value = Written> {
        any_value()
            .prop_map(Written::Leaf)
            .prop_recursive(3, 64, 40, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Written::List),
                    // Few key letters and up to 40 entries: keys repeat, in small maps and in
                    // maps past the linear search.
                    prop::collection::vec(("[a-e]{1,2}", inner), 0..40).prop_map(Written::Map),
                ]
            })
    }

    proptest! {
        /// Read from any layout of JSON text, a value is held as `from_value` writes it, and
        /// a repeated key counts once, as reading into a `Value` counts it.
        #[test]
        fn reading_writes_the_text_from_value_writes(written in any_written()) {
            let text = written.text();
            let read: CompactValue = serde_json::from_str(&text).unwrap();
            let expected = CompactValue::from_value(&written.value());
            prop_assert_eq!(read.as_json(), expected.as_json());
            let through_value: Value = serde_json::from_str(&text).unwrap();
            let via_value = CompactValue::from_value(&through_value);
            prop_assert_eq!(read.as_json(), via_value.as_json());
            let from_bytes: CompactValue = serde_json::from_slice(text.as_bytes()).unwrap();
            prop_assert_eq!(from_bytes.as_json(), expected.as_json());
            let from_reader: CompactValue = serde_json::from_reader(text.as_bytes()).unwrap();
            prop_assert_eq!(from_reader.as_json(), expected.as_json());
        }
    }

    #[test]
    fn numbers_past_64_bits_and_other_formats_read_as_values_read_them() {
        use serde::de::IntoDeserializer;
        let big: CompactValue = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(big.as_json(), "18446744073709551615");
        let past = serde_json::from_str::<CompactValue>("[1e400]");
        let past_value = serde_json::from_str::<Value>("[1e400]");
        assert_eq!(past.is_err(), past_value.is_err());
        let through: Result<CompactValue, serde::de::value::Error> =
            CompactValue::deserialize(i128::from(i64::MIN).into_deserializer());
        assert_eq!(through.unwrap().as_json(), i64::MIN.to_string());
        let too_big: Result<CompactValue, serde::de::value::Error> =
            CompactValue::deserialize(u128::MAX.into_deserializer());
        let too_big_value: Result<Value, serde::de::value::Error> =
            Value::deserialize(u128::MAX.into_deserializer());
        assert_eq!(too_big.is_err(), too_big_value.is_err());
        let nan: Result<CompactValue, serde::de::value::Error> =
            CompactValue::deserialize(f64::NAN.into_deserializer());
        assert_eq!(nan.unwrap().as_json(), "null");
    }

    #[test]
    fn records_compare_strictly_and_plans_by_value() {
        let one = CompactValue::from_value(&json!({"n": 1}));
        let one_point_zero = CompactValue::from_value(&json!({"n": 1.0}));
        assert_ne!(one, one_point_zero);
        assert!(one.equals(&json!({"n": 1.0})));
        assert_eq!(one, CompactValue::from_value(&json!({"n": 1})));
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..3).prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            prop_oneof![
                Just(0.5),
                Just(1.0),
                Just(-2.0),
                Just(-0.0),
                Just(0.1),
                Just(1e300)
            ]
            .prop_map(|n| json!(n)),
            // Floats whose shortest text needs every digit: read back exactly.
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|n| json!(n)),
            "[ab\"\\\\é]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[abc]", inner), 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    /// `over` laid over `under`: maps merged key by key (`over`'s values win), anything else
    /// `over`'s.
    fn laid_over(under: &Value, over: &Value) -> Value {
        match (under, over) {
            (Value::Object(u), Value::Object(o)) => {
                let mut merged = u.clone();
                for (k, v) in o {
                    let value = u.get(k).map_or_else(|| v.clone(), |w| laid_over(w, v));
                    merged.insert(k.clone(), value);
                }
                Value::Object(merged)
            }
            _ => over.clone(),
        }
    }

    fn any_manifest() -> impl Strategy<Value = Value> {
        prop::collection::vec(("status|[abc]", any_value()), 0..5)
            .prop_map(|entries| Value::Object(entries.into_iter().collect()))
    }

    #[test]
    fn covering_ignores_fields_only_live_has_and_the_desired_status() {
        let live = CompactValue::from_value(&json!({
            "kind": "A", "spec": {"x": 1, "y": [1, {"z": 2}], "w": null}, "status": {"ok": true}
        }));
        assert!(live.covers(&json!({"spec": {"x": 1.0}})));
        assert!(live.covers(&json!({"spec": {"y": [1, {"z": 2}], "v": null, "w": null}})));
        assert!(live.covers(&json!({"kind": "A", "status": {"ok": false}})));
        assert!(live.covers(&json!({})));
        for not in [
            json!({"spec": {"x": 2}}),
            json!({"spec": {"v": 1}}),
            json!({"spec": {"y": [1, {"z": 2, "q": 1}]}}),
            json!({"spec": {"y": [1]}}),
            json!({"spec": {"w": 1}}),
            json!({"spec": {"x": {"deeper": 1}}}),
            json!({"spec": {"status": {"ok": false}}}),
            json!({"kind": "B"}),
            json!([]),
            json!(null),
        ] {
            assert!(!live.covers(&not), "{not}");
        }
    }

    proptest! {
        #[test]
        fn covering_agrees_with_the_planners_comparison(
            desired in any_manifest(),
            other in any_manifest(),
        ) {
            let planner_finds_nothing =
                |live: &Value| crate::plan::fields::desired_vs_live(&desired, live).is_empty();
            for live in [
                other.clone(),
                laid_over(&other, &desired),
                laid_over(&desired, &other),
                desired.clone(),
            ] {
                prop_assert_eq!(
                    CompactValue::from_value(&live).covers(&desired),
                    planner_finds_nothing(&live),
                    "desired {} live {}", desired, live
                );
            }
        }

        #[test]
        fn equals_agrees_with_values_equal(a in any_value(), b in any_value()) {
            let kept = CompactValue::from_value(&a);
            prop_assert!(kept.equals(&a));
            prop_assert_eq!(kept.equals(&b), values_equal(&a, &b));
            prop_assert_eq!(kept.to_value(), a.clone());
            let round: CompactValue = serde_json::from_str(&serde_json::to_string(&kept).unwrap()).unwrap();
            prop_assert_eq!(round.as_json(), kept.as_json());
        }
    }
}
