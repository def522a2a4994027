//! ArgoCD's default templating: `{{ key }}` substitution of string parameters (fasttemplate).

use super::params::ParamSet;

/// Replaces every `{{tag}}` whose whitespace-trimmed tag names a string parameter. Unknown
/// tags, non-string values and empty tags (`{{ }}`) are left exactly as written; substituted
/// values are never re-scanned. A string without `{{...}}` is returned unchanged.
pub fn replace(tmpl: &str, params: &ParamSet) -> String {
    let Some(first) = tmpl.find("{{") else {
        return tmpl.to_string();
    };
    if !tmpl[first..].contains("}}") {
        return tmpl.to_string();
    }
    let mut out = String::with_capacity(tmpl.len());
    let mut rest = tmpl;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let tag = &after[..end];
        let trimmed = tag.trim();
        match params.get(trimmed).and_then(|v| v.as_str()) {
            Some(value) if !trimmed.is_empty() => out.push_str(value),
            _ => {
                out.push_str("{{");
                out.push_str(tag);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: serde_json::Value) -> ParamSet {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn substitutes_and_keeps_unknown() {
        let p = params(json!({"one": "two", "n": 3}));
        assert_eq!(replace("{{one}}-{{ one }}", &p), "two-two");
        assert_eq!(replace("{{ missing }}", &p), "{{ missing }}");
        assert_eq!(replace("{{n}}", &p), "{{n}}");
        assert_eq!(replace("}} {{", &p), "}} {{");
        assert_eq!(replace("{{one}} {{", &p), "two {{");
    }
}
