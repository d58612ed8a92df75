//! Serves an axum router over TLS on 127.0.0.1 (free port) on its own
//! runtime thread, and stops it on drop. The API stand-in and the fake
//! TokenReview webhooks in tests share it.

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::pki::Issued;

pub struct TlsServer {
    addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// Binds first (so the address is known) and hands it to `app` to build
    /// the router; accepting connections when this returns.
    pub fn start(
        config: rustls::ServerConfig,
        app: impl FnOnce(SocketAddr) -> Router,
    ) -> TlsServer {
        kaccess::http::install_crypto_provider();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let router = app(addr);
        let tls = RustlsConfig::from_config(Arc::new(config));
        let handle = axum_server::Handle::new();
        let server_handle = handle.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tls-server-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                rt.block_on(async move {
                    axum_server::from_tcp_rustls(listener, tls)
                        .expect("serve listener")
                        .handle(server_handle)
                        .serve(router.into_make_service())
                        .await
                        .expect("test TLS server failed");
                });
            })
            .expect("spawn server thread");
        TlsServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A ring-only rustls server config for `serving`, asking for client
/// certificates when `client_verifier` is given.
pub fn tls_config(
    serving: &Issued,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions");
    let builder = match client_verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let chain = CertificateDer::pem_slice_iter(serving.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("serving cert PEM");
    let key = PrivateKeyDer::from_pem_slice(serving.key_pem.as_bytes()).expect("serving key PEM");
    let mut config = builder
        .with_single_cert(chain, key)
        .expect("serving cert and key");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}
