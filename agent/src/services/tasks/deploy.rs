//! Deployments: their records (state, steps with times and output, log), and
//! the deploy task that a worker runs step by step. Every step is idempotent,
//! so a deployment whose agent died is simply run again by the next worker.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use appos_proto::{AppName, DeploymentState, Operation, PullProgress, StepState};
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::{Registry, TaskError};
use crate::core::readiness::{readiness, Readiness};
use crate::infra::db::{self, deployments as store, Db};
use crate::infra::queue::Task;
use crate::infra::{compose, docker};
use crate::services::deployments::emit;
use crate::state::Shared;

/// How long containers may take to run (and pass their health checks).
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(120);

/// Registers the deployment operations as task kinds.
pub fn register(registry: &mut Registry) {
    for op in [
        Operation::Deploy,
        Operation::Start,
        Operation::Stop,
        Operation::Restart,
        Operation::Update,
        Operation::Delete,
    ] {
        registry.register(op.as_str(), |state, task, cancel| {
            Box::pin(run(state, task, cancel))
        });
    }
}

/// Runs `f` with the database off the async runtime.
async fn blocking<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Db) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, TaskError> {
    Ok(db::call(&state.db, f).await?)
}

/// One running step: records its end and its log lines.
struct Step<'a> {
    state: &'a Shared,
    deployment: String,
    name: &'static str,
    idx: i64,
}

impl<'a> Step<'a> {
    async fn start(
        state: &'a Shared,
        deployment: &str,
        name: &'static str,
    ) -> Result<Step<'a>, TaskError> {
        let (d, n, now) = (deployment.to_string(), name, state.clock.now_ms());
        let idx = blocking(state, move |db| store::step_start(db, &d, n, now)).await?;
        Ok(Step {
            state,
            deployment: deployment.to_string(),
            name,
            idx,
        })
    }

    async fn log(&self, text: impl Into<String>) {
        self.record(text.into(), None).await
    }

    /// A pull's progress, typed, with its human text.
    async fn progress(&self, p: PullProgress) {
        self.record(p.line(), Some(p)).await
    }

    async fn record(&self, text: String, pull: Option<PullProgress>) {
        let (d, n, now) = (
            self.deployment.clone(),
            self.name,
            self.state.clock.now_ms(),
        );
        if let Err(error) = blocking(self.state, move |db| {
            store::log(db, &d, n, &text, pull.as_ref(), now)
        })
        .await
        {
            tracing::warn!(?error, "cannot record a deployment log line");
        }
    }

    async fn end(self, state: StepState, detail: impl Into<String>) -> Result<(), TaskError> {
        let (d, i, t, name, now) = (
            self.deployment.clone(),
            self.idx,
            detail.into(),
            self.name,
            self.state.clock.now_ms(),
        );
        let s = self.state.clone();
        blocking(self.state, move |db| {
            store::step_end(db, &d, i, state, &t, now)?;
            let app: Option<String> = store::get(db, &d)?.map(|x| x.app);
            s.events.publish(
                db,
                now,
                "deployment_step",
                app.as_deref(),
                serde_json::json!({ "deployment": d, "step": name, "state": state, "detail": t }),
            );
            Ok(())
        })
        .await
    }

    /// Runs a compose command for `app` and logs what it printed. The inner
    /// error is the last line of output of a failed command.
    async fn compose(
        &self,
        app: &str,
        dir: &Path,
        args: &[&str],
        cancel: &CancellationToken,
    ) -> Result<Result<(), String>, TaskError> {
        let argv = compose::command(&self.state.compose().await.command, app, dir, args);
        let out = or_cancel(cancel, compose::run(&argv, dir)).await?;
        let (Ok(text) | Err(text)) = &out;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.log(line.to_string()).await;
        }
        Ok(out
            .map(drop)
            .map_err(|t| t.lines().last().unwrap_or("").to_string()))
    }

    /// Ends the step as failed and turns the message into a task error.
    async fn fail(self, err: TaskError) -> TaskError {
        let detail = err.to_string();
        let _ = self
            .end(
                StepState::Failed,
                detail.chars().take(500).collect::<String>(),
            )
            .await;
        err
    }
}

/// Runs `fut` unless the task is cancelled first.
async fn or_cancel<T>(
    cancel: &CancellationToken,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, TaskError> {
    tokio::select! {
        _ = cancel.cancelled() => Err(TaskError::Cancelled),
        v = fut => Ok(v),
    }
}

/// A deployment task, whatever its operation.
pub async fn run(state: &Shared, task: &Task, cancel: CancellationToken) -> Result<(), TaskError> {
    let id = task
        .payload
        .get("deployment_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| TaskError::Permanent("task has no deployment_id".into()))?
        .to_string();
    let dep = {
        let i = id.clone();
        blocking(state, move |db| store::get(db, &i))
            .await?
            .ok_or_else(|| TaskError::Permanent(format!("no deployment {id}")))?
    };
    if dep.state.is_terminal() {
        return Ok(());
    }
    let app = AppName::parse(&dep.app)
        .map_err(|e| TaskError::Permanent(format!("deployment {id} names no valid app: {e}")))?;
    {
        let (i, attempt, now) = (id.clone(), task.attempts, state.clock.now_ms());
        // Steps an earlier attempt left running ended with its agent.
        let why = format!("interrupted: the agent stopped while this step ran; attempt {attempt} runs the deployment again");
        blocking(state, move |db| {
            store::interrupt_running_steps(db, &i, &why, now)?;
            store::set_state(db, &i, DeploymentState::Running, None, Some(attempt), now)
        })
        .await?;
        emit(state, &id).await;
    }
    let result = match dep.operation {
        Operation::Deploy => steps(state, &id, &app, dep.version, &cancel).await,
        Operation::Update => update(state, &id, &app, dep.version, &cancel).await,
        Operation::Delete => delete(state, &id, &app, &cancel).await,
        op @ (Operation::Start | Operation::Stop | Operation::Restart) => {
            lifecycle(state, &id, &app, op, &cancel).await
        }
    };
    // Whoever reads this deployment's outcome lists the containers it left.
    state
        .inventory
        .refresh_project(&state.docker, app.as_str())
        .await;
    if result.is_ok() && dep.operation != Operation::Delete {
        // New containers may have new addresses.
        crate::services::serving::refresh_app(state, &app).await;
    }
    let (final_state, error) = match &result {
        Ok(()) => (DeploymentState::Succeeded, None),
        Err(TaskError::Cancelled) => (DeploymentState::Cancelled, Some("cancelled".to_string())),
        Err(TaskError::Lost) => return result,
        Err(TaskError::Transient(e)) if task.attempts < task.max_attempts => {
            // Back to queued: the next attempt records its own steps.
            let msg = format!("attempt {} failed: {e}; retrying", task.attempts);
            let (i, now) = (id.clone(), state.clock.now_ms());
            blocking(state, move |db| {
                store::set_state(db, &i, DeploymentState::Queued, Some(&msg), None, now)
            })
            .await?;
            emit(state, &id).await;
            return result;
        }
        Err(e) => (DeploymentState::Failed, Some(e.to_string())),
    };
    let (i, now) = (id.clone(), state.clock.now_ms());
    blocking(state, move |db| {
        store::set_state(db, &i, final_state, error.as_deref(), None, now)
    })
    .await?;
    emit(state, &id).await;
    // `deployment_failed` fires, or resolves, now.
    state.alerts.wake.notify_one();
    result
}

async fn steps(
    state: &Shared,
    id: &str,
    app: &AppName,
    version: u32,
    cancel: &CancellationToken,
) -> Result<(), TaskError> {
    let dir = compose::app_dir(&state.config.apps_dir(), app);

    // 1. The version's files on disk (they are already there unless this
    //    deploys an older version).
    let step = Step::start(state, id, "write_files").await?;
    let (a, v) = (app.to_string(), version);
    let recorded = blocking(state, move |db| {
        Ok((
            db::versions::get(db, &a, v)?,
            db::versions::files(db, &a, v)?,
            db::versions::all_paths(db, &a)?,
        ))
    })
    .await?;
    let (
        Some(db::versions::Version {
            compose: compose_text,
            env,
            meta,
            ..
        }),
        files,
        every_path,
    ) = recorded
    else {
        return Err(step
            .fail(TaskError::Permanent(format!(
                "version {version} of {app} is not recorded"
            )))
            .await);
    };
    let saved_at = meta.created_at;
    // Files of other versions that this one does not hold go; its own are written.
    let stale: Vec<&str> = every_path
        .iter()
        .map(String::as_str)
        .filter(|p| !files.iter().any(|f| f.path == *p))
        .collect();
    let syntax = crate::services::apps::env_syntax(state).await;
    let written = compose::write_app_files(&dir, &compose_text, &env, syntax).and_then(|()| {
        let removed = crate::infra::appfiles::remove(&dir, stale.iter().copied())?;
        let changed = crate::infra::appfiles::write(
            &dir,
            files
                .iter()
                .map(|f| (f.path.as_str(), f.bytes.as_slice(), f.executable)),
        )?;
        Ok(removed || changed)
    });
    // Containers that bind-mount a changed file are recreated to see it.
    let files_changed = match written {
        Ok(c) => c,
        Err(e) => {
            return Err(step
                .fail(TaskError::Permanent(format!(
                    "writing {}: {e}",
                    dir.display()
                )))
                .await)
        }
    };
    let n = files.len();
    step.end(
        StepState::Succeeded,
        format!(
            "version {version} and {n} file{} in {}",
            if n == 1 { "" } else { "s" },
            dir.display()
        ),
    )
    .await?;

    // 2. The compose tool's own check. Every version is checked when it is
    //    saved; a version saved before this agent started (another compose
    //    tool, maybe) is checked again.
    let step = Step::start(state, id, "validate").await?;
    if saved_at >= state.started_at {
        step.end(
            StepState::Skipped,
            format!("compose config accepted version {version} when it was saved"),
        )
        .await?;
    } else {
        let argv = compose::command(&state.compose().await.command, app, &dir, &["config", "-q"]);
        if let Err(out) = or_cancel(cancel, compose::run(&argv, &dir)).await? {
            return Err(step
                .fail(TaskError::Permanent(format!(
                    "the compose file is invalid: {out}"
                )))
                .await);
        }
        step.end(StepState::Succeeded, "compose config accepted the file")
            .await?;
    }

    // 3. Images: pulled with per-layer progress, skipped when present.
    let summary = summary_of(&compose_text)?;
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
            Err(e) => {
                return Err(step
                    .fail(TaskError::Permanent(crate::core::pull::message(image, &e)))
                    .await)
            }
        }
    }
    let detail = format!("{present} present, {pulled} pulled");
    step.end(
        if pulled == 0 {
            StepState::Skipped
        } else {
            StepState::Succeeded
        },
        detail,
    )
    .await?;

    // 4. Images built here, their log streamed as it comes.
    let step = Step::start(state, id, "build").await?;
    if summary.builds.is_empty() {
        step.end(StepState::Skipped, "no service is built here")
            .await?;
    } else {
        let mut args = vec!["build"];
        args.extend(summary.builds.iter().map(String::as_str));
        let argv = compose::command(&state.compose().await.command, app, &dir, &args);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let run = or_cancel(cancel, compose::run_streaming(&argv, &dir, tx));
        tokio::pin!(run);
        let mut last = String::new();
        let result = loop {
            tokio::select! {
                Some(line) = rx.recv() => {
                    last.clone_from(&line);
                    step.log(line).await;
                }
                r = &mut run => break r?,
            }
        };
        while let Ok(line) = rx.try_recv() {
            last.clone_from(&line);
            step.log(line).await;
        }
        match result {
            Ok(()) => {
                step.end(
                    StepState::Succeeded,
                    format!(
                        "built {}",
                        summary
                            .builds
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .await?
            }
            Err(e) => {
                return Err(step
                    .fail(TaskError::Permanent(format!(
                        "the build failed: {last} ({e})"
                    )))
                    .await)
            }
        }
    }

    // 5. Up.
    let step = Step::start(state, id, "up").await?;
    let up: &[&str] = if files_changed {
        &["up", "-d", "--remove-orphans", "--force-recreate"]
    } else {
        &["up", "-d", "--remove-orphans"]
    };
    match step.compose(app, &dir, up, cancel).await? {
        Ok(()) => {
            step.end(StepState::Succeeded, "containers created and started")
                .await?
        }
        Err(last) => {
            return Err(step
                .fail(TaskError::Permanent(format!("compose up failed: {last}")))
                .await)
        }
    }

    // 6. Running and healthy.
    let step = Step::start(state, id, "wait").await?;
    match or_cancel(cancel, wait_running(state, app, summary.services.len())).await? {
        Ok(detail) => step.end(StepState::Succeeded, detail).await?,
        Err(e) => return Err(step.fail(TaskError::Permanent(e)).await),
    }

    // 7. What actually runs, for the history and for pinned rollbacks.
    let step = Step::start(state, id, "record_digests").await?;
    let digests = image_digests(&state.docker, &summary.services).await;
    let (a, n) = (app.to_string(), digests.len());
    blocking(state, move |db| {
        db::versions::set_digests(db, &a, version, &digests)
    })
    .await?;
    step.end(StepState::Succeeded, format!("{n} image digests recorded"))
        .await?;
    Ok(())
}

/// Service → what its image resolves to now: the registry digest
/// (`repo@sha256:…`), or the local image id for an image from no registry.
pub async fn image_digests(
    docker: &bollard::Docker,
    services: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut digests = BTreeMap::new();
    for (service, image) in services {
        if let Ok(info) = docker.inspect_image(image).await {
            let digest = info
                .repo_digests
                .unwrap_or_default()
                .into_iter()
                .next()
                .or(info.id)
                .unwrap_or_default();
            digests.insert(service.clone(), digest);
        }
    }
    digests
}

/// The services and images of a saved version (checked when it was saved).
fn summary_of(compose_text: &str) -> Result<crate::core::compose::ComposeSummary, TaskError> {
    crate::core::compose::inspect(compose_text).map_err(|e| TaskError::Permanent(format!("{e:?}")))
}

/// Start, stop or restart: one compose command.
async fn lifecycle(
    state: &Shared,
    id: &str,
    app: &AppName,
    op: Operation,
    cancel: &CancellationToken,
) -> Result<(), TaskError> {
    let dir = compose::app_dir(&state.config.apps_dir(), app);
    let step = Step::start(state, id, op.as_str()).await?;
    let args: &[&str] = match op {
        Operation::Start => &["start"],
        Operation::Stop => &["stop"],
        _ => &["restart"],
    };
    match step.compose(app, &dir, args, cancel).await? {
        Ok(()) => {
            step.end(StepState::Succeeded, format!("compose {}", args[0]))
                .await
        }
        Err(last) => Err(step
            .fail(TaskError::Permanent(format!(
                "compose {} failed: {last}",
                args[0]
            )))
            .await),
    }
}

/// Pulls newer images for every service, then recreates what changed.
async fn update(
    state: &Shared,
    id: &str,
    app: &AppName,
    version: u32,
    cancel: &CancellationToken,
) -> Result<(), TaskError> {
    let (a, v) = (app.to_string(), version);
    let Some(db::versions::Version {
        compose: compose_text,
        ..
    }) = blocking(state, move |db| db::versions::get(db, &a, v)).await?
    else {
        return Err(TaskError::Permanent(format!(
            "version {version} of {app} is not recorded"
        )));
    };
    let summary = summary_of(&compose_text)?;
    let step = Step::start(state, id, "pull").await?;
    let mut kept = 0;
    for image in summary.images() {
        match or_cancel(cancel, pull(state, &step, image)).await? {
            Ok(()) => {}
            // A local image with no registry to ask: keep what runs.
            Err(e) if state.docker.inspect_image(image).await.is_ok() => {
                kept += 1;
                step.log(format!(
                    "{image}: no newer image ({e}); keeping the local one"
                ))
                .await;
            }
            Err(e) => {
                return Err(step
                    .fail(TaskError::Permanent(crate::core::pull::message(image, &e)))
                    .await)
            }
        }
    }
    step.end(
        StepState::Succeeded,
        format!(
            "{} images checked, {kept} kept as they are",
            summary.services.len()
        ),
    )
    .await?;
    steps(state, id, app, version, cancel).await
}

/// Takes the app down (with its volumes when asked) and forgets it.
async fn delete(
    state: &Shared,
    id: &str,
    app: &AppName,
    cancel: &CancellationToken,
) -> Result<(), TaskError> {
    let dir = compose::app_dir(&state.config.apps_dir(), app);
    let i = id.to_string();
    let volumes = blocking(state, move |db| store::removes_volumes(db, &i)).await?;
    let step = Step::start(state, id, "down").await?;
    let mut args = vec!["down", "--remove-orphans", "-t", "10"];
    if volumes {
        args.push("-v");
    }
    if dir.join("compose.yml").exists() {
        if let Err(last) = step.compose(app, &dir, &args, cancel).await? {
            return Err(step
                .fail(TaskError::Permanent(format!("compose down failed: {last}")))
                .await);
        }
    }
    step.end(
        StepState::Succeeded,
        if volumes {
            "containers, networks and volumes removed"
        } else {
            "containers and networks removed; volumes kept"
        },
    )
    .await?;
    let step = Step::start(state, id, "forget").await?;
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(step
                .fail(TaskError::Transient(format!(
                    "removing {}: {e}",
                    dir.display()
                )))
                .await);
        }
    }
    let (a, now) = (app.to_string(), state.clock.now());
    blocking(state, move |db| db::apps::delete(db, &a, "agent", now)).await?;
    step.end(
        StepState::Succeeded,
        "files and history removed; deployment records kept",
    )
    .await
}

async fn pull(state: &Shared, step: &Step<'_>, image: &str) -> Result<(), String> {
    let (name, tag) = match image.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((n, t)) => (n.to_string(), t.to_string()),
        None => (image.to_string(), "latest".to_string()),
    };
    let opts = CreateImageOptions {
        from_image: Some(name),
        tag: Some(tag),
        ..Default::default()
    };
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
            .map(|p| {
                (
                    p.current.unwrap_or(0).max(0) as u64,
                    p.total.unwrap_or(0).max(0) as u64,
                )
            })
            .unwrap_or((0, 0));
        let tenth = (current * 10).checked_div(total).unwrap_or(0);
        // One line per layer and status change, and one per tenth of a
        // download or extraction: enough for progress bars, not a line per tick.
        if last.get(&layer) != Some(&(status.clone(), tenth)) {
            step.progress(PullProgress {
                image: image.to_string(),
                layer: layer.clone(),
                status: status.clone(),
                current,
                total,
            })
            .await;
            last.insert(layer, (status, tenth));
        }
    }
    Ok(())
}

async fn wait_running(state: &Shared, app: &AppName, services: usize) -> Result<String, String> {
    let start = std::time::Instant::now();
    loop {
        let project = docker::project(&state.docker, app)
            .await
            .map_err(|e| e.to_string())?;
        match readiness(project.as_ref(), services) {
            Readiness::Ready(n) => {
                return Ok(format!(
                    "{n} containers running after {:.1} s",
                    start.elapsed().as_secs_f64()
                ))
            }
            Readiness::Failed(why) => return Err(why),
            Readiness::Waiting => {}
        }
        if start.elapsed() > WAIT_TIMEOUT {
            return Err(format!(
                "containers were not running and healthy after {} s",
                WAIT_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
