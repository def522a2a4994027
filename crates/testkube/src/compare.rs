//! Verdicts of validators on a [`Corpus`], matched manifest by manifest: the planted ones,
//! kubeconform's, and `strata validate -o json`'s.
//!
//! kubeconform names a resource by file, kind and name (its JSON output has no namespace);
//! `strata validate` by file and `group/Kind/namespace/name`. Corpus names are unique, so both
//! find exactly one manifest. Files are matched by their file name (the corpus is one flat
//! directory), whatever path a tool prints.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::corpus::Corpus;
use crate::error::TestKubeError;
use crate::kubeconform::{self, Status};

/// One validator's verdict on one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the validator accepted the manifest.
    pub valid: bool,
    /// What it said (empty for a plain "valid").
    pub detail: String,
}

/// A validator's verdicts on a corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdicts {
    /// Per manifest, in corpus order; `None` when the validator said nothing about it.
    pub outcomes: Vec<Option<Outcome>>,
    /// Reports that name no manifest of the corpus.
    pub unmatched: Vec<String>,
}

impl Verdicts {
    /// How many manifests the validator rejected.
    pub fn invalid(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.as_ref().is_some_and(|o| !o.valid))
            .count()
    }
}

fn base_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// The planted verdicts: valid unless the generator planted a defect.
pub fn planted(corpus: &Corpus) -> Verdicts {
    Verdicts {
        outcomes: corpus
            .manifests()
            .map(|(_, m)| {
                Some(Outcome {
                    valid: m.is_valid(),
                    detail: m
                        .defect
                        .as_ref()
                        .map(|d| format!("{:?} at {}", d.kind, d.field))
                        .unwrap_or_default(),
                })
            })
            .collect(),
        unmatched: Vec::new(),
    }
}

/// kubeconform's verdicts ([`kubeconform::run`]); skipped and erroneous resources count as
/// not valid, with their message.
pub fn from_kubeconform(corpus: &Corpus, verdicts: &[kubeconform::Verdict]) -> Verdicts {
    let index: HashMap<(String, &str, &str), usize> = corpus
        .manifests()
        .enumerate()
        .map(|(i, (file, m))| ((file.name.clone(), m.kind.as_str(), m.name.as_str()), i))
        .collect();
    let mut outcomes = vec![None; corpus.len()];
    let mut unmatched = Vec::new();
    for verdict in verdicts {
        let key = (
            base_name(&verdict.filename),
            verdict.kind.as_str(),
            verdict.name.as_str(),
        );
        let detail = if verdict.errors.is_empty() {
            verdict.message.clone()
        } else {
            verdict
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.msg))
                .collect::<Vec<_>>()
                .join("; ")
        };
        match index.get(&key) {
            Some(&i) => {
                outcomes[i] = Some(Outcome {
                    valid: verdict.status == Status::Valid,
                    detail,
                });
            }
            None => unmatched.push(format!(
                "{} {} {} ({:?}): {detail}",
                verdict.filename, verdict.kind, verdict.name, verdict.status
            )),
        }
    }
    Verdicts {
        outcomes,
        unmatched,
    }
}

/// What `strata validate -o json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StrataReport {
    /// Whether everything was valid.
    pub valid: bool,
    /// How many resources were read.
    pub resources: usize,
    /// Every problem found.
    pub problems: Vec<StrataProblem>,
}

/// One problem of a [`StrataReport`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StrataProblem {
    /// The file.
    #[serde(default)]
    pub file: Option<String>,
    /// The document's index in the file, from 0.
    #[serde(default)]
    pub document: Option<usize>,
    /// The 1-based line.
    #[serde(default)]
    pub line: Option<usize>,
    /// `group/Kind/namespace/name`.
    #[serde(default)]
    pub resource: Option<String>,
    /// The field (`spec.template.spec.containers[0].name`).
    #[serde(default)]
    pub field: Option<String>,
    /// The complaint.
    pub message: String,
}

/// Reads the standard output of `strata validate -o json`.
pub fn parse_strata(stdout: &str) -> Result<StrataReport, TestKubeError> {
    serde_json::from_str(stdout).map_err(|e| TestKubeError::ToolOutput {
        program: "strata validate",
        reason: format!(
            "printed no JSON of the form {{\"valid\", \"resources\", \"problems\": [{{\"file\", \"document\", \"resource\", \"field\", \"message\"}}]}} ({e}): {}",
            stdout.chars().take(300).collect::<String>()
        ),
    })
}

/// Strata's verdicts: every manifest is valid unless a problem names it (by file and resource,
/// else by file and document). A resource count other than the corpus's is reported as
/// unmatched.
pub fn from_strata(corpus: &Corpus, report: &StrataReport) -> Verdicts {
    let mut by_resource: HashMap<(String, String), usize> = HashMap::new();
    let mut by_document: HashMap<(String, usize), usize> = HashMap::new();
    for (i, (file, m)) in corpus.manifests().enumerate() {
        by_resource.insert((file.name.clone(), m.resource()), i);
        by_document.insert((file.name.clone(), m.document), i);
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![
        Some(Outcome {
            valid: true,
            detail: String::new(),
        });
        corpus.len()
    ];
    let mut unmatched = Vec::new();
    if report.resources != corpus.len() {
        unmatched.push(format!(
            "strata read {} resources; the corpus has {}",
            report.resources,
            corpus.len()
        ));
    }
    for problem in &report.problems {
        let file = problem.file.as_deref().map(base_name).unwrap_or_default();
        let found = problem
            .resource
            .as_ref()
            .and_then(|r| by_resource.get(&(file.clone(), r.clone())))
            .or_else(|| {
                problem
                    .document
                    .and_then(|d| by_document.get(&(file.clone(), d)))
            });
        let text = format!(
            "{}: {}",
            problem.field.as_deref().unwrap_or_default(),
            problem.message
        );
        match found.and_then(|&i| outcomes.get_mut(i)) {
            Some(Some(outcome)) => {
                outcome.valid = false;
                if !outcome.detail.is_empty() {
                    outcome.detail.push_str("; ");
                }
                outcome.detail.push_str(&text);
            }
            _ => unmatched.push(format!(
                "{} document {:?} {}: {text}",
                problem.file.as_deref().unwrap_or("(no file)"),
                problem.document,
                problem.resource.as_deref().unwrap_or("(no resource)")
            )),
        }
    }
    Verdicts {
        outcomes,
        unmatched,
    }
}

/// A manifest two validators judged differently (or one of them did not judge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The file name.
    pub file: String,
    /// The document's index in the file.
    pub document: usize,
    /// The document's first line.
    pub line: usize,
    /// The resource (`apps/Deployment/shop/web-12`).
    pub resource: String,
    /// The planted defect (`None`: planted valid).
    pub planted: Option<String>,
    /// The first validator's name and verdict.
    pub left: (&'static str, Option<Outcome>),
    /// The second validator's name and verdict.
    pub right: (&'static str, Option<Outcome>),
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |outcome: &Option<Outcome>| match outcome {
            None => "no verdict".to_owned(),
            Some(o) if o.valid => "valid".to_owned(),
            Some(o) => format!("INVALID ({})", o.detail),
        };
        write!(
            f,
            "{}:{} (document {}) {}: planted {}; {} says {}; {} says {}",
            self.file,
            self.line,
            self.document,
            self.resource,
            self.planted.as_deref().unwrap_or("valid"),
            self.left.0,
            show(&self.left.1),
            self.right.0,
            show(&self.right.1)
        )
    }
}

/// The manifests `left` and `right` judge differently (valid or not, or one without verdict).
pub fn disagreements(
    corpus: &Corpus,
    left: (&'static str, &Verdicts),
    right: (&'static str, &Verdicts),
) -> Vec<Disagreement> {
    corpus
        .manifests()
        .enumerate()
        .filter_map(|(i, (file, m))| {
            let a = left.1.outcomes.get(i).cloned().flatten();
            let b = right.1.outcomes.get(i).cloned().flatten();
            let same = match (&a, &b) {
                (Some(a), Some(b)) => a.valid == b.valid,
                _ => false,
            };
            (!same).then(|| Disagreement {
                file: file.name.clone(),
                document: m.document,
                line: m.line,
                resource: m.resource(),
                planted: m
                    .defect
                    .as_ref()
                    .map(|d| format!("{:?} at {}", d.kind, d.field)),
                left: (left.0, a),
                right: (right.0, b),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::CorpusOptions;

    fn corpus() -> Corpus {
        Corpus::generate(&CorpusOptions {
            manifests: 60,
            invalid_percent: 30,
            ..CorpusOptions::default()
        })
    }

    #[test]
    fn strata_problems_are_matched_by_resource_or_document() {
        let corpus = corpus();
        let (file, first) = corpus.manifests().next().expect("a manifest");
        let (file2, second) = corpus.manifests().nth(1).expect("two manifests");
        let stdout = serde_json::json!({
            "valid": false, "resources": corpus.len(),
            "problems": [
                {"file": format!("/tmp/x/{}", file.name), "document": 99, "line": 3,
                 "resource": first.resource(), "field": "spec", "message": "bad"},
                {"file": file2.name, "document": second.document, "message": "unreadable"}
            ]
        })
        .to_string();
        let report = parse_strata(&stdout).expect("parsed");
        let verdicts = from_strata(&corpus, &report);
        assert!(verdicts.unmatched.is_empty(), "{:?}", verdicts.unmatched);
        assert_eq!(verdicts.invalid(), 2);
        assert_eq!(
            verdicts.outcomes[0].as_ref().map(|o| o.detail.as_str()),
            Some("spec: bad")
        );
    }

    #[test]
    fn disagreements_name_both_sides() {
        let corpus = corpus();
        let planted = planted(&corpus);
        let everything_valid = from_strata(
            &corpus,
            &StrataReport {
                valid: true,
                resources: corpus.len(),
                problems: Vec::new(),
            },
        );
        let found = disagreements(
            &corpus,
            ("planted", &planted),
            ("strata", &everything_valid),
        );
        assert_eq!(found.len(), corpus.invalid());
        let text = found[0].to_string();
        assert!(text.contains("strata says valid"), "{text}");
        assert!(text.contains("planted "), "{text}");
    }

    #[test]
    fn kubeconform_verdicts_are_matched_by_file_kind_and_name() {
        let corpus = corpus();
        let (file, m) = corpus.manifests().next().expect("a manifest");
        let verdicts = from_kubeconform(
            &corpus,
            &[
                kubeconform::Verdict {
                    filename: format!("corpus/{}", file.name),
                    kind: m.kind.clone(),
                    name: m.name.clone(),
                    api_version: m.api_version.clone(),
                    status: Status::Invalid,
                    message: "x".into(),
                    errors: vec![kubeconform::FieldError {
                        path: "/spec".into(),
                        msg: "missing property 'selector'".into(),
                    }],
                },
                kubeconform::Verdict {
                    filename: "other.yaml".into(),
                    kind: "Service".into(),
                    name: "nope".into(),
                    api_version: "v1".into(),
                    status: Status::Valid,
                    message: String::new(),
                    errors: Vec::new(),
                },
            ],
        );
        assert_eq!(verdicts.invalid(), 1);
        assert_eq!(verdicts.unmatched.len(), 1);
        assert!(verdicts.outcomes[1].is_none());
    }
}
