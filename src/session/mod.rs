//! Sessions on disk: the runtime dir, the session kubeconfig, expiry.
//!
//! - `runtime`: which directory, and that it is private
//! - `paths`: where each file of a session lives, cluster-name checks
//! - `record`: the session record with its cached credential (the exec
//!   plugin's cache)
//! - `kubeconfig`: the session kubeconfig (exec stanza or embedded)
//! - `lock`: the per-cluster refresh lock with a bounded wait
//! - `reaper`: deletion on expiry, even when kaccess is not running
//! - `refresh`: the exec plugin's slow path (lock, refresh, exchange)
//! - `start`: a verified login becomes a broker session on disk
//! - `keys`: the local key and CSR for certificate credentials

pub mod keys;
pub mod kubeconfig;
pub mod lock;
pub mod paths;
pub mod reaper;
pub mod record;
pub mod refresh;
pub mod runtime;
pub mod start;
