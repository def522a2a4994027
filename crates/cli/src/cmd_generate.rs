//! `strata generate`: the Applications an ApplicationSet produces.

use strata_sources::stack::{applications_of_file_with, open_tree, repository_root_of};

use crate::args::{GenerateArgs, GenerateOutput};
use crate::commands::ExitCode;

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
        GenerateOutput::Json => println!("{}", serde_json::to_string_pretty(&apps)?),
        GenerateOutput::Yaml => {
            for app in &apps {
                print!("---\n{}", serde_saphyr::to_string(app)?);
            }
        }
    }
    Ok(0)
}
