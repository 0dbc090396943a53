//! The client's error type. Its variants are the cases that callers branch
//! on (ask the user to accept a key, show an auth error, ...).

use appos_proto::{ErrorClass, Problem};

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("the host key of {host} is not known yet: {algorithm} {fingerprint}; check it and accept it to continue")]
    HostKeyUnknown {
        host: String,
        algorithm: String,
        fingerprint: String,
    },

    #[error(
        "HOST KEY CHANGED for {host}: the server presented {presented}, but {recorded_in} records {expected}. \
         Someone may be intercepting the connection. If the server was reinstalled, remove the old entry from {recorded_in} and connect again"
    )]
    HostKeyChanged {
        host: String,
        presented: String,
        expected: String,
        recorded_in: String,
    },

    #[error(
        "the host key of {host} ({presented}) is REVOKED in {recorded_in}: refusing to connect"
    )]
    HostKeyRevoked {
        host: String,
        presented: String,
        recorded_in: String,
    },

    #[error("{user}@{host} refused authentication (tried {tried})")]
    AuthRejected {
        user: String,
        host: String,
        tried: String,
    },

    #[error("the SSH key {path} is encrypted: {}", if *.wrong_passphrase { "the passphrase given does not open it" } else { "its passphrase is needed" })]
    KeyEncrypted {
        path: String,
        wrong_passphrase: bool,
    },

    #[error("cannot reach {addr}: {reason}")]
    Unreachable { addr: String, reason: String },

    #[error("the AppOS agent is not reachable: {0}")]
    AgentMissing(String),

    /// The connection broke under a request or stream (the network, a
    /// sleeping laptop, sshd or the agent restarting): not the agent's
    /// absence.
    #[error("the connection to {to} was lost: {why}")]
    ConnectionLost { to: String, why: String },

    #[error("{0}")]
    Api(Problem),

    #[error("ssh: {0}")]
    Ssh(String),

    #[error("{0}")]
    Config(String),

    /// A step on the server failed (an install's `docker run`, say): what
    /// ran and what the server said.
    #[error("{0}")]
    Server(String),

    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<russh::Error> for ClientError {
    fn from(e: russh::Error) -> Self {
        ClientError::Ssh(e.to_string())
    }
}

impl ClientError {
    /// The one classification of a failure, shared by the CLI's exit codes
    /// and the desktop's `UiError`.
    pub fn class(&self) -> ErrorClass {
        match self {
            ClientError::HostKeyUnknown { .. } => ErrorClass::HostKeyUnknown,
            ClientError::HostKeyChanged { .. } | ClientError::HostKeyRevoked { .. } => {
                ErrorClass::HostKeyChanged
            }
            ClientError::AuthRejected { .. } => ErrorClass::AuthRejected,
            ClientError::KeyEncrypted { .. } => ErrorClass::KeyEncrypted,
            ClientError::Unreachable { .. } | ClientError::ConnectionLost { .. } => {
                ErrorClass::Unreachable
            }
            ClientError::AgentMissing(_) => ErrorClass::AgentMissing,
            ClientError::Api(p) => ErrorClass::of_problem(p),
            ClientError::Config(_) => ErrorClass::InvalidInput,
            ClientError::Ssh(_) | ClientError::Protocol(_) | ClientError::Server(_) => {
                ErrorClass::Other
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appos_proto::ProblemCode;

    #[test]
    fn classes() {
        let api = |code: ProblemCode| ClientError::Api(Problem::new(code, None));
        for (e, class) in [
            (
                ClientError::HostKeyUnknown {
                    host: "h".into(),
                    algorithm: "a".into(),
                    fingerprint: "f".into(),
                },
                ErrorClass::HostKeyUnknown,
            ),
            (
                ClientError::HostKeyChanged {
                    host: "h".into(),
                    presented: "p".into(),
                    expected: "e".into(),
                    recorded_in: "r".into(),
                },
                ErrorClass::HostKeyChanged,
            ),
            (
                ClientError::AuthRejected {
                    user: "u".into(),
                    host: "h".into(),
                    tried: "t".into(),
                },
                ErrorClass::AuthRejected,
            ),
            (
                ClientError::KeyEncrypted {
                    path: "k".into(),
                    wrong_passphrase: false,
                },
                ErrorClass::KeyEncrypted,
            ),
            (
                ClientError::Unreachable {
                    addr: "a".into(),
                    reason: "r".into(),
                },
                ErrorClass::Unreachable,
            ),
            (
                ClientError::AgentMissing("x".into()),
                ErrorClass::AgentMissing,
            ),
            (api(ProblemCode::Unauthorized), ErrorClass::Unauthorized),
            (api(ProblemCode::Forbidden), ErrorClass::Forbidden),
            (api(ProblemCode::InvalidInput), ErrorClass::InvalidInput),
            (
                api(ProblemCode::DockerUnavailable),
                ErrorClass::DockerUnavailable,
            ),
            (api(ProblemCode::VersionNotFound), ErrorClass::NotFound),
            (ClientError::Config("x".into()), ErrorClass::InvalidInput),
            (ClientError::Ssh("x".into()), ErrorClass::Other),
            (ClientError::Protocol("x".into()), ErrorClass::Other),
        ] {
            assert_eq!(e.class(), class, "{e}");
        }
    }
}
