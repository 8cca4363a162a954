//! Who may do what: access tokens and their scopes. Pure code; the store
//! keeps the hashes, the service checks requests against them.
//!
//! Tokens are 32 random bytes. Only their SHA-256 is stored: a leaked
//! database grants nothing, and a high-entropy token needs no slow hash.
//! Lookups go by hash and the match is confirmed in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything.
    Admin,
    /// Deploys and reads of one app.
    App(String),
}

impl Scope {
    /// Whether this scope reaches `app`.
    pub fn allows_app(&self, app: &str) -> bool {
        match self {
            Scope::Admin => true,
            Scope::App(own) => bool::from(own.as_bytes().ct_eq(app.as_bytes())),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Scope::Admin)
    }
}

/// Prefix of every token Slipway makes, so leaked ones are easy to find.
const PREFIX: &str = "slw_";

/// A fresh token: `slw_` and 64 hex digits.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets without leaking where they differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("slw_") && a.len() == 68);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(!token_hash(&a).contains(&a[4..]));
    }

    #[test]
    fn scopes() {
        assert!(Scope::Admin.allows_app("x"));
        assert!(Scope::App("x".into()).allows_app("x"));
        assert!(!Scope::App("x".into()).allows_app("y"));
        assert!(!Scope::App("x".into()).allows_app("xy"));
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
    }
}
