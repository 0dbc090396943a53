//! Workers: three by default, each claiming tasks from the queue, keeping
//! their lease alive with heartbeats, and reporting how the task ended. The
//! reconciler closes deployments whose task ended without them (an agent
//! that died between accepting a deployment and queuing it, or a task that
//! ran out of attempts while no worker was alive to record it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use appos_proto::DeploymentState;
use tokio_util::sync::CancellationToken;

use crate::api::Shared;
use crate::deploy::{self, store};
use crate::queue::{backoff, Heartbeat, Queue, Task, TaskState};

// A task whose worker stops heartbeating is taken again once its lease
// (`Config::task_lease`, 30 s by default) runs out; workers beat every third
// of it, so a dead worker's task is retaken within 35 s.

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Retrying cannot help (invalid file, missing image, failing container).
    #[error("{0}")]
    Permanent(String),
    /// Might work next time (database busy, Docker restarting).
    #[error("{0}")]
    Transient(String),
    #[error("cancelled")]
    Cancelled,
    /// The lease was lost: another worker may be running the task.
    #[error("lease lost")]
    Lost,
}

pub fn start(state: Shared, workers: usize, stop: CancellationToken) -> tokio::task::JoinSet<()> {
    let mut set = tokio::task::JoinSet::new();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    for n in 0..workers {
        let name = format!("{host}/{}/{n}", std::process::id());
        set.spawn(worker_loop(state.clone(), name, stop.clone()));
    }
    set.spawn(reconcile_loop(state, stop));
    set
}

async fn worker_loop(state: Shared, name: String, stop: CancellationToken) {
    while !stop.is_cancelled() {
        match state.queue.claim(&name, state.config.task_lease).await {
            Ok(Some(task)) => run_task(&state, &name, task).await,
            Ok(None) => {
                tokio::select! {
                    _ = state.queue_wakeup.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.cancelled() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, worker = %name, "cannot claim a task");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[tracing::instrument(skip(state, task), fields(task = %task.id, kind = %task.kind, app = ?task.app, attempt = task.attempts))]
async fn run_task(state: &Shared, worker: &str, task: Task) {
    let cancel = CancellationToken::new();
    let lost = Arc::new(AtomicBool::new(false));
    let beat = {
        let (state, id, worker, cancel, lost) = (state.clone(), task.id.clone(), worker.to_string(), cancel.clone(), lost.clone());
        tokio::spawn(async move {
            let lease = state.config.task_lease;
            loop {
                tokio::time::sleep(lease / 3).await;
                match state.queue.heartbeat(&id, &worker, lease).await {
                    Ok(Heartbeat::Extended) => {}
                    Ok(Heartbeat::CancelRequested) => cancel.cancel(),
                    Ok(Heartbeat::Lost) => {
                        lost.store(true, Ordering::SeqCst);
                        cancel.cancel();
                        return;
                    }
                    Err(error) => tracing::warn!(%error, "heartbeat failed"),
                }
            }
        })
    };
    // A cancel asked for before the claim is seen at once.
    if task.cancel_requested {
        cancel.cancel();
    }
    let result = match appos_proto::Operation::parse(&task.kind) {
        Some(_) => deploy::run(state, &task, cancel.clone()).await,
        None => Err(TaskError::Permanent(format!("unknown task kind {:?}", task.kind))),
    };
    beat.abort();
    let q = &state.queue;
    let outcome = match result {
        _ if lost.load(Ordering::SeqCst) => Ok(()),
        Ok(()) => q.complete(&task.id, worker).await,
        Err(TaskError::Lost) => Ok(()),
        Err(TaskError::Cancelled) => q.acknowledge_cancel(&task.id, worker).await,
        Err(TaskError::Permanent(e)) => q.fail(&task.id, worker, &e, None).await.map(drop),
        Err(TaskError::Transient(e)) => {
            let wait = backoff(task.attempts, Duration::from_secs(5), Duration::from_secs(300));
            q.fail(&task.id, worker, &e, Some(wait)).await.map(drop)
        }
    };
    if let Err(error) = outcome {
        tracing::warn!(%error, "cannot record how the task ended");
    }
    tracing::info!("task finished");
}

async fn reconcile_loop(state: Shared, stop: CancellationToken) {
    while !stop.is_cancelled() {
        if let Err(error) = reconcile(&state).await {
            tracing::warn!(?error, "reconciling deployments failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(15)) => {}
            _ = stop.cancelled() => {}
        }
    }
}

/// Closes deployments whose task is gone or ended: none stays "running" forever.
pub async fn reconcile(state: &Shared) -> Result<(), TaskError> {
    let ids = deploy::blocking(state, store::unfinished).await?;
    for id in ids {
        let task = state.queue.get(&id).await.map_err(|e| TaskError::Transient(e.to_string()))?;
        let verdict = match task {
            None => Some((DeploymentState::Failed, "the agent stopped before the deployment was queued".to_string())),
            Some(t) if t.state == TaskState::Dead => {
                Some((DeploymentState::Failed, t.last_error.unwrap_or_else(|| "failed".into())))
            }
            Some(t) if t.state == TaskState::Cancelled => Some((DeploymentState::Cancelled, "cancelled".into())),
            Some(t) if t.state == TaskState::Succeeded => None,
            Some(_) => None,
        };
        if let Some((st, why)) = verdict {
            let i = id.clone();
            deploy::blocking(state, move |db| {
                // Only if still unfinished: a worker may have just finished it.
                match store::get(db, &i)? {
                    Some(d) if !d.state.is_terminal() => store::set_state(db, &i, st, Some(&why), None),
                    _ => Ok(()),
                }
            })
            .await?;
        }
    }
    Ok(())
}
