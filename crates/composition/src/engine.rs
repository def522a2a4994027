//! The whole path from a claim or composite to desired composed resources, for callers such
//! as `strata render`: XRD lookup, claim → composite, schema defaults and validation,
//! composition selection, render, and Crossplane core's composed-resource metadata.

use crate::claim::claim_to_composite;
use crate::composition::{Composition, select_composition};
use crate::error::{Error, Result};
use crate::metadata::{CrossplaneVersion, composed_metadata};
use crate::render::{RenderOptions, RenderOutput, RenderRequest};
use crate::xrd::Xrd;
use serde_json::{Value, json};
use strata_core::model::group_of;

/// The result of rendering one claim or composite.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeRender {
    /// The composite actually rendered (derived from the claim, defaults applied).
    pub composite: Value,
    /// Name of the composition used.
    pub composition: String,
    /// The render output (desired resources before metadata, desired XR, readiness, explain).
    pub output: RenderOutput,
    /// Desired composed resources with Crossplane core's metadata (names, labels,
    /// annotations, owner references), sorted by composition resource name.
    pub composed: Vec<Value>,
    /// No XRD defines the composite's type: it was rendered as it is, without schema checks
    /// or defaults (as `crossplane render` does).
    pub without_xrd: bool,
}

/// Renders a claim or composite. `request` supplies observed/desired state (its `composite`
/// is replaced by the derived composite). An unbound claim's composite is named after the
/// claim so renders are reproducible. An object of a type no XRD defines but a composition
/// composes is rendered as a composite without schema checks or defaults
/// ([`CompositeRender::without_xrd`]), as `crossplane render` does.
pub fn render_object(
    object: &Value,
    xrds: &[Xrd],
    compositions: &[Composition],
    request: &RenderRequest,
    opts: RenderOptions,
) -> Result<CompositeRender> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let group = group_of(api_version);
    let Some((xrd, is_claim)) = xrds
        .iter()
        .filter(|x| x.group == group)
        .find_map(|x| x.is_claim(object).map(|c| (x, c)))
    else {
        if compositions.iter().any(|c| c.matches_type(object)) {
            return render_without_xrd(object, compositions, request, opts);
        }
        return Err(Error::Validation(format!(
            "no CompositeResourceDefinition defines {api_version} {}",
            object.get("kind").and_then(Value::as_str).unwrap_or("")
        )));
    };
    let check = |o: &Value, what: &str| -> Result<()> {
        let violations = xrd.validate(o)?;
        if violations.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        Err(Error::Validation(format!(
            "invalid {what}: {}",
            list.join("; ")
        )))
    };
    let mut composite = if is_claim {
        let claim = xrd.apply_defaults(object);
        check(&claim, "claim")?;
        let version = xrd.version_for(object).map_or("", |v| v.name.as_str());
        let mut xr = claim_to_composite(
            &claim,
            &format!("{}/{version}", xrd.group),
            &xrd.kind,
            None,
            xrd.enforced_composition.as_deref(),
        );
        if xr["metadata"].get("name").is_none() {
            let name = claim["metadata"]["name"].clone();
            if let Some(meta) = xr["metadata"].as_object_mut() {
                meta.shift_remove("generateName");
                meta.insert("name".into(), name);
            }
        }
        xr
    } else {
        object.clone()
    };
    if let Some(enforced) = &xrd.enforced_composition
        && let Some(spec) = composite.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.insert("compositionRef".into(), json!({ "name": enforced }));
    }
    composite = xrd.apply_defaults(&composite);
    check(&composite, "composite")?;
    let default = xrd
        .enforced_composition
        .as_deref()
        .or(xrd.default_composition.as_deref());
    let composition = select_composition(&composite, compositions, default)?;
    let mut req = request.clone();
    req.composite = composite.clone();
    finish(composite, composition, &req, opts, false)
}

/// A composite of a type no XRD defines: rendered as it is.
fn render_without_xrd(
    object: &Value,
    compositions: &[Composition],
    request: &RenderRequest,
    opts: RenderOptions,
) -> Result<CompositeRender> {
    let composite = object.clone();
    let composition = select_composition(&composite, compositions, None)?;
    let mut req = request.clone();
    req.composite = composite.clone();
    finish(composite, composition, &req, opts, true)
}

fn finish(
    composite: Value,
    composition: &Composition,
    req: &RenderRequest,
    opts: RenderOptions,
    without_xrd: bool,
) -> Result<CompositeRender> {
    let output = composition.render(req, opts)?;
    let composed = output
        .resources
        .iter()
        .map(|r| composed_metadata(CrossplaneVersion::V2, &composite, &r.name, &r.resource))
        .collect();
    Ok(CompositeRender {
        composite,
        composition: composition.name.clone(),
        output,
        composed,
        without_xrd,
    })
}

impl CompositeRender {
    /// JSON form: composite, composition, composed resources with metadata, desired XR,
    /// readiness, connection details, warnings and the explain trace.
    pub fn to_json(&self) -> Value {
        let out = self.output.to_json();
        json!({
            "composite": self.composite,
            "composition": self.composition,
            "composed": self.composed,
            "desiredComposite": out["composite"],
            "resources": out["resources"],
            "compositeReady": out["compositeReady"],
            "compositeConnectionDetails": out["compositeConnectionDetails"],
            "warnings": out["warnings"],
            "explain": out["explain"],
            "conditions": out["conditions"],
            "skippedSteps": out["skippedSteps"],
            "withoutXrd": self.without_xrd,
        })
    }
}
