//! Errors raised from an underlying error (a JSON or YAML parser's, a version check's) keep it
//! as their source, reachable from the template error through `std::error::Error::source`.

use std::error::Error;

use serde_json::json;
use strata_gotemplate::helm::SemverError;
use strata_gotemplate::{
    CallFailure, FuncError, FunctionSet, MissingKey, TemplateError, TemplateSet,
};

fn fails(functions: FunctionSet, src: &str) -> TemplateError {
    let mut set = TemplateSet::new(functions, MissingKey::Default);
    set.add("t", src).expect("parses");
    set.execute("t", &json!({})).expect_err("fails")
}

/// The first error of `err`'s source chain that is an `E`.
fn cause<E: Error + 'static>(err: &TemplateError) -> Option<&E> {
    std::iter::successors(err.source(), |e| (*e).source()).find_map(|e| e.downcast_ref::<E>())
}

/// The message is Go's `encoding/json` one, as Helm prints it; the decoder's error stays the
/// source.
#[test]
fn must_from_json_keeps_the_decoder_error() {
    let err = fails(FunctionSet::Helm, r#"{{ mustFromJson "{nope" }}"#);
    assert!(
        cause::<serde_json::Error>(&err).is_some(),
        "the decoder's error"
    );
    let go = "invalid character 'n' looking for beginning of object key string";
    assert!(
        err.to_string()
            .ends_with(&format!("error calling mustFromJson: {go}")),
        "{err}"
    );
    assert_eq!(err.stopped_message(), Some(go));
}

#[test]
fn semver_compare_keeps_the_version_error() {
    let err = fails(
        FunctionSet::Helm,
        r#"{{ semverCompare ">=1.0" "not-a-version" }}"#,
    );
    assert_eq!(
        cause::<SemverError>(&err),
        Some(&SemverError::InvalidVersion)
    );
    assert!(
        err.to_string()
            .ends_with("error calling semverCompare: Invalid Semantic Version"),
        "{err}"
    );
}

#[test]
fn from_yaml_keeps_the_parser_error() {
    let err = fails(FunctionSet::Crossplane, r#"{{ fromYaml "a: [b" }}"#);
    let yaml = cause::<strata_core::yaml::YamlError>(&err).expect("the parser's error");
    assert!(
        err.to_string()
            .ends_with(&format!("error calling fromYaml: {yaml}")),
        "{err}"
    );
    assert!(
        matches!(
            err.function_error(),
            Some(FuncError::Failed {
                failure: CallFailure::Yaml(_),
                ..
            })
        ),
        "{err:?}"
    );
    assert!(cause::<CallFailure>(&err).is_some(), "{err:?}");
}
