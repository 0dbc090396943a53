//! Terminal output on its way to the webview: output after a quiet spell
//! (a keystroke's echo) goes at once; what follows it closely waits up to
//! [`COALESCE_FOR`] for more, so a burst becomes few messages. Pure: the
//! caller owns the clock and the channel.

use std::time::Instant;

/// How long output may wait for more before it is sent, and how long the
/// terminal must have been quiet for output to go at once.
pub const COALESCE_FOR: std::time::Duration = std::time::Duration::from_millis(4);

/// At most this much goes in one message.
pub const MAX_BATCH: usize = 256 << 10;

/// Output waiting to be sent.
#[derive(Debug, Default)]
pub struct Coalescer {
    pending: Vec<u8>,
    last_sent: Option<Instant>,
}

impl Coalescer {
    /// Adds output that arrived at `now`; returns what to send now: all of
    /// it after a quiet spell, a full batch, or nothing (it waits).
    pub fn push(&mut self, bytes: &[u8], now: Instant) -> Option<Vec<u8>> {
        let quiet = self.pending.is_empty()
            && self
                .last_sent
                .is_none_or(|t| now.duration_since(t) >= COALESCE_FOR);
        self.pending.extend_from_slice(bytes);
        (quiet || self.pending.len() >= MAX_BATCH).then(|| self.sent(now))
    }

    /// What waits, to send now (the wait ran out, or an event must follow it).
    pub fn take(&mut self, now: Instant) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then(|| self.sent(now))
    }

    fn sent(&mut self, now: Instant) -> Vec<u8> {
        self.last_sent = Some(now);
        std::mem::take(&mut self.pending)
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Step {
        /// Output arrives this many ms after the start.
        Push(u64, Vec<u8>),
        /// The wait runs out at this many ms.
        Take(u64),
    }

    #[test]
    fn batches() {
        use Step::{Push, Take};
        let big = vec![b'x'; MAX_BATCH - 1];
        for (name, steps, want) in [
            (
                "a keystroke's echo after a quiet spell goes at once",
                vec![Push(0, b"a".to_vec())],
                vec![b"a".to_vec()],
            ),
            (
                "output right after it waits for the timer",
                vec![
                    Push(0, b"a".to_vec()),
                    Push(1, b"b".to_vec()),
                    Push(2, b"c".to_vec()),
                    Take(6),
                ],
                vec![b"a".to_vec(), b"bc".to_vec()],
            ),
            (
                "the timer sends what waits, once",
                vec![
                    Push(0, b"a".to_vec()),
                    Push(1, b"b".to_vec()),
                    Take(5),
                    Take(9),
                ],
                vec![b"a".to_vec(), b"b".to_vec()],
            ),
            (
                "quiet again after the wait: at once",
                vec![Push(0, b"a".to_vec()), Push(10, b"b".to_vec())],
                vec![b"a".to_vec(), b"b".to_vec()],
            ),
            ("nothing waiting sends nothing", vec![Take(5)], vec![]),
            (
                "a full batch goes at once",
                vec![
                    Push(0, b"a".to_vec()),
                    Push(1, big.clone()),
                    Push(2, b"yz".to_vec()),
                ],
                vec![b"a".to_vec(), [big.as_slice(), b"yz"].concat()],
            ),
            (
                "after a full batch the next one starts empty and waits",
                vec![
                    Push(0, b"a".to_vec()),
                    Push(1, big.clone()),
                    Push(2, b"y".to_vec()),
                    Push(3, b"z".to_vec()),
                    Take(8),
                ],
                vec![
                    b"a".to_vec(),
                    [big.as_slice(), b"y"].concat(),
                    b"z".to_vec(),
                ],
            ),
        ] {
            let start = Instant::now();
            let at = |ms: u64| start + std::time::Duration::from_millis(ms);
            let mut c = Coalescer::default();
            let mut sent = Vec::new();
            for step in steps {
                let out = match step {
                    Push(t, b) => c.push(&b, at(t)),
                    Take(t) => c.take(at(t)),
                };
                sent.extend(out);
            }
            assert_eq!(sent, want, "{name}");
        }
    }
}
