//! Pure decisions, apart from I/O, each with table-driven tests: what a
//! compose file may hold, when a deployment is ready, what the reconciler
//! concludes, what state an app is in, what a failed pull means.

pub mod alerts;
pub mod appfiles;
pub mod apps;
pub mod backups;
pub mod certs;
pub mod compose;
pub mod host_access;
pub mod idempotency;
pub mod proxy;
pub mod pull;
pub mod readiness;
pub mod reconcile;
pub mod redact;
pub mod stats;
