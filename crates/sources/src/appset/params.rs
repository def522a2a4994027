//! Parameter sets and the helpers generators share: name normalisation and flattening.

use serde_json::{Map, Value};
pub use strata_gotemplate::sanitize_name;

use strata_gotemplate::gofmt::{GoFmt, format_float};

/// One set of parameters a generator produced (flat string values, or nested values in
/// goTemplate mode).
pub type ParamSet = Map<String, Value>;

/// Formats a decoded JSON/YAML value as Go's `fmt.Sprintf("%v", v)` does after `encoding/json`
/// decoding (every number is a `float64`, so `1000000` prints as `1e+06`; null prints `<nil>`).
pub fn go_sprint_decoded(v: &Value) -> String {
    match v {
        Value::Number(n) => format_float(n.as_f64().unwrap_or(0.0), 'g', -1),
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(go_sprint_decoded)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_sprint_decoded(&m[k.as_str()])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        other => GoFmt::TEMPLATE.sprint_v(other),
    }
}

/// Flattens nested maps and lists with `.` separators (list elements by index), dropping empty
/// maps and lists, and formats every leaf with [`go_sprint_decoded`].
pub fn flatten_to_strings(v: &Value) -> ParamSet {
    let mut out = ParamSet::new();
    fn walk(prefix: Option<&str>, v: &Value, out: &mut ParamSet) {
        let key = |k: &str| match prefix {
            Some(p) => format!("{p}.{k}"),
            None => k.to_string(),
        };
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let nk = key(k);
                    match child {
                        Value::Object(_) | Value::Array(_) => walk(Some(&nk), child, out),
                        leaf => {
                            out.insert(nk, Value::String(go_sprint_decoded(leaf)));
                        }
                    }
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    let nk = key(&i.to_string());
                    match child {
                        Value::Object(_) | Value::Array(_) => walk(Some(&nk), child, out),
                        leaf => {
                            out.insert(nk, Value::String(go_sprint_decoded(leaf)));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    walk(None, v, &mut out);
    out
}

/// The string-valued entries of a parameter set (what label selectors match against).
pub fn string_values(params: &ParamSet) -> std::collections::BTreeMap<String, String> {
    params
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sanitize_examples() {
        assert_eq!(sanitize_name("app_3"), "app-3");
        assert_eq!(sanitize_name("-.Foo.-"), "foo");
        assert_eq!(sanitize_name(&"a".repeat(300)).len(), 253);
    }

    #[test]
    fn flatten_like_go() {
        let f = flatten_to_strings(
            &json!({"a": {"b": 1, "c": [true, null]}, "d": {}, "e": 1000000, "s": "x"}),
        );
        assert_eq!(f.get("a.b"), Some(&json!("1")));
        assert_eq!(f.get("a.c.0"), Some(&json!("true")));
        assert_eq!(f.get("a.c.1"), Some(&json!("<nil>")));
        assert_eq!(f.get("e"), Some(&json!("1e+06")));
        assert_eq!(f.get("s"), Some(&json!("x")));
        assert!(!f.contains_key("d"));
    }
}
