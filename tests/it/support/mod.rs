//! Shared test helpers: the real identity provider, the API stand-in, test
//! PKI, TLS test servers.
#![allow(dead_code)]

pub mod apiserver;
pub mod broker;
pub mod idp;
pub mod pki;
pub mod serve;
pub mod world;

/// The `kaccess` binary under test. Integration tests get Cargo's path;
/// examples (the bench driver, the demo) have none, so they use
/// `KACCESS_BIN` or the `kaccess` beside `target/<profile>/examples/`.
pub fn kaccess_bin() -> std::path::PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_kaccess") {
        return p.into();
    }
    if let Some(p) = std::env::var_os("KACCESS_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("an example lives in target/<profile>/examples/");
    profile_dir.join("kaccess")
}
