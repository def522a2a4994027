//! Snapshots of the human, JSON and Markdown plan forms for a realistic change set.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use strata_core::plan::{self, MarkdownOptions, Observations, PlanOptions};
use strata_core::provider::{Observation, ProviderRegistry};
use strata_core::state::{ResourceState, ResourceStatus};
use strata_core::{Graph, IdentityNormalizer, Resource, SandboxProvider, State};

fn resource(manifest: Value) -> Resource {
    Resource::from_manifest(manifest).unwrap()
}

fn owned(mut manifest: Value) -> Value {
    strata_core::ownership::stamp_in_place(&mut manifest, "payments");
    manifest
}

/// A stack where one instance is resized (update), one is re-engined (replace), a bucket is new
/// (create), an old bucket left Git (delete), and a Secret's value changed.
fn scenario() -> plan::Plan {
    let (desired, state, observations, registry) = inputs();
    let graph = Graph::build(&desired).unwrap();
    plan::compute_plan(
        desired,
        &graph,
        &state,
        &observations,
        &registry,
        &IdentityNormalizer,
        &PlanOptions::new("payments"),
    )
}

/// The inputs of [`scenario`]'s plan.
fn inputs() -> (Vec<Resource>, State, Observations, ProviderRegistry) {
    let db = |class: &str, engine: &str| {
        json!({
            "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
            "metadata": {"name": "orders-db", "labels": {"strata.dev/environment": "prod"}},
            "spec": {"forProvider": {"engine": engine, "instanceClass": class, "region": "eu-west-1"}}
        })
    };
    let cache = |class: &str| {
        json!({
            "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
            "metadata": {"name": "sessions-db", "labels": {"strata.dev/environment": "staging"}},
            "spec": {"forProvider": {"engine": "postgres", "instanceClass": class}}
        })
    };
    let secret = |pw: &str| {
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "orders-db", "namespace": "orders", "labels": {"strata.dev/environment": "prod"}},
            "stringData": {"password": pw}
        })
    };
    let config = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "orders", "namespace": "orders",
                     "labels": {"strata.dev/environment": "prod"},
                     "annotations": {"strata.dev/depends-on": "rds.aws.upbound.io/Instance/orders-db"}},
        "data": {"DB": "orders-db"}
    });
    let bucket = json!({
        "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
        "metadata": {"name": "orders-exports", "labels": {"strata.dev/environment": "prod"}},
        "spec": {"forProvider": {"region": "eu-west-1"}}
    });
    let old_bucket = json!({
        "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
        "metadata": {"name": "orders-legacy", "labels": {"strata.dev/environment": "prod"}},
        "spec": {"forProvider": {"region": "eu-west-1"}}
    });
    let desired = vec![
        resource(db("db.t3.small", "mysql")),
        resource(cache("db.t3.large")),
        resource(secret("new-password")),
        resource(config.clone()),
        resource(bucket),
    ];
    let mut observations: Observations = HashMap::new();
    let mut state = State::new();
    let live = [
        owned(db("db.t3.small", "postgres")),
        owned(cache("db.t3.medium")),
        owned(secret("old-password")),
        owned(config),
        owned(old_bucket),
    ];
    let sensitivity = strata_core::sensitive::Sensitivity::default();
    for l in live {
        let r = resource(l.clone());
        observations.insert(r.key.clone(), Observation::present(l.clone()));
        state.put(ResourceState {
            key: r.key.clone(),
            api_version: r.api_version().to_owned(),
            provider: "sandbox".into(),
            status: ResourceStatus::Applied,
            last_applied: sensitivity.digest(&r.key, &l).into(),
            dependencies: vec![],
            outputs: Value::Null,
            protect: false,
        });
    }
    // The sandbox mirrors a provider that replaces an RDS instance whose engine changes.
    let rds_rules = strata_core::ReplaceRules::new().with_kind(
        "rds.aws.upbound.io",
        "Instance",
        ["spec.forProvider.engine"],
    );
    let registry = ProviderRegistry::new().with_fallback(Arc::new(
        SandboxProvider::new("/nowhere").with_mirrored_rules(&rds_rules),
    ));
    (desired, state, observations, registry)
}

/// The human plan is its first line, each change's text in plan order, and its end: what a
/// caller printing a plan it keeps change by change (the CLI's plan snapshot) relies on.
#[test]
fn the_human_plan_is_its_header_its_changes_and_its_footer() {
    let plan = scenario();
    let mut text = plan::human_header(plan.has_changes()).to_owned();
    for change in &plan.changes {
        text.push_str(&plan::human_change(change, false));
    }
    text.push_str(&plan::human_footer(&plan.violations, plan.summary(), false));
    assert_eq!(text, plan::render_human(&plan, false));
    let unchanged = plan::Plan {
        stack: plan.stack.clone(),
        changes: plan
            .changes
            .iter()
            .filter(|c| c.action == plan::Action::NoOp)
            .cloned()
            .collect(),
        violations: Vec::new(),
    };
    assert!(plan::human_header(false).starts_with("No changes."));
    assert!(plan::render_human(&unchanged, false).starts_with(plan::human_header(false)));
}

/// A resource planned alone, against its record and its observation, gets the change the
/// whole plan gives it (but for what needs the graph: its dependencies, a replacement's blast
/// radius), with the same guard violations.
#[test]
fn a_resource_planned_alone_gets_its_change_in_the_whole_plan() {
    let whole = scenario();
    let (desired, state, observations, registry) = inputs();
    let options = PlanOptions::new("payments");
    for resource in desired {
        let key = resource.key.clone();
        let (alone, violations) = plan::plan_alone(
            resource,
            state.get(&key),
            observations.get(&key),
            &registry,
            &IdentityNormalizer,
            &options,
        );
        let mut alone = alone.unwrap();
        let planned = whole.changes.iter().find(|c| c.key == key).unwrap();
        assert!(alone.dependencies.is_empty() && alone.blast_radius.is_empty());
        alone.dependencies = planned.dependencies.clone();
        alone.blast_radius = planned.blast_radius.clone();
        assert_eq!(&alone, planned, "{key}");
        let expected: Vec<_> = whole
            .violations
            .iter()
            .filter(|v| v.key == key)
            .cloned()
            .collect();
        assert_eq!(violations, expected, "{key}");
    }
}

#[test]
fn human_plan_snapshot() {
    insta::assert_snapshot!(plan::render_human(&scenario(), false));
}

/// A plan of tens of thousands of changes (rendered in parallel runs of changes, handed over
/// batch by batch) reads exactly as each change rendered alone, in plan order, and is the
/// same text whether it is built whole or written as it is made.
#[test]
fn a_large_plan_is_its_changes_rendered_one_by_one_in_order() {
    let small = scenario();
    let count = 40_000 + 37;
    let mut large = plan::Plan {
        stack: small.stack.clone(),
        changes: Vec::with_capacity(count),
        violations: small.violations.clone(),
    };
    for i in 0..count {
        let mut change = small.changes[i % small.changes.len()].clone();
        change.key.name = format!("{}-{i}", change.key.name).into();
        large.changes.push(change);
    }
    let alone = |change: &plan::ResourceChange| {
        let one = plan::Plan {
            stack: large.stack.clone(),
            changes: vec![change.clone()],
            violations: Vec::new(),
        };
        let text = plan::render_human(&one, false);
        let body = text
            .strip_prefix("Strata will perform the following actions:\n")
            .unwrap_or(&text);
        body[..body.rfind("\nPlan: ").unwrap_or(body.len())].to_owned()
    };
    let mut expected = String::from("Strata will perform the following actions:\n");
    for change in large
        .changes
        .iter()
        .filter(|c| c.action != plan::Action::NoOp)
    {
        expected.push_str(&alone(change));
    }
    let rendered = plan::render_human(&large, false);
    assert!(rendered.starts_with(&expected), "the changes differ");
    let mut tail = String::new();
    if !large.violations.is_empty() {
        tail.push_str("\nThe plan cannot be applied:\n");
        for v in &large.violations {
            tail.push_str(&format!("  ✗ {}\n", v.message));
        }
    }
    let s = large.summary();
    tail.push_str(&format!(
        "\nPlan: {} to add, {} to change, {} to destroy.\n",
        s.add, s.change, s.destroy
    ));
    assert_eq!(rendered[expected.len()..], tail);
    let mut written = Vec::new();
    plan::write_human(&large, false, &mut written).unwrap();
    assert_eq!(written, rendered.as_bytes());
}

#[test]
fn markdown_plan_snapshot() {
    let markdown = plan::render_markdown(&scenario(), MarkdownOptions::default());
    assert!(!markdown.contains("new-password") && !markdown.contains("old-password"));
    insta::assert_snapshot!(markdown);
}

#[test]
fn json_plan_snapshot() {
    let mut json = plan::to_json(&scenario());
    assert!(!json.to_string().contains("new-password"));
    json["strata_version"] = json!("[version]");
    insta::assert_json_snapshot!(json);
}

#[test]
fn markdown_is_cut_to_size_with_a_note() {
    let markdown = plan::render_markdown(
        &scenario(),
        MarkdownOptions::default().with_max_bytes(1_200),
    );
    assert!(markdown.len() <= 1_200, "{}", markdown.len());
    assert!(
        markdown.contains("The plan was cut to fit a comment"),
        "{markdown}"
    );
    assert!(markdown.contains("strata plan -o json"));
}
