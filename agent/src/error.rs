//! The domain error that services return. `http` turns it into a problem
//! answer; nothing here knows HTTP beyond the problem code.

use appos_proto::{FieldError, ProblemCode};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The request breaks a rule: one error per field. Nothing was changed.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// A refusal the caller can act on (no such app, the app exists, ...).
    #[error("{code}: {detail}")]
    Refused { code: ProblemCode, detail: String },
    /// Something broke inside the agent. Logged; the caller gets a request id.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;

impl AgentError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> AgentError {
        AgentError::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn refused(code: ProblemCode, detail: impl Into<String>) -> AgentError {
        AgentError::Refused {
            code,
            detail: detail.into(),
        }
    }

    /// Docker did not answer.
    pub fn docker(error: bollard::errors::Error) -> AgentError {
        tracing::warn!(%error, "Docker request failed");
        AgentError::refused(ProblemCode::DockerUnavailable, error.to_string())
    }

    pub fn internal(error: impl std::fmt::Display) -> AgentError {
        AgentError::Internal(anyhow::anyhow!("{error}"))
    }

    /// The problem code this error answers with.
    pub fn code(&self) -> ProblemCode {
        match self {
            AgentError::Invalid(_) => ProblemCode::InvalidInput,
            AgentError::Refused { code, .. } => *code,
            AgentError::Internal(_) => ProblemCode::Internal,
        }
    }
}
