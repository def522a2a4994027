//! `strata validate PATH…`: every problem of stacks and manifest files, found offline before
//! anything is planned.
//!
//! A directory is read as a stack (its `strata.yaml`, Applications, kustomizations and claims
//! expanded, as `plan` reads it); a file (or `-`, standard input) as plain manifests. Every
//! object is checked against the schema of its kind (the built-in Kubernetes kinds, the
//! providers' kinds, the CRDs in the set, and with `--kube` those of the cluster), kinds
//! nothing knows are refused, references must resolve and names must be valid. Each problem
//! names file, document, line and field; `-o json` prints them for CI. Exit 0 when there is
//! none, 1 otherwise.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use strata_core::Resource;
use strata_core::graph::Graph;
use strata_core::loader::LoadError;
use strata_core::validate::{Problem, Validator};

use crate::args::ValidateArgs;
use crate::commands::ExitCode;
use crate::output::{self, Format as Output};
use crate::stack;

/// One problem, located.
#[derive(Debug)]
struct Finding {
    file: Option<PathBuf>,
    document: Option<usize>,
    line: Option<usize>,
    resource: Option<String>,
    field: Option<String>,
    message: String,
}

impl Finding {
    fn json(&self) -> Value {
        json!({
            "file": self.file.as_ref().map(|f| f.display().to_string()),
            "document": self.document,
            "line": self.line,
            "resource": self.resource,
            "field": self.field,
            "message": self.message,
        })
    }

    fn human(&self) -> String {
        let mut text = String::new();
        if let Some(file) = &self.file {
            text.push_str(&file.display().to_string());
            if let Some(line) = self.line {
                text.push_str(&format!(":{line}"));
            }
            if let Some(document) = self.document {
                text.push_str(&format!(" (document {document})"));
            }
            text.push_str(": ");
        }
        if let Some(resource) = &self.resource {
            text.push_str(resource);
            text.push_str(": ");
        }
        if let Some(field) = &self.field {
            text.push_str(field);
            text.push_str(": ");
        }
        text.push_str(&self.message);
        text
    }
}

/// What one path holds.
struct Checked {
    resources: usize,
    findings: Vec<Finding>,
}

/// Validates every path and reports every problem.
pub async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut paths = vec![args.stack.dir.clone()];
    paths.extend(args.more.iter().cloned());
    let mut resources = 0;
    let mut findings = Vec::new();
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for path in &paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            files.push((PathBuf::from("-"), text));
        } else if path.is_dir() {
            let mut stack_args = args.stack.clone();
            stack_args.dir.clone_from(path);
            let checked = check_stack(&stack_args).await?;
            resources += checked.resources;
            findings.extend(checked.findings);
        } else {
            match std::fs::read_to_string(path) {
                Ok(text) => files.push((path.clone(), text)),
                Err(e) => anyhow::bail!("{}: {}", path.display(), crate::paths::io_problem(&e)),
            }
        }
    }
    if !files.is_empty() {
        let checked = check_files(&args, &files).await?;
        resources += checked.resources;
        findings.extend(checked.findings);
    }
    report(&args, resources, &findings)?;
    Ok(if findings.is_empty() { 0 } else { 1 })
}

fn report(args: &ValidateArgs, resources: usize, findings: &[Finding]) -> anyhow::Result<()> {
    match args.output {
        Output::Json | Output::Yaml => print!(
            "{}",
            output::machine(
                args.output,
                &json!({
                    "valid": findings.is_empty(),
                    "resources": resources,
                    "problems": findings.iter().map(Finding::json).collect::<Vec<_>>(),
                })
            )?
            .unwrap_or_default()
        ),
        Output::Human | Output::Markdown => {
            output::require(args.output, "strata validate", output::NO_MARKDOWN)?;
            for finding in findings {
                println!("✗ {}", finding.human());
            }
            println!(
                "{resources} resource{} checked: {}.",
                if resources == 1 { "" } else { "s" },
                match findings.len() {
                    0 => "no problem".to_owned(),
                    1 => "1 problem".to_owned(),
                    n => format!("{n} problems"),
                }
            );
        }
    }
    Ok(())
}

/// A stack directory, expanded as `plan` reads it.
async fn check_stack(args: &crate::args::StackArgs) -> anyhow::Result<Checked> {
    let stack = stack::load(args).await?;
    let validator = Validator::for_registry(&stack.engine.registry);
    let mut texts = TextCache::default();
    let findings = check_resources(&validator, &stack.resources, &mut texts);
    Ok(Checked {
        resources: stack.resources.len(),
        findings,
    })
}

/// Plain manifest files, checked with the providers the flags (and the working directory's
/// `strata.yaml`, or `--config`) enable.
async fn check_files(args: &ValidateArgs, files: &[(PathBuf, String)]) -> anyhow::Result<Checked> {
    let mut findings = Vec::new();
    let mut resources = Vec::new();
    let mut texts = TextCache::default();
    for (file, text) in files {
        let values = match strata_core::loader::parse_values(file, text) {
            Ok(values) => values,
            Err(error) => {
                findings.push(load_finding(file, &error));
                continue;
            }
        };
        texts.insert(file.clone(), text.clone());
        for (location, value) in values {
            if value.is_null() {
                continue;
            }
            match Resource::from_manifest(value) {
                Ok(mut resource) => {
                    resource.source = Some(location);
                    resources.push(resource);
                }
                Err(error) => findings.push(Finding {
                    file: Some(file.clone()),
                    document: Some(location.document),
                    line: Some(location.line),
                    resource: None,
                    field: None,
                    message: error.to_string(),
                }),
            }
        }
    }
    let config_dir = Path::new(".");
    let loaded = stack::config_of(config_dir, args.stack.config.as_deref())?;
    let config = loaded
        .as_ref()
        .map(|l| l.config.clone())
        .unwrap_or_default();
    let config_file = loaded.as_ref().map(|l| l.file.display().to_string());
    let mut stack_args = args.stack.clone();
    stack_args.dir = config_dir.to_path_buf();
    let (registry, _, _) = stack::providers(
        &stack_args,
        &config,
        config_file.as_deref(),
        &resources,
        &[],
        stack::Observing::Few,
    )
    .await?;
    let validator = Validator::for_registry(&registry);
    findings.extend(check_resources(&validator, &resources, &mut texts));
    Ok(Checked {
        resources: resources.len(),
        findings,
    })
}

/// Schema, kind, metadata, name and reference problems of `resources`.
fn check_resources(
    validator: &Validator,
    resources: &[Resource],
    texts: &mut TextCache,
) -> Vec<Finding> {
    let mut findings: Vec<Finding> = validator
        .check(resources)
        .into_iter()
        .map(|problem| problem_finding(&problem, texts))
        .collect();
    for invalid in strata_core::names::check_names(resources) {
        findings.push(Finding {
            file: None,
            document: None,
            line: None,
            resource: None,
            field: None,
            message: invalid.to_string(),
        });
    }
    // References resolve against the set itself (and, when planning, the state).
    if findings.is_empty() {
        match Graph::build(resources) {
            Ok(graph) => {
                for error in strata_core::references::check_references(resources, &graph) {
                    findings.push(Finding {
                        file: None,
                        document: None,
                        line: None,
                        resource: None,
                        field: None,
                        message: error.to_string(),
                    });
                }
            }
            Err(error) => findings.push(Finding {
                file: None,
                document: None,
                line: None,
                resource: None,
                field: None,
                message: error.to_string(),
            }),
        }
    }
    findings
}

fn problem_finding(problem: &Problem, texts: &mut TextCache) -> Finding {
    let (file, document, line) = match &problem.location {
        Some(location) => {
            let line = texts
                .get(&location.file)
                .and_then(|text| field_line(text, location.document, &problem.path))
                .unwrap_or(location.line);
            (
                Some(location.file.clone()),
                Some(location.document),
                Some(line),
            )
        }
        None => (None, None, None),
    };
    Finding {
        file,
        document,
        line,
        resource: Some(problem.key.to_string()),
        field: Some(problem.field.clone()),
        message: problem.message.clone(),
    }
}

/// The line of `path` in document `document` of `text` (of its deepest existing part, for a
/// missing field), when it can be found.
fn field_line(
    text: &str,
    document: usize,
    path: &[strata_core::schema::PathSegment],
) -> Option<usize> {
    use strata_core::schema::PathSegment;
    use strata_core::yaml_position::{Segment, line_of};
    let segments: Vec<Segment<'_>> = path
        .iter()
        .map(|segment| match segment {
            PathSegment::Key(key) => Segment::Key(key),
            PathSegment::Index(index) => Segment::Index(*index),
        })
        .collect();
    line_of(text, document, &segments)
}

fn load_finding(file: &Path, error: &LoadError) -> Finding {
    let (document, line) = match error {
        LoadError::Syntax { location, .. } | LoadError::Field { location, .. } => {
            (Some(location.document), Some(location.line))
        }
        _ => (None, None),
    };
    Finding {
        file: Some(file.to_path_buf()),
        document,
        line,
        resource: None,
        field: None,
        message: error.to_string(),
    }
}

/// The texts of the files read, for looking up lines (read lazily for stack files).
#[derive(Default)]
struct TextCache {
    texts: std::collections::HashMap<PathBuf, Option<String>>,
}

impl TextCache {
    fn insert(&mut self, file: PathBuf, text: String) {
        self.texts.insert(file, Some(text));
    }

    fn get(&mut self, file: &Path) -> Option<&str> {
        self.texts
            .entry(file.to_path_buf())
            .or_insert_with(|| std::fs::read_to_string(file).ok())
            .as_deref()
    }
}
