//! API tokens as stored: names, scopes, SHA-256 hashes, times. Never secrets.

use appos_proto::TokenScope;
use rusqlite::{params, OptionalExtension};

use super::{audit, Db};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    pub hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn scope_from_db(s: &str) -> TokenScope {
    // The CHECK constraint admits only these; anything else reads as the weakest scope.
    match s {
        "admin" => TokenScope::Admin,
        "deploy" => TokenScope::Deploy,
        _ => TokenScope::Read,
    }
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        name: r.get(1)?,
        scope: scope_from_db(&r.get::<_, String>(2)?),
        hash: r.get(3)?,
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

const SELECT: &str =
    "SELECT id, name, scope, hash, created_at, last_used_at, revoked_at FROM tokens";

/// Why a token could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("an active token has that name")]
    NameTaken,
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

/// Stores a token's hash (revoking an active one of the same name first
/// when `replace`), with its audit entry.
pub fn insert(
    db: &Db,
    name: &str,
    scope: TokenScope,
    hash: &str,
    replace: bool,
    actor: &str,
    now: i64,
) -> Result<(), InsertError> {
    let mut conn = db.conn();
    let tx = conn.transaction()?;
    if replace {
        tx.execute(
            "UPDATE tokens SET revoked_at = ?1 WHERE name = ?2 AND revoked_at IS NULL",
            params![now, name],
        )?;
    }
    let inserted = tx.execute(
        "INSERT INTO tokens (name, scope, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, scope.as_str(), hash, now],
    );
    match inserted {
        Ok(_) => {}
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            return Err(InsertError::NameTaken)
        }
        Err(e) => return Err(e.into()),
    }
    let detail = format!("{name} ({})", scope.as_str());
    audit::record(
        &tx,
        now,
        audit::Entry {
            actor,
            action: "token.issue",
            app: None,
            detail: &detail,
            host_access: &[],
        },
    )?;
    tx.commit()?;
    Ok(())
}

/// Revokes the active token called `name`; false when there is none.
pub fn revoke(db: &Db, name: &str, actor: &str, now: i64) -> rusqlite::Result<bool> {
    let mut conn = db.conn();
    let tx = conn.transaction()?;
    let n = tx.execute(
        "UPDATE tokens SET revoked_at = ?1 WHERE name = ?2 AND revoked_at IS NULL",
        params![now, name],
    )?;
    if n > 0 {
        audit::record(
            &tx,
            now,
            audit::Entry {
                actor,
                action: "token.revoke",
                app: None,
                detail: name,
                host_access: &[],
            },
        )?;
    }
    tx.commit()?;
    Ok(n > 0)
}

/// Every token ever issued, oldest first.
pub fn list(db: &Db) -> rusqlite::Result<Vec<TokenRow>> {
    let conn = db.conn();
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY id"))?;
    let rows = stmt.query_map([], read)?;
    rows.collect()
}

pub fn by_hash(db: &Db, hash: &str) -> rusqlite::Result<Option<TokenRow>> {
    db.conn()
        .query_row(&format!("{SELECT} WHERE hash = ?1"), params![hash], read)
        .optional()
}

pub fn touch(db: &Db, id: i64, now: i64) -> rusqlite::Result<()> {
    db.conn().execute(
        "UPDATE tokens SET last_used_at = ?1 WHERE id = ?2",
        params![now, id],
    )?;
    Ok(())
}
