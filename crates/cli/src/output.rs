//! Output forms (`-o human|json|yaml|markdown`): the one format enum, the per-command lists
//! of forms clap accepts, and the JSON and YAML writers every command prints data with.
//!
//! A command lists the forms it prints; any other form is a usage error naming the forms it
//! has, never a silent fallback to another. A combination only known at run time (e.g.
//! `plan --refresh-only -o markdown`) is refused with [`OutputError::Unsupported`].

use clap::ValueEnum;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use serde::Serialize;

/// An output form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum Format {
    /// Readable text.
    Human,
    /// JSON.
    Json,
    /// YAML (the same data as JSON).
    Yaml,
    /// Markdown for a pull-request comment.
    Markdown,
}

impl Format {
    /// The form's name, as `-o` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Human => "human",
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Markdown => "markdown",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every form.
pub const ALL: &[Format] = &[Format::Human, Format::Json, Format::Yaml, Format::Markdown];
/// Every form but Markdown, for output that is no report for a pull request.
pub const NO_MARKDOWN: &[Format] = &[Format::Human, Format::Json, Format::Yaml];
/// The machine forms and Markdown, for output whose readable form is YAML already (rendered
/// manifests).
pub const MANIFESTS: &[Format] = &[Format::Yaml, Format::Json, Format::Markdown];

/// The parser of an `-o` that accepts only `allowed`: any other form is a usage error listing
/// the ones accepted.
pub fn formats(allowed: &'static [Format]) -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(allowed.iter().filter_map(ValueEnum::to_possible_value))
        .try_map(|name| Format::from_str(&name, false))
}

/// Why output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// A form the command has in general but not in this combination.
    #[error(
        "-o {format} is not available for {what}; it prints {}",
        names(supported)
    )]
    Unsupported {
        /// The form asked for.
        format: Format,
        /// The command and flags, e.g. `strata plan --refresh-only`.
        what: &'static str,
        /// The forms it prints.
        supported: &'static [Format],
    },
    /// The data could not be written as JSON.
    #[error("writing JSON")]
    Json(#[from] serde_json::Error),
    /// The data could not be written as YAML.
    #[error("writing YAML")]
    Yaml(#[from] serde_saphyr::ser::Error),
}

fn names(formats: &[Format]) -> String {
    formats
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses `format` for `what` unless it is one of `supported`.
pub fn require(
    format: Format,
    what: &'static str,
    supported: &'static [Format],
) -> Result<(), OutputError> {
    if supported.contains(&format) {
        Ok(())
    } else {
        Err(OutputError::Unsupported {
            format,
            what,
            supported,
        })
    }
}

/// `value` as pretty JSON, with a final newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, OutputError> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// `value` as one YAML document (the same data JSON shows), starting with `---` so that
/// documents printed one after another stay apart.
pub fn yaml<T: Serialize + ?Sized>(value: &T) -> Result<String, OutputError> {
    // Through JSON's value: the same field order and names as `-o json`.
    let value = serde_json::to_value(value)?;
    Ok(format!("---\n{}", serde_saphyr::to_string(&value)?))
}

/// `value` in the machine form `format` (JSON or YAML); `None` for the readable forms, which
/// each command writes itself.
pub fn machine<T: Serialize + ?Sized>(
    format: Format,
    value: &T,
) -> Result<Option<String>, OutputError> {
    match format {
        Format::Json => json(value).map(Some),
        Format::Yaml => yaml(value).map(Some),
        Format::Human | Format::Markdown => Ok(None),
    }
}

/// A Markdown table cell: pipes escaped, line breaks as spaces.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_outside_the_list_is_refused_naming_the_forms() {
        let err = require(Format::Markdown, "strata version", NO_MARKDOWN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "-o markdown is not available for strata version; it prints human, json, yaml"
        );
        assert!(require(Format::Json, "strata version", NO_MARKDOWN).is_ok());
    }

    #[test]
    fn yaml_keeps_the_json_field_order() {
        let value = serde_json::json!({"b": 1, "a": {"zeta": "x", "alpha": [1, 2]}});
        let text = yaml(&value).unwrap();
        assert!(
            text.find("b:").unwrap() < text.find("a:").unwrap(),
            "{text}"
        );
        assert!(
            text.find("zeta:").unwrap() < text.find("alpha:").unwrap(),
            "{text}"
        );
    }
}
