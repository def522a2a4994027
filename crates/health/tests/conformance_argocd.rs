//! Conformance harness for the `health` and `sync-order` cases of the ArgoCD corpus.
//!
//! Contract (tests/conformance/README.md): every `*.json` under `<workspace>/tests/conformance/`
//! (or `$STRATA_CONFORMANCE_DIR`), one `FAIL <id>: <reason>` line per failing case, then
//! `conformance: N passed, M failed`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use strata_core::sync::{
    SyncPlan, SyncPlanOptions, SyncResource, hook_delete_policies, plan_sync, sync_phases,
    sync_wave,
};
use strata_health::{
    HealthStatus, HealthStatusCode, ResourceHealth, aggregate_health, health_of, rules,
};

#[path = "../../../tests/support/conformance.rs"]
mod support;
use support::{json_eq, run_cases};

const OWNED_KINDS: [&str; 2] = ["health", "sync-order"];
const INFORMATIVE: [&str; 12] = [
    "go_message",
    "error_contains",
    "patch_error_contains",
    "log_contains",
    "diff_paths",
    "message_source",
    "status_message_claims_seconds",
    "running_message_while_pod2_terminating",
    "note",
    "source",
    "error_class",
    "warnings",
];

fn check_keys(expected: &serde_json::Map<String, Value>, known: &[&str]) -> Result<(), String> {
    for key in expected.keys() {
        if !known.contains(&key.as_str()) && !INFORMATIVE.contains(&key.as_str()) {
            return Err(format!("unknown expected key `{key}`"));
        }
    }
    Ok(())
}

fn compare(key: &str, expected: &Value, actual: &Value) -> Result<(), String> {
    if json_eq(expected, actual) {
        Ok(())
    } else {
        Err(format!("{key}: expected {expected}, got {actual}"))
    }
}

// ---------------------------------------------------------------- health

fn run_health(case: &Value) -> Result<(), String> {
    let input = &case["input"];
    let expected = case["expected"]
        .as_object()
        .ok_or("expected is not an object")?;
    if input.get("app_resources").is_some() {
        return run_aggregate(input, expected);
    }
    check_keys(expected, &["status", "message", "message_contains"])?;
    let obj = input.get("object").ok_or("input has no object")?;
    let health: Option<HealthStatus> = match input.get("health_engine").and_then(Value::as_str) {
        // ArgoCD tests its bundled checks by running the check alone; so do we.
        Some("builtin-for-lua") => rules::builtin(obj),
        Some(other) => return Err(format!("unknown health_engine {other}")),
        None => health_of(obj),
    };
    let status = health
        .as_ref()
        .map_or(Value::Null, |h| json!(h.status.as_str()));
    if let Some(want) = expected.get("status") {
        compare("status", want, &status)?;
    }
    let message = health.as_ref().map_or("", |h| h.message.as_str());
    if let Some(want) = expected.get("message") {
        compare("message", want, &json!(message))?;
    }
    if let Some(want) = expected.get("message_contains") {
        let want = want.as_str().ok_or("message_contains is not a string")?;
        if !message.contains(want) {
            return Err(format!("message {message:?} does not contain {want:?}"));
        }
    }
    Ok(())
}

fn run_aggregate(input: &Value, expected: &serde_json::Map<String, Value>) -> Result<(), String> {
    check_keys(expected, &["status", "causes"])?;
    if let Some(order) = input.get("severity_order") {
        let ours: Vec<&str> = HealthStatusCode::ALL.iter().map(|c| c.as_str()).collect();
        compare("severity_order", order, &json!(ours))?;
    }
    let text = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let flag = |r: &Value, k: &str| r.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut resources = Vec::new();
    for r in input["app_resources"]
        .as_array()
        .ok_or("app_resources is not a list")?
    {
        let health = match r.get("live_health").and_then(Value::as_str) {
            Some(s) => Some(HealthStatusCode::parse(s).ok_or(format!("bad live_health {s}"))?),
            None => None,
        };
        resources.push(ResourceHealth {
            group: text(r, "group"),
            kind: text(r, "kind"),
            namespace: text(r, "namespace"),
            name: text(r, "name"),
            target_skipped: false,
            has_live: flag(r, "has_live"),
            live_is_hook: flag(r, "is_hook"),
            ignore_healthcheck: flag(r, "ignore_healthcheck_annotation"),
            self_reference: false,
            health,
            message: None,
        });
    }
    let aggregate = aggregate_health(&resources);
    if let Some(want) = expected.get("status") {
        compare("status", want, &json!(aggregate.status.as_str()))?;
    }
    if let Some(want) = expected.get("causes") {
        compare("causes", want, &json!(aggregate.causes_message))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- sync-order

struct SyncCase {
    labels: Vec<String>,
    targets: Vec<Option<Value>>,
    lives: Vec<Option<Value>>,
}

fn build_object(r: &Value) -> Result<Value, String> {
    let label = r
        .get("name")
        .and_then(Value::as_str)
        .ok_or("resource without name")?;
    let name = r
        .get("metadata_name")
        .and_then(Value::as_str)
        .unwrap_or(label);
    let mut annotations = r.get("annotations").cloned().unwrap_or_else(|| json!({}));
    let phase = r.get("phase").and_then(Value::as_str);
    let hook = r.get("hook").and_then(Value::as_bool).unwrap_or(false);
    if let Some(phase) = phase
        && (hook || phase != "Sync")
    {
        annotations
            .as_object_mut()
            .ok_or("annotations is not an object")?
            .insert("argocd.argoproj.io/hook".into(), json!(phase));
    }
    let mut metadata = json!({"name": name, "annotations": annotations});
    if let Some(ns) = r.get("namespace").and_then(Value::as_str) {
        metadata["namespace"] = json!(ns);
    }
    let mut obj = json!({
        "apiVersion": r.get("apiVersion").and_then(Value::as_str).unwrap_or("v1"),
        "kind": r.get("kind").and_then(Value::as_str).unwrap_or(""),
        "metadata": metadata,
    });
    if let Some(spec) = r.get("spec") {
        obj["spec"] = spec.clone();
    }
    Ok(obj)
}

fn build_sync_case(input: &Value) -> Result<SyncCase, String> {
    let mut case = SyncCase {
        labels: Vec::new(),
        targets: Vec::new(),
        lives: Vec::new(),
    };
    for r in input["resources"]
        .as_array()
        .ok_or("resources is not a list")?
    {
        let obj = build_object(r)?;
        let target = r.get("target").and_then(Value::as_bool).unwrap_or(true);
        let live = r.get("live").and_then(Value::as_bool).unwrap_or(false);
        case.labels
            .push(r["name"].as_str().unwrap_or("").to_string());
        case.targets.push(target.then(|| obj.clone()));
        case.lives.push(live.then_some(obj));
    }
    Ok(case)
}

fn only_object(case: &SyncCase) -> Result<&Value, String> {
    match case.targets.as_slice() {
        [Some(obj)] => Ok(obj),
        _ => Err("this expectation needs exactly one desired resource".into()),
    }
}

fn run_sync_order(case: &Value) -> Result<(), String> {
    let input = &case["input"];
    let expected = case["expected"]
        .as_object()
        .ok_or("expected is not an object")?;
    check_keys(
        expected,
        &[
            "order",
            "flat_order",
            "effective_waves",
            "effective",
            "phases",
            "wave",
            "delete_policies",
        ],
    )?;
    let sync_case = build_sync_case(input)?;
    let resources: Vec<SyncResource<'_>> = sync_case
        .targets
        .iter()
        .zip(&sync_case.lives)
        .map(|(t, l)| SyncResource {
            target: t.as_ref(),
            live: l.as_ref(),
        })
        .collect();
    let options = SyncPlanOptions::default().with_prune_last(
        input
            .pointer("/options/pruneLast")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    );
    let plan = plan_sync(&resources, &options);
    let label = |index: usize| sync_case.labels[index].clone();
    let all_groups = || plan.groups.iter().chain(plan.sync_fail.iter());

    if let Some(want) = expected.get("order") {
        let order: Vec<Vec<String>> = all_groups()
            .map(|g| g.tasks.iter().map(|t| label(t.index)).collect())
            .collect();
        compare("order", want, &json!(order))?;
    }
    if let Some(want) = expected.get("flat_order") {
        let flat: Vec<String> = all_groups()
            .flat_map(|g| g.tasks.iter().map(|t| label(t.index)))
            .collect();
        compare("flat_order", want, &json!(flat))?;
    }
    if let Some(want) = expected.get("effective_waves") {
        let waves: BTreeMap<String, i64> = effective(&plan, &sync_case)
            .into_iter()
            .map(|(name, (_, wave))| (name, wave))
            .collect();
        compare("effective_waves", want, &json!(waves))?;
    }
    if let Some(want) = expected.get("effective") {
        let want_map = want.as_object().ok_or("effective is not an object")?;
        let ours = effective(&plan, &sync_case);
        let actual: BTreeMap<&String, Value> = want_map
            .keys()
            .filter_map(|name| {
                ours.get(name)
                    .map(|(phase, wave)| (name, json!({"phase": phase, "wave": wave})))
            })
            .collect();
        compare("effective", want, &json!(actual))?;
    }
    if let Some(want) = expected.get("phases") {
        let phases: Vec<&str> = sync_phases(only_object(&sync_case)?)
            .iter()
            .map(|p| p.as_str())
            .collect();
        compare("phases", want, &json!(phases))?;
        // The plan must agree: one task per phase.
        let planned: Vec<&str> = plan
            .tasks()
            .chain(plan.sync_fail.iter().flat_map(|g| g.tasks.iter()))
            .map(|t| t.phase.as_str())
            .collect();
        compare("planned phases", want, &json!(planned))?;
    }
    if let Some(want) = expected.get("wave") {
        compare("wave", want, &json!(sync_wave(only_object(&sync_case)?)))?;
    }
    if let Some(want) = expected.get("delete_policies") {
        let policies: Vec<&str> = hook_delete_policies(only_object(&sync_case)?)
            .iter()
            .map(|p| p.as_str())
            .collect();
        compare("delete_policies", want, &json!(policies))?;
    }
    Ok(())
}

fn effective(plan: &SyncPlan, case: &SyncCase) -> BTreeMap<String, (String, i64)> {
    let mut map = BTreeMap::new();
    for task in plan
        .tasks()
        .chain(plan.sync_fail.iter().flat_map(|g| g.tasks.iter()))
    {
        map.entry(case.labels[task.index].clone())
            .or_insert_with(|| (task.phase.as_str().to_string(), task.wave));
    }
    map
}

// ---------------------------------------------------------------- harness

#[test]
fn argocd_health_and_sync_order_conformance() {
    run_cases(&OWNED_KINDS, |kind, case| match kind {
        "health" => run_health(case),
        _ => run_sync_order(case),
    });
}
