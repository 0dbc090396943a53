//! App history: every change of an app's compose file or `.env` is a
//! version. Listing, showing, diffing, saving a new one, rolling back to an
//! old one (as a new version with the old content), and redeploying.

use std::collections::BTreeMap;

use appos_proto::{AppVersion, AppVersionDetail, FieldError, Operation, RollbackRequest, SaveVersionRequest, VersionSaved};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rusqlite::{params, OptionalExtension};

use crate::api::{check_files, db, queue_deployment, valid_app_name, ApiError, ApiJson, Shared};
use crate::tokens::Principal;

fn not_found(app: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "app_not_found", "No such app", Some(format!("AppOS does not manage an app named {app:?}")))
}

/// Checks the name and that AppOS manages the app.
async fn managed(state: &Shared, app: &str) -> Result<(), ApiError> {
    if !valid_app_name(app) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_app_name", "Not a valid app name", None));
    }
    if !crate::api::app_known(state, app).await? {
        return Err(not_found(app));
    }
    Ok(())
}

struct Row {
    meta: AppVersion,
    compose: String,
    env: BTreeMap<String, String>,
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let env: String = r.get(6)?;
    let digests: Option<String> = r.get(7)?;
    Ok(Row {
        meta: AppVersion {
            version: r.get(0)?,
            author: r.get(1)?,
            message: r.get(2)?,
            created_at: r.get(3)?,
            digests: digests.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or_default(),
        },
        compose: r.get(5)?,
        env: serde_json::from_str(&env).unwrap_or_default(),
    })
}

const SELECT: &str = "SELECT version, author, message, created_at, app, compose, env, digests FROM app_versions";

async fn version(state: &Shared, app: &str, v: u32) -> Result<Row, ApiError> {
    let a = app.to_string();
    db(state, move |db| db.conn().query_row(&format!("{SELECT} WHERE app = ?1 AND version = ?2"), params![a, v], read_row).optional())
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "version_not_found", "No such version", Some(format!("{app} has no version {v}"))))
}

async fn latest(state: &Shared, app: &str) -> Result<Row, ApiError> {
    let a = app.to_string();
    db(state, move |db| db.conn().query_row(&format!("{SELECT} WHERE app = ?1 ORDER BY version DESC LIMIT 1"), params![a], read_row).optional())
        .await?
        .ok_or_else(|| not_found(app))
}

/// The versions of an app, newest first.
#[utoipa::path(get, path = "/v1/apps/{app}/versions", security(("bearer" = [])), params(("app" = String, Path)), responses(
    (status = 200, body = [AppVersion]), (status = 401, body = appos_proto::Problem), (status = 404, body = appos_proto::Problem),
))]
pub async fn list(State(state): State<Shared>, Path(app): Path<String>) -> Result<Json<Vec<AppVersion>>, ApiError> {
    managed(&state, &app).await?;
    let rows = db(&state, move |db| {
        let c = db.conn();
        let mut stmt = c.prepare(&format!("{SELECT} WHERE app = ?1 ORDER BY version DESC"))?;
        let rows = stmt.query_map(params![app], read_row)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    })
    .await?;
    Ok(Json(rows.into_iter().map(|r| r.meta).collect()))
}

/// One version with its compose file and the names of its `.env` variables.
#[utoipa::path(get, path = "/v1/apps/{app}/versions/{version}", security(("bearer" = [])),
    params(("app" = String, Path), ("version" = u32, Path)), responses(
    (status = 200, body = AppVersionDetail), (status = 401, body = appos_proto::Problem), (status = 404, body = appos_proto::Problem),
))]
pub async fn show(State(state): State<Shared>, Path((app, v)): Path<(String, u32)>) -> Result<Json<AppVersionDetail>, ApiError> {
    managed(&state, &app).await?;
    let r = version(&state, &app, v).await?;
    Ok(Json(AppVersionDetail { version: r.meta, compose: r.compose, env_keys: r.env.keys().cloned().collect() }))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct DiffQuery {
    from: u32,
    to: u32,
}

/// A unified diff between two versions: the compose file, then the `.env`
/// (values shown only as changed or not: they are secrets).
#[utoipa::path(get, path = "/v1/apps/{app}/diff", security(("bearer" = [])), params(("app" = String, Path), DiffQuery), responses(
    (status = 200, description = "Unified diff", content_type = "text/plain", body = String),
    (status = 401, body = appos_proto::Problem), (status = 404, body = appos_proto::Problem),
))]
pub async fn diff(State(state): State<Shared>, Path(app): Path<String>, crate::api::ApiQuery(q): crate::api::ApiQuery<DiffQuery>) -> Result<Response, ApiError> {
    managed(&state, &app).await?;
    let (a, b) = (version(&state, &app, q.from).await?, version(&state, &app, q.to).await?);
    let mut out = similar::TextDiff::from_lines(&a.compose, &b.compose)
        .unified_diff()
        .context_radius(3)
        .header(&format!("v{}/compose.yml", q.from), &format!("v{}/compose.yml", q.to))
        .to_string();
    let env_line = |env: &BTreeMap<String, String>, k: &str, other: &BTreeMap<String, String>| {
        let changed = env.get(k) != other.get(k);
        format!("{k}={}\n", if changed && other.contains_key(k) { "(changed)" } else { "…" })
    };
    let ea: String = a.env.keys().map(|k| env_line(&a.env, k, &b.env)).collect();
    let eb: String = b.env.keys().map(|k| env_line(&b.env, k, &a.env)).collect();
    out.push_str(
        &similar::TextDiff::from_lines(&ea, &eb)
            .unified_diff()
            .header(&format!("v{}/.env", q.from), &format!("v{}/.env", q.to))
            .to_string(),
    );
    let mut resp = out.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(resp)
}

async fn save(state: &Shared, app: &str, who: &Principal, compose: String, env: BTreeMap<String, String>, message: String, deploy: bool) -> Result<VersionSaved, ApiError> {
    let mut errors = Vec::new();
    if message.len() > 1000 {
        errors.push(FieldError { field: "message".into(), message: "at most 1000 characters".into() });
    }
    let (staging, _) = check_files(state, app, &compose, &env, &[], errors).await?;
    let _ = std::fs::remove_dir_all(&staging);
    let env_json = serde_json::to_string(&env).map_err(ApiError::internal)?;
    let (a, author) = (app.to_string(), who.name.clone());
    let v: u32 = db(state, move |db| {
        let mut c = db.conn();
        let tx = c.transaction()?;
        let v: u32 = tx.query_row("SELECT COALESCE(MAX(version), 0) + 1 FROM app_versions WHERE app = ?1", params![a], |r| r.get(0))?;
        let now = crate::unix_now();
        tx.execute(
            "INSERT INTO app_versions (app, version, compose, env, author, message, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![a, v, compose, env_json, author, message, now],
        )?;
        tx.execute("INSERT INTO audit (at, actor, action, detail) VALUES (?1, ?2, 'app.version', ?3)", params![now, author, format!("{a} v{v}")])?;
        tx.commit()?;
        Ok(v)
    })
    .await?;
    let deployment_id = if deploy { Some(queue_deployment(state, app, v, Operation::Deploy, false).await?) } else { None };
    Ok(VersionSaved { app: app.to_string(), version: v, deployment_id })
}

/// Saves a new version (checked like a deploy), and deploys it if asked.
#[utoipa::path(post, path = "/v1/apps/{app}/versions", security(("bearer" = [])), params(("app" = String, Path)), request_body = SaveVersionRequest, responses(
    (status = 201, body = VersionSaved), (status = 400, body = appos_proto::Problem), (status = 401, body = appos_proto::Problem), (status = 404, body = appos_proto::Problem),
))]
pub async fn create(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(app): Path<String>,
    ApiJson(req): ApiJson<SaveVersionRequest>,
) -> Result<(StatusCode, Json<VersionSaved>), ApiError> {
    managed(&state, &app).await?;
    let env = match req.env {
        Some(e) => e,
        None => latest(&state, &app).await?.env,
    };
    let saved = save(&state, &app, &who, req.compose, env, req.message.unwrap_or_default(), req.deploy).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Rolls back to version N: its compose file and `.env` become a new version,
/// which is deployed. With `pin_digests`, each image is replaced by the
/// digest version N ran with.
#[utoipa::path(post, path = "/v1/apps/{app}/rollback", security(("bearer" = [])), params(("app" = String, Path)), request_body = RollbackRequest, responses(
    (status = 202, body = VersionSaved), (status = 401, body = appos_proto::Problem), (status = 404, body = appos_proto::Problem),
    (status = 409, body = appos_proto::Problem, description = "Pinning asked, but no digests are recorded for that version"),
))]
pub async fn rollback(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(app): Path<String>,
    ApiJson(req): ApiJson<RollbackRequest>,
) -> Result<(StatusCode, Json<VersionSaved>), ApiError> {
    managed(&state, &app).await?;
    let old = version(&state, &app, req.version).await?;
    let (compose, message) = if req.pin_digests {
        if old.meta.digests.is_empty() {
            return Err(ApiError::conflict(
                "no_digests",
                format!("version {} never ran to the end, so no image digests are recorded for it; roll back without pinning", req.version),
            ));
        }
        let pinned = crate::compose::pin_images(&old.compose, &old.meta.digests).map_err(|e| ApiError::conflict("no_digests", e))?;
        (pinned, format!("rollback to version {}, images pinned to their recorded digests", req.version))
    } else {
        (old.compose, format!("rollback to version {}", req.version))
    };
    let saved = save(&state, &app, &who, compose, old.env, message, true).await?;
    Ok((StatusCode::ACCEPTED, Json(saved)))
}

/// Deploys the latest version again (e.g. after a failed deployment).
#[utoipa::path(post, path = "/v1/apps/{app}/redeploy", security(("bearer" = [])), params(("app" = String, Path)), responses(
    (status = 202, body = VersionSaved), (status = 401, body = appos_proto::Problem), (status = 404, body = appos_proto::Problem),
))]
pub async fn redeploy(State(state): State<Shared>, Path(app): Path<String>) -> Result<(StatusCode, Json<VersionSaved>), ApiError> {
    managed(&state, &app).await?;
    let v = latest(&state, &app).await?.meta.version;
    let id = queue_deployment(&state, &app, v, Operation::Deploy, false).await?;
    Ok((StatusCode::ACCEPTED, Json(VersionSaved { app, version: v, deployment_id: Some(id) })))
}

/// `start`, `stop`, `restart` or `update` (pull newer images, recreate), queued like a deployment.
#[utoipa::path(post, path = "/v1/apps/{app}/{action}", security(("bearer" = [])),
    params(("app" = String, Path), ("action" = String, Path, description = "start, stop, restart or update")), responses(
    (status = 202, body = appos_proto::Deployment), (status = 401, body = appos_proto::Problem), (status = 404, body = appos_proto::Problem),
))]
pub async fn action(State(state): State<Shared>, Path((app, action)): Path<(String, String)>) -> Result<(StatusCode, Json<appos_proto::Deployment>), ApiError> {
    let op = match Operation::parse(&action) {
        Some(op @ (Operation::Start | Operation::Stop | Operation::Restart | Operation::Update)) => op,
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such action", Some(format!("{action:?}: use start, stop, restart or update")))),
    };
    managed(&state, &app).await?;
    let v = latest(&state, &app).await?.meta.version;
    let id = queue_deployment(&state, &app, v, op, false).await?;
    Ok((StatusCode::ACCEPTED, Json(crate::api::find_deployment(&state, id).await?)))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct DeleteQuery {
    /// Also remove the app's volumes (its data).
    #[serde(default)]
    volumes: bool,
}

/// Takes the app down and forgets it; its volumes are kept unless `volumes=true`.
#[utoipa::path(delete, path = "/v1/apps/{app}", security(("bearer" = [])), params(("app" = String, Path), DeleteQuery), responses(
    (status = 202, body = appos_proto::Deployment), (status = 401, body = appos_proto::Problem), (status = 404, body = appos_proto::Problem),
))]
pub async fn delete(State(state): State<Shared>, Path(app): Path<String>, crate::api::ApiQuery(q): crate::api::ApiQuery<DeleteQuery>) -> Result<(StatusCode, Json<appos_proto::Deployment>), ApiError> {
    managed(&state, &app).await?;
    let v = latest(&state, &app).await?.meta.version;
    let id = queue_deployment(&state, &app, v, Operation::Delete, q.volumes).await?;
    Ok((StatusCode::ACCEPTED, Json(crate::api::find_deployment(&state, id).await?)))
}
