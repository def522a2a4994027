//! Property tests: a resource never drifts from itself, normalisation is idempotent, and a
//! change followed by its revert leaves no drift.

use proptest::prelude::*;
use serde_json::{Value, json};
use strata_drift::{DriftRules, IgnoreDifference, diff_three_way};

fn quantity() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..4000).prop_map(|m| format!("{m}m")),
        (1u32..64).prop_map(|g| format!("{g}Gi")),
        (1u32..2048).prop_map(|m| format!("{m}Mi")),
        (1u32..16).prop_map(|c| c.to_string()),
        (1u32..9).prop_map(|c| format!("0.{c}")),
    ]
}

fn label_map() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z]{1,6}", "[a-z0-9]{0,6}", 0..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect()))
}

fn container() -> impl Strategy<Value = Value> {
    (
        "[a-z]{1,8}",
        "[a-z]{1,8}:[0-9]\\.[0-9]",
        quantity(),
        quantity(),
        prop::option::of(1u16..9000),
        any::<bool>(),
    )
        .prop_map(|(name, image, cpu, mem, port, ro)| {
            let mut c = json!({"name": name, "image": image,
                "resources": {"requests": {"cpu": cpu, "memory": mem}},
                "volumeMounts": [{"name": "v", "mountPath": "/data", "readOnly": ro}]});
            if let Some(p) = port {
                c["ports"] = json!([{"containerPort": p}]);
            }
            c
        })
}

fn manifest() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just(("apps/v1", "Deployment")),
            Just(("v1", "ConfigMap")),
            Just(("example.io/v1", "Widget"))
        ],
        "[a-z]{1,10}",
        label_map(),
        prop::option::of(0u32..10),
        prop::collection::vec(container(), 1..3),
        label_map(),
    )
        .prop_map(|((api, kind), name, labels, replicas, containers, data)| {
            let mut m = json!({"apiVersion": api, "kind": kind,
                "metadata": {"name": name, "namespace": "ns", "labels": labels}});
            match kind {
                "ConfigMap" => m["data"] = data,
                _ => {
                    let mut uniq = Vec::new();
                    let mut seen = std::collections::BTreeSet::new();
                    for c in containers {
                        if seen.insert(c["name"].as_str().unwrap_or("").to_string()) {
                            uniq.push(c);
                        }
                    }
                    m["spec"] = json!({"template": {"spec": {"containers": uniq}}, "extra": data});
                    if let Some(r) = replicas {
                        m["spec"]["replicas"] = json!(r);
                    }
                }
            }
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn no_drift_against_itself(x in manifest()) {
        let rules = DriftRules::default();
        let two = diff_three_way(Some(&x), None, Some(&x), &rules);
        prop_assert!(two.changes.is_empty(), "{:?}", two.changes);
        let three = diff_three_way(Some(&x), Some(&x), Some(&x), &rules);
        prop_assert!(three.changes.is_empty(), "{:?}", three.changes);
    }

    #[test]
    fn normalization_is_idempotent(x in manifest()) {
        let rules = DriftRules::default();
        let once = rules.normalize(&x);
        let twice = rules.normalize(&once);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn change_then_revert_is_no_drift(x in manifest(), label in "[a-z]{1,6}", value in "[a-z0-9]{1,6}") {
        let rules = DriftRules::default();
        let mut changed = x.clone();
        changed["metadata"]["labels"][label.as_str()] = json!(value);
        // Git changes a label: drift until the world catches up.
        let before = x["metadata"]["labels"].get(label.as_str()).cloned();
        let drift = diff_three_way(Some(&changed), Some(&x), Some(&x), &rules);
        prop_assert_eq!(drift.changes.is_empty(), before == Some(json!(value)));
        // Reverting the change in Git leaves no drift.
        let reverted = diff_three_way(Some(&x), Some(&x), Some(&x), &rules);
        prop_assert!(reverted.changes.is_empty());
        // The world changing a managed field and changing it back leaves no drift either.
        let mut world = x.clone();
        world["metadata"]["name"] = json!("renamed-by-hand");
        prop_assert!(!diff_three_way(Some(&x), Some(&x), Some(&world), &rules).changes.is_empty());
        let restored = world.clone();
        let mut restored = restored;
        restored["metadata"]["name"] = x["metadata"]["name"].clone();
        prop_assert!(diff_three_way(Some(&x), Some(&x), Some(&restored), &rules).changes.is_empty());
    }
}

/// A live object derived from `x` by the kind of edits the world makes.
fn world_edit(x: &Value, edit: u8, text: &str) -> Value {
    let mut live = x.clone();
    live["metadata"]["resourceVersion"] = json!("1");
    live["status"] = json!({"observedGeneration": 1});
    match edit % 11 {
        0 => live["metadata"]["labels"]["edited"] = json!(text),
        1 => {
            if let Some(l) = live["metadata"]["labels"].as_object_mut()
                && let Some(k) = l.keys().next().cloned()
            {
                l.insert(k, json!(format!("{text}-x")));
            }
        }
        2 => {
            if let Some(c) = live.pointer_mut("/spec/template/spec/containers/0") {
                c["image"] = json!(text);
            }
        }
        3 => {
            if let Some(c) = live.pointer_mut("/spec/template/spec/containers/0/resources/requests")
            {
                c["cpu"] = json!(format!("{}m", text.len() * 100));
            }
        }
        4 => {
            if let Some(c) = live.pointer_mut("/spec/template/spec/containers/0/resources/requests")
            {
                c["memory"] = json!("1024Mi");
            }
        }
        5 => {
            if let Some(s) = live.get_mut("spec").and_then(Value::as_object_mut) {
                s.shift_remove("replicas");
            }
        }
        6 => live["metadata"]["annotations"] = json!({"note": text}),
        7 => {
            if let Some(m) = live.pointer_mut("/spec/template/spec/containers/0/volumeMounts/0") {
                m["readOnly"] = json!(text.len().is_multiple_of(2));
            }
        }
        8 => {
            if let Some(r) = live.pointer_mut("/spec/replicas") {
                *r = json!(r.as_u64().unwrap_or(0) + text.len() as u64);
            }
        }
        9 => {
            if let Some(r) = live.pointer_mut("/spec/replicas") {
                *r = json!(r.as_u64().unwrap_or(0) as f64);
            }
        }
        _ => {
            // two changes at once, one of them in a list item
            live["metadata"]["labels"]["edited"] = json!(text);
            if let Some(c) = live.pointer_mut("/spec/template/spec/containers/0") {
                c["name"] = json!(format!("{text}-renamed"));
            }
        }
    }
    live
}

/// ignoreDifferences JSON pointers, some of which the copy-free walk handles itself and some
/// of which (into lists, onto whole maps) it leaves to the full diff.
fn ignore_rules(choice: u8) -> DriftRules {
    let pointers: &[&str] = match choice % 7 {
        0 => &[],
        1 => &["/spec/replicas"],
        2 => &["/metadata/labels/edited", "/spec/replicas"],
        3 => &["/spec/template/spec/containers/0/image"],
        4 => &["/metadata/labels"],
        5 => &["/spec/template"],
        _ => &["/spec/extra/a", "/metadata/name"],
    };
    DriftRules::from_ignore_differences(vec![IgnoreDifference {
        group: "*".into(),
        kind: "*".into(),
        json_pointers: pointers.iter().map(|p| p.to_string()).collect(),
        ..IgnoreDifference::default()
    }])
    .expect("pointer rules compile")
}

/// A desired object derived from `x` by a change made in Git.
fn git_edit(x: &Value, edit: u8, text: &str) -> Value {
    let mut desired = x.clone();
    match edit % 5 {
        0 => desired["metadata"]["labels"]["from-git"] = json!(text),
        1 => {
            if let Some(c) = desired.pointer_mut("/spec/template/spec/containers/0") {
                c["image"] = json!(format!("{text}:2"));
            }
        }
        2 => {
            if let Some(r) = desired.pointer_mut("/spec/replicas") {
                *r = json!(r.as_u64().unwrap_or(0) + 1);
            }
        }
        // A field removed in Git (the live object still has it).
        3 => {
            if let Some(labels) = desired
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
                && let Some(first) = labels.keys().next().cloned()
            {
                labels.shift_remove(&first);
            }
        }
        _ => {}
    }
    desired
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The copy-free in-sync check never hides drift the full diff reports.
    #[test]
    fn fast_path_agrees_with_full_path(
        x in manifest(),
        edit in any::<u8>(),
        git in any::<u8>(),
        text in "[a-z]{1,5}",
        applied in any::<bool>(),
        owned in any::<bool>(),
        ignore in any::<u8>(),
    ) {
        let mut live = world_edit(&x, edit, &text);
        if owned {
            live["metadata"]["managedFields"] = json!([
                {"manager": "strata", "operation": "Apply", "fieldsV1": {
                    "f:metadata": {"f:labels": {}}, "f:spec": {"f:replicas": {}}}},
                {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:edited": {}}}, "f:spec": {"f:replicas": {}}}}]);
        }
        let desired = git_edit(&x, git, &text);
        let last = applied.then(|| x.clone());
        let rules = ignore_rules(ignore);
        let fast = diff_three_way(Some(&desired), last.as_ref(), Some(&live), &rules);
        let full = diff_three_way(Some(&desired), last.as_ref(), Some(&live), &rules.clone().without_fast_path());
        prop_assert_eq!(fast.status, full.status);
        prop_assert_eq!(fast.changes, full.changes);
        prop_assert_eq!(fast.ignored, full.ignored);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The planner skips normalising a resource when the normaliser says equal fields stay
    /// equal and the live object holds every desired field with its value (read from its
    /// text), or when the normaliser is certain without normalising (the drift walk): the
    /// normalised comparison must find no change either, and the normalised desired object
    /// (what the state records) must be normalised already.
    #[test]
    fn a_plain_resource_whose_live_object_holds_its_fields_is_unchanged_normalised(
        x in manifest(),
        edit in any::<u8>(),
        git in any::<u8>(),
        text in "[a-z]{1,5}",
        ignore in any::<u8>(),
    ) {
        use strata_core::normalize::Normalizer;
        use strata_core::LiveObject;
        let rules = if ignore % 2 == 0 { DriftRules::default() } else { ignore_rules(ignore) };
        let normalizer = strata_drift::DriftNormalizer::new(rules);
        let mut served = x.clone();
        served["metadata"]["resourceVersion"] = json!("7");
        served["metadata"]["uid"] = json!("u-1");
        served["status"] = json!({"observedGeneration": 1});
        // As an API server serves it: defaults inside list items, managed fields, a
        // creation time (the text shortcut does not apply; the drift walk does).
        let mut defaulted = served.clone();
        defaulted["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        defaulted["metadata"]["managedFields"] = json!([{"manager": "strata", "operation": "Apply"}]);
        if let Some(containers) = defaulted
            .pointer_mut("/spec/template/spec/containers")
            .and_then(Value::as_array_mut)
        {
            for c in containers {
                c["imagePullPolicy"] = json!("IfNotPresent");
                c["terminationMessagePath"] = json!("/dev/termination-log");
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        p["protocol"] = json!("TCP");
                    }
                }
            }
        }
        if ignore % 2 == 0 {
            // Not vacuous: with no rules the planner's shortcuts apply to the served objects.
            prop_assert!(normalizer.unchanged_when_fields_equal(&x));
            prop_assert!(LiveObject::compact(&served).covers(&x));
            prop_assert!(normalizer.certainly_unchanged(&x, &defaulted));
        }
        for desired in [x.clone(), git_edit(&x, git, &text)] {
            for live in [served.clone(), defaulted.clone(), world_edit(&x, edit, &text)] {
                if normalizer.unchanged_when_fields_equal(&desired)
                    && LiveObject::compact(&live).covers(&desired)
                    || normalizer.certainly_unchanged(&desired, &live)
                {
                    let (d, l) = normalizer.normalize(&desired, &live);
                    let changes = strata_core::plan::fields::desired_vs_live(&d, &l);
                    prop_assert!(changes.is_empty(), "{desired} / {live}: {changes:?}");
                    let (again, _) = normalizer.normalize(&d, &Value::Null);
                    prop_assert_eq!(again, d);
                }
            }
        }
    }
}

/// Plans one resource whose manifest is `desired` against `live` (as text or parsed) and, when
/// given, the record of `applied` as the engine keeps it (normalised, digested).
fn plan_one(
    desired: &Value,
    applied: Option<&Value>,
    live: Option<strata_core::LiveObject>,
    normalizer: &strata_drift::DriftNormalizer,
) -> strata_core::plan::Plan {
    use strata_core::normalize::Normalizer;
    use strata_core::state::{ResourceState, ResourceStatus};
    use strata_core::{CompactValue, Graph, Observation, ProviderRegistry, Resource, State};
    let resource = Resource::from_manifest(desired.clone()).expect("a manifest with a key");
    let mut state = State::new();
    if let Some(applied) = applied {
        let stamped = strata_core::ownership::stamp(applied, "shop");
        let kept = normalizer.normalize(&stamped, &Value::Null).0;
        let sensitivity = strata_core::sensitive::Sensitivity::default();
        state.put(ResourceState {
            key: resource.key.clone(),
            api_version: resource.api_version().to_owned(),
            provider: "sandbox".into(),
            status: ResourceStatus::Applied,
            last_applied: CompactValue::from_value(&sensitivity.digested(&resource.key, &kept)),
            dependencies: Vec::new(),
            outputs: Value::Null,
            protect: false,
        });
    }
    let mut observations = strata_core::plan::Observations::new();
    observations.insert(
        resource.key.clone(),
        live.map_or_else(Observation::absent, Observation::present),
    );
    let registry = ProviderRegistry::new().with_fallback(std::sync::Arc::new(
        strata_core::SandboxProvider::new("/nonexistent"),
    ));
    let resources = vec![resource];
    let graph = Graph::build(&resources).expect("one resource");
    strata_core::plan::compute_plan(
        resources,
        &graph,
        &state,
        &observations,
        &registry,
        normalizer,
        &strata_core::plan::PlanOptions::new("shop"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The planner's shortcuts (a settled resource found unchanged from the live text, or by
    /// the drift walk, without normalising) never change a plan: the same plan as with every
    /// resource normalised and compared in full, for live objects as text and parsed, records
    /// of the manifest, of an older manifest or none, and the ignore rules of the other tests.
    #[test]
    fn plans_with_and_without_the_shortcuts_agree(
        x in manifest(),
        edit in any::<u8>(),
        git in any::<u8>(),
        text in "[a-z]{1,5}",
        ignore in any::<u8>(),
        recorded in 0u8..3,
        absent in prop::bool::weighted(0.1),
        metadata_edit in 0u8..5,
    ) {
        let rules = if ignore % 2 == 0 { DriftRules::default() } else { ignore_rules(ignore) };
        let shortcuts = strata_drift::DriftNormalizer::new(rules.clone());
        let full = strata_drift::DriftNormalizer::new(rules.without_fast_path());
        let desired = git_edit(&x, git, &text);
        let mut live = world_edit(&strata_core::ownership::stamp(&x, "shop"), edit, &text);
        live["metadata"]["managedFields"] = json!([{"manager": "strata", "operation": "Apply"}]);
        // Metadata the drift report tolerates or rewrites, which a plan may not.
        match metadata_edit {
            1 => {
                if let Some(meta) = live["metadata"].as_object_mut() {
                    meta.shift_remove("namespace");
                }
            }
            2 => live["metadata"]["namespace"] = json!("other"),
            3 => {
                live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
                    json!("{}");
            }
            4 => live["metadata"]["annotations"] = json!({}),
            _ => {}
        }
        let applied = match recorded {
            0 => None,
            1 => Some(&x),
            _ => Some(&desired),
        };
        let expected = plan_one(
            &desired,
            applied,
            (!absent).then(|| live.clone().into()),
            &full,
        );
        for live in [
            strata_core::LiveObject::compact(&live),
            strata_core::LiveObject::from(live.clone()),
        ] {
            let planned = plan_one(&desired, applied, (!absent).then_some(live), &shortcuts);
            prop_assert_eq!(&planned.changes, &expected.changes);
            prop_assert_eq!(&planned.violations, &expected.violations);
        }
    }
}
