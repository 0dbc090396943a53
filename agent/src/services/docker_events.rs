//! Folds Docker's container events for compose projects into the event
//! stream, reconnecting when Docker goes away; a container that starts
//! sends the proxy to its new address.

use std::time::Duration;

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt as _;

use crate::infra::docker::{LABEL_PROJECT, LABEL_SERVICE};
use crate::state::Shared;

/// The container actions that change an app's state (exec_* and similar are noise).
pub fn is_state_change(action: &str) -> bool {
    matches!(action, "create" | "start" | "stop" | "die" | "kill" | "pause" | "unpause" | "restart" | "destroy" | "oom") || action.starts_with("health_status")
}

pub async fn watch(state: Shared, stop: tokio_util::sync::CancellationToken) {
    while !stop.is_cancelled() {
        let mut filters = std::collections::HashMap::new();
        filters.insert("type".to_string(), vec!["container".to_string()]);
        filters.insert("label".to_string(), vec![LABEL_PROJECT.to_string()]);
        let opts = EventsOptions { filters: Some(filters), ..Default::default() };
        let mut events = state.docker.events(Some(opts));
        loop {
            let next = tokio::select! {
                n = events.next() => n,
                _ = stop.cancelled() => return,
            };
            match next {
                Some(Ok(ev)) => {
                    let action = ev.action.unwrap_or_default();
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
                    let _ = tokio::task::spawn_blocking(move || s.events.publish(&s.db, s.clock.now_ms(), "container", app.as_deref(), data)).await;
                    // A container started outside AppOS (by hand, or by Docker's
                    // restart policy) may have a new address: the proxy follows.
                    if let (true, Some(a)) = (started, a) {
                        let s = state.clone();
                        tokio::spawn(async move { crate::services::serving::refresh_app(&s, &a).await });
                    }
                }
                Some(Err(error)) => {
                    tracing::debug!(%error, "Docker event stream error");
                    break;
                }
                None => break,
            }
        }
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
        for (action, yes) in [("start", true), ("die", true), ("health_status: healthy", true), ("exec_start: sh", false), ("exec_die", false), ("attach", false)] {
            assert_eq!(super::is_state_change(action), yes, "{action}");
        }
    }
}
