//! Backups to a restic repository: where they go and the key (kept in the
//! data dir, 0600, and given to the admin once), backups and restores queued
//! as runs (`tasks::backup` runs them), and the snapshots the repository
//! holds.

use std::path::PathBuf;

use appos_proto::backups::{
    BackupRequest, BackupRun, BackupSchedule, Repository, RepositoryInfo, RepositoryRequest,
    RestoreRequest, RunAccepted, RunKind, RunState, ScheduleStatus, Snapshot,
};
use appos_proto::{AppName, ProblemCode};

use crate::core::backups::{parse_location, Location, SftpTarget};
use crate::error::{AgentError, Result};
use crate::infra::db;
use crate::infra::queue::{self, NewTask, Queue as _};
use crate::infra::restic::{Repo, ResticError};
use crate::infra::ssh_identity::{self, Identity};
use crate::services::tokens::Principal;
use crate::state::Shared;

/// The task kinds.
pub const BACKUP: &str = "backup";
pub const RESTORE: &str = "restore";

/// `<data>/backup`: the repository's location and key, staging, restores.
pub fn dir(state: &Shared) -> PathBuf {
    state.config.data_dir.join("backup")
}

/// `<data>/backup/ssh`: the agent's SSH key and the pinned host key of an SFTP repository.
fn ssh_dir(state: &Shared) -> PathBuf {
    dir(state).join("ssh")
}

async fn identity(state: &Shared) -> Result<Identity> {
    Identity::ensure(
        &ssh_dir(state),
        &format!("appos-agent@{}", state.alerts.server),
    )
    .await
    .map_err(AgentError::internal)
}

/// The repository at `location`, opened with the key in `key_file` and, over
/// SFTP, the host key pinned in `known_hosts`.
async fn repo_at(
    state: &Shared,
    location: &Location,
    key_file: PathBuf,
    known_hosts: &std::path::Path,
) -> Result<Repo> {
    let cache_dir = dir(state).join("cache");
    Ok(match location {
        Location::Local(path) => Repo {
            location: path.clone(),
            key_file,
            cache_dir,
            sftp_command: None,
        },
        Location::Sftp(target) => {
            let id = identity(state).await?;
            Repo {
                location: target.restic_location(),
                key_file,
                cache_dir,
                sftp_command: Some(ssh_identity::sftp_command(&id, known_hosts, target)),
            }
        }
    })
}

fn location_text(state: &Shared) -> Option<String> {
    std::fs::read_to_string(dir(state).join("repository"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
}

/// The repository set for this agent, if any.
pub async fn repo(state: &Shared) -> Result<Repo> {
    let Some(text) = location_text(state) else {
        return Err(AgentError::refused(
            ProblemCode::NoRepository,
            "set one with `appos backup repository PATH`",
        ));
    };
    let location = parse_location(&text).map_err(|why| {
        AgentError::internal(anyhow::anyhow!(
            "the repository set ({text}) no longer parses: {why}"
        ))
    })?;
    repo_at(
        state,
        &location,
        dir(state).join("key"),
        &ssh_dir(state).join("known_hosts"),
    )
    .await
}

/// Where backups go, and the agent's SSH key for an SFTP host.
pub async fn repository(state: &Shared) -> Result<RepositoryInfo> {
    let id = identity(state).await?;
    let location = location_text(state);
    let host_key = if location.as_deref().is_some_and(|l| l.starts_with("sftp:")) {
        std::fs::read_to_string(ssh_dir(state).join("known_hosts"))
            .ok()
            .and_then(|kh| {
                ssh_identity::parse_scan(&kh)
                    .first()
                    .and_then(|k| k.fingerprint())
            })
    } else {
        None
    };
    Ok(RepositoryInfo {
        location,
        host_key,
        ssh_public_key: id.public().map_err(AgentError::internal)?,
    })
}

pub fn restic_error(e: ResticError) -> AgentError {
    match e {
        ResticError::WrongKey(_) | ResticError::NoRepository(_) => {
            AgentError::invalid("key", e.to_string())
        }
        other => AgentError::refused(ProblemCode::BackupFailed, other.to_string()),
    }
}

/// The host key of an SFTP host to pin: the one with the fingerprint given,
/// or the strongest it shows now.
async fn host_key_of(target: &SftpTarget, want: Option<&str>) -> Result<ssh_identity::HostKey> {
    if let Some(w) = want {
        let ok = w.strip_prefix("SHA256:").is_some_and(|b| {
            b.len() == 43
                && b.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
        });
        if !ok {
            return Err(AgentError::invalid(
                "host_key",
                "a fingerprint as `ssh-keygen -l` prints it: SHA256: and 43 characters",
            ));
        }
    }
    let keys = ssh_identity::scan(target)
        .await
        .map_err(|why| AgentError::invalid("location", why))?;
    ssh_identity::pick(&keys, want).ok_or_else(|| {
        let shown: Vec<String> = keys
            .iter()
            .filter_map(|k| k.fingerprint().map(|f| format!("{f} ({})", k.kind)))
            .collect();
        AgentError::invalid(
            "host_key",
            format!(
                "{}:{} shows {}, not {}",
                target.host,
                target.port,
                shown.join(", "),
                want.unwrap_or_default()
            ),
        )
    })
}

/// The agent's public key line, when it has one.
fn identity_line(state: &Shared) -> Option<String> {
    std::fs::read_to_string(ssh_dir(state).join("id_ed25519.pub"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn write_secret(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// Sets the repository: opens it with the key given, or creates it (with
/// the key given, or one the agent generates and answers once).
pub async fn set_repository(
    state: &Shared,
    who: &Principal,
    req: RepositoryRequest,
) -> Result<Repository> {
    who.require_admin("set the backup repository")?;
    let location =
        parse_location(&req.location).map_err(|why| AgentError::invalid("location", why))?;
    if req.key.as_deref().is_some_and(|k| k.len() < 16) {
        return Err(AgentError::invalid("key", "at least 16 characters"));
    }
    if req.host_key.is_some() && !matches!(location, Location::Sftp(_)) {
        return Err(AgentError::invalid(
            "host_key",
            "only for an sftp: repository",
        ));
    }
    if let Location::Local(path) = &location {
        // A new or empty directory, or a repository: never a directory of other files.
        let path = std::path::Path::new(path);
        let foreign = match std::fs::read_dir(path) {
            Ok(mut entries) => entries.next().is_some() && !path.join("config").is_file(),
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        };
        if foreign {
            return Err(AgentError::invalid(
                "location",
                format!(
                    "{} holds other files: choose a new or empty directory, or a restic repository",
                    req.location
                ),
            ));
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
    // Tried with the new key (and host key) beside the ones in use, which
    // stay until the new ones open or create the repository.
    let trial = d.join("key.new");
    let trial_hosts = ssh_dir(state).join("known_hosts.new");
    let host_key = match &location {
        Location::Sftp(target) => {
            let k = host_key_of(target, req.host_key.as_deref()).await?;
            std::fs::create_dir_all(ssh_dir(state)).map_err(AgentError::internal)?;
            ssh_identity::pin(&trial_hosts, target, &k).map_err(AgentError::internal)?;
            k.fingerprint()
        }
        Location::Local(_) => None,
    };
    write_secret(&trial, &key).map_err(AgentError::internal)?;
    let discard = || {
        let _ = std::fs::remove_file(&trial);
        let _ = std::fs::remove_file(&trial_hosts);
    };
    let repo = repo_at(state, &location, trial.clone(), &trial_hosts).await?;
    let refused_key = |e: ResticError| {
        match (&e, &location, identity_line(state)) {
        (ResticError::KeyRefused, Location::Sftp(t), Some(line)) => {
            AgentError::invalid("location", format!("{} refused the agent's SSH key: add this line to {}'s ~/.ssh/authorized_keys there: {line}", t.host, t.user))
        }
        _ => restic_error(e),
    }
    };
    let created = match repo.open().await {
        Ok(()) if generated => {
            discard();
            return Err(AgentError::refused(
                ProblemCode::RepositoryExists,
                format!("a repository exists at {}: give its key", req.location),
            ));
        }
        Ok(()) => false,
        Err(ResticError::NoRepository(_)) => {
            repo.init().await.map_err(|e| {
                discard();
                refused_key(e)
            })?;
            true
        }
        Err(e) => {
            discard();
            return Err(refused_key(e));
        }
    };
    std::fs::rename(&trial, d.join("key")).map_err(AgentError::internal)?;
    if host_key.is_some() {
        std::fs::rename(&trial_hosts, ssh_dir(state).join("known_hosts"))
            .map_err(AgentError::internal)?;
    }
    std::fs::write(d.join("repository"), &req.location).map_err(AgentError::internal)?;
    let detail = format!(
        "{}{}",
        req.location,
        if created { " (created)" } else { "" }
    );
    crate::services::audit::record(state, &who.name, "backup.repository", None, detail).await?;
    Ok(Repository {
        location: req.location,
        created,
        key: generated.then_some(key),
        host_key,
    })
}

/// A run about to be queued.
fn new_run(
    state: &Shared,
    actor: &str,
    kind: RunKind,
    app: Option<String>,
    volumes: bool,
    snapshot: Option<String>,
) -> BackupRun {
    let now = state.clock.now_ms();
    BackupRun {
        id: queue::new_id(now),
        kind,
        app,
        volumes,
        state: RunState::Queued,
        snapshot,
        error: None,
        log: Vec::new(),
        actor: actor.to_string(),
        created_ms: now,
        finished_ms: None,
    }
}

async fn queue_run(
    state: &Shared,
    run: BackupRun,
    scheduled: bool,
    keep_tokens: bool,
) -> Result<RunAccepted> {
    let (id, kind, app) = (run.id.clone(), run.kind, run.app.clone());
    let r = run;
    db::call(&state.db, move |db| db::backups::insert(db, &r, scheduled)).await?;
    let task_kind = if kind == RunKind::Backup {
        BACKUP
    } else {
        RESTORE
    };
    // A restore touches its app; a backup reads and can run beside anything.
    let task_app = if kind == RunKind::Restore { app } else { None };
    let task = NewTask {
        kind: task_kind.into(),
        app: task_app,
        payload: serde_json::json!({ "run": id, "keep_tokens": keep_tokens }),
        max_attempts: 1,
    };
    state.queue.enqueue(task).await?;
    state.queue_wakeup.notify_waiters();
    Ok(RunAccepted { id })
}

/// Queues a backup of one app (or all) and the agent's state.
pub async fn create(state: &Shared, who: &Principal, req: BackupRequest) -> Result<RunAccepted> {
    who.require_admin("take backups")?;
    repo(state).await?;
    if let Some(app) = &req.app {
        let a = app.to_string();
        if !db::call(&state.db, move |db| db::apps::exists(db, &a)).await? {
            return Err(AgentError::refused(
                ProblemCode::AppNotFound,
                format!("AppOS manages no app named {app}"),
            ));
        }
    }
    queue_run(
        state,
        new_run(
            state,
            &who.name,
            RunKind::Backup,
            req.app.map(|a| a.to_string()),
            req.volumes,
            None,
        ),
        false,
        false,
    )
    .await
}

/// Whether a snapshot id is one restic could have printed.
fn check_snapshot(id: &str) -> Result<()> {
    if !(8..=64).contains(&id.len())
        || !id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(AgentError::invalid(
            "snapshot",
            "a snapshot id: 8 to 64 lower-case hex digits (see GET /v1/backups)",
        ));
    }
    Ok(())
}

/// Queues bringing an app back from a snapshot.
pub async fn restore(
    state: &Shared,
    who: &Principal,
    snapshot: &str,
    req: RestoreRequest,
) -> Result<RunAccepted> {
    who.require_admin("restore backups")?;
    check_snapshot(snapshot)?;
    repo(state).await?;
    if let Some(app) = &req.app {
        let a = app.to_string();
        if db::call(&state.db, move |db| db::apps::exists(db, &a)).await? {
            return Err(AgentError::refused(
                ProblemCode::AppExists,
                format!("{app} exists here: a restore never overwrites an app; delete it first"),
            ));
        }
    }
    queue_run(
        state,
        new_run(
            state,
            &who.name,
            RunKind::Restore,
            req.app.map(|a| a.to_string()),
            true,
            Some(snapshot.to_string()),
        ),
        false,
        req.keep_tokens,
    )
    .await
}

/// The snapshots in the repository, newest first.
pub async fn snapshots(state: &Shared) -> Result<Vec<Snapshot>> {
    let list = repo(state).await?.snapshots().await.map_err(restic_error)?;
    let mut out: Vec<Snapshot> = list
        .into_iter()
        .map(|s| Snapshot {
            time_ms: time::OffsetDateTime::parse(
                &s.time,
                &time::format_description::well_known::Rfc3339,
            )
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            .unwrap_or(0),
            apps: s
                .tags
                .iter()
                .filter_map(|t| t.strip_prefix("app:"))
                .map(str::to_string)
                .collect(),
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
    db::call(&state.db, move |db| db::backups::get(db, &i))
        .await?
        .ok_or_else(|| {
            AgentError::refused(
                ProblemCode::RunNotFound,
                format!("no backup or restore run {id}"),
            )
        })
}

pub async fn runs(state: &Shared) -> Result<Vec<BackupRun>> {
    Ok(db::call(&state.db, |db| db::backups::list(db, 100)).await?)
}

/// A snapshot as a tar archive, streamed from restic (`restic dump`).
pub async fn archive(state: &Shared, snapshot: &str) -> Result<tokio::process::ChildStdout> {
    check_snapshot(snapshot)?;
    let repo = repo(state).await?;
    if !repo.has(snapshot).await.map_err(restic_error)? {
        return Err(AgentError::refused(
            ProblemCode::SnapshotNotFound,
            format!("the repository holds no snapshot {snapshot}"),
        ));
    }
    let mut child = repo.dump(snapshot).map_err(restic_error)?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| AgentError::internal(anyhow::anyhow!("restic dump gave no output")))?;
    // Reaped when it ends; killed with the answer when the client goes (stdout closes, restic gets SIGPIPE).
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(out)
}

/// The schedule, the last success and when the next backup is due.
pub async fn schedule(state: &Shared) -> Result<ScheduleStatus> {
    let (sched, h) = db::call(&state.db, |db| {
        Ok((db::backups::schedule(db)?, db::backups::history(db)?))
    })
    .await?;
    let now = state.clock.now_ms();
    Ok(ScheduleStatus {
        next_ms: sched
            .as_ref()
            .map(|(s, _)| crate::core::backups::next(s.every_secs, h.last_scheduled_ms, now)),
        schedule: sched.map(|(s, _)| s),
        last_success_ms: h.last_success_ms,
    })
}

/// Sets (or with None, clears) the schedule; the next check applies it.
pub async fn set_schedule(
    state: &Shared,
    who: &Principal,
    s: Option<BackupSchedule>,
) -> Result<ScheduleStatus> {
    who.require_admin("schedule backups")?;
    if let Some(s) = &s {
        crate::core::backups::check_schedule(s)
            .map_err(|(field, why)| AgentError::invalid(field, why))?;
        repo(state).await?;
    }
    let (actor, now) = (who.name.clone(), state.clock.now_ms());
    db::call(&state.db, move |db| {
        db::backups::set_schedule(db, s.as_ref(), &actor, now)
    })
    .await?;
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
    let (sched, h) = db::call(&state.db, |db| {
        Ok((db::backups::schedule(db)?, db::backups::history(db)?))
    })
    .await?;
    let Some((s, _)) = sched else { return Ok(()) };
    if crate::core::backups::due(
        s.every_secs,
        h.last_scheduled_ms,
        h.busy,
        state.clock.now_ms(),
    ) {
        let run = queue_run(
            state,
            new_run(state, "schedule", RunKind::Backup, None, s.volumes, None),
            true,
            false,
        )
        .await?;
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
    fn snapshot_ids_are_checked() {
        for (id, ok) in [
            ("4f6a2c19", true),
            (
                "4f6a2c19e0b1d2c34f6a2c19e0b1d2c34f6a2c19e0b1d2c34f6a2c19e0b1d2c3",
                true,
            ),
            ("4F6A2C19", false),
            ("4f6a2c1", false),
            ("../../etc", false),
            ("latest", false),
        ] {
            assert_eq!(check_snapshot(id).is_ok(), ok, "{id:?}");
        }
    }
}
