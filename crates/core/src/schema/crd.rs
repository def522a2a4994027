//! The schemas a CustomResourceDefinition declares, one per served version.

use serde_json::Value;

use super::{Dialect, KindSchema, PathSegment, Schema, SchemaProblem};

/// The schema of every served version of the CustomResourceDefinition `crd` (a manifest of
/// `apiextensions.k8s.io/v1`), or every problem that keeps them from being read: a version
/// without `schema.openAPIV3Schema` (`apiextensions.k8s.io/v1` requires one), or a schema the
/// API server would refuse. Problems' paths are paths into the CRD.
pub fn crd_schemas(crd: &Value) -> Result<Vec<KindSchema>, Vec<SchemaProblem>> {
    let key = |k: &str| PathSegment::Key(k.to_owned());
    let mut problems = Vec::new();
    let mut problem = |path: Vec<PathSegment>, message: String| {
        problems.push(SchemaProblem { path, message });
    };
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)");
    let group = crd.pointer("/spec/group").and_then(Value::as_str);
    let kind = crd.pointer("/spec/names/kind").and_then(Value::as_str);
    if group.is_none() {
        problem(vec![key("spec"), key("group")], "is required".to_owned());
    }
    if kind.is_none() {
        problem(
            vec![key("spec"), key("names"), key("kind")],
            "is required".to_owned(),
        );
    }
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
    if versions.is_none_or(|v| v.is_empty()) {
        problem(
            vec![key("spec"), key("versions")],
            "a CustomResourceDefinition needs at least one version".to_owned(),
        );
    }
    let mut schemas = Vec::new();
    for (index, version) in versions.into_iter().flatten().enumerate() {
        let at = |rest: &[&str]| {
            let mut path = vec![key("spec"), key("versions"), PathSegment::Index(index)];
            path.extend(rest.iter().map(|k| key(k)));
            path
        };
        let Some(version_name) = version.get("name").and_then(Value::as_str) else {
            problem(at(&["name"]), "is required".to_owned());
            continue;
        };
        if version.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let Some(text) = version.pointer("/schema/openAPIV3Schema") else {
            problem(
                at(&["schema", "openAPIV3Schema"]),
                format!(
                    "version {version_name} has no schema; apiextensions.k8s.io/v1 requires a structural openAPIV3Schema for every version"
                ),
            );
            continue;
        };
        match Schema::compile(text, Dialect::Crd) {
            Ok(schema) => {
                if let (Some(group), Some(kind)) = (group, kind) {
                    schemas.push(KindSchema::new(
                        group,
                        version_name,
                        kind,
                        schema,
                        format!("CustomResourceDefinition {name}"),
                    ));
                }
            }
            Err(error) => {
                let mut path = at(&["schema", "openAPIV3Schema"]);
                if error.path != "(root)" {
                    path.extend(error.path.split('.').map(key));
                }
                problem(path, error.message);
            }
        }
    }
    if problems.is_empty() {
        Ok(schemas)
    } else {
        Err(problems)
    }
}
