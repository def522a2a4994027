//! Command-line arguments.

use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::output::{ALL, Format, MANIFESTS, NO_MARKDOWN, formats};

/// Strata: GitOps infrastructure — plan, apply and reconcile desired state from Git.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None, disable_version_flag = true)]
pub struct Cli<C: Subcommand = Command> {
    /// Options of every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Print the version (with `-o json` or `-o yaml`, as data; the same as `strata version`).
    #[arg(short = 'V', long)]
    pub version: bool,
    /// The output form of `--version`.
    #[arg(short, long, requires = "version", value_parser = formats(NO_MARKDOWN), value_name = "FORMAT")]
    pub output: Option<Format>,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<C>,
}

/// Options every command takes, before or after its name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Never colour the output (as a non-empty `NO_COLOR` does); colour is used only on a
    /// terminal.
    #[arg(long, global = true)]
    pub no_color: bool,
    /// More log lines on standard error: `-v` info, `-vv` debug, `-vvv` trace (the default
    /// shows warnings and errors).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with_all = ["quiet", "log_level"])]
    pub verbose: u8,
    /// Fewer log lines: errors only.
    #[arg(short, long, global = true, conflicts_with = "log_level")]
    pub quiet: bool,
    /// The log level on standard error. `-v`, `-q` and this flag win over `RUST_LOG`, which
    /// applies when none is given (it also takes per-module directives such as
    /// `strata_core=debug`).
    #[arg(
        long,
        global = true,
        env = "STRATA_LOG_LEVEL",
        value_enum,
        value_name = "LEVEL"
    )]
    pub log_level: Option<LogLevel>,
}

/// How much is logged on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Errors.
    Error,
    /// Warnings and errors (the default).
    Warn,
    /// What each step does.
    Info,
    /// Details for finding a problem.
    Debug,
    /// Everything.
    Trace,
}

impl GlobalArgs {
    /// The level `-v`, `-q` or `--log-level` asks for, if any.
    pub fn log_level(&self) -> Option<LogLevel> {
        match (self.log_level, self.quiet, self.verbose) {
            (Some(level), _, _) => Some(level),
            (None, true, _) => Some(LogLevel::Error),
            (None, false, 0) => None,
            (None, false, 1) => Some(LogLevel::Info),
            (None, false, 2) => Some(LogLevel::Debug),
            (None, false, _) => Some(LogLevel::Trace),
        }
    }
}

impl LogLevel {
    /// The level as a tracing filter directive.
    pub fn directive(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Declares [`Command`], whose subcommands' arguments are deferred, and [`EagerCommand`], the
/// same subcommands with their arguments added at once, from one list.
macro_rules! subcommands {
    ($( $(#[$attr:meta])* $name:ident($args:ty), )*) => {
        /// The subcommands. Each one's arguments are added to its `clap::Command` only when
        /// that command is built (clap's `defer`): when it runs or prints its help, so a run
        /// builds its own command's arguments and no other's.
        #[derive(Debug, Subcommand)]
        #[command(defer = true)]
        #[non_exhaustive]
        pub enum Command {
            $( $(#[$attr])* $name(Deferred<$args>), )*
        }

        /// [`Command`] with every subcommand's arguments added at once: the whole command line,
        /// as the completion scripts and manual pages describe it (clap builds deferred
        /// subcommands after propagating the global flags, which would change their order).
        #[derive(Debug, Subcommand)]
        #[non_exhaustive]
        pub enum EagerCommand {
            $( $(#[$attr])* $name($args), )*
        }
    };
}

subcommands! {
    /// Show what apply would change (exit 0; with --detailed-exitcode: 0 none, 1 error, 2 changes).
    Plan(PlanArgs),
    /// Apply the desired state of DIR, or exactly the plan saved in a FILE by `plan --out`.
    Apply(ApplyArgs),
    /// Show a plan saved by `plan --out`.
    Show(ShowArgs),
    /// Destroy everything the stack manages (with --target: those resources and what depends
    /// on them).
    Destroy(DestroyArgs),
    /// Report drift between Git, the state and the live world (exit 0 none / 1 error / 2 drift
    /// with --detailed-exitcode).
    Drift(DriftArgs),
    /// Print the dependency graph.
    Graph(GraphArgs),
    /// Render claims and composites through their compositions (with --explain: which patch and
    /// transforms wrote each field).
    Render(RenderArgs),
    /// Inspect, lock, edit and restore the state.
    State(StateArgs),
    /// Record an existing live object as this stack's (it must be in the desired set); the
    /// next plan shows what differs from Git.
    Import(ImportArgs),
    /// List resources both Terraform (its states) and this stack claim: dual management.
    Ownership(OwnershipArgs),
    /// Check a stack offline and print every problem (file, document, resource, field);
    /// exit 0 valid, 1 problems.
    Validate(ValidateArgs),
    /// Health of saved live objects (YAML or JSON files, `kubectl get -o yaml` lists included),
    /// with the application aggregate as ArgoCD computes it.
    Health(HealthArgs),
    /// Print the Applications an ApplicationSet generates.
    Generate(GenerateArgs),
    /// Set an image in a Kustomize overlay (like `kustomize edit set image`), in place.
    SetImage(SetImageArgs),
    /// Run the GitOps controller: keep every Application equal to its Git revision (sync,
    /// self-heal, prune, status, notifications, metrics), until SIGINT/SIGTERM.
    Controller(ControllerArgs),
    /// List, inspect, refresh, sync and roll back Applications through a running controller.
    App(AppArgs),
    /// Print the shell completion script (e.g. `strata completion bash >
    /// ~/.local/share/bash-completion/completions/strata`).
    Completion(CompletionArgs),
    /// Print the manual page (`strata man | man -l -`), or write one page per command into a
    /// directory.
    Man(ManArgs),
    /// Print the version.
    Version(VersionArgs),
}

/// A subcommand's arguments `T`, added to the subcommand when clap builds it (see [`Command`]).
///
/// Added that late, the derived arguments would replace the description the subcommand was
/// given (its variant's documentation) with their struct's own; this keeps the subcommand's.
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Deferred)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

impl<T: Args> Args for Deferred<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }

    fn augment_args(cmd: clap::Command) -> clap::Command {
        keeping_description(cmd, T::augment_args)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        keeping_description(cmd, T::augment_args_for_update)
    }
}

/// `add` applied to `cmd`, with `cmd`'s description (short and long) as it was before.
fn keeping_description(
    cmd: clap::Command,
    add: fn(clap::Command) -> clap::Command,
) -> clap::Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = add(cmd);
    let cmd = match about {
        Some(about) => cmd.about(about),
        None => cmd.about(None::<&'static str>),
    };
    match long_about {
        Some(long_about) => cmd.long_about(long_about),
        None => cmd.long_about(None::<&'static str>),
    }
}

/// `strata version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format.
    #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(NO_MARKDOWN), default_value = "human", value_name = "FORMAT")]
    pub output: Format,
}

/// `strata completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `strata man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `strata.1` and a page per command (`strata-plan.1`, …) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Providers that can be enabled by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProviderName {
    /// Amazon Web Services: S3 and RDS.
    Aws,
    /// Kubernetes, through the kubeconfig or in-cluster configuration.
    #[value(alias = "kube", alias = "kubernetes")]
    K8s,
}

/// Flags shared by every command that works on a stack (plan, apply, destroy, drift, graph,
/// import, ownership, validate and every `state` subcommand): one struct, so their flags
/// cannot diverge. Each overrides the stack's `strata.yaml`; each can also be set through the
/// `STRATA_*` variable its help names. A saved plan records them (serde), so its apply needs
/// none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, serde::Serialize, serde::Deserialize)]
pub struct StackArgs {
    /// The stack directory (YAML and JSON manifests, read recursively); for `apply`, a plan
    /// file saved by `plan --out`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The stack configuration (default `<DIR>/strata.yaml` when it exists).
    #[arg(long, env = "STRATA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The state: a path, `s3://bucket/key` or `kubernetes://namespace/name` (a Secret in the
    /// cluster of the Kubernetes provider's context; default: the configuration's backend,
    /// else `<DIR>/.strata/state.json`).
    #[arg(
        long,
        env = "STRATA_STATE",
        value_name = "PATH|s3://BUCKET/KEY|kubernetes://NAMESPACE/NAME"
    )]
    pub state: Option<String>,
    /// The stack's name, its identity for the state and its ownership labels' value (default:
    /// the configuration's `name`, else the directory's name).
    #[arg(long, env = "STRATA_STACK_NAME")]
    pub stack_name: Option<String>,
    /// Parse every manifest file and plan every resource instead of reusing what
    /// `<DIR>/.strata/cache/` kept from earlier runs (the result is the same either way).
    #[arg(long, env = "STRATA_NO_CACHE")]
    #[serde(skip)]
    pub no_cache: bool,
    /// Fail instead of sending unserved kinds to the local sandbox provider.
    #[arg(long, env = "STRATA_NO_SANDBOX")]
    pub no_sandbox: bool,
    /// The sandbox's world directory (default `<DIR>/.strata/sandbox`).
    #[arg(long, env = "STRATA_SANDBOX_DIR", value_name = "DIR")]
    pub sandbox_dir: Option<PathBuf>,
    /// A kind the sandbox may take unchecked (`group/Kind`, `Kind` for the core group,
    /// `group/*`), beside `sandbox.allowKinds` in the configuration; repeatable.
    #[arg(
        long = "allow-kind",
        env = "STRATA_ALLOW_KINDS",
        value_delimiter = ',',
        value_name = "GROUP/KIND"
    )]
    pub allow_kinds: Vec<String>,
    /// Provider calls in flight at once (default 10).
    #[arg(long, env = "STRATA_PARALLELISM", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: Option<u16>,
    /// Read the stack from its Git repository at this revision (branch, tag or commit)
    /// instead of the working directory.
    #[arg(long, env = "STRATA_REVISION", value_name = "REV")]
    pub revision: Option<String>,
    /// The repository the stack directory is in (default: its Git top level): Kustomize
    /// overlays in the stack may reference directories anywhere in it (`../../base`).
    #[arg(long, env = "STRATA_ROOT", value_name = "DIR")]
    #[serde(default)]
    pub root: Option<PathBuf>,
    /// Where Applications' and ApplicationSets' repositories are read from.
    #[command(flatten)]
    #[serde(default, flatten)]
    pub repos: RepoArgs,
    /// Enable the Kubernetes provider (kubeconfig or in-cluster configuration).
    #[arg(long, env = "STRATA_KUBE")]
    pub kube: bool,
    /// The kubeconfig context to use (implies --kube).
    #[arg(long, env = "STRATA_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig file (default: `KUBECONFIG`, else `~/.kube/config`, else the in-cluster
    /// service account; implies --kube).
    #[arg(long, env = "STRATA_KUBECONFIG", value_name = "FILE")]
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The namespace of namespaced Kubernetes objects whose manifests name none (default: the
    /// context's namespace, else `default`; implies --kube).
    #[arg(short = 'n', long, env = "STRATA_NAMESPACE", value_name = "NAMESPACE")]
    #[serde(default)]
    pub namespace: Option<String>,
    /// Enable the AWS provider (S3 and RDS), configured from the standard AWS environment.
    #[arg(long, env = "STRATA_AWS")]
    pub aws: bool,
    /// Enable providers by name (`--provider aws`, `--provider k8s`), the same as `--aws` and
    /// `--kube`; repeat for several (comma-separated in `STRATA_PROVIDER`). Earlier providers
    /// win for kinds both serve.
    #[arg(
        long = "provider",
        env = "STRATA_PROVIDER",
        value_delimiter = ',',
        value_enum,
        value_name = "NAME"
    )]
    pub providers: Vec<ProviderName>,
    /// A custom AWS endpoint, e.g. a local moto server (implies --aws).
    #[arg(long, env = "STRATA_AWS_ENDPOINT", value_name = "URL")]
    pub aws_endpoint: Option<String>,
    /// The default AWS region (resources may name their own in spec.forProvider.region).
    #[arg(long, env = "STRATA_AWS_REGION", value_name = "REGION")]
    pub aws_region: Option<String>,
    /// Rego policies checked on every plan (a directory or a `.rego` file; repeat for several,
    /// comma-separated in `STRATA_POLICY`); a denial refuses the apply (default: the
    /// configuration's `policies`).
    #[arg(
        long = "policy",
        env = "STRATA_POLICY",
        value_delimiter = ',',
        value_name = "DIR"
    )]
    pub policies: Vec<PathBuf>,
    /// Terraform states (format version 4; a path or `s3://bucket/key`; repeat for several,
    /// comma-separated in `STRATA_TFSTATE`) whose resources Strata must not also manage: the
    /// plan refuses to create or adopt them unless adopted explicitly (default: the
    /// configuration's `terraformStates`).
    #[arg(
        long = "tfstate",
        env = "STRATA_TFSTATE",
        value_delimiter = ',',
        value_name = "PATH|s3://BUCKET/KEY"
    )]
    pub terraform_states: Vec<String>,
}

/// Which tree each `repoURL` is read from: the stack's own repository, a local directory it
/// is mapped to, or a mirror in the repository cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, serde::Serialize, serde::Deserialize)]
pub struct RepoArgs {
    /// Read the repository URL from a local directory or repository instead of fetching it
    /// (its working files for `HEAD`, else the `targetRevision` asked for); repeat for
    /// several (comma-separated in `STRATA_REPOS`). Wins over `repositories:` in the
    /// configuration for the same URL.
    #[arg(
        long = "repo",
        env = "STRATA_REPOS",
        value_delimiter = ',',
        value_name = "URL=PATH"
    )]
    #[serde(default)]
    pub repos: Vec<String>,
    /// Where repositories are mirrored when fetched (default `<DIR>/.strata/repos`).
    #[arg(long, env = "STRATA_REPO_CACHE", value_name = "DIR")]
    #[serde(default)]
    pub repo_cache: Option<PathBuf>,
    /// When a mirrored repository is fetched again: `always` (once per run, the default),
    /// `never` (work offline from the mirrors), or a duration (`10m`: when its last fetch is
    /// older).
    #[arg(
        long,
        env = "STRATA_REPO_REFRESH",
        value_name = "always|never|DURATION"
    )]
    #[serde(default)]
    pub repo_refresh: Option<String>,
    /// Credentials for the HTTP(S) repositories under a URL prefix: `PREFIX=VARIABLE`, the
    /// environment variable holding `user:password` or a token (never the secret itself);
    /// repeat for several (comma-separated in `STRATA_REPO_CREDENTIALS`).
    #[arg(
        long = "repo-credentials",
        env = "STRATA_REPO_CREDENTIALS",
        value_delimiter = ',',
        value_name = "PREFIX=VARIABLE"
    )]
    #[serde(default)]
    pub repo_credentials: Vec<String>,
    /// Trust the PEM certificates of FILE (besides the system's) for the Helm repositories and
    /// OCI registries under a URL prefix: `PREFIX=FILE`; repeat for several (comma-separated in
    /// `STRATA_CHART_REPO_CA`).
    #[arg(
        long = "chart-repo-ca",
        env = "STRATA_CHART_REPO_CA",
        value_delimiter = ',',
        value_name = "PREFIX=FILE"
    )]
    #[serde(default)]
    pub chart_repo_ca: Vec<String>,
    /// Present the PEM client certificate of FILE to the Helm repositories and OCI registries
    /// under a URL prefix (ArgoCD's `tlsClientCertData`): `PREFIX=FILE`, with its key given by
    /// `--chart-repo-client-key` for the same prefix; repeat for several (comma-separated in
    /// `STRATA_CHART_REPO_CLIENT_CERT`).
    #[arg(
        long = "chart-repo-client-cert",
        env = "STRATA_CHART_REPO_CLIENT_CERT",
        value_delimiter = ',',
        value_name = "PREFIX=FILE"
    )]
    #[serde(default)]
    pub chart_repo_client_cert: Vec<String>,
    /// The PEM private key of the client certificate of `--chart-repo-client-cert` for a URL
    /// prefix (ArgoCD's `tlsClientCertKey`): `PREFIX=FILE` (comma-separated in
    /// `STRATA_CHART_REPO_CLIENT_KEY`).
    #[arg(
        long = "chart-repo-client-key",
        env = "STRATA_CHART_REPO_CLIENT_KEY",
        value_delimiter = ',',
        value_name = "PREFIX=FILE"
    )]
    #[serde(default)]
    pub chart_repo_client_key: Vec<String>,
    /// Do not verify the TLS certificates of the Helm repositories and OCI registries under
    /// this URL prefix (ArgoCD's `insecure`); repeat for several.
    #[arg(
        long = "chart-repo-insecure",
        env = "STRATA_CHART_REPO_INSECURE",
        value_delimiter = ',',
        value_name = "PREFIX"
    )]
    #[serde(default)]
    pub chart_repo_insecure: Vec<String>,
    /// Talk to the OCI registries under this URL prefix over plain HTTP (ArgoCD's
    /// `insecureOCIForceHttp`, Helm's `--plain-http`); repeat for several.
    #[arg(
        long = "chart-repo-plain-http",
        env = "STRATA_CHART_REPO_PLAIN_HTTP",
        value_delimiter = ',',
        value_name = "PREFIX"
    )]
    #[serde(default)]
    pub chart_repo_plain_http: Vec<String>,
    /// Read a repoURL without a scheme under this prefix as an OCI registry (ArgoCD's
    /// `enableOCI`), needed where ArgoCD reads no URL (`127.0.0.1:5000/charts`); repeat for
    /// several.
    #[arg(
        long = "chart-repo-enable-oci",
        env = "STRATA_CHART_REPO_ENABLE_OCI",
        value_delimiter = ',',
        value_name = "PREFIX"
    )]
    #[serde(default)]
    pub chart_repo_enable_oci: Vec<String>,
}

/// `strata health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// A file or a directory of saved live objects.
    pub path: PathBuf,
    /// Output format.
    #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(ALL), default_value = "human", value_name = "FORMAT")]
    pub output: Format,
    /// Exit 2 when the aggregate is not Healthy (0 Healthy, 1 error).
    #[arg(long, env = "STRATA_DETAILED_EXITCODE")]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub customizations: HealthCustomizationArgs,
}

/// Lua health customizations, where ArgoCD keeps them (`strata health`, `strata controller`).
#[derive(Debug, Clone, Default, Args)]
pub struct HealthCustomizationArgs {
    /// Lua health scripts laid out as ArgoCD's `resource_customizations/`
    /// (`<group>/<kind>/health.lua`, `_` for a wildcard; an argo-cd checkout works too). They
    /// stand where ArgoCD's bundled scripts stand: before Strata's built-in rules.
    #[arg(long, env = "STRATA_HEALTH_LUA_DIR", value_name = "DIR")]
    pub lua_dir: Option<PathBuf>,
    /// An `argocd-cm` ConfigMap (or its data map) whose
    /// `resource.customizations.health.<group>_<kind>` keys (and older
    /// `resource.customizations` map) hold Lua health scripts; they win over everything else.
    #[arg(
        long = "argocd-cm",
        env = "STRATA_HEALTH_ARGOCD_CM",
        value_name = "FILE"
    )]
    pub argocd_cm: Option<PathBuf>,
}

/// Which part of a stack a plan covers (Terraform's `-target`, `-replace`, `-refresh-only`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, serde::Serialize, serde::Deserialize)]
pub struct PlanSelection {
    /// Plan only this resource and what it depends on (a resource leaving the stack takes
    /// its dependents); `[group/]Kind/[namespace/]name`, as `strata state list` prints it.
    /// Repeat for several (comma-separated in `STRATA_TARGET`).
    #[arg(
        long = "target",
        env = "STRATA_TARGET",
        value_delimiter = ',',
        value_name = "KEY"
    )]
    pub targets: Vec<strata_core::ResourceKey>,
    /// Replace this resource even though nothing forces it (protection still refuses).
    /// Repeat for several (comma-separated in `STRATA_REPLACE`).
    #[arg(
        long,
        env = "STRATA_REPLACE",
        value_delimiter = ',',
        value_name = "KEY"
    )]
    pub replace: Vec<strata_core::ResourceKey>,
    /// Only accept the world into the state: show what changed outside Strata since the last
    /// apply; `apply --refresh-only` records it in the state and writes to no provider.
    #[arg(long, env = "STRATA_REFRESH_ONLY", conflicts_with_all = ["targets", "replace"])]
    pub refresh_only: bool,
}

/// `strata plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Which part of the stack to plan.
    #[command(flatten)]
    pub select: PlanSelection,
    /// Output format.
    #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(ALL), default_value = "human", value_name = "FORMAT")]
    pub output: Format,
    /// Exit 2 when the plan has changes (0 none, 1 error).
    #[arg(long, env = "STRATA_DETAILED_EXITCODE")]
    pub detailed_exitcode: bool,
    /// Adopt existing live objects that Strata does not own.
    #[arg(long, env = "STRATA_ADOPT")]
    pub adopt: bool,
    /// Plan the destruction of everything in the state.
    #[arg(long, env = "STRATA_DESTROY")]
    pub destroy: bool,
    /// Save the plan to FILE for `strata apply FILE` (which applies exactly this plan or
    /// refuses) and `strata show FILE`. Secret values are not saved.
    #[arg(long, env = "STRATA_PLAN_OUT", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The state lock.
    #[command(flatten)]
    pub lock: LockArgs,
}

/// How a command takes the state lock.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Take the state lock for the command (`--lock=false` to skip it, for a read-only plan
    /// while another run holds it).
    #[arg(long, env = "STRATA_LOCK", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub lock: bool,
    /// How long to wait for a lock another run holds (e.g. `30s`, `5m`); 0 fails at once.
    #[arg(long, env = "STRATA_LOCK_TIMEOUT", default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lock_timeout: std::time::Duration,
}

/// `strata validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The first path (a stack directory, a manifest file, or `-` for standard input), and
    /// the flags that choose providers as for `plan`.
    #[command(flatten)]
    pub stack: StackArgs,
    /// More stack directories and manifest files.
    #[arg(value_name = "PATH")]
    pub more: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(NO_MARKDOWN), default_value = "human", value_name = "FORMAT")]
    pub output: Format,
}

/// `strata ownership`.
#[derive(Debug, Args)]
pub struct OwnershipArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format.
    #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(ALL), default_value = "human", value_name = "FORMAT")]
    pub output: Format,
    /// Exit 2 when a resource has two managers (0 none, 1 error).
    #[arg(long, env = "STRATA_DETAILED_EXITCODE")]
    pub detailed_exitcode: bool,
}

/// `strata import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// The resource's address in the desired set.
    #[arg(value_name = "KEY")]
    pub key: strata_core::ResourceKey,
    /// The object's external name in the world (a bucket name, a DB identifier), when it
    /// differs from the address's name; the manifest must declare it as
    /// `crossplane.io/external-name`.
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    /// The state lock.
    #[command(flatten)]
    pub lock: LockArgs,
}

/// `strata show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan.
    pub file: PathBuf,
    /// Output format.
    #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(ALL), default_value = "human", value_name = "FORMAT")]
    pub output: Format,
}

/// `strata destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Destroy only this resource and what depends on it; `[group/]Kind/[namespace/]name`,
    /// as `strata state list` prints it. Repeat for several (comma-separated in
    /// `STRATA_TARGET`).
    #[arg(
        long = "target",
        env = "STRATA_TARGET",
        value_delimiter = ',',
        value_name = "KEY"
    )]
    pub targets: Vec<strata_core::ResourceKey>,
    /// Do not ask for confirmation.
    #[arg(long, env = "STRATA_AUTO_APPROVE")]
    pub auto_approve: bool,
    /// The state lock (held across plan, confirmation and destroy).
    #[command(flatten)]
    pub lock: LockArgs,
}

/// `strata apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Which part of the stack to apply.
    #[command(flatten)]
    pub select: PlanSelection,
    /// Do not ask for confirmation.
    #[arg(long, env = "STRATA_AUTO_APPROVE")]
    pub auto_approve: bool,
    /// After applying, also delete live Kubernetes objects labelled as this stack's that the
    /// desired set no longer holds, beyond those the state records (ArgoCD's prune;
    /// `Prune=false` and `PruneLast` are honoured). Needs the Kubernetes provider.
    #[arg(long, env = "STRATA_PRUNE")]
    pub prune: bool,
    /// Adopt existing live objects that Strata does not own.
    #[arg(long, env = "STRATA_ADOPT")]
    pub adopt: bool,
    /// Output format of the plan and the result.
    #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(ALL), default_value = "human", value_name = "FORMAT")]
    pub output: Format,
    /// The state lock (held across plan, confirmation and apply).
    #[command(flatten)]
    pub lock: LockArgs,
}

/// `strata drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format.
    #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(ALL), default_value = "human", value_name = "FORMAT")]
    pub output: Format,
    /// Exit 2 when there is drift (0 none, 1 error).
    #[arg(long, env = "STRATA_DETAILED_EXITCODE")]
    pub detailed_exitcode: bool,
}

/// `strata render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A file or directory holding the XRDs, compositions and the claims or composites.
    pub path: PathBuf,
    /// Show which patch and transforms produced each written field.
    #[arg(long, env = "STRATA_EXPLAIN")]
    pub explain: bool,
    /// Output format.
    #[arg(short, long, env = "STRATA_RENDER_OUTPUT", value_parser = formats(MANIFESTS), default_value = "yaml", value_name = "FORMAT")]
    pub output: Format,
    /// Skip pipeline steps whose function Strata cannot run (each skipped step is reported)
    /// instead of failing.
    #[arg(long)]
    pub skip_unsupported_steps: bool,
    /// A file or directory of EnvironmentConfigs the compositions' function-environment-configs
    /// steps select from, besides those found in PATH (like `crossplane render
    /// --extra-resources`); repeatable.
    #[arg(long = "extra-resources", value_name = "PATH")]
    pub extra_resources: Vec<PathBuf>,
}

/// Graph formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// The resources in apply order and the dependency edges, as JSON.
    Json,
    /// The same as YAML.
    Yaml,
    /// The Mermaid flowchart in a Markdown code block, for a pull-request comment.
    Markdown,
}

/// `strata graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format (`--format` is the older name).
    #[arg(short, long, alias = "format", env = "STRATA_GRAPH_FORMAT", value_enum, default_value_t = GraphFormat::Dot, value_name = "FORMAT")]
    pub output: GraphFormat,
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
#[non_exhaustive]
pub enum StateCommand {
    /// List the resources in the state.
    List {
        /// The stack.
        #[command(flatten)]
        target: StackArgs,
        /// The output form.
        #[command(flatten)]
        output: StateOutput,
    },
    /// Show one resource's record (sensitive values appear only as digests).
    Show {
        /// The stack.
        #[command(flatten)]
        target: StackArgs,
        /// The output form.
        #[command(flatten)]
        output: StateOutput,
        /// The resource's address, as `state list` prints it.
        address: String,
    },
    /// Take the state lock and print its ID.
    Lock {
        /// The stack.
        #[command(flatten)]
        target: StackArgs,
        /// Output format.
        #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(NO_MARKDOWN), default_value = "human", value_name = "FORMAT")]
        output: Format,
    },
    /// Release a lock you hold.
    Unlock {
        /// The stack.
        #[command(flatten)]
        target: StackArgs,
        /// The lock ID.
        id: String,
    },
    /// Release a lock held by someone else (a crashed run), given its ID.
    ForceUnlock {
        /// The stack.
        #[command(flatten)]
        target: StackArgs,
        /// The lock ID.
        id: String,
    },
    /// Forget resources: they stay in the world untouched. The next plan plans them as new
    /// (an object still carrying this stack's labels is taken over as it is; one without
    /// needs `strata import`). Takes the lock; the previous version is kept.
    Rm {
        /// The stack.
        #[command(flatten)]
        target: StackArgs,
        /// The resources' addresses.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<strata_core::ResourceKey>,
    },
    /// Record a resource under another address (after renaming it in Git when the object in
    /// the world stays the same). Takes the lock; the previous version is kept.
    Mv {
        /// The stack.
        #[command(flatten)]
        target: StackArgs,
        /// The recorded address.
        #[arg(value_name = "OLD")]
        from: strata_core::ResourceKey,
        /// The new address.
        #[arg(value_name = "NEW")]
        to: strata_core::ResourceKey,
    },
    /// The versions kept of the state (local: the history directory; S3: object versions).
    History {
        /// The stack.
        #[command(flatten)]
        target: StackArgs,
        /// The output form.
        #[command(flatten)]
        output: StateOutput,
    },
    /// Make an earlier version the current state, after showing what changes (refused for a
    /// version of another lineage). Takes the lock; the replaced version is kept.
    Restore {
        /// The stack.
        #[command(flatten)]
        target: StackArgs,
        /// The version, as `state history` lists it.
        #[arg(value_name = "SERIAL|VERSION")]
        version: String,
        /// Do not ask for confirmation.
        #[arg(long, env = "STRATA_AUTO_APPROVE")]
        auto_approve: bool,
    },
    /// Rebuild the state from the world: record the live objects carrying this stack's
    /// ownership labels that the desired set holds (as `import` would), and list the labelled
    /// ones it does not hold without recording them. Takes the lock; the replaced version is
    /// kept.
    Recover(Box<RecoverArgs>),
}

/// `strata state recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format.
    #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(NO_MARKDOWN), default_value = "human", value_name = "FORMAT")]
    pub output: Format,
    /// The state lock.
    #[command(flatten)]
    pub lock: LockArgs,
}

/// The output form of a `strata state` command that prints data.
#[derive(Debug, Args)]
pub struct StateOutput {
    /// Output format.
    #[arg(short, long, env = "STRATA_OUTPUT", value_parser = formats(ALL), default_value = "human", value_name = "FORMAT")]
    pub output: Format,
}

/// `strata generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A file holding one or more ApplicationSets.
    pub file: PathBuf,
    /// The repository tree git generators read (default: the nearest ancestor holding
    /// `argocd/`, else the Git work tree).
    #[arg(long, env = "STRATA_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Read the tree from its Git repository at this revision.
    #[arg(long, env = "STRATA_REVISION", value_name = "REV")]
    pub revision: Option<String>,
    /// Where the git generators' repositories are read from (the cache defaults to
    /// `<ROOT>/.strata/repos`).
    #[command(flatten)]
    pub repos: RepoArgs,
    /// Output format.
    #[arg(short, long, env = "STRATA_GENERATE_OUTPUT", value_parser = formats(MANIFESTS), default_value = "yaml", value_name = "FORMAT")]
    pub output: Format,
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

/// `strata controller`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// The kubeconfig context of the cluster the controller runs against (default: the
    /// current context, or the in-cluster service account).
    #[arg(long, env = "STRATA_CONTEXT")]
    pub context: Option<String>,
    /// The kubeconfig file (default: `KUBECONFIG`, else `~/.kube/config`, else the in-cluster
    /// service account).
    #[arg(long, env = "STRATA_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The namespace of Application and AppProject objects, cluster Secrets and states.
    #[arg(long, env = "STRATA_CONTROLLER_NAMESPACE", default_value = "argocd")]
    pub namespace: String,
    /// How often every Application is fetched and compared.
    #[arg(long, env = "STRATA_POLL_INTERVAL", default_value = "3m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub poll_interval: std::time::Duration,
    /// Where the webhook, Application API, /metrics, /healthz and /readyz listen.
    #[arg(
        long,
        env = "STRATA_LISTEN",
        default_value = "0.0.0.0:8080",
        value_name = "ADDR"
    )]
    pub listen: std::net::SocketAddr,
    /// Where repository mirrors are kept.
    #[arg(long, env = "STRATA_REPO_CACHE", value_name = "DIR")]
    pub repo_cache: Option<PathBuf>,
    /// A repository holding Applications and ApplicationSets (app of apps) besides those in
    /// the cluster.
    #[arg(long, env = "STRATA_GIT_ROOT", value_name = "URL")]
    pub git_root: Option<String>,
    /// The revision of --git-root.
    #[arg(
        long,
        env = "STRATA_GIT_ROOT_REVISION",
        default_value = "HEAD",
        value_name = "REV"
    )]
    pub git_root_revision: String,
    /// The directory of --git-root holding the Applications.
    #[arg(
        long,
        env = "STRATA_GIT_ROOT_PATH",
        default_value = ".",
        value_name = "PATH"
    )]
    pub git_root_path: String,
    /// Notification settings: an `argocd-notifications-cm` ConfigMap or its data map (YAML).
    #[arg(long, env = "STRATA_NOTIFICATIONS", value_name = "FILE")]
    pub notifications: Option<PathBuf>,
    /// Secrets the notification settings name as `$key`: an `argocd-notifications-secret`
    /// Secret or a YAML map.
    #[arg(long, env = "STRATA_NOTIFICATIONS_SECRET", value_name = "FILE")]
    pub notifications_secret: Option<PathBuf>,
    /// The secret GitHub signs webhooks with (X-Hub-Signature-256); unsigned pushes are refused.
    #[arg(long, env = "STRATA_WEBHOOK_SECRET_GITHUB", hide_env_values = true)]
    pub webhook_secret_github: Option<String>,
    /// The token GitLab sends with webhooks (X-Gitlab-Token); pushes without it are refused.
    #[arg(long, env = "STRATA_WEBHOOK_SECRET_GITLAB", hide_env_values = true)]
    pub webhook_secret_gitlab: Option<String>,
    /// The Authorization header Harbor sends with webhooks (ArgoCD's `webhook.harbor.secret`);
    /// without it, Harbor's registry webhooks are not recognised.
    #[arg(long, env = "STRATA_WEBHOOK_SECRET_HARBOR", hide_env_values = true)]
    pub webhook_secret_harbor: Option<String>,
    /// Elect a leader among replicas (a Lease in --namespace); only the leader reconciles.
    #[arg(long, env = "STRATA_LEADER_ELECT")]
    pub leader_elect: bool,
    #[command(flatten)]
    pub health_customizations: HealthCustomizationArgs,
    /// Applications reconciled at once.
    #[arg(long, env = "STRATA_WORKERS", default_value_t = 10)]
    pub workers: usize,
    /// Where Application states are kept: `kubernetes` (a Secret per Application in
    /// --namespace) or `local` (files beside the repository cache).
    #[arg(long, env = "STRATA_STATE_STORE", value_enum, default_value_t = StateStoreKind::Kubernetes)]
    pub state_store: StateStoreKind,
}

/// Where the controller keeps Application states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum StateStoreKind {
    /// A Secret per Application in the controller's namespace.
    Kubernetes,
    /// A file per Application beside the repository cache.
    Local,
}

/// `strata app`.
#[derive(Debug, Args)]
pub struct AppArgs {
    /// The controller's address.
    #[arg(
        long,
        env = "STRATA_CONTROLLER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// Output format.
    #[arg(short, long, env = "STRATA_APP_OUTPUT", value_parser = formats(NO_MARKDOWN), default_value = "human", value_name = "FORMAT", global = true)]
    pub output: Format,
    /// What to do.
    #[command(subcommand)]
    pub command: AppCommand,
}

/// `strata app` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum AppCommand {
    /// Every Application with its sync and health status.
    List,
    /// One Application: source, destination, status, resources, last operation, history.
    Get {
        /// The Application.
        name: String,
    },
    /// Fetch and compare an Application now.
    Refresh {
        /// The Application.
        name: String,
    },
    /// Sync an Application now and wait for the result (exit 1 when it fails).
    Sync {
        /// The Application.
        name: String,
        /// Delete what left Git.
        #[arg(long)]
        prune: bool,
        /// Show what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this resource (`group/Kind:namespace/name` or `Kind/name`); repeatable.
        #[arg(long = "resource", value_name = "KEY")]
        resources: Vec<String>,
        /// Sync this revision instead of targetRevision.
        #[arg(long, value_name = "REV")]
        revision: Option<String>,
    },
    /// Sync an Application to the revision of a history entry (`strata app get` lists them).
    Rollback {
        /// The Application.
        name: String,
        /// The history entry's id.
        id: u64,
    },
}
