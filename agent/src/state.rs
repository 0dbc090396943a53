//! The shared handles every service works with, built once by `serve`.
//!
//! The services held here (catalog, events, terminals) take only the
//! handles they need, never the whole state, so that nothing below the
//! services depends on this module.

use std::sync::Arc;

use crate::clock::Clock;
use crate::infra::config::Config;
use crate::infra::db::Db;
use crate::infra::queue::AnyQueue;

impl AgentState {
    /// The compose tool on this server. Found once, in the background from
    /// the start (running `docker-compose version` can take half a second),
    /// so the socket answers before it is known; a call that needs it waits.
    pub async fn compose(&self) -> &appos_proto::ComposeInfo {
        self.compose_tool
            .get_or_init(crate::infra::docker::detect_compose)
            .await
    }
}

pub struct AgentState {
    pub config: Config,
    pub db: Arc<Db>,
    pub docker: bollard::Docker,
    /// The compose tool, found in the background at start (`compose().await`).
    pub compose_tool: Arc<tokio::sync::OnceCell<appos_proto::ComposeInfo>>,
    pub queue: AnyQueue,
    /// Wakes idle workers when a task is queued.
    pub queue_wakeup: tokio::sync::Notify,
    pub clock: Arc<dyn Clock>,
    /// When this agent started (seconds since the epoch): versions saved
    /// since were checked by the same compose tool.
    pub started_at: i64,
    pub catalog: crate::services::catalog::Live,
    pub events: crate::services::events::Events,
    /// The compose containers, kept from Docker's events.
    pub inventory: crate::services::inventory::Inventory,
    /// What the alert rules keep between rounds (exits, certificates).
    pub alerts: crate::services::alert_memory::AlertMemory,
    /// Asks the backup schedule to look again now (it changed).
    pub backup_wake: tokio::sync::Notify,
    /// Budgets for failed authentication and for requests per token.
    pub limits: crate::services::limits::Limits,
    /// Requests and tasks, counted as they happen.
    pub metrics: crate::services::metrics::Metrics,
    /// Resource readings of the running containers.
    pub stats: crate::services::stats::Stats,
    pub terminals: crate::services::terminals::Terminals,
    /// Streams held open per token.
    pub streams: crate::services::streams::StreamLimits,
    /// The reverse proxy, when one is configured.
    pub proxy: Option<crate::infra::proxy::Proxy>,
    /// Held from reading the domains to loading the proxy's configuration.
    pub serving: tokio::sync::Mutex<()>,
    /// The domains with a certificate task on its way.
    pub certificates: crate::services::inflight::InFlight,
    /// Cancelled when the agent stops (ends the processes it runs, like redis-server).
    pub stopping: tokio_util::sync::CancellationToken,
}

pub type Shared = Arc<AgentState>;
