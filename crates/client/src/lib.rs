//! The AppOS client library, shared by the CLI and the desktop app.
//!
//! - `transport`: how bytes reach the agent (SSH tunnel, unix socket, TCP URL).
//! - `ssh`: SSH sessions done properly: `~/.ssh/config`, host-key
//!   verification, ssh-agent and key files, keepalive, token bootstrap.
//! - `api`: the typed HTTP client over any transport.
//! - `profile`: the servers a user added, and where their tokens live.

pub mod api;
pub mod connect;
pub mod dockerignore;
pub mod error;
pub mod install;
pub mod profile;
pub mod project;
pub mod reconnect;
pub mod ssh;
pub mod terminal;
pub mod transport;

pub use api::Client;
pub use error::ClientError;
pub use transport::Transport;
