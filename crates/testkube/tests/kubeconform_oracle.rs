//! The oracle itself: JSON schemas generated from the real API server's `/openapi/v2`, and
//! kubeconform run on them, give exactly the planted verdicts on a generated corpus; the real
//! API server (a strict server-side dry run) agrees with every planted verdict.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use strata_testkube::compare::{self, Outcome};
use strata_testkube::corpus::{Corpus, CorpusOptions, Manifest, NAMESPACES, field_path};
use strata_testkube::{kubeconform, schemas};

fn corpus() -> Corpus {
    Corpus::generate(
        &CorpusOptions::default()
            .with_manifests(400)
            .with_seed(20)
            .with_invalid_percent(30),
    )
}

/// The corpus's `field` with its last step removed (`spec.ports[0].port` → `spec.ports[0]`).
fn parent(field: &str) -> &str {
    let cut = field.rfind(['.', '[']).unwrap_or(0);
    &field[..cut]
}

/// Schemas generated from the shared control plane's `/openapi/v2` into `dir/schemas`.
fn generate_schemas(dir: &Path) -> (PathBuf, usize) {
    let plane = strata_testkube::shared();
    let openapi = schemas::fetch_openapi_v2_blocking(plane).unwrap();
    let schema_dir = dir.join("schemas");
    let written = schemas::write(&openapi, &schema_dir).unwrap();
    (schema_dir, written)
}

#[test]
fn kubeconform_on_schemas_from_the_real_api_server_finds_exactly_the_planted_defects() {
    let dir = tempfile::tempdir().unwrap();
    let (schema_dir, written) = generate_schemas(dir.path());
    assert!(written > 200, "{written} schema files");
    for file in [
        "deployment-apps-v1.json",
        "service-v1.json",
        "ingress-networking-v1.json",
        "horizontalpodautoscaler-autoscaling-v2.json",
        "clusterrole-rbac-v1.json",
    ] {
        assert!(schema_dir.join(file).is_file(), "{file}");
    }

    let corpus = corpus();
    let corpus_dir = dir.path().join("corpus");
    corpus.write(&corpus_dir).unwrap();
    let program = kubeconform::ensure(&strata_testkube::target_dir()).unwrap();
    let verdicts = kubeconform::run(kubeconform::command(
        &program,
        &schemas::location(&schema_dir),
        &[corpus_dir],
        kubeconform::Listing::Every,
    ))
    .unwrap();
    assert_eq!(verdicts.len(), corpus.len());

    let found = compare::from_kubeconform(&corpus, &verdicts);
    assert!(found.unmatched.is_empty(), "{:#?}", found.unmatched);
    let planted = compare::planted(&corpus);
    let disagreements =
        compare::disagreements(&corpus, ("planted", &planted), ("kubeconform", &found));
    let listed: Vec<String> = disagreements.iter().map(ToString::to_string).collect();
    assert!(listed.is_empty(), "{}", listed.join("\n"));
    assert!(
        corpus.invalid() >= 80,
        "{} planted defects",
        corpus.invalid()
    );

    // Each planted defect is the one thing kubeconform reports, at the field or its parent.
    for verdict in &verdicts {
        let (_, manifest) = corpus
            .manifests()
            .find(|(_, m)| m.kind == verdict.kind && m.name == verdict.name)
            .unwrap();
        let Some(defect) = &manifest.defect else {
            continue;
        };
        assert_eq!(verdict.errors.len(), 1, "{verdict:?}");
        let at = field_path(&verdict.errors[0].path);
        assert!(
            at == defect.field || at == parent(&defect.field),
            "{:?} at {} reported at {at:?}: {verdict:?}",
            defect.kind,
            defect.field
        );
    }
}

#[test]
fn kubeconform_judges_the_benchmark_corpus_as_planted() {
    let dir = tempfile::tempdir().unwrap();
    let (schema_dir, _) = generate_schemas(dir.path());
    let corpus = Corpus::generate(&CorpusOptions::default());
    let corpus_dir = dir.path().join("corpus");
    corpus.write(&corpus_dir).unwrap();
    let program = kubeconform::ensure(&strata_testkube::target_dir()).unwrap();
    let verdicts = kubeconform::run(kubeconform::command(
        &program,
        &schemas::location(&schema_dir),
        &[corpus_dir],
        kubeconform::Listing::Every,
    ))
    .unwrap();
    let found = compare::from_kubeconform(&corpus, &verdicts);
    assert!(found.unmatched.is_empty(), "{:#?}", found.unmatched);
    let planted = compare::planted(&corpus);
    let listed: Vec<String> =
        compare::disagreements(&corpus, ("planted", &planted), ("kubeconform", &found))
            .iter()
            .map(ToString::to_string)
            .collect();
    assert!(listed.is_empty(), "{}", listed.join("\n"));
    assert_eq!(found.invalid(), corpus.invalid());
}

/// The collection URL a manifest is created in.
fn collection(manifest: &Manifest) -> String {
    let kind = manifest.kind.to_lowercase();
    let plural = if kind.ends_with('y') {
        format!("{}ies", &kind[..kind.len() - 1])
    } else if kind.ends_with('s') {
        format!("{kind}es")
    } else {
        format!("{kind}s")
    };
    let base = if manifest.group().is_empty() {
        format!("/api/{}", manifest.api_version)
    } else {
        format!("/apis/{}", manifest.api_version)
    };
    match &manifest.namespace {
        Some(namespace) => format!("{base}/namespaces/{namespace}/{plural}"),
        None => format!("{base}/{plural}"),
    }
}

#[tokio::test]
async fn the_real_api_server_agrees_with_every_planted_verdict() {
    let plane = strata_testkube::shared();
    let client = plane.client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in NAMESPACES.iter().filter(|n| **n != "default") {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some((*name).to_owned()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match namespaces.create(&PostParams::default(), &namespace).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(other) => panic!("creating namespace {name}: {other}"),
        }
    }

    let corpus = corpus();
    let mut outcomes = Vec::with_capacity(corpus.len());
    for (_, manifest) in corpus.manifests() {
        let url = format!("{}?dryRun=All&fieldValidation=Strict", collection(manifest));
        let request = http::Request::post(&url)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&manifest.value).unwrap())
            .unwrap();
        let outcome = match client.request_text(request).await {
            Ok(_) => Outcome {
                valid: true,
                detail: String::new(),
            },
            Err(kube::Error::Api(status)) if (400..500).contains(&status.code) => Outcome {
                valid: false,
                detail: format!("{} {}", status.code, status.message),
            },
            Err(other) => panic!("{url}: {other}"),
        };
        outcomes.push(Some(outcome));
    }
    let server = compare::Verdicts {
        outcomes,
        unmatched: Vec::new(),
    };
    let planted = compare::planted(&corpus);
    let disagreements =
        compare::disagreements(&corpus, ("planted", &planted), ("kube-apiserver", &server));
    let listed: Vec<String> = disagreements.iter().map(ToString::to_string).collect();
    assert!(listed.is_empty(), "{}", listed.join("\n"));
    assert_eq!(server.invalid(), corpus.invalid());
}
