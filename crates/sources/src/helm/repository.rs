//! Charts from Helm repositories and OCI registries (ArgoCD's `repoURL` + `chart` +
//! `targetRevision`), kept in a cache directory by digest so that the next render reads them
//! from disk.
//!
//! * Helm repositories (`http://`, `https://`): the repository's `index.yaml`, the version
//!   picked as Helm picks it (an exact version first, else the highest version satisfying
//!   `targetRevision` as a semver constraint, `""` or `*` meaning the latest release), the
//!   archive downloaded and its SHA-256 checked against the index's `digest`.
//! * OCI registries (`oci://host[:port]/path`, or ArgoCD's form without a scheme,
//!   `host/path`): the chart is the repository `<path>/<chart>`; an exact version is the tag
//!   (`+` written `_`, as Helm pushes it), a range is matched against the tags the registry
//!   lists (`/v2/<name>/tags/list`) as Helm matches them; the OCI image manifest's layer of
//!   media type `application/vnd.cncf.helm.chart.content.v1.tar+gzip` is downloaded and its
//!   SHA-256 checked against its digest. HTTPS unless the repository's settings say
//!   [`RepositorySettings::force_http`] (ArgoCD's `insecureOCIForceHttp`); anonymous, basic or
//!   token (`WWW-Authenticate: Bearer realm=...`) authentication.
//!
//! Credentials come from the URL (`https://user:pass@host/...`) or from the
//! [`RepositorySettings`] of the longest matching URL prefix, and are never shown: every URL in
//! an error is redacted. TLS: the platform's trusted roots, plus a CA bundle
//! ([`RepositorySettings::ca_data`]), a client certificate, or no verification at all
//! ([`RepositorySettings::insecure`], ArgoCD's `insecure`).
//!
//! The network client is `reqwest` behind this crate's `http` feature (off by default, so that
//! the crate stays free of hyper and rustls); without it every download is refused with
//! [`ChartRepoError::NoHttpClient`] (charts already in the cache are still read).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::repo::redact;

/// Why a chart could not be fetched from a Helm repository. URLs are shown redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartRepoError {
    /// A URL scheme other than `http://`, `https://` and `oci://`.
    #[error(
        "{url}: unsupported repository URL scheme (Strata fetches Helm repositories over http:// and https://, OCI registries as oci://)"
    )]
    UnsupportedScheme {
        /// The URL.
        url: String,
    },
    /// A `repoURL` without a scheme that ArgoCD reads as an OCI registry only with
    /// `enableOCI` (its first path segment holds a colon, which Go's `url.Parse` refuses:
    /// `127.0.0.1:5000/charts`), and whose repository does not have it.
    #[error(
        "{url}: a repoURL without a scheme whose first path segment holds a colon (an IP address with a port) is read as an OCI registry only with enableOCI: true on its repository (ArgoCD's repository Secret; --chart-repo-enable-oci for the CLI); write it as oci://{url} or set enableOCI"
    )]
    NeedsEnableOci {
        /// The URL.
        url: String,
    },
    /// The URL could not be read.
    #[error("{url}: not a repository URL: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Strata was built without an HTTP client (the `http` feature of `stratagit-sources`).
    #[error(
        "GET {url}: this build of Strata has no HTTP client (the `http` feature of stratagit-sources is off)"
    )]
    NoHttpClient {
        /// The URL.
        url: String,
    },
    /// The TLS settings (CA bundle, client certificate) could not be used.
    #[error("{url}: TLS settings: {}", causes(source.as_ref()))]
    Tls {
        /// The repository URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Connecting, the TLS handshake (an untrusted certificate), sending or receiving failed.
    #[error("GET {url}: {}", causes(source.as_ref()))]
    Request {
        /// The URL.
        url: String,
        /// The cause (the URL left out: it is shown redacted above).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A registry's token service refused to give a token.
    #[error("GET {url}: the token service {realm} answered {status}")]
    Auth {
        /// The URL that asked for a token.
        url: String,
        /// The token service.
        realm: String,
        /// Its answer.
        status: String,
    },
    /// An answer that should be JSON (a registry's manifest, tag list or token) is not.
    #[error("{url}: not the JSON expected: {source}")]
    Json {
        /// The URL.
        url: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The registry has no such tag (no such chart version).
    #[error(
        "chart {chart} version {version} not found in OCI registry {registry} ({url}: {status})"
    )]
    UnknownTag {
        /// The registry and repository (`oci://host/path`).
        registry: String,
        /// The chart.
        chart: String,
        /// The version (tag) asked for.
        version: String,
        /// The manifest URL.
        url: String,
        /// The registry's answer.
        status: String,
    },
    /// The manifest is not a Helm chart's OCI manifest.
    #[error("chart {chart} {version} in OCI registry {registry}: {reason}")]
    Manifest {
        /// The registry and repository.
        registry: String,
        /// The chart.
        chart: String,
        /// The version.
        version: String,
        /// What is wrong.
        reason: String,
    },
    /// Connecting, sending or receiving failed.
    #[error("GET {url}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server answered with an error status, or not with HTTP.
    #[error("GET {url}: {status}")]
    Http {
        /// The URL.
        url: String,
        /// The status line (or what was wrong with the response).
        status: String,
    },
    /// A response larger than the limit.
    #[error("GET {url}: response larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// `index.yaml` is not a Helm repository index.
    #[error("{url}: not a Helm repository index: {reason}")]
    Index {
        /// The index URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// `index.yaml` is not YAML.
    #[error("{url}: not a Helm repository index: {source}")]
    IndexYaml {
        /// The index URL.
        url: String,
        /// The parse error.
        #[source]
        source: strata_core::yaml::YamlError,
    },
    /// The index has no such chart.
    #[error("chart {chart} not found in repository {repo}")]
    UnknownChart {
        /// The repository.
        repo: String,
        /// The chart.
        chart: String,
    },
    /// No version of the chart matches.
    #[error(
        "chart {chart} in repository {repo}: no version matches {constraint:?} (versions: {available})"
    )]
    NoMatchingVersion {
        /// The repository.
        repo: String,
        /// The chart.
        chart: String,
        /// `targetRevision`.
        constraint: String,
        /// The versions the index lists, joined by `, `.
        available: String,
    },
    /// The index gives no digest for the version picked (Strata verifies every download).
    #[error(
        "chart {chart} {version} in repository {repo}: the index gives no digest to verify the archive"
    )]
    MissingDigest {
        /// The repository.
        repo: String,
        /// The chart.
        chart: String,
        /// The version.
        version: String,
    },
    /// The downloaded archive's SHA-256 is not the digest the index (or the OCI manifest) gives.
    #[error(
        "chart {chart} {version} from {url}: digest mismatch: expected sha256 {expected}, the archive is {actual}"
    )]
    DigestMismatch {
        /// The chart.
        chart: String,
        /// The version.
        version: String,
        /// The archive URL.
        url: String,
        /// The index's digest.
        expected: String,
        /// The archive's.
        actual: String,
    },
    /// The cache directory could not be written.
    #[error("chart cache {path}: {source}")]
    Cache {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A chart archive fetched (or read from the cache) and verified.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchedChart {
    /// The chart's name.
    pub name: String,
    /// The version picked.
    pub version: String,
    /// The archive's SHA-256 (hex), as the index gives it.
    pub digest: String,
    /// The archive (`.tgz`).
    pub archive: Vec<u8>,
    /// Whether it came from the cache (no download).
    pub cached: bool,
}

/// How to reach one repository or registry: ArgoCD's repository settings that matter for
/// downloading charts. Never shown: `Debug` leaves the secrets out.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepositorySettings {
    /// User name and password (or token) for basic authentication (ArgoCD's `username` and
    /// `password`); credentials in the URL win.
    pub credentials: Option<(String, String)>,
    /// PEM certificates trusted besides the platform's roots (ArgoCD's TLS certificates for the
    /// repository's host).
    pub ca_data: Option<Vec<u8>>,
    /// A PEM client certificate and its PEM key (ArgoCD's `tlsClientCertData` and
    /// `tlsClientCertKey`).
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// Skip verifying the server's certificate (ArgoCD's `insecure`).
    pub insecure: bool,
    /// Talk to an OCI registry over plain HTTP (ArgoCD's `insecureOCIForceHttp`, Helm's
    /// `--plain-http`).
    pub force_http: bool,
    /// Read a `repoURL` without a scheme as an OCI registry (ArgoCD's `enableOCI`). ArgoCD
    /// reads such a URL as one anyway when Go's `url.Parse` takes it (`host/path`,
    /// `host:port/path` with a host name); one it does not take (`127.0.0.1:5000/path`, whose
    /// first path segment holds a colon) needs this.
    pub enable_oci: bool,
}

impl std::fmt::Debug for RepositorySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositorySettings")
            .field("username", &self.credentials.as_ref().map(|(u, _)| u))
            .field("ca_data", &self.ca_data.as_ref().map(Vec::len))
            .field("client_cert", &self.client_cert.is_some())
            .field("insecure", &self.insecure)
            .field("force_http", &self.force_http)
            .field("enable_oci", &self.enable_oci)
            .finish()
    }
}

impl RepositorySettings {
    /// No credentials, the platform's roots, HTTPS.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`credentials`](Self::credentials).
    pub fn with_credentials(mut self, username: &str, password: &str) -> Self {
        self.credentials = Some((username.to_string(), password.to_string()));
        self
    }

    /// Sets [`ca_data`](Self::ca_data) (PEM).
    pub fn with_ca_data(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_data = Some(pem.into());
        self
    }

    /// Sets [`enable_oci`](Self::enable_oci).
    pub fn with_enable_oci(mut self, enable_oci: bool) -> Self {
        self.enable_oci = enable_oci;
        self
    }

    /// Sets [`client_cert`](Self::client_cert) (PEM certificate and key).
    pub fn with_client_cert(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Sets [`insecure`](Self::insecure).
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Sets [`force_http`](Self::force_http).
    pub fn with_force_http(mut self, force_http: bool) -> Self {
        self.force_http = force_http;
        self
    }

    /// The basic credentials for `url`: its user information (percent-decoded), else these
    /// settings' credentials.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn basic_auth(&self, url: &str) -> Option<(String, String)> {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or(rest);
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let decode = |s: &str| String::from_utf8_lossy(&percent_decode(s)).into_owned();
            return Some((decode(user), decode(password)));
        }
        self.credentials.clone()
    }
}

/// A URL prefix as a key: no scheme, no user information, the host lower-cased, no trailing
/// slash.
/// Whether ArgoCD's repo server reads the `repoURL` (without `://`) of a chart source as an
/// OCI registry whatever its repository says (`helm.IsHelmOciRepo`): Go's `url.Parse` takes
/// it and finds no host. It takes `host/path` (no scheme) and `name:port/path` (a scheme
/// `name` and an opaque rest), and refuses a first path segment holding a colon when the text
/// starts with no scheme (`127.0.0.1:5000/path`, `[::1]:5000/path`), control characters and
/// bad `%` escapes.
pub fn argocd_reads_as_oci(url: &str) -> bool {
    if url.is_empty() || url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    let text = url.split_once('#').map_or(url, |(before, _)| before);
    let text = text.split_once('?').map_or(text, |(before, _)| before);
    let mut scheme_end = None;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return false,
            b':' => {
                scheme_end = Some(i);
                break;
            }
            _ => break,
        }
    }
    let rest = match scheme_end {
        Some(i) => &text[i + 1..],
        None => text,
    };
    if rest.starts_with("//") {
        // An authority: a host.
        return false;
    }
    if scheme_end.is_none()
        && rest
            .split('/')
            .next()
            .is_some_and(|first| first.contains(':'))
    {
        return false;
    }
    let bytes = rest.as_bytes();
    bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

fn prefix_key(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_ascii_lowercase();
    format!("{host}{}", path.trim_end_matches('/'))
}

/// Fetches charts from Helm repositories and OCI registries into a cache directory.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChartRepositories {
    /// Where archives are kept, as `sha256-<digest>.tgz`.
    pub cache_dir: PathBuf,
    /// The largest response read (index, manifest or archive); default 100 MiB, Helm's chart
    /// limit.
    pub max_bytes: u64,
    /// The timeout of each request, from connecting to the last byte; default 120 s.
    pub timeout: Duration,
    /// Settings by URL prefix (compared without scheme and user information); the longest
    /// matching prefix wins.
    pub settings: Vec<(String, RepositorySettings)>,
}

/// The media type of a Helm chart's archive in an OCI manifest.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

impl ChartRepositories {
    /// Fetches into `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        ChartRepositories {
            cache_dir: cache_dir.into(),
            max_bytes: 100 << 20,
            timeout: Duration::from_secs(120),
            settings: Vec::new(),
        }
    }

    /// Uses `settings` for the repositories whose URL starts with `prefix`.
    pub fn with_settings(mut self, prefix: &str, settings: RepositorySettings) -> Self {
        self.settings.push((prefix_key(prefix), settings));
        self
    }

    /// The settings for `url`: those of the longest matching prefix (the last given among
    /// equals), else the defaults; without credentials of their own, those of the longest
    /// matching prefix that has some.
    pub fn settings_for(&self, url: &str) -> RepositorySettings {
        let key = prefix_key(url);
        let matching = || {
            self.settings
                .iter()
                .filter(|(p, _)| key == *p || key.starts_with(&format!("{p}/")) || p.is_empty())
        };
        let mut settings = matching()
            .max_by_key(|(p, _)| p.len())
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        if settings.credentials.is_none() {
            settings.credentials = matching()
                .filter(|(_, s)| s.credentials.is_some())
                .max_by_key(|(p, _)| p.len())
                .and_then(|(_, s)| s.credentials.clone());
        }
        settings
    }

    fn client(&self, url: &str) -> Result<Client, ChartRepoError> {
        Client::new(url, &self.settings_for(url), self.timeout, self.max_bytes)
    }

    /// The chart `chart` of the repository (or OCI registry) at `repo_url`, version
    /// `target_revision`. Callable inside an async runtime: the download runs on a thread of
    /// its own.
    pub fn fetch(
        &self,
        repo_url: &str,
        chart: &str,
        target_revision: &str,
    ) -> Result<FetchedChart, ChartRepoError> {
        // reqwest's blocking client starts and stops a runtime of its own, which tokio refuses
        // inside another runtime (the CLI renders inside one): it lives on another thread.
        #[cfg(feature = "http")]
        {
            std::thread::scope(|scope| {
                scope
                    .spawn(|| self.fetch_here(repo_url, chart, target_revision))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        }
        #[cfg(not(feature = "http"))]
        {
            self.fetch_here(repo_url, chart, target_revision)
        }
    }

    fn fetch_here(
        &self,
        repo_url: &str,
        chart: &str,
        target_revision: &str,
    ) -> Result<FetchedChart, ChartRepoError> {
        let base = repo_url.trim_end_matches('/');
        match base.split_once("://") {
            Some(("oci", rest)) => self.fetch_oci(rest, chart, target_revision),
            None if self.settings_for(base).enable_oci || argocd_reads_as_oci(base) => {
                self.fetch_oci(base, chart, target_revision)
            }
            None => Err(ChartRepoError::NeedsEnableOci { url: redact(base) }),
            Some((scheme, _))
                if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
            {
                self.fetch_index(base, chart, target_revision)
            }
            Some(_) => Err(ChartRepoError::UnsupportedScheme { url: redact(base) }),
        }
    }

    fn fetch_index(
        &self,
        base: &str,
        chart: &str,
        target_revision: &str,
    ) -> Result<FetchedChart, ChartRepoError> {
        if let Some(found) = self.pinned(base, chart, target_revision) {
            return Ok(found);
        }
        let shown = redact(base);
        let client = self.client(base)?;
        let index_url = format!("{base}/index.yaml");
        let index_bytes = client.get(&index_url, &[])?;
        let index: Value = strata_core::yaml::from_str(&String::from_utf8_lossy(&index_bytes))
            .map_err(|source| ChartRepoError::IndexYaml {
                url: redact(&index_url),
                source,
            })?;
        let entries = index
            .get("entries")
            .and_then(Value::as_object)
            .ok_or_else(|| ChartRepoError::Index {
                url: redact(&index_url),
                reason: "no entries".to_string(),
            })?;
        let versions = entries
            .get(chart)
            .and_then(Value::as_array)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ChartRepoError::UnknownChart {
                repo: shown.clone(),
                chart: chart.to_string(),
            })?;
        let listed: Vec<&str> = versions
            .iter()
            .map(|v| v.get("version").and_then(Value::as_str).unwrap_or_default())
            .collect();
        let entry = pick_version(&listed, target_revision)
            .map(|i| &versions[i])
            .ok_or_else(|| ChartRepoError::NoMatchingVersion {
                repo: shown.clone(),
                chart: chart.to_string(),
                constraint: target_revision.to_string(),
                available: listed.join(", "),
            })?;
        let version = entry
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let digest = entry
            .get("digest")
            .and_then(Value::as_str)
            .and_then(sha256_hex)
            .ok_or_else(|| ChartRepoError::MissingDigest {
                repo: shown.clone(),
                chart: chart.to_string(),
                version: version.clone(),
            })?;
        if let Some(found) = self.cached(base, chart, &version, &digest)? {
            return Ok(found);
        }
        let url = entry
            .get("urls")
            .and_then(Value::as_array)
            .and_then(|u| u.first())
            .and_then(Value::as_str)
            .ok_or_else(|| ChartRepoError::Index {
                url: redact(&index_url),
                reason: format!("{chart} {version}: no urls"),
            })?;
        let url = if url.contains("://") {
            url.to_string()
        } else {
            format!("{base}/{}", url.trim_start_matches("./"))
        };
        let archive = client.get(&url, &[])?;
        self.store(base, chart, version, digest, &url, archive)
    }

    /// A chart from the OCI registry `reference` (`host[:port]/path`, no scheme).
    fn fetch_oci(
        &self,
        reference: &str,
        chart: &str,
        target_revision: &str,
    ) -> Result<FetchedChart, ChartRepoError> {
        let base = format!("oci://{reference}");
        if let Some(found) = self.pinned(&base, chart, target_revision) {
            return Ok(found);
        }
        let shown = redact(&base);
        let (authority, path) = reference.split_at(reference.find('/').unwrap_or(reference.len()));
        if authority.is_empty() || authority.ends_with('@') {
            return Err(ChartRepoError::BadUrl {
                url: shown,
                reason: "no registry host".to_string(),
            });
        }
        // The settings of the chart's own repository (`oci://host/charts/web`, as an `oci://`
        // source names it) or of any prefix of it (`oci://host/charts`, as a Helm OCI
        // repository names it).
        let settings = self.settings_for(&format!("{base}/{chart}"));
        let scheme = if settings.force_http { "http" } else { "https" };
        let name = format!("{}/{chart}", path.trim_matches('/'))
            .trim_start_matches('/')
            .to_string();
        let api = format!("{scheme}://{authority}/v2/{name}");
        let client = Client::new(&base, &settings, self.timeout, self.max_bytes)?;
        let target = target_revision.trim();
        let exact =
            !target.is_empty() && semver::Version::parse(target.trim_start_matches('v')).is_ok();
        let version = if exact {
            target.to_string()
        } else {
            let tags = self.oci_tags(&client, &api)?;
            let versions: Vec<String> = tags.iter().map(|t| t.replace('_', "+")).collect();
            let listed: Vec<&str> = versions.iter().map(String::as_str).collect();
            let picked =
                pick_version(&listed, target).ok_or_else(|| ChartRepoError::NoMatchingVersion {
                    repo: shown.clone(),
                    chart: chart.to_string(),
                    constraint: target_revision.to_string(),
                    available: listed.join(", "),
                })?;
            versions[picked].clone()
        };
        let manifest_url = format!("{api}/manifests/{}", version.replace('+', "_"));
        let response = client.request(&manifest_url, &[OCI_MANIFEST])?;
        if response.status != 200 && response.status != 404 {
            return Err(ChartRepoError::Http {
                url: redact(&manifest_url),
                status: response.status_text,
            });
        }
        if response.status == 404 {
            return Err(ChartRepoError::UnknownTag {
                registry: shown,
                chart: chart.to_string(),
                version,
                url: redact(&manifest_url),
                status: response.status_text.clone(),
            });
        }
        let manifest: Value =
            serde_json::from_slice(&response.body).map_err(|source| ChartRepoError::Json {
                url: redact(&manifest_url),
                source,
            })?;
        let bad = |reason: String| ChartRepoError::Manifest {
            registry: shown.clone(),
            chart: chart.to_string(),
            version: version.clone(),
            reason,
        };
        let layer = manifest
            .get("layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|l| l.get("mediaType").and_then(Value::as_str) == Some(HELM_CHART_LAYER))
            .ok_or_else(|| {
                let media_type = |v: Option<&Value>| {
                    v.and_then(|v| v.get("mediaType"))
                        .and_then(Value::as_str)
                        .unwrap_or("none")
                        .to_string()
                };
                let layers: Vec<String> = manifest
                    .get("layers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|l| media_type(Some(l)))
                    .collect();
                bad(format!(
                    "the manifest has no layer of media type {HELM_CHART_LAYER}: the artifact is not a Helm chart (config media type {}, layers [{}]); OCI artifacts of plain manifests (ArgoCD 3's oci:// sources that are not charts) are not supported",
                    media_type(manifest.get("config")),
                    layers.join(", ")
                ))
            })?;
        let digest = layer
            .get("digest")
            .and_then(Value::as_str)
            .filter(|d| d.starts_with("sha256:"))
            .and_then(sha256_hex)
            .ok_or_else(|| bad("the chart layer has no sha256 digest".to_string()))?;
        if let Some(found) = self.cached(&base, chart, &version, &digest)? {
            return Ok(found);
        }
        let blob_url = format!("{api}/blobs/sha256:{digest}");
        let archive = client.get(&blob_url, &[])?;
        self.store(&base, chart, version, digest, &blob_url, archive)
    }

    /// The tags of the OCI repository at `api` (`<scheme>://host/v2/<name>`), following
    /// `Link` pages.
    fn oci_tags(&self, client: &Client, api: &str) -> Result<Vec<String>, ChartRepoError> {
        let origin = origin_of(api);
        let mut url = format!("{api}/tags/list");
        let mut tags = Vec::new();
        for _ in 0..100 {
            let response = client.request(&url, &["application/json"])?;
            if response.status != 200 {
                return Err(ChartRepoError::Http {
                    url: redact(&url),
                    status: response.status_text.clone(),
                });
            }
            let page: Value =
                serde_json::from_slice(&response.body).map_err(|source| ChartRepoError::Json {
                    url: redact(&url),
                    source,
                })?;
            tags.extend(
                page.get("tags")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string),
            );
            match response.next.clone() {
                Some(next) if next.starts_with('/') => url = format!("{origin}{next}"),
                Some(next) => url = next,
                None => break,
            }
        }
        Ok(tags)
    }

    /// The archive with `digest`, from the cache when it is there and verifies (and then
    /// pinned as `chart` `version` of `base`).
    fn cached(
        &self,
        base: &str,
        chart: &str,
        version: &str,
        digest: &str,
    ) -> Result<Option<FetchedChart>, ChartRepoError> {
        let cached_path = self.cache_dir.join(format!("sha256-{digest}.tgz"));
        if let Ok(bytes) = std::fs::read(&cached_path)
            && hex::encode(Sha256::digest(&bytes)) == digest
        {
            self.pin(base, chart, version, digest)?;
            return Ok(Some(FetchedChart {
                name: chart.to_string(),
                version: version.to_string(),
                digest: digest.to_string(),
                archive: bytes,
                cached: true,
            }));
        }
        Ok(None)
    }

    /// Verifies a downloaded `archive` against `digest`, keeps it in the cache and pins it.
    fn store(
        &self,
        base: &str,
        chart: &str,
        version: String,
        digest: String,
        url: &str,
        archive: Vec<u8>,
    ) -> Result<FetchedChart, ChartRepoError> {
        let actual = hex::encode(Sha256::digest(&archive));
        if actual != digest {
            return Err(ChartRepoError::DigestMismatch {
                chart: chart.to_string(),
                version,
                url: redact(url),
                expected: digest,
                actual,
            });
        }
        write_atomically(
            &self.cache_dir.join(format!("sha256-{digest}.tgz")),
            &archive,
        )?;
        self.pin(base, chart, &version, &digest)?;
        Ok(FetchedChart {
            name: chart.to_string(),
            version,
            digest,
            archive,
            cached: false,
        })
    }

    /// Where the digest of `chart` `version` from the repository `base` is recorded once
    /// fetched: `<cache_dir>/pins/<sha256 of repository, chart and version>`.
    fn pin_path(&self, base: &str, chart: &str, version: &str) -> PathBuf {
        let key = Sha256::digest(format!("{base}\0{chart}\0{version}").as_bytes());
        self.cache_dir.join("pins").join(hex::encode(key))
    }

    /// Records that `chart` `version` of `base` is the archive with `digest`.
    fn pin(
        &self,
        base: &str,
        chart: &str,
        version: &str,
        digest: &str,
    ) -> Result<(), ChartRepoError> {
        let path = self.pin_path(base, chart, version);
        if std::fs::read_to_string(&path).is_ok_and(|d| d == digest) {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| ChartRepoError::Cache {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        write_atomically(&path, digest.as_bytes())
    }

    /// An exact version (`1.2.0`, not a range) already fetched from `base`: its archive from the
    /// cache, without asking the repository (a released chart version does not change, as Helm
    /// and ArgoCD assume when they cache by version). `None` for ranges, versions never fetched,
    /// and a record or archive that is missing or does not verify (then the repository is asked).
    fn pinned(&self, base: &str, chart: &str, target_revision: &str) -> Option<FetchedChart> {
        let version = target_revision.trim();
        semver::Version::parse(version.trim_start_matches('v')).ok()?;
        let digest = std::fs::read_to_string(self.pin_path(base, chart, version)).ok()?;
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let archive = std::fs::read(self.cache_dir.join(format!("sha256-{digest}.tgz"))).ok()?;
        (hex::encode(Sha256::digest(&archive)) == digest).then(|| FetchedChart {
            name: chart.to_string(),
            version: version.to_string(),
            digest,
            archive,
            cached: true,
        })
    }
}

/// An error and its causes, `: `-separated (an HTTP client's own message says little: the
/// cause that matters, an untrusted certificate or a refused connection, is deeper).
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = cause.source();
    }
    text
}

/// `sha256:<hex>` or `<hex>` as 64 lower-case hex digits.
fn sha256_hex(digest: &str) -> Option<String> {
    let d = digest.trim_start_matches("sha256:").to_ascii_lowercase();
    (d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit())).then_some(d)
}

fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split('/').next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        }
        None => url.to_string(),
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The version Helm picks for `target` among `versions` (its index): an exact version
/// first, else the highest version satisfying `target` as a constraint (`""`: `*`, the latest
/// release).
fn pick_version(versions: &[&str], target: &str) -> Option<usize> {
    let target = target.trim();
    if !target.is_empty()
        && let Some(exact) = versions.iter().position(|v| *v == target)
    {
        return Some(exact);
    }
    // `*` (and no version at all): any release, no prereleases.
    let any = matches!(target, "" | "*" | "x" | "X");
    let mut matching: Vec<(semver::Version, usize)> = versions
        .iter()
        .enumerate()
        .filter_map(|(i, text)| {
            let parsed = semver::Version::parse(text.trim_start_matches('v')).ok()?;
            let fits = if any {
                parsed.pre.is_empty()
            } else {
                strata_gotemplate::helm::semver_satisfies(target, text).unwrap_or(false)
            };
            fits.then_some((parsed, i))
        })
        .collect();
    matching.sort_by(|a, b| a.0.cmp(&b.0));
    matching.pop().map(|(_, i)| i)
}

/// An HTTP answer, read whole (within the size limit).
pub(crate) struct Response {
    /// The status code.
    pub(crate) status: u16,
    /// The status as shown (`404 Not Found`).
    pub(crate) status_text: String,
    /// The `Link: <...>; rel="next"` target, when there is one (paged tag lists).
    pub(crate) next: Option<String>,
    /// The body.
    pub(crate) body: Vec<u8>,
}

#[cfg(feature = "http")]
use super::http::Client;

/// Without the `http` feature: every download refused by name.
#[cfg(not(feature = "http"))]
struct Client;

#[cfg(not(feature = "http"))]
impl Client {
    fn new(
        _url: &str,
        _settings: &RepositorySettings,
        _timeout: Duration,
        _max_bytes: u64,
    ) -> Result<Client, ChartRepoError> {
        Ok(Client)
    }

    fn get(&self, url: &str, _accept: &[&str]) -> Result<Vec<u8>, ChartRepoError> {
        Err(ChartRepoError::NoHttpClient { url: redact(url) })
    }

    fn request(&self, url: &str, _accept: &[&str]) -> Result<Response, ChartRepoError> {
        Err(ChartRepoError::NoHttpClient { url: redact(url) })
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ChartRepoError> {
    let cache = |source| ChartRepoError::Cache {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(cache)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(cache)?;
    std::fs::rename(&tmp, path).map_err(cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_less_urls_are_oci_where_argocd_reads_them_so() {
        for url in [
            "registry.example.com/charts",
            "registry.example.com:5000/charts",
            "localhost:5000/charts",
            "ghcr.io",
        ] {
            assert!(argocd_reads_as_oci(url), "{url}");
        }
        for url in [
            "127.0.0.1:5000/charts",
            "[::1]:5000/charts",
            ":5000/charts",
            "//registry.example.com/charts",
            "registry.example.com/a%zz",
            "",
        ] {
            assert!(!argocd_reads_as_oci(url), "{url}");
        }
    }

    fn picked(versions: &[&str], target: &str) -> Option<String> {
        pick_version(versions, target).map(|i| versions[i].to_string())
    }

    #[test]
    fn settings_are_those_of_the_longest_prefix_with_credentials_filled_in() {
        let charts = ChartRepositories::new("/nowhere")
            .with_settings(
                "https://charts.example.com",
                RepositorySettings::new().with_credentials("team", "s1"),
            )
            .with_settings(
                "oci://charts.example.com/private/",
                RepositorySettings::new().with_insecure(true),
            )
            .with_settings(
                "https://other.example.com/a",
                RepositorySettings::new().with_force_http(true),
            );
        let private = charts.settings_for("oci://u:p@Charts.example.com/private/metrics");
        assert!(private.insecure);
        assert_eq!(
            private.credentials,
            Some(("team".to_string(), "s1".to_string()))
        );
        let public = charts.settings_for("https://charts.example.com/public");
        assert!(!public.insecure);
        assert!(public.credentials.is_some());
        assert!(
            !charts
                .settings_for("https://other.example.com/ab")
                .force_http
        );
        assert!(
            charts
                .settings_for("https://other.example.com/a/b")
                .force_http
        );
        assert_eq!(
            RepositorySettings::new()
                .with_credentials("x", "y")
                .basic_auth("https://robot:p%40ss@h/"),
            Some(("robot".to_string(), "p@ss".to_string()))
        );
        assert!(
            !format!(
                "{:?}",
                RepositorySettings::new().with_credentials("x", "secret")
            )
            .contains("secret")
        );
    }

    #[test]
    fn versions_are_picked_as_helm_picks_them() {
        let all = ["1.2.0", "1.10.0", "2.0.0-rc.1", "1.9.3", "0.4.0"];
        assert_eq!(picked(&all, "").as_deref(), Some("1.10.0"));
        assert_eq!(picked(&all, "*").as_deref(), Some("1.10.0"));
        assert_eq!(picked(&all, "1.2.0").as_deref(), Some("1.2.0"));
        assert_eq!(picked(&all, "2.0.0-rc.1").as_deref(), Some("2.0.0-rc.1"));
        assert_eq!(picked(&all, "~1.9").as_deref(), Some("1.9.3"));
        assert_eq!(picked(&all, ">=1.0.0, <1.10.0").as_deref(), Some("1.9.3"));
        assert_eq!(picked(&all, "^0.4").as_deref(), Some("0.4.0"));
        assert_eq!(picked(&all, ">=3.0.0"), None);
    }
}
