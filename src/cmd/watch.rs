//! `kaccess admin watch [CLUSTER] [--user U] [--verb V] [-o json]`: follows
//! the broker's audit feed as records are written. Text is one readable
//! line per record (`audit::display`); `-o json` is each record as the
//! chain holds it, one a line, flushed as it comes, for piping. Ctrl-C
//! ends it cleanly (exit 0); a broker that goes away ends it with exit 5.

use super::broker_caller::BrokerCaller;
use crate::audit::{AuditRecord, display};
use crate::cli::{AdminWatchArgs, Output};
use crate::config::Config;
use crate::error::{Exit, Failure};
use crate::exchange::ExchangeError;
use crate::protocol::{ErrorCode, WATCH_KEEPALIVE, WatchFrame, WatchQuery};
use anyhow::Result;
use std::io::Write;

/// Longest line the feed may send; a record is far smaller.
const MAX_LINE: usize = 4 << 20;

pub async fn watch(args: AdminWatchArgs) -> Result<Exit> {
    let broker_of = match &args.cluster {
        Some(c) => c.clone(),
        None => only_broker(&Config::load_from(args.client.config.as_deref())?)?,
    };
    let mut caller = BrokerCaller::new(&broker_of, &args.client, None)?;
    let query = WatchQuery {
        cluster: args.cluster.clone(),
        user: args.user.clone(),
        verb: args.verb.clone(),
    };
    // Three keep-alives missed: the broker is gone.
    let idle = WATCH_KEEPALIVE * 3;
    let resp = caller
        .call(
            |broker, token| {
                let query = query.clone();
                async move { broker.watch(&token, &query, idle).await }
            },
            refused,
        )
        .await?;
    eprintln!(
        "Watching audit events at the broker for `{broker_of}`{}; Ctrl-C to stop",
        describe(&query)
    );
    tokio::select! {
        r = follow(resp, args.output, &broker_of) => r,
        _ = tokio::signal::ctrl_c() => Ok(Exit::Ok),
    }
}

/// The cluster whose broker serves every configured cluster.
fn only_broker(config: &Config) -> Result<String> {
    let mut urls: Vec<&str> = config
        .clusters
        .values()
        .map(|c| c.broker.url.trim_end_matches('/'))
        .collect();
    urls.sort_unstable();
    urls.dedup();
    match (config.clusters.keys().next(), urls.len()) {
        (Some(first), 1) => Ok(first.clone()),
        _ => {
            let known: Vec<String> = config.clusters.keys().map(|k| format!("`{k}`")).collect();
            Err(Failure::usage(format!(
                "name the cluster to watch: `{}` lists clusters at different brokers ({})",
                config.path.display(),
                known.join(", ")
            ))
            .help("e.g. kaccess admin watch prod")
            .into())
        }
    }
}

fn describe(q: &WatchQuery) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &q.cluster {
        parts.push(format!("cluster {c}"));
    }
    if let Some(u) = &q.user {
        parts.push(format!("user {u}"));
    }
    if let Some(v) = &q.verb {
        parts.push(format!("verb {v}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", crate::text::escape_deceptive(&parts.join(", ")))
    }
}

fn refused(e: ExchangeError, cluster: &str) -> anyhow::Error {
    match e.code() {
        Some(ErrorCode::Forbidden) => anyhow::Error::new(e).context(
            Failure::denied(format!(
                "you may not follow the audit feed at the broker for `{cluster}`"
            ))
            .help(
                "the broker's operators name the IdP groups that may in `auditor-groups` (or `admin-groups`) in broker.yaml",
            ),
        ),
        Some(ErrorCode::BadRequest) => anyhow::Error::new(e).context(
            Failure::usage(format!("the broker for `{cluster}` refused the filter"))
                .help("give `--user` and `--verb` as plain text on one line"),
        ),
        _ => e.into_failure(cluster),
    }
}

fn gone(cluster: &str, why: &str) -> anyhow::Error {
    Failure::unreachable(format!(
        "the broker for `{cluster}` stopped the audit feed: {why}"
    ))
    .help(format!(
        "check that the broker runs, then run `kaccess admin watch {cluster}` again"
    ))
    .into()
}

async fn follow(mut resp: reqwest::Response, output: Output, cluster: &str) -> Result<Exit> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(gone(cluster, "the connection closed")),
            Err(e) if e.is_timeout() => {
                return Err(gone(
                    cluster,
                    "it sent nothing, not even a keep-alive, for 45s",
                ));
            }
            Err(e) => return Err(gone(cluster, &format!("the connection broke ({e})"))),
        };
        buf.extend_from_slice(&chunk);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let frame: WatchFrame = serde_json::from_slice(&line).map_err(|e| {
                gone(
                    cluster,
                    &format!("it sent a line kaccess does not understand ({e})"),
                )
            })?;
            let mut out = std::io::stdout().lock();
            let mut err = std::io::stderr().lock();
            if let Some(why) = show(frame, output, &mut out, &mut err)? {
                return Err(gone(cluster, &why));
            }
        }
        if buf.len() > MAX_LINE {
            return Err(gone(cluster, "it sent a line longer than 4 MiB"));
        }
    }
}

/// Shows one frame: a record on `out` (flushed, for pipes), a lag on
/// `err`; `Some(why)` when the broker ended the feed.
fn show(
    frame: WatchFrame,
    output: Output,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Option<String>> {
    if let Some(why) = frame.ended {
        return Ok(Some(crate::text::escape_deceptive(&why)));
    }
    if let Some(n) = frame.missed {
        writeln!(
            err,
            "kaccess: warning: fell behind the feed; {} passed unseen (`kaccess audit verify` reads them all)",
            crate::units::count(n as usize, "record")
        )?;
    }
    if let Some(record) = frame.record {
        match output {
            // Keys sorted (serde_json's map): the chain's canonical line.
            Output::Json => writeln!(out, "{record}")?,
            Output::Text => match serde_json::from_value::<AuditRecord>(record.clone()) {
                Ok(rec) => writeln!(out, "{}", display::line(&rec))?,
                Err(_) => writeln!(
                    out,
                    "{}",
                    crate::text::escape_deceptive(&record.to_string())
                )?,
            },
        }
        out.flush()?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_shown_escaped() {
        let q = WatchQuery {
            cluster: Some("prod".into()),
            user: Some("a\u{202E}b".into()),
            verb: None,
        };
        assert_eq!(describe(&q), " (cluster prod, user a\\u{202E}b)");
        assert_eq!(describe(&WatchQuery::default()), "");
    }

    fn shown(line: &str, output: Output) -> (String, String, Option<String>) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let frame = serde_json::from_str(line).unwrap();
        let ended = show(frame, output, &mut out, &mut err).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            ended,
        )
    }

    #[test]
    fn json_output_is_the_chains_line_and_text_one_readable_line() {
        // Sealed as the chain holds it: canonical, keys sorted.
        let mut rec = AuditRecord {
            outcome: "issued".into(),
            cluster: Some("prod".into()),
            username: Some("alice".into()),
            ..AuditRecord::new("exchange")
        };
        let line =
            crate::audit::seal(&mut rec, crate::audit::GENESIS, "2026-03-01T10:00:00Z").unwrap();
        let frame = format!("{{\"record\":{line}}}");
        assert_eq!(
            shown(&frame, Output::Json),
            (format!("{line}\n"), String::new(), None)
        );
        assert_eq!(
            shown(&frame, Output::Text).0,
            "2026-03-01T10:00:00Z  alice  prod  exchange  issued\n"
        );
    }

    #[test]
    fn a_lag_is_a_warning_on_stderr_a_keep_alive_nothing_and_an_end_is_reported() {
        let (out, err, ended) = shown(r#"{"missed":7}"#, Output::Json);
        assert!(out.is_empty());
        assert!(err.contains("7 records passed unseen"), "{err}");
        assert_eq!(ended, None);
        assert_eq!(
            shown("{}", Output::Text),
            (String::new(), String::new(), None)
        );
        let (_, _, ended) = shown(r#"{"ended":"the broker is shutting down"}"#, Output::Text);
        assert_eq!(ended.as_deref(), Some("the broker is shutting down"));
    }
}
