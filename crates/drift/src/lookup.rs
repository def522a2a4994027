//! Key lookup and equality tuned for manifest-sized JSON maps.
//!
//! serde_json's ordered maps (the workspace enables `preserve_order`) hash every looked-up key
//! with SipHash. Most maps in a Kubernetes manifest hold a handful of keys, where comparing the
//! keys directly costs a fraction of hashing one. Equality first walks two maps side by side,
//! which is the common case (both were written by the same serializer), and only looks keys up
//! when the orders differ.

use serde_json::{Map, Value};

pub use strata_core::object::{field, member};

/// Whether `map` has `key`.
#[inline]
pub fn has_field(map: &Map<String, Value>, key: &str) -> bool {
    field(map, key).is_some()
}

/// Deep equality with the same meaning as `Value`'s `==` (key order never matters), cheaper on
/// maps whose keys come in the same order.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    if std::ptr::eq(a, b) {
        return true;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => maps_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        _ => a == b,
    }
}

/// [`values_equal`] for two maps.
pub fn maps_equal(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    if x.len() != y.len() {
        return false;
    }
    let mut in_order = y.iter();
    x.iter().all(|(k, v)| {
        let other = match in_order.next() {
            Some((ky, vy)) if ky == k => Some(vy),
            _ => field(y, k),
        };
        other.is_some_and(|w| values_equal(v, w))
    })
}

/// [`values_equal`] over optional values.
#[inline]
pub fn opt_values_equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => values_equal(x, y),
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn lookup_small_and_large_maps() {
        let small = json!({"a": 1, "b": 2});
        assert_eq!(member(&small, "b"), Some(&json!(2)));
        assert_eq!(member(&small, "c"), None);
        let large: Map<String, Value> = (0..40).map(|i| (format!("k{i}"), json!(i))).collect();
        assert_eq!(field(&large, "k33"), Some(&json!(33)));
        assert!(!has_field(&large, "k40"));
        assert_eq!(member(&json!([1]), "a"), None);
    }

    #[test]
    fn equality_ignores_key_order_and_keeps_number_kinds() {
        assert!(values_equal(
            &json!({"a": 1, "b": {"c": [1, 2]}}),
            &json!({"b": {"c": [1, 2]}, "a": 1})
        ));
        assert!(!values_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!values_equal(
            &json!({"a": 1, "b": 2}),
            &json!({"a": 1, "c": 2})
        ));
        assert!(!values_equal(&json!(1), &json!(1.0)));
        assert!(!values_equal(&json!([1, 2]), &json!([2, 1])));
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0i64..4).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::String),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[abc]", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// The same object with its keys in reverse order (at every level).
    fn reversed(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .rev()
                    .map(|(k, v)| (k.clone(), reversed(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(reversed).collect()),
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn agrees_with_value_equality(a in value(), b in value()) {
            prop_assert_eq!(values_equal(&a, &b), a == b);
            prop_assert_eq!(values_equal(&a, &reversed(&b)), a == b);
            prop_assert!(values_equal(&a, &reversed(&a)));
        }

        #[test]
        fn lookup_agrees_with_map_get(keys in prop::collection::vec("[a-f]{1,2}", 0..40), probe in "[a-f]{1,2}") {
            let map: Map<String, Value> = keys.iter().enumerate().map(|(i, k)| (k.clone(), json!(i))).collect();
            prop_assert_eq!(field(&map, &probe), map.get(&probe));
        }
    }
}
