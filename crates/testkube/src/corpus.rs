//! A deterministic corpus of Kubernetes manifests for comparing validators: a realistic mix of
//! built-in kinds in multi-document YAML files, a few percent of them carrying one planted
//! defect that a schema validator must report, the rest valid (also for the API server: they
//! pass a server-side dry run).
//!
//! The same [`CorpusOptions`] always give the same files, byte for byte. The YAML is written
//! by this module: block style with both sequence indentations (`key:\n- a` and `key:\n  - a`,
//! chosen per file), some flow sequences, literal blocks for multi-line values, plain,
//! single- and double-quoted strings, and leading comments. Int-or-string and quantity fields
//! are written both ways (`targetPort: 8080` / `targetPort: http`, `cpu: 1` / `cpu: 500m` /
//! `cpu: 0.5`).
//!
//! Planted defects ([`DefectKind`]): an unknown field (top level, `spec`, deep in a container,
//! a port or a rule), a wrong type (a string where an integer, boolean or list belongs, an
//! integer where a string belongs, a list where a map belongs), a missing required field (a
//! container's `name`, a Deployment's `selector`, a Service port's `port`, a RoleBinding's
//! `roleRef`, ...) and a value outside an enum (`imagePullPolicy: always`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::binaries::io_error;
use crate::error::TestKubeError;

/// How many manifests the benchmark corpus has.
pub const DEFAULT_MANIFESTS: usize = 10_000;
/// The seed of the benchmark corpus.
pub const DEFAULT_SEED: u64 = 0x5354_5241_5441;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorpusOptions {
    /// How many manifests.
    pub manifests: usize,
    /// The seed: the same seed gives the same corpus.
    pub seed: u64,
    /// The share of manifests with a planted defect, in percent.
    pub invalid_percent: u32,
    /// The most documents in one file (each file has 1 to this many).
    pub max_per_file: usize,
}

impl Default for CorpusOptions {
    /// [`DEFAULT_MANIFESTS`] manifests, [`DEFAULT_SEED`], 3 % invalid, up to 12 per file.
    fn default() -> Self {
        Self {
            manifests: DEFAULT_MANIFESTS,
            seed: DEFAULT_SEED,
            invalid_percent: 3,
            max_per_file: 12,
        }
    }
}

impl CorpusOptions {
    /// Sets [`manifests`](Self::manifests).
    pub fn with_manifests(mut self, manifests: usize) -> Self {
        self.manifests = manifests;
        self
    }

    /// Sets [`seed`](Self::seed).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`invalid_percent`](Self::invalid_percent).
    pub fn with_invalid_percent(mut self, invalid_percent: u32) -> Self {
        self.invalid_percent = invalid_percent;
        self
    }

    /// Sets [`max_per_file`](Self::max_per_file).
    pub fn with_max_per_file(mut self, max_per_file: usize) -> Self {
        self.max_per_file = max_per_file;
        self
    }
}

/// The kinds of planted defects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DefectKind {
    /// A field the schema does not declare.
    UnknownField,
    /// A value of the wrong JSON type.
    WrongType,
    /// A required field left out.
    MissingRequired,
    /// A string outside the field's enum.
    UnsupportedValue,
}

/// One planted defect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defect {
    /// What kind of defect.
    pub kind: DefectKind,
    /// The field, as a path (`spec.template.spec.containers[0].name`).
    pub field: String,
}

/// One manifest of the corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Its index among the documents of its file, from 0.
    pub document: usize,
    /// The 1-based line its first field is on.
    pub line: usize,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`, for namespaced kinds.
    pub namespace: Option<String>,
    /// `metadata.name` (unique in the corpus).
    pub name: String,
    /// The manifest as JSON (what the YAML says).
    pub value: Value,
    /// The planted defect, if any.
    pub defect: Option<Defect>,
}

impl Manifest {
    /// The API group (`apps`; empty for core kinds).
    pub fn group(&self) -> &str {
        self.api_version
            .split_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The resource as `strata validate` names it: `group/Kind/namespace/name`, the group left
    /// out for core kinds and the namespace for cluster-scoped ones.
    pub fn resource(&self) -> String {
        let mut parts = Vec::with_capacity(4);
        if !self.group().is_empty() {
            parts.push(self.group());
        }
        parts.push(&self.kind);
        if let Some(namespace) = &self.namespace {
            parts.push(namespace);
        }
        parts.push(&self.name);
        parts.join("/")
    }

    /// Whether the manifest is valid (no planted defect).
    pub fn is_valid(&self) -> bool {
        self.defect.is_none()
    }
}

/// One YAML file of the corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusFile {
    /// The file name (`0007-deployment.yaml`).
    pub name: String,
    /// The YAML text.
    pub text: String,
    /// Its documents, in order.
    pub manifests: Vec<Manifest>,
}

/// A generated corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    /// The files, in order.
    pub files: Vec<CorpusFile>,
}

/// The namespaces namespaced manifests are put in (a dry run needs them to exist).
pub const NAMESPACES: &[&str] = &["default", "shop", "payments", "monitoring", "platform"];

impl Corpus {
    /// Generates the corpus `options` describe.
    pub fn generate(options: &CorpusOptions) -> Self {
        let mut rng = Rng::new(options.seed);
        let mut files = Vec::new();
        let mut index = 0;
        while index < options.manifests {
            let left = options.manifests - index;
            let count = (1 + rng.below(options.max_per_file.max(1))).min(left);
            let style = Style {
                indent_sequences: rng.chance(50),
            };
            let mut built = Vec::with_capacity(count);
            for _ in 0..count {
                built.push(build_manifest(&mut rng, index, options.invalid_percent));
                index += 1;
            }
            let first_kind = built
                .first()
                .map(|(value, _)| value["kind"].as_str().unwrap_or("manifest").to_lowercase())
                .unwrap_or_default();
            let name = format!("{:04}-{first_kind}.yaml", files.len());
            files.push(emit_file(name, built, style, &mut rng));
        }
        Self { files }
    }

    /// Every manifest with its file, in order.
    pub fn manifests(&self) -> impl Iterator<Item = (&CorpusFile, &Manifest)> {
        self.files
            .iter()
            .flat_map(|file| file.manifests.iter().map(move |m| (file, m)))
    }

    /// How many manifests.
    pub fn len(&self) -> usize {
        self.files.iter().map(|f| f.manifests.len()).sum()
    }

    /// Whether there are no manifests.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many manifests carry a planted defect.
    pub fn invalid(&self) -> usize {
        self.manifests().filter(|(_, m)| !m.is_valid()).count()
    }

    /// Writes the files into `dir` (created when missing); returns their paths in order.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, TestKubeError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        self.files
            .iter()
            .map(|file| {
                let path = dir.join(&file.name);
                std::fs::write(&path, &file.text).map_err(io_error(&path))?;
                Ok(path)
            })
            .collect()
    }
}

/// SplitMix64: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u32) -> bool {
        self.next() % 100 < u64::from(percent)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const APPS: &[&str] = &[
    "web", "api", "worker", "cache", "auth", "billing", "search", "frontend", "gateway", "ledger",
];

/// Kinds and their weights in the mix.
const KINDS: &[(&str, usize)] = &[
    ("Deployment", 14),
    ("Service", 14),
    ("ConfigMap", 12),
    ("Secret", 7),
    ("ServiceAccount", 8),
    ("StatefulSet", 4),
    ("DaemonSet", 3),
    ("Job", 3),
    ("CronJob", 3),
    ("Ingress", 6),
    ("Role", 4),
    ("RoleBinding", 4),
    ("ClusterRole", 2),
    ("ClusterRoleBinding", 2),
    ("HorizontalPodAutoscaler", 4),
    ("PodDisruptionBudget", 4),
    ("NetworkPolicy", 4),
    ("PersistentVolumeClaim", 4),
    ("Namespace", 2),
];

fn pick_kind(rng: &mut Rng) -> &'static str {
    let total: usize = KINDS.iter().map(|(_, w)| w).sum();
    let mut at = rng.below(total);
    for (kind, weight) in KINDS {
        if at < *weight {
            return kind;
        }
        at -= weight;
    }
    "ConfigMap"
}

/// A manifest and its planted defect.
type Built = (Value, Option<Defect>);

fn build_manifest(rng: &mut Rng, index: usize, invalid_percent: u32) -> Built {
    let kind = pick_kind(rng);
    let app = *rng.pick(APPS);
    let namespace = *rng.pick(NAMESPACES);
    let name = format!("{app}-{index}");
    let mut value = match kind {
        "Deployment" => deployment(rng, &name, namespace, app),
        "StatefulSet" => stateful_set(rng, &name, namespace, app),
        "DaemonSet" => daemon_set(rng, &name, namespace, app),
        "Job" => job(rng, &name, namespace, app),
        "CronJob" => cron_job(rng, &name, namespace, app),
        "Service" => service(rng, &name, namespace, app),
        "ConfigMap" => config_map(rng, &name, namespace, app),
        "Secret" => secret(rng, &name, namespace, app),
        "ServiceAccount" => service_account(rng, &name, namespace, app),
        "Ingress" => ingress(rng, &name, namespace, app),
        "Role" => role(rng, &name, Some(namespace), app),
        "ClusterRole" => role(rng, &name, None, app),
        "RoleBinding" => role_binding(rng, &name, Some(namespace), app),
        "ClusterRoleBinding" => role_binding(rng, &name, None, app),
        "HorizontalPodAutoscaler" => hpa(rng, &name, namespace, app),
        "PodDisruptionBudget" => pdb(rng, &name, namespace, app),
        "NetworkPolicy" => network_policy(rng, &name, namespace, app),
        "PersistentVolumeClaim" => pvc(rng, &name, namespace, app),
        _ => namespace_object(rng, &format!("ns-{index}"), app),
    };
    let defect = if rng.chance(invalid_percent) {
        let candidates = defects(&value);
        if candidates.is_empty() {
            None
        } else {
            let (kind, edit) = candidates[rng.below(candidates.len())].clone();
            let field = edit.apply(&mut value);
            Some(Defect { kind, field })
        }
    } else {
        None
    };
    (value, defect)
}

fn metadata(rng: &mut Rng, name: &str, namespace: Option<&str>, app: &str) -> Value {
    let mut labels = Map::new();
    labels.insert("app.kubernetes.io/name".into(), json!(app));
    labels.insert("app.kubernetes.io/instance".into(), json!(name));
    if rng.chance(50) {
        labels.insert("app.kubernetes.io/part-of".into(), json!("shop"));
    }
    if rng.chance(30) {
        labels.insert(
            "tier".into(),
            json!(rng.pick(&["frontend", "backend", "data"])),
        );
    }
    let mut meta = Map::new();
    meta.insert("name".into(), json!(name));
    if let Some(namespace) = namespace {
        meta.insert("namespace".into(), json!(namespace));
    }
    if rng.chance(3) {
        // As `kubectl create --dry-run=client -o yaml` writes it.
        meta.insert("creationTimestamp".into(), Value::Null);
    }
    meta.insert("labels".into(), Value::Object(labels));
    if rng.chance(20) {
        meta.insert(
            "annotations".into(),
            json!({"strata.dev/owner": format!("team-{app}"),
                   "description": format!("The {app} component: serves requests, retries twice")}),
        );
    }
    Value::Object(meta)
}

fn selector_labels(app: &str, name: &str) -> Value {
    json!({"app.kubernetes.io/name": app, "app.kubernetes.io/instance": name})
}

/// (written value, CPU cores) from small to large.
fn cpu_ladder() -> [(Value, f64); 7] {
    [
        (json!("50m"), 0.05),
        (json!("100m"), 0.1),
        (json!("250m"), 0.25),
        (json!(0.5), 0.5),
        (json!("500m"), 0.5),
        (json!(1), 1.0),
        (json!("2"), 2.0),
    ]
}

fn memory_ladder() -> [Value; 6] {
    [
        json!("64Mi"),
        json!("128Mi"),
        json!(268_435_456),
        json!("256Mi"),
        json!("512Mi"),
        json!("1Gi"),
    ]
}

fn resources(rng: &mut Rng) -> Value {
    let cpu = cpu_ladder();
    let memory = memory_ladder();
    let cpu_request = rng.below(cpu.len() - 1);
    let memory_request = rng.below(memory.len() - 1);
    let mut out =
        json!({"requests": {"cpu": cpu[cpu_request].0, "memory": memory[memory_request]}});
    if rng.chance(70) {
        // Both ladders only grow (0.5 and 256Mi are written two ways each): a later step is
        // at least as large, as the API server requires of a limit.
        let cpu_limit = cpu_request + 1 + rng.below(cpu.len() - cpu_request - 1);
        let memory_limit = memory_request + 1 + rng.below(memory.len() - memory_request - 1);
        out["limits"] = json!({"cpu": cpu[cpu_limit].0, "memory": memory[memory_limit]});
    }
    out
}

fn container(rng: &mut Rng, app: &str, long_running: bool) -> Value {
    let mut c = Map::new();
    c.insert("name".into(), json!(app));
    c.insert(
        "image".into(),
        json!(format!(
            "registry.example.com/shop/{app}:1.{}.{}",
            rng.below(20),
            rng.below(10)
        )),
    );
    if rng.chance(40) {
        c.insert(
            "imagePullPolicy".into(),
            json!(rng.pick(&["IfNotPresent", "Always"])),
        );
    }
    if rng.chance(40) {
        c.insert(
            "args".into(),
            json!(["--log-format=json", format!("--listen=:{}", 8080)]),
        );
    }
    if long_running {
        let mut ports = vec![json!({"name": "http", "containerPort": 8080, "protocol": "TCP"})];
        if rng.chance(30) {
            ports.push(json!({"name": "metrics", "containerPort": 9090}));
        }
        c.insert("ports".into(), Value::Array(ports));
    }
    let mut env = vec![json!({"name": "LOG_LEVEL", "value": rng.pick(&["info", "debug", "warn"])})];
    if rng.chance(50) {
        env.push(json!({"name": "PORT", "value": "8080"}));
    }
    if rng.chance(40) {
        env.push(
            json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        );
    }
    c.insert("env".into(), Value::Array(env));
    c.insert("resources".into(), resources(rng));
    if long_running && rng.chance(60) {
        let port = if rng.chance(50) {
            json!("http")
        } else {
            json!(8080)
        };
        c.insert(
            "readinessProbe".into(),
            json!({"httpGet": {"path": "/healthz", "port": port},
                   "initialDelaySeconds": 5, "periodSeconds": 10}),
        );
    }
    if long_running && rng.chance(40) {
        c.insert(
            "livenessProbe".into(),
            json!({"tcpSocket": {"port": 8080}, "failureThreshold": 3, "timeoutSeconds": 2}),
        );
    }
    c.insert(
        "volumeMounts".into(),
        json!([{"name": "config", "mountPath": "/etc/app", "readOnly": true},
               {"name": "tmp", "mountPath": "/tmp"}]),
    );
    if rng.chance(50) {
        c.insert(
            "securityContext".into(),
            json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false,
                   "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}),
        );
    }
    Value::Object(c)
}

fn pod_spec(rng: &mut Rng, app: &str, name: &str, restart: Option<&str>) -> Value {
    let long_running = restart.is_none();
    let mut containers = vec![container(rng, app, long_running)];
    if long_running && rng.chance(15) {
        containers.push(json!({
            "name": "proxy", "image": "registry.example.com/mesh/proxy:2.4.1",
            "ports": [{"name": "proxy-admin", "containerPort": 15000}],
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}
        }));
    }
    let mut spec = Map::new();
    if rng.chance(50) {
        spec.insert("serviceAccountName".into(), json!(name));
    }
    if let Some(restart) = restart {
        spec.insert("restartPolicy".into(), json!(restart));
    }
    spec.insert("containers".into(), Value::Array(containers));
    if rng.chance(40) {
        spec.insert("terminationGracePeriodSeconds".into(), json!(30));
    }
    if rng.chance(25) {
        spec.insert("nodeSelector".into(), json!({"kubernetes.io/os": "linux"}));
    }
    if rng.chance(15) {
        spec.insert(
            "tolerations".into(),
            json!([{"key": "dedicated", "operator": "Equal", "value": app,
                    "effect": "NoSchedule"}]),
        );
    }
    spec.insert(
        "volumes".into(),
        json!([{"name": "config", "configMap": {"name": format!("{name}-config"), "defaultMode": 420}},
               {"name": "tmp", "emptyDir": {}}]),
    );
    Value::Object(spec)
}

fn template(rng: &mut Rng, app: &str, name: &str, restart: Option<&str>) -> Value {
    let mut labels = selector_labels(app, name);
    if rng.chance(30) {
        labels["version"] = json!(format!("v{}", 1 + rng.below(3)));
    }
    let mut metadata = json!({"labels": labels});
    if rng.chance(20) {
        metadata["annotations"] =
            json!({"prometheus.io/scrape": "true", "prometheus.io/port": "9090"});
    }
    json!({"metadata": metadata, "spec": pod_spec(rng, app, name, restart)})
}

fn int_or_percent(rng: &mut Rng, number: i64, percent: &str) -> Value {
    if rng.chance(50) {
        json!(number)
    } else {
        json!(percent)
    }
}

fn deployment(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let mut spec = Map::new();
    if rng.chance(80) {
        spec.insert("replicas".into(), json!(1 + rng.below(5)));
    }
    if rng.chance(30) {
        spec.insert("revisionHistoryLimit".into(), json!(5));
    }
    spec.insert(
        "selector".into(),
        json!({"matchLabels": selector_labels(app, name)}),
    );
    if rng.chance(50) {
        let surge = int_or_percent(rng, 1, "25%");
        let unavailable = int_or_percent(rng, 0, "10%");
        spec.insert(
            "strategy".into(),
            json!({"type": "RollingUpdate",
                   "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}),
        );
    }
    spec.insert("template".into(), template(rng, app, name, None));
    let mut out = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": metadata(rng, name, Some(namespace), app), "spec": spec});
    if rng.chance(5) {
        out["status"] = json!({});
    }
    out
}

fn stateful_set(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let mut pod = template(rng, app, name, None);
    if let Some(mounts) = pod["spec"]["containers"][0]["volumeMounts"].as_array_mut() {
        mounts.push(json!({"name": "data", "mountPath": "/var/lib/data"}));
    }
    let storage = if rng.chance(50) {
        json!("10Gi")
    } else {
        json!("500Mi")
    };
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
    "metadata": metadata(rng, name, Some(namespace), app),
    "spec": {
        "serviceName": name,
        "replicas": 1 + rng.below(3),
        "podManagementPolicy": rng.pick(&["OrderedReady", "Parallel"]),
        "selector": {"matchLabels": selector_labels(app, name)},
        "template": pod,
        "volumeClaimTemplates": [{
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}
        }]
    }})
}

fn daemon_set(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let unavailable = int_or_percent(rng, 1, "20%");
    let mut pod = template(rng, app, name, None);
    pod["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
    "metadata": metadata(rng, name, Some(namespace), app),
    "spec": {
        "selector": {"matchLabels": selector_labels(app, name)},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": unavailable}},
        "template": pod
    }})
}

fn job_spec(rng: &mut Rng, app: &str, name: &str) -> Value {
    let restart = *rng.pick(&["Never", "OnFailure"]);
    let mut spec = Map::new();
    spec.insert("backoffLimit".into(), json!(rng.below(7)));
    if rng.chance(40) {
        spec.insert("ttlSecondsAfterFinished".into(), json!(3600));
    }
    if rng.chance(30) {
        spec.insert("completions".into(), json!(3));
        spec.insert("parallelism".into(), json!(1 + rng.below(3)));
    }
    spec.insert("template".into(), template(rng, app, name, Some(restart)));
    Value::Object(spec)
}

fn job(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": metadata(rng, name, Some(namespace), app),
        "spec": job_spec(rng, app, name)})
}

fn cron_job(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let schedule = *rng.pick(&["*/15 * * * *", "0 3 * * *", "30 1 * * 0", "@hourly"]);
    json!({"apiVersion": "batch/v1", "kind": "CronJob",
    "metadata": metadata(rng, name, Some(namespace), app),
    "spec": {
        "schedule": schedule,
        "concurrencyPolicy": rng.pick(&["Forbid", "Allow", "Replace"]),
        "suspend": rng.chance(10),
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1,
        "jobTemplate": {"spec": job_spec(rng, app, name)}
    }})
}

fn service(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let target = if rng.chance(50) {
        json!("http")
    } else {
        json!(8080)
    };
    let mut ports =
        vec![json!({"name": "http", "port": 80, "targetPort": target, "protocol": "TCP"})];
    if rng.chance(30) {
        ports.push(json!({"name": "metrics", "port": 9090, "targetPort": 9090}));
    }
    let mut spec = Map::new();
    match rng.below(10) {
        0 => {
            spec.insert("clusterIP".into(), json!("None"));
        }
        1 | 2 => {
            spec.insert("type".into(), json!("NodePort"));
        }
        3 => {
            spec.insert("type".into(), json!("LoadBalancer"));
        }
        _ => {
            if rng.chance(50) {
                spec.insert("type".into(), json!("ClusterIP"));
            }
        }
    }
    spec.insert("selector".into(), selector_labels(app, name));
    spec.insert("ports".into(), Value::Array(ports));
    if rng.chance(10) {
        spec.insert("sessionAffinity".into(), json!("ClientIP"));
    }
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": metadata(rng, name, Some(namespace), app), "spec": spec})
}

fn config_map(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let mut data = Map::new();
    data.insert("LOG_LEVEL".into(), json!(rng.pick(&["info", "debug"])));
    data.insert("MAX_CONNECTIONS".into(), json!("100"));
    data.insert("FEATURE_FLAGS".into(), json!("checkout=on,search=off"));
    if rng.chance(50) {
        data.insert(
            "app.properties".into(),
            json!(format!(
                "server.port=8080\nserver.name={app}\ncache.ttl=30s\n# retries for upstream calls\nupstream.retries=2\n"
            )),
        );
    }
    if rng.chance(20) {
        data.insert("ENABLED".into(), json!("true"));
    }
    let mut out = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": metadata(rng, &format!("{name}-config"), Some(namespace), app), "data": data});
    if rng.chance(10) {
        out["immutable"] = json!(true);
    }
    out
}

fn secret(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let mut out = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": metadata(rng, name, Some(namespace), app), "type": "Opaque"});
    if rng.chance(70) {
        out["data"] = json!({
            "username": BASE64.encode(app),
            "password": BASE64.encode(format!("s3cr3t-{}", rng.below(1000))),
        });
    } else {
        out["stringData"] =
            json!({"DATABASE_URL": format!("postgres://{app}@db.{namespace}:5432/{app}")});
    }
    out
}

fn service_account(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let mut out = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": metadata(rng, name, Some(namespace), app)});
    if rng.chance(40) {
        out["automountServiceAccountToken"] = json!(false);
    }
    if rng.chance(30) {
        out["imagePullSecrets"] = json!([{"name": "registry-credentials"}]);
    }
    out
}

fn ingress(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let port = if rng.chance(50) {
        json!({"number": 80})
    } else {
        json!({"name": "http"})
    };
    let host = format!("{name}.shop.example.com");
    let mut spec = json!({
        "ingressClassName": "nginx",
        "rules": [{"host": host, "http": {"paths": [{
            "path": "/", "pathType": rng.pick(&["Prefix", "ImplementationSpecific", "Exact"]),
            "backend": {"service": {"name": name, "port": port}}
        }]}}]
    });
    if rng.chance(50) {
        spec["tls"] = json!([{"hosts": [host], "secretName": format!("{name}-tls")}]);
    }
    let mut metadata = metadata(rng, name, Some(namespace), app);
    if rng.chance(30) {
        metadata["annotations"] = json!({"nginx.ingress.kubernetes.io/proxy-body-size": "8m"});
    }
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec})
}

fn role(rng: &mut Rng, name: &str, namespace: Option<&str>, app: &str) -> Value {
    let mut rules = vec![
        json!({"apiGroups": [""], "resources": ["configmaps", "secrets"],
                                "verbs": ["get", "list", "watch"]}),
    ];
    if rng.chance(50) {
        rules.push(json!({"apiGroups": ["apps"], "resources": ["deployments"],
                          "resourceNames": [name], "verbs": ["get", "patch"]}));
    }
    if namespace.is_none() && rng.chance(30) {
        rules.push(json!({"nonResourceURLs": ["/metrics", "/healthz"], "verbs": ["get"]}));
    }
    let kind = if namespace.is_some() {
        "Role"
    } else {
        "ClusterRole"
    };
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
        "metadata": metadata(rng, name, namespace, app), "rules": rules})
}

fn role_binding(rng: &mut Rng, name: &str, namespace: Option<&str>, app: &str) -> Value {
    let (kind, role_kind) = if namespace.is_some() {
        ("RoleBinding", "Role")
    } else {
        ("ClusterRoleBinding", "ClusterRole")
    };
    let subject = if rng.chance(70) {
        json!({"kind": "ServiceAccount", "name": app, "namespace": namespace.unwrap_or("platform")})
    } else {
        json!({"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"})
    };
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
        "metadata": metadata(rng, name, namespace, app),
        "subjects": [subject],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": app}})
}

fn hpa(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let mut metrics = vec![json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 70}}})];
    if rng.chance(40) {
        let value = if rng.chance(50) {
            json!("512Mi")
        } else {
            json!(536_870_912)
        };
        metrics.push(json!({"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "AverageValue", "averageValue": value}}}));
    }
    let mut spec = json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": 2, "maxReplicas": 4 + rng.below(16), "metrics": metrics
    });
    if rng.chance(20) {
        spec["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": 300,
            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}});
    }
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(rng, name, Some(namespace), app), "spec": spec})
}

fn pdb(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let mut spec = json!({"selector": {"matchLabels": selector_labels(app, name)}});
    if rng.chance(50) {
        spec["minAvailable"] = int_or_percent(rng, 1, "50%");
    } else {
        spec["maxUnavailable"] = int_or_percent(rng, 1, "25%");
    }
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": metadata(rng, name, Some(namespace), app), "spec": spec})
}

fn network_policy(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let port = if rng.chance(50) {
        json!(8080)
    } else {
        json!("http")
    };
    let mut spec = json!({
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": app}},
        "policyTypes": ["Ingress"],
        "ingress": [{
            "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "shop"}}},
                     {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            "ports": [{"protocol": "TCP", "port": port}]
        }]
    });
    if rng.chance(50) {
        spec["policyTypes"] = json!(["Ingress", "Egress"]);
        spec["egress"] = json!([{
            "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.96.0.0/12"]}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 5432, "endPort": 5439}]
        }]);
    }
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": metadata(rng, name, Some(namespace), app), "spec": spec})
}

fn pvc(rng: &mut Rng, name: &str, namespace: &str, app: &str) -> Value {
    let storage = rng.pick(&["1Gi", "10Gi", "50Gi"]);
    let mut spec = json!({"accessModes": [rng.pick(&["ReadWriteOnce", "ReadWriteMany"])],
        "resources": {"requests": {"storage": storage}}});
    if rng.chance(60) {
        spec["storageClassName"] = json!("standard");
    }
    if rng.chance(30) {
        spec["volumeMode"] = json!("Filesystem");
    }
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": metadata(rng, name, Some(namespace), app), "spec": spec})
}

fn namespace_object(rng: &mut Rng, name: &str, app: &str) -> Value {
    let mut meta = metadata(rng, name, None, app);
    if rng.chance(50) {
        meta["labels"]["pod-security.kubernetes.io/enforce"] = json!("restricted");
    }
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
}

/// A change that plants a defect.
#[derive(Debug, Clone)]
enum Edit {
    /// Adds `key` to the object at the pointer.
    Insert(String, &'static str, Value),
    /// Replaces the value at the pointer.
    Replace(String, Value),
    /// Removes the value at the pointer.
    Remove(String),
}

impl Edit {
    /// Applies the edit; returns the field it concerns as a path.
    fn apply(&self, value: &mut Value) -> String {
        match self {
            Self::Insert(pointer, key, new) => {
                if let Some(Value::Object(object)) = value.pointer_mut(pointer) {
                    object.insert((*key).to_owned(), new.clone());
                }
                field_path(&format!("{pointer}/{key}"))
            }
            Self::Replace(pointer, new) => {
                if let Some(slot) = value.pointer_mut(pointer) {
                    *slot = new.clone();
                }
                field_path(pointer)
            }
            Self::Remove(pointer) => {
                if let Some((parent, last)) = pointer.rsplit_once('/')
                    && let Some(Value::Object(object)) = value.pointer_mut(parent)
                {
                    object.remove(last);
                }
                field_path(pointer)
            }
        }
    }
}

/// `/spec/template/spec/containers/0/name` → `spec.template.spec.containers[0].name`.
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment.replace("~1", "/").replace("~0", "~"));
        }
    }
    out
}

/// The defects that can be planted in this manifest.
fn defects(value: &Value) -> Vec<(DefectKind, Edit)> {
    use DefectKind::{MissingRequired, UnknownField, UnsupportedValue, WrongType};
    let has = |pointer: &str| value.pointer(pointer).is_some();
    let mut out: Vec<(DefectKind, Edit)> = vec![
        (
            UnknownField,
            Edit::Insert("/metadata".into(), "label", json!({"team": "shop"})),
        ),
        (
            WrongType,
            Edit::Replace("/metadata/labels".into(), json!(["team=shop"])),
        ),
    ];
    let kind = value["kind"].as_str().unwrap_or_default();
    let pod = match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    };
    if let Some(pod) = pod {
        let c = format!("{pod}/containers/0");
        out.push((
            UnknownField,
            Edit::Insert(c.clone(), "imagePullPolicyy", json!("Always")),
        ));
        out.push((
            UnknownField,
            Edit::Insert(format!("{c}/resources"), "request", json!({"cpu": "100m"})),
        ));
        out.push((MissingRequired, Edit::Remove(format!("{c}/name"))));
        out.push((MissingRequired, Edit::Remove(format!("{c}/env/0/name"))));
        out.push((
            UnsupportedValue,
            Edit::Replace(format!("{c}/imagePullPolicy"), json!("always")),
        ));
        if has(&format!("{c}/args")) {
            out.push((
                WrongType,
                Edit::Replace(format!("{c}/args"), json!("--log-format=json")),
            ));
        }
        if has(&format!("{c}/ports/0")) {
            out.push((
                UnknownField,
                Edit::Insert(format!("{c}/ports/0"), "protocl", json!("TCP")),
            ));
            out.push((
                WrongType,
                Edit::Replace(format!("{c}/ports/0/containerPort"), json!("8080")),
            ));
        }
        if has(&format!("{pod}/restartPolicy")) {
            out.push((
                UnsupportedValue,
                Edit::Replace(format!("{pod}/restartPolicy"), json!("Sometimes")),
            ));
        }
        if has(&format!("{pod}/terminationGracePeriodSeconds")) {
            out.push((
                WrongType,
                Edit::Replace(format!("{pod}/terminationGracePeriodSeconds"), json!("30s")),
            ));
        }
    }
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" => {
            out.push((MissingRequired, Edit::Remove("/spec/selector".into())));
            out.push((
                UnknownField,
                Edit::Insert("/spec".into(), "replicaCount", json!(3)),
            ));
            if has("/spec/replicas") {
                out.push((
                    WrongType,
                    Edit::Replace("/spec/replicas".into(), json!("3")),
                ));
            }
        }
        "Job" => {
            out.push((MissingRequired, Edit::Remove("/spec/template".into())));
            out.push((
                WrongType,
                Edit::Replace("/spec/backoffLimit".into(), json!("6")),
            ));
        }
        "CronJob" => {
            out.push((MissingRequired, Edit::Remove("/spec/schedule".into())));
            out.push((
                WrongType,
                Edit::Replace("/spec/suspend".into(), json!("false")),
            ));
            out.push((
                UnsupportedValue,
                Edit::Replace("/spec/concurrencyPolicy".into(), json!("Never")),
            ));
        }
        "Service" => {
            out.push((MissingRequired, Edit::Remove("/spec/ports/0/port".into())));
            out.push((
                WrongType,
                Edit::Replace("/spec/ports/0/port".into(), json!("80")),
            ));
            out.push((
                UnknownField,
                Edit::Insert("/spec/ports/0".into(), "nodeport", json!(30080)),
            ));
            out.push((
                UnsupportedValue,
                Edit::Replace("/spec/type".into(), json!("Loadbalancer")),
            ));
        }
        "ConfigMap" => {
            out.push((
                WrongType,
                Edit::Replace("/data/MAX_CONNECTIONS".into(), json!(100)),
            ));
            out.push((
                WrongType,
                Edit::Replace("/data/LOG_LEVEL".into(), json!(true)),
            ));
            out.push((
                UnknownField,
                Edit::Insert(String::new(), "datas", json!({"A": "b"})),
            ));
        }
        "Secret" => {
            out.push((
                UnknownField,
                Edit::Insert(String::new(), "stringdata", json!({"token": "abc"})),
            ));
            out.push((WrongType, Edit::Replace("/type".into(), json!(1))));
        }
        "ServiceAccount" => {
            out.push((
                WrongType,
                Edit::Insert(
                    String::new(),
                    "automountServiceAccountToken",
                    json!("false"),
                ),
            ));
            out.push((
                UnknownField,
                Edit::Insert(String::new(), "imagePullSecret", json!([{"name": "x"}])),
            ));
        }
        "Ingress" => {
            let path = "/spec/rules/0/http/paths/0";
            out.push((MissingRequired, Edit::Remove(format!("{path}/pathType"))));
            out.push((
                UnknownField,
                Edit::Insert(format!("{path}/backend"), "serviceName", json!("web")),
            ));
            out.push((
                WrongType,
                Edit::Replace(format!("{path}/backend/service/port"), json!(80)),
            ));
        }
        "Role" | "ClusterRole" => {
            out.push((MissingRequired, Edit::Remove("/rules/0/verbs".into())));
            out.push((
                WrongType,
                Edit::Replace("/rules/0/verbs".into(), json!("get")),
            ));
            out.push((
                UnknownField,
                Edit::Insert("/rules/0".into(), "resource", json!(["pods"])),
            ));
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            out.push((MissingRequired, Edit::Remove("/roleRef".into())));
            out.push((MissingRequired, Edit::Remove("/subjects/0/kind".into())));
            out.push((
                UnknownField,
                Edit::Insert("/roleRef".into(), "namespace", json!("shop")),
            ));
        }
        "HorizontalPodAutoscaler" => {
            out.push((MissingRequired, Edit::Remove("/spec/maxReplicas".into())));
            out.push((
                WrongType,
                Edit::Replace("/spec/minReplicas".into(), json!("2")),
            ));
            out.push((
                UnknownField,
                Edit::Insert("/spec".into(), "targetCPUUtilizationPercentage", json!(80)),
            ));
        }
        "PodDisruptionBudget" => {
            let field = if has("/spec/minAvailable") {
                "/spec/minAvailable"
            } else {
                "/spec/maxUnavailable"
            };
            out.push((WrongType, Edit::Replace(field.into(), json!(true))));
            out.push((
                UnknownField,
                Edit::Insert("/spec/selector".into(), "matchLabel", json!({"a": "b"})),
            ));
        }
        "NetworkPolicy" => {
            out.push((
                WrongType,
                Edit::Replace("/spec/ingress/0/ports/0/port".into(), json!(8080.5)),
            ));
            out.push((
                UnsupportedValue,
                Edit::Replace("/spec/policyTypes/0".into(), json!("ingress")),
            ));
            out.push((
                UnknownField,
                Edit::Insert("/spec/ingress/0".into(), "sources", json!([])),
            ));
        }
        "PersistentVolumeClaim" => {
            out.push((
                WrongType,
                Edit::Replace("/spec/accessModes".into(), json!("ReadWriteOnce")),
            ));
            out.push((
                UnknownField,
                Edit::Insert(
                    "/spec/resources".into(),
                    "request",
                    json!({"storage": "1Gi"}),
                ),
            ));
            out.push((
                UnsupportedValue,
                Edit::Replace("/spec/accessModes/0".into(), json!("ReadWriteAll")),
            ));
        }
        _ => {}
    }
    // Only edits whose target exists (a Replace needs the value, an Insert its object).
    out.retain(|(_, edit)| match edit {
        Edit::Insert(pointer, _, _) => value.pointer(pointer).is_some_and(Value::is_object),
        Edit::Replace(pointer, _) | Edit::Remove(pointer) => has(pointer),
    });
    out
}

/// How one file is written.
#[derive(Debug, Clone, Copy)]
struct Style {
    /// `key:\n  - a` (true) or `key:\n- a` (false).
    indent_sequences: bool,
}

fn emit_file(name: String, built: Vec<Built>, style: Style, rng: &mut Rng) -> CorpusFile {
    let mut emitter = Emitter {
        out: String::new(),
        line: 1,
        style,
        rng,
    };
    let mut manifests = Vec::with_capacity(built.len());
    for (document, (value, defect)) in built.into_iter().enumerate() {
        if document > 0 || emitter.rng.chance(20) {
            emitter.push_line("---");
        }
        if emitter.rng.chance(25) {
            let kind = value["kind"].as_str().unwrap_or_default().to_lowercase();
            emitter.push_line(&format!("# Source: shop/templates/{kind}.yaml"));
        }
        let line = emitter.line;
        if let Value::Object(map) = &value {
            emitter.map_body(map, 0, None);
        }
        let text = |key: &str| {
            value
                .pointer(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        manifests.push(Manifest {
            document,
            line,
            api_version: text("/apiVersion").to_owned(),
            kind: text("/kind").to_owned(),
            namespace: value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            name: text("/metadata/name").to_owned(),
            defect,
            value,
        });
    }
    CorpusFile {
        name,
        text: emitter.out,
        manifests,
    }
}

struct Emitter<'a> {
    out: String,
    line: usize,
    style: Style,
    rng: &'a mut Rng,
}

impl Emitter<'_> {
    fn push_line(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
        self.line += 1;
    }

    /// The entries of a map whose keys sit at `indent`; `first` replaces the indentation of
    /// the first line (a sequence item's `- `).
    fn map_body(&mut self, map: &Map<String, Value>, indent: usize, mut first: Option<String>) {
        for (key, value) in map {
            let prefix = first.take().unwrap_or_else(|| " ".repeat(indent));
            self.entry(&format!("{prefix}{}:", key_text(key)), value, indent);
        }
    }

    /// `head` is `<indent>key:`; writes the value after it.
    fn entry(&mut self, head: &str, value: &Value, indent: usize) {
        match value {
            Value::Object(map) if map.is_empty() => self.push_line(&format!("{head} {{}}")),
            Value::Array(items) if items.is_empty() => self.push_line(&format!("{head} []")),
            Value::Object(map) => {
                self.push_line(head);
                self.map_body(map, indent + 2, None);
            }
            Value::Array(items) => {
                let short_scalars =
                    items.len() <= 4 && items.iter().all(|i| i.is_string() || i.is_number());
                if short_scalars && self.rng.chance(40) {
                    let flow: Vec<String> = items.iter().map(Value::to_string).collect();
                    self.push_line(&format!("{head} [{}]", flow.join(", ")));
                } else {
                    self.push_line(head);
                    let at = if self.style.indent_sequences {
                        indent + 2
                    } else {
                        indent
                    };
                    self.sequence(items, at);
                }
            }
            Value::String(text) if block_safe(text) => {
                let indicator = if text.ends_with('\n') { "|" } else { "|-" };
                self.push_line(&format!("{head} {indicator}"));
                let pad = " ".repeat(indent + 2);
                for line in text.trim_end_matches('\n').split('\n') {
                    self.push_line(&format!("{pad}{line}"));
                }
            }
            scalar => {
                let text = self.scalar(scalar);
                self.push_line(&format!("{head} {text}"));
            }
        }
    }

    fn sequence(&mut self, items: &[Value], indent: usize) {
        let pad = " ".repeat(indent);
        for item in items {
            match item {
                Value::Object(map) if !map.is_empty() => {
                    self.map_body(map, indent + 2, Some(format!("{pad}- ")));
                }
                Value::Array(inner) if !inner.is_empty() => {
                    self.push_line(&format!("{pad}-"));
                    self.sequence(inner, indent + 2);
                }
                _ => self.entry(&format!("{pad}-"), item, indent),
            }
        }
    }

    fn scalar(&mut self, value: &Value) -> String {
        match value {
            Value::String(text) => {
                if plain_safe(text) {
                    if self.rng.chance(10) {
                        format!("'{}'", text.replace('\'', "''"))
                    } else {
                        text.clone()
                    }
                } else {
                    Value::String(text.clone()).to_string()
                }
            }
            other => other.to_string(),
        }
    }
}

fn key_text(key: &str) -> String {
    if plain_safe(key) {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

/// Whether a string can be written as a literal block (`|`).
fn block_safe(text: &str) -> bool {
    text.contains('\n')
        && !text.starts_with([' ', '\n'])
        && !text.ends_with("\n\n")
        && !text.contains(['\r', '\t'])
        && text
            .trim_end_matches('\n')
            .split('\n')
            .all(|l| !l.is_empty() && !l.ends_with(' '))
}

/// Whether a string reads back as the same string when written plain, in YAML 1.1 and 1.2
/// alike (conservative: anything that could be a number, boolean, null or timestamp is quoted).
fn plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '/') {
        return false;
    }
    if text.ends_with([' ', ':']) || text.contains(": ") || text.contains(" #") {
        return false;
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._/-=%@+: ,".contains(c) || c == '_')
    {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    if [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "none",
    ]
    .contains(&lower.as_str())
    {
        return false;
    }
    // Numbers, timestamps, sexagesimals, hex and octal: quote anything that looks numeric.
    let numeric_like = (first.is_ascii_digit() || first == '+' || first == '-' || first == '.')
        && text
            .chars()
            .all(|c| c.is_ascii_hexdigit() || "xXoObB._:+-".contains(c));
    !numeric_like
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_options_give_the_same_corpus() {
        let options = CorpusOptions {
            manifests: 300,
            ..CorpusOptions::default()
        };
        let a = Corpus::generate(&options);
        let b = Corpus::generate(&options);
        assert_eq!(a, b);
        assert_eq!(a.len(), 300);
        let other = Corpus::generate(&CorpusOptions { seed: 7, ..options });
        assert_ne!(a.files[0].text, other.files[0].text);
    }

    #[test]
    fn names_are_unique_and_resources_follow_the_strata_format() {
        let corpus = Corpus::generate(&CorpusOptions {
            manifests: 2000,
            ..CorpusOptions::default()
        });
        let mut seen = std::collections::HashSet::new();
        for (_, manifest) in corpus.manifests() {
            assert!(seen.insert(manifest.resource()), "{}", manifest.resource());
        }
        let kinds: std::collections::BTreeSet<&str> =
            corpus.manifests().map(|(_, m)| m.kind.as_str()).collect();
        assert_eq!(kinds.len(), KINDS.len(), "{kinds:?}");
        let deployment = corpus
            .manifests()
            .find(|(_, m)| m.kind == "Deployment")
            .map(|(_, m)| m)
            .expect("a deployment");
        assert_eq!(
            deployment.resource(),
            format!(
                "apps/Deployment/{}/{}",
                deployment.namespace.as_deref().unwrap_or_default(),
                deployment.name
            )
        );
        let namespace = corpus
            .manifests()
            .find(|(_, m)| m.kind == "Namespace")
            .map(|(_, m)| m)
            .expect("a namespace");
        assert_eq!(
            namespace.resource(),
            format!("Namespace/{}", namespace.name)
        );
    }

    #[test]
    fn a_few_percent_carry_each_kind_of_defect() {
        let corpus = Corpus::generate(&CorpusOptions::default());
        let invalid = corpus.invalid();
        assert!((200..=400).contains(&invalid), "{invalid} of 10 000");
        let kinds: std::collections::BTreeSet<DefectKind> = corpus
            .manifests()
            .filter_map(|(_, m)| m.defect.as_ref().map(|d| d.kind))
            .collect();
        assert_eq!(kinds.len(), 4, "{kinds:?}");
    }

    #[test]
    fn documents_start_on_the_recorded_lines() {
        let corpus = Corpus::generate(&CorpusOptions {
            manifests: 500,
            ..CorpusOptions::default()
        });
        for file in &corpus.files {
            let lines: Vec<&str> = file.text.lines().collect();
            for manifest in &file.manifests {
                let line = lines[manifest.line - 1];
                assert!(
                    !line.starts_with(' ') && !line.starts_with('#') && line != "---",
                    "{}:{}: {line}",
                    file.name,
                    manifest.line
                );
            }
        }
    }

    #[test]
    fn strings_that_could_read_as_other_types_are_quoted() {
        for text in [
            "8080",
            "0.5",
            "true",
            "No",
            "null",
            "1:20",
            "2026-01-01",
            "1e3",
            "",
            " a",
            "*/5 * * * *",
        ] {
            assert!(!plain_safe(text), "{text:?}");
        }
        for text in [
            "500m",
            "128Mi",
            "25%",
            "http",
            "nginx:1.25",
            "/healthz",
            "system:authenticated",
            "v1",
        ] {
            assert!(plain_safe(text), "{text:?}");
        }
    }

    #[test]
    fn field_paths_read_like_strata_fields() {
        assert_eq!(
            field_path("/spec/template/spec/containers/0/name"),
            "spec.template.spec.containers[0].name"
        );
        assert_eq!(field_path("/datas"), "datas");
    }

    #[test]
    fn both_sequence_styles_and_literal_blocks_appear() {
        let corpus = Corpus::generate(&CorpusOptions {
            manifests: 500,
            ..CorpusOptions::default()
        });
        let all: String = corpus.files.iter().map(|f| f.text.as_str()).collect();
        assert!(all.contains("      containers:\n      - name:"));
        assert!(all.contains("      containers:\n        - name:"));
        assert!(all.contains("app.properties: |\n"));
        assert!(all.contains("cpu: 0.5"));
        assert!(all.contains("cpu: 500m"));
        assert!(all.contains("targetPort: http"));
        assert!(all.contains("targetPort: 8080"));
        assert!(all.contains("\"*/15 * * * *\""));
    }
}
