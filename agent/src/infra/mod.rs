//! What the agent stands on: configuration, Docker, the compose tool, git,
//! the queue backends, SQLite, and the processes it runs beside itself.
//! Nothing here imports a service.

pub mod acme;
pub mod appfiles;
pub mod compose;
pub mod config;
pub mod db;
pub mod docker;
pub mod git;
pub mod health;
pub mod notify;
pub mod preflight;
pub mod proxy;
pub mod queue;
pub mod redis_server;
pub mod restic;
pub mod ssh_identity;
pub mod supervise;
pub mod tls_probe;
pub mod volumes;
pub mod webhook;
pub mod zygote;
