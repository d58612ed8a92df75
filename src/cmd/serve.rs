//! `kaccess serve`: run the broker, or print the kube-apiserver settings.

use crate::broker::config::BrokerConfig;
use crate::broker::{apiserver, server};
use crate::cli::ServeArgs;
use crate::error::Exit;
use anyhow::{Context, Result};
use std::io::Write;

pub fn run(args: ServeArgs) -> Result<Exit> {
    let cfg = BrokerConfig::load(&args.config)?;
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
