//! The agent's state as metrics: what `services::metrics` counts, with what
//! is read at the scrape (deployments, the queue, containers, terminals).

use std::collections::BTreeMap;

use crate::error::Result;
use crate::infra::db;
use crate::infra::queue::{Queue as _, TaskState};
use crate::services::metrics::Snapshot;
use crate::state::Shared;

/// `GET /v1/metrics`: the OpenMetrics text.
pub async fn metrics(state: &Shared) -> Result<String> {
    let deployments = db::call(&state.db, db::deployments::count_by_state).await?;
    let mut queued_tasks = Vec::new();
    for s in [TaskState::Queued, TaskState::Running] {
        let n = state.queue.list(s).await.map_err(crate::error::AgentError::internal)?.len();
        queued_tasks.push((s.as_str().to_string(), n as i64));
    }
    let mut containers: BTreeMap<(String, String), i64> = BTreeMap::new();
    // Docker away: the other metrics still answer.
    if let Ok(apps) = state.inventory.projects(&state.docker).await {
        for app in apps.iter() {
            for c in app.services.iter().flat_map(|s| s.containers.iter()) {
                *containers.entry((app.name.clone(), c.state.clone())).or_default() += 1;
            }
        }
    }
    let now = Snapshot {
        deployments,
        queued_tasks,
        containers: containers.into_iter().map(|((a, s), n)| (a, s, n)).collect(),
        terminals: state.terminals.list().len() as i64,
    };
    Ok(state.metrics.render(&now))
}
