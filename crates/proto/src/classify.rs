//! The one classification of a failed call, shared by the CLI (its exit
//! code) and the desktop (what its screens branch on).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Problem, ProblemCode};

/// What kind of failure a call ended in, as far as a front end cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    HostKeyUnknown,
    HostKeyChanged,
    /// SSH refused the login.
    AuthRejected,
    /// The key is encrypted: ask for its passphrase and try again.
    KeyEncrypted,
    Unreachable,
    AgentMissing,
    /// The agent refused the token (missing, unknown or revoked).
    Unauthorized,
    /// The token is valid but its scope does not allow the call.
    Forbidden,
    DockerUnavailable,
    InvalidInput,
    /// The app, version, deployment, template or terminal does not exist.
    NotFound,
    /// The call cannot be done in the current state (an app exists, nothing to pin, ...).
    Conflict,
    Other,
}

impl ErrorClass {
    /// How an agent's problem answer is classified.
    pub fn of_problem(p: &Problem) -> ErrorClass {
        use ProblemCode::*;
        match p.code {
            InvalidInput | TooLarge | IdempotencyKeyReused => ErrorClass::InvalidInput,
            Unauthorized => ErrorClass::Unauthorized,
            Forbidden => ErrorClass::Forbidden,
            DockerUnavailable => ErrorClass::DockerUnavailable,
            NotFound | AppNotFound | VersionNotFound | DeploymentNotFound | TemplateNotFound
            | TerminalNotFound | ProjectNotFound | DomainNotFound | ChannelNotFound
            | RunNotFound | SnapshotNotFound => ErrorClass::NotFound,
            AppNotManaged
            | AppExists
            | ProjectExists
            | NoDigests
            | CannotAdopt
            | NoContainer
            | TooManyTerminals
            | TooManyStreams
            | RateLimited
            | DomainTaken
            | NoProxy
            | ChannelExists
            | NoRepository
            | RepositoryExists
            | IdempotencyInProgress => ErrorClass::Conflict,
            MethodNotAllowed | TerminalFailed | Internal | ProxyRefused | ProxyUnavailable
            | ChannelFailed | BackupFailed => ErrorClass::Other,
            // Not a problem this build knows: go by the status.
            Unknown => match p.status {
                400 | 413 | 422 => ErrorClass::InvalidInput,
                401 => ErrorClass::Unauthorized,
                403 => ErrorClass::Forbidden,
                404 => ErrorClass::NotFound,
                409 | 429 => ErrorClass::Conflict,
                503 => ErrorClass::DockerUnavailable,
                _ => ErrorClass::Other,
            },
        }
    }

    /// The CLI's exit code: 3 host key refused, 4 authentication or token
    /// refused, 5 server unreachable, 6 agent not reachable, 1 otherwise.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorClass::HostKeyUnknown | ErrorClass::HostKeyChanged => 3,
            ErrorClass::AuthRejected
            | ErrorClass::KeyEncrypted
            | ErrorClass::Unauthorized
            | ErrorClass::Forbidden => 4,
            ErrorClass::Unreachable => 5,
            ErrorClass::AgentMissing => 6,
            ErrorClass::DockerUnavailable
            | ErrorClass::InvalidInput
            | ErrorClass::NotFound
            | ErrorClass::Conflict
            | ErrorClass::Other => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_by_code_then_status() {
        let p = |code: ProblemCode, status: u16| Problem {
            status,
            ..Problem::new(code, None)
        };
        for (problem, class, exit) in [
            (
                p(ProblemCode::InvalidInput, 400),
                ErrorClass::InvalidInput,
                1,
            ),
            (p(ProblemCode::TooLarge, 413), ErrorClass::InvalidInput, 1),
            (
                p(ProblemCode::Unauthorized, 401),
                ErrorClass::Unauthorized,
                4,
            ),
            (p(ProblemCode::Forbidden, 403), ErrorClass::Forbidden, 4),
            (p(ProblemCode::AppNotFound, 404), ErrorClass::NotFound, 1),
            (p(ProblemCode::AppNotManaged, 409), ErrorClass::Conflict, 1),
            (
                p(ProblemCode::TooManyTerminals, 429),
                ErrorClass::Conflict,
                1,
            ),
            (
                p(ProblemCode::DockerUnavailable, 503),
                ErrorClass::DockerUnavailable,
                1,
            ),
            (p(ProblemCode::Internal, 500), ErrorClass::Other, 1),
            (p(ProblemCode::Unknown, 403), ErrorClass::Forbidden, 4),
            (p(ProblemCode::Unknown, 401), ErrorClass::Unauthorized, 4),
            (p(ProblemCode::Unknown, 404), ErrorClass::NotFound, 1),
            (p(ProblemCode::Unknown, 502), ErrorClass::Other, 1),
        ] {
            let got = ErrorClass::of_problem(&problem);
            assert_eq!(got, class, "{:?} {}", problem.code, problem.status);
            assert_eq!(got.exit_code(), exit, "{:?}", got);
        }
    }
}
