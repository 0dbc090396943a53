//! The `Idempotency-Key` layer: a request that changes something and
//! carries a key is done once per token and key; sent again (a client that
//! lost its connection before the answer came), it gets the first answer
//! again, marked `Idempotent-Replayed: true`. The work runs in its own task,
//! so a client that goes away mid-request does not cut it short, and its
//! answer is remembered for the request sent again.

use appos_proto::{FieldError, Problem, ProblemCode, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use sha2::Digest as _;

use super::problem::ApiError;
use crate::core::idempotency::{remembered, valid_key};
use crate::infra::db::idempotency::Answer;
use crate::services::idempotency::{self, Begin};
use crate::services::tokens::Principal;
use crate::state::Shared;

/// Answers larger than this are not remembered (none of the API's are).
const MAX_REMEMBERED: usize = 1 << 20;

pub async fn remember(
    State(state): State<Shared>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(next.run(req).await);
    }
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(next.run(req).await);
    };
    let Some(key) = raw
        .to_str()
        .ok()
        .filter(|k| valid_key(k))
        .map(str::to_string)
    else {
        let mut p = Problem::new(ProblemCode::InvalidInput, None);
        p.errors.push(FieldError {
            field: "Idempotency-Key".into(),
            message: "8 to 128 letters, digits, '-' and '_' (a UUID will do)".into(),
        });
        return Err(ApiError(p));
    };
    let Some(token_id) = req.extensions().get::<Principal>().map(|p| p.token_id) else {
        return Ok(next.run(req).await);
    };
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, super::extract::MAX_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                ProblemCode::TooLarge,
                "the request body is larger than 16 MiB",
            )
        })?;
    let path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.to_string())
        .unwrap_or_else(|| parts.uri.to_string());
    let request = format!(
        "{} {}",
        parts.method,
        path.split('?').next().unwrap_or_default()
    );
    let fingerprint = {
        let mut h = sha2::Sha256::new();
        h.update(format!("{} {path}\n", parts.method));
        h.update(&bytes);
        hex::encode(h.finalize())
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    // Its own task from the claim on: a key claimed is answered (or
    // released) even when the client is gone meanwhile. Claimed in the
    // connection's task, a cut connection could drop it between the claim
    // and the work, and the key would stay "being answered" for good.
    let work = tokio::spawn(async move {
        match idempotency::begin(&state, token_id, &key, &fingerprint, &request).await? {
            Begin::Replay(a) => Ok::<_, crate::error::AgentError>(replayed(a)),
            Begin::Run => {
                let resp = next.run(req).await;
                let (mut parts, body) = resp.into_parts();
                let status = parts.status.as_u16();
                let bytes = match axum::body::to_bytes(body, MAX_REMEMBERED).await {
                    Ok(b) => b,
                    Err(error) => {
                        tracing::warn!(%error, "an answer too large to remember");
                        let _ = idempotency::release(&state, token_id, &key).await;
                        parts.status = StatusCode::INTERNAL_SERVER_ERROR;
                        return Ok(Response::from_parts(parts, Body::empty()));
                    }
                };
                let kept = if remembered(status) {
                    let content_type = parts
                        .headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    idempotency::answer(
                        &state,
                        token_id,
                        &key,
                        Answer {
                            status,
                            content_type,
                            body: bytes.to_vec(),
                        },
                    )
                    .await
                } else {
                    idempotency::release(&state, token_id, &key).await
                };
                if let Err(error) = kept {
                    tracing::warn!(%error, "cannot remember an answer for its Idempotency-Key");
                }
                Ok(Response::from_parts(parts, Body::from(bytes)))
            }
        }
    });
    work.await
        .map_err(|e| ApiError::from(crate::error::AgentError::internal(e)))?
        .map_err(ApiError::from)
}

fn replayed(a: Answer) -> Response {
    let mut resp = (
        StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK),
        a.body,
    )
        .into_response();
    let h = resp.headers_mut();
    h.remove(header::CONTENT_TYPE);
    if let Some(ct) = a.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    h.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    resp
}
