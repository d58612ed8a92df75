//! `kaccess-credential credential CLUSTER`: the exec plugin as the session
//! kubeconfig runs it. It answers a cache hit and hands everything else to
//! `kaccess` beside it (`kaccess::credential::hit`).
//!
//! A C `main`, not Rust's: before a Rust `main`, the runtime installs a
//! stack-overflow handler (which reads `/proc/self/maps` and maps a signal
//! stack) and checks fds 0–2: 21 of the 83 syscalls this binary made
//! (docs/performance.md, "Start-up"). `hit::main` does the parts it needs.
//!
//! Under `cargo test` the test harness brings its own `main`, so this one
//! is left out (its logic is tested in `credential::hit` and end to end in
//! tests/it/plugin.rs).
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    kaccess::credential::hit::main().into()
}
