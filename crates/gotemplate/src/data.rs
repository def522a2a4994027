//! The values a template acts on, shared as Go shares them.
//!
//! In Go a map is a reference: `.`, `$`, a variable, a field reaching a map, a `dict` holding
//! one and the dot of an `include` all refer to the same map, so `set`, `unset` and the merges
//! change it for every holder, in later actions and (for Helm's template data) in later
//! template files. [`Data`] keeps that: every map is one shared [`MapRef`], and lists holding
//! maps hold the maps themselves. Values without maps stay plain JSON.
//!
//! The template functions work on plain JSON ([`Data::to_value`] copies what they are given).
//! A function result that holds maps is a new map, so where Go's result would share a map with
//! an argument (`pick`, `values`, `dig`…), the copy is marked with the function's name and
//! changing it in place is refused instead of silently diverging from Go
//! ([`MapRef::copied_by`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::limits::{LimitExceeded, Limits};

/// A value inside the executor.
#[derive(Clone, Debug)]
pub(crate) enum Data {
    /// A value holding no map of its own: scalars, strings, lists without maps, and Helm's
    /// typed objects (`.Files`, `.Capabilities.KubeVersion`, a `[]byte`), which behave as Go
    /// structs and slices, not maps.
    Plain(Rc<Value>),
    /// A map (Go's `map[string]interface {}`), shared by every holder.
    Map(MapRef),
    /// A list with at least one map among its elements (Go's `[]interface {}`). No function
    /// changes a list in place; the maps in it are shared.
    List(Rc<[Data]>),
}

/// A shared map.
#[derive(Clone, Debug)]
pub(crate) struct MapRef(Rc<MapNode>);

#[derive(Debug)]
struct MapNode {
    /// The entries, in key order (Go's maps have none; every Go printer sorts the keys).
    entries: RefCell<BTreeMap<String, Data>>,
    /// The function whose result this map is a copy of, when in Go the result would share
    /// maps with the function's arguments.
    copied_by: Option<Rc<str>>,
}

/// Why a value could not be copied into plain JSON.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The copy would pass a limit.
    Limit(LimitExceeded),
    /// A map contains itself.
    Cycle,
}

impl From<LimitExceeded> for CopyError {
    fn from(limit: LimitExceeded) -> Self {
        CopyError::Limit(limit)
    }
}

/// Whether an object is one of Helm's typed objects (a Go struct or slice, not a map).
fn is_typed_object(m: &Map<String, Value>) -> bool {
    m.contains_key(crate::helm::OBJECT_KEY)
}

/// Whether `v` holds a map that would become a [`MapRef`].
fn holds_map(v: &Value) -> bool {
    match v {
        Value::Object(m) => !is_typed_object(m),
        Value::Array(items) => items.iter().any(holds_map),
        _ => false,
    }
}

impl Data {
    /// A plain value (no conversion: `v` must hold no map, see [`Data::from_value`]).
    pub(crate) fn plain(v: Value) -> Data {
        Data::Plain(Rc::new(v))
    }

    /// Go's nil.
    pub(crate) fn null() -> Data {
        Data::plain(Value::Null)
    }

    /// `v` with every map made a shared map; maps built for a copy that `copied_by` made.
    pub(crate) fn from_value(v: Value, copied_by: Option<&Rc<str>>) -> Data {
        if !holds_map(&v) {
            return Data::plain(v);
        }
        match v {
            Value::Object(m) => Data::Map(MapRef(Rc::new(MapNode {
                entries: RefCell::new(
                    m.into_iter()
                        .map(|(k, v)| (k, Data::from_value(v, copied_by)))
                        .collect(),
                ),
                copied_by: copied_by.cloned(),
            }))),
            Value::Array(items) => Data::List(
                items
                    .into_iter()
                    .map(|v| Data::from_value(v, copied_by))
                    .collect(),
            ),
            other => Data::plain(other),
        }
    }

    /// A function's result: [`Data::from_value`], except that the top map of a function
    /// that builds a new one (`fresh_top`, as `pick` does) is not a copy of an argument's, so
    /// it is not marked.
    pub(crate) fn from_result(v: Value, copied_by: Option<&Rc<str>>, fresh_top: bool) -> Data {
        match v {
            Value::Object(m) if fresh_top && copied_by.is_some() && !is_typed_object(&m) => {
                Data::Map(MapRef(Rc::new(MapNode {
                    entries: RefCell::new(
                        m.into_iter()
                            .map(|(k, v)| (k, Data::from_value(v, copied_by)))
                            .collect(),
                    ),
                    copied_by: None,
                })))
            }
            other => Data::from_value(other, copied_by),
        }
    }

    /// A new map of `entries`.
    pub(crate) fn new_map(entries: BTreeMap<String, Data>) -> Data {
        Data::Map(MapRef(Rc::new(MapNode {
            entries: RefCell::new(entries),
            copied_by: None,
        })))
    }

    /// A list of `items`: plain when none holds a map.
    pub(crate) fn new_list(items: Vec<Data>) -> Data {
        if items.iter().all(|d| matches!(d, Data::Plain(_))) {
            Data::plain(Value::Array(
                items
                    .into_iter()
                    .map(|d| match d {
                        Data::Plain(v) => Rc::unwrap_or_clone(v),
                        _ => Value::Null,
                    })
                    .collect(),
            ))
        } else {
            Data::List(items.into())
        }
    }

    /// The plain value, if this is one.
    pub(crate) fn as_plain(&self) -> Option<&Value> {
        match self {
            Data::Plain(v) => Some(v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        self.as_plain().and_then(Value::as_str)
    }

    /// The shared map, if this is one.
    pub(crate) fn as_map(&self) -> Option<&MapRef> {
        match self {
            Data::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Whether this is Go's nil.
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Data::Plain(v) if v.is_null())
    }

    /// Whether this holds no shared map (so that a copy of it shares nothing).
    pub(crate) fn is_plain(&self) -> bool {
        matches!(self, Data::Plain(_))
    }

    /// Go truthiness (see [`crate::exec::truth_of`]).
    pub(crate) fn truth(&self) -> bool {
        match self {
            Data::Plain(v) => crate::exec::truth_of(Some(v)),
            Data::Map(m) => !m.0.entries.borrow().is_empty(),
            Data::List(items) => !items.is_empty(),
        }
    }

    /// Sprig's `empty`.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Data::Plain(v) => crate::funcs::is_empty(v),
            Data::Map(m) => m.0.entries.borrow().is_empty(),
            Data::List(items) => items.is_empty(),
        }
    }

    /// A plain JSON copy, within one value's limits of `limits`.
    pub(crate) fn to_value(&self, limits: &Limits) -> Result<Value, CopyError> {
        let mut budget = Budget {
            limits,
            bytes: 0,
            path: Vec::new(),
        };
        self.copy_into(&mut budget)
    }

    fn copy_into(&self, budget: &mut Budget<'_>) -> Result<Value, CopyError> {
        match self {
            Data::Plain(v) => {
                budget.add(v)?;
                Ok(Value::clone(v))
            }
            Data::List(items) => {
                budget.limits.check_len(items.len() as u128)?;
                budget.bytes += 8;
                items
                    .iter()
                    .map(|d| d.copy_into(budget))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            Data::Map(m) => {
                let node = Rc::as_ptr(&m.0);
                if budget.path.contains(&node) {
                    return Err(CopyError::Cycle);
                }
                budget.path.push(node);
                let entries = m.0.entries.borrow();
                let mut out = Map::with_capacity(entries.len());
                for (k, v) in entries.iter() {
                    budget.bytes += k.len() as u128 + 8;
                    budget.limits.check_bytes(budget.bytes)?;
                    out.insert(k.clone(), v.copy_into(budget)?);
                }
                budget.path.pop();
                Ok(Value::Object(out))
            }
        }
    }

    /// Whether `self` and `other` are the same shared map.
    #[cfg(test)]
    pub(crate) fn same_map(&self, other: &Data) -> bool {
        matches!((self, other), (Data::Map(a), Data::Map(b)) if Rc::ptr_eq(&a.0, &b.0))
    }
}

/// What a copy has measured so far.
struct Budget<'l> {
    limits: &'l Limits,
    bytes: u128,
    /// The maps being copied, outermost first (to find a map inside itself).
    path: Vec<*const MapNode>,
}

impl Budget<'_> {
    fn add(&mut self, v: &Value) -> Result<(), LimitExceeded> {
        self.bytes += self.limits.check_value(v)?;
        self.limits.check_bytes(self.bytes)
    }
}

impl MapRef {
    /// The entry `key`.
    pub(crate) fn get(&self, key: &str) -> Option<Data> {
        self.0.entries.borrow().get(key).cloned()
    }

    /// Whether the map has the entry `key`.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.0.entries.borrow().contains_key(key)
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.0.entries.borrow().len()
    }

    /// The entries in key order (Go's `range` order).
    pub(crate) fn entries(&self) -> Vec<(String, Data)> {
        self.0
            .entries
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Sets the entry `key` in place.
    pub(crate) fn insert(&self, key: String, value: Data) {
        self.0.entries.borrow_mut().insert(key, value);
    }

    /// Removes the entry `key` in place.
    pub(crate) fn remove(&self, key: &str) {
        self.0.entries.borrow_mut().remove(key);
    }

    /// The function whose result this map is a copy of, where Go's result would have shared
    /// maps with the function's arguments: changing it in place would not change them.
    pub(crate) fn copied_by(&self) -> Option<&str> {
        self.0.copied_by.as_deref()
    }

    /// Sprig's `merge` (`overwrite: false`, mergo's rules: a key `dst` lacks or holds empty
    /// gets `src`'s value, maps on both sides merge deeply) and `mergeOverwrite`
    /// (`overwrite: true`: `src`'s value replaces `dst`'s unless both are maps), in place. A
    /// value taken from `src` is shared, as mergo assigns it. `depth` guards against maps that
    /// contain themselves.
    pub(crate) fn merge_from(&self, src: &MapRef, overwrite: bool, depth: usize) -> bool {
        if depth > MAX_MERGE_DEPTH {
            return false;
        }
        if Rc::ptr_eq(&self.0, &src.0) {
            return true;
        }
        for (k, sv) in src.entries() {
            let dv = self.get(&k);
            match (dv, &sv) {
                (Some(Data::Map(d)), Data::Map(s)) => {
                    if !d.merge_from(s, overwrite, depth + 1) {
                        return false;
                    }
                }
                (Some(dv), _) if !overwrite && !dv.is_empty() => {}
                _ => self.insert(k, sv),
            }
        }
        true
    }
}

/// Nesting past which a merge is taken to be following a map inside itself.
const MAX_MERGE_DEPTH: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_are_shared_and_copies_are_plain() {
        let data = Data::from_value(json!({"a": {"b": 1}, "l": [1, 2], "s": "x"}), None);
        let root = data.as_map().expect("map").clone();
        let a = root.get("a").expect("a");
        a.as_map()
            .expect("map")
            .insert("c".into(), Data::plain(json!(2)));
        assert_eq!(
            data.to_value(&Limits::default()).expect("copy"),
            json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "s": "x"})
        );
        assert!(root.get("l").expect("l").is_plain());
    }

    #[test]
    fn a_map_inside_itself_is_not_copied() {
        let data = Data::from_value(json!({}), None);
        let m = data.as_map().expect("map");
        m.insert("self".into(), data.clone());
        assert!(matches!(
            data.to_value(&Limits::default()),
            Err(CopyError::Cycle)
        ));
        // Break the cycle so that the test does not leak it.
        m.remove("self");
    }

    #[test]
    fn merges_share_what_they_take_and_keep_what_is_set() {
        let dst = Data::from_value(json!({"a": {"x": 1}, "keep": "d", "empty": ""}), None);
        let src = Data::from_value(
            json!({"a": {"y": 2}, "keep": "s", "empty": "s", "new": {"z": 3}}),
            None,
        );
        let (d, s) = (dst.as_map().expect("map"), src.as_map().expect("map"));
        assert!(d.merge_from(s, false, 0));
        assert_eq!(
            dst.to_value(&Limits::default()).expect("copy"),
            json!({"a": {"x": 1, "y": 2}, "keep": "d", "empty": "s", "new": {"z": 3}})
        );
        assert!(
            d.get("new")
                .expect("new")
                .same_map(&s.get("new").expect("new"))
        );
        assert!(d.merge_from(s, true, 0));
        assert_eq!(
            d.get("keep").and_then(|v| v.as_str().map(str::to_owned)),
            Some("s".into())
        );
    }
}
