//! The desired set of a stack: its directory (or a Git revision of it) expanded through
//! Applications, ApplicationSets, Kustomize overlays and claims.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use strata_core::Resource;
use strata_core::source::{FsTree, GitTree, SourceTree};
use strata_drift::IgnoreDifference;
use strata_sources::application::{ChildSet, ExpandOptions, expand};

/// What a stack directory expands to.
pub struct Desired {
    /// Every desired resource.
    pub resources: Vec<Resource>,
    /// The Applications' ignoreDifferences, scoped to their destination namespaces.
    pub ignore_differences: Vec<IgnoreDifference>,
    /// The Application each resource came from, when it came from one.
    pub application_of: std::collections::BTreeMap<strata_core::ResourceKey, String>,
}

/// Opens the stack's tree: the directory, or its repository at `revision`.
pub fn tree(dir: &Path, revision: Option<&str>) -> anyhow::Result<Arc<dyn SourceTree>> {
    Ok(match revision {
        Some(rev) => Arc::new(
            GitTree::open(dir, rev)
                .with_context(|| format!("reading {} at revision {rev}", dir.display()))?,
        ),
        None => Arc::new(FsTree::new(dir)),
    })
}

/// Expands the stack directory (at `revision` when given).
pub fn load(dir: &Path, revision: Option<&str>) -> anyhow::Result<Desired> {
    let tree = tree(dir, revision)?;
    let expansion = expand(tree, "", &ExpandOptions::default())?;
    let mut ignore_differences = Vec::new();
    for app in &expansion.applications {
        for entry in &app.sync.ignore_differences {
            let mut rule: IgnoreDifference = serde_json::from_value(entry.clone())
                .with_context(|| format!("Application {}: ignoreDifferences", app.name))?;
            if rule.namespace.is_empty()
                && let Some(ns) = &app.namespace
            {
                rule.namespace = ns.clone();
            }
            ignore_differences.push(rule);
        }
    }
    log_applications(&expansion.applications);
    let application_of = expansion
        .applications
        .iter()
        .flat_map(|app| app.resources.iter().map(|k| (k.clone(), app.name.clone())))
        .collect();
    Ok(Desired {
        resources: expansion.resources,
        ignore_differences,
        application_of,
    })
}

fn log_applications(apps: &[ChildSet]) {
    for app in apps {
        tracing::info!(
            application = %app.name,
            path = %app.path,
            namespace = app.namespace.as_deref().unwrap_or(""),
            resources = app.resources.len(),
            "expanded Application"
        );
    }
}
