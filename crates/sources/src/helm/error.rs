//! What can go wrong while loading or rendering a chart.

use strata_core::source::SourceError;
use strata_gotemplate::TemplateError;

/// A chart could not be loaded or rendered. Each error names the chart (its path from the
/// root chart, as Helm names it: `app/charts/sub`) and, for templates, the file and line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HelmError {
    /// A file of the chart could not be read.
    #[error("chart {chart}: reading {path}: {source}")]
    Read {
        /// The chart.
        chart: String,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: SourceError,
    },
    /// The directory has no `Chart.yaml`.
    #[error("{path}: no Chart.yaml: not a Helm chart")]
    NotAChart {
        /// The directory.
        path: String,
    },
    /// `Chart.yaml`, `values.yaml`, a values file or `values.schema.json` is not valid.
    #[error("chart {chart}: {file}: {reason}")]
    InvalidFile {
        /// The chart.
        chart: String,
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A dependency of `Chart.yaml` is not in `charts/`.
    #[error("chart {chart}: found in Chart.yaml, but missing in charts/ directory: {dependency}")]
    MissingDependency {
        /// The chart.
        chart: String,
        /// The dependency's name.
        dependency: String,
    },
    /// `Chart.yaml` `kubeVersion` excludes the Kubernetes version rendered for.
    #[error(
        "chart {chart}: chart requires kubeVersion: {constraint} which is incompatible with Kubernetes {kube_version}"
    )]
    IncompatibleKubeVersion {
        /// The chart.
        chart: String,
        /// Its `kubeVersion` constraint.
        constraint: String,
        /// The version rendered for.
        kube_version: String,
    },
    /// The values do not satisfy the chart's `values.schema.json`.
    #[error("chart {chart}: values don't meet the specifications of the schema(s): {errors}")]
    Schema {
        /// The chart whose schema failed.
        chart: String,
        /// Each violation, as `path: message`, joined by `; `.
        errors: String,
    },
    /// A `--set`-style parameter could not be read.
    #[error("parameter {parameter:?}: {reason}")]
    Parameter {
        /// The parameter as given.
        parameter: String,
        /// What is wrong.
        reason: String,
    },
    /// A template could not be parsed or executed.
    #[error("chart {chart}: {file}:{line}: {action}: {source}")]
    Template {
        /// The chart whose template failed.
        chart: String,
        /// The template file (as Helm names it: `app/templates/deployment.yaml`), or where the
        /// innermost failing action is (a helper file, for errors inside `include`).
        file: String,
        /// The line of the failing action.
        line: usize,
        /// The failing action (`required "x" .Values.x`), or `parse` for a parse error.
        action: String,
        /// The engine's error, worded as Go's.
        #[source]
        source: Box<TemplateError>,
    },
    /// The chart stopped itself with `required` or `fail`.
    #[error("chart {chart}: execution error at ({file}:{line}:{column}): {message}")]
    Stopped {
        /// The chart.
        chart: String,
        /// The file of the `required`/`fail` action.
        file: String,
        /// Its line.
        line: usize,
        /// Its column (0-based).
        column: usize,
        /// The chart's message.
        message: String,
        /// The engine's error.
        #[source]
        source: Box<TemplateError>,
    },
    /// A rendered template is not valid YAML.
    #[error("chart {chart}: YAML parse error on {file}: {source}")]
    Yaml {
        /// The chart.
        chart: String,
        /// The template file.
        file: String,
        /// The parser's error.
        #[source]
        source: strata_core::yaml::YamlError,
    },
    /// A rendered object is not a Kubernetes object (no kind, name …).
    #[error("chart {chart}: YAML parse error on {file}: {source}")]
    Manifest {
        /// The chart.
        chart: String,
        /// The template file.
        file: String,
        /// The missing or invalid field.
        #[source]
        source: strata_core::model::FieldError,
    },
    /// `Chart.yaml` is not YAML.
    #[error("chart {chart}: {file}: {source}")]
    InvalidYaml {
        /// The chart.
        chart: String,
        /// The file.
        file: String,
        /// The parser's error.
        #[source]
        source: strata_core::yaml::YamlError,
    },
    /// A chart could not be fetched from its Helm repository.
    #[error("chart {chart}: {source}")]
    Repository {
        /// The chart.
        chart: String,
        /// Why.
        #[source]
        source: Box<super::repository::ChartRepoError>,
    },
    /// The OCI artifact an `oci://` repoURL names could not be fetched, and the source also
    /// gives a `chart`, which ArgoCD 3 ignores for such a repoURL.
    #[error(
        "OCI artifact {repo_url}: {source} (ArgoCD 3 reads an oci:// repoURL as the artifact itself and ignores chart: {chart}; for the chart {chart} of the registry write repoURL: {repo_url}/{chart} with path: ., or the repoURL without oci:// (enableOCI on its repository) with chart: {chart})"
    )]
    OciChartIgnored {
        /// The `repoURL` (redacted).
        repo_url: String,
        /// The `chart` given.
        chart: String,
        /// Why the artifact could not be fetched.
        #[source]
        source: Box<super::repository::ChartRepoError>,
    },
    /// A value file `$name/...` names no source with `ref: name`.
    #[error("value file {file}: no source has ref {name:?} (refs: [{known}])")]
    UnknownRef {
        /// The value file as given.
        file: String,
        /// The ref it names.
        name: String,
        /// The refs the Application's sources have, joined by `, `.
        known: String,
    },
    /// A `$ref/...` value file names a source with a `chart`, which ArgoCD refuses too.
    #[error(
        "{file}: the source with ref {name} has a 'chart' field defined ({field}), but Helm charts are not supported for 'ref' sources (as in ArgoCD)"
    )]
    ChartRef {
        /// The value file as given.
        file: String,
        /// The ref it names.
        name: String,
        /// The `chart` field of that source (`spec.sources[N].chart`).
        field: String,
    },
    /// A JSON file of the chart (`values.schema.json`) is not JSON.
    #[error("chart {chart}: {file}: {source}")]
    InvalidJson {
        /// The chart.
        chart: String,
        /// The file.
        file: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The chart's `values.schema.json` is not a JSON schema.
    #[error("chart {chart}: values.schema.json: {source}")]
    InvalidSchema {
        /// The chart.
        chart: String,
        /// Why the schema is refused.
        #[source]
        source: Box<jsonschema::ValidationError<'static>>,
    },
    /// A `.helmignore` pattern cannot be compiled.
    #[error("chart {chart}: .helmignore: {line:?}: {source}")]
    IgnorePattern {
        /// The chart.
        chart: String,
        /// The line as written.
        line: String,
        /// Why it does not compile.
        #[source]
        source: regex::Error,
    },
    /// A `.helmignore` pattern with `**`, which Helm refuses.
    #[error("chart {chart}: .helmignore: {line:?}: double-star (**) syntax is not supported")]
    IgnoreDoubleStar {
        /// The chart.
        chart: String,
        /// The line as written.
        line: String,
    },
    /// The chart's `.helmignore` ignores its `Chart.yaml` (as a negation that does not match
    /// it does), so Helm finds no chart.
    #[error("chart {chart}: Chart.yaml file is missing (ignored by .helmignore)")]
    ChartYamlIgnored {
        /// The chart.
        chart: String,
    },
    /// A packaged chart (`charts/*.tgz`, or a chart downloaded from a repository) could not be
    /// unpacked.
    #[error("chart {chart}: archive {archive}: {source}")]
    Archive {
        /// The chart holding the archive (empty for a downloaded chart).
        chart: String,
        /// The archive.
        archive: String,
        /// What is wrong.
        #[source]
        source: super::archive::ArchiveError,
    },
    /// The chart uses something this renderer refuses rather than render differently from Helm.
    #[error("chart {chart}: unsupported: {feature}")]
    Unsupported {
        /// The chart.
        chart: String,
        /// The feature, named.
        feature: UnsupportedFeature,
    },
}

/// A Helm feature Strata refuses instead of rendering it differently from `helm template`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsupportedFeature {
    /// A template function whose result differs per run or needs the outside world, or a use
    /// of one that Strata cannot render as Go does.
    #[error("template function {function} at {file}:{line} ({reason})")]
    #[non_exhaustive]
    Function {
        /// The function.
        function: String,
        /// Why.
        reason: String,
        /// The template file of the call.
        file: String,
        /// The line of the call in that file.
        line: usize,
    },
    /// `--set` syntax beyond dotted keys, `{a,b}` lists and scalars (list indexes `a[0]`).
    #[error("parameter syntax {0:?} (list indexes)")]
    ParameterSyntax(String),
    /// An Application's Helm source that is not a chart at a path of the repository.
    #[error("{0}")]
    Source(String),
}
