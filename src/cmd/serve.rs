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
    if args.migrate_state {
        return migrate_state(&cfg, &args.config, args.from.as_deref().unwrap_or_default());
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
/// and thrown away: every cluster CA, the serving certificate and key,
/// each access proxy's files, and with PostgreSQL state a connection to the
/// database and its schema version. Nothing is written and nothing is
/// fetched from the IdPs.
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
    let state = match &cfg.state {
        crate::broker::config::StateConfig::Sqlite(path) => format!("sqlite:{}", path.display()),
        crate::broker::config::StateConfig::Postgres(pg) => {
            check_database(pg).map_err(|e| fail("the state database".into(), e))?
        }
    };
    crate::proxy::check(cfg).map_err(|e| fail("an access proxy".into(), e))?;
    let clusters: Vec<&str> = cfg.clusters.keys().map(String::as_str).collect();
    let issuers: Vec<&str> = cfg.issuers.iter().map(|i| i.issuer.as_str()).collect();
    eprintln!("✓ `{file}` is valid");
    eprintln!("  state:        {state}");
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
    if !cfg.alerts.is_empty() {
        let names: Vec<&str> = cfg.alerts.iter().map(|a| a.name.as_str()).collect();
        eprintln!(
            "  alerts:       {} (posted to {})",
            names.join(", "),
            crate::units::count(cfg.notify.len(), "webhook")
        );
        if cfg.notify.is_empty() {
            eprintln!(
                "note: with no `notify:` webhook, alerts are only recorded in the audit chain and counted in `kaccess_alerts_total`"
            );
        }
    }
    Ok(Exit::Ok)
}

/// `--migrate-state --from sqlite:PATH`: what is live in the SQLite file
/// (read, never written) into the configured PostgreSQL database.
fn migrate_state(cfg: &BrokerConfig, config: &std::path::Path, from: &str) -> Result<Exit> {
    use crate::broker::config::StateConfig;
    let StateConfig::Postgres(pg) = &cfg.state else {
        return Err(Failure::usage(format!(
            "`{}` keeps its state in SQLite; --migrate-state copies into `state: {{postgres: ...}}`",
            config.display()
        ))
        .help("point --config at the configuration of the PostgreSQL replicas")
        .into());
    };
    let Some(path) = from.strip_prefix("sqlite:").map(std::path::Path::new) else {
        return Err(
            Failure::usage(format!("`--from {from}`: expected `sqlite:PATH`"))
                .help("e.g. `--from sqlite:/var/lib/kaccess/state.db`")
                .into(),
        );
    };
    if !path.is_file() {
        return Err(
            Failure::usage(format!("`--from`: `{}` is not a file", path.display()))
                .help("name the `state.sqlite` file of the broker being replaced")
                .into(),
        );
    }
    let (_, snapshot) = crate::store::sqlite::SqliteBackend::open(path)?;
    crate::http::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let done = runtime
        .block_on(crate::store::postgres::import::import(pg, snapshot))
        .map_err(|e| {
            let refused = e.is::<crate::store::postgres::import::NotEmpty>();
            let failure = Failure::error(format!("{e:#}"));
            anyhow::Error::new(if refused {
                failure.help(
                    "the replicas already run on this database; nothing was copied. To start \
                     over, empty its `sessions`, `tokens` and `certificates` tables first",
                )
            } else {
                failure.help("nothing was copied; fix the cause and run this again")
            })
        })?;
    eprintln!(
        "copied {} session(s) and {} credential(s) from sqlite:{}; start the replicas \
         (the SQLite broker's audit file stays where it is: keep it with the chain's history)",
        done.sessions,
        done.credentials,
        path.display()
    );
    Ok(Exit::Ok)
}

/// Connects to the database (TLS verified as at start) and reads the
/// schema version, without migrating it.
fn check_database(pg: &crate::store::postgres::PostgresConfig) -> Result<String> {
    use crate::store::postgres::migrate::SCHEMA_VERSION;
    crate::http::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (describe, found) = runtime.block_on(async {
        let (_client, describe, found) = crate::store::postgres::connect_checked(pg).await?;
        anyhow::Ok((describe, found))
    })?;
    let note = match found {
        0 => format!("empty; the broker creates schema version {SCHEMA_VERSION} at start"),
        v if v < SCHEMA_VERSION => {
            format!("schema version {v}; the broker migrates it to {SCHEMA_VERSION} at start")
        }
        v => format!("schema version {v}"),
    };
    Ok(format!("{describe} ({note})"))
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
