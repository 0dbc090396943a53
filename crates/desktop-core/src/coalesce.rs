//! Terminal output on its way to the webview: bytes that arrive close
//! together go as one IPC message (a burst becomes one message; a
//! keystroke's echo waits at most [`COALESCE_FOR`]). Pure: the caller owns
//! the clock and the channel.

/// How long output may wait for more before it is sent.
pub const COALESCE_FOR: std::time::Duration = std::time::Duration::from_millis(4);

/// At most this much goes in one message.
pub const MAX_BATCH: usize = 256 << 10;

/// Output waiting to be sent.
#[derive(Debug, Default)]
pub struct Coalescer {
    pending: Vec<u8>,
}

impl Coalescer {
    /// Adds output; returns a full batch to send now.
    pub fn push(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.pending.extend_from_slice(bytes);
        (self.pending.len() >= MAX_BATCH).then(|| std::mem::take(&mut self.pending))
    }

    /// What waits, to send now (the wait ran out, or an event must follow it).
    pub fn take(&mut self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Step {
        Push(Vec<u8>),
        Take,
    }

    #[test]
    fn batches() {
        let big = vec![b'x'; MAX_BATCH - 1];
        for (name, steps, want) in [
            ("a keystroke's echo waits for the timer", vec![Step::Push(b"a".to_vec())], vec![]),
            ("the timer sends what waits, once", vec![Step::Push(b"a".to_vec()), Step::Push(b"b".to_vec()), Step::Take, Step::Take], vec![b"ab".to_vec()]),
            ("nothing waiting sends nothing", vec![Step::Take], vec![]),
            ("a full batch goes at once", vec![Step::Push(big.clone()), Step::Push(b"yz".to_vec())], vec![[big.as_slice(), b"yz"].concat()]),
            (
                "after a full batch the next one starts empty",
                vec![Step::Push(big.clone()), Step::Push(b"y".to_vec()), Step::Push(b"z".to_vec()), Step::Take],
                vec![[big.as_slice(), b"y"].concat(), b"z".to_vec()],
            ),
        ] {
            let mut c = Coalescer::default();
            let mut sent = Vec::new();
            for step in steps {
                let out = match step {
                    Step::Push(b) => c.push(&b),
                    Step::Take => c.take(),
                };
                sent.extend(out);
            }
            assert_eq!(sent, want, "{name}");
        }
    }
}
