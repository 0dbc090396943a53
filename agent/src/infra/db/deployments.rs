//! Deployment records: state, steps with their times and output, and the log.

use std::collections::HashMap;

use appos_proto::{
    Deployment, DeploymentState, DeploymentStep, DeploymentSummary, LogLine, Operation,
    PullProgress, StepState,
};
use rusqlite::{params, Connection, OptionalExtension};

use super::Db;

fn parse_state(s: &str) -> DeploymentState {
    match s {
        "queued" => DeploymentState::Queued,
        "running" => DeploymentState::Running,
        "succeeded" => DeploymentState::Succeeded,
        "cancelled" => DeploymentState::Cancelled,
        _ => DeploymentState::Failed,
    }
}

fn step_str(s: StepState) -> &'static str {
    match s {
        StepState::Running => "running",
        StepState::Succeeded => "succeeded",
        StepState::Skipped => "skipped",
        StepState::Failed => "failed",
        StepState::Interrupted => "interrupted",
    }
}

fn parse_step(s: &str) -> StepState {
    match s {
        "running" => StepState::Running,
        "succeeded" => StepState::Succeeded,
        "skipped" => StepState::Skipped,
        "interrupted" => StepState::Interrupted,
        _ => StepState::Failed,
    }
}

pub(super) fn insert_in(
    c: &Connection,
    id: &str,
    app: &str,
    version: u32,
    op: Operation,
    remove_volumes: bool,
    now_ms: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO deployments (id, app, version, state, created_ms, operation, remove_volumes) VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6)",
        params![id, app, version, now_ms, op.as_str(), remove_volumes],
    )?;
    Ok(())
}

/// Records a deployment `actor` asked for, with its audit entry.
#[allow(clippy::too_many_arguments)] // one column each
pub fn insert(
    db: &Db,
    id: &str,
    app: &str,
    version: u32,
    op: Operation,
    remove_volumes: bool,
    actor: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    insert_in(&tx, id, app, version, op, remove_volumes, now_ms)?;
    let action = format!("deployment.{}", op.as_str());
    let detail = format!(
        "version {version}, deployment {id}{}",
        if remove_volumes {
            ", removing its volumes"
        } else {
            ""
        }
    );
    super::audit::record(
        &tx,
        now_ms / 1000,
        super::audit::Entry {
            actor,
            action: &action,
            app: Some(app),
            detail: &detail,
            host_access: &[],
        },
    )?;
    tx.commit()
}

/// Whether a delete should remove the app's volumes.
pub fn removes_volumes(db: &Db, id: &str) -> rusqlite::Result<bool> {
    db.conn()
        .query_row(
            "SELECT remove_volumes FROM deployments WHERE id = ?1",
            params![id],
            |r| r.get::<_, i64>(0),
        )
        .map(|v| v != 0)
}

pub fn set_state(
    db: &Db,
    id: &str,
    state: DeploymentState,
    error: Option<&str>,
    attempt: Option<u32>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let finished = state.is_terminal().then_some(now_ms);
    db.conn().execute(
        "UPDATE deployments SET state = ?1, error = ?2, attempt = COALESCE(?3, attempt), finished_ms = ?4 WHERE id = ?5",
        params![state.as_str(), error, attempt, finished, id],
    )?;
    Ok(())
}

/// Ends the steps of an earlier attempt that never ended (its agent died)
/// as interrupted, saying why. Returns how many there were.
pub fn interrupt_running_steps(
    db: &Db,
    id: &str,
    why: &str,
    now_ms: i64,
) -> rusqlite::Result<usize> {
    db.conn().execute(
        "UPDATE deployment_steps SET state = 'interrupted', detail = ?1, finished_ms = ?2 WHERE deployment_id = ?3 AND state = 'running'",
        params![why, now_ms, id],
    )
}

pub fn step_start(db: &Db, id: &str, name: &str, now_ms: i64) -> rusqlite::Result<i64> {
    let c = db.conn();
    let idx: i64 = c.query_row(
        "SELECT COALESCE(MAX(idx), -1) + 1 FROM deployment_steps WHERE deployment_id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    c.execute(
        "INSERT INTO deployment_steps (deployment_id, idx, name, state, started_ms) VALUES (?1, ?2, ?3, 'running', ?4)",
        params![id, idx, name, now_ms],
    )?;
    Ok(idx)
}

pub fn step_end(
    db: &Db,
    id: &str,
    idx: i64,
    state: StepState,
    detail: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    db.conn().execute(
        "UPDATE deployment_steps SET state = ?1, detail = ?2, finished_ms = ?3 WHERE deployment_id = ?4 AND idx = ?5",
        params![step_str(state), detail, now_ms, id, idx],
    )?;
    Ok(())
}

pub fn log(
    db: &Db,
    id: &str,
    step: &str,
    text: &str,
    pull: Option<&PullProgress>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let pull = pull.and_then(|p| serde_json::to_string(p).ok());
    db.conn().execute(
        "INSERT INTO deployment_log (deployment_id, seq, at_ms, step, text, pull)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM deployment_log WHERE deployment_id = ?1), ?2, ?3, ?4, ?5)",
        params![id, now_ms, step, text, pull],
    )?;
    Ok(())
}

pub fn get(db: &Db, id: &str) -> rusqlite::Result<Option<Deployment>> {
    let c = db.conn();
    let d = c
        .query_row(
            "SELECT id, app, version, state, attempt, error, created_ms, finished_ms, operation FROM deployments WHERE id = ?1",
            params![id],
            |r| {
                Ok(Deployment {
                    id: r.get(0)?,
                    app: r.get(1)?,
                    operation: Operation::parse(&r.get::<_, String>(8)?).unwrap_or(Operation::Deploy),
                    version: r.get(2)?,
                    state: parse_state(&r.get::<_, String>(3)?),
                    attempt: r.get(4)?,
                    error: r.get(5)?,
                    steps: Vec::new(),
                    created_ms: r.get(6)?,
                    finished_ms: r.get(7)?,
                })
            },
        )
        .optional()?;
    let Some(mut d) = d else { return Ok(None) };
    let mut stmt = c.prepare("SELECT name, state, started_ms, finished_ms, detail FROM deployment_steps WHERE deployment_id = ?1 ORDER BY idx")?;
    d.steps = stmt
        .query_map(params![id], |r| {
            Ok(DeploymentStep {
                name: r.get(0)?,
                state: parse_step(&r.get::<_, String>(1)?),
                started_ms: r.get(2)?,
                finished_ms: r.get(3)?,
                detail: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(d))
}

/// Newest first.
pub fn list(db: &Db, app: Option<&str>, limit: u32) -> rusqlite::Result<Vec<Deployment>> {
    let ids: Vec<String> = {
        let c = db.conn();
        let mut stmt = c.prepare("SELECT id FROM deployments WHERE ?1 IS NULL OR app = ?1 ORDER BY created_ms DESC, id DESC LIMIT ?2")?;
        let rows = stmt.query_map(params![app, limit], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(d) = get(db, &id)? {
            out.push(d);
        }
    }
    Ok(out)
}

/// How many deployments are in each state.
pub fn count_by_state(db: &Db) -> rusqlite::Result<Vec<(String, i64)>> {
    let c = db.conn();
    let mut stmt =
        c.prepare("SELECT state, COUNT(*) FROM deployments GROUP BY state ORDER BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Each app's latest deployment, by app.
pub fn latest_by_app(db: &Db) -> rusqlite::Result<HashMap<String, DeploymentSummary>> {
    let c = db.conn();
    let mut stmt = c.prepare(
        "SELECT d.app, d.id, d.operation, d.state, d.error FROM deployments d
         WHERE d.id = (SELECT id FROM deployments WHERE app = d.app ORDER BY created_ms DESC, id DESC LIMIT 1)",
    )?;
    let rows = stmt.query_map([], |r| {
        let op: String = r.get(2)?;
        let state: String = r.get(3)?;
        let summary = DeploymentSummary {
            id: r.get(1)?,
            operation: Operation::parse(&op).unwrap_or(Operation::Deploy),
            state: parse_state(&state),
            error: r.get(4)?,
        };
        Ok((r.get::<_, String>(0)?, summary))
    })?;
    rows.collect()
}

pub fn log_after(db: &Db, id: &str, after: u64) -> rusqlite::Result<Vec<LogLine>> {
    let c = db.conn();
    let mut stmt = c.prepare("SELECT seq, at_ms, step, text, pull FROM deployment_log WHERE deployment_id = ?1 AND seq > ?2 ORDER BY seq LIMIT 1000")?;
    let rows = stmt.query_map(params![id, after as i64], |r| {
        let pull: Option<String> = r.get(4)?;
        Ok(LogLine {
            seq: r.get::<_, i64>(0)? as u64,
            at_ms: r.get(1)?,
            step: r.get(2)?,
            text: r.get(3)?,
            pull: pull.and_then(|p| serde_json::from_str(&p).ok()),
        })
    })?;
    rows.collect()
}

/// Deployments that are not finished, for the reconciler.
pub fn unfinished(db: &Db) -> rusqlite::Result<Vec<String>> {
    let c = db.conn();
    let mut stmt = c.prepare("SELECT id FROM deployments WHERE state IN ('queued', 'running')")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}
