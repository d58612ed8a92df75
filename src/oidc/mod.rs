//! Getting a verified, MFA-backed ID token from an OpenID Connect provider.
//!
//! - `discovery`: provider metadata and keys, issuer matched exactly
//! - `verify`: ID-token validation (signature, iss, aud, azp, exp, iat,
//!   nonce) shared by the client and the broker
//! - `mfa`: kaccess's own MFA check on amr/acr/auth_time
//! - `accept`: an ID token's checks plus MFA, as exit codes and help
//! - `browser`, `device`: the two interactive flows
//! - `revoke`: refresh-token revocation at logout (RFC 7009)
//! - `login`: flow choice, verification, refresh-token storage, refresh

pub mod accept;
pub mod browser;
pub mod device;
pub mod discovery;
pub mod login;
pub mod mfa;
pub mod revoke;
pub mod verify;
