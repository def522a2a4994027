//! `strata render`: claims and composites rendered through their compositions, with an optional
//! trace of which patch and transforms wrote each field.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context;
use strata_composition::catalog::{Found, find_in_path};
use strata_composition::environment_configs::is_environment_config;
use strata_composition::explain::{FieldWrite, Target};
use strata_composition::render::SkippedStep;
use strata_composition::{RenderOptions, render_object};
use strata_core::Resource;
use strata_core::source::{FsTree, SourceTree, is_manifest_file};
use strata_sources::kustomize::{KUSTOMIZATION_FILES, is_kustomization_dir};

use crate::args::RenderArgs;
use crate::commands::ExitCode;
use crate::output::{self, Format};

/// Renders every claim and composite found in the directory or file.
pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    crate::paths::existing(&args.path)?;
    let Found { catalog, claims } = if args.path.is_dir() {
        Found::from_resources(manifests_of_dir(&args.path)?)?
    } else {
        find_in_path(&args.path)?
    };
    let where_ = |r: &Resource| {
        r.source
            .as_ref()
            .map_or_else(|| r.key.to_string(), |s| format!("{s}: {}", r.key))
    };
    if claims.is_empty() {
        anyhow::bail!(
            "{}: no claim or composite of the {} CompositeResourceDefinition(s) found",
            args.path.display(),
            catalog.xrds.len()
        );
    }
    output::require(args.output, "strata render", output::MANIFESTS)?;
    let mut request = catalog.render_request();
    // EnvironmentConfigs are cluster-scoped: one object per name. A name given twice (in the
    // stack and an extra file, or in two extra files) would leave which one a step selects to
    // chance, so it is refused naming both places.
    let mut config_names: BTreeMap<String, String> = request
        .environment_configs
        .iter()
        .map(|c| (config_name(c).to_owned(), "the stack".to_owned()))
        .collect();
    for path in &args.extra_resources {
        for (at, config) in extra_resources(path)? {
            let name = config_name(&config).to_owned();
            if let Some(first) = config_names.insert(name.clone(), at.clone()) {
                anyhow::bail!(
                    "{at}: EnvironmentConfig {name:?} is given twice (also in {first}); an EnvironmentConfig is one object per name, so give each name once"
                );
            }
            request.environment_configs.push(config);
        }
    }
    let options = RenderOptions::new()
        .with_explain(args.explain)
        .with_skip_unsupported_steps(args.skip_unsupported_steps);
    let mut json_out = Vec::new();
    let mut text = String::new();
    let mut said_without_xrd = false;
    for target in &claims {
        let rendered = render_object(
            &target.manifest,
            &catalog.xrds,
            &catalog.compositions,
            &request,
            options,
        )
        .with_context(|| where_(target))?;
        if rendered.without_xrd && !said_without_xrd {
            said_without_xrd = true;
            eprintln!(
                "note: no CompositeResourceDefinition found for {}: rendered as crossplane render does, without schema checks or defaults",
                target.key
            );
        }
        for skipped in &rendered.output.skipped_steps {
            eprintln!(
                "{}: composition {}: skipped pipeline step {:?}: function {:?} is not one Strata can run",
                target.key, rendered.composition, skipped.step, skipped.function
            );
        }
        match args.output {
            Format::Json => json_out.push(serde_json::json!({
                "source": target.key.to_string(),
                "composition": rendered.composition,
                "composite": rendered.composite,
                "composed": rendered.composed,
                "explain": rendered.output.explain.iter().map(FieldWrite::to_json).collect::<Vec<_>>(),
                "skippedSteps": rendered.output.skipped_steps.iter().map(SkippedStep::to_json).collect::<Vec<_>>(),
            })),
            Format::Markdown => {
                let _ = writeln!(
                    text,
                    "#### {} rendered by composition `{}`\n",
                    target.key, rendered.composition
                );
                for composed in &rendered.composed {
                    let _ = write!(text, "```yaml\n{}```\n\n", serde_saphyr::to_string(composed)?);
                }
                if args.explain {
                    let _ = write!(text, "```\n{}```\n\n", explain_text(&rendered.output.explain));
                }
            }
            Format::Yaml | Format::Human => {
                let _ = writeln!(
                    text,
                    "# {} rendered by composition {}",
                    target.key, rendered.composition
                );
                for composed in &rendered.composed {
                    let _ = write!(text, "---\n{}", serde_saphyr::to_string(composed)?);
                }
                if args.explain {
                    text.push_str(&explain_text(&rendered.output.explain));
                }
            }
        }
    }
    match args.output {
        Format::Json => print!("{}", output::json(&json_out)?),
        Format::Yaml | Format::Human | Format::Markdown => print!("{text}"),
    }
    Ok(0)
}

/// The EnvironmentConfigs of an `--extra-resources` file or directory; any other object is an
/// error naming it (Strata's function-environment-configs steps are what read extra
/// resources).
/// Each comes with where it was read (file and document).
fn extra_resources(path: &std::path::Path) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
    crate::paths::existing(path)?;
    let resources = strata_core::loader::load_path(path)
        .with_context(|| format!("--extra-resources {}", path.display()))?;
    resources
        .into_iter()
        .map(|r| {
            let at = r
                .source
                .as_ref()
                .map_or_else(|| path.display().to_string(), ToString::to_string);
            if is_environment_config(&r.manifest) {
                Ok((at, r.manifest))
            } else {
                anyhow::bail!(
                    "{at}: {}: --extra-resources takes EnvironmentConfigs (apiextensions.crossplane.io), which function-environment-configs steps select from; Strata's functions read no other extra resources",
                    r.key
                )
            }
        })
        .collect()
}

/// An EnvironmentConfig's `metadata.name` (empty when it has none).
fn config_name(config: &serde_json::Value) -> &str {
    config
        .pointer("/metadata/name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}

/// The manifests below `dir` as a stack reads its plain files: kustomization files and the
/// stack's configuration are not manifests, and the files of a kustomization's directory are
/// reached through the kustomization (which `render` does not build).
fn manifests_of_dir(dir: &std::path::Path) -> anyhow::Result<Vec<Resource>> {
    let tree = FsTree::new(dir);
    let mut out = Vec::new();
    for file in tree.files()? {
        let (parent, name) = file.rsplit_once('/').unwrap_or(("", &file));
        if !is_manifest_file(&file)
            || KUSTOMIZATION_FILES.contains(&name)
            || name == strata_core::config::STACK_CONFIG_FILE
            || is_kustomization_dir(&tree, parent)
        {
            continue;
        }
        let shown = tree.origin().display_path(&file);
        out.extend(strata_core::loader::parse_documents(
            &shown,
            &tree.read_to_string(&file)?,
        )?);
    }
    Ok(out)
}

/// One line per written field: where it went, which patch wrote it, from what, through which
/// transforms.
fn explain_text(writes: &[FieldWrite]) -> String {
    let mut out = String::from("# explain:\n");
    for w in writes {
        let target = match &w.target {
            Target::Composed(name) => format!("resource {name}"),
            Target::Composite => "composite".to_owned(),
            Target::Environment => "environment".to_owned(),
        };
        let _ = write!(
            out,
            "#   {target} {} <- patch[{}] {} from {}",
            w.path,
            w.patch_index,
            w.patch_type,
            if w.sources.is_empty() {
                "(nothing)".to_owned()
            } else {
                w.sources.join(", ")
            }
        );
        if let Some(fmt) = &w.combine_fmt {
            let _ = write!(out, " with format {fmt:?}");
        }
        if !w.transforms.is_empty() {
            let _ = write!(out, " via {}", w.transforms.join(" | "));
        }
        out.push('\n');
    }
    out
}
