//! Transports: the ways a byte stream reaches the agent's HTTP API.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::ssh::SshSession;
use crate::ClientError;

/// A bidirectional byte stream to the agent.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

pub type BoxIo = Box<dyn Io>;

/// Where on the server the agent listens, as seen from an SSH session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteEndpoint {
    /// `direct-streamlocal` to the agent's unix socket.
    Socket(String),
    /// `direct-tcpip` to a loopback port on the server.
    Tcp { host: String, port: u16 },
}

#[derive(Clone)]
pub enum Transport {
    /// A unix socket on this machine (`unix:///path`).
    Unix(PathBuf),
    /// Plain HTTP to a host and port (`http://host:port`), for loopback use.
    Tcp { host: String, port: u16 },
    /// Through one SSH connection; every stream is a new channel on it.
    Ssh { session: Arc<SshSession>, endpoint: RemoteEndpoint },
}

impl Transport {
    /// Parses a `unix://` or `http://` URL. SSH transports are built from a
    /// connected [`SshSession`] instead.
    pub fn from_url(url: &str) -> Result<Transport, ClientError> {
        if let Some(path) = url.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(ClientError::Config(format!("{url:?}: a unix URL needs an absolute path, e.g. unix:///var/lib/appos/run/agent.sock")));
            }
            return Ok(Transport::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("http://") {
            let hostport = rest.trim_end_matches('/');
            let (host, port) = split_host_port(hostport)
                .ok_or_else(|| ClientError::Config(format!("{url:?}: expected http://HOST:PORT")))?;
            return Ok(Transport::Tcp { host, port });
        }
        if url.starts_with("https://") {
            return Err(ClientError::Config(format!(
                "{url:?}: https is not supported yet; reach remote agents through ssh://USER@HOST"
            )));
        }
        Err(ClientError::Config(format!("{url:?}: expected unix:///PATH, http://HOST:PORT or ssh://USER@HOST[:PORT]")))
    }

    /// Opens a new stream to the agent.
    pub async fn open(&self) -> Result<BoxIo, ClientError> {
        match self {
            Transport::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path).await.map_err(|e| {
                    ClientError::AgentMissing(format!("cannot connect to {}: {e}", path.display()))
                })?;
                Ok(Box::new(s))
            }
            Transport::Tcp { host, port } => {
                let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await.map_err(|e| {
                    ClientError::Unreachable { addr: format!("{host}:{port}"), reason: e.to_string() }
                })?;
                let _ = s.set_nodelay(true);
                Ok(Box::new(s))
            }
            Transport::Ssh { session, endpoint } => session.open_stream(endpoint).await,
        }
    }

    /// A human description, e.g. `ssh://root@host → /var/lib/appos/run/agent.sock`.
    pub fn describe(&self) -> String {
        match self {
            Transport::Unix(p) => format!("unix://{}", p.display()),
            Transport::Tcp { host, port } => format!("http://{host}:{port}"),
            Transport::Ssh { session, endpoint } => match endpoint {
                RemoteEndpoint::Socket(p) => format!("{} → {p}", session.describe()),
                RemoteEndpoint::Tcp { host, port } => format!("{} → {host}:{port}", session.describe()),
            },
        }
    }
}

/// Splits `host:port`, `[v6]:port`.
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host.to_string(), port.parse().ok()?));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.is_empty() || host.contains(':') {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(matches!(Transport::from_url("unix:///run/a.sock"), Ok(Transport::Unix(p)) if p == PathBuf::from("/run/a.sock")));
        assert!(matches!(Transport::from_url("http://127.0.0.1:7171/"), Ok(Transport::Tcp { port: 7171, .. })));
        assert!(Transport::from_url("unix://relative").is_err());
        assert!(Transport::from_url("http://nohost").is_err());
        assert!(Transport::from_url("ftp://x").is_err());
        assert_eq!(split_host_port("[::1]:22"), Some(("::1".into(), 22)));
        assert_eq!(split_host_port("::1"), None);
    }
}
