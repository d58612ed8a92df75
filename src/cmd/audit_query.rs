//! `kaccess audit sessions|show|report`: questions answered from the
//! chain. Each reads its input once, checking the chain as it goes, says
//! on stderr whether the chain held, prints its answer on stdout, and
//! exits 1 when the chain is broken: the answer is still printed (an
//! incident responder needs it), but a script or a reviewer cannot
//! mistake it for one from an intact chain.

use super::audit::parse_time_flag;
use super::audit_input::{announce, read_chain, verdict};
use crate::audit::query::report::{Format, Report};
use crate::audit::query::sessions::{Filter, Sessions, Summary};
use crate::audit::query::spool::Spool;
use crate::audit::query::timeline::{Entry, Timeline};
use crate::audit::query::window::Window;
use crate::audit::query::{View, render};
use crate::cli::{AuditReportArgs, AuditSessionsArgs, AuditShowArgs, Output, ReportFormat};
use crate::error::{Exit, Failure};
use crate::text::escape_deceptive as shown;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::io::Write;

fn window(since: Option<&str>, until: Option<&str>) -> Result<Window> {
    let w = Window {
        since: since.map(|t| parse_time_flag("--since", t)).transpose()?,
        until: until.map(|t| parse_time_flag("--until", t)).transpose()?,
    };
    if let (Some(s), Some(u)) = (w.since, w.until)
        && u <= s
    {
        return Err(
            Failure::usage("`--until` is not after `--since`: the period is empty")
                .help("give `--until` a later time than `--since`, or leave it out (until now)")
                .into(),
        );
    }
    Ok(w)
}

fn stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock())
}

fn time_cell(t: &str) -> String {
    // Whole seconds are enough in a terminal; JSON keeps the record's time.
    match t.split_once('.') {
        Some((s, _)) => format!("{s}Z"),
        None => t.to_string(),
    }
}

pub fn sessions(args: AuditSessionsArgs) -> Result<Exit> {
    let filter = Filter {
        cluster: args.cluster.clone(),
        user: args.user.clone(),
        window: window(args.since.as_deref(), args.until.as_deref())?,
    };
    let mut agg = Sessions::new(filter);
    let status = read_chain(&args.input, |v| {
        agg.add(&View::of(v));
        Ok(())
    })?;
    announce(&status);
    let found = agg.finish(time::OffsetDateTime::now_utc());
    let mut out = stdout();
    match args.output {
        Output::Json => {
            let doc = serde_json::json!({
                "chain": render::chain_json(&status),
                "sessions": found,
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Output::Text => {
            if found.is_empty() {
                eprintln!("no session matches in these records");
            } else {
                out.write_all(session_table(&found).as_bytes())?;
            }
        }
    }
    out.flush().context("cannot write to stdout")?;
    verdict(&status)
}

fn session_table(found: &[Summary]) -> String {
    let mut rows = vec![
        [
            "SESSION",
            "CLUSTER",
            "PERSON",
            "GROUPS",
            "START",
            "END",
            "ENDED",
            "REQUESTS",
            "MUTATIONS",
            "DENIALS",
            "STREAMS",
            "REASON",
        ]
        .map(String::from),
    ];
    for s in found {
        let c = &s.counts;
        let start = time_cell(&s.start);
        let mut reason = shown(s.reason.as_deref().unwrap_or("-"));
        if s.break_glass {
            reason = format!("BREAK GLASS: {reason}");
        }
        rows.push([
            shown(&s.session),
            shown(&s.cluster),
            shown(&s.person),
            shown(&s.groups.join(",")),
            if s.start_seen {
                start
            } else {
                format!("<={start}")
            },
            s.end.as_deref().map_or("-".into(), time_cell),
            shown(&s.ended).replace(' ', "-"),
            c.requests.to_string(),
            c.mutations.to_string(),
            c.denials.to_string(),
            c.streams.to_string(),
            reason,
        ]);
    }
    super::table::render(&rows)
}

pub fn show(args: AuditShowArgs) -> Result<Exit> {
    let want = args.session.trim();
    if want.len() < 8 {
        return Err(Failure::usage(format!(
            "`{}` is too short to name a session: give its id, or at least its first 8 characters",
            shown(want)
        ))
        .help("list the sessions with `kaccess audit sessions FILE...`")
        .into());
    }
    let mut ids = BTreeSet::new();
    let mut agg = Sessions::new(Filter::default());
    let mut timeline = Timeline::new();
    let mut spool = Spool::new();
    let json = args.output == Output::Json;
    let put = |spool: &mut Spool, e: &Entry| -> Result<()> {
        if json {
            if spool.rows() > 0 {
                spool.write_all(b",\n")?;
            }
            serde_json::to_writer(&mut *spool, e)?;
        } else {
            writeln!(spool, "{}", entry_line(e))?;
        }
        spool.row();
        Ok(())
    };
    let status = read_chain(&args.input, |v| {
        let r = View::of(v);
        let Some(id) = r.session_id.filter(|id| id.starts_with(want)) else {
            return Ok(());
        };
        if ids.len() < 16 && !ids.contains(id) {
            ids.insert(id.to_string());
        }
        agg.add(&r);
        if let Some(e) = timeline.add(&r) {
            put(&mut spool, &e)?;
        }
        Ok(())
    })?;
    for e in timeline.finish() {
        put(&mut spool, &e)?;
    }
    announce(&status);
    match ids.len() {
        0 => {
            verdict(&status)?;
            return Err(Failure::error(format!(
                "no record of session `{}` in {}",
                shown(want),
                crate::units::count(status.records, "record")
            ))
            .help("list the sessions these records hold with `kaccess audit sessions` and the same input")
            .into());
        }
        1 => {}
        _ => {
            let list: Vec<&str> = ids.iter().map(String::as_str).collect();
            return Err(Failure::usage(format!(
                "`{}` names more than one session: {}",
                shown(want),
                list.join(", ")
            ))
            .help("give more characters of the session id")
            .into());
        }
    }
    let summary = agg.finish(time::OffsetDateTime::now_utc()).pop();
    let mut out = stdout();
    if json {
        let head = serde_json::json!({
            "chain": render::chain_json(&status),
            "session": summary,
        });
        let text = serde_json::to_string_pretty(&head)?;
        out.write_all(text[..text.len() - 1].trim_end().as_bytes())?;
        out.write_all(b",\n  \"timeline\": [\n")?;
        spool.copy_to(&mut out)?;
        out.write_all(b"\n  ]\n}\n")?;
    } else {
        if let Some(s) = &summary {
            out.write_all(session_header(s).as_bytes())?;
        }
        spool.copy_to(&mut out)?;
    }
    out.flush().context("cannot write to stdout")?;
    verdict(&status)
}

fn session_header(s: &Summary) -> String {
    let c = &s.counts;
    let mut text = format!(
        "session  {}\nperson   {}{}\ncluster  {}\ngroups   {}\nreason   {}\n",
        shown(&s.session),
        shown(&s.person),
        s.email
            .as_deref()
            .map(|e| format!(" <{}>", shown(e)))
            .unwrap_or_default(),
        shown(&s.cluster),
        shown(&s.groups.join(", ")),
        shown(s.reason.as_deref().unwrap_or("-")),
    );
    if s.break_glass || s.grant.is_some() {
        text.push_str(&format!(
            "grant    {}{}{}\n",
            shown(s.grant.as_deref().unwrap_or("-")),
            if s.break_glass { " (BREAK GLASS)" } else { "" },
            s.request_id
                .as_deref()
                .map(|r| format!(", access request {}", shown(r)))
                .unwrap_or_default()
        ));
    }
    text.push_str(&format!(
        "start    {}{}\nend      {} ({}){}\nactivity {} requests, {} mutations, {} denials, {} streams\n\n",
        time_cell(&s.start),
        if s.start_seen { "" } else { " (its start is in an earlier file)" },
        s.end.as_deref().map_or("-".into(), time_cell),
        shown(&s.ended),
        s.revoke_cause.as_deref().map(|c| format!(": {}", shown(c))).unwrap_or_default(),
        c.requests,
        c.mutations,
        c.denials,
        c.streams
    ));
    text
}

fn entry_line(e: &Entry) -> String {
    let kind = match e.stream {
        Some(n) => format!("stream {n}"),
        None => e.kind.to_string(),
    };
    let mut line = format!(
        "{}  {:<10}  {}  -> {}",
        time_cell(&e.time),
        kind,
        shown(&e.what),
        shown(&e.outcome)
    );
    if let (Some(ms), Some(i), Some(o)) = (e.duration_ms, e.bytes_in, e.bytes_out) {
        line.push_str(&format!(" ({ms} ms, {i} B in, {o} B out)"));
    }
    if let Some(r) = &e.recording {
        line.push_str(&format!(
            "; recording {} ({} bytes, sha256 {})",
            shown(&r.file),
            r.size,
            shown(&r.sha256)
        ));
    }
    line
}

pub fn report(args: AuditReportArgs) -> Result<Exit> {
    let filter = Filter {
        cluster: args.cluster.clone(),
        user: None,
        window: window(Some(&args.since), args.until.as_deref())?,
    };
    let format = match args.output {
        ReportFormat::Md => Format::Markdown,
        ReportFormat::Csv => Format::Csv,
        ReportFormat::Json => Format::Json,
    };
    let mut report = Report::new(format, filter);
    let status = read_chain(&args.input, |v| {
        report
            .add(&View::of(v))
            .context("cannot keep the report's rows")
    })?;
    announce(&status);
    let now = time::OffsetDateTime::now_utc();
    let done = report
        .finish(now)
        .context("cannot keep the report's rows")?;
    let mut out = stdout();
    render::document(done, &status, now, &mut out).context("cannot write to stdout")?;
    out.flush().context("cannot write to stdout")?;
    verdict(&status)
}
