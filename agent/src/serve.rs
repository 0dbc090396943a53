//! The composition root: builds the shared state (data directories,
//! database, Docker, compose tool, queue, catalog), the task registry and
//! the router, starts the listeners (the API socket and an optional loopback
//! TCP port), the workers and the background loops, and stops gracefully on
//! SIGTERM or Ctrl-C.

use std::future::IntoFuture;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::net::{TcpListener, UnixListener};

use crate::infra::config::Config;
use crate::infra::db::Db;
use crate::state::AgentState;

/// Creates the data layout with restrictive modes.
pub fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    for (dir, mode) in [
        (&config.data_dir, 0o750),
        (&config.data_dir.join("run"), 0o750),
        (&config.apps_dir(), 0o750),
    ] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting mode of {}", dir.display()))?;
    }
    Ok(())
}

/// Binds the API socket. A socket file left by a dead agent is replaced; one
/// that still answers means another agent runs on this data dir.
fn bind_socket(path: &Path) -> anyhow::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another agent is already listening on {}", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting mode of {}", path.display()))?;
    Ok(listener)
}

pub async fn build_state(config: Config) -> anyhow::Result<Arc<AgentState>> {
    let docker = crate::infra::docker::connect(config.docker_host.as_deref()).await?;
    crate::infra::docker::check_same_path(&docker, &config.data_dir).await?;
    prepare_data_dir(&config)?;
    let db = Arc::new(Db::open(&config.db_path())?);
    // Found in the background: the socket answers meanwhile (see AgentState::compose).
    let compose_tool = Arc::new(tokio::sync::OnceCell::new());
    {
        let (cell, warm_dir) = (compose_tool.clone(), config.data_dir.join("run/compose"));
        tokio::spawn(async move {
            let compose = cell.get_or_init(crate::infra::docker::detect_compose).await;
            tracing::info!(flavour = ?compose.flavour, version = %compose.version, "compose tool");
            if std::env::var("APPOS_WARM_COMPOSE").as_deref() != Ok("0") {
                crate::infra::zygote::start(&compose.command, &warm_dir).await;
            }
        });
    }
    let catalog = crate::services::catalog::Live::new(&config);
    let stopping = tokio_util::sync::CancellationToken::new();
    let (config_max_terminals, config_idle, config_max_streams) = (
        config.max_terminals,
        config.terminal_idle,
        config.max_streams_per_token,
    );
    let inventory = crate::services::inventory::Inventory::new(config.inventory);
    let limits = crate::services::limits::Limits::new(&config.rates);
    let redis_url = match &config.redis_server {
        Some(bin) => {
            let server = crate::infra::redis_server::RedisServer::new(bin, &config.data_dir);
            let url = server.url();
            server.start(stopping.clone()).await?;
            Some(url)
        }
        None => config.redis_url.clone(),
    };
    let queue = match &redis_url {
        Some(url) => crate::infra::queue::AnyQueue::Redis(
            crate::infra::queue::RedisQueue::connect(url, "appos")
                .await
                .with_context(|| {
                    format!("connecting to Redis at {}", crate::core::redact::urls(url))
                })?,
        ),
        None => crate::infra::queue::AnyQueue::Sqlite(crate::infra::queue::SqliteQueue::open(
            &config.queue_path(),
        )?),
    };
    let proxy = match &config.proxy {
        Some(p) => {
            let proxy = crate::infra::proxy::Proxy::new(p, &config.data_dir)?;
            proxy.start(stopping.clone()).await;
            Some(proxy)
        }
        None => None,
    };
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let state = Arc::new(AgentState {
        config,
        db,
        docker,
        compose_tool,
        queue,
        queue_wakeup: tokio::sync::Notify::new(),
        started_at: clock.now(),
        clock,
        catalog,
        events: Default::default(),
        inventory,
        alerts: Default::default(),
        backup_wake: Default::default(),
        limits,
        metrics: Default::default(),
        stats: Default::default(),
        terminals: crate::services::terminals::Terminals::new(config_max_terminals, config_idle),
        streams: crate::services::streams::StreamLimits::new(config_max_streams),
        proxy,
        serving: Default::default(),
        certificates: Default::default(),
        stopping,
    });
    remove_leftovers(&state).await;
    // The proxy serves what the agent's state says, from the start, reaching apps on its network.
    if let Some(p) = &state.config.proxy {
        if let Err(error) = crate::infra::docker::ensure_network(&state.docker, &p.network).await {
            tracing::error!(%error, network = %p.network, "cannot create the proxy's network");
        }
        if let Err(error) = crate::services::serving::apply(&state).await {
            tracing::error!(%error, "cannot apply the proxy configuration at start");
        }
    }
    Ok(state)
}

/// Runs the agent until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // rustls's provider for every TLS client the agent makes (ACME, webhooks,
    // certificate probes): chosen here, since the build may carry two.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state = build_state(config).await?;
    let socket_path = state.config.socket_path();
    let unix = bind_socket(&socket_path)?;
    tracing::info!(socket = %socket_path.display(), "listening");
    let app = crate::http::router(state.clone());
    let stop_workers = tokio_util::sync::CancellationToken::new();
    // Before any task runs: containers a backup paused when the agent stopped run again.
    crate::services::tasks::backup::resume_left_paused(&state).await;
    let registry = Arc::new(crate::services::tasks::registry());
    let mut workers = crate::services::tasks::start(
        state.clone(),
        registry,
        state.config.workers,
        stop_workers.clone(),
    );
    workers.spawn(crate::services::docker_events::watch(
        state.clone(),
        stop_workers.clone(),
    ));
    workers.spawn(crate::services::observe::follow_stats(
        state.clone(),
        stop_workers.clone(),
    ));
    workers.spawn(crate::services::alerts::watch(
        state.clone(),
        stop_workers.clone(),
    ));
    workers.spawn(crate::services::backups::watch_schedule(
        state.clone(),
        stop_workers.clone(),
    ));
    {
        // Idle terminals expire.
        let (s, stop) = (state.clone(), stop_workers.clone());
        let every = (state.config.terminal_idle / 4).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(30),
        );
        workers.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(every) => { s.terminals.expire(); }
                }
            }
        });
    }
    {
        // Certificates are ordered and renewed when due, and checked for
        // expiry (the first round soon after start).
        let (s, stop) = (state.clone(), stop_workers.clone());
        let every = state.config.cert_check;
        workers.spawn(async move {
            let mut wait = every.min(std::time::Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {
                        crate::services::acme::queue_due(&s).await;
                        crate::services::certs::check(&s).await;
                    }
                }
                wait = every;
            }
        });
    }
    if state.catalog.has_git() {
        // Pulled in the background: a slow or unreachable remote never
        // delays the agent; the last good clone serves meanwhile.
        let (s, stop) = (state.clone(), stop_workers.clone());
        workers.spawn(async move {
            loop {
                let r = s.catalog.refresh().await;
                tracing::info!(templates = r.templates, commit = ?r.git_commit, error = ?r.git_error, "catalog refreshed");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                }
            }
        });
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        // Workers start their grace as the listeners start to close.
        let stop_workers = stop_workers.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
            stop_workers.cancel();
        });
    }
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    let mut stopped = stop_rx.clone();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(
        axum::serve(unix, app.clone().into_make_service())
            .with_graceful_shutdown(wait(stop_rx.clone()))
            .into_future(),
    );
    if let Some(addr) = state.config.listen {
        let tcp = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        tracing::info!(%addr, "listening on loopback TCP");
        tasks.spawn(
            axum::serve(tcp, app.into_make_service())
                .with_graceful_shutdown(wait(stop_rx.clone()))
                .into_future(),
        );
    }
    if let Some(addr) = state.config.metrics_listen {
        let tcp = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        tracing::info!(%addr, "serving GET /metrics without a token on loopback TCP");
        tasks.spawn(
            axum::serve(
                tcp,
                crate::http::metrics_router(state.clone()).into_make_service(),
            )
            .with_graceful_shutdown(wait(stop_rx))
            .into_future(),
        );
    }
    // Open streams (events, followed logs, terminals) would hold the
    // listeners open: past the grace they are closed.
    let drain_for = state.config.stop_grace + std::time::Duration::from_secs(3);
    let drained = tokio::select! {
        r = async {
            while let Some(res) = tasks.join_next().await {
                res.context("listener task panicked")?.context("serving")?;
            }
            anyhow::Ok(())
        } => { r?; true }
        () = async { let _ = stopped.wait_for(|v| *v).await; tokio::time::sleep(drain_for).await } => false,
    };
    if !drained {
        tracing::info!("closing the connections still open");
        tasks.abort_all();
    }
    // Running tasks end within the grace, or are handed back to the queue
    // for the next agent (every step is idempotent).
    let _ = tokio::time::timeout(drain_for, async {
        while workers.join_next().await.is_some() {}
    })
    .await;
    let _ = std::fs::remove_file(&socket_path);
    for t in state.terminals.list() {
        let _ = state.terminals.kill(&t.id);
    }
    state.stopping.cancel();
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Completes when process `pid` is gone; never when `pid` is `None`.
pub async fn process_exit(pid: Option<u32>) {
    let Some(pid) = pid else {
        return std::future::pending().await;
    };
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    while proc_dir.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    tracing::info!(pid, "watched process exited; stopping");
}

/// An agent killed while accepting a deployment can leave a staging directory,
/// or an app directory whose database rows were never committed. Both hold
/// only the files AppOS wrote, so they are removed at start.
async fn remove_leftovers(state: &crate::state::Shared) {
    let root = state.config.apps_dir();
    let Ok(entries) = std::fs::read_dir(&root) else {
        return;
    };
    let known = crate::infra::db::apps::names(&state.db).unwrap_or_default();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let only_our_files = std::fs::read_dir(&path)
            .map(|d| {
                d.flatten().all(|f| {
                    matches!(
                        f.file_name().to_str(),
                        Some("compose.yml" | ".env" | ".compose.yml.tmp" | "..env.tmp")
                    )
                })
            })
            .unwrap_or(false);
        let orphan = name.starts_with(".staging-") || (!known.contains(&name) && only_our_files);
        if orphan && only_our_files {
            tracing::info!(path = %path.display(), "removing files of an interrupted deployment request");
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}
