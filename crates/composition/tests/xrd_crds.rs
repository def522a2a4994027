//! The CRDs of the examples/postgresql XRD (the seed platform's is the same file): snapshots of
//! both, and the claim CRD's schema checked against the example claim.

use serde_json::Value;
use strata_composition::crd::crds_for;
use strata_composition::xrd::validate_against;

fn yaml(path: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    strata_core::yaml::from_str::<Value>(&text)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON")
}

#[test]
fn postgresql_composite_crd() {
    let crds = crds_for(&yaml("examples/postgresql/xrd.yaml")).expect("CRDs");
    insta::assert_snapshot!(pretty(&crds.composite));
}

#[test]
fn postgresql_claim_crd() {
    let crds = crds_for(&yaml("examples/postgresql/xrd.yaml")).expect("CRDs");
    let claim = crds.claim.expect("the XRD offers claims");
    insta::assert_snapshot!(pretty(&claim));
}

#[test]
fn the_example_claim_fits_the_claim_crd_and_a_bad_size_does_not() {
    let crds = crds_for(&yaml("examples/postgresql/xrd.yaml")).expect("CRDs");
    let claim_crd = crds.claim.expect("the XRD offers claims");
    let schema = &claim_crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut claim = yaml("examples/postgresql/claim.yaml");
    assert_eq!(validate_against(schema, &claim).expect("compiles"), vec![]);
    claim["spec"]["parameters"]["size"] = Value::String("huge".into());
    let violations = validate_against(schema, &claim).expect("compiles");
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["spec.parameters.size"]);
}
