//! The agent's clock, passed to whatever needs the time so that tests can
//! hold it still.

use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64;

    /// Seconds since the epoch.
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        unix_now_ms()
    }
}

/// A clock that moves only when told to (tests).
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn at_ms(ms: i64) -> FixedClock {
        FixedClock(AtomicI64::new(ms))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The system time in milliseconds since the epoch, for the few places
/// that measure real time themselves (queue leases, terminal activity).
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_when_told() {
        let c = FixedClock::at_ms(1_500);
        assert_eq!((c.now_ms(), c.now()), (1_500, 1));
        c.advance_ms(2_600);
        assert_eq!((c.now_ms(), c.now()), (4_100, 4));
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
