//! Expanding a platform repository from a Git revision: 50 services x 3 environments
//! (150 Applications from one ApplicationSet, about 3 000 resources through Kustomize
//! overlays), read with gix from a commit (no checkout) and expanded into one desired set.
//!
//! Before the timed runs it prints one measurement with the counts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use strata::core::source::GitTree;
use strata::sources::application::{ExpandOptions, Expansion, expand};

const SERVICES: usize = 50;
const ENVIRONMENTS: &[&str] = &["development", "staging", "production"];
/// ConfigMaps per service base, besides the Deployment, Service, ServiceAccount and the
/// generated ConfigMap.
const EXTRA_CONFIGMAPS: usize = 15;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@strata.dev")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@strata.dev")
        .status()
        .expect("the git CLI is installed");
    assert!(status.success(), "git {args:?}");
}

fn platform() -> &'static PathBuf {
    static REPO: OnceLock<PathBuf> = OnceLock::new();
    REPO.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        write(
            &dir.join("argocd/apps/root-app.yaml"),
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: root\n  namespace: argocd\nspec:\n  source:\n    repoURL: https://example.com/platform.git\n    path: argocd/applicationsets\n  destination:\n    namespace: argocd\n",
        );
        write(
            &dir.join("argocd/applicationsets/services.yaml"),
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: services\n  namespace: argocd\nspec:\n  generators:\n  - matrix:\n      generators:\n      - list:\n          elements:\n          - env: development\n          - env: staging\n          - env: production\n      - git:\n          repoURL: https://example.com/platform.git\n          revision: main\n          directories:\n          - path: services/*\n  template:\n    metadata:\n      name: '{{path.basename}}-{{env}}'\n    spec:\n      source:\n        repoURL: https://example.com/platform.git\n        path: 'services/{{path.basename}}/overlays/{{env}}'\n      destination:\n        namespace: '{{path.basename}}-{{env}}'\n      syncPolicy:\n        syncOptions: [CreateNamespace=true]\n",
        );
        for s in 0..SERVICES {
            let name = format!("svc-{s:02}");
            let base = dir.join(format!("services/{name}/base"));
            write(
                &base.join("kustomization.yaml"),
                &format!("resources: [deployment.yaml, service.yaml, extra.yaml]\ncommonLabels:\n  app: {name}\nconfigMapGenerator:\n- name: {name}-config\n  literals: [LOG=json, PORT=8080]\n"),
            );
            write(
                &base.join("deployment.yaml"),
                &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  template:\n    spec:\n      serviceAccountName: {name}\n      containers:\n      - name: app\n        image: {name}:latest\n        envFrom:\n        - configMapRef:\n            name: {name}-config\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n"),
            );
            write(
                &base.join("service.yaml"),
                &format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n  - port: 80\n"),
            );
            let extra: Vec<String> = (0..EXTRA_CONFIGMAPS)
                .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-settings-{i}\ndata:\n  key: value-{i}\n"))
                .collect();
            write(&base.join("extra.yaml"), &extra.join("---\n"));
            for (e, env) in ENVIRONMENTS.iter().enumerate() {
                write(
                    &dir.join(format!("services/{name}/overlays/{env}/kustomization.yaml")),
                    &format!("resources: [../../base]\nimages:\n- name: {name}\n  newName: ghcr.io/org/{name}\n  newTag: v1.{e}.{s}\npatches:\n- target:\n    kind: Deployment\n  patch: |\n    - op: replace\n      path: /spec/replicas\n      value: {}\ncommonLabels:\n  env: {env}\n", e + 1),
                );
            }
        }
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["add", "."]);
        git(&dir, &["commit", "-q", "-m", "platform"]);
        dir
    })
}

fn expand_main() -> Expansion {
    let tree = GitTree::open(platform(), "main").expect("revision readable");
    expand(Arc::new(tree), "", &ExpandOptions::default()).expect("platform expands")
}

fn main() {
    let start = Instant::now();
    let out = expand_main();
    println!(
        "expand from Git: {} Applications, {} resources in {:?} (first run)",
        out.applications.len(),
        out.resources.len(),
        start.elapsed()
    );
    divan::main();
}

/// Open the revision with gix and expand every Application.
#[divan::bench(sample_count = 10)]
fn expand_platform_from_git_revision() -> usize {
    expand_main().resources.len()
}
