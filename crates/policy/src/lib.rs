//! Policy checks on plans: Rego policies (OPA's language, through the pure-Rust `regorus`
//! interpreter) evaluated on a plan's JSON, with conftest's conventions.
//!
//! - Every `*.rego` file below the given directories is loaded (files ending in `_test.rego`
//!   are tests, not policies). Policies are Rego v1, as OPA 1.x and conftest read them by
//!   default (`deny contains msg if { … }`).
//! - In every package, rules named `deny`, `violation` or starting with `deny_` or
//!   `violation_` are denials; `warn` and `warn_*` are warnings. Each holds a set of messages:
//!   strings, or objects with a `msg` field.
//! - The input is the plan as `strata plan -o json` prints it (`resource_changes[]` with
//!   `change.actions`, `change.after` …, sensitive values redacted).
//!
//! A denial makes the plan refuse to apply. A policy that does not parse, or a rule whose
//! value is not a set of messages, is an error naming the file or rule.
//!
//! ```
//! use strata_policy::PolicySet;
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(
//!     dir.path().join("buckets.rego"),
//!     "package main\n\ndeny contains msg if {\n  some c in input.resource_changes\n  c.kind == \"Bucket\"\n  msg := sprintf(\"%s: no buckets\", [c.address])\n}\n",
//! )
//! .unwrap();
//! let policies = PolicySet::load(&[dir.path().to_path_buf()]).unwrap();
//! let plan = serde_json::json!({"resource_changes": [{"address": "s3.aws.upbound.io/Bucket/a", "kind": "Bucket"}]});
//! let report = policies.evaluate(&plan).unwrap();
//! assert_eq!(report.denials[0].message, "s3.aws.upbound.io/Bucket/a: no buckets");
//! assert!(report.warnings.is_empty());
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why policies could not be loaded or evaluated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A directory or file could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A policy does not parse (or does not compile with the others).
    #[error("{}: invalid Rego policy: {source}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The interpreter's error.
        #[source]
        source: anyhow::Error,
    },
    /// The directories hold no policy.
    #[error("{}: no Rego policy (*.rego) found", .0.display())]
    Empty(PathBuf),
    /// Evaluating a package failed.
    #[error("evaluating policy package {package}: {source}")]
    Evaluation {
        /// The package (`data.main`).
        package: String,
        /// The interpreter's error (or the JSON decoder's, reading the interpreter's result).
        #[source]
        source: anyhow::Error,
    },
    /// A deny/warn rule's value is not a set of messages.
    #[error("policy rule {package}.{rule}: {message}")]
    Rule {
        /// The package.
        package: String,
        /// The rule.
        rule: String,
        /// What is wrong with its value.
        message: String,
    },
}

/// One message of a deny or warn rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// The package (`data.main`).
    pub package: String,
    /// The rule (`deny`, `warn_public_buckets` …).
    pub rule: String,
    /// The message.
    pub message: String,
}

/// What the policies say about one input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PolicyReport {
    /// Denials: the plan must not be applied.
    pub denials: Vec<Finding>,
    /// Warnings: shown, not blocking.
    pub warnings: Vec<Finding>,
}

impl PolicyReport {
    /// Whether any policy denies.
    pub fn denies(&self) -> bool {
        !self.denials.is_empty()
    }
}

/// Loaded policies, ready to evaluate inputs.
#[derive(Debug, Clone)]
pub struct PolicySet {
    engine: regorus::Engine,
    packages: Vec<String>,
    files: Vec<PathBuf>,
}

/// Whether a rule is a denial, a warning or neither (conftest's names).
fn rule_kind(rule: &str) -> Option<bool> {
    let is = |name: &str| rule == name || rule.starts_with(&format!("{name}_"));
    if is("deny") || is("violation") {
        Some(true)
    } else if is("warn") {
        Some(false)
    } else {
        None
    }
}

impl PolicySet {
    /// Loads every `*.rego` file (but `*_test.rego`) below `dirs` (a file may be given too).
    pub fn load(dirs: &[PathBuf]) -> Result<Self, PolicyError> {
        let mut files = Vec::new();
        for dir in dirs {
            let before = files.len();
            collect(dir, &mut files)?;
            if files.len() == before {
                return Err(PolicyError::Empty(dir.clone()));
            }
        }
        files.sort();
        let mut engine = regorus::Engine::new();
        for file in &files {
            let text = std::fs::read_to_string(file).map_err(|source| PolicyError::Io {
                path: file.clone(),
                source,
            })?;
            engine
                .add_policy(file.display().to_string(), text)
                .map_err(|e| PolicyError::Invalid {
                    path: file.clone(),
                    source: e,
                })?;
        }
        let mut packages = engine.get_packages().map_err(|e| PolicyError::Invalid {
            path: files.first().cloned().unwrap_or_default(),
            source: e,
        })?;
        packages.sort();
        packages.dedup();
        Ok(Self {
            engine,
            packages,
            files,
        })
    }

    /// The policy files loaded.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Evaluates every package's deny and warn rules on `input`.
    pub fn evaluate(&self, input: &Value) -> Result<PolicyReport, PolicyError> {
        let mut engine = self.engine.clone();
        let input_text = input.to_string();
        let input =
            regorus::Value::from_json_str(&input_text).map_err(|e| PolicyError::Evaluation {
                package: "(input)".into(),
                source: e,
            })?;
        engine.set_input(input);
        let mut report = PolicyReport::default();
        for package in &self.packages {
            let evaluation = |source: anyhow::Error| PolicyError::Evaluation {
                package: package.clone(),
                source,
            };
            let results = engine
                .eval_query(package.clone(), false)
                .map_err(evaluation)?;
            let Some(value) = results
                .result
                .first()
                .and_then(|r| r.expressions.first())
                .map(|e| &e.value)
            else {
                continue;
            };
            let json = value.to_json_str().map_err(evaluation)?;
            let rules: Value = serde_json::from_str(&json).map_err(|e| evaluation(e.into()))?;
            let Some(rules) = rules.as_object() else {
                continue;
            };
            for (rule, value) in rules {
                let Some(denial) = rule_kind(rule) else {
                    continue;
                };
                let findings = messages(package, rule, value)?;
                if denial {
                    report.denials.extend(findings);
                } else {
                    report.warnings.extend(findings);
                }
            }
        }
        Ok(report)
    }
}

/// The messages of a rule's value: a set (a JSON array) of strings or `{msg: …}` objects.
fn messages(package: &str, rule: &str, value: &Value) -> Result<Vec<Finding>, PolicyError> {
    let invalid = |message: String| PolicyError::Rule {
        package: package.to_owned(),
        rule: rule.to_owned(),
        message,
    };
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        // A boolean rule (`deny if …`) denies without a message of its own.
        Value::Bool(true) => {
            return Ok(vec![Finding {
                package: package.to_owned(),
                rule: rule.to_owned(),
                message: format!("{package}.{rule} is true"),
            }]);
        }
        Value::Bool(false) | Value::Null => Vec::new(),
        Value::String(_) | Value::Object(_) => vec![value],
        other => {
            return Err(invalid(format!(
                "expected a set of messages, found {other}"
            )));
        }
    };
    items
        .into_iter()
        .map(|item| {
            let message = match item {
                Value::String(s) => s.clone(),
                Value::Object(o) => match o.get("msg") {
                    Some(Value::String(s)) => s.clone(),
                    _ => return Err(invalid(format!("the message {item} has no string `msg`"))),
                },
                other => return Err(invalid(format!("the message {other} is not a string"))),
            };
            Ok(Finding {
                package: package.to_owned(),
                rule: rule.to_owned(),
                message,
            })
        })
        .collect()
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), PolicyError> {
    let io = |source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(io)? {
        let child = entry.map_err(io)?.path();
        let name = child
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if child.is_dir() {
            if !name.starts_with('.') {
                collect(&child, out)?;
            }
        } else if name.ends_with(".rego") && !name.ends_with("_test.rego") {
            out.push(child);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policies(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<PolicySet, PolicyError>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let set = PolicySet::load(&[dir.path().to_path_buf()]);
        (dir, set)
    }

    #[test]
    fn deny_violation_and_warn_rules_of_every_package_are_read() {
        let (_dir, set) = policies(&[
            (
                "a.rego",
                "package main\n\ndeny contains \"d\" if { input.x == 1 }\n\nwarn_small contains {\"msg\": \"w\"} if { input.x < 5 }\n\nhelper := 3\n",
            ),
            (
                "b.rego",
                "package other.rules\n\nviolation_x contains \"v\" if { input.x == 1 }\n",
            ),
            ("b_test.rego", "package this is not rego"),
        ]);
        let report = set.unwrap().evaluate(&json!({"x": 1})).unwrap();
        let shown = |f: &[Finding]| -> Vec<(String, String, String)> {
            f.iter()
                .map(|f| (f.package.clone(), f.rule.clone(), f.message.clone()))
                .collect()
        };
        assert_eq!(
            shown(&report.denials),
            [
                ("data.main".into(), "deny".into(), "d".into()),
                ("data.other.rules".into(), "violation_x".into(), "v".into())
            ]
        );
        assert_eq!(
            shown(&report.warnings),
            [("data.main".into(), "warn_small".into(), "w".into())]
        );
        let clean = PolicySet::load(&[_dir.path().to_path_buf()])
            .unwrap()
            .evaluate(&json!({"x": 9}))
            .unwrap();
        assert!(!clean.denies() && clean.warnings.is_empty());
    }

    #[test]
    fn an_invalid_policy_names_its_file() {
        let (_dir, set) = policies(&[("bad.rego", "package main\n\ndeny contains msg if {\n")]);
        let err = set.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bad.rego: invalid Rego policy"), "{text}");
        let source = std::error::Error::source(&err).expect("the interpreter's error");
        assert!(
            text.ends_with(&format!("invalid Rego policy: {source}")),
            "{text}"
        );
        assert!(matches!(err, PolicyError::Invalid { .. }), "{err:?}");
    }

    #[test]
    fn a_directory_without_policies_is_an_error() {
        let (_dir, set) = policies(&[("readme.md", "no policies")]);
        assert!(matches!(set, Err(PolicyError::Empty(_))));
    }

    #[test]
    fn a_message_that_is_not_a_string_names_the_rule() {
        let (_dir, set) = policies(&[("n.rego", "package main\n\ndeny contains 42 if { true }\n")]);
        let err = set.unwrap().evaluate(&json!({})).unwrap_err().to_string();
        assert_eq!(
            err,
            "policy rule data.main.deny: the message 42 is not a string"
        );
    }
}
