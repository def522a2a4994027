//! Where secret values (an RDS master password) come from: a pluggable [`SecretSource`].
//!
//! A `passwordSecretRef: {name, namespace, key}` is resolved through the provider's source. The
//! CLI chains [`StaticSecrets`] read from the Secret manifests of the desired set with
//! [`EnvSecrets`] (`STRATA_SECRET_<NAME>_<KEY>`).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use strata_core::Resource;

/// A reference to one key of a Secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretRef {
    /// The Secret's namespace.
    pub namespace: Option<String>,
    /// The Secret's name.
    pub name: String,
    /// The key within it.
    pub key: String,
}

impl SecretRef {
    /// Reads a `{name, namespace, key}` reference.
    pub fn from_value(value: &Value) -> Option<Self> {
        Some(Self {
            namespace: value
                .get("namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            name: value.get("name")?.as_str()?.to_owned(),
            key: value
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("password")
                .to_owned(),
        })
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        write!(f, "{}[{}]", self.name, self.key)
    }
}

/// A source of secret values.
pub trait SecretSource: Send + Sync + fmt::Debug {
    /// The value of `reference`, if this source knows it.
    fn resolve(&self, reference: &SecretRef) -> Option<String>;
}

/// No secrets at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn resolve(&self, _: &SecretRef) -> Option<String> {
        None
    }
}

/// Secrets held in memory, e.g. read from the Secret manifests of a desired set.
#[derive(Clone, Default)]
pub struct StaticSecrets {
    values: BTreeMap<(String, String), String>,
}

impl fmt::Debug for StaticSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.values.keys().map(|(n, k)| format!("{n}[{k}]")))
            .finish()
    }
}

impl StaticSecrets {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value for Secret `name` (any namespace), key `key`.
    pub fn insert(&mut self, name: &str, key: &str, value: impl Into<String>) {
        self.values
            .insert((name.to_owned(), key.to_owned()), value.into());
    }

    /// Reads every `v1` Secret of `resources`: `stringData` as is, `data` base64-decoded.
    pub fn from_manifests(resources: &[Resource]) -> Self {
        let mut out = Self::new();
        for r in resources {
            if r.key.group.is_empty() && r.key.kind == "Secret" {
                if let Some(data) = r.manifest.get("data").and_then(Value::as_object) {
                    for (k, v) in data {
                        if let Some(decoded) = v.as_str().and_then(decode_base64) {
                            out.insert(&r.key.name, k, decoded);
                        }
                    }
                }
                if let Some(data) = r.manifest.get("stringData").and_then(Value::as_object) {
                    for (k, v) in data {
                        if let Some(s) = v.as_str() {
                            out.insert(&r.key.name, k, s);
                        }
                    }
                }
            }
        }
        out
    }

    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl SecretSource for StaticSecrets {
    fn resolve(&self, reference: &SecretRef) -> Option<String> {
        self.values
            .get(&(reference.name.clone(), reference.key.clone()))
            .cloned()
    }
}

/// Secrets from environment variables: `STRATA_SECRET_<NAME>_<KEY>`, upper-cased, every
/// character outside `A-Z0-9` written as `_` (Secret `db-pass`, key `password` →
/// `STRATA_SECRET_DB_PASS_PASSWORD`).
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSecrets;

impl EnvSecrets {
    /// The variable holding `reference`.
    pub fn variable(reference: &SecretRef) -> String {
        let clean = |s: &str| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        };
        format!(
            "STRATA_SECRET_{}_{}",
            clean(&reference.name),
            clean(&reference.key)
        )
    }
}

impl SecretSource for EnvSecrets {
    fn resolve(&self, reference: &SecretRef) -> Option<String> {
        std::env::var(Self::variable(reference)).ok()
    }
}

/// Tries sources in order.
#[derive(Debug, Default)]
pub struct ChainedSecrets(pub Vec<Box<dyn SecretSource>>);

impl SecretSource for ChainedSecrets {
    fn resolve(&self, reference: &SecretRef) -> Option<String> {
        self.0.iter().find_map(|s| s.resolve(reference))
    }
}

/// Decodes standard base64 (padding optional, whitespace ignored) into UTF-8 text.
fn decode_base64(text: &str) -> Option<String> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        })
    }
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= sextet(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&bytes[1..=n]);
    }
    String::from_utf8(out).ok()
}

/// Generates a password of 32 characters from letters and digits.
pub fn generate_password() -> String {
    let mut out = String::with_capacity(32);
    while out.len() < 32 {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == 32 {
                break;
            }
            let alphabet = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
            out.push(char::from(alphabet[usize::from(*b) % alphabet.len()]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_come_from_secret_manifests() {
        let secret = Resource::from_manifest(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db-pass", "namespace": "default"},
            "data": {"password": "czNjcjN0IQ=="},
            "stringData": {"user": "admin"}
        }))
        .unwrap();
        let s = StaticSecrets::from_manifests(&[secret]);
        let r = SecretRef {
            namespace: Some("default".into()),
            name: "db-pass".into(),
            key: "password".into(),
        };
        assert_eq!(s.resolve(&r).as_deref(), Some("s3cr3t!"));
        assert_eq!(
            s.resolve(&SecretRef {
                key: "user".into(),
                ..r.clone()
            })
            .as_deref(),
            Some("admin")
        );
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert_eq!(EnvSecrets::variable(&r), "STRATA_SECRET_DB_PASS_PASSWORD");
    }

    #[test]
    fn base64_decodes_all_paddings() {
        assert_eq!(decode_base64("YQ==").as_deref(), Some("a"));
        assert_eq!(decode_base64("YWI=").as_deref(), Some("ab"));
        assert_eq!(decode_base64("YWJj").as_deref(), Some("abc"));
        assert_eq!(decode_base64("Y"), None);
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate_password();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, generate_password());
    }
}
