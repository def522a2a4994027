//! The one entry point from a stack to what planning, applying and drift detection need: the
//! desired set, the Applications found, their `ignoreDifferences` compiled as drift rules, and
//! the Application each resource came from.
//!
//! [`load_stack`] reads a stack directory (or its Git repository at a revision, with the `git`
//! feature); [`load_tree`] does the same over any [`SourceTree`]. [`applications_of_file`]
//! generates the Applications of the ApplicationSets in one file, reading the repository found
//! by [`repository_root_of`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_core::source::{FsTree, MemoTree, SourceError, SourceTree};
use strata_core::{Resource, ResourceKey};
use strata_drift::{DriftError, DriftRules, IgnoreDifference};

use serde_json::Value;
use strata_core::loader::LoadError;

use crate::application::{
    ChildSet, ExpandError, ExpandOptions, Repository, RepositoryTrees, expand,
};
use crate::appset::{AppSetError, GeneratorContext, generate};
use crate::repo::RepositoryResolver;

/// What a stack expands to.
#[derive(Debug, Clone)]
pub struct StackSource {
    /// Every desired resource, each with its source location.
    pub resources: Vec<Resource>,
    /// Every Application expanded, parents before children.
    pub applications: Vec<ChildSet>,
    /// The Applications' `ignoreDifferences`, each scoped to its Application's destination
    /// namespace when it names none.
    pub ignore_differences: Vec<IgnoreDifference>,
    /// [`StackSource::ignore_differences`] compiled: the rules plans and drift reports compare
    /// with.
    pub drift_rules: DriftRules,
    /// The Application each resource came from, when it came from one.
    pub application_of: BTreeMap<ResourceKey, String>,
}

/// Why a stack could not be loaded. Messages name the file, Application and field at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// The stack's repository could not be read at the revision asked for.
    #[error("reading {} at revision {revision}: {source}", .dir.display())]
    Revision {
        /// The stack directory.
        dir: PathBuf,
        /// The revision asked for.
        revision: String,
        /// Why it could not be read.
        #[source]
        source: SourceError,
    },
    /// A revision was asked for but this build reads directories only.
    #[error(
        "reading {} at revision {revision}: this build cannot read Git revisions (the `git` feature is off)",
        .dir.display()
    )]
    RevisionsUnsupported {
        /// The stack directory.
        dir: PathBuf,
        /// The revision asked for.
        revision: String,
    },
    /// Expanding the Applications, ApplicationSets, overlays and claims failed.
    #[error(transparent)]
    Expand(#[from] ExpandError),
    /// An `ignoreDifferences` entry is not an ignore rule.
    #[error("{location}: Application {application}: spec.ignoreDifferences[{index}]: {source}")]
    IgnoreDifference {
        /// Where the Application is.
        location: String,
        /// The Application's name.
        application: String,
        /// The entry's index in `spec.ignoreDifferences`.
        index: usize,
        /// Why it does not read as a rule.
        #[source]
        source: serde_json::Error,
    },
    /// An Application's `ignoreDifferences` do not compile (a bad jq expression or pointer).
    #[error("{location}: Application {application}: spec.ignoreDifferences: {source}")]
    IgnoreRules {
        /// Where the Application is.
        location: String,
        /// The Application's name.
        application: String,
        /// The compilation error.
        #[source]
        source: DriftError,
    },
    /// A file of ApplicationSets could not be read or parsed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A file holds no ApplicationSet.
    #[error("{}: no ApplicationSet in this file", .0.display())]
    NoApplicationSet(PathBuf),
    /// An ApplicationSet could not be generated.
    #[error("{location}: ApplicationSet {name}: {source}")]
    AppSet {
        /// Where the ApplicationSet is (file and document).
        location: String,
        /// Its name.
        name: String,
        /// The generator error.
        #[source]
        source: Box<AppSetError>,
    },
    /// The stack directory is not inside the repository root given.
    #[error("{}: not inside the repository root {}", .dir.display(), .root.display())]
    OutsideRoot {
        /// The stack directory.
        dir: PathBuf,
        /// The root given.
        root: PathBuf,
    },
    /// The ignore rules of all Applications together do not compile.
    #[error("the stack's ignoreDifferences: {0}")]
    Rules(#[source] DriftError),
}

/// Opens the stack's tree: the directory itself, or (with the `git` feature) its repository at
/// `revision`. A directory is read through a [`MemoTree`]: each listing and file is read from
/// disk once, so the tree is a snapshot of what it first saw and is meant for one load.
pub fn open_tree(dir: &Path, revision: Option<&str>) -> Result<Arc<dyn SourceTree>, StackError> {
    match revision {
        // Loading a stack lists and reads its files several times (see `MemoTree`).
        None => Ok(Arc::new(MemoTree::new(FsTree::new(dir)))),
        Some(revision) => open_revision(dir, revision),
    }
}

#[cfg(feature = "git")]
fn open_revision(dir: &Path, revision: &str) -> Result<Arc<dyn SourceTree>, StackError> {
    strata_core::source::GitTree::open(dir, revision)
        .map(|tree| Arc::new(tree) as Arc<dyn SourceTree>)
        .map_err(|source| StackError::Revision {
            dir: dir.to_path_buf(),
            revision: revision.to_owned(),
            source,
        })
}

#[cfg(not(feature = "git"))]
fn open_revision(dir: &Path, revision: &str) -> Result<Arc<dyn SourceTree>, StackError> {
    Err(StackError::RevisionsUnsupported {
        dir: dir.to_path_buf(),
        revision: revision.to_owned(),
    })
}

/// Loads the stack directory `dir` (at `revision` when given) with the default expansion
/// options, inside the repository [`repository_of`] finds.
pub fn load_stack(dir: &Path, revision: Option<&str>) -> Result<StackSource, StackError> {
    load_stack_in(dir, None, revision)
}

/// Loads the stack directory `dir` (at `revision` when given) inside the repository `root`
/// (default: [`repository_of`] `dir`): Application paths are read from the stack directory,
/// and Kustomize overlays may reach any directory of the repository (`../../base` from an
/// overlay), as kustomize's default load restrictor allows.
pub fn load_stack_in(
    dir: &Path,
    root: Option<&Path>,
    revision: Option<&str>,
) -> Result<StackSource, StackError> {
    load_stack_with(dir, root, revision, None)
}

/// [`load_stack_in`], each Application's and git generator's `repoURL` resolved by
/// `repositories` (see [`crate::repo::Repositories`]); `None` reads every one from the stack.
pub fn load_stack_with(
    dir: &Path,
    root: Option<&Path>,
    revision: Option<&str>,
    repositories: Option<Arc<dyn RepositoryResolver>>,
) -> Result<StackSource, StackError> {
    load_stack_cached(dir, root, revision, repositories, None)
}

/// [`load_stack_with`], parsed files kept in `parsed` (see
/// [`strata_core::loader::ParsedFiles`]); the result is the same with or without it.
pub fn load_stack_cached(
    dir: &Path,
    root: Option<&Path>,
    revision: Option<&str>,
    repositories: Option<Arc<dyn RepositoryResolver>>,
    parsed: Option<Arc<dyn strata_core::loader::ParsedFiles>>,
) -> Result<StackSource, StackError> {
    let tree = open_tree(dir, revision)?;
    let root = root.map(Path::to_path_buf).or_else(|| repository_of(dir));
    let options = ExpandOptions {
        repository: root
            .map(|root| open_repository(&root, dir, revision))
            .transpose()?,
        repositories,
        parsed,
        ..ExpandOptions::default()
    };
    load_tree(tree, "", &options)
}

/// The repository around a stack directory: the Git top level (the nearest ancestor holding
/// `.git`), or `None` outside Git.
pub fn repository_of(dir: &Path) -> Option<PathBuf> {
    let absolute = std::fs::canonicalize(dir).ok()?;
    absolute
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Opens the repository `root` (at `revision` when given) around the stack directory `dir`.
pub fn open_repository(
    root: &Path,
    dir: &Path,
    revision: Option<&str>,
) -> Result<Repository, StackError> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let outside = || StackError::OutsideRoot {
        dir: dir.to_path_buf(),
        root: root.to_path_buf(),
    };
    let prefix = canon(dir)
        .strip_prefix(canon(root))
        .map_err(|_| outside())?
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    Ok(Repository {
        tree: open_tree(root, revision)?,
        prefix,
    })
}

/// Loads directory `dir` of `tree`: expands it, reads the Applications' ignore rules and
/// compiles them.
pub fn load_tree(
    tree: Arc<dyn SourceTree>,
    dir: &str,
    options: &ExpandOptions,
) -> Result<StackSource, StackError> {
    let expansion = expand(tree, dir, options)?;
    let mut ignore_differences = Vec::new();
    for app in &expansion.applications {
        let rules = ignore_rules_of(app)?;
        // Compiled per Application too, so a bad rule is reported with its Application.
        DriftRules::from_ignore_differences(rules.clone()).map_err(|source| {
            StackError::IgnoreRules {
                location: location_of(app),
                application: app.name.clone(),
                source,
            }
        })?;
        ignore_differences.extend(rules);
    }
    let drift_rules = DriftRules::from_ignore_differences(ignore_differences.clone())
        .map_err(StackError::Rules)?;
    let application_of = expansion
        .applications
        .iter()
        .flat_map(|app| app.resources.iter().map(|k| (k.clone(), app.name.clone())))
        .collect();
    Ok(StackSource {
        resources: expansion.resources,
        applications: expansion.applications,
        ignore_differences,
        drift_rules,
        application_of,
    })
}

/// The ignore rules of one Application, scoped to its destination namespace when they name
/// none.
pub fn ignore_rules_of(app: &ChildSet) -> Result<Vec<IgnoreDifference>, StackError> {
    app.sync
        .ignore_differences
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let mut rule: IgnoreDifference =
                serde_json::from_value(entry.clone()).map_err(|source| {
                    StackError::IgnoreDifference {
                        location: location_of(app),
                        application: app.name.clone(),
                        index,
                        source,
                    }
                })?;
            if rule.namespace.is_empty()
                && let Some(namespace) = &app.namespace
            {
                rule.namespace.clone_from(namespace);
            }
            Ok(rule)
        })
        .collect()
}

/// The Applications every ApplicationSet in `file` generates, in order; git generators read
/// `tree` whatever repository they name (see [`applications_of_file_with`] to resolve them), and ApplicationSets without a namespace are in
/// `namespace`.
pub fn applications_of_file(
    file: &Path,
    tree: Arc<dyn SourceTree>,
    namespace: &str,
) -> Result<Vec<Value>, StackError> {
    applications_of_file_with(file, tree, namespace, None)
}

/// [`applications_of_file`], the git generators' `repoURL`s resolved by `repositories` (the
/// stack's own repository being `tree`); `None` reads `tree` for every URL.
pub fn applications_of_file_with(
    file: &Path,
    tree: Arc<dyn SourceTree>,
    namespace: &str,
    repositories: Option<Arc<dyn RepositoryResolver>>,
) -> Result<Vec<Value>, StackError> {
    let appsets: Vec<Resource> = strata_core::loader::load_file(file)?
        .into_iter()
        .filter(|r| r.key.kind == "ApplicationSet")
        .collect();
    if appsets.is_empty() {
        return Err(StackError::NoApplicationSet(file.to_path_buf()));
    }
    let trees: Arc<dyn crate::appset::TreeResolver> = match repositories {
        Some(resolver) => Arc::new(RepositoryTrees {
            stack: tree,
            resolver,
        }),
        None => Arc::new(crate::appset::StaticTrees::new().with_fallback(tree)),
    };
    let mut context = GeneratorContext::new().with_trees(trees);
    context.namespace = Some(namespace.to_owned());
    let mut applications = Vec::new();
    for appset in &appsets {
        let generated =
            generate(&appset.manifest, &context).map_err(|source| StackError::AppSet {
                location: appset
                    .source
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                name: appset.key.name.to_string(),
                source: Box::new(source),
            })?;
        applications.extend(generated);
    }
    Ok(applications)
}

/// The repository an ApplicationSet file's git generators read when none is named: the
/// nearest ancestor of the file holding `argocd/` (a platform repository's root), else the Git
/// work tree, else the file's directory.
pub fn repository_root_of(file: &Path) -> PathBuf {
    let absolute = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let start = absolute.parent().unwrap_or(Path::new("."));
    start
        .ancestors()
        .find(|dir| dir.join("argocd").is_dir())
        .or_else(|| start.ancestors().find(|dir| dir.join(".git").exists()))
        .unwrap_or(start)
        .to_path_buf()
}

fn location_of(app: &ChildSet) -> String {
    app.source
        .as_ref()
        .map_or_else(|| String::from("(generated)"), ToString::to_string)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use strata_core::source::MemoryTree;

    const APPLICATION: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\nspec:\n  source:\n    path: web\n  destination:\n    namespace: web\n  ignoreDifferences:\n    - kind: ConfigMap\n      jsonPointers: [/data/replicas]\n";
    const CONFIG_MAP: &str =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  replicas: \"2\"\n";

    #[test]
    fn reads_resources_applications_and_scoped_ignore_rules() {
        let tree = MemoryTree::new()
            .with_file("app.yaml", APPLICATION)
            .with_file("web/settings.yaml", CONFIG_MAP);
        let stack = load_tree(Arc::new(tree), "", &ExpandOptions::default()).unwrap();
        assert_eq!(stack.resources.len(), 1);
        assert_eq!(stack.applications.len(), 1);
        assert_eq!(stack.ignore_differences.len(), 1);
        assert_eq!(stack.ignore_differences[0].namespace, "web");
        let key = &stack.resources[0].key;
        assert_eq!(
            stack.application_of.get(key).map(String::as_str),
            Some("web")
        );
    }

    #[test]
    fn a_malformed_rule_names_the_application_and_entry() {
        let bad = APPLICATION.replace("jsonPointers: [/data/replicas]", "jsonPointers: 3");
        let tree = MemoryTree::new()
            .with_file("app.yaml", bad)
            .with_file("web/settings.yaml", CONFIG_MAP);
        let err = load_tree(Arc::new(tree), "", &ExpandOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("Application web"), "{message}");
        assert!(message.contains("spec.ignoreDifferences[0]"), "{message}");
    }
}
