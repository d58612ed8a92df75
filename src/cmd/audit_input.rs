//! Reading the chain for `kaccess audit sessions|show|report`: the files
//! named (oldest first) or the chain of a broker configuration, each line
//! checked as it is read ([`Walker`]), and what the check found said on
//! stderr: that the chain held, or loudly where it first did not.

use crate::audit::chain::{Status, Walker};
use crate::audit::query::render::chain_sentence;
use crate::broker::config::BrokerConfig;
use crate::cli::ChainInput;
use crate::error::Failure;
use crate::store::postgres::export;
use anyhow::{Context, Result};
use serde_json::Value;
use std::io::BufRead;

/// Calls `each` with every record, in chain order, and returns what the
/// check of the chain found. A broken chain is read on to its end.
pub fn read_chain(
    input: &ChainInput,
    mut each: impl FnMut(&Value) -> Result<()>,
) -> Result<Status> {
    let mut walker = Walker::new();
    let files = match &input.config {
        None => input.files.clone(),
        Some(path) => match BrokerConfig::load(path)?.audit.file {
            Some(file) => vec![file],
            None => {
                let pg = super::audit::database_of(path, "verify")?;
                super::audit::with_database(&pg, async |client, describe| {
                    walker.start_source(describe);
                    export::for_each_line(client, |line| {
                        if let Some(v) = walker.line(line.as_bytes()) {
                            each(&v)?;
                        }
                        Ok(true)
                    })
                    .await
                })?;
                return Ok(walker.finish());
            }
        },
    };
    let mut line = Vec::with_capacity(4096);
    for path in &files {
        let file = std::fs::File::open(path).map_err(|e| {
            Failure::error(format!(
                "cannot open the audit log `{}`: {e}",
                path.display()
            ))
            .help("name the broker's audit files oldest first, or use `--config broker.yaml`")
        })?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        walker.start_source(&path.display().to_string());
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .with_context(|| format!("cannot read the audit log `{}`", path.display()))?;
            if n == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if let Some(v) = walker.line(&line) {
                each(&v)?;
            }
        }
    }
    Ok(walker.finish())
}

/// Says on stderr what the check of the chain found, before the results.
pub fn announce(status: &Status) {
    if status.intact() {
        eprintln!("audit chain {}", chain_sentence(status));
        if let Some(hash) = &status.continues {
            eprintln!(
                "note: the first file starts with a rotation record: it continues an earlier \
                 file (last hash {hash}) that was not read; name it first to include it"
            );
        }
        return;
    }
    eprintln!("kaccess: WARNING: ==================================================");
    eprintln!(
        "kaccess: WARNING: THE AUDIT CHAIN IS BROKEN: {}",
        chain_sentence(status)
    );
    eprintln!("kaccess: WARNING: records may have been changed, removed or inserted; the results");
    eprintln!("kaccess: WARNING: below include every record as read, and this command exits 1");
    eprintln!("kaccess: WARNING: ==================================================");
}

/// After the results: a broken chain fails the command, saying so last.
pub fn verdict(status: &Status) -> Result<crate::error::Exit> {
    match &status.first_broken {
        None => Ok(crate::error::Exit::Ok),
        Some((place, why)) => Err(Failure::error(format!(
            "the audit chain is broken at {place}: {why}; the results above are from a chain \
             that does not verify"
        ))
        .help(
            "run `kaccess audit verify` on the same input for the details, and compare that \
             record with the broker's backups or log shipper",
        )
        .into()),
    }
}
