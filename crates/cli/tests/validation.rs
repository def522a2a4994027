//! Validation before planning: typos a real provider or API server would refuse are refused
//! with the field named, every problem at once, and nothing applied.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const BUCKET: &str = "apiVersion: s3.aws.upbound.io/v1beta1
kind: Bucket
metadata:
  name: assets
spec:
  forProvider:
    region: eu-west-1
";

fn stack(root: &Path, extra: &str) -> PathBuf {
    let dir = root.join("typos");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bucket.yaml"), format!("{BUCKET}---\n{extra}")).unwrap();
    dir
}

fn refused(dir: &Path, expected: &[&str]) {
    let plan = strata(&["plan", s(dir)]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    let err = String::from_utf8_lossy(&plan.stderr);
    for e in expected {
        assert!(err.contains(e), "missing {e:?} in {}", text(&plan));
    }
    assert!(
        err.contains("bucket.yaml (document "),
        "the file is named: {err}"
    );
    let apply = strata(&["apply", s(dir), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(1), "{}", text(&apply));
    assert!(
        !dir.join(".strata/sandbox/s3.aws.upbound.io").exists(),
        "nothing applied"
    );
}

#[test]
fn a_misspelt_kind_is_refused_not_planned_beside_a_deletion() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "apiVersion: s3.aws.upbound.io/v1beta1\nkind: BucketVersoning\nmetadata:\n  name: v\nspec:\n  forProvider:\n    region: eu-west-1\n    bucketRef:\n      name: assets\n    versioningConfiguration:\n      - status: Enabled\n",
    );
    refused(
        &dir,
        &[
            "s3.aws.upbound.io/BucketVersoning/v: kind: no schema and no provider for kind BucketVersoning in group s3.aws.upbound.io; did you mean BucketVersioning?",
        ],
    );
    // An explicit allow-list lets the sandbox take it unchecked.
    std::fs::write(
        dir.join("strata.yaml"),
        "sandbox:\n  allowKinds: [s3.aws.upbound.io/BucketVersoning]\n",
    )
    .unwrap();
    let plan = strata(&["plan", s(&dir)]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

#[test]
fn a_misspelt_spec_field_is_refused_not_planned_as_a_removal() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "apiVersion: rds.aws.upbound.io/v1beta1\nkind: SubnetGroup\nmetadata:\n  name: subnets\nspec:\n  forProvidr:\n    region: eu-west-1\n",
    );
    refused(
        &dir,
        &[
            "rds.aws.upbound.io/SubnetGroup/subnets: spec.forProvidr: unknown field; did you mean forProvider? (schema of the AWS provider)",
            "rds.aws.upbound.io/SubnetGroup/subnets: spec.forProvider: required field is missing (schema of the AWS provider)",
        ],
    );
}

#[test]
fn aws_fields_are_checked_against_the_aws_providers_schemas() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("typos");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bucket.yaml"),
        "apiVersion: s3.aws.upbound.io/v1beta1\nkind: Bucket\nmetadata:\n  name: assets\nspec:\n  forProvider:\n    region: eu-west-1\n    forceDestory: true\n---\napiVersion: s3.aws.upbound.io/v1beta1\nkind: BucketVersioning\nmetadata:\n  name: assets-versioning\nspec:\n  forProvider:\n    region: eu-west-1\n    bucketRef:\n      name: assets\n    versioningConfiguration:\n      - status: Enable\n",
    )
    .unwrap();
    refused(
        &dir,
        &[
            "s3.aws.upbound.io/Bucket/assets: spec.forProvider.forceDestory: unknown field; did you mean forceDestroy? (schema of the AWS provider)",
            "s3.aws.upbound.io/BucketVersioning/assets-versioning: spec.forProvider.versioningConfiguration[0].status: must be one of \"Enabled\", \"Suspended\", \"Disabled\", found \"Enable\"; did you mean \"Enabled\"? (schema of the AWS provider)",
        ],
    );
    assert!(!dir.join(".strata/state.json").exists(), "no state written");
}

#[test]
fn annotations_of_the_wrong_type_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\n  annotations:\n    strata.dev/depends-on: 5\n    strata.dev/protect: \"yes\"\n",
    );
    refused(
        &dir,
        &[
            r#"ConfigMap/default/c: metadata.annotations["strata.dev/depends-on"]: must be a string (quote it), found 5"#,
            r#"ConfigMap/default/c: metadata.annotations["strata.dev/protect"]: must be "true" or "false", found "yes""#,
        ],
    );
}

#[test]
fn validate_lists_every_problem_offline() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "apiVersion: s3.aws.upbound.io/v1beta1\nkind: BucketVersoning\nmetadata:\n  name: v\nspec:\n  forProvidr: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: default\n",
    );
    let out = strata(&["validate", s(&dir), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    let fields: Vec<&str> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["field"].as_str())
        .collect();
    assert_eq!(fields, ["kind", "spec.forProvidr", "spec.forProvider"]);
    assert_eq!(json["problems"].as_array().unwrap().len(), 4, "{json}");
    let human = strata(&["validate", s(&dir)]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("3 resources checked: 4 problems."),
        "{}",
        text(&human)
    );

    let clean = stack(&root.path().join("clean"), "");
    let out = strata(&["validate", s(&clean)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 resource checked: no problem."));
}

fn strata_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

const DEPLOYMENT_WITH_TYPOS: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: two
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - image: nginx
          imagePullPolcy: Always
          resources:
            limits: {cpu: lots}
";

#[test]
fn unknown_fields_and_wrong_types_of_built_in_kinds_are_refused_and_nothing_is_applied() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), DEPLOYMENT_WITH_TYPOS);
    refused(
        &dir,
        &[
            "apps/Deployment/shop/web: spec.replicas: must be an integer, found string \"two\" (schema of Kubernetes v1.35)",
            "apps/Deployment/shop/web: spec.template.spec.containers[0].imagePullPolcy: unknown field; did you mean imagePullPolicy?",
            "apps/Deployment/shop/web: spec.template.spec.containers[0].resources.limits.cpu: \"lots\" is not a quantity",
            "apps/Deployment/shop/web: spec.template.spec.containers[0].name: required field is missing",
        ],
    );
    assert!(
        !dir.join(".strata/sandbox/apps").exists(),
        "nothing applied"
    );
    assert!(!dir.join(".strata/sandbox/s3.aws.upbound.io").exists());
}

#[test]
fn custom_resources_are_checked_against_the_crds_of_the_stack() {
    let root = tempfile::tempdir().unwrap();
    let crd = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.org
spec:
  group: example.org
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 1}
                colour: {type: string, enum: [red, blue]}
";
    let widget = |spec: &str| {
        format!(
            "{crd}---\napiVersion: example.org/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\nspec:\n{spec}"
        )
    };
    let dir = stack(root.path(), &widget("  size: 0\n  color: red\n"));
    refused(
        &dir,
        &[
            "example.org/Widget/default/w: spec.size: must be greater than or equal to 1, found 0 (schema of CustomResourceDefinition widgets.example.org)",
            "example.org/Widget/default/w: spec.color: unknown field; did you mean colour?",
        ],
    );
    std::fs::write(
        dir.join("bucket.yaml"),
        format!("{BUCKET}---\n{}", widget("  size: 3\n  colour: red\n")),
    )
    .unwrap();
    let plan = strata(&["plan", s(&dir)]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("example.org/Widget/default/w"),
        "{}",
        text(&plan)
    );
    // A CRD version without a schema is refused itself.
    std::fs::write(
        dir.join("bucket.yaml"),
        format!(
            "{BUCKET}---\n{}",
            crd.split("      schema:").next().unwrap()
        ),
    )
    .unwrap();
    refused(
        &dir,
        &[
            "apiextensions.k8s.io/CustomResourceDefinition/widgets.example.org: spec.versions[0].schema.openAPIV3Schema: version v1 has no schema",
        ],
    );
}

#[test]
fn a_reference_to_nothing_is_refused_by_validate_and_plan() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(
        root.path(),
        "apiVersion: s3.aws.upbound.io/v1beta1\nkind: BucketVersioning\nmetadata:\n  name: v\nspec:\n  forProvider:\n    region: eu-west-1\n    bucketRef:\n      name: asets\n    versioningConfiguration:\n      - status: Enabled\n",
    );
    let out = strata(&["validate", s(&dir)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("spec.forProvider.bucketRef"), "{stdout}");
    assert!(stdout.contains("asets"), "{stdout}");
    let plan = strata(&["plan", s(&dir)]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    assert!(
        String::from_utf8_lossy(&plan.stderr).contains("spec.forProvider.bucketRef"),
        "{}",
        text(&plan)
    );
}

#[test]
fn validate_takes_files_and_standard_input_and_prints_json_for_ci() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("web.yaml");
    std::fs::write(
        &file,
        format!(
            "{DEPLOYMENT_WITH_TYPOS}---\napiVersion: v1\nkind: Servce\nmetadata:\n  name: web\n"
        ),
    )
    .unwrap();
    let good = root.path().join("good.yaml");
    std::fs::write(
        &good,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n",
    )
    .unwrap();
    let out = strata(&["validate", s(&good), s(&file), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["resources"], 3);
    let problems = json["problems"].as_array().unwrap();
    let found: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| {
            (
                p["resource"].as_str().unwrap(),
                p["field"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("apps/Deployment/shop/web", "spec.replicas"),
            (
                "apps/Deployment/shop/web",
                "spec.template.spec.containers[0].imagePullPolcy"
            ),
            (
                "apps/Deployment/shop/web",
                "spec.template.spec.containers[0].resources.limits.cpu"
            ),
            (
                "apps/Deployment/shop/web",
                "spec.template.spec.containers[0].name"
            ),
            ("Servce/web", "kind"),
        ]
    );
    for problem in problems {
        assert_eq!(problem["file"], s(&file));
    }
    assert_eq!(problems[4]["document"], 1);
    // Lines are those of the fields (a missing field: its parent's).
    let lines: Vec<u64> = problems
        .iter()
        .map(|p| p["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [7, 16, 18, 15, 21], "{json}");
    assert!(
        problems[4]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean Service?")
    );
    // Standard input, and a clean file: exit 0.
    let out = strata_stdin(&["validate", "-"], &std::fs::read_to_string(&good).unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 resource checked: no problem."));
    let out = strata_stdin(&["validate", "-", "-o", "json"], DEPLOYMENT_WITH_TYPOS);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["problems"][0]["file"], "-");
}
