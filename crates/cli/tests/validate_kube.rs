//! `strata validate --kube` against a real API server: the schemas of the CRDs installed in the
//! cluster check custom resources before anything is planned.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

fn strata(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", kubeconfig)
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

async fn install_gizmo_crd(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.validate.strata.test"},
        "spec": {"group": "validate.strata.test", "scope": "Namespaced",
                 "names": {"kind": "Gizmo", "plural": "gizmos", "singular": "gizmo", "listKind": "GizmoList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "required": ["size"], "properties": {
                       "size": {"type": "integer", "maximum": 10},
                       "mode": {"type": "string", "enum": ["fast", "slow"]}}}}}}}]}
    }))
    .unwrap();
    crds.patch(
        "gizmos.validate.strata.test",
        &PatchParams::apply("strata-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    for _ in 0..100 {
        let current = crds.get("gizmos.validate.strata.test").await.unwrap();
        let established = current
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the CRD was not established");
}

#[tokio::test(flavor = "multi_thread")]
async fn installed_crds_check_custom_resources_with_kube() {
    let plane = strata_testkube::shared();
    let client = plane.client().await.unwrap();
    install_gizmo_crd(&client).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gizmo.yaml");
    std::fs::write(
        &file,
        "apiVersion: validate.strata.test/v1\nkind: Gizmo\nmetadata:\n  name: g\n  namespace: default\nspec:\n  size: 12\n  mdoe: fast\n",
    )
    .unwrap();
    let kubeconfig = plane.kubeconfig_path();
    let out = strata(kubeconfig, &["validate", "--kube", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("validate.strata.test/Gizmo/default/g: spec.size: must be less than or equal to 10, found 12 (schema of CustomResourceDefinition gizmos.validate.strata.test (in the cluster))"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("spec.mdoe: unknown field; did you mean mode?"),
        "{}",
        text(&out)
    );
    // Offline, nothing knows the kind.
    let offline = strata(kubeconfig, &["validate", file.to_str().unwrap()]);
    assert_eq!(offline.status.code(), Some(1), "{}", text(&offline));
    assert!(
        String::from_utf8_lossy(&offline.stdout)
            .contains("no schema and no provider for kind Gizmo in group validate.strata.test"),
        "{}",
        text(&offline)
    );
    // A conforming object passes.
    std::fs::write(
        &file,
        "apiVersion: validate.strata.test/v1\nkind: Gizmo\nmetadata:\n  name: g\n  namespace: default\nspec:\n  size: 3\n  mode: fast\n",
    )
    .unwrap();
    let out = strata(kubeconfig, &["validate", "--kube", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
