//! Property tests of the dependency graph.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use proptest::prelude::*;
use serde_json::json;
use strata_core::{Graph, GraphError, Resource};

fn config_map(i: usize, deps: &[usize], wave: Option<i64>) -> Resource {
    let mut annotations = serde_json::Map::new();
    if !deps.is_empty() {
        let list: Vec<String> = deps.iter().map(|&d| cm(d)).collect();
        annotations.insert("strata.dev/depends-on".into(), json!(list.join(",")));
    }
    if let Some(w) = wave {
        annotations.insert("argocd.argoproj.io/sync-wave".into(), json!(w.to_string()));
    }
    Resource::from_manifest(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": c(i), "annotations": annotations}
    }))
    .unwrap()
}

/// A random DAG: node i may only depend on nodes < i.
fn dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1usize..40).prop_flat_map(|n| {
        (0..n)
            .map(|i| {
                if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::btree_set(0..i, 0..4.min(i + 1))
                        .prop_map(|s| s.into_iter().collect())
                        .boxed()
                }
            })
            .collect::<Vec<_>>()
    })
}

proptest! {
    #[test]
    fn topological_order_respects_every_edge(deps in dag(), waves in proptest::collection::vec(proptest::option::of(0i64..3), 40)) {
        // Waves must not contradict dependencies: a node's wave is at least its dependencies'.
        let mut effective: Vec<Option<i64>> = Vec::new();
        for (i, d) in deps.iter().enumerate() {
            let floor = d.iter().filter_map(|&j| effective[j]).max().unwrap_or(0);
            effective.push(waves[i].map(|w| w.max(floor)).or(if floor > 0 { Some(floor) } else { None }));
        }
        let resources: Vec<Resource> = deps.iter().enumerate().map(|(i, d)| config_map(i, d, effective[i])).collect();
        let graph = Graph::build(&resources).unwrap();
        let order = graph.topological_order();
        prop_assert_eq!(order.len(), resources.len());
        let position = |name: &str| order.iter().position(|k| k.name == name).unwrap();
        for (i, d) in deps.iter().enumerate() {
            for &j in d {
                prop_assert!(position(&c(j)) < position(&c(i)));
            }
        }
        // Waves are barriers: every resource of a lower wave comes first.
        for a in 0..resources.len() {
            for b in 0..resources.len() {
                if effective[a].unwrap_or(0) < effective[b].unwrap_or(0) {
                    prop_assert!(position(&c(a)) < position(&c(b)));
                }
            }
        }
    }

    #[test]
    fn cycles_are_always_reported(deps in dag(), back in any::<prop::sample::Index>(), forward in any::<prop::sample::Index>()) {
        let n = deps.len();
        prop_assume!(n >= 2);
        // Close a cycle: pick a path j -> ... -> i and add i -> j.
        let mut deps = deps;
        let i = n - 1;
        let j = back.index(n - 1);
        let k = forward.index(n - 1);
        let _ = k;
        // Make i depend (transitively) on j, then j depend on i.
        if !deps[i].contains(&j) {
            deps[i].push(j);
        }
        deps[j].push(i);
        let resources: Vec<Resource> = deps.iter().enumerate().map(|(x, d)| config_map(x, d, None)).collect();
        match Graph::build(&resources) {
            Err(GraphError::Cycle(nodes)) => {
                prop_assert!(nodes.len() >= 2);
                prop_assert!(nodes.iter().any(|n| n == &cm(i)) || nodes.iter().any(|n| n == &cm(j)));
            }
            other => prop_assert!(false, "expected a cycle, got {:?}", other.map(|g| g.len())),
        }
    }
}

#[test]
fn cycle_error_lists_the_whole_cycle_in_order() {
    let resources = vec![
        config_map(0, &[2], None),
        config_map(1, &[0], None),
        config_map(2, &[1], None),
        config_map(3, &[], None),
    ];
    let err = Graph::build(&resources).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dependency cycle: ConfigMap/c0 -> ConfigMap/c1 -> ConfigMap/c2 -> ConfigMap/c0"
    );
}

#[test]
fn self_reference_is_a_cycle() {
    let err = Graph::build(&[config_map(0, &[0], None)]).unwrap_err();
    assert!(
        matches!(err, GraphError::Cycle(ref n) if n == &vec!["ConfigMap/c0".to_string()]),
        "{err}"
    );
}

#[test]
fn unknown_dependency_names_file_and_entry() {
    let mut r = config_map(0, &[7], None);
    r.source = Some(strata_core::SourceLocation {
        file: "stack/a.yaml".into(),
        document: 2,
        line: 14,
    });
    let err = Graph::build(&[r]).unwrap_err().to_string();
    assert!(err.contains("stack/a.yaml (document 2, line 14)"), "{err}");
    assert!(err.contains("ConfigMap/c7"), "{err}");
    assert!(err.contains("not in the desired set"), "{err}");
}

#[test]
fn crossplane_references_and_selectors_are_edges() {
    let resources: Vec<Resource> = [
        json!({"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "SubnetGroup", "metadata": {"name": "sg", "labels": {"db": "main"}}}),
        json!({"apiVersion": "ec2.aws.upbound.io/v1beta1", "kind": "SecurityGroup", "metadata": {"name": "fw", "labels": {"db": "main"}}}),
        json!({"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance", "metadata": {"name": "db"},
               "spec": {"forProvider": {"dbSubnetGroupNameRef": {"name": "sg"},
                                        "vpcSecurityGroupIdSelector": {"matchLabels": {"db": "main"}}},
                        "writeConnectionSecretToRef": {"name": "sg", "namespace": "x"}}}),
    ]
    .into_iter()
    .map(|m| Resource::from_manifest(m).unwrap())
    .collect();
    let graph = Graph::build(&resources).unwrap();
    let db = &resources[2].key;
    let deps: Vec<String> = graph
        .dependencies(db)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        deps,
        vec![
            "ec2.aws.upbound.io/SecurityGroup/fw",
            "rds.aws.upbound.io/SubnetGroup/sg"
        ]
    );
    assert!(
        graph.to_dot().contains(
            "\"rds.aws.upbound.io/SubnetGroup/sg\" -> \"rds.aws.upbound.io/Instance/db\""
        )
    );
    assert!(graph.to_mermaid().starts_with("flowchart LR\n"));
}

#[test]
fn waves_order_without_quadratic_edges() {
    let resources: Vec<Resource> = (0..6)
        .map(|i| config_map(i, &[], Some((i % 3) as i64)))
        .collect();
    let graph = Graph::build(&resources).unwrap();
    let order: Vec<String> = graph
        .topological_order()
        .iter()
        .map(|k| k.name.to_string())
        .collect();
    assert_eq!(order, vec!["c0", "c3", "c1", "c4", "c2", "c5"]);
    let deps: Vec<String> = graph
        .dependencies(&resources[2].key)
        .iter()
        .map(|k| k.name.to_string())
        .collect();
    assert_eq!(
        deps,
        vec!["c1", "c4"],
        "direct dependencies are the previous wave only"
    );
    let dependents: Vec<String> = graph
        .dependents(&resources[0].key)
        .iter()
        .map(|k| k.name.to_string())
        .collect();
    assert_eq!(dependents, vec!["c1", "c2", "c4", "c5"]);
}

fn c(i: usize) -> String {
    format!("c{i}")
}

fn cm(i: usize) -> String {
    format!("ConfigMap/c{i}")
}

/// A dependency chain far deeper than a thread's stack allows recursion: the graph is built and
/// ordered without recursing per node, and a cycle at its end is still found and named. (A
/// million-resource set overflowed the stack in the acyclicity check.)
#[test]
fn a_chain_deeper_than_the_stack_builds_and_its_cycle_is_found() {
    const DEPTH: usize = 60_000;
    // A small stack makes per-node recursion fail here, whatever the platform's default.
    let outcome = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let chain: Vec<Resource> = (0..DEPTH)
                .map(|i| {
                    config_map(
                        i,
                        &(0..i).skip(i.saturating_sub(1)).collect::<Vec<_>>(),
                        None,
                    )
                })
                .collect();
            let graph = Graph::build(&chain).expect("a chain is acyclic");
            let order = graph.topological_positions();
            assert_eq!(order, (0..DEPTH).collect::<Vec<_>>());

            let mut cyclic = chain;
            cyclic[0] = config_map(0, &[DEPTH - 1], None);
            match Graph::build(&cyclic) {
                Err(GraphError::Cycle(nodes)) => nodes.len(),
                other => panic!("expected a cycle, got {other:?}"),
            }
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert_eq!(outcome, DEPTH);
}

/// A set large enough to be read on several cores (above `strata_core::par`'s threshold):
/// edges crossing the runs each thread reads are all there, each once, and the order is the one
/// the dependencies force.
#[test]
fn a_set_read_on_several_cores_has_every_edge_once() {
    const N: usize = 10_000;
    let last = N - 1;
    // Each resource depends on the next one (named twice) and on the last one; the first also
    // on 30 more, each named twice (many sources for one resource).
    let many: Vec<usize> = (10..40).collect();
    let resources: Vec<Resource> = (0..N)
        .map(|i| {
            let mut deps: Vec<usize> = if i < last {
                vec![i + 1, i + 1, last]
            } else {
                vec![]
            };
            if i == 0 {
                deps.extend(many.iter().chain(&many));
            }
            config_map(i, &deps, None)
        })
        .collect();
    let graph = Graph::build(&resources).unwrap();
    assert_eq!(
        graph.topological_positions(),
        (0..N).rev().collect::<Vec<_>>()
    );
    let deps: Vec<String> = graph
        .dependencies(&resources[2].key)
        .iter()
        .map(|k| k.name.to_string())
        .collect();
    assert_eq!(deps, vec![c(3), c(last)]);
    assert_eq!(graph.dependencies(&resources[0].key).len(), 2 + many.len());
    // Every resource but the last two has two edges in; the one before the last, one; the
    // first, 30 more.
    let edges = graph
        .to_dot()
        .lines()
        .filter(|l| l.contains(" -> "))
        .count();
    assert_eq!(edges, 2 * (N - 2) + 1 + many.len());
}

/// Errors of a set read on several cores are those a serial reading meets first: duplicates
/// before dependencies, dependencies before sync waves, and among dependencies the first
/// resource in input order, wherever the threads' runs split the set.
#[test]
fn a_set_read_on_several_cores_reports_its_first_error_by_input_order() {
    const N: usize = 10_000;
    let chain = || -> Vec<Resource> {
        (0..N)
            .map(|i| config_map(i, &(i.saturating_sub(1)..i).collect::<Vec<_>>(), None))
            .collect()
    };
    let unknown = |resources: &[Resource]| match Graph::build(resources) {
        Err(GraphError::Annotation(error)) => error.key.name.to_string(),
        other => panic!("expected an annotation error, got {other:?}"),
    };
    let mut set = chain();
    set[9_000] = config_map(9_000, &[N + 1], None);
    set[7_000] = config_map(7_000, &[N + 2], None);
    assert_eq!(unknown(&set), c(7_000));
    set[1_000] = config_map(1_000, &[N + 3], None);
    assert_eq!(unknown(&set), c(1_000));
    let error = Graph::build(&set).unwrap_err().to_string();
    assert!(
        error.contains(&format!("`ConfigMap/c{}` is not in the desired set", N + 3)),
        "{error}"
    );

    // A bad sync wave early in the set is reported only once dependencies are all readable.
    let mut set = chain();
    set[10] = config_map(10, &[9], Some(0));
    let mut manifest = set[10].manifest.clone();
    manifest["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] = "soon".into();
    set[10] = Resource::from_manifest(manifest).unwrap();
    set[8_000] = config_map(8_000, &[N + 1], None);
    assert_eq!(unknown(&set), c(8_000));
    set[8_000] = config_map(8_000, &[7_999], None);
    let error = Graph::build(&set).unwrap_err().to_string();
    assert!(error.contains("`soon` is not an integer"), "{error}");

    // A duplicate is reported before any dependency is read.
    let mut set = chain();
    set[5] = config_map(5, &[N + 1], None);
    set[9_500] = config_map(9_000, &[8_999], None);
    match Graph::build(&set) {
        Err(GraphError::Duplicate(key)) => assert_eq!(key, "ConfigMap/c9000"),
        other => panic!("expected a duplicate, got {other:?}"),
    }
}
