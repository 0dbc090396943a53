//! Container resource readings, pure: a `StatSample` from one stats answer
//! (the formulas `docker stats` uses), and the history kept per container,
//! one point a minute for 24 hours.

use std::collections::VecDeque;

use appos_proto::StatSample;

/// What one answer of Docker's stats stream says, as numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    pub cpu_total: u64,
    pub pre_cpu_total: u64,
    pub system: u64,
    pub pre_system: u64,
    pub online_cpus: u32,
    pub mem_usage: u64,
    /// Page cache the kernel can take back (`inactive_file`, or cgroup v1's `total_inactive_file`).
    pub mem_inactive_file: u64,
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
}

/// The sample of a reading taken at `at_ms`.
pub fn sample(at_ms: i64, r: &Reading) -> StatSample {
    let cpu = r.cpu_total.saturating_sub(r.pre_cpu_total) as f64;
    let system = r.system.saturating_sub(r.pre_system) as f64;
    let cpu_percent = if cpu > 0.0 && system > 0.0 {
        cpu / system * f64::from(r.online_cpus.max(1)) * 100.0
    } else {
        0.0
    };
    StatSample {
        at_ms,
        cpu_percent,
        memory_bytes: r.mem_usage.saturating_sub(r.mem_inactive_file),
        memory_limit_bytes: r.mem_limit,
        net_rx_bytes: r.net_rx,
        net_tx_bytes: r.net_tx,
    }
}

/// Points kept: a day of minutes.
pub const HISTORY_POINTS: usize = 24 * 60;
const MINUTE_MS: i64 = 60_000;

/// One point a minute: CPU averaged over the minute, memory at its highest,
/// network counters as last read.
#[derive(Debug, Default)]
pub struct History {
    points: VecDeque<StatSample>,
    open: Option<(StatSample, u32)>,
}

impl History {
    pub fn push(&mut self, s: &StatSample) {
        let minute = s.at_ms - s.at_ms.rem_euclid(MINUTE_MS);
        match &mut self.open {
            Some((acc, n)) if acc.at_ms == minute => {
                acc.cpu_percent =
                    (acc.cpu_percent * f64::from(*n) + s.cpu_percent) / f64::from(*n + 1);
                acc.memory_bytes = acc.memory_bytes.max(s.memory_bytes);
                acc.memory_limit_bytes = s.memory_limit_bytes;
                acc.net_rx_bytes = s.net_rx_bytes;
                acc.net_tx_bytes = s.net_tx_bytes;
                *n += 1;
            }
            _ => {
                if let Some((done, _)) = self.open.take() {
                    self.points.push_back(done);
                    while self.points.len() >= HISTORY_POINTS {
                        self.points.pop_front();
                    }
                }
                self.open = Some((
                    StatSample {
                        at_ms: minute,
                        ..s.clone()
                    },
                    1,
                ));
            }
        }
    }

    /// The points, oldest first, the current minute last.
    pub fn points(&self) -> Vec<StatSample> {
        self.points
            .iter()
            .cloned()
            .chain(self.open.as_ref().map(|(s, _)| s.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_use_docker_stats_formulas() {
        let r = |cpu: u64, pre: u64, sys: u64, presys: u64, cpus: u32| Reading {
            cpu_total: cpu,
            pre_cpu_total: pre,
            system: sys,
            pre_system: presys,
            online_cpus: cpus,
            ..Default::default()
        };
        for (reading, percent) in [
            // One CPU of two busy over the interval: 100 %.
            (r(1_500, 500, 12_000, 10_000, 2), 100.0),
            // Both busy: 200 %.
            (r(2_500, 500, 12_000, 10_000, 2), 200.0),
            (r(500, 500, 12_000, 10_000, 2), 0.0),
            // The first answer has no previous reading.
            (r(500, 0, 12_000, 0, 2), 500.0 / 12_000.0 * 2.0 * 100.0),
            // A counter that went back (a restart): nothing, not a negative.
            (r(100, 500, 12_000, 10_000, 2), 0.0),
            (r(1_500, 500, 10_000, 10_000, 2), 0.0),
        ] {
            assert!(
                (sample(0, &reading).cpu_percent - percent).abs() < 1e-9,
                "{reading:?}"
            );
        }
        let m = sample(
            7,
            &Reading {
                mem_usage: 100 << 20,
                mem_inactive_file: 30 << 20,
                mem_limit: 1 << 30,
                net_rx: 5,
                net_tx: 6,
                ..Default::default()
            },
        );
        assert_eq!(
            (
                m.at_ms,
                m.memory_bytes,
                m.memory_limit_bytes,
                m.net_rx_bytes,
                m.net_tx_bytes
            ),
            (7, 70 << 20, 1 << 30, 5, 6)
        );
        let odd = sample(
            0,
            &Reading {
                mem_usage: 10,
                mem_inactive_file: 20,
                ..Default::default()
            },
        );
        assert_eq!(odd.memory_bytes, 0);
    }

    fn s(at_ms: i64, cpu: f64, mem: u64, rx: u64) -> StatSample {
        StatSample {
            at_ms,
            cpu_percent: cpu,
            memory_bytes: mem,
            memory_limit_bytes: 100,
            net_rx_bytes: rx,
            net_tx_bytes: 0,
        }
    }

    #[test]
    fn history_keeps_a_point_a_minute_for_a_day() {
        let mut h = History::default();
        h.push(&s(60_000, 10.0, 5, 1));
        h.push(&s(61_000, 30.0, 9, 2));
        h.push(&s(119_999, 20.0, 7, 3));
        h.push(&s(120_000, 50.0, 1, 4));
        let p = h.points();
        assert_eq!(p.len(), 2);
        assert_eq!(
            (
                p[0].at_ms,
                p[0].cpu_percent,
                p[0].memory_bytes,
                p[0].net_rx_bytes
            ),
            (60_000, 20.0, 9, 3)
        );
        assert_eq!(
            (p[1].at_ms, p[1].cpu_percent, p[1].memory_bytes),
            (120_000, 50.0, 1)
        );
        for m in 3..(HISTORY_POINTS as i64 + 10) {
            h.push(&s(m * 60_000, 1.0, 1, 1));
        }
        let p = h.points();
        assert_eq!(p.len(), HISTORY_POINTS);
        assert_eq!(
            p.last().map(|x| x.at_ms),
            Some((HISTORY_POINTS as i64 + 9) * 60_000)
        );
        assert!(p.windows(2).all(|w| w[1].at_ms - w[0].at_ms == 60_000));
    }
}
