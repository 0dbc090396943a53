//! What the alert rules keep in memory between rounds: each container's
//! exits (from Docker's events), the certificates' latest check, how long
//! conditions have held. A handle in the state; it names nothing above it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use crate::core::alerts::{CertFact, Pending};

/// Exits kept per container (the restart-loop rule counts within its window).
const EXITS_KEPT: usize = 200;

/// One container's exits: the latest times, and how many in all.
#[derive(Default)]
struct Exits {
    times: VecDeque<i64>,
    total: u64,
}

/// What the agent keeps in memory for the rules, between rounds.
pub struct AlertMemory {
    /// Exit times by container id, from Docker's `die` events.
    exits: Mutex<HashMap<String, Exits>>,
    pending: Mutex<Pending>,
    certs: Mutex<Vec<CertFact>>,
    /// One round at a time.
    round: tokio::sync::Mutex<()>,
    /// Asks for a round now (an exit, a deployment that ended).
    pub wake: tokio::sync::Notify,
    /// This server's name in notices.
    pub server: String,
}

impl Default for AlertMemory {
    fn default() -> AlertMemory {
        let server = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        AlertMemory {
            exits: Default::default(),
            pending: Default::default(),
            certs: Default::default(),
            round: Default::default(),
            wake: Default::default(),
            server,
        }
    }
}

impl AlertMemory {
    /// Docker said a container exited.
    pub fn exited(&self, id: &str, at_ms: i64) {
        let mut exits = self.exits.lock().unwrap_or_else(|e| e.into_inner());
        let e = exits.entry(id.to_string()).or_default();
        e.total += 1;
        e.times.push_back(at_ms);
        while e.times.len() > EXITS_KEPT {
            e.times.pop_front();
        }
        drop(exits);
        self.wake.notify_one();
    }

    /// The container is gone: its exits no longer count.
    pub fn removed(&self, id: &str) {
        self.exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Exits seen since the agent started, by container id.
    pub fn exit_counts(&self) -> HashMap<String, u64> {
        self.exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, e)| (id.clone(), e.total))
            .collect()
    }

    /// The certificates' latest check.
    pub fn set_certs(&self, certs: Vec<CertFact>) {
        *self.certs.lock().unwrap_or_else(|e| e.into_inner()) = certs;
        self.wake.notify_one();
    }

    pub fn exits_of(&self, id: &str) -> Vec<i64> {
        self.exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .map(|e| e.times.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The certificates of the latest check.
    pub fn certs(&self) -> Vec<CertFact> {
        self.certs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// When each condition that waits before firing started holding.
    pub fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Held for one round of the rules.
    pub async fn round(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.round.lock().await
    }
}
