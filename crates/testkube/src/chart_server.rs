//! A loopback HTTP(S) server of a directory's files, one request per connection: the Helm
//! chart repository the tests of `sources`, `cli` and `gitops` make with the real
//! `helm package` and `helm repo index` and serve to Strata and to `helm` alike. Optionally
//! over TLS (a rustls configuration, [`tls_server_config`] from a [`Pki`]) and behind basic
//! credentials; `<file>.redirect` holding a URL answers `<file>` with a redirect there. Every
//! path asked for is recorded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use crate::Pki;
use crate::error::TestKubeError;

/// How a [`FileServer`] answers.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct FileServerOptions {
    /// Serve HTTPS with this configuration (HTTP without).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Answer 401 to requests without these basic credentials (user, password).
    pub basic: Option<(String, String)>,
}

impl FileServerOptions {
    /// Plain HTTP, no credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`tls`](Self::tls).
    pub fn with_tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets [`basic`](Self::basic).
    pub fn with_basic(mut self, user: &str, password: &str) -> Self {
        self.basic = Some((user.to_owned(), password.to_owned()));
        self
    }
}

/// A running server (its thread serves until the test process ends).
#[derive(Clone, Debug)]
pub struct FileServer {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FileServer {
    /// Serves `dir` over plain HTTP on a free loopback port.
    pub fn start(dir: PathBuf) -> Result<Self, TestKubeError> {
        Self::start_with(dir, FileServerOptions::new())
    }

    /// Serves `dir` as `options` say on a free loopback port.
    pub fn start_with(dir: PathBuf, options: FileServerOptions) -> Result<Self, TestKubeError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(TestKubeError::Port)?;
        let port = listener.local_addr().map_err(TestKubeError::Port)?.port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let wanted = options.basic.map(|(user, password)| {
            format!(
                "basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
            .to_ascii_lowercase()
        });
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let tls = options.tls;
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                match &tls {
                    Some(config) => {
                        let Ok(connection) = rustls::ServerConnection::new(Arc::clone(config))
                        else {
                            continue;
                        };
                        answer(
                            rustls::StreamOwned::new(connection, stream),
                            &dir,
                            wanted.as_deref(),
                            &log,
                        );
                    }
                    None => answer(stream, &dir, wanted.as_deref(), &log),
                }
            }
        });
        Ok(Self {
            url: format!("{scheme}://127.0.0.1:{port}"),
            seen,
        })
    }

    /// `http(s)://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The paths asked for so far, in order (shared: later requests are added).
    pub fn log(&self) -> Arc<Mutex<Vec<String>>> {
        Arc::clone(&self.seen)
    }

    /// How many times `path` was asked for.
    pub fn asked(&self, path: &str) -> usize {
        self.seen
            .lock()
            .map(|seen| seen.iter().filter(|p| p.as_str() == path).count())
            .unwrap_or(0)
    }
}

/// Answers one request on `stream` with the file of `dir` it names (404 otherwise), a redirect
/// where `<file>.redirect` exists, or 401 without the `wanted` credentials; a connection that
/// fails (a refused handshake) is dropped.
fn answer(
    mut stream: impl Read + Write,
    dir: &Path,
    wanted: Option<&str>,
    log: &Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_ascii_lowercase());
        }
    }
    drop(reader);
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    if let Ok(mut seen) = log.lock() {
        seen.push(path.clone());
    }
    let file = dir.join(path.trim_start_matches('/'));
    let mut moved = file.clone().into_os_string();
    moved.push(".redirect");
    let response = if wanted.is_some_and(|w| authorization.as_deref() != Some(w)) {
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"charts\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    } else if let Ok(location) = std::fs::read_to_string(&moved) {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            location.trim()
        )
        .into_bytes()
    } else {
        match std::fs::read(&file) {
            Ok(body) if !path.contains("..") => {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend(body);
                r
            }
            _ => {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            }
        }
    };
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}

/// A TLS server configuration with the PKI's serving certificate (for `127.0.0.1` and
/// `localhost`); with `client_certificates`, clients must present a certificate its CA signed.
pub fn tls_server_config(
    pki: &Pki,
    client_certificates: bool,
) -> Result<Arc<rustls::ServerConfig>, TestKubeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = vec![CertificateDer::from_pem_slice(
        pki.serving.certificate_pem.as_bytes(),
    )?];
    let key = PrivateKeyDer::from_pem_slice(pki.serving.key_pem.as_bytes())?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let config = if client_certificates {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes())?)?;
        let clients =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()?;
        builder
            .with_client_cert_verifier(clients)
            .with_single_cert(certs, key)?
    } else {
        builder.with_no_client_auth().with_single_cert(certs, key)?
    };
    Ok(Arc::new(config))
}
