//! Charts from Helm repositories (ArgoCD's `repoURL` + `chart` + `targetRevision`): the
//! repository's `index.yaml` fetched over HTTP, the version picked as Helm picks it (an exact
//! version first, else the highest version satisfying `targetRevision` as a semver
//! constraint, `""` or `*` meaning the latest release), the archive downloaded, its SHA-256
//! checked against the index's `digest`, and kept in a cache directory by digest so that the
//! next render reads it from disk.
//!
//! Plain `http://` only, with basic credentials from the URL (`http://user:pass@host/...`,
//! never shown in errors); `https://` repositories are refused by name
//! ([`ChartRepoError::UnsupportedScheme`]), as are OCI registries (`oci://`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::repo::redact;

/// Why a chart could not be fetched from a Helm repository. URLs are shown redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartRepoError {
    /// A URL scheme other than `http://` (`https://`, `oci://`, …).
    #[error(
        "{url}: unsupported repository URL scheme (Strata fetches Helm repositories over http:// only)"
    )]
    UnsupportedScheme {
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
    /// The downloaded archive's SHA-256 is not the index's digest.
    #[error(
        "chart {chart} {version} from {url}: digest mismatch: the index says sha256 {expected}, the archive is {actual}"
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

/// Fetches charts from Helm repositories into a cache directory.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChartRepositories {
    /// Where archives are kept, as `sha256-<digest>.tgz`.
    pub cache_dir: PathBuf,
    /// The largest response read (index or archive); default 100 MiB, Helm's chart limit.
    pub max_bytes: u64,
    /// Connect, read and write timeout of each request; default 60 s.
    pub timeout: Duration,
}

impl ChartRepositories {
    /// Fetches into `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        ChartRepositories {
            cache_dir: cache_dir.into(),
            max_bytes: 100 << 20,
            timeout: Duration::from_secs(60),
        }
    }

    /// The chart `chart` of the repository at `repo_url`, version `target_revision`.
    pub fn fetch(
        &self,
        repo_url: &str,
        chart: &str,
        target_revision: &str,
    ) -> Result<FetchedChart, ChartRepoError> {
        let base = repo_url.trim_end_matches('/');
        if let Some(found) = self.pinned(base, chart, target_revision) {
            return Ok(found);
        }
        let shown = redact(base);
        let index_url = format!("{base}/index.yaml");
        let index_bytes = self.get(&index_url)?;
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
        let entry = pick_version(versions, target_revision).ok_or_else(|| {
            ChartRepoError::NoMatchingVersion {
                repo: shown.clone(),
                chart: chart.to_string(),
                constraint: target_revision.to_string(),
                available: versions
                    .iter()
                    .filter_map(|v| v.get("version").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?;
        let version = entry
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let digest = entry
            .get("digest")
            .and_then(Value::as_str)
            .map(|d| d.trim_start_matches("sha256:").to_ascii_lowercase())
            .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| ChartRepoError::MissingDigest {
                repo: shown.clone(),
                chart: chart.to_string(),
                version: version.clone(),
            })?;
        let cached_path = self.cache_dir.join(format!("sha256-{digest}.tgz"));
        if let Ok(bytes) = std::fs::read(&cached_path)
            && hex::encode(Sha256::digest(&bytes)) == digest
        {
            self.pin(base, chart, &version, &digest)?;
            return Ok(FetchedChart {
                name: chart.to_string(),
                version,
                digest,
                archive: bytes,
                cached: true,
            });
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
        let archive = self.get(&url)?;
        let actual = hex::encode(Sha256::digest(&archive));
        if actual != digest {
            return Err(ChartRepoError::DigestMismatch {
                chart: chart.to_string(),
                version,
                url: redact(&url),
                expected: digest,
                actual,
            });
        }
        write_atomically(&cached_path, &archive)?;
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

    /// `GET url` (HTTP/1.1, following up to 5 redirects), the body.
    fn get(&self, url: &str) -> Result<Vec<u8>, ChartRepoError> {
        let mut url = url.to_string();
        for _ in 0..5 {
            match self.get_once(&url)? {
                Response::Body(b) => return Ok(b),
                Response::Redirect(to) => {
                    url = if to.contains("://") {
                        to
                    } else {
                        let origin = origin_of(&url);
                        format!("{origin}/{}", to.trim_start_matches('/'))
                    };
                }
            }
        }
        Err(ChartRepoError::Http {
            url: redact(&url),
            status: "too many redirects".to_string(),
        })
    }

    fn get_once(&self, url: &str) -> Result<Response, ChartRepoError> {
        let shown = redact(url);
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| ChartRepoError::UnsupportedScheme { url: shown.clone() })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(ChartRepoError::BadUrl {
                url: shown,
                reason: "no host".to_string(),
            });
        }
        let address = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let io = |source: std::io::Error| ChartRepoError::Io {
            url: shown.clone(),
            source,
        };
        let stream = TcpStream::connect(&address).map_err(io)?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: strata\r\nAccept: */*\r\nConnection: close\r\n"
        );
        if let Some(u) = userinfo {
            use base64::Engine;
            let decoded = percent_decode(u);
            request.push_str(&format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(decoded)
            ));
        }
        request.push_str("\r\n");
        let mut writer = &stream;
        writer.write_all(request.as_bytes()).map_err(io)?;
        let mut reader = BufReader::new(&stream);
        let mut status = String::new();
        reader.read_line(&mut status).map_err(io)?;
        let status = status.trim().to_string();
        let code: u16 = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .filter(|_| status.starts_with("HTTP/1."))
            .ok_or_else(|| ChartRepoError::Http {
                url: shown.clone(),
                status: format!("not an HTTP response: {status:?}"),
            })?;
        let (mut length, mut chunked, mut location) = (None, false, None);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).map_err(io)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let v = v.trim();
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = v.parse::<u64>().ok(),
                    "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                    "location" => location = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        if matches!(code, 301 | 302 | 303 | 307 | 308) {
            return location
                .map(Response::Redirect)
                .ok_or_else(|| ChartRepoError::Http {
                    url: shown.clone(),
                    status: format!("{status} without Location"),
                });
        }
        if code != 200 {
            return Err(ChartRepoError::Http { url: shown, status });
        }
        let limit = self.max_bytes;
        let too_large = || ChartRepoError::TooLarge {
            url: shown.clone(),
            limit,
        };
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).map_err(io)?;
                let size = u64::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| ChartRepoError::Http {
                        url: shown.clone(),
                        status: "bad chunk size".to_string(),
                    })?;
                if size == 0 {
                    break;
                }
                if body.len() as u64 + size > limit {
                    return Err(too_large());
                }
                let mut chunk = vec![0; usize::try_from(size).map_err(|_| too_large())?];
                reader.read_exact(&mut chunk).map_err(io)?;
                body.extend_from_slice(&chunk);
                let mut crlf = String::new();
                reader.read_line(&mut crlf).map_err(io)?;
            }
        } else {
            if length.is_some_and(|l| l > limit) {
                return Err(too_large());
            }
            (&mut reader)
                .take(limit + 1)
                .read_to_end(&mut body)
                .map_err(io)?;
            if body.len() as u64 > limit {
                return Err(too_large());
            }
            if let Some(l) = length
                && (body.len() as u64) < l
            {
                return Err(ChartRepoError::Http {
                    url: shown,
                    status: format!("body cut short at {} of {l} bytes", body.len()),
                });
            }
        }
        Ok(Response::Body(body))
    }
}

enum Response {
    Body(Vec<u8>),
    Redirect(String),
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

/// The index entry Helm picks for `target`: an exact version first, else the highest
/// version satisfying `target` as a constraint (`""`: `*`, the latest release).
fn pick_version<'a>(versions: &'a [Value], target: &str) -> Option<&'a Value> {
    let target = target.trim();
    let version_of = |v: &Value| v.get("version").and_then(Value::as_str).map(str::to_string);
    if !target.is_empty()
        && let Some(exact) = versions
            .iter()
            .find(|v| version_of(v).as_deref() == Some(target))
    {
        return Some(exact);
    }
    // `*` (and no version at all): any release, no prereleases.
    let any = matches!(target, "" | "*" | "x" | "X");
    let mut matching: Vec<(semver::Version, &Value)> = versions
        .iter()
        .filter_map(|v| {
            let text = version_of(v)?;
            let parsed = semver::Version::parse(text.trim_start_matches('v')).ok()?;
            let fits = if any {
                parsed.pre.is_empty()
            } else {
                strata_gotemplate::helm::semver_satisfies(target, &text).unwrap_or(false)
            };
            fits.then_some((parsed, v))
        })
        .collect();
    matching.sort_by(|a, b| a.0.cmp(&b.0));
    matching.pop().map(|(_, v)| v)
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

    fn entries(versions: &[&str]) -> Vec<Value> {
        versions
            .iter()
            .map(|v| serde_json::json!({"version": v}))
            .collect()
    }

    fn picked(versions: &[&str], target: &str) -> Option<String> {
        let e = entries(versions);
        pick_version(&e, target).map(|v| v["version"].as_str().unwrap_or("").to_string())
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
