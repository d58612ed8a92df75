//! Shared test helpers: the real identity provider, the API stand-in, test
//! PKI, TLS test servers.
#![allow(dead_code)]

pub mod apiserver;
pub mod broker;
pub mod demo;
pub mod failure_log;
pub mod idp;
pub mod pki;
pub mod serve;
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
