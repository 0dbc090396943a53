//! The `notify` task: one alert notice through one channel. A channel that
//! is down is tried again with the queue's backoff; one removed since the
//! notice was queued gets nothing.

use appos_proto::alerts::AlertNotice;

use super::{Registry, TaskError};
use crate::infra::queue::Task;
use crate::services::alerts::{channel_config, NOTIFY};
use crate::state::Shared;

pub fn register(registry: &mut Registry) {
    registry.register(NOTIFY, |state, task, _cancel| Box::pin(run(state, task)));
}

async fn run(state: &Shared, task: &Task) -> Result<(), TaskError> {
    let name = task.payload["channel"]
        .as_str()
        .ok_or_else(|| TaskError::Permanent("a notify task names no channel".into()))?;
    let notice: AlertNotice = serde_json::from_value(task.payload["notice"].clone())
        .map_err(|e| TaskError::Permanent(format!("a notify task's notice: {e}")))?;
    let config = channel_config(state, name)
        .await
        .map_err(|e| TaskError::Transient(e.to_string()))?;
    let Some(config) = config else { return Ok(()) };
    crate::infra::notify::send(&config, &notice)
        .await
        .map_err(|why| {
            tracing::warn!(channel = name, %why, "an alert notice did not get through");
            TaskError::Transient(format!("channel {name}: {why}"))
        })
}
