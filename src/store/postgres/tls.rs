//! TLS to the database with the project's one rustls and ring: the
//! server's chain is verified against `ca-file` (or the system's roots, as
//! the HTTP client does), and its name too unless `sslmode=verify-ca`.

use super::config::TlsMode;
use anyhow::{Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector every connection of one replica uses. With
/// `sslmode=disable` it is never asked to handshake.
pub fn connector(mode: TlsMode, ca_file: Option<&Path>) -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match ca_file {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read the database CA file `{}`", path.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("`{}` is not a PEM certificate bundle", path.display()))?;
            anyhow::ensure!(
                !certs.is_empty(),
                "the database CA file `{}` holds no certificate",
                path.display()
            );
            for cert in certs {
                roots.add(cert).with_context(|| {
                    format!("`{}` holds a certificate rustls cannot use", path.display())
                })?;
            }
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .context("cannot set up verification of the database's certificate")?
        }
        None => Arc::new(
            rustls_platform_verifier::Verifier::new(provider.clone())
                .context("cannot load the system's trust roots")?,
        ),
    };
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        TlsMode::VerifyCa => Arc::new(AnyName(verifier)),
        _ => verifier,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("no TLS version in common with ring")?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `sslmode=verify-ca`: the chain must verify, the name may differ (a
/// database reached through an address its certificate does not list).
#[derive(Debug)]
struct AnyName(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
