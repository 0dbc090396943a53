//! `/health`, `/v1/info` and `/v1/metrics`.

use appos_proto::{AgentInfo, DockerInfo, Health, Problem};
use axum::extract::State;
use axum::Json;

use super::problem::ApiResult;
use crate::error::AgentError;
use crate::state::Shared;

/// Liveness probe; the only route that needs no token.
#[utoipa::path(get, operation_id = "get_health", tag = "agent", path = "/health", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: crate::VERSION.into(),
    })
}

/// Versions of the agent, the Docker engine and the compose tool.
#[utoipa::path(get, operation_id = "get_info", tag = "agent", path = "/info", security(("bearer" = [])), responses(
    (status = 200, body = AgentInfo),
    (status = 503, body = Problem, description = "Docker is not reachable"),
))]
pub async fn info(State(state): State<Shared>) -> ApiResult<Json<AgentInfo>> {
    let v = state.docker.version().await.map_err(AgentError::docker)?;
    Ok(Json(AgentInfo {
        agent_version: crate::VERSION.into(),
        data_dir: state.config.data_dir.display().to_string(),
        docker: DockerInfo {
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            negotiated_api_version: state.docker.client_version().to_string(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        },
        compose: state.compose().await.clone(),
        queue: match (&state.queue, &state.config.redis_server) {
            (crate::infra::queue::AnyQueue::Sqlite(_), _) => "sqlite".into(),
            (crate::infra::queue::AnyQueue::Redis(_), Some(_)) => {
                "redis (run by the agent, AOF)".into()
            }
            (crate::infra::queue::AnyQueue::Redis(_), None) => "redis".into(),
        },
        proxy: state.config.proxy.as_ref().map(|p| appos_proto::ProxyInfo {
            backend: p.kind.as_str().into(),
            http: p.http.to_string(),
            https: p.https.to_string(),
        }),
    }))
}

/// Prometheus metrics in the OpenMetrics text format: requests by route and
/// status with durations, queue tasks by kind and outcome with durations,
/// deployments and queued tasks by state, containers per app by state,
/// terminal sessions. A read-scope token may scrape.
#[utoipa::path(get, operation_id = "get_metrics", tag = "agent", path = "/metrics", security(("bearer" = [])), responses(
    (status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
))]
pub async fn metrics(State(state): State<Shared>) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse as _;
    let text = crate::services::observe::metrics(&state).await?;
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(crate::services::metrics::CONTENT_TYPE),
    );
    Ok(resp)
}
