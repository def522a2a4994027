//! The sync plan: ArgoCD's ordering of a sync as ordered groups with gates between them.

use std::collections::HashMap;

use serde_json::Value;

use crate::model::ResourceKey;
use crate::object::{Gvk, str_at};
use crate::sync::hooks::{self, HookDeletePolicy, SyncPhase};
use crate::sync::options::{has_sync_option, sync_option_value};
use crate::sync::waves::{kind_rank, sync_wave};

/// One desired/live pair to sync. At least one side is present.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncResource<'a> {
    /// The desired object (from Git); `None` means the live object is to be pruned.
    pub target: Option<&'a Value>,
    /// The live object; `None` means it is to be created.
    pub live: Option<&'a Value>,
}

impl<'a> SyncResource<'a> {
    /// A desired object (its live counterpart unknown or absent).
    pub fn target(target: &'a Value) -> Self {
        Self {
            target: Some(target),
            live: None,
        }
    }

    /// A live object with no desired counterpart (a prune).
    pub fn prune(live: &'a Value) -> Self {
        Self {
            target: None,
            live: Some(live),
        }
    }
}

/// Application-level sync settings that change the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncPlanOptions {
    /// Prune extraneous live objects at all (the operation's `prune`); when false they are skipped.
    pub prune: bool,
    /// App-level `PruneLast=true`: every prune runs after the last Sync-phase wave.
    pub prune_last: bool,
    /// App-level default for `Prune=` (`"false"` or `"confirm"`) when a resource has none.
    pub default_prune_option: Option<String>,
    /// Do not run hooks.
    pub skip_hooks: bool,
    /// Destination namespace given to desired objects without one (as ArgoCD does).
    pub namespace: Option<String>,
}

impl SyncPlanOptions {
    /// Sets [`prune`](Self::prune).
    pub fn with_prune(mut self, prune: bool) -> Self {
        self.prune = prune;
        self
    }

    /// Sets [`prune_last`](Self::prune_last).
    pub fn with_prune_last(mut self, prune_last: bool) -> Self {
        self.prune_last = prune_last;
        self
    }

    /// Sets [`default_prune_option`](Self::default_prune_option).
    pub fn with_default_prune_option(mut self, default_prune_option: Option<String>) -> Self {
        self.default_prune_option = default_prune_option;
        self
    }

    /// Sets [`skip_hooks`](Self::skip_hooks).
    pub fn with_skip_hooks(mut self, skip_hooks: bool) -> Self {
        self.skip_hooks = skip_hooks;
        self
    }

    /// Sets [`namespace`](Self::namespace).
    pub fn with_namespace(mut self, namespace: Option<String>) -> Self {
        self.namespace = namespace;
        self
    }
}

impl Default for SyncPlanOptions {
    fn default() -> Self {
        Self {
            prune: true,
            prune_last: false,
            default_prune_option: None,
            skip_hooks: false,
            namespace: None,
        }
    }
}

/// What a task does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum TaskAction {
    /// Create or update the desired object.
    Apply,
    /// Delete the live object.
    Prune,
}

/// One unit of work of a sync.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncTask {
    /// Index of the [`SyncResource`] this task comes from.
    pub index: usize,
    /// The resource (namespace from the live object when it exists).
    pub id: ResourceKey,
    /// Apply or prune.
    pub action: TaskAction,
    /// Phase the task runs in (after dependency adjustment).
    pub phase: SyncPhase,
    /// Wave the task runs in (after prune mirroring, PruneLast and dependency adjustment).
    pub wave: i64,
    /// The task is a hook.
    pub hook: bool,
    /// For hooks: when to delete them.
    pub delete_policies: Vec<HookDeletePolicy>,
    /// A prune that waits for confirmation (`Prune=confirm`).
    pub requires_confirmation: bool,
}

/// Tasks sharing a phase and wave, in apply order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncGroup {
    /// Phase.
    pub phase: SyncPhase,
    /// Wave.
    pub wave: i64,
    /// Tasks in ArgoCD's order (kind rank, then name, with dependency moves). The executor runs
    /// the prunes first, then applies consecutive runs of the same kind together.
    pub tasks: Vec<SyncTask>,
    /// After this group, wait until its resources are healthy (hooks: completed) before going on
    /// (for the last group: before reporting success). True in a multi-step sync, and for any
    /// group holding a hook.
    pub health_gate: bool,
    /// After this group, wait until its pruned objects are gone.
    pub deletion_gate: bool,
}

impl SyncGroup {
    /// The resources of the group, in order.
    pub fn resources(&self) -> impl Iterator<Item = &ResourceKey> {
        self.tasks.iter().map(|t| &t.id)
    }

    /// The prune tasks (run first).
    pub fn prunes(&self) -> impl Iterator<Item = &SyncTask> {
        self.tasks.iter().filter(|t| t.action == TaskAction::Prune)
    }

    /// The apply tasks (run after the prunes).
    pub fn applies(&self) -> impl Iterator<Item = &SyncTask> {
        self.tasks.iter().filter(|t| t.action == TaskAction::Apply)
    }
}

/// A resource the plan does not touch, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedResource {
    /// Index of the [`SyncResource`].
    pub index: usize,
    /// The resource.
    pub id: ResourceKey,
    /// Why, in ArgoCD's words where it has them.
    pub reason: String,
}

/// The ordered plan of a sync.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SyncPlan {
    /// Groups in execution order (PreSync, Sync, PostSync; waves ascending inside each).
    pub groups: Vec<SyncGroup>,
    /// SyncFail hooks, run only when the sync fails.
    pub sync_fail: Vec<SyncGroup>,
    /// Resources left alone.
    pub skipped: Vec<SkippedResource>,
    /// More than one (phase, wave) step: every step waits for health before the next.
    pub multi_step: bool,
}

impl SyncPlan {
    /// Every task in execution order (SyncFail hooks excluded).
    pub fn tasks(&self) -> impl Iterator<Item = &SyncTask> {
        self.groups.iter().flat_map(|g| g.tasks.iter())
    }
}

struct Draft<'a> {
    index: usize,
    obj: &'a Value,
    target: Option<&'a Value>,
    target_namespace: &'a str,
    phase: SyncPhase,
    wave: i64,
    rank: i32,
    name: &'a str,
    prune: bool,
    hook: bool,
    skip_reason: Option<&'static str>,
}

/// Orders a sync as ArgoCD does.
///
/// Tasks are sorted by phase, wave, kind rank and name; a Namespace is then moved before the
/// first task in it, and a CRD before the first task of its group/kind, each taking that task's
/// phase and wave. Prune waves are mirrored over the distinct prune waves (deletion in reverse
/// creation order) and PruneLast moves prunes after the last Sync wave.
pub fn plan_sync(resources: &[SyncResource<'_>], options: &SyncPlanOptions) -> SyncPlan {
    let mut skipped = Vec::new();
    let mut drafts: Vec<Draft<'_>> = Vec::with_capacity(resources.len());
    for (index, resource) in resources.iter().enumerate() {
        let Some(obj) = resource.target.or(resource.live) else {
            continue;
        };
        let skip = |reason: &str| SkippedResource {
            index,
            id: identity(resource),
            reason: reason.to_string(),
        };
        let hook = hooks::is_hook(obj);
        if hook && (resource.target.is_none() || options.skip_hooks) {
            let reason = if options.skip_hooks {
                "hooks skipped"
            } else {
                "hook not in the desired state"
            };
            skipped.push(skip(reason));
            continue;
        }
        let phases = hooks::sync_phases(obj);
        if phases.is_empty() {
            let reason = if hook {
                "hook without a valid hook type"
            } else {
                "hook: Skip"
            };
            skipped.push(skip(reason));
            continue;
        }
        let prune = resource.target.is_none();
        let skip_reason = if prune {
            prune_skip_reason(obj, options)
        } else {
            None
        };
        let target_namespace = match resource.target {
            Some(t) => match str_at(t, &["metadata", "namespace"]).filter(|ns| !ns.is_empty()) {
                Some(ns) => ns,
                None => options.namespace.as_deref().unwrap_or(""),
            },
            None => "",
        };
        for phase in phases {
            drafts.push(Draft {
                index,
                obj,
                target: resource.target,
                target_namespace,
                phase,
                wave: sync_wave(obj),
                rank: kind_rank(str_at(obj, &["kind"]).unwrap_or("")),
                name: str_at(obj, &["metadata", "name"]).unwrap_or(""),
                prune,
                hook,
                skip_reason,
            });
        }
    }

    mirror_prune_waves(&mut drafts);
    apply_prune_last(&mut drafts, resources, options);
    drafts
        .sort_by(|a, b| (a.phase, a.wave, a.rank, a.name).cmp(&(b.phase, b.wave, b.rank, b.name)));
    adjust_namespaces(&mut drafts);
    adjust_crds(&mut drafts);

    let mut plan = SyncPlan {
        skipped,
        ..SyncPlan::default()
    };
    let mut kept: Vec<Draft<'_>> = Vec::with_capacity(drafts.len());
    for draft in drafts {
        match draft.skip_reason {
            Some(reason) => plan.skipped.push(SkippedResource {
                index: draft.index,
                id: identity(&resources[draft.index]),
                reason: reason.to_string(),
            }),
            None => kept.push(draft),
        }
    }
    let mut main_steps = kept.iter().filter(|d| d.phase != SyncPhase::SyncFail);
    let first = main_steps.next().map(|d| (d.phase, d.wave));
    let last = main_steps.next_back().map(|d| (d.phase, d.wave)).or(first);
    plan.multi_step = first != last;
    for draft in kept {
        let task = SyncTask {
            index: draft.index,
            id: identity(&resources[draft.index]),
            action: if draft.prune {
                TaskAction::Prune
            } else {
                TaskAction::Apply
            },
            phase: draft.phase,
            wave: draft.wave,
            hook: draft.hook,
            delete_policies: if draft.hook {
                hooks::hook_delete_policies(draft.obj)
            } else {
                Vec::new()
            },
            requires_confirmation: draft.prune
                && prune_option(draft.obj, options) == Some("confirm"),
        };
        let groups = if task.phase == SyncPhase::SyncFail {
            &mut plan.sync_fail
        } else {
            &mut plan.groups
        };
        match groups.last_mut() {
            Some(group) if group.phase == task.phase && group.wave == task.wave => {
                group.tasks.push(task)
            }
            _ => groups.push(SyncGroup {
                phase: task.phase,
                wave: task.wave,
                tasks: vec![task],
                health_gate: false,
                deletion_gate: false,
            }),
        }
    }
    let multi_step = plan.multi_step;
    for group in plan.groups.iter_mut().chain(plan.sync_fail.iter_mut()) {
        group.health_gate = multi_step || group.tasks.iter().any(|t| t.hook);
        group.deletion_gate = group.tasks.iter().any(|t| t.action == TaskAction::Prune);
    }
    plan
}

/// The identity of a pair: the desired object's, with the live namespace when there is one.
fn identity(resource: &SyncResource<'_>) -> ResourceKey {
    let obj = resource.target.or(resource.live).unwrap_or(&Value::Null);
    let gvk = Gvk::of(obj);
    let namespace = match resource.live {
        Some(live) => str_at(live, &["metadata", "namespace"]),
        None => str_at(obj, &["metadata", "namespace"]),
    };
    ResourceKey::new(
        gvk.group,
        gvk.kind,
        namespace.filter(|ns| !ns.is_empty()),
        str_at(obj, &["metadata", "name"]).unwrap_or(""),
    )
}

fn prune_option<'a>(live: &'a Value, options: &'a SyncPlanOptions) -> Option<&'a str> {
    sync_option_value(live, "Prune").or(options.default_prune_option.as_deref())
}

fn prune_skip_reason(live: &Value, options: &SyncPlanOptions) -> Option<&'static str> {
    if prune_option(live, options) == Some("false") {
        Some("ignored (no prune)")
    } else if !options.prune {
        Some("ignored (requires pruning)")
    } else {
        None
    }
}

/// Swaps prune waves symmetrically over the sorted distinct prune waves.
fn mirror_prune_waves(drafts: &mut [Draft<'_>]) {
    let mut waves: Vec<i64> = drafts.iter().filter(|d| d.prune).map(|d| d.wave).collect();
    waves.sort_unstable();
    waves.dedup();
    if waves.len() < 2 {
        return;
    }
    let mirrored: HashMap<i64, i64> = waves
        .iter()
        .zip(waves.iter().rev())
        .map(|(from, to)| (*from, *to))
        .collect();
    for draft in drafts.iter_mut().filter(|d| d.prune) {
        if let Some(to) = mirrored.get(&draft.wave) {
            draft.wave = *to;
        }
    }
}

/// Moves PruneLast prunes to one past the last Sync-phase wave (prunes included).
fn apply_prune_last(
    drafts: &mut [Draft<'_>],
    resources: &[SyncResource<'_>],
    options: &SyncPlanOptions,
) {
    let last_sync_wave = drafts
        .iter()
        .filter(|d| d.phase == SyncPhase::Sync)
        .map(|d| d.wave)
        .fold(0, i64::max)
        + 1;
    for draft in drafts.iter_mut().filter(|d| d.prune) {
        let live_says = resources[draft.index]
            .live
            .is_some_and(|live| has_sync_option(live, "PruneLast=true"));
        if options.prune_last || live_says {
            draft.wave = last_sync_wave;
        }
    }
}

fn adjust_namespaces(drafts: &mut [Draft<'_>]) {
    adjust_dependencies(
        drafts,
        |d| {
            let target = d.target?;
            let gvk = Gvk::of(target);
            (gvk.kind == "Namespace" && gvk.group.is_empty())
                .then(|| str_at(target, &["metadata", "name"]).unwrap_or(""))
        },
        |d| (!d.target_namespace.is_empty()).then_some(d.target_namespace),
    );
}

fn adjust_crds(drafts: &mut [Draft<'_>]) {
    adjust_dependencies(
        drafts,
        |d| {
            let target = d.target?;
            let gvk = Gvk::of(target);
            if gvk.group != "apiextensions.k8s.io" || gvk.kind != "CustomResourceDefinition" {
                return None;
            }
            let group = str_at(target, &["spec", "group"])?;
            let kind = str_at(target, &["spec", "names", "kind"])?;
            Some((group, kind))
        },
        |d| {
            let gvk = Gvk::of(d.target?);
            Some((gvk.group, gvk.kind))
        },
    );
}

/// Moves each dependency (a Namespace, a CRD) to just before the first task that uses it, giving
/// it that task's phase and wave. Only desired objects take part.
fn adjust_dependencies<'a, K: std::hash::Hash + Eq>(
    drafts: &mut [Draft<'a>],
    dependency_key: impl Fn(&Draft<'a>) -> Option<K>,
    user_key: impl Fn(&Draft<'a>) -> Option<K>,
) {
    let mut first_user: HashMap<K, usize> = HashMap::new();
    for i in 0..drafts.len() {
        if drafts[i].target.is_none() {
            continue;
        }
        if let Some(key) = dependency_key(&drafts[i]) {
            let Some(&at) = first_user.get(&key) else {
                continue;
            };
            drafts[i].phase = drafts[at].phase;
            drafts[i].wave = drafts[at].wave;
            drafts[at..=i].rotate_right(1);
            for index in first_user.values_mut() {
                if *index >= at {
                    *index += 1;
                }
            }
        } else if let Some(key) = user_key(&drafts[i]) {
            first_user.entry(key).or_insert(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str, name: &str, annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "annotations": annotations}})
    }

    fn names(plan: &SyncPlan) -> Vec<Vec<String>> {
        plan.groups
            .iter()
            .map(|g| g.resources().map(|r| r.name.to_string()).collect())
            .collect()
    }

    #[test]
    fn waves_and_kinds() {
        let objs = [
            obj("Deployment", "web", json!({})),
            obj("ConfigMap", "cfg", json!({})),
            obj(
                "Job",
                "migrate",
                json!({"argocd.argoproj.io/hook": "PreSync"}),
            ),
            obj(
                "Service",
                "late",
                json!({"argocd.argoproj.io/sync-wave": "5"}),
            ),
        ];
        let resources: Vec<_> = objs.iter().map(SyncResource::target).collect();
        let plan = plan_sync(&resources, &SyncPlanOptions::default());
        assert_eq!(
            names(&plan),
            vec![vec!["migrate"], vec!["cfg", "web"], vec!["late"]]
        );
        assert!(plan.multi_step);
        assert!(plan.groups.iter().all(|g| g.health_gate));
        assert_eq!(
            plan.groups[0].tasks[0].delete_policies,
            vec![HookDeletePolicy::BeforeHookCreation]
        );
    }

    #[test]
    fn single_step_without_hooks_has_no_health_gate() {
        let objs = [obj("ConfigMap", "a", json!({})), obj("Pod", "b", json!({}))];
        let resources: Vec<_> = objs.iter().map(SyncResource::target).collect();
        let plan = plan_sync(&resources, &SyncPlanOptions::default());
        assert!(!plan.multi_step);
        assert!(!plan.groups[0].health_gate);
    }

    #[test]
    fn prune_false_and_disabled_pruning_skip() {
        let keep = obj(
            "Pod",
            "keep",
            json!({"argocd.argoproj.io/sync-options": "Prune=false"}),
        );
        let confirm = obj(
            "Pod",
            "confirm",
            json!({"argocd.argoproj.io/sync-options": "Prune=confirm"}),
        );
        let resources = [SyncResource::prune(&keep), SyncResource::prune(&confirm)];
        let plan = plan_sync(&resources, &SyncPlanOptions::default());
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.skipped[0].reason, "ignored (no prune)");
        let task = &plan.groups[0].tasks[0];
        assert!(task.requires_confirmation);
        assert!(plan.groups[0].deletion_gate);
        let no_prune = SyncPlanOptions {
            prune: false,
            ..SyncPlanOptions::default()
        };
        let plan = plan_sync(&resources, &no_prune);
        assert!(plan.groups.is_empty());
        assert_eq!(plan.skipped.len(), 2);
    }

    #[test]
    fn live_only_hooks_are_not_pruned() {
        let hook = obj(
            "Job",
            "old-hook",
            json!({"argocd.argoproj.io/hook": "PostSync"}),
        );
        let plan = plan_sync(&[SyncResource::prune(&hook)], &SyncPlanOptions::default());
        assert!(plan.groups.is_empty());
        assert_eq!(plan.skipped[0].reason, "hook not in the desired state");
    }

    #[test]
    fn destination_namespace_pulls_namespace_first() {
        let ns = obj(
            "Namespace",
            "team",
            json!({"argocd.argoproj.io/sync-wave": "3"}),
        );
        let cm = obj(
            "ConfigMap",
            "cfg",
            json!({"argocd.argoproj.io/sync-wave": "-1"}),
        );
        let resources = [SyncResource::target(&ns), SyncResource::target(&cm)];
        let options = SyncPlanOptions {
            namespace: Some("team".into()),
            ..SyncPlanOptions::default()
        };
        let plan = plan_sync(&resources, &options);
        assert_eq!(names(&plan), vec![vec!["team", "cfg"]]);
        assert_eq!(plan.groups[0].wave, -1);
    }
}
