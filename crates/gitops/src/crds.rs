//! The `argoproj.io` CRDs the controller reads (Application, AppProject, ApplicationSet),
//! created when the
//! cluster has none, so a cluster without ArgoCD can hold Applications. When ArgoCD's own
//! CRDs are installed they are used as they are.

use serde_json::{Value, json};
use strata_core::{Provider, Resource};
use strata_k8s::KubeProvider;

use crate::app::ARGO_GROUP;

fn crd(kind: &str, plural: &str, short: &[&str], columns: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{ARGO_GROUP}"),
                     "labels": {"app.kubernetes.io/part-of": "strata"}},
        "spec": {
            "group": ARGO_GROUP,
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural,
                      "singular": kind.to_lowercase(), "shortNames": short},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["metadata", "spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "operation": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }}
            }]
        }
    })
}

/// The CRDs of Application, AppProject and ApplicationSet, with ArgoCD's printer columns.
pub fn argo_crds() -> Vec<Value> {
    vec![
        crd(
            "Application",
            "applications",
            &["app", "apps"],
            json!([
                {"name": "Sync Status", "type": "string", "jsonPath": ".status.sync.status"},
                {"name": "Health Status", "type": "string", "jsonPath": ".status.health.status"},
                {"name": "Revision", "type": "string", "jsonPath": ".status.sync.revision", "priority": 10}
            ]),
        ),
        crd(
            "AppProject",
            "appprojects",
            &["appproj", "appprojs"],
            json!([]),
        ),
        crd(
            "ApplicationSet",
            "applicationsets",
            &["appset", "appsets"],
            json!([]),
        ),
    ]
}

/// Creates the Application, AppProject and ApplicationSet CRDs the cluster does not serve yet and waits until
/// they are served. Returns the names created.
pub async fn ensure_argo_crds(
    provider: &KubeProvider,
) -> Result<Vec<String>, strata_core::ProviderError> {
    let mut created = Vec::new();
    for manifest in argo_crds() {
        let kind = manifest
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if provider
            .resolve_if_served(&format!("{ARGO_GROUP}/v1alpha1"), &kind)
            .await?
            .is_some()
        {
            continue;
        }
        let resource = Resource::from_manifest(manifest)
            .map_err(|e| strata_core::ProviderError::final_from(e.to_string(), e))?;
        provider.create(&resource).await?;
        tracing::info!(crd = %resource.key.name, "created");
        created.push(resource.key.name.to_string());
    }
    Ok(created)
}
