//! The agent's SQLite database: connection setup, schema migrations, and
//! one module per table or aggregate holding its SQL. Nothing outside this
//! module writes SQL against the agent's database.
//!
//! Migrations are SQL in code, applied in order and recorded in
//! `PRAGMA user_version`, so an agent upgrade migrates the database on start.

pub mod alerts;
pub mod apps;
pub mod audit;
pub mod backups;
pub mod deployments;
pub mod domains;
pub mod events;
pub mod idempotency;
pub mod tokens;
pub mod versions;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: API tokens, stored as SHA-256 hashes only.
    "CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('admin', 'read')),
        hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at INTEGER
    );
    CREATE UNIQUE INDEX tokens_active_name ON tokens(name) WHERE revoked_at IS NULL;
    CREATE TABLE apps (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        origin TEXT NOT NULL CHECK (origin IN ('deployed', 'adopted'))
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );",
    // 2: app versions and deployments.
    "CREATE TABLE app_versions (
        app TEXT NOT NULL,
        version INTEGER NOT NULL,
        compose TEXT NOT NULL,
        env TEXT NOT NULL,
        author TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        digests TEXT,
        PRIMARY KEY (app, version)
    );
    CREATE TABLE deployments (
        id TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        version INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_ms INTEGER NOT NULL,
        finished_ms INTEGER
    );
    CREATE INDEX deployments_by_app ON deployments(app, created_ms);
    CREATE TABLE deployment_steps (
        deployment_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        finished_ms INTEGER,
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (deployment_id, idx)
    );
    CREATE TABLE deployment_log (
        deployment_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        step TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (deployment_id, seq)
    );",
    // 3: deployments carry their operation; deletes may remove volumes.
    "ALTER TABLE deployments ADD COLUMN operation TEXT NOT NULL DEFAULT 'deploy';
     ALTER TABLE deployments ADD COLUMN remove_volumes INTEGER NOT NULL DEFAULT 0;",
    // 4: the event stream's bounded history.
    "CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        app TEXT,
        data TEXT NOT NULL
    );",
    // 5: bind mounts an adopted app may keep outside its directory.
    "ALTER TABLE apps ADD COLUMN bind_allow TEXT NOT NULL DEFAULT '[]';",
    // 6: a pull step's log lines carry their progress, typed (JSON).
    "ALTER TABLE deployment_log ADD COLUMN pull TEXT;",
    // 7: the deploy scope (SQLite cannot change a CHECK: the table is rebuilt).
    "CREATE TABLE tokens_new (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('admin', 'deploy', 'read')),
        hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at INTEGER
    );
    INSERT INTO tokens_new SELECT id, name, scope, hash, created_at, last_used_at, revoked_at FROM tokens;
    DROP TABLE tokens;
    ALTER TABLE tokens_new RENAME TO tokens;
    CREATE UNIQUE INDEX tokens_active_name ON tokens(name) WHERE revoked_at IS NULL;",
    // 8: host access granted to each version (JSON list), and audit entries
    // that name their app and the host access they granted.
    "ALTER TABLE app_versions ADD COLUMN host_access TEXT NOT NULL DEFAULT '[]';
     ALTER TABLE audit ADD COLUMN app TEXT;
     ALTER TABLE audit ADD COLUMN host_access TEXT NOT NULL DEFAULT '[]';
     CREATE INDEX audit_by_app ON audit(app, id);",
    // 9: files sent with a version (JSON: path -> [sha256, executable]),
    // their contents stored once each.
    "ALTER TABLE app_versions ADD COLUMN files TEXT NOT NULL DEFAULT '{}';
     CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, content BLOB NOT NULL);",
    // 10: domains the reverse proxy serves.
    "CREATE TABLE domains (
        domain TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        service TEXT NOT NULL,
        port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        ssl INTEGER NOT NULL,
        force_https INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );",
    // 11: uploaded certificates, watched endpoints, alerts already sent.
    "ALTER TABLE domains ADD COLUMN custom_cert INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE cert_watch (endpoint TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
     CREATE TABLE cert_alerts (
        subject TEXT NOT NULL,
        not_after INTEGER NOT NULL,
        level TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (subject, not_after, level)
     );",
    // 12: a domain may redirect to another.
    "ALTER TABLE domains ADD COLUMN redirect_to TEXT;",
    // 13: a domain's certificate may be ordered once its preflight passed
    // (or was skipped); the last reason it could not be, kept for its status.
    "ALTER TABLE domains ADD COLUMN order_ok INTEGER NOT NULL DEFAULT 1;
     ALTER TABLE domains ADD COLUMN tls_error TEXT;
     ALTER TABLE domains ADD COLUMN skip_preflight INTEGER NOT NULL DEFAULT 0;",
    // 14: alerts, the rules' settings an admin changed, where alerts are sent.
    "CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        rule TEXT NOT NULL,
        subject TEXT NOT NULL,
        app TEXT,
        severity TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
        state TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
        summary TEXT NOT NULL,
        details TEXT NOT NULL,
        fired_at_ms INTEGER NOT NULL,
        resolved_at_ms INTEGER,
        last_sent_ms INTEGER NOT NULL,
        notices INTEGER NOT NULL DEFAULT 0
     );
     CREATE UNIQUE INDEX alerts_open ON alerts (rule, subject) WHERE state = 'firing';
     CREATE TABLE alert_rules (
        rule TEXT PRIMARY KEY,
        enabled INTEGER NOT NULL,
        threshold REAL NOT NULL,
        window_secs INTEGER NOT NULL,
        repeat_secs INTEGER NOT NULL
     );
     CREATE TABLE alert_channels (
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL
     );",
    // 15: backups and restores, each a run with its log (JSON list of lines).
    "CREATE TABLE backup_runs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('backup', 'restore')),
        app TEXT,
        volumes INTEGER NOT NULL,
        state TEXT NOT NULL,
        snapshot TEXT,
        error TEXT,
        log TEXT NOT NULL DEFAULT '[]',
        actor TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        finished_ms INTEGER
     );",
    // 16: the backup schedule (one row), and which runs it started.
    "CREATE TABLE backup_schedule (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        every_secs INTEGER NOT NULL,
        keep INTEGER NOT NULL,
        volumes INTEGER NOT NULL,
        set_ms INTEGER NOT NULL
     );
     ALTER TABLE backup_runs ADD COLUMN scheduled INTEGER NOT NULL DEFAULT 0;",
    // 17: certificate notices go through the alerts (rule `certificate_expiring`) alone.
    "DROP TABLE cert_alerts;",
    // 18: answers remembered per token and Idempotency-Key (status NULL: being answered, by run).
    "CREATE TABLE idempotency (
        token_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        request TEXT NOT NULL,
        run TEXT NOT NULL,
        status INTEGER,
        content_type TEXT,
        body BLOB,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (token_id, key)
     );
     CREATE INDEX idempotency_at ON idempotency(at_ms);",
];

/// A database call that failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database task stopped: {0}")]
    Join(String),
}

impl From<DbError> for crate::error::AgentError {
    fn from(e: DbError) -> Self {
        crate::error::AgentError::Internal(anyhow::Error::new(e).context("database"))
    }
}

/// A handle on the database. Statements are short, so one connection behind
/// a mutex serves the agent; callers on the async runtime hold the lock only
/// for a statement or two.
pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    pub fn open(path: &Path) -> anyhow::Result<Db> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        // It holds app environments (secrets): owner only.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
        Self::setup(conn)
    }

    pub fn open_in_memory() -> anyhow::Result<Db> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> anyhow::Result<Db> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }

    /// A consistent copy of the whole database at `path`, taken with
    /// SQLite's online backup while the agent keeps writing.
    pub fn backup_to(&self, path: &Path) -> rusqlite::Result<()> {
        let c = self.conn();
        let mut dest = Connection::open(path)?;
        let b = rusqlite::backup::Backup::new(&c, &mut dest)?;
        b.run_to_completion(256, std::time::Duration::from_millis(0), None)
    }

    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (statements
        // are atomic), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs `f` on the database off the async runtime.
pub async fn call<T: Send + 'static>(
    db: &Arc<Db>,
    f: impl FnOnce(&Db) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, DbError> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || f(&db))
        .await
        .map_err(|e| DbError::Join(e.to_string()))?
        .map_err(DbError::from)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > MIGRATIONS.len() {
        anyhow::bail!(
            "database schema version {current} is newer than this agent knows ({}); upgrade the agent",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("applying migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.db");
        drop(Db::open(&path).expect("first open"));
        let db = Db::open(&path).expect("second open");
        let v: usize = db
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("v");
        assert_eq!(v, MIGRATIONS.len());
    }

    #[test]
    fn tokens_survive_the_deploy_scope_migration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.db");
        {
            let mut c = Connection::open(&path).expect("open");
            for (i, sql) in MIGRATIONS.iter().enumerate().take(6) {
                c.execute_batch(sql).expect("migration");
                c.pragma_update(None, "user_version", i + 1)
                    .expect("version");
            }
            let tx = c.transaction().expect("tx");
            tx.execute("INSERT INTO tokens (name, scope, hash, created_at) VALUES ('laptop', 'admin', 'h1', 1)", []).expect("token");
            tx.commit().expect("commit");
        }
        let db = Db::open(&path).expect("migrated");
        let c = db.conn();
        let (name, scope): (String, String) = c
            .query_row("SELECT name, scope FROM tokens", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("kept");
        assert_eq!((name.as_str(), scope.as_str()), ("laptop", "admin"));
        c.execute(
            "INSERT INTO tokens (name, scope, hash, created_at) VALUES ('ci', 'deploy', 'h2', 2)",
            [],
        )
        .expect("deploy scope");
        assert!(
            c.execute(
                "INSERT INTO tokens (name, scope, hash, created_at) VALUES ('x', 'root', 'h3', 3)",
                []
            )
            .is_err(),
            "other scopes are refused"
        );
        assert!(c.execute("INSERT INTO tokens (name, scope, hash, created_at) VALUES ('laptop', 'read', 'h4', 4)", []).is_err(), "one active token per name");
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.db");
        {
            let c = Connection::open(&path).expect("open");
            c.pragma_update(None, "user_version", 999).expect("set");
        }
        let err = Db::open(&path).err().expect("must refuse");
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
