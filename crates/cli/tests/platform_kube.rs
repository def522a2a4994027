//! The seed platform applied with `strata apply --kube` to a real kube-apiserver (with etcd,
//! started by `strata_testkube`), from the command line: what the cluster serves goes there,
//! the rest (AWS managed resources, the XRD and Composition) to the sandbox; then a re-plan
//! without changes, an image promotion that updates exactly one Deployment, and a manifest
//! removed from Git that `apply --prune` deletes, and nothing else.
//!
//! The claims are rendered by Strata into their composed resources, so no claim or composite
//! object is sent to the server and it needs no claim or composite CRDs. No kubelet or
//! controller manager runs: Deployments get no status (one sync step has no health gate to wait
//! on it), and no garbage collector finishes a foreground deletion, so the test removes the
//! `foregroundDeletion` finalizer of the pruned object as the collector would.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::time::Duration;

use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::json;

const CONTEXT: &str = "platform-e2e";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The shared control plane's admin kubeconfig, its context renamed to [`CONTEXT`] and no
/// current context: only `--context` selects it.
fn write_kubeconfig(dir: &Path) -> PathBuf {
    let plane = strata_testkube::shared();
    let text = std::fs::read_to_string(plane.kubeconfig_path()).unwrap();
    let renamed = text
        .replace(
            "contexts:\n- name: testkube\n",
            &format!("contexts:\n- name: {CONTEXT}\n"),
        )
        .replace("current-context: testkube\n", "");
    assert!(renamed.contains(&format!("- name: {CONTEXT}\n")), "{text}");
    assert!(!renamed.contains("current-context"), "{text}");
    let path = dir.join("kubeconfig");
    std::fs::write(&path, renamed).unwrap();
    path
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn strata(kubeconfig: &Path, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn expect(run: &Run, code: i32) {
    assert_eq!(
        run.code,
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}

/// `(address, provider, what)` of each change a human plan prints
/// (`  # <address> (<provider>) will be <what>`).
fn planned(stdout: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("  # ")?;
            let (address, rest) = rest.split_once(" (")?;
            let (provider, what) = rest.split_once(") will be ")?;
            Some((address.to_owned(), provider.to_owned(), what.to_owned()))
        })
        .collect();
    out.sort();
    out
}

/// What the server holds of the stack: `Kind/[namespace/]name` → `(resourceVersion, object)`
/// for every object labelled as the stack's, of the kinds the platform has.
async fn server_objects(client: &kube::Client) -> BTreeMap<String, (String, DynamicObject)> {
    let kinds = [
        ("", "v1", "Namespace", "namespaces"),
        ("", "v1", "ConfigMap", "configmaps"),
        ("", "v1", "Secret", "secrets"),
        ("", "v1", "Service", "services"),
        ("apps", "v1", "Deployment", "deployments"),
        (
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
        ),
    ];
    let mut out = BTreeMap::new();
    for (group, version, kind, plural) in kinds {
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let listed = api
            .list(&ListParams::default().labels("strata.dev/stack=platform"))
            .await
            .unwrap();
        for object in listed.items {
            let name = object.metadata.name.clone().unwrap();
            let key = match &object.metadata.namespace {
                Some(namespace) => format!("{kind}/{namespace}/{name}"),
                None => format!("{kind}/{name}"),
            };
            let version = object.metadata.resource_version.clone().unwrap();
            out.insert(key, (version, object));
        }
    }
    out
}

fn keys<V>(map: &BTreeMap<String, V>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

/// The objects the platform puts on the server, as [`server_objects`] names them.
const ON_THE_SERVER: [&str; 24] = [
    "ConfigMap/payment-service-dev/payment-service-config-26fkbm9tg6",
    "ConfigMap/payment-service-prod/payment-service-config-26fkbm9tg6",
    "ConfigMap/payment-service-staging/payment-service-config-26fkbm9tg6",
    "Deployment/payment-service-dev/payment-service",
    "Deployment/payment-service-prod/payment-service",
    "Deployment/payment-service-staging/payment-service",
    "Deployment/user-service-dev/development-user-service",
    "Deployment/user-service-prod/production-user-service",
    "Deployment/user-service-staging/staging-user-service",
    "Namespace/argocd",
    "Namespace/payment-service-dev",
    "Namespace/payment-service-prod",
    "Namespace/payment-service-staging",
    "Namespace/user-service-dev",
    "Namespace/user-service-prod",
    "Namespace/user-service-staging",
    "PodDisruptionBudget/payment-service-prod/payment-service",
    "Secret/payment-service-prod/payment-service-flags-t22872726d",
    "Service/payment-service-dev/payment-service",
    "Service/payment-service-prod/payment-service",
    "Service/payment-service-staging/payment-service",
    "Service/user-service-dev/development-user-service",
    "Service/user-service-prod/production-user-service",
    "Service/user-service-staging/staging-user-service",
];

/// What goes to the sandbox: the kinds the server does not serve.
const IN_THE_SANDBOX: [&str; 14] = [
    "apiextensions.crossplane.io/Composition/postgresql-aws",
    "apiextensions.crossplane.io/CompositeResourceDefinition/xpostgresqlinstances.database.company.io",
    "ec2.aws.upbound.io/SecurityGroup/payment-db-dev-ec72f4c300e6",
    "ec2.aws.upbound.io/SecurityGroup/payment-db-prod-ec72f4c300e6",
    "ec2.aws.upbound.io/SecurityGroup/payment-db-staging-ec72f4c300e6",
    "ec2.aws.upbound.io/SecurityGroupRule/payment-db-dev-8b234a67e5e3",
    "ec2.aws.upbound.io/SecurityGroupRule/payment-db-prod-8b234a67e5e3",
    "ec2.aws.upbound.io/SecurityGroupRule/payment-db-staging-8b234a67e5e3",
    "rds.aws.upbound.io/Instance/payment-db-dev-4fca9bf5f894",
    "rds.aws.upbound.io/Instance/payment-db-prod-4fca9bf5f894",
    "rds.aws.upbound.io/Instance/payment-db-staging-4fca9bf5f894",
    "rds.aws.upbound.io/SubnetGroup/payment-db-dev-subnet-group",
    "rds.aws.upbound.io/SubnetGroup/payment-db-prod-subnet-group",
    "rds.aws.upbound.io/SubnetGroup/payment-db-staging-subnet-group",
];

/// The plan address of an object [`server_objects`] names.
fn address(server_key: &str) -> String {
    let (kind, rest) = server_key.split_once('/').unwrap();
    match kind {
        "Deployment" => format!("apps/Deployment/{rest}"),
        "PodDisruptionBudget" => format!("policy/PodDisruptionBudget/{rest}"),
        _ => server_key.to_owned(),
    }
}

fn image_of(object: &DynamicObject) -> &str {
    object.data["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn the_platform_applies_to_a_real_api_server_then_updates_and_prunes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(tmp.path());
    let stack = tmp.path().join("platform");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/platform"),
        &stack,
    );
    let dir = stack.to_str().unwrap();
    let kube_flags = ["--kube", "--context", CONTEXT];
    let client = strata_testkube::shared().client().await.unwrap();
    assert_eq!(server_objects(&client).await.len(), 0);

    // Plan: what the server serves goes to it, the rest to the sandbox.
    let plan = strata(
        &kubeconfig,
        &[&["plan", dir, "--detailed-exitcode"], &kube_flags[..]].concat(),
    );
    expect(&plan, 2);
    let mut expected: Vec<(String, String, String)> = ON_THE_SERVER
        .iter()
        .map(|k| (address(k), "kubernetes".to_owned(), "created".to_owned()))
        .chain(
            IN_THE_SANDBOX
                .iter()
                .map(|a| ((*a).to_owned(), "sandbox".to_owned(), "created".to_owned())),
        )
        .collect();
    expected.sort();
    assert_eq!(planned(&plan.stdout), expected, "{}", plan.stdout);

    // Apply, then the server holds exactly the platform's Kubernetes objects.
    let apply = strata(
        &kubeconfig,
        &[&["apply", dir, "--auto-approve"], &kube_flags[..]].concat(),
    );
    expect(&apply, 0);
    assert!(
        apply
            .stdout
            .contains("Apply complete! Resources: 38 added, 0 changed, 0 destroyed."),
        "{}",
        apply.stdout
    );
    let applied = server_objects(&client).await;
    assert_eq!(keys(&applied), ON_THE_SERVER);
    let deployment = |objects: &BTreeMap<String, (String, DynamicObject)>, key: &str| {
        objects[&format!("Deployment/{key}")].1.clone()
    };
    assert_eq!(
        image_of(&deployment(
            &applied,
            "payment-service-staging/payment-service"
        )),
        "ghcr.io/org/payment-service:abc123f"
    );
    assert_eq!(
        applied["Namespace/payment-service-prod"]
            .1
            .metadata
            .labels
            .as_ref()
            .unwrap()["app.kubernetes.io/managed-by"],
        "strata"
    );

    // Nothing changed: the re-plan is empty.
    let again = strata(
        &kubeconfig,
        &[&["plan", dir, "--detailed-exitcode"], &kube_flags[..]].concat(),
    );
    expect(&again, 0);

    // Promote an image in the staging overlay: exactly that Deployment is updated.
    let overlay = stack.join("services/payment-service/overlays/staging/kustomization.yaml");
    let text = std::fs::read_to_string(&overlay).unwrap();
    assert!(text.contains("newTag: abc123f"), "{text}");
    std::fs::write(&overlay, text.replace("newTag: abc123f", "newTag: 2.0.0")).unwrap();
    let promote = strata(
        &kubeconfig,
        &[&["plan", dir, "--detailed-exitcode"], &kube_flags[..]].concat(),
    );
    expect(&promote, 2);
    assert_eq!(
        planned(&promote.stdout),
        [(
            "apps/Deployment/payment-service-staging/payment-service".to_owned(),
            "kubernetes".to_owned(),
            "updated in-place".to_owned()
        )],
        "{}",
        promote.stdout
    );
    let apply = strata(
        &kubeconfig,
        &[&["apply", dir, "--auto-approve"], &kube_flags[..]].concat(),
    );
    expect(&apply, 0);
    let promoted = server_objects(&client).await;
    assert_eq!(keys(&promoted), ON_THE_SERVER);
    let changed: Vec<&str> = promoted
        .iter()
        .filter(|(key, (version, _))| applied[*key].0 != *version)
        .map(|(key, _)| key.as_str())
        .collect();
    assert_eq!(
        changed,
        ["Deployment/payment-service-staging/payment-service"]
    );
    assert_eq!(
        image_of(&deployment(
            &promoted,
            "payment-service-staging/payment-service"
        )),
        "ghcr.io/org/payment-service:2.0.0"
    );
    assert_eq!(
        image_of(&deployment(
            &promoted,
            "payment-service-prod/payment-service"
        )),
        "ghcr.io/org/payment-service:def4567"
    );

    // Remove the production PodDisruptionBudget from Git: `apply --prune` deletes it, and
    // nothing else changes on the server.
    let production = stack.join("services/payment-service/overlays/production");
    let kustomization = production.join("kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization).unwrap();
    assert!(text.contains("  - pdb.yaml\n"), "{text}");
    std::fs::write(&kustomization, text.replace("  - pdb.yaml\n", "")).unwrap();
    std::fs::remove_file(production.join("pdb.yaml")).unwrap();
    let args: Vec<String> = [
        &["apply", dir, "--auto-approve", "--prune"],
        &kube_flags[..],
    ]
    .concat()
    .into_iter()
    .map(str::to_owned)
    .collect();
    let config = kubeconfig.clone();
    let running = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        strata(&config, &args)
    });
    // The garbage collector's stand-in: the deletion is a foreground one (ArgoCD's prune
    // default), which only the collector finishes.
    let pdbs: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "payment-service-prod",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("policy", "v1", "PodDisruptionBudget"),
            "poddisruptionbudgets",
        ),
    );
    let mut collected = false;
    while !running.is_finished() {
        if !collected
            && let Some(pdb) = pdbs.get_opt("payment-service").await.unwrap()
            && pdb.metadata.deletion_timestamp.is_some()
        {
            assert_eq!(
                pdb.metadata.finalizers,
                Some(vec!["foregroundDeletion".to_owned()])
            );
            pdbs.patch(
                "payment-service",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await
            .unwrap();
            collected = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let prune = running.await.unwrap();
    expect(&prune, 0);
    assert!(
        collected,
        "the PodDisruptionBudget was deleted in the foreground"
    );
    assert_eq!(
        planned(&prune.stdout),
        [(
            "policy/PodDisruptionBudget/payment-service-prod/payment-service".to_owned(),
            "kubernetes".to_owned(),
            "destroyed".to_owned()
        )],
        "{}",
        prune.stdout
    );
    let pruned = server_objects(&client).await;
    let mut remaining: Vec<&str> = ON_THE_SERVER.to_vec();
    remaining.retain(|k| *k != "PodDisruptionBudget/payment-service-prod/payment-service");
    assert_eq!(keys(&pruned), remaining);
    let changed: Vec<&str> = pruned
        .iter()
        .filter(|(key, (version, _))| promoted[*key].0 != *version)
        .map(|(key, _)| key.as_str())
        .collect();
    assert_eq!(changed, Vec::<&str>::new());

    let settled = strata(
        &kubeconfig,
        &[&["plan", dir, "--detailed-exitcode"], &kube_flags[..]].concat(),
    );
    expect(&settled, 0);
}
