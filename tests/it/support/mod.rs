//! Shared test helpers: the real identity provider, the API stand-in, test
//! PKI, TLS test servers.
#![allow(dead_code)]

pub mod apiserver;
pub mod audit_chain;
pub mod broker;
pub mod demo;
pub mod failure_dump;
pub mod failure_log;
pub mod idp;
pub mod pki;
pub mod postgres;
pub mod proxied;
pub mod replicas;
pub mod serve;
pub mod webhook;
pub mod world;

use std::path::PathBuf;

/// The `kaccess` binary under test. Integration tests get it from cargo
/// (`CARGO_BIN_EXE_kaccess`); examples, which cargo gives no such variable,
/// use `$KACCESS_BIN`, else the `kaccess` built beside them
/// (`target/<profile>/examples/demo` → `target/<profile>/kaccess`).
pub fn kaccess_bin() -> PathBuf {
    if let Some(bin) = option_env!("CARGO_BIN_EXE_kaccess") {
        return PathBuf::from(bin);
    }
    if let Some(bin) = std::env::var_os("KACCESS_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the path of this executable");
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .expect("an example lives in target/<profile>/examples/");
    profile_dir.join("kaccess")
}

/// Runs `f` on a runtime of its own with a reqwest client that trusts only
/// `ca_pem` and, given `identity_pem` (certificate then key), presents it.
pub fn with_client<T, F: std::future::Future<Output = T>>(
    ca_pem: &str,
    identity_pem: Option<String>,
    f: impl FnOnce(reqwest::Client) -> F,
) -> T {
    kaccess::http::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder().tls_certs_only([ca]);
    if let Some(pem) = identity_pem {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    let client = rt.block_on(async { builder.build() }).unwrap();
    rt.block_on(f(client))
}
