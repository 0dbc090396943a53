//! The AppOS agent: a headless daemon on one Docker host.
//!
//! It owns the server side of the AppOS API: tokens (`tokens`), storage
//! (`db`), the Docker inventory (`docker`) and the HTTP routes (`api`). The
//! binary in `main.rs` is a thin clap layer over this library so that tests
//! can run an agent in-process or as a child process.

pub mod adopt;
pub mod api;
pub mod catalog;
pub mod compose;
pub mod config;
pub mod db;
pub mod deploy;
pub mod docker;
pub mod events;
pub mod logs;
pub mod queue;
pub mod redis_server;
pub mod serve;
pub mod terminals;
pub mod tokens;
pub mod versions;
pub mod worker;
pub mod zygote;

/// Version of this agent build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Current time in milliseconds since the epoch.
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Current time in seconds since the epoch. Passed into the places that need
/// it rather than read inside them, so that tests can control it.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
