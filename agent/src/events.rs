//! The event stream: deployment progress and Docker container events, stored
//! with monotonic ids in a bounded table and broadcast to live subscribers
//! (`GET /v1/events`, WebSocket), so that a client resumes from the last id
//! it saw.

use std::time::Duration;

use appos_proto::Event;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt as _;
use rusqlite::params;
use tokio::sync::broadcast;

use crate::api::Shared;
use crate::db::Db;

/// Events kept for resuming clients.
const KEEP: i64 = 10_000;

pub struct Events {
    tx: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Events { tx: broadcast::channel(1024).0 }
    }
}

impl Events {
    /// Stores an event and sends it to live subscribers.
    pub fn publish(&self, db: &Db, kind: &str, app: Option<&str>, data: serde_json::Value) {
        let at_ms = crate::deploy::now_ms();
        let stored = {
            let c = db.conn();
            let r = c.execute(
                "INSERT INTO events (at_ms, kind, app, data) VALUES (?1, ?2, ?3, ?4)",
                params![at_ms, kind, app, data.to_string()],
            );
            let id = c.last_insert_rowid();
            if id % 500 == 0 {
                let _ = c.execute("DELETE FROM events WHERE id <= ?1", params![id - KEEP]);
            }
            r.map(|_| id)
        };
        match stored {
            Ok(id) => {
                let _ = self.tx.send(Event { id, at_ms, kind: kind.to_string(), app: app.map(str::to_string), data });
            }
            Err(error) => tracing::warn!(%error, "cannot store an event"),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

/// The stored events after `after`, and the newest id stored.
fn stored_after(db: &Db, after: i64) -> rusqlite::Result<(Vec<Event>, i64)> {
    let newest: i64 = db.conn().query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
    let c = db.conn();
    let mut stmt = c.prepare("SELECT id, at_ms, kind, app, data FROM events WHERE id > ?1 ORDER BY id LIMIT 5000")?;
    let rows = stmt.query_map(params![after], |r| {
        let data: String = r.get(4)?;
        Ok(Event { id: r.get(0)?, at_ms: r.get(1)?, kind: r.get(2)?, app: r.get(3)?, data: serde_json::from_str(&data).unwrap_or_default() })
    })?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, newest))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Resume after this event id (0, the default, replays the stored
    /// history; a negative id means live events only).
    #[serde(default)]
    after: i64,
}

/// The event stream (WebSocket). Each text message is one `Event`.
#[utoipa::path(get, path = "/v1/events", security(("bearer" = [])), params(EventsQuery), responses(
    (status = 101, description = "WebSocket: one Event JSON text message each", body = Event),
    (status = 401, body = appos_proto::Problem),
))]
pub async fn stream(State(state): State<Shared>, crate::api::ApiQuery(q): crate::api::ApiQuery<EventsQuery>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve(state, socket, q.after))
}

async fn serve(state: Shared, mut socket: WebSocket, after: i64) {
    // Subscribe before replaying, so that nothing falls between the two.
    let mut live = state.events.subscribe();
    let s = state.clone();
    let replay = tokio::task::spawn_blocking(move || stored_after(&s.db, if after < 0 { i64::MAX } else { after })).await;
    let (replay, newest) = replay.ok().and_then(Result::ok).unwrap_or_default();
    // An id from the future (a reset database), or a negative one: live events only.
    let mut last = if after < 0 { newest } else { after.min(newest) };
    for e in replay {
        last = e.id;
        if socket.send(Message::Text(serde_json::to_string(&e).unwrap_or_default().into())).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            e = live.recv() => match e {
                Ok(e) if e.id > last => {
                    last = e.id;
                    if socket.send(Message::Text(serde_json::to_string(&e).unwrap_or_default().into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // Too slow: the client reconnects with ?after and replays.
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
        }
    }
}

/// Folds Docker's container events for compose projects into the stream,
/// reconnecting when Docker goes away.
pub async fn watch_docker(state: Shared, stop: tokio_util::sync::CancellationToken) {
    while !stop.is_cancelled() {
        let mut filters = std::collections::HashMap::new();
        filters.insert("type".to_string(), vec!["container".to_string()]);
        filters.insert("label".to_string(), vec![crate::docker::LABEL_PROJECT.to_string()]);
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
                    // exec_* and similar are noise for app state.
                    if !matches!(action.as_str(), "create" | "start" | "stop" | "die" | "kill" | "pause" | "unpause" | "restart" | "destroy" | "oom")
                        && !action.starts_with("health_status")
                    {
                        continue;
                    }
                    let attrs = ev.actor.and_then(|a| a.attributes).unwrap_or_default();
                    let app = attrs.get(crate::docker::LABEL_PROJECT).cloned();
                    let data = serde_json::json!({
                        "action": action,
                        "container": attrs.get("name"),
                        "service": attrs.get(crate::docker::LABEL_SERVICE),
                        // When Docker saw it, for latency measurements.
                        "docker_time_ns": ev.time_nano,
                    });
                    let s = state.clone();
                    let _ = tokio::task::spawn_blocking(move || s.events.publish(&s.db, "container", app.as_deref(), data)).await;
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
