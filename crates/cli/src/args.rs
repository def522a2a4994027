//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Strata: GitOps infrastructure — plan, apply and reconcile desired state from Git.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would change (exit 0; with --detailed-exitcode: 0 none, 1 error, 2 changes).
    Plan(PlanArgs),
    /// Apply the desired state.
    Apply(ApplyArgs),
    /// Destroy everything the stack manages.
    Destroy(ApplyArgs),
    /// Report drift between Git, the state and the live world (exit 0 none / 1 error / 2 drift
    /// with --detailed-exitcode).
    Drift(DriftArgs),
    /// Print the dependency graph.
    Graph(GraphArgs),
    /// Render claims and composites through their compositions (with --explain: which patch and
    /// transforms wrote each field).
    Render(RenderArgs),
    /// Inspect and lock the state.
    State(StateArgs),
    /// Health of saved live objects (YAML or JSON files, `kubectl get -o yaml` lists included),
    /// with the application aggregate as ArgoCD computes it.
    Health(HealthArgs),
    /// Print the Applications an ApplicationSet generates.
    Generate(GenerateArgs),
    /// Set an image in a Kustomize overlay (like `kustomize edit set image`), in place.
    SetImage(SetImageArgs),
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Readable text.
    Human,
    /// JSON.
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
}

/// Providers that can be enabled by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderName {
    /// Amazon Web Services: S3 and RDS.
    Aws,
    /// Kubernetes, through the kubeconfig or in-cluster configuration.
    #[value(alias = "kube", alias = "kubernetes")]
    K8s,
}

impl StackArgs {
    /// Whether the Kubernetes provider is enabled.
    pub fn kube_enabled(&self) -> bool {
        self.kube || self.context.is_some() || self.providers.contains(&ProviderName::K8s)
    }

    /// Whether the AWS provider is enabled.
    pub fn aws_enabled(&self) -> bool {
        self.aws || self.aws_endpoint.is_some() || self.providers.contains(&ProviderName::Aws)
    }
}

/// Flags shared by commands that work on a stack.
#[derive(Debug, Args)]
pub struct StackArgs {
    /// The stack directory (YAML and JSON manifests, read recursively).
    pub dir: PathBuf,
    /// The state: a path (default `<DIR>/.strata/state.json`) or `s3://bucket/key`.
    #[arg(long, value_name = "PATH|s3://BUCKET/KEY")]
    pub state: Option<String>,
    /// The stack's name, written into ownership labels (default: the directory's name).
    #[arg(long)]
    pub stack_name: Option<String>,
    /// Fail instead of sending unserved kinds to the local sandbox provider.
    #[arg(long)]
    pub no_sandbox: bool,
    /// The sandbox's world directory (default `<DIR>/.strata/sandbox`).
    #[arg(long, value_name = "DIR")]
    pub sandbox_dir: Option<PathBuf>,
    /// Provider calls in flight at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// Read the stack from its Git repository at this revision (branch, tag or commit)
    /// instead of the working directory.
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    /// Enable the Kubernetes provider (kubeconfig or in-cluster configuration).
    #[arg(long)]
    pub kube: bool,
    /// The kubeconfig context to use (implies --kube).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Enable the AWS provider (S3 and RDS), configured from the standard AWS environment.
    #[arg(long)]
    pub aws: bool,
    /// Enable providers by name (`--provider aws`, `--provider k8s`), the same as `--aws` and
    /// `--kube`; repeat for several. Earlier providers win for kinds both serve.
    #[arg(long = "provider", value_enum, value_name = "NAME")]
    pub providers: Vec<ProviderName>,
    /// A custom AWS endpoint, e.g. a local moto server (implies --aws).
    #[arg(long, value_name = "URL")]
    pub aws_endpoint: Option<String>,
    /// The default AWS region (resources may name their own in spec.forProvider.region).
    #[arg(long, value_name = "REGION")]
    pub aws_region: Option<String>,
}

/// `strata health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// A file or a directory of saved live objects.
    pub path: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Exit 2 when the aggregate is not Healthy (0 Healthy, 1 error).
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// `strata plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Exit 2 when the plan has changes (0 none, 1 error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Adopt existing live objects that Strata does not own.
    #[arg(long)]
    pub adopt: bool,
    /// Plan the destruction of everything in the state.
    #[arg(long)]
    pub destroy: bool,
    /// The state lock.
    #[command(flatten)]
    pub lock: LockArgs,
}

/// How a command takes the state lock.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Take the state lock for the command (`--lock=false` to skip it, for a read-only plan
    /// while another run holds it).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub lock: bool,
    /// How long to wait for a lock another run holds (e.g. `30s`, `5m`); 0 fails at once.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lock_timeout: std::time::Duration,
}

/// `strata apply` and `strata destroy`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// After applying, also delete live Kubernetes objects labelled as this stack's that the
    /// desired set no longer holds, beyond those the state records (ArgoCD's prune;
    /// `Prune=false` and `PruneLast` are honoured). Needs the Kubernetes provider.
    #[arg(long)]
    pub prune: bool,
    /// Adopt existing live objects that Strata does not own.
    #[arg(long)]
    pub adopt: bool,
    /// Output format of the plan and the result.
    #[arg(short, long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// The state lock (held across plan, confirmation and apply).
    #[command(flatten)]
    pub lock: LockArgs,
}

/// Drift report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftOutput {
    /// Readable text.
    Human,
    /// JSON.
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
}

/// `strata drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = DriftOutput::Human)]
    pub output: DriftOutput,
    /// Exit 2 when there is drift (0 none, 1 error).
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Render output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderOutputFormat {
    /// The composed resources as a YAML stream.
    Yaml,
    /// Everything, as JSON.
    Json,
}

/// `strata render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A file or directory holding the XRDs, compositions and the claims or composites.
    pub path: PathBuf,
    /// Show which patch and transforms produced each written field.
    #[arg(long)]
    pub explain: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = RenderOutputFormat::Yaml)]
    pub output: RenderOutputFormat,
}

/// Graph formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// `strata graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The stack directory.
    pub dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// `strata state`.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// What to do with the state.
    #[command(subcommand)]
    pub command: StateCommand,
}

/// `strata state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the resources in the state.
    List(StateTarget),
    /// Show one resource's record (sensitive values appear only as digests).
    Show {
        /// The stack.
        #[command(flatten)]
        target: StateTarget,
        /// The resource's address, as `state list` prints it.
        address: String,
    },
    /// Take the state lock and print its ID.
    Lock(StateTarget),
    /// Release a lock you hold.
    Unlock {
        /// The stack.
        #[command(flatten)]
        target: StateTarget,
        /// The lock ID.
        id: String,
    },
    /// Release a lock held by someone else (a crashed run), given its ID.
    ForceUnlock {
        /// The stack.
        #[command(flatten)]
        target: StateTarget,
        /// The lock ID.
        id: String,
    },
}

/// Which state a `strata state` command works on.
#[derive(Debug, Args)]
pub struct StateTarget {
    /// The stack directory.
    pub dir: PathBuf,
    /// The state (default `<DIR>/.strata/state.json`).
    #[arg(long, value_name = "PATH")]
    pub state: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

/// `strata generate` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateOutput {
    /// YAML documents.
    Yaml,
    /// A JSON array.
    Json,
}

/// `strata generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A file holding one or more ApplicationSets.
    pub file: PathBuf,
    /// The repository tree git generators read (default: the nearest ancestor holding
    /// `argocd/`, else the Git work tree).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Read the tree from its Git repository at this revision.
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = GenerateOutput::Yaml)]
    pub output: GenerateOutput,
}

/// `strata set-image`.
#[derive(Debug, Args)]
pub struct SetImageArgs {
    /// The overlay directory (or its kustomization file).
    pub overlay: PathBuf,
    /// `NAME=IMAGE:TAG`, `NAME=IMAGE@DIGEST` or `NAME:TAG`.
    #[arg(required = true, value_name = "NAME=IMAGE:TAG")]
    pub images: Vec<String>,
}
