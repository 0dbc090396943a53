//! In front of every request: a request id and a tracing span (route, token
//! name, request id); in front of `/v1`: the bearer-token gate. Tokens come
//! only from the `Authorization` header, never from the URL.

use appos_proto::{ProblemCode, TokenScope};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use tracing::Instrument as _;

use super::problem::{ApiError, Refusal, REQUEST_ID};
use crate::services::limits::retry_after_secs;
use crate::services::tokens::{self, Verdict};
use crate::state::Shared;

/// Gives the request an id (also the `x-request-id` header of the answer)
/// and runs it in a span that the other layers fill in.
pub async fn request_span(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let id = format!("{:016x}", rand::random::<u64>());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), route = tracing::field::Empty, token = tracing::field::Empty);
    let (method, started) = (req.method().clone(), std::time::Instant::now());
    let mut resp = REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span))
        .await;
    let route = resp
        .extensions()
        .get::<RouteName>()
        .map_or("-", |r| r.0.as_str());
    state.metrics.request(
        route,
        method.as_str(),
        resp.status().as_u16(),
        started.elapsed(),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// The matched route of a request, for its metrics.
#[derive(Clone)]
struct RouteName(String);

/// Records the matched route (`/v1/apps/{app}`, never the values) in the
/// span, and on the answer for the request metrics.
pub async fn record_route(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|r| r.as_str().to_string());
    if let Some(route) = &route {
        tracing::Span::current().record("route", route.as_str());
    }
    let mut resp = next.run(req).await;
    if let Some(route) = route {
        resp.extensions_mut().insert(RouteName(route));
    }
    resp
}

/// The request's path as the client sent it (inside `/v1`, the router sees less).
fn full_path(req: &Request) -> String {
    req.extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.path().to_string())
        .unwrap_or_else(|| req.uri().path().to_string())
}

/// A request without a valid token: 401 while the failed-authentication
/// budget lasts, then 429 (valid tokens never spend it).
fn refuse(state: &Shared, why: &str) -> Result<Response, ApiError> {
    match state.limits.failed_authentication() {
        Ok(()) => Err(ApiError::new(ProblemCode::Unauthorized, why)),
        Err(wait) => {
            let detail = format!(
                "too many requests without a valid token lately; try again in {} s",
                retry_after_secs(wait)
            );
            Ok(too_many(detail, wait))
        }
    }
}

/// A 429 problem with its `Retry-After`.
fn too_many(detail: String, wait: std::time::Duration) -> Response {
    let mut resp = ApiError::new(ProblemCode::RateLimited, detail).into_response();
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(wait)),
    );
    resp
}

/// The gate in front of every `/v1` route.
pub async fn require_token(
    State(state): State<Shared>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(appos_proto::BEARER))
        .map(str::trim)
        .map(str::to_owned);
    let Some(presented) = presented else {
        return refuse(&state, "send an Authorization: Bearer <token> header");
    };
    let verdict = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            tokens::verify(&state.db, &presented, state.clock.now())
        })
        .await
        .map_err(|e| ApiError::from(crate::error::AgentError::internal(e)))?
        .map_err(|e| ApiError::from(crate::error::AgentError::internal(e)))?
    };
    let principal = match verdict {
        Verdict::Valid(p) => p,
        Verdict::Revoked => return refuse(&state, "this token was revoked"),
        Verdict::Unknown => return refuse(&state, "this token is not known to the agent"),
    };
    tracing::Span::current().record("token", principal.name.as_str());
    if let Err(wait) = state.limits.token_request(principal.token_id) {
        let detail = format!(
            "token {:?} sends more requests than the agent takes from one token; try again in {} s",
            principal.name,
            retry_after_secs(wait)
        );
        return Ok(too_many(detail, wait));
    }
    let read_only = matches!(*req.method(), Method::GET | Method::HEAD);
    if principal.scope == TokenScope::Read && !read_only {
        let detail = format!("{} {}: read scope", req.method(), full_path(&req));
        let _ =
            crate::services::audit::record(&state, &principal.name, "access.denied", None, detail)
                .await;
        return Err(ApiError::new(
            ProblemCode::Forbidden,
            format!(
                "token {:?} has the read scope: it may only look",
                principal.name
            ),
        ));
    }
    let (method, path) = (req.method().clone(), full_path(&req));
    let who = principal.name.clone();
    req.extensions_mut().insert(principal);
    let resp = next.run(req).await;
    if resp.status() == axum::http::StatusCode::FORBIDDEN {
        // A scope said no: who tried what is worth keeping.
        let why = resp
            .extensions()
            .get::<Refusal>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let app = path
            .strip_prefix("/v1/apps/")
            .and_then(|rest| rest.split('/').next())
            .filter(|a| appos_proto::AppName::parse(a).is_ok() && *a != "deploy" && *a != "adopt");
        let detail = format!("{method} {path}: {why}");
        if let Err(e) = crate::services::audit::record(
            &state,
            &who,
            "access.denied",
            app.map(str::to_string),
            detail,
        )
        .await
        {
            tracing::warn!(error = %e, "cannot record a refusal in the audit log");
        }
    }
    Ok(resp)
}
