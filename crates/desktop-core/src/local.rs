//! "This computer": an agent process that the desktop starts on the user's
//! own data dir, reached over its unix socket with a token issued locally.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

pub struct LocalAgent {
    child: Option<Child>,
    data: PathBuf,
    token: String,
}

impl LocalAgent {
    /// Starts `appos-agent serve` on `data` (or reuses an agent that already
    /// serves it) and issues a token for the desktop.
    pub async fn start(bin: &Path, data: &Path) -> anyhow::Result<LocalAgent> {
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let socket = data.join("run").join("agent.sock");
        let running = tokio::net::UnixStream::connect(&socket).await.is_ok();
        let child = if running {
            tracing::info!(socket = %socket.display(), "reusing the local agent that is already running");
            None
        } else {
            let log =
                std::fs::File::create(data.join("agent.log")).context("creating agent.log")?;
            let child = Command::new(bin)
                .arg("--data")
                .arg(data)
                .arg("serve")
                // The agent stops when the app does, even if the app is killed.
                .arg("--watch-pid")
                .arg(std::process::id().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("running {}", bin.display()))?;
            Some(child)
        };
        let mut agent = LocalAgent {
            child,
            data: data.to_path_buf(),
            token: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::UnixStream::connect(&socket).await.is_err() {
            if let Some(c) = agent.child.as_mut() {
                if let Some(status) = c.try_wait()? {
                    let log = std::fs::read_to_string(data.join("agent.log")).unwrap_or_default();
                    bail!(
                        "the agent exited ({status}): {}",
                        log.lines().last().unwrap_or("")
                    );
                }
            }
            if Instant::now() > deadline {
                bail!("the agent did not open {} within 20 s", socket.display());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let out = Command::new(bin)
            .arg("--data")
            .arg(data)
            .args([
                "token",
                "issue",
                "--name",
                "appos-desktop-local",
                "--scope",
                "admin",
                "--replace",
            ])
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {} token issue", bin.display()))?;
        if !out.status.success() {
            bail!(
                "issuing a local token failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        agent.token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(agent)
    }

    pub fn socket(&self) -> PathBuf {
        self.data.join("run").join("agent.sock")
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => std::os::unix::net::UnixStream::connect(self.socket()).is_ok(),
        }
    }

    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                // SIGTERM first so the agent removes its socket.
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
                if tokio::time::timeout(Duration::from_secs(5), c.wait())
                    .await
                    .is_ok()
                {
                    return;
                }
            }
            let _ = c.kill().await;
        }
    }
}
