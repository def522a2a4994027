//! `strata generate`: the Applications an ApplicationSet produces.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::Value;
use strata_sources::application::SourceTreeReader;
use strata_sources::appset::{GeneratorContext, generate};

use crate::args::{GenerateArgs, GenerateOutput};
use crate::commands::ExitCode;

/// Prints the Applications of every ApplicationSet in `args.file`.
pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let appsets = strata_core::loader::parse_documents(&args.file, &text)?;
    let appsets: Vec<_> = appsets
        .into_iter()
        .filter(|r| r.key.kind == "ApplicationSet")
        .collect();
    if appsets.is_empty() {
        bail!("{}: no ApplicationSet in this file", args.file.display());
    }
    let root = match &args.root {
        Some(r) => r.clone(),
        None => default_root(&args.file),
    };
    let tree = strata_sources::stack::open_tree(&root, args.revision.as_deref())?;
    let mut ctx = GeneratorContext::new().with_trees(Arc::new(SourceTreeReader(tree)));
    ctx.namespace = Some("argocd".into());
    let mut apps: Vec<Value> = Vec::new();
    for set in &appsets {
        let location = set
            .source
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        apps.extend(
            generate(&set.manifest, &ctx)
                .with_context(|| format!("{location}: ApplicationSet {}", set.key.name))?,
        );
    }
    match args.output {
        GenerateOutput::Json => println!("{}", serde_json::to_string_pretty(&apps)?),
        GenerateOutput::Yaml => {
            for app in &apps {
                print!("---\n{}", serde_saphyr::to_string(app)?);
            }
        }
    }
    Ok(0)
}

/// The tree git generators read when `--root` is not given: the nearest ancestor of the file
/// holding `argocd/` (a platform repository's root), else the Git work tree, else the file's
/// directory.
fn default_root(file: &Path) -> std::path::PathBuf {
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let start = abs.parent().unwrap_or(Path::new("."));
    for dir in start.ancestors() {
        if dir.join("argocd").is_dir() {
            return dir.to_path_buf();
        }
    }
    for dir in start.ancestors() {
        if dir.join(".git").exists() {
            return dir.to_path_buf();
        }
    }
    start.to_path_buf()
}
