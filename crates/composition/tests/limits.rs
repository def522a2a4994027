//! Limits on what compositions ask of the engine. User regular expressions in transforms are
//! compiled within `strata_core::user_regex`'s limits: a pathological pattern is refused at load
//! time with an error naming the field and the limit; ordinary patterns keep working. Field
//! path writes stop at `fieldpath::MAX_INDEX`, so a patch cannot grow an array without bound.

use serde_json::json;
use strata_composition::fieldpath::{self, MAX_INDEX, PathError};
use strata_composition::transform::{Transform, parse_all, run_all};
use strata_composition::{Error, Phase};
use strata_core::user_regex::{MAX_PATTERN_BYTES, RegexLimitError, SIZE_LIMIT};

fn regexp_transform(pattern: &str) -> serde_json::Value {
    json!({"type": "string", "string": {"type": "Regexp", "regexp": {"match": pattern, "group": 1}}})
}

#[test]
fn a_regexp_transform_with_an_ordinary_pattern_works() {
    let transforms = parse_all(&[regexp_transform(r"^db-(\w+)$")]).expect("parses");
    assert_eq!(
        run_all(&transforms, &json!("db-orders")).expect("runs"),
        json!("orders")
    );
}

#[test]
fn a_regexp_transform_past_the_size_limit_is_refused_naming_the_field() {
    for pattern in ["(a{1000}){1000}", "((a{100}){100}){100}"] {
        let err = parse_all(&[regexp_transform(pattern)]).expect_err(pattern);
        assert_eq!(err.phase(), Phase::Validation);
        let Error::RegexLimit { field, source, .. } = &err else {
            panic!("{pattern}: not a regex limit error: {err:?}");
        };
        assert_eq!(field, "string.regexp.match");
        assert_eq!(*source, RegexLimitError::TooBig { limit: SIZE_LIMIT });
        assert_eq!(
            err.to_string(),
            format!(
                "transforms[0]: string.regexp.match: Invalid value: the regular expression compiles to more than the size limit of {SIZE_LIMIT} bytes (counted repetitions such as `x{{1000}}` multiply its size)"
            )
        );
    }
}

#[test]
fn an_over_long_pattern_is_refused_before_compiling() {
    let pattern = "a".repeat(MAX_PATTERN_BYTES + 1);
    let err = Transform::parse(&regexp_transform(&pattern)).expect_err("too long");
    assert!(
        matches!(
            &err,
            Error::RegexLimit { field, source: RegexLimitError::TooLong { length, .. }, .. }
                if field == "string.regexp.match" && *length == MAX_PATTERN_BYTES + 1
        ),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains(&pattern),
        "the pattern is not quoted back"
    );
}

#[test]
fn a_match_transform_regexp_pattern_past_the_limit_names_its_index() {
    let transform = json!({"type": "match", "match": {"patterns": [
        {"type": "literal", "literal": "x", "result": 1},
        {"type": "regexp", "regexp": "(a{1000}){1000}", "result": 2},
    ]}});
    let err = Transform::parse(&transform).expect_err("refused");
    assert!(
        matches!(&err, Error::RegexLimit { field, .. } if field == "match.patterns[1].regexp"),
        "{err:?}"
    );
}

#[test]
fn an_invalid_pattern_still_reads_as_crossplane_words_it() {
    let err = Transform::parse(&regexp_transform("a(")).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "string.regexp.match: Invalid value: \"a(\": invalid regexp"
    );
    assert_eq!(err.phase(), Phase::Validation);
    let source = std::error::Error::source(&err).expect("the compiler's error is kept");
    assert!(
        matches!(
            source.downcast_ref::<RegexLimitError>(),
            Some(RegexLimitError::Invalid(_))
        ),
        "{source:?}"
    );
}

#[test]
fn a_field_path_write_past_the_index_cap_is_refused() {
    let mut object = json!({});
    fieldpath::set(
        &mut object,
        &format!("spec.items[{MAX_INDEX}]"),
        json!("last"),
    )
    .expect("the cap itself is allowed");
    assert_eq!(
        object["spec"]["items"].as_array().map(Vec::len),
        Some(MAX_INDEX as usize + 1)
    );
    let mut object = json!({});
    let err = fieldpath::set(
        &mut object,
        &format!("spec.items[{}]", MAX_INDEX + 1),
        json!(1),
    )
    .expect_err("past the cap");
    assert_eq!(err, PathError::IndexTooLarge(MAX_INDEX + 1));
    assert_eq!(
        err.to_string(),
        format!(
            "index {} is greater than max allowed index 1024",
            MAX_INDEX + 1
        )
    );
    assert_eq!(object, json!({}), "nothing was written");
}
