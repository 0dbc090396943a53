//! The Redis that the all-in-one container runs for the task queue: a
//! `redis-server` child of the agent, reached on a unix socket in the data
//! dir (no TCP port), persisting with AOF fsynced on every write, restarted
//! by the agent if it dies, and gone when the agent goes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::infra::supervise::{die_with_parent, supervise, AtStart, Supervised};

pub struct RedisServer {
    bin: PathBuf,
    dir: PathBuf,
    socket: PathBuf,
}

impl RedisServer {
    /// Where its files go: `<data>/redis/` (AOF) and `<data>/run/redis.sock`.
    pub fn new(bin: &Path, data_dir: &Path) -> RedisServer {
        RedisServer {
            bin: bin.to_path_buf(),
            dir: data_dir.join("redis"),
            socket: data_dir.join("run/redis.sock"),
        }
    }

    /// The URL the queue connects to.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// Starts redis-server and waits until it answers, then keeps it
    /// running until `stop`, restarting it when it exits.
    pub async fn start(self, stop: CancellationToken) -> anyhow::Result<()> {
        let socket = self.socket.clone();
        supervise(
            std::sync::Arc::new(self),
            Default::default(),
            AtStart::Required,
            stop,
        )
        .await?;
        tracing::info!(socket = %socket.display(), "redis-server running (AOF, fsync always)");
        Ok(())
    }
}

impl Supervised for RedisServer {
    fn name(&self) -> &'static str {
        "redis-server"
    }

    fn spawn(&self) -> anyhow::Result<Child> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--port", "0", "--unixsocket"])
            .arg(&self.socket)
            .args(["--unixsocketperm", "600", "--dir"])
            .arg(&self.dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        cmd.spawn()
            .with_context(|| format!("starting {}", self.bin.display()))
    }

    async fn ready(&self, child: &mut Child) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("redis-server exited at start ({status}); see the agent's log");
            }
            if let Ok(mut s) = tokio::net::UnixStream::connect(&self.socket).await {
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").await.is_ok() {
                    if let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await
                    {
                        // "+PONG", or "-LOADING" while it replays the AOF.
                        if buf[..n].starts_with(b"+PONG") {
                            return Ok(());
                        }
                    }
                }
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "redis-server did not answer on {} within 15 s",
                    self.socket.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
