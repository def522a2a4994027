//! Conformance harness for the `appset` cases of `tests/conformance/*.json` (ApplicationSet
//! generators and templating), following `tests/conformance/README.md`.

use std::sync::Arc;

use serde_json::{Map, Value};
use strata_core::source::{Entry, MemoryTree, SourceError, SourceOrigin, SourceTree};
use strata_sources::appset::{
    CLUSTER_SECRET_TYPE_LABEL, Cluster, GeneratorContext, ParamSet, RenderMode, StaticTrees,
    generate, generate_params, render_application,
};

#[path = "../../../tests/support/conformance.rs"]
mod support;
use support::{json_eq, run_cases};

/// Keys of `expected` that are never compared.
const INFORMATIVE: &[&str] = &[
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
];

/// Keys of `input` this harness understands.
const INPUT_KEYS: &[&str] = &[
    "goTemplate",
    "goTemplateOptions",
    "generators",
    "fixture_dirs",
    "fixture_files",
    "fixture_cluster_secrets",
    "template",
    "params",
    "syncPolicy",
    "templatePatch",
];

/// The repository of a case, as ArgoCD's tests mock its repo service: `fixture_files` are the
/// files, and the directory listing the git directories generator sees is exactly
/// `fixture_dirs`, in the order given, without the parents a checkout would also list (ArgoCD's
/// mocked `GetDirectories` returns `p1/app2` without `p1`, and the expected outputs depend
/// on it).
struct FixtureTree {
    files: MemoryTree,
    dirs: Vec<String>,
}

impl SourceTree for FixtureTree {
    fn origin(&self) -> &SourceOrigin {
        self.files.origin()
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError> {
        self.files.list(dir)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        self.files.read(path)
    }

    fn dirs(&self) -> Result<Vec<String>, SourceError> {
        Ok(self.dirs.clone())
    }
}

fn context(input: &Value) -> GeneratorContext {
    let dirs = input
        .get("fixture_dirs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    let mut files = MemoryTree::new();
    if let Some(fixture) = input.get("fixture_files").and_then(Value::as_object) {
        for (path, content) in fixture {
            files.insert(path, content.as_str().unwrap_or_default());
        }
    }
    let tree = FixtureTree { files, dirs };
    let mut clusters = Vec::new();
    for s in input
        .get("fixture_cluster_secrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let labels: std::collections::BTreeMap<String, String> = s
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        // Only secrets labelled as cluster secrets are cluster definitions.
        if labels.get(CLUSTER_SECRET_TYPE_LABEL).map(String::as_str) != Some("cluster") {
            continue;
        }
        let annotations = s
            .get("annotations")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let data = |k: &str| {
            s.get("data")
                .and_then(|d| d.get(k))
                .and_then(Value::as_str)
                .map(String::from)
        };
        clusters.push(Cluster {
            name: data("name").unwrap_or_default(),
            server: data("server").unwrap_or_default(),
            project: data("project"),
            labels,
            annotations,
        });
    }
    GeneratorContext::new()
        .with_clusters(clusters)
        .with_trees(Arc::new(StaticTrees::new().with_fallback(Arc::new(tree))))
}

/// Projects a rendered Application onto the keys an expected application lists.
fn project(app: &Value, expected: &Value) -> Result<Value, String> {
    let Some(exp) = expected.as_object() else {
        return Err(format!("expected application is not an object: {expected}"));
    };
    let mut out = Map::new();
    for key in exp.keys() {
        let v = match key.as_str() {
            "name" | "namespace" | "labels" | "annotations" | "finalizers" => {
                app["metadata"].get(key).cloned()
            }
            "metadata" | "spec" | "apiVersion" | "kind" => app.get(key).cloned(),
            other => return Err(format!("unknown key {other:?} in expected application")),
        };
        out.insert(key.clone(), v.unwrap_or(Value::Null));
    }
    Ok(Value::Object(out))
}

fn multiset_eq(a: &[Value], b: &[Value]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(
        |x| match (0..b.len()).find(|&i| !used[i] && json_eq(x, &b[i])) {
            Some(i) => {
                used[i] = true;
                true
            }
            None => false,
        },
    )
}

enum Outcome {
    Params(Vec<ParamSet>),
    Apps(Vec<Value>),
}

fn run(input: &Value, want_apps: bool) -> Result<Outcome, String> {
    let mode = RenderMode::from_spec(input).map_err(|e| e.to_string())?;
    if input.get("generators").is_none() {
        let template = input
            .get("template")
            .ok_or("case has neither generators nor template")?;
        let params: ParamSet = input
            .get("params")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let app = render_application(
            template,
            &params,
            mode,
            input.get("syncPolicy").filter(|v| !v.is_null()),
        )
        .map_err(|e| e.to_string())?;
        return Ok(Outcome::Apps(vec![app]));
    }
    let mut spec = Map::new();
    for k in [
        "goTemplate",
        "goTemplateOptions",
        "generators",
        "template",
        "syncPolicy",
        "templatePatch",
    ] {
        if let Some(v) = input.get(k) {
            spec.insert(k.to_string(), v.clone());
        }
    }
    let appset = serde_json::json!({ "spec": Value::Object(spec) });
    let ctx = context(input);
    if want_apps {
        generate(&appset, &ctx)
            .map(Outcome::Apps)
            .map_err(|e| e.to_string())
    } else {
        generate_params(&appset, &ctx)
            .map(Outcome::Params)
            .map_err(|e| e.to_string())
    }
}

fn check(case: &Value) -> Result<(), String> {
    let input = &case["input"];
    let expected = case["expected"]
        .as_object()
        .ok_or("expected is not an object")?;
    if let Some(obj) = input.as_object() {
        for k in obj.keys() {
            if !INPUT_KEYS.contains(&k.as_str()) {
                return Err(format!("unsupported input key {k:?}"));
            }
        }
    }
    for k in expected.keys() {
        if !INFORMATIVE.contains(&k.as_str())
            && !["params", "params_unordered", "applications", "error"].contains(&k.as_str())
        {
            return Err(format!("unknown expected key {k:?}"));
        }
    }
    let wants_error = expected
        .get("error")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || expected.contains_key("error_contains");
    let want_apps = expected.contains_key("applications");
    let result = run(input, want_apps);
    if wants_error {
        return match result {
            Ok(_) => Err("expected an error, got success".to_string()),
            Err(msg) => match expected.get("error_contains").and_then(Value::as_str) {
                Some(sub) if !msg.contains(sub) => {
                    Err(format!("error {msg:?} does not contain {sub:?}"))
                }
                _ => Ok(()),
            },
        };
    }
    let outcome = result?;
    let mut compared = 0;
    if let Some(want) = expected.get("params") {
        compared += 1;
        let Outcome::Params(got) = &outcome else {
            return Err("no params produced".into());
        };
        let got = Value::Array(got.iter().cloned().map(Value::Object).collect());
        if !json_eq(&got, want) {
            return Err(format!("params: got {got}, want {want}"));
        }
    }
    if let Some(want) = expected.get("params_unordered") {
        compared += 1;
        let Outcome::Params(got) = &outcome else {
            return Err("no params produced".into());
        };
        let got: Vec<Value> = got.iter().cloned().map(Value::Object).collect();
        let want = want.as_array().ok_or("params_unordered is not a list")?;
        if !multiset_eq(&got, want) {
            return Err(format!(
                "params_unordered: got {}, want {}",
                Value::Array(got.clone()),
                Value::Array(want.clone())
            ));
        }
    }
    if let Some(want) = expected.get("applications") {
        compared += 1;
        let Outcome::Apps(got) = &outcome else {
            return Err("no applications produced".into());
        };
        let want = want.as_array().ok_or("applications is not a list")?;
        if got.len() != want.len() {
            return Err(format!(
                "applications: got {} apps, want {}",
                got.len(),
                want.len()
            ));
        }
        for (g, w) in got.iter().zip(want) {
            let p = project(g, w)?;
            if !json_eq(&p, w) {
                return Err(format!("application: got {p}, want {w}"));
            }
        }
    }
    if compared == 0 {
        return Err("nothing to compare".to_string());
    }
    Ok(())
}

#[test]
fn appset_conformance() {
    run_cases(&["appset"], |_, case| check(case));
}
