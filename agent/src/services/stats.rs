//! Resource readings of every running compose container: one Docker stats
//! stream per container (Docker sends a reading a second; nothing is polled
//! per request), started and stopped as the inventory's running containers
//! change. Each keeps its latest reading and a day of one-minute points
//! (`core::stats`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use appos_proto::{AppStats, ContainerStats, StatSample};
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use bollard::Docker;
use futures_util::StreamExt as _;

use crate::core::stats::{sample, History, Reading};

/// A running container to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Running {
    pub id: String,
    pub app: String,
    pub service: String,
    pub name: String,
}

#[derive(Default)]
pub struct Stats {
    tracked: Arc<Mutex<HashMap<String, Tracked>>>,
}

struct Tracked {
    who: Running,
    latest: Option<StatSample>,
    history: History,
    reader: tokio::task::AbortHandle,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn lock(
    m: &Mutex<HashMap<String, Tracked>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Stats {
    /// Reads the containers in `running` and stops reading the others.
    pub fn reconcile(&self, docker: &Docker, running: Vec<Running>) {
        let ids: HashSet<&str> = running.iter().map(|r| r.id.as_str()).collect();
        let mut tracked = lock(&self.tracked);
        tracked.retain(|id, _| ids.contains(id.as_str()));
        for who in running {
            let spawn = || {
                tokio::spawn(read(docker.clone(), who.id.clone(), self.tracked.clone()))
                    .abort_handle()
            };
            match tracked.get_mut(&who.id) {
                // Its stream broke (Docker restarted, say) while it runs: read again, keep the history.
                Some(t) if t.reader.is_finished() => t.reader = spawn(),
                Some(_) => {}
                None => {
                    let reader = spawn();
                    tracked.insert(
                        who.id.clone(),
                        Tracked {
                            who,
                            latest: None,
                            history: History::default(),
                            reader,
                        },
                    );
                }
            }
        }
    }

    /// An app's running containers, sorted by service and name.
    pub fn of_app(&self, app: &str) -> AppStats {
        let tracked = lock(&self.tracked);
        let mut containers: Vec<ContainerStats> = tracked
            .values()
            .filter(|t| t.who.app == app)
            .map(|t| ContainerStats {
                id: t.who.id.clone(),
                name: t.who.name.clone(),
                service: t.who.service.clone(),
                latest: t.latest.clone(),
                history: t.history.points(),
            })
            .collect();
        containers.sort_by(|a, b| (&a.service, &a.name).cmp(&(&b.service, &b.name)));
        AppStats {
            app: app.to_string(),
            containers,
        }
    }

    /// Every container's latest reading, with who it is (for `/metrics`).
    pub fn latest(&self) -> Vec<(Running, StatSample)> {
        lock(&self.tracked)
            .values()
            .filter_map(|t| Some((t.who.clone(), t.latest.clone()?)))
            .collect()
    }
}

/// Follows one container's stats stream until it ends or is aborted.
async fn read(docker: Docker, id: String, tracked: Arc<Mutex<HashMap<String, Tracked>>>) {
    let mut stream = docker.stats(
        &id,
        Some(StatsOptions {
            stream: true,
            one_shot: false,
        }),
    );
    while let Some(Ok(answer)) = stream.next().await {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let s = sample(now, &reading(&answer));
        let mut t = lock(&tracked);
        let Some(entry) = t.get_mut(&id) else { return };
        entry.history.push(&s);
        entry.latest = Some(s);
    }
}

/// The numbers of one stats answer.
fn reading(a: &ContainerStatsResponse) -> Reading {
    let cpu = a.cpu_stats.as_ref();
    let pre = a.precpu_stats.as_ref();
    let mem = a.memory_stats.as_ref();
    let stat = |k: &str| mem.and_then(|m| m.stats.as_ref()?.get(k).copied());
    let (rx, tx) = a
        .networks
        .iter()
        .flatten()
        .fold((0, 0), |(rx, tx), (_, n)| {
            (rx + n.rx_bytes.unwrap_or(0), tx + n.tx_bytes.unwrap_or(0))
        });
    Reading {
        cpu_total: cpu
            .and_then(|c| c.cpu_usage.as_ref()?.total_usage)
            .unwrap_or(0),
        pre_cpu_total: pre
            .and_then(|c| c.cpu_usage.as_ref()?.total_usage)
            .unwrap_or(0),
        system: cpu.and_then(|c| c.system_cpu_usage).unwrap_or(0),
        pre_system: pre.and_then(|c| c.system_cpu_usage).unwrap_or(0),
        online_cpus: cpu.and_then(|c| c.online_cpus).unwrap_or(1),
        mem_usage: mem.and_then(|m| m.usage).unwrap_or(0),
        // cgroup v2 names it inactive_file, v1 total_inactive_file.
        mem_inactive_file: stat("inactive_file")
            .or_else(|| stat("total_inactive_file"))
            .unwrap_or(0),
        mem_limit: mem.and_then(|m| m.limit).unwrap_or(0),
        net_rx: rx,
        net_tx: tx,
    }
}
