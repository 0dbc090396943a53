//! nginx as the agent's reverse proxy: a supervised child (`daemon off`)
//! whose one configuration file is written from typed values. Every new
//! configuration is tested (`nginx -t`) before it replaces the running one's
//! file; a configuration nginx refuses is never put in place, and the call
//! fails with nginx's reason. A reload (SIGHUP) is graceful: the master keeps
//! its listening sockets, new workers take new connections, the old ones
//! finish theirs. The agent orders certificates for it (`services::acme`)
//! and answers HTTP-01 challenges through it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::{ProxyBackend, ProxyError};
use crate::core::proxy::nginx::{nginx_config, NginxSettings};
use crate::core::proxy::{Http01, PreflightToken, Route};
use crate::infra::config::ProxyConfig;
use crate::infra::supervise::{die_with_parent, supervise, AtStart, Pid, Supervised};

pub struct Nginx {
    bin: PathBuf,
    settings: NginxSettings,
    pub(super) pid: Arc<Pid>,
    /// One configuration change at a time, so that they land in order.
    loading: tokio::sync::Mutex<()>,
    /// The HTTP-01 challenges being answered.
    challenges: std::sync::Mutex<Vec<Http01>>,
    /// The routes last applied, to apply again with new challenges.
    routes: std::sync::Mutex<Vec<Route>>,
}

impl Nginx {
    /// nginx's files go under `<data>/nginx/`.
    pub fn new(
        config: &ProxyConfig,
        data_dir: &Path,
        preflight: PreflightToken,
    ) -> anyhow::Result<Nginx> {
        let settings =
            NginxSettings::new(data_dir.join("nginx"), config.http, config.https, preflight)
                .map_err(anyhow::Error::msg)?;
        Ok(Nginx {
            bin: config.bin.clone(),
            settings,
            pid: Default::default(),
            loading: Default::default(),
            challenges: Default::default(),
            routes: Default::default(),
        })
    }

    pub fn settings(&self) -> &NginxSettings {
        &self.settings
    }

    fn conf(&self) -> PathBuf {
        self.settings.dir().join("nginx.conf")
    }

    /// Starts nginx and keeps it running until `stop` (see [`super::Proxy::start`]).
    pub async fn start(self: &Arc<Self>, stop: CancellationToken) {
        // Optional: this cannot fail.
        let _ = supervise(self.clone(), self.pid.clone(), AtStart::Optional, stop).await;
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        // `-e stderr`: nginx opens its error log before reading the configuration.
        cmd.arg("-e")
            .arg("stderr")
            .arg("-p")
            .arg(format!("{}/", self.settings.dir().display()));
        cmd
    }

    /// `nginx -t` on a configuration file: nginx's own words when it refuses it.
    async fn test(&self, conf: &Path) -> Result<(), ProxyError> {
        let out = self
            .command()
            .arg("-t")
            .arg("-q")
            .arg("-c")
            .arg(conf)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| {
                ProxyError::Unavailable(format!("cannot run {}: {e}", self.bin.display()))
            })?;
        if out.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stderr);
        let reason = said
            .lines()
            .filter(|l| !l.contains("configuration file") || l.contains("[emerg]"))
            .map(|l| l.trim_start_matches("nginx: "))
            .collect::<Vec<_>>()
            .join("; ");
        Err(ProxyError::Refused(format!(
            "the proxy refused the configuration (the running one stays): {reason}"
        )))
    }

    /// Writes the configuration for `routes`, tests it, puts it in place and reloads.
    async fn load(&self, routes: &[Route]) -> Result<(), ProxyError> {
        let text = {
            let challenges = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
            nginx_config(routes, &challenges, &self.settings)
        };
        let dir = self.settings.dir();
        prepare(dir).map_err(|e| {
            ProxyError::Unavailable(format!("cannot prepare {}: {e}", dir.display()))
        })?;
        let next = dir.join("nginx.conf.next");
        std::fs::write(&next, text).map_err(|e| {
            ProxyError::Unavailable(format!("cannot write {}: {e}", next.display()))
        })?;
        if let Err(e) = self.test(&next).await {
            let _ = std::fs::remove_file(&next);
            return Err(e);
        }
        std::fs::rename(&next, self.conf()).map_err(|e| {
            ProxyError::Unavailable(format!("cannot put nginx's configuration in place: {e}"))
        })?;
        *self.routes.lock().unwrap_or_else(|p| p.into_inner()) = routes.to_vec();
        self.reload().await
    }

    /// Tells the master to read its configuration again and waits until
    /// workers started on it take the connections.
    async fn reload(&self) -> Result<(), ProxyError> {
        let Some(master) = self.pid.get() else {
            // The file is in place: nginx starts with it when it comes back.
            return Err(ProxyError::Unavailable(
                "nginx is not running; it is restarted with this configuration".into(),
            ));
        };
        let before = workers(master);
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(master as i32)
                .ok_or_else(|| ProxyError::Unavailable("no nginx".into()))?,
            rustix::process::Signal::HUP,
        )
        .map_err(|e| ProxyError::Unavailable(format!("cannot signal nginx: {e}")))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = workers(master);
            if !now.is_empty() && now.iter().all(|w| !before.contains(w)) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(ProxyError::Refused(
                    "nginx kept its running configuration (its log says why)".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Answers an HTTP-01 challenge (until [`Nginx::forget_challenge`]).
    pub async fn answer_challenge(&self, c: Http01) -> Result<(), ProxyError> {
        self.challenges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(c);
        self.reapply().await
    }

    pub async fn forget_challenge(&self, token: &str) -> Result<(), ProxyError> {
        self.challenges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|c| c.token() != token);
        self.reapply().await
    }

    async fn reapply(&self) -> Result<(), ProxyError> {
        let _one = self.loading.lock().await;
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.load(&routes).await
    }
}

/// nginx's folder and the temporary folders its configuration names.
fn prepare(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("tmp"))
}

/// The pids of the master's workers that take connections (not those
/// finishing their last ones after a reload: nginx renames those).
fn workers(master: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rfind(')')
                .and_then(|end| stat.get(end + 2..))
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            ppid == Some(master)
                && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    c.starts_with(b"nginx: worker process")
                        && !c.windows(13).any(|w| w == b"shutting down")
                })
        })
        .collect()
}

impl Supervised for Nginx {
    fn name(&self) -> &'static str {
        "nginx"
    }

    fn group(&self) -> bool {
        true
    }

    fn spawn(&self) -> anyhow::Result<Child> {
        let dir = self.settings.dir();
        prepare(dir).with_context(|| format!("creating {}", dir.display()))?;
        let conf = self.conf();
        if !conf.exists() {
            std::fs::write(&conf, nginx_config(&[], &[], &self.settings))?;
        }
        let mut cmd = self.command();
        // Its workers in its process group, killed with it (see `Supervised::group`).
        cmd.arg("-c")
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        cmd.spawn()
            .with_context(|| format!("starting {}", self.bin.display()))
    }

    async fn ready(&self, child: &mut Child) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let mut http = self.settings.http;
        if http.ip().is_unspecified() {
            http.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!(
                    "nginx exited at start ({status}); is {} or {} in use?",
                    self.settings.http,
                    self.settings.https
                );
            }
            let master = child.id().unwrap_or(0);
            if !workers(master).is_empty() && tokio::net::TcpStream::connect(http).await.is_ok() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("nginx did not listen on {} within 15 s", self.settings.http);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl ProxyBackend for Nginx {
    async fn apply(&self, routes: &[Route]) -> Result<(), ProxyError> {
        let _one = self.loading.lock().await;
        self.load(routes).await
    }
}
