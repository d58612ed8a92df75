//! `kaccess login CLUSTER`: a verified, MFA-backed login at the cluster's
//! IdP, exchanged at the broker for a session, written as a session
//! kubeconfig that is deleted when the session ends.

use crate::cli::{ClientOpts, LoginArgs, Output};
use crate::error::{Exit, Failure};
use crate::oidc::login::LoginResult;
use crate::session::paths::check_cluster_name;
use crate::session::record::SessionRecord;
use crate::session::start::{LoginRequest, login_and_start};
use crate::units::{format_duration, parse_duration};
use anyhow::Result;
use serde_json::json;
use std::io::Write;
use time::OffsetDateTime;

pub fn run(args: LoginArgs) -> Result<Exit> {
    check_cluster_name(&args.cluster)?;
    let timeout =
        parse_duration(&args.timeout).map_err(|e| Failure::usage(format!("`--timeout`: {e}")))?;
    let session_ttl = args
        .session_ttl
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| Failure::usage(format!("`--session-ttl`: {e}")))?;
    if let Some(wanted) = session_ttl {
        crate::protocol::check_session_length(wanted)
            .map_err(|e| Failure::usage(format!("`--session-ttl`: {e}")))?;
    }
    let request = LoginRequest {
        cluster: &args.cluster,
        client: &args.client,
        flow: args.flow,
        no_browser: args.no_browser,
        timeout,
        token_store: args.token_store,
        reason: args.reason.clone(),
        session_ttl,
        credential: args.credential.map(Into::into),
        embed: args.embed,
        holding_lock: false,
        grant: args.grant.clone(),
        break_glass: args.break_glass,
    };
    let (result, session) = login_and_start(&request)?;
    report(&args.cluster, &result, &session, args.output)?;
    Ok(Exit::Ok)
}

/// `kaccess exec` without a live session: log in with the defaults.
pub fn login_for_exec(
    cluster: &str,
    reason: Option<String>,
    client: &ClientOpts,
) -> Result<SessionRecord> {
    let (_, session) = login_and_start(&LoginRequest::defaults(cluster, client, reason))?;
    Ok(session)
}

use crate::cmd::sessions::rfc3339;

/// Who logged in and the session they got: a summary on stderr, and with
/// `-o json` the same facts as one JSON object on stdout.
fn report(cluster: &str, r: &LoginResult, s: &SessionRecord, output: Output) -> Result<()> {
    let t = &r.id_token;
    let groups = t.groups("groups");
    let flow = r.flow.map(|f| format!("{f:?}").to_lowercase());
    let left = (t.expires_at - OffsetDateTime::now_utc())
        .whole_seconds()
        .max(0) as u64;
    let mut text = format!(
        "Logged in to `{cluster}` as {}{}\n",
        t.subject,
        t.email
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    // The claim that proves MFA, on a line of its own: the reason to
    // trust this session (`MFA verified: amr [pwd, otp]`).
    text += &format!("{}\n", r.mfa);
    text += &format!("  issuer:        {}\n", t.issuer);
    text += &format!(
        "  groups:        {}\n",
        if groups.is_empty() {
            "(none)".to_string()
        } else {
            groups.join(", ")
        }
    );
    text += &format!(
        "  ID token ends: {} (in {})\n",
        rfc3339(t.expires_at),
        format_duration(std::time::Duration::from_secs(left))
    );
    text += &format!("  refresh token: {}\n", r.stored.describe());
    text += &format!(
        "✓ Session {} as {} in groups [{}]\n",
        s.session_id,
        s.username,
        s.groups.join(", ")
    );
    if !s.namespaces.is_empty() {
        text += &format!("  namespaces:    {}\n", s.namespaces.join(", "));
    }
    text += &format!(
        "  credential:    {} until {}\n",
        s.credential_kind.as_str(),
        rfc3339(s.credential.expires_at)
    );
    text += &format!(
        "  session ends:  {} ({})\n",
        rfc3339(s.session_expires_at),
        crate::cmd::sessions::relative(s.session_expires_at, OffsetDateTime::now_utc())
    );
    text += &format!("  kubeconfig:    {}\n", s.kubeconfig.display());
    text += &format!(
        "To use it:\n  export KUBECONFIG={}\n",
        s.kubeconfig.display()
    );
    eprint!("{text}");
    if output == Output::Json {
        let value = json!({
            "cluster": cluster,
            "issuer": t.issuer,
            "subject": t.subject,
            "email": t.email,
            "groups": groups,
            "amr": t.amr,
            "acr": t.acr,
            "mfa_verified": r.mfa.verified(),
            "auth_time": t.auth_time.map(rfc3339),
            "expires_at": rfc3339(t.expires_at),
            "flow": flow,
            "refresh_token_store": r.stored.kind(),
            "session": crate::cmd::sessions::SessionView::from(s),
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        out.flush()?;
    }
    Ok(())
}
