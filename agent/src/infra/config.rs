//! Agent configuration: a TOML file, then `APPOS_*` environment variables,
//! then command-line flags, each layer overriding the one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// Default data root on a server.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/appos";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Data root: database, app files, the API socket.
    pub data_dir: PathBuf,
    /// Optional loopback TCP listener besides the unix socket.
    pub listen: Option<SocketAddr>,
    /// Optional loopback listener that answers `GET /metrics` without a token, for a scraper on this host.
    pub metrics_listen: Option<SocketAddr>,
    /// Docker endpoint (`unix:///var/run/docker.sock` style); default: the local socket.
    pub docker_host: Option<String>,
    /// `text` (default) or `json` logs.
    pub log_format: LogFormat,
    /// Redis for the task queue (`redis://HOST:PORT/DB`); the embedded SQLite
    /// queue when unset.
    pub redis_url: Option<String>,
    /// A `redis-server` binary the agent runs itself for the queue (unix
    /// socket in the data dir, AOF); the all-in-one container sets it.
    pub redis_server: Option<PathBuf>,
    /// Workers running tasks at once.
    pub workers: usize,
    /// How long a task's lease lasts without a heartbeat (workers beat every
    /// third of it): a dead agent's tasks are taken again after this.
    pub task_lease: std::time::Duration,
    /// When the agent stops, how long a running task has to end before it
    /// is handed back to the queue (for the next agent to take at once).
    pub stop_grace: std::time::Duration,
    /// Keep the compose containers in memory, fed by Docker's events (on by
    /// default; off, every listing asks Docker: the benchmark's baseline).
    pub inventory: bool,
    /// Request budgets.
    pub rates: RateConfig,
    /// A directory of extra catalog templates (`*.toml`).
    pub catalog_dir: Option<PathBuf>,
    /// Terminal sessions open at once, at most.
    pub max_terminals: usize,
    /// Streams (events, followed logs) one token may hold open at once.
    pub max_streams_per_token: usize,
    /// A terminal with no viewer and no traffic for this long is closed.
    pub terminal_idle: std::time::Duration,
    /// A git repository of extra templates (`URL` or `URL#REF`), cloned into
    /// the data dir and pulled again on `POST /v1/catalog/refresh`.
    pub catalog_git: Option<String>,
    /// The reverse proxy the agent runs, when its listen addresses are set.
    pub proxy: Option<ProxyConfig>,
    /// How often certificates are checked for expiry.
    pub cert_check: std::time::Duration,
    /// A webhook every alert notice is POSTed to as JSON (the channel `config`), besides the channels added through the API.
    pub alert_webhook: Option<String>,
    /// How often the alert rules are evaluated (besides at once on an exit or a deployment's end).
    pub alert_check: std::time::Duration,
    /// How often the backup schedule is checked.
    pub backup_check: std::time::Duration,
}

/// A Docker network name: a letter or digit, then letters, digits, `_`, `.`, `-`.
fn network_name(name: &str) -> anyhow::Result<String> {
    let ok = name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if !ok {
        bail!("APPOS_PROXY_NETWORK {name:?} is not a Docker network name (a letter or digit, then letters, digits, _ . -)");
    }
    Ok(name.to_string())
}

/// Which reverse proxy the agent runs.
/// Request budgets (see `services::limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateConfig {
    /// Failed authentications answered 401 in a row before 429s (30).
    pub auth_failure_burst: u32,
    /// How fast that budget comes back (60 a minute).
    pub auth_failures_per_min: u32,
    /// Requests one token may send at once (1000).
    pub token_burst: u32,
    /// And per second after that (100; 0: no limit).
    pub token_requests_per_sec: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Caddy,
    Nginx,
}

impl ProxyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyKind::Caddy => "caddy",
            ProxyKind::Nginx => "nginx",
        }
    }
}

/// The reverse proxy's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    pub kind: ProxyKind,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub bin: PathBuf,
    pub acme_ca: Option<String>,
    pub acme_email: Option<String>,
    pub acme_ca_root: Option<PathBuf>,
    /// The DNS server the preflight asks where a domain points (the system's resolver when `None`).
    pub dns: Option<SocketAddr>,
    /// The Docker network the proxy reaches apps on (the agent attaches each domain's containers).
    pub network: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => bail!("unknown log format {other:?}: expected text or json"),
        }
    }
}

/// One layer of settings; `None` leaves the value of the layer below.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    /// A loopback address for the tokenless metrics listener.
    pub metrics_listen: Option<SocketAddr>,
    pub docker_host: Option<String>,
    pub log_format: Option<LogFormat>,
    pub redis_url: Option<String>,
    pub redis_server: Option<PathBuf>,
    pub workers: Option<usize>,
    pub task_lease_secs: Option<u64>,
    pub catalog_dir: Option<PathBuf>,
    pub catalog_git: Option<String>,
    pub max_terminals: Option<usize>,
    pub max_streams_per_token: Option<usize>,
    pub terminal_idle_secs: Option<u64>,
    pub stop_grace_secs: Option<u64>,
    pub inventory: Option<bool>,
    pub auth_failure_burst: Option<u64>,
    pub auth_failures_per_min: Option<u64>,
    pub token_burst: Option<u64>,
    pub token_requests_per_sec: Option<u64>,
    /// The reverse proxy: `caddy` (the default) or `nginx`.
    pub proxy: Option<String>,
    /// Where the proxy listens for HTTP and HTTPS (`:80`, `127.0.0.1:8080`).
    pub proxy_http: Option<String>,
    pub proxy_https: Option<String>,
    /// The proxy binary the agent runs (default: `caddy` on the PATH).
    pub proxy_bin: Option<PathBuf>,
    /// The ACME directory certificates are ordered from (default: Let's Encrypt).
    pub acme_ca: Option<String>,
    pub acme_email: Option<String>,
    /// An extra root the ACME directory's TLS is checked against (a private CA).
    pub acme_ca_root: Option<PathBuf>,
    /// The DNS server (`IP:PORT`) the preflight asks, instead of the system's resolver.
    pub dns: Option<String>,
    /// The Docker network the proxy reaches apps on (default `appos-proxy`).
    pub proxy_network: Option<String>,
    /// How often certificates are checked for expiry (seconds).
    pub cert_check_secs: Option<u64>,
    /// A URL that gets every alert notice as JSON (POST).
    pub alert_webhook: Option<String>,
    /// How often the alert rules are evaluated (seconds).
    pub alert_check_secs: Option<u64>,
    /// How often the backup schedule is checked (seconds).
    pub backup_check_secs: Option<u64>,
}

/// A listen address: `HOST:PORT`, or `:PORT` for every interface.
fn listen_addr(key: &str, s: &str) -> anyhow::Result<SocketAddr> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .with_context(|| format!("{key}={s:?} is not an address such as :443 or 127.0.0.1:8443"))
}

impl Layer {
    /// Reads a layer from a TOML file.
    pub fn from_file(path: &Path) -> anyhow::Result<Layer> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }

    /// Reads a layer from `APPOS_*` variables, looked up through `env` so that
    /// tests never touch the process environment.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Layer> {
        let listen = match env("APPOS_LISTEN").filter(|s| !s.is_empty()) {
            Some(s) => Some(
                s.parse()
                    .with_context(|| format!("APPOS_LISTEN={s:?} is not an address"))?,
            ),
            None => None,
        };
        let metrics_listen = match env("APPOS_METRICS_LISTEN").filter(|s| !s.is_empty()) {
            Some(s) => Some(
                s.parse()
                    .with_context(|| format!("APPOS_METRICS_LISTEN={s:?} is not an address"))?,
            ),
            None => None,
        };
        let log_format = match env("APPOS_LOG_FORMAT").filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse().context("APPOS_LOG_FORMAT")?),
            None => None,
        };
        let workers = match env("APPOS_WORKERS").filter(|s| !s.is_empty()) {
            Some(s) => Some(
                s.parse()
                    .with_context(|| format!("APPOS_WORKERS={s:?} is not a number"))?,
            ),
            None => None,
        };
        let task_lease_secs = match env("APPOS_TASK_LEASE_SECS").filter(|s| !s.is_empty()) {
            Some(s) => Some(
                s.parse()
                    .with_context(|| format!("APPOS_TASK_LEASE_SECS={s:?} is not a number"))?,
            ),
            None => None,
        };
        let num = |key: &str| -> anyhow::Result<Option<u64>> {
            match env(key).filter(|s| !s.is_empty()) {
                Some(s) => Ok(Some(
                    s.parse()
                        .with_context(|| format!("{key}={s:?} is not a number"))?,
                )),
                None => Ok(None),
            }
        };
        Ok(Layer {
            max_terminals: num("APPOS_MAX_TERMINALS")?.map(|n| n as usize),
            max_streams_per_token: num("APPOS_MAX_STREAMS_PER_TOKEN")?.map(|n| n as usize),
            terminal_idle_secs: num("APPOS_TERMINAL_IDLE_SECS")?,
            stop_grace_secs: num("APPOS_STOP_GRACE_SECS")?,
            auth_failure_burst: num("APPOS_AUTH_FAILURE_BURST")?,
            auth_failures_per_min: num("APPOS_AUTH_FAILURES_PER_MIN")?,
            token_burst: num("APPOS_TOKEN_BURST")?,
            token_requests_per_sec: num("APPOS_TOKEN_REQUESTS_PER_SEC")?,
            inventory: match env("APPOS_INVENTORY").filter(|s| !s.is_empty()).as_deref() {
                None => None,
                Some("on") => Some(true),
                Some("off") => Some(false),
                Some(other) => bail!("APPOS_INVENTORY={other:?}: it is on or off"),
            },
            catalog_dir: env("APPOS_CATALOG_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            catalog_git: env("APPOS_CATALOG_GIT").filter(|s| !s.is_empty()),
            task_lease_secs,
            data_dir: env("APPOS_DATA")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            listen,
            metrics_listen,
            docker_host: env("APPOS_DOCKER_HOST").filter(|s| !s.is_empty()),
            log_format,
            redis_url: env("APPOS_REDIS_URL").filter(|s| !s.is_empty()),
            redis_server: env("APPOS_REDIS_SERVER")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            workers,
            proxy: env("APPOS_PROXY").filter(|s| !s.is_empty()),
            proxy_http: env("APPOS_PROXY_HTTP").filter(|s| !s.is_empty()),
            proxy_https: env("APPOS_PROXY_HTTPS").filter(|s| !s.is_empty()),
            proxy_bin: env("APPOS_PROXY_BIN")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            acme_ca: env("APPOS_ACME_CA").filter(|s| !s.is_empty()),
            acme_email: env("APPOS_ACME_EMAIL").filter(|s| !s.is_empty()),
            acme_ca_root: env("APPOS_ACME_CA_ROOT")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            dns: env("APPOS_DNS").filter(|s| !s.is_empty()),
            proxy_network: env("APPOS_PROXY_NETWORK").filter(|s| !s.is_empty()),
            cert_check_secs: num("APPOS_CERT_CHECK_SECS")?,
            alert_webhook: env("APPOS_ALERT_WEBHOOK").filter(|s| !s.is_empty()),
            alert_check_secs: num("APPOS_ALERT_CHECK_SECS")?,
            backup_check_secs: num("APPOS_BACKUP_CHECK_SECS")?,
        })
    }

    fn over(self, lower: Layer) -> Layer {
        Layer {
            data_dir: self.data_dir.or(lower.data_dir),
            listen: self.listen.or(lower.listen),
            metrics_listen: self.metrics_listen.or(lower.metrics_listen),
            docker_host: self.docker_host.or(lower.docker_host),
            log_format: self.log_format.or(lower.log_format),
            redis_url: self.redis_url.or(lower.redis_url),
            redis_server: self.redis_server.or(lower.redis_server),
            workers: self.workers.or(lower.workers),
            task_lease_secs: self.task_lease_secs.or(lower.task_lease_secs),
            catalog_dir: self.catalog_dir.or(lower.catalog_dir),
            catalog_git: self.catalog_git.or(lower.catalog_git),
            max_terminals: self.max_terminals.or(lower.max_terminals),
            max_streams_per_token: self.max_streams_per_token.or(lower.max_streams_per_token),
            terminal_idle_secs: self.terminal_idle_secs.or(lower.terminal_idle_secs),
            stop_grace_secs: self.stop_grace_secs.or(lower.stop_grace_secs),
            inventory: self.inventory.or(lower.inventory),
            auth_failure_burst: self.auth_failure_burst.or(lower.auth_failure_burst),
            auth_failures_per_min: self.auth_failures_per_min.or(lower.auth_failures_per_min),
            token_burst: self.token_burst.or(lower.token_burst),
            token_requests_per_sec: self.token_requests_per_sec.or(lower.token_requests_per_sec),
            proxy: self.proxy.or(lower.proxy),
            proxy_http: self.proxy_http.or(lower.proxy_http),
            proxy_https: self.proxy_https.or(lower.proxy_https),
            proxy_bin: self.proxy_bin.or(lower.proxy_bin),
            acme_ca: self.acme_ca.or(lower.acme_ca),
            acme_email: self.acme_email.or(lower.acme_email),
            acme_ca_root: self.acme_ca_root.or(lower.acme_ca_root),
            dns: self.dns.or(lower.dns),
            proxy_network: self.proxy_network.or(lower.proxy_network),
            cert_check_secs: self.cert_check_secs.or(lower.cert_check_secs),
            alert_webhook: self.alert_webhook.or(lower.alert_webhook),
            alert_check_secs: self.alert_check_secs.or(lower.alert_check_secs),
            backup_check_secs: self.backup_check_secs.or(lower.backup_check_secs),
        }
    }
}

impl Config {
    /// Merges file, environment and flags (highest last) and validates the result.
    pub fn resolve(file: Layer, env: Layer, flags: Layer) -> anyhow::Result<Config> {
        let merged = flags.over(env.over(file));
        let data_dir = merged
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if !data_dir.is_absolute() {
            bail!("data dir {} must be an absolute path", data_dir.display());
        }
        if let Some(addr) = merged.listen {
            // The control plane is reached through SSH; a public listener
            // would be an inbound port to attack.
            if !addr.ip().is_loopback() {
                bail!("refusing to listen on {addr}: only loopback addresses are allowed");
            }
        }
        if let Some(addr) = merged.metrics_listen {
            // Metrics without a token: only for a scraper on this host.
            if !addr.ip().is_loopback() {
                bail!("refusing to serve metrics on {addr}: only loopback addresses are allowed");
            }
        }
        let workers = merged.workers.unwrap_or(3);
        if !(1..=64).contains(&workers) {
            bail!("workers must be between 1 and 64, not {workers}");
        }
        let lease = merged.task_lease_secs.unwrap_or(30);
        if !(3..=3600).contains(&lease) {
            bail!("the task lease must be between 3 and 3600 seconds, not {lease}");
        }
        if merged.redis_url.is_some() && merged.redis_server.is_some() {
            bail!("give either a Redis URL or a redis-server to run, not both");
        }
        if let Some(g) = &merged.catalog_git {
            crate::infra::git::GitSource::parse(g)?;
        }
        let max_terminals = merged.max_terminals.unwrap_or(32);
        if !(1..=1024).contains(&max_terminals) {
            bail!("max terminals must be between 1 and 1024, not {max_terminals}");
        }
        let max_streams_per_token = merged.max_streams_per_token.unwrap_or(32);
        if !(1..=1024).contains(&max_streams_per_token) {
            bail!("max streams per token must be between 1 and 1024, not {max_streams_per_token}");
        }
        let idle = merged.terminal_idle_secs.unwrap_or(3600);
        if !(10..=7 * 86400).contains(&idle) {
            bail!("the terminal idle time must be between 10 s and 7 days, not {idle} s");
        }
        // Under `docker stop`'s default 10 s, so that the hand-back happens before SIGKILL.
        let grace = merged.stop_grace_secs.unwrap_or(5);
        if grace > 600 {
            bail!("the stop grace must be at most 600 s, not {grace} s");
        }
        let rate = |v: Option<u64>, default: u32, what: &str, min: u64| -> anyhow::Result<u32> {
            let n = v.unwrap_or(u64::from(default));
            if !(min..=1_000_000).contains(&n) {
                bail!("{what} must be between {min} and 1000000, not {n}");
            }
            Ok(n as u32)
        };
        let rates = RateConfig {
            auth_failure_burst: rate(
                merged.auth_failure_burst,
                30,
                "the failed-authentication burst",
                1,
            )?,
            auth_failures_per_min: rate(
                merged.auth_failures_per_min,
                60,
                "failed authentications per minute",
                1,
            )?,
            token_burst: rate(merged.token_burst, 1000, "the burst per token", 1)?,
            token_requests_per_sec: rate(
                merged.token_requests_per_sec,
                100,
                "requests per second per token (0: no limit)",
                0,
            )?,
        };
        let kind = match merged.proxy.as_deref().unwrap_or("caddy") {
            "caddy" => ProxyKind::Caddy,
            "nginx" => ProxyKind::Nginx,
            other => bail!("unknown proxy {other:?}: APPOS_PROXY is caddy or nginx"),
        };
        let proxy = match (&merged.proxy_http, &merged.proxy_https) {
            (None, None) => None,
            (Some(http), Some(https)) => Some(ProxyConfig {
                kind,
                http: listen_addr("APPOS_PROXY_HTTP", http)?,
                https: listen_addr("APPOS_PROXY_HTTPS", https)?,
                bin: merged
                    .proxy_bin
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(kind.as_str())),
                acme_ca: merged.acme_ca.clone(),
                acme_email: merged.acme_email.clone(),
                acme_ca_root: merged.acme_ca_root.clone(),
                dns: merged
                    .dns
                    .as_deref()
                    .map(|d| {
                        d.parse().with_context(|| {
                            format!("APPOS_DNS {d:?} is not IP:PORT, such as 127.0.0.1:53")
                        })
                    })
                    .transpose()?,
                network: network_name(merged.proxy_network.as_deref().unwrap_or("appos-proxy"))?,
            }),
            _ => bail!("the proxy needs both APPOS_PROXY_HTTP and APPOS_PROXY_HTTPS"),
        };
        let cert_check = merged.cert_check_secs.unwrap_or(6 * 3600);
        if !(1..=7 * 86400).contains(&cert_check) {
            bail!(
                "the certificate check interval must be between 1 s and 7 days, not {cert_check} s"
            );
        }
        let alert_check = merged.alert_check_secs.unwrap_or(15);
        if !(1..=3600).contains(&alert_check) {
            bail!("the alert check interval must be between 1 s and 1 hour, not {alert_check} s");
        }
        let backup_check = merged.backup_check_secs.unwrap_or(60);
        if !(1..=3600).contains(&backup_check) {
            bail!("the backup schedule check interval must be between 1 s and 1 hour, not {backup_check} s");
        }
        if let Some(w) = &merged.alert_webhook {
            if !(w.starts_with("http://") || w.starts_with("https://")) {
                bail!("APPOS_ALERT_WEBHOOK must be an http:// or https:// URL");
            }
        }
        Ok(Config {
            proxy,
            cert_check: std::time::Duration::from_secs(cert_check),
            alert_webhook: merged.alert_webhook,
            alert_check: std::time::Duration::from_secs(alert_check),
            backup_check: std::time::Duration::from_secs(backup_check),
            max_terminals,
            max_streams_per_token,
            terminal_idle: std::time::Duration::from_secs(idle),
            stop_grace: std::time::Duration::from_secs(grace),
            inventory: merged.inventory.unwrap_or(true),
            rates,
            catalog_dir: merged.catalog_dir,
            catalog_git: merged.catalog_git,
            task_lease: std::time::Duration::from_secs(lease),
            data_dir,
            listen: merged.listen,
            metrics_listen: merged.metrics_listen,
            docker_host: merged.docker_host,
            log_format: merged.log_format.unwrap_or_default(),
            redis_url: merged.redis_url,
            redis_server: merged.redis_server,
            workers,
        })
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("appos.db")
    }

    pub fn socket_path(&self) -> PathBuf {
        self.data_dir.join("run").join("agent.sock")
    }

    pub fn queue_path(&self) -> PathBuf {
        self.data_dir.join("queue.db")
    }

    pub fn apps_dir(&self) -> PathBuf {
        self.data_dir.join("apps")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn flags_override_env_override_file() {
        let file: Layer = toml::from_str(
            "data_dir = \"/srv/file\"\nlisten = \"127.0.0.1:7000\"\nlog_format = \"json\"",
        )
        .expect("valid toml");
        let envl = Layer::from_env(env(&[
            ("APPOS_DATA", "/srv/env"),
            ("APPOS_LISTEN", "127.0.0.1:7001"),
        ]))
        .expect("valid env");
        let flags = Layer {
            data_dir: Some("/srv/flag".into()),
            ..Layer::default()
        };
        let cfg = Config::resolve(file, envl, flags).expect("valid config");
        assert_eq!(cfg.data_dir, PathBuf::from("/srv/flag"));
        assert_eq!(cfg.listen, Some("127.0.0.1:7001".parse().expect("addr")));
        assert_eq!(cfg.log_format, LogFormat::Json);
        assert_eq!(cfg.socket_path(), PathBuf::from("/srv/flag/run/agent.sock"));
    }

    #[test]
    fn defaults_apply() {
        let cfg =
            Config::resolve(Layer::default(), Layer::default(), Layer::default()).expect("ok");
        assert_eq!(cfg.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(cfg.listen, None);
    }

    #[test]
    fn public_listen_is_refused() {
        let flags = Layer {
            listen: Some("0.0.0.0:8080".parse().expect("addr")),
            ..Layer::default()
        };
        let err =
            Config::resolve(Layer::default(), Layer::default(), flags).expect_err("must refuse");
        assert!(err.to_string().contains("only loopback"), "{err}");
    }

    #[test]
    fn a_public_metrics_listener_is_refused() {
        for (addr, err) in [("0.0.0.0:9464", Some("refusing to serve metrics on 0.0.0.0:9464: only loopback addresses are allowed")), ("[::]:9464", Some("refusing to serve metrics on [::]:9464: only loopback addresses are allowed")), ("127.0.0.1:9464", None)] {
            let flags = Layer { metrics_listen: Some(addr.parse().expect("addr")), ..Layer::default() };
            let got = Config::resolve(Layer::default(), Layer::default(), flags).err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), err, "{addr}");
        }
    }

    #[test]
    fn relative_data_dir_is_refused() {
        let flags = Layer {
            data_dir: Some("data".into()),
            ..Layer::default()
        };
        assert!(Config::resolve(Layer::default(), Layer::default(), flags).is_err());
    }

    #[test]
    fn unknown_keys_and_bad_env_are_errors() {
        assert!(toml::from_str::<Layer>("data_dri = \"/x\"").is_err());
        assert!(Layer::from_env(env(&[("APPOS_LISTEN", "not-an-addr")])).is_err());
        assert!(Layer::from_env(env(&[("APPOS_LOG_FORMAT", "xml")])).is_err());
    }
}
