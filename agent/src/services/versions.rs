//! App history: every change of an app's compose file or `.env` is a
//! version. Listing, showing, diffing, saving a new one, rolling back to an
//! old one (as a new version with the old content), redeploying, lifecycle
//! actions and deleting, each queued as a deployment.

use std::collections::BTreeMap;

use appos_proto::{
    AppAction, AppName, AppVersion, AppVersionDetail, Deployment, FieldError, HostAccess,
    Operation, ProblemCode, RollbackRequest, SaveVersionRequest, VersionSaved,
};

use crate::error::{AgentError, Result};
use crate::infra::db::{self, versions::Version};
use crate::services::apps::{ensure_managed, Files, MAX_MESSAGE};
use crate::services::deployments;
use crate::services::tokens::Principal;
use crate::state::Shared;

async fn version(state: &Shared, app: &AppName, v: u32) -> Result<Version> {
    let a = app.to_string();
    db::call(&state.db, move |db| db::versions::get(db, &a, v))
        .await?
        .ok_or_else(|| {
            AgentError::refused(
                ProblemCode::VersionNotFound,
                format!("{app} has no version {v}"),
            )
        })
}

async fn latest(state: &Shared, app: &AppName) -> Result<Version> {
    let a = app.to_string();
    db::call(&state.db, move |db| db::versions::latest(db, &a))
        .await?
        .ok_or_else(|| {
            AgentError::refused(
                ProblemCode::AppNotFound,
                format!("AppOS manages no app named {app:?}"),
            )
        })
}

/// The files a version holds, with their contents.
async fn version_files(
    state: &Shared,
    app: &AppName,
    v: u32,
) -> Result<Vec<crate::core::appfiles::File>> {
    let a = app.to_string();
    Ok(db::call(&state.db, move |db| db::versions::files(db, &a, v)).await?)
}

/// The versions of an app, newest first.
pub async fn list(state: &Shared, app: &AppName) -> Result<Vec<AppVersion>> {
    ensure_managed(state, app).await?;
    let a = app.to_string();
    Ok(db::call(&state.db, move |db| db::versions::list(db, &a)).await?)
}

/// One version with its compose file and the names of its `.env` variables.
pub async fn show(state: &Shared, app: &AppName, v: u32) -> Result<AppVersionDetail> {
    ensure_managed(state, app).await?;
    let r = version(state, app, v).await?;
    Ok(AppVersionDetail {
        version: r.meta,
        compose: r.compose,
        env_keys: r.env.keys().cloned().collect(),
    })
}

/// A unified diff between two versions: the compose file, then the `.env`
/// (values shown only as changed or not: they are secrets).
pub async fn diff(state: &Shared, app: &AppName, from: u32, to: u32) -> Result<String> {
    ensure_managed(state, app).await?;
    let (a, b) = (
        version(state, app, from).await?,
        version(state, app, to).await?,
    );
    Ok(unified_diff(from, &a, to, &b))
}

fn unified_diff(from: u32, a: &Version, to: u32, b: &Version) -> String {
    let mut out = similar::TextDiff::from_lines(&a.compose, &b.compose)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("v{from}/compose.yml"),
            &format!("v{to}/compose.yml"),
        )
        .to_string();
    // A value that changed reads differently on each side, so that the diff
    // shows the change without showing the secret.
    let env_line =
        |env: &BTreeMap<String, String>, k: &str, other: &BTreeMap<String, String>, side: &str| {
            let changed = other.contains_key(k) && env.get(k) != other.get(k);
            if changed {
                format!("{k}=({side} value)\n")
            } else {
                format!("{k}=…\n")
            }
        };
    let ea: String = a
        .env
        .keys()
        .map(|k| env_line(&a.env, k, &b.env, "old"))
        .collect();
    let eb: String = b
        .env
        .keys()
        .map(|k| env_line(&b.env, k, &a.env, "new"))
        .collect();
    out.push_str(
        &similar::TextDiff::from_lines(&ea, &eb)
            .unified_diff()
            .header(&format!("v{from}/.env"), &format!("v{to}/.env"))
            .to_string(),
    );
    out
}

/// A version to save: its content, and the host access the caller grants
/// and an older version held (a rollback's target).
struct Draft {
    compose: String,
    env: BTreeMap<String, String>,
    /// The files sent, or those of a version.
    files: Files,
    message: String,
    allow: Vec<HostAccess>,
    held_before: Vec<HostAccess>,
}

async fn save(
    state: &Shared,
    app: &AppName,
    who: &Principal,
    d: Draft,
    deploy: bool,
) -> Result<VersionSaved> {
    let mut errors = Vec::new();
    if d.message.len() > MAX_MESSAGE {
        errors.push(FieldError::new(
            "message",
            format!("at most {MAX_MESSAGE} characters"),
        ));
    }
    let mut checked =
        crate::services::apps::check_files(state, app, &d.compose, &d.env, d.files, errors).await?;
    // A version may keep what the current one holds; more needs consent again.
    let mut held = crate::services::apps::held(state, app, &checked.needs).await?;
    held.extend(d.held_before);
    let granted = crate::services::apps::consent(who, &checked.needs, &held, &d.allow)?;
    let host_access = checked.host_access();
    let files = std::mem::take(&mut checked.files);
    drop(checked);
    let (a, author, now) = (app.to_string(), who.name.clone(), state.clock.now());
    let v = db::call(&state.db, move |db| {
        let new = db::versions::New {
            compose: &d.compose,
            env: &d.env,
            host_access: &host_access,
            files: &files,
            author: &author,
            message: &d.message,
        };
        db::versions::save(db, &a, &new, &granted, now)
    })
    .await?;
    let deployment_id = if deploy {
        Some(deployments::queue(state, who, app, v, Operation::Deploy, false).await?)
    } else {
        None
    };
    Ok(VersionSaved {
        app: app.to_string(),
        version: v,
        deployment_id,
    })
}

/// Saves a new version (checked like a deploy), and deploys it if asked.
pub async fn create(
    state: &Shared,
    who: &Principal,
    app: &AppName,
    req: SaveVersionRequest,
) -> Result<VersionSaved> {
    ensure_managed(state, app).await?;
    let current = latest(state, app).await?;
    let env = req.env.unwrap_or(current.env);
    let files = match req.files {
        Some(sent) => Files::Sent(sent),
        None => Files::Checked(version_files(state, app, current.meta.version).await?),
    };
    let draft = Draft {
        compose: req.compose,
        env,
        files,
        message: req.message.unwrap_or_default(),
        allow: req.allow_host_access,
        held_before: Vec::new(),
    };
    save(state, app, who, draft, req.deploy).await
}

/// Rolls back to version N: its compose file and `.env` become a new
/// version, which is deployed. With `pin_digests`, each image is replaced
/// by the digest version N ran with.
pub async fn rollback(
    state: &Shared,
    who: &Principal,
    app: &AppName,
    req: RollbackRequest,
) -> Result<VersionSaved> {
    ensure_managed(state, app).await?;
    let old = version(state, app, req.version).await?;
    let (compose, message) = if req.pin_digests {
        if old.meta.digests.is_empty() {
            return Err(AgentError::refused(
                ProblemCode::NoDigests,
                format!("version {} never ran to the end, so no image digests are recorded for it; roll back without pinning", req.version),
            ));
        }
        let pinned = crate::core::compose::pin_images(&old.compose, &old.meta.digests)
            .map_err(|e| AgentError::refused(ProblemCode::NoDigests, e))?;
        (
            pinned,
            format!(
                "rollback to version {}, images pinned to their recorded digests",
                req.version
            ),
        )
    } else {
        (old.compose, format!("rollback to version {}", req.version))
    };
    // What version N held was granted once; rolling back to it keeps that grant.
    let files = Files::Checked(version_files(state, app, req.version).await?);
    let draft = Draft {
        compose,
        env: old.env,
        files,
        message,
        allow: req.allow_host_access,
        held_before: old.meta.host_access,
    };
    save(state, app, who, draft, true).await
}

/// Deploys the latest version again (e.g. after a failed deployment).
pub async fn redeploy(state: &Shared, who: &Principal, app: &AppName) -> Result<VersionSaved> {
    ensure_managed(state, app).await?;
    let v = latest(state, app).await?.meta.version;
    let id = deployments::queue(state, who, app, v, Operation::Deploy, false).await?;
    Ok(VersionSaved {
        app: app.to_string(),
        version: v,
        deployment_id: Some(id),
    })
}

/// Start, stop, restart or update, queued like a deployment.
pub async fn action(
    state: &Shared,
    who: &Principal,
    app: &AppName,
    action: AppAction,
) -> Result<Deployment> {
    ensure_managed(state, app).await?;
    let v = latest(state, app).await?.meta.version;
    let id = deployments::queue(state, who, app, v, action.operation(), false).await?;
    deployments::find(state, &id).await
}

/// Takes the app down and forgets it; its volumes are kept unless `volumes`.
pub async fn delete(
    state: &Shared,
    who: &Principal,
    app: &AppName,
    volumes: bool,
) -> Result<Deployment> {
    ensure_managed(state, app).await?;
    let v = latest(state, app).await?.meta.version;
    let id = deployments::queue(state, who, app, v, Operation::Delete, volumes).await?;
    deployments::find(state, &id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(compose: &str, env: &[(&str, &str)]) -> Version {
        Version {
            meta: AppVersion {
                version: 1,
                author: "t".into(),
                message: String::new(),
                created_at: 0,
                digests: BTreeMap::new(),
                host_access: Vec::new(),
                files: BTreeMap::new(),
            },
            compose: compose.into(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            files: BTreeMap::new(),
        }
    }

    #[test]
    fn diffs_hide_env_values() {
        let a = v(
            "services:\n  web:\n    image: nginx:1.26\n",
            &[("PASSWORD", "hunter2"), ("KEPT", "x")],
        );
        let b = v(
            "services:\n  web:\n    image: nginx:1.27\n",
            &[("PASSWORD", "swordfish"), ("KEPT", "x"), ("NEW", "y")],
        );
        let d = unified_diff(1, &a, 2, &b);
        assert!(
            d.contains("-    image: nginx:1.26\n+    image: nginx:1.27\n"),
            "{d}"
        );
        assert!(
            d.contains("\n-PASSWORD=(old value)\n") && d.contains("\n+PASSWORD=(new value)\n"),
            "{d}"
        );
        assert!(d.contains("+NEW=…\n"), "{d}");
        assert!(d.contains(" KEPT=…\n"), "{d}");
        for secret in ["hunter2", "swordfish", "=x", "=y"] {
            assert!(!d.contains(secret), "{secret} leaked: {d}");
        }
    }
}
