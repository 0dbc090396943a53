//! The answers remembered per token and `Idempotency-Key` (see
//! `core::idempotency`).

use rusqlite::{params, OptionalExtension};

use super::Db;
use crate::core::idempotency::{Known, KEEP_MS};

/// An answer as it was sent.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What is known of a key, and its answer when there is one. Forgets the
/// keys older than a day first.
pub fn get(
    db: &Db,
    token_id: i64,
    key: &str,
    run: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<(Known, Option<Answer>)>> {
    let c = db.conn();
    c.execute(
        "DELETE FROM idempotency WHERE at_ms < ?1",
        params![now_ms - KEEP_MS],
    )?;
    c.query_row(
        "SELECT fingerprint, request, run, status, content_type, body FROM idempotency WHERE token_id = ?1 AND key = ?2",
        params![token_id, key],
        |r| {
            let status: Option<u16> = r.get(3)?;
            let known = Known { fingerprint: r.get(0)?, request: r.get(1)?, answered: status.is_some(), this_run: r.get::<_, String>(2)? == run };
            let answer = status.map(|status| Ok::<_, rusqlite::Error>(Answer { status, content_type: r.get(4)?, body: r.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default() })).transpose()?;
            Ok((known, answer))
        },
    )
    .optional()
}

/// Claims a key for a request about to run (replacing an unanswered claim
/// of an earlier run of the agent). False when another request claimed it
/// meanwhile.
pub fn claim(
    db: &Db,
    token_id: i64,
    key: &str,
    fingerprint: &str,
    request: &str,
    run: &str,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let c = db.conn();
    c.execute(
        "DELETE FROM idempotency WHERE token_id = ?1 AND key = ?2 AND status IS NULL AND run <> ?3",
        params![token_id, key, run],
    )?;
    let n = c.execute(
        "INSERT OR IGNORE INTO idempotency (token_id, key, fingerprint, request, run, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![token_id, key, fingerprint, request, run, now_ms],
    )?;
    Ok(n == 1)
}

/// Records the answer to a claimed key.
pub fn answer(db: &Db, token_id: i64, key: &str, a: &Answer) -> rusqlite::Result<()> {
    db.conn().execute(
        "UPDATE idempotency SET status = ?3, content_type = ?4, body = ?5 WHERE token_id = ?1 AND key = ?2",
        params![token_id, key, a.status, a.content_type, a.body],
    )?;
    Ok(())
}

/// Lets a claimed key go unanswered (the agent failed): the request sent again runs.
pub fn release(db: &Db, token_id: i64, key: &str) -> rusqlite::Result<()> {
    db.conn().execute(
        "DELETE FROM idempotency WHERE token_id = ?1 AND key = ?2 AND status IS NULL",
        params![token_id, key],
    )?;
    Ok(())
}
