//! A copy-free drift check, used before the full normalising diff.
//!
//! It walks desired (and last applied) against live without building normalised copies,
//! tolerating only what normalisation is known to equate: server-owned metadata, an ignored
//! `status`, `metadata.namespace`, integral floats, and (for built-in kinds) quantity spellings.
//! Where desired and live hold different strings, booleans or integers at the same place it
//! records the change, which the full diff would report identically (normalisation leaves such
//! values alone). ignoreDifferences JSON pointers are honoured by skipping the fields they name
//! (and listing them as ignored when they differ). Anything else it is not sure about, and "not
//! sure" sends the resource through the full path, so the answer never differs from the full
//! diff's on well-typed objects.

use serde_json::{Map, Value};

use crate::knowntypes::{is_int_field, is_omitempty_bool, is_quantity_map};
use crate::lookup::{field, has_field, values_equal};
use crate::merge::{key_value, merge_key, same_key};
use crate::normalize::SERVER_OWNED_METADATA;
use crate::object::LAST_APPLIED_ANNOTATION;
use crate::path::Step;
use crate::quantity::canonical_quantity;

/// A field where desired and live hold different scalar values.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarChange<'a> {
    /// Where, from the object root.
    pub path: Vec<Step<'a>>,
    /// The desired value.
    pub desired: &'a Value,
    /// The last-applied value at the same place (`None` when absent or unknown).
    pub last_applied: Option<&'a Value>,
    /// The live value.
    pub live: &'a Value,
}

/// What the copy-free walk found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScalarDrift<'a> {
    /// The differing fields, in document order.
    pub changes: Vec<ScalarChange<'a>>,
    /// Fields that differ but are ignored by a JSON pointer, in document order.
    pub ignored: Vec<Vec<Step<'a>>>,
}

/// Whether desired (with last applied) is certainly in sync with live.
pub fn certainly_in_sync(
    desired: &Value,
    last_applied: Option<&Value>,
    live: &Value,
    skip_status: bool,
    builtin: bool,
) -> bool {
    scalar_drift(desired, last_applied, live, skip_status, builtin, &[])
        .is_some_and(|c| c.changes.is_empty())
}

/// Every difference between desired and live when all of them are plain scalar changes (none
/// when in sync); `None` when the resource needs the full normalising diff. `ignores` are
/// ignoreDifferences JSON pointers as unescaped tokens; a pointer into a list, or onto a field
/// whose ignored difference is not a plain scalar, also needs the full diff.
pub fn scalar_drift<'a>(
    desired: &'a Value,
    last_applied: Option<&'a Value>,
    live: &'a Value,
    skip_status: bool,
    builtin: bool,
    ignores: &[&[String]],
) -> Option<ScalarDrift<'a>> {
    let (Value::Object(d), Value::Object(l)) = (desired, live) else {
        return None;
    };
    // Pointers onto metadata or the labels map as a whole change which labels count as
    // "only in live"; leave those to the full diff.
    if ignores.iter().any(|p| match p {
        [m] => m == "metadata",
        [m, l] => m == "metadata" && l == "labels",
        _ => false,
    }) {
        return None;
    }
    let a = last_applied.and_then(Value::as_object);
    let mut walk = Walk {
        builtin,
        ignores,
        path: Vec::new(),
        found: ScalarDrift::default(),
    };
    for (k, dv) in d {
        walk.path.push(Step::Key(k));
        let ok = match k.as_str() {
            "status" if skip_status => true,
            "metadata" if walk.ignored_here() == Ignored::Exactly => false,
            "metadata" => walk.metadata(
                dv,
                a.and_then(|a| field(a, "metadata")),
                field(l, "metadata"),
            ),
            _ => walk.node(dv, a.and_then(|a| field(a, k)), field(l, k), k),
        };
        walk.path.pop();
        if !ok {
            return None;
        }
    }
    removed_keys_absent(d, a, l, |k| k == "status" && skip_status).then_some(walk.found)
}

/// Where the current path stands relative to the ignored pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ignored {
    /// No pointer at or below it.
    No,
    /// A pointer names it.
    Exactly,
    /// A pointer names something below it.
    Below,
}

struct Walk<'a, 'p> {
    builtin: bool,
    ignores: &'p [&'p [String]],
    path: Vec<Step<'a>>,
    found: ScalarDrift<'a>,
}

fn removed_keys_absent(
    d: &Map<String, Value>,
    a: Option<&Map<String, Value>>,
    l: &Map<String, Value>,
    skip: impl Fn(&str) -> bool,
) -> bool {
    let Some(a) = a else {
        return true;
    };
    // Common case: last applied has exactly desired's keys, in the same order.
    if a.len() == d.len() && a.keys().zip(d.keys()).all(|(x, y)| x == y) {
        return true;
    }
    a.keys()
        .all(|k| has_field(d, k) || skip(k) || !has_field(l, k))
}

impl<'a> Walk<'a, '_> {
    fn metadata(&mut self, d: &'a Value, a: Option<&'a Value>, l: Option<&'a Value>) -> bool {
        let (Value::Object(d), Some(Value::Object(l))) = (d, l) else {
            return false;
        };
        let a = a.and_then(Value::as_object);
        let skip = |k: &str| k == "namespace" || SERVER_OWNED_METADATA.contains(&k);
        for (k, dv) in d {
            if skip(k) {
                continue;
            }
            let av = a.and_then(|a| field(a, k));
            self.path.push(Step::Key(k));
            let ok = if k == "annotations" {
                self.ignored_here() == Ignored::No && annotations(dv, av, field(l, k))
            } else {
                self.node(dv, av, field(l, k), k)
            };
            self.path.pop();
            if !ok {
                return false;
            }
        }
        if !has_field(d, "annotations")
            && !annotations(
                &Value::Object(Map::new()),
                a.and_then(|a| field(a, "annotations")),
                field(l, "annotations"),
            )
        {
            return false;
        }
        removed_keys_absent(d, a, l, |k| skip(k) || k == "annotations")
    }

    /// How the ignored pointers relate to the current path.
    fn ignored_here(&self) -> Ignored {
        let mut found = Ignored::No;
        for pointer in self.ignores {
            if pointer.len() < self.path.len() {
                continue;
            }
            let on_path = self
                .path
                .iter()
                .zip(pointer.iter())
                .all(|(step, token)| match step {
                    Step::Key(k) => k == token,
                    Step::Index(i) => token.parse::<usize>().is_ok_and(|t| t == *i),
                });
            if on_path {
                if pointer.len() == self.path.len() {
                    return Ignored::Exactly;
                }
                found = Ignored::Below;
            }
        }
        found
    }

    /// An ignored field: records it when it differs by a plain scalar (what the full diff
    /// reports as ignored); anything else is left to the full diff.
    fn ignored_node(&mut self, d: &'a Value, l: Option<&'a Value>, key: &str) -> bool {
        let differs = match (d, l) {
            (Value::Null, None | Some(Value::Null)) => false,
            (_, Some(l)) if values_equal(d, l) => false,
            _ => {
                let plain = |v: &Value| match v {
                    Value::String(_) => true,
                    Value::Number(n) => !n.is_f64(),
                    Value::Bool(_) => !(self.builtin && is_omitempty_bool(key)),
                    _ => false,
                };
                if !plain(d) || !l.is_none_or(plain) {
                    return false;
                }
                true
            }
        };
        if differs && !matches!(self.path.first(), Some(Step::Key("status"))) {
            self.found.ignored.push(self.path.clone());
        }
        true
    }

    /// Compares one node; `a` is the last-applied value at the same place.
    fn node(
        &mut self,
        d: &'a Value,
        a: Option<&'a Value>,
        l: Option<&'a Value>,
        key: &str,
    ) -> bool {
        if !self.ignores.is_empty() {
            match self.ignored_here() {
                Ignored::Exactly => return self.ignored_node(d, l, key),
                // removing a list item would shift the items after it
                Ignored::Below if d.is_array() => return false,
                _ => {}
            }
        }
        match d {
            Value::Null => l.is_none_or(Value::is_null),
            Value::Object(dm) => {
                let Some(Value::Object(lm)) = l else {
                    return false;
                };
                let am = a.and_then(Value::as_object);
                let quantities = self.builtin && is_quantity_map(key);
                for (k, dv) in dm {
                    if !(dv.is_number() || dv.is_null()) && is_int_field(k) {
                        return false;
                    }
                    let lv = field(lm, k);
                    let ok = if quantities || (self.builtin && k == "sizeLimit") {
                        quantity_equal(dv, lv)
                    } else {
                        self.path.push(Step::Key(k));
                        let ok = self.node(dv, am.and_then(|m| field(m, k)), lv, k);
                        self.path.pop();
                        ok
                    };
                    if !ok {
                        return false;
                    }
                }
                removed_keys_absent(dm, am, lm, |_| false)
            }
            Value::Array(dl) => {
                let Some(Value::Array(ll)) = l else {
                    return false;
                };
                // Git changes inside lists, and lists whose items moved, take the full path.
                if dl.len() != ll.len() || a.is_some_and(|a| !values_equal(a, d)) {
                    return false;
                }
                if !self.items_line_up(dl, ll, key) {
                    return false;
                }
                for (i, (dv, lv)) in dl.iter().zip(ll).enumerate() {
                    self.path.push(Step::Index(i));
                    // last applied equals desired here (checked above)
                    let ok = self.node(dv, a.map(|_| dv), Some(lv), key);
                    self.path.pop();
                    if !ok {
                        return false;
                    }
                }
                true
            }
            Value::Number(dn) => match l {
                Some(Value::Number(ln)) => {
                    if dn == ln || (dn.is_f64() || ln.is_f64()) && dn.as_f64() == ln.as_f64() {
                        true
                    } else if dn.is_f64() || ln.is_f64() {
                        false
                    } else {
                        self.record(d, a, l)
                    }
                }
                _ => false,
            },
            Value::String(_) => match l {
                Some(lv) if lv == d => true,
                Some(Value::String(_)) => self.record(d, a, l),
                _ => false,
            },
            Value::Bool(_) => match l {
                Some(lv) if lv == d => true,
                // normalisation drops `false` from omitempty booleans of built-in kinds
                Some(Value::Bool(_)) if !(self.builtin && is_omitempty_bool(key)) => {
                    self.record(d, a, l)
                }
                _ => false,
            },
        }
    }

    /// Records a scalar change at the current path.
    fn record(&mut self, d: &'a Value, a: Option<&'a Value>, l: Option<&'a Value>) -> bool {
        let Some(l) = l else {
            return false;
        };
        // The full diff attributes the change by comparing with the normalised last-applied
        // value; only values normalisation leaves alone can be compared raw.
        let plain = match a {
            None | Some(Value::Null | Value::String(_) | Value::Bool(_)) => true,
            Some(Value::Number(n)) => !n.is_f64(),
            Some(Value::Object(_) | Value::Array(_)) => false,
        };
        if !plain {
            return false;
        }
        self.found.changes.push(ScalarChange {
            path: self.path.clone(),
            desired: d,
            last_applied: a,
            live: l,
        });
        true
    }

    /// Whether items of a list pair up by index exactly as the full diff pairs them (by merge
    /// key for built-in kinds, each key found first at its own index).
    fn items_line_up(&self, dl: &[Value], ll: &[Value], key: &str) -> bool {
        if !self.builtin {
            return true;
        }
        let Some(merge) = merge_key(key, dl.first().or(ll.first())) else {
            return true;
        };
        let keyed = dl
            .iter()
            .chain(ll)
            .all(|v| merge.iter().all(|k| key_value(v, k).is_some()));
        !keyed
            || dl.iter().enumerate().all(|(i, di)| {
                ll.iter().position(|x| same_key(x, di, merge)) == Some(i)
                    && dl.iter().position(|x| same_key(x, di, merge)) == Some(i)
            })
    }
}

fn annotations(d: &Value, a: Option<&Value>, l: Option<&Value>) -> bool {
    let Value::Object(d) = d else {
        return false;
    };
    let empty = Map::new();
    let l = match l {
        Some(Value::Object(l)) => l,
        None if d.is_empty() => &empty,
        _ => return false,
    };
    let a = a.and_then(Value::as_object);
    d.iter().all(|(k, v)| {
        k == LAST_APPLIED_ANNOTATION || field(l, k).is_some_and(|lv| values_equal(lv, v))
    }) && removed_keys_absent(d, a, l, |k| k == LAST_APPLIED_ANNOTATION)
}

fn quantity_equal(d: &Value, l: Option<&Value>) -> bool {
    let Some(l) = l else {
        return false;
    };
    if d == l {
        return true;
    }
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match (
        text(d).and_then(|t| canonical_quantity(&t)),
        text(l).and_then(|t| canonical_quantity(&t)),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}
