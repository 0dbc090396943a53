//! The typed AppOS API client: HTTP/1.1 over whatever stream the transport
//! opens, with idle connections kept for reuse.

use std::sync::Mutex;

use appos_proto::calls::{Answer, Call, StreamCall};
use appos_proto::{AgentCall, Problem};
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use crate::reconnect::Link;
use crate::transport::Transport;
use crate::ClientError;

pub struct Client {
    /// Swapped for a new one when a lost connection is made again.
    transport: std::sync::RwLock<Transport>,
    token: Option<String>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    redial: Option<Redial>,
    /// One redial at a time; the others wait for it.
    redialing: tokio::sync::Mutex<()>,
    /// Counts transports: a failure seen on an older one needs no new dial.
    generation: std::sync::atomic::AtomicU64,
    link: tokio::sync::watch::Sender<Link>,
}

/// How a lost connection is made again: `dial` makes a new transport (a new
/// SSH connection, its host key checked again); given up after `give_up_after`.
#[derive(Clone)]
pub struct Redial {
    pub dial: std::sync::Arc<
        dyn Fn() -> futures_util::future::BoxFuture<'static, Result<Transport, ClientError>>
            + Send
            + Sync,
    >,
    pub give_up_after: std::time::Duration,
}

/// A raw answer, for callers that do not want a typed one (benchmarks, probes).
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Client {
    pub fn new(transport: Transport, token: Option<String>) -> Client {
        Client {
            transport: std::sync::RwLock::new(transport),
            token,
            idle: Mutex::new(Vec::new()),
            redial: None,
            redialing: tokio::sync::Mutex::new(()),
            generation: std::sync::atomic::AtomicU64::new(0),
            link: tokio::sync::watch::channel(Link::Connected).0,
        }
    }

    /// A client that makes its connection again when it is lost, and sends
    /// again what is safe to send again (reads, and calls with their
    /// `Idempotency-Key`).
    pub fn with_redial(transport: Transport, token: Option<String>, redial: Redial) -> Client {
        Client {
            redial: Some(redial),
            ..Client::new(transport, token)
        }
    }

    /// The `Authorization` header value, when there is a token.
    fn bearer(&self) -> Option<String> {
        self.token
            .as_ref()
            .map(|t| format!("{}{t}", appos_proto::BEARER))
    }

    /// The transport in use now.
    pub fn transport(&self) -> Transport {
        self.transport
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where the connection stands, as it changes.
    pub fn link(&self) -> tokio::sync::watch::Receiver<Link> {
        self.link.subscribe()
    }

    /// Whether failures of this kind are waited out: a connection that is
    /// made again when lost.
    pub fn redials(&self) -> bool {
        self.redial.is_some()
    }

    /// After `cause` (a lost connection): makes the connection again, with
    /// backoff, until it is back or `give_up_after` has passed (then one
    /// error that says what failed), or a failure that trying again cannot
    /// mend (a changed host key, a refused key) stops it. A failure seen on
    /// a transport already replaced needs nothing.
    pub async fn redial(
        &self,
        cause: &ClientError,
        seen_generation: u64,
    ) -> Result<(), ClientError> {
        let Some(redial) = &self.redial else {
            return Err(cause.clone());
        };
        if crate::reconnect::verdict(cause) == crate::reconnect::Verdict::Final {
            return Err(cause.clone());
        }
        let _one = self.redialing.lock().await;
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) != seen_generation {
            return Ok(());
        }
        let to = self.transport().describe();
        tracing::info!(%to, cause = %cause, "connection lost: making it again");
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        let mut last = cause.clone();
        loop {
            attempt += 1;
            let wait = crate::reconnect::backoff(attempt, rand::random::<f64>());
            if started.elapsed() + wait > redial.give_up_after {
                let why = format!(
                    "{last} (not back within {} s)",
                    redial.give_up_after.as_secs()
                );
                self.link.send_replace(Link::Failed { why: why.clone() });
                return Err(match last {
                    ClientError::AgentMissing(m) => ClientError::AgentMissing(format!(
                        "{m} (not back within {} s)",
                        redial.give_up_after.as_secs()
                    )),
                    _ => ClientError::ConnectionLost { to, why },
                });
            }
            let why = match &last {
                ClientError::ConnectionLost { why, .. } => why.clone(),
                other => other.to_string(),
            };
            self.link.send_replace(Link::Reconnecting {
                attempt,
                next_in: wait,
                why,
            });
            tokio::time::sleep(wait).await;
            // Back when the agent answers through it, not merely the server.
            let dialed = match (redial.dial)().await {
                Ok(t) => t.open().await.map(|_| t),
                Err(e) => Err(e),
            };
            match dialed {
                Ok(t) => {
                    *self.transport.write().unwrap_or_else(|e| e.into_inner()) = t;
                    self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
                    self.generation
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    self.link.send_replace(Link::Connected);
                    tracing::info!(%to, attempt, "connection made again");
                    return Ok(());
                }
                Err(e) if crate::reconnect::verdict(&e) == crate::reconnect::Verdict::Final => {
                    self.link.send_replace(Link::Failed { why: e.to_string() });
                    return Err(e);
                }
                Err(e) => last = e,
            }
        }
    }

    /// The transport's generation now (see [`Client::redial`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
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
        let io = self.transport().open().await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| {
                ClientError::Protocol(format!("HTTP handshake with the agent failed: {e}"))
            })?;
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%error, "agent connection closed");
            }
        });
        Ok(sender)
    }

    /// Sends one request and returns the status and body.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse, ClientError> {
        self.request_with(method, path, body, &[]).await
    }

    /// [`Client::request_raw`] with more headers. Sent again after a lost
    /// connection is made again, when that is safe: a read, or a request
    /// with its `Idempotency-Key`.
    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<RawResponse, ClientError> {
        let keyed = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(appos_proto::IDEMPOTENCY_KEY));
        let again = method == Method::GET || keyed;
        let mut in_progress = 0;
        loop {
            let generation = self.generation();
            match self
                .request_once(method.clone(), path, body.clone(), headers)
                .await
            {
                Err(e)
                    if again
                        && self.redials()
                        && crate::reconnect::verdict(&e) == crate::reconnect::Verdict::Lost =>
                {
                    self.redial(&e, generation).await?
                }
                // Its first copy (cut off from us) is still running: its
                // outcome is the answer, in a moment.
                Ok(r)
                    if keyed
                        && in_progress + 1 < crate::reconnect::IN_PROGRESS_TRIES
                        && crate::reconnect::still_answering(r.status.as_u16(), &r.body) =>
                {
                    in_progress += 1;
                    tokio::time::sleep(crate::reconnect::backoff(
                        in_progress,
                        rand::random::<f64>(),
                    ))
                    .await;
                }
                other => return other,
            }
        }
    }

    async fn request_once(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<RawResponse, ClientError> {
        let mut sender = self.sender().await?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "appos-agent");
        if let Some(b) = self.bearer() {
            req = req.header(header::AUTHORIZATION, b);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(b))),
            None => req.body(Full::new(Bytes::new())),
        }
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let resp = sender.send_request(req).await.map_err(|e| self.lost(e))?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.lost(e))?
            .to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sender);
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// Sends one call and decodes its answer (or the agent's problem).
    pub async fn call<C: Call>(&self, call: &C) -> Result<C::Response, ClientError> {
        let method = match C::METHOD {
            appos_proto::calls::Method::Get => Method::GET,
            appos_proto::calls::Method::Post => Method::POST,
            appos_proto::calls::Method::Put => Method::PUT,
            appos_proto::calls::Method::Delete => Method::DELETE,
        };
        // A POST always carries a JSON body, `{}` when the call has none.
        let body = match (call.body(), C::METHOD) {
            (Some(v), _) => {
                Some(serde_json::to_vec(&v).map_err(|e| ClientError::Protocol(e.to_string()))?)
            }
            (None, appos_proto::calls::Method::Post) => Some(b"{}".to_vec()),
            (None, _) => None,
        };
        let path = call.path();
        // A call that changes something carries a key of its own, the same
        // each time it is sent: the agent does it once.
        let key = (C::METHOD != appos_proto::calls::Method::Get).then(idempotency_key);
        let headers: Vec<(&str, &str)> = key
            .iter()
            .map(|k| (appos_proto::IDEMPOTENCY_KEY, k.as_str()))
            .collect();
        let mut resp = self
            .request_with(method.clone(), &path, body.clone(), &headers)
            .await?;
        // Over a rate, the agent refused before doing anything: wait as it
        // says and send again, when the wait is short.
        for _ in 0..RATE_RETRIES {
            match short_wait(&resp) {
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    resp = self
                        .request_with(method.clone(), &path, body.clone(), &headers)
                        .await?;
                }
                None => break,
            }
        }
        if !resp.status.is_success() {
            return Err(problem(resp));
        }
        let value = match C::ANSWER {
            Answer::Json => return decode(resp),
            Answer::Text => {
                serde_json::Value::String(String::from_utf8_lossy(&resp.body).into_owned())
            }
            Answer::Empty => serde_json::Value::Null,
        };
        serde_json::from_value(value)
            .map_err(|e| ClientError::Protocol(format!("unexpected answer from the agent: {e}")))
    }

    /// Any call, answered as JSON: what the desktop's one IPC command runs.
    pub async fn call_any(&self, call: AgentCall) -> Result<serde_json::Value, ClientError> {
        macro_rules! dispatch {
            ($($variant:ident($ty:ty)),* $(,)?) => {
                match call {
                    $(AgentCall::$variant(c) => serde_json::to_value(self.call(&c).await?),)*
                }
            };
        }
        appos_proto::agent_calls!(dispatch).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Streams a call's JSON lines, handing each to `on_item` as it arrives,
    /// until the agent ends the answer.
    pub fn stream<'a, C: StreamCall>(
        &'a self,
        call: &C,
        on_item: impl FnMut(C::Item) + 'a,
    ) -> impl std::future::Future<Output = Result<(), ClientError>> + 'a
    where
        C::Item: 'a,
    {
        let path = call.path();
        async move { self.stream_ndjson(&path, on_item).await }
    }

    /// A connection that broke under a request or a stream.
    fn lost(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::ConnectionLost {
            to: self.transport().describe(),
            why: e.to_string(),
        }
    }

    /// Opens a WebSocket to `path` on the agent, with the token.
    async fn websocket(
        &self,
        path: &str,
    ) -> Result<tokio_tungstenite::WebSocketStream<crate::transport::BoxIo>, ClientError> {
        use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest as _};
        let io = self.transport().open().await?;
        let mut req = format!("ws://appos-agent{path}")
            .into_client_request()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if let Some(b) = self.bearer() {
            let v = http::HeaderValue::from_str(&b)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            req.headers_mut().insert(header::AUTHORIZATION, v);
        }
        let config =
            tungstenite::protocol::WebSocketConfig::default().max_message_size(Some(4 << 20));
        let (ws, _) = tokio_tungstenite::client_async_with_config(req, io, Some(config))
            .await
            .map_err(|e| match e {
                tungstenite::Error::Http(resp) => {
                    let status = resp.status();
                    let body = Bytes::from(resp.into_body().unwrap_or_default());
                    decode::<()>(RawResponse {
                        status,
                        headers: Default::default(),
                        body,
                    })
                    .err()
                    .unwrap_or_else(|| {
                        ClientError::Protocol(format!("the agent answered {status}"))
                    })
                }
                other => ClientError::Protocol(format!("websocket: {other}")),
            })?;
        Ok(ws)
    }

    /// Subscribes to the event stream from `after` (0: the stored history).
    /// `on_event` returns false to stop.
    pub async fn events(
        &self,
        after: i64,
        mut on_event: impl FnMut(appos_proto::Event) -> bool,
    ) -> Result<(), ClientError> {
        use futures_util::StreamExt as _;
        use tokio_tungstenite::tungstenite::Message;
        let mut ws = self.websocket(&format!("/v1/events?after={after}")).await?;
        while let Some(msg) = ws.next().await {
            match msg.map_err(|e| self.lost(format!("event stream: {e}")))? {
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

    /// The event stream from `after`, through lost connections: each time
    /// the connection is made again it resumes after the last event seen,
    /// so that every event is handed over once. Also when the agent ends the
    /// stream itself (it is restarting). `on_event` returns false to stop.
    pub async fn follow_events(
        &self,
        after: i64,
        mut on_event: impl FnMut(appos_proto::Event) -> bool,
    ) -> Result<(), ClientError> {
        let mut last = after;
        loop {
            let generation = self.generation();
            let mut stopped = false;
            let r = self
                .events(last, |e| {
                    if e.id <= last {
                        return true;
                    }
                    last = e.id;
                    stopped = !on_event(e);
                    !stopped
                })
                .await;
            if stopped || !self.redials() {
                return r;
            }
            let lost = r.err().unwrap_or_else(|| ClientError::ConnectionLost {
                to: self.transport().describe(),
                why: "the agent ended the event stream".into(),
            });
            self.redial(&lost, generation).await?;
        }
    }

    /// A deployment's log followed through lost connections: each time the
    /// connection is made again, the log is read again and the lines
    /// already handed to `on_line` (by `seq`) are dropped.
    pub async fn follow_deployment_log(
        &self,
        id: &str,
        mut on_line: impl FnMut(appos_proto::LogLine) + Send,
    ) -> Result<(), ClientError> {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        // The seq of the next line to hand on; the future stays Send.
        let next = AtomicU64::new(0);
        let on_line = std::sync::Mutex::new(&mut on_line);
        self.resuming(|| {
            self.stream(
                &appos_proto::calls::FollowDeploymentLog { id: id.to_string() },
                |line| {
                    if line.seq < next.load(Relaxed) {
                        return;
                    }
                    next.store(line.seq + 1, Relaxed);
                    (on_line.lock().unwrap_or_else(|e| e.into_inner()))(line);
                },
            )
        })
        .await
    }

    /// An app's logs followed through lost connections: each time the
    /// connection is made again, the follow resumes from the last line's
    /// second and drops the lines already shown, so none is repeated.
    pub async fn follow_logs(
        &self,
        app: &appos_proto::AppName,
        query: appos_proto::LogsQuery,
        on_line: impl FnMut(appos_proto::AppLogLine) + Send,
    ) -> Result<(), ClientError> {
        // Mutexes, not cells: the future is Send, for callers that spawn it.
        use std::sync::Mutex;
        fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
            m.lock().unwrap_or_else(|e| e.into_inner())
        }
        let (cursor, replay, on_line, first) = (
            Mutex::new(crate::reconnect::LogCursor::default()),
            Mutex::new(crate::reconnect::LogReplay::default()),
            Mutex::new(on_line),
            std::sync::atomic::AtomicBool::new(true),
        );
        let (cursor, replay, on_line, first) = (&cursor, &replay, &on_line, &first);
        self.resuming(|| {
            let q = if first.swap(false, std::sync::atomic::Ordering::Relaxed) {
                query.clone()
            } else {
                let mut c = lock(cursor);
                *lock(replay) = c.resumed();
                let since = c
                    .since_secs()
                    .map(|s| s.to_string())
                    .or_else(|| query.since.clone());
                appos_proto::LogsQuery {
                    tail: Some("all".into()),
                    since,
                    ..query.clone()
                }
            };
            let call = appos_proto::calls::GetAppLogs {
                app: app.clone(),
                query: q,
            };
            async move {
                self.stream(&call, |l| {
                    if lock(replay).shown_before(&l.container, l.at_us) {
                        return;
                    }
                    lock(cursor).fresh(&l.container, l.at_us);
                    (lock(on_line))(l);
                })
                .await
            }
        })
        .await
    }

    /// Runs `attempt` again each time the connection it used was lost and
    /// made again: for streams that resume where they were (the attempt
    /// keeps its own place).
    pub async fn resuming<F, Fut>(&self, mut attempt: F) -> Result<(), ClientError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), ClientError>>,
    {
        loop {
            let generation = self.generation();
            match attempt().await {
                Err(e)
                    if self.redials()
                        && crate::reconnect::verdict(&e) == crate::reconnect::Verdict::Lost =>
                {
                    self.redial(&e, generation).await?
                }
                other => return other,
            }
        }
    }

    /// Attaches to a terminal session: what the viewer sends goes in through
    /// the returned sender; output, the end of the replay and the exit
    /// status come out of the receiver (which ends when the session does).
    pub async fn attach_terminal(
        &self,
        id: &str,
    ) -> Result<crate::terminal::TerminalIo, ClientError> {
        let ws = self
            .websocket(&format!("/v1/terminals/{}/attach", encode_segment(id)))
            .await?;
        Ok(crate::terminal::TerminalIo::pump(ws))
    }

    /// GETs `path` and hands each JSON line of the answer to `on_item` as it arrives.
    async fn stream_ndjson<T: DeserializeOwned>(
        &self,
        path: &str,
        mut on_item: impl FnMut(T),
    ) -> Result<(), ClientError> {
        let mut pending: Vec<u8> = Vec::new();
        self.download(path, |data| {
            pending.extend_from_slice(data);
            while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                if let Ok(item) = serde_json::from_slice::<T>(&line[..line.len() - 1]) {
                    on_item(item);
                }
            }
            Ok(())
        })
        .await
        .map(drop)
    }

    /// GETs `path` and hands each piece of a successful answer's body to
    /// `on_data` as it arrives (a download, a followed log); returns the
    /// bytes read. A failed answer is the agent's problem.
    pub async fn download(
        &self,
        path: &str,
        mut on_data: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, ClientError> {
        let mut sender = self.sender().await?;
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::HOST, "appos-agent");
        if let Some(b) = self.bearer() {
            req = req.header(header::AUTHORIZATION, b);
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let resp = sender.send_request(req).await.map_err(|e| self.lost(e))?;
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .map_err(|e| ClientError::Protocol(e.to_string()))?
                .to_bytes();
            return decode::<()>(RawResponse {
                status,
                headers: Default::default(),
                body: bytes,
            })
            .map(|()| 0);
        }
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.lost(e))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            n += data.len() as u64;
            on_data(data)
                .map_err(|e| ClientError::Protocol(format!("writing what the agent sent: {e}")))?;
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sender);
        Ok(n)
    }
}

/// A new `Idempotency-Key`: 128 random bits, hex.
pub fn idempotency_key() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// How many times a call is sent again after a 429 with a short `Retry-After`.
const RATE_RETRIES: usize = 3;

/// The wait a 429 asks for, when it is short enough (2 s at most) to wait
/// for rather than to report.
fn short_wait(resp: &RawResponse) -> Option<std::time::Duration> {
    if resp.status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let secs: u64 = resp
        .headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs <= 2).then(|| std::time::Duration::from_secs(secs))
}

fn decode<T: DeserializeOwned>(resp: RawResponse) -> Result<T, ClientError> {
    if resp.status.is_success() {
        return serde_json::from_slice(&resp.body)
            .map_err(|e| ClientError::Protocol(format!("unexpected answer from the agent: {e}")));
    }
    Err(problem(resp))
}

/// The agent's problem answer, or one made up from what else came back.
fn problem(resp: RawResponse) -> ClientError {
    let problem = serde_json::from_slice::<Problem>(&resp.body).unwrap_or_else(|_| Problem {
        title: format!("The agent answered {}", resp.status),
        status: resp.status.as_u16(),
        ..Problem::new(
            appos_proto::ProblemCode::Unknown,
            Some(
                String::from_utf8_lossy(&resp.body)
                    .chars()
                    .take(200)
                    .collect(),
            ),
        )
    });
    ClientError::Api(problem)
}

pub use appos_proto::calls::encode as encode_segment;

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn only_a_short_retry_after_on_a_429_is_waited_for() {
        let resp = |status: u16, after: Option<&str>| {
            let mut headers = http::HeaderMap::new();
            if let Some(a) = after {
                headers.insert(header::RETRY_AFTER, a.parse().expect("header"));
            }
            RawResponse {
                status: StatusCode::from_u16(status).expect("status"),
                headers,
                body: Bytes::new(),
            }
        };
        for (status, after, wait) in [
            (429, Some("1"), Some(1)),
            (429, Some("2"), Some(2)),
            (429, Some("3"), None),
            (429, None, None),
            (429, Some("soon"), None),
            (503, Some("1"), None),
            (200, None, None),
        ] {
            assert_eq!(
                short_wait(&resp(status, after)),
                wait.map(std::time::Duration::from_secs),
                "{status} {after:?}"
            );
        }
    }
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
        let err = decode::<appos_proto::Health>(RawResponse {
            status: StatusCode::UNAUTHORIZED,
            headers: Default::default(),
            body: Bytes::from_static(body),
        })
        .expect_err("error");
        assert_eq!(err.class(), appos_proto::ErrorClass::Unauthorized);
        let err = decode::<appos_proto::Health>(RawResponse {
            status: StatusCode::BAD_GATEWAY,
            headers: Default::default(),
            body: Bytes::from_static(b"<html>"),
        })
        .expect_err("error");
        assert!(err.to_string().contains("502"), "{err}");
        assert_eq!(err.class(), appos_proto::ErrorClass::Other);
    }
}
