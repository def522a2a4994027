//! Patches: every patch type, `fromFieldPath` and `toFieldPath` policies, combine, and the
//! legacy `mergeOptions`.

use crate::error::{Error, Result};
use crate::fieldpath::{self, FieldPath, MergeOptions, PathError};
use crate::gofmt::sprintf;
use crate::transform::{self, Transform};
use crate::value::normalize;
use serde_json::Value;

/// The patch types of function-patch-and-transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatchType {
    /// Observed XR (or, in environment patches, XR → environment).
    FromCompositeFieldPath,
    /// Observed composed → desired XR (environment patches: environment → XR).
    ToCompositeFieldPath,
    /// Combine observed XR fields.
    CombineFromComposite,
    /// Combine observed composed fields into the XR.
    CombineToComposite,
    /// Environment → desired composed.
    FromEnvironmentFieldPath,
    /// Observed composed → environment.
    ToEnvironmentFieldPath,
    /// Combine environment fields into the composed resource.
    CombineFromEnvironment,
    /// Combine observed composed fields into the environment.
    CombineToEnvironment,
    /// Inline a named patch set.
    PatchSet,
}

impl PatchType {
    /// Parses a type name (absent means `FromCompositeFieldPath`).
    pub fn parse(s: &str) -> Option<PatchType> {
        Some(match s {
            "" | "FromCompositeFieldPath" => PatchType::FromCompositeFieldPath,
            "ToCompositeFieldPath" => PatchType::ToCompositeFieldPath,
            "CombineFromComposite" => PatchType::CombineFromComposite,
            "CombineToComposite" => PatchType::CombineToComposite,
            "FromEnvironmentFieldPath" => PatchType::FromEnvironmentFieldPath,
            "ToEnvironmentFieldPath" => PatchType::ToEnvironmentFieldPath,
            "CombineFromEnvironment" => PatchType::CombineFromEnvironment,
            "CombineToEnvironment" => PatchType::CombineToEnvironment,
            "PatchSet" => PatchType::PatchSet,
            _ => return None,
        })
    }

    /// The type's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchType::FromCompositeFieldPath => "FromCompositeFieldPath",
            PatchType::ToCompositeFieldPath => "ToCompositeFieldPath",
            PatchType::CombineFromComposite => "CombineFromComposite",
            PatchType::CombineToComposite => "CombineToComposite",
            PatchType::FromEnvironmentFieldPath => "FromEnvironmentFieldPath",
            PatchType::ToEnvironmentFieldPath => "ToEnvironmentFieldPath",
            PatchType::CombineFromEnvironment => "CombineFromEnvironment",
            PatchType::CombineToEnvironment => "CombineToEnvironment",
            PatchType::PatchSet => "PatchSet",
        }
    }

    /// Whether the patch combines several variables.
    pub fn is_combine(self) -> bool {
        matches!(
            self,
            PatchType::CombineFromComposite
                | PatchType::CombineToComposite
                | PatchType::CombineFromEnvironment
                | PatchType::CombineToEnvironment
        )
    }

    /// Whether the patch reads the observed composed resource.
    pub fn reads_composed(self) -> bool {
        matches!(
            self,
            PatchType::ToCompositeFieldPath
                | PatchType::CombineToComposite
                | PatchType::ToEnvironmentFieldPath
                | PatchType::CombineToEnvironment
        )
    }
}

/// A path kept as written plus its parse result (parse errors surface when the patch runs).
#[derive(Debug, Clone)]
pub struct Path {
    /// The text.
    pub text: String,
    /// The parsed path, or the parse error.
    pub parsed: std::result::Result<FieldPath, PathError>,
    /// Whether the text contains `[*]` (a toFieldPath to expand).
    pub wildcard: bool,
}

impl Path {
    /// Parses a path text.
    pub fn new(text: &str) -> Path {
        Path {
            text: text.to_string(),
            parsed: FieldPath::parse(text),
            wildcard: text.contains("[*]"),
        }
    }

    fn read<'a>(&self, from: &'a Value) -> std::result::Result<&'a Value, PathError> {
        match &self.parsed {
            Ok(p) => fieldpath::get_segments(from, &p.0),
            Err(e) => Err(e.clone()),
        }
    }
}

/// A combine configuration (only the `string` strategy exists).
#[derive(Debug, Clone)]
pub struct Combine {
    /// Variable source paths.
    pub variables: Vec<Path>,
    /// The Go format string.
    pub fmt: String,
}

/// A parsed, validated patch.
#[derive(Debug, Clone)]
pub struct Patch {
    /// The type.
    pub ty: PatchType,
    /// `fromFieldPath` (non-combine types).
    pub from: Option<Path>,
    /// `toFieldPath` (defaults to `fromFieldPath`; `None` for patch sets).
    pub to: Option<Path>,
    /// Combine configuration.
    pub combine: Option<Combine>,
    /// Transforms applied to the value.
    pub transforms: Vec<Transform>,
    /// `policy.fromFieldPath: Required`.
    pub required: bool,
    /// The merge options of the toFieldPath policy (`None` = Replace).
    pub merge: Option<MergeOptions>,
    /// `patchSetName` of a `PatchSet` patch.
    pub patch_set_name: Option<String>,
}

fn v_err(msg: impl Into<String>) -> Error {
    Error::Validation(msg.into())
}

fn to_policy(s: &str) -> Option<Option<MergeOptions>> {
    let mo = |keep: bool, append: bool| {
        Some(MergeOptions {
            keep_map_values: keep,
            append_slice: append,
        })
    };
    Some(match s {
        "" | "Replace" => None,
        "MergeObjects" | "MergeObject" => mo(true, false),
        "MergeObjectsAppendArrays" => mo(true, true),
        "ForceMergeObjects" => mo(false, false),
        "ForceMergeObjectsAppendArrays" | "AppendArray" => mo(false, true),
        _ => return None,
    })
}

impl Patch {
    /// Parses and validates a patch object.
    pub fn parse(v: &Value) -> Result<Patch> {
        let ty_s = v.get("type").and_then(Value::as_str).unwrap_or("");
        let ty = PatchType::parse(ty_s)
            .ok_or_else(|| v_err(format!("type: Invalid value: {ty_s:?}: invalid patch type")))?;
        let str_of = |key: &str| v.get(key).and_then(Value::as_str);
        let from_s = str_of("fromFieldPath").unwrap_or("");
        let to_s = str_of("toFieldPath");
        let mut required = false;
        let mut merge = None;
        if let Some(policy) = v.get("policy").filter(|p| !p.is_null()) {
            match policy.get("fromFieldPath").and_then(Value::as_str) {
                None | Some("Optional") => {}
                Some("Required") => required = true,
                Some(other) => {
                    return Err(v_err(format!(
                        "policy.fromFieldPathPolicy: Invalid value: {other:?}: unknown fromFieldPathPolicy"
                    )));
                }
            }
            match policy.get("toFieldPath").and_then(Value::as_str) {
                Some(p) => {
                    merge = to_policy(p).ok_or_else(|| {
                        v_err(format!("policy.toFieldPathPolicy: Invalid value: {p:?}: unknown toFieldPathPolicy"))
                    })?;
                }
                None => {
                    if let Some(mo) = policy.get("mergeOptions").filter(|m| !m.is_null()) {
                        merge = Some(MergeOptions {
                            keep_map_values: mo
                                .get("keepMapValues")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                            append_slice: mo
                                .get("appendSlice")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                        });
                    }
                }
            }
        }
        let transforms = match v.get("transforms").and_then(Value::as_array) {
            Some(list) => transform::parse_all(list)?,
            None => Vec::new(),
        };
        let mut patch = Patch {
            ty,
            from: None,
            to: None,
            combine: None,
            transforms,
            required,
            merge,
            patch_set_name: None,
        };
        match ty {
            PatchType::PatchSet => {
                let name = str_of("patchSetName").unwrap_or("");
                if name.is_empty() {
                    return Err(v_err(
                        "patchSetName: Required value: patchSetName must be set for patch type PatchSet",
                    ));
                }
                patch.patch_set_name = Some(name.to_string());
            }
            t if t.is_combine() => {
                let to = to_s.unwrap_or("");
                if to.is_empty() {
                    return Err(v_err(format!(
                        "toFieldPath: Required value: toFieldPath must be set for patch type {}",
                        t.as_str()
                    )));
                }
                let Some(c) = v.get("combine").filter(|c| !c.is_null()) else {
                    return Err(v_err(format!(
                        "combine: Required value: combine must be set for patch type {}",
                        t.as_str()
                    )));
                };
                patch.combine = Some(parse_combine(c)?);
                patch.to = Some(Path::new(to));
            }
            t => {
                if from_s.is_empty() {
                    return Err(v_err(format!(
                        "fromFieldPath: Required value: fromFieldPath must be set for patch type {}",
                        t.as_str()
                    )));
                }
                patch.from = Some(Path::new(from_s));
                patch.to = Some(Path::new(to_s.unwrap_or(from_s)));
            }
        }
        Ok(patch)
    }

    /// Applies the value patch: reads `from`, transforms, writes into `to`.
    /// Returns the concrete paths written. Not-found reads come back as errors
    /// ([`Error::is_not_found`]); the caller applies the policy.
    pub fn apply(&self, from: &Value, to: &mut Value) -> Result<Vec<String>> {
        self.apply_with(from, to, true)
    }

    /// [`Patch::apply`]; with `record` false no written paths are collected (faster).
    pub fn apply_with(&self, from: &Value, to: &mut Value, record: bool) -> Result<Vec<String>> {
        let mut out = if let Some(c) = &self.combine {
            let mut args = Vec::with_capacity(c.variables.len());
            for var in &c.variables {
                args.push(var.read(from)?.clone());
            }
            let combined = Value::String(sprintf(&c.fmt, &args));
            transform::run_all_owned(&self.transforms, combined)?
        } else {
            let Some(p) = &self.from else {
                return Ok(Vec::new());
            };
            let source = p.read(from)?;
            match self.transforms.split_first() {
                // The first transform reads the source in place: no copy of it is made.
                Some((first, rest)) => {
                    let v = first
                        .apply(source)
                        .map_err(|e| e.wrap("transform at index 0 returned error"))?;
                    transform::run_all_from(rest, 1, v)?
                }
                None => source.clone(),
            }
        };
        if !self.transforms.is_empty() {
            normalize(&mut out);
        }
        let Some(to_path) = &self.to else {
            return Ok(Vec::new());
        };
        write_value(to, to_path, out, self.merge, record)
    }
}

fn parse_combine(c: &Value) -> Result<Combine> {
    let vars = c
        .get("variables")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if vars.is_empty() {
        return Err(v_err(
            "combine.variables: Required value: at least one variable must be provided",
        ));
    }
    let mut variables = Vec::with_capacity(vars.len());
    for (i, var) in vars.iter().enumerate() {
        let p = var
            .get("fromFieldPath")
            .and_then(Value::as_str)
            .unwrap_or("");
        if p.is_empty() {
            return Err(v_err(format!(
                "combine.variables[{i}].fromFieldPath: Required value: fromFieldPath is required"
            )));
        }
        variables.push(Path::new(p));
    }
    let strategy = c.get("strategy").and_then(Value::as_str).unwrap_or("");
    match strategy {
        "" => {
            return Err(v_err(
                "combine.strategy: Required value: a combine strategy must be provided",
            ));
        }
        "string" => {}
        other => {
            return Err(v_err(format!(
                "combine.strategy: Invalid value: {other:?}: unknown strategy"
            )));
        }
    }
    let fmt = c
        .get("string")
        .and_then(|s| s.get("fmt"))
        .and_then(Value::as_str);
    let Some(fmt) = fmt else {
        return Err(v_err(
            "combine.string: Required value: string combine strategy requires configuration",
        ));
    };
    Ok(Combine {
        variables,
        fmt: fmt.to_string(),
    })
}

/// Writes a patch value at a toFieldPath (expanding `[*]`), honouring the merge policy.
pub fn write_value(
    to: &mut Value,
    path: &Path,
    value: Value,
    merge: Option<MergeOptions>,
    record: bool,
) -> Result<Vec<String>> {
    let wrap = |e: PathError| Error::Path {
        context: "cannot patch to object: ".into(),
        source: e,
    };
    if path.wildcard {
        let expanded = fieldpath::expand_wildcards(to, &path.text)?;
        if expanded.is_empty() {
            return Err(Error::Runtime(format!(
                "cannot expand ToFieldPath {}",
                path.text
            )));
        }
        for p in &expanded {
            fieldpath::merge_value(to, p, value.clone(), merge)?;
        }
        return Ok(expanded);
    }
    let segs = path.parsed.as_ref().map_err(|e| wrap(e.clone()))?;
    if segs.is_empty() {
        return Ok(Vec::new());
    }
    fieldpath::merge_value_segments(to, &segs.0, value, merge).map_err(wrap)?;
    if record {
        Ok(vec![path.text.clone()])
    } else {
        Ok(Vec::new())
    }
}
