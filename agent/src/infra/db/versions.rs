//! App versions: every compose file and `.env` an app had, with the image
//! digests it last ran with.

use std::collections::BTreeMap;

use appos_proto::{AppVersion, HostAccess};
use rusqlite::{params, Connection, OptionalExtension};

use super::{audit, Db};
use crate::core::appfiles::{digest, File};

/// A version with its content.
#[derive(Debug, Clone)]
pub struct Version {
    pub meta: AppVersion,
    pub compose: String,
    pub env: BTreeMap<String, String>,
    /// Path → (SHA-256, executable) of the files sent with it.
    pub files: BTreeMap<String, (String, bool)>,
}

const SELECT: &str = "SELECT version, author, message, created_at, compose, env, digests, host_access, files FROM app_versions";

/// What a new version holds.
pub struct New<'a> {
    pub compose: &'a str,
    pub env: &'a BTreeMap<String, String>,
    /// The host access it is granted.
    pub host_access: &'a [HostAccess],
    /// The files sent with it.
    pub files: &'a [File],
    pub author: &'a str,
    pub message: &'a str,
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Version> {
    let env: String = r.get(5)?;
    let digests: Option<String> = r.get(6)?;
    let access: String = r.get(7)?;
    let files: BTreeMap<String, (String, bool)> =
        serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default();
    Ok(Version {
        meta: AppVersion {
            version: r.get(0)?,
            author: r.get(1)?,
            message: r.get(2)?,
            created_at: r.get(3)?,
            digests: digests
                .and_then(|d| serde_json::from_str(&d).ok())
                .unwrap_or_default(),
            host_access: serde_json::from_str(&access).unwrap_or_default(),
            files: files
                .iter()
                .map(|(p, (sha, _))| (p.clone(), sha.clone()))
                .collect(),
        },
        compose: r.get(4)?,
        env: serde_json::from_str(&env).unwrap_or_default(),
        files,
    })
}

pub(super) fn insert_in(
    c: &Connection,
    app: &str,
    version: u32,
    v: &New<'_>,
    digests: Option<&BTreeMap<String, String>>,
    now: i64,
) -> rusqlite::Result<()> {
    let env = serde_json::to_string(v.env).unwrap_or_else(|_| "{}".into());
    let access = serde_json::to_string(v.host_access).unwrap_or_else(|_| "[]".into());
    let digests = digests.map(|d| serde_json::to_string(d).unwrap_or_default());
    let mut files = BTreeMap::new();
    for f in v.files {
        let sha = digest(&f.bytes);
        c.execute(
            "INSERT OR IGNORE INTO blobs (sha256, content) VALUES (?1, ?2)",
            params![sha, f.bytes],
        )?;
        files.insert(f.path.as_str(), (sha, f.executable));
    }
    let files = serde_json::to_string(&files).unwrap_or_else(|_| "{}".into());
    c.execute(
        "INSERT INTO app_versions (app, version, compose, env, author, message, created_at, digests, host_access, files) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![app, version, v.compose, env, v.author, v.message, now, digests, access, files],
    )?;
    Ok(())
}

/// Saves the next version of an app (with its audit entry, which names the
/// host access `granted` by this save) and returns its number.
pub fn save(
    db: &Db,
    app: &str,
    v: &New<'_>,
    granted: &[HostAccess],
    now: i64,
) -> rusqlite::Result<u32> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    let n: u32 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM app_versions WHERE app = ?1",
        params![app],
        |r| r.get(0),
    )?;
    insert_in(&tx, app, n, v, None, now)?;
    let detail = if v.message.is_empty() {
        format!("version {n}")
    } else {
        format!("version {n}: {}", v.message)
    };
    audit::record(
        &tx,
        now,
        audit::Entry {
            actor: v.author,
            action: "app.version",
            app: Some(app),
            detail: &detail,
            host_access: granted,
        },
    )?;
    tx.commit()?;
    Ok(n)
}

pub fn get(db: &Db, app: &str, version: u32) -> rusqlite::Result<Option<Version>> {
    db.conn()
        .query_row(
            &format!("{SELECT} WHERE app = ?1 AND version = ?2"),
            params![app, version],
            read,
        )
        .optional()
}

pub fn latest(db: &Db, app: &str) -> rusqlite::Result<Option<Version>> {
    db.conn()
        .query_row(
            &format!("{SELECT} WHERE app = ?1 ORDER BY version DESC LIMIT 1"),
            params![app],
            read,
        )
        .optional()
}

/// Newest first.
pub fn list(db: &Db, app: &str) -> rusqlite::Result<Vec<AppVersion>> {
    let c = db.conn();
    let mut stmt = c.prepare(&format!("{SELECT} WHERE app = ?1 ORDER BY version DESC"))?;
    let rows = stmt.query_map(params![app], read)?;
    rows.map(|r| r.map(|v| v.meta)).collect()
}

pub fn set_digests(
    db: &Db,
    app: &str,
    version: u32,
    digests: &BTreeMap<String, String>,
) -> rusqlite::Result<()> {
    let json = serde_json::to_string(digests).unwrap_or_default();
    db.conn().execute(
        "UPDATE app_versions SET digests = ?1 WHERE app = ?2 AND version = ?3",
        params![json, app, version],
    )?;
    Ok(())
}

/// The files of a version, with their contents.
pub fn files(db: &Db, app: &str, version: u32) -> rusqlite::Result<Vec<File>> {
    let Some(v) = get(db, app, version)? else {
        return Ok(Vec::new());
    };
    let c = db.conn();
    let mut stmt = c.prepare_cached("SELECT content FROM blobs WHERE sha256 = ?1")?;
    v.files
        .into_iter()
        .map(|(path, (sha, executable))| {
            Ok(File {
                path,
                bytes: stmt.query_row(params![sha], |r| r.get(0))?,
                executable,
            })
        })
        .collect()
}

/// Every file path any version of the app holds.
pub fn all_paths(db: &Db, app: &str) -> rusqlite::Result<std::collections::BTreeSet<String>> {
    let c = db.conn();
    let mut stmt = c.prepare_cached("SELECT DISTINCT j.key FROM app_versions, json_each(app_versions.files) AS j WHERE app_versions.app = ?1")?;
    let rows = stmt.query_map(params![app], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Drops file contents no version holds any more.
pub(super) fn collect_blobs(c: &Connection) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM blobs WHERE sha256 NOT IN (SELECT json_extract(j.value, '$[0]') FROM app_versions, json_each(app_versions.files) AS j)",
        [],
    )?;
    Ok(())
}
