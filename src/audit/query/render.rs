//! Printing a report: Markdown for people (and paper), CSV for
//! spreadsheets (one table, a `section` column), JSON for tools. Every
//! format carries the chain's verification, so a saved report says itself
//! whether the chain it came from held.

use super::csv;
use super::markdown as md;
use super::report::{Finished, Format, Row, SECTIONS, Section};
use super::sessions::Summary;
use crate::audit::chain::Status;
use crate::units::count;
use serde_json::{Value, json};
use std::io::{self, Write};

/// The chain's state in one sentence.
pub fn chain_sentence(st: &Status) -> String {
    let read = format!(
        "{} from {}",
        count(st.records, "record"),
        count(st.sources, "source")
    );
    match &st.first_broken {
        None => format!("intact: {read} verified, one chain (last hash {})", st.head),
        Some((place, why)) => format!(
            "BROKEN: the first bad record is {place}: {why}; {} of the {read} fail the check \
             and are included as read",
            count(st.broken, "record")
        ),
    }
}

pub fn chain_json(st: &Status) -> Value {
    json!({
        "intact": st.intact(),
        "records": st.records,
        "sources": st.sources,
        "broken_records": st.broken,
        "unreadable_records": st.unreadable,
        "first_broken": st.first_broken.as_ref().map(|(p, why)| json!({
            "source": p.source, "line": p.line, "why": why
        })),
        "last_hash": st.head,
        "continues": st.continues,
    })
}

pub const CSV_COLUMNS: [&str; 16] = [
    "section",
    "time",
    "end",
    "cluster",
    "who",
    "groups",
    "session",
    "action",
    "target",
    "outcome",
    "reason",
    "detail",
    "requests",
    "mutations",
    "denials",
    "streams",
];

pub fn csv_row(out: &mut dyn Write, section: Section, r: &Row) -> io::Result<()> {
    csv::write_row(
        out,
        &[
            section.key(),
            &r.time,
            "",
            &r.cluster,
            &r.who,
            "",
            &r.session,
            &r.action,
            &r.target,
            &r.outcome,
            &r.reason,
            &r.detail,
            "",
            "",
            "",
            "",
        ],
    )
}

fn md_time(t: &str) -> String {
    super::parse_time(t).map_or_else(|| t.to_string(), super::short_time)
}

pub fn md_row(out: &mut dyn Write, r: &Row) -> io::Result<()> {
    let why = match (r.reason.is_empty(), r.detail.is_empty()) {
        (false, false) => format!("{} — {}", r.reason, r.detail),
        (false, true) => r.reason.clone(),
        _ => r.detail.clone(),
    };
    md::row(
        out,
        &[
            md_time(&r.time),
            r.cluster.clone(),
            r.who.clone(),
            r.action.clone(),
            r.target.clone(),
            r.outcome.clone(),
            why,
            super::short_id(&r.session).to_string(),
        ],
    )
}

const MD_ROW_COLUMNS: [&str; 8] = [
    "Time (UTC)",
    "Cluster",
    "Who",
    "Action",
    "Target",
    "Outcome",
    "Reason / detail",
    "Session",
];

fn activity(s: &Summary) -> String {
    let c = &s.counts;
    format!(
        "{} req, {} mut, {} denied, {} streams",
        c.requests, c.mutations, c.denials, c.streams
    )
}

fn window_text(f: &Finished) -> (String, String) {
    let w = f.filter.window;
    let end = |t: Option<time::OffsetDateTime>, open: &str| {
        t.map_or(open.to_string(), super::format_time)
    };
    (
        end(w.since, "the first record"),
        end(w.until, "the last record"),
    )
}

/// Prints the whole report.
pub fn document(
    f: Finished,
    chain: &Status,
    generated: time::OffsetDateTime,
    out: &mut dyn Write,
) -> io::Result<()> {
    match f.format {
        Format::Markdown => markdown(f, chain, generated, out),
        Format::Csv => csv_document(f, chain, out),
        Format::Json => json_document(f, chain, generated, out),
    }
}

fn markdown(
    f: Finished,
    chain: &Status,
    generated: time::OffsetDateTime,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (since, until) = window_text(&f);
    let t = &f.totals;
    writeln!(out, "# kaccess access report\n")?;
    writeln!(
        out,
        "- **Period:** {} to {}",
        md::text(&since),
        md::text(&until)
    )?;
    writeln!(
        out,
        "- **Clusters:** {}",
        f.filter
            .cluster
            .as_deref()
            .map_or("all".to_string(), md::text)
    )?;
    writeln!(
        out,
        "- **Generated:** {} UTC by kaccess {}",
        super::short_time(generated),
        env!("CARGO_PKG_VERSION")
    )?;
    if chain.intact() {
        writeln!(
            out,
            "- **Audit chain:** {}\n",
            md::text(&chain_sentence(chain))
        )?;
    } else {
        writeln!(
            out,
            "\n> **WARNING: THE AUDIT CHAIN IS BROKEN.** {}",
            md::text(&chain_sentence(chain))
        )?;
        writeln!(
            out,
            "> Records may have been changed, removed or inserted; treat this report as evidence of tampering, not as a complete account.\n"
        )?;
    }
    writeln!(out, "## Summary\n")?;
    let rows = |k: &str| t.rows.get(k).copied().unwrap_or(0);
    writeln!(
        out,
        "- {} by {} on {}",
        count(t.sessions as usize, "session"),
        count(t.people as usize, "person").replace("persons", "people"),
        count(t.clusters as usize, "cluster")
    )?;
    writeln!(
        out,
        "- {}, {}",
        count(rows("mutations") as usize, "mutating request"),
        count(rows("streams") as usize, "interactive stream")
    )?;
    writeln!(
        out,
        "- {} ({} break glass), {}, {}",
        count(rows("elevated_sessions") as usize, "elevated session"),
        t.break_glass,
        count(rows("access_requests") as usize, "access-request event"),
        count(rows("admin_actions") as usize, "admin action")
    )?;
    writeln!(
        out,
        "- {} ({}), {}\n",
        count(rows("failed_logins") as usize, "failed login"),
        count(t.mfa_refusals as usize, "MFA refusal"),
        count(rows("denials") as usize, "denial")
    )?;
    writeln!(out, "## Access: who accessed which cluster, when and why\n")?;
    if f.sessions.is_empty() {
        writeln!(out, "None.\n")?;
    } else {
        md::header(
            out,
            &[
                "Start (UTC)",
                "End",
                "Ended",
                "Cluster",
                "Person",
                "Groups",
                "Reason",
                "Activity",
                "Session",
            ],
        )?;
        for s in &f.sessions {
            let start = if s.start_seen {
                md_time(&s.start)
            } else {
                format!("≤ {}", md_time(&s.start))
            };
            let mut reason = s.reason.clone().unwrap_or_default();
            if s.break_glass {
                reason = format!("BREAK GLASS: {reason}");
            }
            md::row(
                out,
                &[
                    start,
                    s.end.as_deref().map(md_time).unwrap_or_default(),
                    s.ended.clone(),
                    s.cluster.clone(),
                    s.person.clone(),
                    s.groups.join(", "),
                    reason,
                    activity(s),
                    super::short_id(&s.session).to_string(),
                ],
            )?;
        }
        writeln!(
            out,
            "\nA session id here is its first 8 characters: `kaccess audit show ID` takes it. Counts cover the period only.\n"
        )?;
    }
    for (section, spool) in SECTIONS.iter().zip(f.spools) {
        writeln!(out, "## {}\n\n{}\n", section.title(), section.intro())?;
        if spool.rows() == 0 {
            writeln!(out, "None.\n")?;
            continue;
        }
        md::header(out, &MD_ROW_COLUMNS)?;
        spool.copy_to(out)?;
        writeln!(out)?;
    }
    Ok(())
}

fn csv_document(f: Finished, chain: &Status, out: &mut dyn Write) -> io::Result<()> {
    csv::write_row(out, &CSV_COLUMNS)?;
    let state = if chain.intact() { "intact" } else { "BROKEN" };
    let mut first = vec![String::new(); CSV_COLUMNS.len()];
    first[0] = "chain".into();
    first[9] = state.into();
    first[11] = chain_sentence(chain);
    csv::write_row(out, &first)?;
    for s in &f.sessions {
        let c = &s.counts;
        csv::write_row(
            out,
            &[
                "session".to_string(),
                s.start.clone(),
                s.end.clone().unwrap_or_default(),
                s.cluster.clone(),
                s.person.clone(),
                s.groups.join(" "),
                s.session.clone(),
                if s.break_glass {
                    "break glass".into()
                } else {
                    s.grant.clone().unwrap_or_default()
                },
                String::new(),
                s.ended.clone(),
                s.reason.clone().unwrap_or_default(),
                s.revoke_cause.clone().unwrap_or_default(),
                c.requests.to_string(),
                c.mutations.to_string(),
                c.denials.to_string(),
                c.streams.to_string(),
            ],
        )?;
    }
    for spool in f.spools {
        spool.copy_to(out)?;
    }
    Ok(())
}

fn json_document(
    f: Finished,
    chain: &Status,
    generated: time::OffsetDateTime,
    out: &mut dyn Write,
) -> io::Result<()> {
    let w = f.filter.window;
    let head = json!({
        "generated": super::format_time(generated),
        "since": w.since.map(super::format_time),
        "until": w.until.map(super::format_time),
        "cluster": f.filter.cluster,
        "chain": chain_json(chain),
        "summary": f.totals,
        "sessions": f.sessions,
    });
    let text = serde_json::to_string(&head)?;
    // The head's closing brace is reopened for the streamed sections.
    out.write_all(&text.as_bytes()[..text.len() - 1])?;
    for (section, spool) in SECTIONS.iter().zip(f.spools) {
        write!(out, ",\n\"{}\":[", section.key())?;
        spool.copy_to(out)?;
        out.write_all(b"]")?;
    }
    out.write_all(b"}\n")
}
