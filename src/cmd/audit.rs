//! `kaccess audit verify FILE...`: check the audit log's hash chain,
//! across rotated files when several are named. With `--config`, the
//! chain the broker keeps (its file, or its PostgreSQL database);
//! `kaccess audit export` prints a database's chain as the file's lines.

use crate::audit::verify::{Report, verify_files, verify_reader};
use crate::broker::config::{BrokerConfig, StateConfig};
use crate::cli::{AuditCommand, AuditExportArgs, AuditVerifyArgs};
use crate::error::{Exit, Failure};
use crate::store::postgres::{PostgresConfig, connect_checked, export};
use crate::units::count;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

pub fn run(cmd: AuditCommand) -> Result<Exit> {
    match cmd {
        AuditCommand::Verify(args) => verify(args),
        AuditCommand::Export(args) => export_chain(args),
        AuditCommand::Play(args) => super::play::run(args),
        AuditCommand::Sessions(args) => super::audit_query::sessions(args),
        AuditCommand::Show(args) => super::audit_query::show(args),
        AuditCommand::Report(args) => super::audit_query::report(args),
    }
}

/// The PostgreSQL settings of the broker configuration at `path`.
pub(super) fn database_of(path: &Path, command: &str) -> Result<PostgresConfig> {
    let cfg = BrokerConfig::load(path)?;
    match cfg.state {
        StateConfig::Postgres(pg) => Ok(pg),
        StateConfig::Sqlite(_) => Err(Failure::usage(format!(
            "`{}` keeps its state in SQLite: its audit chain is the file `audit.file`, \
             not a database",
            path.display()
        ))
        .help(format!(
            "read that file directly; `kaccess audit {command}` with `--config` is for \
             `state: {{postgres: ...}}`"
        ))
        .into()),
    }
}

/// A connection to the database holding the chain, on a runtime of its
/// own; refuses a schema newer than this binary.
pub(super) fn with_database<T>(
    pg: &PostgresConfig,
    work: impl AsyncFnOnce(&tokio_postgres::Client, &str) -> Result<T>,
) -> Result<T> {
    crate::http::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (client, describe, _) = connect_checked(pg).await.map_err(|e| {
            Failure::unreachable(format!("{e:#}"))
                .help("check the database and the `state.postgres` settings, then run this again")
        })?;
        work(&client, &describe).await
    })
}

fn export_chain(args: AuditExportArgs) -> Result<Exit> {
    let pg = database_of(&args.config, "export")?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let count = with_database(&pg, async |client, _| {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut count = 0usize;
        export::for_each_line(client, |line| {
            if let Some(since) = since
                && record_time(line).is_some_and(|t| t < since)
            {
                return Ok(true);
            }
            count += 1;
            writeln!(out, "{line}").context("cannot write to stdout")?;
            Ok(true)
        })
        .await?;
        out.flush().context("cannot write to stdout")?;
        Ok(count)
    })?;
    eprintln!("exported {count} audit records");
    if since.is_some() {
        eprintln!(
            "note: an export with `--since` starts mid-chain; `kaccess audit verify` checks \
             a full export (or `kaccess audit verify --config {}`)",
            args.config.display()
        );
    }
    Ok(Exit::Ok)
}

/// `--since`: an RFC 3339 time, or an age such as `24h`.
fn parse_since(text: &str) -> Result<time::OffsetDateTime> {
    parse_time_flag("--since", text)
}

/// A `--since`/`--until` value: an RFC 3339 time, or an age before now.
pub(super) fn parse_time_flag(flag: &str, text: &str) -> Result<time::OffsetDateTime> {
    crate::audit::query::window::parse_time_arg(flag, text, time::OffsetDateTime::now_utc())
        .map_err(|e| {
            Failure::usage(e)
                .help(format!(
                    "use e.g. `{flag} 2026-01-31T08:00:00Z` or `{flag} 24h`"
                ))
                .into()
        })
}

fn record_time(line: &str) -> Option<time::OffsetDateTime> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    time::OffsetDateTime::parse(
        v.get("time")?.as_str()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()
}

/// Feeds the database's chain to the file verifier, page by page.
fn verify_database(pg: &PostgresConfig) -> Result<(String, Report)> {
    with_database(pg, async |client, describe| {
        let (pages, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let checker = std::thread::spawn(move || {
            verify_reader(std::io::BufReader::new(export::PageReader::new(rx)))
        });
        let mut page = Vec::new();
        export::for_each_line(client, |line| {
            page.extend_from_slice(line.as_bytes());
            page.push(b'\n');
            if page.len() >= 1 << 20 {
                // The checker stopped early (a broken record): no need to read on.
                return Ok(pages.send(std::mem::take(&mut page)).is_ok());
            }
            Ok(true)
        })
        .await?;
        let _ = pages.send(page);
        drop(pages);
        let report = checker
            .join()
            .map_err(|_| anyhow::anyhow!("the chain checker failed"))?
            .context("cannot read the audit chain")?;
        Ok((describe.to_string(), report))
    })
}

fn verify(args: AuditVerifyArgs) -> Result<Exit> {
    let files = match &args.config {
        None => args.files.clone(),
        Some(path) => match BrokerConfig::load(path)?.audit.file {
            Some(file) => vec![file],
            None => {
                let pg = database_of(path, "verify")?;
                let (describe, report) = verify_database(&pg)?;
                if let Some((n, why)) = &report.broken {
                    return Err(Failure::error(format!(
                        "the audit chain in `{describe}` is broken at record {n}: {why}"
                    ))
                    .help(format!(
                        "{}; compare record {n} (`SELECT line FROM audit_chain WHERE seq = {n}`) \
                         with the database's backups or log shipper",
                        if *n > 1 {
                            format!("records 1-{} are intact", n - 1)
                        } else {
                            "no record of it is".into()
                        }
                    ))
                    .into());
                }
                eprintln!(
                    "audit chain in `{describe}`: {} records, chain intact (last hash {})",
                    report.lines, report.head
                );
                return Ok(Exit::Ok);
            }
        },
    };
    let reports = verify_files(&files)?;
    for (i, (path, report)) in reports.iter().enumerate() {
        let file = path.display();
        if let Some((line, why)) = &report.broken {
            let intact = if *line > 1 {
                format!("lines 1-{} are intact", line - 1)
            } else {
                "no line of it is".to_string()
            };
            let before = if i > 0 {
                " (the files before it are intact)".to_string()
            } else {
                String::new()
            };
            return Err(Failure::error(format!(
                "audit log `{file}` is broken at line {line}: {why}"
            ))
            .help(format!(
                "{intact}{before}; compare line {line} with the broker's backups or log shipper"
            ))
            .into());
        }
        if let Some((line, why)) = &report.bad_recording {
            return Err(Failure::error(format!(
                "audit log `{file}`: the session recording named at line {line} fails verification: {why}"
            ))
            .help(
                "the chain itself is intact; restore that recording from the broker's backups, \
                 then run `kaccess audit verify` again",
            )
            .into());
        }
        eprintln!(
            "audit log `{file}`: {}, chain intact (last hash {}){}",
            count(report.lines, "record"),
            report.head,
            if report.recordings.is_empty() {
                String::new()
            } else {
                format!(
                    "; session recordings checked: {}, each matches its record",
                    report.recordings.len()
                )
            }
        );
        if let Some(hash) = &report.continues {
            eprintln!(
                "note: `{file}` starts with a rotation record: it continues an earlier file \
                 whose last hash is {hash}"
            );
            eprintln!(
                "help: to check that link too, name the earlier file first: \
                 `kaccess audit verify OLDER {file}`"
            );
        }
    }
    if reports.len() > 1 {
        let head = &reports.last().expect("several reports").1.head;
        let total: usize = reports.iter().map(|(_, r)| r.lines).sum();
        eprintln!(
            "{}, {}: one intact chain (last hash {head})",
            count(reports.len(), "file"),
            count(total, "record")
        );
    }
    Ok(Exit::Ok)
}
