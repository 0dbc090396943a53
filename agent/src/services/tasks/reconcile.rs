//! The reconciler queues again deployments whose task never reached the
//! queue (an agent that died between recording a deployment and queuing it)
//! and closes those whose task ended without them (out of attempts while no
//! worker was alive to record it, or cancelled): none is lost, none stays
//! "running" forever.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::TaskError;
use crate::core::reconcile::{verdict, TaskSeen, Verdict};
use crate::infra::db::{self, deployments as store};
use crate::infra::queue::{Queue as _, TaskState};
use crate::state::Shared;

pub async fn run_loop(state: Shared, stop: CancellationToken) {
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

/// One pass over the unfinished deployments.
pub async fn reconcile(state: &Shared) -> Result<(), TaskError> {
    let ids = db::call(&state.db, store::unfinished).await?;
    for id in ids {
        let task = state
            .queue
            .get(&id)
            .await
            .map_err(|e| TaskError::Transient(e.to_string()))?;
        let seen = match task {
            None => TaskSeen::Missing,
            Some(t) => match t.state {
                TaskState::Queued => TaskSeen::Queued,
                TaskState::Running => TaskSeen::Running,
                TaskState::Succeeded => TaskSeen::Succeeded,
                TaskState::Dead => TaskSeen::Dead(t.last_error),
                TaskState::Cancelled => TaskSeen::Cancelled,
            },
        };
        let i = id.clone();
        let Some(d) = db::call(&state.db, move |db| store::get(db, &i)).await? else {
            continue;
        };
        match verdict(&seen, state.clock.now_ms() - d.created_ms) {
            Verdict::Leave => {}
            Verdict::Requeue => {
                let Ok(app) = appos_proto::AppName::parse(&d.app) else {
                    continue;
                };
                tracing::warn!(deployment = %id, app = %app, "a recorded deployment had no task; queuing it again");
                crate::services::deployments::enqueue(state, &id, &app, d.operation)
                    .await
                    .map_err(|e| TaskError::Transient(e.to_string()))?;
            }
            Verdict::Close(st, why) => {
                let (i, now) = (id.clone(), state.clock.now_ms());
                db::call(&state.db, move |db| {
                    // Only if still unfinished: a worker may have just finished it.
                    match store::get(db, &i)? {
                        Some(d) if !d.state.is_terminal() => {
                            store::interrupt_running_steps(
                                db,
                                &i,
                                &format!("interrupted: {why}"),
                                now,
                            )?;
                            store::set_state(db, &i, st, Some(&why), None, now)
                        }
                        _ => Ok(()),
                    }
                })
                .await?;
                crate::services::deployments::emit(state, &id).await;
            }
        }
    }
    Ok(())
}
