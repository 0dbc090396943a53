//! HTTP routes of the agent, the bearer-token gate in front of `/v1`, the
//! problem-JSON error type and the OpenAPI document generated from all three.

use std::collections::HashSet;
use std::sync::Arc;

use appos_proto::{AgentInfo, App, DeployAccepted, DeployRequest, Deployment, DockerInfo, FieldError, Health, LogLine, Problem, TokenScope};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
    pub queue: crate::queue::AnyQueue,
    /// Wakes idle workers when a task is queued.
    pub queue_wakeup: tokio::sync::Notify,
    /// When this agent started (seconds since the epoch): versions saved
    /// since were checked by the same compose tool.
    pub started_at: i64,
    pub catalog: crate::catalog::Live,
    pub events: crate::events::Events,
    pub terminals: crate::terminals::Terminals,
    /// Cancelled when the agent stops (ends the processes it runs, like redis-server).
    pub stopping: tokio_util::sync::CancellationToken,
}

pub type Shared = Arc<AgentState>;

/// The one error type of the HTTP boundary: it renders as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError(Problem);

impl ApiError {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: Option<String>) -> ApiError {
        ApiError(Problem { code: code.into(), title: title.into(), status: status.as_u16(), detail, errors: Vec::new() })
    }
    pub(crate) fn unauthorized(detail: &str) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Missing or invalid token", Some(detail.into()))
    }
    pub(crate) fn add_error(&mut self, e: FieldError) {
        self.0.errors.push(e);
    }
    pub(crate) fn invalid(errors: Vec<FieldError>) -> ApiError {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_input", "Invalid input", None);
        e.0.errors = errors;
        e
    }
    pub(crate) fn conflict(code: &str, detail: String) -> ApiError {
        Self::new(StatusCode::CONFLICT, code, "Conflict", Some(detail))
    }
    pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", Some(error.to_string()))
    }
    pub(crate) fn docker(error: bollard::errors::Error) -> ApiError {
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

/// A JSON body whose rejection (malformed, wrong shape, too large) is a
/// problem-JSON answer like every other error.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(e.status(), "too_large", "Request too large", Some("compose files are limited to 1 MiB".into())))
            }
            Err(e) => Err(ApiError::invalid(vec![FieldError { field: "body".into(), message: e.body_text() }])),
        }
    }
}

/// A query string whose rejection (a missing or malformed parameter) is a
/// problem-JSON answer like every other error.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(ApiError::invalid(vec![FieldError { field: "query".into(), message: e.body_text() }])),
        }
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
        // Read whole compose files up to 16 MiB, so that an oversized one gets
        // a field error rather than a cut connection.
        .route("/apps/adopt", post(crate::adopt::adopt))
        .route("/apps/deploy", post(deploy_app).layer(axum::extract::DefaultBodyLimit::max(16 << 20)))
        .route("/apps/{app}/versions", get(crate::versions::list).post(crate::versions::create))
        .route("/apps/{app}/versions/{version}", get(crate::versions::show))
        .route("/apps/{app}/diff", get(crate::versions::diff))
        .route("/apps/{app}/rollback", post(crate::versions::rollback))
        .route("/apps/{app}/redeploy", post(crate::versions::redeploy))
        .route("/apps/{app}/logs", get(crate::logs::logs))
        .route("/apps/{app}/{action}", post(crate::versions::action))
        .route("/apps/{app}", axum::routing::delete(crate::versions::delete))
        .route("/events", get(crate::events::stream))
        .route("/terminals", get(crate::terminals::routes::list).post(crate::terminals::routes::open))
        .route("/terminals/{id}", axum::routing::delete(crate::terminals::routes::kill))
        .route("/terminals/{id}/attach", get(crate::terminals::routes::attach))
        .route("/compose/check", post(check_compose).layer(axum::extract::DefaultBodyLimit::max(16 << 20)))
        .route("/catalog", get(list_catalog))
        .route("/catalog/refresh", post(refresh_catalog))
        .route("/catalog/{id}", get(get_catalog_entry))
        .route("/deployments", get(list_deployments))
        .route("/deployments/{id}", get(get_deployment))
        .route("/deployments/{id}/log", get(deployment_log))
        .route("/deployments/{id}/cancel", post(cancel_deployment))
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
        queue: match (&state.queue, &state.config.redis_server) {
            (crate::queue::AnyQueue::Sqlite(_), _) => "sqlite".into(),
            (crate::queue::AnyQueue::Redis(_), Some(_)) => "redis (run by the agent, AOF)".into(),
            (crate::queue::AnyQueue::Redis(_), None) => "redis".into(),
        },
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

pub(crate) async fn db<T: Send + 'static>(state: &Shared, f: impl FnOnce(&Db) -> rusqlite::Result<T> + Send + 'static) -> Result<T, ApiError> {
    let s = state.clone();
    tokio::task::spawn_blocking(move || f(&s.db)).await.map_err(ApiError::internal)?.map_err(ApiError::internal)
}

/// Deploys a new app from a compose file. Everything is checked before
/// anything is written; then version 1 is written and its deployment queued.
#[utoipa::path(post, path = "/v1/apps/deploy", security(("bearer" = [])), request_body = DeployRequest, responses(
    (status = 202, body = DeployAccepted),
    (status = 400, body = Problem, description = "Invalid input, with field-level errors"),
    (status = 401, body = Problem),
    (status = 409, body = Problem, description = "An app or compose project of that name exists"),
    (status = 413, body = Problem, description = "The request is larger than 16 MiB"),
))]
async fn deploy_app(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<DeployRequest>,
) -> Result<(StatusCode, Json<DeployAccepted>), ApiError> {
    let mut errors = Vec::new();
    if !valid_app_name(&req.name) {
        errors.push(FieldError { field: "name".into(), message: "app names match ^[a-z0-9][a-z0-9_-]{0,62}$".into() });
    }
    if let Some(m) = &req.message {
        if m.len() > 1000 {
            errors.push(FieldError { field: "message".into(), message: "at most 1000 characters".into() });
        }
    }
    // A catalog template renders to a compose file and an .env.
    let mut req = req;
    let mut generated = std::collections::BTreeMap::new();
    if let Some(cat) = req.catalog.take() {
        if !req.compose.is_empty() {
            errors.push(FieldError { field: "compose".into(), message: "give a compose file or a catalog template, not both".into() });
        }
        let catalog = state.catalog.get();
        match catalog.get(&cat.id) {
            None => errors.push(FieldError { field: "catalog.id".into(), message: format!("no template {:?} in the catalog", cat.id) }),
            Some(t) => match crate::catalog::render(t, &cat.params) {
                Ok(r) => {
                    req.compose = r.compose;
                    req.env.extend(r.env);
                    generated = r.generated;
                }
                Err(e) => errors.extend(e),
            },
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
    }
    let (staging, _) = check_files(&state, &req.name, &req.compose, &req.env, &[], errors).await?;
    let name = req.name.clone();
    let dir = crate::compose::app_dir(&state.config.apps_dir(), &name);
    let exists = if app_known(&state, &name).await? || dir.exists() {
        Some(ApiError::conflict("app_exists", format!("an app named {name:?} exists; change it with a new version instead")))
    } else {
        match crate::docker::list_apps(&state.docker, &Default::default()).await {
            Ok(projects) if projects.iter().any(|a| a.name == name) => Some(ApiError::conflict(
                "project_exists",
                format!("a compose project named {name:?} already runs on this server; adopt it instead"),
            )),
            Ok(_) => None,
            Err(e) => Some(ApiError::docker(e)),
        }
    };
    if let Some(e) = exists {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&staging, &dir) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(ApiError::conflict("app_exists", format!("cannot create {}: {e}", dir.display())));
    }

    let id = crate::queue::new_id(crate::deploy::now_ms());
    let env_json = serde_json::to_string(&req.env).map_err(ApiError::internal)?;
    let (n, i, compose, author, message) = (name.clone(), id.clone(), req.compose.clone(), who.name.clone(), req.message.clone().unwrap_or_default());
    db(&state, move |db| {
        let mut c = db.conn();
        let tx = c.transaction()?;
        let now = crate::unix_now();
        tx.execute("INSERT INTO apps (name, created_at, origin) VALUES (?1, ?2, 'deployed')", rusqlite::params![n, now])?;
        tx.execute(
            "INSERT INTO app_versions (app, version, compose, env, author, message, created_at) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![n, compose, env_json, author, message, now],
        )?;
        tx.execute(
            "INSERT INTO deployments (id, app, version, state, created_ms) VALUES (?1, ?2, 1, 'queued', ?3)",
            rusqlite::params![i, n, crate::deploy::now_ms()],
        )?;
        tx.execute("INSERT INTO audit (at, actor, action, detail) VALUES (?1, ?2, 'app.deploy', ?3)", rusqlite::params![now, author, n])?;
        tx.commit()
    })
    .await?;
    enqueue_deployment(&state, &id, &name, appos_proto::Operation::Deploy).await?;
    Ok((StatusCode::ACCEPTED, Json(DeployAccepted { deployment_id: id, app: name, version: 1, generated })))
}

/// Runs every check of a deploy (name, `.env`, YAML shape, images, bind
/// mounts, `compose config`) on a compose file and writes nothing: editors
/// check a file before they save it.
#[utoipa::path(post, path = "/v1/compose/check", security(("bearer" = [])), request_body = appos_proto::ComposeCheckRequest, responses(
    (status = 200, body = appos_proto::ComposeCheck),
    (status = 400, body = Problem, description = "Invalid input, with field-level errors"),
    (status = 401, body = Problem),
))]
async fn check_compose(State(state): State<Shared>, ApiJson(req): ApiJson<appos_proto::ComposeCheckRequest>) -> Result<Json<appos_proto::ComposeCheck>, ApiError> {
    let mut errors = Vec::new();
    if !valid_app_name(&req.name) {
        errors.push(FieldError { field: "name".into(), message: "app names match ^[a-z0-9][a-z0-9_-]{0,62}$".into() });
        return Err(ApiError::invalid(errors));
    }
    let env = match req.env {
        Some(e) => e,
        None => {
            let n = req.name.clone();
            db(&state, move |db| crate::deploy::store::latest_env(db, &n)).await?.unwrap_or_default()
        }
    };
    let (staging, summary) = check_files(&state, &req.name, &req.compose, &env, &[], errors).await?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(Json(appos_proto::ComposeCheck { services: summary.services }))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
struct CatalogQuery {
    /// Only templates whose id, name, description or category contain this.
    search: Option<String>,
}

/// The app templates this agent can deploy.
#[utoipa::path(get, path = "/v1/catalog", security(("bearer" = [])), params(CatalogQuery), responses(
    (status = 200, body = [appos_proto::CatalogEntry]), (status = 401, body = Problem),
))]
async fn list_catalog(State(state): State<Shared>, ApiQuery(q): ApiQuery<CatalogQuery>) -> Json<Vec<appos_proto::CatalogEntry>> {
    Json(state.catalog.get().list(q.search.as_deref()))
}

/// Pulls the catalog's git source (if one is configured) and reads every
/// source again.
#[utoipa::path(post, path = "/v1/catalog/refresh", security(("bearer" = [])), responses(
    (status = 200, body = appos_proto::CatalogRefreshed), (status = 401, body = Problem),
))]
async fn refresh_catalog(State(state): State<Shared>) -> Json<appos_proto::CatalogRefreshed> {
    Json(state.catalog.refresh().await)
}

/// One template.
#[utoipa::path(get, path = "/v1/catalog/{id}", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = appos_proto::CatalogEntry), (status = 401, body = Problem), (status = 404, body = Problem),
))]
async fn get_catalog_entry(State(state): State<Shared>, Path(id): Path<String>) -> Result<Json<appos_proto::CatalogEntry>, ApiError> {
    state
        .catalog
        .get()
        .get(&id)
        .map(|t| Json(t.entry.clone()))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "template_not_found", "No such template", Some(id)))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
struct DeploymentsQuery {
    /// Only this app's deployments.
    app: Option<String>,
}

/// Checks a compose file and `.env` for app `name` (plus `errors` already
/// found; bind mounts the app may keep are `also_allowed` besides its
/// recorded ones), then lets the compose tool check them in a staging
/// directory. Returns that directory and what the file holds. Nothing else
/// is written; on any error the staging directory is gone and the error
/// lists every problem.
pub(crate) async fn check_files(
    state: &Shared,
    name: &str,
    compose: &str,
    env: &std::collections::BTreeMap<String, String>,
    also_allowed: &[String],
    mut errors: Vec<FieldError>,
) -> Result<(std::path::PathBuf, crate::compose::ComposeSummary), ApiError> {
    errors.extend(crate::compose::check_env(env));
    let n = name.to_string();
    let mut allowed = db(state, move |db| crate::deploy::store::bind_allow(db, &n)).await?;
    allowed.extend_from_slice(also_allowed);
    let summary = match crate::compose::inspect_allowing(compose, &allowed) {
        Ok(s) if errors.is_empty() => s,
        Ok(_) => return Err(ApiError::invalid(errors)),
        Err(e) => {
            errors.extend(e);
            return Err(ApiError::invalid(errors));
        }
    };
    let staging = state.config.apps_dir().join(format!(".staging-{:016x}", rand::random::<u64>()));
    crate::deploy::write_app_files(&staging, compose, env).map_err(ApiError::internal)?;
    let argv = crate::compose::command(&state.compose.command, name, &staging, &["config", "-q"]);
    if let Err(out) = crate::compose::run(&argv, &staging).await {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(ApiError::invalid(vec![FieldError { field: "compose".into(), message: format!("the compose tool refused the file: {out}") }]));
    }
    Ok((staging, summary))
}

/// Records a deployment of `version` and queues it.
pub(crate) async fn queue_deployment(state: &Shared, app: &str, version: u32, op: appos_proto::Operation, remove_volumes: bool) -> Result<String, ApiError> {
    let id = crate::queue::new_id(crate::deploy::now_ms());
    let (i, a) = (id.clone(), app.to_string());
    db(state, move |db| crate::deploy::store::insert(db, &i, &a, version, op, remove_volumes, crate::deploy::now_ms())).await?;
    enqueue_deployment(state, &id, app, op).await?;
    Ok(id)
}

/// Queues the task of a recorded deployment (same id), wakes a worker and
/// announces the deployment on the event stream.
async fn enqueue_deployment(state: &Shared, id: &str, app: &str, op: appos_proto::Operation) -> Result<(), ApiError> {
    let task = crate::queue::NewTask {
        kind: op.as_str().into(),
        app: Some(app.to_string()),
        payload: serde_json::json!({ "deployment_id": id }),
        max_attempts: 3,
    };
    crate::queue::Queue::enqueue_with_id(&state.queue, id, task).await.map_err(ApiError::internal)?;
    state.queue_wakeup.notify_waiters();
    crate::deploy::emit(state, id).await;
    Ok(())
}

/// Whether AppOS manages an app of this name.
pub(crate) async fn app_known(state: &Shared, name: &str) -> Result<bool, ApiError> {
    let n = name.to_string();
    let count: i64 = db(state, move |db| db.conn().query_row("SELECT COUNT(*) FROM apps WHERE name = ?1", [n], |r| r.get(0))).await?;
    Ok(count > 0)
}

/// Recent deployments, newest first.
#[utoipa::path(get, path = "/v1/deployments", security(("bearer" = [])), params(DeploymentsQuery), responses(
    (status = 200, body = [Deployment]),
    (status = 401, body = Problem),
))]
async fn list_deployments(State(state): State<Shared>, ApiQuery(q): ApiQuery<DeploymentsQuery>) -> Result<Json<Vec<Deployment>>, ApiError> {
    Ok(Json(db(&state, move |db| crate::deploy::store::list(db, q.app.as_deref(), 200)).await?))
}

pub(crate) async fn find_deployment(state: &Shared, id: String) -> Result<Deployment, ApiError> {
    let i = id.clone();
    db(state, move |db| crate::deploy::store::get(db, &i))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "deployment_not_found", "No such deployment", Some(id)))
}

/// A deployment with its steps.
#[utoipa::path(get, path = "/v1/deployments/{id}", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Deployment),
    (status = 401, body = Problem),
    (status = 404, body = Problem),
))]
async fn get_deployment(State(state): State<Shared>, Path(id): Path<String>) -> Result<Json<Deployment>, ApiError> {
    Ok(Json(find_deployment(&state, id).await?))
}

/// The deployment's log as JSON lines: what is stored, then new lines as
/// they come, until the deployment ends.
#[utoipa::path(get, path = "/v1/deployments/{id}/log", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, description = "One LogLine JSON object per line", content_type = "application/x-ndjson", body = LogLine),
    (status = 401, body = Problem),
    (status = 404, body = Problem),
))]
async fn deployment_log(State(state): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    find_deployment(&state, id.clone()).await?;
    let stream = futures_util::stream::unfold((state, id, 0u64, false), |(state, id, after, done)| async move {
        if done {
            return None;
        }
        loop {
            let (i, a) = (id.clone(), after);
            let lines = match db(&state, move |db| crate::deploy::store::log_after(db, &i, a)).await {
                Ok(l) => l,
                Err(_) => return None,
            };
            if !lines.is_empty() {
                let next = lines.last().map(|l| l.seq).unwrap_or(after);
                let mut chunk = String::new();
                for l in &lines {
                    chunk.push_str(&serde_json::to_string(l).unwrap_or_default());
                    chunk.push('\n');
                }
                return Some((Ok::<_, std::convert::Infallible>(chunk), (state, id, next, false)));
            }
            let i = id.clone();
            let finished = matches!(db(&state, move |db| crate::deploy::store::get(db, &i)).await, Ok(Some(d)) if d.state.is_terminal());
            if finished {
                // One last look: lines written just before the end.
                let (i, a) = (id.clone(), after);
                let tail = db(&state, move |db| crate::deploy::store::log_after(db, &i, a)).await.unwrap_or_default();
                if tail.is_empty() {
                    return None;
                }
                let next = tail.last().map(|l| l.seq).unwrap_or(after);
                let chunk: String = tail.iter().map(|l| format!("{}\n", serde_json::to_string(l).unwrap_or_default())).collect();
                return Some((Ok(chunk), (state, id, next, false)));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    let mut resp = Response::new(axum::body::Body::from_stream(stream));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    Ok(resp)
}

/// Cancels a deployment: a queued one at once, a running one at its next step.
#[utoipa::path(post, path = "/v1/deployments/{id}/cancel", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Deployment),
    (status = 401, body = Problem),
    (status = 404, body = Problem),
))]
async fn cancel_deployment(State(state): State<Shared>, Path(id): Path<String>) -> Result<Json<Deployment>, ApiError> {
    let d = find_deployment(&state, id.clone()).await?;
    if d.state.is_terminal() {
        return Ok(Json(d));
    }
    match crate::queue::Queue::cancel(&state.queue, &id).await {
        Ok(crate::queue::TaskState::Cancelled) => {
            let i = id.clone();
            db(&state, move |db| crate::deploy::store::set_state(db, &i, appos_proto::DeploymentState::Cancelled, Some("cancelled before it started"), None)).await?;
        }
        Ok(_) => {}
        Err(crate::queue::QueueError::NotFound(_)) => {}
        Err(e) => return Err(ApiError::internal(e)),
    }
    Ok(Json(find_deployment(&state, id).await?))
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
    paths(
        health, info, list_apps, get_app, deploy_app, crate::adopt::adopt, check_compose, list_catalog, refresh_catalog, get_catalog_entry, crate::events::stream, list_deployments, get_deployment, deployment_log, cancel_deployment,
        crate::versions::list, crate::versions::show, crate::versions::diff, crate::versions::create, crate::versions::rollback,
        crate::versions::redeploy, crate::versions::action, crate::versions::delete, crate::logs::logs,
        crate::terminals::routes::open, crate::terminals::routes::list, crate::terminals::routes::attach, crate::terminals::routes::kill,
    ),
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
