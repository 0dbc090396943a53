//! `/v1/backups`: the repository, backups and restores (queued runs), and
//! the snapshots (admin tokens take and restore backups).

use appos_proto::backups::{
    BackupRequest, BackupRun, BackupSchedule, Repository, RepositoryInfo, RepositoryRequest,
    RestoreRequest, RunAccepted, ScheduleStatus, Snapshot,
};
use appos_proto::Problem;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiPath};
use super::problem::ApiResult;
use crate::services::backups;
use crate::services::tokens::Principal;
use crate::state::Shared;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SnapshotPath {
    /// restic's snapshot id (short or long).
    pub snapshot: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RunPath {
    pub id: String,
}

/// Where backups go, and the agent's SSH public key: the line an SFTP
/// repository's host must accept (made on first use).
#[utoipa::path(get, operation_id = "get_backup_repository", tag = "backups", path = "/backups/repository", security(("bearer" = [])), responses(
    (status = 200, body = RepositoryInfo),
))]
pub async fn repository(State(state): State<Shared>) -> ApiResult<Json<RepositoryInfo>> {
    Ok(Json(backups::repository(&state).await?))
}

/// Sets the restic repository backups go to: opens it with the key given,
/// or creates it (with the key given, or a generated one answered once).
#[utoipa::path(put, operation_id = "set_backup_repository", tag = "backups", path = "/backups/repository", security(("bearer" = [])), request_body = RepositoryRequest, responses(
    (status = 200, body = Repository),
    (status = 409, body = Problem, description = "A repository exists there and no key was given"),
    (status = 502, body = Problem, description = "restic failed"),
))]
pub async fn set_repository(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<RepositoryRequest>,
) -> ApiResult<Json<Repository>> {
    Ok(Json(backups::set_repository(&state, &who, req).await?))
}

/// The snapshots in the repository, newest first.
#[utoipa::path(get, operation_id = "list_snapshots", tag = "backups", path = "/backups", security(("bearer" = [])), responses(
    (status = 200, body = [Snapshot]),
    (status = 409, body = Problem, description = "No repository is set"),
    (status = 502, body = Problem, description = "restic failed"),
))]
pub async fn snapshots(State(state): State<Shared>) -> ApiResult<Json<Vec<Snapshot>>> {
    Ok(Json(backups::snapshots(&state).await?))
}

/// Queues a backup: the agent's state, one app's (or every app's) files and
/// certificates, and with `volumes` their named volumes.
#[utoipa::path(post, operation_id = "create_backup", tag = "backups", path = "/backups", security(("bearer" = [])), request_body = BackupRequest, responses(
    (status = 202, body = RunAccepted),
    (status = 404, body = Problem, description = "No such app"),
    (status = 409, body = Problem, description = "No repository is set"),
))]
pub async fn create(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<BackupRequest>,
) -> ApiResult<(StatusCode, Json<RunAccepted>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(backups::create(&state, &who, req).await?),
    ))
}

/// Queues bringing an app back from a snapshot: its volumes, versions,
/// deployments and domains, then a deployment of its latest version.
#[utoipa::path(post, operation_id = "restore_backup", tag = "backups", path = "/backups/{snapshot}/restore", security(("bearer" = [])), params(SnapshotPath), request_body = RestoreRequest, responses(
    (status = 202, body = RunAccepted),
    (status = 409, body = Problem, description = "The app exists here, or no repository is set"),
))]
pub async fn restore(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<SnapshotPath>,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> ApiResult<(StatusCode, Json<RunAccepted>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(backups::restore(&state, &who, &p.snapshot, req).await?),
    ))
}

/// Backup and restore runs, newest first.
#[utoipa::path(get, operation_id = "list_backup_runs", tag = "backups", path = "/backups/runs", security(("bearer" = [])), responses(
    (status = 200, body = [BackupRun]),
))]
pub async fn runs(State(state): State<Shared>) -> ApiResult<Json<Vec<BackupRun>>> {
    Ok(Json(backups::runs(&state).await?))
}

/// One run, with its log.
#[utoipa::path(get, operation_id = "get_backup_run", tag = "backups", path = "/backups/runs/{id}", security(("bearer" = [])), params(RunPath), responses(
    (status = 200, body = BackupRun),
    (status = 404, body = Problem, description = "No such run"),
))]
pub async fn run(
    State(state): State<Shared>,
    ApiPath(p): ApiPath<RunPath>,
) -> ApiResult<Json<BackupRun>> {
    Ok(Json(backups::run(&state, &p.id).await?))
}

/// The backup schedule, when the last backup succeeded and when the next is due.
#[utoipa::path(get, operation_id = "get_backup_schedule", tag = "backups", path = "/backups/schedule", security(("bearer" = [])), responses(
    (status = 200, body = ScheduleStatus),
))]
pub async fn schedule(State(state): State<Shared>) -> ApiResult<Json<ScheduleStatus>> {
    Ok(Json(backups::schedule(&state).await?))
}

/// Backs every app up on a schedule, keeping the newest `keep` snapshots.
#[utoipa::path(put, operation_id = "set_backup_schedule", tag = "backups", path = "/backups/schedule", security(("bearer" = [])), request_body = BackupSchedule, responses(
    (status = 200, body = ScheduleStatus),
    (status = 409, body = Problem, description = "No repository is set"),
))]
pub async fn set_schedule(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(s): ApiJson<BackupSchedule>,
) -> ApiResult<Json<ScheduleStatus>> {
    Ok(Json(backups::set_schedule(&state, &who, Some(s)).await?))
}

/// Stops scheduled backups (the snapshots stay).
#[utoipa::path(delete, operation_id = "clear_backup_schedule", tag = "backups", path = "/backups/schedule", security(("bearer" = [])), responses(
    (status = 200, body = ScheduleStatus),
))]
pub async fn clear_schedule(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
) -> ApiResult<Json<ScheduleStatus>> {
    Ok(Json(backups::set_schedule(&state, &who, None).await?))
}

/// The snapshot as a tar archive (`restic dump`), to keep off the server.
#[utoipa::path(get, operation_id = "download_backup", tag = "backups", path = "/backups/{snapshot}/archive", security(("bearer" = [])), params(SnapshotPath), responses(
    (status = 200, description = "The snapshot's files as a tar archive, streamed", content_type = "application/x-tar", body = String),
    (status = 404, body = Problem, description = "No such snapshot"),
    (status = 409, body = Problem, description = "No repository is set"),
))]
pub async fn archive(
    State(state): State<Shared>,
    ApiPath(p): ApiPath<SnapshotPath>,
) -> ApiResult<axum::response::Response> {
    use axum::http::{header, HeaderValue};
    let out = backups::archive(&state, &p.snapshot).await?;
    let mut resp = axum::response::Response::new(axum::body::Body::from_stream(
        tokio_util::io::ReaderStream::new(out),
    ));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"appos-{}.tar\"",
        p.snapshot
    )) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
