//! The apps AppOS manages: how each came (deployed or adopted) and the bind
//! mounts an adopted one may keep outside its directory.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{params, OptionalExtension};

use super::{audit, Db};

/// How an app came to be managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Deployed,
    Adopted,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Deployed => "deployed",
            Origin::Adopted => "adopted",
        }
    }
}

/// A new app with its version 1 (and, for a deployed one, its first deployment).
pub struct NewApp<'a> {
    pub name: &'a str,
    pub origin: Origin,
    pub bind_allow: &'a [String],
    pub compose: &'a str,
    pub env: &'a BTreeMap<String, String>,
    pub digests: Option<&'a BTreeMap<String, String>>,
    pub author: &'a str,
    pub message: &'a str,
    pub now: i64,
    /// `(id, created_ms)` of a queued deploy of version 1.
    pub deployment: Option<(&'a str, i64)>,
}

/// Records an app, its version 1, its first deployment and the audit entry
/// in one transaction.
pub fn insert(db: &Db, app: NewApp<'_>) -> rusqlite::Result<()> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    let allow = serde_json::to_string(app.bind_allow).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "INSERT INTO apps (name, created_at, origin, bind_allow) VALUES (?1, ?2, ?3, ?4)",
        params![app.name, app.now, app.origin.as_str(), allow],
    )?;
    super::versions::insert_in(&tx, app.name, 1, app.compose, app.env, app.digests, app.author, app.message, app.now)?;
    if let Some((id, created_ms)) = app.deployment {
        super::deployments::insert_in(&tx, id, app.name, 1, appos_proto::Operation::Deploy, false, created_ms)?;
    }
    let action = match app.origin {
        Origin::Deployed => "app.deploy",
        Origin::Adopted => "app.adopt",
    };
    audit::record(&tx, app.now, app.author, action, app.name)?;
    tx.commit()
}

/// The names of every managed app.
pub fn names(db: &Db) -> rusqlite::Result<HashSet<String>> {
    let c = db.conn();
    let mut stmt = c.prepare_cached("SELECT name FROM apps")?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
    names.collect()
}

/// Whether AppOS manages an app of this name.
pub fn exists(db: &Db, name: &str) -> rusqlite::Result<bool> {
    let n: i64 = db.conn().query_row("SELECT COUNT(*) FROM apps WHERE name = ?1", params![name], |r| r.get(0))?;
    Ok(n > 0)
}

/// The bind-mount sources an adopted app may keep outside its directory.
pub fn bind_allow(db: &Db, app: &str) -> rusqlite::Result<Vec<String>> {
    let json: Option<String> = db.conn().query_row("SELECT bind_allow FROM apps WHERE name = ?1", params![app], |r| r.get(0)).optional()?;
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default())
}

/// Forgets an app and its versions (deployment records stay), with the audit entry.
pub fn delete(db: &Db, app: &str, actor: &str, now: i64) -> rusqlite::Result<()> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    tx.execute("DELETE FROM apps WHERE name = ?1", params![app])?;
    tx.execute("DELETE FROM app_versions WHERE app = ?1", params![app])?;
    audit::record(&tx, now, actor, "app.delete", app)?;
    tx.commit()
}
