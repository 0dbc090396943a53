//! `/v1/deployments`: list, one, its log (JSON lines), cancel.

use appos_proto::calls::ListDeployments;
use appos_proto::{Deployment, LogLine, Problem};
use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiPath, ApiQuery};
use super::problem::ApiResult;
use crate::services::deployments;
use crate::services::tokens::Principal;
use crate::state::Shared;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    pub id: String,
}

/// Recent deployments, newest first.
#[utoipa::path(get, operation_id = "list_deployments", tag = "deployments", path = "/deployments", security(("bearer" = [])), params(ListDeployments), responses(
    (status = 200, body = [Deployment]),
))]
pub async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListDeployments>,
) -> ApiResult<Json<Vec<Deployment>>> {
    Ok(Json(deployments::list(&state, q.app.as_ref()).await?))
}

/// A deployment with its steps.
#[utoipa::path(get, operation_id = "get_deployment", tag = "deployments", path = "/deployments/{id}", security(("bearer" = [])), params(IdPath), responses(
    (status = 200, body = Deployment),
    (status = 404, body = Problem, description = "No such deployment"),
))]
pub async fn get(
    State(state): State<Shared>,
    ApiPath(p): ApiPath<IdPath>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(deployments::find(&state, &p.id).await?))
}

/// The deployment's log as JSON lines: what is stored, then new lines as
/// they come, until the deployment ends.
#[utoipa::path(get, operation_id = "follow_deployment_log", tag = "deployments", path = "/deployments/{id}/log", security(("bearer" = [])), params(IdPath), responses(
    (status = 200, description = "One LogLine JSON object per line", content_type = "application/x-ndjson", body = LogLine),
    (status = 404, body = Problem, description = "No such deployment"),
    (status = 429, body = Problem, description = "The token holds as many streams open as the agent allows"),
))]
pub async fn log(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<IdPath>,
) -> ApiResult<Response> {
    deployments::find(&state, &p.id).await?;
    let place = state.streams.acquire(&who.name)?;
    Ok(super::ndjson(futures_util::StreamExt::map(
        deployments::follow_log(state, p.id),
        move |lines| {
            let _held = &place;
            lines
        },
    )))
}

/// Cancels a deployment: a queued one at once, a running one at its next step.
#[utoipa::path(post, operation_id = "cancel_deployment", tag = "deployments", path = "/deployments/{id}/cancel", security(("bearer" = [])), params(IdPath), responses(
    (status = 200, body = Deployment),
    (status = 404, body = Problem, description = "No such deployment"),
))]
pub async fn cancel(
    State(state): State<Shared>,
    ApiPath(p): ApiPath<IdPath>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(deployments::cancel(&state, &p.id).await?))
}
