//! The audit trail: one hash-chained record per decision of the broker
//! (exchanges, refusals, revocations, failed reviews, listings, reloads,
//! rotations). Used by the broker, and by `kaccess audit`.
//!
//! - `record`: the record, its canonical form and hash, sealing into the
//!   chain
//! - `sink`: [`AuditLog`], the one handle writers append through, and the
//!   [`AuditSink`] interface beneath it
//! - `file`: the JSON-lines file sink (group commit, fail closed, rotation)
//! - `verify`: walking a chain and naming its first broken record
//! - `tap`: the live feed of durable records (`admin watch`, alerts)
//! - `fields`: what a filter or an alert rule matches in a record;
//!   `display`: a record as one readable line
//! - `streams`: a session's streams, numbered, with their recordings
//! - `chain`: checking a chain while reading it, past any break
//! - `query`: sessions, one session's timeline, the reviewer's report

pub mod chain;
pub mod display;
pub mod fields;
pub mod file;
pub mod query;
pub mod record;
mod sink;
pub mod streams;
pub mod tap;
pub mod verify;

pub use record::{
    AuditRecord, GENESIS, canonical_json, now_rfc3339, record_hash, seal, seal_value,
};
pub use sink::{AuditError, AuditLog, AuditSink, Reopened};
pub use tap::{Tap, Tapped};

#[cfg(test)]
mod tests;
