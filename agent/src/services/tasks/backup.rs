//! The `backup` and `restore` tasks.
//!
//! A backup stages, under `<data>/backup/staging/<run>/`, a consistent copy
//! of the agent's database (SQLite's online backup), each named volume of
//! the apps as a tar (read through a helper container) and a manifest with
//! checksums, then gives restic the staging dir, the apps' directories and
//! the certificates. A restore reads a snapshot back and, for one app or
//! every app it holds that does not exist here, creates the volumes from
//! their tars, brings the records back (versions, deployments, domains) and
//! queues a deployment of the latest version.

use std::path::{Path, PathBuf};

use appos_proto::backups::{BackupRun, RunState};
use appos_proto::{Operation, TokenScope};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Registry, TaskError};
use crate::infra::db;
use crate::infra::queue::Task;
use crate::infra::volumes::{self, ProjectVolume};
use crate::services::backups::{self as svc, BACKUP, RESTORE};
use crate::services::tokens::Principal;
use crate::state::Shared;

pub fn register(registry: &mut Registry) {
    registry.register(BACKUP, |state, task, cancel| {
        Box::pin(run(state, task, cancel, true))
    });
    registry.register(RESTORE, |state, task, cancel| {
        Box::pin(run(state, task, cancel, false))
    });
}

/// What a backup holds, written beside the database copy.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    agent_version: String,
    created_ms: i64,
    /// SHA-256 of `state.db`.
    state_db: String,
    apps: Vec<AppManifest>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AppManifest {
    name: String,
    /// An image of the app, to read and write its volumes with.
    image: Option<String>,
    volumes: Vec<VolumeManifest>,
}

#[derive(Debug, Serialize, Deserialize)]
struct VolumeManifest {
    #[serde(flatten)]
    volume: ProjectVolume,
    /// `volumes/<app>/<name>.tar`, relative to the manifest.
    file: String,
    sha256: String,
    bytes: u64,
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

async fn log(state: &Shared, id: &str, line: String) {
    tracing::info!(run = id, "{line}");
    let i = id.to_string();
    if let Err(error) = db::call(&state.db, move |db| db::backups::log(db, &i, &line)).await {
        tracing::warn!(%error, "cannot record a backup run's log");
    }
}

async fn run(
    state: &Shared,
    task: &Task,
    _cancel: CancellationToken,
    backup: bool,
) -> Result<(), TaskError> {
    let id = task.payload["run"]
        .as_str()
        .ok_or_else(|| TaskError::Permanent("a backup task names no run".into()))?
        .to_string();
    let i = id.clone();
    let Some(record) = db::call(&state.db, move |db| db::backups::get(db, &i)).await? else {
        return Err(TaskError::Permanent(format!(
            "backup run {id} is not recorded"
        )));
    };
    let (i, now) = (id.clone(), state.clock.now_ms());
    db::call(&state.db, move |db| {
        db::backups::set_state(db, &i, RunState::Running, None, now)
    })
    .await?;
    let work = svc::dir(state)
        .join(if backup { "staging" } else { "restore" })
        .join(&id);
    let keep_tokens = task.payload["keep_tokens"].as_bool().unwrap_or(false);
    let result = if backup {
        take(state, &record, &work).await
    } else {
        bring_back(state, &record, &work, keep_tokens).await
    };
    if let Err(error) = tokio::fs::remove_dir_all(&work).await {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(%error, dir = %work.display(), "cannot remove a backup's work dir");
        }
    }
    let (end, error) = match &result {
        Ok(()) => (RunState::Succeeded, None),
        Err(e) => (RunState::Failed, Some(e.clone())),
    };
    if let Some(e) = &error {
        log(state, &id, format!("failed: {e}")).await;
    }
    let (i, now) = (id.clone(), state.clock.now_ms());
    db::call(&state.db, move |db| {
        db::backups::set_state(db, &i, end, error.as_deref(), now)
    })
    .await?;
    // `backup` events for the desktop; the alert rules look at once.
    state.alerts.wake.notify_one();
    let data = serde_json::json!({ "run": id, "kind": if backup { "backup" } else { "restore" }, "state": end.as_str(), "app": record.app });
    let (s, now) = (state.clone(), state.clock.now_ms());
    let app = record.app.clone();
    let _ = db::call(&state.db, move |db| {
        s.events.publish(db, now, "backup", app.as_deref(), data);
        Ok(())
    })
    .await;
    result.map_err(TaskError::Permanent)
}

/// The backup itself; the error says what failed.
async fn take(state: &Shared, run: &BackupRun, staging: &Path) -> Result<(), String> {
    let repo = svc::repo(state).await.map_err(|e| e.to_string())?;
    tokio::fs::create_dir_all(staging.join("volumes"))
        .await
        .map_err(|e| format!("staging in {}: {e}", staging.display()))?;

    let db_copy = staging.join("state.db");
    let (d, p) = (state.db.clone(), db_copy.clone());
    tokio::task::spawn_blocking(move || d.backup_to(&p))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("copying the database: {e}"))?;
    let state_db = sha256_file(&db_copy).map_err(|e| e.to_string())?;
    log(
        state,
        &run.id,
        "the agent's database: copied with SQLite's online backup".into(),
    )
    .await;

    let mut apps: Vec<String> = match &run.app {
        Some(a) => vec![a.clone()],
        None => db::call(&state.db, db::apps::names)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect(),
    };
    apps.sort();
    let projects = state
        .inventory
        .projects(&state.docker)
        .await
        .map_err(|e| format!("listing the containers: {e}"))?;
    let mut manifest = Manifest {
        agent_version: env!("CARGO_PKG_VERSION").into(),
        created_ms: state.clock.now_ms(),
        state_db,
        apps: Vec::new(),
    };
    let mut paths: Vec<PathBuf> = vec![staging.to_path_buf()];
    for app in &apps {
        let image = projects.iter().find(|p| &p.name == app).and_then(|p| {
            p.services
                .iter()
                .flat_map(|s| s.containers.iter())
                .map(|c| c.image.clone())
                .next()
        });
        let dir = state.config.apps_dir().join(app);
        if dir.is_dir() {
            paths.push(dir);
        }
        let mut vols = Vec::new();
        if run.volumes {
            let found = volumes::of_project(&state.docker, app)
                .await
                .map_err(|e| format!("listing {app}'s volumes: {e}"))?;
            if !found.is_empty() && image.is_none() {
                return Err(format!("{app} has volumes but no container whose image could read them: start it, then back it up"));
            }
            let paused = if found.is_empty() {
                Vec::new()
            } else {
                pause(state, run, app).await?
            };
            let mut read = Ok(());
            for v in found {
                let file = format!("volumes/{app}/{}.tar", v.name);
                let out = staging.join(&file);
                let exported = async {
                    tokio::fs::create_dir_all(out.parent().unwrap_or(staging))
                        .await
                        .map_err(|e| e.to_string())?;
                    volumes::export(
                        &state.docker,
                        &v.name,
                        image.as_deref().unwrap_or_default(),
                        &out,
                    )
                    .await
                    .map_err(|e| format!("reading volume {}: {e:#}", v.name))
                };
                match exported.await {
                    Ok(bytes) => {
                        let sha256 = sha256_file(&out).map_err(|e| e.to_string())?;
                        log(
                            state,
                            &run.id,
                            format!("volume {} of {app}: {bytes} bytes", v.name),
                        )
                        .await;
                        vols.push(VolumeManifest {
                            volume: v,
                            file,
                            sha256,
                            bytes,
                        });
                    }
                    Err(e) => {
                        read = Err(e);
                        break;
                    }
                }
            }
            // Running again before anything else, whatever the read gave.
            resume(state, Some(run), &paused).await;
            read?;
        }
        manifest.apps.push(AppManifest {
            name: app.clone(),
            image,
            volumes: vols,
        });
    }
    for certs in ["acme", "certs"] {
        let d = state.config.data_dir.join(certs);
        if d.is_dir() {
            paths.push(d);
        }
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    tokio::fs::write(staging.join("manifest.json"), json)
        .await
        .map_err(|e| e.to_string())?;

    let mut tags = vec!["appos".to_string()];
    tags.extend(apps.iter().map(|a| format!("app:{a}")));
    if run.volumes {
        tags.push("volumes".into());
    }
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let snapshot = repo
        .backup(&state.alerts.server, &tags, &refs)
        .await
        .map_err(|e| e.to_string())?;
    let (i, s) = (run.id.clone(), snapshot.clone());
    db::call(&state.db, move |db| db::backups::set_snapshot(db, &i, &s))
        .await
        .map_err(|e| e.to_string())?;
    log(
        state,
        &run.id,
        format!(
            "snapshot {snapshot}: {} app(s){}",
            apps.len(),
            if run.volumes {
                " with their volumes"
            } else {
                ""
            }
        ),
    )
    .await;

    // A scheduled backup applies the schedule's retention.
    let i = run.id.clone();
    let scheduled = db::call(&state.db, move |db| db::backups::scheduled(db, &i))
        .await
        .map_err(|e| e.to_string())?;
    if let (true, Some((schedule, _))) = (
        scheduled,
        db::call(&state.db, db::backups::schedule)
            .await
            .map_err(|e| e.to_string())?,
    ) {
        let forgotten = repo
            .forget(&state.alerts.server, schedule.keep)
            .await
            .map_err(|e| format!("retention: {e}"))?;
        log(
            state,
            &run.id,
            format!(
                "retention: the newest {} snapshot(s) kept, {} forgotten and pruned",
                schedule.keep, forgotten
            ),
        )
        .await;
    }
    Ok(())
}

/// `<data>/backup/paused`: the containers a backup paused, until it resumes
/// them; an agent that died meanwhile resumes them when it starts.
fn paused_file(state: &Shared) -> PathBuf {
    svc::dir(state).join("paused")
}

/// Pauses the app's services that ask for it while its volumes are read.
async fn pause(
    state: &Shared,
    run: &BackupRun,
    app: &str,
) -> Result<Vec<(String, String)>, String> {
    let list = volumes::to_pause(&state.docker, app)
        .await
        .map_err(|e| format!("listing {app}'s containers: {e}"))?;
    if list.is_empty() {
        return Ok(list);
    }
    let ids: String = list.iter().map(|(id, _)| format!("{id}\n")).collect();
    tokio::fs::write(paused_file(state), ids)
        .await
        .map_err(|e| format!("recording the paused containers: {e}"))?;
    let mut paused = Vec::new();
    for (id, name) in list {
        match state.docker.pause_container(&id).await {
            Ok(()) => {
                log(state, &run.id, format!("{name} paused while {app}'s volumes are read (its service asks for it: {}=true)", volumes::LABEL_PAUSE)).await;
                paused.push((id, name));
            }
            Err(e) => {
                resume(state, Some(run), &paused).await;
                return Err(format!("pausing {name}: {e}"));
            }
        }
    }
    Ok(paused)
}

/// Resumes paused containers, and forgets the record of them once all run
/// (else the next start tries again).
async fn resume(state: &Shared, run: Option<&BackupRun>, paused: &[(String, String)]) {
    let mut all = true;
    for (id, name) in paused {
        match state.docker.unpause_container(id).await {
            Ok(()) => {
                if let Some(run) = run {
                    log(state, &run.id, format!("{name} running again")).await;
                }
            }
            // Gone, or not paused any more: nothing to resume.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => {}
            Err(error) => {
                all = false;
                tracing::warn!(%error, container = %name, "cannot resume a container paused for a backup");
            }
        }
    }
    if all {
        let _ = tokio::fs::remove_file(paused_file(state)).await;
    }
}

/// At start: resumes the containers a backup paused when the agent stopped
/// in the middle of it.
pub async fn resume_left_paused(state: &Shared) {
    let Ok(text) = tokio::fs::read_to_string(paused_file(state)).await else {
        return;
    };
    let ids: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|id| (id.to_string(), id.to_string()))
        .collect();
    tracing::info!(
        containers = ids.len(),
        "resuming the containers a backup left paused"
    );
    resume(state, None, &ids).await;
}

/// The staging dir a backup left in a restored tree: where `manifest.json` is.
fn find_manifest(root: &Path) -> Option<PathBuf> {
    let mut dirs = vec![(root.to_path_buf(), 0)];
    while let Some((d, depth)) = dirs.pop() {
        if d.join("manifest.json").is_file() && d.join("state.db").is_file() {
            return Some(d);
        }
        if depth > 12 {
            continue;
        }
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push((e.path(), depth + 1));
            }
        }
    }
    None
}

/// The restore itself; the error says what failed. One app, or (none
/// named) every app of the snapshot that does not exist here.
async fn bring_back(
    state: &Shared,
    run: &BackupRun,
    target: &Path,
    keep_tokens: bool,
) -> Result<(), String> {
    let repo = svc::repo(state).await.map_err(|e| e.to_string())?;
    let snapshot = run.snapshot.clone().ok_or("a restore names no snapshot")?;
    let named = svc::app_name(run);
    if let Some(app) = &named {
        let a = app.to_string();
        if db::call(&state.db, move |db| db::apps::exists(db, &a))
            .await
            .map_err(|e| e.to_string())?
        {
            return Err(format!(
                "{app} exists here: a restore never overwrites an app; delete it first"
            ));
        }
    }
    repo.restore(&snapshot, target)
        .await
        .map_err(|e| e.to_string())?;
    let staged = find_manifest(target)
        .ok_or_else(|| format!("snapshot {snapshot} holds no AppOS backup"))?;
    let manifest: Manifest = serde_json::from_slice(
        &tokio::fs::read(staged.join("manifest.json"))
            .await
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("the manifest: {e}"))?;
    if sha256_file(&staged.join("state.db")).map_err(|e| e.to_string())? != manifest.state_db {
        return Err("the backed-up database does not match its checksum".into());
    }
    log(
        state,
        &run.id,
        format!(
            "snapshot {snapshot} read back ({} app(s) inside, agent {})",
            manifest.apps.len(),
            manifest.agent_version
        ),
    )
    .await;
    // The backed-up database, migrated to this agent's schema.
    let old = staged.join("state.db");
    let o = old.clone();
    tokio::task::spawn_blocking(move || db::Db::open(&o).map(drop))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("opening the backed-up database: {e:#}"))?;

    let entries: Vec<&AppManifest> = match &named {
        Some(app) => vec![manifest
            .apps
            .iter()
            .find(|a| a.name == app.as_str())
            .ok_or_else(|| format!("snapshot {snapshot} does not hold {app}"))?],
        None => manifest.apps.iter().collect(),
    };
    let mut restored = 0;
    for entry in entries {
        let Ok(app) = appos_proto::AppName::parse(&entry.name) else {
            continue;
        };
        let a = app.to_string();
        if named.is_none()
            && db::call(&state.db, move |db| db::apps::exists(db, &a))
                .await
                .map_err(|e| e.to_string())?
        {
            log(
                state,
                &run.id,
                format!("{app} exists here: left as it is (a restore never overwrites an app)"),
            )
            .await;
            continue;
        }
        restore_one(state, run, &staged, &old, entry, &app).await?;
        restored += 1;
    }
    if keep_tokens {
        let (o, actor, now) = (old.clone(), run.actor.clone(), state.clock.now_ms());
        let (kept, left) = db::call(&state.db, move |db| {
            db::backups::restore_tokens(db, &o, &actor, now)
        })
        .await
        .map_err(|e| e.to_string())?;
        let mut line = format!(
            "tokens kept from the backup: {}",
            if kept.is_empty() {
                "none".to_string()
            } else {
                kept.join(", ")
            }
        );
        if !left.is_empty() {
            line.push_str(&format!(
                "; left out, a token of that name exists here: {}",
                left.join(", ")
            ));
        }
        log(state, &run.id, line).await;
    }
    if named.is_none() {
        log(
            state,
            &run.id,
            format!("{restored} of {} app(s) brought back", manifest.apps.len()),
        )
        .await;
    }
    if let Err(error) = crate::services::serving::apply(state).await {
        log(
            state,
            &run.id,
            format!("the proxy did not take the restored domains yet: {error}"),
        )
        .await;
    }
    Ok(())
}

/// One app: its volumes, its rows, its uploaded certificates, then a deployment.
async fn restore_one(
    state: &Shared,
    run: &BackupRun,
    staged: &Path,
    old: &Path,
    entry: &AppManifest,
    app: &appos_proto::AppName,
) -> Result<(), String> {
    for v in &entry.volumes {
        let tar = staged.join(&v.file);
        if sha256_file(&tar).map_err(|e| e.to_string())? != v.sha256 {
            return Err(format!(
                "volume {}: the backup's tar does not match its checksum",
                v.volume.name
            ));
        }
        let image = entry
            .image
            .as_deref()
            .ok_or("no image recorded to write the volumes with")?;
        ensure_image(state, image).await?;
        volumes::import(&state.docker, app.as_str(), &v.volume, image, &tar)
            .await
            .map_err(|e| format!("writing volume {}: {e:#}", v.volume.name))?;
        log(
            state,
            &run.id,
            format!("volume {}: {} bytes written back", v.volume.name, v.bytes),
        )
        .await;
    }

    let (o, a, actor, now) = (
        old.to_path_buf(),
        app.to_string(),
        run.actor.clone(),
        state.clock.now(),
    );
    let latest = db::call(&state.db, move |db| {
        db::backups::restore_app(db, &o, &a, &actor, now)
    })
    .await
    .map_err(|e| e.to_string())?
    .ok_or_else(|| format!("the backup holds no version of {app}"))?;
    log(
        state,
        &run.id,
        format!("{app}: versions 1 to {latest}, its deployments and domains are back"),
    )
    .await;

    // Uploaded certificates of its domains.
    if let Some(old_data) = staged.ancestors().nth(3) {
        let a = app.to_string();
        let domains = db::call(&state.db, db::domains::list)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|d| d.app == a);
        for d in domains {
            let from = old_data.join("certs").join(&d.domain);
            if from.is_dir() {
                let to = state.config.data_dir.join("certs").join(&d.domain);
                copy_dir(&from, &to).map_err(|e| format!("certificate of {}: {e}", d.domain))?;
                log(
                    state,
                    &run.id,
                    format!("the uploaded certificate of {} is back", d.domain),
                )
                .await;
            }
        }
    }

    let who = Principal {
        token_id: 0,
        name: run.actor.clone(),
        scope: TokenScope::Admin,
    };
    let deployment =
        crate::services::deployments::queue(state, &who, app, latest, Operation::Deploy, false)
            .await
            .map_err(|e| e.to_string())?;
    log(
        state,
        &run.id,
        format!("deployment {deployment} of {app}, version {latest}, queued"),
    )
    .await;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// Pulls the image when the server lacks it (a fresh server).
async fn ensure_image(state: &Shared, image: &str) -> Result<(), String> {
    use futures_util::StreamExt as _;
    if state.docker.inspect_image(image).await.is_ok() {
        return Ok(());
    }
    let opts = bollard::query_parameters::CreateImageOptions {
        from_image: Some(image.to_string()),
        ..Default::default()
    };
    let mut pull = state.docker.create_image(Some(opts), None, None);
    while let Some(item) = pull.next().await {
        item.map_err(|e| format!("pulling {image} to write the volumes with: {e}"))?;
    }
    Ok(())
}
