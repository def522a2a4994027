//! Strata's Helm renderer against the real `helm template` (built once from the Go module
//! proxy at the pinned version, or `$HELM`): each chart of `tests/helm_charts/` with its default
//! values and further value sets. The object sets must be equal after sorting (and Helm's order
//! of kinds kept), both must fail, or Strata must refuse with a named unsupported feature —
//! each case says which it expects.

use std::path::{Path, PathBuf};

use serde_json::Value;
use strata_core::source::FsTree;
use strata_sources::helm::{self, HelmError, HelmOptions, Parameter, UnsupportedFeature};
use strata_testkube::helm::{TemplateArgs, ensure, template};

const RELEASE: &str = "shop";
const NAMESPACE: &str = "shop-ns";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Both render the same objects.
    Equal,
    /// Both fail (Strata with the given error kind).
    BothFail,
    /// Helm renders, Strata refuses by name.
    Refused,
}

struct Case {
    chart: &'static str,
    values: &'static [&'static str],
    set: &'static [(&'static str, &'static str)],
    expect: Expect,
}

const CASES: &[Case] = &[
    Case {
        chart: "webapp",
        values: &[],
        set: &[],
        expect: Expect::Equal,
    },
    Case {
        chart: "webapp",
        values: &["values/staging.yaml"],
        set: &[],
        expect: Expect::Equal,
    },
    Case {
        chart: "webapp",
        values: &["values/prod.yaml"],
        set: &[("image.tag", "3.0.1"), ("sessions.replicas", "2")],
        expect: Expect::Equal,
    },
    Case {
        chart: "webapp",
        values: &[],
        set: &[("replicaCount", "many")],
        expect: Expect::BothFail,
    },
    Case {
        chart: "legacy",
        values: &[],
        set: &[],
        expect: Expect::Equal,
    },
    Case {
        chart: "legacy",
        values: &["ci/server.yaml"],
        set: &[],
        expect: Expect::Equal,
    },
    Case {
        chart: "legacy",
        values: &["ci/no-owner.yaml"],
        set: &[],
        expect: Expect::BothFail,
    },
    Case {
        chart: "legacy",
        values: &["ci/bad-mode.yaml"],
        set: &[],
        expect: Expect::BothFail,
    },
    Case {
        chart: "generated",
        values: &[],
        set: &[],
        expect: Expect::Refused,
    },
    // Go evaluates `default (randAlphaNum 16)`'s argument even when the default is not used.
    Case {
        chart: "generated",
        values: &[],
        set: &[("password", "fixed")],
        expect: Expect::Refused,
    },
];

fn charts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm_charts")
}

fn options(case: &Case) -> HelmOptions {
    let mut options = HelmOptions::new(RELEASE, NAMESPACE);
    for file in case.values {
        let path = charts_dir().join(case.chart).join(file);
        let text = std::fs::read_to_string(&path).expect("values file");
        options.value_files.push(((*file).to_string(), text));
    }
    options.parameters = case
        .set
        .iter()
        .map(|(k, v)| Parameter {
            name: (*k).to_string(),
            value: (*v).to_string(),
            force_string: false,
        })
        .collect();
    options
}

/// `helm template`'s objects in output order.
fn helm_objects(stdout: &str) -> Vec<Value> {
    strata_core::yaml::documents(stdout)
        .into_iter()
        .filter(|d| !d.is_blank())
        .map(|d| strata_core::yaml::from_str::<Value>(&d.text).expect("helm printed YAML"))
        .filter(|v| !v.is_null())
        .map(|v| strata_gotemplate::value::normalized(&v))
        .collect()
}

fn id(v: &Value) -> String {
    format!(
        "{}/{}",
        v.get("kind").and_then(Value::as_str).unwrap_or(""),
        v.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    )
}

fn sorted(objects: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = objects
        .iter()
        .map(|o| serde_json::to_string_pretty(o).expect("json"))
        .collect();
    v.sort();
    v
}

fn case_name(case: &Case) -> String {
    let sets: Vec<String> = case.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{} [{}] [{}]",
        case.chart,
        case.values.join(","),
        sets.join(",")
    )
}

#[test]
fn charts_render_as_helm_template_does() {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let tree = FsTree::new(charts_dir());
    let (mut equal, mut both_fail, mut refused) = (0, 0, 0);
    for case in CASES {
        let name = case_name(case);
        let args = TemplateArgs::new(RELEASE)
            .with_namespace(NAMESPACE)
            .with_value_files(
                case.values
                    .iter()
                    .map(|f| charts_dir().join(case.chart).join(f))
                    .collect(),
            )
            .with_set(case.set.iter().map(|(k, v)| format!("{k}={v}")).collect());
        let helm_out = template(&program, &charts_dir().join(case.chart), &args).expect("helm ran");
        let strata_out = helm::render(&tree, case.chart, &options(case));
        match (case.expect, helm_out, strata_out) {
            (Expect::Equal, Ok(stdout), Ok(manifests)) => {
                let expected = helm_objects(&stdout);
                let actual: Vec<Value> = manifests
                    .iter()
                    .map(|m| strata_gotemplate::value::normalized(&m.object))
                    .collect();
                let (e, a) = (sorted(&expected), sorted(&actual));
                for (x, y) in e.iter().zip(a.iter()) {
                    assert_eq!(x, y, "{name}: first differing object");
                }
                assert_eq!(e.len(), a.len(), "{name}: object counts");
                let order = |v: &[Value]| v.iter().map(id).collect::<Vec<_>>();
                assert_eq!(order(&actual), order(&expected), "{name}: Helm's order");
                equal += 1;
            }
            (Expect::BothFail, Err(helm_error), Err(strata_error)) => {
                eprintln!("{name}: helm: {helm_error}\n{name}: strata: {strata_error}");
                both_fail += 1;
            }
            (Expect::Refused, Ok(_), Err(HelmError::Unsupported { feature, .. })) => {
                eprintln!("{name}: refused: {feature}");
                refused += 1;
            }
            (expect, helm_out, strata_out) => panic!(
                "{name}: expected {expect:?}; helm: {:?}; strata: {:?}",
                helm_out.map(|s| s.len()),
                strata_out.map(|m| m.len())
            ),
        }
    }
    eprintln!(
        "helm template comparison: {equal} equal, {both_fail} failing in both, {refused} refused by name"
    );
    assert_eq!((equal, both_fail, refused), (5, 3, 2));
}

#[test]
fn a_required_value_is_named_with_chart_file_and_line() {
    let tree = FsTree::new(charts_dir());
    let mut options = HelmOptions::new(RELEASE, NAMESPACE);
    options.values = Some(serde_json::json!({"owner": ""}));
    let err = helm::render(&tree, "legacy", &options).expect_err("required");
    match &err {
        HelmError::Stopped {
            chart,
            file,
            line,
            message,
            ..
        } => {
            assert_eq!(chart, "legacy");
            assert_eq!(file, "legacy/templates/workers.yaml");
            assert_eq!(*line, 11);
            assert_eq!(message, "owner is required");
        }
        other => panic!("expected Stopped, got {other}"),
    }
}

#[test]
fn a_random_function_is_refused_by_name() {
    let tree = FsTree::new(charts_dir());
    let err = helm::render(&tree, "generated", &HelmOptions::new(RELEASE, NAMESPACE))
        .expect_err("refused");
    match err {
        HelmError::Unsupported {
            feature: UnsupportedFeature::Function { function, .. },
            chart,
        } => {
            assert_eq!(function, "randAlphaNum");
            assert_eq!(chart, "generated");
        }
        other => panic!("expected Unsupported, got {other}"),
    }
}

#[test]
fn a_schema_violation_names_the_chart_and_field() {
    let tree = FsTree::new(charts_dir());
    let mut options = HelmOptions::new(RELEASE, NAMESPACE);
    options.values = Some(serde_json::json!({"service": {"type": "Mesh"}}));
    let err = helm::render(&tree, "webapp", &options).expect_err("schema");
    let text = err.to_string();
    assert!(matches!(err, HelmError::Schema { .. }), "{text}");
    assert!(
        text.contains("webapp") && text.contains("/service/type"),
        "{text}"
    );
}

#[test]
fn hooks_are_kept_and_mapped_to_argocd_phases() {
    use strata_core::sync::hooks::SyncPhase;
    let tree = FsTree::new(charts_dir());
    let manifests =
        helm::render(&tree, "webapp", &HelmOptions::new(RELEASE, NAMESPACE)).expect("rendered");
    let phases = |name: &str| {
        manifests
            .iter()
            .find(|m| m.object.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
            .map(|m| (m.hook, m.sync_phases()))
    };
    assert_eq!(
        phases("shop-webapp-migrate"),
        Some((true, vec![SyncPhase::PreSync]))
    );
    assert_eq!(
        phases("shop-webapp-migrated"),
        Some((true, vec![SyncPhase::PostSync]))
    );
    // A test hook is rendered (as helm template does) but ArgoCD never runs it.
    assert_eq!(phases("shop-webapp-test-connection"), Some((true, vec![])));
    // crd-install is no Helm 3 hook: Helm leaves the object out.
    assert_eq!(phases("shop-webapp-crd-install"), None);
    assert_eq!(phases("shop-webapp"), Some((false, vec![SyncPhase::Sync])));
    // CRDs first, parent chart then subchart.
    assert!(manifests[0].crd && manifests[1].crd);
    assert_eq!(manifests[0].source, "webapp/crds/widgets.yaml");
    assert_eq!(
        manifests[1].source,
        "webapp/charts/cache/crds/snapshots.yaml"
    );
}

/// A one-template chart `c` whose `values.schema.json` is `schema`.
fn chart_with_schema(schema: &str) -> strata_core::source::MemoryTree {
    strata_core::source::MemoryTree::new()
        .with_file("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n")
        .with_file("c/values.yaml", "replicas: 2\nname: web\n")
        .with_file(
            "c/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n",
        )
        .with_file("c/values.schema.json", schema)
}

#[test]
fn a_schema_its_meta_schema_refuses_is_refused_with_the_reason() {
    let options = HelmOptions::new(RELEASE, NAMESPACE);
    for (schema, reason) in [
        (r#"{"type": 5}"#, "anyOf"),
        (
            r#"{"$schema": "http://json-schema.org/draft-07/schema#", "required": "name"}"#,
            r#""name" is not of type "array""#,
        ),
        (
            r#"{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"name": {"pattern": "("}}}"#,
            r#""(" is not a "regex""#,
        ),
        (
            r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "minItems": -1}"#,
            "-1 is less than the minimum of 0",
        ),
        (
            r#"{"$schema": "http://json-schema.org/draft-04/schema#", "properties": {"replicas": {"exclusiveMinimum": 1}}}"#,
            "values.schema.json",
        ),
        (r#"{"allOf": []}"#, "[] has less than 1 item"),
    ] {
        let err = helm::render(&chart_with_schema(schema), "c", &options).expect_err(schema);
        let text = err.to_string();
        assert!(
            matches!(err, HelmError::InvalidSchema { .. }),
            "{schema}: {text}"
        );
        assert!(text.contains(reason), "{schema}: {text}");
    }
}

#[test]
fn values_are_checked_against_a_valid_schema_of_each_draft() {
    let options = HelmOptions::new(RELEASE, NAMESPACE);
    for dialect in [
        "",
        r#""$schema": "http://json-schema.org/draft-04/schema#","#,
        r#""$schema": "http://json-schema.org/draft-07/schema#","#,
        r#""$schema": "https://json-schema.org/draft/2019-09/schema","#,
        r#""$schema": "https://json-schema.org/draft/2020-12/schema","#,
    ] {
        let valid = format!(
            r#"{{{dialect} "type": "object", "required": ["name"], "properties": {{"name": {{"type": "string", "pattern": "^[a-z]+$"}}, "replicas": {{"type": "integer", "minimum": 1}}}}}}"#
        );
        let rendered = helm::render(&chart_with_schema(&valid), "c", &options);
        assert!(rendered.is_ok(), "{valid}: {rendered:?}");
        let refusing = valid.replace(r#""minimum": 1"#, r#""minimum": 3"#);
        let err = helm::render(&chart_with_schema(&refusing), "c", &options).expect_err(&refusing);
        assert!(matches!(err, HelmError::Schema { .. }), "{refusing}: {err}");
        assert!(err.to_string().contains("/replicas"), "{refusing}: {err}");
    }
}

/// `random-tests` calls random, clock and certificate functions only in its test hooks (a
/// Pod named with `randAlphaNum`, a `genCA` certificate, `now`; a `test-success` Pod named
/// with `uuidv4`). Rendered for an Application (whose ArgoCD never applies test hooks), its
/// kept objects are Helm's; `helm template` equality (the default) still refuses the chart.
#[test]
fn random_output_only_in_test_hooks_is_left_out_with_them() {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let stdout = template(
        &program,
        &charts_dir().join("random-tests"),
        &TemplateArgs::new(RELEASE).with_namespace(NAMESPACE),
    )
    .expect("helm ran")
    .expect("helm rendered");
    let kept: Vec<Value> = helm_objects(&stdout)
        .into_iter()
        .filter(|o| o.pointer("/metadata/annotations/helm.sh~1hook").is_none())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let tree = FsTree::new(charts_dir());
    let options = HelmOptions::new(RELEASE, NAMESPACE).with_unapplied_hooks_may_be_random(true);
    let manifests = helm::render(&tree, "random-tests", &options).expect("rendered");
    let objects: Vec<Value> = manifests
        .iter()
        .map(|m| strata_gotemplate::value::normalized(&m.object))
        .collect();
    assert_eq!(sorted(&objects), sorted(&kept));
    let err = helm::render(&tree, "random-tests", &HelmOptions::new(RELEASE, NAMESPACE))
        .expect_err("helm template equality refuses random output");
    assert!(err.to_string().contains("genCA"), "{err}");
}

/// Random output that reaches an object ArgoCD applies is refused, naming the random call:
/// written in a kept ConfigMap, or `set` into the values by a test hook (rendered first)
/// and read, through `default` and `b64enc`, by a kept Secret.
#[test]
fn random_output_in_a_kept_object_is_refused() {
    let tree = FsTree::new(charts_dir());
    for (value, file) in [
        ("randomInKept", "random-tests/templates/configmap.yaml"),
        ("leak", "random-tests/templates/tests/seed.yaml"),
    ] {
        let mut options =
            HelmOptions::new(RELEASE, NAMESPACE).with_unapplied_hooks_may_be_random(true);
        options.values = Some(serde_json::json!({ value: true }));
        let err = helm::render(&tree, "random-tests", &options).expect_err("refused");
        match &err {
            HelmError::Unsupported {
                feature:
                    UnsupportedFeature::Function {
                        function, file: at, ..
                    },
                ..
            } => {
                assert_eq!(function, "randAlphaNum", "{err}");
                assert_eq!(at, file, "{err}");
            }
            other => panic!("{value}: expected Unsupported, got {other}"),
        }
    }
}

/// `chart` of `tests/helm_charts` and an Application rendering it (with `values`), in one tree.
fn application_tree(chart: &str, values: &str) -> strata_core::source::MemoryTree {
    fn add(
        tree: strata_core::source::MemoryTree,
        dir: &Path,
        rel: &str,
    ) -> strata_core::source::MemoryTree {
        let mut tree = tree;
        for entry in std::fs::read_dir(dir).expect("chart directory") {
            let entry = entry.expect("entry");
            let name = format!("{rel}/{}", entry.file_name().to_string_lossy());
            if entry.file_type().expect("type").is_dir() {
                tree = add(tree, &entry.path(), &name);
            } else {
                tree = tree.with_file(&name, std::fs::read(entry.path()).expect("file"));
            }
        }
        tree
    }
    let app = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop\nspec:\n  source:\n    repoURL: https://example.com/r.git\n    path: {chart}\n    helm:\n      values: |\n        {values}\n  destination:\n    namespace: {NAMESPACE}\n"
    );
    add(
        strata_core::source::MemoryTree::new(),
        &charts_dir().join(chart),
        chart,
    )
    .with_file("apps/shop.yaml", app)
}

/// An Application of `random-tests` (as ArgoCD renders it, its test hooks never applied)
/// holds the chart's ConfigMap and Secret; with a random value in the ConfigMap it is
/// refused, naming the function.
#[test]
fn an_application_leaves_out_test_hooks_holding_random_output() {
    use strata_sources::application::{ExpandOptions, expand};
    let out = expand(
        std::sync::Arc::new(application_tree("random-tests", "{}")),
        "apps",
        &ExpandOptions::default(),
    )
    .expect("expanded");
    let kinds: Vec<String> = out
        .resources
        .iter()
        .map(|r| format!("{}/{}", r.key.kind, r.key.name))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(
        kinds.contains(&"ConfigMap/shop-config".to_string()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"Secret/shop-secret".to_string()),
        "{kinds:?}"
    );
    let err = expand(
        std::sync::Arc::new(application_tree("random-tests", "{randomInKept: true}")),
        "apps",
        &ExpandOptions::default(),
    )
    .expect_err("refused");
    assert!(err.to_string().contains("randAlphaNum"), "{err}");
}
