//! Which database errors are worth trying again. PostgreSQL aborts one of
//! two transactions that wait on each other (a deadlock) or that cannot be
//! serialized; the other goes on, and the aborted one succeeds if it runs
//! again. Anything else (a constraint, a lost connection, a timeout) is
//! the caller's to report.

use std::time::Duration;
use tokio_postgres::error::SqlState;

/// Times a transaction runs in all before its error stands.
pub const ATTEMPTS: u32 = 4;

/// True when `err` (or what it wraps) is a deadlock or serialization
/// failure PostgreSQL resolved by aborting this side.
pub fn is_transient(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(|e| e.code())
            .is_some_and(|code| {
                *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
            })
    })
}

/// A short, growing pause so the winner finishes before the retry.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(20 * u64::from(attempt + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_that_is_not_from_the_database_is_not_retried() {
        assert!(!is_transient(&anyhow::anyhow!("deadlock detected")));
    }

    #[test]
    fn the_pause_grows_with_each_attempt() {
        assert!(backoff(1) > backoff(0));
    }
}
