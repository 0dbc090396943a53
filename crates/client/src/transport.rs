//! Transports: the ways a byte stream reaches the agent's HTTP API.

use std::path::{Path, PathBuf};
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
    /// HTTPS to a host and port (`https://host:port`), e.g. an agent behind a
    /// TLS-terminating proxy. The certificate is checked against the system
    /// roots plus an optional CA file.
    Https {
        host: String,
        port: u16,
        tls: tokio_rustls::TlsConnector,
    },
    /// Through one SSH connection; every stream is a new channel on it.
    Ssh {
        session: Arc<SshSession>,
        endpoint: RemoteEndpoint,
    },
}

impl Transport {
    /// Parses a `unix://`, `http://` or `https://` URL. SSH transports are
    /// built from a connected [`SshSession`] instead. `ca_file` adds a PEM
    /// bundle of trusted roots for https.
    pub fn from_url(url: &str, ca_file: Option<&Path>) -> Result<Transport, ClientError> {
        if let Some(path) = url.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(ClientError::Config(format!("{url:?}: a unix URL needs an absolute path, e.g. unix:///var/lib/appos/run/agent.sock")));
            }
            return Ok(Transport::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("http://") {
            let hostport = rest.trim_end_matches('/');
            let (host, port) = split_host_port(hostport).ok_or_else(|| {
                ClientError::Config(format!("{url:?}: expected http://HOST:PORT"))
            })?;
            // The bearer token would cross the network in the clear.
            if !is_loopback(&host) {
                return Err(ClientError::Config(format!(
                    "{url:?}: plain http sends the token in the clear, so it is only for loopback (127.0.0.1, ::1, localhost); use https:// or ssh://"
                )));
            }
            return Ok(Transport::Tcp { host, port });
        }
        if let Some(rest) = url.strip_prefix("https://") {
            let hostport = rest.trim_end_matches('/');
            let (host, port) = match split_host_port(hostport) {
                Some(hp) => hp,
                None if !hostport.is_empty() && !hostport.contains(['/', ':', '@']) => {
                    (hostport.to_string(), 443)
                }
                None => {
                    return Err(ClientError::Config(format!(
                        "{url:?}: expected https://HOST[:PORT]"
                    )))
                }
            };
            return Ok(Transport::Https {
                host,
                port,
                tls: tls_connector(ca_file)?,
            });
        }
        Err(ClientError::Config(format!(
            "{url:?}: expected unix:///PATH, http://HOST:PORT or ssh://USER@HOST[:PORT]"
        )))
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
                let s = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| ClientError::Unreachable {
                        addr: format!("{host}:{port}"),
                        reason: e.to_string(),
                    })?;
                let _ = s.set_nodelay(true);
                Ok(Box::new(s))
            }
            Transport::Https { host, port, tls } => {
                let addr = format!("{host}:{port}");
                let tcp = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| ClientError::Unreachable {
                        addr: addr.clone(),
                        reason: e.to_string(),
                    })?;
                let _ = tcp.set_nodelay(true);
                let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| {
                    ClientError::Config(format!("{host:?} is not a valid TLS server name: {e}"))
                })?;
                let s = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ClientError::Unreachable {
                        addr,
                        reason: format!("TLS handshake failed: {e}"),
                    })?;
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
            Transport::Https { host, port, .. } => format!("https://{host}:{port}"),
            Transport::Ssh { session, endpoint } => match endpoint {
                RemoteEndpoint::Socket(p) => format!("{} → {p}", session.describe()),
                RemoteEndpoint::Tcp { host, port } => {
                    format!("{} → {host}:{port}", session.describe())
                }
            },
        }
    }
}

/// A TLS client that trusts the system's roots and the PEM certificates in
/// `ca_file`. TLS 1.2+ with the ring provider.
fn tls_connector(ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| ClientError::Config(format!("reading CA file {}: {e}", path.display())))?;
        let mut n = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
            n += 1;
        }
        if n == 0 {
            return Err(ClientError::Config(format!(
                "{} holds no PEM certificate",
                path.display()
            )));
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        config,
    )))
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

/// A host that names this machine without asking DNS: `localhost`, or a
/// loopback address.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:7171",
            "http://127.9.9.9:1",
            "http://[::1]:7171",
            "http://localhost:7171",
            "http://LOCALHOST:1/",
        ] {
            assert!(
                matches!(Transport::from_url(ok, None), Ok(Transport::Tcp { .. })),
                "{ok}"
            );
        }
        for bad in [
            "http://10.0.0.5:7171",
            "http://agent.example.com:80",
            "http://0.0.0.0:7171",
            "http://[::ffff:10.0.0.1]:1",
            "http://localhost.example.com:1",
        ] {
            match Transport::from_url(bad, None) {
                Err(ClientError::Config(m)) => assert_eq!(
                    m,
                    format!("{bad:?}: plain http sends the token in the clear, so it is only for loopback (127.0.0.1, ::1, localhost); use https:// or ssh://")
                ),
                Err(other) => panic!("{bad}: {other}"),
                Ok(_) => panic!("{bad} was accepted"),
            }
        }
    }

    #[test]
    fn urls() {
        assert!(
            matches!(Transport::from_url("unix:///run/a.sock", None), Ok(Transport::Unix(p)) if p == std::path::Path::new("/run/a.sock"))
        );
        assert!(matches!(
            Transport::from_url("http://127.0.0.1:7171/", None),
            Ok(Transport::Tcp { port: 7171, .. })
        ));
        assert!(matches!(
            Transport::from_url("https://agent.example.com", None),
            Ok(Transport::Https { port: 443, .. })
        ));
        assert!(matches!(
            Transport::from_url("https://agent.example.com:8443", None),
            Ok(Transport::Https { port: 8443, .. })
        ));
        assert!(Transport::from_url("https://", None).is_err());
        assert!(Transport::from_url("https://a:b:c", None).is_err());
        assert!(Transport::from_url("https://h", Some(Path::new("/nonexistent/ca.pem"))).is_err());
        assert!(Transport::from_url("unix://relative", None).is_err());
        assert!(Transport::from_url("http://nohost", None).is_err());
        assert!(Transport::from_url("ftp://x", None).is_err());
        assert_eq!(split_host_port("[::1]:22"), Some(("::1".into(), 22)));
        assert_eq!(split_host_port("::1"), None);
    }
}
