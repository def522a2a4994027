//! The JSON Schemas published under `schemas/` describe what `strata plan -o json`,
//! `strata drift -o json` and `strata health -o json` print: real output validates, and a
//! document the schemas do not describe is rejected.

use super::{s, strata, text, walk};
use serde_json::{Value, json};
use std::path::Path;

/// The validator of `schemas/NAME.schema.json` (the schema itself checked against draft
/// 2020-12 on the way).
fn validator(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .join(format!("{name}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{name}"
    );
    assert!(
        schema["$id"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/schemas/{name}.schema.json")),
        "{name}"
    );
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `document` validates against `validator`, or the test fails listing every error.
fn valid(validator: &jsonschema::Validator, what: &str, document: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{document:#}");
}

/// `document` with `edit` applied is rejected by `validator`.
fn rejected(
    validator: &jsonschema::Validator,
    what: &str,
    document: &Value,
    edit: impl Fn(&mut Value),
) {
    let mut wrong = document.clone();
    edit(&mut wrong);
    assert_ne!(&wrong, document, "{what}: the edit changed nothing");
    assert!(!validator.is_valid(&wrong), "{what} was accepted");
}

/// Runs `args` expecting exit `code`; standard output as JSON.
fn json_of(args: &[&str], code: i32) -> Value {
    let out = strata(args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {:?}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

const STACK: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: web
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: web
data:
  level: "1"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: old
  namespace: web
data:
  x: "y"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kept
  namespace: web
data:
  k: v
---
apiVersion: s3.aws.upbound.io/v1beta1
kind: Bucket
metadata:
  name: assets
spec:
  forProvider:
    region: eu-west-1
"#;

/// A stack applied, then changed in Git (an update, a delete, a create, a replace) and in
/// the world (a drifted object): its directory.
fn changed_stack(root: &Path) -> std::path::PathBuf {
    let stack = root.join("schemas");
    std::fs::create_dir(&stack).unwrap();
    let file = stack.join("stack.yaml");
    std::fs::write(&file, STACK).unwrap();
    let apply = strata(&["apply", s(&stack), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));
    let live = walk(&stack.join(".strata/sandbox"))
        .into_iter()
        .find(|p| p.ends_with("kept.json"))
        .unwrap();
    let edited = std::fs::read_to_string(&live)
        .unwrap()
        .replace("\"k\":\"v\"", "\"k\":\"changed\"")
        .replace("\"k\": \"v\"", "\"k\": \"changed\"");
    assert_ne!(edited, std::fs::read_to_string(&live).unwrap());
    std::fs::write(&live, edited).unwrap();
    let changed = STACK
        .replace("level: \"1\"", "level: \"2\"")
        .replace("name: old\n", "name: new\n")
        .replace("region: eu-west-1", "region: us-east-1");
    std::fs::write(&file, changed).unwrap();
    stack
}

#[test]
fn plan_json_follows_its_schema() {
    let root = tempfile::tempdir().unwrap();
    let stack = changed_stack(root.path());
    let plan = json_of(&["plan", s(&stack), "-o", "json"], 0);
    let schema = validator("plan");
    valid(&schema, "plan", &plan);

    // The fixture exercises every action and a drifted object.
    let changes = plan["resource_changes"].as_array().unwrap();
    let actions: Vec<&Value> = changes.iter().map(|c| &c["change"]["actions"]).collect();
    for expected in [
        json!(["create"]),
        json!(["update"]),
        json!(["delete"]),
        json!(["no-op"]),
    ] {
        assert!(
            actions.contains(&&expected),
            "{expected} not in {actions:?}"
        );
    }
    assert!(
        actions.iter().any(|a| a.as_array().unwrap().len() == 2),
        "a replace: {actions:?}"
    );
    assert!(changes.iter().any(|c| c["drifted"] == true), "{plan:#}");
    assert!(
        changes
            .iter()
            .any(|c| c["change"]["replace_paths"] == json!(["/spec/forProvider/region"])),
        "{plan:#}"
    );

    // `strata show` prints the same document with `saved_plan`.
    let saved = root.path().join("saved.plan");
    let out = strata(&["plan", s(&stack), "--out", s(&saved)]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let shown = json_of(&["show", s(&saved), "-o", "json"], 0);
    assert!(shown["saved_plan"].is_object(), "{shown:#}");
    valid(&schema, "show", &shown);

    // Documents the schema does not describe are refused.
    rejected(&schema, "a plan without summary", &plan, |p| {
        p.as_object_mut().unwrap().remove("summary");
    });
    rejected(&schema, "a plan with a string for applyable", &plan, |p| {
        p["applyable"] = json!("yes");
    });
    rejected(&schema, "a plan with an unknown field", &plan, |p| {
        p["extra"] = json!(1);
    });
    rejected(&schema, "an unknown action", &plan, |p| {
        p["resource_changes"][0]["change"]["actions"] = json!(["upsert"]);
    });
    rejected(&schema, "a dotted field path", &plan, |p| {
        let change = p["resource_changes"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|c| !c["change"]["fields"].as_array().unwrap().is_empty())
            .unwrap();
        change["change"]["fields"][0]["path"] = json!("data.level");
    });
    rejected(&schema, "a negative count", &plan, |p| {
        p["summary"]["add"] = json!(-1);
    });
}

#[test]
fn drift_json_follows_its_schema() {
    let root = tempfile::tempdir().unwrap();
    let stack = changed_stack(root.path());
    let drift = json_of(&["drift", s(&stack), "-o", "json"], 0);
    let schema = validator("drift");
    valid(&schema, "drift", &drift);
    let statuses: Vec<&Value> = drift["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    for expected in ["in_sync", "drifted", "missing", "extraneous"] {
        assert!(
            statuses.contains(&&json!(expected)),
            "{expected} not in {statuses:?}"
        );
    }
    let origins = drift.to_string();
    assert!(origins.contains("\"origin\":\"world\""), "{drift:#}");
    assert!(origins.contains("\"origin\":\"git\""), "{drift:#}");

    rejected(&schema, "a report without exit_code", &drift, |d| {
        d.as_object_mut().unwrap().remove("exit_code");
    });
    rejected(&schema, "a count as a string", &drift, |d| {
        d["summary"]["drifted"] = json!("1");
    });
    rejected(&schema, "an unknown status", &drift, |d| {
        d["resources"][0]["status"] = json!("gone");
    });
    rejected(&schema, "a resource with an unknown field", &drift, |d| {
        d["resources"][0]["colour"] = json!("red");
    });
}

#[test]
fn health_json_follows_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.yaml");
    std::fs::write(
        &live,
        r#"apiVersion: v1
kind: Pod
metadata: {name: crashed, namespace: web}
status: {phase: Failed, message: crashed twice}
---
apiVersion: v1
kind: Pod
metadata: {name: done, namespace: web}
status: {phase: Succeeded}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: rolling, namespace: web, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: plain, namespace: web}
data: {a: b}
---
apiVersion: v1
kind: Namespace
metadata: {name: web}
"#,
    )
    .unwrap();
    let health = json_of(&["health", s(&live), "-o", "json"], 0);
    let schema = validator("health");
    valid(&schema, "health", &health);
    let statuses: Vec<&Value> = health["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    for expected in [
        json!("Degraded"),
        json!("Healthy"),
        json!("Progressing"),
        Value::Null,
    ] {
        assert!(
            statuses.contains(&&expected),
            "{expected} not in {statuses:?}"
        );
    }
    assert_eq!(health["aggregate"]["status"], "Degraded", "{health:#}");

    rejected(&schema, "health without aggregate", &health, |h| {
        h.as_object_mut().unwrap().remove("aggregate");
    });
    rejected(&schema, "a status ArgoCD does not have", &health, |h| {
        h["resources"][0]["status"] = json!("Sick");
    });
    rejected(&schema, "a number for a name", &health, |h| {
        h["resources"][0]["name"] = json!(7);
    });
}
