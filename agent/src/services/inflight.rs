//! Names with work on its way in this agent (a certificate task queued or
//! running for a domain), so that a periodic check queues no second one.
//! Takes no state: held in `AgentState`.

use std::collections::HashSet;

#[derive(Default)]
pub struct InFlight(std::sync::Mutex<HashSet<String>>);

impl InFlight {
    /// Marks `name` as on its way; false when it already was.
    pub fn take(&self, name: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string())
    }

    pub fn release(&self, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_until_released() {
        let f = InFlight::default();
        assert!(f.take("a.test"));
        assert!(!f.take("a.test"));
        assert!(f.take("b.test"));
        f.release("a.test");
        assert!(f.take("a.test"));
    }
}
