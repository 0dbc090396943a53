//! Asking a running agent on its unix socket whether it answers (`GET
//! /health`): for `appos-agent health`, the container's HEALTHCHECK.

use std::path::Path;

use anyhow::Context as _;
use http_body_util::BodyExt as _;

pub async fn ask(socket: &Path) -> anyhow::Result<appos_proto::Health> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .context("connecting")?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get("/health")
        .header(hyper::header::HOST, "agent")
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status.is_success(),
        "HTTP {}: {}",
        status.as_u16(),
        String::from_utf8_lossy(&body)
    );
    let health: appos_proto::Health =
        serde_json::from_slice(&body).context("reading its answer")?;
    anyhow::ensure!(health.status == "ok", "it says {}", health.status);
    Ok(health)
}
