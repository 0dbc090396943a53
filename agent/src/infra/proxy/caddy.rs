//! Caddy as the agent's reverse proxy: a supervised child, its admin API on
//! a unix socket in the data dir (never a TCP port), its whole configuration
//! loaded atomically through that API.
//! A configuration Caddy refuses leaves the running one in place. The last
//! one loaded is kept on disk, so a Caddy that dies comes back with it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::BodyExt as _;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::{ProxyBackend, ProxyError};
use crate::core::proxy::caddy::{caddy_config, CaddySettings};
use crate::core::proxy::{PreflightToken, Route};
use crate::infra::config::ProxyConfig;
use crate::infra::supervise::{die_with_parent, supervise, AtStart, Pid, Supervised};

pub struct Caddy {
    bin: PathBuf,
    settings: CaddySettings,
    /// The last configuration loaded, for a restarted Caddy.
    saved: PathBuf,
    /// One load at a time, so that loads land in the order they were made.
    loading: tokio::sync::Mutex<()>,
    pub(super) pid: std::sync::Arc<Pid>,
}

impl Caddy {
    /// Caddy's files go under `<data>/caddy/`, its admin socket is `<data>/run/caddy.sock`.
    pub fn new(config: &ProxyConfig, data_dir: &Path, preflight: PreflightToken) -> Caddy {
        let dir = data_dir.join("caddy");
        let settings = CaddySettings {
            admin_socket: data_dir.join("run/caddy.sock"),
            storage: dir.join("storage"),
            http: config.http,
            https: config.https,
            acme_ca: config.acme_ca.clone(),
            email: config.acme_email.clone(),
            acme_ca_root: config.acme_ca_root.clone(),
            preflight,
        };
        Caddy {
            bin: config.bin.clone(),
            settings,
            saved: dir.join("config.json"),
            loading: Default::default(),
            pid: Default::default(),
        }
    }
}

impl Supervised for Caddy {
    fn name(&self) -> &'static str {
        "caddy"
    }

    fn spawn(&self) -> anyhow::Result<Child> {
        let dir = self.saved.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        if !self.saved.exists() {
            std::fs::write(&self.saved, caddy_config(&[], &self.settings).to_string())?;
        }
        if let Some(run) = self.settings.admin_socket.parent() {
            std::fs::create_dir_all(run).with_context(|| format!("creating {}", run.display()))?;
        }
        let _ = std::fs::remove_file(&self.settings.admin_socket);
        let mut cmd = Command::new(&self.bin);
        cmd.arg("run")
            .arg("--config")
            .arg(&self.saved)
            // Caddy's own files (autosave, locks) stay in the data dir.
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        cmd.spawn()
            .with_context(|| format!("starting {}", self.bin.display()))
    }

    async fn ready(&self, child: &mut Child) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!(
                    "caddy exited at start ({status}); is {} or {} in use?",
                    self.settings.http,
                    self.settings.https
                );
            }
            if self.request("GET", "/config/", None).await.is_ok() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!(
                    "caddy did not answer on {} within 15 s",
                    self.settings.admin_socket.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Caddy {
    /// Starts Caddy and keeps it running until `stop` (see [`super::Proxy::start`]).
    pub async fn start(self: &std::sync::Arc<Self>, stop: CancellationToken) {
        // Optional: this cannot fail.
        let _ = supervise(self.clone(), self.pid.clone(), AtStart::Optional, stop).await;
    }

    pub fn preflight(&self) -> &PreflightToken {
        &self.settings.preflight
    }

    /// One request to the admin API; the status and body.
    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, String), ProxyError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            ProxyError::Unavailable(format!(
                "the proxy's admin API at {} does not answer: {e}",
                self.settings.admin_socket.display()
            ))
        };
        let stream = tokio::net::UnixStream::connect(&self.settings.admin_socket)
            .await
            .map_err(|e| unavailable(&e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| unavailable(&e))?;
        tokio::spawn(conn);
        // Caddy answers a request on its socket only with an empty Host.
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.unwrap_or_default(),
            )))
            .map_err(|e| unavailable(&e))?;
        let resp = tokio::time::timeout(Duration::from_secs(60), sender.send_request(req))
            .await
            .map_err(|e| unavailable(&e))?
            .map_err(|e| unavailable(&e))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unavailable(&e))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

impl Caddy {
    /// Sets aside the stored certificate of `domain` (so that the next load orders a new one).
    pub fn forget_certificate(&self, domain: &str) -> std::io::Result<()> {
        let issuers = self.settings.storage.join("certificates");
        let Ok(entries) = std::fs::read_dir(&issuers) else {
            return Ok(());
        };
        for issuer in entries.flatten() {
            let dir = issuer.path().join(domain);
            if dir.is_dir() {
                std::fs::remove_dir_all(&dir)?;
            }
        }
        Ok(())
    }
}

impl ProxyBackend for Caddy {
    async fn apply(&self, routes: &[Route]) -> Result<(), ProxyError> {
        let _one = self.loading.lock().await;
        let config = caddy_config(routes, &self.settings).to_string();
        let (status, body) = self.request("POST", "/load", Some(config.clone())).await?;
        if status != 200 {
            let reason = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(body);
            return Err(ProxyError::Refused(format!(
                "the proxy refused the configuration (the running one stays): {reason}"
            )));
        }
        if let Err(e) = std::fs::write(&self.saved, config) {
            tracing::warn!(error = %e, "cannot keep the proxy configuration for a restart");
        }
        Ok(())
    }
}
