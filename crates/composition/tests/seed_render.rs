//! Rendering the seed PostgreSQL request gives what function-patch-and-transform returns.

use serde_json::Value;
use strata_composition::render::{RenderOptions, run_function_request};

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

#[test]
fn postgresql_seed_renders_like_the_function() {
    let input = load("postgresql-render-input.json");
    let expected = load("postgresql-render-expected.json");
    let got = run_function_request(&input, RenderOptions::default()).expect("the seed renders");
    assert_eq!(
        got["desired"]["resources"],
        expected["desired"]["resources"]
    );
    assert_eq!(
        got["desired"]["composite"]["resource"],
        expected["desired"]["composite"]["resource"]
    );
    assert_eq!(got["context"], expected["context"]);
}

#[test]
fn postgresql_seed_explains_every_write() {
    let input = load("postgresql-render-input.json");
    let got = run_function_request(&input, RenderOptions::new().with_explain(true))
        .expect("the seed renders");
    assert!(got["warnings"].as_array().is_some_and(Vec::is_empty));
    let req = strata_composition::RenderRequest::from_json(&input);
    let fi = strata_composition::FunctionInput::parse(&input["input"]).expect("input parses");
    let out = strata_composition::render(&fi, &req, RenderOptions::new().with_explain(true))
        .expect("renders");
    let class = out
        .explain
        .iter()
        .find(|w| w.path == "spec.forProvider.instanceClass")
        .expect("instanceClass is explained");
    assert_eq!(class.patch_type, "FromCompositeFieldPath");
    assert_eq!(class.patch_index, 3);
    assert_eq!(class.sources, vec!["spec.parameters.size".to_string()]);
    assert_eq!(class.transforms, vec!["map".to_string()]);
    let status = out
        .explain
        .iter()
        .filter(|w| w.target == strata_composition::explain::Target::Composite)
        .count();
    assert_eq!(status, 2, "status.endpoint and status.port");
}
