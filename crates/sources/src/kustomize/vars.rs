//! `vars`: values read from one resource (`objref`, `fieldref.fieldpath`) and substituted for
//! `$(NAME)` in the fields kustomize's default `varReference` configuration lists (container
//! args, commands and env values, volume mount paths, NFS servers, Service ports, Ingress
//! hosts, labels and annotations), after every other transformation of the build.

use serde_json::{Map, Value};

use super::{Item, KustomizeError, invalid, str_at};

/// One declared var.
#[derive(Debug, Clone)]
pub(crate) struct Var {
    name: String,
    kind: String,
    object: String,
    api_version: Option<String>,
    field_path: String,
    /// The kustomization declaring it.
    file: String,
}

const VAR_FIELDS: &[&str] = &["name", "objref", "fieldref"];
const OBJREF_FIELDS: &[&str] = &["kind", "name", "apiVersion", "namespace"];

/// Reads the `vars` of a kustomization.
pub(crate) fn parse(
    k: &Map<String, Value>,
    file: &str,
    vars: &mut Vec<Var>,
) -> Result<(), KustomizeError> {
    let Some(list) = k.get("vars") else {
        return Ok(());
    };
    let list = list
        .as_array()
        .ok_or_else(|| invalid(file, "vars must be a list"))?;
    for (i, v) in list.iter().enumerate() {
        let at = format!("vars[{i}]");
        let o = v
            .as_object()
            .ok_or_else(|| invalid(file, format!("{at} must be a mapping")))?;
        super::check_fields(o, VAR_FIELDS, file, &at)?;
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(file, format!("{at}.name is required")))?;
        let objref = o
            .get("objref")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid(file, format!("{at}.objref is required")))?;
        super::check_fields(objref, OBJREF_FIELDS, file, &format!("{at}.objref"))?;
        if objref.contains_key("namespace") {
            return Err(KustomizeError::Unsupported {
                file: file.into(),
                field: format!("{at}.objref.namespace"),
            });
        }
        let field_path = match o.get("fieldref") {
            None | Some(Value::Null) => "metadata.name".to_string(),
            Some(Value::Object(f)) => {
                super::check_fields(f, &["fieldpath"], file, &format!("{at}.fieldref"))?;
                f.get("fieldpath")
                    .and_then(Value::as_str)
                    .unwrap_or("metadata.name")
                    .to_string()
            }
            Some(_) => return Err(invalid(file, format!("{at}.fieldref must be a mapping"))),
        };
        if vars.iter().any(|v| v.name == name) {
            return Err(invalid(file, format!("{at}: var {name} is declared twice")));
        }
        let text = |key: &str| objref.get(key).and_then(Value::as_str).map(String::from);
        vars.push(Var {
            name: name.to_string(),
            kind: text("kind").unwrap_or_default(),
            object: text("name").unwrap_or_default(),
            api_version: text("apiVersion"),
            field_path,
            file: file.to_string(),
        });
    }
    Ok(())
}

/// Where `$(VAR)` is substituted: kinds (empty: every kind) and the field path.
const REFERENCES: &[(&[&str], &str)] = &[
    (&[], "metadata/annotations"),
    (&[], "metadata/labels"),
    (&["Pod"], "spec/containers/args"),
    (&["Pod"], "spec/containers/command"),
    (&["Pod"], "spec/containers/env/value"),
    (&["Pod"], "spec/containers/volumeMounts/mountPath"),
    (&["Pod"], "spec/initContainers/args"),
    (&["Pod"], "spec/initContainers/command"),
    (&["Pod"], "spec/initContainers/env/value"),
    (&["Pod"], "spec/initContainers/volumeMounts/mountPath"),
    (&["Pod"], "spec/volumes/nfs/server"),
    (
        &["CronJob"],
        "spec/jobTemplate/spec/template/spec/containers/args",
    ),
    (
        &["CronJob"],
        "spec/jobTemplate/spec/template/spec/containers/command",
    ),
    (
        &["CronJob"],
        "spec/jobTemplate/spec/template/spec/containers/env/value",
    ),
    (
        &["CronJob"],
        "spec/jobTemplate/spec/template/spec/containers/volumeMounts/mountPath",
    ),
    (
        &["CronJob"],
        "spec/jobTemplate/spec/template/spec/initContainers/args",
    ),
    (
        &["CronJob"],
        "spec/jobTemplate/spec/template/spec/initContainers/command",
    ),
    (
        &["CronJob"],
        "spec/jobTemplate/spec/template/spec/initContainers/env/value",
    ),
    (
        &["CronJob"],
        "spec/jobTemplate/spec/template/spec/initContainers/volumeMounts/mountPath",
    ),
    (
        &["CronJob"],
        "spec/jobTemplate/spec/template/volumes/nfs/server",
    ),
    (&WORKLOADS, "spec/template/spec/containers/args"),
    (&WORKLOADS, "spec/template/spec/containers/command"),
    (&WORKLOADS, "spec/template/spec/containers/env/value"),
    (
        &WORKLOADS,
        "spec/template/spec/containers/volumeMounts/mountPath",
    ),
    (&WORKLOADS, "spec/template/spec/initContainers/args"),
    (&WORKLOADS, "spec/template/spec/initContainers/command"),
    (&WORKLOADS, "spec/template/spec/initContainers/env/value"),
    (
        &WORKLOADS,
        "spec/template/spec/initContainers/volumeMounts/mountPath",
    ),
    (
        &["DaemonSet", "Deployment", "Job", "ReplicaSet"],
        "spec/template/spec/volumes/nfs/server",
    ),
    (&["Deployment"], "spec/template/metadata/annotations"),
    (
        &["StatefulSet"],
        "spec/volumeClaimTemplates/spec/nfs/server",
    ),
    (&["PersistentVolume"], "spec/nfs/server"),
    (&["Service"], "spec/ports/port"),
    (&["Service"], "spec/ports/targetPort"),
    (&["Ingress"], "spec/rules/host"),
    (&["Ingress"], "spec/tls/hosts"),
    (&["Ingress"], "spec/tls/secretName"),
];

const WORKLOADS: [&str; 5] = [
    "DaemonSet",
    "Deployment",
    "Job",
    "ReplicaSet",
    "StatefulSet",
];

/// The value at a var's field path (`spec.ports[0].port`).
fn value_at<'a>(m: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = m;
    for seg in path.split('.') {
        let (key, index) = match seg.split_once('[') {
            Some((k, rest)) => (k, rest.strip_suffix(']')?.parse::<usize>().ok()),
            None => (seg, None),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

/// Resolves every var and substitutes it.
pub(crate) fn resolve(items: &mut [Item], vars: &[Var]) -> Result<(), KustomizeError> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: Vec<(String, Value)> = Vec::new();
    for var in vars {
        let found: Vec<&Item> = items
            .iter()
            .filter(|i| {
                str_at(&i.manifest, &["kind"]) == var.kind
                    && i.original_name == var.object
                    && var
                        .api_version
                        .as_deref()
                        .is_none_or(|api| api == str_at(&i.manifest, &["apiVersion"]))
            })
            .collect();
        let [item] = found.as_slice() else {
            return Err(invalid(
                &var.file,
                format!(
                    "var {}: {} resources match objref {} {}",
                    var.name,
                    found.len(),
                    var.kind,
                    var.object
                ),
            ));
        };
        let value = value_at(&item.manifest, &var.field_path).ok_or_else(|| {
            invalid(
                &var.file,
                format!(
                    "var {}: field {} not found in {} {}",
                    var.name, var.field_path, var.kind, var.object
                ),
            )
        })?;
        values.push((var.name.clone(), value.clone()));
    }
    for item in items.iter_mut() {
        let kind = str_at(&item.manifest, &["kind"]).to_string();
        for (kinds, path) in REFERENCES {
            if kinds.is_empty() || kinds.contains(&kind.as_str()) {
                let segments: Vec<&str> = path.split('/').collect();
                substitute_at(&mut item.manifest, &segments, &values);
            }
        }
    }
    Ok(())
}

fn substitute_at(v: &mut Value, path: &[&str], values: &[(String, Value)]) {
    if let Value::Array(list) = v {
        for e in list {
            substitute_at(e, path, values);
        }
        return;
    }
    let Some((first, rest)) = path.split_first() else {
        substitute(v, values);
        return;
    };
    if let Some(child) = v.get_mut(*first) {
        substitute_at(child, rest, values);
    }
}

/// Substitutes in a string, a list of strings or a map of strings.
fn substitute(v: &mut Value, values: &[(String, Value)]) {
    match v {
        Value::String(s) => {
            let whole = s
                .strip_prefix("$(")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|name| values.iter().find(|(n, _)| n == name));
            match whole {
                Some((_, value)) if !value.is_string() => *v = value.clone(),
                _ => *s = expand(s, values),
            }
        }
        Value::Array(list) => list.iter_mut().for_each(|e| substitute(e, values)),
        Value::Object(map) => map.values_mut().for_each(|e| substitute(e, values)),
        _ => {}
    }
}

/// Kubernetes' `$(VAR)` expansion: known names are replaced, unknown ones kept as written,
/// `$$` is a literal `$`.
fn expand(s: &str, values: &[(String, Value)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(')
            && let Some(close) = body.find(')')
        {
            let name = &body[..close];
            match values.iter().find(|(n, _)| n == name) {
                Some((_, Value::String(value))) => out.push_str(value),
                Some((_, value)) => out.push_str(&value.to_string()),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &body[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_keeps_unknown_names_and_escapes() {
        let values = vec![("A".to_string(), json!("x")), ("N".to_string(), json!(3))];
        assert_eq!(expand("$(A)-$(B)-$$(A)-$(N)", &values), "x-$(B)-$(A)-3");
        let mut port = json!("$(N)");
        substitute(&mut port, &values);
        assert_eq!(port, json!(3));
    }
}
