//! Kustomize inputs parse under the workspace's YAML limits: anchors, aliases and merge keys
//! load; alias bombs and cycles are refused naming the file (and, for patches, the document).

use strata_core::source::MemoryTree;
use strata_core::yaml::{Refusal, YamlError};
use strata_sources::kustomize::{KustomizeError, build};

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: '1'\n";

/// Nine levels of ten aliases each: 10^9 nodes once expanded.
fn laughs(indent: &str) -> String {
    let mut text = format!("{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*l{}", i - 1); 10].join(", ");
        text.push_str(&format!("{indent}l{i}: &l{i} [{refs}]\n"));
    }
    text
}

#[test]
fn a_kustomization_with_an_alias_bomb_is_refused_naming_the_file() {
    let kustomization = format!("resources: [cm.yaml]\ncommonAnnotations:\n{}", laughs("  "));
    let tree = MemoryTree::new()
        .with_file("app/kustomization.yaml", kustomization)
        .with_file("app/cm.yaml", CONFIG_MAP);
    let err = build(&tree, "app").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("memory/app/kustomization.yaml: refused: "),
        "{err}"
    );
    assert!(
        matches!(
            &err,
            KustomizeError::Yaml {
                source: YamlError::Refused {
                    refusal: Refusal::AliasExpansion,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_patch_document_with_a_merge_key_cycle_is_refused_naming_the_document() {
    let patch = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  b: '2'\n---\n\
                 apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata: &d\n  c: '3'\n  <<: *d\n";
    let tree = MemoryTree::new()
        .with_file(
            "app/kustomization.yaml",
            "resources: [cm.yaml]\npatches:\n  - path: patch.yaml\n",
        )
        .with_file("app/cm.yaml", CONFIG_MAP)
        .with_file("app/patch.yaml", patch);
    let err = build(&tree, "app").unwrap_err();
    match &err {
        KustomizeError::PatchYaml { file, source } => {
            assert_eq!(file, "memory/app/patch.yaml");
            assert_eq!((source.index, source.line), (1, 8));
            assert!(
                matches!(
                    source.source,
                    YamlError::Refused {
                        refusal: Refusal::AliasCycle,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
        other => panic!("expected a patch refusal, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("memory/app/patch.yaml: document 1 (line 8): refused: "),
        "{err}"
    );
}

#[test]
fn anchors_aliases_and_merge_keys_in_kustomize_inputs_load() {
    let kustomization = "\
resources: [cm.yaml]
commonLabels: &labels {team: web}
commonAnnotations:
  <<: *labels
  owner: platform
";
    let tree = MemoryTree::new()
        .with_file("app/kustomization.yaml", kustomization)
        .with_file("app/cm.yaml", CONFIG_MAP);
    let out = build(&tree, "app").unwrap();
    let metadata = &out[0].manifest["metadata"];
    assert_eq!(metadata["labels"]["team"], "web");
    assert_eq!(metadata["annotations"]["team"], "web");
    assert_eq!(metadata["annotations"]["owner"], "platform");
}
