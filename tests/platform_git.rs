//! End to end over Git: the seed platform committed twice in a temporary repository; the
//! second commit changes one overlay's image tag, and the plan between the two revisions is
//! exactly that change.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use strata::core::executor::{ExecutorConfig, cancellation};
use strata::core::plan::{Action, PlanOptions};
use strata::core::source::GitTree;
use strata::core::state::LocalStateStore;
use strata::core::{Engine, IdentityNormalizer, ProviderRegistry, Resource, SandboxProvider};
use strata::sources::application::{ExpandOptions, expand};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Strata Test")
        .env("GIT_AUTHOR_EMAIL", "test@strata.dev")
        .env("GIT_COMMITTER_NAME", "Strata Test")
        .env("GIT_COMMITTER_EMAIL", "test@strata.dev")
        .output()
        .expect("the git CLI is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != ".strata" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn desired_at(repo: &Path, revision: &str) -> Vec<Resource> {
    let tree = GitTree::open(repo, revision).expect("revision readable");
    expand(Arc::new(tree), "", &ExpandOptions::default())
        .expect("platform expands")
        .resources
}

#[test]
fn changing_one_overlay_image_tag_plans_exactly_that_change() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("platform");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/platform"),
        &repo,
    );
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "platform"]);
    let overlay = repo.join("services/payment-service/overlays/staging/kustomization.yaml");
    let text = std::fs::read_to_string(&overlay).unwrap();
    assert!(text.contains("newTag: abc123f"));
    std::fs::write(&overlay, text.replace("newTag: abc123f", "newTag: 2.0.0")).unwrap();
    git(
        &repo,
        &[
            "commit",
            "-q",
            "-am",
            "promote payment-service 2.0.0 to staging",
        ],
    );
    // An uncommitted change is invisible to both revisions.
    std::fs::write(&overlay, "this: is not a kustomization\n").unwrap();

    let before = desired_at(&repo, "HEAD~1");
    let after = desired_at(&repo, "main");
    assert_eq!(before.len(), after.len());
    assert!(
        before.len() >= 30,
        "every environment expands: {}",
        before.len()
    );
    let deployment = after
        .iter()
        .find(|r| {
            r.key.kind == "Deployment"
                && r.key.namespace.as_deref() == Some("payment-service-staging")
        })
        .expect("the staging deployment");
    let location = deployment
        .source
        .as_ref()
        .expect("source recorded")
        .to_string();
    assert!(location.contains("platform@"), "{location}");
    assert!(
        location.contains("services/payment-service/base/deployment.yaml"),
        "{location}"
    );

    let work = tempfile::tempdir().unwrap();
    let engine = Engine {
        registry: ProviderRegistry::new()
            .with_fallback(Arc::new(SandboxProvider::new(work.path().join("world")))),
        normalizer: Arc::new(IdentityNormalizer),
        store: Arc::new(LocalStateStore::new(work.path().join("state.json"))),
        config: ExecutorConfig::default(),
    };
    let options = PlanOptions::new("platform");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (plan, state) = engine.plan(before, &options).await.unwrap();
        assert!(plan.changes.iter().all(|c| c.action == Action::Create));
        let (_handle, cancel) = cancellation();
        let report = engine
            .apply(&plan, state, "apply", Arc::new(|_| {}), cancel)
            .await
            .unwrap();
        assert!(report.is_success());

        let (plan, _) = engine.plan(after, &options).await.unwrap();
        let changed: Vec<_> = plan
            .changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .collect();
        assert_eq!(changed.len(), 1, "{changed:#?}");
        assert_eq!(changed[0].action, Action::Update);
        assert_eq!(changed[0].key.kind, "Deployment");
        assert_eq!(
            changed[0].key.namespace.as_deref(),
            Some("payment-service-staging")
        );
        let json = serde_json::to_string(&strata::core::plan::to_json(&plan)).unwrap();
        assert!(json.contains("ghcr.io/org/payment-service:2.0.0"), "{json}");
    });
}
