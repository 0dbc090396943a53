//! Answers remembered per token and `Idempotency-Key`, so that a request a
//! client sends again after losing its connection is done once (the
//! decisions are `core::idempotency`'s; `http::idempotency` applies them to
//! every request that changes something).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use appos_proto::ProblemCode;

use crate::core::idempotency::{decide, Decision};
use crate::error::{AgentError, Result};
use crate::infra::db::{self, idempotency::Answer};
use crate::state::Shared;

/// What to do with a request that carries a key.
pub enum Begin {
    /// Do the work, then `answer` (or `release`).
    Run,
    /// Send this answer again.
    Replay(Answer),
}

/// How long a request waits for the first one with its key to be answered.
const WAIT: Duration = Duration::from_secs(30);

/// This run of the agent: claims an earlier run left unanswered are void.
fn this_run() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        use rand::RngCore as _;
        let mut b = [0u8; 8];
        rand::rng().fill_bytes(&mut b);
        hex::encode(b)
    })
}

pub async fn begin(
    state: &Shared,
    token_id: i64,
    key: &str,
    fingerprint: &str,
    request: &str,
) -> Result<Begin> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (k, now) = (key.to_string(), state.clock.now_ms());
        let known = db::call(&state.db, move |db| {
            db::idempotency::get(db, token_id, &k, this_run(), now)
        })
        .await?;
        match decide(known.as_ref().map(|(k, _)| k), fingerprint) {
            Decision::Run => {
                let (k, f, r, now) = (
                    key.to_string(),
                    fingerprint.to_string(),
                    request.to_string(),
                    state.clock.now_ms(),
                );
                if db::call(&state.db, move |db| {
                    db::idempotency::claim(db, token_id, &k, &f, &r, this_run(), now)
                })
                .await?
                {
                    return Ok(Begin::Run);
                }
            }
            Decision::Replay => {
                if let Some((_, Some(answer))) = known {
                    return Ok(Begin::Replay(answer));
                }
            }
            Decision::Reused { first } => {
                return Err(AgentError::refused(
                    ProblemCode::IdempotencyKeyReused,
                    format!("this Idempotency-Key came first with another request ({first}, or another body): a new request needs a new key"),
                ));
            }
            Decision::Wait if Instant::now() >= deadline => {
                return Err(AgentError::refused(ProblemCode::IdempotencyInProgress, "the first request with this Idempotency-Key is still being answered: send it again in a moment"));
            }
            Decision::Wait => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Remembers the answer to a request that ran.
pub async fn answer(state: &Shared, token_id: i64, key: &str, answer: Answer) -> Result<()> {
    let k = key.to_string();
    Ok(db::call(&state.db, move |db| {
        db::idempotency::answer(db, token_id, &k, &answer)
    })
    .await?)
}

/// Forgets a request that ran without an answer worth keeping: sent again, it runs again.
pub async fn release(state: &Shared, token_id: i64, key: &str) -> Result<()> {
    let k = key.to_string();
    Ok(db::call(&state.db, move |db| {
        db::idempotency::release(db, token_id, &k)
    })
    .await?)
}
