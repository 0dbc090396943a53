//! `/v1/apps`: the list, one app, deploy, adopt, check a compose file,
//! lifecycle actions, redeploy, delete and logs.

use appos_proto::calls::{AppAction, DeleteQuery};
use appos_proto::{
    AdoptRequest, App, AppLogLine, AppName, ComposeCheck, ComposeCheckRequest, DeployAccepted,
    DeployRequest, Deployment, LogsQuery, Problem, VersionSaved,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::problem::ApiResult;
use crate::services::tokens::Principal;
use crate::services::{adopt, apps, logs, versions};
use crate::state::Shared;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AppPath {
    /// The app's name (its compose project name).
    #[param(value_type = String, pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    pub app: AppName,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ActionPath {
    #[param(value_type = String, pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    pub app: AppName,
    pub action: AppAction,
}

/// AppOS's own apps (with their latest deployment, running or not) and every
/// other compose project on the Docker host.
#[utoipa::path(get, operation_id = "list_apps", tag = "apps", path = "/apps", security(("bearer" = [])), responses(
    (status = 200, body = [App]),
    (status = 503, body = Problem, description = "Docker is not reachable"),
))]
pub async fn list(State(state): State<Shared>) -> ApiResult<Json<Vec<App>>> {
    Ok(Json(apps::list(&state).await?))
}

/// One app or compose project.
#[utoipa::path(get, operation_id = "get_app", tag = "apps", path = "/apps/{app}", security(("bearer" = [])), params(AppPath), responses(
    (status = 200, body = App),
    (status = 404, body = Problem, description = "No such app"),
    (status = 503, body = Problem, description = "Docker is not reachable"),
))]
pub async fn get(
    State(state): State<Shared>,
    ApiPath(p): ApiPath<AppPath>,
) -> ApiResult<Json<App>> {
    Ok(Json(apps::get(&state, &p.app).await?))
}

/// CPU, memory and network of the app's running containers: the latest
/// reading (Docker sends one a second) and a point a minute for 24 hours.
#[utoipa::path(get, operation_id = "get_app_stats", tag = "apps", path = "/apps/{app}/stats", security(("bearer" = [])), params(AppPath), responses(
    (status = 200, body = appos_proto::AppStats),
    (status = 404, body = Problem, description = "No such app"),
    (status = 503, body = Problem, description = "Docker is not reachable"),
))]
pub async fn stats(
    State(state): State<Shared>,
    ApiPath(p): ApiPath<AppPath>,
) -> ApiResult<Json<appos_proto::AppStats>> {
    Ok(Json(
        crate::services::observe::app_stats(&state, &p.app).await?,
    ))
}

/// Deploys a new app from a compose file or a catalog template. Everything
/// is checked before anything is written; then version 1 is written and its
/// deployment queued.
#[utoipa::path(post, operation_id = "deploy_app", tag = "apps", path = "/apps/deploy", security(("bearer" = [])), request_body = DeployRequest, responses(
    (status = 202, body = DeployAccepted),
    (status = 409, body = Problem, description = "An app or compose project of that name exists"),
    (status = 503, body = Problem, description = "Docker is not reachable"),
))]
pub async fn deploy(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<DeployRequest>,
) -> ApiResult<(StatusCode, Json<DeployAccepted>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(apps::deploy(&state, &who, req).await?),
    ))
}

/// Runs every check of a deploy (name, `.env`, YAML shape, images, bind
/// mounts, `compose config`) on a compose file and writes nothing: editors
/// check a file before they save it.
#[utoipa::path(post, operation_id = "check_compose", tag = "apps", path = "/compose/check", security(("bearer" = [])), request_body = ComposeCheckRequest, responses(
    (status = 200, body = ComposeCheck),
))]
pub async fn check(
    State(state): State<Shared>,
    ApiJson(req): ApiJson<ComposeCheckRequest>,
) -> ApiResult<Json<ComposeCheck>> {
    Ok(Json(apps::check(&state, req).await?))
}

/// Makes a compose project started outside AppOS an app: its merged compose
/// files and `.env` become version 1. Nothing is restarted.
#[utoipa::path(post, operation_id = "adopt_app", tag = "apps", path = "/apps/adopt", security(("bearer" = [])), request_body = AdoptRequest, responses(
    (status = 201, body = VersionSaved),
    (status = 404, body = Problem, description = "No compose project of that name runs here"),
    (status = 409, body = Problem, description = "Already an app, or its compose files cannot be read"),
    (status = 503, body = Problem, description = "Docker is not reachable"),
))]
pub async fn adopt(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<AdoptRequest>,
) -> ApiResult<(StatusCode, Json<VersionSaved>)> {
    Ok((
        StatusCode::CREATED,
        Json(adopt::adopt(&state, &who, req).await?),
    ))
}

/// Deploys the latest version again (e.g. after a failed deployment).
#[utoipa::path(post, operation_id = "redeploy_app", tag = "apps", path = "/apps/{app}/redeploy", security(("bearer" = [])), params(AppPath), responses(
    (status = 202, body = VersionSaved),
    (status = 404, body = Problem, description = "No such app"),
    (status = 409, body = Problem, description = "AppOS does not manage this compose project"),
))]
pub async fn redeploy(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<AppPath>,
) -> ApiResult<(StatusCode, Json<VersionSaved>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(versions::redeploy(&state, &who, &p.app).await?),
    ))
}

/// `start`, `stop`, `restart` or `update` (pull newer images, recreate), queued like a deployment.
#[utoipa::path(post, operation_id = "run_app_action", tag = "apps", path = "/apps/{app}/{action}", security(("bearer" = [])), params(ActionPath), responses(
    (status = 202, body = Deployment),
    (status = 404, body = Problem, description = "No such app"),
    (status = 409, body = Problem, description = "AppOS does not manage this compose project"),
))]
pub async fn action(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<ActionPath>,
) -> ApiResult<(StatusCode, Json<Deployment>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(versions::action(&state, &who, &p.app, p.action).await?),
    ))
}

/// Takes the app down and forgets it; its volumes are kept unless `volumes=true`.
#[utoipa::path(delete, operation_id = "delete_app", tag = "apps", path = "/apps/{app}", security(("bearer" = [])), params(AppPath, DeleteQuery), responses(
    (status = 202, body = Deployment),
    (status = 404, body = Problem, description = "No such app"),
    (status = 409, body = Problem, description = "AppOS does not manage this compose project"),
))]
pub async fn delete(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<AppPath>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> ApiResult<(StatusCode, Json<Deployment>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(versions::delete(&state, &who, &p.app, q.volumes).await?),
    ))
}

/// What the app's containers print, as JSON lines: from all services or
/// one, the last N lines and/or since a time, filtered by a regular
/// expression, and followed live on request.
#[utoipa::path(get, operation_id = "get_app_logs", tag = "apps", path = "/apps/{app}/logs", security(("bearer" = [])), params(AppPath, LogsQuery), responses(
    (status = 200, description = "One AppLogLine JSON object per line", content_type = "application/x-ndjson", body = AppLogLine),
    (status = 404, body = Problem, description = "The app has no containers"),
    (status = 429, body = Problem, description = "Following: the token holds as many streams open as the agent allows"),
    (status = 503, body = Problem, description = "Docker is not reachable"),
))]
pub async fn logs(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<AppPath>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    // Only a followed log stays open.
    let place = if q.follow {
        Some(state.streams.acquire(&who.name)?)
    } else {
        None
    };
    let lines = logs::stream(&state, &p.app, q).await?;
    Ok(super::ndjson(futures_util::StreamExt::map(
        lines,
        move |l| {
            let _held = &place;
            vec![l]
        },
    )))
}
