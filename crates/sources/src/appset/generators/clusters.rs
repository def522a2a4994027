//! The clusters generator: one param set per selected cluster, plus the local `in-cluster`.

use serde_json::{Map, Value};

use crate::appset::context::{Cluster, GeneratorContext};
use crate::appset::error::AppSetError;
use crate::appset::params::{ParamSet, sanitize_name};
use crate::appset::render::{RenderMode, append_values};
use crate::appset::selector::LabelSelector;

/// Name of the local cluster.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
/// Server URL of the local cluster.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

/// Params of a `clusters` generator spec. Clusters matching `selector` give `name`,
/// `nameNormalized`, `server`, `project` and their labels/annotations (`metadata.labels.<k>` flat,
/// a nested `metadata` map in goTemplate). Clusters with the same name collapse (the last
/// wins). The local `in-cluster` comes first, and only when the selector is completely empty and
/// no cluster uses its server. `flatList: true` yields one param set `{clusters: [...]}`.
pub fn generate(
    spec: &Value,
    ctx: &GeneratorContext,
    mode: RenderMode,
) -> Result<Vec<ParamSet>, AppSetError> {
    let selector = LabelSelector::from_value(spec.get("selector"))?;
    let mut selected: Vec<&Cluster> = Vec::new();
    for c in ctx.clusters.iter().filter(|c| selector.matches(&c.labels)) {
        match selected.iter_mut().find(|s| s.name == c.name) {
            Some(slot) => *slot = c,
            None => selected.push(c),
        }
    }
    let mut out = Vec::new();
    let has_local_secret = ctx.clusters.iter().any(|c| c.server == IN_CLUSTER_SERVER);
    if selector.is_empty() && !has_local_secret {
        let mut p = ParamSet::new();
        p.insert("name".into(), IN_CLUSTER_NAME.into());
        p.insert("nameNormalized".into(), IN_CLUSTER_NAME.into());
        p.insert("server".into(), IN_CLUSTER_SERVER.into());
        p.insert("project".into(), "".into());
        append_values(spec.get("values"), &mut p, mode)?;
        out.push(p);
    }
    for c in selected {
        let mut p = ParamSet::new();
        p.insert("name".into(), c.name.clone().into());
        p.insert("nameNormalized".into(), sanitize_name(&c.name).into());
        p.insert("server".into(), c.server.clone().into());
        p.insert(
            "project".into(),
            c.project.clone().unwrap_or_default().into(),
        );
        if mode.go_template {
            let to_map = |m: &std::collections::BTreeMap<String, String>| {
                Value::Object(
                    m.iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect::<Map<_, _>>(),
                )
            };
            let mut meta = Map::new();
            meta.insert("labels".into(), to_map(&c.labels));
            meta.insert("annotations".into(), to_map(&c.annotations));
            p.insert("metadata".into(), Value::Object(meta));
        } else {
            for (k, v) in &c.annotations {
                p.insert(format!("metadata.annotations.{k}"), v.clone().into());
            }
            for (k, v) in &c.labels {
                p.insert(format!("metadata.labels.{k}"), v.clone().into());
            }
        }
        append_values(spec.get("values"), &mut p, mode)?;
        out.push(p);
    }
    if spec
        .get("flatList")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        let mut p = ParamSet::new();
        p.insert(
            "clusters".into(),
            Value::Array(out.into_iter().map(Value::Object).collect()),
        );
        return Ok(vec![p]);
    }
    Ok(out)
}
