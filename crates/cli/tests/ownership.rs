//! Dual management with Terraform: a Terraform state's resources are refused by the plan
//! (unless adopted explicitly) and listed by `strata ownership`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn strata_env(args: &[&str], env: &[(&'static str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn strata(args: &[&str]) -> Output {
    strata_env(args, &[])
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn code(o: &Output, expected: i32) -> String {
    assert_eq!(o.status.code(), Some(expected), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform/infra.tfstate")
}

const STACK: &str = "\
apiVersion: s3.aws.upbound.io/v1beta1
kind: Bucket
metadata:
  name: assets
  annotations:
    crossplane.io/external-name: acme-payments-assets
spec:
  forProvider:
    region: eu-west-1
---
apiVersion: rds.aws.upbound.io/v1beta1
kind: Instance
metadata:
  name: payments-db
spec:
  forProvider:
    region: eu-west-1
    engine: postgres
    instanceClass: db.t3.small
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: payments-config
  namespace: payments
data:
  mode: live
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: controller
  namespace: ingress
  labels:
    app.kubernetes.io/instance: ingress-nginx
spec:
  selector:
    matchLabels: {app: controller}
  template:
    metadata:
      labels: {app: controller}
    spec:
      containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: only-strata
  namespace: payments
data:
  mode: live
";

fn stack(root: &Path) -> PathBuf {
    let dir = root.join("payments");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("stack.yaml"), STACK).unwrap();
    dir
}

#[test]
fn the_plan_refuses_what_terraform_manages_unless_adopted() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path());
    let out = code(&strata(&["plan", s(&dir), "--tfstate", s(&fixture())]), 1);
    for expected in [
        "s3.aws.upbound.io/Bucket/assets is also managed by S3 bucket acme-payments-assets as Terraform (aws_s3_bucket.assets in",
        "rds.aws.upbound.io/Instance/payments-db is also managed by RDS instance payments-db as Terraform (module.database.aws_db_instance.main[\"eu\"] in",
        "ConfigMap/payments/payments-config is also managed by Kubernetes object ConfigMap/payments/payments-config as Terraform (kubernetes_manifest.payments_config in",
        "apps/Deployment/ingress/controller is also managed by Helm release ingress/ingress-nginx as Terraform (helm_release.ingress in",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in {out}");
    }
    assert!(
        out.contains("Strata will not create it (one manager per resource)"),
        "{out}"
    );
    assert!(!out.contains("only-strata is also managed"), "{out}");
    let apply = strata(&[
        "apply",
        s(&dir),
        "--auto-approve",
        "--tfstate",
        s(&fixture()),
    ]);
    code(&apply, 1);
    assert!(
        !dir.join(".strata/sandbox/core/ConfigMap/payments/only-strata.json")
            .exists(),
        "nothing applied"
    );
    // Told explicitly, Strata takes them over.
    let adopted = code(
        &strata(&["plan", s(&dir), "--tfstate", s(&fixture()), "--adopt"]),
        0,
    );
    assert!(adopted.contains("Plan: 5 to add"), "{adopted}");
}

#[test]
fn the_ownership_report_lists_every_resource_with_two_managers() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path());
    let out = code(
        &strata(&[
            "ownership",
            s(&dir),
            "--tfstate",
            s(&fixture()),
            "--detailed-exitcode",
        ]),
        2,
    );
    assert!(
        out.contains("✗ S3 bucket acme-payments-assets: Strata s3.aws.upbound.io/Bucket/assets (in Git, not yet applied) and Terraform aws_s3_bucket.assets"),
        "{out}"
    );
    let json = code(
        &strata(&[
            "ownership",
            s(&dir),
            "--tfstate",
            s(&fixture()),
            "-o",
            "json",
        ]),
        0,
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows: Vec<(String, String)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["strata"].as_str().unwrap().to_owned(),
                r["terraform"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "s3.aws.upbound.io/Bucket/assets".into(),
                "aws_s3_bucket.assets".into()
            ),
            (
                "rds.aws.upbound.io/Instance/payments-db".into(),
                "module.database.aws_db_instance.main[\"eu\"]".into()
            ),
            (
                "ConfigMap/payments/payments-config".into(),
                "kubernetes_manifest.payments_config".into()
            ),
            (
                "apps/Deployment/ingress/controller".into(),
                "helm_release.ingress".into()
            ),
        ]
    );
    let markdown = code(
        &strata(&[
            "ownership",
            s(&dir),
            "--tfstate",
            s(&fixture()),
            "-o",
            "markdown",
        ]),
        0,
    );
    assert!(
        markdown.contains("#### Dual management: 4 resources"),
        "{markdown}"
    );

    // Without Terraform's resources, nothing is reported.
    std::fs::write(dir.join("stack.yaml"), STACK.split("---").last().unwrap()).unwrap();
    let clean = code(
        &strata(&[
            "ownership",
            s(&dir),
            "--tfstate",
            s(&fixture()),
            "--detailed-exitcode",
        ]),
        0,
    );
    assert!(
        clean.contains("No resource has two managers (7 Terraform resources compared)."),
        "{clean}"
    );
}

#[test]
fn the_configuration_names_states_and_bad_states_are_one_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path());
    std::fs::copy(fixture(), dir.join("infra.tfstate")).unwrap();
    std::fs::write(
        dir.join("strata.yaml"),
        "terraformStates: [infra.tfstate]\n",
    )
    .unwrap();
    let out = code(&strata(&["plan", s(&dir)]), 1);
    assert!(out.contains("is also managed by"), "{out}");

    std::fs::write(
        dir.join("strata.yaml"),
        "terraformStates: [missing.tfstate]\n",
    )
    .unwrap();
    let missing = strata(&["plan", s(&dir)]);
    code(&missing, 1);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("reading the Terraform state")
            && String::from_utf8_lossy(&missing.stderr).contains("missing.tfstate"),
        "{}",
        text(&missing)
    );
    std::fs::write(dir.join("old.tfstate"), r#"{"version": 3, "modules": []}"#).unwrap();
    let old = strata(&["plan", s(&dir), "--tfstate", s(&dir.join("old.tfstate"))]);
    code(&old, 1);
    assert!(
        String::from_utf8_lossy(&old.stderr)
            .contains("Terraform state format version 3; only version 4 is read"),
        "{}",
        text(&old)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terraform_state_in_s3_is_read_too() {
    let moto = strata_aws::testing::MotoServer::shared()
        .unwrap_or_else(|e| panic!("cannot start moto: {e}"));
    let s3 = moto.settings().load().await.s3(None);
    s3.create_bucket()
        .bucket("strata-tf-states")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("strata-tf-states")
        .key("infra/terraform.tfstate")
        .body(std::fs::read(fixture()).unwrap().into())
        .send()
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path());
    let env = moto.child_env();
    let out = strata_env(
        &[
            "ownership",
            s(&dir),
            "--tfstate",
            "s3://strata-tf-states/infra/terraform.tfstate",
            "--aws-endpoint",
            &moto.endpoint(),
            "--aws-region",
            "us-east-1",
            "--detailed-exitcode",
        ],
        &env,
    );
    let shown = code(&out, 2);
    assert!(
        shown.contains(
            "and Terraform aws_s3_bucket.assets (s3://strata-tf-states/infra/terraform.tfstate)"
        ),
        "{shown}"
    );
}
