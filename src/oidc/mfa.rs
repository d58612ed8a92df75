//! kaccess's own MFA check. Asking the IdP for MFA (`acr_values`) is not
//! proof: the ID token must say MFA happened (`amr` or `acr`), and for a
//! new session that it happened recently (`auth_time`).

use super::verify::VerifiedIdToken;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// The `amr` values (RFC 8176) that count as MFA unless configured otherwise.
pub const DEFAULT_AMR_ANY: &[&str] = &["mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "pin"];

/// What counts as MFA for one issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaPolicy {
    pub required: bool,
    pub amr_any: Vec<String>,
    pub acr_any: Vec<String>,
    pub max_auth_age: Option<Duration>,
}

impl Default for MfaPolicy {
    fn default() -> Self {
        MfaPolicy {
            required: true,
            amr_any: DEFAULT_AMR_ANY.iter().map(|s| s.to_string()).collect(),
            acr_any: Vec::new(),
            max_auth_age: None,
        }
    }
}

/// Why a verified token still does not prove MFA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MfaError {
    #[error(
        "the ID token does not prove MFA: `amr` is [{}] and `acr` is {}, but MFA needs `amr` to contain one of [{}]{}",
        .amr.join(", "),
        .acr.as_deref().map(|a| format!("`{a}`")).unwrap_or_else(|| "absent".into()),
        .amr_any.join(", "),
        if .acr_any.is_empty() { String::new() } else { format!(" or `acr` to be one of [{}]", .acr_any.join(", ")) }
    )]
    NotProven {
        amr: Vec<String>,
        acr: Option<String>,
        amr_any: Vec<String>,
        acr_any: Vec<String>,
    },
    #[error("the ID token has no `auth_time` claim, so the age of the MFA login cannot be checked")]
    NoAuthTime,
    #[error("the MFA login is {age_secs}s old; at most {max_secs}s is allowed for a new session")]
    TooOld { age_secs: i64, max_secs: u64 },
}

impl MfaError {
    /// What to change at the identity provider, for the `help:` line.
    pub fn idp_hint(&self) -> &'static str {
        match self {
            MfaError::NotProven { .. } => {
                "require MFA for the kaccess client at the IdP and release the `amr` (or `acr`) claim in the ID token; or adjust `mfa.amr-any`/`mfa.acr-any`"
            }
            MfaError::NoAuthTime => {
                "make the IdP include `auth_time` in the ID token (OIDC `max_age`/`auth_time` claim request)"
            }
            MfaError::TooOld { .. } => "log in again to prove MFA now",
        }
    }
}

/// Checks `token` against `policy`. `check_age` is true where freshness
/// matters: a login (client) or a new session (broker).
pub fn check_mfa(
    token: &VerifiedIdToken,
    policy: &MfaPolicy,
    now: OffsetDateTime,
    check_age: bool,
) -> Result<(), MfaError> {
    if policy.required {
        let amr_ok = token.amr.iter().any(|m| policy.amr_any.contains(m));
        let acr_ok = token
            .acr
            .as_ref()
            .is_some_and(|a| policy.acr_any.contains(a));
        if !amr_ok && !acr_ok {
            return Err(MfaError::NotProven {
                amr: token.amr.clone(),
                acr: token.acr.clone(),
                amr_any: policy.amr_any.clone(),
                acr_any: policy.acr_any.clone(),
            });
        }
    }
    if let (true, Some(max)) = (check_age, policy.max_auth_age) {
        let auth_time = token.auth_time.ok_or(MfaError::NoAuthTime)?;
        let age = (now - auth_time).whole_seconds();
        if age > max.as_secs() as i64 {
            return Err(MfaError::TooOld {
                age_secs: age,
                max_secs: max.as_secs(),
            });
        }
    }
    Ok(())
}

/// What proved MFA on an accepted ID token: the summary after a login
/// says so, with the claims it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaProof {
    /// The claims that satisfied the policy, as the token had them.
    Verified {
        amr: Option<Vec<String>>,
        acr: Option<String>,
    },
    /// `mfa.required: false`: nothing was checked.
    NotRequired {
        amr: Vec<String>,
        acr: Option<String>,
    },
}

impl MfaProof {
    /// For a token that passed [`check_mfa`] under `policy`.
    pub fn of(token: &VerifiedIdToken, policy: &MfaPolicy) -> MfaProof {
        if !policy.required {
            return MfaProof::NotRequired {
                amr: token.amr.clone(),
                acr: token.acr.clone(),
            };
        }
        let amr_ok = token.amr.iter().any(|m| policy.amr_any.contains(m));
        let acr_ok = token
            .acr
            .as_ref()
            .is_some_and(|a| policy.acr_any.contains(a));
        MfaProof::Verified {
            amr: amr_ok.then(|| token.amr.clone()),
            acr: token.acr.clone().filter(|_| acr_ok),
        }
    }

    pub fn verified(&self) -> bool {
        matches!(self, MfaProof::Verified { .. })
    }
}

impl std::fmt::Display for MfaProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let amr = |a: &[String]| format!("amr [{}]", a.join(", "));
        match self {
            MfaProof::Verified { amr: a, acr } => {
                let seen: Vec<String> = a
                    .as_deref()
                    .map(amr)
                    .into_iter()
                    .chain(acr.iter().map(|c| format!("acr {c}")))
                    .collect();
                write!(f, "MFA verified: {}", seen.join(", "))
            }
            MfaProof::NotRequired { amr: a, acr } => write!(
                f,
                "MFA not checked (`mfa.required: false`): {}, acr {}",
                amr(a),
                acr.as_deref().unwrap_or("(none)")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::verify::tests::token_with;

    fn policy(max_age: Option<u64>) -> MfaPolicy {
        MfaPolicy {
            acr_any: vec!["urn:example:mfa".into()],
            max_auth_age: max_age.map(Duration::from_secs),
            ..MfaPolicy::default()
        }
    }

    #[test]
    fn otp_in_amr_is_mfa() {
        let now = OffsetDateTime::now_utc();
        let t = token_with(&["pwd", "otp"], None, Some(now));
        assert_eq!(check_mfa(&t, &policy(Some(60)), now, true), Ok(()));
    }

    #[test]
    fn password_only_is_refused_and_the_message_names_the_claims() {
        let now = OffsetDateTime::now_utc();
        let t = token_with(&["pwd"], None, Some(now));
        let err = check_mfa(&t, &policy(None), now, true).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`amr` is [pwd]"), "{msg}");
        assert!(msg.contains("`acr` is absent"), "{msg}");
        assert!(msg.contains("urn:example:mfa"), "{msg}");
    }

    #[test]
    fn acr_alone_can_prove_mfa() {
        let now = OffsetDateTime::now_utc();
        let t = token_with(&[], Some("urn:example:mfa"), Some(now));
        assert_eq!(check_mfa(&t, &policy(None), now, false), Ok(()));
    }

    #[test]
    fn stale_or_missing_auth_time_is_refused_only_when_age_matters() {
        let now = OffsetDateTime::now_utc();
        let old = token_with(&["otp"], None, Some(now - time::Duration::minutes(20)));
        assert!(matches!(
            check_mfa(&old, &policy(Some(600)), now, true),
            Err(MfaError::TooOld { .. })
        ));
        assert_eq!(check_mfa(&old, &policy(Some(600)), now, false), Ok(()));
        let none = token_with(&["otp"], None, None);
        assert_eq!(
            check_mfa(&none, &policy(Some(600)), now, true),
            Err(MfaError::NoAuthTime)
        );
    }

    #[test]
    fn not_required_accepts_password_only() {
        let now = OffsetDateTime::now_utc();
        let t = token_with(&["pwd"], None, None);
        let p = MfaPolicy {
            required: false,
            ..MfaPolicy::default()
        };
        assert_eq!(check_mfa(&t, &p, now, true), Ok(()));
    }

    #[test]
    fn the_proof_names_the_claims_that_satisfied_the_policy() {
        let now = OffsetDateTime::now_utc();
        let both = token_with(&["pwd", "otp"], Some("urn:example:mfa"), Some(now));
        assert_eq!(
            MfaProof::of(&both, &MfaPolicy::default()).to_string(),
            "MFA verified: amr [pwd, otp]",
            "the acr is not in the default acr-any, so it proved nothing"
        );
        assert_eq!(
            MfaProof::of(&both, &policy(None)).to_string(),
            "MFA verified: amr [pwd, otp], acr urn:example:mfa"
        );
        let acr_only = token_with(&["pwd"], Some("urn:example:mfa"), Some(now));
        assert_eq!(
            MfaProof::of(&acr_only, &policy(None)).to_string(),
            "MFA verified: acr urn:example:mfa"
        );
        let off = MfaPolicy {
            required: false,
            ..MfaPolicy::default()
        };
        let proof = MfaProof::of(&acr_only, &off);
        assert!(!proof.verified());
        assert!(proof.to_string().starts_with("MFA not checked"), "{proof}");
    }
}
