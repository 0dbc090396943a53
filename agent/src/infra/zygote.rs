//! A warm `docker-compose` v1. The Python tool spends most of each run
//! importing itself (about 0.3 s, twice per deployment: `config` before the
//! answer, `up` in the worker), so when it is the compose tool the agent
//! keeps one Python process that has imported it and forks a child per
//! command (`zygote.py`). Each child runs compose's own `main()` with the
//! argv the agent built, in the app's directory, its output in files; the
//! agent gets the child's pid (to kill it when a task is cancelled) and its
//! exit status. If the warm process is not there or dies, commands run the
//! ordinary way.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

const SCRIPT: &str = include_str!("zygote.py");

#[derive(Debug)]
enum Reply {
    Pid(i64),
    Code(i32),
    Error(String),
}

pub struct Zygote {
    /// The argv prefix it stands for (e.g. `["docker-compose"]`).
    tool: Vec<String>,
    dir: PathBuf,
    lines: mpsc::UnboundedSender<String>,
    pending: Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Reply>>>>,
    next: AtomicU64,
    alive: Arc<AtomicBool>,
}

static WARM: OnceLock<Zygote> = OnceLock::new();

/// The warm compose, if the agent started one.
pub fn warm() -> Option<&'static Zygote> {
    WARM.get().filter(|z| z.alive.load(Ordering::Relaxed))
}

/// Starts the warm process for `tool` when it is docker-compose v1 (a Python
/// script), with its output files in `dir`. Any failure leaves commands to
/// run the ordinary way.
pub async fn start(tool: &[String], dir: &Path) {
    match spawn(tool, dir).await {
        Ok(z) => {
            let _ = WARM.set(z);
            tracing::info!("docker-compose runs warm (imported once, a fork per command)");
        }
        Err(why) => tracing::info!(%why, "docker-compose runs cold"),
    }
}

/// The interpreter of a Python script on PATH, from its `#!` line.
fn python_of(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let script = std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())?;
    let head = std::fs::read(&script).ok()?;
    let first = head.split(|b| *b == b'\n').next()?;
    let interp = std::str::from_utf8(first).ok()?.strip_prefix("#!")?.trim();
    (interp.ends_with("python3") && Path::new(interp).is_file()).then(|| PathBuf::from(interp))
}

async fn spawn(tool: &[String], dir: &Path) -> Result<Zygote, String> {
    if tool.len() != 1 || tool[0] != "docker-compose" {
        return Err("the compose tool is not docker-compose v1".into());
    }
    let python = python_of(&tool[0]).ok_or("docker-compose is not a Python script")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut child = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", python.display()))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
    match ready {
        Ok(Ok(Some(l))) if l.contains("\"ready\"") => {}
        other => return Err(format!("it did not start: {other:?}")),
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let pending: Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Reply>>>> = Default::default();
    let alive = Arc::new(AtomicBool::new(true));
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                break;
            }
        }
    });
    let (p, a) = (pending.clone(), alive.clone());
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let Some(id) = v.get("id").and_then(|i| i.as_u64()) else {
                continue;
            };
            let reply = if let Some(pid) = v.get("pid").and_then(|x| x.as_i64()) {
                Reply::Pid(pid)
            } else if let Some(code) = v.get("code").and_then(|x| x.as_i64()) {
                Reply::Code(code as i32)
            } else {
                Reply::Error(
                    v.get("error")
                        .and_then(|e| e.as_str())
                        .unwrap_or("unknown")
                        .to_string(),
                )
            };
            let done = !matches!(reply, Reply::Pid(_));
            let mut map = p.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(tx) = map.get(&id) {
                let _ = tx.send(reply);
            }
            if done {
                map.remove(&id);
            }
        }
        // Gone: new commands run cold; the ones in flight fail.
        a.store(false, Ordering::Relaxed);
        p.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let _ = child.kill().await;
        tracing::warn!("the warm docker-compose exited; commands run cold from now on");
    });
    Ok(Zygote {
        tool: tool.to_vec(),
        dir: dir.to_path_buf(),
        lines: tx,
        pending,
        next: AtomicU64::new(1),
        alive,
    })
}

/// Kills the command's process group if its future is dropped before it ends
/// (a cancelled task), like `kill_on_drop` for an ordinary child.
struct KillOnDrop<'a> {
    zygote: &'a Zygote,
    pid: Option<i64>,
}

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = self
                .zygote
                .lines
                .send(format!("{}\n", serde_json::json!({ "kill": pid })));
        }
    }
}

impl Zygote {
    /// Whether `argv` is a command of the tool this process stands for.
    pub fn handles(&self, argv: &[String]) -> bool {
        argv.len() > self.tool.len() && argv[..self.tool.len()] == self.tool[..]
    }

    /// Runs `argv` (which starts with the tool) in `cwd`.
    pub async fn run(&self, argv: &[String], cwd: &Path) -> Result<std::process::Output, String> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (out, err) = (
            self.dir.join(format!("{id}.out")),
            self.dir.join(format!("{id}.err")),
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let req = serde_json::json!({
            "id": id,
            "argv": &argv[self.tool.len()..],
            "cwd": cwd,
            "out": out,
            "err": err,
        });
        self.lines
            .send(format!("{req}\n"))
            .map_err(|_| "the warm docker-compose is gone".to_string())?;
        let mut guard = KillOnDrop {
            zygote: self,
            pid: None,
        };
        let code = loop {
            match rx.recv().await {
                Some(Reply::Pid(pid)) => guard.pid = Some(pid),
                Some(Reply::Code(c)) => break c,
                Some(Reply::Error(e)) => return Err(format!("running docker-compose: {e}")),
                None => return Err("the warm docker-compose exited during the command".into()),
            }
        };
        guard.pid = None;
        let read = |p: &Path| {
            let b = std::fs::read(p).unwrap_or_default();
            let _ = std::fs::remove_file(p);
            b
        };
        Ok(std::process::Output {
            status: std::process::ExitStatus::from_raw((code & 0xff) << 8),
            stdout: read(&out),
            stderr: read(&err),
        })
    }
}
