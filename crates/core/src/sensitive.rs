//! Sensitive values: which fields are secret, redaction for display, digests for state.
//!
//! This module is the one sensitivity rule set of Strata. Plans and their renderings, drift
//! reports (`strata_drift`), the state and log lines all decide through [`Sensitivity`]; no
//! other crate keeps rules of its own. A field is sensitive when any of these holds:
//!
//! 1. **Secret data** — it is an entry of `data` or `stringData` of a core-group `Secret`.
//! 2. **Secret references** — its name ends in `SecretRef` (`passwordSecretRef`,
//!    `masterUserPasswordSecretRef`, …): where a secret is kept says which secret guards what,
//!    so the reference is treated like the secret.
//! 3. **Connection details** — it is named `connectionDetails` or `connectionSecret` (the
//!    endpoint, user and password a managed resource publishes).
//! 4. **Password-like names** — its name ends in `password`, in any case (`password`,
//!    `masterPassword`, `masterUserPassword`).
//! 5. **Provider-declared paths** — a dotted path a provider returns from
//!    [`crate::Provider::sensitive_fields`] (given here through [`Sensitivity::with_paths`]).
//!
//! Name rules (2–4) hold at any depth, array items included, and a sensitive field hides
//! everything below it. Sensitive values are never shown: plans, diffs, drift reports and logs
//! print [`REDACTED`], and the state keeps only a SHA-256 digest (see [`Sensitivity::digest`])
//! so that a change is still detectable.

use std::borrow::Cow;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::ResourceKey;

/// What redacted values are displayed as.
pub const REDACTED: &str = "(sensitive)";
/// Prefix of digests stored in place of sensitive values.
pub const DIGEST_PREFIX: &str = "sha256:";

/// Decides which fields of a resource are sensitive (the rules are listed in the
/// [module documentation](self)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

    /// Whether the field at the JSON pointer `pointer` (RFC 6901, e.g. `/spec/forProvider/password`)
    /// is sensitive. The whole document (`""`) is not a field and never is.
    pub fn is_sensitive_pointer(&self, key: &ResourceKey, pointer: &str) -> bool {
        let segments = pointer_segments(pointer);
        !segments.is_empty() && {
            let path: Vec<&str> = segments.iter().map(AsRef::as_ref).collect();
            self.is_sensitive(key, &path)
        }
    }

    /// Whether the field at the JSON pointer `pointer` is sensitive, or any of `values` found
    /// there holds a sensitive field below it: what a diff showing those values must hide. The
    /// pointer is parsed once, and scalar values cost nothing more.
    pub fn pointer_touches_any(&self, key: &ResourceKey, pointer: &str, values: &[&Value]) -> bool {
        let segments = pointer_segments(pointer);
        let path: Vec<&str> = segments.iter().map(AsRef::as_ref).collect();
        if !path.is_empty() && self.is_sensitive(key, &path) {
            return true;
        }
        values.iter().any(|value| match value {
            Value::Object(_) | Value::Array(_) => {
                let mut below = path.clone();
                self.any_below(key, value, &mut below)
            }
            _ => false,
        })
    }

    /// Whether `value`, found at the JSON pointer `pointer` inside the resource, is sensitive
    /// or holds a sensitive field anywhere below (what a diff of the whole value would show).
    pub fn touches_pointer(&self, key: &ResourceKey, pointer: &str, value: &Value) -> bool {
        let segments = pointer_segments(pointer);
        let path: Vec<&str> = segments.iter().map(AsRef::as_ref).collect();
        self.touches_at(key, &path, value)
    }

    /// Whether `value`, found at `prefix` inside the resource, is sensitive or holds a
    /// sensitive field anywhere below.
    pub fn touches_at(&self, key: &ResourceKey, prefix: &[&str], value: &Value) -> bool {
        if !prefix.is_empty() && self.is_sensitive(key, prefix) {
            return true;
        }
        let mut path: Vec<&str> = prefix.to_vec();
        self.any_below(key, value, &mut path)
    }

    /// Returns `value` with every sensitive leaf replaced by [`REDACTED`].
    pub fn redact(&self, key: &ResourceKey, value: &Value) -> Value {
        self.redact_at(key, &[], value)
    }

    /// Like [`Sensitivity::redact`], for a value found at `prefix` inside the resource.
    pub fn redact_at(&self, key: &ResourceKey, prefix: &[&str], value: &Value) -> Value {
        let mut path: Vec<&str> = prefix.to_vec();
        // Nothing to hide: a plain copy (the walk rebuilds, and so rehashes, every map).
        if !self.any_below(key, value, &mut path) {
            return value.clone();
        }
        self.walk(key, value, &mut path, &mut |_| {
            Value::String(REDACTED.to_owned())
        })
    }

    /// Returns `value` with every sensitive leaf replaced by its SHA-256 digest.
    pub fn digest(&self, key: &ResourceKey, value: &Value) -> Value {
        let mut path = Vec::new();
        if !self.any_below(key, value, &mut path) {
            return value.clone();
        }
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
        self.any_below(key, value, &mut Vec::new())
    }

    /// `value` with sensitive fields replaced by digests ([`Sensitivity::digest`]), borrowed
    /// when it has none.
    pub fn digested<'a>(&self, key: &ResourceKey, value: &'a Value) -> Cow<'a, Value> {
        if self.touches(key, value) {
            Cow::Owned(self.digest(key, value))
        } else {
            Cow::Borrowed(value)
        }
    }

    /// Whether a non-null sensitive field lies at or below `path` (no ancestor of `path` being
    /// sensitive).
    fn any_below<'a>(&self, key: &ResourceKey, value: &'a Value, path: &mut Vec<&'a str>) -> bool {
        if !path.is_empty() && self.step_is_sensitive(key, path) && !value.is_null() {
            return true;
        }
        match value {
            Value::Object(map) => map.iter().any(|(k, child)| {
                path.push(k);
                let found = self.any_below(key, child, path);
                path.pop();
                found
            }),
            Value::Array(items) => items.iter().any(|child| {
                path.push(ARRAY_ITEM);
                let found = self.any_below(key, child, path);
                path.pop();
                found
            }),
            _ => false,
        }
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

/// Whether a field name marks its value as secret wherever it appears: secret references
/// (`*SecretRef`), connection details and password-like names (rules 2–4 of the module
/// documentation).
pub fn is_secret_field_name(name: &str) -> bool {
    let ends_with = |suffix: &str| {
        name.len() >= suffix.len()
            && name.as_bytes()[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    ends_with("password")
        || ends_with("secretref")
        || name.eq_ignore_ascii_case("connectiondetails")
        || name.eq_ignore_ascii_case("connectionsecret")
}

/// The unescaped reference tokens of a JSON pointer (`/a~1b/c` → `["a/b", "c"]`); empty for
/// the whole document and for text that is not a pointer.
fn pointer_segments(pointer: &str) -> Vec<std::borrow::Cow<'_, str>> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Vec::new();
    };
    rest.split('/')
        .map(|token| {
            if token.contains('~') {
                std::borrow::Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
            } else {
                std::borrow::Cow::Borrowed(token)
            }
        })
        .collect()
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
    fn the_rules_of_core_and_drift_are_one_set() {
        let s = Sensitivity::default();
        let rds = ResourceKey::new("rds.aws.upbound.io", "Instance", None, "db");
        for hidden in [
            "/spec/forProvider/masterUserPassword",
            "/spec/forProvider/password",
            "/spec/forProvider/passwordSecretRef",
            "/spec/forProvider/passwordSecretRef/key",
            "/spec/forProvider/masterUserPasswordSecretRef",
            "/spec/connectionDetails",
            "/spec/connectionSecret/name",
            "/spec/a~1bSecretRef",
        ] {
            assert!(s.is_sensitive_pointer(&rds, hidden), "{hidden}");
        }
        for shown in [
            "",
            "/spec/forProvider/instanceClass",
            "/spec/writeConnectionSecretToRef/name",
            "/spec/forProvider/passwordPolicy",
        ] {
            assert!(!s.is_sensitive_pointer(&rds, shown), "{shown}");
        }
        let secret = ResourceKey::new("", "Secret", Some("d"), "s");
        assert!(s.is_sensitive_pointer(&secret, "/data/password"));
        assert!(s.is_sensitive_pointer(&secret, "/stringData/x"));
        assert!(!s.is_sensitive_pointer(&secret, "/metadata/labels/app"));
        let provider_declared = Sensitivity::with_paths(["spec.forProvider.token"]);
        assert!(provider_declared.is_sensitive_pointer(&rds, "/spec/forProvider/token"));
    }

    #[test]
    fn whole_values_are_searched_below_their_pointer() {
        let s = Sensitivity::default();
        let rds = ResourceKey::new("rds.aws.upbound.io", "Instance", None, "db");
        let for_provider =
            json!({"instanceClass": "x", "auth": [{"passwordSecretRef": {"key": "k"}}]});
        assert!(s.touches_pointer(&rds, "/spec/forProvider", &for_provider));
        assert!(!s.touches_pointer(&rds, "/spec/forProvider", &json!({"instanceClass": "x"})));
        let secret = ResourceKey::new("", "Secret", Some("d"), "s");
        let secret_object = json!({"data": {"k": "dg=="}});
        assert!(s.touches_pointer(&secret, "", &secret_object));
        assert!(s.touches_pointer(&secret, "/data", &json!({"k": "dg=="})));
        assert!(!s.touches_pointer(&rds, "", &secret_object));
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
