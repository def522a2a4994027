//! Hooks: which objects are hooks, in which phases they run, and when they are deleted.
//! Argo annotations win over Helm's for hook types; delete policies of both are unioned.

use serde_json::Value;

use crate::object::annotation;

/// Argo hook annotation (`PreSync`, `Sync`, `PostSync`, `SyncFail`, `Skip`, comma-separated).
pub const HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";
/// Argo hook delete policy annotation.
pub const HOOK_DELETE_POLICY_ANNOTATION: &str = "argocd.argoproj.io/hook-delete-policy";
/// Helm hook annotation.
pub const HELM_HOOK_ANNOTATION: &str = "helm.sh/hook";
/// Helm hook delete policy annotation.
pub const HELM_HOOK_DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// A sync phase, in execution order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum SyncPhase {
    /// Before the resources are applied.
    PreSync,
    /// With the resources.
    Sync,
    /// After every resource is applied and healthy.
    PostSync,
    /// Only when the sync fails.
    SyncFail,
}

impl SyncPhase {
    /// The phase name as ArgoCD spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncPhase::PreSync => "PreSync",
            SyncPhase::Sync => "Sync",
            SyncPhase::PostSync => "PostSync",
            SyncPhase::SyncFail => "SyncFail",
        }
    }

    /// Parses ArgoCD's spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [
            SyncPhase::PreSync,
            SyncPhase::Sync,
            SyncPhase::PostSync,
            SyncPhase::SyncFail,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }
}

/// A hook type from an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum HookType {
    /// Runs in a phase.
    Phase(SyncPhase),
    /// `Skip`: not applied at all (when it is the only type).
    Skip,
}

/// When a hook object is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum HookDeletePolicy {
    /// Delete an existing hook just before it is created again (the default).
    BeforeHookCreation,
    /// Delete the hook after it succeeded.
    HookSucceeded,
    /// Delete the hook after it failed.
    HookFailed,
}

impl HookDeletePolicy {
    /// The policy name as ArgoCD spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            HookDeletePolicy::BeforeHookCreation => "BeforeHookCreation",
            HookDeletePolicy::HookSucceeded => "HookSucceeded",
            HookDeletePolicy::HookFailed => "HookFailed",
        }
    }
}

/// The comma-separated values of an annotation, trimmed, without empties or duplicates.
pub fn annotation_csv<'a>(obj: &'a Value, key: &str) -> Vec<&'a str> {
    let mut values: Vec<&str> = Vec::new();
    for item in annotation(obj, key).unwrap_or("").split(',') {
        let item = item.trim();
        if !item.is_empty() && !values.contains(&item) {
            values.push(item);
        }
    }
    values
}

/// The hook types of an object: valid Argo types, or else the mapped Helm types.
pub fn hook_types(obj: &Value) -> Vec<HookType> {
    let argo: Vec<HookType> = annotation_csv(obj, HOOK_ANNOTATION)
        .into_iter()
        .filter_map(|t| match t {
            "Skip" => Some(HookType::Skip),
            other => SyncPhase::parse(other).map(HookType::Phase),
        })
        .collect();
    if !argo.is_empty() {
        return argo;
    }
    annotation_csv(obj, HELM_HOOK_ANNOTATION)
        .into_iter()
        .filter_map(|t| match t {
            "pre-install" | "pre-upgrade" => Some(HookType::Phase(SyncPhase::PreSync)),
            "post-install" | "post-upgrade" => Some(HookType::Phase(SyncPhase::PostSync)),
            _ => None,
        })
        .collect()
}

/// True when the object is marked `Skip` and nothing else: it is neither applied nor a hook.
pub fn is_skipped(obj: &Value) -> bool {
    let types = hook_types(obj);
    types.len() == 1 && types[0] == HookType::Skip
}

/// True for hooks. An unknown Argo hook type still makes a hook (one that never runs), and so
/// does any Helm hook except `crd-install`.
pub fn is_hook(obj: &Value) -> bool {
    if annotation(obj, HOOK_ANNOTATION).is_some() {
        return !is_skipped(obj);
    }
    annotation(obj, HELM_HOOK_ANNOTATION).is_some_and(|v| v != "crd-install")
}

/// The phases an object is applied in: none when skipped or a hook without a valid type, the
/// hook's phases (in phase order, without duplicates) for a hook, `[Sync]` otherwise.
pub fn sync_phases(obj: &Value) -> Vec<SyncPhase> {
    if is_skipped(obj) {
        return Vec::new();
    }
    if !is_hook(obj) {
        return vec![SyncPhase::Sync];
    }
    let mut phases: Vec<SyncPhase> = hook_types(obj)
        .into_iter()
        .filter_map(|t| match t {
            HookType::Phase(phase) => Some(phase),
            HookType::Skip => None,
        })
        .collect();
    phases.sort();
    phases.dedup();
    phases
}

/// The delete policies of a hook: Argo's and Helm's unioned, `BeforeHookCreation` when none parse.
pub fn hook_delete_policies(obj: &Value) -> Vec<HookDeletePolicy> {
    let mut policies: Vec<HookDeletePolicy> = annotation_csv(obj, HOOK_DELETE_POLICY_ANNOTATION)
        .into_iter()
        .filter_map(|p| match p {
            "BeforeHookCreation" => Some(HookDeletePolicy::BeforeHookCreation),
            "HookSucceeded" => Some(HookDeletePolicy::HookSucceeded),
            "HookFailed" => Some(HookDeletePolicy::HookFailed),
            _ => None,
        })
        .collect();
    policies.extend(
        annotation_csv(obj, HELM_HOOK_DELETE_POLICY_ANNOTATION)
            .into_iter()
            .filter_map(|p| match p {
                "before-hook-creation" => Some(HookDeletePolicy::BeforeHookCreation),
                "hook-succeeded" => Some(HookDeletePolicy::HookSucceeded),
                "hook-failed" => Some(HookDeletePolicy::HookFailed),
                _ => None,
            }),
    );
    if policies.is_empty() {
        policies.push(HookDeletePolicy::BeforeHookCreation);
    }
    policies
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(annotations: Value) -> Value {
        json!({"metadata": {"annotations": annotations}})
    }

    #[test]
    fn multiple_phases_in_order() {
        let obj = with(json!({HOOK_ANNOTATION: "PostSync, PreSync,PostSync"}));
        assert_eq!(
            sync_phases(&obj),
            vec![SyncPhase::PreSync, SyncPhase::PostSync]
        );
    }

    #[test]
    fn argo_types_hide_helm_types() {
        let obj = with(json!({HOOK_ANNOTATION: "PostSync", HELM_HOOK_ANNOTATION: "pre-install"}));
        assert_eq!(sync_phases(&obj), vec![SyncPhase::PostSync]);
        assert!(!is_hook(&with(
            json!({HELM_HOOK_ANNOTATION: "crd-install"})
        )));
    }

    #[test]
    fn delete_policies_are_unioned() {
        let obj = with(
            json!({HOOK_DELETE_POLICY_ANNOTATION: "HookSucceeded", HELM_HOOK_DELETE_POLICY_ANNOTATION: "hook-failed"}),
        );
        assert_eq!(
            hook_delete_policies(&obj),
            vec![
                HookDeletePolicy::HookSucceeded,
                HookDeletePolicy::HookFailed
            ]
        );
        assert_eq!(
            hook_delete_policies(&with(json!({HOOK_DELETE_POLICY_ANNOTATION: "Never"}))),
            vec![HookDeletePolicy::BeforeHookCreation]
        );
    }
}
