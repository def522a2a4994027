//! Renders the YAML PostgreSQL example (XRD, legacy composition, claim) end to end:
//! claim → composite, schema defaults and validation, composition selection, render,
//! composed-resource metadata.

use serde_json::{Value, json};
use strata_composition::claim::claim_to_composite;
use strata_composition::metadata::{CrossplaneVersion, composed_metadata};
use strata_composition::render::RenderOptions;
use strata_composition::xrd::Xrd;
use strata_composition::{Composition, RenderRequest, select_composition};

fn yaml(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/postgresql")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    strata_core::yaml::from_str::<Value>(&text)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

#[test]
fn postgresql_claim_renders() {
    let xrd = Xrd::parse(&yaml("xrd.yaml")).expect("xrd parses");
    let composition = Composition::parse(&yaml("composition.yaml")).expect("composition parses");
    let claim = yaml("claim.yaml");
    assert_eq!(xrd.is_claim(&claim), Some(true));
    assert!(xrd.validate(&claim).expect("schema compiles").is_empty());

    let mut xr = claim_to_composite(
        &claim,
        "database.company.io/v1alpha1",
        &xrd.kind,
        None,
        None,
    );
    // The composite is named after its claim here, as in the seed render input.
    if let Some(meta) = xr["metadata"].as_object_mut() {
        meta.shift_remove("generateName");
    }
    xr["metadata"]["name"] = json!("my-app-db");
    xr["metadata"]["uid"] = json!("6f1c1d2e-0000-4000-8000-000000000001");
    let xr = xrd.apply_defaults(&xr);
    assert!(xrd.validate(&xr).expect("schema compiles").is_empty());

    let compositions = [composition];
    let chosen = select_composition(&xr, &compositions, None).expect("selector matches");
    assert_eq!(chosen.name, "postgresql-aws");

    let req = RenderRequest {
        composite: xr.clone(),
        ..RenderRequest::default()
    };
    let out = chosen
        .render(&req, RenderOptions::default())
        .expect("renders");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let rds = out
        .resources
        .iter()
        .find(|r| r.name == "rds-instance")
        .expect("rds instance");
    assert_eq!(
        rds.resource["spec"]["forProvider"]["instanceClass"],
        json!("db.t3.small")
    );
    assert_eq!(
        rds.resource["spec"]["forProvider"]["allocatedStorage"],
        json!(50)
    );
    assert_eq!(
        rds.resource["spec"]["forProvider"]["engineVersion"],
        json!("15.4")
    );

    let composed: Vec<Value> = out
        .resources
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "ready": r.ready,
                "resource": composed_metadata(CrossplaneVersion::V2, &xr, &r.name, &r.resource),
            })
        })
        .collect();
    insta::assert_json_snapshot!(
        "postgresql_render",
        json!({"composite": xr, "desiredComposite": out.composite, "resources": composed})
    );
}

#[test]
fn invalid_claim_names_the_field() {
    let xrd = Xrd::parse(&yaml("xrd.yaml")).expect("xrd parses");
    let mut claim = yaml("claim.yaml");
    claim["spec"]["parameters"]["size"] = json!("huge");
    claim["spec"]["parameters"]["storageGB"] = json!("fifty");
    let violations = xrd.validate(&claim).expect("schema compiles");
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        vec!["spec.parameters.size", "spec.parameters.storageGB"]
    );
}

#[test]
fn render_object_runs_the_whole_path_from_a_claim() {
    let xrds = [Xrd::parse(&yaml("xrd.yaml")).expect("xrd parses")];
    let compositions = [Composition::parse(&yaml("composition.yaml")).expect("composition parses")];
    let mut claim = yaml("claim.yaml");
    // Defaults fill what the claim leaves out.
    if let Some(p) = claim["spec"]["parameters"].as_object_mut() {
        p.shift_remove("storageGB");
    }
    let out = strata_composition::render_object(
        &claim,
        &xrds,
        &compositions,
        &RenderRequest::default(),
        RenderOptions::new().with_explain(true),
    )
    .expect("renders");
    assert_eq!(out.composition, "postgresql-aws");
    assert_eq!(out.composite["metadata"]["name"], json!("my-app-db"));
    let rds = out
        .composed
        .iter()
        .find(|c| c["kind"] == json!("Instance"))
        .expect("rds");
    assert_eq!(rds["spec"]["forProvider"]["allocatedStorage"], json!(20));
    assert_eq!(
        rds["metadata"]["annotations"]["crossplane.io/composition-resource-name"],
        json!("rds-instance")
    );
    assert!(
        out.output
            .explain
            .iter()
            .any(|w| w.path == "spec.forProvider.allocatedStorage")
    );

    claim["spec"]["parameters"]["size"] = json!("huge");
    let err = strata_composition::render_object(
        &claim,
        &xrds,
        &compositions,
        &RenderRequest::default(),
        RenderOptions::default(),
    )
    .expect_err("invalid claim");
    assert!(err.to_string().contains("spec.parameters.size"), "{err}");
}
