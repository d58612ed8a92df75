//! MFA check on a verified ID token.
