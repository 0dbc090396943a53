//! Alerts POSTed to a URL the admin configured (http or https; https
//! checked against the system's roots): JSON for webhooks and chats, text
//! for ntfy.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;

/// POSTs `body` as JSON to `url`; fails unless the answer is 2xx.
pub async fn post(url: &str, body: &serde_json::Value) -> Result<(), String> {
    post_with(url, "application/json", &[], body.to_string()).await
}

/// POSTs `body` with its content type and more headers; fails unless the answer is 2xx.
pub async fn post_with(
    url: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: String,
) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("only http:// and https:// URLs".into()),
    };
    let host = uri.host().ok_or("no host")?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let send = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
        let mut req = hyper::Request::post(path)
            .header(hyper::header::HOST, &host)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .header(
                hyper::header::USER_AGENT,
                concat!("appos-agent/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let status = if https {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let name =
                rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            let (mut s, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let resp = s.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let _ = resp.into_body().collect().await;
            status
        } else {
            let (mut s, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let resp = s.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let _ = resp.into_body().collect().await;
            status
        };
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{host} answered {status}"))
        }
    };
    tokio::time::timeout(Duration::from_secs(15), send)
        .await
        .map_err(|_| "no answer within 15 s".to_string())?
}
