//! API tokens: issued at random, stored as SHA-256 hashes, named, scoped,
//! revocable, compared in constant time.

use appos_proto::calls::TokenInfo;
use appos_proto::TokenScope;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::infra::db::{tokens as store, Db};

/// Every token starts with this, so that secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "appos_";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token name {0:?}: use 1 to 64 characters from a-z A-Z 0-9 . _ - @ /")]
    InvalidName(String),
    #[error("a token named {0:?} already exists; revoke it first or issue with --replace")]
    NameTaken(String),
    #[error("no active token named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

/// Who a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: i64,
    pub name: String,
    pub scope: TokenScope,
}

impl Principal {
    /// Refuses (403) unless the token is an admin token; `what` completes
    /// "only admin tokens may …".
    pub fn require_admin(&self, what: &str) -> crate::error::Result<()> {
        if self.scope != TokenScope::Admin {
            return Err(crate::error::AgentError::refused(
                appos_proto::ProblemCode::Forbidden,
                format!("only admin tokens may {what}"),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid(Principal),
    Revoked,
    Unknown,
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'/'))
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Issues a new token and returns its secret, which is never stored.
/// With `replace`, an active token of the same name is revoked first.
pub fn issue(
    db: &Db,
    name: &str,
    scope: TokenScope,
    replace: bool,
    now: i64,
) -> Result<String, TokenError> {
    if !valid_name(name) {
        return Err(TokenError::InvalidName(name.to_string()));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    match store::insert(db, name, scope, &hash(&secret), replace, "local", now) {
        Ok(()) => Ok(secret),
        Err(store::InsertError::NameTaken) => Err(TokenError::NameTaken(name.to_string())),
        Err(store::InsertError::Db(e)) => Err(e.into()),
    }
}

/// Revokes the active token called `name`.
pub fn revoke(db: &Db, name: &str, now: i64) -> Result<(), TokenError> {
    if store::revoke(db, name, "local", now)? {
        Ok(())
    } else {
        Err(TokenError::NotFound(name.to_string()))
    }
}

/// Every token ever issued, oldest first: what it may do and when it was
/// used, never its secret.
pub fn list(db: &Db) -> Result<Vec<TokenInfo>, TokenError> {
    Ok(store::list(db)?
        .into_iter()
        .map(|t| TokenInfo {
            name: t.name,
            scope: t.scope,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        })
        .collect())
}

/// [`list`], for an admin token only.
pub async fn list_for(
    state: &crate::state::Shared,
    who: &Principal,
) -> crate::error::Result<Vec<TokenInfo>> {
    who.require_admin("list tokens")?;
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || list(&db))
        .await
        .map_err(crate::error::AgentError::internal)?
        .map_err(crate::error::AgentError::internal)
}

/// Checks a presented token. The lookup is by hash, so the secret itself is
/// never compared; the hash comparison is constant-time all the same.
pub fn verify(db: &Db, presented: &str, now: i64) -> Result<Verdict, TokenError> {
    if !presented.starts_with(TOKEN_PREFIX) || presented.len() > 128 {
        return Ok(Verdict::Unknown);
    }
    let h = hash(presented);
    let Some(row) = store::by_hash(db, &h)? else {
        return Ok(Verdict::Unknown);
    };
    if !bool::from(row.hash.as_bytes().ct_eq(h.as_bytes())) {
        return Ok(Verdict::Unknown);
    }
    if row.revoked_at.is_some() {
        return Ok(Verdict::Revoked);
    }
    // Record use at most once a minute: a write per request would serialise reads.
    if row.last_used_at.is_none_or(|t| now - t >= 60) {
        store::touch(db, row.id, now)?;
    }
    Ok(Verdict::Valid(Principal {
        token_id: row.id,
        name: row.name,
        scope: row.scope,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_revoke() {
        let db = Db::open_in_memory().expect("db");
        let t = issue(&db, "laptop", TokenScope::Admin, false, 100).expect("issue");
        assert!(t.starts_with(TOKEN_PREFIX));
        match verify(&db, &t, 101).expect("verify") {
            Verdict::Valid(p) => {
                assert_eq!(p.name, "laptop");
                assert_eq!(p.scope, TokenScope::Admin);
            }
            other => panic!("expected valid, got {other:?}"),
        }
        assert_eq!(
            verify(&db, "appos_wrong", 101).expect("verify"),
            Verdict::Unknown
        );
        assert_eq!(verify(&db, "", 101).expect("verify"), Verdict::Unknown);
        revoke(&db, "laptop", 102).expect("revoke");
        assert_eq!(verify(&db, &t, 103).expect("verify"), Verdict::Revoked);
        assert!(matches!(
            revoke(&db, "laptop", 104),
            Err(TokenError::NotFound(_))
        ));
    }

    #[test]
    fn names_are_unique_among_active_tokens() {
        let db = Db::open_in_memory().expect("db");
        let first = issue(&db, "ci", TokenScope::Read, false, 1).expect("issue");
        assert!(matches!(
            issue(&db, "ci", TokenScope::Read, false, 2),
            Err(TokenError::NameTaken(_))
        ));
        let second = issue(&db, "ci", TokenScope::Admin, true, 3).expect("replace");
        assert_eq!(verify(&db, &first, 4).expect("v"), Verdict::Revoked);
        assert!(matches!(
            verify(&db, &second, 4).expect("v"),
            Verdict::Valid(_)
        ));
        let all = list(&db).expect("list");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].revoked_at, Some(3));
        assert_eq!(all[1].scope, TokenScope::Admin);
    }

    #[test]
    fn hostile_names_are_refused() {
        let db = Db::open_in_memory().expect("db");
        for bad in ["", "a b", "x;rm -rf /", "\n", &"a".repeat(65)] {
            assert!(
                matches!(
                    issue(&db, bad, TokenScope::Admin, false, 1),
                    Err(TokenError::InvalidName(_))
                ),
                "{bad:?}"
            );
        }
        assert!(list(&db).expect("list").is_empty());
    }

    #[test]
    fn only_hashes_are_stored() {
        let db = Db::open_in_memory().expect("db");
        let t = issue(&db, "a", TokenScope::Admin, false, 1).expect("issue");
        let stored: String = db
            .conn()
            .query_row("SELECT hash FROM tokens", [], |r| r.get(0))
            .expect("row");
        assert_ne!(stored, t);
        assert_eq!(stored.len(), 64);
    }
}
