//! Apps: the list (AppOS's own apps plus every compose project Docker
//! knows), one app, checking a compose file, and deploying a new app.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use appos_proto::{
    App, AppName, CatalogDeploy, ComposeCheck, ComposeCheckRequest, DeployAccepted, DeployRequest,
    FieldError, HostAccess, HostAccessNeed, Operation, ProblemCode, TokenScope,
};

use crate::core::appfiles::File;
use crate::core::compose::ComposeSummary;
use crate::core::host_access::{self, Layout, Need};
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
    let (managed, latest) = db::call(&state.db, |db| {
        Ok((store::names(db)?, db::deployments::latest_by_app(db)?))
    })
    .await?;
    let projects = state
        .inventory
        .projects(&state.docker)
        .await
        .map_err(AgentError::docker)?;
    Ok(crate::core::apps::list(
        projects.as_ref().clone(),
        &managed,
        &latest,
    ))
}

pub async fn get(state: &Shared, app: &AppName) -> Result<App> {
    list(state)
        .await?
        .into_iter()
        .find(|a| a.name == app.as_str())
        .ok_or_else(|| {
            AgentError::refused(
                ProblemCode::AppNotFound,
                format!("no app or compose project is named {app:?}"),
            )
        })
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

/// A compose file and `.env` that passed every check, in a staging
/// directory (removed when this is dropped, unless taken).
pub struct Checked {
    staging: Option<PathBuf>,
    pub summary: ComposeSummary,
    /// Every host-reaching capability the resolved file asks for.
    pub needs: Vec<Need>,
    /// The files sent with it.
    pub files: Vec<File>,
}

impl Checked {
    /// Moves the staging directory to `dir`.
    pub fn install(mut self, dir: &Path) -> std::io::Result<()> {
        let staging = self.staging.take().expect("staging");
        std::fs::rename(&staging, dir).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&staging);
        })
    }

    /// The capabilities, sorted, as a version records them.
    pub fn host_access(&self) -> Vec<HostAccess> {
        let mut v: Vec<HostAccess> = self.needs.iter().map(|n| n.access.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

impl Drop for Checked {
    fn drop(&mut self) {
        if let Some(s) = self.staging.take() {
            let _ = std::fs::remove_dir_all(s);
        }
    }
}

/// The copy of a compose file the compose tool resolves, in the staging directory.
const RESOLVE_COPY: &str = ".resolve.yml";

/// How the compose tool on this server reads `.env`.
pub async fn env_syntax(state: &Shared) -> crate::core::compose::EnvSyntax {
    crate::core::compose::EnvSyntax::of(&state.compose().await.version)
}

/// Docker API sockets on the server: the usual paths and the one the agent uses.
fn docker_sockets(state: &Shared) -> Vec<PathBuf> {
    let mut v = vec![
        PathBuf::from("/var/run/docker.sock"),
        PathBuf::from("/run/docker.sock"),
    ];
    if let Some(p) = state
        .config
        .docker_host
        .as_deref()
        .and_then(|h| h.strip_prefix("unix://"))
    {
        v.push(PathBuf::from(p));
    }
    v
}

/// The files that go with a compose file: as a request sent them, or as a
/// version holds them.
pub enum Files {
    Sent(Vec<appos_proto::AppFile>),
    Checked(Vec<File>),
}

/// Checks a compose file and `.env` for `app` (plus `errors` already
/// found): its shape, the files the compose tool would read, then what the
/// tool resolves in a staging directory, judged by the host-access policy.
/// Nothing else is written; on any error the staging directory is gone and
/// the error lists every problem.
pub async fn check_files(
    state: &Shared,
    app: &AppName,
    compose_text: &str,
    env: &BTreeMap<String, String>,
    files: Files,
    mut errors: Vec<FieldError>,
) -> Result<Checked> {
    errors.extend(crate::core::compose::check_env(env));
    let files = match files {
        Files::Sent(sent) => crate::core::appfiles::check(&sent).unwrap_or_else(|e| {
            errors.extend(e);
            Vec::new()
        }),
        Files::Checked(f) => f,
    };
    let summary = match crate::core::compose::inspect(compose_text) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    let staging = state
        .config
        .apps_dir()
        .join(format!(".staging-{:016x}", rand::random::<u64>()));
    let layout = Layout {
        app_dir: staging.clone(),
        also_own: vec![compose::app_dir(&state.config.apps_dir(), app)],
        docker_sockets: docker_sockets(state),
    };
    // The files the tool reads while resolving are judged before it runs.
    let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(compose_text).unwrap_or_default();
    let mut needs = match host_access::file_refs(&raw, &layout) {
        Ok(n) => n,
        Err(e) => {
            errors.extend(e);
            Vec::new()
        }
    };
    let Some(summary) = summary.filter(|_| errors.is_empty()) else {
        return Err(AgentError::Invalid(errors));
    };
    compose::write_app_files(&staging, compose_text, env, env_syntax(state).await)
        .map_err(AgentError::internal)?;
    let mut checked = Checked {
        staging: Some(staging.clone()),
        summary,
        needs: Vec::new(),
        files: Vec::new(),
    };
    crate::infra::appfiles::write(
        &staging,
        files
            .iter()
            .map(|f| (f.path.as_str(), f.bytes.as_slice(), f.executable)),
    )
    .map_err(AgentError::internal)?;
    checked.files = files;
    // The tool resolves a copy without `env_file` (judged above as written),
    // so that it never reads a server file before the policy has judged it.
    let copy = staging.join(RESOLVE_COPY);
    let mut stripped = raw;
    let _ = stripped.apply_merge();
    for svc in stripped
        .get_mut("services")
        .and_then(serde_yaml_ng::Value::as_mapping_mut)
        .into_iter()
        .flat_map(|m| m.values_mut())
    {
        if let Some(m) = svc.as_mapping_mut() {
            m.remove("env_file");
        }
    }
    std::fs::write(
        &copy,
        serde_yaml_ng::to_string(&stripped).map_err(AgentError::internal)?,
    )
    .map_err(AgentError::internal)?;
    let argv = compose::resolve_command(
        &state.compose().await.command,
        app,
        &copy,
        &staging.join(".env"),
    );
    let resolved = compose::run_stdout(&argv, &staging).await;
    let _ = std::fs::remove_file(&copy);
    let resolved = resolved.map_err(|out| {
        AgentError::invalid(
            "compose",
            format!(
                "the compose tool refused the file: {}",
                out.replace(RESOLVE_COPY, "compose.yml")
            ),
        )
    })?;
    let model: serde_yaml_ng::Value = serde_yaml_ng::from_str(&resolved).map_err(|e| {
        AgentError::internal(format!("reading the compose tool's resolved model: {e}"))
    })?;
    for n in host_access::judge(&model, &layout).map_err(AgentError::Invalid)? {
        if !needs.iter().any(|m| m.access == n.access) {
            needs.push(n);
        }
    }
    checked.needs = needs;
    Ok(checked)
}
/// Decides whether `who` may run a version that needs `needs`, when the
/// app's current version holds `before` and the caller grants `allowed`.
/// Only admin tokens run anything that reaches the host; what is neither
/// held nor granted is refused with one field error per capability.
/// Returns what this grants anew, for the audit log.
pub fn consent(
    who: &Principal,
    needs: &[Need],
    before: &[HostAccess],
    allowed: &[HostAccess],
) -> Result<Vec<HostAccess>> {
    if who.scope != TokenScope::Admin {
        if let Some(n) = needs.first() {
            return Err(AgentError::refused(
                ProblemCode::Forbidden,
                format!(
                    "this compose file reaches the server ({}); only an admin token may deploy it",
                    n.access.describe()
                ),
            ));
        }
    }
    let missing = host_access::not_granted(needs, before, allowed);
    if !missing.is_empty() {
        return Err(AgentError::Invalid(missing));
    }
    let mut granted: Vec<HostAccess> = needs
        .iter()
        .filter(|n| !before.iter().any(|b| b.covers(&n.access)))
        .map(|n| n.access.clone())
        .collect();
    granted.sort();
    granted.dedup();
    Ok(granted)
}

/// An app's latest version, and the bind-mount sources it was adopted with
/// before grants were recorded per version.
async fn current_grant(
    state: &Shared,
    app: &AppName,
) -> Result<(Option<db::versions::Version>, Vec<String>)> {
    let a = app.to_string();
    Ok(db::call(&state.db, move |db| {
        Ok((db::versions::latest(db, &a)?, store::bind_allow(db, &a)?))
    })
    .await?)
}

/// What an app's current version holds: its recorded grant, and for an app
/// adopted before grants were recorded, its bind mounts of the sources it
/// was adopted with.
pub async fn held(state: &Shared, app: &AppName, needs: &[Need]) -> Result<Vec<HostAccess>> {
    let (latest, legacy) = current_grant(state, app).await?;
    let mut held = latest.map(|v| v.meta.host_access).unwrap_or_default();
    let same = |x: &str, y: &str| x.trim_end_matches('/') == y.trim_end_matches('/');
    held.extend(
        needs
            .iter()
            .filter(|n| {
                matches!(
                    n.access.kind,
                    appos_proto::HostAccessKind::Bind | appos_proto::HostAccessKind::ReadOnlyBind
                )
            })
            .filter(|n| legacy.iter().any(|l| same(l, &n.access.target)))
            .map(|n| n.access.clone()),
    );
    Ok(held)
}

/// Fails unless `who` may open a shell in `app`'s containers: a container
/// granted host access is the host's, so only admin tokens enter those.
pub async fn may_enter(state: &Shared, who: &Principal, app: &AppName) -> Result<()> {
    if who.scope == TokenScope::Admin {
        return Ok(());
    }
    let (latest, legacy) = current_grant(state, app).await?;
    let Some(latest) = latest else {
        return Err(AgentError::refused(
            ProblemCode::Forbidden,
            format!("AppOS does not manage {app}; only an admin token may open a shell in it"),
        ));
    };
    match latest.meta.host_access.into_iter().next() {
        Some(access) => Err(AgentError::refused(
            ProblemCode::Forbidden,
            format!(
                "{app} has host access ({}); only an admin token may open a shell in it",
                access.describe()
            ),
        )),
        None if !legacy.is_empty() => Err(AgentError::refused(
            ProblemCode::Forbidden,
            format!("{app} mounts server folders; only an admin token may open a shell in it"),
        )),
        None => Ok(()),
    }
}

/// A catalog template rendered to a compose file, `.env` additions and the
/// values generated for it.
fn render_template(
    state: &Shared,
    cat: &CatalogDeploy,
) -> Result<crate::services::catalog::Rendered> {
    let catalog = state.catalog.get();
    match catalog.get(&cat.id) {
        None => Err(AgentError::invalid(
            "catalog.id",
            format!("no template {:?} in the catalog", cat.id),
        )),
        Some(t) => crate::services::catalog::render(t, &cat.params).map_err(AgentError::Invalid),
    }
}

/// Every check of a deploy on a compose file (or a catalog template), and
/// the host access it asks for; nothing is written.
pub async fn check(state: &Shared, req: ComposeCheckRequest) -> Result<ComposeCheck> {
    let n = req.name.to_string();
    let (latest, latest_files) = db::call(&state.db, move |db| {
        let latest = db::versions::latest(db, &n)?;
        let files = match &latest {
            Some(v) => db::versions::files(db, &n, v.meta.version)?,
            None => Vec::new(),
        };
        Ok((latest, files))
    })
    .await?;
    let mut env = match req.env {
        Some(e) => e,
        None => latest.map(|v| v.env).unwrap_or_default(),
    };
    let mut compose_text = req.compose;
    if let Some(cat) = &req.catalog {
        if !compose_text.is_empty() {
            return Err(AgentError::invalid(
                "compose",
                "give a compose file or a catalog template, not both",
            ));
        }
        let r = render_template(state, cat)?;
        compose_text = r.compose;
        env.extend(r.env);
    }
    let files = match req.files {
        Some(sent) => Files::Sent(sent),
        None => Files::Checked(latest_files),
    };
    let checked = check_files(state, &req.name, &compose_text, &env, files, Vec::new()).await?;
    let held = held(state, &req.name, &checked.needs).await?;
    let host_access = checked
        .needs
        .iter()
        .map(|n| HostAccessNeed {
            access: n.access.clone(),
            description: n.access.describe(),
            granted: held.iter().any(|h| h.covers(&n.access)),
        })
        .collect();
    Ok(ComposeCheck {
        services: checked.summary.services.clone(),
        host_access,
    })
}

/// Deploys a new app from a compose file or a catalog template. Everything
/// is checked before anything is written; then version 1 and its deployment
/// are recorded and the deployment queued.
pub async fn deploy(
    state: &Shared,
    who: &Principal,
    mut req: DeployRequest,
) -> Result<DeployAccepted> {
    let mut errors = Vec::new();
    if req.message.as_ref().is_some_and(|m| m.len() > MAX_MESSAGE) {
        errors.push(FieldError::new(
            "message",
            format!("at most {MAX_MESSAGE} characters"),
        ));
    }
    // A catalog template renders to a compose file and an .env.
    let mut generated = BTreeMap::new();
    if let Some(cat) = req.catalog.take() {
        if !req.compose.is_empty() {
            errors.push(FieldError::new(
                "compose",
                "give a compose file or a catalog template, not both",
            ));
        }
        match render_template(state, &cat) {
            Ok(r) => {
                req.compose = r.compose;
                req.env.extend(r.env);
                generated = r.generated;
            }
            Err(AgentError::Invalid(e)) => errors.extend(e),
            Err(e) => return Err(e),
        }
        if !errors.is_empty() {
            return Err(AgentError::Invalid(errors));
        }
    }
    let name = req.name.clone();
    let checked = check_files(
        state,
        &name,
        &req.compose,
        &req.env,
        Files::Sent(std::mem::take(&mut req.files)),
        errors,
    )
    .await?;
    consent(who, &checked.needs, &[], &req.allow_host_access)?;
    let host_access = checked.host_access();
    let files = checked.files.clone();
    let dir = compose::app_dir(&state.config.apps_dir(), &name);
    let taken = if is_managed(state, &name).await? || dir.exists() {
        Some(AgentError::refused(
            ProblemCode::AppExists,
            format!("an app named {name:?} exists; change it with a new version instead"),
        ))
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
        return Err(e);
    }
    if let Err(e) = checked.install(&dir) {
        return Err(AgentError::refused(
            ProblemCode::AppExists,
            format!("cannot create {}: {e}", dir.display()),
        ));
    }

    let now_ms = state.clock.now_ms();
    let id = crate::infra::queue::new_id(now_ms);
    let (n, i, compose_text, env, author, message) = (
        name.to_string(),
        id.clone(),
        req.compose.clone(),
        req.env.clone(),
        who.name.clone(),
        req.message.clone().unwrap_or_default(),
    );
    let recorded = db::call(&state.db, move |db| {
        store::insert(
            db,
            store::NewApp {
                name: &n,
                origin: store::Origin::Deployed,
                host_access: &host_access,
                files: &files,
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
    Ok(DeployAccepted {
        deployment_id: id,
        app: name.to_string(),
        version: 1,
        generated,
    })
}
