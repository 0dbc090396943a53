//! The desktop app's logic, without a window: the server list (shared with
//! the CLI), live connections, and the built-in "This computer" entry that
//! runs a local agent. `src-tauri` only adapts these calls to IPC commands,
//! so everything here is testable with plain `cargo test`.

// UiError is the IPC error value (code, message, host key, field errors);
// it crosses the boundary once per command, so its size does not matter.
#![allow(clippy::result_large_err)]

mod coalesce;
mod local;
pub mod rendering;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use appos_client::connect::{self, AddServer};
use appos_client::install;
use appos_client::profile::{self, Profiles};
use appos_client::ssh::{ConnectOptions, SshSession, SshTarget};
use appos_client::{Client, ClientError, Transport};
use appos_proto::calls::{GetAppLogs, GetInfo, ListTerminals, OpenTerminal};
use appos_proto::desktop::{
    AddServerForm, BackupRepositorySet, Connection, HostKeyPrompt, InstallCheck, InstallForm,
    InstallProgress, ServerEntry, StreamItem, StreamRequest, TerminalEvent, TerminalKind,
    TerminalTab, UiError,
};
use appos_proto::{AgentCall, ErrorClass, LogsQuery, NewTerminal};
use tokio::sync::Mutex;

pub use coalesce::{Coalescer, COALESCE_FOR};
pub use local::LocalAgent;

/// Name of the built-in entry for this computer; not available to users.
pub const LOCAL: &str = "local";

/// Where the desktop keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Shared with the CLI: servers, known_hosts, token fallback.
    pub config_dir: PathBuf,
    /// The local agent's data root.
    pub local_agent_data: PathBuf,
    /// The `appos-agent` binary to run for "This computer".
    pub agent_bin: PathBuf,
}

impl Paths {
    /// The defaults for the user running the app; `env` is the process
    /// environment (passed in so that tests control it).
    pub fn from_env(env: impl Fn(&str) -> Option<String> + Copy) -> Paths {
        let config_dir = profile::config_dir(env);
        let data_home = env("APPOS_DESKTOP_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                env("XDG_DATA_HOME")
                    .filter(|d| d.starts_with('/'))
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        PathBuf::from(env("HOME").unwrap_or_else(|| "/".into()))
                            .join(".local/share")
                    })
                    .join("appos")
            });
        let agent_bin = env("APPOS_AGENT_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(|d| d.join("appos-agent")))
                    .filter(|p| p.exists())
                    .unwrap_or_else(|| PathBuf::from("appos-agent"))
            });
        Paths {
            config_dir,
            local_agent_data: data_home.join("local-agent"),
            agent_bin,
        }
    }
}

struct Live {
    client: Arc<Client>,
}

struct TermConn {
    input: tokio::sync::mpsc::UnboundedSender<appos_client::terminal::TermIn>,
    task: tokio::task::AbortHandle,
}

pub struct Desktop {
    paths: Paths,
    live: Mutex<HashMap<String, Live>>,
    /// One connection being made per server at a time: calls that come
    /// together while there is none share the one that is made.
    making: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Passphrases given this session, by server (also kept in the keyring when there is one).
    passphrases: Mutex<HashMap<String, String>>,
    local: Mutex<Option<LocalAgent>>,
    /// Terminal tabs' connections, by handle.
    terms: std::sync::Mutex<HashMap<u64, TermConn>>,
    /// Streams the UI opened, by id, so that it can close them.
    streams: std::sync::Mutex<HashMap<u64, tokio::task::AbortHandle>>,
    next_stream: std::sync::atomic::AtomicU64,
}

impl Desktop {
    pub fn new(paths: Paths) -> Desktop {
        Desktop {
            paths,
            live: Mutex::new(HashMap::new()),
            making: Mutex::new(HashMap::new()),
            passphrases: Mutex::new(HashMap::new()),
            local: Mutex::new(None),
            streams: std::sync::Mutex::new(HashMap::new()),
            terms: std::sync::Mutex::new(HashMap::new()),
            next_stream: std::sync::atomic::AtomicU64::new(1),
        }
    }

    fn profiles(&self) -> Result<Profiles, UiError> {
        Profiles::load(&self.paths.config_dir).map_err(ui_error)
    }

    /// Starts "This computer"'s agent, which the first screen asks for, while
    /// the window is still loading (a failure is reported when the screen asks).
    pub async fn warm_up(&self) {
        if let Err(e) = self.client(LOCAL).await {
            tracing::warn!(error = %e.message, "the local agent did not start ahead of the window");
        }
    }

    /// "This computer" first, then the servers the user added, by name.
    pub async fn servers(&self) -> Result<Vec<ServerEntry>, UiError> {
        let profiles = self.profiles()?;
        let live = self.live.lock().await;
        let mut out = vec![ServerEntry {
            name: LOCAL.into(),
            url: "local".into(),
            local: true,
            host_key: None,
            connected: live.contains_key(LOCAL),
        }];
        out.extend(
            profiles
                .servers()
                .filter(|(n, _)| n.as_str() != LOCAL)
                .map(|(name, p)| ServerEntry {
                    name: name.clone(),
                    url: p.url.clone(),
                    local: false,
                    host_key: p.host_key.clone(),
                    connected: live.contains_key(name),
                }),
        );
        Ok(out)
    }

    /// The form's server: its name, URL and the options it connects with
    /// (a new host key accepted only when `accept_fingerprint` names it).
    fn ssh_form(&self, form: &AddServerForm) -> Result<(String, String, ConnectOptions), UiError> {
        let name = form.name.trim().to_string();
        if name == LOCAL {
            return Err(invalid(format!(
                "{LOCAL:?} is reserved for this computer; choose another name"
            )));
        }
        profile::check_server_name(&name).map_err(ui_error)?;
        let host = form.host.trim();
        let user = form.user.trim();
        if host.is_empty() || user.is_empty() {
            return Err(invalid("host and user are required".into()));
        }
        let target = SshTarget {
            host: host.to_string(),
            user: Some(user.to_string()),
            port: Some(form.port),
        };
        let url = target.to_url();
        SshTarget::parse(&url).map_err(ui_error)?;
        let mut opts = ConnectOptions::for_user(&self.paths.config_dir);
        opts.new_key_policy = connect::new_key_policy(false, form.accept_fingerprint.clone());
        opts.passphrase = form.passphrase.clone().filter(|p| !p.is_empty());
        if let Some(identity) = form.identity.as_deref().filter(|s| !s.trim().is_empty()) {
            opts.identity = Some(PathBuf::from(identity));
        }
        Ok((name, url, opts))
    }

    /// After a server was added: its key passphrase kept, its old connection forgotten.
    async fn added(
        &self,
        name: &str,
        url: String,
        passphrase: Option<String>,
        added: connect::Added,
    ) -> ServerEntry {
        if let profile::TokenLocation::File { path, why } = &added.token_location {
            tracing::warn!(path = %path.display(), %why, "no OS keyring; token stored in a 0600 file");
        }
        if let Some(p) = passphrase {
            if let Ok(profiles) = self.profiles() {
                if !profiles.save_passphrase(name, &p).await {
                    tracing::warn!(
                        "no OS keyring; the key passphrase is kept for this session only"
                    );
                }
            }
            self.passphrases.lock().await.insert(name.to_string(), p);
        }
        self.live.lock().await.remove(name);
        ServerEntry {
            name: name.to_string(),
            url,
            local: false,
            host_key: added.host_key,
            connected: false,
        }
    }

    /// Adds an SSH server: connects, checks the host key (a new key needs
    /// `accept_fingerprint` equal to the key presented), gets a token and
    /// saves both. Nothing is saved on failure. A server without an agent
    /// fails with `agent_missing`: the UI then offers to install one.
    pub async fn add_server(&self, form: AddServerForm) -> Result<ServerEntry, UiError> {
        let (name, url, opts) = self.ssh_form(&form)?;
        let mut profiles = self.profiles()?;
        let req = AddServer {
            name: name.clone(),
            url: url.clone(),
            identity: form
                .identity
                .filter(|s| !s.trim().is_empty())
                .map(PathBuf::from),
            agent_socket: form.agent_socket.filter(|s| !s.trim().is_empty()),
            bootstrap_cmd: form.bootstrap_cmd.filter(|s| !s.trim().is_empty()),
            ca_file: None,
            token: None,
            token_name: profile::token_name("appos-desktop"),
        };
        let added = connect::add_server(&mut profiles, req, &opts, unix_now())
            .await
            .map_err(ui_error)?;
        Ok(self.added(&name, url, opts.passphrase.clone(), added).await)
    }

    fn install_plan(form: &InstallForm) -> Result<install::Plan, UiError> {
        let data = form.data.trim();
        if !data.starts_with('/') || data.contains(['\n', '\0']) {
            return Err(invalid(format!(
                "the data root must be an absolute path on the server, not {data:?}"
            )));
        }
        Ok(install::Plan {
            data: data.to_string(),
            container: install::CONTAINER.into(),
            image: install::default_image(),
            proxy_ports: form.proxy_ports,
            install_docker: false,
        })
    }

    /// Connects to the server of "Add server" and reads its install
    /// checklist (system, root, Docker, disk, ports, an AppOS already
    /// there). Nothing changes on the server.
    pub async fn install_check(&self, form: InstallForm) -> Result<Vec<InstallCheck>, UiError> {
        let (_, url, opts) = self.ssh_form(&form.server)?;
        let plan = Self::install_plan(&form)?;
        let session = SshSession::connect(&SshTarget::parse(&url).map_err(ui_error)?, &opts)
            .await
            .map_err(ui_error)?;
        let facts = install::facts(&session, &plan).await.map_err(ui_error)?;
        Ok(install::checklist(&facts, &plan)
            .into_iter()
            .map(check)
            .collect())
    }

    /// Installs the agent on the server of "Add server" (checklist first;
    /// nothing changes unless every line passes), reporting each step and
    /// the image's upload to `progress`, then adds the server.
    pub async fn install_server(
        &self,
        form: InstallForm,
        progress: impl Fn(InstallProgress) + Send + Sync,
    ) -> Result<ServerEntry, UiError> {
        let (name, url, opts) = self.ssh_form(&form.server)?;
        let plan = Self::install_plan(&form)?;
        let mut profiles = self.profiles()?;
        let session = SshSession::connect(&SshTarget::parse(&url).map_err(ui_error)?, &opts)
            .await
            .map_err(ui_error)?;
        let req = AddServer {
            name: name.clone(),
            url: url.clone(),
            identity: opts.identity.clone(),
            agent_socket: None,
            bootstrap_cmd: None,
            ca_file: None,
            token: None,
            token_name: profile::token_name("appos-desktop"),
        };
        let report = |p: install::Progress| progress(install_progress(p));
        let added = install::install(
            &mut profiles,
            &session,
            &opts,
            req,
            &plan,
            &report,
            unix_now(),
        )
        .await
        .map_err(ui_error)?;
        Ok(self.added(&name, url, opts.passphrase.clone(), added).await)
    }

    /// Replaces the agent of an SSH server that AppOS installed with this
    /// computer's agent image (data, apps, versions and tokens kept; back
    /// to the old image if the new one does not answer), reporting its steps
    /// to `progress`; the connection as it is afterwards.
    pub async fn upgrade_server(
        &self,
        name: &str,
        progress: impl Fn(InstallProgress) + Send + Sync,
    ) -> Result<Connection, UiError> {
        let client = self.client(name).await?;
        let Transport::Ssh { session, .. } = client.transport() else {
            return Err(invalid(format!("{name} is not reached over SSH: only an agent installed over SSH is upgraded from here")));
        };
        let facts = install::facts(&session, &install::Plan::for_container(install::CONTAINER))
            .await
            .map_err(ui_error)?;
        let report = |p: install::Progress| progress(install_progress(p));
        install::upgrade(
            &session,
            &facts,
            install::CONTAINER,
            install::default_image(),
            std::time::Duration::from_secs(90),
            &report,
        )
        .await
        .map_err(ui_error)?;
        self.connect(name).await
    }

    pub async fn remove_server(&self, name: &str) -> Result<(), UiError> {
        if name == LOCAL {
            return Err(invalid("this computer cannot be removed".into()));
        }
        let mut profiles = self.profiles()?;
        profiles.remove(name).map_err(ui_error)?;
        profiles.save().map_err(ui_error)?;
        profiles.delete_token(name).await.map_err(ui_error)?;
        self.live.lock().await.remove(name);
        self.making.lock().await.remove(name);
        self.passphrases.lock().await.remove(name);
        Ok(())
    }

    /// The server's connection when there is one that is not closed.
    async fn healthy(&self, name: &str) -> Option<Arc<Client>> {
        let live = self.live.lock().await;
        let l = live.get(name)?;
        let open = match l.client.transport() {
            Transport::Ssh { session, .. } => !session.is_closed(),
            _ => true,
        };
        open.then(|| l.client.clone())
    }

    async fn client(&self, name: &str) -> Result<Arc<Client>, UiError> {
        if let Some(c) = self.healthy(name).await {
            return Ok(c);
        }
        let gate = self
            .making
            .lock()
            .await
            .entry(name.to_string())
            .or_default()
            .clone();
        let _one = gate.lock().await;
        // Made by the call that held the gate before this one.
        if let Some(c) = self.healthy(name).await {
            return Ok(c);
        }
        let client = if name == LOCAL {
            let mut local = self.local.lock().await;
            if local.as_mut().is_none_or(|l| !l.is_running()) {
                *local = Some(
                    LocalAgent::start(&self.paths.agent_bin, &self.paths.local_agent_data)
                        .await
                        .map_err(|e| UiError {
                            code: ErrorClass::AgentMissing,
                            message: format!("cannot start the local agent: {e:#}"),
                            host_key: None,
                            fields: Vec::new(),
                            problem: None,
                        })?,
                );
            }
            let l = local
                .as_ref()
                .ok_or_else(|| invalid("local agent vanished".into()))?;
            Client::new(Transport::Unix(l.socket()), Some(l.token().to_string()))
        } else {
            let profiles = self.profiles()?;
            let (name, profile) = profiles.pick(Some(name)).map_err(ui_error)?;
            let token = profiles.load_token(&name).await.map_err(ui_error)?;
            let mut opts = ConnectOptions::for_user(&self.paths.config_dir);
            let remembered = self.passphrases.lock().await.get(&name).cloned();
            opts.passphrase = match remembered {
                Some(p) => Some(p),
                None => profiles.load_passphrase(&name).await,
            };
            connect::connect(&profile, token, &opts)
                .await
                .map_err(ui_error)?
        };
        let client = Arc::new(client);
        self.live.lock().await.insert(
            name.to_string(),
            Live {
                client: client.clone(),
            },
        );
        Ok(client)
    }

    /// Connects (or reuses the live connection) and asks the agent who it is.
    pub async fn connect(&self, name: &str) -> Result<Connection, UiError> {
        let client = self.client(name).await?;
        let info = match client.call(&GetInfo {}).await {
            Ok(i) => i,
            Err(e) => {
                self.live.lock().await.remove(name);
                return Err(ui_error(e));
            }
        };
        Ok(Connection {
            server: name.to_string(),
            via: client.transport().describe(),
            info,
        })
    }

    /// Runs `f` on a server's live connection; a connection the agent
    /// dropped is forgotten so that the next call reconnects.
    async fn on_live<T, F, Fut>(&self, server: &str, f: F) -> Result<T, UiError>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let client = self.client(server).await?;
        match f(client).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if matches!(e, ClientError::AgentMissing(_)) {
                    self.live.lock().await.remove(server);
                }
                Err(ui_error(e))
            }
        }
    }

    /// Runs any agent call on a server and answers it as JSON: the one
    /// entry point of every screen's agent calls.
    #[tracing::instrument(skip(self, req), fields(call = %req.describe()), err(Debug))]
    pub async fn call(&self, server: &str, req: AgentCall) -> Result<serde_json::Value, UiError> {
        self.on_live(server, |c| async move { c.call_any(req).await })
            .await
    }

    /// Sets a server's backup repository. Without a key, the one this
    /// computer keeps for that location is given (when there is one); a key
    /// the agent generates, or one given, is kept (the OS keyring, else a
    /// 0600 file), so that a restore on another server can use it.
    pub async fn set_backup_repository(
        &self,
        server: &str,
        mut req: appos_proto::backups::RepositoryRequest,
    ) -> Result<BackupRepositorySet, UiError> {
        let profiles = self.profiles()?;
        let account = profile::backup_key_account(server, &req.location);
        let used_kept_key = req.key.is_none() && {
            req.key = profiles.load_backup_key(&account).await.map_err(ui_error)?;
            req.key.is_some()
        };
        let given = req.key.clone();
        let repository = self
            .on_live(server, |c| async move { c.call(&req).await })
            .await?;
        let mut key_kept = None;
        if let Some(k) = repository.key.as_deref().or(given.as_deref()) {
            key_kept = match profiles.save_backup_key(&account, k).await {
                Ok(profile::TokenLocation::Keyring) => Some("keyring".to_string()),
                Ok(profile::TokenLocation::File { path, .. }) => Some(path.display().to_string()),
                Err(error) => {
                    tracing::warn!(%error, "cannot keep the backup repository's key");
                    None
                }
            };
        }
        Ok(BackupRepositorySet {
            repository,
            key_kept,
            used_kept_key,
        })
    }

    /// The key this computer keeps for a server's backup repository.
    pub async fn backup_key(&self, server: &str) -> Result<Option<String>, UiError> {
        let info = self
            .on_live(server, |c| async move {
                c.call(&appos_proto::calls::GetBackupRepository {}).await
            })
            .await?;
        let Some(location) = info.location else {
            return Ok(None);
        };
        self.profiles()?
            .load_backup_key(&profile::backup_key_account(server, &location))
            .await
            .map_err(ui_error)
    }

    /// Opens a stream and hands what it delivers to `sink`, ending with one
    /// `StreamItem::End`. Returns at once with the stream's id, for
    /// [`Desktop::close_stream`]. `sink` returns false when nobody listens
    /// any more, which ends the stream too.
    pub async fn open_stream(
        self: &Arc<Self>,
        server: &str,
        req: StreamRequest,
        sink: impl Fn(StreamItem) -> bool + Send + Sync + 'static,
    ) -> Result<u64, UiError> {
        let client = self.client(server).await?;
        let id = self
            .next_stream
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let sink = Arc::new(sink);
        let me = Arc::downgrade(self);
        let task_sink = sink.clone();
        let task = tokio::spawn(async move {
            let sink = task_sink;
            let result = match req {
                StreamRequest::Events { after } => {
                    client
                        .events(after, |event| sink(StreamItem::Event { event }))
                        .await
                }
                // Both logs go on through a lost connection (the client
                // makes it again), from where they were: no line twice.
                StreamRequest::DeploymentLog { id } => {
                    client
                        .follow_deployment_log(&id, |line| {
                            sink(StreamItem::DeploymentLog { line });
                        })
                        .await
                }
                StreamRequest::AppLogs {
                    app,
                    service,
                    tail,
                    grep,
                    follow,
                } => {
                    let query = LogsQuery {
                        service,
                        tail: tail.map(|t| t.to_string()),
                        since: None,
                        follow,
                        grep,
                    };
                    let on_line = |line| {
                        sink(StreamItem::AppLog { line });
                    };
                    if query.follow {
                        client.follow_logs(&app, query, on_line).await
                    } else {
                        client.stream(&GetAppLogs { app, query }, on_line).await
                    }
                }
            };
            sink(StreamItem::End {
                error: result.err().map(ui_error),
            });
            if let Some(me) = me.upgrade() {
                me.streams
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            }
        });
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, task.abort_handle());
        Ok(id)
    }

    /// Closes a stream the UI no longer shows; closing an ended one is fine.
    pub fn close_stream(&self, id: u64) {
        if let Some(h) = self
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
        {
            h.abort();
        }
    }

    /// Opens a terminal tab. Output bytes go to `on_data` (a keystroke's echo
    /// at once, a burst coalesced into few IPC messages: see `coalesce`); `on_event` hears the replay's end, the
    /// exit status or a lost connection. Either returning false (nobody
    /// listens any more) closes the tab's connection.
    pub async fn open_terminal(
        self: &Arc<Self>,
        server: &str,
        kind: TerminalKind,
        cols: u16,
        rows: u16,
        on_data: impl Fn(Vec<u8>) -> bool + Send + Sync + 'static,
        on_event: impl Fn(TerminalEvent) -> bool + Send + Sync + 'static,
    ) -> Result<TerminalTab, UiError> {
        use appos_client::terminal::{TermIn, TermOut};
        let client = self.client(server).await?;
        let (io, session, title) = match kind {
            TerminalKind::ServerShell => {
                let Transport::Ssh { session, .. } = client.transport() else {
                    return Err(invalid(
                        "a server shell needs an SSH server; on this computer, open an agent shell"
                            .into(),
                    ));
                };
                let io = session.open_shell(cols, rows).await.map_err(ui_error)?;
                (io, None, format!("{server}: server shell"))
            }
            TerminalKind::AgentShell => {
                let t = client
                    .call(&OpenTerminal {
                        request: NewTerminal::Shell {
                            cols: Some(cols),
                            rows: Some(rows),
                        },
                    })
                    .await
                    .map_err(ui_error)?;
                (
                    client.attach_terminal(&t.id).await.map_err(ui_error)?,
                    Some(t.id),
                    format!("{server}: agent shell"),
                )
            }
            TerminalKind::Container { app, service } => {
                let request = NewTerminal::Exec {
                    app: app.clone(),
                    service: service.clone(),
                    command: Vec::new(),
                    tty: true,
                    cols: Some(cols),
                    rows: Some(rows),
                };
                let t = client
                    .call(&OpenTerminal { request })
                    .await
                    .map_err(ui_error)?;
                (
                    client.attach_terminal(&t.id).await.map_err(ui_error)?,
                    Some(t.id),
                    format!("{app}/{service}"),
                )
            }
            TerminalKind::Attach { id } => {
                let t = client
                    .call(&ListTerminals {})
                    .await
                    .map_err(ui_error)?
                    .into_iter()
                    .find(|t| t.id == id)
                    .ok_or_else(|| UiError {
                        // Gone: it ended, or went with an agent that restarted.
                        code: ErrorClass::NotFound,
                        message: format!(
                            "no terminal {id} on {server}: it ended, or the agent restarted"
                        ),
                        host_key: None,
                        fields: Vec::new(),
                        problem: None,
                    })?;
                let title = match (&t.app, &t.service) {
                    (Some(a), Some(s)) => format!("{a}/{s}"),
                    _ => format!("{server}: agent shell"),
                };
                let io = client.attach_terminal(&id).await.map_err(ui_error)?;
                if t.tty && (t.cols, t.rows) != (cols, rows) {
                    let _ = io.input.send(TermIn::Resize { cols, rows });
                }
                (io, Some(id), title)
            }
        };
        let handle = self
            .next_stream
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The tab's input goes through here to the current connection, which
        // changes when a viewer that fell behind attaches again.
        let (input, mut typed) = tokio::sync::mpsc::unbounded_channel::<TermIn>();
        let (mut to_session, mut output) = (io.input, io.output);
        let me = Arc::downgrade(self);
        let reattach = session.clone();
        let task = tokio::spawn(async move {
            let mut batch = Coalescer::default();
            let mut listening = true;
            let mut ended = false;
            while listening && !ended {
                let flush_in = (!batch.is_empty()).then_some(COALESCE_FOR);
                let next = tokio::select! {
                    i = typed.recv() => {
                        match i {
                            Some(i) => { let _ = to_session.send(i); }
                            None => break,
                        }
                        continue;
                    }
                    m = output.recv() => m,
                    () = sleep_or_never(flush_in) => {
                        listening = batch.take(std::time::Instant::now()).is_none_or(&on_data);
                        continue;
                    }
                };
                match next {
                    Some(TermOut::Bytes(b)) => {
                        if let Some(ready) = batch.push(&b, std::time::Instant::now()) {
                            listening = on_data(ready);
                        }
                    }
                    Some(TermOut::Replayed) => {
                        listening = batch.take(std::time::Instant::now()).is_none_or(&on_data);
                        listening &= on_event(TerminalEvent::Replayed);
                    }
                    Some(TermOut::Exit(status)) => {
                        if let Some(b) = batch.take(std::time::Instant::now()) {
                            on_data(b);
                        }
                        on_event(TerminalEvent::Exit { status });
                        ended = true;
                    }
                    // Fell behind: attach again; the screen is reset and replayed.
                    Some(TermOut::Lagged) if reattach.is_some() => {
                        if let Some(b) = batch.take(std::time::Instant::now()) {
                            on_data(b);
                        }
                        match client
                            .attach_terminal(reattach.as_deref().unwrap_or_default())
                            .await
                        {
                            Ok(io) => {
                                listening = on_data(b"\x1bc".to_vec());
                                (to_session, output) = (io.input, io.output);
                            }
                            Err(e) => {
                                on_event(TerminalEvent::Lost { error: ui_error(e) });
                                ended = true;
                            }
                        }
                    }
                    Some(TermOut::Lagged) | None => {
                        if let Some(b) = batch.take(std::time::Instant::now()) {
                            on_data(b);
                        }
                        let error = UiError {
                            code: ErrorClass::Unreachable,
                            message: "the connection to the terminal was lost; reattach to get its screen back".into(),
                            host_key: None,
                            fields: Vec::new(),
                            problem: None,
                        };
                        on_event(TerminalEvent::Lost { error });
                        ended = true;
                    }
                }
            }
            if let Some(me) = me.upgrade() {
                me.terms
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&handle);
            }
        });
        self.terms.lock().unwrap_or_else(|e| e.into_inner()).insert(
            handle,
            TermConn {
                input,
                task: task.abort_handle(),
            },
        );
        Ok(TerminalTab {
            handle,
            session,
            title,
        })
    }

    /// Bytes typed or pasted into a tab.
    pub fn terminal_input(&self, handle: u64, bytes: Vec<u8>) -> Result<(), UiError> {
        self.term_send(handle, appos_client::terminal::TermIn::Bytes(bytes.into()))
    }

    pub fn terminal_resize(&self, handle: u64, cols: u16, rows: u16) -> Result<(), UiError> {
        self.term_send(
            handle,
            appos_client::terminal::TermIn::Resize { cols, rows },
        )
    }

    fn term_send(&self, handle: u64, msg: appos_client::terminal::TermIn) -> Result<(), UiError> {
        let terms = self.terms.lock().unwrap_or_else(|e| e.into_inner());
        let t = terms
            .get(&handle)
            .ok_or_else(|| invalid("this terminal is closed".into()))?;
        t.input
            .send(msg)
            .map_err(|_| invalid("this terminal is closed".into()))
    }

    /// Closes a tab's connection; an agent session lives on (reattach it later).
    pub fn terminal_close(&self, handle: u64) {
        if let Some(t) = self
            .terms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&handle)
        {
            t.task.abort();
        }
    }

    /// How many streams are open (for tests and diagnostics).
    pub fn open_streams(&self) -> usize {
        self.streams.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Stops the local agent, if this app started it.
    pub async fn shutdown(&self) {
        if let Some(mut l) = self.local.lock().await.take() {
            l.stop().await;
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Reads a compose file on this computer (or the one in a folder), with
/// the files it references and the `.env` beside it, to deploy.
pub fn read_project(path: &str) -> Result<appos_proto::desktop::LocalProject, UiError> {
    let path = path.trim();
    if path.is_empty() {
        return Err(invalid(
            "give the path of a compose file or of the folder that holds one".into(),
        ));
    }
    let expanded = match path.strip_prefix("~/") {
        Some(rest) => std::env::var("HOME")
            .map(|h| std::path::Path::new(&h).join(rest))
            .unwrap_or_else(|_| path.into()),
        None => path.into(),
    };
    appos_client::project::read(&expanded).map_err(|e| invalid(e.to_string()))
}

/// Sleeps for `d`, or forever when there is nothing to wait for.
async fn sleep_or_never(d: Option<std::time::Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

fn invalid(message: String) -> UiError {
    UiError {
        code: ErrorClass::InvalidInput,
        message,
        host_key: None,
        fields: Vec::new(),
        problem: None,
    }
}

fn check(c: install::Check) -> InstallCheck {
    InstallCheck {
        item: c.item.to_string(),
        ok: c.ok,
        detail: c.detail,
    }
}

fn install_progress(p: install::Progress) -> InstallProgress {
    match p {
        install::Progress::Checked(checks) => InstallProgress::Checked {
            checks: checks.into_iter().map(check).collect(),
        },
        install::Progress::Upload { sent, total } => InstallProgress::Upload { sent, total },
        install::Progress::Step(message) => InstallProgress::Step { message },
    }
}

/// This AppOS's version: the agent version it installs and upgrades to.
pub fn own_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The one conversion from client errors to what the UI branches on: the
/// client's classification, plus the host key and field errors to show.
pub fn ui_error(e: ClientError) -> UiError {
    let message = e.to_string();
    let code = e.class();
    let (host_key, fields, problem) = match e {
        ClientError::HostKeyUnknown {
            host,
            algorithm,
            fingerprint,
        } => (
            Some(HostKeyPrompt {
                host,
                algorithm,
                fingerprint,
            }),
            Vec::new(),
            None,
        ),
        ClientError::Api(p) => (None, p.errors, Some(p.code)),
        _ => (None, Vec::new(), None),
    };
    UiError {
        code,
        message,
        host_key,
        fields,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appos_proto::{FieldError, Problem, ProblemCode};

    #[test]
    fn client_errors_reach_the_ui_classified() {
        let unknown = ClientError::HostKeyUnknown {
            host: "box:22".into(),
            algorithm: "ssh-ed25519".into(),
            fingerprint: "SHA256:abc".into(),
        };
        let u = ui_error(unknown);
        assert_eq!(u.code, ErrorClass::HostKeyUnknown);
        assert_eq!(
            u.host_key,
            Some(HostKeyPrompt {
                host: "box:22".into(),
                algorithm: "ssh-ed25519".into(),
                fingerprint: "SHA256:abc".into()
            })
        );

        let invalid = Problem::invalid(vec![FieldError::new(
            "name",
            "app names match ^[a-z0-9][a-z0-9_-]{0,62}$",
        )]);
        let u = ui_error(ClientError::Api(invalid));
        assert_eq!(
            (u.code, u.fields.len(), u.host_key, u.problem),
            (
                ErrorClass::InvalidInput,
                1,
                None,
                Some(ProblemCode::InvalidInput)
            )
        );
        assert_eq!(
            u.message,
            "Invalid input: name: app names match ^[a-z0-9][a-z0-9_-]{0,62}$"
        );

        for (code, class) in [
            (ProblemCode::Unauthorized, ErrorClass::Unauthorized),
            (ProblemCode::Forbidden, ErrorClass::Forbidden),
            (ProblemCode::AppNotFound, ErrorClass::NotFound),
        ] {
            assert_eq!(
                ui_error(ClientError::Api(Problem::new(code, None))).code,
                class,
                "{code}"
            );
        }
    }

    #[test]
    fn paths_follow_the_environment() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/ada".to_string()),
            "XDG_DATA_HOME" => Some("/data".to_string()),
            "APPOS_AGENT_BIN" => Some("/opt/appos-agent".to_string()),
            _ => None,
        };
        let p = Paths::from_env(env);
        assert_eq!(p.local_agent_data, PathBuf::from("/data/appos/local-agent"));
        assert_eq!(p.agent_bin, PathBuf::from("/opt/appos-agent"));
        // A relative XDG_DATA_HOME is ignored, as the spec says.
        let p = Paths::from_env(|k| {
            if k == "XDG_DATA_HOME" {
                Some("rel".into())
            } else {
                env(k).filter(|_| k != "XDG_DATA_HOME")
            }
        });
        assert_eq!(
            p.local_agent_data,
            PathBuf::from("/home/ada/.local/share/appos/local-agent")
        );
    }
}
