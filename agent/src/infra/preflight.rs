//! Asks where a domain points and what answers there: a DNS lookup (the
//! system's resolver, or the DNS server set with `APPOS_DNS`), then, on each
//! address, an HTTP GET of the preflight path with the domain as its Host.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::BodyExt as _;

use crate::core::proxy::{PreflightAnswer, PREFLIGHT_PATH};

/// The addresses `domain` resolves to.
pub async fn resolve(domain: &str, dns: Option<SocketAddr>) -> Result<Vec<IpAddr>, String> {
    match dns {
        None => match tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::lookup_host((domain, 80)),
        )
        .await
        {
            Ok(Ok(addrs)) => {
                let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                ips.dedup();
                Ok(ips)
            }
            Ok(Err(_)) => Ok(Vec::new()),
            Err(_) => Err(format!("looking up {domain} took longer than 10 s")),
        },
        Some(server) => {
            use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
            let mut udp = ConnectionConfig::udp();
            udp.port = server.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = server.port();
            let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                server.ip(),
                true,
                vec![udp, tcp],
            )]);
            let resolver = hickory_resolver::Resolver::builder_with_config(
                config,
                hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
            )
            .build()
            .map_err(|e| format!("DNS resolver {server}: {e}"))?;
            match tokio::time::timeout(
                Duration::from_secs(10),
                resolver.lookup_ip(format!("{domain}.")),
            )
            .await
            {
                Ok(Ok(found)) => Ok(found.iter().collect()),
                Ok(Err(_)) => Ok(Vec::new()),
                Err(_) => Err(format!(
                    "looking up {domain} at {server} took longer than 10 s"
                )),
            }
        }
    }
}

/// What `addr` answers for `domain` at the preflight path, judged against `token`.
pub async fn ask(addr: SocketAddr, domain: &str, token: &str) -> PreflightAnswer {
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| PreflightAnswer::Unreachable(e.to_string()))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .map_err(|e| PreflightAnswer::Unreachable(e.to_string()))?;
        tokio::spawn(conn);
        let req = hyper::Request::get(PREFLIGHT_PATH)
            .header(hyper::header::HOST, domain)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| PreflightAnswer::Unreachable(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| PreflightAnswer::Unreachable(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| PreflightAnswer::Unreachable(e.to_string()))?
            .to_bytes();
        if status.is_success() && body.as_ref() == token.as_bytes() {
            Ok(PreflightAnswer::Ours)
        } else {
            Ok(PreflightAnswer::Other(format!("HTTP {}", status.as_u16())))
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(Ok(a) | Err(a)) => a,
        Err(_) => PreflightAnswer::Unreachable("no answer within 10 s".into()),
    }
}
