//! Small read-only accessors over a live object given as JSON.

use serde_json::{Map, Value};

/// Entries up to which [`field`] compares keys rather than hashing the one looked up.
const LINEAR_MAX: usize = 16;

/// The value under `key` in `map`, as [`Map::get`] finds it.
///
/// serde_json's ordered maps (the workspace enables `preserve_order`) hash every looked-up key
/// with SipHash and then read a separate index table: a cache miss of its own once a stack
/// holds more objects than the processor's caches. A manifest's maps mostly hold a handful of
/// keys, where comparing them in order (lengths first, so most comparisons never read a key's
/// text) costs a fraction of that. Larger maps are looked up by hash.
#[inline]
pub fn field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= LINEAR_MAX {
        map.iter()
            .find_map(|(k, v)| (k.as_str() == key).then_some(v))
    } else {
        map.get(key)
    }
}

/// The member `key` of `value` when `value` is an object ([`Value::get`] for a string key,
/// through [`field`]).
#[inline]
pub fn member<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => field(map, key),
        _ => None,
    }
}

/// The group, version and kind of an object, split from `apiVersion` and `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gvk<'a> {
    /// API group (`""` for the core group).
    pub group: &'a str,
    /// API version (`v1`, `v1beta1`…).
    pub version: &'a str,
    /// Kind.
    pub kind: &'a str,
}

impl<'a> Gvk<'a> {
    /// Reads `apiVersion` and `kind` of an object (missing fields read as empty).
    pub fn of(obj: &'a Value) -> Self {
        let api_version = str_at(obj, &["apiVersion"]).unwrap_or("");
        let (group, version) = split_api_version(api_version);
        Gvk {
            group,
            version,
            kind: str_at(obj, &["kind"]).unwrap_or(""),
        }
    }
}

/// Splits `group/version` (or a bare core `version`) into its group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// The value at a path of object keys.
pub fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut current = obj;
    for key in path {
        current = member(current, key)?;
    }
    if current.is_null() {
        None
    } else {
        Some(current)
    }
}

/// The string at a path, if it is a string.
pub fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(obj, path).and_then(Value::as_str)
}

/// The integer at a path, if it is a number (floats are truncated).
pub fn int_at(obj: &Value, path: &[&str]) -> Option<i64> {
    at(obj, path).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

/// The integer at a path, or 0 (Go's zero value) when absent.
pub fn int_or_zero(obj: &Value, path: &[&str]) -> i64 {
    int_at(obj, path).unwrap_or(0)
}

/// The boolean at a path, or false.
pub fn bool_at(obj: &Value, path: &[&str]) -> bool {
    at(obj, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at a path, or an empty slice.
pub fn array_at<'a>(obj: &'a Value, path: &[&str]) -> &'a [Value] {
    at(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// An annotation value.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    at(obj, &["metadata", "annotations"])
        .and_then(|a| member(a, key))
        .and_then(Value::as_str)
}

/// One entry of `status.conditions`, read leniently.
#[derive(Debug, Clone, Copy)]
pub struct Condition<'a> {
    /// `type`.
    pub kind: &'a str,
    /// `status` (`True`, `False`, `Unknown`).
    pub status: &'a str,
    /// `reason` (empty when absent).
    pub reason: &'a str,
    /// `message` (empty when absent).
    pub message: &'a str,
}

impl<'a> Condition<'a> {
    /// Reads a condition object.
    pub fn from_value(value: &'a Value) -> Self {
        let text = |name: &str| member(value, name).and_then(Value::as_str).unwrap_or("");
        Condition {
            kind: text("type"),
            status: text("status"),
            reason: text("reason"),
            message: text("message"),
        }
    }

    /// True when the condition's status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }

    /// True when the condition's status is `False`.
    pub fn is_false(&self) -> bool {
        self.status == "False"
    }
}

/// The conditions at `status.conditions` (empty when absent or not a list).
pub fn conditions(obj: &Value) -> impl Iterator<Item = Condition<'_>> {
    array_at(obj, &["status", "conditions"])
        .iter()
        .map(Condition::from_value)
}

/// The first condition of a type.
pub fn condition<'a>(obj: &'a Value, kind: &str) -> Option<Condition<'a>> {
    conditions(obj).find(|c| c.kind == kind)
}

/// True when the object has a non-null `status` field.
pub fn has_status(obj: &Value) -> bool {
    at(obj, &["status"]).is_some()
}

/// True when `status` is absent or an empty object.
pub fn status_is_empty(obj: &Value) -> bool {
    match at(obj, &["status"]) {
        None => true,
        Some(Value::Object(map)) => map.is_empty(),
        Some(_) => false,
    }
}

/// True when the object's `metadata.finalizers` contains `finalizer`.
pub fn has_finalizer(obj: &Value, finalizer: &str) -> bool {
    array_at(obj, &["metadata", "finalizers"])
        .iter()
        .any(|f| f.as_str() == Some(finalizer))
}

/// A 128-bit digest of `value`'s content (SipHash-1-3 of its structure, keys in order):
/// equal values have equal digests, and values equal but for their keys' order differ, as
/// their plans do (a plan's field changes follow the manifest's order). Numbers keep the three
/// representations serde_json's equality tells apart. Not a cryptographic digest: it tells
/// versions of a manifest apart, it does not hide them.
pub fn content_digest(value: &Value) -> u128 {
    use siphasher::sip128::Hasher128;
    let mut hasher = siphasher::sip128::SipHasher13::new();
    feed(&mut hasher, value);
    hasher.finish128().as_u128()
}

fn feed(hasher: &mut impl std::hash::Hasher, value: &Value) {
    match value {
        Value::Null => hasher.write_u8(0),
        Value::Bool(b) => {
            hasher.write_u8(1);
            hasher.write_u8(u8::from(*b));
        }
        Value::Number(n) => {
            hasher.write_u8(2);
            // serde_json's equality tells the three representations apart; so does this.
            if let Some(u) = n.as_u64() {
                hasher.write_u8(0);
                hasher.write_u64(u);
            } else if let Some(i) = n.as_i64() {
                hasher.write_u8(1);
                hasher.write_i64(i);
            } else {
                hasher.write_u8(2);
                hasher.write_u64(n.as_f64().map_or(0, f64::to_bits));
            }
        }
        Value::String(s) => {
            hasher.write_u8(3);
            hasher.write_usize(s.len());
            hasher.write(s.as_bytes());
        }
        Value::Array(items) => {
            hasher.write_u8(4);
            hasher.write_usize(items.len());
            for item in items {
                feed(hasher, item);
            }
        }
        Value::Object(map) => {
            hasher.write_u8(5);
            hasher.write_usize(map.len());
            for (key, item) in map {
                hasher.write_usize(key.len());
                hasher.write(key.as_bytes());
                feed(hasher, item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        /// Scanned (small) and hashed (large) maps find what `Map::get` finds, present keys
        /// and absent ones, including keys of equal length and keys sharing a prefix.
        #[test]
        fn field_finds_what_the_map_finds(
            keys in proptest::collection::vec("[ab]{0,4}", 0..40),
            probes in proptest::collection::vec("[ab]{0,5}", 1..10),
        ) {
            let map: Map<String, Value> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.clone(), json!(i)))
                .collect();
            let value = Value::Object(map.clone());
            for key in keys.iter().chain(&probes) {
                prop_assert_eq!(field(&map, key), map.get(key));
                prop_assert_eq!(member(&value, key), value.get(key));
            }
            let list = json!([1, 2]);
            prop_assert_eq!(member(&list, "a"), None);
        }
    }

    #[test]
    fn splits_api_versions() {
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        let obj = json!({"apiVersion": "batch/v1", "kind": "Job"});
        let gvk = Gvk::of(&obj);
        assert_eq!((gvk.group, gvk.version, gvk.kind), ("batch", "v1", "Job"));
    }

    #[test]
    fn null_reads_as_absent() {
        let obj = json!({"status": null, "spec": {"replicas": 3}});
        assert!(!has_status(&obj));
        assert!(status_is_empty(&obj));
        assert_eq!(int_at(&obj, &["spec", "replicas"]), Some(3));
        assert_eq!(int_or_zero(&obj, &["spec", "missing"]), 0);
    }
}
