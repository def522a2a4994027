//! Crossplane's function-environment-configs, run in-process: the
//! `environmentconfigs.fn.crossplane.io` `Input` (`spec.environmentConfigs`, `spec.defaultData`,
//! `spec.policy.resolution`) selects `apiextensions.crossplane.io` `EnvironmentConfig` objects
//! by name (`type: Reference`) or by labels (`type: Selector`, `mode: Single | Multiple`,
//! `sortByFieldPath`, `minMatch`, `maxMatch`, label values literal or read from the composite),
//! and merges their `data` into the environment held in the pipeline context under
//! [`ENVIRONMENT_KEY`](crate::render::ENVIRONMENT_KEY), where later steps (patch-and-transform environment patches,
//! go-templating's `.context`) read it.
//!
//! Semantics, as the function has them:
//! - Sources are merged in the order they are listed: a later config's values win, objects
//!   merge key by key, anything else (arrays included) is replaced. Sources with a
//!   `toFieldPath` put the config's `data` at that path of a fresh object before merging; the
//!   function merges the groups of sources sharing a `toFieldPath` in Go's map order, which is
//!   random: Strata merges them in the order each `toFieldPath` is first listed.
//! - The merged data is laid over the environment already in the context, and
//!   `spec.defaultData` under both (configs > context > defaults). Without `apiVersion` and
//!   `kind`, the environment is `internal.crossplane.io/v1alpha1` `Environment`.
//! - Without `spec.environmentConfigs` (absent or null) the step changes nothing, not even
//!   `defaultData`; an empty list applies `defaultData`.
//! - A reference to a missing config is an error unless `spec.policy.resolution: Optional`
//!   (which applies to references only). `mode: Single` wants exactly one match; `mode:
//!   Multiple` checks `minMatch` on the matches, sorts them by `sortByFieldPath` (default
//!   `metadata.name`; strings or numbers, a missing value counts as the type's zero) and keeps
//!   the first `maxMatch`. Matches come in name order (as the API server lists them) and the
//!   sort is stable.
//! - A selector whose labels all come from optional composite field paths that are missing
//!   selects nothing and is skipped.
//!
//! Where the function would crash (a `Reference` without `ref`, a `Value` label without
//! `value`) or silently ignore an entry (an unknown `type` or `mode`), Strata refuses the input
//! with an error naming the field.

use crate::error::{Error, Phase, Result};
use crate::fieldpath;
use crate::render::RenderRequest;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The API group of the function's input.
pub const INPUT_GROUP: &str = "environmentconfigs.fn.crossplane.io";
/// The API group of `EnvironmentConfig`.
pub const ENVIRONMENT_CONFIG_GROUP: &str = "apiextensions.crossplane.io";
/// The kind the function selects.
pub const ENVIRONMENT_CONFIG_KIND: &str = "EnvironmentConfig";
/// The sort field of a selector without `sortByFieldPath`.
pub const DEFAULT_SORT_FIELD_PATH: &str = "metadata.name";

/// Whether a step input is function-environment-configs'.
pub fn is_input(input: &Value) -> bool {
    input.get("kind").and_then(Value::as_str) == Some("Input")
        && input
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.split_once('/'))
            .is_some_and(|(group, _)| group == INPUT_GROUP)
}

/// Whether `object` is an `apiextensions.crossplane.io` `EnvironmentConfig` (any version).
pub fn is_environment_config(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some(ENVIRONMENT_CONFIG_KIND)
        && object
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.split_once('/'))
            .is_some_and(|(group, _)| group == ENVIRONMENT_CONFIG_GROUP)
}

/// A parsed function-environment-configs input.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentConfigs {
    /// `spec.environmentConfigs`; `None` when absent or null (the step then does nothing).
    pub sources: Option<Vec<Source>>,
    /// `spec.defaultData`: the environment's lowest layer.
    pub default_data: Option<Map<String, Value>>,
    /// `spec.policy.resolution: Optional`: a reference to a missing config selects nothing.
    pub optional: bool,
}

/// One entry of `spec.environmentConfigs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// How configs are chosen.
    pub selection: Selection,
    /// `toFieldPath`: where in the environment the configs' `data` goes (`None`: the root).
    pub to_field_path: Option<String>,
}

/// How a source chooses configs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Selection {
    /// `type: Reference` (the default): the config named `ref.name`.
    Reference(String),
    /// `type: Selector`: configs by labels.
    Selector(Selector),
}

/// `selector` of a `type: Selector` source.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// `mode`.
    pub mode: Mode,
    /// `minMatch` (`Multiple` only).
    pub min_match: Option<u64>,
    /// `maxMatch` (`Multiple` only).
    pub max_match: Option<u64>,
    /// `sortByFieldPath` (default [`DEFAULT_SORT_FIELD_PATH`]).
    pub sort_by_field_path: String,
    /// `matchLabels`.
    pub match_labels: Vec<LabelMatcher>,
}

/// `selector.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Exactly one config must match (the default).
    Single,
    /// Any number, checked against `minMatch`, sorted, cut at `maxMatch`.
    Multiple,
}

/// One `selector.matchLabels` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMatcher {
    /// `key`.
    pub key: String,
    /// Where the value comes from.
    pub value: LabelValue,
    /// `fromFieldPathPolicy: Optional`: a missing composite field drops this label.
    pub optional: bool,
}

/// Where a label value comes from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LabelValue {
    /// `type: Value`: `value`.
    Value(String),
    /// `type: FromCompositeFieldPath` (the default): the string at `valueFromFieldPath` of
    /// the observed composite.
    FromCompositeFieldPath(String),
}

fn invalid(field: &str, msg: impl std::fmt::Display) -> Error {
    Error::Validation(format!("invalid function input: {field}: {msg}"))
}

fn opt_str<'a>(v: &'a Value, key: &str, field: &str) -> Result<Option<&'a str>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(&format!("{field}.{key}"), "must be a string")),
    }
}

fn opt_count(v: &Value, key: &str, field: &str) -> Result<Option<u64>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(&format!("{field}.{key}"), "must be a non-negative integer")),
    }
}

fn unsupported(field: &str, value: &str, supported: &[&str]) -> Error {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    invalid(
        field,
        format!(
            "Unsupported value: {value:?}: supported values: {}",
            list.join(", ")
        ),
    )
}

impl EnvironmentConfigs {
    /// Parses the input. A field of the wrong type, an unknown `type`, `mode` or
    /// `resolution`, or a missing `ref.name`, `value` or `valueFromFieldPath` is a validation
    /// error naming the field.
    pub fn parse(input: &Value) -> Result<EnvironmentConfigs> {
        let spec = match input.get("spec") {
            None | Some(Value::Null) => &Value::Null,
            Some(s @ Value::Object(_)) => s,
            Some(_) => return Err(invalid("spec", "must be an object")),
        };
        let default_data = match spec.get("defaultData") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m.clone()),
            Some(_) => return Err(invalid("spec.defaultData", "must be an object")),
        };
        let optional = match spec
            .get("policy")
            .map(|p| opt_str(p, "resolution", "spec.policy"))
            .transpose()?
            .flatten()
        {
            None | Some("Required") => false,
            Some("Optional") => true,
            Some(other) => {
                return Err(unsupported(
                    "spec.policy.resolution",
                    other,
                    &["Required", "Optional"],
                ));
            }
        };
        let sources = match spec.get("environmentConfigs") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, s)| Source::parse(s, &format!("spec.environmentConfigs[{i}]")))
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(invalid("spec.environmentConfigs", "must be a list")),
        };
        Ok(EnvironmentConfigs {
            sources,
            default_data,
            optional,
        })
    }

    /// Runs the step over `req`: selects among `configs` (objects that are not
    /// `EnvironmentConfig`s are ignored) and sets `req.environment`. Errors are fatal and
    /// carry the function's messages.
    pub fn run(&self, req: &mut RenderRequest, configs: &[Value]) -> Result<()> {
        let Some(sources) = &self.sources else {
            return Ok(());
        };
        let mut pool: Vec<&Value> = configs
            .iter()
            .filter(|c| is_environment_config(c))
            .collect();
        pool.sort_by(|a, b| name_of(a).cmp(name_of(b)));
        let mut requirements = Vec::with_capacity(sources.len());
        for source in sources {
            requirements.push(
                source
                    .requirement(&req.composite)
                    .map_err(|e| e.wrap("cannot build requirements"))?,
            );
        }
        // Selected configs, grouped by `toFieldPath` in the order each is first listed.
        let mut groups: Vec<(String, Vec<&Value>)> = Vec::new();
        for (i, (source, requirement)) in sources.iter().zip(&requirements).enumerate() {
            let Some(requirement) = requirement else {
                continue;
            };
            let matched: Vec<&Value> = pool
                .iter()
                .copied()
                .filter(|c| requirement.matches(c))
                .collect();
            let selected = self
                .select(i, source, matched)
                .map_err(|e| e.wrap("cannot get selected environment configs"))?;
            if selected.is_empty() {
                continue;
            }
            let path = source.to_field_path.clone().unwrap_or_default();
            match groups.iter_mut().find(|(p, _)| *p == path) {
                Some((_, list)) => list.extend(selected),
                None => groups.push((path, selected)),
            }
        }
        let mut merged = Map::new();
        for (path, list) in &groups {
            for config in list {
                let data =
                    data_of(config, path).map_err(|e| e.wrap("cannot merge environment data"))?;
                merged = merge_maps(merged, data);
            }
        }
        if let Some(Value::Object(current)) = &req.environment {
            merged = merge_maps(current.clone(), merged);
        }
        if let Some(defaults) = &self.default_data {
            merged = merge_maps(defaults.clone(), merged);
        }
        let blank = |k: &str| {
            merged
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
        };
        if blank("apiVersion") && blank("kind") {
            merged.insert(
                "apiVersion".into(),
                json!("internal.crossplane.io/v1alpha1"),
            );
            merged.insert("kind".into(), json!("Environment"));
        }
        req.environment = Some(Value::Object(merged));
        Ok(())
    }

    /// `getSelectedEnvConfigs` for source `i`.
    fn select<'a>(
        &self,
        i: usize,
        source: &Source,
        matched: Vec<&'a Value>,
    ) -> Result<Vec<&'a Value>> {
        let requirement = format!("environment-config-{i}");
        match &source.selection {
            Selection::Reference(name) => match matched.as_slice() {
                [] if self.optional => Ok(Vec::new()),
                [] => Err(Error::Fatal(format!(
                    "cannot process environment config {name:?} by reference, {requirement:?}: Required environment config {name:?} not found"
                ))),
                [one] => Ok(vec![*one]),
                many => Err(Error::Fatal(format!(
                    "cannot process environment config {name:?} by reference, {requirement:?}: expected exactly one required resource {name:?}, got {}",
                    many.len()
                ))),
            },
            Selection::Selector(selector) => selector.select(matched).map_err(|e| {
                e.wrap(&format!(
                    "cannot process environment config {requirement:?} by selector"
                ))
            }),
        }
    }
}

impl Source {
    fn parse(v: &Value, field: &str) -> Result<Source> {
        if !v.is_object() {
            return Err(invalid(field, "must be an object"));
        }
        let to_field_path = opt_str(v, "toFieldPath", field)?.map(str::to_owned);
        let selection = match opt_str(v, "type", field)?.unwrap_or("Reference") {
            "Reference" | "" => {
                let name = v
                    .get("ref")
                    .and_then(|r| r.get("name"))
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| invalid(&format!("{field}.ref.name"), "Required value"))?;
                Selection::Reference(name.to_owned())
            }
            "Selector" => {
                let s = match v.get("selector") {
                    Some(s @ Value::Object(_)) => s,
                    _ => return Err(invalid(&format!("{field}.selector"), "Required value")),
                };
                Selection::Selector(Selector::parse(s, &format!("{field}.selector"))?)
            }
            other => {
                return Err(unsupported(
                    &format!("{field}.type"),
                    other,
                    &["Reference", "Selector"],
                ));
            }
        };
        Ok(Source {
            selection,
            to_field_path,
        })
    }

    /// The `buildRequirements` entry: `None` when nothing is requested (a selector left
    /// without labels).
    fn requirement(&self, composite: &Value) -> Result<Option<Requirement>> {
        match &self.selection {
            Selection::Reference(name) => Ok(Some(Requirement::Name(name.clone()))),
            Selection::Selector(selector) => {
                let mut labels = BTreeMap::new();
                for m in &selector.match_labels {
                    let value = match &m.value {
                        LabelValue::Value(v) => v.clone(),
                        LabelValue::FromCompositeFieldPath(path) => {
                            match fieldpath::get_string(composite, path) {
                                Ok(v) => v.to_owned(),
                                Err(_) if m.optional => continue,
                                Err(e) => {
                                    return Err(Error::Path {
                                        context: format!(
                                            "cannot get value from field path {path:?}: "
                                        ),
                                        source: e,
                                    });
                                }
                            }
                        }
                    };
                    labels.insert(m.key.clone(), value);
                }
                Ok((!labels.is_empty()).then_some(Requirement::Labels(labels)))
            }
        }
    }
}

impl Selector {
    fn parse(v: &Value, field: &str) -> Result<Selector> {
        let mode = match opt_str(v, "mode", field)?.unwrap_or("Single") {
            "Single" | "" => Mode::Single,
            "Multiple" => Mode::Multiple,
            other => {
                return Err(unsupported(
                    &format!("{field}.mode"),
                    other,
                    &["Single", "Multiple"],
                ));
            }
        };
        let sort_by_field_path = opt_str(v, "sortByFieldPath", field)?
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SORT_FIELD_PATH)
            .to_owned();
        fieldpath::FieldPath::parse(&sort_by_field_path).map_err(|e| {
            Error::caused(
                Phase::Validation,
                format!("invalid function input: {field}.sortByFieldPath: "),
                e,
            )
        })?;
        let mut match_labels = Vec::new();
        match v.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, m) in items.iter().enumerate() {
                    match_labels.push(LabelMatcher::parse(
                        m,
                        &format!("{field}.matchLabels[{i}]"),
                    )?);
                }
            }
            Some(_) => return Err(invalid(&format!("{field}.matchLabels"), "must be a list")),
        }
        Ok(Selector {
            mode,
            min_match: opt_count(v, "minMatch", field)?,
            max_match: opt_count(v, "maxMatch", field)?,
            sort_by_field_path,
            match_labels,
        })
    }

    /// `processEnvironmentSource`.
    fn select<'a>(&self, mut matched: Vec<&'a Value>) -> Result<Vec<&'a Value>> {
        match self.mode {
            Mode::Single => match matched.as_slice() {
                [one] => Ok(vec![*one]),
                other => Err(Error::Fatal(format!(
                    "expected exactly one required resource, got {}",
                    other.len()
                ))),
            },
            Mode::Multiple => {
                if let Some(min) = self.min_match
                    && (matched.len() as u64) < min
                {
                    return Err(Error::Fatal(format!(
                        "expected at least {min} required resources, got {}",
                        matched.len()
                    )));
                }
                sort_by_field_path(&mut matched, &self.sort_by_field_path)?;
                if let Some(max) = self.max_match {
                    matched.truncate(usize::try_from(max).unwrap_or(usize::MAX));
                }
                Ok(matched)
            }
        }
    }
}

impl LabelMatcher {
    fn parse(v: &Value, field: &str) -> Result<LabelMatcher> {
        if !v.is_object() {
            return Err(invalid(field, "must be an object"));
        }
        let key = opt_str(v, "key", field)?
            .ok_or_else(|| invalid(&format!("{field}.key"), "Required value"))?
            .to_owned();
        let value = match opt_str(v, "type", field)?.unwrap_or("FromCompositeFieldPath") {
            "FromCompositeFieldPath" | "" => LabelValue::FromCompositeFieldPath(
                opt_str(v, "valueFromFieldPath", field)?
                    .ok_or_else(|| {
                        invalid(&format!("{field}.valueFromFieldPath"), "Required value")
                    })?
                    .to_owned(),
            ),
            "Value" => LabelValue::Value(
                opt_str(v, "value", field)?
                    .ok_or_else(|| invalid(&format!("{field}.value"), "Required value"))?
                    .to_owned(),
            ),
            other => {
                return Err(unsupported(
                    &format!("{field}.type"),
                    other,
                    &["FromCompositeFieldPath", "Value"],
                ));
            }
        };
        let optional = match opt_str(v, "fromFieldPathPolicy", field)? {
            None | Some("Required") => false,
            Some("Optional") => true,
            Some(other) => {
                return Err(unsupported(
                    &format!("{field}.fromFieldPathPolicy"),
                    other,
                    &["Optional", "Required"],
                ));
            }
        };
        Ok(LabelMatcher {
            key,
            value,
            optional,
        })
    }
}

/// What a source asks Crossplane for.
enum Requirement {
    Name(String),
    Labels(BTreeMap<String, String>),
}

impl Requirement {
    fn matches(&self, config: &Value) -> bool {
        match self {
            Requirement::Name(name) => name_of(config) == name,
            Requirement::Labels(labels) => {
                let have = config.pointer("/metadata/labels");
                labels.iter().all(|(k, v)| {
                    have.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v.as_str())
                })
            }
        }
    }
}

fn name_of(config: &Value) -> &str {
    config
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The Go type a JSON value decodes to (as the function's errors name it).
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
        other => go_type(other),
    }
}

/// `sortRequiredByFieldPath`: a stable sort by the value at `path` (strings or numbers, all
/// of one type; a missing value is the type's zero).
fn sort_by_field_path(configs: &mut [&Value], path: &str) -> Result<()> {
    let mut keys: Vec<Option<&Value>> = Vec::with_capacity(configs.len());
    let mut first: Option<&Value> = None;
    for c in configs.iter() {
        let v = match fieldpath::get(c, path) {
            Ok(Value::Null) => None,
            Ok(v) => Some(v),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(v) = v {
            match first {
                None => first = Some(v),
                Some(f) if go_type(f) != go_type(v) => {
                    return Err(Error::Fatal(format!(
                        "cannot sort values of different types {:?} and {:?}",
                        go_type(f),
                        go_type(v)
                    )));
                }
                Some(_) => {}
            }
        }
        keys.push(v);
    }
    let Some(first) = first else {
        return Ok(());
    };
    if configs.len() < 2 {
        return Ok(());
    }
    let mut order: Vec<usize> = (0..configs.len()).collect();
    match first {
        Value::String(_) => {
            let key = |i: usize| keys[i].and_then(Value::as_str).unwrap_or("");
            order.sort_by(|&a, &b| key(a).cmp(key(b)));
        }
        Value::Number(_) => {
            let key = |i: usize| keys[i].and_then(Value::as_f64).unwrap_or(0.0);
            order.sort_by(|&a, &b| key(a).partial_cmp(&key(b)).unwrap_or(Ordering::Equal));
        }
        other => {
            return Err(Error::Fatal(format!(
                "unsupported type {:?} for sorting",
                go_kind(other)
            )));
        }
    }
    let sorted: Vec<&Value> = order.iter().map(|&i| configs[i]).collect();
    configs.copy_from_slice(&sorted);
    Ok(())
}

/// A config's `data` as the layer it adds: at `path` of a fresh object, or as it is.
fn data_of(config: &Value, path: &str) -> Result<Map<String, Value>> {
    let name = name_of(config);
    let data = config.get("data");
    if !path.is_empty() {
        let mut out = Value::Object(Map::new());
        fieldpath::set(&mut out, path, data.cloned().unwrap_or(Value::Null)).map_err(|_| {
            Error::Fatal(format!(
                "cannot get data from environment config {name} into path {path:?}"
            ))
        })?;
        return Ok(match out {
            Value::Object(m) => m,
            _ => Map::new(),
        });
    }
    match data {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::Null) => Ok(Map::new()),
        None => Err(Error::Fatal(format!(
            "cannot get data from environment config {name:?}: data: no such field"
        ))),
        Some(other) => Err(Error::Fatal(format!(
            "cannot get data from environment config {name:?}: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            }
        ))),
    }
}

/// The function's `mergeMaps`: `b` over `a`, objects merged key by key, anything else
/// replaced.
pub fn merge_maps(mut a: Map<String, Value>, b: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in b {
        match (a.get_mut(&k), v) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                let base = std::mem::take(existing);
                *existing = merge_maps(base, incoming);
            }
            (_, v) => {
                a.insert(k, v);
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config(name: &str, labels: Value, data: Value) -> Value {
        json!({
            "apiVersion": "apiextensions.crossplane.io/v1beta1",
            "kind": "EnvironmentConfig",
            "metadata": {"name": name, "labels": labels},
            "data": data,
        })
    }

    fn request() -> RenderRequest {
        RenderRequest {
            composite: json!({
                "apiVersion": "example.org/v1",
                "kind": "XBucket",
                "metadata": {"name": "logs"},
                "spec": {"stage": "prod", "count": 3},
            }),
            ..RenderRequest::default()
        }
    }

    fn run_spec(spec: Value, configs: &[Value]) -> Result<Value> {
        let input = json!({"apiVersion": "environmentconfigs.fn.crossplane.io/v1beta1", "kind": "Input", "spec": spec});
        assert!(is_input(&input));
        let step = EnvironmentConfigs::parse(&input)?;
        let mut req = request();
        step.run(&mut req, configs)?;
        Ok(req.environment.unwrap_or(Value::Null))
    }

    fn pool() -> Vec<Value> {
        vec![
            config(
                "b-network",
                json!({"stage": "prod", "kind": "network"}),
                json!({"region": "eu-west-1", "vpc": {"id": "vpc-b", "cidr": "10.1.0.0/16"}, "order": 2, "tags": ["b"]}),
            ),
            config(
                "a-network",
                json!({"stage": "prod", "kind": "network"}),
                json!({"region": "us-east-1", "vpc": {"id": "vpc-a"}, "order": 1, "tags": ["a"]}),
            ),
            config(
                "c-dev",
                json!({"stage": "dev", "kind": "network"}),
                json!({"region": "ap-south-1", "order": 3}),
            ),
            // Not an EnvironmentConfig: never selected.
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a-network", "labels": {"stage": "prod"}}, "data": {"region": "nowhere"}}),
        ]
    }

    #[test]
    fn references_merge_in_order_later_wins_objects_merge_deeply() {
        let env = run_spec(
            json!({"environmentConfigs": [
                {"type": "Reference", "ref": {"name": "b-network"}},
                {"ref": {"name": "a-network"}},
            ]}),
            &pool(),
        )
        .unwrap();
        assert_eq!(
            env,
            json!({
                "region": "us-east-1",
                "vpc": {"id": "vpc-a", "cidr": "10.1.0.0/16"},
                "order": 1,
                "tags": ["a"],
                "apiVersion": "internal.crossplane.io/v1alpha1",
                "kind": "Environment",
            })
        );
    }

    #[test]
    fn configs_override_the_context_environment_which_overrides_default_data() {
        let input = json!({"apiVersion": "environmentconfigs.fn.crossplane.io/v1beta1", "kind": "Input", "spec": {
            "defaultData": {"region": "default", "team": "platform", "size": "small", "nested": {"a": 1, "b": 1}},
            "environmentConfigs": [{"ref": {"name": "c-dev"}}],
        }});
        let step = EnvironmentConfigs::parse(&input).unwrap();
        let mut req = request();
        req.environment = Some(json!({"size": "large", "region": "context", "nested": {"b": 2}}));
        step.run(&mut req, &pool()).unwrap();
        let env = req.environment.unwrap();
        assert_eq!(env["region"], json!("ap-south-1"));
        assert_eq!(env["size"], json!("large"));
        assert_eq!(env["team"], json!("platform"));
        assert_eq!(env["nested"], json!({"a": 1, "b": 2}));
    }

    #[test]
    fn without_environment_configs_the_step_changes_nothing_but_an_empty_list_applies_defaults() {
        let input = json!({"apiVersion": "environmentconfigs.fn.crossplane.io/v1beta1", "kind": "Input", "spec": {"defaultData": {"a": 1}}});
        let mut req = request();
        EnvironmentConfigs::parse(&input)
            .unwrap()
            .run(&mut req, &pool())
            .unwrap();
        assert_eq!(req.environment, None);
        let env = run_spec(
            json!({"defaultData": {"a": 1}, "environmentConfigs": []}),
            &[],
        )
        .unwrap();
        assert_eq!(
            env,
            json!({"a": 1, "apiVersion": "internal.crossplane.io/v1alpha1", "kind": "Environment"})
        );
    }

    #[test]
    fn a_required_reference_to_a_missing_config_fails_and_an_optional_one_is_skipped() {
        let err = run_spec(
            json!({"environmentConfigs": [{"ref": {"name": "missing"}}]}),
            &pool(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot get selected environment configs: cannot process environment config \"missing\" by reference, \"environment-config-0\": Required environment config \"missing\" not found"
        );
        let env = run_spec(
            json!({"policy": {"resolution": "Optional"}, "environmentConfigs": [{"ref": {"name": "missing"}}, {"ref": {"name": "c-dev"}}]}),
            &pool(),
        )
        .unwrap();
        assert_eq!(env["region"], json!("ap-south-1"));
    }

    #[test]
    fn single_mode_wants_exactly_one_match_even_when_optional() {
        let err = run_spec(
            json!({"policy": {"resolution": "Optional"}, "environmentConfigs": [{"type": "Selector", "selector": {"matchLabels": [{"key": "stage", "type": "Value", "value": "prod"}]}}]}),
            &pool(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot get selected environment configs: cannot process environment config \"environment-config-0\" by selector: expected exactly one required resource, got 2"
        );
        let env = run_spec(
            json!({"environmentConfigs": [{"type": "Selector", "selector": {"mode": "Single", "matchLabels": [{"key": "stage", "type": "Value", "value": "dev"}]}}]}),
            &pool(),
        )
        .unwrap();
        assert_eq!(env["region"], json!("ap-south-1"));
    }

    #[test]
    fn multiple_mode_sorts_by_the_field_path_then_cuts_at_max_match() {
        let selector = |extra: Value| {
            let mut s = json!({"mode": "Multiple", "matchLabels": [{"key": "kind", "type": "Value", "value": "network"}]});
            for (k, v) in extra.as_object().unwrap() {
                s[k] = v.clone();
            }
            json!({"environmentConfigs": [{"type": "Selector", "selector": s}]})
        };
        // By name (the default): a-network, b-network, c-dev; the last wins.
        let env = run_spec(selector(json!({})), &pool()).unwrap();
        assert_eq!(env["region"], json!("ap-south-1"));
        assert_eq!(env["vpc"], json!({"id": "vpc-b", "cidr": "10.1.0.0/16"}));
        // By a number, descending order is not a thing: data.order 1, 2, 3 and max 2 keeps 1, 2.
        let env = run_spec(
            selector(json!({"sortByFieldPath": "data.order", "maxMatch": 2})),
            &pool(),
        )
        .unwrap();
        assert_eq!(env["region"], json!("eu-west-1"));
        // By a string: regions ap-south-1, eu-west-1, us-east-1; max 1 keeps ap-south-1.
        let env = run_spec(
            selector(json!({"sortByFieldPath": "data.region", "maxMatch": 1})),
            &pool(),
        )
        .unwrap();
        assert_eq!(env["region"], json!("ap-south-1"));
        assert_eq!(env.get("vpc"), None);
    }

    #[test]
    fn multiple_mode_checks_min_match_before_cutting() {
        let spec = json!({"environmentConfigs": [{"type": "Selector", "selector": {"mode": "Multiple", "minMatch": 3, "maxMatch": 1, "matchLabels": [{"key": "stage", "type": "Value", "value": "prod"}]}}]});
        let err = run_spec(spec, &pool()).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("by selector: expected at least 3 required resources, got 2"),
            "{err}"
        );
        let none = run_spec(
            json!({"environmentConfigs": [{"type": "Selector", "selector": {"mode": "Multiple", "matchLabels": [{"key": "stage", "type": "Value", "value": "qa"}]}}]}),
            &pool(),
        )
        .unwrap();
        assert_eq!(
            none,
            json!({"apiVersion": "internal.crossplane.io/v1alpha1", "kind": "Environment"})
        );
    }

    #[test]
    fn sorting_refuses_mixed_and_unsortable_types() {
        let configs = vec![
            config("x", json!({"k": "v"}), json!({"key": "text"})),
            config("y", json!({"k": "v"}), json!({"key": 1})),
            config("z", json!({"k": "v"}), json!({"flag": true})),
            config("w", json!({"k": "v"}), json!({"flag": false})),
        ];
        let spec = |path: &str| json!({"environmentConfigs": [{"type": "Selector", "selector": {"mode": "Multiple", "sortByFieldPath": path, "matchLabels": [{"key": "k", "type": "Value", "value": "v"}]}}]});
        let err = run_spec(spec("data.key"), &configs).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("cannot sort values of different types \"string\" and \"float64\""),
            "{err}"
        );
        let err = run_spec(spec("data.flag"), &configs).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("unsupported type \"bool\" for sorting"),
            "{err}"
        );
        // A field no config has leaves the name order (w, x, y, z: y's key wins over x's).
        let env = run_spec(spec("data.absent"), &configs).unwrap();
        assert_eq!(env["key"], json!(1));
        assert_eq!(env["flag"], json!(true));
    }

    #[test]
    fn label_values_come_from_the_composite_and_optional_ones_may_be_missing() {
        let env = run_spec(
            json!({"environmentConfigs": [{"type": "Selector", "selector": {"matchLabels": [
                {"key": "stage", "valueFromFieldPath": "spec.stage"},
                {"key": "kind", "type": "Value", "value": "network"},
            ], "mode": "Multiple"}}]}),
            &pool(),
        )
        .unwrap();
        assert_eq!(env["region"], json!("eu-west-1"));
        // Every label optional and missing: nothing is selected, even in Single mode.
        let env = run_spec(
            json!({"environmentConfigs": [{"type": "Selector", "selector": {"matchLabels": [
                {"key": "stage", "valueFromFieldPath": "spec.missing", "fromFieldPathPolicy": "Optional"},
            ]}}]}),
            &pool(),
        )
        .unwrap();
        assert_eq!(env.get("region"), None);
        let err = run_spec(
            json!({"environmentConfigs": [{"type": "Selector", "selector": {"matchLabels": [
                {"key": "stage", "type": "FromCompositeFieldPath", "valueFromFieldPath": "spec.missing"},
            ]}}]}),
            &pool(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot build requirements: cannot get value from field path \"spec.missing\": spec.missing: no such field"
        );
        let err = run_spec(
            json!({"environmentConfigs": [{"type": "Selector", "selector": {"matchLabels": [
                {"key": "stage", "valueFromFieldPath": "spec.count"},
            ]}}]}),
            &pool(),
        )
        .unwrap_err();
        assert!(
            err.to_string().ends_with("spec.count: not a string"),
            "{err}"
        );
    }

    #[test]
    fn to_field_path_puts_the_data_under_a_key() {
        let env = run_spec(
            json!({"environmentConfigs": [
                {"ref": {"name": "a-network"}, "toFieldPath": "networks.primary"},
                {"ref": {"name": "c-dev"}},
            ]}),
            &pool(),
        )
        .unwrap();
        assert_eq!(env["networks"]["primary"]["vpc"], json!({"id": "vpc-a"}));
        assert_eq!(env["region"], json!("ap-south-1"));
    }

    #[test]
    fn a_config_without_data_fails_as_in_the_function() {
        let mut bare = config("bare", json!({}), json!({}));
        bare.as_object_mut().unwrap().shift_remove("data");
        let err = run_spec(
            json!({"environmentConfigs": [{"ref": {"name": "bare"}}]}),
            &[bare],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot merge environment data: cannot get data from environment config \"bare\": data: no such field"
        );
    }

    #[test]
    fn invalid_inputs_name_the_field() {
        let cases = [
            (
                json!({"environmentConfigs": [{"type": "Reference"}]}),
                "invalid function input: spec.environmentConfigs[0].ref.name: Required value",
            ),
            (
                json!({"environmentConfigs": [{"type": "Other"}]}),
                "invalid function input: spec.environmentConfigs[0].type: Unsupported value: \"Other\": supported values: \"Reference\", \"Selector\"",
            ),
            (
                json!({"environmentConfigs": [{"type": "Selector", "selector": {"mode": "Some"}}]}),
                "invalid function input: spec.environmentConfigs[0].selector.mode: Unsupported value: \"Some\": supported values: \"Single\", \"Multiple\"",
            ),
            (
                json!({"environmentConfigs": [{"type": "Selector", "selector": {"matchLabels": [{"key": "a", "type": "Value"}]}}]}),
                "invalid function input: spec.environmentConfigs[0].selector.matchLabels[0].value: Required value",
            ),
            (
                json!({"environmentConfigs": [{"type": "Selector", "selector": {"maxMatch": -1}}]}),
                "invalid function input: spec.environmentConfigs[0].selector.maxMatch: must be a non-negative integer",
            ),
            (
                json!({"policy": {"resolution": "Maybe"}}),
                "invalid function input: spec.policy.resolution: Unsupported value: \"Maybe\": supported values: \"Required\", \"Optional\"",
            ),
        ];
        for (spec, want) in cases {
            let err = run_spec(spec, &[]).unwrap_err();
            assert_eq!(err.to_string(), want);
            assert_eq!(err.phase(), crate::error::Phase::Validation);
        }
    }

    #[test]
    fn merge_maps_replaces_arrays_and_scalars_and_merges_objects() {
        let a = json!({"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"k": 1}})
            .as_object()
            .unwrap()
            .clone();
        let b = json!({"a": {"y": [3], "z": 2}, "b": {"n": 1}, "c": 5})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            Value::Object(merge_maps(a, b)),
            json!({"a": {"x": 1, "y": [3], "z": 2}, "b": {"n": 1}, "c": 5})
        );
    }
}
