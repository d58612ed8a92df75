//! Client side of the broker protocol: trade a verified ID token for a
//! credential, and revoke a session. Broker refusals come back as
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
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("cannot reach the kaccess broker at `{url}`: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the broker refused: {}", .body.message)]
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
        let msg = self.to_string();
        let failure = match &self {
            ExchangeError::Unreachable { .. } => Failure::unreachable(msg)
                .help("check the network and `broker.url` in the config (`kaccess config check`)"),
            ExchangeError::BadResponse { .. } => Failure::error(msg),
            ExchangeError::Refused { body, .. } => match body.error {
                ErrorCode::MfaRequired => {
                    Failure::denied(msg).help(format!("log in again with MFA: {login}"))
                }
                ErrorCode::ReasonRequired => Failure::denied(msg).help(format!(
                    "say why you need access: {login} --reason \"TICKET-123\""
                )),
                ErrorCode::Forbidden => Failure::denied(msg).help(
                    "ask your cluster administrators for a grant that matches your IdP groups",
                ),
                ErrorCode::UnknownCluster => Failure::usage(msg)
                    .help("check the cluster name against the broker's configuration"),
                ErrorCode::SessionExpired
                | ErrorCode::SessionRevoked
                | ErrorCode::UnknownSession
                | ErrorCode::SessionNotYours
                | ErrorCode::Unauthenticated => {
                    Failure::login_required(msg).help(format!("run: {login}"))
                }
                ErrorCode::IdpUnavailable => Failure::unreachable(msg)
                    .help("the broker cannot reach your identity provider; try again shortly"),
                ErrorCode::AuditUnavailable | ErrorCode::Internal => Failure::error(msg)
                    .help("the broker cannot issue credentials right now; tell its operators"),
                ErrorCode::BadRequest | ErrorCode::PayloadTooLarge | ErrorCode::BadCsr => {
                    Failure::error(msg)
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
            http: crate::http::client(roots)?,
        })
    }

    pub async fn exchange(
        &self,
        id_token: &Secret,
        req: &ExchangeRequest,
    ) -> Result<ExchangeResponse, ExchangeError> {
        self.post(EXCHANGE_PATH, id_token, req).await
    }

    pub async fn revoke(
        &self,
        id_token: &Secret,
        session_id: &str,
    ) -> Result<RevokeResponse, ExchangeError> {
        self.post(
            &crate::protocol::revoke_path(session_id),
            id_token,
            &serde_json::json!({}),
        )
        .await
    }

    async fn post<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        id_token: &Secret,
        body: &B,
    ) -> Result<R, ExchangeError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(id_token.expose())
            .json(body)
            .send()
            .await
            .map_err(|source| ExchangeError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
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
                url: url.clone(),
                why: e.to_string(),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ExchangeError::Refused {
                status: status.as_u16(),
                body,
            }),
            Err(_) => Err(ExchangeError::BadResponse {
                url,
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
        crate::error::render(&e, &mut text);
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
