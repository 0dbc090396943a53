//! Problem answers (`application/problem+json`): the one error type of the
//! HTTP boundary, and how each domain error becomes one.

use appos_proto::{Problem, ProblemCode};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::AgentError;
use crate::services::terminals::TerminalError;

tokio::task_local! {
    /// The id of the request being answered, set by the request layer.
    pub static REQUEST_ID: String;
}

/// The current request's id, when there is a request.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

#[derive(Debug)]
pub struct ApiError(pub Problem);

impl ApiError {
    pub fn new(code: ProblemCode, detail: impl Into<String>) -> ApiError {
        ApiError(Problem::new(code, Some(detail.into())))
    }
}

/// A problem's detail, kept on the answer for the layers in front (the
/// audit of refusals).
#[derive(Clone)]
pub struct Refusal(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut problem = self.0;
        problem.request_id = request_id();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let detail = Refusal(problem.detail.clone().unwrap_or_default());
        let mut resp = (status, Json(problem)).into_response();
        resp.extensions_mut().insert(detail);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> ApiError {
        match e {
            AgentError::Invalid(errors) => ApiError(Problem::invalid(errors)),
            AgentError::Refused { code, detail } => ApiError(Problem::new(code, Some(detail))),
            AgentError::Internal(error) => {
                // The details stay in the log; the caller gets the id to find them.
                let id = request_id().unwrap_or_default();
                tracing::error!(request_id = %id, error = format!("{error:#}"), "request failed");
                ApiError(Problem::new(
                    ProblemCode::Internal,
                    Some(format!(
                        "the agent failed to answer; its log has the details under request id {id}"
                    )),
                ))
            }
        }
    }
}

impl From<TerminalError> for ApiError {
    fn from(e: TerminalError) -> ApiError {
        let code = match &e {
            TerminalError::Invalid(m) => {
                return ApiError(Problem::invalid(vec![appos_proto::FieldError::new(
                    "command",
                    m.clone(),
                )]))
            }
            TerminalError::NotFound(_) => ProblemCode::TerminalNotFound,
            TerminalError::TooMany(_) => ProblemCode::TooManyTerminals,
            TerminalError::NoContainer(_) => ProblemCode::NoContainer,
            TerminalError::Start(_) => ProblemCode::TerminalFailed,
            TerminalError::Forbidden(_) => ProblemCode::Forbidden,
        };
        ApiError::new(code, e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_keep_their_details_in_the_log() {
        let problem = REQUEST_ID
            .scope("0123456789abcdef".to_string(), async {
                ApiError::from(AgentError::Internal(anyhow::anyhow!(
                    "disk I/O error at /var/lib/appos/agent.db"
                )))
                .0
            })
            .await;
        assert_eq!((problem.status, problem.code), (500, ProblemCode::Internal));
        assert_eq!(problem.detail.as_deref(), Some("the agent failed to answer; its log has the details under request id 0123456789abcdef"));
    }

    #[test]
    fn domain_errors_become_problems() {
        for (e, status, code, detail, fields) in [
            (
                AgentError::invalid("name", "too long"),
                400,
                ProblemCode::InvalidInput,
                None,
                vec!["name"],
            ),
            (
                AgentError::refused(ProblemCode::AppExists, "blog exists"),
                409,
                ProblemCode::AppExists,
                Some("blog exists"),
                vec![],
            ),
            (
                AgentError::refused(ProblemCode::DockerUnavailable, "no socket"),
                503,
                ProblemCode::DockerUnavailable,
                Some("no socket"),
                vec![],
            ),
        ] {
            let p = ApiError::from(e).0;
            assert_eq!(
                (p.status, p.code, p.detail.as_deref()),
                (status, code, detail)
            );
            assert_eq!(
                p.errors
                    .iter()
                    .map(|f| f.field.as_str())
                    .collect::<Vec<_>>(),
                fields
            );
        }
        let p = ApiError::from(TerminalError::TooMany(2)).0;
        assert_eq!((p.status, p.code), (429, ProblemCode::TooManyTerminals));
        let p = ApiError::from(TerminalError::Invalid(
            "the command is too long or contains NUL".into(),
        ))
        .0;
        assert_eq!(
            p.errors,
            [appos_proto::FieldError::new(
                "command",
                "the command is too long or contains NUL"
            )]
        );
    }
}
