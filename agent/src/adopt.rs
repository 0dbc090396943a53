//! Adopting a compose project started outside AppOS: its compose files,
//! found through the labels on its containers, become version 1 of an app.
//!
//! The files are merged by the compose tool itself (`config
//! --no-interpolate`, so `${VARS}` stay and the project's `.env` is copied
//! as the app's `.env`), which also turns relative bind mounts into absolute
//! paths in the project's directory. Those bind mounts, and only those, are
//! recorded as allowed for this app: later versions may keep them, but may
//! not add new mounts outside the app's directory. The containers are left
//! running; the next deployment recreates them from the app's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use appos_proto::{AdoptRequest, FieldError, VersionSaved};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use rusqlite::params;

use crate::api::{app_known, check_files, db, valid_app_name, ApiError, ApiJson, Shared};
use crate::tokens::Principal;

fn refuse(code: &str, detail: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, "Cannot adopt this project", Some(detail))
}

/// Reads the `.env` a compose project interpolates from, if it has one.
fn read_project_env(dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let path = dir.join(".env");
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let mut env = BTreeMap::new();
    for item in dotenvy::from_path_iter(&path).map_err(|e| format!("reading {}: {e}", path.display()))? {
        let (k, v) = item.map_err(|e| format!("parsing {}: {e}", path.display()))?;
        env.insert(k, v);
    }
    Ok(env)
}

/// Makes a compose project started outside AppOS an app: its merged compose
/// files and `.env` become version 1. Nothing is restarted.
#[utoipa::path(post, path = "/v1/apps/adopt", security(("bearer" = [])), request_body = AdoptRequest, responses(
    (status = 201, body = VersionSaved),
    (status = 400, body = appos_proto::Problem, description = "Not a valid project name, or its files break AppOS's rules"),
    (status = 401, body = appos_proto::Problem),
    (status = 404, body = appos_proto::Problem, description = "No compose project of that name runs here"),
    (status = 409, body = appos_proto::Problem, description = "Already an app, or its compose files cannot be read"),
))]
pub async fn adopt(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<AdoptRequest>,
) -> Result<(StatusCode, Json<VersionSaved>), ApiError> {
    let name = req.project;
    if !valid_app_name(&name) {
        return Err(ApiError::invalid(vec![FieldError { field: "project".into(), message: "project names match ^[a-z0-9][a-z0-9_-]{0,62}$".into() }]));
    }
    let dir = crate::compose::app_dir(&state.config.apps_dir(), &name);
    if app_known(&state, &name).await? || dir.exists() {
        return Err(ApiError::conflict("app_exists", format!("AppOS already manages an app named {name:?}")));
    }
    let projects = crate::docker::list_apps(&state.docker, &Default::default()).await.map_err(ApiError::docker)?;
    let Some(project) = projects.into_iter().find(|p| p.name == name) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "project_not_found", "No such compose project", Some(format!("no containers carry com.docker.compose.project={name}"))));
    };
    let Some(workdir) = project.working_dir.clone().map(PathBuf::from) else {
        return Err(refuse("no_compose_files", format!("{name}'s containers do not say which directory the project was started from")));
    };
    if project.config_files.is_empty() {
        return Err(refuse("no_compose_files", format!("{name}'s containers do not say which compose files started them")));
    }
    // docker-compose v1 records them relative to the project directory.
    let files: Vec<PathBuf> = project.config_files.iter().map(|f| workdir.join(f)).collect();
    for f in &files {
        if let Err(e) = std::fs::metadata(f) {
            return Err(refuse(
                "compose_files_unreadable",
                format!("cannot read {} ({e}); an agent in a container sees only directories mounted at the same path", f.display()),
            ));
        }
    }

    // The compose tool merges the files and resolves relative paths.
    let mut argv: Vec<String> = state.compose.command.clone();
    argv.extend(["-p".into(), name.clone()]);
    for f in &files {
        argv.extend(["-f".into(), f.display().to_string()]);
    }
    argv.extend(["--project-directory".into(), workdir.display().to_string(), "config".into(), "--no-interpolate".into()]);
    let compose = crate::compose::run_stdout(&argv, &workdir)
        .await
        .map_err(|out| refuse("compose_files_invalid", format!("the compose tool cannot read {name}'s files: {out}")))?;
    let env = read_project_env(&workdir).map_err(|e| refuse("compose_files_unreadable", e))?;

    // Its own bind mounts stay allowed; everything else is checked like a deploy.
    let allowed = crate::compose::bind_sources(&compose);
    let (staging, summary) = check_files(&state, &name, &compose, &env, &allowed, Vec::new()).await?;
    if let Err(e) = std::fs::rename(&staging, &dir) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(ApiError::conflict("app_exists", format!("cannot create {}: {e}", dir.display())));
    }
    let digests = crate::deploy::image_digests(&state, &summary.services).await;

    let env_json = serde_json::to_string(&env).map_err(ApiError::internal)?;
    let allowed_json = serde_json::to_string(&allowed).map_err(ApiError::internal)?;
    let digests_json = serde_json::to_string(&digests).map_err(ApiError::internal)?;
    let message = format!("adopted from {}", workdir.display());
    let (n, author) = (name.clone(), who.name.clone());
    let inserted = db(&state, move |db| {
        let mut c = db.conn();
        let tx = c.transaction()?;
        let now = crate::unix_now();
        tx.execute("INSERT INTO apps (name, created_at, origin, bind_allow) VALUES (?1, ?2, 'adopted', ?3)", params![n, now, allowed_json])?;
        tx.execute(
            "INSERT INTO app_versions (app, version, compose, env, author, message, created_at, digests) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![n, compose, env_json, author, message, now, digests_json],
        )?;
        tx.execute("INSERT INTO audit (at, actor, action, detail) VALUES (?1, ?2, 'app.adopt', ?3)", params![now, author, n])?;
        tx.commit()
    })
    .await;
    if let Err(e) = inserted {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    tracing::info!(app = %name, from = %workdir.display(), "adopted");
    Ok((StatusCode::CREATED, Json(VersionSaved { app: name, version: 1, deployment_id: None })))
}
