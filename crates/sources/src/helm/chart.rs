//! Loading a chart directory as Helm's loader does: `Chart.yaml`, `values.yaml`,
//! `values.schema.json`, `templates/`, `crds/`, the other files (`.Files`), and `charts/`
//! (unpacked directories and packaged `.tgz` charts), all filtered by `.helmignore`.

use serde_json::{Map, Value};
use strata_core::source::{EntryKind, SourceTree};

use super::archive::ArchiveLimits;
use super::error::HelmError;

/// A loaded chart and its subcharts.
#[derive(Debug, Clone)]
pub struct Chart {
    /// `Chart.yaml` as read (with Helm's field names, e.g. `apiVersion`, `appVersion`).
    pub metadata: Value,
    /// The chart's name (`Chart.yaml` `name`, or its alias once dependencies are processed).
    pub name: String,
    /// `values.yaml` (numbers as Go's YAML decoding gives them: float64).
    pub values: Value,
    /// `values.schema.json`, when there is one.
    pub schema: Option<Value>,
    /// `templates/…` files (path relative to the chart, content).
    pub templates: Vec<(String, String)>,
    /// Every other file (path relative to the chart, content), `crds/` included.
    pub files: Vec<(String, String)>,
    /// The charts of `charts/`, in directory order.
    pub dependencies: Vec<Chart>,
}

impl Chart {
    /// `type: library`.
    pub fn is_library(&self) -> bool {
        self.metadata.get("type").and_then(Value::as_str) == Some("library")
    }

    /// `Chart.yaml` `dependencies`.
    pub fn declared_dependencies(&self) -> Vec<Value> {
        self.metadata
            .get("dependencies")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// The chart's version.
    pub fn version(&self) -> &str {
        self.metadata
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The files of `crds/` that Helm installs as CRDs (`.yaml`, `.yml`, `.json`).
    pub fn crd_files(&self) -> Vec<&(String, String)> {
        self.files
            .iter()
            .filter(|(p, _)| {
                p.starts_with("crds/")
                    && [".yaml", ".yml", ".json"]
                        .iter()
                        .any(|ext| p.ends_with(ext))
            })
            .collect()
    }
}

/// Whether `file` lies in a Helm chart (a directory with `Chart.yaml`) below `dir`, `dir`
/// included: a stack's plain manifests do not include a chart's files.
pub fn is_inside_chart(tree: &dyn SourceTree, dir: &str, file: &str) -> bool {
    let mut at = strata_core::source::parent(file);
    loop {
        let chart_yaml = if at.is_empty() {
            "Chart.yaml".to_string()
        } else {
            format!("{at}/Chart.yaml")
        };
        if tree.kind(&chart_yaml) == Some(EntryKind::File) {
            return true;
        }
        if at == dir || at.is_empty() || !at.starts_with(dir) {
            return false;
        }
        at = strata_core::source::parent(at);
    }
}

/// `.helmignore` rules as Helm's `pkg/ignore` reads them, plus Helm's default `templates/.?*`
/// after the file's: patterns are Go's `filepath.Match` globs on the path from the chart
/// when they hold a `/` (a leading `/` is dropped), else on the base name; a trailing `/`
/// makes a pattern match directories only. The first pattern that decides wins: a plain one
/// ignores what it matches, a negation (`!pattern`) ignores everything it does *not* match
/// (and every file, when it names directories), as Helm does; `**` is refused, as in Helm.
#[derive(Debug, Clone, Default)]
struct Ignore {
    patterns: Vec<IgnorePattern>,
}

#[derive(Debug, Clone)]
struct IgnorePattern {
    rule: IgnoreRule,
    negate: bool,
    dir_only: bool,
    /// Matched against the whole path, not its base name.
    on_path: bool,
}

/// One `.helmignore` pattern: plain ones (literal characters, `?`, `*`) matched directly,
/// the rest through a regular expression, which costs far more to compile than a chart's
/// paths take to match.
#[derive(Debug, Clone)]
enum IgnoreRule {
    Wildcard(strata_gotemplate::wildcard::Wildcard),
    Regex(regex::Regex),
}

impl IgnoreRule {
    fn is_match(&self, path: &str) -> bool {
        match self {
            IgnoreRule::Wildcard(w) => w.is_match(path),
            IgnoreRule::Regex(re) => re.is_match(path),
        }
    }
}

impl Ignore {
    fn parse(text: &str, chart: &str) -> Result<Self, HelmError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for line in text.lines().chain(std::iter::once("templates/.?*")) {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.contains("**") {
                return Err(HelmError::IgnoreDoubleStar {
                    chart: chart.to_string(),
                    line: line.to_string(),
                });
            }
            let (negate, rest) = match line.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let (dir_only, rest) = match rest.strip_suffix('/') {
                Some(rest) => (true, rest),
                None => (false, rest),
            };
            let on_path = rest.contains('/');
            let pattern = rest.strip_prefix('/').unwrap_or(rest);
            let rule = match strata_gotemplate::wildcard::Wildcard::path_match(pattern) {
                Some(wildcard) => IgnoreRule::Wildcard(wildcard),
                None => IgnoreRule::Regex(glob_to_regex(pattern).map_err(|source| {
                    HelmError::IgnorePattern {
                        chart: chart.to_string(),
                        line: line.to_string(),
                        source,
                    }
                })?),
            };
            patterns.push(IgnorePattern {
                rule,
                negate,
                dir_only,
                on_path,
            });
        }
        Ok(Ignore { patterns })
    }

    /// Whether the chart-relative `path` (a file, or a directory when `is_dir`) is ignored.
    fn ignored(&self, path: &str, is_dir: bool) -> bool {
        let base = path.rsplit('/').next().unwrap_or(path);
        for p in &self.patterns {
            let matches = || p.rule.is_match(if p.on_path { path } else { base });
            if p.negate {
                if p.dir_only && !is_dir || !matches() {
                    return true;
                }
            } else if (!p.dir_only || is_dir) && matches() {
                return true;
            }
        }
        false
    }
}

/// Go's `filepath.Match` pattern as a regular expression (`[^…]` negates a class; `\\`
/// escapes the next character).
fn glob_to_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    re.push('^');
                }
                // The class's characters, each literal but for ranges.
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        ']' => {
                            closed = true;
                            break;
                        }
                        '-' => re.push('-'),
                        '\\' => {
                            if let Some(n) = chars.next() {
                                re.push_str(&regex::escape(&n.to_string()));
                            }
                        }
                        other => re.push_str(&regex::escape(&other.to_string())),
                    }
                }
                if closed {
                    re.push(']');
                }
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re)
}

/// Reads a values file as Helm does (`sigs.k8s.io/yaml`): YAML 1.1 scalars, numbers as
/// float64, map keys as Go writes them (see [`super::values_yaml`]).
pub(crate) fn parse_values_yaml(text: &str) -> Result<Value, strata_core::yaml::YamlError> {
    super::values_yaml::parse(text)
}

/// Loads the chart at `dir` of `tree`; `parent` is the path Helm names the parent chart by.
/// Packaged subcharts are read within [`ArchiveLimits::default`].
pub fn load(tree: &dyn SourceTree, dir: &str, parent: Option<&str>) -> Result<Chart, HelmError> {
    load_with_limits(tree, dir, parent, &ArchiveLimits::default())
}

/// [`load`], packaged subcharts (`charts/*.tgz`) read within `limits`.
pub fn load_with_limits(
    tree: &dyn SourceTree,
    dir: &str,
    parent: Option<&str>,
    limits: &ArchiveLimits,
) -> Result<Chart, HelmError> {
    load_in(tree, dir, parent, limits, None)
}

/// The `.helmignore` rules a chart's files are read under: Helm reads a chart directory with
/// its own rules, and the unpacked subcharts in its `charts/` with the same rules, matched
/// against paths from the top chart (`charts/sub/templates/x.yaml`); a subchart's own
/// `.helmignore` only applies when it is packaged.
struct IgnoreScope<'a> {
    rules: &'a Ignore,
    /// The path of the chart from the directory the rules belong to (`charts/sub/`).
    prefix: String,
}

fn load_in(
    tree: &dyn SourceTree,
    dir: &str,
    parent: Option<&str>,
    limits: &ArchiveLimits,
    inherited: Option<IgnoreScope<'_>>,
) -> Result<Chart, HelmError> {
    let display = |name: &str| match parent {
        Some(p) => format!("{p}/charts/{name}"),
        None => name.to_string(),
    };
    let join = |rel: &str| {
        if dir.is_empty() {
            rel.to_string()
        } else {
            format!("{dir}/{rel}")
        }
    };
    let read = |rel: &str, chart: &str| -> Result<String, HelmError> {
        let bytes = tree.read(&join(rel)).map_err(|source| HelmError::Read {
            chart: chart.to_string(),
            path: join(rel),
            source,
        })?;
        // Valid UTF-8, as a chart's files nearly always are, is kept without a copy.
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    };
    if tree.kind(&join("Chart.yaml")) != Some(EntryKind::File) {
        return Err(HelmError::NotAChart {
            path: dir.to_string(),
        });
    }
    let provisional = display(dir.rsplit('/').next().unwrap_or(dir));
    let chart_yaml = read("Chart.yaml", &provisional)?;
    let metadata = strata_core::yaml::value_from_str(&chart_yaml).map_err(|source| {
        HelmError::InvalidYaml {
            chart: provisional.clone(),
            file: "Chart.yaml".to_string(),
            source,
        }
    })?;
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let chart_name = display(&name);
    let invalid = |file: &str, reason: String| HelmError::InvalidFile {
        chart: chart_name.clone(),
        file: file.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid(
            "Chart.yaml",
            "validation: chart.metadata.name is required".into(),
        ));
    }
    if metadata.get("version").and_then(Value::as_str).is_none() {
        return Err(invalid(
            "Chart.yaml",
            "validation: chart.metadata.version is required".into(),
        ));
    }
    let mut metadata = metadata;
    if let Value::Object(m) = &mut metadata {
        // apiVersion v1 charts keep their dependencies in requirements.yaml.
        if m.get("apiVersion").and_then(Value::as_str) == Some("v1")
            && tree.kind(&join("requirements.yaml")) == Some(EntryKind::File)
        {
            let req = strata_core::yaml::value_from_str(&read("requirements.yaml", &chart_name)?)
                .map_err(|source| HelmError::InvalidYaml {
                chart: chart_name.clone(),
                file: "requirements.yaml".to_string(),
                source,
            })?;
            if let Some(deps) = req.get("dependencies") {
                m.insert("dependencies".to_string(), deps.clone());
            }
        }
    }
    // A chart read on its own uses its `.helmignore`; an unpacked subchart its parent's.
    let own_ignore =
        if inherited.is_none() && tree.kind(&join(".helmignore")) == Some(EntryKind::File) {
            Ignore::parse(&read(".helmignore", &chart_name)?, &chart_name)?
        } else {
            Ignore::parse("", &chart_name)?
        };
    let scope = inherited.unwrap_or(IgnoreScope {
        rules: &own_ignore,
        prefix: String::new(),
    });
    let ignored = |rel: &str, is_dir: bool| {
        if scope.prefix.is_empty() {
            scope.rules.ignored(rel, is_dir)
        } else {
            scope
                .rules
                .ignored(&format!("{}{rel}", scope.prefix), is_dir)
        }
    };
    if ignored("Chart.yaml", false) {
        return Err(HelmError::ChartYamlIgnored { chart: chart_name });
    }
    let mut chart = Chart {
        metadata,
        name,
        values: Value::Object(Map::new()),
        schema: None,
        templates: Vec::new(),
        files: Vec::new(),
        dependencies: Vec::new(),
    };
    let mut stack = vec![String::new()];
    while let Some(rel_dir) = stack.pop() {
        let entries = tree
            .list(&join(&rel_dir))
            .map_err(|source| HelmError::Read {
                chart: chart_name.clone(),
                path: join(&rel_dir),
                source,
            })?;
        for entry in entries {
            let rel = if rel_dir.is_empty() {
                entry.name.clone()
            } else {
                format!("{rel_dir}/{}", entry.name)
            };
            let is_dir = entry.kind == EntryKind::Dir;
            if ignored(&rel, is_dir) {
                continue;
            }
            if rel == "charts" && is_dir {
                continue;
            }
            if is_dir {
                stack.push(rel);
                continue;
            }
            match rel.as_str() {
                "Chart.yaml" | "requirements.yaml" | "requirements.lock" | "Chart.lock" => {}
                "values.yaml" => {
                    chart.values =
                        parse_values_yaml(&read(&rel, &chart_name)?).map_err(|source| {
                            HelmError::InvalidYaml {
                                chart: chart_name.clone(),
                                file: "values.yaml".to_string(),
                                source,
                            }
                        })?;
                }
                "values.schema.json" => {
                    let schema: Value =
                        serde_json::from_str(&read(&rel, &chart_name)?).map_err(|source| {
                            HelmError::InvalidJson {
                                chart: chart_name.clone(),
                                file: "values.schema.json".to_string(),
                                source,
                            }
                        })?;
                    chart.schema = Some(schema);
                }
                _ if rel.starts_with("templates/") => {
                    chart
                        .templates
                        .push((rel.clone(), read(&rel, &chart_name)?));
                }
                _ => chart.files.push((rel.clone(), read(&rel, &chart_name)?)),
            }
        }
    }
    chart.templates.sort();
    chart.files.sort();
    // charts/: unpacked directories and archives; Helm skips names starting with `_` or `.`.
    let charts_dir = join("charts");
    if tree.kind(&charts_dir) == Some(EntryKind::Dir) && !ignored("charts", true) {
        let entries = tree.list(&charts_dir).map_err(|source| HelmError::Read {
            chart: chart_name.clone(),
            path: charts_dir.clone(),
            source,
        })?;
        for entry in entries {
            let rel = format!("charts/{}", entry.name);
            if ignored(&rel, entry.kind == EntryKind::Dir) || entry.name.starts_with(['_', '.']) {
                continue;
            }
            match entry.kind {
                EntryKind::Dir => {
                    chart.dependencies.push(load_in(
                        tree,
                        &join(&rel),
                        Some(&chart_name),
                        limits,
                        Some(IgnoreScope {
                            rules: scope.rules,
                            prefix: format!("{}{rel}/", scope.prefix),
                        }),
                    )?);
                }
                EntryKind::File if entry.name.ends_with(".tgz") => {
                    let at = join(&rel);
                    let bytes = tree.read(&at).map_err(|source| HelmError::Read {
                        chart: chart_name.clone(),
                        path: at.clone(),
                        source,
                    })?;
                    let unpacked = super::archive::unpack(&bytes, limits).map_err(|source| {
                        HelmError::Archive {
                            chart: chart_name.clone(),
                            archive: rel.clone(),
                            source,
                        }
                    })?;
                    chart.dependencies.push(load_with_limits(
                        &unpacked,
                        "",
                        Some(&chart_name),
                        limits,
                    )?);
                }
                EntryKind::File => {}
            }
        }
    }
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helmignore_matches_base_names_and_paths() {
        let ignore = Ignore::parse("*.bak\nsecret/\ndocs/*.md\n", "c").expect("parsed");
        assert!(ignore.ignored("a/b.bak", false));
        assert!(ignore.ignored("secret", true));
        assert!(!ignore.ignored("secret", false));
        assert!(ignore.ignored("docs/x.md", false));
        assert!(ignore.ignored("templates/.hidden", false));
        assert!(!ignore.ignored("templates/a.yaml", false));
        // Classes go through the regular expression.
        let ignore = Ignore::parse("[ab].txt\n", "c").expect("parsed");
        assert!(ignore.ignored("dir/a.txt", false));
        assert!(!ignore.ignored("c.txt", false));
    }

    #[test]
    fn negations_ignore_what_they_do_not_match_as_in_helm() {
        let ignore = Ignore::parse("*.bak\n!*.yaml\n", "c").expect("parsed");
        assert!(ignore.ignored("a.bak", false));
        assert!(!ignore.ignored("values.yaml", false));
        assert!(ignore.ignored("README.md", false));
        assert!(ignore.ignored("templates", true));
        let dirs = Ignore::parse("!templates/\n", "c").expect("parsed");
        assert!(dirs.ignored("Chart.yaml", false));
        assert!(!dirs.ignored("templates", true));
        assert!(dirs.ignored("files", true));
        // A class is negated by `^` only; `!` inside one is a character.
        let class = Ignore::parse("[!a].txt\n[^x]y\n", "c").expect("parsed");
        assert!(class.ignored("a.txt", false));
        assert!(!class.ignored("b.txt", false));
        assert!(class.ignored("ay", false));
        assert!(!class.ignored("xy", false));
    }

    #[test]
    fn double_star_is_refused_as_in_helm() {
        let err = Ignore::parse("docs/**/*.md\n", "c").expect_err("refused");
        assert!(
            err.to_string()
                .contains("double-star (**) syntax is not supported"),
            "{err}"
        );
    }
}
