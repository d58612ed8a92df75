//! `kaccess audit verify FILE`: check the audit log's hash chain.

use crate::broker::audit_verify::verify_file;
use crate::cli::{AuditCommand, AuditVerifyArgs};
use crate::error::{Exit, Failure};
use anyhow::Result;

pub fn run(cmd: AuditCommand) -> Result<Exit> {
    match cmd {
        AuditCommand::Verify(args) => verify(args),
    }
}

fn verify(args: AuditVerifyArgs) -> Result<Exit> {
    let report = verify_file(&args.file)?;
    let file = args.file.display();
    match report.broken {
        None => {
            eprintln!(
                "audit log `{file}`: {} records, chain intact (last hash {})",
                report.lines, report.head
            );
            Ok(Exit::Ok)
        }
        Some((line, why)) => Err(Failure::error(format!(
            "audit log `{file}` is broken at line {line}: {why}"
        ))
        .help(format!(
            "lines 1-{} are intact; compare line {line} with the broker's backups or log shipper",
            line - 1
        ))
        .into()),
    }
}
