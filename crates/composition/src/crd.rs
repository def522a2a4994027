//! The CustomResourceDefinitions of an XRD, as Crossplane's XRD controller makes them: one for
//! the composite kind (cluster-scoped, `spec.names`, category `composite`) and, when the XRD
//! offers claims, one for the claim kind (namespaced, `spec.claimNames`, category `claim`).
//!
//! Each XRD version becomes a CRD version: served as the XRD says, stored when referenceable,
//! with the status subresource and the XRD's printer columns followed by Crossplane's. Its
//! schema is Crossplane's base (`apiVersion`, `kind`, `metadata`, `spec` required, `status`)
//! with the XRD's `spec` and `status` merged in: their properties, `required`, `description`
//! and `x-kubernetes-validations` (other keywords of the two are not carried over, as in
//! Crossplane). Crossplane's own fields are added on top and win over same-named XRD fields:
//!
//! * composite `spec`: `compositionRef`, `compositionSelector`, `compositionRevisionRef`,
//!   `compositionRevisionSelector`, `compositionUpdatePolicy`, `claimRef`, `resourceRefs`,
//!   `writeConnectionSecretToRef` (`name` and `namespace`);
//! * claim `spec`: the composition fields, `compositeDeletePolicy`, `resourceRef`,
//!   `writeConnectionSecretToRef` (`name` only: the secret lives in the claim's namespace);
//! * `status` of both: `conditions` and `connectionDetails`.
//!
//! [`crds_for`] is pure: an XRD object in, CRD objects out, ready to apply.

use serde_json::{Map, Value, json};

/// The category of every composite CRD (`kubectl get composite`).
pub const CATEGORY_COMPOSITE: &str = "composite";
/// The category of every claim CRD (`kubectl get claim`).
pub const CATEGORY_CLAIM: &str = "claim";
/// The default of `compositionUpdatePolicy` when the XRD sets no
/// `spec.defaultCompositionUpdatePolicy`.
pub const DEFAULT_COMPOSITION_UPDATE_POLICY: &str = "Automatic";
/// The default of a claim's `compositeDeletePolicy` when the XRD sets no
/// `spec.defaultCompositeDeletePolicy`.
pub const DEFAULT_COMPOSITE_DELETE_POLICY: &str = "Background";

/// The CRDs of one XRD.
#[derive(Debug, Clone, PartialEq)]
pub struct XrdCrds {
    /// The composite kind's CRD (cluster-scoped).
    pub composite: Value,
    /// The claim kind's CRD (namespaced), when the XRD has `spec.claimNames`.
    pub claim: Option<Value>,
}

impl XrdCrds {
    /// The CRDs in the order to apply them: the composite's, then the claim's.
    pub fn all(&self) -> impl Iterator<Item = &Value> {
        std::iter::once(&self.composite).chain(self.claim.as_ref())
    }
}

/// Why an XRD does not give CRDs. Messages name the XRD and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrdError {
    /// The object is not an XRD.
    #[error("not a CompositeResourceDefinition (kind {found:?})")]
    NotAnXrd {
        /// The object's kind.
        found: String,
    },
    /// A field the CRDs need is absent or empty.
    #[error("XRD {xrd}: {field} is required")]
    Missing {
        /// The XRD's name.
        xrd: String,
        /// The field path.
        field: String,
    },
    /// A field has the wrong type.
    #[error("XRD {xrd}: {field} must be {expected}")]
    WrongType {
        /// The XRD's name.
        xrd: String,
        /// The field path.
        field: String,
        /// What it must be (`an object`, `a string` …).
        expected: &'static str,
    },
    /// `metadata.name` is not `<spec.names.plural>.<spec.group>`.
    #[error("XRD {found}: metadata.name must be {expected} (spec.names.plural.spec.group)")]
    Name {
        /// The name the XRD has.
        found: String,
        /// The name it must have.
        expected: String,
    },
    /// A claim name is also the composite's.
    #[error("XRD {xrd}: spec.claimNames.{field} {value:?} conflicts with the composite's name")]
    ClaimNameConflict {
        /// The XRD's name.
        xrd: String,
        /// `kind`, `plural`, `singular` or `listKind`.
        field: &'static str,
        /// The shared value.
        value: String,
    },
    /// Not exactly one version is referenceable (the one the CRDs store).
    #[error("XRD {xrd}: exactly one version must be referenceable, found {count}")]
    Referenceable {
        /// The XRD's name.
        xrd: String,
        /// How many are.
        count: usize,
    },
}

/// The composite and claim CRDs of `xrd` (an `apiextensions.crossplane.io/v1
/// CompositeResourceDefinition` object). See the module documentation.
pub fn crds_for(xrd: &Value) -> Result<XrdCrds, CrdError> {
    let parts = Parts::read(xrd)?;
    let composite = parts.crd(Flavour::Composite)?;
    let claim = match &parts.claim_names {
        Some(_) => Some(parts.crd(Flavour::Claim)?),
        None => None,
    };
    Ok(XrdCrds { composite, claim })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Composite,
    Claim,
}

/// What the CRDs are made of, read and checked.
struct Parts<'a> {
    name: String,
    group: &'a str,
    names: &'a Map<String, Value>,
    claim_names: Option<&'a Map<String, Value>>,
    versions: &'a [Value],
    labels: Map<String, Value>,
    annotations: Option<&'a Value>,
    conversion: Option<&'a Value>,
    update_policy: &'a str,
    delete_policy: &'a str,
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

impl<'a> Parts<'a> {
    fn read(xrd: &'a Value) -> Result<Self, CrdError> {
        let kind = text(xrd, "/kind").unwrap_or_default();
        if kind != "CompositeResourceDefinition" {
            return Err(CrdError::NotAnXrd {
                found: kind.to_owned(),
            });
        }
        let name = text(xrd, "/metadata/name").unwrap_or_default().to_owned();
        let missing = |field: &str| CrdError::Missing {
            xrd: name.clone(),
            field: field.to_owned(),
        };
        let wrong = |field: &str, expected| CrdError::WrongType {
            xrd: name.clone(),
            field: field.to_owned(),
            expected,
        };
        let object = |pointer: &str, field: &str| -> Result<Option<&'a Map<String, Value>>, _> {
            match xrd.pointer(pointer) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Object(map)) => Ok(Some(map)),
                Some(_) => Err(wrong(field, "an object")),
            }
        };
        let required_text = |pointer: &str, field: &str| match xrd.pointer(pointer) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
            None | Some(Value::Null) | Some(Value::String(_)) => Err(missing(field)),
            Some(_) => Err(wrong(field, "a string")),
        };
        let group = required_text("/spec/group", "spec.group")?;
        let names = object("/spec/names", "spec.names")?.ok_or_else(|| missing("spec.names"))?;
        let kind = required_text("/spec/names/kind", "spec.names.kind")?;
        let plural = required_text("/spec/names/plural", "spec.names.plural")?;
        let expected = format!("{plural}.{group}");
        if name != expected {
            return Err(CrdError::Name {
                found: name,
                expected,
            });
        }
        let claim_names = object("/spec/claimNames", "spec.claimNames")?;
        if let Some(claim) = claim_names {
            let claim_kind = required_text("/spec/claimNames/kind", "spec.claimNames.kind")?;
            let claim_plural = required_text("/spec/claimNames/plural", "spec.claimNames.plural")?;
            let conflict = |field: &'static str, value: &str| CrdError::ClaimNameConflict {
                xrd: name.clone(),
                field,
                value: value.to_owned(),
            };
            if claim_kind == kind {
                return Err(conflict("kind", kind));
            }
            if claim_plural == plural {
                return Err(conflict("plural", plural));
            }
            for field in ["singular", "listKind"] {
                let ours = claim.get(field).and_then(Value::as_str).unwrap_or_default();
                if !ours.is_empty() && Some(ours) == names.get(field).and_then(Value::as_str) {
                    return Err(conflict(field, ours));
                }
            }
        }
        let versions = match xrd.pointer("/spec/versions") {
            Some(Value::Array(versions)) if !versions.is_empty() => versions.as_slice(),
            None | Some(Value::Null) => return Err(missing("spec.versions")),
            Some(Value::Array(_)) => return Err(missing("spec.versions")),
            Some(_) => return Err(wrong("spec.versions", "a list")),
        };
        let referenceable = versions
            .iter()
            .filter(|v| v.get("referenceable").and_then(Value::as_bool) == Some(true))
            .count();
        if referenceable != 1 {
            return Err(CrdError::Referenceable {
                xrd: name,
                count: referenceable,
            });
        }
        let mut labels = object("/metadata/labels", "metadata.labels")?
            .cloned()
            .unwrap_or_default();
        if let Some(extra) = object("/spec/metadata/labels", "spec.metadata.labels")? {
            labels.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let annotations = object("/spec/metadata/annotations", "spec.metadata.annotations")?
            .and_then(|_| xrd.pointer("/spec/metadata/annotations"));
        let conversion = object("/spec/conversion", "spec.conversion")?
            .and_then(|_| xrd.pointer("/spec/conversion"));
        Ok(Self {
            group,
            names,
            claim_names,
            versions,
            labels,
            annotations,
            conversion,
            update_policy: text(xrd, "/spec/defaultCompositionUpdatePolicy")
                .unwrap_or(DEFAULT_COMPOSITION_UPDATE_POLICY),
            delete_policy: text(xrd, "/spec/defaultCompositeDeletePolicy")
                .unwrap_or(DEFAULT_COMPOSITE_DELETE_POLICY),
            name,
        })
    }

    fn crd(&self, flavour: Flavour) -> Result<Value, CrdError> {
        let (names, scope, category) = match flavour {
            Flavour::Composite => (self.names, "Cluster", CATEGORY_COMPOSITE),
            Flavour::Claim => (
                self.claim_names.unwrap_or(self.names),
                "Namespaced",
                CATEGORY_CLAIM,
            ),
        };
        let mut names = names.clone();
        let categories = names
            .entry("categories")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = categories {
            if !list.iter().any(|c| c == category) {
                list.push(json!(category));
            }
        } else {
            return Err(CrdError::WrongType {
                xrd: self.name.clone(),
                field: format!(
                    "spec.{}.categories",
                    if flavour == Flavour::Claim {
                        "claimNames"
                    } else {
                        "names"
                    }
                ),
                expected: "a list",
            });
        }
        let plural = names
            .get("plural")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!(format!("{plural}.{}", self.group)));
        if !self.labels.is_empty() {
            metadata.insert("labels".into(), Value::Object(self.labels.clone()));
        }
        if let Some(annotations) = self.annotations {
            metadata.insert("annotations".into(), annotations.clone());
        }
        let versions = self
            .versions
            .iter()
            .enumerate()
            .map(|(index, version)| self.version(index, version, flavour))
            .collect::<Result<Vec<_>, _>>()?;
        let mut spec = Map::new();
        spec.insert("group".into(), json!(self.group));
        spec.insert("names".into(), Value::Object(names));
        spec.insert("scope".into(), json!(scope));
        spec.insert("versions".into(), Value::Array(versions));
        if let Some(conversion) = self.conversion {
            spec.insert("conversion".into(), conversion.clone());
        }
        Ok(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": metadata,
            "spec": spec,
        }))
    }

    fn version(&self, index: usize, version: &Value, flavour: Flavour) -> Result<Value, CrdError> {
        let field = |rest: &str| format!("spec.versions[{index}]{rest}");
        let name = match version.get("name") {
            Some(Value::String(name)) if !name.is_empty() => name.as_str(),
            _ => {
                return Err(CrdError::Missing {
                    xrd: self.name.clone(),
                    field: field(".name"),
                });
            }
        };
        let flag = |key: &str| version.get(key).and_then(Value::as_bool).unwrap_or(false);
        let schema = match version.pointer("/schema/openAPIV3Schema") {
            Some(Value::Object(schema)) => schema,
            None | Some(Value::Null) => {
                return Err(CrdError::Missing {
                    xrd: self.name.clone(),
                    field: field(".schema.openAPIV3Schema"),
                });
            }
            Some(_) => {
                return Err(CrdError::WrongType {
                    xrd: self.name.clone(),
                    field: field(".schema.openAPIV3Schema"),
                    expected: "an object",
                });
            }
        };
        let part = |key: &str| -> Result<Option<&Map<String, Value>>, CrdError> {
            match schema.get("properties").and_then(|p| p.get(key)) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Object(map)) => Ok(Some(map)),
                Some(_) => Err(CrdError::WrongType {
                    xrd: self.name.clone(),
                    field: field(&format!(".schema.openAPIV3Schema.properties.{key}")),
                    expected: "an object",
                }),
            }
        };
        let (spec_fields, status_fields) = match flavour {
            Flavour::Composite => (composite_spec_fields(self.update_policy), status_fields()),
            Flavour::Claim => (
                claim_spec_fields(self.update_policy, self.delete_policy),
                status_fields(),
            ),
        };
        let spec = merged(part("spec")?, spec_fields);
        let status = merged(part("status")?, status_fields);
        let mut root = Map::new();
        root.insert("type".into(), json!("object"));
        if let Some(description) = schema.get("description") {
            root.insert("description".into(), description.clone());
        }
        root.insert("required".into(), json!(["spec"]));
        root.insert(
            "properties".into(),
            json!({
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": spec,
                "status": status,
            }),
        );

        let mut out = Map::new();
        out.insert("name".into(), json!(name));
        out.insert("served".into(), json!(flag("served")));
        out.insert("storage".into(), json!(flag("referenceable")));
        if flag("deprecated") {
            out.insert("deprecated".into(), json!(true));
        }
        if let Some(warning) = version.get("deprecationWarning").filter(|w| w.is_string()) {
            out.insert("deprecationWarning".into(), warning.clone());
        }
        out.insert(
            "schema".into(),
            json!({"openAPIV3Schema": Value::Object(root)}),
        );
        out.insert("subresources".into(), json!({"status": {}}));
        let mut columns: Vec<Value> = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        columns.extend(printer_columns(flavour));
        out.insert("additionalPrinterColumns".into(), Value::Array(columns));
        Ok(Value::Object(out))
    }
}

/// Crossplane's base for `spec` or `status` with the XRD's part merged in and `fields` on top.
fn merged(from_xrd: Option<&Map<String, Value>>, fields: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    let mut properties = Map::new();
    if let Some(part) = from_xrd {
        for key in ["description", "required", "x-kubernetes-validations"] {
            if let Some(value) = part.get(key) {
                out.insert(key.into(), value.clone());
            }
        }
        if let Some(Value::Object(own)) = part.get("properties") {
            properties.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    properties.extend(fields);
    out.insert("properties".into(), Value::Object(properties));
    Value::Object(out)
}

fn name_ref() -> Value {
    json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}})
}

fn label_selector() -> Value {
    json!({"type": "object", "required": ["matchLabels"], "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}})
}

fn enumeration(values: &[&str], default: &str) -> Value {
    json!({"type": "string", "enum": values, "default": default})
}

/// The composition fields composites and claims share.
fn composition_fields(update_policy: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("compositionRef".into(), name_ref());
    fields.insert("compositionSelector".into(), label_selector());
    fields.insert("compositionRevisionRef".into(), name_ref());
    fields.insert("compositionRevisionSelector".into(), label_selector());
    fields.insert(
        "compositionUpdatePolicy".into(),
        enumeration(&["Automatic", "Manual"], update_policy),
    );
    fields
}

fn composite_spec_fields(update_policy: &str) -> Map<String, Value> {
    let mut fields = composition_fields(update_policy);
    fields.insert(
        "claimRef".into(),
        json!({"type": "object", "required": ["apiVersion", "kind", "namespace", "name"],
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "namespace": {"type": "string"}, "name": {"type": "string"}}}),
    );
    fields.insert(
        "resourceRefs".into(),
        json!({"type": "array", "items": {"type": "object", "required": ["apiVersion", "kind"],
            "properties": {"apiVersion": {"type": "string"}, "name": {"type": "string"},
                "kind": {"type": "string"}}}}),
    );
    fields.insert(
        "writeConnectionSecretToRef".into(),
        json!({"type": "object", "required": ["name", "namespace"],
            "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}}}),
    );
    fields
}

fn claim_spec_fields(update_policy: &str, delete_policy: &str) -> Map<String, Value> {
    let mut fields = composition_fields(update_policy);
    fields.insert(
        "compositeDeletePolicy".into(),
        enumeration(&["Background", "Foreground"], delete_policy),
    );
    fields.insert(
        "resourceRef".into(),
        json!({"type": "object", "required": ["apiVersion", "kind", "name"],
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "name": {"type": "string"}}}),
    );
    fields.insert("writeConnectionSecretToRef".into(), name_ref());
    fields
}

fn status_fields() -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert(
        "conditions".into(),
        json!({"description": "Conditions of the resource.", "type": "array",
            "items": {"type": "object",
                "required": ["lastTransitionTime", "reason", "status", "type"],
                "properties": {
                    "lastTransitionTime": {"type": "string", "format": "date-time"},
                    "message": {"type": "string"},
                    "observedGeneration": {"type": "integer", "format": "int64"},
                    "reason": {"type": "string"},
                    "status": {"type": "string"},
                    "type": {"type": "string"}}}}),
    );
    fields.insert(
        "connectionDetails".into(),
        json!({"type": "object", "properties": {
            "lastPublishedTime": {"type": "string", "format": "date-time"}}}),
    );
    fields
}

fn printer_columns(flavour: Flavour) -> Vec<Value> {
    let condition = |name: &str, kind: &str| {
        json!({"name": name, "type": "string",
            "jsonPath": format!(".status.conditions[?(@.type=='{kind}')].status")})
    };
    let third = match flavour {
        Flavour::Composite => {
            json!({"name": "COMPOSITION", "type": "string", "jsonPath": ".spec.compositionRef.name"})
        }
        Flavour::Claim => json!({"name": "CONNECTION-SECRET", "type": "string",
            "jsonPath": ".spec.writeConnectionSecretToRef.name"}),
    };
    vec![
        condition("SYNCED", "Synced"),
        condition("READY", "Ready"),
        third,
        json!({"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn xrd() -> Value {
        json!({"apiVersion": "apiextensions.crossplane.io/v1", "kind": "CompositeResourceDefinition",
            "metadata": {"name": "xbuckets.example.org", "labels": {"team": "storage"}},
            "spec": {"group": "example.org",
                "names": {"kind": "XBucket", "plural": "xbuckets"},
                "claimNames": {"kind": "Bucket", "plural": "buckets"},
                "versions": [
                    {"name": "v1alpha1", "served": true, "referenceable": false,
                        "deprecated": true, "deprecationWarning": "use v1",
                        "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1", "served": true, "referenceable": true,
                        "additionalPrinterColumns": [{"name": "REGION", "type": "string", "jsonPath": ".spec.region"}],
                        "schema": {"openAPIV3Schema": {"type": "object", "description": "A bucket.",
                            "properties": {
                                "spec": {"type": "object", "description": "What to make.",
                                    "required": ["region"],
                                    "x-kubernetes-validations": [{"rule": "self.region != ''"}],
                                    "x-kubernetes-preserve-unknown-fields": true,
                                    "properties": {"region": {"type": "string"},
                                        "compositionRef": {"type": "string"}}},
                                "status": {"type": "object", "properties": {"url": {"type": "string"}}}}}}}]}})
    }

    #[test]
    fn the_composite_crd_is_cluster_scoped_with_crossplane_fields_on_top() {
        let crds = crds_for(&xrd()).unwrap();
        let crd = &crds.composite;
        assert_eq!(
            crd["metadata"],
            json!({"name": "xbuckets.example.org", "labels": {"team": "storage"}})
        );
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(
            crd["spec"]["names"],
            json!({"kind": "XBucket", "plural": "xbuckets", "categories": ["composite"]})
        );
        let versions = crd["spec"]["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(
            (
                &versions[0]["name"],
                &versions[0]["storage"],
                &versions[0]["deprecated"],
                &versions[0]["deprecationWarning"]
            ),
            (
                &json!("v1alpha1"),
                &json!(false),
                &json!(true),
                &json!("use v1")
            )
        );
        let v1 = &versions[1];
        assert_eq!(
            (&v1["served"], &v1["storage"]),
            (&json!(true), &json!(true))
        );
        assert!(v1.get("deprecated").is_none());
        assert_eq!(v1["subresources"], json!({"status": {}}));
        let columns: Vec<&str> = v1["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(columns, ["REGION", "SYNCED", "READY", "COMPOSITION", "AGE"]);
        let schema = &v1["schema"]["openAPIV3Schema"];
        assert_eq!(schema["description"], "A bucket.");
        assert_eq!(schema["required"], json!(["spec"]));
        let spec = &schema["properties"]["spec"];
        assert_eq!(spec["required"], json!(["region"]));
        assert_eq!(spec["description"], "What to make.");
        assert_eq!(
            spec["x-kubernetes-validations"],
            json!([{"rule": "self.region != ''"}])
        );
        // Not carried over, as in Crossplane.
        assert!(spec.get("x-kubernetes-preserve-unknown-fields").is_none());
        // Crossplane's compositionRef wins over the XRD's.
        assert_eq!(spec["properties"]["compositionRef"]["type"], "object");
        let fields: Vec<&String> = spec["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "region",
                "compositionRef",
                "compositionSelector",
                "compositionRevisionRef",
                "compositionRevisionSelector",
                "compositionUpdatePolicy",
                "claimRef",
                "resourceRefs",
                "writeConnectionSecretToRef"
            ]
        );
        assert_eq!(
            spec["properties"]["writeConnectionSecretToRef"]["required"],
            json!(["name", "namespace"])
        );
        assert_eq!(
            spec["properties"]["compositionUpdatePolicy"]["default"],
            "Automatic"
        );
        let status: Vec<&String> = schema["properties"]["status"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(status, ["url", "conditions", "connectionDetails"]);
    }

    #[test]
    fn the_claim_crd_is_namespaced_with_the_claim_fields() {
        let crds = crds_for(&xrd()).unwrap();
        let crd = crds.claim.unwrap();
        assert_eq!(crd["metadata"]["name"], "buckets.example.org");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(
            crd["spec"]["names"],
            json!({"kind": "Bucket", "plural": "buckets", "categories": ["claim"]})
        );
        let v1 = &crd["spec"]["versions"][1];
        let spec = &v1["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let fields: Vec<&String> = spec["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "region",
                "compositionRef",
                "compositionSelector",
                "compositionRevisionRef",
                "compositionRevisionSelector",
                "compositionUpdatePolicy",
                "compositeDeletePolicy",
                "resourceRef",
                "writeConnectionSecretToRef"
            ]
        );
        assert_eq!(
            spec["properties"]["writeConnectionSecretToRef"],
            json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}})
        );
        assert_eq!(
            spec["properties"]["compositeDeletePolicy"]["default"],
            "Background"
        );
        assert_eq!(
            v1["additionalPrinterColumns"][3]["name"],
            "CONNECTION-SECRET"
        );
    }

    #[test]
    fn the_xrd_sets_the_policy_defaults_and_crd_metadata() {
        let mut xrd = xrd();
        xrd["spec"]["defaultCompositeDeletePolicy"] = json!("Foreground");
        xrd["spec"]["defaultCompositionUpdatePolicy"] = json!("Manual");
        xrd["spec"]["metadata"] = json!({"labels": {"tier": "gold"}, "annotations": {"note": "x"}});
        xrd["spec"]["names"]["categories"] = json!(["storage", "composite"]);
        let crds = crds_for(&xrd).unwrap();
        let claim = crds.claim.unwrap();
        let spec = &claim["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(
            spec["properties"]["compositeDeletePolicy"]["default"],
            "Foreground"
        );
        assert_eq!(
            spec["properties"]["compositionUpdatePolicy"]["default"],
            "Manual"
        );
        assert_eq!(
            claim["metadata"],
            json!({"name": "buckets.example.org", "labels": {"team": "storage", "tier": "gold"},
                "annotations": {"note": "x"}})
        );
        assert_eq!(
            crds.composite["spec"]["names"]["categories"],
            json!(["storage", "composite"])
        );
    }

    #[test]
    fn without_claim_names_there_is_only_the_composite() {
        let mut xrd = xrd();
        xrd["spec"]
            .as_object_mut()
            .unwrap()
            .shift_remove("claimNames");
        let crds = crds_for(&xrd).unwrap();
        assert_eq!(crds.claim, None);
        assert_eq!(crds.all().count(), 1);
    }

    /// A change to the valid XRD, and the message it must be refused with.
    type Case = (fn(&mut Value), &'static str);

    #[test]
    fn invalid_xrds_are_refused_naming_the_field() {
        let cases: Vec<Case> = vec![
            (
                |x| x["kind"] = json!("Composition"),
                "not a CompositeResourceDefinition (kind \"Composition\")",
            ),
            (
                |x| x["spec"]["names"]["plural"] = json!(""),
                "XRD xbuckets.example.org: spec.names.plural is required",
            ),
            (
                |x| x["metadata"]["name"] = json!("buckets"),
                "XRD buckets: metadata.name must be xbuckets.example.org (spec.names.plural.spec.group)",
            ),
            (
                |x| x["spec"]["claimNames"]["kind"] = json!("XBucket"),
                "XRD xbuckets.example.org: spec.claimNames.kind \"XBucket\" conflicts with the composite's name",
            ),
            (
                |x| {
                    x["spec"]["names"]["singular"] = json!("bucket");
                    x["spec"]["claimNames"]["singular"] = json!("bucket");
                },
                "XRD xbuckets.example.org: spec.claimNames.singular \"bucket\" conflicts with the composite's name",
            ),
            (
                |x| x["spec"]["versions"][0]["referenceable"] = json!(true),
                "XRD xbuckets.example.org: exactly one version must be referenceable, found 2",
            ),
            (
                |x| x["spec"]["versions"] = json!([]),
                "XRD xbuckets.example.org: spec.versions is required",
            ),
            (
                |x| {
                    x["spec"]["versions"][1]
                        .as_object_mut()
                        .unwrap()
                        .shift_remove("schema");
                },
                "XRD xbuckets.example.org: spec.versions[1].schema.openAPIV3Schema is required",
            ),
            (
                |x| {
                    x["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"] =
                        json!("object")
                },
                "XRD xbuckets.example.org: spec.versions[1].schema.openAPIV3Schema.properties.spec must be an object",
            ),
        ];
        for (change, message) in cases {
            let mut xrd = xrd();
            change(&mut xrd);
            assert_eq!(crds_for(&xrd).unwrap_err().to_string(), message);
        }
    }
}
