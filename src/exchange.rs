//! Client side of the broker protocol: trade a verified ID token for a
//! credential, revoke a session, list sessions. Broker refusals come back as
//! [`ExchangeError::Refused`] with the broker's error code, which decides
//! the exit code and the `help:` line.

use crate::error::Failure;
use crate::protocol::{
    EXCHANGE_PATH, ErrorBody, ErrorCode, ExchangeRequest, ExchangeResponse, RevokeResponse,
};
use crate::secret::Secret;
use anyhow::Result;
use std::path::Path;

/// Talks to one broker.
#[derive(Clone)]
pub struct BrokerClient {
    base: String,
    http: reqwest::Client,
    /// The extra trust roots, for the streaming client of the live feed.
    roots: Vec<reqwest::Certificate>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("cannot reach the kaccess broker at `{url}`: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{} (broker error `{}`)", .body.message, serde_json::to_value(.body.error).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())]
    Refused { status: u16, body: ErrorBody },
    #[error("the broker at `{url}` sent an unexpected answer: {why}")]
    BadResponse { url: String, why: String },
}

impl ExchangeError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ExchangeError::Refused { body, .. } => Some(body.error),
            _ => None,
        }
    }

    /// True when the session is over and only a new login helps.
    pub fn session_over(&self) -> bool {
        matches!(
            self.code(),
            Some(
                ErrorCode::SessionExpired
                    | ErrorCode::SessionRevoked
                    | ErrorCode::UnknownSession
                    | ErrorCode::SessionNotYours
            )
        )
    }

    /// The user-facing failure for `cluster`: exit code and next step.
    pub fn into_failure(self, cluster: &str) -> anyhow::Error {
        let login = format!("kaccess login {cluster}");
        let failure = match &self {
            ExchangeError::Unreachable { .. } => {
                Failure::unreachable(format!("cannot reach the kaccess broker for `{cluster}`"))
                    .help(
                        "check the network and `broker.url` in the config (`kaccess config check`)",
                    )
            }
            ExchangeError::BadResponse { .. } => Failure::error(format!(
                "the kaccess broker for `{cluster}` answered in a way kaccess does not understand"
            )),
            ExchangeError::Refused { body, .. } => match body.error {
                ErrorCode::MfaRequired => Failure::denied(format!(
                    "the broker wants a fresh MFA login for `{cluster}`"
                ))
                .help(format!("log in again with MFA: {login}")),
                ErrorCode::ReasonRequired => Failure::denied(format!(
                    "the broker needs a reason for access to `{cluster}`"
                ))
                .help(format!(
                    "say why you need access: {login} --reason \"TICKET-123\""
                )),
                ErrorCode::ApprovalRequired => {
                    Failure::denied(format!("`{cluster}`: {}", body.message))
                        .help("file a request, and log in with `--grant` once it is approved")
                }
                ErrorCode::UnknownRequest | ErrorCode::RequestClosed => {
                    Failure::error(format!("`{cluster}`: {}", body.message))
                        .help(format!("list requests: kaccess admin requests {cluster}"))
                }
                ErrorCode::Forbidden => Failure::denied(format!(
                    "the broker's policy grants you nothing on `{cluster}`"
                ))
                .help("ask your cluster administrators for a grant that matches your IdP groups"),
                ErrorCode::UnknownCluster => {
                    Failure::usage(format!("the broker does not know the cluster `{cluster}`"))
                        .help("check the cluster name against the broker's configuration")
                }
                ErrorCode::SessionExpired
                | ErrorCode::SessionRevoked
                | ErrorCode::UnknownSession
                | ErrorCode::SessionNotYours => {
                    Failure::login_required(format!("the session for `{cluster}` is over"))
                        .help(format!("run: {login}"))
                }
                ErrorCode::Unauthenticated => Failure::login_required(format!(
                    "the broker did not accept your login for `{cluster}`"
                ))
                .help(format!("run: {login}")),
                ErrorCode::IdpUnavailable => Failure::unreachable(format!(
                    "the broker for `{cluster}` cannot reach your identity provider"
                ))
                .help("try again shortly; if it persists, tell the broker's operators"),
                ErrorCode::AuditUnavailable | ErrorCode::StateUnavailable | ErrorCode::Internal => {
                    Failure::error(format!(
                        "the broker for `{cluster}` cannot issue credentials right now"
                    ))
                    .help("try again shortly; if it persists, tell the broker's operators")
                }
                ErrorCode::BadRequest | ErrorCode::PayloadTooLarge | ErrorCode::BadCsr => {
                    Failure::error(format!("the broker for `{cluster}` refused the request"))
                }
            },
        };
        anyhow::Error::new(self).context(failure)
    }
}

impl BrokerClient {
    /// `ca_file`: extra trust root for the broker's serving certificate.
    pub fn new(url: &str, ca_file: Option<&Path>) -> Result<Self> {
        let roots = match ca_file {
            Some(p) => crate::http::read_ca_file(p)?,
            None => Vec::new(),
        };
        Ok(BrokerClient {
            base: url.trim_end_matches('/').to_owned(),
            http: crate::http::client(roots.clone())?,
            roots,
        })
    }

    pub async fn exchange(
        &self,
        id_token: &Secret,
        req: &ExchangeRequest,
    ) -> Result<ExchangeResponse, ExchangeError> {
        self.post(EXCHANGE_PATH, id_token, req).await
    }

    /// Revokes `session_id`; `reason` is needed when it is someone
    /// else's (an admin revocation).
    pub async fn revoke(
        &self,
        id_token: &Secret,
        session_id: &str,
        reason: Option<&str>,
    ) -> Result<RevokeResponse, ExchangeError> {
        let body = crate::protocol::RevokeRequest {
            reason: reason.map(str::to_owned),
        };
        self.post(&crate::protocol::revoke_path(session_id), id_token, &body)
            .await
    }

    /// Live sessions: the caller's own, or for a broker admin everyone's,
    /// narrowed to `cluster` and `username`.
    pub async fn sessions(
        &self,
        id_token: &Secret,
        cluster: &str,
        username: Option<&str>,
    ) -> Result<crate::protocol::SessionList, ExchangeError> {
        let url = format!("{}{}", self.base, crate::protocol::SESSIONS_PATH);
        let mut query = vec![("cluster", cluster)];
        query.extend(username.map(|u| ("username", u)));
        self.call(self.http.get(&url).query(&query), &url, id_token)
            .await
    }

    /// Files an access request for a grant that needs approval.
    pub async fn file_request(
        &self,
        id_token: &Secret,
        body: &crate::protocol::NewAccessRequest,
    ) -> Result<crate::protocol::AccessRequestInfo, ExchangeError> {
        self.post(crate::protocol::REQUESTS_PATH, id_token, body)
            .await
    }

    /// Requests the caller may see at `cluster`.
    pub async fn requests(
        &self,
        id_token: &Secret,
        cluster: &str,
        pending: bool,
    ) -> Result<crate::protocol::AccessRequestList, ExchangeError> {
        let url = format!("{}{}", self.base, crate::protocol::REQUESTS_PATH);
        let mut query = vec![("cluster", cluster)];
        if pending {
            query.push(("pending", "true"));
        }
        self.call(self.http.get(&url).query(&query), &url, id_token)
            .await
    }

    pub async fn request(
        &self,
        id_token: &Secret,
        id: &str,
    ) -> Result<crate::protocol::AccessRequestInfo, ExchangeError> {
        let url = format!("{}{}", self.base, crate::protocol::request_path(id, None));
        self.call(self.http.get(&url), &url, id_token).await
    }

    /// `approve`, `deny` or `cancel` request `id`.
    pub async fn decide(
        &self,
        id_token: &Secret,
        id: &str,
        action: &str,
        reason: Option<&str>,
    ) -> Result<crate::protocol::AccessRequestInfo, ExchangeError> {
        let body = crate::protocol::RequestDecision {
            reason: reason.map(str::to_owned),
        };
        self.post(
            &crate::protocol::request_path(id, Some(action)),
            id_token,
            &body,
        )
        .await
    }

    /// Opens the live audit feed (members of `auditor-groups` or
    /// `admin-groups`). The answer streams `WatchFrame` lines until either
    /// side stops; a read that waits longer than `idle` fails.
    pub async fn watch(
        &self,
        id_token: &Secret,
        query: &crate::protocol::WatchQuery,
        idle: std::time::Duration,
    ) -> Result<reqwest::Response, ExchangeError> {
        let url = format!("{}{}", self.base, crate::protocol::AUDIT_WATCH_PATH);
        let http = crate::http::streaming_client(self.roots.clone(), idle).map_err(|e| {
            ExchangeError::BadResponse {
                url: url.clone(),
                why: format!("{e:#}"),
            }
        })?;
        let resp = self.send(http.get(&url).query(query), id_token).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        match self.answer::<serde_json::Value>(&url, resp).await {
            Err(e) => Err(e),
            Ok(_) => Err(ExchangeError::BadResponse {
                url,
                why: "a refusal without an error body".into(),
            }),
        }
    }

    async fn post<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        id_token: &Secret,
        body: &B,
    ) -> Result<R, ExchangeError> {
        let url = format!("{}{path}", self.base);
        self.call(self.http.post(&url).json(body), &url, id_token)
            .await
    }

    /// Sends `req` with the ID token as bearer; the success body as `R`,
    /// or the broker's refusal.
    async fn call<R: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        id_token: &Secret,
    ) -> Result<R, ExchangeError> {
        let resp = self.send(req, id_token).await?;
        self.answer(url, resp).await
    }

    /// Sends `req` with the ID token as bearer; a transport failure names
    /// the broker.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        id_token: &Secret,
    ) -> Result<reqwest::Response, ExchangeError> {
        req.bearer_auth(id_token.expose())
            .send()
            .await
            .map_err(|source| ExchangeError::Unreachable {
                url: self.base.clone(),
                source,
            })
    }

    /// The success body as `R`, or the broker's refusal.
    async fn answer<R: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        resp: reqwest::Response,
    ) -> Result<R, ExchangeError> {
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| ExchangeError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ExchangeError::BadResponse {
                url: url.to_owned(),
                why: e.to_string(),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ExchangeError::Refused {
                status: status.as_u16(),
                body,
            }),
            Err(_) => Err(ExchangeError::BadResponse {
                url: url.to_owned(),
                why: format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Exit, exit_of};

    fn refused(code: ErrorCode) -> ExchangeError {
        ExchangeError::Refused {
            status: 403,
            body: ErrorBody {
                error: code,
                message: "no".into(),
            },
        }
    }

    #[test]
    fn refusals_map_to_documented_exit_codes_and_next_steps() {
        let e = refused(ErrorCode::SessionRevoked).into_failure("prod");
        assert_eq!(exit_of(&e), Exit::LoginRequired);
        let mut text = String::new();
        crate::error::render(&e, "kaccess login", &mut text);
        assert!(text.contains("help: run: kaccess login prod"), "{text}");
        assert_eq!(
            exit_of(&refused(ErrorCode::MfaRequired).into_failure("p")),
            Exit::Denied
        );
        assert_eq!(
            exit_of(&refused(ErrorCode::Forbidden).into_failure("p")),
            Exit::Denied
        );
        assert_eq!(
            exit_of(&refused(ErrorCode::UnknownCluster).into_failure("p")),
            Exit::Usage
        );
        assert!(refused(ErrorCode::SessionExpired).session_over());
        assert!(!refused(ErrorCode::Forbidden).session_over());
    }
}
