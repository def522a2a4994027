//! `Graph::update` against `Graph::build`: after any sequence of edits to a set (resources
//! removed, added anywhere, changed in their references, labels or dependencies), the updated
//! graph has the same order, edges and reference fields as one built from the new set, or
//! both fail with the same error.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use proptest::prelude::*;
use serde_json::{Value, json};
use strata_core::Resource;
use strata_core::graph::{Graph, GraphEdit, GraphUpdate};

const SLOTS: u8 = 16;

/// Slots 0–3 are buckets (labelled by variant), 4–9 policies referring to buckets by name, by
/// a list or by a label selector, 10–15 config maps that may depend on another slot or refer to
/// a peer config map. The variant picks targets and labels, so a change of variant changes
/// what the graph reads.
fn manifest(slot: u8, variant: u8) -> Value {
    match slot {
        0..=3 => json!({
            "apiVersion": "test.strata.dev/v1", "kind": "Bucket",
            "metadata": {"name": format!("bucket-{slot}"),
                         "labels": {"tier": if variant.is_multiple_of(2) { "core" } else { "edge" }}},
            "spec": {"data": variant}
        }),
        4..=9 => {
            let bucket = format!("bucket-{}", (slot + variant) % 4);
            let for_provider = match variant % 4 {
                0 => json!({"bucketRef": {"name": bucket}}),
                1 => json!({"bucketRefs": [{"name": bucket},
                                           {"name": format!("bucket-{}", (slot + variant + 1) % 4)}]}),
                2 => json!({"bucketSelector": {"matchLabels": {"tier": "edge"}}}),
                _ => json!({"bucketRef": {"name": bucket}, "data": variant}),
            };
            json!({
                "apiVersion": "test.strata.dev/v1", "kind": "BucketPolicy",
                "metadata": {"name": format!("policy-{slot}")},
                "spec": {"forProvider": for_provider}
            })
        }
        _ => {
            let mut value = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cfg-{slot}"), "namespace": "default"},
                "data": {"level": variant.to_string()}
            });
            // Depending on another slot (which may be absent: the set is then invalid), or on
            // a peer config map through an ordering-only reference (absent is fine).
            let target = (slot + variant) % SLOTS;
            match variant % 3 {
                0 if target != slot => {
                    value["metadata"]["annotations"] =
                        json!({"strata.dev/depends-on": reference_of(target)});
                }
                1 => {
                    let peer = 10 + (slot + variant) % 6;
                    if peer != slot {
                        value["spec"] = json!({"peerRef": {"name": format!("cfg-{peer}"), "kind": "ConfigMap"}});
                    }
                }
                _ => {}
            }
            value
        }
    }
}

fn reference_of(slot: u8) -> String {
    match slot {
        0..=3 => format!("test.strata.dev/Bucket/bucket-{slot}"),
        4..=9 => format!("test.strata.dev/BucketPolicy/policy-{slot}"),
        _ => format!("ConfigMap/default/cfg-{slot}"),
    }
}

fn resource(slot: u8, variant: u8) -> Resource {
    Resource::from_manifest(manifest(slot, variant)).unwrap()
}

/// One batch of edits: which present slots go, which absent ones come (and where), which
/// present ones change variant.
#[derive(Debug, Clone)]
struct Batch {
    remove: Vec<bool>,
    add: Vec<(bool, usize, u8)>,
    change: Vec<Option<u8>>,
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        prop::collection::vec(prop::bool::weighted(0.15), SLOTS as usize),
        prop::collection::vec(
            (prop::bool::weighted(0.3), any::<usize>(), 0u8..6),
            SLOTS as usize,
        ),
        prop::collection::vec(prop::option::weighted(0.1, 0u8..6), SLOTS as usize),
    )
        .prop_map(|(remove, add, change)| Batch {
            remove,
            add,
            change,
        })
}

/// What a graph says about the set: order, edges and value-bearing reference fields.
fn summary(graph: &Graph) -> String {
    format!(
        "order {:?}\nedges {:?}\nfields {:?}",
        graph.topological_positions(),
        graph.resource_edges(),
        graph.reference_fields()
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn an_updated_graph_equals_the_graph_built_from_the_new_set(
        start in prop::collection::vec((prop::bool::weighted(0.6), 0u8..6), SLOTS as usize),
        batches in prop::collection::vec(batch(), 1..8),
    ) {
        // The set as (slot, variant), in order.
        let mut set: Vec<(u8, u8)> = (0..SLOTS)
            .zip(&start)
            .filter(|(_, (present, _))| *present)
            .map(|(slot, (_, variant))| (slot, *variant))
            .collect();
        let resources: Vec<Resource> = set.iter().map(|&(s, v)| resource(s, v)).collect();
        let mut graph = Graph::build(&resources).ok();
        let mut incremental = 0;
        for batch in &batches {
            let mut removed = Vec::new();
            let mut kept: Vec<(u8, u8, bool)> = Vec::new();
            for (old, &(slot, variant)) in set.iter().enumerate() {
                if batch.remove[usize::from(slot)] {
                    removed.push(old);
                } else {
                    match batch.change[usize::from(slot)] {
                        Some(v) if v != variant => kept.push((slot, v, true)),
                        _ => kept.push((slot, variant, false)),
                    }
                }
            }
            // Absent slots come in at any place, kept ones keeping their order.
            let mut next: Vec<(u8, u8, Option<bool>)> =
                kept.into_iter().map(|(s, v, c)| (s, v, Some(c))).collect();
            for slot in 0..SLOTS {
                let (add, at, variant) = batch.add[usize::from(slot)];
                if add && !set.iter().any(|&(s, _)| s == slot) {
                    let at = at % (next.len() + 1);
                    next.insert(at, (slot, variant, None));
                }
            }
            let added: Vec<usize> = (0..next.len()).filter(|&i| next[i].2.is_none()).collect();
            let changed: Vec<usize> =
                (0..next.len()).filter(|&i| next[i].2 == Some(true)).collect();
            set = next.iter().map(|&(s, v, _)| (s, v)).collect();
            let resources: Vec<Resource> = set.iter().map(|&(s, v)| resource(s, v)).collect();
            let built = Graph::build(&resources);
            let Some(held) = graph.as_mut() else {
                // The last set was invalid: start again from the new one.
                graph = built.ok();
                continue;
            };
            let edit = GraphEdit { removed: &removed, added: &added, changed: &changed };
            let updated = held.update(&resources, &edit);
            match (built, updated) {
                (Ok(built), Ok(how)) => {
                    prop_assert_eq!(summary(&built), summary(held));
                    incremental += usize::from(how == GraphUpdate::Incremental);
                }
                (Err(built), Err(updated)) => {
                    prop_assert_eq!(built.to_string(), updated.to_string());
                    graph = None;
                }
                (built, updated) => prop_assert!(
                    false,
                    "built {:?}, updated {:?}",
                    built.map(|g| g.len()),
                    updated
                ),
            }
        }
        let _ = incremental;
    }
}

#[test]
fn an_added_resource_nothing_depends_on_is_placed_without_ordering_again() {
    let mut resources: Vec<Resource> = (0..4).map(|s| resource(s, 0)).collect();
    resources.push(resource(10, 0)); // depends on cfg-10 + 0 = itself: none
    let mut graph = Graph::build(&resources).unwrap();
    // policy-4 refers to bucket-0 and comes in before bucket-2: it is placed there.
    resources.insert(2, resource(4, 0));
    let how = graph
        .update(
            &resources,
            &GraphEdit {
                added: &[2],
                ..GraphEdit::default()
            },
        )
        .unwrap();
    assert_eq!(how, GraphUpdate::Incremental);
    let built = Graph::build(&resources).unwrap();
    assert_eq!(summary(&graph), summary(&built));
    assert_eq!(graph.topological_positions(), vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn removing_a_referenced_resource_reorders_its_referrers() {
    // bucket-0, then policy-4 (refers to bucket-0) and policy-8 (refers to bucket-0 too).
    let mut resources = vec![
        resource(1, 0),
        resource(4, 0),
        resource(0, 0),
        resource(8, 0),
    ];
    let mut graph = Graph::build(&resources).unwrap();
    resources.remove(2);
    let how = graph
        .update(
            &resources,
            &GraphEdit {
                removed: &[2],
                ..GraphEdit::default()
            },
        )
        .unwrap();
    assert_eq!(how, GraphUpdate::Incremental);
    assert_eq!(summary(&graph), summary(&Graph::build(&resources).unwrap()));
    // policy-4 no longer waits for bucket-0.
    assert_eq!(graph.topological_positions(), vec![0, 1, 2]);
}
