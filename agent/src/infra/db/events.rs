//! The event stream's bounded history.

use appos_proto::Event;
use rusqlite::params;

use super::Db;

/// Events kept for resuming clients.
const KEEP: i64 = 10_000;

/// Stores an event and returns its id; every 500th trims the oldest.
pub fn insert(
    db: &Db,
    at_ms: i64,
    kind: &str,
    app: Option<&str>,
    data: &serde_json::Value,
) -> rusqlite::Result<i64> {
    let c = db.conn();
    c.execute(
        "INSERT INTO events (at_ms, kind, app, data) VALUES (?1, ?2, ?3, ?4)",
        params![at_ms, kind, app, data.to_string()],
    )?;
    let id = c.last_insert_rowid();
    if id % 500 == 0 {
        c.execute("DELETE FROM events WHERE id <= ?1", params![id - KEEP])?;
    }
    Ok(id)
}

/// The stored events after `after` (at most 5000), and the newest id stored.
pub fn after(db: &Db, after: i64) -> rusqlite::Result<(Vec<Event>, i64)> {
    let c = db.conn();
    let newest: i64 = c.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
    let mut stmt = c.prepare(
        "SELECT id, at_ms, kind, app, data FROM events WHERE id > ?1 ORDER BY id LIMIT 5000",
    )?;
    let rows = stmt.query_map(params![after], |r| {
        let data: String = r.get(4)?;
        Ok(Event {
            id: r.get(0)?,
            at_ms: r.get(1)?,
            kind: r.get(2)?,
            app: r.get(3)?,
            data: serde_json::from_str(&data).unwrap_or_default(),
        })
    })?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, newest))
}
