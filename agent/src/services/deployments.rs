//! Deployments as the API sees them: recorded, queued, found, listed,
//! cancelled, and their log followed. The deploy task that runs them is in
//! `tasks::deploy`.

use appos_proto::{AppName, Deployment, DeploymentState, LogLine, Operation, ProblemCode};
use futures_util::Stream;

use crate::error::{AgentError, Result};
use crate::infra::db::{self, deployments as store};
use crate::infra::queue::{self, Queue as _, QueueError, TaskState};
use crate::services::tokens::Principal;
use crate::state::{AgentState, Shared};

/// Records a deployment of `version` that `who` asked for, and queues it.
pub async fn queue(
    state: &Shared,
    who: &Principal,
    app: &AppName,
    version: u32,
    op: Operation,
    remove_volumes: bool,
) -> Result<String> {
    let now = state.clock.now_ms();
    let id = queue::new_id(now);
    let (i, a, actor) = (id.clone(), app.to_string(), who.name.clone());
    db::call(&state.db, move |db| {
        store::insert(db, &i, &a, version, op, remove_volumes, &actor, now)
    })
    .await?;
    enqueue(state, &id, app, op).await?;
    Ok(id)
}

/// Announces a recorded deployment on the event stream, queues its task
/// (same id) and wakes a worker.
pub async fn enqueue(state: &Shared, id: &str, app: &AppName, op: Operation) -> Result<()> {
    let task = queue::NewTask {
        kind: op.as_str().into(),
        app: Some(app.to_string()),
        payload: serde_json::json!({ "deployment_id": id }),
        // Attempts cut by the agent's death count too (a deployment that
        // kills its agent must not run forever), so allow a few.
        max_attempts: 5,
    };
    // Announced before a worker can see it, so that "queued" comes before
    // "running" on the stream (the record says queued already; if queuing
    // fails, the reconciler queues it again).
    emit(state, id).await;
    state.queue.enqueue_with_id(id, task).await?;
    state.queue_wakeup.notify_waiters();
    Ok(())
}

/// Publishes a deployment's current state on the event stream.
pub async fn emit(state: &Shared, id: &str) {
    let (s, i) = (state.clone(), id.to_string());
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(Some(d)) = store::get(&s.db, &i) {
            let data = serde_json::json!({
                "deployment": d.id, "state": d.state, "operation": d.operation, "version": d.version, "attempt": d.attempt, "error": d.error,
            });
            s.events.publish(&s.db, s.clock.now_ms(), "deployment", Some(&d.app), data);
        }
    })
    .await;
}

pub async fn find(state: &AgentState, id: &str) -> Result<Deployment> {
    let i = id.to_string();
    db::call(&state.db, move |db| store::get(db, &i))
        .await?
        .ok_or_else(|| {
            AgentError::refused(
                ProblemCode::DeploymentNotFound,
                format!("no deployment {id}"),
            )
        })
}

/// Recent deployments, newest first.
pub async fn list(state: &AgentState, app: Option<&AppName>) -> Result<Vec<Deployment>> {
    let app = app.map(|a| a.to_string());
    Ok(db::call(&state.db, move |db| store::list(db, app.as_deref(), 200)).await?)
}

/// Cancels a deployment: a queued one at once, a running one at its next step.
pub async fn cancel(state: &Shared, id: &str) -> Result<Deployment> {
    let d = find(state, id).await?;
    if d.state.is_terminal() {
        return Ok(d);
    }
    match state.queue.cancel(id).await {
        Ok(TaskState::Cancelled) => {
            let (i, now) = (id.to_string(), state.clock.now_ms());
            db::call(&state.db, move |db| {
                store::set_state(
                    db,
                    &i,
                    DeploymentState::Cancelled,
                    Some("cancelled before it started"),
                    None,
                    now,
                )
            })
            .await?;
            emit(state, id).await;
        }
        Ok(_) | Err(QueueError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    find(state, id).await
}

/// The deployment's log: what is stored, then new lines as they come, in
/// batches, until the deployment ends.
pub fn follow_log(state: Shared, id: String) -> impl Stream<Item = Vec<LogLine>> {
    futures_util::stream::unfold(
        (state, id, 0u64, false),
        |(state, id, after, done)| async move {
            if done {
                return None;
            }
            loop {
                let (i, a) = (id.clone(), after);
                let lines = db::call(&state.db, move |db| store::log_after(db, &i, a))
                    .await
                    .ok()?;
                if let Some(last) = lines.last() {
                    let next = last.seq;
                    return Some((lines, (state, id, next, false)));
                }
                let i = id.clone();
                let finished = matches!(db::call(&state.db, move |db| store::get(db, &i)).await, Ok(Some(d)) if d.state.is_terminal());
                if finished {
                    // One last look: lines written just before the end.
                    let (i, a) = (id.clone(), after);
                    let tail = db::call(&state.db, move |db| store::log_after(db, &i, a))
                        .await
                        .unwrap_or_default();
                    let next = tail.last()?.seq;
                    return Some((tail, (state, id, next, false)));
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        },
    )
}
