//! The compose containers on this host, kept in memory so that listing apps
//! does not ask Docker on every request. Fed by Docker's container events
//! (`docker_events` refreshes the container an event names before the event
//! is published, so the list is never staler than the event stream), by the
//! agent's own compose runs (`refresh_project` before a deployment or an
//! action ends, so a client reads its own writes), and by a full resync when
//! the event stream (re)connects and every minute.
//!
//! Reads of Docker can finish out of order (a resync started before an
//! event's refresh may end after it), so every read takes a ticket when it
//! starts and a container's record is only replaced by a newer read. A
//! container found gone leaves a tombstone for a while, so an older read
//! that still saw it does not bring it back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use appos_proto::App;
use bollard::models::ContainerSummary;
use bollard::Docker;

use crate::infra::docker::{self, Which};

/// How long a removed container's tombstone outlives it.
const TOMBSTONE_FOR: Duration = Duration::from_secs(300);

/// How often the whole inventory is read again, in case an event was lost.
pub const RESYNC_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Inventory {
    /// Off: every listing asks Docker (`APPOS_INVENTORY=off`, for the benchmark's baseline).
    off: bool,
    tickets: AtomicU64,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// A full read has landed since the stream (re)connected; until then, listings ask Docker.
    synced: bool,
    containers: HashMap<String, Record>,
    /// The projects folded from `containers`, until one of them changes.
    apps: Option<Arc<Vec<App>>>,
}

struct Record {
    ticket: u64,
    /// None: the container is gone (a tombstone, dropped after `TOMBSTONE_FOR`).
    container: Option<ContainerSummary>,
    at: Instant,
}

impl Inventory {
    pub fn new(on: bool) -> Inventory {
        Inventory {
            off: !on,
            ..Default::default()
        }
    }

    /// Every compose project, from memory once the inventory is synced,
    /// else from Docker.
    pub async fn projects(&self, docker: &Docker) -> Result<Arc<Vec<App>>, bollard::errors::Error> {
        if let Some(apps) = self.cached() {
            return Ok(apps);
        }
        if self.off || !self.read().synced {
            return Ok(Arc::new(docker::projects(docker).await?));
        }
        let mut inner = self.write();
        let apps = Arc::new(docker::fold_projects(
            inner
                .containers
                .values()
                .filter_map(|r| r.container.as_ref()),
        ));
        if inner.synced {
            inner.apps = Some(apps.clone());
        }
        Ok(apps)
    }

    fn cached(&self) -> Option<Arc<Vec<App>>> {
        let inner = self.read();
        inner.synced.then(|| inner.apps.clone()).flatten()
    }

    /// Reads every compose container again. Until this lands (after the
    /// event stream reconnects), listings ask Docker.
    pub async fn resync(&self, docker: &Docker) -> Result<(), bollard::errors::Error> {
        if self.off {
            return Ok(());
        }
        let ticket = self.ticket();
        let found = docker::compose_containers(docker, Which::All).await?;
        let mut inner = self.write();
        inner.apply(ticket, found, |_| true);
        inner.synced = true;
        let now = Instant::now();
        inner
            .containers
            .retain(|_, r| r.container.is_some() || now.duration_since(r.at) < TOMBSTONE_FOR);
        Ok(())
    }

    /// Listings ask Docker until the next resync (the event stream broke,
    /// so events may be missed).
    pub fn unsynced(&self) {
        self.write().synced = false;
    }

    /// Reads one project's containers again (after the agent ran compose on it).
    pub async fn refresh_project(&self, docker: &Docker, project: &str) {
        if self.off {
            return;
        }
        let ticket = self.ticket();
        match docker::compose_containers(docker, Which::Project(project)).await {
            Ok(found) => self
                .write()
                .apply(ticket, found, |c| project_of(c) == Some(project)),
            // The next event or resync corrects it; listings until then may lag.
            Err(error) => tracing::debug!(%error, project, "refreshing a project in the inventory"),
        }
    }

    /// Reads one container again (an event named it).
    pub async fn refresh_container(&self, docker: &Docker, id: &str) {
        if self.off {
            return;
        }
        let ticket = self.ticket();
        match docker::compose_containers(docker, Which::Container(id)).await {
            Ok(found) => self
                .write()
                .apply(ticket, found, |c| c.id.as_deref() == Some(id)),
            Err(error) => tracing::debug!(%error, id, "refreshing a container in the inventory"),
        }
    }

    fn ticket(&self) -> u64 {
        self.tickets.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn project_of(c: &ContainerSummary) -> Option<&str> {
    c.labels
        .as_ref()?
        .get(docker::LABEL_PROJECT)
        .map(String::as_str)
}

impl Inner {
    /// What a read with `ticket` found, for the containers `covers` says it
    /// looked at: those found are recorded, those it covered and did not
    /// find are gone; older records give way, newer ones stay.
    fn apply(
        &mut self,
        ticket: u64,
        found: Vec<ContainerSummary>,
        covers: impl Fn(&ContainerSummary) -> bool,
    ) {
        let now = Instant::now();
        let mut seen = std::collections::HashSet::new();
        for c in found {
            let Some(id) = c.id.clone() else { continue };
            seen.insert(id.clone());
            if self.containers.get(&id).is_none_or(|r| r.ticket < ticket) {
                self.containers.insert(
                    id,
                    Record {
                        ticket,
                        container: Some(c),
                        at: now,
                    },
                );
            }
        }
        for (id, r) in self.containers.iter_mut() {
            let gone = !seen.contains(id)
                && r.ticket < ticket
                && r.container.as_ref().is_some_and(&covers);
            if gone {
                *r = Record {
                    ticket,
                    container: None,
                    at: now,
                };
            }
        }
        self.apps = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, project: &str, state: &str) -> ContainerSummary {
        let labels = [
            (docker::LABEL_PROJECT.to_string(), project.to_string()),
            (docker::LABEL_SERVICE.to_string(), "web".to_string()),
        ];
        ContainerSummary {
            id: Some(id.into()),
            names: Some(vec![format!("/{project}-web-{id}")]),
            labels: Some(labels.into_iter().collect()),
            status: Some(state.into()),
            ..Default::default()
        }
    }

    fn listed(i: &Inner) -> Vec<(String, String)> {
        let mut v: Vec<_> = i
            .containers
            .iter()
            .filter_map(|(id, r)| Some((id.clone(), r.container.as_ref()?.status.clone()?)))
            .collect();
        v.sort();
        v
    }

    fn pair(id: &str, status: &str) -> (String, String) {
        (id.to_string(), status.to_string())
    }

    #[test]
    fn newer_reads_win_whatever_order_they_land_in() {
        let mut i = Inner::default();
        i.apply(1, vec![c("a", "p", "Up"), c("b", "q", "Up")], |_| true);
        // An event's refresh of `a` (ticket 3) lands before a resync that started earlier (ticket 2).
        i.apply(3, vec![c("a", "p", "Exited")], |x| {
            x.id.as_deref() == Some("a")
        });
        i.apply(2, vec![c("a", "p", "Up"), c("b", "q", "Up")], |_| true);
        assert_eq!(listed(&i), [pair("a", "Exited"), pair("b", "Up")]);
    }

    #[test]
    fn a_container_found_gone_stays_gone_for_older_reads() {
        let mut i = Inner::default();
        i.apply(
            1,
            vec![c("a", "p", "Up"), c("b", "p", "Up"), c("x", "other", "Up")],
            |_| true,
        );
        // Project p read again (ticket 3): only `b` is left; `x` is another project, untouched.
        i.apply(3, vec![c("b", "p", "Up")], |x| project_of(x) == Some("p"));
        assert_eq!(listed(&i), [pair("b", "Up"), pair("x", "Up")]);
        // A resync that started before (ticket 2) still saw `a`: it does not come back.
        i.apply(
            2,
            vec![c("a", "p", "Up"), c("b", "p", "Up"), c("x", "other", "Up")],
            |_| true,
        );
        assert_eq!(listed(&i), [pair("b", "Up"), pair("x", "Up")]);
        // A newer read that sees it again (recreated with the same id is impossible, but a
        // container listed by a newer read is real) records it.
        i.apply(4, vec![c("a", "p", "Up")], |x| x.id.as_deref() == Some("a"));
        assert_eq!(
            listed(&i),
            [pair("a", "Up"), pair("b", "Up"), pair("x", "Up")]
        );
    }

    #[test]
    fn a_refresh_of_one_container_leaves_the_others() {
        let mut i = Inner::default();
        i.apply(1, vec![c("a", "p", "Up"), c("b", "p", "Up")], |_| true);
        i.apply(2, vec![], |x| x.id.as_deref() == Some("a"));
        assert_eq!(listed(&i), [pair("b", "Up")]);
        i.apps = Some(Arc::new(Vec::new()));
        i.apply(3, vec![c("b", "p", "Exited")], |x| {
            x.id.as_deref() == Some("b")
        });
        assert!(i.apps.is_none(), "a change drops the folded list");
    }
}
