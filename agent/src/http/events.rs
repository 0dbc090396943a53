//! `GET /v1/events`: the event stream over a WebSocket.

use appos_proto::{Event, Problem};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use tokio::sync::broadcast;
use utoipa::IntoParams;

use super::extract::ApiQuery;
use super::problem::ApiResult;
use crate::services::events;
use crate::services::tokens::Principal;
use crate::state::Shared;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event id (0, the default, replays the stored
    /// history; a negative id means live events only).
    #[serde(default)]
    after: i64,
}

/// The event stream (WebSocket). Each text message is one `Event`.
#[utoipa::path(get, operation_id = "stream_events", tag = "events", path = "/events", security(("bearer" = [])), params(EventsQuery), responses(
    (status = 101, description = "WebSocket: one Event JSON text message each", body = Event),
    (status = 429, body = Problem, description = "The token holds as many streams open as the agent allows"),
))]
pub async fn stream(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let place = state.streams.acquire(&who.name)?;
    Ok(
        super::extract::websocket(ws)?.on_upgrade(move |socket| async move {
            serve(state, socket, q.after).await;
            drop(place);
        }),
    )
}

fn text(e: &Event) -> Message {
    Message::Text(serde_json::to_string(e).unwrap_or_default().into())
}

async fn serve(state: Shared, mut socket: WebSocket, after: i64) {
    // Subscribe before replaying, so that nothing falls between the two.
    let mut live = state.events.subscribe();
    let Ok(events::Resume { replay, mut last }) = events::resume(&state.db, after).await else {
        return;
    };
    for e in &replay {
        if socket.send(text(e)).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            e = live.recv() => match e {
                Ok(e) if e.id > last => {
                    last = e.id;
                    if socket.send(text(&e)).await.is_err() {
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
