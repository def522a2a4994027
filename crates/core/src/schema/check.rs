//! Checking values against compiled schemas: every problem, each with its field path.

use std::fmt;

use serde_json::{Map, Value};

use super::{Extra, Node, NodeId, SchemaSet, Types};

pub use crate::field_path::PathSegment;

/// Formats a path in the readable form of [`crate::field_path`]:
/// `spec.template.spec.containers[0].name`, `metadata.labels["app.kubernetes.io/name"]`.
pub fn format_path(path: &[PathSegment]) -> String {
    crate::field_path::readable(path)
}

/// One way a value breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SchemaProblem {
    /// The field at fault; for a missing field, the path it should be at.
    pub path: Vec<PathSegment>,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl SchemaProblem {
    /// The field path as text (`spec.containers[0].name`).
    pub fn field(&self) -> String {
        format_path(&self.path)
    }
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.message)
    }
}

#[derive(Debug, Clone, Copy)]
enum Segment<'v> {
    Key(&'v str),
    Index(usize),
}

pub(super) struct Checker<'s, 'v> {
    set: &'s SchemaSet,
    path: Vec<Segment<'v>>,
    problems: Vec<SchemaProblem>,
}

impl<'s, 'v> Checker<'s, 'v> {
    pub(super) fn new(set: &'s SchemaSet) -> Self {
        Self {
            set,
            path: Vec::new(),
            problems: Vec::new(),
        }
    }

    pub(super) fn into_problems(self) -> Vec<SchemaProblem> {
        self.problems
    }

    fn problem(&mut self, message: String) {
        let path = self
            .path
            .iter()
            .map(|segment| match segment {
                Segment::Key(key) => PathSegment::Key((*key).to_owned()),
                Segment::Index(index) => PathSegment::Index(*index),
            })
            .collect();
        self.problems.push(SchemaProblem { path, message });
    }

    fn problem_at(&mut self, key: &'v str, message: String) {
        self.path.push(Segment::Key(key));
        self.problem(message);
        self.path.pop();
    }

    /// Checks a whole object; `metadata` against `meta` when given.
    pub(super) fn check_object(
        &mut self,
        root: NodeId,
        value: &'v Value,
        meta: Option<(&SchemaSet, NodeId)>,
    ) {
        let Value::Object(fields) = value else {
            self.problem(format!("must be an object, found {}", describe(value)));
            return;
        };
        let set = self.set;
        let node = &set.nodes[root];
        for (key, field) in fields {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                // Without an ObjectMeta schema, metadata is left to the loader's checks: a
                // CRD's own schema never decides which metadata fields exist.
                "metadata" => {
                    if let Some((set, id)) = meta {
                        let mut inner = Checker::new(set);
                        inner.path.push(Segment::Key("metadata"));
                        inner.check(id, field);
                        self.problems.extend(inner.problems);
                    }
                }
                _ => self.check_field(node, key, field),
            }
        }
        self.check_required(node, fields);
        for &sub in &node.all_of {
            self.check(sub, value);
        }
    }

    pub(super) fn check(&mut self, id: NodeId, value: &'v Value) {
        let set = self.set;
        let node = &set.nodes[id];
        if value.is_null() {
            // `null` is "not set" (the API server drops it) unless the field takes null.
            return;
        }
        if !self.check_type(node, value) {
            return;
        }
        if let Some(allowed) = &node.enumeration
            && !allowed.contains(value)
        {
            let listed: Vec<String> = allowed.iter().map(Value::to_string).collect();
            let hint = value
                .as_str()
                .and_then(|text| {
                    crate::validate::nearest(text, allowed.iter().filter_map(Value::as_str))
                })
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            self.problem(format!(
                "must be one of {}, found {value}{hint}",
                listed.join(", ")
            ));
        }
        if node.bounds.is_some() {
            self.check_bounds(node, value);
        }
        match value {
            Value::Object(fields) => {
                for (key, field) in fields {
                    self.check_field(node, key, field);
                }
                self.check_required(node, fields);
                if node.embedded_resource {
                    for key in ["apiVersion", "kind"] {
                        if !fields.get(key).is_some_and(Value::is_string) {
                            self.problem_at(key, "is required for an embedded resource".to_owned());
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = node.items {
                    for (index, item) in items.iter().enumerate() {
                        self.path.push(Segment::Index(index));
                        self.check(item_schema, item);
                        self.path.pop();
                    }
                }
            }
            _ => {}
        }
        for &sub in &node.all_of {
            self.check(sub, value);
        }
        if !node.any_of.is_empty() && !node.any_of.iter().any(|&sub| self.passes(sub, value)) {
            let first = self.first_problem(node.any_of[0], value);
            self.problem(format!(
                "matches none of the {} schemas of anyOf (the first says: {first})",
                node.any_of.len()
            ));
        }
        if !node.one_of.is_empty() {
            let matching = node
                .one_of
                .iter()
                .filter(|&&sub| self.passes(sub, value))
                .count();
            if matching != 1 {
                self.problem(format!(
                    "must match exactly one of the {} schemas of oneOf, matches {matching}",
                    node.one_of.len()
                ));
            }
        }
        if let Some(sub) = node.not
            && self.passes(sub, value)
        {
            self.problem("matches the schema of `not`".to_owned());
        }
    }

    fn passes(&self, id: NodeId, value: &'v Value) -> bool {
        let mut checker = Checker::new(self.set);
        checker.check(id, value);
        checker.problems.is_empty()
    }

    fn first_problem(&self, id: NodeId, value: &'v Value) -> String {
        let mut checker = Checker::new(self.set);
        checker.check(id, value);
        checker
            .problems
            .first()
            .map(|p| {
                if p.path.is_empty() {
                    p.message.clone()
                } else {
                    p.to_string()
                }
            })
            .unwrap_or_default()
    }

    fn check_field(&mut self, node: &Node, key: &'v str, field: &'v Value) {
        if let Some(child) = node.property(key) {
            self.path.push(Segment::Key(key));
            self.check(child, field);
            self.path.pop();
            return;
        }
        match node.extra {
            Extra::Anything => {}
            Extra::Schema(values) => {
                self.path.push(Segment::Key(key));
                self.check(values, field);
                self.path.pop();
            }
            Extra::Nothing => {
                if node.embedded_resource && matches!(key, "apiVersion" | "kind" | "metadata") {
                    return;
                }
                let hint = crate::validate::nearest(
                    key,
                    node.properties.iter().map(|(name, _)| name.as_ref()),
                )
                .map(|name| format!("; did you mean {name}?"))
                .unwrap_or_default();
                let message = if node.properties.is_empty() {
                    "unknown field (this object declares no fields)".to_owned()
                } else {
                    format!("unknown field{hint}")
                };
                self.problem_at(key, message);
            }
        }
    }

    fn check_required(&mut self, node: &Node, fields: &'v Map<String, Value>) {
        let set = self.set;
        for name in &node.required {
            let child = node.property(name).map(|id| &set.nodes[id]);
            let present = match fields.get(name.as_ref()) {
                None => false,
                Some(Value::Null) => child.is_some_and(|c| c.nullable),
                Some(_) => true,
            };
            if present || child.is_some_and(|c| c.default.is_some()) {
                continue;
            }
            // The name lives in the schema, not the value: an owned segment is needed.
            let mut path = self.path_owned();
            path.push(PathSegment::Key(name.to_string()));
            self.problems.push(SchemaProblem {
                path,
                message: "required field is missing".to_owned(),
            });
        }
    }

    fn path_owned(&self) -> Vec<PathSegment> {
        self.path
            .iter()
            .map(|segment| match segment {
                Segment::Key(key) => PathSegment::Key((*key).to_owned()),
                Segment::Index(index) => PathSegment::Index(*index),
            })
            .collect()
    }

    /// Whether `value` has a type `node` takes (a problem is recorded when not).
    fn check_type(&mut self, node: &Node, value: &Value) -> bool {
        if node.int_or_string {
            if value.is_string() || is_integer(value) {
                return true;
            }
            self.problem(format!(
                "must be an integer or a string, found {}",
                describe(value)
            ));
            return false;
        }
        if node.quantity {
            return match value {
                Value::Number(_) => true,
                Value::String(text) if super::quantity::is_quantity(text) => true,
                Value::String(text) => {
                    self.problem(format!(
                        "{text:?} is not a quantity (a number with an optional suffix: 500m, 2, 1.5, 1Gi, 100M, 1e3)"
                    ));
                    false
                }
                other => {
                    self.problem(format!(
                        "must be a quantity (a number or a string such as 500m or 1Gi), found {}",
                        describe(other)
                    ));
                    false
                }
            };
        }
        let types = node.types;
        if types.any() {
            return true;
        }
        let fits = match value {
            Value::Object(_) => types.has(Types::OBJECT),
            Value::Array(_) => types.has(Types::ARRAY),
            Value::String(_) => types.has(Types::STRING),
            Value::Bool(_) => types.has(Types::BOOLEAN),
            Value::Number(_) => {
                types.has(Types::NUMBER) || (types.has(Types::INTEGER) && is_integer(value))
            }
            Value::Null => true,
        };
        if !fits {
            self.problem(format!(
                "must be {}, found {}",
                with_article(&types.names()),
                describe(value)
            ));
        }
        fits
    }

    fn check_bounds(&mut self, node: &Node, value: &Value) {
        let Some(bounds) = node.bounds.as_deref() else {
            return;
        };
        match value {
            Value::Number(number) => {
                let Some(n) = number.as_f64() else {
                    return;
                };
                if let Some(min) = bounds.minimum {
                    if bounds.exclusive_minimum && n <= min {
                        self.problem(format!("must be greater than {min}, found {number}"));
                    } else if n < min {
                        self.problem(format!(
                            "must be greater than or equal to {min}, found {number}"
                        ));
                    }
                }
                if let Some(max) = bounds.maximum {
                    if bounds.exclusive_maximum && n >= max {
                        self.problem(format!("must be less than {max}, found {number}"));
                    } else if n > max {
                        self.problem(format!(
                            "must be less than or equal to {max}, found {number}"
                        ));
                    }
                }
                if let Some(step) = bounds.multiple_of
                    && step > 0.0
                    && ((n / step).round() * step - n).abs() > f64::EPSILON * n.abs().max(1.0)
                {
                    self.problem(format!("must be a multiple of {step}, found {number}"));
                }
            }
            Value::String(text) => {
                let length = text.chars().count();
                if let Some(min) = bounds.min_length
                    && length < min
                {
                    self.problem(format!(
                        "must be at least {min} characters long, found {length}"
                    ));
                }
                if let Some(max) = bounds.max_length
                    && length > max
                {
                    self.problem(format!(
                        "must be at most {max} characters long, found {length}"
                    ));
                }
                if let Some(pattern) = &bounds.pattern
                    && !pattern.is_match(text)
                {
                    self.problem(format!(
                        "must match the pattern {:?}, found {text:?}",
                        pattern.as_str()
                    ));
                }
            }
            Value::Array(items) => {
                if let Some(min) = bounds.min_items
                    && items.len() < min
                {
                    self.problem(format!(
                        "must have at least {min} items, found {}",
                        items.len()
                    ));
                }
                if let Some(max) = bounds.max_items
                    && items.len() > max
                {
                    self.problem(format!(
                        "must have at most {max} items, found {}",
                        items.len()
                    ));
                }
                if bounds.unique_items {
                    for (index, item) in items.iter().enumerate() {
                        if items[..index].contains(item) {
                            self.problem(format!("item [{index}] repeats an earlier item"));
                            break;
                        }
                    }
                }
            }
            Value::Object(fields) => {
                if let Some(min) = bounds.min_properties
                    && fields.len() < min
                {
                    self.problem(format!(
                        "must have at least {min} fields, found {}",
                        fields.len()
                    ));
                }
                if let Some(max) = bounds.max_properties
                    && fields.len() > max
                {
                    self.problem(format!(
                        "must have at most {max} fields, found {}",
                        fields.len()
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Fills the declared defaults into `value` (see [`super::Schema::apply_defaults`]).
pub(super) fn apply_defaults(set: &SchemaSet, id: NodeId, value: &mut Value) {
    let node = &set.nodes[id];
    for &sub in &node.all_of {
        apply_defaults(set, sub, value);
    }
    match value {
        Value::Object(fields) => {
            for (name, child) in &node.properties {
                let child_node = &set.nodes[*child];
                if !fields.contains_key(name.as_ref())
                    && let Some(default) = &child_node.default
                {
                    fields.insert(name.to_string(), default.clone());
                }
                if let Some(field) = fields.get_mut(name.as_ref()) {
                    apply_defaults(set, *child, field);
                }
            }
            if let Extra::Schema(values) = node.extra {
                for (name, field) in fields.iter_mut() {
                    if node.property(name).is_none() {
                        apply_defaults(set, values, field);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = node.items {
                for item in items {
                    apply_defaults(set, item_schema, item);
                }
            }
        }
        _ => {}
    }
}

fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn with_article(types: &str) -> String {
    match types.chars().next() {
        Some('o' | 'a' | 'i') => format!("an {types}"),
        _ => format!("a {types}"),
    }
}

/// A short description of a value for messages: its type, and a scalar's text.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) if is_integer(value) => format!("integer {n}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 60 => "a string".to_owned(),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}
