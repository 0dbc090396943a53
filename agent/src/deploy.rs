//! Deployments: their records (state, steps with times and output, log), and
//! the deploy task that a worker runs step by step. Every step is idempotent,
//! so a deployment whose agent died is simply run again by the next worker.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use appos_proto::{Deployment, DeploymentState, DeploymentStep, LogLine, Operation, StepState};
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt as _;
use rusqlite::{params, OptionalExtension};
use tokio_util::sync::CancellationToken;

use crate::api::Shared;
use crate::db::Db;
use crate::queue::Task;
use crate::worker::TaskError;

/// How long containers may take to run (and pass their health checks).
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(120);

pub use crate::unix_now_ms as now_ms;

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
    }
}

fn parse_step(s: &str) -> StepState {
    match s {
        "running" => StepState::Running,
        "succeeded" => StepState::Succeeded,
        "skipped" => StepState::Skipped,
        _ => StepState::Failed,
    }
}

/// The records. Each call is one or two short statements.
pub mod store {
    use super::*;

    pub fn insert(db: &Db, id: &str, app: &str, version: u32, op: Operation, remove_volumes: bool, now: i64) -> rusqlite::Result<()> {
        db.conn().execute(
            "INSERT INTO deployments (id, app, version, state, created_ms, operation, remove_volumes) VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6)",
            params![id, app, version, now, op.as_str(), remove_volumes],
        )?;
        Ok(())
    }

    /// Whether a delete should remove the app's volumes.
    pub fn removes_volumes(db: &Db, id: &str) -> rusqlite::Result<bool> {
        db.conn().query_row("SELECT remove_volumes FROM deployments WHERE id = ?1", params![id], |r| r.get::<_, i64>(0)).map(|v| v != 0)
    }

    pub fn set_state(db: &Db, id: &str, state: DeploymentState, error: Option<&str>, attempt: Option<u32>) -> rusqlite::Result<()> {
        let finished = state.is_terminal().then(now_ms);
        db.conn().execute(
            "UPDATE deployments SET state = ?1, error = ?2, attempt = COALESCE(?3, attempt), finished_ms = ?4 WHERE id = ?5",
            params![state.as_str(), error, attempt, finished, id],
        )?;
        Ok(())
    }

    pub fn step_start(db: &Db, id: &str, name: &str) -> rusqlite::Result<i64> {
        let c = db.conn();
        let idx: i64 = c.query_row("SELECT COALESCE(MAX(idx), -1) + 1 FROM deployment_steps WHERE deployment_id = ?1", params![id], |r| r.get(0))?;
        c.execute(
            "INSERT INTO deployment_steps (deployment_id, idx, name, state, started_ms) VALUES (?1, ?2, ?3, 'running', ?4)",
            params![id, idx, name, now_ms()],
        )?;
        Ok(idx)
    }

    pub fn step_end(db: &Db, id: &str, idx: i64, state: StepState, detail: &str) -> rusqlite::Result<()> {
        db.conn().execute(
            "UPDATE deployment_steps SET state = ?1, detail = ?2, finished_ms = ?3 WHERE deployment_id = ?4 AND idx = ?5",
            params![step_str(state), detail, now_ms(), id, idx],
        )?;
        Ok(())
    }

    pub fn log(db: &Db, id: &str, step: &str, text: &str) -> rusqlite::Result<()> {
        let c = db.conn();
        c.execute(
            "INSERT INTO deployment_log (deployment_id, seq, at_ms, step, text)
             VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM deployment_log WHERE deployment_id = ?1), ?2, ?3, ?4)",
            params![id, now_ms(), step, text],
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

    pub fn list(db: &Db, app: Option<&str>, limit: u32) -> rusqlite::Result<Vec<Deployment>> {
        let ids: Vec<String> = {
            let c = db.conn();
            let mut stmt = c.prepare(
                "SELECT id FROM deployments WHERE ?1 IS NULL OR app = ?1 ORDER BY created_ms DESC, id DESC LIMIT ?2",
            )?;
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

    pub fn log_after(db: &Db, id: &str, after: u64) -> rusqlite::Result<Vec<LogLine>> {
        let c = db.conn();
        let mut stmt = c.prepare("SELECT seq, at_ms, step, text FROM deployment_log WHERE deployment_id = ?1 AND seq > ?2 ORDER BY seq LIMIT 1000")?;
        let rows = stmt.query_map(params![id, after as i64], |r| {
            Ok(LogLine { seq: r.get::<_, i64>(0)? as u64, at_ms: r.get(1)?, step: r.get(2)?, text: r.get(3)? })
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

    /// The compose file and environment of one version.
    pub fn version_files(db: &Db, app: &str, version: u32) -> rusqlite::Result<Option<(String, BTreeMap<String, String>)>> {
        Ok(version_files_at(db, app, version)?.map(|(c, e, _)| (c, e)))
    }

    /// A version's compose file, `.env`, and when it was saved (seconds since the epoch).
    pub type VersionFiles = (String, BTreeMap<String, String>, i64);

    /// The files of a version and when it was saved (seconds since the epoch).
    pub fn version_files_at(db: &Db, app: &str, version: u32) -> rusqlite::Result<Option<VersionFiles>> {
        let row: Option<(String, String, i64)> = db
            .conn()
            .query_row(
                "SELECT compose, env, created_at FROM app_versions WHERE app = ?1 AND version = ?2",
                params![app, version],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(row.map(|(compose, env, at)| (compose, serde_json::from_str(&env).unwrap_or_default(), at)))
    }

    /// The bind-mount sources an adopted app may keep outside its directory.
    pub fn bind_allow(db: &Db, app: &str) -> rusqlite::Result<Vec<String>> {
        let json: Option<String> = db.conn().query_row("SELECT bind_allow FROM apps WHERE name = ?1", params![app], |r| r.get(0)).optional()?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default())
    }

    /// The `.env` of an app's latest version, if AppOS manages it.
    pub fn latest_env(db: &Db, app: &str) -> rusqlite::Result<Option<BTreeMap<String, String>>> {
        let env: Option<String> = db
            .conn()
            .query_row("SELECT env FROM app_versions WHERE app = ?1 ORDER BY version DESC LIMIT 1", params![app], |r| r.get(0))
            .optional()?;
        Ok(env.map(|e| serde_json::from_str(&e).unwrap_or_default()))
    }

    pub fn set_digests(db: &Db, app: &str, version: u32, digests: &BTreeMap<String, String>) -> rusqlite::Result<()> {
        let json = serde_json::to_string(digests).unwrap_or_default();
        db.conn().execute("UPDATE app_versions SET digests = ?1 WHERE app = ?2 AND version = ?3", params![json, app, version])?;
        Ok(())
    }
}

/// Runs `f` with the database off the async runtime.
pub async fn blocking<T: Send + 'static>(state: &Shared, f: impl FnOnce(&Db) -> rusqlite::Result<T> + Send + 'static) -> Result<T, TaskError> {
    let s = state.clone();
    tokio::task::spawn_blocking(move || f(&s.db))
        .await
        .map_err(|e| TaskError::Transient(e.to_string()))?
        .map_err(|e| TaskError::Transient(format!("database: {e}")))
}

/// Publishes a deployment's current state on the event stream.
pub async fn emit(state: &Shared, id: &str) {
    let (s, i) = (state.clone(), id.to_string());
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(Some(d)) = store::get(&s.db, &i) {
            let data = serde_json::json!({
                "deployment": d.id, "state": d.state, "operation": d.operation, "version": d.version, "attempt": d.attempt, "error": d.error,
            });
            s.events.publish(&s.db, "deployment", Some(&d.app), data);
        }
    })
    .await;
}

/// One running step: records its end and its log lines.
struct Step<'a> {
    state: &'a Shared,
    deployment: String,
    name: &'static str,
    idx: i64,
}

impl<'a> Step<'a> {
    async fn start(state: &'a Shared, deployment: &str, name: &'static str) -> Result<Step<'a>, TaskError> {
        let (d, n) = (deployment.to_string(), name);
        let idx = blocking(state, move |db| store::step_start(db, &d, n)).await?;
        Ok(Step { state, deployment: deployment.to_string(), name, idx })
    }

    async fn log(&self, text: impl Into<String>) {
        let (d, n, t) = (self.deployment.clone(), self.name, text.into());
        if let Err(error) = blocking(self.state, move |db| store::log(db, &d, n, &t)).await {
            tracing::warn!(?error, "cannot record a deployment log line");
        }
    }

    async fn end(self, state: StepState, detail: impl Into<String>) -> Result<(), TaskError> {
        let (d, i, t, name) = (self.deployment.clone(), self.idx, detail.into(), self.name);
        let s = self.state.clone();
        blocking(self.state, move |db| {
            store::step_end(db, &d, i, state, &t)?;
            let app: Option<String> = store::get(db, &d)?.map(|x| x.app);
            s.events.publish(db, "deployment_step", app.as_deref(), serde_json::json!({ "deployment": d, "step": name, "state": state, "detail": t }));
            Ok(())
        })
        .await
    }

    /// Runs a compose command for `app` and logs what it printed. The inner
    /// error is the last line of output of a failed command.
    async fn compose(&self, app: &str, dir: &Path, args: &[&str], cancel: &CancellationToken) -> Result<Result<(), String>, TaskError> {
        let argv = crate::compose::command(&self.state.compose.command, app, dir, args);
        let out = or_cancel(cancel, crate::compose::run(&argv, dir)).await?;
        let (Ok(text) | Err(text)) = &out;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.log(line.to_string()).await;
        }
        Ok(out.map(drop).map_err(|t| t.lines().last().unwrap_or("").to_string()))
    }

    /// Ends the step as failed and turns the message into a task error.
    async fn fail(self, err: TaskError) -> TaskError {
        let detail = err.to_string();
        let _ = self.end(StepState::Failed, detail.chars().take(500).collect::<String>()).await;
        err
    }
}

/// Runs `fut` unless the task is cancelled first.
async fn or_cancel<T>(cancel: &CancellationToken, fut: impl std::future::Future<Output = T>) -> Result<T, TaskError> {
    tokio::select! {
        _ = cancel.cancelled() => Err(TaskError::Cancelled),
        v = fut => Ok(v),
    }
}

/// The `deploy` task.
pub async fn run(state: &Shared, task: &Task, cancel: CancellationToken) -> Result<(), TaskError> {
    let id = task.payload.get("deployment_id").and_then(|v| v.as_str()).ok_or_else(|| TaskError::Permanent("task has no deployment_id".into()))?.to_string();
    let dep = {
        let i = id.clone();
        blocking(state, move |db| store::get(db, &i)).await?.ok_or_else(|| TaskError::Permanent(format!("no deployment {id}")))?
    };
    if dep.state.is_terminal() {
        return Ok(());
    }
    {
        let (i, attempt) = (id.clone(), task.attempts);
        blocking(state, move |db| store::set_state(db, &i, DeploymentState::Running, None, Some(attempt))).await?;
        emit(state, &id).await;
    }
    let result = match dep.operation {
        Operation::Deploy => steps(state, &id, &dep.app, dep.version, &cancel).await,
        Operation::Update => update(state, &id, &dep.app, dep.version, &cancel).await,
        Operation::Delete => delete(state, &id, &dep.app, &cancel).await,
        op @ (Operation::Start | Operation::Stop | Operation::Restart) => lifecycle(state, &id, &dep.app, op, &cancel).await,
    };
    let (final_state, error) = match &result {
        Ok(()) => (DeploymentState::Succeeded, None),
        Err(TaskError::Cancelled) => (DeploymentState::Cancelled, Some("cancelled".to_string())),
        Err(TaskError::Lost) => return result,
        Err(TaskError::Transient(e)) if task.attempts < task.max_attempts => {
            // Back to queued: the next attempt records its own steps.
            let msg = format!("attempt {} failed: {e}; retrying", task.attempts);
            let i = id.clone();
            blocking(state, move |db| store::set_state(db, &i, DeploymentState::Queued, Some(&msg), None)).await?;
            emit(state, &id).await;
            return result;
        }
        Err(e) => (DeploymentState::Failed, Some(e.to_string())),
    };
    let i = id.clone();
    blocking(state, move |db| store::set_state(db, &i, final_state, error.as_deref(), None)).await?;
    emit(state, &id).await;
    result
}

async fn steps(state: &Shared, id: &str, app: &str, version: u32, cancel: &CancellationToken) -> Result<(), TaskError> {
    let dir = crate::compose::app_dir(&state.config.apps_dir(), app);

    // 1. The version's files on disk (they are already there unless this
    //    deploys an older version).
    let step = Step::start(state, id, "write_files").await?;
    let (a, v) = (app.to_string(), version);
    let files = blocking(state, move |db| store::version_files_at(db, &a, v)).await?;
    let Some((compose_text, env, saved_at)) = files else {
        return Err(step.fail(TaskError::Permanent(format!("version {version} of {app} is not recorded"))).await);
    };
    if let Err(e) = write_app_files(&dir, &compose_text, &env) {
        return Err(step.fail(TaskError::Transient(format!("writing {}: {e}", dir.display()))).await);
    }
    step.end(StepState::Succeeded, format!("version {version} in {}", dir.display())).await?;

    // 2. The compose tool's own check. Every version is checked when it is
    //    saved; a version saved before this agent started (another compose
    //    tool, maybe) is checked again.
    let step = Step::start(state, id, "validate").await?;
    if saved_at >= state.started_at {
        step.end(StepState::Skipped, format!("compose config accepted version {version} when it was saved")).await?;
    } else {
        let argv = crate::compose::command(&state.compose.command, app, &dir, &["config", "-q"]);
        if let Err(out) = or_cancel(cancel, crate::compose::run(&argv, &dir)).await? {
            return Err(step.fail(TaskError::Permanent(format!("the compose file is invalid: {out}"))).await);
        }
        step.end(StepState::Succeeded, "compose config accepted the file").await?;
    }

    // 3. Images: pulled with per-layer progress, skipped when present.
    let summary = summary_of(state, app, &compose_text).await?;
    let step = Step::start(state, id, "pull").await?;
    let (mut present, mut pulled) = (0, 0);
    for image in summary.images() {
        if state.docker.inspect_image(image).await.is_ok() {
            present += 1;
            step.log(format!("{image}: present")).await;
            continue;
        }
        match or_cancel(cancel, pull(state, &step, image)).await? {
            Ok(()) => pulled += 1,
            Err(e) => return Err(step.fail(TaskError::Permanent(format!("pulling {image}: {e}"))).await),
        }
    }
    let detail = format!("{present} present, {pulled} pulled");
    step.end(if pulled == 0 { StepState::Skipped } else { StepState::Succeeded }, detail).await?;

    // 4. Up.
    let step = Step::start(state, id, "up").await?;
    match step.compose(app, &dir, &["up", "-d", "--remove-orphans"], cancel).await? {
        Ok(()) => step.end(StepState::Succeeded, "containers created and started").await?,
        Err(last) => return Err(step.fail(TaskError::Permanent(format!("compose up failed: {last}"))).await),
    }

    // 5. Running and healthy.
    let step = Step::start(state, id, "wait").await?;
    match or_cancel(cancel, wait_running(state, app, summary.services.len())).await? {
        Ok(detail) => step.end(StepState::Succeeded, detail).await?,
        Err(e) => return Err(step.fail(TaskError::Permanent(e)).await),
    }

    // 6. What actually runs, for the history and for pinned rollbacks.
    let step = Step::start(state, id, "record_digests").await?;
    let digests = image_digests(state, &summary.services).await;
    let (a, n) = (app.to_string(), digests.len());
    blocking(state, move |db| store::set_digests(db, &a, version, &digests)).await?;
    step.end(StepState::Succeeded, format!("{n} image digests recorded")).await?;
    Ok(())
}

/// Service → what its image resolves to now: the registry digest
/// (`repo@sha256:…`), or the local image id for an image from no registry.
pub async fn image_digests(state: &Shared, services: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut digests = BTreeMap::new();
    for (service, image) in services {
        if let Ok(info) = state.docker.inspect_image(image).await {
            let digest = info.repo_digests.unwrap_or_default().into_iter().next().or(info.id).unwrap_or_default();
            digests.insert(service.clone(), digest);
        }
    }
    digests
}

/// The services and images of a saved version (checked when it was saved).
async fn summary_of(state: &Shared, app: &str, compose: &str) -> Result<crate::compose::ComposeSummary, TaskError> {
    let a = app.to_string();
    let allowed = blocking(state, move |db| store::bind_allow(db, &a)).await?;
    crate::compose::inspect_allowing(compose, &allowed).map_err(|e| TaskError::Permanent(format!("{e:?}")))
}

/// Start, stop or restart: one compose command.
async fn lifecycle(state: &Shared, id: &str, app: &str, op: Operation, cancel: &CancellationToken) -> Result<(), TaskError> {
    let dir = crate::compose::app_dir(&state.config.apps_dir(), app);
    let step = Step::start(state, id, op.as_str()).await?;
    let args: &[&str] = match op {
        Operation::Start => &["start"],
        Operation::Stop => &["stop"],
        _ => &["restart"],
    };
    match step.compose(app, &dir, args, cancel).await? {
        Ok(()) => step.end(StepState::Succeeded, format!("compose {}", args[0])).await,
        Err(last) => Err(step.fail(TaskError::Permanent(format!("compose {} failed: {last}", args[0]))).await),
    }
}

/// Pulls newer images for every service, then recreates what changed.
async fn update(state: &Shared, id: &str, app: &str, version: u32, cancel: &CancellationToken) -> Result<(), TaskError> {
    let (a, v) = (app.to_string(), version);
    let Some((compose_text, _)) = blocking(state, move |db| store::version_files(db, &a, v)).await? else {
        return Err(TaskError::Permanent(format!("version {version} of {app} is not recorded")));
    };
    let summary = summary_of(state, app, &compose_text).await?;
    let step = Step::start(state, id, "pull").await?;
    let mut kept = 0;
    for image in summary.images() {
        match or_cancel(cancel, pull(state, &step, image)).await? {
            Ok(()) => {}
            // A local image with no registry to ask: keep what runs.
            Err(e) if state.docker.inspect_image(image).await.is_ok() => {
                kept += 1;
                step.log(format!("{image}: no newer image ({e}); keeping the local one")).await;
            }
            Err(e) => return Err(step.fail(TaskError::Permanent(format!("pulling {image}: {e}"))).await),
        }
    }
    step.end(StepState::Succeeded, format!("{} images checked, {kept} kept as they are", summary.services.len())).await?;
    steps(state, id, app, version, cancel).await
}

/// Takes the app down (with its volumes when asked) and forgets it.
async fn delete(state: &Shared, id: &str, app: &str, cancel: &CancellationToken) -> Result<(), TaskError> {
    let dir = crate::compose::app_dir(&state.config.apps_dir(), app);
    let i = id.to_string();
    let volumes = blocking(state, move |db| store::removes_volumes(db, &i)).await?;
    let step = Step::start(state, id, "down").await?;
    let mut args = vec!["down", "--remove-orphans", "-t", "10"];
    if volumes {
        args.push("-v");
    }
    if dir.join("compose.yml").exists() {
        if let Err(last) = step.compose(app, &dir, &args, cancel).await? {
            return Err(step.fail(TaskError::Permanent(format!("compose down failed: {last}"))).await);
        }
    }
    step.end(StepState::Succeeded, if volumes { "containers, networks and volumes removed" } else { "containers and networks removed; volumes kept" }).await?;
    let step = Step::start(state, id, "forget").await?;
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(step.fail(TaskError::Transient(format!("removing {}: {e}", dir.display()))).await);
        }
    }
    let a = app.to_string();
    blocking(state, move |db| {
        let mut c = db.conn();
        let tx = c.transaction()?;
        tx.execute("DELETE FROM apps WHERE name = ?1", params![a])?;
        tx.execute("DELETE FROM app_versions WHERE app = ?1", params![a])?;
        tx.execute("INSERT INTO audit (at, actor, action, detail) VALUES (?1, 'agent', 'app.delete', ?2)", params![crate::unix_now(), a])?;
        tx.commit()
    })
    .await?;
    step.end(StepState::Succeeded, "files and history removed; deployment records kept").await
}

async fn pull(state: &Shared, step: &Step<'_>, image: &str) -> Result<(), String> {
    let (name, tag) = match image.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((n, t)) => (n.to_string(), t.to_string()),
        None => (image.to_string(), "latest".to_string()),
    };
    let opts = CreateImageOptions { from_image: Some(name), tag: Some(tag), ..Default::default() };
    let mut stream = state.docker.create_image(Some(opts), None, None);
    // Per layer: the last status logged and the tenth of its progress.
    let mut last: BTreeMap<String, (String, u64)> = BTreeMap::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| e.to_string())?;
        let layer = info.id.clone().unwrap_or_default();
        let status = info.status.clone().unwrap_or_default();
        let (current, total) = info
            .progress_detail
            .as_ref()
            .map(|p| (p.current.unwrap_or(0).max(0) as u64, p.total.unwrap_or(0).max(0) as u64))
            .unwrap_or((0, 0));
        let tenth = (current * 10).checked_div(total).unwrap_or(0);
        // One line per layer and status change, and one per tenth of a
        // download or extraction: enough for progress bars, not a line per tick.
        if last.get(&layer) != Some(&(status.clone(), tenth)) {
            let line = appos_proto::PullProgress { image: image.to_string(), layer: layer.clone(), status: status.clone(), current, total };
            step.log(line.line()).await;
            last.insert(layer, (status, tenth));
        }
    }
    Ok(())
}

async fn wait_running(state: &Shared, app: &str, services: usize) -> Result<String, String> {
    let start = std::time::Instant::now();
    loop {
        let apps = crate::docker::list_apps(&state.docker, &Default::default()).await.map_err(|e| e.to_string())?;
        if let Some(a) = apps.iter().find(|a| a.name == app) {
            let containers: Vec<_> = a.services.iter().flat_map(|s| s.containers.iter()).collect();
            if let Some(bad) = containers.iter().find(|c| c.status.contains("(unhealthy)") || c.state == "dead") {
                return Err(format!("{} is {}", bad.name, bad.status));
            }
            if let Some(exited) = containers.iter().find(|c| c.state == "exited") {
                return Err(format!("{} exited: {}", exited.name, exited.status));
            }
            let ready = containers.iter().filter(|c| c.state == "running" && !c.status.contains("health: starting")).count();
            if a.services.len() >= services && ready == containers.len() && !containers.is_empty() {
                return Ok(format!("{ready} containers running after {:.1} s", start.elapsed().as_secs_f64()));
            }
        }
        if start.elapsed() > WAIT_TIMEOUT {
            return Err(format!("containers were not running and healthy after {} s", WAIT_TIMEOUT.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Writes `compose.yml` (0640) and `.env` (0600) into `dir`, replacing them atomically.
pub fn write_app_files(dir: &Path, compose: &str, env: &BTreeMap<String, String>) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))?;
    for (name, content, mode) in [("compose.yml", compose.to_string(), 0o640), (".env", crate::compose::render_env(env), 0o600)] {
        let tmp = dir.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(())
}
