//! `kaccess audit verify FILE...`: check the audit log's hash chain,
//! across rotated files when several are named.

use crate::audit::verify::verify_files;
use crate::cli::{AuditCommand, AuditVerifyArgs};
use crate::error::{Exit, Failure};
use crate::units::count;
use anyhow::Result;

pub fn run(cmd: AuditCommand) -> Result<Exit> {
    match cmd {
        AuditCommand::Verify(args) => verify(args),
    }
}

fn verify(args: AuditVerifyArgs) -> Result<Exit> {
    let reports = verify_files(&args.files)?;
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
        eprintln!(
            "audit log `{file}`: {}, chain intact (last hash {})",
            count(report.lines, "record"),
            report.head
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
