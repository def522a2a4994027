//! Live objects as providers observe them: parsed, or kept as their compact JSON text.
//!
//! A watch cache or a plan's observations hold the live object of every resource for as long
//! as they live, and a plan reads most of them once, to find that nothing changed. Parsed, a
//! live object costs about ten times its text (see [`crate::compact`]). A [`LiveObject`] is
//! either form; the compact one is compared with a manifest straight from its text
//! ([`LiveObject::covers`]) and parsed only where a caller needs the tree
//! ([`LiveObject::value`], [`LiveObject::shared`]), which then holds it no longer than the
//! caller does.
//!
//! ```
//! use serde_json::json;
//! use strata_core::LiveObject;
//!
//! let live = LiveObject::compact(&json!({"kind": "ConfigMap", "data": {"a": "1"}, "x": 1}));
//! assert!(live.covers(&json!({"kind": "ConfigMap", "data": {"a": "1"}})));
//! assert_eq!(live.value()["data"]["a"], "1");
//! assert_eq!(live, LiveObject::from(json!({"x": 1, "kind": "ConfigMap", "data": {"a": "1"}})));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::compact::CompactValue;

/// A live object, parsed or as compact text (see the [module documentation](self)). Clones
/// share the object.
#[derive(Clone)]
pub struct LiveObject(Form);

#[derive(Clone)]
enum Form {
    Parsed(Arc<Value>),
    Compact(CompactValue),
}

impl LiveObject {
    /// A parsed live object.
    pub fn parsed(value: impl Into<Arc<Value>>) -> Self {
        Self(Form::Parsed(value.into()))
    }

    /// A live object kept as the compact text of `value`.
    pub fn compact(value: &Value) -> Self {
        Self(Form::Compact(CompactValue::from_value(value)))
    }

    /// A live object kept as compact text already made (read from a file or a response
    /// straight into text, see [`CompactValue`]'s `Deserialize`).
    pub fn from_compact(text: CompactValue) -> Self {
        Self(Form::Compact(text))
    }

    /// Whether it is kept as text.
    pub fn is_compact(&self) -> bool {
        matches!(self.0, Form::Compact(_))
    }

    /// The compact JSON text, when kept as text.
    pub(crate) fn compact_text(&self) -> Option<&str> {
        match &self.0 {
            Form::Compact(text) => Some(text.as_json()),
            Form::Parsed(_) => None,
        }
    }

    /// The object: borrowed when parsed, parsed afresh (and not kept) when held as text.
    pub fn value(&self) -> Cow<'_, Value> {
        match &self.0 {
            Form::Parsed(value) => Cow::Borrowed(value),
            Form::Compact(text) => Cow::Owned(text.to_value()),
        }
    }

    /// The object, shared: the same allocation when parsed, a fresh one when held as text.
    pub fn shared(&self) -> Arc<Value> {
        match &self.0 {
            Form::Parsed(value) => Arc::clone(value),
            Form::Compact(text) => Arc::new(text.to_value()),
        }
    }

    /// Whether every field set in `desired` has its value in this object, as the planner
    /// compares a manifest with its live object (fields only here do not count; `desired`'s
    /// top-level `status` is not read): [`crate::plan::fields::desired_vs_live`] finds no
    /// change exactly when this holds. Read straight from the text when held as text.
    pub fn covers(&self, desired: &Value) -> bool {
        match &self.0 {
            Form::Parsed(value) => crate::plan::fields::covers(desired, value, true),
            Form::Compact(text) => text.covers(desired),
        }
    }

    /// Whether `a` and `b` share one object (clones of one another).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        match (&a.0, &b.0) {
            (Form::Parsed(x), Form::Parsed(y)) => Arc::ptr_eq(x, y),
            (Form::Compact(x), Form::Compact(y)) => CompactValue::ptr_eq(x, y),
            _ => false,
        }
    }
}

impl From<Value> for LiveObject {
    fn from(value: Value) -> Self {
        Self::parsed(value)
    }
}

impl From<Arc<Value>> for LiveObject {
    fn from(value: Arc<Value>) -> Self {
        Self::parsed(value)
    }
}

/// Equal when they hold equal JSON values, whatever their form.
impl PartialEq for LiveObject {
    fn eq(&self, other: &Self) -> bool {
        if let (Form::Compact(x), Form::Compact(y)) = (&self.0, &other.0)
            && x.as_json() == y.as_json()
        {
            return true;
        }
        Self::ptr_eq(self, other) || *self.value() == *other.value()
    }
}

impl fmt::Debug for LiveObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Form::Parsed(value) => fmt::Debug::fmt(value, f),
            Form::Compact(text) => fmt::Debug::fmt(text, f),
        }
    }
}
