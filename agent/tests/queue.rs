//! One conformance suite for both queue backends: the embedded SQLite queue
//! and Redis (a real redis-server per test). Every guarantee in
//! `appos_agent::queue` is checked here against each.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use appos_agent::infra::queue::{
    Failure, Heartbeat, NewTask, Queue, QueueError, RedisQueue, SqliteQueue, TaskState,
};
use appos_test_support as support;
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);

fn task(kind: &str, app: Option<&str>) -> NewTask {
    NewTask {
        kind: kind.into(),
        app: app.map(str::to_string),
        payload: json!({"kind": kind}),
        max_attempts: 3,
    }
}

async fn lifecycle<Q: Queue>(q: &Q) {
    let payload =
        json!({"compose": "services:\n  web:\n    image: x\n", "note": "ünïcødé \"quoted\""});
    let id = q
        .enqueue(NewTask {
            kind: "deploy".into(),
            app: Some("blog".into()),
            payload: payload.clone(),
            max_attempts: 2,
        })
        .await
        .expect("enqueue");
    let t = q.get(&id).await.expect("get").expect("exists");
    assert_eq!(
        (t.state, t.attempts, t.kind.as_str(), t.app.as_deref()),
        (TaskState::Queued, 0, "deploy", Some("blog"))
    );
    assert_eq!(t.payload, payload);
    let c = q.claim("w1", LEASE).await.expect("claim").expect("a task");
    assert_eq!(
        (c.id.as_str(), c.state, c.attempts),
        (id.as_str(), TaskState::Running, 1)
    );
    assert!(
        q.claim("w2", LEASE).await.expect("claim").is_none(),
        "a running task is not claimed twice"
    );
    assert!(
        matches!(q.complete(&id, "w2").await, Err(QueueError::LeaseLost(_))),
        "only its worker completes it"
    );
    q.complete(&id, "w1").await.expect("complete");
    assert_eq!(
        q.get(&id).await.expect("get").expect("exists").state,
        TaskState::Succeeded
    );
    assert!(
        matches!(q.complete(&id, "w1").await, Err(QueueError::LeaseLost(_))),
        "completing twice is refused"
    );
    assert!(q.get("t-no-such-task").await.expect("get").is_none());
}

async fn one_running_task_per_app_in_order<Q: Queue>(q: &Q) {
    let a1 = q.enqueue(task("a1", Some("a"))).await.expect("enqueue");
    let a2 = q.enqueue(task("a2", Some("a"))).await.expect("enqueue");
    let b1 = q.enqueue(task("b1", Some("b"))).await.expect("enqueue");
    let n1 = q.enqueue(task("n1", None)).await.expect("enqueue");
    let mut got = Vec::new();
    while let Some(t) = q.claim("w", LEASE).await.expect("claim") {
        got.push(t.id);
    }
    assert_eq!(got, vec![a1.clone(), b1, n1], "a2 waits for a1");
    q.complete(&a1, "w").await.expect("complete");
    assert_eq!(
        q.claim("w", LEASE).await.expect("claim").map(|t| t.id),
        Some(a2)
    );
}

async fn a_dead_workers_task_is_taken_again<Q: Queue>(q: &Q) {
    let id = q.enqueue(task("deploy", Some("x"))).await.expect("enqueue");
    q.claim("w1", Duration::from_millis(300))
        .await
        .expect("claim")
        .expect("task");
    assert!(
        q.claim("w2", LEASE).await.expect("claim").is_none(),
        "leased"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = q
        .claim("w2", LEASE)
        .await
        .expect("claim")
        .expect("taken again after the lease");
    assert_eq!((t.id.as_str(), t.attempts), (id.as_str(), 2));
    assert!(t.last_error.unwrap_or_default().contains("lease expired"));
    assert_eq!(
        q.heartbeat(&id, "w1", LEASE).await.expect("hb"),
        Heartbeat::Lost,
        "the old worker learns it lost the task"
    );
    assert!(matches!(
        q.complete(&id, "w1").await,
        Err(QueueError::LeaseLost(_))
    ));
    q.complete(&id, "w2").await.expect("new owner completes");
}

async fn heartbeats_keep_the_lease<Q: Queue>(q: &Q) {
    let id = q.enqueue(task("deploy", None)).await.expect("enqueue");
    // Lease 1 s, kept alive for 1.6 s; margins are wide for loaded CI machines.
    q.claim("w1", Duration::from_secs(1))
        .await
        .expect("claim")
        .expect("task");
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            q.heartbeat(&id, "w1", Duration::from_secs(1))
                .await
                .expect("hb"),
            Heartbeat::Extended
        );
    }
    assert!(
        q.claim("w2", LEASE).await.expect("claim").is_none(),
        "the lease was kept alive"
    );
    q.complete(&id, "w1").await.expect("complete");
}

async fn failures_retry_with_backoff_then_go_dead<Q: Queue>(q: &Q) {
    let id = q.enqueue(task("deploy", Some("r"))).await.expect("enqueue");
    let later = q.enqueue(task("later", Some("r"))).await.expect("enqueue");
    for attempt in 1..=3u32 {
        let t = q.claim("w", LEASE).await.expect("claim").expect("task");
        assert_eq!((t.id.as_str(), t.attempts), (id.as_str(), attempt));
        let outcome = q
            .fail(
                &id,
                "w",
                &format!("boom {attempt}"),
                Some(Duration::from_secs(1)),
            )
            .await
            .expect("fail");
        if attempt < 3 {
            assert!(matches!(outcome, Failure::Retrying { .. }), "{outcome:?}");
            assert!(
                q.claim("w", LEASE).await.expect("claim").is_none(),
                "not before the backoff, and not the app's next task"
            );
            tokio::time::sleep(Duration::from_millis(1100)).await;
        } else {
            assert_eq!(outcome, Failure::Dead);
        }
    }
    let dead = q.list(TaskState::Dead).await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("boom 3"));
    assert_eq!(
        q.claim("w", LEASE).await.expect("claim").map(|t| t.id),
        Some(later),
        "the app's next task runs after the dead one"
    );
}

async fn permanent_failures_go_dead_at_once<Q: Queue>(q: &Q) {
    let id = q.enqueue(task("deploy", None)).await.expect("enqueue");
    q.claim("w", LEASE).await.expect("claim").expect("task");
    assert_eq!(
        q.fail(&id, "w", "bad image", None).await.expect("fail"),
        Failure::Dead
    );
    let t = q.get(&id).await.expect("get").expect("exists");
    assert_eq!(
        (t.state, t.attempts, t.last_error.as_deref()),
        (TaskState::Dead, 1, Some("bad image"))
    );
    assert!(matches!(
        q.fail(&id, "w", "again", None).await,
        Err(QueueError::LeaseLost(_))
    ));
}

async fn lease_expiry_uses_up_attempts<Q: Queue>(q: &Q) {
    let id = q
        .enqueue(NewTask {
            max_attempts: 1,
            ..task("deploy", None)
        })
        .await
        .expect("enqueue");
    q.claim("w1", Duration::from_millis(100))
        .await
        .expect("claim")
        .expect("task");
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(q.claim("w2", LEASE).await.expect("claim").is_none());
    assert_eq!(
        q.get(&id).await.expect("get").expect("exists").state,
        TaskState::Dead
    );
}

async fn a_stopping_worker_hands_its_task_back<Q: Queue>(q: &Q) {
    let id = q
        .enqueue(task("deploy", Some("blog")))
        .await
        .expect("enqueue");
    let next = q
        .enqueue(task("deploy", Some("blog")))
        .await
        .expect("enqueue");
    q.claim("w1", LEASE).await.expect("claim").expect("task");
    assert!(
        matches!(
            q.release(&id, "w2", "not mine").await,
            Err(QueueError::LeaseLost(_))
        ),
        "only its holder hands it back"
    );
    q.release(&id, "w1", "the agent stopped; handed back")
        .await
        .expect("release");
    // Claimable at once, before the app's next task, its attempt counted.
    let t = q
        .claim("w2", LEASE)
        .await
        .expect("claim")
        .expect("taken again at once, not after the lease");
    assert_eq!(
        (t.id.as_str(), t.attempts, t.last_error.as_deref()),
        (id.as_str(), 2, Some("the agent stopped; handed back"))
    );
    assert!(matches!(
        q.release(&id, "w1", "again").await,
        Err(QueueError::LeaseLost(_))
    ));
    q.complete(&id, "w2").await.expect("complete");
    assert_eq!(
        q.claim("w2", LEASE).await.expect("claim").map(|t| t.id),
        Some(next)
    );
    // On its last attempt, handed back means dead, as an expired lease would.
    let last = q
        .enqueue(NewTask {
            max_attempts: 1,
            ..task("deploy", None)
        })
        .await
        .expect("enqueue");
    q.claim("w3", LEASE).await.expect("claim").expect("task");
    q.release(&last, "w3", "stopped").await.expect("release");
    assert_eq!(
        q.get(&last)
            .await
            .expect("get")
            .map(|t| (t.state, t.last_error)),
        Some((TaskState::Dead, Some("stopped".into())))
    );
}

async fn cancel_queued_and_running<Q: Queue>(q: &Q) {
    let queued = q.enqueue(task("q", Some("c"))).await.expect("enqueue");
    let running = q.enqueue(task("r", None)).await.expect("enqueue");
    assert_eq!(
        q.cancel(&queued).await.expect("cancel"),
        TaskState::Cancelled
    );
    let t = q.claim("w", LEASE).await.expect("claim").expect("task");
    assert_eq!(t.id, running, "a cancelled task is never claimed");
    assert_eq!(
        q.cancel(&running).await.expect("cancel"),
        TaskState::Running
    );
    assert_eq!(
        q.heartbeat(&running, "w", LEASE).await.expect("hb"),
        Heartbeat::CancelRequested
    );
    q.acknowledge_cancel(&running, "w").await.expect("ack");
    assert_eq!(
        q.get(&running).await.expect("get").expect("exists").state,
        TaskState::Cancelled
    );
    assert_eq!(
        q.cancel(&running).await.expect("cancel"),
        TaskState::Cancelled,
        "terminal tasks stay as they are"
    );
    assert!(matches!(
        q.cancel("t-none").await,
        Err(QueueError::NotFound(_))
    ));
    assert!(q.claim("w", LEASE).await.expect("claim").is_none());
    assert_eq!(q.list(TaskState::Cancelled).await.expect("list").len(), 2);
}

async fn concurrent_workers_run_each_task_once<Q: Queue + 'static>(q: Arc<Q>) {
    let mut ids = HashSet::new();
    for i in 0..60 {
        let app = if i % 4 == 3 {
            None
        } else {
            Some(format!("app{}", i % 6))
        };
        ids.insert(
            q.enqueue(NewTask {
                kind: "n".into(),
                app,
                payload: json!(i),
                max_attempts: 1,
            })
            .await
            .expect("enqueue"),
        );
    }
    let claimed = Arc::new(Mutex::new(Vec::new()));
    let busy: Arc<Mutex<HashMap<String, String>>> = Arc::new(Mutex::new(HashMap::new()));
    let mut workers = Vec::new();
    for w in 0..3 {
        let (q, claimed, busy) = (q.clone(), claimed.clone(), busy.clone());
        workers.push(tokio::spawn(async move {
            let me = format!("w{w}");
            while let Some(t) = q.claim(&me, LEASE).await.expect("claim") {
                if let Some(app) = &t.app {
                    let prev = busy.lock().expect("lock").insert(app.clone(), t.id.clone());
                    assert!(prev.is_none(), "two tasks of {app} ran at once");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                if let Some(app) = &t.app {
                    busy.lock().expect("lock").remove(app);
                }
                claimed.lock().expect("lock").push(t.id.clone());
                q.complete(&t.id, &me).await.expect("complete");
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let claimed = claimed.lock().expect("lock").clone();
    let unique: HashSet<_> = claimed.iter().cloned().collect();
    assert_eq!(unique.len(), claimed.len(), "no task ran twice");
    assert_eq!(unique, ids, "every task ran");
    assert_eq!(q.list(TaskState::Succeeded).await.expect("list").len(), 60);
}

// The test matrix: every behaviour against each backend.
macro_rules! for_each_backend {
    ($($name:ident),* ; $($arc_name:ident),*) => {
        mod sqlite {
            use super::*;
            fn queue() -> (tempfile::TempDir, SqliteQueue) {
                let dir = tempfile::tempdir().expect("dir");
                let q = SqliteQueue::open(&dir.path().join("queue.db")).expect("open");
                (dir, q)
            }
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { let (_d, q) = queue(); super::$name(&q).await; } )*
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $arc_name() { let (_d, q) = queue(); super::$arc_name(Arc::new(q)).await; } )*
        }
        mod redis {
            use super::*;
            async fn queue() -> Option<(support::Redis, RedisQueue)> {
                let r = support::require("redis-server", support::Redis::start())?;
                let q = RedisQueue::connect(&r.url(), "appos:test").await.expect("connect");
                Some((r, q))
            }
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { let Some((_r, q)) = queue().await else { return }; super::$name(&q).await; } )*
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $arc_name() { let Some((_r, q)) = queue().await else { return }; super::$arc_name(Arc::new(q)).await; } )*
        }
    };
}

for_each_backend!(
    lifecycle,
    one_running_task_per_app_in_order,
    a_dead_workers_task_is_taken_again,
    heartbeats_keep_the_lease,
    failures_retry_with_backoff_then_go_dead,
    permanent_failures_go_dead_at_once,
    lease_expiry_uses_up_attempts,
    a_stopping_worker_hands_its_task_back,
    cancel_queued_and_running;
    concurrent_workers_run_each_task_once
);

/// Tasks survive the process: a new queue on the same file finds them, and a
/// task whose worker died with the process is taken again.
#[tokio::test]
async fn sqlite_tasks_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("queue.db");
    let (queued, running) = {
        let q = SqliteQueue::open(&path).expect("open");
        let running = q.enqueue(task("r", None)).await.expect("enqueue");
        q.claim("dead-worker", Duration::from_millis(200))
            .await
            .expect("claim")
            .expect("task");
        (q.enqueue(task("q", None)).await.expect("enqueue"), running)
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let q = SqliteQueue::open(&path).expect("reopen");
    let mut got = HashSet::new();
    while let Some(t) = q.claim("w", LEASE).await.expect("claim") {
        got.insert(t.id);
    }
    assert_eq!(got, HashSet::from([queued, running]));
}

/// Restarting Redis in the middle of a burst loses nothing: the connection
/// comes back by itself and every task is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_during_a_burst_loses_nothing() {
    let Some(mut r) = support::require("redis-server", support::Redis::start()) else {
        return;
    };
    let q = RedisQueue::connect(&r.url(), "appos:test")
        .await
        .expect("connect");
    let mut ids = HashSet::new();
    for i in 0..50 {
        ids.insert(
            q.enqueue(NewTask {
                kind: "n".into(),
                app: None,
                payload: json!(i),
                max_attempts: 3,
            })
            .await
            .expect("enqueue"),
        );
    }
    let first = q.claim("w", LEASE).await.expect("claim").expect("task");
    r.restart().expect("restart redis");
    // The first calls after the restart may fail while the connection is re-made.
    let mut done = HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut completed_first = false;
    while !completed_first {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue did not come back after the restart"
        );
        completed_first = q.complete(&first.id, "w").await.is_ok();
        if !completed_first {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    done.insert(first.id);
    for i in 50..60 {
        ids.insert(
            q.enqueue(NewTask {
                kind: "n".into(),
                app: None,
                payload: json!(i),
                max_attempts: 3,
            })
            .await
            .expect("enqueue"),
        );
    }
    while let Some(t) = q.claim("w", LEASE).await.expect("claim") {
        q.complete(&t.id, "w").await.expect("complete");
        done.insert(t.id);
    }
    assert_eq!(
        done, ids,
        "every task, from before and after the restart, ran"
    );
}
