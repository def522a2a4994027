//! A copy-free check that a resource is in sync, used before the full normalising diff.
//!
//! It walks desired (and last applied) against live without building normalised copies,
//! tolerating only what normalisation is known to equate: server-owned metadata, an ignored
//! `status`, `metadata.namespace`, integral floats, and (for built-in kinds) quantity spellings.
//! It answers "in sync" or "not sure"; "not sure" sends the resource through the full path, so
//! the answer never differs from the full diff's on well-typed objects.

use serde_json::{Map, Value};

use crate::knowntypes::{is_int_field, is_quantity_map};
use crate::normalize::SERVER_OWNED_METADATA;
use crate::object::LAST_APPLIED_ANNOTATION;
use crate::quantity::canonical_quantity;

/// Whether desired (with last applied) is certainly in sync with live.
pub fn certainly_in_sync(
    desired: &Value,
    last_applied: Option<&Value>,
    live: &Value,
    skip_status: bool,
    builtin: bool,
) -> bool {
    let (Value::Object(d), Value::Object(l)) = (desired, live) else {
        return false;
    };
    let a = last_applied.and_then(Value::as_object);
    let ctx = Ctx { builtin };
    for (k, dv) in d {
        let ok = match k.as_str() {
            "status" if skip_status => true,
            "metadata" => metadata(
                dv,
                a.and_then(|a| a.get("metadata")),
                l.get("metadata"),
                ctx,
            ),
            _ => node(dv, a.and_then(|a| a.get(k)), l.get(k), k, ctx),
        };
        if !ok {
            return false;
        }
    }
    removed_keys_absent(d, a, l, |k| k == "status" && skip_status)
}

#[derive(Clone, Copy)]
struct Ctx {
    builtin: bool,
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
        .all(|k| d.contains_key(k) || skip(k) || !l.contains_key(k))
}

fn metadata(d: &Value, a: Option<&Value>, l: Option<&Value>, ctx: Ctx) -> bool {
    let (Value::Object(d), Some(Value::Object(l))) = (d, l) else {
        return false;
    };
    let a = a.and_then(Value::as_object);
    let skip = |k: &str| k == "namespace" || SERVER_OWNED_METADATA.contains(&k);
    for (k, dv) in d {
        if skip(k) {
            continue;
        }
        let av = a.and_then(|a| a.get(k));
        let ok = if k == "annotations" {
            annotations(dv, av, l.get(k))
        } else {
            node(dv, av, l.get(k), k, ctx)
        };
        if !ok {
            return false;
        }
    }
    if !d.contains_key("annotations")
        && !annotations(
            &Value::Object(Map::new()),
            a.and_then(|a| a.get("annotations")),
            l.get("annotations"),
        )
    {
        return false;
    }
    removed_keys_absent(d, a, l, |k| skip(k) || k == "annotations")
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
    d.iter()
        .all(|(k, v)| k == LAST_APPLIED_ANNOTATION || l.get(k) == Some(v))
        && removed_keys_absent(d, a, l, |k| k == LAST_APPLIED_ANNOTATION)
}

fn node(d: &Value, a: Option<&Value>, l: Option<&Value>, key: &str, ctx: Ctx) -> bool {
    match d {
        Value::Null => l.is_none_or(Value::is_null),
        Value::Object(dm) => {
            let Some(Value::Object(lm)) = l else {
                return false;
            };
            let am = a.and_then(Value::as_object);
            let quantities = ctx.builtin && is_quantity_map(key);
            for (k, dv) in dm {
                if !(dv.is_number() || dv.is_null()) && is_int_field(k) {
                    return false;
                }
                let lv = lm.get(k);
                let ok = if quantities || (ctx.builtin && k == "sizeLimit") {
                    quantity_equal(dv, lv)
                } else {
                    node(dv, am.and_then(|m| m.get(k)), lv, k, ctx)
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
            if dl.len() != ll.len() || a.is_some_and(|a| a != d) {
                return false;
            }
            dl.iter()
                .zip(ll)
                .all(|(dv, lv)| node(dv, None, Some(lv), key, ctx))
        }
        Value::Number(dn) => match l {
            Some(Value::Number(ln)) => {
                dn == ln || (dn.is_f64() || ln.is_f64()) && dn.as_f64() == ln.as_f64()
            }
            _ => false,
        },
        _ => l == Some(d),
    }
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
