//! Workers: three by default, each claiming tasks from the queue, keeping
//! their lease alive with heartbeats, running each through the handler the
//! [`Registry`] has for its kind, and reporting how it ended. Task kinds
//! plug in by registering a handler (`deploy::register` for deployments).

pub mod backup;
pub mod certificate;
pub mod deploy;
pub mod notify;
pub mod reconcile;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio_util::sync::CancellationToken;

use crate::infra::queue::{backoff, Heartbeat, Queue, Task};
use crate::state::Shared;

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

impl From<crate::infra::db::DbError> for TaskError {
    fn from(e: crate::infra::db::DbError) -> TaskError {
        TaskError::Transient(format!("database: {e}"))
    }
}

/// What runs a task of one kind.
pub type Handler = for<'a> fn(
    &'a Shared,
    &'a Task,
    CancellationToken,
) -> Pin<Box<dyn Future<Output = Result<(), TaskError>> + Send + 'a>>;

/// The handlers of the task kinds this agent runs.
#[derive(Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl Registry {
    pub fn register(&mut self, kind: &str, handler: Handler) {
        self.handlers.insert(kind.to_string(), handler);
    }

    pub fn kinds(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        k.sort();
        k
    }

    async fn run(
        &self,
        state: &Shared,
        task: &Task,
        cancel: CancellationToken,
    ) -> Result<(), TaskError> {
        match self.handlers.get(&task.kind) {
            Some(handler) => handler(state, task, cancel).await,
            None => Err(TaskError::Permanent(format!(
                "unknown task kind {:?}",
                task.kind
            ))),
        }
    }
}

/// The registry with every task kind the agent knows.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    deploy::register(&mut r);
    certificate::register(&mut r);
    backup::register(&mut r);
    notify::register(&mut r);
    r
}

pub fn start(
    state: Shared,
    registry: Arc<Registry>,
    workers: usize,
    stop: CancellationToken,
) -> tokio::task::JoinSet<()> {
    let mut set = tokio::task::JoinSet::new();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    for n in 0..workers {
        let name = format!("{host}/{}/{n}", std::process::id());
        set.spawn(worker_loop(
            state.clone(),
            registry.clone(),
            name,
            stop.clone(),
        ));
    }
    set.spawn(reconcile::run_loop(state, stop));
    set
}

async fn worker_loop(
    state: Shared,
    registry: Arc<Registry>,
    name: String,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        match state.queue.claim(&name, state.config.task_lease).await {
            Ok(Some(task)) => run_task(&state, &registry, &name, task, &stop).await,
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

/// Runs one claimed task to its end and records how it ended. When the
/// agent stops meanwhile (`stop`), the task has `Config::stop_grace` to end;
/// then it is dropped (its compose process killed with it) and handed back
/// to the queue, for the next agent to take at once, as it would take the
/// task of an agent that died, without waiting for the lease to run out.
#[tracing::instrument(skip(state, registry, task, stop), fields(task = %task.id, kind = %task.kind, app = ?task.app, attempt = task.attempts))]
async fn run_task(
    state: &Shared,
    registry: &Registry,
    worker: &str,
    task: Task,
    stop: &CancellationToken,
) {
    let (cancel, started) = (CancellationToken::new(), std::time::Instant::now());
    let lost = Arc::new(AtomicBool::new(false));
    let beat = {
        let (state, id, worker, cancel, lost) = (
            state.clone(),
            task.id.clone(),
            worker.to_string(),
            cancel.clone(),
            lost.clone(),
        );
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
    // A handler that panics fails its task (and keeps its worker, and stops the heartbeat).
    let handler =
        std::panic::AssertUnwindSafe(registry.run(state, &task, cancel.clone())).catch_unwind();
    let grace = state.config.stop_grace;
    let ran = tokio::select! {
        r = handler => r,
        () = async { stop.cancelled().await; tokio::time::sleep(grace).await } => {
            beat.abort();
            let why = format!("handed back: the agent stopped while this ran (it had {} s to end)", grace.as_secs());
            state.metrics.task(&task.kind, "handed_back", started.elapsed());
            match state.queue.release(&task.id, worker, &why).await {
                Ok(()) => tracing::info!("the agent is stopping: handed the task back to the queue"),
                Err(error) => tracing::warn!(%error, "cannot hand the task back; its lease runs out instead"),
            }
            return;
        }
    };
    let result = match ran {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, "the task's handler panicked");
            Err(TaskError::Permanent(format!(
                "the agent failed while running this task (a bug; its log has more): {what}"
            )))
        }
    };
    beat.abort();
    let kind = if lost.load(Ordering::SeqCst) {
        "lost"
    } else {
        match &result {
            Ok(()) => "succeeded",
            Err(TaskError::Lost) => "lost",
            Err(TaskError::Cancelled) => "cancelled",
            Err(TaskError::Permanent(_)) => "failed",
            Err(TaskError::Transient(_)) => "retrying",
        }
    };
    state.metrics.task(&task.kind, kind, started.elapsed());
    let q = &state.queue;
    let outcome = match result {
        _ if lost.load(Ordering::SeqCst) => Ok(()),
        Ok(()) => q.complete(&task.id, worker).await,
        Err(TaskError::Lost) => Ok(()),
        Err(TaskError::Cancelled) => q.acknowledge_cancel(&task.id, worker).await,
        Err(TaskError::Permanent(e)) => q.fail(&task.id, worker, &e, None).await.map(drop),
        Err(TaskError::Transient(e)) => {
            let wait = backoff(
                task.attempts,
                Duration::from_secs(5),
                Duration::from_secs(300),
            );
            q.fail(&task.id, worker, &e, Some(wait)).await.map(drop)
        }
    };
    if let Err(error) = outcome {
        tracing::warn!(%error, "cannot record how the task ended");
    }
    tracing::info!("task finished");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_deployment_operation_certificates_and_notices_are_registered_kinds() {
        assert_eq!(
            registry().kinds(),
            [
                "backup",
                "certificate",
                "delete",
                "deploy",
                "notify",
                "restart",
                "restore",
                "start",
                "stop",
                "update"
            ]
        );
    }
}
