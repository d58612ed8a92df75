//! Shared test helpers: the real identity provider, the API stand-in, test
//! PKI, TLS test servers.
#![allow(dead_code)]

pub mod apiserver;
pub mod broker;
pub mod idp;
pub mod pki;
pub mod serve;
pub mod world;
