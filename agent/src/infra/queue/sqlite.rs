//! The embedded queue: one SQLite file (`<data>/queue.db`, WAL), every state
//! change in a transaction, claims under `BEGIN IMMEDIATE` so that several
//! processes on one data dir never take the same task. Queue order is
//! insertion order (`rowid`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{ms, now_ms, Failure, Heartbeat, NewTask, Queue, QueueError, Task, TaskState};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    app TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    last_error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    run_after INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks(state);
CREATE INDEX IF NOT EXISTS tasks_by_app ON tasks(app, state);
";

const COLUMNS: &str =
    "id, kind, app, payload, state, attempts, max_attempts, last_error, cancel_requested, run_after, created, updated";

#[derive(Clone)]
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
}

fn backend(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(e.to_string())
}

fn conversion(col: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
}

fn row_to_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    let payload: String = r.get(3)?;
    let state: String = r.get(4)?;
    Ok(Task {
        id: r.get(0)?,
        kind: r.get(1)?,
        app: r.get(2)?,
        payload: serde_json::from_str(&payload).map_err(|e| conversion(3, e))?,
        state: TaskState::parse(&state).map_err(|e| conversion(4, e))?,
        attempts: r.get(5)?,
        max_attempts: r.get(6)?,
        last_error: r.get(7)?,
        cancel_requested: r.get::<_, i64>(8)? != 0,
        run_after_ms: r.get(9)?,
        created_ms: r.get(10)?,
        updated_ms: r.get(11)?,
    })
}

impl SqliteQueue {
    pub fn open(path: &Path) -> Result<SqliteQueue, QueueError> {
        let conn = Connection::open(path).map_err(backend)?;
        Self::setup(conn)
    }

    pub fn open_in_memory() -> Result<SqliteQueue, QueueError> {
        Self::setup(Connection::open_in_memory().map_err(backend)?)
    }

    fn setup(conn: Connection) -> Result<SqliteQueue, QueueError> {
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        // Every committed state change survives a crash of the process or the host.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(SqliteQueue {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Ends a running task held by `worker` in state `to`.
    async fn end_running(&self, id: &str, worker: &str, to: TaskState) -> Result<(), QueueError> {
        let (id, worker) = (id.to_string(), worker.to_string());
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE tasks SET state = ?1, lease_owner = NULL, lease_until = NULL, updated = ?2
                     WHERE id = ?3 AND state = 'running' AND lease_owner = ?4",
                    params![to.as_str(), now_ms(), id, worker],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(QueueError::LeaseLost(id));
            }
            Ok(())
        })
        .await
    }

    /// Runs `f` on the connection off the async runtime.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut c)
        })
        .await
        .map_err(backend)?
    }
}

fn get_task(c: &Connection, id: &str) -> Result<Option<Task>, QueueError> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"),
        params![id],
        row_to_task,
    )
    .optional()
    .map_err(backend)
}

impl Queue for SqliteQueue {
    async fn enqueue_with_id(&self, id: &str, task: NewTask) -> Result<(), QueueError> {
        let payload = serde_json::to_string(&task.payload).map_err(backend)?;
        let id = id.to_string();
        self.with(move |c| {
            let now = now_ms();
            c.execute(
                "INSERT INTO tasks (id, kind, app, payload, state, max_attempts, run_after, created, updated)
                 VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?6, ?6)",
                params![id, task.kind, task.app, payload, task.max_attempts.max(1), now],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Task>, QueueError> {
        let worker = worker.to_string();
        self.with(move |c| {
            let now = now_ms();
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            // Leases that ran out: their worker died. Retry, or give up.
            tx.execute(
                "UPDATE tasks SET
                    state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                    last_error = 'the worker stopped answering (lease expired)',
                    lease_owner = NULL, lease_until = NULL, updated = ?1
                 WHERE state = 'running' AND lease_until < ?1",
                params![now],
            )
            .map_err(backend)?;
            // The oldest claimable task whose app is idle, taking an app's
            // tasks strictly in order.
            let id: Option<String> = tx
                .query_row(
                    "SELECT t.id FROM tasks t
                     WHERE t.state = 'queued' AND t.run_after <= ?1
                       AND (t.app IS NULL OR NOT EXISTS (
                            SELECT 1 FROM tasks o WHERE o.app = t.app
                              AND (o.state = 'running' OR (o.state = 'queued' AND o.rowid < t.rowid))))
                     ORDER BY t.rowid LIMIT 1",
                    params![now],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            let Some(id) = id else {
                tx.commit().map_err(backend)?;
                return Ok(None);
            };
            tx.execute(
                "UPDATE tasks SET state = 'running', attempts = attempts + 1, lease_owner = ?2, lease_until = ?3, updated = ?1
                 WHERE id = ?4",
                params![now, worker, now + ms(lease), id],
            )
            .map_err(backend)?;
            let task = get_task(&tx, &id)?;
            tx.commit().map_err(backend)?;
            Ok(task)
        })
        .await
    }

    async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        lease: Duration,
    ) -> Result<Heartbeat, QueueError> {
        let (id, worker) = (id.to_string(), worker.to_string());
        self.with(move |c| {
            let now = now_ms();
            let n = c
                .execute(
                    "UPDATE tasks SET lease_until = ?1, updated = ?2 WHERE id = ?3 AND state = 'running' AND lease_owner = ?4",
                    params![now + ms(lease), now, id, worker],
                )
                .map_err(backend)?;
            if n == 0 {
                return Ok(Heartbeat::Lost);
            }
            let cancel: i64 = c
                .query_row("SELECT cancel_requested FROM tasks WHERE id = ?1", params![id], |r| r.get(0))
                .map_err(backend)?;
            Ok(if cancel != 0 { Heartbeat::CancelRequested } else { Heartbeat::Extended })
        })
        .await
    }

    async fn complete(&self, id: &str, worker: &str) -> Result<(), QueueError> {
        self.end_running(id, worker, TaskState::Succeeded).await
    }

    async fn fail(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<Failure, QueueError> {
        let (id, worker, error) = (id.to_string(), worker.to_string(), error.to_string());
        self.with(move |c| {
            let now = now_ms();
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let row: Option<(u32, u32)> = tx
                .query_row(
                    "SELECT attempts, max_attempts FROM tasks WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                    params![id, worker],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            let Some((attempts, max_attempts)) = row else {
                return Err(QueueError::LeaseLost(id));
            };
            let outcome = if attempts >= max_attempts || retry_in.is_none() {
                tx.execute(
                    "UPDATE tasks SET state = 'dead', last_error = ?1, lease_owner = NULL, lease_until = NULL, updated = ?2 WHERE id = ?3",
                    params![error, now, id],
                )
                .map_err(backend)?;
                Failure::Dead
            } else {
                let at = now + retry_in.map(ms).unwrap_or(0);
                tx.execute(
                    "UPDATE tasks SET state = 'queued', last_error = ?1, run_after = ?2, lease_owner = NULL, lease_until = NULL, updated = ?3
                     WHERE id = ?4",
                    params![error, at, now, id],
                )
                .map_err(backend)?;
                Failure::Retrying { at_ms: at }
            };
            tx.commit().map_err(backend)?;
            Ok(outcome)
        })
        .await
    }

    async fn release(&self, id: &str, worker: &str, why: &str) -> Result<(), QueueError> {
        let (id, worker, why) = (id.to_string(), worker.to_string(), why.to_string());
        self.with(move |c| {
            let now = now_ms();
            let n = c
                .execute(
                    "UPDATE tasks SET
                        state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                        last_error = ?1, run_after = ?2, lease_owner = NULL, lease_until = NULL, updated = ?2
                     WHERE id = ?3 AND state = 'running' AND lease_owner = ?4",
                    params![why, now, id, worker],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(QueueError::LeaseLost(id));
            }
            Ok(())
        })
        .await
    }

    async fn cancel(&self, id: &str) -> Result<TaskState, QueueError> {
        let id = id.to_string();
        self.with(move |c| {
            let now = now_ms();
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let task = get_task(&tx, &id)?.ok_or_else(|| QueueError::NotFound(id.clone()))?;
            let state = match task.state {
                TaskState::Queued => {
                    tx.execute(
                        "UPDATE tasks SET state = 'cancelled', updated = ?1 WHERE id = ?2",
                        params![now, id],
                    )
                    .map_err(backend)?;
                    TaskState::Cancelled
                }
                TaskState::Running => {
                    tx.execute(
                        "UPDATE tasks SET cancel_requested = 1, updated = ?1 WHERE id = ?2",
                        params![now, id],
                    )
                    .map_err(backend)?;
                    TaskState::Running
                }
                terminal => terminal,
            };
            tx.commit().map_err(backend)?;
            Ok(state)
        })
        .await
    }

    async fn acknowledge_cancel(&self, id: &str, worker: &str) -> Result<(), QueueError> {
        self.end_running(id, worker, TaskState::Cancelled).await
    }

    async fn get(&self, id: &str) -> Result<Option<Task>, QueueError> {
        let id = id.to_string();
        self.with(move |c| get_task(c, &id)).await
    }

    async fn list(&self, state: TaskState) -> Result<Vec<Task>, QueueError> {
        self.with(move |c| {
            let mut stmt = c
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM tasks WHERE state = ?1 ORDER BY rowid"
                ))
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![state.as_str()], row_to_task)
                .map_err(backend)?;
            rows.map(|r| r.map_err(backend)).collect()
        })
        .await
    }
}
