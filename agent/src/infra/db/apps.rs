//! The apps AppOS manages: how each came (deployed or adopted), and the
//! bind mounts an app adopted before migration 8 may keep.

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
    /// The host access version 1 is granted.
    pub host_access: &'a [appos_proto::HostAccess],
    /// The files sent with version 1.
    pub files: &'a [crate::core::appfiles::File],
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
    tx.execute(
        "INSERT INTO apps (name, created_at, origin) VALUES (?1, ?2, ?3)",
        params![app.name, app.now, app.origin.as_str()],
    )?;
    let v1 = super::versions::New {
        compose: app.compose,
        env: app.env,
        host_access: app.host_access,
        files: app.files,
        author: app.author,
        message: app.message,
    };
    super::versions::insert_in(&tx, app.name, 1, &v1, app.digests, app.now)?;
    if let Some((id, created_ms)) = app.deployment {
        super::deployments::insert_in(
            &tx,
            id,
            app.name,
            1,
            appos_proto::Operation::Deploy,
            false,
            created_ms,
        )?;
    }
    let action = match app.origin {
        Origin::Deployed => "app.deploy",
        Origin::Adopted => "app.adopt",
    };
    audit::record(
        &tx,
        app.now,
        audit::Entry {
            actor: app.author,
            action,
            app: Some(app.name),
            detail: app.message,
            host_access: app.host_access,
        },
    )?;
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
    let n: i64 = db.conn().query_row(
        "SELECT COUNT(*) FROM apps WHERE name = ?1",
        params![name],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// The bind-mount sources an app adopted before host access was recorded
/// per version may keep outside its directory.
pub fn bind_allow(db: &Db, app: &str) -> rusqlite::Result<Vec<String>> {
    let json: Option<String> = db
        .conn()
        .query_row(
            "SELECT bind_allow FROM apps WHERE name = ?1",
            params![app],
            |r| r.get(0),
        )
        .optional()?;
    Ok(json
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default())
}

/// Forgets an app and its versions (deployment records stay), with the audit entry.
pub fn delete(db: &Db, app: &str, actor: &str, now: i64) -> rusqlite::Result<()> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    tx.execute("DELETE FROM apps WHERE name = ?1", params![app])?;
    tx.execute("DELETE FROM app_versions WHERE app = ?1", params![app])?;
    super::versions::collect_blobs(&tx)?;
    audit::record(
        &tx,
        now,
        audit::Entry {
            actor,
            action: "app.delete",
            app: Some(app),
            detail: "",
            host_access: &[],
        },
    )?;
    tx.commit()
}
