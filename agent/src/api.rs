//! HTTP routes of the agent, the bearer-token gate in front of `/v1`, the
//! problem-JSON error type and the OpenAPI document generated from all three.

use std::collections::HashSet;
use std::sync::Arc;

use appos_proto::{AgentInfo, App, DockerInfo, Health, Problem, TokenScope};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use bollard::Docker;
use utoipa::OpenApi;

use crate::config::Config;
use crate::db::Db;
use crate::tokens::{self, Principal, Verdict};

/// Everything a request handler may touch.
pub struct AgentState {
    pub config: Config,
    pub db: Db,
    pub docker: Docker,
    pub compose: appos_proto::ComposeInfo,
}

pub type Shared = Arc<AgentState>;

/// The one error type of the HTTP boundary: it renders as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError(Problem);

impl ApiError {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: Option<String>) -> ApiError {
        ApiError(Problem { code: code.into(), title: title.into(), status: status.as_u16(), detail, errors: Vec::new() })
    }
    fn unauthorized(detail: &str) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Missing or invalid token", Some(detail.into()))
    }
    fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", Some(error.to_string()))
    }
    fn docker(error: bollard::errors::Error) -> ApiError {
        tracing::warn!(%error, "Docker request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "docker_unavailable",
            "Docker is not reachable",
            Some(error.to_string()),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, Json(self.0)).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Compose project names as Docker normalises them, which is also the rule for
/// AppOS app names.
pub fn valid_app_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

pub fn router(state: Shared) -> Router {
    let v1 = Router::new()
        .route("/info", get(info))
        .route("/apps", get(list_apps))
        .route("/apps/{app}", get(get_app))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(health))
        .nest("/v1", v1)
        .fallback(not_found)
        .with_state(state)
}

/// The gate in front of every `/v1` route. Tokens come only from the
/// `Authorization` header, never from the URL.
async fn require_token(State(state): State<Shared>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(appos_proto::BEARER))
        .map(str::trim)
        .map(str::to_owned);
    let Some(presented) = presented else {
        return Err(ApiError::unauthorized("send an Authorization: Bearer <token> header"));
    };
    let verdict = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || tokens::verify(&state.db, &presented, crate::unix_now()))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?
    };
    let principal = match verdict {
        Verdict::Valid(p) => p,
        Verdict::Revoked => return Err(ApiError::unauthorized("this token was revoked")),
        Verdict::Unknown => return Err(ApiError::unauthorized("this token is not known to the agent")),
    };
    let read_only = matches!(*req.method(), Method::GET | Method::HEAD);
    if principal.scope == TokenScope::Read && !read_only {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This token may only read",
            Some(format!("token {:?} has the read scope", principal.name)),
        ));
    }
    tracing::debug!(token = %principal.name, method = %req.method(), path = %req.uri().path(), "authorised");
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such route", None)
}

/// Liveness probe; the only route that needs no token.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok".into(), version: crate::VERSION.into() })
}

/// Versions of the agent, the Docker engine and the compose tool.
#[utoipa::path(get, path = "/v1/info", security(("bearer" = [])), responses(
    (status = 200, body = AgentInfo),
    (status = 401, body = Problem),
    (status = 503, body = Problem, description = "Docker is not reachable"),
))]
async fn info(State(state): State<Shared>, Extension(_who): Extension<Principal>) -> Result<Json<AgentInfo>, ApiError> {
    let v = state.docker.version().await.map_err(ApiError::docker)?;
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
        compose: state.compose.clone(),
    }))
}

async fn managed_apps(state: &Shared) -> Result<HashSet<String>, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || -> rusqlite::Result<HashSet<String>> {
        let conn = state.db.conn();
        let mut stmt = conn.prepare_cached("SELECT name FROM apps")?;
        let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
        names.collect()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// Every compose project on the Docker host, managed by AppOS or not.
#[utoipa::path(get, path = "/v1/apps", security(("bearer" = [])), responses(
    (status = 200, body = [App]),
    (status = 401, body = Problem),
    (status = 503, body = Problem, description = "Docker is not reachable"),
))]
async fn list_apps(State(state): State<Shared>) -> Result<Json<Vec<App>>, ApiError> {
    let managed = managed_apps(&state).await?;
    let apps = crate::docker::list_apps(&state.docker, &managed).await.map_err(ApiError::docker)?;
    Ok(Json(apps))
}

/// One compose project.
#[utoipa::path(get, path = "/v1/apps/{app}", security(("bearer" = [])),
    params(("app" = String, Path, description = "The compose project name")),
    responses(
        (status = 200, body = App),
        (status = 400, body = Problem, description = "Not a valid app name"),
        (status = 401, body = Problem),
        (status = 404, body = Problem, description = "No such app"),
        (status = 503, body = Problem, description = "Docker is not reachable"),
))]
async fn get_app(State(state): State<Shared>, Path(app): Path<String>) -> Result<Json<App>, ApiError> {
    if !valid_app_name(&app) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_app_name",
            "Not a valid app name",
            Some("app names match ^[a-z0-9][a-z0-9_-]{0,62}$".into()),
        ));
    }
    let managed = managed_apps(&state).await?;
    let apps = crate::docker::list_apps(&state.docker, &managed).await.map_err(ApiError::docker)?;
    apps.into_iter()
        .find(|a| a.name == app)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "app_not_found", "No such app", Some(app)))
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "AppOS agent API", description = "Reached through an SSH tunnel to the agent's unix socket. Every /v1 route needs a bearer token."),
    paths(health, info, list_apps, get_app),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// The OpenAPI document as committed in `agent/openapi.json`.
pub fn openapi_json() -> String {
    let mut s = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        for ok in ["a", "wordpress", "my-app_2", "0x", &"a".repeat(63)] {
            assert!(valid_app_name(ok), "{ok:?}");
        }
        for bad in ["", "../x", "a;b", "A B", "Abc", "-a", "_a", "a/b", "a.b", &"a".repeat(64), &"a".repeat(300)] {
            assert!(!valid_app_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn committed_openapi_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == openapi_json(),
            "agent/openapi.json is out of date: run `cargo xtask gen` and commit the result"
        );
    }
}
