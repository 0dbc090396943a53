//! Request budgets (GCRA, from `governor`). Failed authentication has one
//! budget for the whole agent: every request through an SSH tunnel comes
//! from the same socket, so there is no peer to key it by. Past it, a
//! request without a valid token is answered 429 with `Retry-After`; valid
//! tokens are checked first and never spend it. Each valid token has its
//! own rate, generous enough that the desktop never meets it.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

use crate::infra::config::RateConfig;

/// Refusals past the failed-authentication budget are logged at most once per this.
const LOG_EVERY: Duration = Duration::from_secs(60);

pub struct Limits {
    failed: DefaultDirectRateLimiter,
    /// None: requests per token are not limited.
    per_token: Option<DefaultKeyedRateLimiter<i64>>,
    checks: AtomicU64,
    clock: DefaultClock,
    log: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    logged_at: Option<Instant>,
    refused: u64,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Limits {
    pub fn new(c: &RateConfig) -> Limits {
        let failed = Quota::per_minute(nonzero(c.auth_failures_per_min))
            .allow_burst(nonzero(c.auth_failure_burst));
        let per_token = (c.token_requests_per_sec > 0).then(|| {
            DefaultKeyedRateLimiter::keyed(
                Quota::per_second(nonzero(c.token_requests_per_sec))
                    .allow_burst(nonzero(c.token_burst)),
            )
        });
        Limits {
            failed: DefaultDirectRateLimiter::direct(failed),
            per_token,
            checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
            log: Mutex::default(),
        }
    }

    /// A request without a valid token: Ok while the budget lasts (answer
    /// 401), else how long until it may be tried again (answer 429).
    pub fn failed_authentication(&self) -> Result<(), Duration> {
        let Err(not_until) = self.failed.check() else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(self.clock.now());
        let mut w = self.log.lock().unwrap_or_else(|e| e.into_inner());
        w.refused += 1;
        let now = Instant::now();
        if w.logged_at
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
        {
            tracing::warn!(refused = w.refused, "failed authentications are over the budget: answering 429 with Retry-After (logged once a minute)");
            w.logged_at = Some(now);
            w.refused = 0;
        }
        Err(wait)
    }

    /// A request with a valid token: Ok within its rate, else how long to wait.
    pub fn token_request(&self, token_id: i64) -> Result<(), Duration> {
        let Some(limiter) = &self.per_token else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            // Tokens back at a full budget need no entry.
            limiter.retain_recent();
        }
        limiter
            .check_key(&token_id)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The `Retry-After` value for a wait: whole seconds, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        for (wait_ms, secs) in [
            (0, 1),
            (1, 1),
            (999, 1),
            (1000, 1),
            (1001, 2),
            (59_000, 59),
            (59_001, 60),
        ] {
            assert_eq!(
                retry_after_secs(Duration::from_millis(wait_ms)),
                secs,
                "{wait_ms} ms"
            );
        }
    }

    #[test]
    fn the_budgets_run_out_and_tokens_are_apart() {
        let l = Limits::new(&RateConfig {
            auth_failure_burst: 3,
            auth_failures_per_min: 1,
            token_burst: 2,
            token_requests_per_sec: 1,
        });
        assert_eq!(
            (0..5)
                .map(|_| l.failed_authentication().is_ok())
                .collect::<Vec<_>>(),
            [true, true, true, false, false]
        );
        let wait = l.failed_authentication().expect_err("over");
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert_eq!(
            (0..3)
                .map(|_| l.token_request(1).is_ok())
                .collect::<Vec<_>>(),
            [true, true, false]
        );
        assert!(
            l.token_request(2).is_ok(),
            "another token has its own budget"
        );
        let off = Limits::new(&RateConfig {
            auth_failure_burst: 1,
            auth_failures_per_min: 1,
            token_burst: 1,
            token_requests_per_sec: 0,
        });
        assert!(
            (0..100).all(|_| off.token_request(1).is_ok()),
            "0 requests per second: no limit"
        );
    }
}
