//! Backup and restore runs, and bringing an app back from a backed-up
//! database.

use std::path::Path;

use appos_proto::backups::{BackupRun, BackupSchedule, RunKind, RunState};
use rusqlite::{params, OptionalExtension};

use super::{audit, Db};

const SELECT: &str = "SELECT id, kind, app, volumes, state, snapshot, error, log, actor, created_ms, finished_ms FROM backup_runs";

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<BackupRun> {
    let kind: String = r.get(1)?;
    let state: String = r.get(4)?;
    let log: String = r.get(7)?;
    Ok(BackupRun {
        id: r.get(0)?,
        kind: if kind == "restore" {
            RunKind::Restore
        } else {
            RunKind::Backup
        },
        app: r.get(2)?,
        volumes: r.get(3)?,
        state: RunState::parse(&state),
        snapshot: r.get(5)?,
        error: r.get(6)?,
        log: serde_json::from_str(&log).unwrap_or_default(),
        actor: r.get(8)?,
        created_ms: r.get(9)?,
        finished_ms: r.get(10)?,
    })
}

/// Records a queued run (`scheduled`: the schedule started it), with its audit entry.
pub fn insert(db: &Db, run: &BackupRun, scheduled: bool) -> rusqlite::Result<()> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    let kind = match run.kind {
        RunKind::Backup => "backup",
        RunKind::Restore => "restore",
    };
    tx.execute(
        "INSERT INTO backup_runs (id, kind, app, volumes, state, snapshot, actor, created_ms, scheduled) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?8)",
        params![run.id, kind, run.app, run.volumes, run.snapshot, run.actor, run.created_ms, scheduled],
    )?;
    let detail = match (run.kind, &run.snapshot) {
        (RunKind::Restore, Some(s)) => format!("from snapshot {s}"),
        _ => format!(
            "{}{}",
            run.app.as_deref().unwrap_or("every app"),
            if run.volumes { ", with volumes" } else { "" }
        ),
    };
    audit::record(
        &tx,
        run.created_ms / 1000,
        audit::Entry {
            actor: &run.actor,
            action: if run.kind == RunKind::Backup {
                "backup.create"
            } else {
                "backup.restore"
            },
            app: run.app.as_deref(),
            detail: &detail,
            host_access: &[],
        },
    )?;
    tx.commit()
}

/// Whether the schedule started this run.
pub fn scheduled(db: &Db, id: &str) -> rusqlite::Result<bool> {
    db.conn().query_row(
        "SELECT scheduled FROM backup_runs WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )
}

/// The schedule and since when it is set (ms).
pub fn schedule(db: &Db) -> rusqlite::Result<Option<(BackupSchedule, i64)>> {
    db.conn()
        .query_row(
            "SELECT every_secs, keep, volumes, set_ms FROM backup_schedule WHERE id = 1",
            [],
            |r| {
                Ok((
                    BackupSchedule {
                        every_secs: r.get::<_, i64>(0)?.max(0) as u64,
                        keep: r.get(1)?,
                        volumes: r.get(2)?,
                    },
                    r.get(3)?,
                ))
            },
        )
        .optional()
}

/// Sets the schedule (None: no schedule), with its audit entry.
pub fn set_schedule(
    db: &Db,
    s: Option<&BackupSchedule>,
    actor: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    let detail = match s {
        Some(s) => {
            tx.execute(
                "INSERT INTO backup_schedule (id, every_secs, keep, volumes, set_ms) VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET every_secs = ?1, keep = ?2, volumes = ?3, set_ms = ?4",
                params![s.every_secs as i64, s.keep, s.volumes, now_ms],
            )?;
            format!(
                "every {} s, keeping {}{}",
                s.every_secs,
                s.keep,
                if s.volumes { ", with volumes" } else { "" }
            )
        }
        None => {
            tx.execute("DELETE FROM backup_schedule", [])?;
            "off".to_string()
        }
    };
    audit::record(
        &tx,
        now_ms / 1000,
        audit::Entry {
            actor,
            action: "backup.schedule",
            app: None,
            detail: &detail,
            host_access: &[],
        },
    )?;
    tx.commit()
}

/// How backups went: when the last one succeeded, the latest backup run
/// when it failed (id, error), when the schedule last queued one, and
/// whether one is queued or running.
pub struct BackupHistory {
    pub last_success_ms: Option<i64>,
    pub last_failed: Option<(String, String)>,
    pub last_scheduled_ms: Option<i64>,
    pub busy: bool,
}

pub fn history(db: &Db) -> rusqlite::Result<BackupHistory> {
    let c = db.conn();
    let last_success_ms = c.query_row(
        "SELECT MAX(finished_ms) FROM backup_runs WHERE kind = 'backup' AND state = 'succeeded'",
        [],
        |r| r.get(0),
    )?;
    let latest: Option<(String, String, Option<String>)> = c
        .query_row("SELECT id, state, error FROM backup_runs WHERE kind = 'backup' ORDER BY created_ms DESC, id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let last_scheduled_ms = c.query_row(
        "SELECT MAX(created_ms) FROM backup_runs WHERE kind = 'backup' AND scheduled = 1",
        [],
        |r| r.get(0),
    )?;
    let busy = c.query_row("SELECT EXISTS (SELECT 1 FROM backup_runs WHERE kind = 'backup' AND state IN ('queued', 'running'))", [], |r| r.get(0))?;
    let last_failed = latest
        .as_ref()
        .filter(|l| l.1 == "failed")
        .map(|l| (l.0.clone(), l.2.clone().unwrap_or_default()));
    Ok(BackupHistory {
        last_success_ms,
        last_failed,
        last_scheduled_ms,
        busy,
    })
}

pub fn get(db: &Db, id: &str) -> rusqlite::Result<Option<BackupRun>> {
    db.conn()
        .query_row(&format!("{SELECT} WHERE id = ?1"), params![id], read)
        .optional()
}

/// The latest runs, newest first.
pub fn list(db: &Db, limit: u32) -> rusqlite::Result<Vec<BackupRun>> {
    let c = db.conn();
    let mut stmt = c.prepare(&format!(
        "{SELECT} ORDER BY created_ms DESC, id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map(params![limit], read)?;
    rows.collect()
}

pub fn set_state(
    db: &Db,
    id: &str,
    state: RunState,
    error: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    db.conn().execute(
        "UPDATE backup_runs SET state = ?2, error = ?3, finished_ms = CASE WHEN ?4 THEN ?5 ELSE NULL END WHERE id = ?1",
        params![id, state.as_str(), error, state.is_terminal(), now_ms],
    )?;
    Ok(())
}

pub fn set_snapshot(db: &Db, id: &str, snapshot: &str) -> rusqlite::Result<()> {
    db.conn().execute(
        "UPDATE backup_runs SET snapshot = ?2 WHERE id = ?1",
        params![id, snapshot],
    )?;
    Ok(())
}

/// Appends a line to a run's log.
pub fn log(db: &Db, id: &str, line: &str) -> rusqlite::Result<()> {
    db.conn().execute(
        "UPDATE backup_runs SET log = json_insert(log, '$[#]', ?2) WHERE id = ?1",
        params![id, line],
    )?;
    Ok(())
}

/// Brings an app's records back from a backed-up database (already
/// migrated to this agent's schema): the app, its versions and their file
/// contents, its deployments with their steps and logs, its domains. An
/// app of that name here is replaced. Returns the latest version, or None
/// when the backup does not hold the app.
/// Brings back the backed-up database's tokens that are not revoked and
/// whose name no active token here has (the hashes only: secrets are never
/// stored). Returns the names kept and the names left out.
pub fn restore_tokens(
    db: &Db,
    backup: &Path,
    actor: &str,
    now: i64,
) -> rusqlite::Result<(Vec<String>, Vec<String>)> {
    let mut c = db.conn();
    c.execute(
        "ATTACH DATABASE ?1 AS old",
        params![backup.display().to_string()],
    )?;
    let result = (|| {
        let tx = c.transaction()?;
        let names = |sql: &str| -> rusqlite::Result<Vec<String>> {
            tx.prepare(sql)?.query_map([], |r| r.get(0))?.collect()
        };
        let left = names("SELECT name FROM old.tokens WHERE revoked_at IS NULL AND (name IN (SELECT name FROM tokens WHERE revoked_at IS NULL) OR hash IN (SELECT hash FROM tokens)) ORDER BY name")?;
        let kept = names("SELECT name FROM old.tokens WHERE revoked_at IS NULL AND name NOT IN (SELECT name FROM tokens WHERE revoked_at IS NULL) AND hash NOT IN (SELECT hash FROM tokens) ORDER BY name")?;
        tx.execute(
            "INSERT INTO tokens (name, scope, hash, created_at, last_used_at, revoked_at)
             SELECT name, scope, hash, created_at, last_used_at, NULL FROM old.tokens
             WHERE revoked_at IS NULL AND name NOT IN (SELECT name FROM tokens WHERE revoked_at IS NULL) AND hash NOT IN (SELECT hash FROM tokens)",
            [],
        )?;
        if !kept.is_empty() {
            audit::record(
                &tx,
                now,
                audit::Entry {
                    actor,
                    action: "token.restore",
                    app: None,
                    detail: &kept.join(", "),
                    host_access: &[],
                },
            )?;
        }
        tx.commit()?;
        Ok((kept, left))
    })();
    c.execute("DETACH DATABASE old", [])?;
    result
}

pub fn restore_app(
    db: &Db,
    backup: &Path,
    app: &str,
    actor: &str,
    now: i64,
) -> rusqlite::Result<Option<u32>> {
    let mut c = db.conn();
    c.execute(
        "ATTACH DATABASE ?1 AS old",
        params![backup.display().to_string()],
    )?;
    let result = (|| {
        let tx = c.transaction()?;
        let latest: Option<u32> = tx.query_row(
            "SELECT MAX(version) FROM old.app_versions WHERE app = ?1",
            params![app],
            |r| r.get(0),
        )?;
        let Some(latest) = latest else {
            return Ok(None);
        };
        tx.execute("DELETE FROM apps WHERE name = ?1", params![app])?;
        tx.execute("DELETE FROM app_versions WHERE app = ?1", params![app])?;
        tx.execute("DELETE FROM domains WHERE app = ?1", params![app])?;
        tx.execute(
            "INSERT INTO apps SELECT * FROM old.apps WHERE name = ?1",
            params![app],
        )?;
        tx.execute(
            "INSERT INTO app_versions SELECT * FROM old.app_versions WHERE app = ?1",
            params![app],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO blobs SELECT * FROM old.blobs WHERE sha256 IN
               (SELECT json_extract(j.value, '$[0]') FROM old.app_versions AS v, json_each(v.files) AS j WHERE v.app = ?1)",
            params![app],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO deployments SELECT * FROM old.deployments WHERE app = ?1",
            params![app],
        )?;
        tx.execute("INSERT OR IGNORE INTO deployment_steps SELECT s.* FROM old.deployment_steps AS s JOIN old.deployments AS d ON d.id = s.deployment_id WHERE d.app = ?1", params![app])?;
        tx.execute("INSERT OR IGNORE INTO deployment_log SELECT l.* FROM old.deployment_log AS l JOIN old.deployments AS d ON d.id = l.deployment_id WHERE d.app = ?1", params![app])?;
        tx.execute(
            "INSERT OR IGNORE INTO domains SELECT * FROM old.domains WHERE app = ?1",
            params![app],
        )?;
        audit::record(
            &tx,
            now,
            audit::Entry {
                actor,
                action: "app.restore",
                app: Some(app),
                detail: &format!("versions 1 to {latest}"),
                host_access: &[],
            },
        )?;
        tx.commit()?;
        Ok(Some(latest))
    })();
    c.execute("DETACH DATABASE old", [])?;
    result
}
