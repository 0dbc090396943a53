//! The HTTP face of the agent, and the only module that knows axum: the
//! router, the request layers (request id and span, token gate), the
//! extractors, problem answers, the OpenAPI document, and one thin route
//! file per area that turns a request into a service call.

mod alerts;
mod apps;
mod audit;
mod auth;
mod backups;
mod catalog;
mod deployments;
mod events;
pub mod extract;
mod idempotency;
mod info;
pub mod openapi;
pub mod problem;
mod proxy;
mod terminals;
mod tokens;
mod versions;

use appos_proto::ProblemCode;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::response::Response;
use axum::Router;
use futures_util::{Stream, StreamExt as _};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::Shared;
use problem::ApiError;

pub use openapi::openapi_json;

/// Every `/v1` route: one line each registers the handler and its OpenAPI
/// operation (the path is in the handler's annotation).
fn v1_routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(info::info))
        .routes(routes!(info::metrics))
        .routes(routes!(apps::list))
        .routes(routes!(apps::deploy))
        .routes(routes!(apps::adopt))
        .routes(routes!(apps::get, apps::delete))
        .routes(routes!(apps::stats))
        .routes(routes!(versions::list, versions::create))
        .routes(routes!(versions::show))
        .routes(routes!(versions::diff))
        .routes(routes!(versions::rollback))
        .routes(routes!(apps::redeploy))
        .routes(routes!(apps::logs))
        .routes(routes!(apps::action))
        .routes(routes!(apps::check))
        .routes(routes!(catalog::list))
        .routes(routes!(catalog::refresh))
        .routes(routes!(catalog::get))
        .routes(routes!(deployments::list))
        .routes(routes!(deployments::get))
        .routes(routes!(deployments::log))
        .routes(routes!(deployments::cancel))
        .routes(routes!(events::stream))
        .routes(routes!(terminals::list, terminals::open))
        .routes(routes!(terminals::kill))
        .routes(routes!(terminals::attach))
        .routes(routes!(tokens::list))
        .routes(routes!(audit::list))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::rules))
        .routes(routes!(alerts::update_rule))
        .routes(routes!(alerts::channels, alerts::add_channel))
        .routes(routes!(alerts::remove_channel))
        .routes(routes!(alerts::test_channel))
        .routes(routes!(backups::repository, backups::set_repository))
        .routes(routes!(backups::snapshots, backups::create))
        .routes(routes!(backups::restore))
        .routes(routes!(backups::archive))
        .routes(routes!(backups::runs))
        .routes(routes!(
            backups::schedule,
            backups::set_schedule,
            backups::clear_schedule
        ))
        .routes(routes!(backups::run))
        .routes(routes!(proxy::list, proxy::add))
        .routes(routes!(proxy::remove))
        .routes(routes!(proxy::reload))
        .routes(routes!(proxy::upload))
        .routes(routes!(proxy::renew))
        .routes(routes!(proxy::certs_list))
        .routes(routes!(proxy::watch))
        .routes(routes!(proxy::unwatch))
}

/// The routes outside `/v1` (no token).
fn open_routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(info::health))
}

pub fn router(state: Shared) -> Router {
    let (v1, _) = v1_routes()
        .route_layer(middleware::from_fn(auth::record_route))
        .fallback(not_found)
        // Inside the token gate: a key is remembered per token.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::remember,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .split_for_parts();
    let (open, _) = open_routes().split_for_parts();
    open.nest("/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::request_span,
        ))
        .with_state(state)
}

/// The tokenless loopback listener's only route: `GET /metrics`, what
/// `GET /v1/metrics` answers, for a scraper on this host
/// (`APPOS_METRICS_LISTEN`). Not in the OpenAPI document: it is not the API.
pub fn metrics_router(state: Shared) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(info::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::request_span,
        ))
        .with_state(state)
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, doc) = OpenApiRouter::with_openapi(<openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .merge(open_routes())
        .nest("/v1", v1_routes())
        .split_for_parts();
    openapi::amend(doc)
}

async fn not_found() -> ApiError {
    ApiError(appos_proto::Problem::new(ProblemCode::NotFound, None))
}

async fn method_not_allowed() -> ApiError {
    ApiError(appos_proto::Problem::new(
        ProblemCode::MethodNotAllowed,
        None,
    ))
}

/// A streamed answer of JSON lines, one per item of each batch.
fn ndjson<T: Serialize + Send + 'static>(
    batches: impl Stream<Item = Vec<T>> + Send + 'static,
) -> Response {
    let body = batches.map(|batch| {
        let mut chunk = String::new();
        for item in &batch {
            chunk.push_str(&serde_json::to_string(item).unwrap_or_default());
            chunk.push('\n');
        }
        Ok::<_, std::convert::Infallible>(chunk)
    });
    let mut resp = Response::new(axum::body::Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}
