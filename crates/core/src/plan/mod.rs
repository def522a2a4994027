//! Plans: what applying the desired set would do, resource by resource.
//!
//! [`observe_all`] asks each resource's provider for the live object (concurrently, bounded);
//! [`compute_plan`] is then a pure function of the desired set, its graph, the state and those
//! observations. Each resource gets one [`Action`] with field-level changes, the reason for a
//! replacement, its blast radius and its provider. Guards (protection, ownership, policy) are
//! checked here, before anything is applied: a plan with [`Violation`]s cannot be applied.

mod compute;
mod diff_view;
pub mod fields;
pub mod incremental;
pub mod refresh;
mod render;
pub mod saved;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Resource, ResourceKey};
use crate::sensitive::Sensitivity;

pub use compute::{
    Observations, Observed, PlanOptions, compute_plan, observe_all, observe_each, plan_alone,
};
pub use fields::FieldChange;
pub use render::{
    LABEL_ENVIRONMENT, MarkdownOptions, human_change, human_footer, human_header, render_human,
    render_markdown, render_markdown_grouped, to_json, write_human,
};

/// What will happen to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Action {
    /// Nothing to do.
    NoOp,
    /// Create a new object.
    Create,
    /// Change the object in place.
    Update,
    /// Replace: delete the old object, then create the new one.
    DeleteThenCreate,
    /// Replace: create the new object, then delete the old one.
    CreateThenDelete,
    /// Delete the object.
    Delete,
}

impl Action {
    /// The `change.actions` list of the JSON form (Terraform's vocabulary).
    pub fn json_actions(self) -> &'static [&'static str] {
        match self {
            Action::NoOp => &["no-op"],
            Action::Create => &["create"],
            Action::Update => &["update"],
            Action::DeleteThenCreate => &["delete", "create"],
            Action::CreateThenDelete => &["create", "delete"],
            Action::Delete => &["delete"],
        }
    }

    /// Whether this is one of the two replace actions.
    pub fn is_replace(self) -> bool {
        matches!(self, Action::DeleteThenCreate | Action::CreateThenDelete)
    }

    /// Whether the old object is destroyed (delete or replace).
    pub fn destroys(self) -> bool {
        self.is_replace() || self == Action::Delete
    }
}

/// Why an action was chosen, where it needs explaining.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActionReason {
    /// A replace-forcing field changed.
    ReplaceBecauseCannotUpdate,
    /// The resource left the desired set.
    DeleteBecauseNoResourceConfig,
    /// A destroy was asked for.
    DeleteBecauseDestroy,
    /// The state has it but the live object is gone: it is created again.
    CreateBecauseDeletedOutside,
    /// A create was interrupted before its result was recorded; the object exists and is taken
    /// over rather than created twice.
    AdoptInterruptedCreate,
    /// An existing live object is adopted on request.
    Adopt,
    /// A replacement was asked for (`--replace`).
    ReplaceByRequest,
}

/// The planned change of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// The resource.
    pub key: ResourceKey,
    /// Its apiVersion.
    pub api_version: String,
    /// The provider that will carry the change out.
    pub provider: String,
    /// What will happen.
    pub action: Action,
    /// Why, where it needs explaining.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ActionReason>,
    /// Field-level changes (values of sensitive fields redacted).
    pub fields: Vec<FieldChange>,
    /// Fields that force the replacement.
    pub replace_paths: Vec<String>,
    /// Resources depending on this one, directly or not, when it is replaced or deleted.
    pub blast_radius: Vec<ResourceKey>,
    /// What this resource depends on (creation order; reversed for deletion).
    pub dependencies: Vec<ResourceKey>,
    /// The full desired resource to apply, ownership labels included (or, for a delete, the
    /// last-applied one). Never serialised: it may hold secrets; see [`ResourceChange::after`].
    #[serde(skip)]
    pub resource: Option<Resource>,
    /// The live object as observed, unredacted, when the change needs it (updates, replaces,
    /// deletes). Never serialised; see [`ResourceChange::before`].
    #[serde(skip)]
    pub live: Option<Arc<Value>>,
    /// Paths the provider declares sensitive, beyond the built-in rules.
    #[serde(skip)]
    pub sensitive_fields: Vec<String>,
    /// Whether the object was changed outside Strata since the last apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drifted: bool,
}

impl ResourceChange {
    /// A change decided outside [`compute_plan`] (a controller that chose the action itself),
    /// to run through the executor like any planned change: no field-level detail, no
    /// dependencies beyond what `dependencies` is later given.
    pub fn decided(
        resource: Resource,
        action: Action,
        provider: &str,
        live: Option<Arc<Value>>,
    ) -> Self {
        Self {
            key: resource.key.clone(),
            api_version: resource.api_version().to_owned(),
            provider: provider.to_owned(),
            action,
            reason: None,
            fields: Vec::new(),
            replace_paths: Vec::new(),
            blast_radius: Vec::new(),
            dependencies: Vec::new(),
            resource: Some(resource),
            live,
            sensitive_fields: Vec::new(),
            drifted: false,
        }
    }

    /// Whether the resource is an ArgoCD hook (`argocd.argoproj.io/hook`, or Helm's hook
    /// annotation), run in its sync phase rather than kept in sync.
    pub fn is_hook(&self) -> bool {
        self.resource
            .as_ref()
            .is_some_and(|r| crate::sync::is_hook(&r.manifest))
    }

    fn sensitivity(&self) -> Sensitivity {
        Sensitivity::with_paths(&self.sensitive_fields)
    }

    /// The object before the change, redacted: the live object (or, for a delete of something
    /// already gone, the last-applied one); `None` for a create. For a no-op it is the desired
    /// object, which matches the live one.
    pub fn before(&self) -> Option<Value> {
        let source = match self.action {
            Action::Create => return None,
            Action::NoOp => self.resource.as_ref().map(|r| &r.manifest),
            _ => self
                .live
                .as_deref()
                .or(self.resource.as_ref().map(|r| &r.manifest)),
        }?;
        Some(self.sensitivity().redact(&self.key, source))
    }

    /// The object after the change, redacted; `None` for a delete.
    pub fn after(&self) -> Option<Value> {
        if self.action == Action::Delete {
            return None;
        }
        let resource = self.resource.as_ref()?;
        Some(self.sensitivity().redact(&self.key, &resource.manifest))
    }
}

/// Something that forbids applying the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The resource concerned.
    pub key: ResourceKey,
    /// Which guard refused.
    pub guard: Guard,
    /// A sentence saying what is wrong and how to proceed.
    pub message: String,
}

/// The guards checked before apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Guard {
    /// A protected resource would be deleted or replaced.
    Protected,
    /// The live object is managed by someone else.
    Ownership,
    /// The policy does not allow this kind or namespace.
    Policy,
    /// No provider serves the resource.
    Routing,
}

/// Counts of planned actions, as in Terraform's summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Creates, plus the create half of replaces.
    pub add: usize,
    /// In-place updates.
    pub change: usize,
    /// Deletes, plus the delete half of replaces.
    pub destroy: usize,
    /// Replaces (counted in both `add` and `destroy`).
    pub replace: usize,
    /// Unchanged.
    pub unchanged: usize,
}

impl Summary {
    /// Counts one planned action.
    pub fn count(&mut self, action: Action) {
        match action {
            Action::NoOp => self.unchanged += 1,
            Action::Create => self.add += 1,
            Action::Update => self.change += 1,
            Action::Delete => self.destroy += 1,
            Action::DeleteThenCreate | Action::CreateThenDelete => {
                self.add += 1;
                self.destroy += 1;
                self.replace += 1;
            }
        }
    }
}

/// A plan for a whole stack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The stack's name (used in ownership labels).
    pub stack: String,
    /// One change per resource: desired resources in dependency order, then deletions.
    pub changes: Vec<ResourceChange>,
    /// Guard violations; a plan with any cannot be applied.
    pub violations: Vec<Violation>,
}

impl Plan {
    /// Counts of actions.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            s.count(c.action);
        }
        s
    }

    /// Whether anything would change. Hooks do not count: they run when something else
    /// changes, as an automated ArgoCD sync runs them only when the application is out of sync.
    pub fn has_changes(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.action != Action::NoOp && !c.is_hook())
    }

    /// Whether the plan may be applied (no guard refused it).
    pub fn is_applyable(&self) -> bool {
        self.violations.is_empty()
    }

    /// Changes by resource key.
    pub fn by_key(&self) -> BTreeMap<&ResourceKey, &ResourceChange> {
        self.changes.iter().map(|c| (&c.key, c)).collect()
    }
}
