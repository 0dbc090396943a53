//! What the agent does, one module per area. Services take the shared
//! state and return `AgentError` (or their area's own error); they know
//! nothing of HTTP.

pub mod acme;
pub mod adopt;
pub mod alert_memory;
pub mod alerts;
pub mod apps;
pub mod audit;
pub mod backups;
pub mod catalog;
pub mod certs;
pub mod deployments;
pub mod docker_events;
pub mod domains;
pub mod events;
pub mod idempotency;
pub mod inflight;
pub mod inventory;
pub mod limits;
pub mod logs;
pub mod metrics;
pub mod observe;
pub mod serving;
pub mod stats;
pub mod streams;
pub mod tasks;
pub mod terminals;
pub mod tokens;
pub mod versions;
