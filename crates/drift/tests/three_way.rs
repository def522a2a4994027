//! Behaviour of the three-way diff, the engine and the core normaliser.

use serde_json::{Value, json};
use strata_core::Normalizer;
use strata_drift::{
    ChangeOrigin, DriftNormalizer, DriftRules, DriftStatus, IgnoreDifference, StatusPolicy,
    diff_three_way,
};

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": data})
}

fn rules() -> DriftRules {
    DriftRules::default()
}

#[test]
fn field_removed_from_desired_is_drift_only_with_last_applied() {
    let applied = cm(json!({"a": "1", "b": "2"}));
    let desired = cm(json!({"a": "1"}));
    let live = applied.clone();
    let three = diff_three_way(Some(&desired), Some(&applied), Some(&live), &rules());
    assert_eq!(three.status, DriftStatus::Drifted);
    assert_eq!(three.changes.len(), 1);
    assert_eq!(three.changes[0].path, "/data/b");
    assert_eq!(three.changes[0].origin, ChangeOrigin::Git);
    assert_eq!(three.changes[0].desired, None);
    assert_eq!(three.changes[0].live, Some(json!("2")));
    let two = diff_three_way(Some(&desired), None, Some(&live), &rules());
    assert_eq!(
        two.status,
        DriftStatus::InSync,
        "two-way cannot see a removal"
    );
}

#[test]
fn origins_git_world_conflict() {
    let applied = cm(json!({"git": "1", "world": "1", "both": "1"}));
    let desired = cm(json!({"git": "2", "world": "1", "both": "2"}));
    let live = cm(json!({"git": "1", "world": "3", "both": "3"}));
    let d = diff_three_way(Some(&desired), Some(&applied), Some(&live), &rules());
    let origin = |p: &str| d.changes.iter().find(|c| c.path == p).map(|c| c.origin);
    assert_eq!(origin("/data/git"), Some(ChangeOrigin::Git));
    assert_eq!(origin("/data/world"), Some(ChangeOrigin::World));
    assert_eq!(origin("/data/both"), Some(ChangeOrigin::Conflict));
    let two = diff_three_way(Some(&desired), None, Some(&live), &rules());
    assert!(
        two.changes
            .iter()
            .all(|c| c.origin == ChangeOrigin::Unattributed)
    );
    assert_eq!(two.changes.len(), 3);
}

#[test]
fn world_deleted_field_and_missing_or_extra_objects() {
    let applied = cm(json!({"a": "1"}));
    let live = cm(json!({}));
    let d = diff_three_way(Some(&applied), Some(&applied), Some(&live), &rules());
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.changes[0].origin, ChangeOrigin::World);
    assert_eq!(
        diff_three_way(Some(&applied), None, None, &rules()).status,
        DriftStatus::Missing
    );
    assert_eq!(
        diff_three_way(None, Some(&applied), Some(&live), &rules()).status,
        DriftStatus::Extraneous
    );
}

#[test]
fn server_fields_status_and_quantities_are_not_drift() {
    let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}}}]}}}});
    let mut live = desired.clone();
    live["metadata"]["uid"] = json!("u");
    live["metadata"]["managedFields"] = json!([]);
    live["metadata"]["namespace"] = json!("default");
    live["status"] = json!({"replicas": 1});
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] =
        json!({"cpu": 1, "memory": "1024Mi"});
    let d = diff_three_way(Some(&desired), None, Some(&live), &rules());
    assert_eq!(d.status, DriftStatus::InSync, "{:?}", d.changes);
}

#[test]
fn status_is_compared_when_the_kind_opts_in() {
    let desired = json!({"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {"name": "t"}, "status": {"phase": "Ready"}});
    let live = json!({"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {"name": "t"}, "status": {"phase": "Failed"}});
    assert_eq!(
        diff_three_way(Some(&desired), None, Some(&live), &rules()).status,
        DriftStatus::InSync
    );
    let opted = DriftRules::default().compare_status_of("example.io", "Thing");
    assert_eq!(
        diff_three_way(Some(&desired), None, Some(&live), &opted).status,
        DriftStatus::Drifted
    );
    let none = DriftRules::default().with_status_policy(StatusPolicy::None);
    assert_eq!(
        diff_three_way(Some(&desired), None, Some(&live), &none).status,
        DriftStatus::Drifted
    );
}

#[test]
fn jq_and_managers_ignore_fields() {
    let rules = DriftRules::from_ignore_differences(vec![IgnoreDifference {
        group: "*".into(),
        kind: "ConfigMap".into(),
        jq_path_expressions: vec![".data.noisy".into()],
        managed_fields_managers: vec!["operator".into()],
        ..IgnoreDifference::default()
    }])
    .expect("valid");
    let desired = cm(json!({"noisy": "a", "owned": "x", "real": "1"}));
    let mut live = cm(json!({"noisy": "b", "owned": "y", "real": "2"}));
    live["metadata"]["managedFields"] = json!([{"manager": "operator", "operation": "Update",
        "fieldsV1": {"f:data": {"f:owned": {}}}}]);
    let d = diff_three_way(Some(&desired), None, Some(&live), &rules);
    assert_eq!(d.changes.len(), 1, "{:?}", d.changes);
    assert_eq!(d.changes[0].path, "/data/real");
    assert!(d.ignored.iter().any(|i| i.path == "/data/noisy"));
    assert!(
        d.ignored
            .iter()
            .any(|i| i.path == "/data/owned" && i.reason == "managed by operator")
    );
}

#[test]
fn bad_jq_is_a_configuration_error() {
    let err = DriftRules::from_ignore_differences(vec![IgnoreDifference {
        kind: "*".into(),
        group: "*".into(),
        jq_path_expressions: vec![".spec | select(".into()],
        ..IgnoreDifference::default()
    }]);
    assert!(err.is_err());
}

#[test]
fn normalizer_for_core_hides_noise_and_keeps_real_changes() {
    let n = DriftNormalizer::new(DriftRules::default());
    let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "x"},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i:1", "env": [{"name": "A", "value": "1"}]}]}}}});
    let mut live = desired.clone();
    live["metadata"]["resourceVersion"] = json!("9");
    live["spec"]["progressDeadlineSeconds"] = json!(600);
    live["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "INJECTED", "value": "x"}, {"name": "A", "value": "1"}]);
    live["status"] = json!({"replicas": 2});
    let (d, l) = n.normalize(&desired, &live);
    assert_eq!(d, l);
    live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("i:2");
    let (d, l) = n.normalize(&desired, &live);
    assert_ne!(d, l);
    let (state_form, absent) = n.normalize(&desired, &Value::Null);
    assert!(absent.is_null());
    assert_eq!(
        state_form["metadata"]["namespace"],
        json!("x"),
        "the state form keeps identity"
    );
}

fn rds_instance(for_provider: Value) -> Value {
    json!({"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
        "metadata": {"name": "db"}, "spec": {"forProvider": for_provider}})
}

#[test]
fn a_changed_password_secret_ref_is_reported_as_sensitive() {
    let applied = rds_instance(
        json!({"engine": "postgres", "passwordSecretRef": {"name": "db-old", "key": "pw"}}),
    );
    let desired = rds_instance(
        json!({"engine": "postgres", "passwordSecretRef": {"name": "db-new", "key": "pw"}}),
    );
    let drift = diff_three_way(Some(&desired), Some(&applied), Some(&applied), &rules());
    assert_eq!(drift.status, DriftStatus::Drifted);
    assert!(!drift.changes.is_empty());
    for change in &drift.changes {
        assert!(change.sensitive, "{}", change.path);
        assert_eq!(
            change.desired,
            Some(json!("(sensitive)")),
            "{}",
            change.path
        );
        assert_eq!(
            change.last_applied,
            Some(json!("(sensitive)")),
            "{}",
            change.path
        );
    }
    let report = strata_drift::DriftReport {
        resources: vec![drift],
        ..strata_drift::DriftReport::default()
    };
    for text in [
        report.to_json().to_string(),
        report.to_human(),
        report.to_markdown(),
    ] {
        assert!(
            !text.contains("db-new") && !text.contains("db-old"),
            "{text}"
        );
        assert!(text.contains("(sensitive)"), "{text}");
    }
}

#[test]
fn a_changed_master_user_password_is_reported_as_sensitive() {
    let applied = rds_instance(json!({"masterUserPassword": "hunter2"}));
    let live = rds_instance(json!({"masterUserPassword": "hunter3"}));
    let drift = diff_three_way(Some(&applied), Some(&applied), Some(&live), &rules());
    assert_eq!(drift.changes.len(), 1);
    assert_eq!(
        drift.changes[0].path,
        "/spec/forProvider/masterUserPassword"
    );
    assert_eq!(drift.changes[0].live, Some(json!("(sensitive)")));
}

#[test]
fn provider_declared_paths_are_hidden_in_drift_reports() {
    let rules = rules().with_sensitivity(strata_core::sensitive::Sensitivity::with_paths([
        "spec.forProvider.token",
    ]));
    let applied = rds_instance(json!({"token": "a"}));
    let live = rds_instance(json!({"token": "b"}));
    let drift = diff_three_way(Some(&applied), Some(&applied), Some(&live), &rules);
    assert_eq!(drift.changes[0].live, Some(json!("(sensitive)")));
}

/// A map key of digits is a key in the readable path (`data["80"]`), a list position an index
/// (`[0]`); the JSON keeps the pointer, where both read `/80` and `/0`.
#[test]
fn a_map_key_of_digits_reads_as_a_key_and_a_list_position_as_an_index() {
    let desired = cm(json!({"80": "http", "443": "https"}));
    let live = cm(json!({"80": "gopher", "443": "https"}));
    let drift = diff_three_way(Some(&desired), Some(&desired), Some(&live), &rules());
    assert_eq!(drift.changes.len(), 1);
    assert_eq!(drift.changes[0].path, "/data/80");
    assert_eq!(drift.changes[0].readable.as_deref(), Some(r#"data["80"]"#));

    let listed = |rules: Value| {
        json!({"apiVersion": "example.org/v1", "kind": "Gateway",
               "metadata": {"name": "g", "namespace": "n"},
               "spec": {"routes": [{"80": rules}]}})
    };
    let nested = diff_three_way(
        Some(&listed(json!("a"))),
        Some(&listed(json!("a"))),
        Some(&listed(json!("b"))),
        &rules(),
    );
    assert_eq!(nested.changes.len(), 1, "{nested:?}");
    assert_eq!(nested.changes[0].path, "/spec/routes/0/80");
    assert_eq!(
        nested.changes[0].readable.as_deref(),
        Some(r#"spec.routes[0]["80"]"#)
    );

    let report = strata_drift::DriftReport {
        resources: vec![drift, nested],
        ..strata_drift::DriftReport::default()
    };
    let human = report.to_human();
    assert!(
        human.contains(r#"~ data["80"]: "gopher" -> "http""#),
        "{human}"
    );
    assert!(human.contains(r#"spec.routes[0]["80"]"#), "{human}");
    assert!(!human.contains("data[80]"), "{human}");
    let markdown = report.to_markdown();
    assert!(markdown.contains(r#"`data["80"]`"#), "{markdown}");
    let json = report.to_json();
    assert_eq!(json["resources"][0]["changes"][0]["path"], "/data/80");
    assert!(json["resources"][0]["changes"][0].get("readable").is_none());
}
