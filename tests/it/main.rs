//! The integration suite: one binary, one module per area. Every test runs
//! real parts (oidc-provider, the kaccess binary, kubectl, the keyring) on
//! 127.0.0.1 and stops what it starts.

mod admin;
mod alerts;
mod apiserver;
mod audit_query;
mod broker;
mod completion;
mod compliance;
mod config;
mod demo;
mod deploy;
mod errors;
pub(crate) mod faults;
mod generated;
mod idp_harness;
mod impersonation;
mod install;
mod load;
mod login;
mod plugin;
mod proxy;
mod proxy_streams;
mod quiet;
mod recordings;
mod replicas;
mod replicas_load;
mod replicas_proxy;
mod replicas_setup;
mod requests;
mod session;
mod shell;
mod support;
mod terminal;
mod watch;
