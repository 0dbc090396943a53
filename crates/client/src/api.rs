//! The typed AppOS API client: HTTP/1.1 over whatever stream the transport
//! opens, with idle connections kept for reuse.

use std::sync::Mutex;

use appos_proto::{
    AgentInfo, App, AppLogLine, AppVersion, AppVersionDetail, DeployAccepted, DeployRequest, Deployment, Health, LogLine, Problem, RollbackRequest,
    SaveVersionRequest, VersionSaved,
};
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use crate::transport::Transport;
use crate::ClientError;

pub struct Client {
    transport: Transport,
    token: Option<String>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// A raw answer, for callers that do not want a typed one (benchmarks, probes).
pub struct RawResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Client {
    pub fn new(transport: Transport, token: Option<String>) -> Client {
        Client { transport, token, idle: Mutex::new(Vec::new()) }
    }

    /// The `Authorization` header value, when there is a token.
    fn bearer(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("{}{t}", appos_proto::BEARER))
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    async fn sender(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        loop {
            let candidate = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match candidate {
                Some(mut s) => {
                    if s.ready().await.is_ok() {
                        return Ok(s);
                    }
                }
                None => break,
            }
        }
        let io = self.transport.open().await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| ClientError::Protocol(format!("HTTP handshake with the agent failed: {e}")))?;
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%error, "agent connection closed");
            }
        });
        Ok(sender)
    }

    /// Sends one request and returns the status and body.
    pub async fn request_raw(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<RawResponse, ClientError> {
        let mut sender = self.sender().await?;
        let mut req = Request::builder().method(method).uri(path).header(header::HOST, "appos-agent");
        if let Some(b) = self.bearer() {
            req = req.header(header::AUTHORIZATION, b);
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Full::new(Bytes::from(b))),
            None => req.body(Full::new(Bytes::new())),
        }
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::AgentMissing(format!("the agent closed the connection: {e}")))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Protocol(format!("reading the agent's answer: {e}")))?
            .to_bytes();
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(sender);
        Ok(RawResponse { status, body })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.request_raw(Method::GET, path, None).await?;
        decode(resp)
    }

    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/health").await
    }

    pub async fn info(&self) -> Result<AgentInfo, ClientError> {
        self.get("/v1/info").await
    }

    pub async fn apps(&self) -> Result<Vec<App>, ClientError> {
        self.get("/v1/apps").await
    }

    pub async fn deploy(&self, req: &DeployRequest) -> Result<DeployAccepted, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        decode(self.request_raw(Method::POST, "/v1/apps/deploy", Some(body)).await?)
    }

    /// Opens a WebSocket to `path` on the agent, with the token.
    async fn websocket(&self, path: &str) -> Result<tokio_tungstenite::WebSocketStream<crate::transport::BoxIo>, ClientError> {
        use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest as _};
        let io = self.transport.open().await?;
        let mut req = format!("ws://appos-agent{path}").into_client_request().map_err(|e| ClientError::Protocol(e.to_string()))?;
        if let Some(b) = self.bearer() {
            let v = http::HeaderValue::from_str(&b).map_err(|e| ClientError::Protocol(e.to_string()))?;
            req.headers_mut().insert(header::AUTHORIZATION, v);
        }
        let config = tungstenite::protocol::WebSocketConfig::default().max_message_size(Some(4 << 20));
        let (ws, _) = tokio_tungstenite::client_async_with_config(req, io, Some(config)).await.map_err(|e| match e {
            tungstenite::Error::Http(resp) => {
                let status = resp.status();
                let body = Bytes::from(resp.into_body().unwrap_or_default());
                decode::<()>(RawResponse { status, body }).err().unwrap_or_else(|| ClientError::Protocol(format!("the agent answered {status}")))
            }
            other => ClientError::Protocol(format!("websocket: {other}")),
        })?;
        Ok(ws)
    }

    /// Subscribes to the event stream from `after` (0: the stored history).
    /// `on_event` returns false to stop.
    pub async fn events(&self, after: i64, mut on_event: impl FnMut(appos_proto::Event) -> bool) -> Result<(), ClientError> {
        use futures_util::StreamExt as _;
        use tokio_tungstenite::tungstenite::Message;
        let mut ws = self.websocket(&format!("/v1/events?after={after}")).await?;
        while let Some(msg) = ws.next().await {
            match msg.map_err(|e| ClientError::Protocol(format!("event stream: {e}")))? {
                Message::Text(t) => {
                    if let Ok(e) = serde_json::from_str::<appos_proto::Event>(&t) {
                        if !on_event(e) {
                            let _ = ws.close(None).await;
                            break;
                        }
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        Ok(())
    }

    pub async fn open_terminal(&self, req: &appos_proto::NewTerminal) -> Result<appos_proto::Terminal, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        decode(self.request_raw(Method::POST, "/v1/terminals", Some(body)).await?)
    }

    pub async fn terminals(&self) -> Result<Vec<appos_proto::Terminal>, ClientError> {
        self.get("/v1/terminals").await
    }

    pub async fn kill_terminal(&self, id: &str) -> Result<(), ClientError> {
        let r = self.request_raw(Method::DELETE, &format!("/v1/terminals/{}", encode_segment(id)), None).await?;
        if r.status.is_success() {
            return Ok(());
        }
        decode::<()>(r)
    }

    /// Attaches to a terminal session: what the viewer sends goes in through
    /// the returned sender; output, the end of the replay and the exit
    /// status come out of the receiver (which ends when the session does).
    pub async fn attach_terminal(&self, id: &str) -> Result<crate::terminal::TerminalIo, ClientError> {
        let ws = self.websocket(&format!("/v1/terminals/{}/attach", encode_segment(id))).await?;
        Ok(crate::terminal::TerminalIo::pump(ws))
    }

    /// Makes a compose project started outside AppOS an app (version 1).
    pub async fn adopt(&self, project: &str) -> Result<VersionSaved, ClientError> {
        let body = serde_json::to_vec(&appos_proto::AdoptRequest { project: project.to_string() }).map_err(|e| ClientError::Protocol(e.to_string()))?;
        decode(self.request_raw(Method::POST, "/v1/apps/adopt", Some(body)).await?)
    }

    /// Every check of a deploy on a compose file; nothing is written.
    pub async fn check_compose(&self, req: &appos_proto::ComposeCheckRequest) -> Result<appos_proto::ComposeCheck, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        decode(self.request_raw(Method::POST, "/v1/compose/check", Some(body)).await?)
    }

    /// Pulls the catalog's git source and reads every source again.
    pub async fn refresh_catalog(&self) -> Result<appos_proto::CatalogRefreshed, ClientError> {
        decode(self.request_raw(Method::POST, "/v1/catalog/refresh", Some(b"{}".to_vec())).await?)
    }

    pub async fn catalog(&self, search: Option<&str>) -> Result<Vec<appos_proto::CatalogEntry>, ClientError> {
        match search {
            Some(s) => self.get(&format!("/v1/catalog?search={}", encode_segment(s))).await,
            None => self.get("/v1/catalog").await,
        }
    }

    pub async fn versions(&self, app: &str) -> Result<Vec<AppVersion>, ClientError> {
        self.get(&format!("/v1/apps/{}/versions", encode_segment(app))).await
    }

    pub async fn version(&self, app: &str, version: u32) -> Result<AppVersionDetail, ClientError> {
        self.get(&format!("/v1/apps/{}/versions/{version}", encode_segment(app))).await
    }

    /// A unified diff between two versions.
    pub async fn diff(&self, app: &str, from: u32, to: u32) -> Result<String, ClientError> {
        let r = self.request_raw(Method::GET, &format!("/v1/apps/{}/diff?from={from}&to={to}", encode_segment(app)), None).await?;
        if r.status.is_success() {
            return Ok(String::from_utf8_lossy(&r.body).into_owned());
        }
        decode::<String>(r)
    }

    pub async fn save_version(&self, app: &str, req: &SaveVersionRequest) -> Result<VersionSaved, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        decode(self.request_raw(Method::POST, &format!("/v1/apps/{}/versions", encode_segment(app)), Some(body)).await?)
    }

    /// Rolls back to `version`; `pin_digests` runs exactly the images it ran with.
    pub async fn rollback(&self, app: &str, version: u32, pin_digests: bool) -> Result<VersionSaved, ClientError> {
        let body = serde_json::to_vec(&RollbackRequest { version, pin_digests }).map_err(|e| ClientError::Protocol(e.to_string()))?;
        decode(self.request_raw(Method::POST, &format!("/v1/apps/{}/rollback", encode_segment(app)), Some(body)).await?)
    }

    pub async fn redeploy(&self, app: &str) -> Result<VersionSaved, ClientError> {
        decode(self.request_raw(Method::POST, &format!("/v1/apps/{}/redeploy", encode_segment(app)), Some(b"{}".to_vec())).await?)
    }

    /// `start`, `stop`, `restart` or `update`, queued as a deployment.
    pub async fn app_action(&self, app: &str, action: &str) -> Result<Deployment, ClientError> {
        decode(self.request_raw(Method::POST, &format!("/v1/apps/{}/{}", encode_segment(app), encode_segment(action)), Some(b"{}".to_vec())).await?)
    }

    pub async fn delete_app(&self, app: &str, volumes: bool) -> Result<Deployment, ClientError> {
        decode(self.request_raw(Method::DELETE, &format!("/v1/apps/{}?volumes={volumes}", encode_segment(app)), None).await?)
    }

    pub async fn deployments(&self, app: Option<&str>) -> Result<Vec<Deployment>, ClientError> {
        match app {
            Some(a) => self.get(&format!("/v1/deployments?app={}", encode_segment(a))).await,
            None => self.get("/v1/deployments").await,
        }
    }

    pub async fn deployment(&self, id: &str) -> Result<Deployment, ClientError> {
        self.get(&format!("/v1/deployments/{}", encode_segment(id))).await
    }

    pub async fn cancel_deployment(&self, id: &str) -> Result<Deployment, ClientError> {
        decode(self.request_raw(Method::POST, &format!("/v1/deployments/{}/cancel", encode_segment(id)), None).await?)
    }

    /// Streams a deployment's log: stored lines first, then new ones, until
    /// the deployment ends. `on_line` sees each line as it arrives.
    pub async fn follow_deployment_log(&self, id: &str, on_line: impl FnMut(LogLine)) -> Result<(), ClientError> {
        self.stream_ndjson(&format!("/v1/deployments/{}/log", encode_segment(id)), on_line).await
    }

    /// Streams an app's container logs (`query` is the URL query, e.g. `tail=100&follow=true`).
    pub async fn app_logs(&self, app: &str, query: &str, on_line: impl FnMut(AppLogLine)) -> Result<(), ClientError> {
        self.stream_ndjson(&format!("/v1/apps/{}/logs?{query}", encode_segment(app)), on_line).await
    }

    /// GETs `path` and hands each JSON line of the answer to `on_item` as it arrives.
    async fn stream_ndjson<T: DeserializeOwned>(&self, path: &str, mut on_item: impl FnMut(T)) -> Result<(), ClientError> {
        let mut sender = self.sender().await?;
        let mut req = Request::builder().method(Method::GET).uri(path).header(header::HOST, "appos-agent");
        if let Some(b) = self.bearer() {
            req = req.header(header::AUTHORIZATION, b);
        }
        let req = req.body(Full::new(Bytes::new())).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::AgentMissing(format!("the agent closed the connection: {e}")))?;
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            let bytes = body.collect().await.map_err(|e| ClientError::Protocol(e.to_string()))?.to_bytes();
            return decode::<()>(RawResponse { status, body: bytes });
        }
        let mut pending: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Protocol(format!("reading the stream: {e}")))?;
            let Some(data) = frame.data_ref() else { continue };
            pending.extend_from_slice(data);
            while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                if let Ok(item) = serde_json::from_slice::<T>(&line[..line.len() - 1]) {
                    on_item(item);
                }
            }
        }
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(sender);
        Ok(())
    }

    pub async fn app(&self, name: &str) -> Result<App, ClientError> {
        // App names are validated by the agent; percent-encoding keeps a
        // hostile name from changing the path.
        self.get(&format!("/v1/apps/{}", encode_segment(name))).await
    }
}

fn decode<T: DeserializeOwned>(resp: RawResponse) -> Result<T, ClientError> {
    if resp.status.is_success() {
        return serde_json::from_slice(&resp.body)
            .map_err(|e| ClientError::Protocol(format!("unexpected answer from the agent: {e}")));
    }
    let problem = serde_json::from_slice::<Problem>(&resp.body).unwrap_or_else(|_| Problem {
        code: "http_error".into(),
        title: format!("The agent answered {}", resp.status),
        status: resp.status.as_u16(),
        detail: Some(String::from_utf8_lossy(&resp.body).chars().take(200).collect()),
        errors: Vec::new(),
    });
    Err(ClientError::Api(problem))
}

/// Percent-encodes a URL path segment or query value.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("wordpress"), "wordpress");
        assert_eq!(encode_segment("../x"), "..%2Fx");
        assert_eq!(encode_segment("a b;c"), "a%20b%3Bc");
    }

    #[test]
    fn problems_are_decoded() {
        let body = br#"{"code":"unauthorized","title":"Missing or invalid token","status":401}"#;
        let err = decode::<Health>(RawResponse { status: StatusCode::UNAUTHORIZED, body: Bytes::from_static(body) })
            .expect_err("error");
        assert_eq!(err.code(), "unauthorized");
        let err = decode::<Health>(RawResponse { status: StatusCode::BAD_GATEWAY, body: Bytes::from_static(b"<html>") })
            .expect_err("error");
        assert!(err.to_string().contains("502"), "{err}");
    }
}
