//! Prometheus metrics (`GET /v1/metrics`, OpenMetrics text from the official
//! `prometheus-client`). What happens is counted as it happens (requests,
//! tasks); what is, is read when scraped (deployments and queued tasks from
//! the database and the queue, containers from the inventory, terminals), so
//! a restarted agent reports the same state.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The OpenMetrics text media type the answer is sent as.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The matched route (`/v1/apps/{app}`), `-` when none was reached.
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContainerLabels {
    app: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    app: String,
    service: String,
    container: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubjectLabels {
    subject: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

/// What is counted as it happens.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    tasks: Family<TaskLabels, Counter>,
    task_durations: Family<TaskLabels, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("appos");
        let requests = Family::<RequestLabels, Counter>::default();
        // 0.5 ms to about 16 s.
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let tasks = Family::<TaskLabels, Counter>::default();
        // 50 ms to about 27 min.
        let task_durations = Family::<TaskLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.05, 2.0, 16))
        });
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the answer's head, by route and method",
            durations.clone(),
        );
        registry.register(
            "tasks",
            "Queue tasks run, by kind and outcome",
            tasks.clone(),
        );
        registry.register(
            "task_duration_seconds",
            "How long queue tasks ran, by kind and outcome",
            task_durations.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            tasks,
            task_durations,
        }
    }
}

/// The state read when scraped.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub deployments: Vec<(String, i64)>,
    pub queued_tasks: Vec<(String, i64)>,
    pub containers: Vec<(String, String, i64)>,
    pub terminals: i64,
    /// Latest reading per running container: app, service, container name.
    pub resources: Vec<(String, String, String, appos_proto::StatSample)>,
    /// Exits Docker reported since the agent started, per container: app, service, container name.
    pub exits: Vec<(String, String, String, u64)>,
    /// Days left of each certificate served or watched, at the last check.
    pub cert_days_left: Vec<(String, i64)>,
    /// Firing alerts, by rule.
    pub alerts_firing: Vec<(String, i64)>,
    /// When the last backup succeeded (seconds since the epoch).
    pub last_backup: Option<i64>,
}

impl Metrics {
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let (route, method) = (route.to_string(), method.to_string());
        self.requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                method: method.clone(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels { route, method })
            .observe(took.as_secs_f64());
    }

    pub fn task(&self, kind: &str, outcome: &str, took: Duration) {
        let labels = TaskLabels {
            kind: kind.to_string(),
            outcome: outcome.to_string(),
        };
        self.tasks.get_or_create(&labels).inc();
        self.task_durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// The whole answer: the counted metrics, then the snapshot's.
    pub fn render(&self, now: &Snapshot) -> String {
        let mut scrape = Registry::with_prefix("appos");
        let info = Family::<VersionLabels, Gauge>::default();
        info.get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
        scrape.register("build_info", "The agent's version", info);
        let deployments = Family::<StateLabels, Gauge>::default();
        for (state, n) in &now.deployments {
            deployments
                .get_or_create(&StateLabels {
                    state: state.clone(),
                })
                .set(*n);
        }
        scrape.register("deployments", "Deployment records, by state", deployments);
        let queue = Family::<StateLabels, Gauge>::default();
        for (state, n) in &now.queued_tasks {
            queue
                .get_or_create(&StateLabels {
                    state: state.clone(),
                })
                .set(*n);
        }
        scrape.register("queue_tasks", "Tasks in the queue, by state", queue);
        let containers = Family::<ContainerLabels, Gauge>::default();
        for (app, state, n) in &now.containers {
            containers
                .get_or_create(&ContainerLabels {
                    app: app.clone(),
                    state: state.clone(),
                })
                .set(*n);
        }
        scrape.register(
            "app_containers",
            "Containers of each compose project, by state",
            containers,
        );
        let cpu = Family::<ResourceLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let memory = Family::<ResourceLabels, Gauge>::default();
        let rx = Family::<ResourceLabels, Gauge>::default();
        let tx = Family::<ResourceLabels, Gauge>::default();
        for (app, service, container, s) in &now.resources {
            let l = ResourceLabels {
                app: app.clone(),
                service: service.clone(),
                container: container.clone(),
            };
            cpu.get_or_create(&l).set(s.cpu_percent);
            memory.get_or_create(&l).set(s.memory_bytes as i64);
            rx.get_or_create(&l).set(s.net_rx_bytes as i64);
            tx.get_or_create(&l).set(s.net_tx_bytes as i64);
        }
        scrape.register(
            "container_cpu_percent",
            "CPU of each running container, in percent of one CPU",
            cpu,
        );
        scrape.register(
            "container_memory_bytes",
            "Memory of each running container, less reclaimable page cache",
            memory,
        );
        scrape.register(
            "container_network_receive_bytes",
            "Bytes received since the container started",
            rx,
        );
        scrape.register(
            "container_network_transmit_bytes",
            "Bytes sent since the container started",
            tx,
        );
        let exits = Family::<ResourceLabels, Gauge>::default();
        for (app, service, container, n) in &now.exits {
            exits
                .get_or_create(&ResourceLabels {
                    app: app.clone(),
                    service: service.clone(),
                    container: container.clone(),
                })
                .set(*n as i64);
        }
        scrape.register("container_exits", "Exits Docker reported for each container since the agent started (a restart loop climbs)", exits);
        let certs = Family::<SubjectLabels, Gauge>::default();
        for (subject, days) in &now.cert_days_left {
            certs
                .get_or_create(&SubjectLabels {
                    subject: subject.clone(),
                })
                .set(*days);
        }
        scrape.register(
            "certificate_days_left",
            "Days until each served or watched certificate expires, at the last check",
            certs,
        );
        let alerts = Family::<RuleLabels, Gauge>::default();
        for (rule, n) in &now.alerts_firing {
            alerts
                .get_or_create(&RuleLabels { rule: rule.clone() })
                .set(*n);
        }
        scrape.register("alerts_firing", "Alerts firing, by rule", alerts);
        if let Some(at) = now.last_backup {
            let last = Gauge::<i64>::default();
            last.set(at);
            scrape.register(
                "backup_last_success_timestamp_seconds",
                "When the last backup succeeded (its age: time() minus this)",
                last,
            );
        }
        let terminals = Gauge::<i64>::default();
        terminals.set(now.terminals);
        scrape.register("terminal_sessions", "Terminal sessions open", terminals);

        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        let _ = prometheus_client::encoding::text::encode(&mut out, &scrape);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_and_read_metrics_are_one_openmetrics_answer() {
        let m = Metrics::default();
        m.request("/v1/apps", "GET", 200, Duration::from_millis(3));
        m.request("/v1/apps", "GET", 200, Duration::from_millis(5));
        m.request("-", "GET", 401, Duration::from_millis(1));
        m.task("deploy", "succeeded", Duration::from_secs(2));
        let text = m.render(&Snapshot {
            deployments: vec![("succeeded".into(), 3), ("failed".into(), 1)],
            queued_tasks: vec![("queued".into(), 2)],
            containers: vec![("blog".into(), "running".into(), 2)],
            terminals: 1,
            resources: vec![(
                "blog".into(),
                "web".into(),
                "blog-web-1".into(),
                appos_proto::StatSample {
                    at_ms: 0,
                    cpu_percent: 12.5,
                    memory_bytes: 1024,
                    memory_limit_bytes: 0,
                    net_rx_bytes: 7,
                    net_tx_bytes: 8,
                },
            )],
            exits: vec![("blog".into(), "web".into(), "blog-web-1".into(), 4)],
            cert_days_left: vec![("blog.example.com".into(), 41)],
            alerts_firing: vec![("restart_loop".into(), 1)],
            last_backup: Some(1_796_000_000),
        });
        for line in [
            "appos_http_requests_total{route=\"/v1/apps\",method=\"GET\",status=\"200\"} 2",
            "appos_http_requests_total{route=\"-\",method=\"GET\",status=\"401\"} 1",
            "appos_http_request_duration_seconds_count{route=\"/v1/apps\",method=\"GET\"} 2",
            "appos_tasks_total{kind=\"deploy\",outcome=\"succeeded\"} 1",
            "appos_task_duration_seconds_sum{kind=\"deploy\",outcome=\"succeeded\"} 2.0",
            "appos_deployments{state=\"succeeded\"} 3",
            "appos_deployments{state=\"failed\"} 1",
            "appos_queue_tasks{state=\"queued\"} 2",
            "appos_app_containers{app=\"blog\",state=\"running\"} 2",
            "appos_terminal_sessions 1",
            "appos_container_exits{app=\"blog\",service=\"web\",container=\"blog-web-1\"} 4",
            "appos_certificate_days_left{subject=\"blog.example.com\"} 41",
            "appos_alerts_firing{rule=\"restart_loop\"} 1",
            "appos_backup_last_success_timestamp_seconds 1796000000",
            "appos_container_cpu_percent{app=\"blog\",service=\"web\",container=\"blog-web-1\"} 12.5",
            "appos_container_memory_bytes{app=\"blog\",service=\"web\",container=\"blog-web-1\"} 1024",
            "appos_container_network_receive_bytes{app=\"blog\",service=\"web\",container=\"blog-web-1\"} 7",
            &format!("appos_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")),
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "one EOF, at the end:\n{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
    }
}
