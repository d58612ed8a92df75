//! The stand-in's authenticators, as kube-apiserver chains them: x509
//! client certificates, then bearer tokens through the TokenReview webhook.

use axum::http::{HeaderMap, header};
use axum_server::tls::TlsInfo;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{ApiServerOptions, Via};

/// Who made a request (kube's `user.Info`).
#[derive(Clone, Debug)]
pub(super) struct User {
    pub(super) username: String,
    pub(super) uid: Option<String>,
    pub(super) groups: Vec<String>,
    pub(super) extra: BTreeMap<String, Vec<String>>,
    pub(super) via: Via,
}

/// kube's union authenticator: x509 first, then the token webhook; the
/// first that says yes wins, a failure in one does not stop the next.
pub(super) struct Authenticator {
    /// Verifies client certificate chains against the client CA.
    x509: Option<Arc<dyn ClientCertVerifier>>,
    webhook: Option<(String, reqwest::Client)>,
    static_tokens: Vec<(String, String)>,
    pub(super) reviews: AtomicUsize,
}

impl Authenticator {
    /// Also returns the verifier the TLS layer needs, if client
    /// certificates are accepted at all.
    pub(super) fn new(
        opts: &ApiServerOptions,
    ) -> (Authenticator, Option<Arc<dyn ClientCertVerifier>>) {
        let x509 = opts.client_ca_pem.as_deref().map(client_verifier);
        let tls = x509
            .clone()
            .map(|inner| Arc::new(RequestClientCert(inner)) as Arc<dyn ClientCertVerifier>);
        kaccess::http::install_crypto_provider();
        let webhook = opts.token_webhook.as_ref().map(|w| {
            let ca = reqwest::Certificate::from_pem(w.ca_pem.as_bytes()).expect("webhook CA PEM");
            let client = reqwest::Client::builder()
                .tls_certs_only([ca])
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(10))
                .user_agent("kube-apiserver/v1.32.0 (kaccess test stand-in)")
                .build()
                .expect("webhook client");
            (w.url.clone(), client)
        });
        let authn = Authenticator {
            x509,
            webhook,
            static_tokens: opts.static_tokens.clone(),
            reviews: AtomicUsize::new(0),
        };
        (authn, tls)
    }

    pub(super) async fn identify(
        &self,
        tls: Option<&TlsInfo>,
        headers: &HeaderMap,
    ) -> Option<User> {
        let from_cert = match (&self.x509, tls) {
            (Some(verifier), Some(tls)) => {
                user_from_cert(verifier.as_ref(), &tls.peer_certificates)
            }
            _ => None,
        };
        let mut user = match from_cert {
            Some(user) => user,
            None => {
                let token = bearer(headers)?;
                if let Some((_, name)) = self.static_tokens.iter().find(|(t, _)| *t == token) {
                    return Some(User {
                        username: name.clone(),
                        uid: None,
                        groups: vec!["system:authenticated".into()],
                        extra: BTreeMap::new(),
                        via: Via::Token,
                    });
                }
                let (url, client) = self.webhook.as_ref()?;
                self.reviews.fetch_add(1, Ordering::SeqCst);
                review(client, url, &token).await?
            }
        };
        if !user.groups.iter().any(|g| g == "system:authenticated") {
            user.groups.push("system:authenticated".into());
        }
        Some(user)
    }
}

/// The chain must lead to the client CA, be valid now and allow clientAuth.
fn user_from_cert(verifier: &dyn ClientCertVerifier, chain: &[Vec<u8>]) -> Option<User> {
    let (leaf, intermediates) = chain.split_first()?;
    let intermediates: Vec<_> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    verifier
        .verify_client_cert(
            &CertificateDer::from(leaf.as_slice()),
            &intermediates,
            UnixTime::now(),
        )
        .ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let username = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())?
        .to_string();
    if username.is_empty() {
        return None;
    }
    let groups = cert
        .subject()
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(String::from))
        .collect();
    Some(User {
        username,
        uid: None,
        groups,
        extra: BTreeMap::new(),
        via: Via::Cert,
    })
}

/// kube's `bearertoken` authenticator: trim, split on single spaces into at
/// most three parts, scheme case-insensitive, the second part is the token
/// (empty: no token; anything after it is ignored).
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let mut parts = value.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

async fn review(client: &reqwest::Client, url: &str, token: &str) -> Option<User> {
    let body = json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {"token": token},
        "status": {"user": {}},
    });
    let resp = client
        .post(url)
        .header(header::ACCEPT, "application/json, */*")
        .json(&body)
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let answer: Value = resp.json().await.ok()?;
    if answer["kind"] != "TokenReview" || answer["apiVersion"] != "authentication.k8s.io/v1" {
        return None;
    }
    let status = &answer["status"];
    if status["authenticated"] != true {
        return None;
    }
    let user = &status["user"];
    let username = user["username"].as_str().filter(|u| !u.is_empty())?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let extra = user["extra"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), strings(v))).collect())
        .unwrap_or_default();
    Some(User {
        username: username.to_string(),
        uid: user["uid"].as_str().map(String::from),
        groups: strings(&user["groups"]),
        extra,
        via: Via::Token,
    })
}

fn client_verifier(ca_pem: &str) -> Arc<dyn ClientCertVerifier> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.expect("client CA PEM"))
            .expect("client CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .expect("client verifier")
}

/// kube-apiserver's TLS setting (`tls.RequestClientCert` with the client
/// CA as hints): take any client certificate whose key signs the
/// handshake, and judge its chain later, in the x509 authenticator, so a
/// certificate from another CA gets a 401 instead of a failed handshake.
#[derive(Debug)]
struct RequestClientCert(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
