//! The reverse proxy the agent runs beside itself and configures, whole,
//! from its state: Caddy (the default; it orders its own certificates) or
//! nginx (the agent orders certificates for it). Both are supervised
//! children and both pass one conformance suite (`agent/tests/proxy.rs`).

pub mod caddy;
pub mod nginx;

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use caddy::Caddy;
pub use nginx::Nginx;

use crate::core::proxy::{PreflightToken, Route};
use crate::infra::config::{ProxyConfig, ProxyKind};

/// Why a configuration did not take.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The proxy read the configuration and said no; the running one stays.
    #[error("{0}")]
    Refused(String),
    /// The proxy did not answer.
    #[error("{0}")]
    Unavailable(String),
}

/// A reverse proxy the agent configures: the whole set of routes at once,
/// atomically (a configuration the proxy refuses leaves the running one),
/// without dropping a connection.
#[allow(async_fn_in_trait)]
pub trait ProxyBackend {
    async fn apply(&self, routes: &[Route]) -> Result<(), ProxyError>;
}

/// The backend this agent runs.
pub enum Proxy {
    Caddy(Arc<Caddy>),
    Nginx(Arc<Nginx>),
}

impl Proxy {
    pub fn new(config: &ProxyConfig, data_dir: &Path) -> anyhow::Result<Proxy> {
        let preflight = PreflightToken::new(rand::random());
        Ok(match config.kind {
            ProxyKind::Caddy => Proxy::Caddy(Arc::new(Caddy::new(config, data_dir, preflight))),
            ProxyKind::Nginx => Proxy::Nginx(Arc::new(Nginx::new(config, data_dir, preflight)?)),
        })
    }

    /// Starts the proxy and keeps it running until `stop`. One that cannot
    /// start (its ports taken, say) never stops the agent: it is tried again
    /// every 10 s, and meanwhile changes answer that the proxy does not answer.
    pub async fn start(&self, stop: CancellationToken) {
        match self {
            Proxy::Caddy(c) => {
                // nginx keeps its listening sockets across reloads; Caddy does not.
                keep_queued_connections();
                c.start(stop).await
            }
            Proxy::Nginx(n) => n.start(stop).await,
        }
    }

    /// Whether the proxy orders and renews certificates itself (Caddy), or
    /// the agent does it for it (nginx).
    pub fn orders_certificates(&self) -> bool {
        matches!(self, Proxy::Caddy(_))
    }

    /// The proxy's process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Proxy::Caddy(c) => c.pid.get(),
            Proxy::Nginx(n) => n.pid.get(),
        }
    }

    /// What every domain answers at the preflight path.
    pub fn preflight(&self) -> &PreflightToken {
        match self {
            Proxy::Caddy(c) => c.preflight(),
            Proxy::Nginx(n) => &n.settings().preflight,
        }
    }
}

impl ProxyBackend for Proxy {
    async fn apply(&self, routes: &[Route]) -> Result<(), ProxyError> {
        match self {
            Proxy::Caddy(c) => c.apply(routes).await,
            Proxy::Nginx(n) => n.apply(routes).await,
        }
    }
}

/// Asks the kernel to hand the connections waiting on a listening socket
/// that closes to another socket on the same port (Linux 5.14 and later).
/// Caddy opens new listeners (`SO_REUSEPORT`) at every configuration load
/// and closes the old ones: without this, a connection that arrived on an
/// old one just then is reset. The setting is the network namespace's; an
/// agent that may not change it says so once in its log.
pub fn keep_queued_connections() {
    const PATH: &str = "/proc/sys/net/ipv4/tcp_migrate_req";
    match std::fs::read_to_string(PATH) {
        Ok(v) if v.trim() == "1" => {}
        Ok(_) => {
            if let Err(error) = std::fs::write(PATH, "1") {
                tracing::warn!(%error, "cannot set net.ipv4.tcp_migrate_req=1: a connection arriving just as the proxy reloads may be reset; set it on the server (sysctl -w net.ipv4.tcp_migrate_req=1)");
            } else {
                tracing::info!(
                    "set net.ipv4.tcp_migrate_req=1 so that proxy reloads drop no connection"
                );
            }
        }
        Err(error) => {
            tracing::warn!(%error, "this kernel cannot keep queued connections across proxy reloads (net.ipv4.tcp_migrate_req needs Linux 5.14)")
        }
    }
}
