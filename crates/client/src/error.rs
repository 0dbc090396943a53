//! The client's error type. Its variants are the cases that callers branch
//! on (ask the user to accept a key, show an auth error, ...).

use appos_proto::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the host key of {host} is not known yet: {algorithm} {fingerprint}; check it and accept it to continue")]
    HostKeyUnknown { host: String, algorithm: String, fingerprint: String },

    #[error(
        "HOST KEY CHANGED for {host}: the server presented {presented}, but {recorded_in} records {expected}. \
         Someone may be intercepting the connection. If the server was reinstalled, remove the old entry from {recorded_in} and connect again"
    )]
    HostKeyChanged { host: String, presented: String, expected: String, recorded_in: String },

    #[error("{user}@{host} refused authentication (tried {tried})")]
    AuthRejected { user: String, host: String, tried: String },

    #[error("the SSH key {path} is encrypted: {}", if *.wrong_passphrase { "the passphrase given does not open it" } else { "its passphrase is needed" })]
    KeyEncrypted { path: String, wrong_passphrase: bool },

    #[error("cannot reach {addr}: {reason}")]
    Unreachable { addr: String, reason: String },

    #[error("the AppOS agent is not reachable: {0}")]
    AgentMissing(String),

    #[error("{0}")]
    Api(Problem),

    #[error("ssh: {0}")]
    Ssh(String),

    #[error("{0}")]
    Config(String),

    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<russh::Error> for ClientError {
    fn from(e: russh::Error) -> Self {
        ClientError::Ssh(e.to_string())
    }
}

impl ClientError {
    /// A stable short code for front ends that branch on the kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::HostKeyUnknown { .. } => "host_key_unknown",
            ClientError::HostKeyChanged { .. } => "host_key_changed",
            ClientError::AuthRejected { .. } => "auth_rejected",
            ClientError::KeyEncrypted { .. } => "key_encrypted",
            ClientError::Unreachable { .. } => "unreachable",
            ClientError::AgentMissing(_) => "agent_missing",
            ClientError::Api(p) if p.status == 401 => "unauthorized",
            ClientError::Api(_) => "api",
            ClientError::Ssh(_) => "ssh",
            ClientError::Config(_) => "config",
            ClientError::Protocol(_) => "protocol",
        }
    }
}
