//! `cargo xtask bench backup`: a backup with volumes and a restore through
//! the agent, against plain `restic` backing up and restoring the same data
//! from a directory, in the same run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use appos_client::{Client, Transport};
use appos_proto::backups::{BackupRequest, RepositoryRequest, RestoreRequest, RunState};
use appos_proto::calls::{DeleteApp, GetBackupRun, GetDeployment, RestoreBackup};
use appos_proto::{AppName, DeployRequest};
use appos_test_support as support;

use crate::bench::row;

/// Megabytes of data in the volume: half random (incompressible), half text.
const MB: usize = 200;

async fn run_to_end(c: &Client, id: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let r = c.call(&GetBackupRun { id: id.to_string() }).await?;
        if r.state.is_terminal() {
            anyhow::ensure!(
                r.state == RunState::Succeeded,
                "run {id} failed: {:?}",
                r.error
            );
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn deployed(c: &Client, id: String) -> anyhow::Result<()> {
    loop {
        let d = c.call(&GetDeployment { id: id.clone() }).await?;
        if d.state.is_terminal() {
            anyhow::ensure!(
                d.state == appos_proto::DeploymentState::Succeeded,
                "deployment {id}: {:?}",
                d.error
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn restic(repo: &Path, key: &Path, args: &[&str]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let o = Command::new("restic")
        .args(args)
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD_FILE", key)
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .output()?;
    anyhow::ensure!(
        o.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(started.elapsed())
}

fn sh(cmd: &str) -> anyhow::Result<()> {
    let o = Command::new("sh").args(["-c", cmd]).output()?;
    anyhow::ensure!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(())
}

pub async fn backup() -> anyhow::Result<()> {
    support::which("restic").context("restic is needed (apt install restic)")?;
    let agent = support::Agent::start()?;
    let c = Client::new(
        Transport::Unix(agent.socket()),
        Some(agent.issue_token("bench", "admin")?),
    );
    let work = tempfile::tempdir()?;
    let app = AppName::parse("benchbackup")?;
    let compose = format!(
        "services:\n  web:\n    image: {}\n    command: [\"/bin/busybox\", \"sleep\", \"86400\"]\n    volumes: [\"data:/data\"]\n    stop_signal: SIGKILL\n    labels: [\"{}=1\"]\nvolumes:\n  data: {{}}\n",
        support::BUSYBOX_IMAGE,
        support::TEST_LABEL
    );
    let req = DeployRequest {
        name: app.clone(),
        compose,
        env: Default::default(),
        message: None,
        catalog: None,
        files: Vec::new(),
        allow_host_access: Vec::new(),
    };
    let id = c.call(&req).await?.deployment_id;
    deployed(&c, id).await?;
    let container = c
        .call(&appos_proto::calls::GetApp { app: app.clone() })
        .await?
        .services[0]
        .containers[0]
        .name
        .clone();
    let bytes = MB / 2 * 1024 * 1024;
    sh(&format!("docker exec {container} sh -c 'head -c {bytes} /dev/urandom > /data/random && yes \"a line of text, as logs and dumps have\" | head -c {bytes} > /data/text'"))?;
    // The same bytes in a directory, for restic alone.
    let plain = work.path().join("plain");
    std::fs::create_dir(&plain)?;
    sh(&format!(
        "docker cp {container}:/data/. {}",
        plain.display()
    ))?;

    // Plain restic.
    let key = work.path().join("key");
    std::fs::write(&key, "bench key of sixteen characters or more")?;
    let repo = work.path().join("plain-repo");
    restic(&repo, &key, &["init"])?;
    let plain_backup = restic(&repo, &key, &["backup", plain.to_str().unwrap_or_default()])?;
    let plain_restore = restic(
        &repo,
        &key,
        &[
            "restore",
            "latest",
            "--target",
            work.path()
                .join("plain-restored")
                .to_str()
                .unwrap_or_default(),
        ],
    )?;

    // Through the agent.
    let location = work.path().join("appos-repo").display().to_string();
    c.call(&RepositoryRequest {
        location,
        key: None,
        host_key: None,
    })
    .await?;
    let run = c
        .call(&BackupRequest {
            app: Some(app.clone()),
            volumes: true,
        })
        .await?;
    let appos_backup = run_to_end(&c, &run.id).await?;
    let snapshot = c
        .call(&GetBackupRun { id: run.id })
        .await?
        .snapshot
        .context("snapshot")?;
    let del = c
        .call(&DeleteApp {
            app: app.clone(),
            volumes: true,
        })
        .await?;
    deployed(&c, del.id).await?;
    let run = c
        .call(&RestoreBackup {
            snapshot,
            request: RestoreRequest {
                app: Some(app.clone()),
                keep_tokens: false,
            },
        })
        .await?;
    let appos_restore = run_to_end(&c, &run.id).await?;

    let rate = |d: Duration| format!("{:.0} MB/s", MB as f64 / d.as_secs_f64());
    let ratio = |a: Duration, b: Duration| format!("{:.2}", a.as_secs_f64() / b.as_secs_f64());
    row(
        &format!("backup, {MB} MB volume, s (baseline: restic)"),
        format!("{:.2}", appos_backup.as_secs_f64()),
        format!("{:.2}", plain_backup.as_secs_f64()),
        ratio(appos_backup, plain_backup),
        "",
    );
    row(
        "  throughput",
        rate(appos_backup),
        rate(plain_backup),
        "-".into(),
        "",
    );
    row(
        &format!("restore, {MB} MB volume, s (baseline: restic)"),
        format!("{:.2}", appos_restore.as_secs_f64()),
        format!("{:.2}", plain_restore.as_secs_f64()),
        ratio(appos_restore, plain_restore),
        "",
    );
    row(
        "  throughput",
        rate(appos_restore),
        rate(plain_restore),
        "-".into(),
        "",
    );
    println!("    (the agent's run: the database copy, the volume read through a helper container into a tar, restic; the restore: restic, checksums, the volume written back, the records; its deployment not counted)");
    let _ = c.call(&DeleteApp { app, volumes: true }).await;
    support::cleanup_docker()?;
    Ok(())
}
