//! Application expansion: child sets with destination namespaces and sync options, app of
//! apps with cycle detection and a depth limit, ApplicationSets, claims, and clear errors.

use std::sync::Arc;

use strata_core::source::{FsTree, MemoryTree};
use strata_sources::application::{ExpandError, ExpandOptions, expand};
use strata_sources::kustomize::{KustomizeError, build};

fn app(name: &str, path: &str, ns: &str, extra: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\nspec:\n  source:\n    repoURL: https://example.com/r.git\n    path: {path}\n  destination:\n    namespace: {ns}\n{extra}"
    )
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: '1'\n";

#[test]
fn child_sets_get_destination_namespace_and_create_namespace() {
    let tree = MemoryTree::new()
        .with_file(
            "apps/web.yaml",
            app(
                "web",
                "web",
                "web-prod",
                "  syncPolicy:\n    automated: {prune: true, selfHeal: true}\n    syncOptions: [CreateNamespace=true]\n  ignoreDifferences:\n  - group: apps\n    kind: Deployment\n    jsonPointers: [/spec/replicas]\n",
            ),
        )
        .with_file("web/cm.yaml", CM);
    let out = expand(Arc::new(tree), "apps", &ExpandOptions::default()).unwrap();
    let keys: Vec<String> = out.resources.iter().map(|r| r.key.to_string()).collect();
    assert_eq!(out.resources.len(), 2, "{keys:?}");
    assert_eq!(out.resources[0].key.namespace.as_deref(), Some("web-prod"));
    assert_eq!(out.resources[1].key.kind, "Namespace");
    assert_eq!(out.resources[1].key.name, "web-prod");
    let set = &out.applications[0];
    assert!(set.sync.prune && set.sync.self_heal && set.sync.create_namespace);
    assert_eq!(set.sync.ignore_differences.len(), 1);
    assert_eq!(set.resources.len(), 2);
    assert!(
        out.resources[0]
            .source
            .as_ref()
            .unwrap()
            .to_string()
            .contains("web/cm.yaml")
    );
}

#[test]
fn app_of_apps_recurses_and_detects_cycles() {
    let ok = MemoryTree::new()
        .with_file("root/root.yaml", app("root", "children", "argocd", ""))
        .with_file("children/child.yaml", app("child", "child", "team", ""))
        .with_file("child/cm.yaml", CM);
    let out = expand(Arc::new(ok), "", &ExpandOptions::default()).unwrap();
    assert_eq!(out.applications.len(), 2);
    assert_eq!(out.applications[1].parent.as_deref(), Some("root"));
    assert_eq!(out.resources.len(), 1);

    let cyclic = MemoryTree::new()
        .with_file("entry/a.yaml", app("a", "b", "x", ""))
        .with_file("b/b.yaml", app("b", "c", "x", ""))
        .with_file("c/a.yaml", app("a", "b", "x", ""));
    let err = expand(Arc::new(cyclic), "entry", &ExpandOptions::default()).unwrap_err();
    assert!(matches!(err, ExpandError::Cycle(_)), "{err}");
    assert_eq!(err.to_string(), "Application cycle: a -> b -> a");
}

#[test]
fn depth_limit_stops_runaway_nesting() {
    let mut tree = MemoryTree::new();
    for i in 0..5 {
        tree.insert(
            &format!("l{i}/app.yaml"),
            app(&format!("a{i}"), &format!("l{}", i + 1), "x", ""),
        );
    }
    tree.insert("l5/cm.yaml", CM);
    let options = ExpandOptions::default().with_max_depth(3);
    let err = expand(Arc::new(tree.clone()), "l0", &options).unwrap_err();
    assert!(
        matches!(err, ExpandError::TooDeep { limit: 3, .. }),
        "{err}"
    );
    assert!(expand(Arc::new(tree), "l0", &ExpandOptions::default()).is_ok());
}

#[test]
fn unsupported_sources_and_fields_are_named() {
    let helm = MemoryTree::new()
        .with_file(
            "a/app.yaml",
            app("web", "chart", "x", "").replace(
                "    path: chart\n",
                "    path: chart\n    helm:\n      valueFiles: [v.yaml]\n",
            ),
        )
        .with_file("chart/cm.yaml", CM);
    let err = expand(Arc::new(helm), "a", &ExpandOptions::default())
        .unwrap_err()
        .to_string();
    // A Helm source needs a chart at its path.
    assert!(
        err.contains("Helm source") && err.contains("no Chart.yaml: not a Helm chart"),
        "{err}"
    );

    let k = MemoryTree::new().with_file("o/kustomization.yaml", "resources: []\nopenapi: {}\n");
    let err = build(&k, "o").unwrap_err();
    assert!(
        matches!(&err, KustomizeError::Unsupported { field, .. } if field == "openapi"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("unsupported kustomization field `openapi`")
    );
}

#[test]
fn the_seed_platform_expands_every_environment() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/platform");
    let out = expand(Arc::new(FsTree::new(&root)), "", &ExpandOptions::default()).unwrap();
    let names: Vec<&str> = out.applications.iter().map(|a| a.name.as_str()).collect();
    for expected in [
        "root",
        "payment-service-dev",
        "payment-service-staging",
        "payment-service-prod",
        "user-service-prod",
        "claims-dev",
        "claims-prod",
        "crossplane-compositions",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let count = |kind: &str| out.resources.iter().filter(|r| r.key.kind == kind).count();
    assert_eq!(count("Deployment"), 6);
    assert_eq!(
        count("Instance"),
        3,
        "one RDS instance per environment from the claims"
    );
    assert_eq!(
        count("PostgreSQLInstance"),
        0,
        "claims are rendered, not applied"
    );
    let prod_image = out
        .resources
        .iter()
        .find(|r| {
            r.key.kind == "Deployment" && r.key.namespace.as_deref() == Some("payment-service-prod")
        })
        .and_then(|r| {
            r.manifest
                .pointer("/spec/template/spec/containers/0/image")
                .cloned()
        });
    assert_eq!(
        prod_image,
        Some(serde_json::json!("ghcr.io/org/payment-service:def4567"))
    );
}

#[test]
fn a_stack_s_environment_configs_feed_the_compositions_of_its_claims() {
    let composition = "apiVersion: apiextensions.crossplane.io/v1\nkind: Composition\nmetadata:\n  name: xbuckets.example.org\nspec:\n  compositeTypeRef:\n    apiVersion: example.org/v1\n    kind: XBucket\n  mode: Pipeline\n  pipeline:\n    - step: environment\n      functionRef:\n        name: function-environment-configs\n      input:\n        apiVersion: environmentconfigs.fn.crossplane.io/v1beta1\n        kind: Input\n        spec:\n          environmentConfigs:\n            - ref:\n                name: shared\n    - step: bucket\n      functionRef:\n        name: function-patch-and-transform\n      input:\n        apiVersion: pt.fn.crossplane.io/v1beta1\n        kind: Resources\n        resources:\n          - name: bucket\n            base:\n              apiVersion: s3.aws.upbound.io/v1beta1\n              kind: Bucket\n              metadata:\n                name: logs\n              spec:\n                forProvider: {}\n            patches:\n              - type: FromEnvironmentFieldPath\n                fromFieldPath: region\n                toFieldPath: spec.forProvider.region\n";
    let config = "apiVersion: apiextensions.crossplane.io/v1beta1\nkind: EnvironmentConfig\nmetadata:\n  name: shared\ndata:\n  region: eu-central-1\n";
    let xr = "apiVersion: example.org/v1\nkind: XBucket\nmetadata:\n  name: logs\n";
    let xrd = "apiVersion: apiextensions.crossplane.io/v1\nkind: CompositeResourceDefinition\nmetadata:\n  name: xbuckets.example.org\nspec:\n  group: example.org\n  names:\n    kind: XBucket\n    plural: xbuckets\n  versions:\n    - name: v1\n      served: true\n      referenceable: true\n      schema:\n        openAPIV3Schema:\n          type: object\n";
    let tree = MemoryTree::new()
        .with_file("platform/composition.yaml", composition)
        .with_file("platform/xrd.yaml", xrd)
        .with_file("platform/environment.yaml", config)
        .with_file("apps/xr.yaml", xr);
    let out = expand(Arc::new(tree), "", &ExpandOptions::default()).unwrap();
    let bucket = out
        .resources
        .iter()
        .find(|r| r.key.kind == "Bucket")
        .unwrap_or_else(|| panic!("no Bucket in {:?}", out.resources));
    assert_eq!(
        bucket.manifest["spec"]["forProvider"]["region"],
        serde_json::json!("eu-central-1")
    );
    assert!(
        out.resources
            .iter()
            .any(|r| r.key.kind == "EnvironmentConfig"),
        "the EnvironmentConfig is applied too"
    );

    let without = MemoryTree::new()
        .with_file("platform/composition.yaml", composition)
        .with_file("platform/xrd.yaml", xrd)
        .with_file("apps/xr.yaml", xr);
    let err = expand(Arc::new(without), "", &ExpandOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("apps/xr.yaml")
            && err.contains("Required environment config \"shared\" not found"),
        "{err}"
    );
}

/// A stack large enough to be parsed on several threads reports the first problem in file
/// order, whichever thread met it and whichever finished first, run after run.
#[test]
fn a_stack_parsed_in_parallel_reports_its_first_problem_by_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = |i: usize| dir.path().join(format!("stack-{i:02}.yaml"));
    for i in 0..40 {
        let text: String = (0..50)
            .map(|j| {
                format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}-{j}\ndata:\n  payload: \"{}\"\n",
                    "x".repeat(150)
                )
            })
            .collect();
        std::fs::write(file(i), text).unwrap();
    }
    let broken = |i: usize, text: &str| {
        let mut body = std::fs::read_to_string(file(i)).unwrap();
        body.push_str(text);
        std::fs::write(file(i), body).unwrap();
    };
    // Late in the set (the second thread's share): a document without a kind, then bad YAML.
    broken(33, "---\napiVersion: v1\nmetadata:\n  name: no-kind\n");
    broken(36, "---\nkind: [unclosed\n");
    let first_error = || {
        strata_sources::stack::load_stack(dir.path(), None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    for _ in 0..5 {
        let shown = first_error();
        assert!(shown.contains("stack-33.yaml"), "{shown}");
    }
    // An earlier syntax error (the first thread's share) comes first.
    broken(4, "---\nkind: [unclosed\n");
    for _ in 0..5 {
        let shown = first_error();
        assert!(shown.contains("stack-04.yaml"), "{shown}");
    }
}
