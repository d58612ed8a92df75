//! Re-reading `broker.yaml` on SIGHUP, so grants, TTLs, issuers and
//! cluster CAs change without a restart (a restart of the only replica
//! would fail the apiserver's token reviews meanwhile).
//!
//! The new file is parsed and every CA loaded before anything changes: an
//! invalid file leaves the running policy in force. Requests that started
//! before the swap finish on the old policy. Credentials already issued
//! keep what they were issued with until they expire (`credential-ttl`);
//! every later exchange, continued sessions included, is decided on the
//! new policy. Settings bound at start (listen address, TLS file paths,
//! state database, audit file) need a restart; a change to them is
//! logged and left alone. Each reload, applied or refused, is an audit
//! record carrying the file's SHA-256, so the log shows which policy
//! every later decision was made under.

use super::config::BrokerConfig;
use super::server::{LiveConfig, Shared};
use crate::audit::AuditRecord;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the broker was not started from a configuration file")]
    NoFile,
    #[error("cannot read `{path}`: {cause}")]
    Read { path: String, cause: String },
    #[error("invalid broker configuration `{path}`: {cause}")]
    Invalid { path: String, cause: String },
}

/// What an applied reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// SHA-256 of the file as read.
    pub sha256: String,
    /// Settings that differ but only take effect after a restart.
    pub needs_restart: Vec<&'static str>,
}

/// Reads the configuration file again and puts it in force; logs and
/// audits the outcome.
pub async fn reload_config(st: &Shared) {
    let path = st
        .config_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let outcome = reload(st).await;
    let mut rec = AuditRecord::new("config");
    match &outcome {
        Ok(applied) => {
            rec.outcome = "reloaded".into();
            let mut cause = format!("`{path}` sha256 {}", applied.sha256);
            if !applied.needs_restart.is_empty() {
                cause.push_str(&format!(
                    "; changed but not applied until a restart: {}",
                    applied.needs_restart.join(", ")
                ));
                tracing::warn!(
                    settings = applied.needs_restart.join(", "),
                    "SIGHUP: these settings change only on restart"
                );
            }
            rec.cause = Some(cause);
            st.metrics.reload("config", "applied");
            tracing::info!(
                path,
                sha256 = applied.sha256,
                "SIGHUP: reloaded the configuration"
            );
        }
        Err(e) => {
            rec.outcome = "refused".into();
            rec.cause = Some(e.to_string());
            st.metrics.reload("config", "refused");
            tracing::error!(error = %e, "SIGHUP: cannot reload the configuration; the running one stays");
        }
    }
    if let Err(e) = st.audit.append(rec).await {
        tracing::error!(error = %e, "cannot audit the configuration reload");
    }
}

/// The reload itself: read, parse, build, swap.
pub async fn reload(st: &Shared) -> Result<Applied, ReloadError> {
    let path = st.config_path.clone().ok_or(ReloadError::NoFile)?;
    let shown = path.display().to_string();
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| ReloadError::Read {
            path: shown.clone(),
            cause: e.to_string(),
        })?;
    let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let invalid = |cause: String| ReloadError::Invalid {
        path: shown.clone(),
        cause,
    };
    let next = BrokerConfig::parse(&text, &base).map_err(invalid)?;
    let current = st.live();
    let needs_restart = fixed_settings_changed(&current.config, &next);
    let http = st.http().clone();
    let built = tokio::task::spawn_blocking(move || LiveConfig::build(next, Some(&current), &http))
        .await
        .map_err(|e| invalid(e.to_string()))?
        .map_err(|e| invalid(format!("{e:#}")))?;
    // Issuers that are new or changed start fetching their keys now, not
    // on the first request.
    for issuer in &built.issuers {
        if !issuer.has_keys() {
            let issuer = issuer.clone();
            tokio::spawn(async move {
                let _ = issuer.refresh().await;
            });
        }
    }
    st.replace_live(built);
    Ok(Applied {
        sha256,
        needs_restart,
    })
}

/// Settings read once at start: named when `next` changes them.
fn fixed_settings_changed(now: &BrokerConfig, next: &BrokerConfig) -> Vec<&'static str> {
    [
        ("listen", now.listen != next.listen),
        ("insecure-http", now.insecure_http != next.insecure_http),
        ("tls", now.tls != next.tls),
        ("state", now.state != next.state),
        ("audit", now.audit != next.audit),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}
