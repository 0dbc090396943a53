//! The audit log: who (a token's name, or `local` / `agent`) did what, when.

use rusqlite::{params, Connection};

/// Records one entry. Takes a connection so that callers write it in the
/// same transaction as the change it records.
pub fn record(c: &Connection, at: i64, actor: &str, action: &str, detail: &str) -> rusqlite::Result<()> {
    c.execute("INSERT INTO audit (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)", params![at, actor, action, detail])?;
    Ok(())
}
