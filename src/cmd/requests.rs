//! Access requests from the terminal. `kaccess request CLUSTER --grant NAME
//! --reason TEXT` files one and, on a terminal (or with `--wait`), shows
//! who can approve, waits, and logs in with the grant once it is approved.
//! `kaccess request cancel ID` withdraws it. Approvers use `kaccess admin
//! requests CLUSTER`, `admin approve ID` and `admin deny ID`: they need no
//! grant of their own (see [`BrokerCaller`]). A request id names its
//! cluster (`prod:3f9a…`), so the id alone finds the broker.

use super::broker_caller::BrokerCaller;
use crate::cli::RequestCancelArgs;
use crate::cli::{AdminDecideArgs, AdminRequestsArgs, Output, RequestAction, RequestArgs};
use crate::error::{Exit, Failure};
use crate::exchange::ExchangeError;
use crate::protocol::{AccessRequestInfo, ErrorCode, NewAccessRequest};
use crate::session::start::{LoginRequest, login_and_start};
use crate::units::{format_duration, parse_duration};
use anyhow::Result;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a waiting requester asks whether it was decided.
const POLL: Duration = Duration::from_secs(2);

pub fn run(args: RequestArgs) -> Result<Exit> {
    if let Some(RequestAction::Cancel(c)) = args.action {
        return runtime()?.block_on(cancel(c));
    }
    let (Some(cluster), Some(grant), Some(reason)) = (
        args.cluster.clone(),
        args.grant.clone(),
        args.reason.clone(),
    ) else {
        return Err(
            Failure::usage("`kaccess request` needs CLUSTER, `--grant` and `--reason`")
                .help("kaccess request prod --grant prod-admin --reason \"INC-7\"")
                .into(),
        );
    };
    crate::session::paths::check_cluster_name(&cluster)?;
    if reason.trim().is_empty() {
        return Err(Failure::usage("`--reason` is empty")
            .help("say why you need it, e.g. --reason \"INC-7 payments down\"")
            .into());
    }
    let duration = args
        .duration
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| Failure::usage(format!("`--duration`: {e}")))?;
    let wait_timeout = parse_duration(&args.wait_timeout)
        .map_err(|e| Failure::usage(format!("`--wait-timeout`: {e}")))?;
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let wait = args.wait || (terminal && !args.no_wait);
    let body = NewAccessRequest {
        cluster: cluster.clone(),
        grant: grant.clone(),
        reason: reason.clone(),
        duration_seconds: duration.map(|d| d.as_secs()),
    };
    let decided = runtime()?.block_on(async {
        let mut caller = BrokerCaller::new(&cluster, &args.client, Some(&args.sign_in))?;
        let filed = caller
            .call(
                |broker, token| {
                    let body = body.clone();
                    async move { broker.file_request(&token, &body).await }
                },
                request_failure,
            )
            .await?;
        announce_filed(&filed);
        if !wait {
            return anyhow::Ok(filed);
        }
        wait_for_decision(&mut caller, filed, wait_timeout).await
    })?;
    if args.output == Output::Json {
        print_json(&decided)?;
    } else if !wait {
        println!("{}", decided.id);
    }
    if !wait {
        return Ok(Exit::Ok);
    }
    match decided.state.as_str() {
        "approved" => {
            eprintln!("✓ Approved: logging in to `{cluster}` with grant `{grant}`");
            let request = LoginRequest {
                grant: Some(grant),
                ..LoginRequest::defaults(&cluster, &args.client, Some(reason))
            };
            let login = LoginRequest {
                flow: args.sign_in.flow,
                no_browser: args.sign_in.no_browser,
                ..request
            };
            let (_, session) = login_and_start(&login)?;
            eprintln!(
                "✓ Elevated session {} until {}; KUBECONFIG={}",
                session.session_id,
                crate::cmd::sessions::rfc3339(session.session_expires_at),
                session.kubeconfig.display()
            );
            Ok(Exit::Ok)
        }
        "denied" => {
            let why = decided
                .denial
                .as_ref()
                .map(|d| format!("{} denied it: {}", d.by, d.reason))
                .unwrap_or_else(|| "it was denied".into());
            Err(
                Failure::denied(format!("access request {}: {why}", decided.id))
                    .help("talk to the approver, or file a new request with more context")
                    .into(),
            )
        }
        other => Err(
            Failure::error(format!("access request {} is {other}", decided.id))
                .help(format!(
                    "file a new one: kaccess request {cluster} --grant {} --reason TEXT",
                    decided.grant
                ))
                .into(),
        ),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn announce_filed(r: &AccessRequestInfo) {
    let needed = match r.approvals_needed {
        1 => "one approval".to_string(),
        n => format!("{n} approvals from different people"),
    };
    eprintln!(
        "Filed access request {} for grant `{}` on `{}` ({}), pending until {}",
        r.id,
        r.grant,
        r.cluster,
        format_duration(Duration::from_secs(r.duration_seconds)),
        r.expires_at
    );
    eprintln!(
        "It needs {needed} from members of [{}]: kaccess admin approve {} --reason TEXT",
        r.approver_groups.join(", "),
        r.id
    );
}

async fn wait_for_decision(
    caller: &mut BrokerCaller,
    mut current: AccessRequestInfo,
    limit: Duration,
) -> Result<AccessRequestInfo> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("waiting for an approver");
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let until = Instant::now() + limit;
    while current.state == "pending" {
        if Instant::now() >= until {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            return Err(Failure::error(format!(
                "no decision on access request {} within {}",
                current.id,
                format_duration(limit)
            ))
            .help(format!(
                "it stays pending until {}; log in once it is approved: kaccess login {} --grant {}",
                current.expires_at, current.cluster, current.grant
            ))
            .into());
        }
        tokio::time::sleep(POLL).await;
        let id = current.id.clone();
        current = caller
            .call(
                |broker, token| {
                    let id = id.clone();
                    async move { broker.request(&token, &id).await }
                },
                request_failure,
            )
            .await?;
        if let Some(b) = &bar {
            b.set_message(format!(
                "waiting for an approver ({} of {} approvals)",
                current.approvals.len(),
                current.approvals_needed
            ));
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    Ok(current)
}

/// The cluster a request id names.
fn cluster_of(id: &str) -> Result<&str> {
    match id.rsplit_once(':') {
        Some((cluster, hex)) if !cluster.is_empty() && hex.len() == 16 => {
            crate::session::paths::check_cluster_name(cluster)?;
            Ok(cluster)
        }
        _ => Err(Failure::usage(format!(
            "`{id}` is not an access request id (they look like `prod:3f9a2c7d1e0b4a68`)"
        ))
        .help("list requests: kaccess admin requests CLUSTER")
        .into()),
    }
}

async fn cancel(args: RequestCancelArgs) -> Result<Exit> {
    let cluster = cluster_of(&args.id)?;
    let mut caller = BrokerCaller::new(cluster, &args.client, Some(&args.sign_in))?;
    let id = args.id.clone();
    let done = caller
        .call(
            |broker, token| {
                let id = id.clone();
                async move { broker.decide(&token, &id, "cancel", None).await }
            },
            request_failure,
        )
        .await?;
    eprintln!("✓ Cancelled access request {}", done.id);
    if args.output == Output::Json {
        print_json(&done)?;
    }
    Ok(Exit::Ok)
}

pub async fn list(args: AdminRequestsArgs) -> Result<Exit> {
    let mut caller = BrokerCaller::new(&args.cluster, &args.client, Some(&args.sign_in))?;
    let (cluster, pending) = (args.cluster.clone(), args.pending);
    let list = caller
        .call(
            |broker, token| {
                let cluster = cluster.clone();
                async move { broker.requests(&token, &cluster, pending).await }
            },
            request_failure,
        )
        .await?;
    if args.output == Output::Json {
        print_json(&list)?;
    } else if list.requests.is_empty() {
        let which = if pending { "pending " } else { "" };
        eprintln!(
            "No {which}access requests you may see at `{}`.",
            args.cluster
        );
    } else {
        print!("{}", table(&list.requests));
    }
    if list.truncated {
        eprintln!(
            "note: the broker listed only the newest {}",
            list.requests.len()
        );
    }
    Ok(Exit::Ok)
}

pub async fn decide(args: AdminDecideArgs, action: &'static str) -> Result<Exit> {
    if args.reason.trim().is_empty() {
        return Err(Failure::usage("`--reason` is empty")
            .help("say why, e.g. --reason \"INC-7 confirmed with the on-call lead\"")
            .into());
    }
    let cluster = cluster_of(&args.id)?;
    let mut caller = BrokerCaller::new(cluster, &args.client, Some(&args.sign_in))?;
    let (id, reason) = (args.id.clone(), args.reason.clone());
    let done = caller
        .call(
            |broker, token| {
                let (id, reason) = (id.clone(), reason.clone());
                async move { broker.decide(&token, &id, action, Some(&reason)).await }
            },
            request_failure,
        )
        .await?;
    match (action, done.state.as_str()) {
        ("approve", "approved") => eprintln!(
            "✓ Approved {}: {} may now log in with `{}` on `{}`",
            done.id, done.requester, done.grant, done.cluster
        ),
        ("approve", _) => eprintln!(
            "✓ Approval recorded on {}: {} of {} approvals",
            done.id,
            done.approvals.len(),
            done.approvals_needed
        ),
        _ => eprintln!(
            "✓ Denied {} ({}'s request for `{}`)",
            done.id, done.requester, done.grant
        ),
    }
    if args.output == Output::Json {
        print_json(&done)?;
    }
    Ok(Exit::Ok)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn table(requests: &[AccessRequestInfo]) -> String {
    let mut rows = vec![[
        "REQUEST".to_string(),
        "STATE".into(),
        "USER".into(),
        "GRANT".into(),
        "FOR".into(),
        "EXPIRES".into(),
        "REASON".into(),
    ]];
    for r in requests {
        rows.push([
            r.id.clone(),
            r.state.clone(),
            r.requester.clone(),
            r.grant.clone(),
            format_duration(Duration::from_secs(r.duration_seconds)),
            r.expires_at.clone(),
            r.reason.clone(),
        ]);
    }
    super::table::render(&rows)
}

/// Broker refusals of request commands, with the next step.
fn request_failure(e: ExchangeError, cluster: &str) -> anyhow::Error {
    let message = match &e {
        ExchangeError::Refused { body, .. } => body.message.clone(),
        _ => return e.into_failure(cluster),
    };
    let failure = match e.code() {
        Some(ErrorCode::Forbidden) => Failure::denied(message)
            .help("approvers are the members of the grant's `approver-groups` (broker.yaml)"),
        Some(ErrorCode::UnknownRequest) => {
            Failure::usage(message).help(format!("list requests: kaccess admin requests {cluster}"))
        }
        Some(ErrorCode::RequestClosed) => Failure::error(message).help(format!(
            "look at it again: kaccess admin requests {cluster}"
        )),
        Some(ErrorCode::BadRequest) => Failure::usage(message)
            .help("check the grant's name and `--duration` against the broker's policy"),
        _ => return e.into_failure(cluster),
    };
    anyhow::Error::new(e).context(failure)
}
