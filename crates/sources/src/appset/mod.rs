//! ApplicationSet generation: generators (list, clusters, git directories and files, matrix,
//! merge) produce param sets, which are rendered into the ApplicationSet's template with
//! fasttemplate (`{{param}}`) or Go templates (`goTemplate: true`), as ArgoCD does.
//!
//! Git generators read the core [`SourceTree`](strata_core::source::SourceTree) that the
//! [`GeneratorContext`]'s [`TreeResolver`] finds for their repository; clusters come from
//! [`GeneratorContext::clusters`]. Nothing here does I/O beyond reading those trees.
//!
//! ```
//! use serde_json::json;
//! use std::sync::Arc;
//! use strata_core::source::MemoryTree;
//! use strata_sources::appset::{generate, GeneratorContext, StaticTrees};
//!
//! let appset = json!({
//!   "metadata": {"name": "apps", "namespace": "argocd"},
//!   "spec": {
//!     "generators": [{"git": {"repoURL": "https://example.com/repo.git", "revision": "HEAD",
//!                             "directories": [{"path": "apps/*"}]}}],
//!     "template": {
//!       "metadata": {"name": "{{path.basename}}"},
//!       "spec": {"source": {"path": "{{path}}"}, "destination": {"namespace": "{{path.basename}}"}}
//!     }
//!   }
//! });
//! let tree = MemoryTree::new().with_dir("apps/web").with_dir("apps/api");
//! let ctx = GeneratorContext::new().with_trees(Arc::new(StaticTrees::new().with_fallback(Arc::new(tree))));
//! let apps = generate(&appset, &ctx).unwrap();
//! assert_eq!(apps.len(), 2);
//! assert_eq!(apps[0]["metadata"]["name"], "api");
//! assert_eq!(apps[1]["spec"]["source"]["path"], "apps/web");
//! ```

mod context;
mod error;
mod fasttemplate;
pub mod generators;
pub mod glob;
pub(crate) mod params;
mod render;
mod selector;
mod template;
mod tree;

use std::collections::HashSet;

use serde_json::Value;

pub use context::{CLUSTER_SECRET_TYPE_LABEL, Cluster, GeneratorContext};
pub use error::{AppSetError, TreeRead};
pub use fasttemplate::replace as fasttemplate_replace;
pub use generators::{Transformed, transform};
pub use params::{ParamSet, flatten_to_strings, go_sprint_decoded, sanitize_name};
pub use render::{RenderMode, append_values, render_string, render_value};
pub use selector::{LabelSelector, Requirement};
pub use template::{
    RESOURCES_FINALIZER, apply_template_patch, merge_patch, merge_template, render_application,
};
pub use tree::{StaticTrees, TreeResolver};

/// The ApplicationSet `spec` (accepts either a whole ApplicationSet or a bare spec).
fn spec_of(appset: &Value) -> &Value {
    match appset.get("spec") {
        Some(s) if s.is_object() => s,
        _ => appset,
    }
}

/// Runs every top-level generator and returns, per generator entry and kind, its param sets and
/// merged template.
pub fn generate_transformed(
    appset: &Value,
    ctx: &GeneratorContext,
) -> Result<Vec<Transformed>, AppSetError> {
    let spec = spec_of(appset);
    let mode = RenderMode::from_spec(spec)?;
    let template = spec.get("template").cloned().unwrap_or(Value::Null);
    let generators = spec
        .get("generators")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for g in &generators {
        out.extend(transform(g, ctx, mode, &template, None)?);
    }
    Ok(out)
}

/// The param sets of all top-level generators, in order (what `strata generate --params` shows).
pub fn generate_params(
    appset: &Value,
    ctx: &GeneratorContext,
) -> Result<Vec<ParamSet>, AppSetError> {
    Ok(generate_transformed(appset, ctx)?
        .into_iter()
        .flat_map(|t| t.params)
        .collect())
}

/// Generates the Applications of an ApplicationSet: every generator's param sets rendered into
/// its template, `templatePatch` applied, namespace set to the ApplicationSet's. Two
/// Applications with the same name are an error.
///
/// ```
/// use serde_json::json;
/// use strata_sources::appset::{generate, Cluster, GeneratorContext};
///
/// let appset = json!({"spec": {
///     "goTemplate": true,
///     "generators": [{"clusters": {"selector": {"matchLabels": {"env": "prod"}}}}],
///     "template": {"metadata": {"name": "guestbook-{{ .nameNormalized }}"},
///                  "spec": {"destination": {"server": "{{ .server }}"}}}
/// }});
/// let mut prod = Cluster::new("prod_eu", "https://prod.example");
/// prod.labels.insert("env".into(), "prod".into());
/// let ctx = GeneratorContext::new().with_clusters(vec![prod]);
/// let apps = generate(&appset, &ctx).unwrap();
/// assert_eq!(apps[0]["metadata"]["name"], "guestbook-prod-eu");
/// assert_eq!(apps[0]["spec"]["destination"]["server"], "https://prod.example");
/// ```
pub fn generate(appset: &Value, ctx: &GeneratorContext) -> Result<Vec<Value>, AppSetError> {
    let spec = spec_of(appset);
    let mode = RenderMode::from_spec(spec)?;
    let sync_policy = spec.get("syncPolicy").filter(|v| !v.is_null());
    let patch = spec.get("templatePatch").and_then(Value::as_str);
    let namespace = appset
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| ctx.namespace.clone());
    let mut apps = Vec::new();
    let mut names = HashSet::new();
    for t in generate_transformed(appset, ctx)? {
        for params in &t.params {
            let mut app = render_application(&t.template, params, mode, sync_policy)?;
            if let Some(p) = patch {
                apply_template_patch(&mut app, p, params, mode)?;
            }
            if let (Some(ns), Some(meta)) = (
                &namespace,
                app.get_mut("metadata").and_then(Value::as_object_mut),
            ) {
                meta.insert("namespace".into(), Value::String(ns.clone()));
            }
            let name = app["metadata"]
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if !names.insert(name.clone()) {
                return Err(AppSetError::invalid(format!(
                    "ApplicationSet contains applications with duplicate name: {name}"
                )));
            }
            apps.push(app);
        }
    }
    Ok(apps)
}
