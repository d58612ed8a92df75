//! The broker: `kaccess serve`. It trusts the IdP (ID tokens, MFA claims),
//! decides by policy what a user may have, and issues short-lived client
//! certificates or revocable tokens that the cluster trusts through the
//! broker's CA and its TokenReview webhook. Nothing leaves it unaudited.
//!
//! - `config`: `broker.yaml`; `policy`: grants; `ca`: CSR check and signing
//! - `tokens`: bearer tokens and session ids (the state they index lives in
//!   `crate::store`; the audit chain in `crate::audit`)
//! - `keys`: per-issuer JWKS cache; `request`: what handlers read first;
//!   `caller`: who is calling (the ID token verified)
//! - `exchange`, `revoke`, `review`: the handlers; `admin`: listing and
//!   revoking other users' sessions; `error`: refusals as HTTP
//! - `watch`: the live audit feed; `alerts`: rules matched against it,
//!   posted through `notify`
//! - `server`: state, router, TLS, signals; `reload`: SIGHUP re-reads the
//!   config; `metrics`: OpenMetrics exposition
//! - `rbac`, `apiserver`: what to install on the cluster side

pub mod admin;
pub mod alerts;
pub mod apiserver;
pub mod ca;
pub mod caller;
pub mod config;
pub mod elevate;
pub mod error;
pub mod exchange;
pub mod keys;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod rbac;
pub mod recordings;
pub mod reload;
pub mod request;
pub mod requests;
pub mod review;
pub mod revoke;
pub mod server;
pub mod signals;
pub mod tokens;
pub mod watch;

#[cfg(test)]
mod router_tests;
