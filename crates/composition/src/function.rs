//! The function-patch-and-transform input (`pt.fn.crossplane.io/v1beta1 Resources`):
//! parsing, validation and patch-set inlining.

use crate::connection::ConnectionDetail;
use crate::error::{Error, Result};
use crate::patch::{Patch, PatchType};
use crate::readiness::ReadinessCheck;
use serde_json::Value;

/// A validated function input, patch sets inlined.
#[derive(Debug, Clone)]
pub struct FunctionInput {
    /// `environment.patches`.
    pub environment_patches: Vec<Patch>,
    /// The composed resource templates, in order.
    pub resources: Vec<Template>,
    /// `writeConnectionSecretToRef` (v2 XRs).
    pub write_connection_secret_to_ref: Option<Value>,
}

/// One composed resource template.
#[derive(Debug, Clone)]
pub struct Template {
    /// Composition resource name.
    pub name: String,
    /// The base object (must have a `kind`).
    pub base: Option<Value>,
    /// Patches, patch sets inlined.
    pub patches: Vec<Patch>,
    /// Connection details.
    pub connection_details: Vec<ConnectionDetail>,
    /// Readiness checks.
    pub readiness_checks: Vec<ReadinessCheck>,
}

fn invalid(msg: String) -> Error {
    Error::Validation(format!("invalid Function input: {msg}"))
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

const ENV_PATCH_TYPES: [PatchType; 6] = [
    PatchType::FromCompositeFieldPath,
    PatchType::ToEnvironmentFieldPath,
    PatchType::CombineFromComposite,
    PatchType::ToCompositeFieldPath,
    PatchType::FromEnvironmentFieldPath,
    PatchType::CombineToComposite,
];

impl FunctionInput {
    /// Parses and validates the input. Validation failures are `validation` errors;
    /// unresolvable patch sets are `fatal`.
    pub fn parse(input: &Value) -> Result<FunctionInput> {
        let resources_v = list(input, "resources");
        let env_patches_v = input
            .get("environment")
            .map(|e| list(e, "patches"))
            .unwrap_or(&[]);
        if resources_v.is_empty() && env_patches_v.is_empty() {
            return Err(invalid(
                "resources: Required value: resources or environment patches are required".into(),
            ));
        }
        // Patch sets.
        let mut patch_sets: Vec<(String, Vec<Patch>)> = Vec::new();
        for (i, ps) in list(input, "patchSets").iter().enumerate() {
            let name = ps.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                return Err(invalid(format!(
                    "patchSets[{i}].name: Required value: name is required"
                )));
            }
            let mut patches = Vec::new();
            for (j, p) in list(ps, "patches").iter().enumerate() {
                let patch = Patch::parse(p).map_err(|e| {
                    e.wrap(&format!(
                        "invalid Function input: patchSets[{i}].patches[{j}]"
                    ))
                })?;
                if patch.ty == PatchType::PatchSet {
                    return Err(invalid(format!(
                        "patches[{j}].type: Invalid value: \"PatchSet\": patch type *v1beta1.PatchSetPatch does not support patch of type PatchSet"
                    )));
                }
                patches.push(patch);
            }
            patch_sets.push((name.to_string(), patches));
        }
        // Environment patches.
        let mut environment_patches = Vec::new();
        for (i, p) in env_patches_v.iter().enumerate() {
            let patch = Patch::parse(p).map_err(|e| {
                e.wrap(&format!("invalid Function input: environment.patches[{i}]"))
            })?;
            if !ENV_PATCH_TYPES.contains(&patch.ty) {
                return Err(invalid(format!(
                    "environment.patches[{i}].type: Invalid value: {:?}: invalid environment patch type",
                    patch.ty.as_str()
                )));
            }
            environment_patches.push(patch);
        }
        // Templates.
        let mut resources = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in resources_v.iter().enumerate() {
            let name = r.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                return Err(invalid(format!(
                    "resources[{i}].name: Required value: name is required"
                )));
            }
            if !names.insert(name.to_string()) {
                return Err(invalid(format!(
                    "resources[{i}].name: Duplicate value: {name:?}"
                )));
            }
            let mut patches = Vec::new();
            for (j, p) in list(r, "patches").iter().enumerate() {
                let patch = Patch::parse(p).map_err(|e| {
                    e.wrap(&format!(
                        "invalid Function input: resources[{i}].patches[{j}]"
                    ))
                })?;
                patches.push(patch);
            }
            let connection_details = ConnectionDetail::parse_all(list(r, "connectionDetails"))
                .map_err(|e| {
                    e.wrap(&format!(
                        "invalid Function input: resources[{i}].connectionDetails"
                    ))
                })?;
            let readiness_checks = ReadinessCheck::parse_all(list(r, "readinessChecks"))
                .map_err(|e| e.wrap(&format!("invalid Function input: resources[{i}]")))?;
            let base = match r.get("base") {
                None | Some(Value::Null) => None,
                Some(b) => {
                    if b.get("kind")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        return Err(Error::Fatal(format!(
                            "cannot render base template for composed resource {name:?}: Object 'Kind' is missing"
                        )));
                    }
                    let mut b = with_room(b.clone());
                    crate::value::normalize(&mut b);
                    Some(b)
                }
            };
            resources.push(Template {
                name: name.to_string(),
                base,
                patches,
                connection_details,
                readiness_checks,
            });
        }
        // Inline patch sets.
        for t in &mut resources {
            let mut inlined = Vec::with_capacity(t.patches.len());
            for p in t.patches.drain(..) {
                if p.ty == PatchType::PatchSet {
                    let want = p.patch_set_name.as_deref().unwrap_or("");
                    let Some((_, set)) = patch_sets.iter().find(|(n, _)| n == want) else {
                        return Err(Error::Fatal(format!(
                            "cannot resolve PatchSets: cannot find PatchSet by name {want}"
                        )));
                    };
                    inlined.extend(set.iter().cloned());
                } else {
                    inlined.push(p);
                }
            }
            t.patches = inlined;
        }
        Ok(FunctionInput {
            environment_patches,
            resources,
            write_connection_secret_to_ref: input
                .get("writeConnectionSecretToRef")
                .filter(|v| !v.is_null())
                .cloned(),
        })
    }
}

/// Rebuilds objects with spare capacity, so the copies made for every render take the keys
/// patches add without rehashing.
fn with_room(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::with_capacity(m.len() + 4);
            for (k, v) in m {
                out.insert(k, with_room(v));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(with_room).collect()),
        other => other,
    }
}
