//! Values as Helm computes them: user values files merged in order, `--set` parameters,
//! dependencies enabled by `condition` and `tags` (with `alias`), `import-values`, and the
//! chart's defaults coalesced under the user's values (`null` deletes a key, `global` flows
//! down to subcharts).

use serde_json::{Map, Value};

use super::chart::Chart;
use super::error::{HelmError, UnsupportedFeature};

/// `values.MergeValues`' merge of values files: maps merge, anything else is replaced.
pub fn merge_maps(base: &mut Map<String, Value>, next: Map<String, Value>) {
    for (k, v) in next {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(b)), Value::Object(n)) => merge_maps(b, n),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Applies one `--set` (`string_only`: `--set-string`) parameter `key=value` to `values`.
pub fn apply_parameter(
    values: &mut Map<String, Value>,
    name: &str,
    value: &str,
    string_only: bool,
) -> Result<(), HelmError> {
    let parameter = format!("{name}={value}");
    if name.contains('[') {
        return Err(HelmError::Unsupported {
            chart: String::new(),
            feature: UnsupportedFeature::ParameterSyntax(parameter),
        });
    }
    // Dotted keys; `\.` keeps a dot in a key.
    let mut keys = Vec::new();
    let mut cur = String::new();
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '.' => keys.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    keys.push(cur);
    if keys.iter().any(String::is_empty) {
        return Err(HelmError::Parameter {
            parameter,
            reason: "key has an empty part".to_string(),
        });
    }
    let typed = if string_only {
        Value::String(value.to_string())
    } else if let Some(list) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
        Value::Array(
            list.split(',')
                .filter(|s| !s.is_empty())
                .map(typed_scalar)
                .collect(),
        )
    } else {
        typed_scalar(value)
    };
    insert_path(values, &keys, typed);
    Ok(())
}

fn insert_path(map: &mut Map<String, Value>, keys: &[String], value: Value) {
    match keys {
        [] => {}
        [last] => {
            map.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(m) = entry {
                insert_path(m, rest, value);
            }
        }
    }
}

/// strvals' typing of a `--set` scalar: `true`/`false`, `null`, integers (int64), else strings.
fn typed_scalar(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => {
            if let Ok(i) = text.parse::<i64>()
                && (text == "0" || !text.starts_with('0'))
            {
                return Value::from(i);
            }
            Value::String(text.to_string())
        }
    }
}

fn is_table(v: &Value) -> bool {
    v.is_object()
}

/// `coalesceTablesFullKey`: `src`'s entries fill `dst`; `dst` wins; `null` in `dst` deletes
/// (unless `merge`).
fn coalesce_tables(dst: &mut Map<String, Value>, src: &Map<String, Value>, merge: bool) {
    let mut src = src.clone();
    for (k, v) in dst.iter() {
        if v.is_null() {
            src.insert(k.clone(), Value::Null);
        }
    }
    for (key, val) in src {
        match dst.get_mut(&key) {
            Some(Value::Null) if !merge => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, val);
            }
            Some(dv) => {
                if let (Value::Object(d), Value::Object(s)) = (dv, &val) {
                    coalesce_tables(d, s, merge);
                }
            }
        }
    }
}

/// `coalesceValues`: the chart's defaults under `v`.
fn coalesce_values(chart: &Chart, v: &mut Map<String, Value>, merge: bool) {
    let Some(defaults) = chart.values.as_object() else {
        return;
    };
    for (key, val) in defaults {
        match v.get_mut(key) {
            Some(Value::Null) if !merge => {
                v.remove(key);
            }
            Some(Value::Object(dest)) => {
                if let Value::Object(src) = val {
                    let child = chart.dependencies.iter().any(|d| &d.name == key);
                    coalesce_tables(dest, src, merge || child);
                }
            }
            Some(_) => {}
            None => {
                v.insert(key.clone(), val.clone());
            }
        }
    }
}

/// `coalesceGlobals`: the parent's `global` merged into the subchart's.
fn coalesce_globals(dest: &mut Map<String, Value>, src: &Map<String, Value>) {
    let mut dg = match dest.get("global") {
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return,
        None => Map::new(),
    };
    let sg = match src.get("global") {
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return,
        None => Map::new(),
    };
    for (key, val) in sg {
        if let Value::Object(vv) = &val {
            let mut vv = vv.clone();
            match dg.get(&key) {
                None => {
                    dg.insert(key, Value::Object(vv));
                }
                Some(Value::Object(destv)) => {
                    coalesce_tables(&mut vv, destv, true);
                    dg.insert(key, Value::Object(vv));
                }
                Some(_) => {}
            }
        } else if dg.get(&key).is_some_and(is_table) {
        } else {
            dg.insert(key, val);
        }
    }
    dest.insert("global".to_string(), Value::Object(dg));
}

/// `CoalesceValues(chart, vals)`: the values every template of the chart tree sees.
pub fn coalesce(chart: &Chart, mut v: Map<String, Value>, merge: bool) -> Map<String, Value> {
    coalesce_values(chart, &mut v, merge);
    for sub in &chart.dependencies {
        let mut dv = match v.remove(&sub.name) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        coalesce_globals(&mut dv, &v);
        let dv = coalesce(sub, dv, merge);
        v.insert(sub.name.clone(), Value::Object(dv));
    }
    v
}

fn path_value<'a>(values: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut cur = values.get(first)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn dep_field<'a>(dep: &'a Value, key: &str) -> Option<&'a str> {
    dep.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `ProcessDependencies`: keeps the subcharts `Chart.yaml` lists (renamed by `alias`) or that
/// it does not list, drops those disabled by `tags` and `condition`, recursively, then applies
/// `import-values`.
pub fn process_dependencies(
    chart: &mut Chart,
    user: &Map<String, Value>,
    path: &str,
    display: &str,
) -> Result<(), HelmError> {
    let declared = chart.declared_dependencies();
    if declared.is_empty() {
        for sub in &mut chart.dependencies {
            let sub_display = format!("{display}/charts/{}", sub.name);
            let sub_path = format!("{path}{}.", sub.name);
            process_dependencies(sub, user, &sub_path, &sub_display)?;
        }
        return Ok(());
    }
    let available = std::mem::take(&mut chart.dependencies);
    // Helm's `IsCompatibleRange`: a subchart serves a dependency of its name whose version
    // range it satisfies (no range: any version).
    let serves = |dep: &Value, c: &Chart| {
        dep_field(dep, "name") == Some(c.name.as_str())
            && dep_field(dep, "version").is_none_or(|range| {
                strata_gotemplate::helm::semver_satisfies(range, c.version()).unwrap_or(false)
            })
    };
    // Subcharts serving no dependency are rendered as they are.
    let mut kept: Vec<Chart> = available
        .iter()
        .filter(|c| !declared.iter().any(|d| serves(d, c)))
        .cloned()
        .collect();
    let mut enabled: Vec<(String, Value)> = Vec::new();
    for dep in &declared {
        let name = dep_field(dep, "name").unwrap_or_default();
        if !available.iter().any(|c| c.name == name) {
            return Err(HelmError::MissingDependency {
                chart: display.to_string(),
                dependency: name.to_string(),
            });
        }
        // Tags and conditions apply to every dependency by its name (or alias), also to one
        // no subchart serves: a disabled one removes a subchart of that name even when it is
        // rendered as unlisted, as Helm removes it.
        let listed_name = dep_field(dep, "alias").unwrap_or(name);
        // A dependency whose subcharts are all outside its version range is left out, as
        // Helm leaves it out.
        let Some(found) = available.iter().find(|c| serves(dep, c)) else {
            enabled.push((listed_name.to_string(), dep.clone()));
            continue;
        };
        let mut sub = found.clone();
        if let Some(alias) = dep_field(dep, "alias") {
            sub.name = alias.to_string();
            if let Value::Object(m) = &mut sub.metadata {
                m.insert("name".to_string(), Value::String(alias.to_string()));
            }
        }
        enabled.push((sub.name.clone(), dep.clone()));
        kept.push(sub);
    }
    chart.dependencies = kept;
    let cvals = coalesce(chart, user.clone(), false);
    let tags = cvals.get("tags").and_then(Value::as_object);
    let mut disabled = Vec::new();
    for (name, dep) in &enabled {
        let mut on = true;
        if let (Some(tags), Some(dep_tags)) = (tags, dep.get("tags").and_then(Value::as_array)) {
            let (mut has_true, mut has_false) = (false, false);
            for t in dep_tags.iter().filter_map(Value::as_str) {
                match tags.get(t) {
                    Some(Value::Bool(true)) => has_true = true,
                    Some(Value::Bool(false)) => has_false = true,
                    _ => {}
                }
            }
            on = has_true || !has_false;
        }
        if let Some(condition) = dep_field(dep, "condition") {
            for c in condition.split(',') {
                let full = format!("{path}{}", c.trim());
                if let Some(Value::Bool(b)) = path_value(&cvals, &full) {
                    on = *b;
                    break;
                }
            }
        }
        if !on {
            disabled.push(name.clone());
        }
    }
    chart.dependencies.retain(|c| !disabled.contains(&c.name));
    if let Value::Object(m) = &mut chart.metadata {
        let deps: Vec<Value> = declared
            .iter()
            .map(|d| {
                let mut d = d.clone();
                if let (Some(alias), Value::Object(dm)) =
                    (dep_field(&d, "alias").map(str::to_string), &mut d)
                {
                    dm.insert("name".to_string(), Value::String(alias));
                }
                d
            })
            .filter(|d| {
                !disabled
                    .iter()
                    .any(|n| dep_field(d, "name") == Some(n.as_str()))
            })
            .collect();
        m.insert("dependencies".to_string(), Value::Array(deps));
    }
    for sub in &mut chart.dependencies {
        let sub_display = format!("{display}/charts/{}", sub.name);
        let sub_path = format!("{path}{}.", sub.name);
        process_dependencies(sub, user, &sub_path, &sub_display)?;
    }
    Ok(())
}

/// `processImportValues`, leaves first: a dependency's `import-values` (`child`/`parent`
/// pairs, or names under its `exports`) copied into the chart's defaults, below them.
pub fn import_values(chart: &mut Chart) {
    for sub in &mut chart.dependencies {
        import_values(sub);
    }
    let declared = chart.declared_dependencies();
    if declared.iter().all(|d| d.get("import-values").is_none()) {
        return;
    }
    let cvals = coalesce(chart, Map::new(), true);
    let mut imported = Map::new();
    for dep in &declared {
        let name = dep_field(dep, "name").unwrap_or_default();
        for iv in dep
            .get("import-values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (child, parent) = match iv {
                Value::String(s) => (format!("exports.{s}"), ".".to_string()),
                Value::Object(m) => (
                    m.get("child")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    m.get("parent")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                ),
                _ => continue,
            };
            let Some(Value::Object(table)) = path_value(&cvals, &format!("{name}.{child}")) else {
                continue;
            };
            let mut wrapped = table.clone();
            if parent != "." {
                for key in parent.rsplit('.') {
                    let mut m = Map::new();
                    m.insert(key.to_string(), Value::Object(wrapped));
                    wrapped = m;
                }
            }
            merge_maps(&mut imported, wrapped);
        }
    }
    let mut values = cvals;
    // Imported values rank below the chart's own.
    let mut with_imports = imported;
    merge_maps(&mut with_imports, std::mem::take(&mut values));
    chart.values = Value::Object(with_imports);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chart(values: Value, deps: Vec<Chart>) -> Chart {
        Chart {
            metadata: json!({"name": "c", "version": "1.0.0"}),
            name: "c".into(),
            values,
            schema: None,
            templates: Vec::new(),
            files: Vec::new(),
            dependencies: deps,
        }
    }

    #[test]
    fn user_values_win_and_null_deletes() {
        let c = chart(json!({"a": 1, "b": {"x": 1, "y": 2}, "c": 3}), Vec::new());
        let user = json!({"b": {"y": null, "z": 3}, "c": null});
        let out = coalesce(&c, user.as_object().cloned().unwrap_or_default(), false);
        assert_eq!(Value::Object(out), json!({"a": 1, "b": {"x": 1, "z": 3}}));
    }

    #[test]
    fn globals_flow_to_subcharts() {
        let mut sub = chart(json!({"global": {"g": "sub"}, "k": 1}), Vec::new());
        sub.name = "sub".into();
        let c = chart(json!({"global": {"g": "parent", "h": 1}}), vec![sub]);
        let out = coalesce(&c, Map::new(), false);
        assert_eq!(out["sub"]["global"], json!({"g": "parent", "h": 1}));
        assert_eq!(out["sub"]["k"], json!(1));
    }

    #[test]
    fn parameters_are_typed_like_strvals() {
        let mut m = Map::new();
        apply_parameter(&mut m, "a.b", "3", false).expect("set");
        apply_parameter(&mut m, "a.c", "true", false).expect("set");
        apply_parameter(&mut m, "a.d", "007", false).expect("set");
        apply_parameter(&mut m, "e", "{x,y}", false).expect("set");
        apply_parameter(&mut m, "f\\.g", "1", true).expect("set");
        assert_eq!(
            Value::Object(m),
            json!({"a": {"b": 3, "c": true, "d": "007"}, "e": ["x", "y"], "f.g": "1"})
        );
    }
}
