//! Conformance harness for the `diff`, `normalize` and `backoff` cases of the ArgoCD corpus.

use std::time::Duration;

use serde_json::{Map, Value};
use strata_drift::backoff::{Backoff, self_heal_remaining, sync_retry_delay};
use strata_drift::compare::{DiffMode, diff};
use strata_drift::duration::parse_go_duration;
use strata_drift::ignore::IgnoreConfig;
use strata_drift::normalize::{DriftRules, StatusPolicy, normalize_builtin_kinds, remarshal};
use strata_drift::object::ResourceKey;
use strata_drift::path::parse_pointer;

#[path = "../../../tests/support/conformance.rs"]
mod support;
use support::{json_eq, run_cases};

const KINDS: &[&str] = &["diff", "normalize", "backoff"];

fn pointer_get<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    let tokens = parse_pointer(pointer)?;
    tokens.iter().try_fold(doc, |cur, t| match cur {
        Value::Object(m) => m.get(t),
        Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn check_keys(
    expected: &Map<String, Value>,
    compared: &[&str],
    informative: &[&str],
) -> Result<(), String> {
    for k in expected.keys() {
        if !compared.contains(&k.as_str()) && !informative.contains(&k.as_str()) {
            return Err(format!("unknown expected key {k:?}"));
        }
    }
    Ok(())
}

const INFORMATIVE: &[&str] = &[
    "go_message",
    "error_contains",
    "patch_error_contains",
    "log_contains",
    "diff_paths",
    "message_source",
    "status_message_claims_seconds",
    "note",
    "source",
    "error_class",
];

fn ignore_config(input: &Value) -> Result<IgnoreConfig, String> {
    let mut cfg = IgnoreConfig::default();
    if let Some(v) = input.get("ignoreDifferences").filter(|v| !v.is_null()) {
        cfg.ignore_differences =
            serde_json::from_value(v.clone()).map_err(|e| format!("ignoreDifferences: {e}"))?;
    }
    if let Some(v) = input.get("resourceOverrides").filter(|v| !v.is_null()) {
        cfg.resource_overrides =
            serde_json::from_value(v.clone()).map_err(|e| format!("resourceOverrides: {e}"))?;
    }
    Ok(cfg)
}

fn run_diff(input: &Value, expected: &Map<String, Value>) -> Result<(), String> {
    check_keys(
        expected,
        &[
            "modified",
            "normalized_live_replicas",
            "predicted_live_replicas",
        ],
        INFORMATIVE,
    )?;
    let rules = DriftRules::new(ignore_config(input)?).map_err(|e| e.to_string())?;
    let mode = match input.get("mode").and_then(Value::as_str) {
        Some("structured-merge") => DiffMode::StructuredMerge,
        Some("auto") | None => DiffMode::Auto,
        Some(other) => return Err(format!("unknown mode {other}")),
    };
    let result = diff(input.get("desired"), input.get("live"), &rules, mode);
    if let Some(m) = expected.get("modified")
        && !json_eq(m, &Value::Bool(result.modified))
    {
        return Err(format!("modified: expected {m}, got {}", result.modified));
    }
    for (key, obj) in [
        ("normalized_live_replicas", &result.normalized_live),
        ("predicted_live_replicas", &result.predicted_live),
    ] {
        if let Some(want) = expected.get(key) {
            let got = pointer_get(obj, "/spec/replicas")
                .cloned()
                .unwrap_or(Value::Null);
            if !json_eq(want, &got) {
                return Err(format!("{key}: expected {want}, got {got}"));
            }
        }
    }
    Ok(())
}

fn run_normalize(input: &Value, expected: &Map<String, Value>) -> Result<(), String> {
    check_keys(
        expected,
        &[
            "absent_paths",
            "present_paths",
            "value_at",
            "unchanged",
            "error",
            "error_on_construct",
            "matches",
            "merged",
            "data_has_keys",
        ],
        INFORMATIVE,
    )?;
    let cfg = ignore_config(input)?;
    if let Some(resource) = input.get("resource") {
        let namespace = str_field(resource, "namespace");
        let res = ResourceKey::new(
            str_field(resource, "group"),
            str_field(resource, "kind"),
            (!namespace.is_empty()).then_some(namespace.as_str()),
            str_field(resource, "name"),
        );
        let found = cfg.lookup(&res);
        if let Some(want) = expected.get("matches")
            && !json_eq(want, &Value::Bool(found.is_some()))
        {
            return Err(format!("matches: expected {want}, got {}", found.is_some()));
        }
        if let Some(want) = expected.get("merged") {
            let got = serde_json::to_value(found.unwrap_or_default()).map_err(|e| e.to_string())?;
            if !json_eq(want, &got) {
                return Err(format!("merged: expected {want}, got {got}"));
            }
        }
        return Ok(());
    }
    let built = DriftRules::new(cfg);
    if let Some(want) = expected.get("error_on_construct") {
        if !json_eq(want, &Value::Bool(built.is_err())) {
            return Err(format!(
                "error_on_construct: expected {want}, got {:?}",
                built.as_ref().err()
            ));
        }
        if built.is_err() {
            return Ok(());
        }
    }
    let rules = built
        .map_err(|e| format!("unexpected configuration error: {e}"))?
        .with_status_policy(StatusPolicy::None);
    let object = input.get("object").ok_or("no object in input")?;
    let res = ResourceKey::of_partial(object);
    let out = match input.get("step").and_then(Value::as_str) {
        None => {
            let mut o = object.clone();
            rules.apply_ignores(&mut o);
            o
        }
        Some("remarshal") => remarshal(object, &res),
        Some("remarshal+NormalizeSecret") => {
            let mut o = remarshal(object, &res);
            normalize_builtin_kinds(&mut o, &res, false);
            o
        }
        Some(other) => return Err(format!("unknown step {other}")),
    };
    if let Some(want) = expected.get("error")
        && !json_eq(want, &Value::Bool(false))
    {
        return Err(format!("error: expected {want}, normalisation succeeded"));
    }
    for p in expected
        .get("absent_paths")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let p = p.as_str().ok_or("absent path is not a string")?;
        if pointer_get(&out, p).is_some() {
            return Err(format!("path {p} should be absent"));
        }
    }
    for p in expected
        .get("present_paths")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let p = p.as_str().ok_or("present path is not a string")?;
        if pointer_get(&out, p).is_none() {
            return Err(format!("path {p} should be present"));
        }
    }
    if let Some(Value::Object(values)) = expected.get("value_at") {
        for (p, want) in values {
            let got = pointer_get(&out, p).cloned().unwrap_or(Value::Null);
            if !json_eq(want, &got) {
                return Err(format!("value at {p}: expected {want}, got {got}"));
            }
        }
    }
    if let Some(want) = expected.get("unchanged") {
        let unchanged = json_eq(&out, object);
        if !json_eq(want, &Value::Bool(unchanged)) {
            return Err(format!("unchanged: expected {want}, got {unchanged}"));
        }
    }
    if let Some(keys) = expected.get("data_has_keys").and_then(Value::as_array) {
        for k in keys {
            let k = k.as_str().ok_or("data key is not a string")?;
            if out.get("data").and_then(|d| d.get(k)).is_none() {
                return Err(format!("data lacks key {k}"));
            }
        }
    }
    Ok(())
}

fn str_field(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn run_backoff(input: &Value, expected: &Map<String, Value>) -> Result<(), String> {
    check_keys(expected, &["delay_seconds", "self_heal_now"], INFORMATIVE)?;
    let duration = input
        .get("duration")
        .and_then(Value::as_str)
        .ok_or("no duration")?;
    let max = input
        .get("maxDuration")
        .and_then(Value::as_str)
        .ok_or("no maxDuration")?;
    let factor = input
        .get("factor")
        .and_then(Value::as_f64)
        .ok_or("no factor")?;
    let attempt = input
        .get("attempt")
        .and_then(Value::as_u64)
        .ok_or("no attempt")?;
    let attempt = u32::try_from(attempt).map_err(|e| e.to_string())?;
    let backoff = Backoff::parse(duration, factor, max).map_err(|e| e.to_string())?;
    let (delay, heal_now) = if input.get("kind").and_then(Value::as_str) == Some("self-heal") {
        let since = match input.get("finishedAt") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "now" => Some(Duration::ZERO),
            Some(Value::String(s)) => {
                let nanos = parse_go_duration(s).ok_or_else(|| format!("bad finishedAt {s}"))?;
                Some(Duration::from_nanos(
                    u64::try_from(-nanos)
                        .map_err(|_| format!("finishedAt {s} is in the future"))?,
                ))
            }
            Some(other) => return Err(format!("bad finishedAt {other}")),
        };
        let t = self_heal_remaining(&backoff, attempt, since);
        (t.remaining, Some(t.heal_now))
    } else {
        (sync_retry_delay(&backoff, attempt), None)
    };
    if let Some(want) = expected.get("delay_seconds") {
        let got = delay.as_secs_f64();
        if want.as_f64() != Some(got) {
            return Err(format!("delay_seconds: expected {want}, got {got}"));
        }
    }
    if let Some(want) = expected.get("self_heal_now") {
        let got = heal_now.ok_or("self_heal_now expected for a sync-retry case")?;
        if !json_eq(want, &Value::Bool(got)) {
            return Err(format!("self_heal_now: expected {want}, got {got}"));
        }
    }
    Ok(())
}

#[test]
fn conformance_drift() {
    run_cases(KINDS, |kind, case| {
        let input = case.get("input").cloned().unwrap_or(Value::Null);
        let expected = case
            .get("expected")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        match kind {
            "diff" => run_diff(&input, &expected),
            "normalize" => run_normalize(&input, &expected),
            _ => run_backoff(&input, &expected),
        }
    });
}
