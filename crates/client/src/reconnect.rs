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
    Reconnecting {
        attempt: u32,
        next_in: Duration,
        why: String,
    },
    /// Given up: `why` says what failed.
    Failed {
        why: String,
    },
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
        ClientError::ConnectionLost { .. }
        | ClientError::Unreachable { .. }
        | ClientError::AgentMissing(_)
        | ClientError::Ssh(_) => Verdict::Lost,
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
    let base = 250u64
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(5))
        .min(5_000) as f64;
    let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Duration::from_millis((base * spread).round() as u64)
}

/// Tries of a keyed request the agent is still answering (409
/// `idempotency_in_progress`: its first copy, cut off from this client, is
/// still running), at most: with [`backoff`], about 20 s.
pub const IN_PROGRESS_TRIES: u32 = 8;

/// Whether an answer says the first copy of this keyed request is still
/// being answered, so that sending it again in a moment gets its outcome.
pub fn still_answering(status: u16, body: &[u8]) -> bool {
    status == 409
        && serde_json::from_slice::<appos_proto::Problem>(body)
            .is_ok_and(|p| p.code == appos_proto::ProblemCode::IdempotencyInProgress)
}

/// Where a follower of an app's logs is, per container: the time of the
/// last line shown and how many lines of that very time it showed. A
/// follow resumed from the second of the earliest of them (Docker's `since`
/// takes seconds) gets some lines again; this drops them.
#[derive(Debug, Default)]
pub struct LogCursor {
    seen: std::collections::HashMap<String, (i64, usize)>,
}

impl LogCursor {
    /// Whether a line is new (then it counts as seen).
    pub fn fresh(&mut self, container: &str, at_us: i64) -> bool {
        if at_us == 0 {
            return true;
        }
        match self.seen.get_mut(container) {
            Some((last, _)) if at_us < *last => false,
            Some((last, n)) if at_us == *last => {
                *n += 1;
                true
            }
            _ => {
                self.seen.insert(container.to_string(), (at_us, 1));
                true
            }
        }
    }

    /// The lines already shown with that time, to drop when they come again.
    pub fn resumed(&mut self) -> LogReplay {
        LogReplay {
            left: self
                .seen
                .iter()
                .map(|(c, (at, n))| (c.clone(), (*at, *n)))
                .collect(),
        }
    }

    /// The `since` to resume from (epoch seconds), None before any line.
    pub fn since_secs(&self) -> Option<i64> {
        self.seen
            .values()
            .map(|(at, _)| at.div_euclid(1_000_000))
            .min()
    }
}

/// Lines of the last shown time per container that a resumed follow will send again.
#[derive(Debug, Default)]
pub struct LogReplay {
    left: std::collections::HashMap<String, (i64, usize)>,
}

impl LogReplay {
    /// Whether a line of a resumed follow was shown before the cut.
    pub fn shown_before(&mut self, container: &str, at_us: i64) -> bool {
        if at_us == 0 {
            return false;
        }
        match self.left.get_mut(container) {
            Some((last, _)) if at_us < *last => true,
            Some((last, n)) if at_us == *last && *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appos_proto::{Problem, ProblemCode};

    #[test]
    fn only_a_request_still_being_answered_is_sent_again() {
        let body = |code| serde_json::to_vec(&Problem::new(code, None)).expect("json");
        for (status, answer, want) in [
            (409, body(ProblemCode::IdempotencyInProgress), true),
            (409, body(ProblemCode::AppNotManaged), false),
            (422, body(ProblemCode::IdempotencyKeyReused), false),
            (201, b"{}".to_vec(), false),
            (409, b"not json".to_vec(), false),
        ] {
            assert_eq!(
                still_answering(status, &answer),
                want,
                "{status} {}",
                String::from_utf8_lossy(&answer)
            );
        }
    }

    #[test]
    fn lost_connections_are_made_again_and_refusals_stop() {
        let api = |code| ClientError::Api(Problem::new(code, None));
        for (e, want) in [
            (
                ClientError::ConnectionLost {
                    to: "ssh://root@h:22".into(),
                    why: "reset".into(),
                },
                Verdict::Lost,
            ),
            (
                ClientError::Unreachable {
                    addr: "h:22".into(),
                    reason: "connection refused".into(),
                },
                Verdict::Lost,
            ),
            (
                ClientError::AgentMissing("cannot open the socket".into()),
                Verdict::Lost,
            ),
            (ClientError::Ssh("keepalive timeout".into()), Verdict::Lost),
            (
                ClientError::HostKeyChanged {
                    host: "h".into(),
                    presented: "p".into(),
                    expected: "e".into(),
                    recorded_in: "r".into(),
                },
                Verdict::Final,
            ),
            (
                ClientError::HostKeyUnknown {
                    host: "h".into(),
                    algorithm: "a".into(),
                    fingerprint: "f".into(),
                },
                Verdict::Final,
            ),
            (
                ClientError::AuthRejected {
                    user: "u".into(),
                    host: "h".into(),
                    tried: "t".into(),
                },
                Verdict::Final,
            ),
            (
                ClientError::KeyEncrypted {
                    path: "k".into(),
                    wrong_passphrase: false,
                },
                Verdict::Final,
            ),
            (api(ProblemCode::Unauthorized), Verdict::Final),
            (api(ProblemCode::InvalidInput), Verdict::Final),
            (ClientError::Config("x".into()), Verdict::Final),
            (ClientError::Protocol("bad json".into()), Verdict::Final),
        ] {
            assert_eq!(verdict(&e), want, "{e}");
        }
    }

    #[test]
    fn a_resumed_log_follow_drops_what_was_shown() {
        let mut cursor = LogCursor::default();
        // Shown before the cut: two lines of one microsecond in `a`, one in `b`.
        for (c, at) in [("a", 5_000_100), ("a", 5_000_100), ("b", 7_200_000)] {
            assert!(cursor.fresh(c, at));
        }
        assert_eq!(cursor.since_secs(), Some(5));
        let mut replay = cursor.resumed();
        // The resumed follow sends from second 5 again.
        let sent = [
            ("a", 5_000_000),
            ("a", 5_000_100),
            ("a", 5_000_100),
            ("a", 5_000_100),
            ("b", 7_200_000),
            ("b", 7_300_000),
            ("c", 6_000_000),
            ("a", 0),
        ];
        let new: Vec<(&str, i64)> = sent
            .into_iter()
            .filter(|(c, at)| !replay.shown_before(c, *at))
            .collect();
        assert_eq!(
            new,
            [
                ("a", 5_000_100),
                ("b", 7_300_000),
                ("c", 6_000_000),
                ("a", 0)
            ]
        );
        assert_eq!(LogCursor::default().since_secs(), None);
    }

    #[test]
    fn waits_double_to_five_seconds_spread_by_jitter() {
        let ms = |a, j| backoff(a, j).as_millis();
        assert_eq!(
            [1, 2, 3, 4, 5, 6, 7, 40].map(|a| ms(a, 0.5)),
            [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]
        );
        assert_eq!(
            (ms(1, 0.0), ms(1, 1.0), ms(6, 0.0), ms(6, 1.0)),
            (200, 300, 4000, 6000)
        );
        assert_eq!(ms(0, 0.5), 250);
    }
}
