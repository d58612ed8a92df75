//! `kaccess status`, `kaccess env`, `kaccess kubeconfig`: read-only views of
//! the live sessions. Each sweeps ended sessions first, so what it shows is
//! what exists.

use crate::cli::{ClientOpts, EnvArgs, KubeconfigArgs, Output, Shell, StatusArgs};
use crate::config::login_help;
use crate::error::{Exit, Failure};
use crate::session::paths::{Layout, check_cluster_name};
use crate::session::record::{self, RecordError, SessionRecord};
use anyhow::Result;
use serde::Serialize;
use std::io::Write;
use time::OffsetDateTime;

/// The runtime layout, after removing sessions that have ended.
pub fn swept_layout() -> Result<Layout> {
    let layout = Layout::new(crate::session::runtime::runtime_dir()?);
    record::sweep(&layout, OffsetDateTime::now_utc());
    Ok(layout)
}

/// `cluster`'s live session, or exit 3 with the login command.
pub fn live_session(layout: &Layout, cluster: &str, client: &ClientOpts) -> Result<SessionRecord> {
    check_cluster_name(cluster)?;
    match record::read(layout, cluster) {
        Ok(r) => Ok(r),
        Err(RecordError::Missing(_)) => Err(Failure::login_required(format!(
            "no live session for `{cluster}`"
        ))
        .help(login_help(client.config.as_deref(), cluster))
        .into()),
        Err(e) => Err(anyhow::Error::new(e).context(
            Failure::error(format!("the session for `{cluster}` cannot be used")).help(format!(
                "run: kaccess logout {cluster} && kaccess login {cluster}"
            )),
        )),
    }
}

/// One session as `status -o json` shows it. Secrets are never included.
#[derive(Debug, Serialize)]
pub struct SessionView<'a> {
    pub cluster: &'a str,
    pub session_id: &'a str,
    pub username: &'a str,
    pub subject: &'a str,
    pub email: Option<&'a str>,
    pub groups: &'a [String],
    pub namespaces: &'a [String],
    pub reason: Option<&'a str>,
    pub credential: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub credential_expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub session_expires_at: OffsetDateTime,
    pub kubeconfig: String,
    pub embedded: bool,
}

impl<'a> From<&'a SessionRecord> for SessionView<'a> {
    fn from(r: &'a SessionRecord) -> Self {
        SessionView {
            cluster: &r.cluster,
            session_id: &r.session_id,
            username: &r.username,
            subject: &r.subject,
            email: r.email.as_deref(),
            groups: &r.groups,
            namespaces: &r.namespaces,
            reason: r.reason.as_deref(),
            credential: r.credential_kind.as_str(),
            credential_expires_at: r.credential.expires_at,
            session_expires_at: r.session_expires_at,
            kubeconfig: r.kubeconfig.display().to_string(),
            embedded: r.embedded,
        }
    }
}

/// `2026-11-26T18:01:50Z`, as in logs and JSON.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// "in 7h59m", "12s ago".
pub fn relative(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let d = t - now;
    let secs = d.whole_seconds().unsigned_abs();
    let text = crate::units::format_duration(std::time::Duration::from_secs(secs));
    if d.is_negative() {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

pub fn status(args: StatusArgs) -> Result<Exit> {
    let layout = swept_layout()?;
    let mut records = Vec::new();
    let mut broken = Vec::new();
    for (cluster, rec) in record::list(&layout) {
        if args.cluster.as_ref().is_some_and(|c| c != &cluster) {
            continue;
        }
        match rec {
            Ok(r) => records.push(r),
            Err(e) => broken.push((cluster, e)),
        }
    }
    if let Some(c) = &args.cluster {
        check_cluster_name(c)?;
    }
    let now = OffsetDateTime::now_utc();
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            let views: Vec<SessionView> = records.iter().map(SessionView::from).collect();
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "sessions": views }))?;
            writeln!(out)?;
        }
        Output::Text => {
            if records.is_empty() {
                writeln!(out, "No live sessions.")?;
            }
            for r in &records {
                writeln!(out, "✓ {} — {} ({})", r.cluster, r.username, r.subject)?;
                writeln!(out, "  groups:     {}", r.groups.join(", "))?;
                if !r.namespaces.is_empty() {
                    writeln!(out, "  namespaces: {}", r.namespaces.join(", "))?;
                }
                writeln!(out, "  reason:     {}", r.reason.as_deref().unwrap_or("-"))?;
                writeln!(
                    out,
                    "  credential: {} until {} ({})",
                    r.credential_kind.as_str(),
                    rfc3339(r.credential.expires_at),
                    relative(r.credential.expires_at, now)
                )?;
                writeln!(
                    out,
                    "  session:    ends {} ({})",
                    rfc3339(r.session_expires_at),
                    relative(r.session_expires_at, now)
                )?;
                writeln!(out, "  kubeconfig: {}", r.kubeconfig.display())?;
            }
        }
    }
    for (cluster, e) in &broken {
        eprintln!("kaccess: warning: session `{cluster}` cannot be read: {e}");
    }
    if args.cluster.is_some() && records.is_empty() {
        let c = args.cluster.as_deref().unwrap_or_default();
        return Err(
            Failure::login_required(format!("no live session for `{c}`"))
                .help(login_help(args.client.config.as_deref(), c))
                .into(),
        );
    }
    Ok(Exit::Ok)
}

/// Quotes `s` for POSIX sh and fish (single quotes; `'` closed and escaped).
fn shell_quote(s: &str, shell: Shell) -> String {
    match shell {
        Shell::Sh => format!("'{}'", s.replace('\'', r"'\''")),
        Shell::Fish => format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'")),
    }
}

pub fn env(args: EnvArgs) -> Result<Exit> {
    let layout = swept_layout()?;
    let rec = live_session(&layout, &args.cluster, &args.client)?;
    let path = shell_quote(&rec.kubeconfig.display().to_string(), args.shell);
    let line = match args.shell {
        Shell::Sh => format!("export KUBECONFIG={path}"),
        Shell::Fish => format!("set -gx KUBECONFIG {path}"),
    };
    writeln!(std::io::stdout().lock(), "{line}")?;
    Ok(Exit::Ok)
}

pub fn kubeconfig(args: KubeconfigArgs) -> Result<Exit> {
    let layout = swept_layout()?;
    let rec = live_session(&layout, &args.cluster, &args.client)?;
    writeln!(std::io::stdout().lock(), "{}", rec.kubeconfig.display())?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("/a b/it's", Shell::Sh), r"'/a b/it'\''s'");
        assert_eq!(shell_quote("/a b/it's", Shell::Fish), r"'/a b/it\'s'");
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(relative(now + time::Duration::minutes(90), now), "in 1h30m");
        assert_eq!(relative(now - time::Duration::seconds(12), now), "12s ago");
    }
}
