//! Strata drift: normalisation, three-way diff, ignore rules, drift reports, and the self-heal
//! and retry policy. Pure: values in, values out, no I/O (but for [`stream_report`], which
//! drives core's engine to observe a stack and compares each live object as it arrives).
//!
//! The behaviour follows ArgoCD's diff (see the project's `reference/argocd.md`):
//!
//! * **Normalisation** ([`normalize`]): built-in kinds are re-encoded through their types
//!   (quantities such as `1000m` → `1`, `omitempty` zero values dropped, integral floats made
//!   integers), Secret `stringData` is folded into `data`, Role `rules: []` equals `null`,
//!   Endpoints are sorted; server-owned metadata (`managedFields`, `resourceVersion`, `uid`,
//!   `generation`, `creationTimestamp`, `selfLink`) and `status` (unless the kind opts in) are
//!   never drift.
//! * **ignoreDifferences** ([`ignore`]): JSON pointers, jq path expressions (run with `jaq`) and
//!   trusted `managedFieldsManagers`, matched by group and kind globs and exact name/namespace.
//! * **Diff**: [`compare::diff`] is ArgoCD's `modified` / predicted-live computation;
//!   [`diff_three_way`] gives the field-level drift of desired (Git) vs last applied (state) vs
//!   live (world), attributing each change to Git, the world, or both, with the owning field
//!   manager. Resources that are certainly in sync are recognised without copying them
//!   ([`fast`]); the others go through the full normalising path.
//! * **Core integration**: [`DriftNormalizer`] implements `strata_core::Normalizer`, so plans
//!   compare through the same normalisation.
//!   ArgoCD's `argocd-cm` settings are read by [`ArgoCdSettings`]; at apply time
//!   [`respect_ignore_differences`] keeps live values of ignored fields
//!   (`RespectIgnoreDifferences=true`).
//! * **Stack inputs** ([`stack_inputs`]): a stack's desired set, state and observations as
//!   report inputs, sensitive values as digests; [`stream_report`] (with [`StackReport`])
//!   compares each live object as it is observed and drops it, keeping only results.
//! * **Reports** ([`DriftReport`]): JSON, human text and Markdown for a PR comment, with
//!   sensitive values shown as `(sensitive)` by core's one rule set (`strata_core::sensitive`,
//!   extended through [`DriftRules::with_sensitivity`]), and `terraform plan
//!   -detailed-exitcode` exit codes.
//! * **Policy** ([`policy`], [`backoff`]): detect-only / self-heal / ignore per selector, and
//!   ArgoCD's self-heal and sync-retry backoff as pure functions.
//!
//! # Example
//!
//! ```
//! use serde_json::json;
//! use strata_drift::{
//!     ChangeOrigin, DriftEngine, DriftPolicy, DriftRules, IgnoreDifference, ResourceInput,
//! };
//!
//! // Ignore spec.replicas on Deployments (an autoscaler owns it).
//! let rules = DriftRules::from_ignore_differences(vec![IgnoreDifference {
//!     group: "apps".into(),
//!     kind: "Deployment".into(),
//!     json_pointers: vec!["/spec/replicas".into()],
//!     ..IgnoreDifference::default()
//! }])?;
//! let engine = DriftEngine::new(rules, DriftPolicy::default());
//!
//! let last_applied = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "namespace": "prod"},
//!     "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}}});
//! let mut desired = last_applied.clone();
//! desired["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
//! let mut live = last_applied.clone();
//! live["spec"]["replicas"] = json!(5);
//! live["metadata"]["resourceVersion"] = json!("42");
//!
//! let report = engine.report([ResourceInput {
//!     desired: Some(desired),
//!     last_applied: Some(last_applied),
//!     live: Some(live),
//! }]);
//! let drift = &report.resources[0];
//! assert_eq!(drift.changes.len(), 1);
//! assert_eq!(drift.changes[0].path, "/spec/template/spec/containers/0/image");
//! assert_eq!(drift.changes[0].origin, ChangeOrigin::Git);
//! assert_eq!(report.exit_code(), 2);
//! assert!(report.to_markdown().contains("<details>"));
//! # Ok::<(), strata_drift::DriftError>(())
//! ```

pub mod argocd_cm;
pub mod backoff;
pub mod compare;
pub mod duration;
pub mod engine;
pub mod error;
pub mod fast;
pub mod glob;
pub mod ignore;
pub mod jq;
pub mod knowntypes;
pub mod lookup;
pub mod managed_fields;
pub mod merge;
pub mod normalize;
pub mod object;
pub mod path;
pub mod policy;
pub mod quantity;
pub mod report;
pub mod respect;
pub mod stack;
pub mod three_way;

pub use argocd_cm::ArgoCdSettings;
pub use backoff::{
    Backoff, SelfHealTiming, self_heal_backoff, self_heal_remaining, sync_retry_delay,
};
pub use compare::{DiffMode, DiffResult, diff};
pub use engine::{DriftEngine, DriftNormalizer, ResourceInput};
pub use error::{DriftError, SettingError};
pub use ignore::{
    IgnoreConfig, IgnoreDifference, KnownTypeField, OverrideIgnoreDiff, ResourceOverride,
};
pub use normalize::{DriftRules, StatusPolicy};
pub use policy::{Decision, DriftPolicy, PolicyMode, PolicyRule, Selector};
pub use report::{DriftReport, ReportError, Summary};
pub use respect::respect_ignore_differences;
pub use stack::{StackReport, stack_inputs, stream_report};
pub use three_way::{
    ChangeOrigin, DriftStatus, FieldChange, IgnoredField, ResourceDrift, diff_three_way,
};
