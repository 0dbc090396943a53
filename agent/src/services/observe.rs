//! The agent's state as metrics: what `services::metrics` counts, with what
//! is read at the scrape (deployments, the queue, containers and their
//! exits, terminals, container resources, certificates' days left, firing
//! alerts); and which containers `services::stats` reads.

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
        let n = state
            .queue
            .list(s)
            .await
            .map_err(crate::error::AgentError::internal)?
            .len();
        queued_tasks.push((s.as_str().to_string(), n as i64));
    }
    let mut containers: BTreeMap<(String, String), i64> = BTreeMap::new();
    let exit_counts = state.alerts.exit_counts();
    let mut exits = Vec::new();
    // Docker away: the other metrics still answer.
    if let Ok(apps) = state.inventory.projects(&state.docker).await {
        for app in apps.iter() {
            for s in &app.services {
                for c in &s.containers {
                    *containers
                        .entry((app.name.clone(), c.state.clone()))
                        .or_default() += 1;
                    exits.push((
                        app.name.clone(),
                        s.name.clone(),
                        c.name.clone(),
                        exit_counts.get(&c.id).copied().unwrap_or(0),
                    ));
                }
            }
        }
    }
    let alerts_firing = db::call(&state.db, db::alerts::open)
        .await?
        .into_iter()
        .fold(BTreeMap::<String, i64>::new(), |mut m, a| {
            *m.entry(a.rule.as_str().to_string()).or_default() += 1;
            m
        });
    let now = Snapshot {
        deployments,
        queued_tasks,
        containers: containers
            .into_iter()
            .map(|((a, s), n)| (a, s, n))
            .collect(),
        terminals: state.terminals.list().len() as i64,
        resources: state
            .stats
            .latest()
            .into_iter()
            .map(|(who, s)| (who.app, who.service, who.name, s))
            .collect(),
        exits,
        cert_days_left: state
            .alerts
            .certs()
            .into_iter()
            .map(|c| (c.subject, c.days_left))
            .collect(),
        alerts_firing: alerts_firing.into_iter().collect(),
        last_backup: db::call(&state.db, db::backups::history)
            .await?
            .last_success_ms
            .map(|ms| ms / 1000),
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
                .flat_map(|a| {
                    a.services
                        .iter()
                        .flat_map(move |s| s.containers.iter().map(move |c| (a, s, c)))
                })
                .filter(|(_, _, c)| c.state == "running")
                .map(|(a, s, c)| Running {
                    id: c.id.clone(),
                    app: a.name.clone(),
                    service: s.name.clone(),
                    name: c.name.clone(),
                })
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
pub async fn app_stats(
    state: &Shared,
    app: &appos_proto::AppName,
) -> Result<appos_proto::AppStats> {
    // 404 for an app nobody knows, as the other app routes answer.
    crate::services::apps::get(state, app).await?;
    Ok(state.stats.of_app(app.as_str()))
}
