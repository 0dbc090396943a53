//! Terminal sessions owned by the agent: a shell in the agent's environment
//! on a PTY (portable-pty), or a command in an app's container (a Docker
//! exec, with or without a TTY).
//!
//! A session outlives its viewers. Its output goes to a replay buffer and to
//! each viewer's own bounded queue under one lock, so a viewer that attaches
//! gets the replayed screen and then every later byte, exactly once and in
//! order. A viewer whose queue is full while another viewer keeps up is cut
//! off ("lagged": it reattaches and gets the replay), so a stalled viewer
//! never slows the others; when every viewer is behind, output waits for
//! them (briefly: a viewer stuck for [`STUCK`] is cut off too), so a lone
//! piped viewer loses no byte. Idle sessions (no viewer, no traffic)
//! expire; their number is capped.

pub mod replay;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use appos_proto::{NewTerminal, Terminal};
use bytes::Bytes;
use std::sync::atomic::AtomicBool;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use replay::Replay;

/// Frames queued for one viewer, at most.
const QUEUE: usize = 512;
/// Queued output sent to a viewer as one message, at most.
pub const COALESCE: usize = 256 << 10;
/// Input messages (keystrokes, pastes of up to 1 MiB each) waiting for the process, at most.
pub const INPUT_QUEUE: usize = 64;
/// How long output waits when every viewer is behind, before cutting them off.
const STUCK: Duration = Duration::from_secs(5);

/// What a viewer sends to the process.
pub enum Input {
    Bytes(Bytes),
    Eof,
}

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("{0}")]
    Invalid(String),
    #[error("no terminal {0}")]
    NotFound(String),
    #[error("{0} terminals are open, the most this agent allows; close one first")]
    TooMany(usize),
    #[error("{0}")]
    NoContainer(String),
    #[error("starting the terminal: {0}")]
    Start(String),
    #[error("{0}")]
    Forbidden(String),
}

/// Which tokens may open, watch or end which sessions: a shell next to the
/// agent is for admin tokens only; a container's shell also for deploy
/// tokens; read tokens only list them (without the commands' arguments).
pub fn may_use(scope: appos_proto::TokenScope, kind: &str) -> Result<(), TerminalError> {
    use appos_proto::TokenScope::*;
    match (scope, kind) {
        (Admin, _) | (Deploy, "exec") => Ok(()),
        (Deploy, _) => Err(TerminalError::Forbidden(
            "a shell next to the agent needs an admin token".into(),
        )),
        (Read, _) => Err(TerminalError::Forbidden(
            "terminals need an admin or deploy token".into(),
        )),
    }
}

/// A session as a token of `scope` may see it: read tokens do not see the
/// command's arguments (they may hold secrets).
pub fn seen_by(mut t: Terminal, scope: appos_proto::TokenScope) -> Terminal {
    if scope == appos_proto::TokenScope::Read {
        t.command.truncate(1);
    }
    t
}

enum Resizer {
    Pty(Mutex<Box<dyn portable_pty::MasterPty + Send>>),
    Exec {
        docker: bollard::Docker,
        exec_id: String,
    },
    None,
}

/// Output kept for replay: the byte stream of a TTY, or the framed chunks
/// (stream byte first) of a session without one.
enum Kept {
    Tty(Replay),
    Frames {
        frames: std::collections::VecDeque<Bytes>,
        bytes: usize,
    },
}

impl Kept {
    fn push(&mut self, frame: &Bytes) {
        match self {
            Kept::Tty(r) => r.push(frame),
            Kept::Frames { frames, bytes } => {
                frames.push_back(frame.clone());
                *bytes += frame.len();
                while *bytes > replay::KEEP && frames.len() > 1 {
                    if let Some(f) = frames.pop_front() {
                        *bytes -= f.len();
                    }
                }
            }
        }
    }

    fn snapshot(&self) -> Vec<Bytes> {
        match self {
            Kept::Tty(r) if r.is_empty() => Vec::new(),
            Kept::Tty(r) => vec![Bytes::from(r.snapshot())],
            Kept::Frames { frames, .. } => frames.iter().cloned().collect(),
        }
    }
}

/// One viewer's end of the output: its queue, and whether it was cut off.
struct Feed {
    tx: mpsc::Sender<Bytes>,
    lagged: Arc<AtomicBool>,
}

/// What a viewer reads: live frames, until the session ends or the viewer
/// falls behind (then [`Output::lagged`] says so).
pub struct Output {
    rx: mpsc::Receiver<Bytes>,
    lagged: Arc<AtomicBool>,
}

impl Output {
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<Bytes> {
        self.rx.try_recv().ok()
    }

    /// The viewer fell behind and was cut off (its queue ended early).
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Relaxed)
    }
}

/// The replay and the viewers' queues, under one lock.
struct Out {
    kept: Kept,
    feeds: Vec<Feed>,
}

pub struct Session {
    info: Mutex<Terminal>,
    out: Mutex<Out>,
    input: mpsc::Sender<Input>,
    resizer: Resizer,
    exit: watch::Sender<Option<i64>>,
    viewers: AtomicU32,
    active_ms: AtomicI64,
    stop: CancellationToken,
    /// A session without a TTY starts its process when its first viewer attaches.
    start: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

fn now_ms() -> i64 {
    crate::clock::unix_now_ms()
}

impl Session {
    fn touch(&self) {
        self.active_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Whether every viewer's queue is full (output should wait for them).
    fn all_behind(&self) -> bool {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        !out.feeds.is_empty() && out.feeds.iter().all(|f| f.tx.capacity() == 0)
    }

    /// Hands output to the replay and to every viewer; waits while every
    /// viewer is behind (up to [`STUCK`]).
    async fn emit(&self, frame: Bytes) {
        let deadline = tokio::time::Instant::now() + STUCK;
        while self.all_behind()
            && tokio::time::Instant::now() < deadline
            && !self.stop.is_cancelled()
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.publish(frame);
    }

    /// Appends to the replay and queues for each viewer under one lock, so a
    /// viewer that subscribes sees each frame exactly once: in its replay or
    /// live. A viewer whose queue is full is cut off.
    fn publish(&self, frame: Bytes) {
        self.touch();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.kept.push(&frame);
        out.feeds.retain(|f| match f.tx.try_send(frame.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                f.lagged.store(true, Ordering::Relaxed);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// The same as [`Session::emit`], for the PTY's reader thread.
    fn emit_blocking(&self, frame: Bytes) {
        let deadline = std::time::Instant::now() + STUCK;
        while self.all_behind() && std::time::Instant::now() < deadline && !self.stop.is_cancelled()
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.publish(frame);
    }

    fn finish(&self, status: i64) {
        self.info
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .exit_status = Some(status);
        let _ = self.exit.send(Some(status));
        self.touch();
    }

    /// What a new viewer gets: the replay, and its own queue of everything after it.
    pub fn subscribe(&self) -> (Vec<Bytes>, Output) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let (tx, rx) = mpsc::channel(QUEUE);
        let lagged = Arc::new(AtomicBool::new(false));
        out.feeds.push(Feed {
            tx,
            lagged: lagged.clone(),
        });
        (out.kept.snapshot(), Output { rx, lagged })
    }

    pub fn is_tty(&self) -> bool {
        self.info.lock().unwrap_or_else(|e| e.into_inner()).tty
    }

    pub fn exit_status(&self) -> watch::Receiver<Option<i64>> {
        self.exit.subscribe()
    }

    /// Hands input to the process; waits while [`INPUT_QUEUE`] messages
    /// are pending (a viewer cannot pile up memory faster than the process reads).
    pub async fn send(&self, input: Input) {
        self.touch();
        let _ = self.input.send(input).await;
    }

    pub async fn resize(&self, cols: u16, rows: u16) {
        if cols == 0 || rows == 0 || cols > 1000 || rows > 1000 {
            return;
        }
        {
            let mut info = self.info.lock().unwrap_or_else(|e| e.into_inner());
            info.cols = cols;
            info.rows = rows;
        }
        match &self.resizer {
            Resizer::Pty(m) => {
                let size = portable_pty::PtySize {
                    rows,
                    cols,
                    pixel_width: 0,
                    pixel_height: 0,
                };
                if let Err(error) = m.lock().unwrap_or_else(|e| e.into_inner()).resize(size) {
                    tracing::warn!(%error, "cannot resize a PTY");
                }
            }
            Resizer::Exec { docker, exec_id } => {
                let opts = bollard::query_parameters::ResizeExecOptions {
                    h: rows.into(),
                    w: cols.into(),
                };
                if let Err(error) = docker.resize_exec(exec_id, opts).await {
                    tracing::debug!(%error, "cannot resize an exec");
                }
            }
            Resizer::None => {}
        }
    }

    /// A viewer arrived; the returned guard counts it until dropped.
    pub fn attach(self: &Arc<Self>) -> ViewerGuard {
        self.viewers.fetch_add(1, Ordering::Relaxed);
        self.touch();
        if let Some(go) = self.start.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = go.send(());
        }
        ViewerGuard(self.clone())
    }

    fn snapshot(&self) -> Terminal {
        let mut t = self.info.lock().unwrap_or_else(|e| e.into_inner()).clone();
        t.viewers = self.viewers.load(Ordering::Relaxed);
        t.active_ms = self.active_ms.load(Ordering::Relaxed);
        t
    }
}

pub struct ViewerGuard(Arc<Session>);

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.0.viewers.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// The agent's terminal sessions.
pub struct Terminals {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    pub max: usize,
    pub idle: Duration,
}

impl Terminals {
    pub fn new(max: usize, idle: Duration) -> Terminals {
        Terminals {
            sessions: Mutex::new(HashMap::new()),
            max,
            idle,
        }
    }

    pub fn list(&self) -> Vec<Terminal> {
        let mut v: Vec<Terminal> = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|s| s.snapshot())
            .collect();
        v.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
        v
    }

    pub fn get(&self, id: &str) -> Result<Arc<Session>, TerminalError> {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| TerminalError::NotFound(id.to_string()))
    }

    pub fn info(&self, id: &str) -> Result<Terminal, TerminalError> {
        Ok(self.get(id)?.snapshot())
    }

    /// Ends a session: its process is killed and its viewers are told.
    pub fn kill(&self, id: &str) -> Result<(), TerminalError> {
        let s = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
            .ok_or_else(|| TerminalError::NotFound(id.to_string()))?;
        s.stop.cancel();
        if s.exit.borrow().is_none() {
            s.finish(-1);
        }
        Ok(())
    }

    /// Forgets sessions that have been idle (no viewer, no traffic) longer
    /// than `idle`, and ended ones nobody watches after a minute.
    pub fn expire(&self) -> Vec<String> {
        let now = now_ms();
        let idle_ms = self.idle.as_millis() as i64;
        let expired: Vec<String> = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, s)| {
                let quiet = now - s.active_ms.load(Ordering::Relaxed);
                s.viewers.load(Ordering::Relaxed) == 0
                    && (quiet > idle_ms
                        || (s.exit.borrow().is_some() && quiet > 60_000.min(idle_ms)))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            tracing::info!(terminal = %id, "terminal session expired");
            let _ = self.kill(id);
        }
        expired
    }

    /// Opens a session.
    pub async fn open(
        &self,
        docker: &bollard::Docker,
        req: NewTerminal,
    ) -> Result<Terminal, TerminalError> {
        if self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
            >= self.max
        {
            return Err(TerminalError::TooMany(self.max));
        }
        let id = format!("term-{:016x}", rand::random::<u64>());
        let session = match req {
            NewTerminal::Shell { cols, rows } => open_shell(&id, size(cols, rows))?,
            NewTerminal::Exec {
                app,
                service,
                command,
                tty,
                cols,
                rows,
            } => open_exec(docker, &id, &app, &service, command, tty, size(cols, rows)).await?,
        };
        let info = session.snapshot();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.len() >= self.max {
            session.stop.cancel();
            return Err(TerminalError::TooMany(self.max));
        }
        sessions.insert(id, session);
        Ok(info)
    }
}

fn size(cols: Option<u16>, rows: Option<u16>) -> (u16, u16) {
    (
        cols.filter(|c| (1..=1000).contains(c)).unwrap_or(80),
        rows.filter(|r| (1..=1000).contains(r)).unwrap_or(24),
    )
}

/// A new session's description: nobody attached, no exit yet.
fn new_info(
    id: &str,
    kind: &str,
    app_service: Option<(&str, &str)>,
    command: Vec<String>,
    tty: bool,
    (cols, rows): (u16, u16),
) -> Terminal {
    Terminal {
        id: id.to_string(),
        kind: kind.to_string(),
        app: app_service.map(|(a, _)| a.to_string()),
        service: app_service.map(|(_, s)| s.to_string()),
        command,
        tty,
        cols,
        rows,
        viewers: 0,
        created_ms: now_ms(),
        active_ms: now_ms(),
        exit_status: None,
    }
}

fn new_session(
    info: Terminal,
    kept: Kept,
    resizer: Resizer,
    input: mpsc::Sender<Input>,
) -> Arc<Session> {
    let (exit, _) = watch::channel(None);
    let active = info.created_ms;
    Arc::new(Session {
        info: Mutex::new(info),
        out: Mutex::new(Out {
            kept,
            feeds: Vec::new(),
        }),
        input,
        resizer,
        exit,
        viewers: AtomicU32::new(0),
        active_ms: AtomicI64::new(active),
        stop: CancellationToken::new(),
        start: Mutex::new(None),
    })
}

/// The shell for the agent's own environment: `$SHELL`, else bash, else sh.
fn agent_shell() -> String {
    std::env::var("SHELL")
        .ok()
        .filter(|s| std::path::Path::new(s).is_file())
        .or_else(|| {
            ["/bin/bash", "/usr/bin/bash", "/bin/sh"]
                .iter()
                .find(|p| std::path::Path::new(p).is_file())
                .map(|s| s.to_string())
        })
        .unwrap_or_else(|| "/bin/sh".into())
}

fn open_shell(id: &str, (cols, rows): (u16, u16)) -> Result<Arc<Session>, TerminalError> {
    use portable_pty::{CommandBuilder, PtySize};
    let pty = portable_pty::native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| TerminalError::Start(e.to_string()))?;
    let shell = agent_shell();
    let mut cmd = CommandBuilder::new(&shell);
    cmd.env("TERM", "xterm-256color");
    cmd.env("COLORTERM", "truecolor");
    let home = std::env::var("HOME")
        .ok()
        .filter(|h| std::path::Path::new(h).is_dir())
        .unwrap_or_else(|| "/".into());
    cmd.cwd(&home);
    let mut child = pty
        .slave
        .spawn_command(cmd)
        .map_err(|e| TerminalError::Start(e.to_string()))?;
    // The slave belongs to the shell now; keeping it open would hide its exit.
    drop(pty.slave);
    let mut reader = pty
        .master
        .try_clone_reader()
        .map_err(|e| TerminalError::Start(e.to_string()))?;
    let mut writer = pty
        .master
        .take_writer()
        .map_err(|e| TerminalError::Start(e.to_string()))?;
    let mut killer = child.clone_killer();

    let info = new_info(id, "shell", None, vec![shell], true, (cols, rows));
    let (tx, mut rx) = mpsc::channel::<Input>(INPUT_QUEUE);
    let session = new_session(
        info,
        Kept::Tty(Replay::default()),
        Resizer::Pty(Mutex::new(pty.master)),
        tx,
    );

    // Three blocking loops (output, input, exit) tied by the session's stop token.
    let s = session.clone();
    let output = std::thread::Builder::new()
        .name(format!("{id}-out"))
        .spawn(move || {
            let mut buf = vec![0u8; 32 << 10];
            loop {
                match std::io::Read::read(&mut reader, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => s.emit_blocking(Bytes::copy_from_slice(&buf[..n])),
                }
            }
        })
        .map_err(|e| TerminalError::Start(e.to_string()))?;
    let (output_done_tx, output_done) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = output.join();
        let _ = output_done_tx.send(());
    });
    std::thread::Builder::new()
        .name(format!("{id}-in"))
        .spawn(move || {
            while let Some(input) = rx.blocking_recv() {
                match input {
                    Input::Bytes(b) => {
                        if std::io::Write::write_all(&mut writer, &b)
                            .and_then(|_| std::io::Write::flush(&mut writer))
                            .is_err()
                        {
                            break;
                        }
                    }
                    // A PTY has no half-close: ^D is what a user types for it.
                    Input::Eof => {
                        let _ = std::io::Write::write_all(&mut writer, b"\x04");
                    }
                }
            }
        })
        .map_err(|e| TerminalError::Start(e.to_string()))?;
    let s = session.clone();
    std::thread::Builder::new()
        .name(format!("{id}-wait"))
        .spawn(move || {
            let status = child.wait().map(|st| st.exit_code() as i64).unwrap_or(-1);
            // The last output first (a background job may hold the PTY open: not for long).
            let _ = output_done.recv_timeout(Duration::from_secs(2));
            s.finish(status);
        })
        .map_err(|e| TerminalError::Start(e.to_string()))?;
    let stop = session.stop.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        let _ = killer.kill();
    });
    Ok(session)
}

/// The running container of `app`'s `service`.
async fn find_container(
    docker: &bollard::Docker,
    app: &str,
    service: &str,
) -> Result<String, TerminalError> {
    let mut filters = HashMap::new();
    filters.insert(
        "label".to_string(),
        vec![
            format!("{}={app}", crate::infra::docker::LABEL_PROJECT),
            format!("com.docker.compose.service={service}"),
        ],
    );
    filters.insert("status".to_string(), vec!["running".to_string()]);
    let opts = bollard::query_parameters::ListContainersOptions {
        all: false,
        filters: Some(filters),
        ..Default::default()
    };
    let found = docker
        .list_containers(Some(opts))
        .await
        .map_err(|e| TerminalError::Start(e.to_string()))?;
    found
        .into_iter()
        .filter_map(|c| c.id)
        .next()
        .ok_or_else(|| {
            TerminalError::NoContainer(format!(
                "{app} has no running container for service {service:?}"
            ))
        })
}

/// Runs a short command in the container and returns its output, if it succeeded.
async fn probe(docker: &bollard::Docker, container: &str, cmd: &[&str]) -> Option<String> {
    use futures_util::StreamExt as _;
    let config = bollard::models::ExecConfig {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    let exec = docker.create_exec(container, config).await.ok()?;
    let mut out = String::new();
    if let Ok(bollard::exec::StartExecResults::Attached { mut output, .. }) =
        docker.start_exec(&exec.id, None).await
    {
        while let Some(Ok(chunk)) = output.next().await {
            if let bollard::container::LogOutput::StdOut { message } = chunk {
                out.push_str(&String::from_utf8_lossy(&message));
            }
        }
    }
    let code = docker.inspect_exec(&exec.id).await.ok()?.exit_code?;
    (code == 0).then_some(out)
}

#[allow(clippy::too_many_arguments)]
async fn open_exec(
    docker: &bollard::Docker,
    id: &str,
    app: &str,
    service: &str,
    command: Vec<String>,
    tty: bool,
    (cols, rows): (u16, u16),
) -> Result<Arc<Session>, TerminalError> {
    if command.len() > 256 || command.iter().any(|a| a.len() > 8192 || a.contains('\0')) {
        return Err(TerminalError::Invalid(
            "the command is too long or contains NUL".into(),
        ));
    }
    let container = find_container(docker, app, service).await?;
    let command = if command.is_empty() {
        // The first of bash and sh the container has (a fixed probe, no user input).
        match probe(
            docker,
            &container,
            &["/bin/sh", "-c", "command -v bash || command -v sh"],
        )
        .await
        {
            Some(found) if !found.trim().is_empty() => {
                vec![found.lines().next().unwrap_or("/bin/sh").trim().to_string()]
            }
            _ => {
                return Err(TerminalError::NoContainer(format!(
                    "{app}/{service} has no shell (bash or sh); give a command"
                )))
            }
        }
    } else {
        command
    };
    let config = bollard::models::ExecConfig {
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(tty),
        console_size: tty.then(|| vec![rows as usize, cols as usize]),
        env: Some(vec!["TERM=xterm-256color".into()]),
        cmd: Some(command.clone()),
        ..Default::default()
    };
    let exec = docker
        .create_exec(&container, config)
        .await
        .map_err(|e| TerminalError::Start(e.to_string()))?;
    let info = new_info(id, "exec", Some((app, service)), command, tty, (cols, rows));
    let kept = if tty {
        Kept::Tty(Replay::default())
    } else {
        Kept::Frames {
            frames: Default::default(),
            bytes: 0,
        }
    };
    let (tx, mut rx) = mpsc::channel::<Input>(INPUT_QUEUE);
    let resizer = if tty {
        Resizer::Exec {
            docker: docker.clone(),
            exec_id: exec.id.clone(),
        }
    } else {
        Resizer::None
    };
    let session = new_session(info, kept, resizer, tx);
    let (go_tx, go_rx) = tokio::sync::oneshot::channel();
    if !tty {
        // Without a TTY nothing could redraw lost output: start with the first viewer.
        *session.start.lock().unwrap_or_else(|e| e.into_inner()) = Some(go_tx);
    } else {
        let _ = go_tx.send(());
    }

    let (s, docker, exec_id) = (session.clone(), docker.clone(), exec.id.clone());
    tokio::spawn(async move {
        use futures_util::StreamExt as _;
        use tokio::io::AsyncWriteExt as _;
        tokio::select! {
            _ = s.stop.cancelled() => return,
            r = go_rx => if r.is_err() { return },
        }
        let opts = bollard::exec::StartExecOptions {
            detach: false,
            tty,
            output_capacity: Some(64 << 10),
        };
        let (mut output, mut input) = match docker.start_exec(&exec_id, Some(opts)).await {
            Ok(bollard::exec::StartExecResults::Attached { output, input }) => (output, input),
            Ok(bollard::exec::StartExecResults::Detached) => {
                s.finish(-1);
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot start an exec");
                s.emit(Bytes::from(format!(
                    "appos: cannot start the command: {error}\r\n"
                )))
                .await;
                s.finish(-1);
                return;
            }
        };
        if tty {
            // Engines before API 1.42 ignore console_size: set the size now.
            let (cols, rows) = {
                let i = s.info.lock().unwrap_or_else(|e| e.into_inner());
                (i.cols, i.rows)
            };
            s.resize(cols, rows).await;
        }
        let writer = async move {
            while let Some(i) = rx.recv().await {
                match i {
                    Input::Bytes(b) => {
                        if input.write_all(&b).await.is_err() || input.flush().await.is_err() {
                            break;
                        }
                    }
                    Input::Eof => {
                        let _ = input.shutdown().await;
                    }
                }
            }
        };
        let reader = async {
            while let Some(Ok(chunk)) = output.next().await {
                use bollard::container::LogOutput::*;
                let frame = match (tty, chunk) {
                    (true, Console { message } | StdOut { message } | StdErr { message }) => {
                        message
                    }
                    (false, StdOut { message } | Console { message }) => {
                        [&[1u8][..], &message].concat().into()
                    }
                    (false, StdErr { message }) => [&[2u8][..], &message].concat().into(),
                    (_, StdIn { .. }) => continue,
                };
                s.emit(frame).await;
            }
        };
        tokio::select! {
            _ = s.stop.cancelled() => {}
            _ = reader => {}
            _ = writer => {
                // Input closed for good (the session was dropped): keep reading output.
            }
        }
        let code = match docker.inspect_exec(&exec_id).await {
            Ok(i) => i.exit_code.unwrap_or(-1),
            Err(_) => -1,
        };
        s.finish(code);
    });
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use appos_proto::TokenScope;

    #[test]
    fn who_may_use_which_session() {
        for (scope, kind, allowed) in [
            (TokenScope::Admin, "shell", true),
            (TokenScope::Admin, "exec", true),
            (TokenScope::Deploy, "exec", true),
            (TokenScope::Deploy, "shell", false),
            (TokenScope::Read, "exec", false),
            (TokenScope::Read, "shell", false),
        ] {
            assert_eq!(may_use(scope, kind).is_ok(), allowed, "{scope:?} {kind}");
        }
    }
}
