//! Backups to a restic repository: where they go and the key (kept in the
//! data dir, 0600, and given to the admin once), backups and restores queued
//! as runs (`tasks::backup` runs them), and the snapshots the repository
//! holds.

use std::path::PathBuf;

use appos_proto::backups::{BackupRequest, BackupRun, BackupSchedule, Repository, RepositoryRequest, RestoreRequest, RunAccepted, RunKind, RunState, ScheduleStatus, Snapshot};
use appos_proto::{AppName, ProblemCode};

use crate::error::{AgentError, Result};
use crate::infra::db;
use crate::infra::queue::{self, NewTask, Queue as _};
use crate::infra::restic::{Repo, ResticError};
use crate::services::tokens::Principal;
use crate::state::Shared;

/// The task kinds.
pub const BACKUP: &str = "backup";
pub const RESTORE: &str = "restore";

/// `<data>/backup`: the repository's location and key, staging, restores.
pub fn dir(state: &Shared) -> PathBuf {
    state.config.data_dir.join("backup")
}

fn repo_at(state: &Shared, location: &str, key_file: PathBuf) -> Repo {
    Repo { location: location.to_string(), key_file, cache_dir: dir(state).join("cache") }
}

/// The repository set for this agent, if any.
pub fn repo(state: &Shared) -> Result<Repo> {
    let location = std::fs::read_to_string(dir(state).join("repository")).map(|s| s.trim().to_string()).unwrap_or_default();
    if location.is_empty() {
        return Err(AgentError::refused(ProblemCode::NoRepository, "set one with `appos backup repository PATH`"));
    }
    Ok(repo_at(state, &location, dir(state).join("key")))
}

pub fn restic_error(e: ResticError) -> AgentError {
    match e {
        ResticError::WrongKey(_) | ResticError::NoRepository(_) => AgentError::invalid("key", e.to_string()),
        other => AgentError::refused(ProblemCode::BackupFailed, other.to_string()),
    }
}

/// Whether a location is one the agent takes: an absolute path without
/// `..`, or restic's `sftp:` form.
fn check_location(location: &str) -> Result<()> {
    let ok = if let Some(rest) = location.strip_prefix("sftp:") {
        !rest.is_empty() && !rest.chars().any(|c| c.is_control() || c == ' ')
    } else {
        location.starts_with('/') && !location.split('/').any(|p| p == "..") && !location.chars().any(char::is_control)
    };
    if !ok {
        return Err(AgentError::invalid("location", "an absolute path on the server, or sftp:USER@HOST:/PATH"));
    }
    Ok(())
}

fn write_secret(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())
}

/// Sets the repository: opens it with the key given, or creates it (with
/// the key given, or one the agent generates and answers once).
pub async fn set_repository(state: &Shared, who: &Principal, req: RepositoryRequest) -> Result<Repository> {
    who.require_admin("set the backup repository")?;
    check_location(&req.location)?;
    if req.key.as_deref().is_some_and(|k| k.len() < 16) {
        return Err(AgentError::invalid("key", "at least 16 characters"));
    }
    if !req.location.starts_with("sftp:") {
        // A new or empty directory, or a repository: never a directory of other files.
        let path = std::path::Path::new(&req.location);
        let foreign = match std::fs::read_dir(path) {
            Ok(mut entries) => entries.next().is_some() && !path.join("config").is_file(),
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        };
        if foreign {
            return Err(AgentError::invalid("location", format!("{} holds other files: choose a new or empty directory, or a restic repository", req.location)));
        }
    }
    let d = dir(state);
    std::fs::create_dir_all(&d).map_err(AgentError::internal)?;
    let generated = req.key.is_none();
    let key = match req.key {
        Some(k) => k,
        None => {
            use rand::RngCore as _;
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
    };
    let trial = d.join("key.new");
    write_secret(&trial, &key).map_err(AgentError::internal)?;
    let repo = repo_at(state, &req.location, trial.clone());
    let created = match repo.open().await {
        Ok(()) if generated => {
            let _ = std::fs::remove_file(&trial);
            return Err(AgentError::refused(ProblemCode::RepositoryExists, format!("a repository exists at {}: give its key", req.location)));
        }
        Ok(()) => false,
        Err(ResticError::NoRepository(_)) => {
            repo.init().await.map_err(|e| {
                let _ = std::fs::remove_file(&trial);
                restic_error(e)
            })?;
            true
        }
        Err(e) => {
            let _ = std::fs::remove_file(&trial);
            return Err(restic_error(e));
        }
    };
    std::fs::rename(&trial, d.join("key")).map_err(AgentError::internal)?;
    std::fs::write(d.join("repository"), &req.location).map_err(AgentError::internal)?;
    let detail = format!("{}{}", req.location, if created { " (created)" } else { "" });
    crate::services::audit::record(state, &who.name, "backup.repository", None, detail).await?;
    Ok(Repository { location: req.location, created, key: generated.then_some(key) })
}

async fn queue_run(state: &Shared, actor: &str, kind: RunKind, app: Option<String>, volumes: bool, snapshot: Option<String>, scheduled: bool) -> Result<RunAccepted> {
    let now = state.clock.now_ms();
    let id = queue::new_id(now);
    let run = BackupRun { id: id.clone(), kind, app: app.clone(), volumes, state: RunState::Queued, snapshot, error: None, log: Vec::new(), actor: actor.to_string(), created_ms: now, finished_ms: None };
    let r = run.clone();
    db::call(&state.db, move |db| db::backups::insert(db, &r, scheduled)).await?;
    let task_kind = if kind == RunKind::Backup { BACKUP } else { RESTORE };
    // A restore touches its app; a backup reads and can run beside anything.
    let task_app = if kind == RunKind::Restore { app } else { None };
    let task = NewTask { kind: task_kind.into(), app: task_app, payload: serde_json::json!({ "run": id }), max_attempts: 1 };
    state.queue.enqueue(task).await?;
    state.queue_wakeup.notify_waiters();
    Ok(RunAccepted { id })
}

/// Queues a backup of one app (or all) and the agent's state.
pub async fn create(state: &Shared, who: &Principal, req: BackupRequest) -> Result<RunAccepted> {
    who.require_admin("take backups")?;
    repo(state)?;
    if let Some(app) = &req.app {
        let a = app.to_string();
        if !db::call(&state.db, move |db| db::apps::exists(db, &a)).await? {
            return Err(AgentError::refused(ProblemCode::AppNotFound, format!("AppOS manages no app named {app}")));
        }
    }
    queue_run(state, &who.name, RunKind::Backup, req.app.map(|a| a.to_string()), req.volumes, None, false).await
}

/// Whether a snapshot id is one restic could have printed.
fn check_snapshot(id: &str) -> Result<()> {
    if !(8..=64).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err(AgentError::invalid("snapshot", "a snapshot id: 8 to 64 lower-case hex digits (see GET /v1/backups)"));
    }
    Ok(())
}

/// Queues bringing an app back from a snapshot.
pub async fn restore(state: &Shared, who: &Principal, snapshot: &str, req: RestoreRequest) -> Result<RunAccepted> {
    who.require_admin("restore backups")?;
    check_snapshot(snapshot)?;
    repo(state)?;
    if let Some(app) = &req.app {
        let a = app.to_string();
        if db::call(&state.db, move |db| db::apps::exists(db, &a)).await? {
            return Err(AgentError::refused(ProblemCode::AppExists, format!("{app} exists here: a restore never overwrites an app; delete it first")));
        }
    }
    queue_run(state, &who.name, RunKind::Restore, req.app.map(|a| a.to_string()), true, Some(snapshot.to_string()), false).await
}

/// The snapshots in the repository, newest first.
pub async fn snapshots(state: &Shared) -> Result<Vec<Snapshot>> {
    let list = repo(state)?.snapshots().await.map_err(restic_error)?;
    let mut out: Vec<Snapshot> = list
        .into_iter()
        .map(|s| Snapshot {
            time_ms: time::OffsetDateTime::parse(&s.time, &time::format_description::well_known::Rfc3339).map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64).unwrap_or(0),
            apps: s.tags.iter().filter_map(|t| t.strip_prefix("app:")).map(str::to_string).collect(),
            volumes: s.tags.iter().any(|t| t == "volumes"),
            host: s.hostname,
            id: s.short_id,
        })
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.time_ms));
    Ok(out)
}

pub async fn run(state: &Shared, id: &str) -> Result<BackupRun> {
    let i = id.to_string();
    db::call(&state.db, move |db| db::backups::get(db, &i)).await?.ok_or_else(|| AgentError::refused(ProblemCode::RunNotFound, format!("no backup or restore run {id}")))
}

pub async fn runs(state: &Shared) -> Result<Vec<BackupRun>> {
    Ok(db::call(&state.db, |db| db::backups::list(db, 100)).await?)
}

/// A snapshot as a tar archive, streamed from restic (`restic dump`).
pub async fn archive(state: &Shared, snapshot: &str) -> Result<tokio::process::ChildStdout> {
    check_snapshot(snapshot)?;
    let repo = repo(state)?;
    if !repo.has(snapshot).await.map_err(restic_error)? {
        return Err(AgentError::refused(ProblemCode::SnapshotNotFound, format!("the repository holds no snapshot {snapshot}")));
    }
    let mut child = repo.dump(snapshot).map_err(restic_error)?;
    let out = child.stdout.take().ok_or_else(|| AgentError::internal(anyhow::anyhow!("restic dump gave no output")))?;
    // Reaped when it ends; killed with the answer when the client goes (stdout closes, restic gets SIGPIPE).
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(out)
}

/// The schedule, the last success and when the next backup is due.
pub async fn schedule(state: &Shared) -> Result<ScheduleStatus> {
    let (sched, h) = db::call(&state.db, |db| Ok((db::backups::schedule(db)?, db::backups::history(db)?))).await?;
    let now = state.clock.now_ms();
    Ok(ScheduleStatus {
        next_ms: sched.as_ref().map(|(s, _)| crate::core::backups::next(s.every_secs, h.last_scheduled_ms, now)),
        schedule: sched.map(|(s, _)| s),
        last_success_ms: h.last_success_ms,
    })
}

/// Sets (or with None, clears) the schedule; the next check applies it.
pub async fn set_schedule(state: &Shared, who: &Principal, s: Option<BackupSchedule>) -> Result<ScheduleStatus> {
    who.require_admin("schedule backups")?;
    if let Some(s) = &s {
        crate::core::backups::check_schedule(s).map_err(|(field, why)| AgentError::invalid(field, why))?;
        repo(state)?;
    }
    let (actor, now) = (who.name.clone(), state.clock.now_ms());
    db::call(&state.db, move |db| db::backups::set_schedule(db, s.as_ref(), &actor, now)).await?;
    state.backup_wake.notify_one();
    schedule(state).await
}

/// Queues the scheduled backup when it is due; checked every
/// `backup_check`, and at once when the schedule changes.
pub async fn watch_schedule(state: Shared, stop: tokio_util::sync::CancellationToken) {
    loop {
        if let Err(error) = schedule_round(&state).await {
            tracing::warn!(%error, "cannot check the backup schedule");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(state.config.backup_check) => {}
            _ = state.backup_wake.notified() => {}
        }
    }
}

async fn schedule_round(state: &Shared) -> Result<()> {
    let (sched, h) = db::call(&state.db, |db| Ok((db::backups::schedule(db)?, db::backups::history(db)?))).await?;
    let Some((s, _)) = sched else { return Ok(()) };
    if crate::core::backups::due(s.every_secs, h.last_scheduled_ms, h.busy, state.clock.now_ms()) {
        let run = queue_run(state, "schedule", RunKind::Backup, None, s.volumes, None, true).await?;
        tracing::info!(run = %run.id, "a scheduled backup is queued");
    }
    Ok(())
}

/// An app name from a run's record.
pub fn app_name(run: &BackupRun) -> Option<AppName> {
    run.app.as_deref().and_then(|a| AppName::parse(a).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_snapshot_ids_are_checked() {
        for (l, ok) in [("/var/backups/appos", true), ("sftp:backup@host:/srv/appos", true), ("relative/dir", false), ("/srv/../etc", false), ("sftp:", false), ("s3:bucket", false), ("/tmp/a\nb", false)] {
            assert_eq!(check_location(l).is_ok(), ok, "{l:?}");
        }
        for (id, ok) in [("4f6a2c19", true), ("4f6a2c19e0b1d2c34f6a2c19e0b1d2c34f6a2c19e0b1d2c34f6a2c19e0b1d2c3", true), ("4F6A2C19", false), ("4f6a2c1", false), ("../../etc", false), ("latest", false)] {
            assert_eq!(check_snapshot(id).is_ok(), ok, "{id:?}");
        }
    }
}
