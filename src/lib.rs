//! kaccess: ephemeral, MFA-verified, audited access to Kubernetes clusters.
//!
//! The modules follow the data: `oidc` gets a verified ID token, `exchange`
//! trades it at the broker, `session` keeps the result on disk until it
//! expires, `credential` hands it to kubectl. `broker` is the server side;
//! `store` holds its state (sessions, revocations, credentials) and `audit`
//! its hash-chained record of every decision.

pub mod audit;
pub mod broker;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod credential;
pub mod error;
pub mod exchange;
pub mod fsutil;
pub mod http;
pub mod manual;
pub mod oidc;
pub mod protocol;
pub mod proxy;
pub mod secret;
pub mod session;
pub mod store;
pub mod text;
pub mod timing;
pub mod tokenstore;
pub mod units;
