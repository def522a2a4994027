//! Sensitive fields: Secret `data`/`stringData`, fields under `*SecretRef` / `passwordSecretRef`,
//! and connection details. Their values are shown only as `(sensitive)`.

use serde_json::Value;

use crate::object::ObjectRef;

/// What a sensitive value is replaced with wherever it is shown.
pub const REDACTED: &str = "(sensitive)";

/// Whether the field at `pointer` of `res` holds a sensitive value.
pub fn is_sensitive(res: &ObjectRef, pointer: &str) -> bool {
    let Some(rest) = pointer.strip_prefix('/') else {
        return false;
    };
    // The names tested contain neither `~` nor `/`, so escaped tokens can be tested as they are.
    let mut tokens = rest.split('/');
    if is_secret(res) && tokens.next().is_some_and(is_secret_data) {
        return true;
    }
    rest.split('/').any(is_sensitive_name)
}

/// Whether any field at or below `pointer` may be sensitive (used for whole-object values).
pub fn may_contain_sensitive(res: &ObjectRef, pointer: &str, value: &Value) -> bool {
    if is_sensitive(res, pointer) {
        return true;
    }
    if pointer.is_empty()
        && is_secret(res)
        && value
            .as_object()
            .is_some_and(|m| m.keys().any(|k| is_secret_data(k)))
    {
        return true;
    }
    has_sensitive_name_below(value)
}

fn is_secret(res: &ObjectRef) -> bool {
    res.group.is_empty() && res.kind == "Secret"
}

fn is_secret_data(token: &str) -> bool {
    token == "data" || token == "stringData"
}

/// Whether a field name marks its value as sensitive.
fn is_sensitive_name(name: &str) -> bool {
    name.ends_with("SecretRef")
        || name == "connectionDetails"
        || name == "connectionSecret"
        || name == "password"
}

fn has_sensitive_name_below(value: &Value) -> bool {
    match value {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| is_sensitive_name(k) || has_sensitive_name_below(v)),
        Value::Array(a) => a.iter().any(has_sensitive_name_below),
        _ => false,
    }
}

/// The redacted stand-in value.
pub fn redacted() -> Value {
    Value::String(REDACTED.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> ObjectRef {
        ObjectRef {
            group: String::new(),
            kind: "Secret".into(),
            namespace: "d".into(),
            name: "s".into(),
        }
    }

    #[test]
    fn sensitive_paths() {
        assert!(is_sensitive(&secret(), "/data/password"));
        assert!(is_sensitive(&secret(), "/stringData/x"));
        assert!(!is_sensitive(&secret(), "/metadata/labels/app"));
        let db = ObjectRef {
            group: "rds.aws.upbound.io".into(),
            kind: "Instance".into(),
            ..ObjectRef::default()
        };
        assert!(is_sensitive(&db, "/spec/forProvider/passwordSecretRef/key"));
        assert!(is_sensitive(
            &db,
            "/spec/forProvider/masterUserPasswordSecretRef"
        ));
        assert!(!is_sensitive(&db, "/spec/forProvider/instanceClass"));
        assert!(
            is_sensitive(&db, "/spec/a~1bSecretRef"),
            "escaped tokens are tested too"
        );
        assert!(!is_sensitive(&db, "/spec/a~1password"));
        assert!(!is_sensitive(&db, ""));
    }

    #[test]
    fn whole_values_are_searched() {
        let db = ObjectRef {
            group: "rds.aws.upbound.io".into(),
            kind: "Instance".into(),
            ..ObjectRef::default()
        };
        let fp = serde_json::json!({"instanceClass": "x", "auth": [{"passwordSecretRef": {"key": "k"}}]});
        assert!(may_contain_sensitive(&db, "/spec/forProvider", &fp));
        assert!(!may_contain_sensitive(
            &db,
            "/spec/forProvider",
            &serde_json::json!({"instanceClass": "x"})
        ));
        let secret_obj = serde_json::json!({"data": {"k": "dg=="}});
        assert!(may_contain_sensitive(&secret(), "", &secret_obj));
        assert!(may_contain_sensitive(
            &secret(),
            "/data",
            &serde_json::json!({"k": "dg=="})
        ));
        assert!(!may_contain_sensitive(&db, "", &secret_obj));
    }
}
