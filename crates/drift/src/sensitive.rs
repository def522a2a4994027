//! Sensitive fields: Secret `data`/`stringData`, fields under `*SecretRef` / `passwordSecretRef`,
//! and connection details. Their values are shown only as `(sensitive)`.

use serde_json::Value;

use crate::object::ObjectRef;
use crate::path::parse_pointer;

/// What a sensitive value is replaced with wherever it is shown.
pub const REDACTED: &str = "(sensitive)";

/// Whether the field at `pointer` of `res` holds a sensitive value.
pub fn is_sensitive(res: &ObjectRef, pointer: &str) -> bool {
    let Some(tokens) = parse_pointer(pointer) else {
        return false;
    };
    if res.group.is_empty()
        && res.kind == "Secret"
        && tokens
            .first()
            .is_some_and(|t| t == "data" || t == "stringData")
    {
        return true;
    }
    tokens.iter().any(|t| {
        t.ends_with("SecretRef")
            || t == "connectionDetails"
            || t == "connectionSecret"
            || t == "password"
    })
}

/// Whether any field at or below `pointer` may be sensitive (used for whole-object values).
pub fn may_contain_sensitive(res: &ObjectRef, pointer: &str, value: &Value) -> bool {
    if is_sensitive(res, pointer) {
        return true;
    }
    match value {
        Value::Object(m) => m.iter().any(|(k, v)| {
            may_contain_sensitive(
                res,
                &format!("{pointer}/{}", crate::path::escape_token(k)),
                v,
            )
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .any(|(i, v)| may_contain_sensitive(res, &format!("{pointer}/{i}"), v)),
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
    }
}
