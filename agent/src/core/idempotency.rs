//! Requests that change something may carry an `Idempotency-Key`: the
//! agent remembers the answer to the first request with that key (per
//! token), and answers a request sent again after a lost connection with
//! it, rather than doing the work twice. Pure decisions.

/// How long an answer is remembered.
pub const KEEP_MS: i64 = 24 * 3_600_000;

/// What the agent knows of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// Of the request that used the key first (method, path, body).
    pub fingerprint: String,
    /// The request that used it first, as `POST /v1/apps`.
    pub request: String,
    /// Answered (else still being answered).
    pub answered: bool,
    /// Claimed by this run of the agent (else by one that stopped since).
    pub this_run: bool,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A new key (or one whose request an earlier run of the agent never
    /// answered): do the work, and remember the answer.
    Run,
    /// The same request again: the answer remembered.
    Replay,
    /// The key came with another request first.
    Reused { first: String },
    /// The first request is still being answered: wait for it.
    Wait,
}

pub fn decide(known: Option<&Known>, fingerprint: &str) -> Decision {
    match known {
        None => Decision::Run,
        Some(k) if k.fingerprint != fingerprint => Decision::Reused {
            first: k.request.clone(),
        },
        Some(k) if k.answered => Decision::Replay,
        Some(k) if k.this_run => Decision::Wait,
        Some(_) => Decision::Run,
    }
}

/// A key as clients make them: 8 to 128 letters, digits, `-` and `_` (a UUID fits).
pub fn valid_key(key: &str) -> bool {
    (8..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether an answer is remembered: not a failure of the agent (5xx),
/// which a request sent again may not meet.
pub fn remembered(status: u16) -> bool {
    status < 500
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_runs_once_replays_and_refuses_another_request() {
        let known = |fingerprint: &str, answered, this_run| Known {
            fingerprint: fingerprint.into(),
            request: "POST /v1/apps".into(),
            answered,
            this_run,
        };
        for (k, fp, want) in [
            (None, "a", Decision::Run),
            (Some(known("a", true, true)), "a", Decision::Replay),
            (Some(known("a", true, false)), "a", Decision::Replay),
            (Some(known("a", false, true)), "a", Decision::Wait),
            (Some(known("a", false, false)), "a", Decision::Run),
            (
                Some(known("a", true, true)),
                "b",
                Decision::Reused {
                    first: "POST /v1/apps".into(),
                },
            ),
            (
                Some(known("a", false, true)),
                "b",
                Decision::Reused {
                    first: "POST /v1/apps".into(),
                },
            ),
        ] {
            assert_eq!(decide(k.as_ref(), fp), want, "{k:?} {fp}");
        }
    }

    #[test]
    fn keys_and_remembered_answers() {
        for (k, ok) in [
            ("0b6f5c1e-7d2a-4c3b-9e8f-1a2b3c4d5e6f", true),
            ("deploy_42x", true),
            ("short", false),
            ("has space1", false),
            ("semi;colon", false),
            (&"x".repeat(129), false),
            (&"x".repeat(128), true),
        ] {
            assert_eq!(valid_key(k), ok, "{k:?}");
        }
        for (status, kept) in [
            (200, true),
            (202, true),
            (204, true),
            (400, true),
            (409, true),
            (422, true),
            (500, false),
            (503, false),
        ] {
            assert_eq!(remembered(status), kept, "{status}");
        }
    }
}
