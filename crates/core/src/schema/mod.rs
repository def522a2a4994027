//! Structural schemas: what the fields of a kind may hold, compiled once from OpenAPI v3 /
//! JSON Schema text (a CRD's `openAPIV3Schema`, a provider's declaration, the Kubernetes
//! built-in types) and checked against manifests, reporting every problem with its field path.
//!
//! The rules are Kubernetes' structural-schema rules, as the API server applies them with
//! `fieldValidation=Strict`:
//! - **Unknown fields are errors**: an object declaring `properties` takes no other field,
//!   unless it sets `x-kubernetes-preserve-unknown-fields` or `additionalProperties`. How an
//!   object with neither is read depends on the [`Dialect`]: a CRD prunes everything (so any
//!   field is unknown), the built-in types use it for opaque content (anything goes).
//! - `x-kubernetes-int-or-string` takes an integer or a string; a
//!   [quantity](quantity::is_quantity) takes a number or a quantity string (`500m`, `1Gi`).
//! - `x-kubernetes-embedded-resource` objects take `apiVersion`, `kind` and `metadata`.
//! - `required` fields must be present (not `null`, unless `nullable`), unless the field has
//!   a `default` the API server fills in; `null` elsewhere means "not set", as the API server
//!   reads it.
//! - `enum`, `minimum`/`maximum` (and their exclusive forms), `multipleOf`, `minLength`/
//!   `maxLength`, `pattern`, `minItems`/`maxItems`, `uniqueItems`, `minProperties`/
//!   `maxProperties`, `allOf`, `anyOf`, `oneOf` and `not`.
//!
//! Not checked here: `x-kubernetes-validations` (CEL rules) and `format`s; the API server
//! still checks them when the object is applied.
//!
//! Compiling a schema refuses what the API server would refuse in a CRD (an unknown `type`,
//! a `$ref` that leads nowhere, an invalid `pattern`, a keyword CRDs may not use) with the
//! keyword's path.

mod check;
mod crd;
pub mod quantity;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

pub use check::{PathSegment, SchemaProblem, format_path};
pub use crd::crd_schemas;

/// How an object schema that declares neither `properties` nor `additionalProperties` (nor
/// `x-kubernetes-preserve-unknown-fields`) is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// A CustomResourceDefinition's `openAPIV3Schema`: such an object keeps no field (the API
    /// server prunes them), so every field is unknown.
    Crd,
    /// The Kubernetes built-in types and providers' declarations: such an object is opaque
    /// content (`RawExtension`, `FieldsV1`, `JSON`) and takes anything.
    Open,
}

/// Why a schema could not be compiled. `path` is the JSON path of the keyword at fault,
/// inside the schema text.
///
/// Two schema errors are equal when their paths and messages are; the source is not compared.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SchemaError {
    /// Where in the schema (`properties.spec.properties.size.type`).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The error the keyword was refused with, when there is one (a `pattern` that is not a
    /// valid regular expression or is over a limit).
    #[source]
    pub source: Option<crate::user_regex::RegexLimitError>,
}

impl PartialEq for SchemaError {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.message == other.message
    }
}

impl Eq for SchemaError {}

/// A compiled schema: cheap to clone (shared), immutable, safe to check from many threads.
#[derive(Clone)]
pub struct Schema {
    set: Arc<SchemaSet>,
    root: NodeId,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("root", &self.root)
            .field("nodes", &self.set.nodes.len())
            .finish()
    }
}

impl Schema {
    /// Compiles one self-contained schema (its `$ref`s point into itself: `#/definitions/…`,
    /// `#/$defs/…` or `#/components/schemas/…`).
    pub fn compile(schema: &Value, dialect: Dialect) -> Result<Self, SchemaError> {
        let mut compiler = Compiler::new(schema, dialect);
        let root = compiler.compile(schema, "")?;
        Ok(Self {
            set: Arc::new(compiler.finish()),
            root,
        })
    }

    /// Compiles several schemas of one document into one shared set: `pointers` are JSON
    /// pointers to them (`/$defs/io.k8s.api.core.v1.ConfigMap`), in the order returned.
    pub fn compile_all(
        document: &Value,
        pointers: &[&str],
        dialect: Dialect,
    ) -> Result<Vec<Self>, SchemaError> {
        let mut compiler = Compiler::new(document, dialect);
        let mut roots = Vec::with_capacity(pointers.len());
        for pointer in pointers {
            roots.push(compiler.resolve_ref(&format!("#{pointer}"), pointer)?);
        }
        let set = Arc::new(compiler.finish());
        Ok(roots
            .into_iter()
            .map(|root| Self {
                set: Arc::clone(&set),
                root,
            })
            .collect())
    }

    /// The schema of the property `name`, when this schema is an object declaring it.
    pub fn property(&self, name: &str) -> Option<Schema> {
        self.set.nodes[self.root].property(name).map(|root| Schema {
            set: Arc::clone(&self.set),
            root,
        })
    }

    /// Every problem of `value` against this schema (empty when it conforms).
    pub fn check(&self, value: &Value) -> Vec<SchemaProblem> {
        let mut checker = check::Checker::new(&self.set);
        checker.check(self.root, value);
        checker.into_problems()
    }

    /// Like [`check`](Self::check) for a whole Kubernetes object: `apiVersion` and `kind` are
    /// taken as they are (the caller matched them), and `metadata` is checked against
    /// `object_meta` when given (the API server checks every object's metadata as an
    /// `ObjectMeta`, whatever its CRD says), never against this schema's own.
    pub fn check_object(&self, value: &Value, object_meta: Option<&Schema>) -> Vec<SchemaProblem> {
        let mut checker = check::Checker::new(&self.set);
        checker.check_object(
            self.root,
            value,
            object_meta.map(|schema| (schema.set.as_ref(), schema.root)),
        );
        checker.into_problems()
    }

    /// Fills the defaults this schema declares into `value`, as the API server does before
    /// it validates: a missing field with a `default` gets it, recursively, where its parent
    /// exists.
    pub fn apply_defaults(&self, value: &mut Value) {
        check::apply_defaults(&self.set, self.root, value);
    }
}

/// The schema of one kind at one version, and who declares it: what providers hand to the
/// [`Validator`](crate::validate::Validator) (see
/// [`Provider::schemas`](crate::Provider::schemas)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KindSchema {
    /// The API group (empty for the core group).
    pub group: String,
    /// The version (`v1`, `v1beta1`).
    pub version: String,
    /// The kind.
    pub kind: String,
    /// What its objects may hold.
    pub schema: Schema,
    /// Who declares it, for messages (`Kubernetes v1.35`, `the AWS provider`,
    /// `CustomResourceDefinition widgets.example.org`).
    pub declared_by: String,
}

impl KindSchema {
    /// The schema of `group`/`version`/`kind`, declared by `declared_by`.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
        schema: Schema,
        declared_by: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            schema,
            declared_by: declared_by.into(),
        }
    }
}

type NodeId = usize;

/// JSON types a node takes, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Types(u8);

impl Types {
    const OBJECT: u8 = 1;
    const ARRAY: u8 = 2;
    const STRING: u8 = 4;
    const INTEGER: u8 = 8;
    const NUMBER: u8 = 16;
    const BOOLEAN: u8 = 32;
    const NULL: u8 = 64;

    fn any(self) -> bool {
        self.0 == 0
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    fn names(self) -> String {
        let names: Vec<&str> = [
            (Self::OBJECT, "object"),
            (Self::ARRAY, "array"),
            (Self::STRING, "string"),
            (Self::INTEGER, "integer"),
            (Self::NUMBER, "number"),
            (Self::BOOLEAN, "boolean"),
            (Self::NULL, "null"),
        ]
        .iter()
        .filter(|(bit, _)| self.has(*bit))
        .map(|(_, name)| *name)
        .collect();
        names.join(" or ")
    }
}

/// What an object takes beyond its declared properties.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Extra {
    /// Nothing: any other field is unknown.
    Nothing,
    /// Anything.
    #[default]
    Anything,
    /// Values of this schema (a map).
    Schema(NodeId),
}

/// Scalar and size bounds.
#[derive(Debug, Default)]
struct Bounds {
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: bool,
    exclusive_maximum: bool,
    multiple_of: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<regex::Regex>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    unique_items: bool,
    min_properties: Option<usize>,
    max_properties: Option<usize>,
}

/// One compiled schema node.
#[derive(Debug, Default)]
struct Node {
    types: Types,
    /// Declared properties, sorted by name.
    properties: Vec<(Box<str>, NodeId)>,
    extra: Extra,
    items: Option<NodeId>,
    required: Vec<Box<str>>,
    enumeration: Option<Vec<Value>>,
    nullable: bool,
    int_or_string: bool,
    quantity: bool,
    embedded_resource: bool,
    default: Option<Value>,
    bounds: Option<Box<Bounds>>,
    all_of: Vec<NodeId>,
    any_of: Vec<NodeId>,
    one_of: Vec<NodeId>,
    not: Option<NodeId>,
}

impl Node {
    fn property(&self, name: &str) -> Option<NodeId> {
        self.properties
            .binary_search_by(|(n, _)| n.as_ref().cmp(name))
            .ok()
            .map(|i| self.properties[i].1)
    }
}

/// The nodes of one compiled schema and everything it references.
#[derive(Debug, Default)]
struct SchemaSet {
    nodes: Vec<Node>,
}

/// The keywords a schema node may use; anything else is refused when compiling.
const KNOWN_KEYWORDS: &[&str] = &[
    "$ref",
    "$schema",
    "$id",
    "$defs",
    "definitions",
    "id",
    "title",
    "description",
    "type",
    "format",
    "properties",
    "additionalProperties",
    "items",
    "required",
    "enum",
    "const",
    "default",
    "example",
    "examples",
    "nullable",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "externalDocs",
    "readOnly",
    "writeOnly",
    "deprecated",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-group-version-kind",
    "x-kubernetes-unions",
    "x-kubernetes-selectable-fields",
];

/// The definitions whose content is opaque JSON, whatever their schema says.
const OPAQUE_DEFINITIONS: &[&str] = &[
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
];

const QUANTITY_DEFINITION: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

struct Compiler<'a> {
    document: &'a Value,
    dialect: Dialect,
    set: SchemaSet,
    by_ref: HashMap<String, NodeId>,
}

impl<'a> Compiler<'a> {
    fn new(document: &'a Value, dialect: Dialect) -> Self {
        Self {
            document,
            dialect,
            set: SchemaSet::default(),
            by_ref: HashMap::new(),
        }
    }

    fn finish(self) -> SchemaSet {
        self.set
    }

    fn error(path: &str, message: impl Into<String>) -> SchemaError {
        SchemaError {
            path: if path.is_empty() {
                "(root)".to_owned()
            } else {
                path.to_owned()
            },
            message: message.into(),
            source: None,
        }
    }

    fn allocate(&mut self) -> NodeId {
        self.set.nodes.push(Node::default());
        self.set.nodes.len() - 1
    }

    fn compile(&mut self, schema: &Value, path: &str) -> Result<NodeId, SchemaError> {
        if let Some(target) = self.reference(schema, path)? {
            return Ok(target);
        }
        let id = self.allocate();
        self.compile_into(id, schema, path, true)?;
        Ok(id)
    }

    /// Compiles a value-validation subschema (`allOf`, `anyOf`, `oneOf`, `not`): it
    /// constrains values, it does not declare the object's fields, so it has no unknown
    /// fields of its own.
    fn compile_constraint(&mut self, schema: &Value, path: &str) -> Result<NodeId, SchemaError> {
        if let Some(target) = self.reference(schema, path)? {
            return Ok(target);
        }
        let id = self.allocate();
        self.compile_into(id, schema, path, false)?;
        Ok(id)
    }

    /// The node a `$ref` schema stands for (its siblings, descriptions, are ignored).
    fn reference(&mut self, schema: &Value, path: &str) -> Result<Option<NodeId>, SchemaError> {
        let Some(reference) = schema.get("$ref") else {
            return Ok(None);
        };
        let at = join(path, "$ref");
        if self.dialect == Dialect::Crd {
            return Err(Self::error(&at, "$ref is not allowed in a CRD schema"));
        }
        let reference = reference
            .as_str()
            .ok_or_else(|| Self::error(&at, "must be a string"))?;
        self.resolve_ref(reference, &at).map(Some)
    }

    fn resolve_ref(&mut self, reference: &str, path: &str) -> Result<NodeId, SchemaError> {
        if let Some(id) = self.by_ref.get(reference) {
            return Ok(*id);
        }
        let pointer = reference.strip_prefix('#').ok_or_else(|| {
            Self::error(
                path,
                format!(
                    "$ref {reference:?}: only references inside the schema (#/…) are supported"
                ),
            )
        })?;
        let target = self
            .document
            .pointer(pointer)
            .ok_or_else(|| Self::error(path, format!("$ref {reference:?} leads nowhere")))?;
        let name = reference.rsplit('/').next().unwrap_or(reference).to_owned();
        let id = self.allocate();
        // Registered before compiling, so a recursive type refers to itself.
        self.by_ref.insert(reference.to_owned(), id);
        if OPAQUE_DEFINITIONS.contains(&name.as_str()) {
            // Any JSON value.
            return Ok(id);
        }
        let target_path = pointer.trim_start_matches('/').replace('/', ".");
        self.compile_into(id, target, &target_path, true)?;
        if name == QUANTITY_DEFINITION {
            let node = &mut self.set.nodes[id];
            node.int_or_string = false;
            node.quantity = true;
        }
        Ok(id)
    }

    fn compile_into(
        &mut self,
        id: NodeId,
        schema: &Value,
        path: &str,
        structural: bool,
    ) -> Result<(), SchemaError> {
        let at = |keyword: &str| {
            if path.is_empty() {
                keyword.to_owned()
            } else {
                format!("{path}.{keyword}")
            }
        };
        let object = match schema {
            Value::Object(object) => object,
            Value::Bool(true) => return Ok(()),
            other => {
                return Err(Self::error(
                    path,
                    format!("a schema must be an object, found {other}"),
                ));
            }
        };
        for keyword in object.keys() {
            if !KNOWN_KEYWORDS.contains(&keyword.as_str()) {
                let hint = crate::validate::nearest(keyword, KNOWN_KEYWORDS.iter().copied())
                    .map(|k| format!("; did you mean {k}?"))
                    .unwrap_or_default();
                return Err(Self::error(
                    &at(keyword),
                    format!("unknown schema keyword{hint}"),
                ));
            }
        }
        let mut node = Node {
            types: types_of(object.get("type"), &at("type"))?,
            nullable: flag(object, "nullable", path)?,
            int_or_string: flag(object, "x-kubernetes-int-or-string", path)?,
            embedded_resource: flag(object, "x-kubernetes-embedded-resource", path)?,
            default: object.get("default").cloned(),
            ..Node::default()
        };
        let preserve = flag(object, "x-kubernetes-preserve-unknown-fields", path)?;
        if let Some(values) = object.get("enum") {
            let values = values
                .as_array()
                .ok_or_else(|| Self::error(&at("enum"), "must be a list"))?;
            node.enumeration = Some(values.clone());
        } else if let Some(value) = object.get("const") {
            node.enumeration = Some(vec![value.clone()]);
        }
        if let Some(required) = object.get("required") {
            let list = required
                .as_array()
                .ok_or_else(|| Self::error(&at("required"), "must be a list of field names"))?;
            for name in list {
                let name = name
                    .as_str()
                    .ok_or_else(|| Self::error(&at("required"), "must be a list of field names"))?;
                node.required.push(name.into());
            }
        }
        node.bounds = bounds_of(object, path)?;
        let mut properties = Vec::new();
        if let Some(declared) = object.get("properties") {
            let declared = declared
                .as_object()
                .ok_or_else(|| Self::error(&at("properties"), "must be a mapping"))?;
            for (name, property) in declared {
                let child = if structural {
                    self.compile(property, &format!("{}.{name}", at("properties")))?
                } else {
                    self.compile_constraint(property, &format!("{}.{name}", at("properties")))?
                };
                properties.push((Box::<str>::from(name.as_str()), child));
            }
        }
        properties.sort_by(|a, b| a.0.cmp(&b.0));
        node.properties = properties;
        node.extra = match object.get("additionalProperties") {
            Some(Value::Bool(true)) => Extra::Anything,
            Some(Value::Bool(false)) => Extra::Nothing,
            Some(schema @ Value::Object(_)) => {
                Extra::Schema(self.compile(schema, &at("additionalProperties"))?)
            }
            Some(other) => {
                return Err(Self::error(
                    &at("additionalProperties"),
                    format!("must be a schema or a boolean, found {other}"),
                ));
            }
            None if preserve || !structural => Extra::Anything,
            None if !node.properties.is_empty() => Extra::Nothing,
            None => match self.dialect {
                Dialect::Crd if node.types.has(Types::OBJECT) => Extra::Nothing,
                _ => Extra::Anything,
            },
        };
        if preserve && matches!(node.extra, Extra::Nothing) {
            node.extra = Extra::Anything;
        }
        if let Some(items) = object.get("items") {
            let items = match items {
                Value::Array(list) if list.len() == 1 => &list[0],
                Value::Array(_) => {
                    return Err(Self::error(
                        &at("items"),
                        "a list of item schemas (tuples) is not supported; give one schema",
                    ));
                }
                other => other,
            };
            node.items = Some(if structural {
                self.compile(items, &at("items"))?
            } else {
                self.compile_constraint(items, &at("items"))?
            });
        }
        for (keyword, into) in [("allOf", 0usize), ("anyOf", 1), ("oneOf", 2)] {
            let Some(list) = object.get(keyword) else {
                continue;
            };
            let list = list
                .as_array()
                .ok_or_else(|| Self::error(&at(keyword), "must be a list of schemas"))?;
            for (index, sub) in list.iter().enumerate() {
                let child = self.compile_constraint(sub, &format!("{}[{index}]", at(keyword)))?;
                match into {
                    0 => node.all_of.push(child),
                    1 => node.any_of.push(child),
                    _ => node.one_of.push(child),
                }
            }
        }
        if let Some(sub) = object.get("not") {
            node.not = Some(self.compile_constraint(sub, &at("not"))?);
        }
        self.set.nodes[id] = node;
        Ok(())
    }
}

fn flag(object: &Map<String, Value>, keyword: &str, path: &str) -> Result<bool, SchemaError> {
    match object.get(keyword) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(Compiler::error(
            &join(path, keyword),
            format!("must be true or false, found {other}"),
        )),
    }
}

fn join(path: &str, keyword: &str) -> String {
    if path.is_empty() {
        keyword.to_owned()
    } else {
        format!("{path}.{keyword}")
    }
}

fn types_of(value: Option<&Value>, path: &str) -> Result<Types, SchemaError> {
    let one = |name: &str| -> Result<u8, SchemaError> {
        Ok(match name {
            "object" => Types::OBJECT,
            "array" => Types::ARRAY,
            "string" => Types::STRING,
            "integer" => Types::INTEGER,
            "number" => Types::NUMBER,
            "boolean" => Types::BOOLEAN,
            "null" => Types::NULL,
            other => {
                let known = [
                    "object", "array", "string", "integer", "number", "boolean", "null",
                ];
                let hint = crate::validate::nearest(other, known.iter().copied())
                    .map(|k| format!("; did you mean {k}?"))
                    .unwrap_or_default();
                return Err(Compiler::error(
                    path,
                    format!("unknown type {other:?}{hint}"),
                ));
            }
        })
    };
    match value {
        None => Ok(Types::default()),
        Some(Value::String(name)) => Ok(Types(one(name)?)),
        Some(Value::Array(names)) => {
            let mut bits = 0;
            for name in names {
                let name = name
                    .as_str()
                    .ok_or_else(|| Compiler::error(path, "must name types"))?;
                bits |= one(name)?;
            }
            Ok(Types(bits))
        }
        Some(other) => Err(Compiler::error(
            path,
            format!("must be a type name, found {other}"),
        )),
    }
}

fn bounds_of(object: &Map<String, Value>, path: &str) -> Result<Option<Box<Bounds>>, SchemaError> {
    let number = |keyword: &str| -> Result<Option<f64>, SchemaError> {
        match object.get(keyword) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(Compiler::error(
                &join(path, keyword),
                format!("must be a number, found {other}"),
            )),
        }
    };
    let count = |keyword: &str| -> Result<Option<usize>, SchemaError> {
        match object.get(keyword) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    Compiler::error(
                        &join(path, keyword),
                        format!("must be a non-negative integer, found {value}"),
                    )
                }),
        }
    };
    // `exclusiveMinimum: true` (OpenAPI v3.0) or `exclusiveMinimum: 3` (JSON Schema).
    let mut minimum = number("minimum")?;
    let mut maximum = number("maximum")?;
    let exclusive = |keyword: &str, bound: &mut Option<f64>| -> Result<bool, SchemaError> {
        match object.get(keyword) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) => {
                *bound = n.as_f64();
                Ok(true)
            }
            Some(other) => Err(Compiler::error(
                &join(path, keyword),
                format!("must be a boolean, found {other}"),
            )),
        }
    };
    let exclusive_minimum = exclusive("exclusiveMinimum", &mut minimum)?;
    let exclusive_maximum = exclusive("exclusiveMaximum", &mut maximum)?;
    let pattern = match object.get("pattern") {
        None => None,
        Some(Value::String(text)) => Some(crate::user_regex::compile(text).map_err(|e| {
            let message = match &e {
                crate::user_regex::RegexLimitError::Invalid(invalid) => {
                    format!("invalid regular expression: {invalid}")
                }
                limit => limit.to_string(),
            };
            SchemaError {
                source: Some(e),
                ..Compiler::error(&join(path, "pattern"), message)
            }
        })?),
        Some(other) => {
            return Err(Compiler::error(
                &join(path, "pattern"),
                format!("must be a string, found {other}"),
            ));
        }
    };
    let unique_items = flag(object, "uniqueItems", path)?;
    let bounds = Bounds {
        minimum,
        maximum,
        exclusive_minimum,
        exclusive_maximum,
        multiple_of: number("multipleOf")?,
        min_length: count("minLength")?,
        max_length: count("maxLength")?,
        pattern,
        min_items: count("minItems")?,
        max_items: count("maxItems")?,
        unique_items,
        min_properties: count("minProperties")?,
        max_properties: count("maxProperties")?,
    };
    let empty = bounds.minimum.is_none()
        && bounds.maximum.is_none()
        && bounds.multiple_of.is_none()
        && bounds.min_length.is_none()
        && bounds.max_length.is_none()
        && bounds.pattern.is_none()
        && bounds.min_items.is_none()
        && bounds.max_items.is_none()
        && !bounds.unique_items
        && bounds.min_properties.is_none()
        && bounds.max_properties.is_none();
    Ok((!empty).then(|| Box::new(bounds)))
}

#[cfg(test)]
mod tests;
