//! TLS configuration: the acceptor for clients (from `[tls]`), the connector for backends.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sqlmux_config::TlsSettings;
use std::sync::Arc;

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("tls: cannot read {path}: {reason}")]
    Read {
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file holds no certificate or key.
    #[error("tls: no {what} found in {path}")]
    Missing {
        /// What was looked for.
        what: &'static str,
        /// File.
        path: String,
    },
    /// rustls refused the material.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the acceptor for client connections from `[tls]`.
pub fn acceptor(settings: &TlsSettings) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let read = |path: &str| {
        std::fs::read(path).map_err(|e| TlsError::Read {
            path: path.to_string(),
            reason: e.to_string(),
        })
    };
    let cert_pem = read(&settings.cert)?;
    let key_pem = read(&settings.key)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Read {
            path: settings.cert.clone(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Missing {
            what: "certificate",
            path: settings.cert.clone(),
        });
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| TlsError::Read {
            path: settings.key.clone(),
            reason: e.to_string(),
        })?
        .ok_or_else(|| TlsError::Missing {
            what: "private key",
            path: settings.key.clone(),
        })?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The connectors for backends with `tls = true`, one per way of checking a certificate
/// (a server's `tls_ca`, the system's roots, or `tls_verify = false`), made on first use.
/// A certificate is checked against the server's address (an IP needs an IP SAN).
pub struct BackendTls {
    connectors: dashmap::DashMap<(Option<String>, bool), tokio_rustls::TlsConnector>,
}

impl Default for BackendTls {
    fn default() -> Self {
        Self {
            connectors: dashmap::DashMap::new(),
        }
    }
}

impl BackendTls {
    /// What a login to the server at `address` may use, as the runtime says now: its TLS
    /// connector (when `tls`, the server entry's) and whether a password may go in clear.
    pub fn login_options(
        &self,
        runtime: &arc_swap::ArcSwap<sqlmux_config::Runtime>,
        address: &str,
        tls: bool,
    ) -> (Option<tokio_rustls::TlsConnector>, bool) {
        let rt = runtime.load();
        let connector = tls.then(|| self.for_server(&rt, address));
        (connector, rt.allows_cleartext(address))
    }

    /// The connector for the server at `address` as `rt` says to check it.
    pub fn for_server(
        &self,
        rt: &sqlmux_config::Runtime,
        address: &str,
    ) -> tokio_rustls::TlsConnector {
        let (ca, verify) = rt.backend_tls_of(address);
        let key = (ca.map(str::to_string), verify);
        if let Some(c) = self.connectors.get(&key) {
            return c.clone();
        }
        let connector = match (ca, verify) {
            (_, false) => {
                tracing::warn!(%address, "backend TLS without certificate verification (tls_verify = false): the traffic is encrypted, the server is not authenticated");
                unverified_connector()
            }
            (Some(path), true) => verified_connector(roots_from_file(path)),
            (None, true) => verified_connector(system_roots()),
        };
        self.connectors.insert(key, connector.clone());
        connector
    }
}

/// The CA certificates in a PEM file (none when it cannot be read: every handshake then
/// fails with an unknown issuer, and the reason is logged).
fn roots_from_file(path: &str) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let certs = std::fs::read(path).map(|pem| {
        rustls_pemfile::certs(&mut &pem[..])
            .filter_map(Result::ok)
            .collect::<Vec<_>>()
    });
    match certs {
        Ok(certs) if !certs.is_empty() => {
            let (added, _) = roots.add_parsable_certificates(certs);
            tracing::debug!(%path, added, "backend CA certificates loaded");
        }
        Ok(_) => {
            tracing::error!(%path, "tls_ca holds no certificate: backend TLS handshakes will fail")
        }
        Err(e) => {
            tracing::error!(%path, error = %e, "cannot read tls_ca: backend TLS handshakes will fail")
        }
    }
    roots
}

/// The system's CA certificates.
fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "reading the system CA certificates");
    }
    let (added, _) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, "system CA certificates loaded for backend TLS");
    roots
}

fn verified_connector(roots: rustls::RootCertStore) -> tokio_rustls::TlsConnector {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A connector that accepts any certificate (`tls_verify = false`).
fn unverified_connector() -> tokio_rustls::TlsConnector {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Accepts any backend certificate but still checks handshake signatures (`tls_verify =
/// false`).
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
