//! Shared test helpers: the real identity provider, temp homes, processes.
#![allow(dead_code)]
pub mod broker;
pub mod idp;
