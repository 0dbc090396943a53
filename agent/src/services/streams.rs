//! Long-lived answers (the event stream, followed logs) held open per
//! token: each token may hold at most a configured number at once, so that
//! one client cannot tie up the agent with thousands of idle streams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use appos_proto::ProblemCode;

use crate::error::AgentError;

pub struct StreamLimits {
    max: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open stream; dropping it frees its place.
pub struct StreamGuard {
    token: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl StreamLimits {
    pub fn new(max: usize) -> StreamLimits {
        StreamLimits {
            max,
            open: Default::default(),
        }
    }

    /// Takes a place for a stream of `token`, or refuses when it holds the most allowed.
    pub fn acquire(&self, token: &str) -> Result<StreamGuard, AgentError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(token.to_string()).or_default();
        if *n >= self.max {
            return Err(AgentError::refused(
                ProblemCode::TooManyStreams,
                format!("token {token:?} holds {} streams open, the most this agent allows; close one first", self.max),
            ));
        }
        *n += 1;
        Ok(StreamGuard {
            token: token.to_string(),
            open: self.open.clone(),
        })
    }

    /// Streams open now for `token`.
    pub fn open(&self, token: &str) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_per_token() {
        let limits = StreamLimits::new(2);
        let a1 = limits.acquire("a").expect("first");
        let _a2 = limits.acquire("a").expect("second");
        let e = limits.acquire("a").err().expect("third refused");
        assert_eq!(e.code(), ProblemCode::TooManyStreams);
        assert_eq!(e.to_string(), "too_many_streams: token \"a\" holds 2 streams open, the most this agent allows; close one first");
        let _b = limits
            .acquire("b")
            .expect("another token has its own places");
        drop(a1);
        assert_eq!(limits.open("a"), 1);
        let _a3 = limits.acquire("a").expect("a place was freed");
    }
}
