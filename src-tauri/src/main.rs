//! The AppOS desktop app. Each command is a few-line adapter over
//! `appos_desktop_core::Desktop`; all logic lives there.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]
// UiError is the one IPC error value; its size does not matter once per command.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use appos_desktop_core::rendering::Rendering;
use appos_desktop_core::{Desktop, Paths};
use appos_proto::desktop::{
    AddServerForm, Connection, InstallCheck, InstallForm, InstallProgress, ServerEntry, StreamItem,
    StreamRequest, TerminalEvent, TerminalKind, TerminalTab, UiError,
};
use appos_proto::{AgentCall, ErrorClass};
use tauri::ipc::{Channel, InvokeBody, InvokeResponseBody};
use tauri::{Manager, RunEvent, State};

type D = Arc<Desktop>;

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn list_servers(desktop: State<'_, D>) -> Result<Vec<ServerEntry>, UiError> {
    desktop.servers().await
}

#[tauri::command]
#[tracing::instrument(skip(desktop, form), fields(name = %form.name, host = %form.host), err(Debug))]
async fn add_server(desktop: State<'_, D>, form: AddServerForm) -> Result<ServerEntry, UiError> {
    desktop.add_server(form).await
}

/// The install checklist of the server in the "Add server" form.
#[tauri::command]
#[tracing::instrument(skip(desktop, form), fields(host = %form.server.host), err(Debug))]
async fn install_check(
    desktop: State<'_, D>,
    form: InstallForm,
) -> Result<Vec<InstallCheck>, UiError> {
    desktop.install_check(form).await
}

/// Installs AppOS on that server and adds it; its steps go out on `progress`.
#[tauri::command]
#[tracing::instrument(skip(desktop, form, progress), fields(name = %form.server.name, host = %form.server.host), err(Debug))]
async fn install_server(
    desktop: State<'_, D>,
    form: InstallForm,
    progress: Channel<InstallProgress>,
) -> Result<ServerEntry, UiError> {
    desktop
        .install_server(form, move |p| drop(progress.send(p)))
        .await
}

/// Upgrades an installed server's agent to this computer's; steps go out on `progress`.
#[tauri::command]
#[tracing::instrument(skip(desktop, progress), err(Debug))]
async fn upgrade_server(
    desktop: State<'_, D>,
    name: String,
    progress: Channel<InstallProgress>,
) -> Result<Connection, UiError> {
    desktop
        .upgrade_server(&name, move |p| drop(progress.send(p)))
        .await
}

/// This AppOS's version, which it installs on servers.
#[tauri::command]
fn desktop_version() -> String {
    appos_desktop_core::own_version().to_string()
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn remove_server(desktop: State<'_, D>, name: String) -> Result<(), UiError> {
    desktop.remove_server(&name).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn connect(desktop: State<'_, D>, name: String) -> Result<Connection, UiError> {
    desktop.connect(&name).await
}

/// Sets a server's backup repository, keeping its key on this computer.
#[tauri::command]
#[tracing::instrument(skip(desktop, request), err(Debug))]
async fn set_backup_repository(
    desktop: State<'_, D>,
    server: String,
    request: appos_proto::backups::RepositoryRequest,
) -> Result<appos_proto::desktop::BackupRepositorySet, UiError> {
    desktop.set_backup_repository(&server, request).await
}

/// The key this computer keeps for a server's backup repository.
#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn backup_key(desktop: State<'_, D>, server: String) -> Result<Option<String>, UiError> {
    desktop.backup_key(&server).await
}

/// Every agent call the screens make: one command, typed by `AgentCall`.
/// Reads a project on this computer for the deploy dialog.
#[tauri::command]
#[tracing::instrument(err(Debug))]
async fn read_project(path: String) -> Result<appos_proto::desktop::LocalProject, UiError> {
    tokio::task::spawn_blocking(move || appos_desktop_core::read_project(&path))
        .await
        .unwrap_or_else(|e| {
            Err(UiError {
                code: appos_proto::ErrorClass::Other,
                message: e.to_string(),
                host_key: None,
                fields: Vec::new(),
                problem: None,
            })
        })
}

#[tauri::command]
async fn agent_call(
    desktop: State<'_, D>,
    server: String,
    req: AgentCall,
) -> Result<serde_json::Value, UiError> {
    desktop.call(&server, req).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop, channel), err(Debug))]
async fn open_stream(
    desktop: State<'_, D>,
    server: String,
    req: StreamRequest,
    channel: Channel<StreamItem>,
) -> Result<u64, UiError> {
    desktop
        .open_stream(&server, req, move |item| channel.send(item).is_ok())
        .await
}

#[tauri::command]
#[tracing::instrument(skip(desktop, data, events), err(Debug))]
async fn open_terminal(
    desktop: State<'_, D>,
    server: String,
    kind: TerminalKind,
    cols: u16,
    rows: u16,
    data: Channel<InvokeResponseBody>,
    events: Channel<TerminalEvent>,
) -> Result<TerminalTab, UiError> {
    // Output crosses as raw bytes (an ArrayBuffer in the webview), never as text.
    desktop
        .open_terminal(
            &server,
            kind,
            cols,
            rows,
            move |bytes| data.send(InvokeResponseBody::Raw(bytes)).is_ok(),
            move |e| events.send(e).is_ok(),
        )
        .await
}

/// Input arrives as the raw request body; the tab's handle in a header.
#[tauri::command]
fn terminal_input(desktop: State<'_, D>, request: tauri::ipc::Request<'_>) -> Result<(), UiError> {
    let handle = request
        .headers()
        .get("appos-terminal")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| UiError {
            code: ErrorClass::InvalidInput,
            message: "no terminal handle".into(),
            host_key: None,
            fields: Vec::new(),
            problem: None,
        })?;
    let bytes = match request.body() {
        InvokeBody::Raw(b) => b.clone(),
        InvokeBody::Json(v) => v
            .as_str()
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
    };
    desktop.terminal_input(handle, bytes)
}

#[tauri::command]
fn terminal_resize(
    desktop: State<'_, D>,
    handle: u64,
    cols: u16,
    rows: u16,
) -> Result<(), UiError> {
    desktop.terminal_resize(handle, cols, rows)
}

#[tauri::command]
fn terminal_close(desktop: State<'_, D>, handle: u64) {
    desktop.terminal_close(handle)
}

#[tauri::command]
fn close_stream(desktop: State<'_, D>, id: u64) {
    desktop.close_stream(id)
}

/// Whether the window has a GPU behind it: terminals draw with WebGL only then
/// (see `appos_desktop_core::rendering`).
#[tauri::command]
fn has_gpu(rendering: State<'_, Rendering>) -> bool {
    rendering.gpu
}

/// Looks for a GPU render node and turns WebKit's compositing off when there
/// is none, and sets when the page's JavaScript gets compiled (see
/// `appos_desktop_core::rendering`). Runs first in `main`, before
/// any thread or WebKit process starts, so setting the variable races with nothing.
fn choose_rendering() -> Rendering {
    use appos_desktop_core::rendering;
    let chosen = Rendering::decide(
        std::env::var_os(rendering::NO_COMPOSITING).is_some(),
        rendering::render_node_present(),
    );
    if chosen.compositing_off {
        std::env::set_var(rendering::NO_COMPOSITING, "1");
    }
    for (k, v) in rendering::js_tiers_to_set(|k| std::env::var_os(k).is_some()) {
        std::env::set_var(k, v);
    }
    chosen
}

fn main() {
    let rendering = choose_rendering();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("APPOS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if !rendering.gpu {
        tracing::info!(
            compositing_off = rendering.compositing_off,
            "no GPU render node: terminals draw without WebGL"
        );
    }
    let desktop: D = Arc::new(Desktop::new(Paths::from_env(|k| std::env::var(k).ok())));
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .manage(desktop.clone())
        .manage(rendering)
        .setup(move |app| {
            // The local agent starts while the window loads, not after the first screen asks.
            tauri::async_runtime::spawn(async move { desktop.warm_up().await });
            // SIGTERM or SIGINT (a logout, `kill`, Ctrl-C where it was started)
            // ends the app as closing its window does, local agent included.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                tracing::info!("asked to stop: closing");
                handle.exit(0);
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            list_servers,
            add_server,
            install_check,
            install_server,
            upgrade_server,
            desktop_version,
            has_gpu,
            remove_server,
            connect,
            agent_call,
            set_backup_repository,
            backup_key,
            read_project,
            open_stream,
            close_stream,
            open_terminal,
            terminal_input,
            terminal_resize,
            terminal_close,
        ])
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            eprintln!("appos: cannot start the desktop app: {error}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            // Stop the local agent this app started, so it does not outlive the window.
            let desktop = handle.state::<D>();
            tauri::async_runtime::block_on(desktop.shutdown());
        }
    });
}
