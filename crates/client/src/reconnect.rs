//! When a lost connection is made again, and when it is not: the pure
//! decisions of the client's reconnecting session (`api::Client` applies
//! them).

use std::time::Duration;

use appos_proto::ErrorClass;

use crate::ClientError;

/// Where a connection stands, for the ones who show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connected,
    /// Lost; trying again (`attempt` from 1) in `next_in`.
    Reconnecting { attempt: u32, next_in: Duration, why: String },
    /// Given up: `why` says what failed.
    Failed { why: String },
}

/// What a failure means for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The connection is gone or not back yet: make it again, and try again.
    Lost,
    /// Trying again cannot help (a changed host key, a refused key or a
    /// revoked token; a bad request): say so at once.
    Final,
}

/// What a failure means for the connection. A host key that changed, an
/// unknown one (it needs the user), a refused key or a revoked token stop
/// at once; a broken network, a server or agent not back yet are waited for.
pub fn verdict(e: &ClientError) -> Verdict {
    match e {
        ClientError::ConnectionLost { .. } | ClientError::Unreachable { .. } | ClientError::AgentMissing(_) | ClientError::Ssh(_) => Verdict::Lost,
        ClientError::Api(_) => Verdict::Final,
        other => match other.class() {
            ErrorClass::Unreachable | ErrorClass::AgentMissing => Verdict::Lost,
            _ => Verdict::Final,
        },
    }
}

/// The wait before attempt `attempt` (from 1): 250 ms doubling to 5 s, each
/// spread by `jitter` (0 to 1) over ±20 %, so that many clients cut at once
/// do not all come back at once.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = 250u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(5)).min(5_000) as f64;
    let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Duration::from_millis((base * spread).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use appos_proto::{Problem, ProblemCode};

    #[test]
    fn lost_connections_are_made_again_and_refusals_stop() {
        let api = |code| ClientError::Api(Problem::new(code, None));
        for (e, want) in [
            (ClientError::ConnectionLost { to: "ssh://root@h:22".into(), why: "reset".into() }, Verdict::Lost),
            (ClientError::Unreachable { addr: "h:22".into(), reason: "connection refused".into() }, Verdict::Lost),
            (ClientError::AgentMissing("cannot open the socket".into()), Verdict::Lost),
            (ClientError::Ssh("keepalive timeout".into()), Verdict::Lost),
            (ClientError::HostKeyChanged { host: "h".into(), presented: "p".into(), expected: "e".into(), recorded_in: "r".into() }, Verdict::Final),
            (ClientError::HostKeyUnknown { host: "h".into(), algorithm: "a".into(), fingerprint: "f".into() }, Verdict::Final),
            (ClientError::AuthRejected { user: "u".into(), host: "h".into(), tried: "t".into() }, Verdict::Final),
            (ClientError::KeyEncrypted { path: "k".into(), wrong_passphrase: false }, Verdict::Final),
            (api(ProblemCode::Unauthorized), Verdict::Final),
            (api(ProblemCode::InvalidInput), Verdict::Final),
            (ClientError::Config("x".into()), Verdict::Final),
            (ClientError::Protocol("bad json".into()), Verdict::Final),
        ] {
            assert_eq!(verdict(&e), want, "{e}");
        }
    }

    #[test]
    fn waits_double_to_five_seconds_spread_by_jitter() {
        let ms = |a, j| backoff(a, j).as_millis();
        assert_eq!([1, 2, 3, 4, 5, 6, 7, 40].map(|a| ms(a, 0.5)), [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
        assert_eq!((ms(1, 0.0), ms(1, 1.0), ms(6, 0.0), ms(6, 1.0)), (200, 300, 4000, 6000));
        assert_eq!(ms(0, 0.5), 250);
    }
}
