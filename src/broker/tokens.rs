//! Bearer tokens for the `token` credential: 256 random bits, shown to the
//! client once; the broker keeps only their SHA-256, so a copy of its
//! state cannot be replayed against the cluster.

use crate::secret::Secret;
use base64::Engine as _;
use rand::RngCore;

/// Makes tokens recognisable to secret scanners.
pub const TOKEN_PREFIX: &str = "kaccess_";

pub use crate::store::TokenHash;

/// A fresh token and its hash.
pub fn new_token() -> (Secret, TokenHash) {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let hash = TokenHash::of(&token);
    (Secret::new(token), hash)
}

/// A fresh session id: 128 random bits, lower-case hex.
pub fn new_session_id() -> String {
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

/// Session ids come back in URL paths; anything not shaped like one is
/// unknown without a lookup.
pub fn looks_like_session_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_to_their_key() {
        let (a, ha) = new_token();
        let (b, hb) = new_token();
        assert_ne!(a.expose(), b.expose());
        assert_ne!(ha, hb);
        assert_eq!(TokenHash::of(a.expose()), ha);
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        // 32 bytes of base64url without padding.
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(ha.prefix().len(), 12);
        assert!(!format!("{ha:?}").contains(&hex::encode(ha.0)));
    }

    #[test]
    fn session_ids_have_one_shape() {
        let id = new_session_id();
        assert!(looks_like_session_id(&id));
        assert!(!looks_like_session_id("../../etc/passwd"));
        assert!(!looks_like_session_id(&id.to_uppercase()));
    }
}
