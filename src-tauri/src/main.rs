//! The AppOS desktop app. Each command is a few-line adapter over
//! `appos_desktop_core::Desktop`; all logic lives there.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]
// UiError is the one IPC error value; its size does not matter once per command.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use appos_desktop_core::{Desktop, Paths};
use appos_proto::desktop::{
    AddServerForm, Connection, ServerEntry, StreamItem, StreamRequest, TerminalEvent, TerminalKind, TerminalTab, UiError, UiErrorCode,
};
use appos_proto::{
    App, AppVersion, AppVersionDetail, CatalogEntry, ComposeCheck, ComposeCheckRequest, DeployAccepted, DeployRequest, Deployment,
    SaveVersionRequest, Terminal, VersionSaved,
};
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

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn list_apps(desktop: State<'_, D>, name: String) -> Result<Vec<App>, UiError> {
    desktop.apps(&name).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn get_app(desktop: State<'_, D>, server: String, app: String) -> Result<App, UiError> {
    desktop.app(&server, &app).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn catalog(desktop: State<'_, D>, server: String, search: Option<String>) -> Result<Vec<CatalogEntry>, UiError> {
    desktop.catalog(&server, search.as_deref()).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop, req), fields(app = %req.name), err(Debug))]
async fn deploy(desktop: State<'_, D>, server: String, req: DeployRequest) -> Result<DeployAccepted, UiError> {
    desktop.deploy(&server, req).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop, req), fields(app = %req.name), err(Debug))]
async fn check_compose(desktop: State<'_, D>, server: String, req: ComposeCheckRequest) -> Result<ComposeCheck, UiError> {
    desktop.check_compose(&server, req).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn list_deployments(desktop: State<'_, D>, server: String, app: Option<String>) -> Result<Vec<Deployment>, UiError> {
    desktop.deployments(&server, app.as_deref()).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn get_deployment(desktop: State<'_, D>, server: String, id: String) -> Result<Deployment, UiError> {
    desktop.deployment(&server, &id).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn cancel_deployment(desktop: State<'_, D>, server: String, id: String) -> Result<Deployment, UiError> {
    desktop.cancel_deployment(&server, &id).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn app_action(desktop: State<'_, D>, server: String, app: String, action: String) -> Result<Deployment, UiError> {
    desktop.app_action(&server, &app, &action).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn adopt_app(desktop: State<'_, D>, server: String, project: String) -> Result<VersionSaved, UiError> {
    desktop.adopt(&server, &project).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn redeploy(desktop: State<'_, D>, server: String, app: String) -> Result<VersionSaved, UiError> {
    desktop.redeploy(&server, &app).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn delete_app(desktop: State<'_, D>, server: String, app: String, volumes: bool) -> Result<Deployment, UiError> {
    desktop.delete_app(&server, &app, volumes).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn list_versions(desktop: State<'_, D>, server: String, app: String) -> Result<Vec<AppVersion>, UiError> {
    desktop.versions(&server, &app).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn get_version(desktop: State<'_, D>, server: String, app: String, version: u32) -> Result<AppVersionDetail, UiError> {
    desktop.version(&server, &app, version).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn diff_versions(desktop: State<'_, D>, server: String, app: String, from: u32, to: u32) -> Result<String, UiError> {
    desktop.diff(&server, &app, from, to).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop, req), err(Debug))]
async fn save_version(desktop: State<'_, D>, server: String, app: String, req: SaveVersionRequest) -> Result<VersionSaved, UiError> {
    desktop.save_version(&server, &app, req).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn rollback(desktop: State<'_, D>, server: String, app: String, version: u32, pin_digests: bool) -> Result<VersionSaved, UiError> {
    desktop.rollback(&server, &app, version, pin_digests).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop, channel), err(Debug))]
async fn open_stream(desktop: State<'_, D>, server: String, req: StreamRequest, channel: Channel<StreamItem>) -> Result<u64, UiError> {
    desktop.open_stream(&server, req, move |item| channel.send(item).is_ok()).await
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
        .open_terminal(&server, kind, cols, rows, move |bytes| data.send(InvokeResponseBody::Raw(bytes)).is_ok(), move |e| events.send(e).is_ok())
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
        .ok_or_else(|| UiError { code: UiErrorCode::InvalidInput, message: "no terminal handle".into(), host_key: None, fields: Vec::new() })?;
    let bytes = match request.body() {
        InvokeBody::Raw(b) => b.clone(),
        InvokeBody::Json(v) => v.as_str().map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
    };
    desktop.terminal_input(handle, bytes)
}

#[tauri::command]
fn terminal_resize(desktop: State<'_, D>, handle: u64, cols: u16, rows: u16) -> Result<(), UiError> {
    desktop.terminal_resize(handle, cols, rows)
}

#[tauri::command]
fn terminal_close(desktop: State<'_, D>, handle: u64) {
    desktop.terminal_close(handle)
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn list_terminals(desktop: State<'_, D>, server: String) -> Result<Vec<Terminal>, UiError> {
    desktop.terminals(&server).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn kill_terminal(desktop: State<'_, D>, server: String, id: String) -> Result<(), UiError> {
    desktop.kill_terminal(&server, &id).await
}

#[tauri::command]
fn close_stream(desktop: State<'_, D>, id: u64) {
    desktop.close_stream(id)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("APPOS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let desktop: D = Arc::new(Desktop::new(Paths::from_env(|k| std::env::var(k).ok())));
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .manage(desktop)
        .invoke_handler(tauri::generate_handler![
            list_servers,
            add_server,
            remove_server,
            connect,
            list_apps,
            get_app,
            catalog,
            deploy,
            check_compose,
            list_deployments,
            get_deployment,
            cancel_deployment,
            app_action,
            adopt_app,
            redeploy,
            delete_app,
            list_versions,
            get_version,
            diff_versions,
            save_version,
            rollback,
            open_stream,
            close_stream,
            open_terminal,
            terminal_input,
            terminal_resize,
            terminal_close,
            list_terminals,
            kill_terminal,
        ])
        .build(tauri::generate_context!("../tauri.conf.json"));
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
