//! Sensitive values: which fields are secret, redaction for display, digests for state.
//!
//! Secret `data`/`stringData`, password fields (`password`, `masterPassword`, …) and any path a
//! provider declares sensitive are never shown: plans, diffs and logs print `(sensitive)`, and the
//! state keeps only a SHA-256 digest so that a change is still detectable.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::ResourceKey;

/// What redacted values are displayed as.
pub const REDACTED: &str = "(sensitive)";
/// Prefix of digests stored in place of sensitive values.
pub const DIGEST_PREFIX: &str = "sha256:";

/// Decides which fields of a resource are sensitive.
#[derive(Debug, Clone, Default)]
pub struct Sensitivity {
    extra: Vec<Vec<String>>,
}

impl Sensitivity {
    /// The built-in rules plus `paths` (dotted, e.g. `spec.forProvider.masterPassword`).
    pub fn with_paths<I, S>(paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            extra: paths
                .into_iter()
                .map(|p| p.as_ref().split('.').map(str::to_owned).collect())
                .collect(),
        }
    }

    /// Whether the field at `path` (object keys; array indices as decimal strings) is sensitive.
    pub fn is_sensitive(&self, key: &ResourceKey, path: &[&str]) -> bool {
        if key.group.is_empty()
            && key.kind == "Secret"
            && matches!(path.first(), Some(&"data" | &"stringData"))
            && path.len() >= 2
        {
            return true;
        }
        if path.iter().any(|segment| is_secret_field_name(segment)) {
            return true;
        }
        self.extra
            .iter()
            .any(|p| p.len() <= path.len() && p.iter().zip(path).all(|(a, b)| a == b))
    }

    /// Returns `value` with every sensitive leaf replaced by [`REDACTED`].
    pub fn redact(&self, key: &ResourceKey, value: &Value) -> Value {
        self.redact_at(key, &[], value)
    }

    /// Like [`Sensitivity::redact`], for a value found at `prefix` inside the resource.
    pub fn redact_at(&self, key: &ResourceKey, prefix: &[&str], value: &Value) -> Value {
        let mut path: Vec<&str> = prefix.to_vec();
        self.walk(key, value, &mut path, &mut |_| {
            Value::String(REDACTED.to_owned())
        })
    }

    /// Returns `value` with every sensitive leaf replaced by its SHA-256 digest.
    pub fn digest(&self, key: &ResourceKey, value: &Value) -> Value {
        let mut path = Vec::new();
        self.walk(key, value, &mut path, &mut |v| {
            if is_digest(v) {
                v.clone()
            } else {
                Value::String(digest_of(v))
            }
        })
    }

    /// Whether `value` holds any sensitive field at all (when not, redaction and digests are
    /// the identity and callers can skip the copy).
    pub fn touches(&self, key: &ResourceKey, value: &Value) -> bool {
        fn any<'a>(
            s: &Sensitivity,
            key: &ResourceKey,
            v: &'a Value,
            path: &mut Vec<&'a str>,
        ) -> bool {
            if !path.is_empty() && s.step_is_sensitive(key, path) && !v.is_null() {
                return true;
            }
            match v {
                Value::Object(map) => map.iter().any(|(k, child)| {
                    path.push(k);
                    let found = any(s, key, child, path);
                    path.pop();
                    found
                }),
                Value::Array(items) => items.iter().any(|child| {
                    path.push(ARRAY_ITEM);
                    let found = any(s, key, child, path);
                    path.pop();
                    found
                }),
                _ => false,
            }
        }
        any(self, key, value, &mut Vec::new())
    }

    /// Whether the field at `path` is sensitive, given that no ancestor was: only the last
    /// segment and the rules anchored at this depth are checked.
    fn step_is_sensitive(&self, key: &ResourceKey, path: &[&str]) -> bool {
        let last = path.last().copied().unwrap_or_default();
        if path.len() == 2
            && key.group.is_empty()
            && key.kind == "Secret"
            && matches!(path[0], "data" | "stringData")
        {
            return true;
        }
        if is_secret_field_name(last) {
            return true;
        }
        self.extra
            .iter()
            .any(|p| p.len() == path.len() && p.iter().zip(path).all(|(a, b)| a == b))
    }

    fn walk<'a>(
        &self,
        key: &ResourceKey,
        value: &'a Value,
        path: &mut Vec<&'a str>,
        f: &mut dyn FnMut(&Value) -> Value,
    ) -> Value {
        if !path.is_empty() && self.step_is_sensitive(key, path) && !value.is_null() {
            return match value {
                Value::Object(map) => {
                    Value::Object(map.iter().map(|(k, v)| (k.clone(), f(v))).collect())
                }
                other => f(other),
            };
        }
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        path.push(k);
                        let out = self.walk(key, v, path, f);
                        path.pop();
                        (k.clone(), out)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| {
                        path.push(ARRAY_ITEM);
                        let out = self.walk(key, v, path, f);
                        path.pop();
                        out
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// The path segment standing for any array element.
const ARRAY_ITEM: &str = "[]";

/// Field names whose values are secrets wherever they appear.
fn is_secret_field_name(name: &str) -> bool {
    let ends_with = |suffix: &str| {
        name.len() >= suffix.len()
            && name.as_bytes()[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    ends_with("password") || name.eq_ignore_ascii_case("connectiondetails")
}

/// The digest stored in place of a sensitive value.
pub fn digest_of(value: &Value) -> String {
    let bytes = match value {
        Value::String(s) => s.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    };
    format!("{DIGEST_PREFIX}{}", hex::encode(Sha256::digest(bytes)))
}

fn is_digest(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.starts_with(DIGEST_PREFIX) && s.len() == DIGEST_PREFIX.len() + 64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_data_and_passwords_are_redacted() {
        let s = Sensitivity::default();
        let secret = ResourceKey::new("", "Secret", Some("a"), "db");
        let out = s.redact(
            &secret,
            &json!({"data": {"pw": "c2VjcmV0"}, "type": "Opaque"}),
        );
        assert_eq!(out, json!({"data": {"pw": REDACTED}, "type": "Opaque"}));
        let rds = ResourceKey::new("rds.aws.upbound.io", "Instance", None, "db");
        let out = s.redact(
            &rds,
            &json!({"spec": {"forProvider": {"password": "hunter2", "username": "app"}}}),
        );
        assert_eq!(out["spec"]["forProvider"]["password"], REDACTED);
        assert_eq!(out["spec"]["forProvider"]["username"], "app");
    }

    #[test]
    fn digests_are_stable_and_idempotent() {
        let s = Sensitivity::with_paths(["spec.token"]);
        let k = ResourceKey::new("x", "Y", None, "z");
        let once = s.digest(&k, &json!({"spec": {"token": "abc"}}));
        let twice = s.digest(&k, &once);
        assert_eq!(once, twice);
        assert!(
            once["spec"]["token"]
                .as_str()
                .unwrap()
                .starts_with(DIGEST_PREFIX)
        );
        assert!(!once.to_string().contains("abc"));
    }
}
