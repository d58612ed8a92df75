//! kube-apiserver's impersonation filter (k8s.io/apiserver
//! `pkg/endpoints/filters/impersonation.go`), as the stand-in applies it
//! after authentication:
//! - `Impersonate-User`, each `Impersonate-Group`, `Impersonate-Uid` and
//!   each `Impersonate-Extra-<key>` value is its own authorization check
//!   with verb `impersonate`: `users`/`groups`/`serviceaccounts` in the core
//!   group, `uids` and `userextras/<key>` in `authentication.k8s.io`, the
//!   header value as the resource name. One denial: 403.
//! - Groups, UID or extra without a user: 400.
//! - The extra key is the header suffix lower-cased, then path-unescaped
//!   (the raw key if that fails).
//! - The impersonated user gets `system:authenticated` unless it lists it
//!   (or `system:unauthenticated`); `system:anonymous` gets
//!   `system:unauthenticated` instead.
//!
//! The stand-in's authorizer lets exactly the `impersonators` impersonate.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::collections::BTreeMap;

use super::authn::User;
use super::resources::status;

/// One authorization question, as a SubjectAccessReview would put it.
struct Check {
    group: &'static str,
    resource: String,
    name: String,
}

/// The impersonated user, the caller unchanged when nothing is asked, or
/// the refusal kube-apiserver would send.
pub(super) fn apply(
    user: User,
    headers: &HeaderMap,
    impersonators: &[String],
) -> Result<(User, Option<String>), Box<Response>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    let users = values("impersonate-user");
    let groups = values("impersonate-group");
    let uids = values("impersonate-uid");
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(raw) = name.as_str().strip_prefix("impersonate-extra-") {
            let key = raw.to_lowercase();
            let key = percent_decode(&key).unwrap_or(key);
            extra
                .entry(key)
                .or_default()
                .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
    }
    if users.is_empty() && groups.is_empty() && uids.is_empty() && extra.is_empty() {
        return Ok((user, None));
    }
    let Some(username) = users.first().cloned() else {
        return Err(Box::new(status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "requested impersonation of groups, uid or extra without impersonating a user",
        )));
    };
    let mut checks = vec![
        if let Some(sa) = username.strip_prefix("system:serviceaccount:") {
            Check {
                group: "",
                resource: "serviceaccounts".into(),
                name: sa.rsplit(':').next().unwrap_or(sa).to_string(),
            }
        } else {
            Check {
                group: "",
                resource: "users".into(),
                name: username.clone(),
            }
        },
    ];
    checks.extend(groups.iter().map(|g| Check {
        group: "",
        resource: "groups".into(),
        name: g.clone(),
    }));
    checks.extend(uids.iter().map(|u| Check {
        group: "authentication.k8s.io",
        resource: "uids".into(),
        name: u.clone(),
    }));
    for (key, vals) in &extra {
        checks.extend(vals.iter().map(|v| Check {
            group: "authentication.k8s.io",
            resource: format!("userextras/{key}"),
            name: v.clone(),
        }));
    }
    let allowed = impersonators.contains(&user.username);
    if let Some(denied) = checks.iter().find(|_| !allowed) {
        return Err(Box::new(status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "{} \"{}\" is forbidden: User \"{}\" cannot impersonate resource \"{}\" in API group \"{}\" at the cluster scope",
                denied.resource, denied.name, user.username, denied.resource, denied.group
            ),
        )));
    }
    let mut new_groups = groups;
    if username == "system:anonymous" {
        if !new_groups.iter().any(|g| g == "system:unauthenticated") {
            new_groups.push("system:unauthenticated".into());
        }
    } else if !new_groups
        .iter()
        .any(|g| g == "system:authenticated" || g == "system:unauthenticated")
    {
        new_groups.push("system:authenticated".into());
    }
    let impersonator = user.username.clone();
    Ok((
        User {
            username,
            uid: uids.first().cloned(),
            groups: new_groups,
            extra,
            via: user.via,
        },
        Some(impersonator),
    ))
}

/// Go's `url.PathUnescape`.
fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}
