//! The audit log: who (a token's name, or `local` / `agent`) did what, when,
//! to which app, and the host access it granted.

use appos_proto::{AuditEntry, HostAccess};
use rusqlite::{params, Connection};

use super::Db;

/// One change to record.
pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub app: Option<&'a str>,
    pub detail: &'a str,
    pub host_access: &'a [HostAccess],
}

/// Records one entry. Takes a connection so that callers write it in the
/// same transaction as the change it records.
pub fn record(c: &Connection, at: i64, e: Entry<'_>) -> rusqlite::Result<()> {
    let access = serde_json::to_string(e.host_access).unwrap_or_else(|_| "[]".into());
    c.execute(
        "INSERT INTO audit (at, actor, action, app, detail, host_access) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![at, e.actor, e.action, e.app, e.detail, access],
    )?;
    Ok(())
}

/// Records one entry on its own.
pub fn add(db: &Db, at: i64, e: Entry<'_>) -> rusqlite::Result<()> {
    record(&db.conn(), at, e)
}

/// Entries newest first, of one app or of all, older than `before` (an id) when given.
pub fn list(
    db: &Db,
    app: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> rusqlite::Result<Vec<AuditEntry>> {
    let c = db.conn();
    let mut stmt = c.prepare_cached(
        "SELECT id, at, actor, action, app, detail, host_access FROM audit
         WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![app, before, limit], |r| {
        let access: String = r.get(6)?;
        Ok(AuditEntry {
            id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            app: r.get(4)?,
            detail: r.get(5)?,
            host_access: serde_json::from_str(&access).unwrap_or_default(),
        })
    })?;
    rows.collect()
}
