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
        let mut path: Vec<String> = prefix.iter().map(|s| (*s).to_owned()).collect();
        self.walk(key, value, &mut path, &mut |_| {
            Value::String(REDACTED.to_owned())
        })
    }

    /// Returns `value` with every sensitive leaf replaced by its SHA-256 digest.
    pub fn digest(&self, key: &ResourceKey, value: &Value) -> Value {
        self.map_sensitive(key, value, &mut |v| {
            if is_digest(v) {
                v.clone()
            } else {
                Value::String(digest_of(v))
            }
        })
    }

    fn map_sensitive(
        &self,
        key: &ResourceKey,
        value: &Value,
        f: &mut dyn FnMut(&Value) -> Value,
    ) -> Value {
        let mut path = Vec::new();
        self.walk(key, value, &mut path, f)
    }

    fn walk(
        &self,
        key: &ResourceKey,
        value: &Value,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&Value) -> Value,
    ) -> Value {
        let borrowed: Vec<&str> = path.iter().map(String::as_str).collect();
        if !path.is_empty() && self.is_sensitive(key, &borrowed) && !value.is_null() {
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
                        path.push(k.clone());
                        let out = self.walk(key, v, path, f);
                        path.pop();
                        (k.clone(), out)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        path.push(i.to_string());
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

/// Field names whose values are secrets wherever they appear.
fn is_secret_field_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "password"
        || (lower.ends_with("password") && !lower.ends_with("secretref"))
        || lower == "connectiondetails"
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
