//! kubeconform, the reference validator Strata's manifest validation is measured and checked
//! against: from `$KUBECONFORM` (a path to the program), or built once from the Go module proxy
//! at the pinned [`KUBECONFORM_VERSION`] into the Cargo target directory, under a file lock.
//!
//! [`command`] runs it the way the comparison does (`-strict -n 1 -output json -verbose`, local
//! schemas from [`crate::schemas`]); [`parse_output`] reads its verdicts.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::binaries::{GoProgram, program_from_env, run_go};
use crate::error::TestKubeError;

/// The pinned kubeconform release (`github.com/yannh/kubeconform`).
pub const KUBECONFORM_VERSION: &str = "v0.8.0";
/// The environment variable naming a kubeconform program to use instead of building one.
pub const KUBECONFORM_VARIABLE: &str = "KUBECONFORM";
/// The Go module kubeconform is built from.
pub const KUBECONFORM_MODULE: &str = "github.com/yannh/kubeconform";

/// How to provide kubeconform, said in one line.
pub const KUBECONFORM_HINT: &str = "the comparison with kubeconform needs kubeconform: install Go 1.26 or newer (it is then built from the Go module proxy into target/ once, under a minute on 2 cores) or set KUBECONFORM to the path of a kubeconform binary";

/// The program: `$KUBECONFORM` when set, else built (once) into `target_dir`.
pub fn ensure(target_dir: &Path) -> Result<PathBuf, TestKubeError> {
    let missing = |path| TestKubeError::MissingKubeconform {
        path,
        hint: KUBECONFORM_HINT,
    };
    if let Some(given) = program_from_env(KUBECONFORM_VARIABLE, missing) {
        return given;
    }
    let no_go = || TestKubeError::Prerequisites {
        hint: KUBECONFORM_HINT,
    };
    GoProgram {
        root: build_dir(target_dir),
        program: "kubeconform",
        title: format!("kubeconform {KUBECONFORM_VERSION}"),
        module_name: "kubeconform",
        requirements: format!(
            "require {KUBECONFORM_MODULE} {KUBECONFORM_VERSION}\n\ntool {KUBECONFORM_MODULE}/cmd/kubeconform\n"
        ),
        no_go: &no_go,
        build_failed: &|error| error,
    }
    .build_once(|module_dir, log, output| {
        let package = format!("{KUBECONFORM_MODULE}/cmd/kubeconform");
        run_go(
            module_dir,
            &["build", "-ldflags", "-s -w", "-o", output, &package],
            log,
        )?;
        Ok(String::new())
    })
}

/// The directory the pinned build lives in (`<target>/kubeconform-<version>`).
pub fn build_dir(target_dir: &Path) -> PathBuf {
    target_dir.join(format!("kubeconform-{KUBECONFORM_VERSION}"))
}

/// Which resources kubeconform lists in its JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Every resource, valid ones too (`-verbose`): what a comparison needs.
    Every,
    /// Only invalid and erroneous ones: the plain run that is timed.
    Failures,
}

/// kubeconform set up as the comparison runs it: `-strict -n 1 -output json` (plus `-verbose`
/// for [`Listing::Every`]), schemas from `schema_location` only (a template such as
/// [`crate::schemas::SchemaSet::location`]), then `paths` (files or directories).
pub fn command(
    program: &Path,
    schema_location: &str,
    paths: &[PathBuf],
    listing: Listing,
) -> Command {
    let mut command = Command::new(program);
    command.args(["-strict", "-n", "1", "-output", "json"]);
    if listing == Listing::Every {
        command.arg("-verbose");
    }
    command
        .args(["-schema-location", schema_location])
        .args(paths);
    command
}

/// What kubeconform said about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The resource matches its schema.
    Valid,
    /// The resource does not match its schema.
    Invalid,
    /// The resource could not be validated (unreadable YAML, no schema, ...).
    Error,
    /// The resource was skipped.
    Skipped,
}

/// One field-level complaint of kubeconform's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldError {
    /// The JSON pointer of the field (`/spec/replicas`).
    pub path: String,
    /// The complaint.
    pub msg: String,
}

/// One resource of kubeconform's JSON output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The file, as kubeconform names it.
    pub filename: String,
    /// The resource's kind.
    pub kind: String,
    /// The resource's `metadata.name`.
    pub name: String,
    /// The resource's `apiVersion`.
    pub api_version: String,
    /// The verdict.
    pub status: Status,
    /// The whole message for invalid and erroneous resources.
    pub message: String,
    /// The field-level complaints of an invalid resource.
    pub errors: Vec<FieldError>,
}

#[derive(Deserialize)]
struct RawOutput {
    resources: Vec<RawVerdict>,
}

#[derive(Deserialize)]
struct RawVerdict {
    filename: String,
    kind: String,
    name: String,
    version: String,
    status: String,
    #[serde(default)]
    msg: String,
    #[serde(default, rename = "validationErrors")]
    validation_errors: Vec<FieldError>,
}

/// Reads the standard output of a [`command`] run (`-output json`).
pub fn parse_output(stdout: &str) -> Result<Vec<Verdict>, TestKubeError> {
    let raw: RawOutput =
        serde_json::from_str(stdout).map_err(|source| TestKubeError::ToolJson {
            program: "kubeconform",
            output: stdout.chars().take(300).collect(),
            source,
        })?;
    raw.resources
        .into_iter()
        .map(|r| {
            let status = match r.status.as_str() {
                "statusValid" => Status::Valid,
                "statusInvalid" => Status::Invalid,
                "statusError" => Status::Error,
                "statusSkipped" => Status::Skipped,
                other => {
                    return Err(TestKubeError::ToolOutput {
                        program: "kubeconform",
                        reason: format!("reported an unknown status {other:?}"),
                    });
                }
            };
            Ok(Verdict {
                filename: r.filename,
                kind: r.kind,
                name: r.name,
                api_version: r.version,
                status,
                message: r.msg,
                errors: r.validation_errors,
            })
        })
        .collect()
}

/// Runs a [`command`] and reads its verdicts; kubeconform exits 0 when everything is valid and 1
/// otherwise, anything else is an error.
pub fn run(mut command: Command) -> Result<Vec<Verdict>, TestKubeError> {
    let out = command.output().map_err(|source| TestKubeError::Spawn {
        program: "kubeconform".to_owned(),
        source,
    })?;
    match out.status.code() {
        Some(0 | 1) => parse_output(&String::from_utf8_lossy(&out.stdout)),
        _ => Err(TestKubeError::ToolOutput {
            program: "kubeconform",
            reason: format!(
                "exited with {}: {}",
                out.status,
                crate::binaries::last_lines(&String::from_utf8_lossy(&out.stderr), 5)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_read_with_field_errors() {
        let stdout = r#"{"resources": [
          {"filename": "a.yaml", "kind": "Deployment", "name": "web", "version": "apps/v1",
           "status": "statusInvalid", "msg": "bad",
           "validationErrors": [{"path": "/spec/replicas", "msg": "got string, want integer"}]},
          {"filename": "a.yaml", "kind": "Service", "name": "web", "version": "v1",
           "status": "statusValid", "msg": ""}
        ]}"#;
        let verdicts = parse_output(stdout).expect("parsed");
        assert_eq!(verdicts.len(), 2);
        assert_eq!(verdicts[0].status, Status::Invalid);
        assert_eq!(verdicts[0].errors[0].path, "/spec/replicas");
        assert_eq!(verdicts[1].status, Status::Valid);
        assert!(verdicts[1].errors.is_empty());
    }

    #[test]
    fn an_unknown_status_is_an_error() {
        let stdout = r#"{"resources": [{"filename": "a", "kind": "K", "name": "n",
            "version": "v1", "status": "statusMaybe"}]}"#;
        assert!(parse_output(stdout).is_err());
    }

    #[test]
    fn output_that_is_not_json_keeps_the_parser_error() {
        let error = parse_output("panic: oops").expect_err("not JSON");
        let json = std::error::Error::source(&error)
            .and_then(|s| s.downcast_ref::<serde_json::Error>())
            .expect("the parser's error");
        assert_eq!(
            error.to_string(),
            format!("kubeconform printed no JSON it could be read as ({json}): panic: oops")
        );
    }

    #[test]
    fn a_missing_override_names_the_path_in_one_line() {
        let error = TestKubeError::MissingKubeconform {
            path: PathBuf::from("/nowhere/kubeconform"),
            hint: KUBECONFORM_HINT,
        };
        let text = error.to_string();
        assert!(text.contains("/nowhere/kubeconform"), "{text}");
        assert!(text.contains("KUBECONFORM"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
}
