//! The AppOS agent: a headless daemon on one Docker host.
//!
//! Layers, each importing only those below it (`tests/tidy.rs` enforces it):
//!
//! - `http`: the router, the token gate, extractors, problem JSON, OpenAPI,
//!   and one thin route file per area. The only module that knows the web framework.
//! - `services`: what the agent does (apps, versions, deployments, tasks,
//!   catalog, events, logs, terminals, tokens). They take the shared
//!   [`state::AgentState`] and return [`error::AgentError`] (or an error of
//!   their own area), which `http` turns into answers.
//! - `infra`: configuration, Docker, the compose tool, the queue backends,
//!   SQLite (one module per table). Never imports a service.
//! - `core`, `error`, `clock`: pure decisions with table-driven tests, the
//!   domain error, the clock. No I/O.
//!
//! `state.rs` holds the shared handles; `serve.rs` is the composition root
//! that builds them and starts the listeners and background loops; the
//! binary in `main.rs` is a thin clap layer over this library.

pub mod clock;
pub mod core;
pub mod error;
pub mod http;
pub mod infra;
pub mod serve;
pub mod services;
pub mod state;

/// Version of this agent build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
