//! Conformance harness for the Crossplane corpus: kinds `fieldpath`, `transform`, `patch`,
//! `readiness`, `connection` and `render` (see `tests/conformance/README.md`).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use strata_composition::claim::claim_to_composite;
use strata_composition::connection::{self, ConnectionDetail};
use strata_composition::error::{Error, Phase};
use strata_composition::fieldpath::{self, MergeOptions};
use strata_composition::metadata::{CrossplaneVersion, child_name, composed_metadata};
use strata_composition::patch::{Patch, PatchType};
use strata_composition::readiness::{self, ReadinessCheck};
use strata_composition::render::{RenderOptions, RenderRequest};
use strata_composition::transform;
use strata_composition::value::normalized;
use strata_composition::xrd::Xrd;
use strata_composition::{Composition, fieldpath::PathError};

#[path = "../../../tests/support/conformance.rs"]
mod support;
use support::{json_eq, run_cases};

const KINDS: [&str; 6] = [
    "fieldpath",
    "transform",
    "patch",
    "readiness",
    "connection",
    "render",
];

const COMPARED: [&str; 9] = [
    "output",
    "composite",
    "composed",
    "environment",
    "resources",
    "warnings",
    "compositeReady",
    "compositeConnectionDetails",
    "skipped",
];
const INFORMATIVE: [&str; 10] = [
    "go_message",
    "error_contains",
    "patch_error_contains",
    "log_contains",
    "diff_paths",
    "message_source",
    "note",
    "source",
    "status_message_claims_seconds",
    "running_message_while_pod2_terminating",
];

/// What a case produced.
enum Outcome {
    Ok(Map<String, Value>),
    Err {
        phase: Option<Phase>,
        not_found: bool,
        message: String,
    },
}

fn from_error(e: &Error) -> Outcome {
    Outcome::Err {
        phase: Some(e.phase()),
        not_found: e.is_not_found(),
        message: e.to_string(),
    }
}

fn from_path_error(e: &PathError) -> Outcome {
    Outcome::Err {
        phase: None,
        not_found: e.is_not_found(),
        message: e.to_string(),
    }
}

fn ok(pairs: Vec<(&str, Value)>) -> Outcome {
    Outcome::Ok(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

fn run_fieldpath(input: &Value) -> Outcome {
    let obj = field(input, "object").clone();
    let path = field(input, "path").as_str().unwrap_or("");
    match field(input, "op").as_str().unwrap_or("") {
        "get" => match fieldpath::get(&obj, path) {
            Ok(v) => ok(vec![("output", v.clone())]),
            Err(e) => from_path_error(&e),
        },
        "set" => {
            let mut o = obj;
            match fieldpath::set(&mut o, path, field(input, "value").clone()) {
                Ok(()) => ok(vec![("output", o)]),
                Err(e) => from_path_error(&e),
            }
        }
        "expand" => match fieldpath::expand_wildcards(&obj, path) {
            Ok(paths) => ok(vec![("output", json!(paths))]),
            Err(e) => from_path_error(&e),
        },
        "merge" => {
            let mo = input
                .get("mergeOptions")
                .filter(|m| !m.is_null())
                .map(|m| MergeOptions {
                    keep_map_values: field(m, "keepMapValues").as_bool().unwrap_or(false),
                    append_slice: field(m, "appendSlice").as_bool().unwrap_or(false),
                });
            let mut o = obj;
            match fieldpath::merge_value(&mut o, path, field(input, "value").clone(), mo) {
                Ok(()) => ok(vec![("output", o)]),
                Err(e) => from_path_error(&e),
            }
        }
        other => Outcome::Err {
            phase: None,
            not_found: false,
            message: format!("unknown op {other}"),
        },
    }
}

fn run_transform(input: &Value) -> Outcome {
    let list: Vec<Value> = match input.get("transforms").and_then(Value::as_array) {
        Some(l) => l.clone(),
        None => vec![field(input, "transform").clone()],
    };
    let parsed = match transform::parse_all(&list) {
        Ok(t) => t,
        Err(e) => return from_error(&e),
    };
    match transform::run_all(&parsed, field(input, "value")) {
        Ok(v) => ok(vec![("output", v)]),
        Err(e) => from_error(&e),
    }
}

fn run_patch(input: &Value) -> Outcome {
    let patch = match Patch::parse(field(input, "patch")) {
        Ok(p) => p,
        Err(e) => return from_error(&e),
    };
    let composite = normalized(field(input, "composite"));
    let mut dxr = composite.clone();
    let mut composed = normalized(field(input, "composed"));
    let mut env = match input.get("environment") {
        Some(e) => normalized(e),
        None => json!({"apiVersion": "internal.crossplane.io/v1alpha1", "kind": "Environment"}),
    };
    let env_context = field(input, "context").as_str() == Some("environment");
    let result = if env_context {
        match patch.ty {
            PatchType::ToCompositeFieldPath
            | PatchType::FromEnvironmentFieldPath
            | PatchType::CombineToComposite => patch.apply(&env.clone(), &mut dxr),
            PatchType::FromCompositeFieldPath
            | PatchType::ToEnvironmentFieldPath
            | PatchType::CombineFromComposite => patch.apply(&composite, &mut env),
            other => Err(Error::Validation(format!(
                "patch type {} is not allowed in environment patches",
                other.as_str()
            ))),
        }
    } else {
        match patch.ty {
            PatchType::FromCompositeFieldPath | PatchType::CombineFromComposite => {
                patch.apply(&composite, &mut composed)
            }
            PatchType::FromEnvironmentFieldPath | PatchType::CombineFromEnvironment => {
                patch.apply(&env, &mut composed)
            }
            PatchType::ToCompositeFieldPath | PatchType::CombineToComposite => {
                patch.apply(&composed, &mut dxr)
            }
            PatchType::ToEnvironmentFieldPath | PatchType::CombineToEnvironment => {
                patch.apply(&composed, &mut env)
            }
            PatchType::PatchSet => Ok(Vec::new()),
            other => Err(Error::Validation(format!(
                "patch type {} is not known to this test",
                other.as_str()
            ))),
        }
    };
    let mut skipped = false;
    match result {
        Ok(_) => {}
        Err(e) if e.is_not_found() && !patch.required => skipped = true,
        Err(e) => return from_error(&e),
    }
    ok(vec![
        ("composite", dxr),
        ("composed", composed),
        ("environment", env),
        ("skipped", json!(skipped)),
    ])
}

fn run_readiness(input: &Value) -> Outcome {
    let list = input
        .get("readinessChecks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let checks = match ReadinessCheck::parse_all(&list) {
        Ok(c) => c,
        Err(e) => return from_error(&e),
    };
    match readiness::is_ready(field(input, "resource"), &checks) {
        Ok(b) => ok(vec![("output", json!(b))]),
        Err(e) => from_error(&e),
    }
}

fn run_connection(input: &Value) -> Outcome {
    let list = input
        .get("connectionDetails")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let details = match ConnectionDetail::parse_all(&list) {
        Ok(d) => d,
        Err(e) => return from_error(&e),
    };
    let secret: BTreeMap<String, String> = input
        .get("connectionSecret")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    ok(vec![(
        "output",
        json!(connection::extract(
            field(input, "resource"),
            &secret,
            &details
        )),
    )])
}

fn run_render_op(input: &Value, op: &str) -> Outcome {
    let s = |k: &str| field(input, k).as_str().unwrap_or("").to_string();
    match op {
        "childName" => ok(vec![(
            "output",
            json!(child_name(
                &s("generateName"),
                &s("ownerUID"),
                &s("compositionResourceName")
            )),
        )]),
        "composedMetadata" => ok(vec![(
            "output",
            composed_metadata(
                CrossplaneVersion::parse(&s("crossplaneVersion")),
                field(input, "composite"),
                &s("compositionResourceName"),
                field(input, "desired"),
            ),
        )]),
        "claimToComposite" => {
            let kind = field(input, "compositeKind");
            let policy = field(input, "compositionUpdatePolicy").as_str();
            let enforced = match field(input, "enforcedComposition") {
                Value::String(n) => Some(n.as_str()),
                Value::Object(m) => m.get("name").and_then(Value::as_str),
                _ => None,
            };
            ok(vec![(
                "output",
                claim_to_composite(
                    field(input, "claim"),
                    field(kind, "apiVersion").as_str().unwrap_or(""),
                    field(kind, "kind").as_str().unwrap_or(""),
                    policy,
                    enforced,
                ),
            )])
        }
        "applyDefaults" => match Xrd::parse(field(input, "xrd")) {
            Ok(xrd) => ok(vec![("output", xrd.apply_defaults(field(input, "object")))]),
            Err(e) => from_error(&e),
        },
        other => Outcome::Err {
            phase: None,
            not_found: false,
            message: format!("unknown render op {other}"),
        },
    }
}

fn run_render(input: &Value) -> Outcome {
    if let Some(op) = input.get("op").and_then(Value::as_str) {
        return run_render_op(input, op);
    }
    let composition = match Composition::parse(field(input, "composition")) {
        Ok(c) => c,
        Err(e) => return from_error(&e.into_fatal()),
    };
    let req = RenderRequest::from_json(input);
    match composition.render(&req, RenderOptions::new().with_explain(true)) {
        Ok(out) => {
            let j = out.to_json();
            ok(vec![
                ("resources", j["resources"].clone()),
                ("composite", j["composite"].clone()),
                ("environment", j["environment"].clone()),
                ("warnings", j["warnings"].clone()),
                ("compositeReady", j["compositeReady"].clone()),
                (
                    "compositeConnectionDetails",
                    j["compositeConnectionDetails"].clone(),
                ),
            ])
        }
        Err(e) => from_error(&e.into_fatal()),
    }
}

fn check(kind: &str, input: &Value, expected: &Value) -> Result<(), String> {
    let Some(exp) = expected.as_object() else {
        return Err("expected is not an object".into());
    };
    for k in exp.keys() {
        let known = COMPARED.contains(&k.as_str())
            || INFORMATIVE.contains(&k.as_str())
            || matches!(k.as_str(), "error" | "error_class" | "not_found");
        if !known {
            return Err(format!("unknown expected key {k:?}"));
        }
    }
    let outcome = match kind {
        "fieldpath" => run_fieldpath(input),
        "transform" => run_transform(input),
        "patch" => run_patch(input),
        "readiness" => run_readiness(input),
        "connection" => run_connection(input),
        "render" => run_render(input),
        other => return Err(format!("kind {other} not owned")),
    };
    let wants_error = exp.get("error") == Some(&Value::Bool(true));
    match outcome {
        Outcome::Err {
            phase,
            not_found,
            message,
        } => {
            if !wants_error {
                return Err(format!("unexpected error: {message}"));
            }
            if let Some(class) = exp.get("error_class").and_then(Value::as_str)
                && let Some((want_phase, _)) = class.split_once(':')
                && matches!(want_phase, "validation" | "runtime" | "fatal")
            {
                let got = phase.map(Phase::as_str).unwrap_or("none");
                if got != want_phase {
                    return Err(format!("phase {got}, want {want_phase} ({message})"));
                }
            }
            if let Some(nf) = exp.get("not_found").and_then(Value::as_bool)
                && nf != not_found
            {
                return Err(format!("not_found {not_found}, want {nf} ({message})"));
            }
            Ok(())
        }
        Outcome::Ok(actual) => {
            if wants_error {
                return Err(format!("expected an error, got {}", Value::Object(actual)));
            }
            for key in COMPARED {
                let Some(want) = exp.get(key) else { continue };
                let got = actual.get(key).cloned().unwrap_or(if key == "skipped" {
                    json!(false)
                } else {
                    Value::Null
                });
                let equal = if key == "warnings" {
                    got.as_array().map(Vec::len) == want.as_array().map(Vec::len)
                } else {
                    json_eq(&got, want)
                };
                if !equal {
                    return Err(format!("{key}: got {got}, want {want}"));
                }
            }
            Ok(())
        }
    }
}

#[test]
fn crossplane_conformance() {
    run_cases(&KINDS, |kind, case| {
        check(kind, field(case, "input"), field(case, "expected"))
    });
}
