//! The proxy's two TLS ends, ring-only like the rest of kaccess.
//!
//! Towards clients: the serving pair, and a client-certificate verifier
//! that asks for a certificate without requiring one (a bearer token is
//! the other way in) and verifies any given against this cluster's kaccess
//! CA alone. The store then decides whether its session is still live.
//!
//! Towards kube-apiserver: only `certificate-authority` is trusted, and the
//! proxy's client pair is presented when it authenticates that way.

use super::config::{UpstreamConfig, UpstreamCredential};
use crate::broker::config::KeyPairFiles;
use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("`{}` is not PEM certificates", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("`{}` holds no certificate", path.display());
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("`{}` is not a PEM private key", path.display()))
}

fn roots(pem: &[u8], what: &str) -> Result<Arc<rustls::RootCertStore>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots
            .add(cert.with_context(|| format!("{what} is not PEM"))?)
            .with_context(|| format!("{what} holds an unusable certificate"))?;
    }
    if roots.is_empty() {
        anyhow::bail!("{what} holds no certificate");
    }
    Ok(Arc::new(roots))
}

/// The listener's config: `serving` pair, client certificates optional and
/// verified against `client_ca_pem` (the cluster's kaccess CA).
pub fn server_config(serving: &KeyPairFiles, client_ca_pem: &str) -> Result<rustls::ServerConfig> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots(client_ca_pem.as_bytes(), "the cluster CA")?,
        provider(),
    )
    .allow_unauthenticated()
    .build()
    .context("cannot build the client-certificate verifier")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&serving.cert_file)?, key(&serving.key_file)?)
        .with_context(|| {
            format!(
                "the key `{}` does not fit the certificate `{}`",
                serving.key_file.display(),
                serving.cert_file.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The upstream client's config (ALPN is left to the connector: h2 and
/// HTTP/1.1 for plain requests, HTTP/1.1 alone for upgrades, which
/// kube-apiserver serves only over HTTP/1.1).
pub fn upstream_config(u: &UpstreamConfig) -> Result<rustls::ClientConfig> {
    let ca = std::fs::read(&u.certificate_authority).with_context(|| {
        format!(
            "cannot read `upstream.certificate-authority` `{}`",
            u.certificate_authority.display()
        )
    })?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots(&ca, "`upstream.certificate-authority`")?);
    let config = match u.credential() {
        Some(UpstreamCredential::ClientCert { cert, key: k }) => builder
            .with_client_auth_cert(certs(cert)?, key(k)?)
            .with_context(|| {
                format!(
                    "the key `{}` does not fit the certificate `{}`",
                    k.display(),
                    cert.display()
                )
            })?,
        _ => builder.with_no_client_auth(),
    };
    Ok(config)
}
