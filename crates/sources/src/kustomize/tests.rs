//! Builds over in-memory trees: refusals and what the kubectl comparison cannot see (order).

#![allow(clippy::unwrap_used)]

use strata_core::source::MemoryTree;

use super::{KustomizeError, build};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
const SVC: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\n";

fn kinds(tree: &MemoryTree, dir: &str) -> Vec<String> {
    build(tree, dir)
        .unwrap()
        .into_iter()
        .map(|b| b.manifest["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_cycle_of_kustomizations_is_an_error_naming_it() {
    let tree = MemoryTree::new()
        .with_file("a/kustomization.yaml", "resources: [../b]\n")
        .with_file("b/kustomization.yaml", "resources: [../c]\n")
        .with_file("c/kustomization.yaml", "resources: [../a]\n");
    let err = build(&tree, "a").unwrap_err();
    assert!(matches!(err, KustomizeError::Cycle(_)), "{err}");
    assert_eq!(err.to_string(), "kustomization cycle: a -> b -> c -> a");
}

#[test]
fn remote_bases_are_refused_naming_the_url() {
    for url in [
        "https://github.com/org/repo//deploy/base?ref=v1.2.0",
        "git@github.com:org/repo.git//base",
        "github.com/org/repo/base?ref=main",
    ] {
        let tree = MemoryTree::new().with_file(
            "overlay/kustomization.yaml",
            format!("resources:\n- {url}\n"),
        );
        let err = build(&tree, "overlay").unwrap_err();
        let KustomizeError::RemoteBase {
            url: got, field, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(got, url);
        assert_eq!(field, "resources");
        assert!(
            err.to_string()
                .contains("remote bases are not supported yet"),
            "{err}"
        );
    }
}

#[test]
fn sort_options_choose_fifo_or_legacy_with_custom_lists() {
    let fifo = MemoryTree::new()
        .with_file("k/r.yaml", format!("{CM}---\n{SVC}"))
        .with_file(
            "k/kustomization.yaml",
            "resources: [r.yaml]\nsortOptions:\n  order: fifo\n",
        );
    assert_eq!(kinds(&fifo, "k"), ["ConfigMap", "Service"]);
    let svc_first = MemoryTree::new()
        .with_file("k/r.yaml", format!("{SVC}---\n{CM}"))
        .with_file("k/kustomization.yaml", "resources: [r.yaml]\n");
    assert_eq!(kinds(&svc_first, "k"), ["ConfigMap", "Service"]);
    let custom = MemoryTree::new()
        .with_file("k/r.yaml", format!("{CM}---\n{SVC}"))
        .with_file(
            "k/kustomization.yaml",
            "resources: [r.yaml]\nsortOptions:\n  order: legacy\n  legacySortOptions:\n    orderFirst: [Service]\n    orderLast: [ConfigMap]\n",
        );
    assert_eq!(kinds(&custom, "k"), ["Service", "ConfigMap"]);
}

#[test]
fn origin_and_transformer_annotations_are_refused_by_name() {
    let tree = MemoryTree::new().with_file("k/r.yaml", CM).with_file(
        "k/kustomization.yaml",
        "resources: [r.yaml]\nbuildMetadata: [originAnnotations]\n",
    );
    let err = build(&tree, "k").unwrap_err();
    assert!(
        matches!(&err, KustomizeError::Unsupported { field, .. } if field == "buildMetadata: originAnnotations"),
        "{err}"
    );
}

#[test]
fn a_resource_without_kind_is_an_error() {
    let tree = MemoryTree::new()
        .with_file("k/r.yaml", "metadata:\n  name: a\n")
        .with_file("k/kustomization.yaml", "resources: [r.yaml]\n");
    let err = build(&tree, "k").unwrap_err();
    assert!(err.to_string().contains("kind"), "{err}");
}

#[test]
fn other_builtin_plugins_are_refused_naming_file_and_kind() {
    let tree = MemoryTree::new()
        .with_file("k/r.yaml", CM)
        .with_file(
            "k/labels.yaml",
            "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: l\nlabels:\n  a: b\nfieldSpecs:\n- path: metadata/labels\n  create: true\n",
        )
        .with_file(
            "k/kustomization.yaml",
            "resources: [r.yaml]\ntransformers: [labels.yaml]\n",
        );
    let err = build(&tree, "k").unwrap_err();
    let KustomizeError::Unsupported { file, field } = &err else {
        panic!("{err}");
    };
    assert!(file.ends_with("k/labels.yaml"), "{file}");
    assert!(field.contains("LabelTransformer"), "{field}");
}

#[test]
fn a_resource_without_a_name_keeps_the_field_error_as_its_source() {
    use std::error::Error as _;
    let tree = MemoryTree::new()
        .with_file("app/kustomization.yaml", "resources: [cm.yaml]\n")
        .with_file(
            "app/cm.yaml",
            format!("{CM}---\nkind: ConfigMap\nmetadata: {{}}\n"),
        );
    let err = build(&tree, "app").unwrap_err();
    assert!(
        matches!(
            &err,
            KustomizeError::Document {
                document: 1,
                line: 6,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("memory/app/cm.yaml: document 2 (line 6): "),
        "{err}"
    );
    assert!(
        err.source()
            .is_some_and(|c| c.is::<strata_core::model::FieldError>()),
        "{err:?}"
    );
}
