//! `/v1/apps/{app}/versions`, `/diff` and `/rollback`: an app's history.

use appos_proto::calls::DiffQuery;
use appos_proto::{
    AppName, AppVersion, AppVersionDetail, Problem, RollbackRequest, SaveVersionRequest,
    VersionSaved,
};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;

use super::apps::AppPath;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::problem::ApiResult;
use crate::services::tokens::Principal;
use crate::services::versions;
use crate::state::Shared;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    #[param(value_type = String, pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    pub app: AppName,
    pub version: u32,
}

/// The versions of an app, newest first.
#[utoipa::path(get, operation_id = "list_versions", tag = "versions", path = "/apps/{app}/versions", security(("bearer" = [])), params(AppPath), responses(
    (status = 200, body = [AppVersion]),
    (status = 404, body = Problem, description = "No such app"),
    (status = 409, body = Problem, description = "AppOS does not manage this compose project"),
))]
pub async fn list(
    State(state): State<Shared>,
    ApiPath(p): ApiPath<AppPath>,
) -> ApiResult<Json<Vec<AppVersion>>> {
    Ok(Json(versions::list(&state, &p.app).await?))
}

/// One version with its compose file and the names of its `.env` variables.
#[utoipa::path(get, operation_id = "get_version", tag = "versions", path = "/apps/{app}/versions/{version}", security(("bearer" = [])), params(VersionPath), responses(
    (status = 200, body = AppVersionDetail),
    (status = 404, body = Problem, description = "No such app or version"),
    (status = 409, body = Problem, description = "AppOS does not manage this compose project"),
))]
pub async fn show(
    State(state): State<Shared>,
    ApiPath(p): ApiPath<VersionPath>,
) -> ApiResult<Json<AppVersionDetail>> {
    Ok(Json(versions::show(&state, &p.app, p.version).await?))
}

/// A unified diff between two versions: the compose file, then the `.env`
/// (values shown only as changed or not: they are secrets).
#[utoipa::path(get, operation_id = "diff_versions", tag = "versions", path = "/apps/{app}/diff", security(("bearer" = [])), params(AppPath, DiffQuery), responses(
    (status = 200, description = "Unified diff", content_type = "text/plain", body = String),
    (status = 404, body = Problem, description = "No such app or version"),
    (status = 409, body = Problem, description = "AppOS does not manage this compose project"),
))]
pub async fn diff(
    State(state): State<Shared>,
    ApiPath(p): ApiPath<AppPath>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> ApiResult<Response> {
    let text = versions::diff(&state, &p.app, q.from, q.to).await?;
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

/// Saves a new version (checked like a deploy), and deploys it if asked.
#[utoipa::path(post, operation_id = "save_version", tag = "versions", path = "/apps/{app}/versions", security(("bearer" = [])), params(AppPath), request_body = SaveVersionRequest, responses(
    (status = 201, body = VersionSaved),
    (status = 404, body = Problem, description = "No such app"),
    (status = 409, body = Problem, description = "AppOS does not manage this compose project"),
))]
pub async fn create(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<AppPath>,
    ApiJson(req): ApiJson<SaveVersionRequest>,
) -> ApiResult<(StatusCode, Json<VersionSaved>)> {
    Ok((
        StatusCode::CREATED,
        Json(versions::create(&state, &who, &p.app, req).await?),
    ))
}

/// Rolls back to version N: its compose file and `.env` become a new version,
/// which is deployed. With `pin_digests`, each image is replaced by the
/// digest version N ran with.
#[utoipa::path(post, operation_id = "rollback_app", tag = "versions", path = "/apps/{app}/rollback", security(("bearer" = [])), params(AppPath), request_body = RollbackRequest, responses(
    (status = 202, body = VersionSaved),
    (status = 404, body = Problem, description = "No such app or version"),
    (status = 409, body = Problem, description = "AppOS does not manage this compose project, or pinning was asked but no digests are recorded for that version"),
))]
pub async fn rollback(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<AppPath>,
    ApiJson(req): ApiJson<RollbackRequest>,
) -> ApiResult<(StatusCode, Json<VersionSaved>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(versions::rollback(&state, &who, &p.app, req).await?),
    ))
}
