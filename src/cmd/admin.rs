//! `kaccess admin sessions|revoke CLUSTER`: list live sessions at a
//! cluster's broker, and revoke them (the incident case: a lost laptop).
//! Everyone may list their own; members of the broker's `admin-groups`
//! see and revoke anyone's, with a reason that lands in the audit log next
//! to their name.
//!
//! The ID token comes from [`BrokerCaller`]; `admin requests|approve|deny`
//! live in `requests`, `admin watch` in `watch`.

use super::broker_caller::BrokerCaller;
use crate::cli::{AdminCommand, AdminRevokeArgs, AdminSessionsArgs, Output};
use crate::error::{Exit, Failure};
use crate::exchange::ExchangeError;
use crate::protocol::{ErrorCode, SessionInfo};
use anyhow::Result;
use std::io::Write;

pub fn run(cmd: AdminCommand) -> Result<Exit> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cmd {
        AdminCommand::Sessions(args) => rt.block_on(sessions(args)),
        AdminCommand::Revoke(args) => rt.block_on(revoke(args)),
        AdminCommand::Requests(args) => rt.block_on(super::requests::list(args)),
        AdminCommand::Approve(args) => rt.block_on(super::requests::decide(args, "approve")),
        AdminCommand::Deny(args) => rt.block_on(super::requests::decide(args, "deny")),
        AdminCommand::Watch(args) => rt.block_on(super::watch::watch(args)),
    }
}

/// Broker refusals as admin-command failures: "not an admin" is not "no
/// grant on the cluster".
pub(super) fn admin_failure(e: ExchangeError, cluster: &str) -> anyhow::Error {
    match e.code() {
        Some(ErrorCode::Forbidden) => anyhow::Error::new(e).context(
            Failure::denied(format!(
                "you are not an admin at the broker for `{cluster}`"
            ))
            .help("the broker's operators name admin IdP groups in `admin-groups` (broker.yaml)"),
        ),
        Some(ErrorCode::SessionNotYours) => anyhow::Error::new(e).context(
            Failure::denied(format!(
                "that session at `{cluster}` belongs to another user, and you are not an admin"
            ))
            .help("only members of the broker's `admin-groups` may revoke other users' sessions"),
        ),
        Some(ErrorCode::UnknownSession) => anyhow::Error::new(e).context(
            Failure::usage(format!("the broker for `{cluster}` knows no such session")).help(
                format!("list live sessions: kaccess admin sessions {cluster}"),
            ),
        ),
        _ => e.into_failure(cluster),
    }
}

async fn sessions(args: AdminSessionsArgs) -> Result<Exit> {
    let mut caller = BrokerCaller::new(&args.cluster, &args.client, None)?;
    let cluster = args.cluster.clone();
    let user = args.user.clone();
    let list = caller
        .call(
            |broker, token| {
                let (cluster, user) = (cluster.clone(), user.clone());
                async move { broker.sessions(&token, &cluster, user.as_deref()).await }
            },
            admin_failure,
        )
        .await?;
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        Output::Text => {
            if list.sessions.is_empty() {
                eprintln!("No live sessions at `{}`.", args.cluster);
            } else {
                write!(out, "{}", table(&list.sessions))?;
            }
        }
    }
    if list.truncated {
        eprintln!(
            "note: the broker listed only the newest {}; narrow with `--user`",
            crate::units::count(list.sessions.len(), "session")
        );
    }
    Ok(Exit::Ok)
}

fn table(sessions: &[SessionInfo]) -> String {
    let mut rows = vec![[
        "SESSION".to_string(),
        "USER".into(),
        "STARTED".into(),
        "ENDS".into(),
        "REASON".into(),
    ]];
    for s in sessions {
        rows.push([
            s.session_id.clone(),
            s.username.clone(),
            s.started_at.clone(),
            s.expires_at.clone(),
            s.reason.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    super::table::render(&rows)
}

async fn revoke(args: AdminRevokeArgs) -> Result<Exit> {
    let reason = args.reason.trim().to_string();
    if reason.is_empty() {
        return Err(Failure::usage("`--reason` is empty")
            .help("say why, e.g. --reason \"SEC-42 laptop stolen\"")
            .into());
    }
    let mut caller = BrokerCaller::new(&args.cluster, &args.client, None)?;
    let ids: Vec<String> = match &args.user {
        None => args.session_ids.clone(),
        Some(user) => {
            let (cluster, user) = (args.cluster.clone(), user.clone());
            let list = caller
                .call(
                    |broker, token| {
                        let (cluster, user) = (cluster.clone(), user.clone());
                        async move { broker.sessions(&token, &cluster, Some(&user)).await }
                    },
                    admin_failure,
                )
                .await?;
            list.sessions.into_iter().map(|s| s.session_id).collect()
        }
    };
    if ids.is_empty() {
        eprintln!(
            "No live sessions of `{}` at `{}`; nothing to revoke.",
            args.user.as_deref().unwrap_or_default(),
            args.cluster
        );
    }
    let mut results = Vec::new();
    for id in &ids {
        let (id_owned, reason) = (id.clone(), reason.clone());
        let done = caller
            .call(
                |broker, token| {
                    let (id, reason) = (id_owned.clone(), reason.clone());
                    async move { broker.revoke(&token, &id, Some(&reason)).await }
                },
                admin_failure,
            )
            .await?;
        if done.revoked {
            eprintln!("✓ Revoked session {id} at `{}`", args.cluster);
        } else {
            eprintln!("• Session {id} at `{}` was revoked already", args.cluster);
        }
        results.push(done);
    }
    if args.output == Output::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &results)?;
        writeln!(out)?;
    }
    Ok(Exit::Ok)
}
