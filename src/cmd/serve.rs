//! `kaccess serve`: run the broker, or print the kube-apiserver settings.

use crate::broker::config::BrokerConfig;
use crate::broker::{apiserver, server};
use crate::cli::ServeArgs;
use crate::error::{Exit, Failure};
use anyhow::{Context, Result};
use std::io::Write;

pub fn run(args: ServeArgs) -> Result<Exit> {
    let cfg = BrokerConfig::load(&args.config)?;
    if args.check {
        return check(&cfg, &args.config);
    }
    if args.print_apiserver_config {
        let text = apiserver::render(&cfg, args.cluster.as_deref())?;
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(Exit::Ok);
    }
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kaccess-broker")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(server::serve(cfg, Some(args.config.clone())))?;
    Ok(Exit::Ok)
}

/// `--check`: what the broker would load at start (or on SIGHUP), loaded
/// and thrown away: every cluster CA, the serving certificate and key, and
/// each access proxy's files.
/// Nothing is opened for writing and nothing is fetched.
fn check(cfg: &BrokerConfig, path: &std::path::Path) -> Result<Exit> {
    let file = path.display();
    let fail = |what: String, e: anyhow::Error| -> anyhow::Error {
        Failure::usage(format!("`{file}`: {what}: {e:#}"))
            .help(format!(
                "fix it, then run `kaccess serve --config {file} --check` again"
            ))
            .into()
    };
    server::load_cas(cfg).map_err(|e| fail("a cluster CA".into(), e))?;
    if let Some(tls) = &cfg.tls {
        crate::http::install_crypto_provider();
        load_serving_pair(&tls.cert_file, &tls.key_file)
            .map_err(|e| fail("the serving certificate and key".into(), e))?;
    }
    crate::proxy::check(cfg).map_err(|e| fail("an access proxy".into(), e))?;
    let clusters: Vec<&str> = cfg.clusters.keys().map(String::as_str).collect();
    let issuers: Vec<&str> = cfg.issuers.iter().map(|i| i.issuer.as_str()).collect();
    eprintln!("✓ `{file}` is valid");
    eprintln!("  clusters:     {}", clusters.join(", "));
    eprintln!("  issuers:      {}", issuers.join(", "));
    eprintln!(
        "  admin-groups: {}",
        if cfg.admin_groups.is_empty() {
            "(none)".to_string()
        } else {
            cfg.admin_groups.join(", ")
        }
    );
    Ok(Exit::Ok)
}

/// Parses the PEM pair and builds a rustls server config from it, which
/// checks that the key is usable and belongs to the certificate.
fn load_serving_pair(cert: &std::path::Path, key: &std::path::Path) -> Result<()> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read `{}`", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("`{}` is not PEM certificates", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("`{}` holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("`{}` is not a PEM private key", key.display()))?;
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the key does not fit the certificate")?;
    Ok(())
}

/// Structured logs on stderr; `KACCESS_LOG` filters (default `info`),
/// `KACCESS_LOG_FORMAT=json` for one JSON object per line.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KACCESS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("KACCESS_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}
