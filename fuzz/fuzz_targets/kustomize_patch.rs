//! Kustomize patch application: strategic merge and JSON 6902 patches applied directly, and
//! through a build of a kustomization that patches a resource.
//! Input: `resource \0 patch`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use strata_core::source::MemoryTree;
use strata_sources::kustomize;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 2);
    let (resource_text, patch_text) = (&p[0], &p[1]);
    let resource = common::document(
        resource_text,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
    );
    let patch = common::document(patch_text, Value::Null);
    match &patch {
        Value::Array(ops) => {
            let mut target = resource.clone();
            let _ = kustomize::apply_json6902(&mut target, ops);
        }
        _ => {
            let mut target = resource.clone();
            let _ = kustomize::merge_patch(&mut target, &patch);
        }
    }
    let kustomization = "resources:\n- resource.yaml\npatches:\n- path: patch.yaml\n";
    let tree = MemoryTree::new()
        .with_file("kustomization.yaml", kustomization)
        .with_file("resource.yaml", resource_text.as_bytes())
        .with_file("patch.yaml", patch_text.as_bytes());
    let _ = kustomize::build(&tree, "");
});
