//! `/v1/terminals`: open, list, attach (WebSocket) and kill sessions.

use std::sync::Arc;

use appos_proto::{NewTerminal, Problem, Terminal, TerminalControl};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiPath};
use super::problem::ApiResult;
use crate::services::terminals::{self, Input, Session};
use crate::services::tokens::Principal;
use crate::state::Shared;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TerminalPath {
    pub id: String,
}

/// Opens a terminal: a shell in the agent's environment, or a command in an
/// app's container.
#[utoipa::path(post, operation_id = "open_terminal", tag = "terminals", path = "/terminals", security(("bearer" = [])), request_body = NewTerminal, responses(
    (status = 201, body = Terminal),
    (status = 403, body = Problem, description = "A shell next to the agent needs an admin token"),
    (status = 409, body = Problem, description = "The app's service has no running container, or no shell"),
    (status = 429, body = Problem, description = "As many terminals as allowed are open"),
))]
pub async fn open(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<NewTerminal>,
) -> ApiResult<(StatusCode, Json<Terminal>)> {
    terminals::may_use(
        who.scope,
        if matches!(req, NewTerminal::Shell { .. }) {
            "shell"
        } else {
            "exec"
        },
    )?;
    if let NewTerminal::Exec { app, .. } = &req {
        // A shell in a container that reaches the host reaches the host.
        crate::services::apps::may_enter(&state, &who, app).await?;
    }
    let t = state.terminals.open(&state.docker, req).await?;
    tracing::info!(terminal = %t.id, kind = %t.kind, app = ?t.app, token = %who.name, "terminal opened");
    let detail = match (&t.app, &t.service) {
        (Some(a), Some(s)) => format!("{} in {s} of {a}", t.kind),
        _ => format!("{} next to the agent", t.kind),
    };
    crate::services::audit::record(&state, &who.name, "terminal.open", t.app.clone(), detail)
        .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// The open terminal sessions.
#[utoipa::path(get, operation_id = "list_terminals", tag = "terminals", path = "/terminals", security(("bearer" = [])), responses((status = 200, body = [Terminal])))]
pub async fn list(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
) -> Json<Vec<Terminal>> {
    Json(
        state
            .terminals
            .list()
            .into_iter()
            .map(|t| terminals::seen_by(t, who.scope))
            .collect(),
    )
}

/// Attaches to a session (WebSocket). Binary frames carry bytes both ways;
/// text frames carry `TerminalControl` JSON. The replayed screen comes
/// first, then `replayed`, live output, and `exit` when the process ends.
#[utoipa::path(get, operation_id = "attach_terminal", tag = "terminals", path = "/terminals/{id}/attach", security(("bearer" = [])), params(TerminalPath), responses(
    (status = 101, description = "WebSocket"),
    (status = 403, body = Problem, description = "A read token, or a deploy token for a shell next to the agent"),
    (status = 404, body = Problem, description = "No such terminal"),
))]
pub async fn attach(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<TerminalPath>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // Typing into a terminal is writing, whatever the HTTP method.
    terminals::may_use(who.scope, &state.terminals.info(&p.id)?.kind)?;
    let session = state.terminals.get(&p.id)?;
    let ws = super::extract::websocket(ws)?;
    Ok(ws
        .max_message_size(1 << 20)
        .on_upgrade(move |socket| serve_viewer(session, socket))
        .into_response())
}

/// Ends a session and its process.
#[utoipa::path(delete, operation_id = "kill_terminal", tag = "terminals", path = "/terminals/{id}", security(("bearer" = [])), params(TerminalPath), responses(
    (status = 204, description = "Ended"),
    (status = 403, body = Problem, description = "A deploy token for a shell next to the agent"),
    (status = 404, body = Problem, description = "No such terminal"),
))]
pub async fn kill(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<TerminalPath>,
) -> ApiResult<StatusCode> {
    terminals::may_use(who.scope, &state.terminals.info(&p.id)?.kind)?;
    state.terminals.kill(&p.id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Serves one viewer on a WebSocket until it leaves or the session ends:
/// the replay, `Replayed`, live output, then `Exit`.
async fn serve_viewer(session: Arc<Session>, mut socket: WebSocket) {
    let _guard = session.attach();
    let tty = session.is_tty();
    let (replayed, mut rx) = session.subscribe();
    let control =
        |c: &TerminalControl| Message::Text(serde_json::to_string(c).unwrap_or_default().into());
    for chunk in replayed {
        for part in chunk.chunks(64 << 10) {
            if socket
                .send(Message::Binary(Bytes::copy_from_slice(part)))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    if socket
        .send(control(&TerminalControl::Replayed))
        .await
        .is_err()
    {
        return;
    }
    let mut exit = session.exit_status();
    let mut ended = exit.borrow().is_some();
    loop {
        if ended {
            // Everything emitted before the exit is already queued.
            while let Some(frame) = rx.try_recv() {
                if socket.send(Message::Binary(frame)).await.is_err() {
                    return;
                }
            }
            let status = exit.borrow().unwrap_or(-1);
            let _ = socket
                .send(control(&TerminalControl::Exit { status }))
                .await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        tokio::select! {
            out = rx.recv() => match out {
                Some(frame) if tty => {
                    // Coalesce what is already queued into one message (bulk output
                    // costs a frame per 256 KiB, not per PTY read).
                    let mut batch = bytes::BytesMut::from(&frame[..]);
                    while batch.len() < terminals::COALESCE {
                        match rx.try_recv() {
                            Some(more) => batch.extend_from_slice(&more),
                            None => break,
                        }
                    }
                    if socket.send(Message::Binary(batch.freeze())).await.is_err() {
                        return;
                    }
                }
                Some(frame) => {
                    if socket.send(Message::Binary(frame)).await.is_err() {
                        return;
                    }
                }
                // Cut off for falling behind: the viewer reattaches for the replay.
                None if rx.lagged() => {
                    tracing::info!(tty, "a terminal viewer fell behind and was cut off");
                    let _ = socket.send(control(&TerminalControl::Lagged)).await;
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                None => return,
            },
            changed = exit.changed() => {
                ended = changed.is_err() || exit.borrow().is_some();
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Binary(b))) => session.send(Input::Bytes(b)).await,
                Some(Ok(Message::Text(t))) => match serde_json::from_str::<TerminalControl>(&t) {
                    Ok(TerminalControl::Resize { cols, rows }) => session.resize(cols, rows).await,
                    Ok(TerminalControl::Eof) => session.send(Input::Eof).await,
                    _ => {}
                },
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
        }
    }
}
