//! `kaccess config check|init`.

use crate::cli::{ConfigCheckArgs, ConfigCommand, ConfigInitArgs, Output};
use crate::config::{self, Config, example::EXAMPLE};
use crate::error::{Exit, Failure};
use anyhow::{Context, Result};
use std::io::Write;

pub fn run(cmd: ConfigCommand) -> Result<Exit> {
    match cmd {
        ConfigCommand::Check(a) => check(a),
        ConfigCommand::Init(a) => init(a),
    }
}

/// Validates the whole file, then prints the effective settings of one
/// cluster (or all) on stdout: the data a script or a person checks.
fn check(args: ConfigCheckArgs) -> Result<Exit> {
    let config = Config::load_from(args.client.config.as_deref())?;
    let mut out = std::io::stdout().lock();
    match &args.cluster {
        Some(name) => {
            let cluster = config.cluster(name)?;
            match args.output {
                Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(cluster)?)?,
                Output::Text => write!(out, "{}", serde_yaml::to_string(cluster)?)?,
            }
        }
        None => match args.output {
            Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&config.clusters)?)?,
            Output::Text => write!(out, "{}", serde_yaml::to_string(&config.clusters)?)?,
        },
    }
    out.flush()?;
    eprintln!(
        "`{}` is valid: {} ({})",
        config.path.display(),
        crate::units::count(config.clusters.len(), "cluster"),
        config
            .clusters
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Exit::Ok)
}

/// Writes the commented example, atomically, never over an existing file
/// unless `--force`.
fn init(args: ConfigInitArgs) -> Result<Exit> {
    if args.stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(EXAMPLE.as_bytes())?;
        out.flush()?;
        return Ok(Exit::Ok);
    }
    let path = config::path(args.client.config.as_deref())?;
    if path.exists() && !args.force {
        return Err(
            Failure::usage(format!("`{}` already exists", path.display()))
                .help("pass `--force` to replace it, or `--stdout` to print the example")
                .into(),
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    crate::fsutil::write_atomic(&path, EXAMPLE.as_bytes(), 0o644)?;
    eprintln!(
        "Wrote an example configuration to `{}`.\nhelp: edit it, then run `kaccess config check`",
        path.display()
    );
    Ok(Exit::Ok)
}
