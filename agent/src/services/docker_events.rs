//! Folds Docker's container events for compose projects into the inventory
//! and the event stream, reconnecting when Docker goes away; a container
//! that starts sends the proxy to its new address.

use std::time::Duration;

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt as _;

use crate::infra::docker::{LABEL_PROJECT, LABEL_SERVICE};
use crate::services::inventory::RESYNC_EVERY;
use crate::state::Shared;

/// The container actions that change an app's state (exec_* and similar are noise).
pub fn is_state_change(action: &str) -> bool {
    matches!(
        action,
        "create"
            | "start"
            | "stop"
            | "die"
            | "kill"
            | "pause"
            | "unpause"
            | "restart"
            | "destroy"
            | "oom"
    ) || action.starts_with("health_status")
}

/// Whether an event changes what the inventory holds for a container
/// (state changes, and a rename).
fn changes_inventory(action: &str) -> bool {
    is_state_change(action) || action == "rename" || action == "update"
}

pub async fn watch(state: Shared, stop: tokio_util::sync::CancellationToken) {
    while !stop.is_cancelled() {
        let mut filters = std::collections::HashMap::new();
        filters.insert("type".to_string(), vec!["container".to_string()]);
        filters.insert("label".to_string(), vec![LABEL_PROJECT.to_string()]);
        // Events from a second before the full read are replayed, so none
        // falls between the read and the subscription (a container read
        // twice is harmless).
        let since = (state.clock.now() - 1).to_string();
        let opts = EventsOptions {
            filters: Some(filters),
            since: Some(since),
            ..Default::default()
        };
        let mut events = state.docker.events(Some(opts));
        if let Err(error) = state.inventory.resync(&state.docker).await {
            tracing::debug!(%error, "reading Docker's containers");
        }
        let mut resync =
            tokio::time::interval_at(tokio::time::Instant::now() + RESYNC_EVERY, RESYNC_EVERY);
        loop {
            let next = tokio::select! {
                n = events.next() => n,
                _ = resync.tick() => {
                    if let Err(error) = state.inventory.resync(&state.docker).await {
                        tracing::debug!(%error, "reading Docker's containers");
                    }
                    continue;
                }
                _ = stop.cancelled() => return,
            };
            match next {
                Some(Ok(ev)) => {
                    let action = ev.action.unwrap_or_default();
                    if !changes_inventory(&action) {
                        continue;
                    }
                    // Docker's list and the inventory first: a client told of
                    // the change lists it (with the inventory off too).
                    if let Some(id) = ev.actor.as_ref().and_then(|a| a.id.as_deref()) {
                        match action.as_str() {
                            "die" => state.alerts.exited(
                                id,
                                ev.time_nano
                                    .map(|ns| ns / 1_000_000)
                                    .unwrap_or_else(|| state.clock.now_ms()),
                            ),
                            "destroy" => state.alerts.removed(id),
                            _ => {}
                        }
                        crate::infra::docker::settle(&state.docker, id).await;
                        state.inventory.refresh_container(&state.docker, id).await;
                    }
                    if !is_state_change(&action) {
                        continue;
                    }
                    let attrs = ev.actor.and_then(|a| a.attributes).unwrap_or_default();
                    let app = attrs.get(LABEL_PROJECT).cloned();
                    let data = serde_json::json!({
                        "action": action,
                        "container": attrs.get("name"),
                        "service": attrs.get(LABEL_SERVICE),
                        // When Docker saw it, for latency measurements.
                        "docker_time_ns": ev.time_nano,
                    });
                    let s = state.clone();
                    let started = action == "start";
                    let a = app.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        s.events
                            .publish(&s.db, s.clock.now_ms(), "container", app.as_deref(), data)
                    })
                    .await;
                    // A container started outside AppOS (by hand, or by Docker's
                    // restart policy) may have a new address: the proxy follows.
                    if let (true, Some(a)) = (started, a) {
                        let s = state.clone();
                        tokio::spawn(
                            async move { crate::services::serving::refresh_app(&s, &a).await },
                        );
                    }
                }
                Some(Err(error)) => {
                    tracing::debug!(%error, "Docker event stream error");
                    break;
                }
                None => break,
            }
        }
        // Events may be missed until the stream is back: listings ask Docker.
        state.inventory.unsynced();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn state_changes() {
        for (action, yes) in [
            ("start", true),
            ("die", true),
            ("health_status: healthy", true),
            ("exec_start: sh", false),
            ("exec_die", false),
            ("attach", false),
        ] {
            assert_eq!(super::is_state_change(action), yes, "{action}");
        }
    }

    #[test]
    fn inventory_changes() {
        for (action, yes) in [
            ("start", true),
            ("destroy", true),
            ("rename", true),
            ("update", true),
            ("exec_start: sh", false),
            ("attach", false),
            ("top", false),
        ] {
            assert_eq!(super::changes_inventory(action), yes, "{action}");
        }
    }
}
