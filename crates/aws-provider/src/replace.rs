//! The replace rules of every kind the AWS provider serves, as one plain table.
//!
//! [`crate::AwsProvider`] answers `replace_fields` from this table, and the same table is handed
//! to the sandbox (`SandboxProvider::with_mirrored_rules(strata_aws::replace_rules())`), so a
//! change AWS cannot make in place is planned as a replacement on both. The table holds only
//! field paths: reading it needs no AWS client.

use std::sync::LazyLock;

use strata_core::ReplaceRules;

use crate::rds::{self, instance, parameter_group, subnet_group};
use crate::s3::{self, bucket, settings, settings::Setting};

static RULES: LazyLock<ReplaceRules> = LazyLock::new(|| {
    let mut rules = ReplaceRules::new()
        .with_kind(s3::GROUP, "Bucket", bucket::REPLACE_FIELDS.iter().copied())
        .with_kind(
            rds::GROUP,
            "Instance",
            instance::REPLACE_FIELDS.iter().copied(),
        )
        .with_kind(
            rds::GROUP,
            "SubnetGroup",
            subnet_group::REPLACE_FIELDS.iter().copied(),
        )
        .with_kind(
            rds::GROUP,
            "ParameterGroup",
            parameter_group::REPLACE_FIELDS.iter().copied(),
        );
    for setting in Setting::ALL {
        rules.declare(
            s3::GROUP,
            setting.kind_name(),
            settings::REPLACE_FIELDS.iter().copied(),
        );
    }
    rules
});

/// Every kind the AWS provider serves, as `(group, kind)` (for
/// `SandboxProvider::with_mirrored_kinds`).
pub fn declared_kinds() -> Vec<(String, String)> {
    RULES
        .kinds()
        .map(|(g, k)| (g.to_owned(), k.to_owned()))
        .collect()
}

/// The replace-forcing fields of every kind the AWS provider serves.
pub fn replace_rules() -> &'static ReplaceRules {
    &RULES
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use strata_core::plan::{self, Action, Observations, PlanOptions};
    use strata_core::provider::{Observation, Provider, ProviderRegistry};
    use strata_core::{Graph, IdentityNormalizer, Resource, ResourceKey, SandboxProvider, State};

    use super::*;
    use crate::{AwsKind, AwsProvider, AwsSettings};

    fn aws() -> AwsProvider {
        AwsProvider::lazy(AwsSettings::default())
    }

    #[test]
    fn the_table_declares_exactly_the_served_kinds() {
        let declared: Vec<(&str, &str)> = replace_rules().kinds().collect();
        assert_eq!(declared.len(), 7, "{declared:?}");
        for (group, kind) in declared {
            assert!(AwsKind::of(group, kind).is_some(), "{group}/{kind}");
            assert!(
                !replace_rules().fields_of(group, kind).is_empty(),
                "{group}/{kind}"
            );
        }
    }

    #[test]
    fn the_sandbox_and_aws_agree_on_every_mirrored_kind() {
        let sandbox = SandboxProvider::new("/nowhere").with_mirrored_rules(replace_rules());
        let aws = aws();
        for (group, kind) in sandbox.mirrored_rules().kinds() {
            let key = ResourceKey::new(group, kind, None, "x");
            assert_eq!(
                sandbox.replace_fields(&key),
                aws.replace_fields(&key),
                "{group}/{kind}"
            );
        }
    }

    fn instance(for_provider: Value) -> Resource {
        Resource::from_manifest(json!({
            "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
            "metadata": {"name": "orders-db"},
            "spec": {"forProvider": for_provider}
        }))
        .expect("a valid manifest")
    }

    /// The action planned for changing the live `before` instance to `after` when the
    /// instance is served by `provider`.
    fn planned_action(provider: Arc<dyn Provider>, before: Value, after: Value) -> Action {
        let desired = vec![instance(after)];
        let live = instance(before);
        let mut observations = Observations::new();
        let owned = strata_core::ownership::stamp(&live.manifest, "orders");
        observations.insert(live.key.clone(), Observation::present(owned));
        let graph = Graph::build(&desired).expect("a graph");
        let plan = plan::compute_plan(
            desired,
            &graph,
            &State::new(),
            &observations,
            &ProviderRegistry::new().with_provider(provider),
            &IdentityNormalizer,
            &PlanOptions::new("orders"),
        );
        plan.changes[0].action
    }

    #[test]
    fn a_field_aws_replaces_is_a_replacement_on_the_sandbox_too() {
        let before =
            json!({"engine": "postgres", "username": "app", "instanceClass": "db.t3.small"});
        let renamed =
            json!({"engine": "postgres", "username": "admin", "instanceClass": "db.t3.small"});
        let resized =
            json!({"engine": "postgres", "username": "app", "instanceClass": "db.t3.large"});
        let sandbox: Arc<dyn Provider> =
            Arc::new(SandboxProvider::new("/nowhere").with_mirrored_rules(replace_rules()));
        let aws: Arc<dyn Provider> = Arc::new(aws());
        for provider in [sandbox, aws] {
            assert_eq!(
                planned_action(Arc::clone(&provider), before.clone(), renamed.clone()),
                Action::DeleteThenCreate,
                "{}",
                provider.name()
            );
            assert_eq!(
                planned_action(Arc::clone(&provider), before.clone(), resized.clone()),
                Action::Update,
                "{}",
                provider.name()
            );
        }
    }
}
