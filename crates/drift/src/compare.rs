//! ArgoCD-compatible diff of one desired/live pair: `modified`, the normalised live object and
//! the predicted live object (what live would look like after applying desired).

use serde_json::Value;

use crate::knowntypes::normalize_numbers;
use crate::managed_fields::{remove_dropped_owned_fields, remove_trusted_manager_fields};
use crate::merge::{ListMode, apply_scheme_defaults, strip_for_merge, three_way_merge};
use crate::normalize::{DriftRules, normalize_builtin_kinds};
use crate::object::{LAST_APPLIED_ANNOTATION, is_builtin_group, last_applied_of};

/// The field manager Strata (like ArgoCD's controller) applies with in server-side mode.
pub const APPLY_MANAGER: &str = "argocd-controller";

/// How desired is compared with live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiffMode {
    /// Three-way when live carries a last-applied configuration, two-way otherwise; structured
    /// merge when desired asks for `ServerSideApply=true`.
    #[default]
    Auto,
    /// Structured-merge (client-side server-side-apply) diff.
    StructuredMerge,
}

/// The outcome of comparing one desired/live pair.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffResult {
    /// Whether applying desired would change live.
    pub modified: bool,
    /// Live after normalisation (`null` when absent).
    pub normalized_live: Value,
    /// Live as it would be after applying desired.
    pub predicted_live: Value,
}

/// Compares desired with live as ArgoCD does (`null`/`None` means absent).
///
/// Desired absent → not modified (pruning is the caller's decision); live absent → modified.
pub fn diff(
    desired: Option<&Value>,
    live: Option<&Value>,
    rules: &DriftRules,
    mode: DiffMode,
) -> DiffResult {
    let desired = desired.filter(|v| !v.is_null());
    let live = live.filter(|v| !v.is_null());
    let (desired, live) = match (desired, live) {
        (None, None) => {
            return DiffResult {
                modified: false,
                normalized_live: Value::Null,
                predicted_live: Value::Null,
            };
        }
        (None, Some(l)) => {
            let n = rules.normalize(l);
            return DiffResult {
                modified: false,
                normalized_live: n.clone(),
                predicted_live: n,
            };
        }
        (Some(d), None) => {
            return DiffResult {
                modified: true,
                normalized_live: Value::Null,
                predicted_live: rules.normalize(d),
            };
        }
        (Some(d), Some(l)) => (d, l),
    };
    let res = crate::object::key_of(live);
    let mut desired_raw = desired.clone();
    let mut live_raw = live.clone();
    let managers = rules.managers_for(&res);
    remove_trusted_manager_fields(&mut desired_raw, &mut live_raw, &managers);

    let server_side = mode == DiffMode::StructuredMerge || wants_server_side_apply(desired);
    let mut d = rules.normalize(&desired_raw);
    let mut l = rules.normalize(&live_raw);
    let builtin = is_builtin_group(&res.group);

    let mut predicted = if server_side {
        let mut p = three_way_merge(None, &d, &l, ListMode::Structured);
        remove_dropped_owned_fields(&mut p, &l, &d, APPLY_MANAGER);
        remove_last_applied(&mut p);
        remove_last_applied(&mut l);
        p
    } else {
        let orig = match last_applied_of(live) {
            Some(orig) => {
                let mut o = orig;
                normalize_numbers(&mut o);
                let orig_ref = crate::object::key_of(&o);
                normalize_builtin_kinds(&mut o, &orig_ref, false);
                rules.apply_ignores(&mut o);
                o
            }
            None => d.clone(),
        };
        let mut orig = orig;
        strip_for_merge(&mut orig);
        strip_for_merge(&mut d);
        let list_mode = if builtin {
            ListMode::Strategic
        } else {
            ListMode::Atomic
        };
        three_way_merge(Some(&orig), &d, &l, list_mode)
    };
    if builtin {
        apply_scheme_defaults(&mut predicted, &res);
        apply_scheme_defaults(&mut l, &res);
    }
    DiffResult {
        modified: predicted != l,
        normalized_live: l,
        predicted_live: predicted,
    }
}

/// Whether the desired object asks for server-side apply (`argocd.argoproj.io/sync-options`).
pub fn wants_server_side_apply(desired: &Value) -> bool {
    desired
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get("argocd.argoproj.io/sync-options"))
        .and_then(Value::as_str)
        .is_some_and(|opts| opts.split(',').any(|o| o.trim() == "ServerSideApply=true"))
}

fn remove_last_applied(obj: &mut Value) {
    if let Some(ann) = obj
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        ann.shift_remove(LAST_APPLIED_ANNOTATION);
    }
}
