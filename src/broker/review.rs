//! `POST /v1/tokenreview/{cluster}`: kube-apiserver's authentication
//! webhook. Answers in the `apiVersion` it was asked
//! (`authentication.k8s.io/v1` or `v1beta1`) from memory: one hash of the
//! token, two map lookups, no I/O on success. A token authenticates only at
//! the cluster it was issued for: one broker serving `dev` and `prod` must
//! not let a `dev` token in at `prod`. The bare `/v1/tokenreview` works only
//! while the broker serves a single cluster. Failed reviews are audited (an attacker probing tokens
//! shows up in the log); successful ones only counted, as the apiserver
//! asks on every uncached request.

use super::error::{AppError, audited};
use super::request::{Caller, clip, json_body};
use super::server::Shared;
use super::tokens::TokenHash;
use crate::protocol::{
    EXTRA_REASON, EXTRA_REQUEST_ID, EXTRA_SESSION_ID, TOKENREVIEW_PATH, TokenReview,
    TokenReviewSpec, TokenReviewStatus, UserInfo,
};
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use time::OffsetDateTime;

pub const API_VERSIONS: [&str; 2] = ["authentication.k8s.io/v1", "authentication.k8s.io/v1beta1"];

/// `/v1/tokenreview`: the broker's only cluster.
pub async fn handle(State(st): State<Shared>, req: Request) -> Response {
    let live = st.live();
    let only = (live.config.clusters.len() == 1)
        .then(|| live.config.clusters.keys().next().cloned())
        .flatten();
    match only {
        Some(cluster) => review(st, cluster, req).await,
        None => {
            let (parts, _) = req.into_parts();
            let e = AppError::bad_request(format!(
                "this broker serves several clusters; point the webhook at `{TOKENREVIEW_PATH}/CLUSTER`"
            ));
            refuse_malformed(&st, &Caller::of(&parts), e).await
        }
    }
}

/// `/v1/tokenreview/{cluster}`.
pub async fn handle_cluster(
    State(st): State<Shared>,
    Path(cluster): Path<String>,
    req: Request,
) -> Response {
    if !st.live().config.clusters.contains_key(&cluster) {
        let (parts, _) = req.into_parts();
        let e = AppError::new(
            axum::http::StatusCode::NOT_FOUND,
            crate::protocol::ErrorCode::UnknownCluster,
            format!("the broker knows no cluster `{}`", clip(&cluster, 64)),
        );
        return refuse_malformed(&st, &Caller::of(&parts), e).await;
    }
    review(st, cluster, req).await
}

async fn review(st: Shared, cluster: String, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let review: TokenReview = match json_body(&parts.headers, body).await {
        Ok(r) => r,
        Err(e) => return refuse_malformed(&st, &Caller::of(&parts), e).await,
    };
    if !API_VERSIONS.contains(&review.api_version.as_str()) || review.kind != "TokenReview" {
        let e = AppError::bad_request(format!(
            "expected a `TokenReview` of `{}` or `{}`",
            API_VERSIONS[0], API_VERSIONS[1]
        ));
        return refuse_malformed(&st, &Caller::of(&parts), e).await;
    }
    let hash = TokenHash::of(&review.spec.token);
    let reviewed = st
        .store
        .review(&hash, OffsetDateTime::now_utc())
        .await
        .map_err(|e| e.to_string())
        .and_then(|ok| {
            if ok.cluster == cluster {
                Ok(ok)
            } else {
                Err(format!(
                    "token is for cluster `{}`, not `{cluster}`",
                    ok.cluster
                ))
            }
        });
    let status = match reviewed {
        Ok(ok) => {
            st.metrics.review(true);
            let mut extra = BTreeMap::new();
            extra.insert(EXTRA_SESSION_ID.to_string(), vec![ok.token.session_id]);
            if let Some(reason) = ok.reason {
                extra.insert(EXTRA_REASON.to_string(), vec![reason]);
            }
            if let Some(id) = ok.elevation.and_then(|e| e.request_id) {
                extra.insert(EXTRA_REQUEST_ID.to_string(), vec![id]);
            }
            TokenReviewStatus {
                authenticated: true,
                user: Some(UserInfo {
                    username: ok.token.username,
                    uid: Some(ok.token.uid),
                    groups: ok.token.groups,
                    extra,
                }),
                audiences: None,
                error: None,
            }
        }
        Err(why) => {
            st.metrics.review(false);
            let mut rec = Caller::of(&parts).record("tokenreview");
            rec.outcome = "refused".into();
            rec.token_hash_prefix = Some(hash.prefix());
            rec.cluster = Some(cluster.clone());
            rec.cause = Some(why.clone());
            if let Err(e) = st.audit.append(rec).await {
                tracing::error!(error = %e, "cannot audit a failed review");
            }
            TokenReviewStatus {
                authenticated: false,
                error: Some(why),
                ..Default::default()
            }
        }
    };
    Json(TokenReview {
        api_version: review.api_version,
        kind: "TokenReview".into(),
        metadata: None,
        spec: TokenReviewSpec {
            token: String::new(),
            audiences: review.spec.audiences,
        },
        status: Some(status),
    })
    .into_response()
}

async fn refuse_malformed(st: &Shared, caller: &Caller, e: AppError) -> Response {
    st.metrics.review(false);
    let mut rec = caller.record("tokenreview");
    e.describe(&mut rec);
    audited(&st.audit, rec, e.into_response()).await
}
