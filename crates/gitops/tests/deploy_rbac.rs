//! The manifests of `deploy/` (repository root): every file parses, the Deployment passes only
//! flags `strata controller` takes, and — against a real kube-apiserver with RBAC — a
//! controller holding exactly the rights of `deploy/`'s Roles and bindings creates its CRDs,
//! syncs an Application into another namespace and writes its status, while it cannot grant
//! itself more. Without the workload wildcard, the explicit rules still let it read its
//! Applications and report the refusal on them.

#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, PostParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::*;

/// The namespace the manifests deploy to.
const NAMESPACE: &str = "strata-system";
/// The controller's ServiceAccount.
const ACCOUNT: &str = "strata-controller";

/// The flags `strata controller` takes (`crates/cli/src/args.rs`, `ControllerArgs`).
const FLAGS: &[&str] = &[
    "--context",
    "--git-root-revision",
    "--git-root-path",
    "--notifications-secret",
    "--workers",
    "--state-store",
    "--namespace",
    "--poll-interval",
    "--listen",
    "--repo-cache",
    "--git-root",
    "--notifications",
    "--webhook-secret-github",
    "--webhook-secret-gitlab",
    "--webhook-secret-harbor",
    "--leader-elect",
];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every YAML file of `deploy/` with its documents.
fn files() -> Vec<(String, Vec<Value>)> {
    let mut files: Vec<(String, Vec<Value>)> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let documents = strata_core::yaml::from_str_multiple::<Value>(&text)
                .unwrap_or_else(|e| panic!("deploy/{name} does not parse: {e}"));
            let documents = documents.into_iter().filter(|d| !d.is_null()).collect();
            (name, documents)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Every Kubernetes object of `deploy/` (the kustomization excluded).
fn objects() -> Vec<Value> {
    files()
        .into_iter()
        .filter(|(name, _)| name != "kustomization.yaml")
        .flat_map(|(_, documents)| documents)
        .collect()
}

fn of_kind(kind: &str) -> Vec<Value> {
    objects()
        .into_iter()
        .filter(|o| o["kind"] == kind)
        .collect()
}

fn the(kind: &str) -> Value {
    let mut found = of_kind(kind);
    assert_eq!(found.len(), 1, "deploy/ has one {kind}");
    found.remove(0)
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn every_manifest_parses_and_the_deployment_passes_only_controller_flags() {
    let files = files();
    assert!(
        files.len() >= 9,
        "deploy/ holds the manifest set: {files:?}"
    );

    // The kustomization lists exactly the other files.
    let (_, kustomization) = files
        .iter()
        .find(|(name, _)| name == "kustomization.yaml")
        .expect("deploy/kustomization.yaml");
    let listed: BTreeSet<&str> = strings(&kustomization[0]["resources"])
        .into_iter()
        .collect();
    let present: BTreeSet<&str> = files
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| *name != "kustomization.yaml")
        .collect();
    assert_eq!(listed, present);

    // Every object is whole, and every namespaced one is in strata-system.
    let cluster_scoped = ["Namespace", "ClusterRole", "ClusterRoleBinding"];
    for object in objects() {
        let what = format!("{} {}", object["kind"], object["metadata"]["name"]);
        assert!(object["apiVersion"].is_string(), "{what}: apiVersion");
        assert!(object["kind"].is_string(), "{what}: kind");
        assert!(object["metadata"]["name"].is_string(), "{what}: name");
        let kind = object["kind"].as_str().unwrap();
        if cluster_scoped.contains(&kind) {
            assert!(object["metadata"]["namespace"].is_null(), "{what}");
        } else {
            assert_eq!(object["metadata"]["namespace"], NAMESPACE, "{what}");
        }
    }
    assert_eq!(the("Namespace")["metadata"]["name"], NAMESPACE);
    assert_eq!(the("ServiceAccount")["metadata"]["name"], ACCOUNT);

    // The Deployment runs `strata controller` with its flags only.
    let deployment = the("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], ACCOUNT);
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let args = strings(&container["args"]);
    assert_eq!(args.first(), Some(&"controller"), "{args:?}");
    let mut flags = BTreeSet::new();
    for arg in &args[1..] {
        let flag = arg.split('=').next().unwrap();
        assert!(
            FLAGS.contains(&flag),
            "the Deployment passes {arg}, which `strata controller` does not take"
        );
        assert!(
            !flag.starts_with("--webhook-secret"),
            "webhook secrets come from the environment, not args"
        );
        flags.insert(flag);
    }
    assert!(args.contains(&"--namespace=strata-system"), "{args:?}");
    assert!(args.contains(&"--listen=0.0.0.0:8080"), "{args:?}");
    assert!(flags.contains("--leader-elect"), "{args:?}");

    // Probes on the HTTP port, 8080.
    let port = &container["ports"][0];
    assert_eq!(port["containerPort"], 8080);
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert!(
            get["port"] == port["name"] || get["port"] == 8080,
            "{probe} on port 8080"
        );
    }
    assert!(container["resources"]["requests"].is_object());
    assert!(container["resources"]["limits"]["memory"].is_string());

    // Non-root on a read-only root filesystem; the repository cache is an emptyDir.
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(
        container["securityContext"]["runAsNonRoot"] == true
            || pod["securityContext"]["runAsNonRoot"] == true
    );
    let cache = args
        .iter()
        .find_map(|a| a.strip_prefix("--repo-cache="))
        .expect("--repo-cache");
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| cache.starts_with(m["mountPath"].as_str().unwrap()))
        .expect("the repository cache is on a mounted volume");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert!(volume["emptyDir"].is_object(), "{volume}");

    // The Service: port 8080 for webhooks and metrics, scraped by Prometheus.
    let service = the("Service");
    assert_eq!(service["metadata"]["name"], "strata-controller");
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    assert_eq!(service["spec"]["ports"][0]["name"], "http");
    let annotations = &service["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], "8080");
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    let labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    for (key, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(labels.get(key), Some(value), "the Service selects the pod");
    }
}

/// The RBAC objects of `deploy/`, moved to `namespace`: namespaced objects and binding
/// subjects into it, cluster-scoped names (and the roleRefs naming them) suffixed with it.
/// `keep_rule` chooses the ClusterRole rules kept.
fn rbac_for(namespace: &str, keep_rule: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut out = Vec::new();
    for mut object in objects() {
        let kind = object["kind"].as_str().unwrap().to_owned();
        if ![
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
        ]
        .contains(&kind.as_str())
        {
            continue;
        }
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        if kind.starts_with("Cluster") {
            object["metadata"]["name"] = json!(format!("{name}-{namespace}"));
        } else {
            assert_eq!(object["metadata"]["namespace"], NAMESPACE);
            object["metadata"]["namespace"] = json!(namespace);
        }
        if kind == "ClusterRole" {
            let rules = object["rules"].as_array().unwrap().clone();
            object["rules"] = json!(rules.into_iter().filter(&keep_rule).collect::<Vec<_>>());
        }
        if kind.ends_with("Binding") {
            if object["roleRef"]["kind"] == "ClusterRole" {
                let role = object["roleRef"]["name"].as_str().unwrap().to_owned();
                object["roleRef"]["name"] = json!(format!("{role}-{namespace}"));
            }
            for subject in object["subjects"].as_array_mut().unwrap() {
                assert_eq!(subject["kind"], "ServiceAccount");
                assert_eq!(subject["name"], ACCOUNT);
                assert_eq!(subject["namespace"], NAMESPACE);
                subject["namespace"] = json!(namespace);
            }
        }
        out.push(object);
    }
    let kinds: BTreeSet<String> = out
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "ServiceAccount"
        ]
    );
    out
}

async fn create<K>(api: Api<K>, object: &Value)
where
    K: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let typed: K = serde_json::from_value(object.clone()).unwrap();
    api.create(&PostParams::default(), &typed).await.unwrap();
}

/// Creates `objects` as the admin.
async fn apply(admin: &kube::Client, namespace: &str, objects: &[Value]) {
    for object in objects {
        let c = admin.clone();
        match object["kind"].as_str().unwrap() {
            "ServiceAccount" => {
                create(Api::<ServiceAccount>::namespaced(c, namespace), object).await
            }
            "Role" => create(Api::<Role>::namespaced(c, namespace), object).await,
            "RoleBinding" => create(Api::<RoleBinding>::namespaced(c, namespace), object).await,
            "ClusterRole" => create(Api::<ClusterRole>::all(c), object).await,
            "ClusterRoleBinding" => create(Api::<ClusterRoleBinding>::all(c), object).await,
            other => panic!("unexpected {other}"),
        }
    }
}

/// Whether the client's own identity may do `verb` on `resource` (`group`, `namespace`).
async fn can(
    client: &kube::Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> bool {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                namespace: namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    answer.status.unwrap().allowed
}

/// Waits until RBAC grants the controller what it needs at start (bindings reach the
/// authorizer's cache a moment after they are created).
async fn wait_for_rights(account: &kube::Client, namespace: &str) {
    eventually("the deployed rights to take effect", || async {
        (can(
            account,
            "create",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
        )
        .await
            && can(
                account,
                "watch",
                "argoproj.io",
                "applications",
                Some(namespace),
            )
            .await)
            .then_some(())
    })
    .await;
}

/// An Application's payload without a Deployment: ConfigMaps, a Service and a Role.
fn payload() -> Vec<(&'static str, String)> {
    vec![
        ("app/settings.yaml", config_map("settings", "1")),
        ("app/flags.yaml", config_map("flags", "on")),
        (
            "app/service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n"
                .to_owned(),
        ),
        (
            "app/role.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: config-reader\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"configmaps\"]\n    verbs: [\"get\", \"list\", \"watch\"]\n"
                .to_owned(),
        ),
    ]
}

fn messages(status: &Value) -> String {
    status["conditions"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| c["message"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn refused(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("403") || lower.contains("forbidden")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_controller_with_the_deployed_rights_syncs_and_cannot_grant_itself_more() {
    let admin = plane().client().await.unwrap();
    let control = plane().namespace(&admin, "deploy-system").await.unwrap();
    let target = plane().namespace(&admin, "deploy-apps").await.unwrap();
    apply(&admin, &control, &rbac_for(&control, |_| true)).await;
    let account = plane()
        .service_account_client(&admin, &control, ACCOUNT)
        .await
        .unwrap();
    wait_for_rights(&account, &control).await;

    // Rights the role deliberately lacks.
    for (verb, group, resource) in [
        ("escalate", "rbac.authorization.k8s.io", "clusterroles"),
        ("bind", "rbac.authorization.k8s.io", "clusterroles"),
        ("impersonate", "", "users"),
        ("impersonate", "", "serviceaccounts"),
        ("deletecollection", "", "secrets"),
    ] {
        assert!(
            !can(&account, verb, group, resource, Some(&target)).await,
            "the controller may {verb} {resource}"
        );
    }
    // So it cannot bind itself to cluster-admin.
    let promotion: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("promote-{control}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": control}]
    }))
    .unwrap();
    let error = Api::<ClusterRoleBinding>::all(account.clone())
        .create(&PostParams::default(), &promotion)
        .await
        .expect_err("binding cluster-admin must be refused");
    assert!(
        matches!(&error, kube::Error::Api(status) if status.code == 403),
        "{error}"
    );

    // The controller runs as the ServiceAccount; it creates the CRDs if no other test did.
    let files = payload();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let repo = Repo::new(&files);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&account, config(&control, &cache), cache);
    create_application(
        &admin,
        &control,
        &application(
            "deployed",
            &repo.url,
            "app",
            &target,
            json!({"automated": {"prune": true, "selfHeal": true}}),
        ),
    )
    .await;

    let status = eventually("Synced and Healthy on the Application", || async {
        let status = app_status(&admin, &control, "deployed").await;
        (status["sync"]["status"] == "Synced" && status["health"]["status"] == "Healthy")
            .then_some(status)
    })
    .await;
    assert!(!refused(&messages(&status)), "{status}");
    let operation = status["operationState"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(!refused(operation), "{status}");
    assert_eq!(status["operationState"]["phase"], "Succeeded", "{status}");
    let mut synced: Vec<String> = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["kind"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            )
        })
        .collect();
    synced.sort();
    assert_eq!(
        synced,
        [
            "ConfigMap/flags",
            "ConfigMap/settings",
            "Role/config-reader",
            "Service/web"
        ]
    );

    // The objects are there, as the admin sees them.
    assert_eq!(
        config_map_value(&admin, &target, "settings")
            .await
            .as_deref(),
        Some("1")
    );
    assert!(
        Api::<ConfigMap>::namespaced(admin.clone(), &target)
            .get_opt("flags")
            .await
            .unwrap()
            .is_some()
    );
    let service = Api::<Service>::namespaced(admin.clone(), &target)
        .get("web")
        .await
        .unwrap();
    assert_eq!(service.spec.unwrap().ports.unwrap()[0].port, 80);
    let role = Api::<Role>::namespaced(admin.clone(), &target)
        .get("config-reader")
        .await
        .unwrap();
    assert_eq!(
        role.rules.unwrap()[0].verbs,
        ["get", "list", "watch"].map(String::from)
    );

    // An edit is healed with the same rights (watch cluster-wide, patch).
    patch_config_map(&admin, &target, "settings", "edited").await;
    running.controller.refresh(Some("deployed"), false);
    eventually("the edit reverted", || async {
        (config_map_value(&admin, &target, "settings")
            .await
            .as_deref()
            == Some("1"))
        .then_some(())
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_workload_wildcard_the_controller_still_reports_on_its_applications() {
    let admin = plane().client().await.unwrap();
    let control = plane().namespace(&admin, "narrow-system").await.unwrap();
    let target = plane().namespace(&admin, "narrow-apps").await.unwrap();
    // Only the explicit rules: the CRDs, and role.yaml in the controller's namespace.
    let wildcard = |rule: &Value| strings(&rule["resources"]).contains(&"*");
    assert!(
        of_kind("ClusterRole")
            .iter()
            .flat_map(|r| r["rules"].as_array().unwrap().clone())
            .any(|r| wildcard(&r)),
        "clusterrole.yaml has the workload rule"
    );
    apply(&admin, &control, &rbac_for(&control, |r| !wildcard(r))).await;
    let account = plane()
        .service_account_client(&admin, &control, ACCOUNT)
        .await
        .unwrap();
    wait_for_rights(&account, &control).await;
    assert!(!can(&account, "get", "", "configmaps", Some(&target)).await);
    // Creating the CRDs is server-side apply: patch, and create for a new object (whichever
    // test's controller gets to create them, these rules must allow it).
    for verb in ["get", "create", "patch"] {
        assert!(
            can(
                &account,
                verb,
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                None
            )
            .await,
            "{verb} customresourcedefinitions"
        );
    }

    let files = payload();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let repo = Repo::new(&files);
    let cache = tempfile::tempdir().unwrap();
    let running = start(&account, config(&control, &cache), cache);
    create_application(
        &admin,
        &control,
        &application(
            "narrow",
            &repo.url,
            "app",
            &target,
            json!({"automated": {"prune": true, "selfHeal": true}}),
        ),
    )
    .await;

    // The Application was read (watch), its project looked up, and its status written (patch)
    // under the explicit rules; the destination refused the workloads.
    let status = eventually("a status naming the refusal", || async {
        let status = app_status(&admin, &control, "narrow").await;
        refused(&messages(&status)).then_some(status)
    })
    .await;
    assert_ne!(status["sync"]["status"], "Synced", "{status}");
    assert_eq!(config_map_value(&admin, &target, "settings").await, None);
    running.stop().await;
}
