//! Applications kept in Git: the Application manifests of a root directory (app of apps) and
//! the Applications its ApplicationSets generate, read from a repository at a revision.

use std::sync::Arc;

use serde_json::Value;
use strata_core::source::SourceTree;
use strata_sources::application::SourceTreeReader;
use strata_sources::appset::{GeneratorContext, generate};
use strata_sources::repo::{RepoUrl, RepositoryCache, redact};

/// Where Git-defined Applications are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRoot {
    /// The repository (`file://`, a local path, `git://`, `http(s)://`).
    pub repo_url: String,
    /// Branch, tag, commit or `HEAD`.
    pub revision: String,
    /// The directory holding the Application and ApplicationSet manifests (recursively).
    pub path: String,
}

/// One Application found in Git.
#[derive(Debug, Clone, PartialEq)]
pub struct GitApplication {
    /// Its manifest (generated ones included).
    pub manifest: Value,
    /// Where it is written (`file:line`, or the ApplicationSet that generated it).
    pub location: String,
}

/// Fetches (when asked) and reads the Applications of `root`; ApplicationSets without a
/// namespace are in `namespace`. Errors name the file and document.
pub fn load(
    repos: &RepositoryCache,
    root: &GitRoot,
    namespace: &str,
    fetch: bool,
) -> Result<(String, Vec<GitApplication>), String> {
    let shown = redact(&root.repo_url);
    let url = RepoUrl::parse(&root.repo_url).map_err(|e| format!("{shown}: {e}"))?;
    if fetch {
        repos
            .fetch_now(&url)
            .map_err(|e| format!("fetching {shown}: {e}"))?;
    }
    let commit = repos
        .resolve(&url, &root.revision)
        .map_err(|e| format!("resolving {} in {shown}: {e}", root.revision))?;
    let tree: Arc<dyn SourceTree> = repos
        .tree(&url, &commit)
        .map_err(|e| format!("reading {shown}: {e}"))?;
    let path = root.path.trim_start_matches("./").trim_end_matches('/');
    let path = if path == "." { "" } else { path };
    let mut found = Vec::new();
    let files = tree
        .files_under(path)
        .map_err(|e| format!("{shown}: {path}: {e}"))?;
    let mut context =
        GeneratorContext::new().with_trees(Arc::new(SourceTreeReader(Arc::clone(&tree))));
    context.namespace = Some(namespace.to_owned());
    for file in files {
        if !(file.ends_with(".yaml") || file.ends_with(".yml") || file.ends_with(".json")) {
            continue;
        }
        let text = tree
            .read_to_string(&file)
            .map_err(|e| format!("{file}: {e}"))?;
        let display = tree.location(&file, 0, 1).file;
        let documents =
            strata_core::loader::parse_documents(&display, &text).map_err(|e| e.to_string())?;
        for r in documents {
            if r.key.group != crate::app::ARGO_GROUP {
                continue;
            }
            let location = r
                .source
                .as_ref()
                .map(|s| tree.location(&file, s.document, s.line).to_string())
                .unwrap_or_else(|| file.clone());
            match r.key.kind.as_str() {
                "Application" => found.push(GitApplication {
                    manifest: r.manifest,
                    location,
                }),
                "ApplicationSet" => {
                    let generated = generate(&r.manifest, &context)
                        .map_err(|e| format!("{location}: ApplicationSet {}: {e}", r.key.name))?;
                    found.extend(generated.into_iter().map(|manifest| GitApplication {
                        manifest,
                        location: format!("{location} (ApplicationSet {})", r.key.name),
                    }));
                }
                _ => {}
            }
        }
    }
    Ok((commit, found))
}
