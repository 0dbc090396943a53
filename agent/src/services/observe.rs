//! The agent's state as metrics: what `services::metrics` counts, with what
//! is read at the scrape (deployments, the queue, containers, terminals,
//! container resources); and which containers `services::stats` reads.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::infra::db;
use crate::infra::queue::{Queue as _, TaskState};
use crate::services::metrics::Snapshot;
use crate::services::stats::Running;
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
        resources: state.stats.latest().into_iter().map(|(who, s)| (who.app, who.service, who.name, s)).collect(),
    };
    Ok(state.metrics.render(&now))
}

/// How often the running containers are matched with the stats streams.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps one stats stream per running compose container, from the inventory.
pub async fn follow_stats(state: Shared, stop: tokio_util::sync::CancellationToken) {
    loop {
        if let Ok(apps) = state.inventory.projects(&state.docker).await {
            let running = apps
                .iter()
                .flat_map(|a| a.services.iter().flat_map(move |s| s.containers.iter().map(move |c| (a, s, c))))
                .filter(|(_, _, c)| c.state == "running")
                .map(|(a, s, c)| Running { id: c.id.clone(), app: a.name.clone(), service: s.name.clone(), name: c.name.clone() })
                .collect();
            state.stats.reconcile(&state.docker, running);
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = stop.cancelled() => {
                state.stats.reconcile(&state.docker, Vec::new());
                return;
            }
        }
    }
}

/// `GET /v1/apps/{app}/stats`: the app's running containers' readings.
pub async fn app_stats(state: &Shared, app: &appos_proto::AppName) -> Result<appos_proto::AppStats> {
    // 404 for an app nobody knows, as the other app routes answer.
    crate::services::apps::get(state, app).await?;
    Ok(state.stats.of_app(app.as_str()))
}
