//! What the broker does on signals: `SIGHUP` reloads (audit file after
//! rotation, configuration, serving certificate), `SIGTERM`/`SIGINT` start
//! the graceful shutdown that [`super::server::serve`] carries out.

use super::server::Shared;

/// `SIGHUP`, as after logrotate, a policy edit or cert-manager: starts a
/// new audit file if the old one was renamed, re-reads the configuration,
/// and reloads the serving certificate and key (new connections get them).
/// Each failure is logged and changes nothing.
pub async fn reload_on_hangup(
    state: Shared,
    tls: Option<(
        axum_server::tls_rustls::RustlsConfig,
        super::config::KeyPairFiles,
    )>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangup.recv().await.is_some() {
        let path = state.audit.describe();
        match state.audit.reopen().await {
            Ok(crate::audit::Reopened::Rotated) => {
                state.metrics.reload("audit", "applied");
                tracing::info!(
                    path,
                    "SIGHUP: started a new audit file, chained to the renamed one"
                )
            }
            Ok(crate::audit::Reopened::Unchanged) => {
                state.metrics.reload("audit", "unchanged");
                tracing::info!(
                    path,
                    "SIGHUP: the audit log was not renamed; still writing to it"
                )
            }
            Err(e) => {
                state.metrics.reload("audit", "refused");
                tracing::error!(error = %e, "SIGHUP: cannot start a new audit file")
            }
        }
        // After the audit file: a new file then starts with the policy in
        // force.
        super::reload::reload_config(&state).await;
        if let Some((config, files)) = &tls {
            match config
                .reload_from_pem_file(&files.cert_file, &files.key_file)
                .await
            {
                Ok(()) => {
                    state.metrics.reload("tls", "applied");
                    tracing::info!(
                        cert = %files.cert_file.display(),
                        "SIGHUP: reloaded the serving certificate"
                    )
                }
                Err(e) => {
                    state.metrics.reload("tls", "refused");
                    tracing::error!(
                        error = %e,
                        cert = %files.cert_file.display(),
                        "SIGHUP: cannot reload the serving certificate; keeping the old one"
                    )
                }
            }
        }
    }
}

/// SIGTERM or SIGINT: the broker drains and stops.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, never resolve: the process still dies
        // on the default action.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
