//! The persistent task queue: every deployment (deploy, lifecycle actions,
//! updates, rollbacks, deletes) runs through it, so that none is lost when
//! the agent or its host restarts. Task kinds are opaque strings here; the
//! worker's registry (`services::tasks`) knows what each one does.
//!
//! Two backends behind one trait, held to the same conformance suite
//! (`agent/tests/queue.rs`): an embedded SQLite queue (the default) and Redis
//! (the all-in-one container runs one; several agents may share it).
//!
//! Guarantees, for both:
//! - at-least-once: a task leaves the queue only when a worker completes it,
//!   fails it for good, or it is cancelled;
//! - a claim holds a lease that the worker extends with heartbeats; a task
//!   whose lease ran out (its worker died) is claimed again;
//! - failures are retried after a backoff the caller computes ([`backoff`]),
//!   and go to the dead letters after `max_attempts`;
//! - at most one task per app runs at a time, in the order they were queued;
//! - cancel: a queued task is dropped at once, a running one is told through
//!   its next heartbeat.

mod redis;
mod sqlite;

use std::future::Future;
use std::time::Duration;

pub use self::redis::RedisQueue;
pub use self::sqlite::SqliteQueue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    Queued,
    Running,
    Succeeded,
    /// Failed `max_attempts` times: kept for inspection, never retried.
    Dead,
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Dead => "dead",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Result<TaskState, QueueError> {
        Ok(match s {
            "queued" => TaskState::Queued,
            "running" => TaskState::Running,
            "succeeded" => TaskState::Succeeded,
            "dead" => TaskState::Dead,
            "cancelled" => TaskState::Cancelled,
            other => return Err(QueueError::Backend(format!("unknown task state {other:?}"))),
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Dead | TaskState::Cancelled
        )
    }
}

/// A task to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// What to do, e.g. `deploy`.
    pub kind: String,
    /// The app it touches: tasks of one app run one at a time.
    pub app: Option<String>,
    pub payload: serde_json::Value,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub kind: String,
    pub app: Option<String>,
    pub payload: serde_json::Value,
    pub state: TaskState,
    /// Claims so far, including the current one.
    pub attempts: u32,
    pub max_attempts: u32,
    pub last_error: Option<String>,
    pub cancel_requested: bool,
    /// Not claimable before this time (ms since the epoch).
    pub run_after_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease was extended: go on.
    Extended,
    /// Someone cancelled the task: stop, then call [`Queue::acknowledge_cancel`].
    CancelRequested,
    /// The lease ran out and the task may be running elsewhere: stop.
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Queued again, claimable at this time (ms since the epoch).
    Retrying { at_ms: i64 },
    /// Out of attempts: moved to the dead letters.
    Dead,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("task {0} is not held by this worker (its lease ran out or it finished)")]
    LeaseLost(String),
    #[error("no task {0}")]
    NotFound(String),
    #[error("queue backend: {0}")]
    Backend(String),
}

/// The queue operations. Implementations are cheap to share (`Arc`) and safe
/// to call from many workers and processes at once.
pub trait Queue: Send + Sync {
    /// Queues a task under an id the caller chose (so that a record such as
    /// a deployment can share it). Ids must be unique and should come from
    /// [`new_id`], which keeps them in time order.
    fn enqueue_with_id(
        &self,
        id: &str,
        task: NewTask,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
    fn enqueue(&self, task: NewTask) -> impl Future<Output = Result<String, QueueError>> + Send {
        async move {
            let id = new_id(now_ms());
            self.enqueue_with_id(&id, task).await.map(|()| id)
        }
    }
    /// Takes the oldest claimable task whose app has no running task.
    fn claim(
        &self,
        worker: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Option<Task>, QueueError>> + Send;
    fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Heartbeat, QueueError>> + Send;
    fn complete(
        &self,
        id: &str,
        worker: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Records a failed attempt: retried after `retry_in`, or dead when out of
    /// attempts or when `retry_in` is `None` (a failure that retrying cannot fix).
    fn fail(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> impl Future<Output = Result<Failure, QueueError>> + Send;
    /// Hands a running task back (its agent is stopping): at once what an
    /// expired lease does later, with `why` as its last error. Queued again,
    /// claimable now, or dead when it was on its last attempt.
    fn release(
        &self,
        id: &str,
        worker: &str,
        why: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Cancels: a queued task at once, a running one at its next heartbeat.
    /// Returns the state after the call.
    fn cancel(&self, id: &str) -> impl Future<Output = Result<TaskState, QueueError>> + Send;
    /// The worker's answer to [`Heartbeat::CancelRequested`]: it stopped.
    fn acknowledge_cancel(
        &self,
        id: &str,
        worker: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Task>, QueueError>> + Send;
    /// Tasks in `state`, oldest first.
    fn list(&self, state: TaskState) -> impl Future<Output = Result<Vec<Task>, QueueError>> + Send;
}

impl From<QueueError> for crate::error::AgentError {
    fn from(e: QueueError) -> Self {
        crate::error::AgentError::Internal(anyhow::Error::new(e).context("task queue"))
    }
}

/// Exponential backoff: `base`, `2·base`, `4·base`, ... capped at `max`.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    base.saturating_mul(factor).min(max)
}

pub(crate) use crate::clock::unix_now_ms as now_ms;

/// Task ids sort by creation time: 13 hex digits of milliseconds, then randomness.
pub fn new_id(now_ms: i64) -> String {
    format!("t{:013x}{:08x}", now_ms, rand::random::<u32>())
}

pub(crate) fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// The backend the agent runs with, chosen by configuration.
#[allow(clippy::large_enum_variant)] // one per agent, never moved around
pub enum AnyQueue {
    Sqlite(SqliteQueue),
    Redis(RedisQueue),
}

macro_rules! delegate {
    ($self:ident, $q:ident => $e:expr) => {
        match $self {
            AnyQueue::Sqlite($q) => $e,
            AnyQueue::Redis($q) => $e,
        }
    };
}

impl Queue for AnyQueue {
    async fn enqueue_with_id(&self, id: &str, task: NewTask) -> Result<(), QueueError> {
        delegate!(self, q => q.enqueue_with_id(id, task).await)
    }
    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Task>, QueueError> {
        delegate!(self, q => q.claim(worker, lease).await)
    }
    async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        lease: Duration,
    ) -> Result<Heartbeat, QueueError> {
        delegate!(self, q => q.heartbeat(id, worker, lease).await)
    }
    async fn complete(&self, id: &str, worker: &str) -> Result<(), QueueError> {
        delegate!(self, q => q.complete(id, worker).await)
    }
    async fn fail(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<Failure, QueueError> {
        delegate!(self, q => q.fail(id, worker, error, retry_in).await)
    }
    async fn release(&self, id: &str, worker: &str, why: &str) -> Result<(), QueueError> {
        delegate!(self, q => q.release(id, worker, why).await)
    }
    async fn cancel(&self, id: &str) -> Result<TaskState, QueueError> {
        delegate!(self, q => q.cancel(id).await)
    }
    async fn acknowledge_cancel(&self, id: &str, worker: &str) -> Result<(), QueueError> {
        delegate!(self, q => q.acknowledge_cancel(id, worker).await)
    }
    async fn get(&self, id: &str) -> Result<Option<Task>, QueueError> {
        delegate!(self, q => q.get(id).await)
    }
    async fn list(&self, state: TaskState) -> Result<Vec<Task>, QueueError> {
        delegate!(self, q => q.list(state).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(2);
        let m = Duration::from_secs(60);
        assert_eq!(backoff(1, b, m), Duration::from_secs(2));
        assert_eq!(backoff(2, b, m), Duration::from_secs(4));
        assert_eq!(backoff(4, b, m), Duration::from_secs(16));
        assert_eq!(backoff(10, b, m), m);
        assert_eq!(backoff(u32::MAX, b, m), m);
    }

    #[test]
    fn ids_sort_by_time() {
        let a = new_id(1_000);
        let b = new_id(1_001);
        let c = new_id(20_000_000_000_000);
        assert!(a < b && b < c, "{a} {b} {c}");
    }
}
