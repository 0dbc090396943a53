//! Apps: the list (AppOS's own apps plus every compose project Docker
//! knows), one app, checking a compose file, and deploying a new app.

use std::collections::BTreeMap;
use std::path::PathBuf;

use appos_proto::{App, AppName, ComposeCheck, ComposeCheckRequest, DeployAccepted, DeployRequest, FieldError, Operation, ProblemCode};

use crate::core::compose::ComposeSummary;
use crate::error::{AgentError, Result};
use crate::infra::db::{self, apps as store};
use crate::infra::{compose, docker};
use crate::services::tokens::Principal;
use crate::state::Shared;

/// Longest message a version may carry.
pub const MAX_MESSAGE: usize = 1000;

/// Every app: those AppOS manages (with their latest deployment, with or
/// without containers) and every compose project Docker knows.
pub async fn list(state: &Shared) -> Result<Vec<App>> {
    let (managed, latest) = db::call(&state.db, |db| Ok((store::names(db)?, db::deployments::latest_by_app(db)?))).await?;
    let projects = docker::projects(&state.docker).await.map_err(AgentError::docker)?;
    Ok(crate::core::apps::list(projects, &managed, &latest))
}

pub async fn get(state: &Shared, app: &AppName) -> Result<App> {
    list(state)
        .await?
        .into_iter()
        .find(|a| a.name == app.as_str())
        .ok_or_else(|| AgentError::refused(ProblemCode::AppNotFound, format!("no app or compose project is named {app:?}")))
}

/// Whether AppOS manages an app of this name.
pub async fn is_managed(state: &Shared, app: &AppName) -> Result<bool> {
    let a = app.to_string();
    Ok(db::call(&state.db, move |db| store::exists(db, &a)).await?)
}

/// Fails unless AppOS manages `app`: 409 when Docker runs a project of that
/// name (it can be adopted), 404 when nothing is known of it.
pub async fn ensure_managed(state: &Shared, app: &AppName) -> Result<()> {
    if is_managed(state, app).await? {
        return Ok(());
    }
    match docker::project(&state.docker, app).await {
        Ok(Some(_)) => Err(AgentError::refused(
            ProblemCode::AppNotManaged,
            format!("the compose project {app:?} runs here, but AppOS does not manage it; adopt it first"),
        )),
        _ => Err(AgentError::refused(ProblemCode::AppNotFound, format!("AppOS manages no app named {app:?}"))),
    }
}

/// Checks a compose file and `.env` for `app` (plus `errors` already found;
/// bind mounts the app may keep are `also_allowed` besides its recorded
/// ones), then lets the compose tool check them in a staging directory.
/// Returns that directory and what the file holds. Nothing else is written;
/// on any error the staging directory is gone and the error lists every problem.
pub async fn check_files(
    state: &Shared,
    app: &AppName,
    compose_text: &str,
    env: &BTreeMap<String, String>,
    also_allowed: &[String],
    mut errors: Vec<FieldError>,
) -> Result<(PathBuf, ComposeSummary)> {
    errors.extend(crate::core::compose::check_env(env));
    let a = app.to_string();
    let mut allowed = db::call(&state.db, move |db| store::bind_allow(db, &a)).await?;
    allowed.extend_from_slice(also_allowed);
    let summary = match crate::core::compose::inspect_allowing(compose_text, &allowed) {
        Ok(s) if errors.is_empty() => s,
        Ok(_) => return Err(AgentError::Invalid(errors)),
        Err(e) => {
            errors.extend(e);
            return Err(AgentError::Invalid(errors));
        }
    };
    let staging = state.config.apps_dir().join(format!(".staging-{:016x}", rand::random::<u64>()));
    compose::write_app_files(&staging, compose_text, env).map_err(AgentError::internal)?;
    let argv = compose::command(&state.compose.command, app, &staging, &["config", "-q"]);
    if let Err(out) = compose::run(&argv, &staging).await {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(AgentError::invalid("compose", format!("the compose tool refused the file: {out}")));
    }
    Ok((staging, summary))
}

/// Every check of a deploy on a compose file; nothing is written.
pub async fn check(state: &Shared, req: ComposeCheckRequest) -> Result<ComposeCheck> {
    let env = match req.env {
        Some(e) => e,
        None => {
            let n = req.name.to_string();
            db::call(&state.db, move |db| db::versions::latest(db, &n)).await?.map(|v| v.env).unwrap_or_default()
        }
    };
    let (staging, summary) = check_files(state, &req.name, &req.compose, &env, &[], Vec::new()).await?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(ComposeCheck { services: summary.services })
}

/// Deploys a new app from a compose file or a catalog template. Everything
/// is checked before anything is written; then version 1 and its deployment
/// are recorded and the deployment queued.
pub async fn deploy(state: &Shared, who: &Principal, mut req: DeployRequest) -> Result<DeployAccepted> {
    let mut errors = Vec::new();
    if req.message.as_ref().is_some_and(|m| m.len() > MAX_MESSAGE) {
        errors.push(FieldError::new("message", format!("at most {MAX_MESSAGE} characters")));
    }
    // A catalog template renders to a compose file and an .env.
    let mut generated = BTreeMap::new();
    if let Some(cat) = req.catalog.take() {
        if !req.compose.is_empty() {
            errors.push(FieldError::new("compose", "give a compose file or a catalog template, not both"));
        }
        let catalog = state.catalog.get();
        match catalog.get(&cat.id) {
            None => errors.push(FieldError::new("catalog.id", format!("no template {:?} in the catalog", cat.id))),
            Some(t) => match crate::services::catalog::render(t, &cat.params) {
                Ok(r) => {
                    req.compose = r.compose;
                    req.env.extend(r.env);
                    generated = r.generated;
                }
                Err(e) => errors.extend(e),
            },
        }
        if !errors.is_empty() {
            return Err(AgentError::Invalid(errors));
        }
    }
    let name = req.name.clone();
    let (staging, _) = check_files(state, &name, &req.compose, &req.env, &[], errors).await?;
    let dir = compose::app_dir(&state.config.apps_dir(), &name);
    let taken = if is_managed(state, &name).await? || dir.exists() {
        Some(AgentError::refused(ProblemCode::AppExists, format!("an app named {name:?} exists; change it with a new version instead")))
    } else {
        match docker::project(&state.docker, &name).await {
            Ok(Some(_)) => Some(AgentError::refused(
                ProblemCode::ProjectExists,
                format!("a compose project named {name:?} already runs on this server; adopt it instead"),
            )),
            Ok(None) => None,
            Err(e) => Some(AgentError::docker(e)),
        }
    };
    if let Some(e) = taken {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&staging, &dir) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(AgentError::refused(ProblemCode::AppExists, format!("cannot create {}: {e}", dir.display())));
    }

    let now_ms = state.clock.now_ms();
    let id = crate::infra::queue::new_id(now_ms);
    let (n, i, compose_text, env, author, message) =
        (name.to_string(), id.clone(), req.compose.clone(), req.env.clone(), who.name.clone(), req.message.clone().unwrap_or_default());
    let recorded = db::call(&state.db, move |db| {
        store::insert(
            db,
            store::NewApp {
                name: &n,
                origin: store::Origin::Deployed,
                bind_allow: &[],
                compose: &compose_text,
                env: &env,
                digests: None,
                author: &author,
                message: &message,
                now: now_ms / 1000,
                deployment: Some((&i, now_ms)),
            },
        )
    })
    .await;
    if let Err(e) = recorded {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e.into());
    }
    crate::services::deployments::enqueue(state, &id, &name, Operation::Deploy).await?;
    Ok(DeployAccepted { deployment_id: id, app: name.to_string(), version: 1, generated })
}
