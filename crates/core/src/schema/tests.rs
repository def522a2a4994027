use serde_json::{Value, json};

use super::*;

fn crd_schema() -> Schema {
    Schema::compile(
        &json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["size", "engine"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 1, "maximum": 100},
                        "engine": {"type": "string", "enum": ["postgres", "mysql"]},
                        "region": {"type": "string", "default": "eu-west-1", "pattern": "^[a-z]+-[a-z]+-[0-9]$"},
                        "port": {"x-kubernetes-int-or-string": true},
                        "memory": {"type": "string", "maxLength": 8},
                        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "pruned": {"type": "object"},
                        "zones": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                     "x-kubernetes-preserve-unknown-fields": true},
                        "mode": {"type": "string", "nullable": true}
                    }
                }
            }
        }),
        Dialect::Crd,
    )
    .unwrap()
}

fn problems(schema: &Schema, value: Value) -> Vec<String> {
    schema
        .check(&value)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_conforming_value_has_no_problem() {
    let found = problems(
        &crd_schema(),
        json!({"spec": {"size": 3, "engine": "postgres", "port": "http", "tags": {"a": "b"},
               "extra": {"anything": [1, {"x": 2}]}, "zones": ["a", "b"], "mode": null,
               "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}}}),
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let found = problems(
        &crd_schema(),
        json!({"spec": {"sise": 3, "engine": "postgress", "port": 1.5, "tags": {"a": 1},
               "pruned": {"x": 1}, "zones": ["a", "b", 3], "region": "nowhere",
               "memory": "123456789", "template": {"kind": "ConfigMap"}}}),
    );
    assert_eq!(
        found,
        [
            "spec.sise: unknown field; did you mean size?",
            "spec.engine: must be one of \"postgres\", \"mysql\", found \"postgress\"; did you mean \"postgres\"?",
            "spec.port: must be an integer or a string, found number 1.5",
            "spec.tags.a: must be a string, found integer 1",
            "spec.pruned.x: unknown field (this object declares no fields)",
            "spec.zones: must have at most 2 items, found 3",
            "spec.zones[2]: must be a string, found integer 3",
            "spec.region: must match the pattern \"^[a-z]+-[a-z]+-[0-9]$\", found \"nowhere\"",
            "spec.memory: must be at most 8 characters long, found 9",
            "spec.template.apiVersion: is required for an embedded resource",
            "spec.size: required field is missing",
        ]
    );
}

#[test]
fn a_required_field_with_a_default_may_be_left_out_and_defaults_fill_in() {
    let schema = Schema::compile(
        &json!({"type": "object", "required": ["region"], "properties": {
            "region": {"type": "string", "default": "eu-west-1"},
            "nested": {"type": "object", "properties": {"on": {"type": "boolean", "default": true}}}
        }}),
        Dialect::Crd,
    )
    .unwrap();
    assert!(problems(&schema, json!({})).is_empty());
    let mut value = json!({"nested": {}});
    schema.apply_defaults(&mut value);
    assert_eq!(
        value,
        json!({"region": "eu-west-1", "nested": {"on": true}})
    );
}

#[test]
fn null_is_unset_but_not_a_value_for_a_required_field() {
    let schema = Schema::compile(
        &json!({"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "note": {"type": "string"}}}),
        Dialect::Crd,
    )
    .unwrap();
    assert_eq!(
        problems(&schema, json!({"name": null, "note": null})),
        ["name: required field is missing"]
    );
}

#[test]
fn quantities_take_numbers_and_quantity_strings_only() {
    let schema = Schema::compile(
        &json!({"type": "object", "properties": {"cpu": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}},
                "definitions": {"io.k8s.apimachinery.pkg.api.resource.Quantity": {"x-kubernetes-int-or-string": true}}}),
        Dialect::Open,
    )
    .unwrap();
    for good in [json!("500m"), json!(1), json!(0.5), json!("1Gi")] {
        assert!(problems(&schema, json!({"cpu": good})).is_empty(), "{good}");
    }
    assert_eq!(
        problems(&schema, json!({"cpu": "lots"})),
        [
            "cpu: \"lots\" is not a quantity (a number with an optional suffix: 500m, 2, 1.5, 1Gi, 100M, 1e3)"
        ]
    );
}

#[test]
fn recursive_references_compile_and_check() {
    let schema = Schema::compile(
        &json!({"$ref": "#/$defs/Tree", "$defs": {"Tree": {"type": "object", "properties": {
            "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Tree"}}}}}}),
        Dialect::Open,
    )
    .unwrap();
    assert_eq!(
        problems(
            &schema,
            json!({"name": "a", "children": [{"name": "b", "children": [{"nmae": "c"}]}]})
        ),
        ["children[0].children[0].nmae: unknown field; did you mean name?"]
    );
}

#[test]
fn combinators_constrain_values() {
    let schema = Schema::compile(
        &json!({"type": "object", "properties": {
            "a": {"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 0}]},
            "b": {"type": "string", "oneOf": [{"pattern": "^x"}, {"pattern": "y$"}]},
            "c": {"type": "string", "not": {"enum": ["forbidden"]}}
        }}),
        Dialect::Crd,
    )
    .unwrap();
    assert!(problems(&schema, json!({"a": 11, "b": "xa", "c": "fine"})).is_empty());
    assert_eq!(
        problems(&schema, json!({"a": 5, "b": "xy", "c": "forbidden"})),
        [
            "a: matches none of the 2 schemas of anyOf (the first says: must be greater than or equal to 10, found 5)",
            "b: must match exactly one of the 2 schemas of oneOf, matches 2",
            "c: matches the schema of `not`",
        ]
    );
}

#[test]
fn a_refused_pattern_keeps_the_regex_error_as_its_source() {
    let error = Schema::compile(
        &json!({"type": "string", "pattern": "(unclosed"}),
        Dialect::Crd,
    )
    .unwrap_err();
    assert_eq!(error.path, "pattern");
    let source = std::error::Error::source(&error).expect("the regex error is the source");
    assert!(
        matches!(
            source.downcast_ref::<crate::user_regex::RegexLimitError>(),
            Some(crate::user_regex::RegexLimitError::Invalid(_))
        ),
        "{source:?}"
    );
    let plain = Schema::compile(&json!({"type": "intger"}), Dialect::Crd).unwrap_err();
    assert!(std::error::Error::source(&plain).is_none());
}

#[test]
fn invalid_schemas_are_refused_with_the_keyword_path() {
    let error = |schema: Value| {
        Schema::compile(&schema, Dialect::Crd)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error(json!({"type": "object", "properties": {"size": {"type": "intger"}}})),
        "properties.size.type: unknown type \"intger\"; did you mean integer?"
    );
    assert_eq!(
        error(json!({"type": "object", "properties": {"size": {"type": "string", "patern": "x"}}})),
        "properties.size.patern: unknown schema keyword; did you mean pattern?"
    );
    assert!(
        error(json!({"type": "string", "pattern": "(unclosed"}))
            .starts_with("pattern: invalid regular expression")
    );
    assert_eq!(
        error(json!({"$ref": "#/definitions/X"})),
        "$ref: $ref is not allowed in a CRD schema"
    );
    assert_eq!(
        Schema::compile(&json!({"$ref": "#/definitions/X"}), Dialect::Open)
            .unwrap_err()
            .to_string(),
        "$ref: $ref \"#/definitions/X\" leads nowhere"
    );
}

#[test]
fn object_metadata_is_checked_against_the_object_meta_schema() {
    let meta = Schema::compile(
        &json!({"type": "object", "properties": {"name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}),
        Dialect::Open,
    )
    .unwrap();
    let found: Vec<String> = crd_schema()
        .check_object(
            &json!({"apiVersion": "x/v1", "kind": "X",
                    "metadata": {"name": "a", "lables": {}},
                    "spec": {"size": 1, "engine": "mysql"}, "stauts": {}}),
            Some(&meta),
        )
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        found,
        [
            "metadata.lables: unknown field; did you mean labels?",
            "stauts: unknown field"
        ]
    );
}
