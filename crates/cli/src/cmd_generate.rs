//! `strata generate`: the Applications an ApplicationSet produces.

use strata_sources::stack::{applications_of_file_with, open_tree, repository_root_of};

use crate::args::GenerateArgs;
use crate::commands::ExitCode;
use crate::output::{self, Format};

/// Prints the Applications of every ApplicationSet in `args.file`.
pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    crate::paths::existing(&args.file)?;
    let root = match &args.root {
        Some(root) => root.clone(),
        None => repository_root_of(&args.file),
    };
    let tree = open_tree(&root, args.revision.as_deref())?;
    let repositories = crate::repos::resolver(
        &args.repos,
        strata_sources::stack::repository_of(&root).as_deref(),
        &[],
        None,
        &root,
    )?;
    let apps = applications_of_file_with(&args.file, tree, "argocd", Some(repositories))?;
    match args.output {
        Format::Json => print!("{}", output::json(&apps)?),
        Format::Yaml => {
            for app in &apps {
                print!("{}", output::yaml(app)?);
            }
        }
        Format::Markdown => {
            println!("#### {} Applications generated\n", apps.len());
            for app in &apps {
                print!("```yaml\n{}```\n\n", serde_saphyr::to_string(app)?);
            }
        }
        Format::Human => output::require(args.output, "strata generate", output::MANIFESTS)?,
    }
    Ok(0)
}
