//! Adopting a compose project started outside AppOS: its compose files,
//! found through the labels on its containers, become version 1 of an app.
//!
//! The files are merged by the compose tool itself (`config
//! --no-interpolate`, so `${VARS}` stay and the project's `.env` is copied
//! as the app's `.env`), which also turns relative bind mounts into absolute
//! paths in the project's directory. The host access the stack has is
//! recorded as granted to version 1: later versions may keep it, and need
//! consent for more. The containers are left running; the next deployment
//! recreates them from the app's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use appos_proto::{AdoptRequest, ProblemCode, VersionSaved};

use crate::error::{AgentError, Result};
use crate::infra::db::{self, apps as store};
use crate::infra::{compose, docker};
use crate::services::tokens::Principal;
use crate::state::Shared;

fn refuse(detail: String) -> AgentError {
    AgentError::refused(ProblemCode::CannotAdopt, detail)
}

/// Reads the `.env` a compose project interpolates from, if it has one.
fn read_project_env(dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let path = dir.join(".env");
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let mut env = BTreeMap::new();
    for item in
        dotenvy::from_path_iter(&path).map_err(|e| format!("reading {}: {e}", path.display()))?
    {
        let (k, v) = item.map_err(|e| format!("parsing {}: {e}", path.display()))?;
        env.insert(k, v);
    }
    Ok(env)
}

/// Makes a compose project started outside AppOS an app: its merged compose
/// files and `.env` become version 1. Nothing is restarted.
pub async fn adopt(state: &Shared, who: &Principal, req: AdoptRequest) -> Result<VersionSaved> {
    let name = req.project;
    let dir = compose::app_dir(&state.config.apps_dir(), &name);
    if crate::services::apps::is_managed(state, &name).await? || dir.exists() {
        return Err(AgentError::refused(
            ProblemCode::AppExists,
            format!("AppOS already manages an app named {name:?}"),
        ));
    }
    let Some(project) = docker::project(&state.docker, &name)
        .await
        .map_err(AgentError::docker)?
    else {
        return Err(AgentError::refused(
            ProblemCode::ProjectNotFound,
            format!("no containers carry com.docker.compose.project={name}"),
        ));
    };
    let Some(workdir) = project.working_dir.clone().map(PathBuf::from) else {
        return Err(refuse(format!(
            "{name}'s containers do not say which directory the project was started from"
        )));
    };
    if project.config_files.is_empty() {
        return Err(refuse(format!(
            "{name}'s containers do not say which compose files started them"
        )));
    }
    // docker-compose v1 records them relative to the project directory.
    let files: Vec<PathBuf> = project
        .config_files
        .iter()
        .map(|f| workdir.join(f))
        .collect();
    for f in &files {
        if let Err(e) = std::fs::metadata(f) {
            return Err(refuse(format!("cannot read {} ({e}); an agent in a container sees only directories mounted at the same path", f.display())));
        }
    }

    // The compose tool merges the files and resolves relative paths.
    let argv =
        compose::merged_config_command(&state.compose().await.command, &name, &files, &workdir);
    let compose_text = compose::run_stdout(&argv, &workdir).await.map_err(|out| {
        refuse(format!(
            "the compose tool cannot read {name}'s files: {out}"
        ))
    })?;
    let env = read_project_env(&workdir).map_err(refuse)?;

    // Checked like a deploy; the host access it already has is granted as
    // it stands (by an admin: what runs already reaches the host).
    let checked = crate::services::apps::check_files(
        state,
        &name,
        &compose_text,
        &env,
        crate::services::apps::Files::Checked(Vec::new()),
        Vec::new(),
    )
    .await?;
    let held: Vec<_> = checked.needs.iter().map(|n| n.access.clone()).collect();
    crate::services::apps::consent(who, &checked.needs, &held, &[])?;
    let host_access = checked.host_access();
    let services = checked.summary.services.clone();
    if let Err(e) = checked.install(&dir) {
        return Err(AgentError::refused(
            ProblemCode::AppExists,
            format!("cannot create {}: {e}", dir.display()),
        ));
    }
    let digests = crate::services::tasks::deploy::image_digests(&state.docker, &services).await;

    let message = format!("adopted from {}", workdir.display());
    let (n, author, now) = (name.to_string(), who.name.clone(), state.clock.now());
    let inserted = db::call(&state.db, move |db| {
        store::insert(
            db,
            store::NewApp {
                name: &n,
                origin: store::Origin::Adopted,
                host_access: &host_access,
                files: &[],
                compose: &compose_text,
                env: &env,
                digests: Some(&digests),
                author: &author,
                message: &message,
                now,
                deployment: None,
            },
        )
    })
    .await;
    if let Err(e) = inserted {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e.into());
    }
    tracing::info!(app = %name, from = %workdir.display(), "adopted");
    Ok(VersionSaved {
        app: name.to_string(),
        version: 1,
        deployment_id: None,
    })
}
