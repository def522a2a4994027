//! Loading Lua health customizations where ArgoCD keeps them, so that a team can point Strata
//! at the same files:
//!
//! - an **`argocd-cm` ConfigMap** (or its `data` map): keys
//!   `resource.customizations.health.<group>_<kind>` (`<kind>` alone for the core group, `all`
//!   for every kind, `*` globs in either part) and the older `resource.customizations` key, a
//!   YAML map from `group/Kind` to `{health.lua: …}`. As in ArgoCD, a split key replaces the same
//!   group/kind of the older map. `resource.customizations.useOpenLibs.*` keys are accepted and
//!   have no effect: scripts always get the safe libraries ArgoCD opens for its own scripts.
//!   Other customization types (actions, ignoreDifferences…) are not about health and are
//!   passed over;
//! - a **directory laid out as ArgoCD's `resource_customizations/`**:
//!   `<group>/<kind>/health.lua` (a `_` in a group or kind stands for `*`, as in ArgoCD's
//!   wildcard scripts `_.crossplane.io/_`), or `<Kind>/health.lua` for the core group. A
//!   checkout of ArgoCD itself works too: its `resource_customizations/` is used.
//!
//! Both go into a [`HealthRegistry`]: `argocd-cm` entries as the user's rules (they win, as in
//! ArgoCD), a directory as the script library (it stands where ArgoCD's bundled scripts stand,
//! before Strata's built-in rules). A script that does not compile is reported and still
//! registered: objects of its kind are Unknown with the compiler's message, as in ArgoCD.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::lua::{LuaHealthError, LuaHealthScript};
use crate::registry::{ARGOCD_HEALTH_KEY_PREFIX, HealthRegistry, HealthRule, HealthRuleError};
use crate::status::HealthStatus;

/// The `argocd-cm` key of the older, single-map form of resource customizations.
pub const ARGOCD_CUSTOMIZATIONS_KEY: &str = "resource.customizations";

/// Why customizations could not be read at all (a script that does not compile is not such an
/// error: see [`Loaded::problems`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustomizationError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The `argocd-cm` file is not YAML.
    #[error("{path}: {source}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: strata_core::yaml::YamlError,
    },
    /// The `argocd-cm` file is not a ConfigMap or a map of strings.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// What was loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The group/kind patterns that got a health script (`group/kind`, `*` globs kept).
    pub kinds: Vec<String>,
    /// Scripts or keys that could not be used, each naming its source (the scripts that do not
    /// compile are registered anyway, and make their objects Unknown).
    pub problems: Vec<String>,
}

/// A script that failed to compile: every object of its kind is Unknown with the error.
struct Broken {
    source: String,
    error: LuaHealthError,
}

impl HealthRule for Broken {
    fn assess(&self, _obj: &Value) -> Result<Option<HealthStatus>, HealthRuleError> {
        Err(HealthRuleError::Script {
            script: self.source.clone(),
            source: self.error.clone(),
        })
    }
}

/// `<group>_<kind>` (or `<kind>`, or `all`) as ArgoCD reads the tail of a
/// `resource.customizations.<type>.` key: the group and kind, `*` globs kept.
pub fn split_group_kind(group_kind: &str) -> Result<(String, String), GroupKindError> {
    if group_kind == "all" {
        return Ok(("*".into(), "*".into()));
    }
    let parts: Vec<&str> = group_kind.split('_').collect();
    match parts.as_slice() {
        [group, kind] => Ok(((*group).to_string(), (*kind).to_string())),
        [kind] if !kind.is_empty() => Ok((String::new(), (*kind).to_string())),
        _ => Err(GroupKindError(group_kind.to_string())),
    }
}

/// A `resource.customizations.<type>.` key whose tail is neither `<group>_<kind>` nor `<kind>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "group kind should be in format `resource.customizations.<type>.<group_kind>` or \
     `resource.customizations.<type>.<kind>`, got group kind: '{0}'"
)]
pub struct GroupKindError(String);

/// `group/Kind` (or `Kind`) as the older `resource.customizations` map names kinds.
fn split_slash(key: &str) -> (String, String) {
    match key.split_once('/') {
        Some((group, kind)) => (group.to_string(), kind.to_string()),
        None => (String::new(), key.to_string()),
    }
}

/// The `data` of an `argocd-cm` file: a ConfigMap manifest (its `data`), or a plain map of
/// strings.
pub fn read_argocd_cm(path: &Path) -> Result<BTreeMap<String, String>, CustomizationError> {
    let text = std::fs::read_to_string(path).map_err(|source| CustomizationError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |message: String| CustomizationError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let value: Value =
        strata_core::yaml::from_str(&text).map_err(|source| CustomizationError::Yaml {
            path: path.to_path_buf(),
            source,
        })?;
    let data = if value.get("kind").and_then(Value::as_str) == Some("ConfigMap") {
        value.get("data").cloned().unwrap_or(Value::Null)
    } else {
        value
    };
    let mut out = BTreeMap::new();
    match data {
        Value::Null => {}
        Value::Object(map) => {
            for (key, v) in map {
                let text = match v {
                    Value::String(s) => s,
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    other => {
                        return Err(invalid(format!(
                            "data.{key} is not a string but {}",
                            json_type(&other)
                        )));
                    }
                };
                out.insert(key, text);
            }
        }
        other => {
            return Err(invalid(format!(
                "expected a ConfigMap or a map of strings, got {}",
                json_type(&other)
            )));
        }
    }
    Ok(out)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

impl HealthRegistry {
    fn add_script(
        &mut self,
        library: bool,
        group: &str,
        kind: &str,
        source_name: &str,
        script: &str,
        loaded: &mut Loaded,
    ) {
        let pattern = format!("{group}/{kind}");
        match LuaHealthScript::with_limits(script, self.lua_limits().clone()) {
            Ok(script) => {
                if library {
                    self.add_library_rule(group, kind, script);
                } else {
                    self.add_rule(group, kind, script);
                }
            }
            Err(error) => {
                loaded.problems.push(format!("{source_name}: {error}"));
                let broken = Broken {
                    source: source_name.to_string(),
                    error,
                };
                if library {
                    self.add_library_rule(group, kind, broken);
                } else {
                    self.add_rule(group, kind, broken);
                }
            }
        }
        if !loaded.kinds.contains(&pattern) {
            loaded.kinds.push(pattern);
        }
    }

    /// Adds the health customizations of an `argocd-cm` `data` map (see the [module](self)
    /// docs) as the user's rules.
    pub fn add_argocd_cm(&mut self, data: &BTreeMap<String, String>) -> Loaded {
        let mut loaded = Loaded::default();
        // The older single map first: split keys replace its entries.
        if let Some(blob) = data.get(ARGOCD_CUSTOMIZATIONS_KEY) {
            match strata_core::yaml::from_str::<Value>(blob) {
                Ok(Value::Object(map)) => {
                    for (key, entry) in map {
                        let Some(script) = entry.get("health.lua").and_then(Value::as_str) else {
                            continue;
                        };
                        let (group, kind) = split_slash(&key);
                        let name = format!("{ARGOCD_CUSTOMIZATIONS_KEY}[{key}].health.lua");
                        self.add_script(false, &group, &kind, &name, script, &mut loaded);
                    }
                }
                Ok(Value::Null) => {}
                Ok(_) => loaded
                    .problems
                    .push(format!("{ARGOCD_CUSTOMIZATIONS_KEY}: not a map of kinds")),
                Err(e) => loaded
                    .problems
                    .push(format!("{ARGOCD_CUSTOMIZATIONS_KEY}: {e}")),
            }
        }
        for (key, script) in data {
            let Some(group_kind) = key.strip_prefix(ARGOCD_HEALTH_KEY_PREFIX) else {
                continue;
            };
            match split_group_kind(group_kind) {
                Ok((group, kind)) => {
                    self.add_script(false, &group, &kind, key, script, &mut loaded);
                }
                Err(message) => loaded.problems.push(format!("{key}: {message}")),
            }
        }
        loaded
    }

    /// Adds the `health.lua` scripts of a directory laid out as ArgoCD's
    /// `resource_customizations/` (see the [module](self) docs) as the script library.
    pub fn add_lua_dir(&mut self, dir: &Path) -> Result<Loaded, CustomizationError> {
        let nested = dir.join("resource_customizations");
        let root = if nested.is_dir() {
            nested
        } else {
            dir.to_path_buf()
        };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CustomizationError::Io { path, source }
        };
        let mut scripts: Vec<(String, String, PathBuf)> = Vec::new();
        let mut first: Vec<PathBuf> = std::fs::read_dir(&root)
            .map_err(io(&root))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        first.sort();
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().replace('_', "*"))
                .unwrap_or_default()
        };
        for level1 in first {
            let direct = level1.join("health.lua");
            if direct.is_file() {
                scripts.push((String::new(), name(&level1), direct));
                continue;
            }
            let mut second: Vec<PathBuf> = std::fs::read_dir(&level1)
                .map_err(io(&level1))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("health.lua").is_file())
                .collect();
            second.sort();
            for level2 in second {
                scripts.push((name(&level1), name(&level2), level2.join("health.lua")));
            }
        }
        let mut loaded = Loaded::default();
        for (group, kind, path) in scripts {
            let source = std::fs::read_to_string(&path).map_err(io(&path))?;
            let label = path.display().to_string();
            self.add_script(true, &group, &kind, &label, &source, &mut loaded);
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn group_kind_keys_as_argocd_reads_them() {
        assert_eq!(
            split_group_kind("cert-manager.io_Certificate"),
            Ok(("cert-manager.io".into(), "Certificate".into()))
        );
        assert_eq!(
            split_group_kind("Service"),
            Ok((String::new(), "Service".into()))
        );
        assert_eq!(split_group_kind("all"), Ok(("*".into(), "*".into())));
        assert_eq!(
            split_group_kind("*.crossplane.io_*"),
            Ok(("*.crossplane.io".into(), "*".into()))
        );
        assert!(split_group_kind("a_b_c").is_err());
    }

    #[test]
    fn split_keys_replace_the_older_map_and_win_over_the_library() {
        let mut data = BTreeMap::new();
        data.insert(
            ARGOCD_CUSTOMIZATIONS_KEY.to_string(),
            "example.org/Widget:\n  health.lua: |\n    return {status = 'Degraded', message = 'old map'}\nexample.org/Gadget:\n  health.lua: |\n    return {status = 'Suspended', message = 'gadget'}\n".to_string(),
        );
        data.insert(
            "resource.customizations.health.example.org_Widget".to_string(),
            "return {status = 'Healthy', message = 'split key'}".to_string(),
        );
        data.insert(
            "resource.customizations.useOpenLibs.example.org_Widget".to_string(),
            "true".to_string(),
        );
        data.insert(
            "resource.customizations.ignoreDifferences.apps_Deployment".to_string(),
            "jsonPointers: [/spec/replicas]".to_string(),
        );
        let mut registry = HealthRegistry::new();
        let loaded = registry.add_argocd_cm(&data);
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        assert_eq!(loaded.kinds, ["example.org/Widget", "example.org/Gadget"]);
        let widget = json!({"apiVersion": "example.org/v1", "kind": "Widget"});
        assert_eq!(
            registry.assess(&widget),
            Some(HealthStatus::healthy("split key"))
        );
        let gadget = json!({"apiVersion": "example.org/v1", "kind": "Gadget"});
        assert_eq!(
            registry.assess(&gadget).map(|h| h.status),
            Some(HealthStatusCode::Suspended)
        );
    }

    #[test]
    fn broken_scripts_make_their_objects_unknown() {
        let mut data = BTreeMap::new();
        data.insert(
            "resource.customizations.health.example.org_Widget".to_string(),
            "if then".to_string(),
        );
        data.insert(
            "resource.customizations.health.a_b_c".to_string(),
            "return {}".to_string(),
        );
        let mut registry = HealthRegistry::new();
        let loaded = registry.add_argocd_cm(&data);
        assert_eq!(loaded.problems.len(), 2, "{:?}", loaded.problems);
        let health = registry
            .assess(&json!({"apiVersion": "example.org/v1", "kind": "Widget"}))
            .expect("assessed");
        assert_eq!(health.status, HealthStatusCode::Unknown);
        assert!(
            health.message.contains("does not compile"),
            "{}",
            health.message
        );
    }

    #[test]
    fn errors_keep_their_cause() {
        let broken = Broken {
            source: "resource.customizations.health.example.org_Widget".into(),
            error: LuaHealthScript::new("if then").expect_err("does not compile"),
        };
        let err = broken.assess(&json!({})).expect_err("broken");
        assert!(
            err.to_string()
                .starts_with("resource.customizations.health.example.org_Widget: health script does not compile: "),
            "{err}"
        );
        let lua = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<LuaHealthError>())
            .expect("the script's error");
        assert!(matches!(lua, LuaHealthError::Syntax { .. }), "{lua:?}");

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("argocd-cm.yaml");
        std::fs::write(&path, "data: [unclosed\n").expect("write");
        let err = read_argocd_cm(&path).expect_err("not YAML");
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
        assert!(
            std::error::Error::source(&err)
                .and_then(|s| s.downcast_ref::<strata_core::yaml::YamlError>())
                .is_some(),
            "{err:?}"
        );
    }
}
