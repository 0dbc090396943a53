//! Extractors whose rejections are problem answers naming the field that is
//! wrong: `ApiJson` (bodies), `ApiQuery` (query strings), `ApiPath` (path
//! parameters). Names validate while they are read (`AppName`, ...), so a
//! hostile one never reaches a handler.

use appos_proto::{FieldError, Problem, ProblemCode};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::ApiError;

/// Largest JSON body read (compose files are limited to 1 MiB; a larger one
/// gets a field error rather than a cut connection).
pub const MAX_BODY: usize = 16 << 20;

/// serde_json appends where in the text it stopped; the field says it better.
fn without_position(message: String) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_string(),
        _ => message,
    }
}

/// A field error from a deserialisation error with its path.
fn field_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>, whole: &str) -> FieldError {
    let path = e.path().to_string();
    // `.` is the whole document, `?` a key that could not be read.
    let field = if matches!(path.as_str(), "." | "?" | "") {
        whole.to_string()
    } else {
        path
    };
    FieldError::new(field, without_position(e.into_inner().to_string()))
}

/// How much of a refused body is still read and thrown away, and for how
/// long, so the client gets to read the 413 (nginx's lingering close). A
/// server that closes with unread data makes the client's write fail, and
/// many clients then report the broken write instead of the answer.
const LINGER_BYTES: u64 = 64 << 20;
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(10);

fn too_large() -> ApiError {
    ApiError(Problem::new(
        ProblemCode::TooLarge,
        Some(format!(
            "request bodies are limited to {} MiB",
            MAX_BODY >> 20
        )),
    ))
}

/// Reads and discards the rest of a refused body in the background while the
/// answer is written; gives up (and hyper closes) past the bounds.
fn linger(mut body: axum::body::Body) {
    use http_body_util::BodyExt;
    tokio::spawn(async move {
        let mut read = 0u64;
        let _ = tokio::time::timeout(LINGER_TIME, async {
            while read < LINGER_BYTES {
                match body.frame().await {
                    Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
                    _ => break,
                }
            }
        })
        .await;
        tracing::debug!(read, "discarded the rest of a refused body");
    });
}

/// The whole body, at most `MAX_BODY` bytes.
async fn read_body(req: Request) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut body = req.into_body();
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        linger(body);
        return Err(too_large());
    }
    let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError(Problem::invalid(vec![FieldError::new(
                "body",
                format!("the body could not be read: {e}"),
            )]))
        })?;
        if let Some(data) = frame.data_ref() {
            if buf.len() + data.len() > MAX_BODY {
                linger(body);
                return Err(too_large());
            }
            buf.extend_from_slice(data);
        }
    }
    Ok(buf.freeze())
}

/// A JSON body.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req).await?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| ApiError(Problem::invalid(vec![field_error(e, "body")])))?;
        de.end().map_err(|e| {
            ApiError(Problem::invalid(vec![FieldError::new(
                "body",
                without_position(e.to_string()),
            )]))
        })?;
        Ok(ApiJson(value))
    }
}

/// A query string.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| ApiError(Problem::invalid(vec![field_error(e, "query")])))
    }
}

/// Path parameters, read into a struct whose field names are the route's
/// parameter names.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::ErrorKind;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let error = match e.into_kind() {
                    ErrorKind::DeserializeError { key, message, .. } => {
                        FieldError::new(key, message)
                    }
                    ErrorKind::ParseErrorAtKey {
                        key, expected_type, ..
                    } => FieldError::new(key, format!("expected {expected_type}")),
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        FieldError::new(key, "not valid UTF-8")
                    }
                    other => FieldError::new("path", other.to_string()),
                };
                Err(ApiError(Problem::invalid(vec![error])))
            }
            Err(other) => Err(ApiError(Problem::new(
                ProblemCode::Internal,
                Some(other.body_text()),
            ))),
        }
    }
}

/// A WebSocket upgrade, or a problem answer saying why the request is none.
pub fn websocket(
    ws: Result<
        axum::extract::ws::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Result<axum::extract::ws::WebSocketUpgrade, ApiError> {
    ws.map_err(|e| {
        ApiError(Problem::invalid(vec![FieldError::new(
            "upgrade",
            format!("this route is a WebSocket: {}", e.body_text()),
        )]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_dropped() {
        assert_eq!(
            without_position("invalid type: string \"x\", expected u32 at line 1 column 9".into()),
            "invalid type: string \"x\", expected u32"
        );
        assert_eq!(
            without_position("app names match ^x$".into()),
            "app names match ^x$"
        );
    }
}
