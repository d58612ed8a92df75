//! Shared test helpers: the real identity provider, temp homes, processes.
#![allow(dead_code)]

pub mod apiserver;
pub mod pki;
pub mod serve;
