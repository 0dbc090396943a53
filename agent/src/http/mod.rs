//! The HTTP face of the agent, and the only module that knows axum: the
//! router, the request layers (request id and span, token gate), the
//! extractors, problem answers, the OpenAPI document, and one thin route
//! file per area that turns a request into a service call.

mod apps;
mod auth;
mod catalog;
mod deployments;
mod events;
pub mod extract;
mod info;
pub mod openapi;
pub mod problem;
mod terminals;
mod versions;

use appos_proto::ProblemCode;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use futures_util::{Stream, StreamExt as _};
use serde::Serialize;

use crate::state::Shared;
use problem::ApiError;

pub use openapi::openapi_json;

pub fn router(state: Shared) -> Router {
    let v1 = Router::new()
        .route("/info", get(info::info))
        .route("/apps", get(apps::list))
        .route("/apps/deploy", post(apps::deploy))
        .route("/apps/adopt", post(apps::adopt))
        .route("/apps/{app}", get(apps::get).delete(apps::delete))
        .route("/apps/{app}/versions", get(versions::list).post(versions::create))
        .route("/apps/{app}/versions/{version}", get(versions::show))
        .route("/apps/{app}/diff", get(versions::diff))
        .route("/apps/{app}/rollback", post(versions::rollback))
        .route("/apps/{app}/redeploy", post(apps::redeploy))
        .route("/apps/{app}/logs", get(apps::logs))
        .route("/apps/{app}/{action}", post(apps::action))
        .route("/compose/check", post(apps::check))
        .route("/catalog", get(catalog::list))
        .route("/catalog/refresh", post(catalog::refresh))
        .route("/catalog/{id}", get(catalog::get))
        .route("/deployments", get(deployments::list))
        .route("/deployments/{id}", get(deployments::get))
        .route("/deployments/{id}/log", get(deployments::log))
        .route("/deployments/{id}/cancel", post(deployments::cancel))
        .route("/events", get(events::stream))
        .route("/terminals", get(terminals::list).post(terminals::open))
        .route("/terminals/{id}", delete(terminals::kill))
        .route("/terminals/{id}/attach", get(terminals::attach))
        .route_layer(middleware::from_fn(auth::record_route))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .route("/health", get(info::health))
        .nest("/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(middleware::from_fn(auth::request_span))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError(appos_proto::Problem::new(ProblemCode::NotFound, None))
}

async fn method_not_allowed() -> ApiError {
    ApiError(appos_proto::Problem::new(ProblemCode::MethodNotAllowed, None))
}

/// A streamed answer of JSON lines, one per item of each batch.
fn ndjson<T: Serialize + Send + 'static>(batches: impl Stream<Item = Vec<T>> + Send + 'static) -> Response {
    let body = batches.map(|batch| {
        let mut chunk = String::new();
        for item in &batch {
            chunk.push_str(&serde_json::to_string(item).unwrap_or_default());
            chunk.push('\n');
        }
        Ok::<_, std::convert::Infallible>(chunk)
    });
    let mut resp = Response::new(axum::body::Body::from_stream(body));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    resp
}
