//! `kaccess credential CLUSTER`: the kubectl exec credential plugin.
//!
//! kubectl runs this on every command (twice, with the v1.32 dispatcher),
//! so the cache hit is the hot path: resolve the runtime dir, read one
//! file, print. No config parse, no network, no keyring, no lock. Only a
//! miss (or a credential within [`REFRESH_MARGIN`] of its end) goes to
//! `refresh`, which takes the cluster lock and talks to the IdP and broker.
//! stdout carries the ExecCredential and nothing else.

pub mod hit;

use crate::error::{Exit, Failure};
use crate::session::handout;
use crate::session::paths::{Layout, check_cluster_name};
use crate::session::record::{self, RecordError, SessionRecord};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{IsTerminal, Write};
use time::OffsetDateTime;

/// kubectl is told the credential ends this much before it really does,
/// so it asks again while the old one still works.
pub const EXPIRY_LEAD: time::Duration = time::Duration::minutes(1);
/// A cached credential with less than this left is refreshed instead.
pub const REFRESH_MARGIN: time::Duration = time::Duration::seconds(90);

pub const API_V1: &str = "client.authentication.k8s.io/v1";
pub const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// What kubectl tells the plugin in `KUBERNETES_EXEC_INFO`.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecInfo {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    #[serde(default)]
    pub spec: ExecInfoSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExecInfoSpec {
    #[serde(default)]
    pub interactive: bool,
}

/// Parses `KUBERNETES_EXEC_INFO`; absent means v1, not interactive.
pub fn exec_info_from(raw: Option<std::ffi::OsString>) -> Result<ExecInfo, Failure> {
    let Some(raw) = raw else {
        return Ok(ExecInfo {
            api_version: API_V1.into(),
            spec: ExecInfoSpec::default(),
        });
    };
    let text = raw.to_str().ok_or_else(|| {
        Failure::usage("`KUBERNETES_EXEC_INFO` is not valid UTF-8").help(
            "this variable is set by kubectl; unset it when running `kaccess credential` by hand",
        )
    })?;
    let info: ExecInfo = serde_json::from_str(text).map_err(|e| {
        Failure::usage(format!(
            "`KUBERNETES_EXEC_INFO` is not an ExecCredential: {e}"
        ))
        .help("this variable is set by kubectl; unset it when running `kaccess credential` by hand")
    })?;
    if info.api_version != API_V1 && info.api_version != API_V1BETA1 {
        return Err(Failure::usage(format!(
            "kubectl asked for `{}`, but kaccess speaks `{API_V1}` and `{API_V1BETA1}`",
            info.api_version
        ))
        .help(
            "set `apiVersion: client.authentication.k8s.io/v1` in the kubeconfig's exec stanza",
        ));
    }
    Ok(info)
}

#[derive(Debug, Serialize)]
pub struct ExecCredential<'a> {
    #[serde(rename = "apiVersion")]
    pub api_version: &'a str,
    pub kind: &'static str,
    pub status: ExecCredentialStatus<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecCredentialStatus<'a> {
    pub expiration_timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<&'a str>,
}

/// True when the credential already lasts until the session ends (the
/// broker caps credentials there). Renewing it early gains nothing, so the
/// lead and margin below do not apply: with them, every credential of a
/// session shorter than a minute or two — and the last credential of every
/// session — looked expired to kubectl on arrival, and each request made a
/// new exchange and a new certificate (client-go then drops its open
/// connections: `use of closed network connection`).
fn lasts_until_session_end(rec: &SessionRecord) -> bool {
    rec.session_expires_at - rec.credential.expires_at <= time::Duration::seconds(1)
}

/// The ExecCredential JSON for a cached credential.
pub fn render(api_version: &str, rec: &SessionRecord) -> Result<String> {
    let c = &rec.credential;
    let lead = if lasts_until_session_end(rec) {
        time::Duration::ZERO
    } else {
        EXPIRY_LEAD
    };
    let expiration = (c.expires_at - lead)
        .replace_nanosecond(0)
        .unwrap_or(c.expires_at)
        .format(&time::format_description::well_known::Rfc3339)
        .context("cannot format the expiry")?;
    let cred = ExecCredential {
        api_version,
        kind: "ExecCredential",
        status: ExecCredentialStatus {
            expiration_timestamp: expiration,
            token: c.token.as_ref().map(|t| t.expose()),
            client_certificate_data: c.certificate_pem.as_deref(),
            client_key_data: c.key_pem.as_ref().map(|k| k.expose()),
        },
    };
    Ok(serde_json::to_string(&cred)?)
}

/// Writes a rendered ExecCredential to stdout: all the plugin ever prints there.
pub fn print(json: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(json.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// True when the cached credential can be handed out as it is.
pub fn is_fresh(rec: &SessionRecord, now: OffsetDateTime) -> bool {
    let margin = if lasts_until_session_end(rec) {
        time::Duration::ZERO
    } else {
        REFRESH_MARGIN
    };
    rec.credential.expires_at - margin > now && rec.session_expires_at > now
}

/// May this invocation talk to a person? Only when kubectl says so *and*
/// there is a terminal to talk on.
pub fn can_prompt(info: &ExecInfo) -> bool {
    info.spec.interactive && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The plugin's entry point.
pub fn run(args: crate::cli::CredentialArgs) -> Result<Exit> {
    check_cluster_name(&args.cluster)?;
    let info = exec_info_from(std::env::var_os("KUBERNETES_EXEC_INFO"))?;
    let root = crate::session::runtime::runtime_dir()?;
    let layout = Layout::new(root);
    let now = OffsetDateTime::now_utc();
    let mut seen = None;
    match record::read(&layout, &args.cluster) {
        Ok(rec) if is_fresh(&rec, now) && !handout::record_and_check(&layout, &rec) => {
            print(&render(&info.api_version, &rec)?)?;
            return Ok(Exit::Ok);
        }
        Err(RecordError::Unsafe(e)) => {
            return Err(
                Failure::error(format!("refusing to use the session file: {e}"))
                    .help(format!(
                        "remove it and log in again: kaccess logout {c} && kaccess login {c}",
                        c = args.cluster
                    ))
                    .into(),
            );
        }
        Ok(rec) => seen = Some(handout::fingerprint(&rec)),
        _ => {}
    }
    crate::session::refresh::run(&layout, &args, &info, seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::record::tests::sample;

    #[test]
    fn exec_info_absent_means_v1_non_interactive() {
        let i = exec_info_from(None).unwrap();
        assert_eq!(i.api_version, API_V1);
        assert!(!i.spec.interactive);
    }

    #[test]
    fn exec_info_answers_in_the_version_asked_and_refuses_others() {
        let i = exec_info_from(Some(
            r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":true}}"#.into(),
        ))
        .unwrap();
        assert_eq!(i.api_version, API_V1BETA1);
        assert!(i.spec.interactive);
        let err = exec_info_from(Some(
            r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#.into(),
        ))
        .unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        let err = exec_info_from(Some("{not json".into())).unwrap_err();
        assert!(err.message.contains("KUBERNETES_EXEC_INFO"));
    }

    #[test]
    fn non_utf8_exec_info_is_a_usage_error() {
        use std::os::unix::ffi::OsStringExt;
        let err = exec_info_from(Some(std::ffi::OsString::from_vec(vec![0xff, 0xfe]))).unwrap_err();
        assert!(err.message.contains("not valid UTF-8"));
    }

    #[test]
    fn rendered_credential_expires_one_minute_early() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path());
        let rec = sample("prod", &l, time::Duration::hours(1));
        let json: serde_json::Value = serde_json::from_str(&render(API_V1, &rec).unwrap()).unwrap();
        assert_eq!(json["apiVersion"], API_V1);
        assert_eq!(json["kind"], "ExecCredential");
        assert_eq!(json["status"]["token"], "tok");
        let exp = OffsetDateTime::parse(
            json["status"]["expirationTimestamp"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let lead = rec.credential.expires_at - exp;
        assert!(lead >= time::Duration::seconds(60) && lead < time::Duration::seconds(61));
    }

    #[test]
    fn credential_that_lasts_until_session_end_is_fresh_and_rendered_to_its_real_end() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path());
        let now = OffsetDateTime::now_utc();
        let mut rec = sample("prod", &l, time::Duration::seconds(20));
        rec.credential.expires_at = rec.session_expires_at;
        assert!(is_fresh(&rec, now), "renewing could not extend it");
        let json: serde_json::Value = serde_json::from_str(&render(API_V1, &rec).unwrap()).unwrap();
        let exp = OffsetDateTime::parse(
            json["status"]["expirationTimestamp"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(exp > now, "kubectl must not see it as expired on arrival");
        assert!(rec.credential.expires_at - exp < time::Duration::seconds(1));
        assert!(!is_fresh(&rec, rec.session_expires_at));
    }

    #[test]
    fn credential_near_its_end_or_after_session_end_is_not_fresh() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(d.path());
        let now = OffsetDateTime::now_utc();
        let mut rec = sample("prod", &l, time::Duration::hours(1));
        assert!(is_fresh(&rec, now));
        rec.credential.expires_at = now + time::Duration::seconds(30);
        assert!(!is_fresh(&rec, now));
        let mut rec = sample("prod", &l, time::Duration::seconds(-1));
        rec.credential.expires_at = now + time::Duration::hours(1);
        assert!(!is_fresh(&rec, now));
    }
}
