//! The AppOS desktop app. Each command is a few-line adapter over
//! `appos_desktop_core::Desktop`; all logic lives there.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use appos_desktop_core::{Desktop, Paths};
use appos_proto::desktop::{AddServerForm, Connection, ServerEntry, UiError};
use appos_proto::App;
use tauri::{Manager, RunEvent, State};

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn list_servers(desktop: State<'_, Desktop>) -> Result<Vec<ServerEntry>, UiError> {
    desktop.servers().await
}

#[tauri::command]
#[tracing::instrument(skip(desktop, form), fields(name = %form.name, host = %form.host), err(Debug))]
async fn add_server(desktop: State<'_, Desktop>, form: AddServerForm) -> Result<ServerEntry, UiError> {
    desktop.add_server(form).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn remove_server(desktop: State<'_, Desktop>, name: String) -> Result<(), UiError> {
    desktop.remove_server(&name).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn connect(desktop: State<'_, Desktop>, name: String) -> Result<Connection, UiError> {
    desktop.connect(&name).await
}

#[tauri::command]
#[tracing::instrument(skip(desktop), err(Debug))]
async fn list_apps(desktop: State<'_, Desktop>, name: String) -> Result<Vec<App>, UiError> {
    desktop.apps(&name).await
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("APPOS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let desktop = Desktop::new(Paths::from_env(|k| std::env::var(k).ok()));
    let app = tauri::Builder::default()
        .manage(desktop)
        .invoke_handler(tauri::generate_handler![list_servers, add_server, remove_server, connect, list_apps])
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
            let desktop = handle.state::<Desktop>();
            tauri::async_runtime::block_on(desktop.shutdown());
        }
    });
}
