//! Field-level three-way drift: desired (Git) vs last applied (state) vs live (world).
//!
//! Each differing field is attributed to Git (desired moved away from last applied), to the
//! world (live moved away from last applied), or to both (a conflict). Without a last-applied
//! configuration the diff is two-way: fields only in live are never drift, and a field removed
//! from desired cannot be seen.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lookup::{self, has_field, member, values_equal};
use crate::managed_fields::{owner_at, remove_trusted_manager_fields};
use crate::merge::{ListMode, key_value, pruned_equal, same_key, strip_for_merge};
use crate::normalize::DriftRules;
use crate::object::{ResourceKey, is_builtin_group};
use crate::path::{Step, pointer_of, readable_of};
use crate::policy::PolicyMode;
use strata_core::sensitive::{REDACTED, Sensitivity};

/// Where a field change comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeOrigin {
    /// Desired changed since the last apply; live still holds the last-applied value.
    Git,
    /// Live changed since the last apply; desired still holds the last-applied value.
    World,
    /// Both changed since the last apply, to different values.
    Conflict,
    /// No last-applied configuration: the change cannot be attributed.
    Unattributed,
}

impl ChangeOrigin {
    /// Short human label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Git => "changed in Git",
            Self::World => "changed in the world",
            Self::Conflict => "conflict: changed in Git and in the world",
            Self::Unattributed => "differs",
        }
    }
}

/// One differing field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// JSON pointer of the field (list items indexed as in live when present there).
    pub path: String,
    /// The field's path in the readable form people read ([`strata_core::field_path`]), with
    /// map keys and list indices told apart as the compared objects hold them (a map key `80`
    /// is `["80"]`, a list index `[80]`). Not in the JSON, which gives the pointer; `None` in a
    /// report read back from JSON, whose text then takes a token of digits for an index.
    #[serde(skip)]
    pub readable: Option<String>,
    /// Desired value (`None` when desired does not set the field).
    pub desired: Option<Value>,
    /// Last-applied value (`None` when absent or unknown).
    pub last_applied: Option<Value>,
    /// Live value (`None` when live does not have the field).
    pub live: Option<Value>,
    /// Who changed it.
    pub origin: ChangeOrigin,
    /// The field manager owning the live field, when `managedFields` tell it.
    pub manager: Option<String>,
    /// Whether the values are sensitive (they are then already redacted).
    pub sensitive: bool,
}

/// A field whose difference was ignored on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredField {
    /// JSON pointer of the field.
    pub path: String,
    /// The field's path in the readable form, as [`FieldChange::readable`].
    #[serde(skip)]
    pub readable: Option<String>,
    /// Why: `ignoreDifferences`, or `managed by <manager>` for a trusted field manager.
    pub reason: String,
}

/// The drift state of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DriftStatus {
    /// Live matches desired.
    InSync,
    /// Some fields differ.
    Drifted,
    /// Desired exists but live does not.
    Missing,
    /// Live exists but is no longer desired.
    Extraneous,
}

/// The drift of one resource, field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceDrift {
    /// Which resource.
    pub resource: ResourceKey,
    /// Overall state.
    pub status: DriftStatus,
    /// Differing fields, in document order.
    pub changes: Vec<FieldChange>,
    /// Differences that were ignored by configuration.
    pub ignored: Vec<IgnoredField>,
    /// Whether a last-applied configuration was available (three-way diff).
    pub three_way: bool,
    /// The drift policy that applies to the resource.
    pub policy: PolicyMode,
}

impl ResourceDrift {
    /// Whether this resource counts as drifted (policy `ignore` never does).
    pub fn is_drifted(&self) -> bool {
        self.policy != PolicyMode::Ignore && self.status != DriftStatus::InSync
    }

    /// Number of changes with a given origin.
    pub fn count(&self, origin: ChangeOrigin) -> usize {
        self.changes.iter().filter(|c| c.origin == origin).count()
    }
}

/// Three-way diff of one resource. `None` means absent; `last_applied` is the configuration
/// recorded at the last apply (Strata's state, or the live object's last-applied annotation).
pub fn diff_three_way(
    desired: Option<&Value>,
    last_applied: Option<&Value>,
    live: Option<&Value>,
    rules: &DriftRules,
) -> ResourceDrift {
    let desired = desired.filter(|v| !v.is_null());
    let live = live.filter(|v| !v.is_null());
    let last_applied = last_applied.filter(|v| !v.is_null());
    // A resource gone from Git and from the world alike is still named: by what was applied.
    let resource = crate::object::key_of(desired.or(live).or(last_applied).unwrap_or(&Value::Null));
    let mut drift = ResourceDrift {
        resource,
        status: DriftStatus::InSync,
        changes: Vec::new(),
        ignored: Vec::new(),
        three_way: last_applied.is_some(),
        policy: PolicyMode::default(),
    };
    let (desired, live) = match (desired, live) {
        (None, None) => return drift,
        (Some(_), None) => {
            drift.status = DriftStatus::Missing;
            return drift;
        }
        (None, Some(_)) => {
            drift.status = DriftStatus::Extraneous;
            return drift;
        }
        (Some(d), Some(l)) => (d, l),
    };
    if let Some(ignores) = rules.copy_free_ignores(&drift.resource)
        && let Some(scalar) = crate::fast::scalar_drift(
            desired,
            last_applied,
            live,
            rules.status_ignored(&drift.resource),
            is_builtin_group(&drift.resource.group),
            &ignores,
        )
    {
        drift.ignored = scalar
            .ignored
            .iter()
            .map(|path| IgnoredField {
                path: pointer_of(path),
                readable: Some(readable_of(path)),
                reason: "ignoreDifferences".to_string(),
            })
            .collect();
        for key in live_only_labels(desired, last_applied, live) {
            let ignored = ignores
                .iter()
                .any(|p| matches!(p, [m, l, k] if m == "metadata" && l == "labels" && k == key));
            if !ignored {
                push_live_only_label(&mut drift, key);
            }
        }
        if !scalar.changes.is_empty() {
            let three_way = last_applied.is_some();
            drift.changes = scalar
                .changes
                .into_iter()
                .map(|c| {
                    let raw = RawChange {
                        path: pointer_of(&c.path),
                        readable: readable_of(&c.path),
                        origin: origin_of(Some(c.desired), c.last_applied, Some(c.live), three_way),
                        desired: Some(c.desired.clone()),
                        last_applied: c.last_applied.cloned(),
                        live: Some(c.live.clone()),
                    };
                    finish(raw, &drift.resource, live, rules.sensitivity())
                })
                .collect();
            drift.status = DriftStatus::Drifted;
        }
        return drift;
    }
    let managers = rules.managers_for(&drift.resource);
    let trusted = if managers.is_empty() {
        None
    } else {
        let mut d_raw = desired.clone();
        let mut l_raw = live.clone();
        for (path, manager) in remove_trusted_manager_fields(&mut d_raw, &mut l_raw, &managers) {
            drift.ignored.push(IgnoredField {
                // The field is in live: its containers tell keys from indices.
                readable: Some(strata_core::field_path::readable_of_pointer(
                    &path,
                    Some(live),
                )),
                path,
                reason: format!("managed by {manager}"),
            });
        }
        Some((d_raw, l_raw))
    };
    let (d_src, l_src) = match &trusted {
        Some((d, l)) => (d, l),
        None => (desired, live),
    };
    let res = drift.resource.clone();
    let mut d = rules.prepare_for_drift(d_src, &res);
    let mut l = rules.prepare_for_drift(l_src, &res);
    // Last applied usually equals desired (Git unchanged since the apply): it then gets exactly
    // desired's normalisation, so desired's copy stands in for it.
    let a_is_d = last_applied.is_some_and(|a| values_equal(a, d_src));
    let mut a = last_applied
        .filter(|_| !a_is_d)
        .map(|a| rules.prepare_for_drift(a, &res));
    let three_way = last_applied.is_some();
    let list_mode = if is_builtin_group(&res.group) {
        ListMode::Strategic
    } else {
        ListMode::Atomic
    };

    let base_changes = if rules.has_ignores_for(&res) {
        let (mut d0, mut a0) = (d.clone(), a.clone());
        strip_for_merge(&mut d0);
        if let Some(a0) = a0.as_mut() {
            strip_for_merge(a0);
        }
        let mut out = Vec::new();
        walk(
            Some(&d0),
            if a_is_d { Some(&d0) } else { a0.as_ref() },
            Some(&l),
            three_way,
            &mut Vec::new(),
            None,
            list_mode,
            &mut out,
        );
        Some(out)
    } else {
        None
    };
    rules.apply_ignores_for(&mut d, &res);
    rules.apply_ignores_for(&mut l, &res);
    if let Some(a) = a.as_mut() {
        rules.apply_ignores_for(a, &res);
        strip_for_merge(a);
    }
    strip_for_merge(&mut d);
    let a = if a_is_d { Some(&d) } else { a.as_ref() };
    let mut raw = Vec::new();
    walk(
        Some(&d),
        a,
        Some(&l),
        three_way,
        &mut Vec::new(),
        None,
        list_mode,
        &mut raw,
    );

    if let Some(base) = base_changes {
        for c in base {
            if !raw.iter().any(|r| r.path == c.path) && !c.path.starts_with("/status") {
                drift.ignored.push(IgnoredField {
                    path: c.path,
                    readable: Some(c.readable),
                    reason: "ignoreDifferences".to_string(),
                });
            }
        }
    }
    push_live_only_labels(&mut drift, &d, a, &l);
    if !raw.is_empty() {
        drift.changes = raw
            .into_iter()
            .map(|c| finish(c, &drift.resource, live, rules.sensitivity()))
            .collect();
        drift.status = DriftStatus::Drifted;
    }
    drift
}

struct RawChange {
    path: String,
    readable: String,
    desired: Option<Value>,
    last_applied: Option<Value>,
    live: Option<Value>,
    origin: ChangeOrigin,
}

/// The reported change, with every value hidden when core's sensitivity rules cover the field
/// or anything below it.
fn finish(c: RawChange, res: &ResourceKey, live: &Value, sensitivity: &Sensitivity) -> FieldChange {
    let values: Vec<&Value> = [&c.desired, &c.last_applied, &c.live]
        .into_iter()
        .flatten()
        .collect();
    let sensitive = sensitivity.pointer_touches_any(res, &c.path, &values);
    let hide = |v: Option<Value>| {
        if sensitive {
            v.map(|_| Value::String(REDACTED.to_owned()))
        } else {
            v
        }
    };
    FieldChange {
        manager: owner_at(live, &c.path).map(str::to_string),
        path: c.path,
        readable: Some(c.readable),
        desired: hide(c.desired),
        last_applied: hide(c.last_applied),
        live: hide(c.live),
        origin: c.origin,
        sensitive,
    }
}

#[allow(clippy::too_many_arguments)]
fn walk<'a>(
    d: Option<&'a Value>,
    a: Option<&'a Value>,
    l: Option<&'a Value>,
    three_way: bool,
    path: &mut Vec<Step<'a>>,
    field: Option<&str>,
    mode: ListMode,
    out: &mut Vec<RawChange>,
) {
    if d.is_none() && a.is_none() {
        return; // only in live: a default or a world-side addition, never drift
    }
    match (d.or(a), l) {
        (Some(Value::Object(_)), Some(Value::Object(lm))) if d.is_none_or(Value::is_object) => {
            let dm = d.and_then(Value::as_object);
            let am = a.and_then(Value::as_object);
            if let Some(dm) = dm {
                for (k, dv) in dm {
                    path.push(Step::Key(k));
                    walk(
                        Some(dv),
                        am.and_then(|m| lookup::field(m, k)),
                        lookup::field(lm, k),
                        three_way,
                        path,
                        Some(k),
                        mode,
                        out,
                    );
                    path.pop();
                }
            }
            if let Some(am) = am {
                for (k, av) in am {
                    if dm.is_some_and(|m| has_field(m, k)) {
                        continue;
                    }
                    path.push(Step::Key(k));
                    walk(
                        None,
                        Some(av),
                        lookup::field(lm, k),
                        three_way,
                        path,
                        Some(k),
                        mode,
                        out,
                    );
                    path.pop();
                }
            }
        }
        (Some(Value::Array(_)), Some(Value::Array(ll))) if d.is_none_or(Value::is_array) => {
            let dl = d.and_then(Value::as_array);
            let al = a.and_then(Value::as_array);
            let sample = dl.and_then(|x| x.first()).or(ll.first());
            let key = match mode {
                ListMode::Atomic => None,
                _ => field.and_then(|f| crate::merge::merge_key(f, sample)),
            };
            let keyed = key.filter(|key| {
                dl.into_iter()
                    .flatten()
                    .chain(al.into_iter().flatten())
                    .chain(ll.iter())
                    .all(|v| key.iter().all(|k| key_value(v, k).is_some()))
            });
            if let Some(key) = keyed {
                for (i, di) in dl.into_iter().flatten().enumerate() {
                    let li_pos = ll.iter().position(|x| same_key(x, di, key));
                    path.push(Step::Index(li_pos.unwrap_or(i)));
                    walk(
                        Some(di),
                        find_keyed(al, di, key),
                        li_pos.map(|p| &ll[p]),
                        three_way,
                        path,
                        None,
                        mode,
                        out,
                    );
                    path.pop();
                }
                for ai in al.into_iter().flatten() {
                    if find_keyed(dl, ai, key).is_some() {
                        continue;
                    }
                    if let Some(p) = ll.iter().position(|x| same_key(x, ai, key)) {
                        path.push(Step::Index(p));
                        walk(
                            None,
                            Some(ai),
                            Some(&ll[p]),
                            three_way,
                            path,
                            None,
                            mode,
                            out,
                        );
                        path.pop();
                    }
                }
                return;
            }
            match (d, dl) {
                (Some(dv), Some(dl)) => {
                    let shape = a.filter(|v| v.is_array()).unwrap_or(dv);
                    if let Some(lv) = l
                        && pruned_equal(lv, shape, dv)
                    {
                        return;
                    }
                    if dl.len() == ll.len() {
                        for (i, di) in dl.iter().enumerate() {
                            path.push(Step::Index(i));
                            walk(
                                Some(di),
                                al.and_then(|x| x.get(i)),
                                ll.get(i),
                                three_way,
                                path,
                                None,
                                mode,
                                out,
                            );
                            path.pop();
                        }
                    } else {
                        leaf(d, a, l, three_way, path, out);
                    }
                }
                _ => leaf(d, a, l, three_way, path, out),
            }
        }
        _ => leaf(d, a, l, three_way, path, out),
    }
}

fn leaf(
    d: Option<&Value>,
    a: Option<&Value>,
    l: Option<&Value>,
    three_way: bool,
    path: &[Step<'_>],
    out: &mut Vec<RawChange>,
) {
    let matches = match d {
        Some(Value::Null) => l.is_none_or(Value::is_null),
        Some(v) => l.is_some_and(|lv| subset_equal(v, lv)),
        None => l.is_none(),
    };
    if matches {
        return;
    }
    out.push(RawChange {
        path: pointer_of(path),
        readable: readable_of(path),
        desired: d.cloned(),
        last_applied: a.cloned(),
        live: l.cloned(),
        origin: origin_of(d, a, l, three_way),
    });
}

/// Who changed a differing field: Git when desired left the last-applied value, the world when
/// live did, both for a conflict.
fn origin_of(
    d: Option<&Value>,
    a: Option<&Value>,
    l: Option<&Value>,
    three_way: bool,
) -> ChangeOrigin {
    if !three_way {
        return ChangeOrigin::Unattributed;
    }
    match (!opt_equal(d, a), !opt_equal(l, a)) {
        (true, true) => ChangeOrigin::Conflict,
        (true, false) => ChangeOrigin::Git,
        (false, true) => ChangeOrigin::World,
        (false, false) => ChangeOrigin::Unattributed,
    }
}

fn opt_equal(x: Option<&Value>, y: Option<&Value>) -> bool {
    match (x, y) {
        (None | Some(Value::Null), None | Some(Value::Null)) => true,
        (Some(p), Some(q)) => values_equal(p, q),
        _ => false,
    }
}

/// Desired ⊆ live: every field desired sets has the same value in live.
fn subset_equal(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, v)| match lookup::field(l, k) {
            Some(lv) => subset_equal(v, lv),
            None => v.is_null(),
        }),
        _ => values_equal(desired, live),
    }
}

fn find_keyed<'a>(list: Option<&'a Vec<Value>>, item: &Value, key: &[&str]) -> Option<&'a Value> {
    list.and_then(|xs| xs.iter().find(|x| same_key(x, item, key)))
}

fn push_live_only_labels(drift: &mut ResourceDrift, d: &Value, a: Option<&Value>, l: &Value) {
    for key in live_only_labels(d, a, l) {
        push_live_only_label(drift, key);
    }
}

fn push_live_only_label(drift: &mut ResourceDrift, key: &str) {
    let mut readable = "metadata.labels".to_owned();
    strata_core::field_path::push_key(&mut readable, key);
    drift.ignored.push(IgnoredField {
        path: format!("/metadata/labels/{}", crate::path::escape_token(key)),
        readable: Some(readable),
        reason: "only in live: added outside desired state, apply keeps it".to_string(),
    });
}

/// Labels present in live but neither desired nor last applied (not drift: apply keeps them).
fn live_only_labels<'a>(d: &Value, a: Option<&Value>, l: &'a Value) -> Vec<&'a str> {
    fn labels(v: &Value) -> Option<&serde_json::Map<String, Value>> {
        member(member(v, "metadata")?, "labels")?.as_object()
    }
    let Some(live) = labels(l) else {
        return Vec::new();
    };
    let desired = labels(d);
    let applied = a.and_then(labels);
    live.keys()
        .filter(|k| {
            !desired.is_some_and(|m| has_field(m, k)) && !applied.is_some_and(|m| has_field(m, k))
        })
        .map(String::as_str)
        .collect()
}
