//! `/v1/terminals`: open, list, attach (WebSocket) and kill sessions.

use appos_proto::{NewTerminal, Problem, Terminal, TokenScope};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::TerminalError;
use crate::api::{ApiError, ApiJson, Shared};
use crate::tokens::Principal;

impl From<TerminalError> for ApiError {
    fn from(e: TerminalError) -> ApiError {
        let detail = Some(e.to_string());
        match e {
            TerminalError::Invalid(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", "Invalid input", detail),
            TerminalError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "terminal_not_found", "No such terminal", detail),
            TerminalError::TooMany(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_terminals", "Too many terminals", detail),
            TerminalError::NoContainer(_) => ApiError::new(StatusCode::CONFLICT, "no_container", "Nothing to run the command in", detail),
            TerminalError::Start(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "terminal_failed", "The terminal could not start", detail),
        }
    }
}

/// Opens a terminal: a shell in the agent's environment, or a command in an
/// app's container.
#[utoipa::path(post, path = "/v1/terminals", security(("bearer" = [])), request_body = NewTerminal, responses(
    (status = 201, body = Terminal),
    (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem, description = "A read-only token"),
    (status = 409, body = Problem, description = "The app's service has no running container, or no shell"),
    (status = 429, body = Problem, description = "As many terminals as allowed are open"),
))]
pub async fn open(State(state): State<Shared>, Extension(who): Extension<Principal>, ApiJson(req): ApiJson<NewTerminal>) -> Result<(StatusCode, Json<Terminal>), ApiError> {
    let t = state.terminals.open(&state.docker, req).await?;
    tracing::info!(terminal = %t.id, kind = %t.kind, app = ?t.app, token = %who.name, "terminal opened");
    Ok((StatusCode::CREATED, Json(t)))
}

/// The open terminal sessions.
#[utoipa::path(get, path = "/v1/terminals", security(("bearer" = [])), responses((status = 200, body = [Terminal]), (status = 401, body = Problem)))]
pub async fn list(State(state): State<Shared>) -> Json<Vec<Terminal>> {
    Json(state.terminals.list())
}

/// Attaches to a session (WebSocket). Binary frames carry bytes both ways;
/// text frames carry `TerminalControl` JSON. The replayed screen comes
/// first, then `replayed`, live output, and `exit` when the process ends.
#[utoipa::path(get, path = "/v1/terminals/{id}/attach", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 101, description = "WebSocket"),
    (status = 401, body = Problem), (status = 403, body = Problem, description = "A read-only token"), (status = 404, body = Problem),
))]
pub async fn attach(State(state): State<Shared>, Extension(who): Extension<Principal>, Path(id): Path<String>, ws: WebSocketUpgrade) -> Result<Response, ApiError> {
    // Typing into a terminal is writing, whatever the HTTP method.
    if who.scope == TokenScope::Read {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "This token may only read", Some("terminals need an admin token".into())));
    }
    let session = state.terminals.get(&id)?;
    Ok(ws.max_message_size(1 << 20).on_upgrade(move |socket| super::serve_viewer(session, socket)).into_response())
}

/// Ends a session and its process.
#[utoipa::path(delete, path = "/v1/terminals/{id}", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
))]
pub async fn kill(State(state): State<Shared>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    state.terminals.kill(&id)?;
    Ok(StatusCode::NO_CONTENT)
}
