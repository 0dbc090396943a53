//! When alerts fire, repeat and resolve. Pure: the agent gathers the facts
//! (deployments, containers and their exits, memory, disk, certificates),
//! [`conditions`] says which rules hold for which subjects, and [`step`]
//! turns that, against the alerts already open, into changes to record and
//! notices to send.

use std::collections::{HashMap, HashSet};

use appos_proto::alerts::{
    AlertRule, AlertRuleSettings, AlertSeverity, ChannelConfig, ChannelRequest, NoticeKind,
};
use appos_proto::DeploymentState;
use serde_json::json;

/// The rules as shipped; an admin's changes are kept over these.
pub fn default_rules() -> Vec<AlertRuleSettings> {
    AlertRule::ALL.into_iter().map(default_rule).collect()
}

pub fn default_rule(rule: AlertRule) -> AlertRuleSettings {
    const HOUR: u64 = 3600;
    let (threshold, window_secs, repeat_secs) = match rule {
        AlertRule::DeploymentFailed => (0.0, 0, 0),
        AlertRule::RestartLoop => (3.0, 600, HOUR),
        AlertRule::Unhealthy => (0.0, 60, HOUR),
        AlertRule::MemoryHigh => (90.0, 300, HOUR),
        AlertRule::DiskLow => (10.0, 0, 6 * HOUR),
        AlertRule::CertificateExpiring => (30.0, 0, 24 * HOUR),
        AlertRule::BackupFailed => (0.0, 0, 24 * HOUR),
        AlertRule::BackupStale => (2.0, 0, 24 * HOUR),
    };
    AlertRuleSettings {
        rule,
        enabled: true,
        threshold,
        window_secs,
        repeat_secs,
        threshold_unit: rule.threshold_unit().map(str::to_string),
    }
}

/// Why a rule's new settings cannot be taken, naming the field.
pub fn check_rule(s: &AlertRuleSettings) -> Result<(), (&'static str, String)> {
    const WEEK: u64 = 7 * 86_400;
    if !s.threshold.is_finite() || s.threshold < 0.0 {
        return Err(("threshold", "must be a number, 0 or more".into()));
    }
    let max = match s.rule {
        AlertRule::DeploymentFailed | AlertRule::Unhealthy | AlertRule::BackupFailed => 0.0,
        AlertRule::BackupStale => 100.0,
        AlertRule::RestartLoop => 1000.0,
        AlertRule::MemoryHigh | AlertRule::DiskLow => 100.0,
        AlertRule::CertificateExpiring => 365.0,
    };
    if s.threshold > max {
        return Err((
            "threshold",
            if max == 0.0 {
                format!("{} has no threshold", s.rule.as_str())
            } else {
                format!("at most {max} for {}", s.rule.as_str())
            },
        ));
    }
    if s.rule == AlertRule::RestartLoop && s.threshold < 1.0 {
        return Err(("threshold", "at least 1 exit".into()));
    }
    if s.rule == AlertRule::BackupStale && s.threshold < 1.0 {
        return Err((
            "threshold",
            "at least 1 (one interval of the schedule)".into(),
        ));
    }
    if s.rule == AlertRule::RestartLoop && s.window_secs == 0 {
        return Err((
            "window_secs",
            "restart_loop counts exits within a window: at least 1 s".into(),
        ));
    }
    if s.window_secs > WEEK {
        return Err(("window_secs", format!("at most {WEEK} (a week)")));
    }
    if s.repeat_secs != 0 && s.repeat_secs < 60 {
        return Err(("repeat_secs", "0 (once), or at least 60".into()));
    }
    if s.repeat_secs > 30 * 86_400 {
        return Err(("repeat_secs", "at most 2592000 (30 days)".into()));
    }
    Ok(())
}

/// An app's latest deployment.
#[derive(Debug, Clone)]
pub struct DeploymentFact {
    pub app: String,
    pub id: String,
    pub operation: String,
    pub state: DeploymentState,
    pub error: Option<String>,
}

/// A container that exists now.
#[derive(Debug, Clone, Default)]
pub struct ContainerFact {
    pub app: String,
    pub service: String,
    pub name: String,
    /// Its health check says unhealthy.
    pub unhealthy: bool,
    /// When it exited, as Docker's events said (ms), newest last.
    pub exits_ms: Vec<i64>,
    /// Memory in use and its limit (bytes), from the latest stats reading.
    pub memory: Option<(u64, u64)>,
}

#[derive(Debug, Clone)]
pub struct DiskFact {
    pub path: String,
    pub free_bytes: u64,
    pub total_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct CertFact {
    pub subject: String,
    pub days_left: i64,
    pub not_after: i64,
    pub issuer: String,
}

/// Backups: the schedule and how the runs went.
#[derive(Debug, Clone, Default)]
pub struct BackupFact {
    /// The schedule's interval, and since when it is set (ms).
    pub schedule: Option<(u64, i64)>,
    pub last_success_ms: Option<i64>,
    /// The latest backup run, when it failed: its id and error.
    pub last_failed: Option<(String, String)>,
}

/// What the agent knows now, for the rules.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub deployments: Vec<DeploymentFact>,
    pub containers: Vec<ContainerFact>,
    pub disks: Vec<DiskFact>,
    pub certs: Vec<CertFact>,
    pub backups: BackupFact,
}

/// A rule holding for a subject now.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub rule: AlertRule,
    pub subject: String,
    pub app: Option<String>,
    pub severity: AlertSeverity,
    pub summary: String,
    pub details: serde_json::Value,
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0))
}

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1024.0 * 1024.0 * 1024.0))
}

/// Which enabled rules hold for which subjects.
pub fn conditions(facts: &Facts, rules: &[AlertRuleSettings], now_ms: i64) -> Vec<Condition> {
    let mut out = Vec::new();
    for r in rules.iter().filter(|r| r.enabled) {
        match r.rule {
            AlertRule::DeploymentFailed => {
                for d in facts
                    .deployments
                    .iter()
                    .filter(|d| d.state == DeploymentState::Failed)
                {
                    let what = if d.operation == "deploy" {
                        "deployment".to_string()
                    } else {
                        d.operation.clone()
                    };
                    out.push(Condition {
                        rule: r.rule,
                        subject: d.app.clone(),
                        app: Some(d.app.clone()),
                        severity: AlertSeverity::Critical,
                        summary: format!("the {what} of {} failed: {}", d.app, d.error.as_deref().unwrap_or("no reason recorded")),
                        details: json!({ "deployment": d.id, "operation": d.operation, "error": d.error }),
                    });
                }
            }
            AlertRule::RestartLoop => {
                let since = now_ms - (r.window_secs as i64) * 1000;
                for c in &facts.containers {
                    let n = c.exits_ms.iter().filter(|&&t| t > since).count();
                    if n as f64 >= r.threshold {
                        out.push(Condition {
                            rule: r.rule,
                            subject: c.name.clone(),
                            app: Some(c.app.clone()),
                            severity: AlertSeverity::Critical,
                            summary: format!("{} ({}/{}) exited {n} times in the last {}", c.name, c.app, c.service, span(r.window_secs)),
                            details: json!({ "service": c.service, "container": c.name, "exits": n, "window_secs": r.window_secs }),
                        });
                    }
                }
            }
            AlertRule::Unhealthy => {
                for c in facts.containers.iter().filter(|c| c.unhealthy) {
                    out.push(Condition {
                        rule: r.rule,
                        subject: c.name.clone(),
                        app: Some(c.app.clone()),
                        severity: AlertSeverity::Warning,
                        summary: format!("{} ({}/{}) is unhealthy", c.name, c.app, c.service),
                        details: json!({ "service": c.service, "container": c.name }),
                    });
                }
            }
            AlertRule::MemoryHigh => {
                for c in &facts.containers {
                    let Some((used, limit)) = c.memory else {
                        continue;
                    };
                    if limit == 0 {
                        continue;
                    }
                    let percent = used as f64 * 100.0 / limit as f64;
                    if percent >= r.threshold {
                        out.push(Condition {
                            rule: r.rule,
                            subject: c.name.clone(),
                            app: Some(c.app.clone()),
                            severity: if percent >= 98.0 { AlertSeverity::Critical } else { AlertSeverity::Warning },
                            summary: format!("{} ({}/{}) uses {} of its {} memory limit ({percent:.0}%)", c.name, c.app, c.service, mib(used), mib(limit)),
                            details: json!({ "service": c.service, "container": c.name, "used_bytes": used, "limit_bytes": limit }),
                        });
                    }
                }
            }
            AlertRule::DiskLow => {
                for d in &facts.disks {
                    if d.total_bytes == 0 {
                        continue;
                    }
                    let percent = d.free_bytes as f64 * 100.0 / d.total_bytes as f64;
                    if percent < r.threshold {
                        out.push(Condition {
                            rule: r.rule,
                            subject: d.path.clone(),
                            app: None,
                            severity: if percent < r.threshold / 2.0 { AlertSeverity::Critical } else { AlertSeverity::Warning },
                            summary: format!("{} has {} free of {} ({percent:.1}%)", d.path, gib(d.free_bytes), gib(d.total_bytes)),
                            details: json!({ "path": d.path, "free_bytes": d.free_bytes, "total_bytes": d.total_bytes }),
                        });
                    }
                }
            }
            AlertRule::CertificateExpiring => {
                for c in facts
                    .certs
                    .iter()
                    .filter(|c| (c.days_left as f64) <= r.threshold)
                {
                    let left = match c.days_left {
                        n if n < 0 => "has expired".to_string(),
                        0 => "expires today".to_string(),
                        1 => "expires in 1 day".to_string(),
                        n => format!("expires in {n} days"),
                    };
                    let issuer = if c.issuer.is_empty() {
                        String::new()
                    } else {
                        format!(" (issuer {})", c.issuer)
                    };
                    out.push(Condition {
                        rule: r.rule,
                        subject: c.subject.clone(),
                        app: None,
                        severity: if c.days_left <= 7 { AlertSeverity::Critical } else { AlertSeverity::Warning },
                        summary: format!("the certificate of {} {left}{issuer}", c.subject),
                        details: json!({ "days_left": c.days_left, "not_after": c.not_after, "issuer": c.issuer }),
                    });
                }
            }
            AlertRule::BackupFailed => {
                if let Some((run, error)) = &facts.backups.last_failed {
                    out.push(Condition {
                        rule: r.rule,
                        subject: "backup".into(),
                        app: None,
                        severity: AlertSeverity::Critical,
                        summary: format!("the backup failed: {error}"),
                        details: json!({ "run": run, "error": error }),
                    });
                }
            }
            AlertRule::BackupStale => {
                let Some((every, since)) = facts.backups.schedule else {
                    continue;
                };
                let allowed = (every as f64 * r.threshold * 1000.0) as i64;
                // A schedule set after the last success counts from when it was set.
                let from = facts
                    .backups
                    .last_success_ms
                    .map_or(since, |at| at.max(since));
                if now_ms - from > allowed {
                    let summary = match facts.backups.last_success_ms {
                        Some(at) => format!(
                            "the last successful backup is {} old; the schedule says every {}",
                            age(now_ms - at),
                            span(every)
                        ),
                        None => format!(
                            "no backup has succeeded since the schedule (every {}) was set {} ago",
                            span(every),
                            age(now_ms - since)
                        ),
                    };
                    out.push(Condition { rule: r.rule, subject: "backup".into(), app: None, severity: AlertSeverity::Critical, summary, details: json!({ "last_success_ms": facts.backups.last_success_ms, "every_secs": every }) });
                }
            }
        }
    }
    out
}

/// `600` → "10 min".
pub fn span(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 && s > 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A duration in ms, roughly, in the largest unit that gives at least 2.
pub fn age(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        s if s >= 2 * 86_400 => format!("{} d", s / 86_400),
        s if s >= 2 * 3600 => format!("{} h", s / 3600),
        s if s >= 120 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// An alert that is firing, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Open {
    pub id: i64,
    pub rule: AlertRule,
    pub subject: String,
    pub severity: AlertSeverity,
    pub summary: String,
    pub last_sent_ms: i64,
}

/// What to record, and whether to tell anyone.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new alert: record it and send `Firing`.
    Fire(Condition),
    /// An open alert whose facts changed; `notice` when one is due (it got
    /// worse: `Firing`; its repeat came: `Repeat`).
    Update {
        id: i64,
        condition: Condition,
        notice: Option<NoticeKind>,
    },
    /// The condition no longer holds: record it and send `Resolved`.
    Resolve { id: i64 },
}

/// When a rule's condition started holding, for rules that wait
/// `window_secs` before firing; kept by the caller between rounds.
pub type Pending = HashMap<(AlertRule, String), i64>;

/// One round: the conditions holding now against the open alerts.
pub fn step(
    open: &[Open],
    pending: &mut Pending,
    conds: Vec<Condition>,
    rules: &[AlertRuleSettings],
    now_ms: i64,
) -> Vec<Change> {
    let rule = |r: AlertRule| {
        rules
            .iter()
            .find(|s| s.rule == r)
            .cloned()
            .unwrap_or_else(|| default_rule(r))
    };
    let mut changes = Vec::new();
    let mut holding = HashSet::new();
    for c in conds {
        let key = (c.rule, c.subject.clone());
        holding.insert(key.clone());
        let settings = rule(c.rule);
        match open
            .iter()
            .find(|o| o.rule == c.rule && o.subject == c.subject)
        {
            Some(o) => {
                let notice = if c.severity > o.severity {
                    Some(NoticeKind::Firing)
                } else if settings.repeat_secs > 0
                    && now_ms - o.last_sent_ms >= settings.repeat_secs as i64 * 1000
                {
                    Some(NoticeKind::Repeat)
                } else {
                    None
                };
                if notice.is_some() || c.summary != o.summary || c.severity != o.severity {
                    changes.push(Change::Update {
                        id: o.id,
                        condition: c,
                        notice,
                    });
                }
            }
            None => {
                // Restart loops count within their window already: they fire at once.
                let wait = if c.rule == AlertRule::RestartLoop {
                    0
                } else {
                    settings.window_secs as i64 * 1000
                };
                let since = *pending.entry(key).or_insert(now_ms);
                if now_ms - since >= wait {
                    changes.push(Change::Fire(c));
                }
            }
        }
    }
    pending.retain(|k, _| {
        holding.contains(k)
            && !changes
                .iter()
                .any(|ch| matches!(ch, Change::Fire(c) if c.rule == k.0 && c.subject == k.1))
    });
    for o in open {
        if !holding.contains(&(o.rule, o.subject.clone())) {
            changes.push(Change::Resolve { id: o.id });
        }
    }
    changes
}

/// A channel's kind, as listed.
pub fn channel_kind(c: &ChannelConfig) -> &'static str {
    match c {
        ChannelConfig::Webhook { .. } => "webhook",
        ChannelConfig::Ntfy { .. } => "ntfy",
        ChannelConfig::Slack { .. } => "slack",
        ChannelConfig::Discord { .. } => "discord",
        ChannelConfig::Email { .. } => "email",
    }
}

/// Where a channel sends, without its secrets: a URL's scheme, host and
/// port (paths of chat webhooks are their secret), or the SMTP server and
/// recipients.
pub fn channel_target(c: &ChannelConfig) -> String {
    let host_of = |url: &str| match url.parse::<hyper::Uri>() {
        Ok(u) => format!(
            "{}://{}{}/…",
            u.scheme_str().unwrap_or("?"),
            u.host().unwrap_or("?"),
            u.port_u16().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "?".into(),
    };
    match c {
        ChannelConfig::Webhook { url }
        | ChannelConfig::Ntfy { url, .. }
        | ChannelConfig::Slack { url }
        | ChannelConfig::Discord { url } => host_of(url),
        ChannelConfig::Email { host, port, to, .. } => {
            format!("{} via {host}:{port}", to.join(", "))
        }
    }
}

/// Why a channel cannot be added, naming the field.
pub fn check_channel(req: &ChannelRequest) -> Result<(), (&'static str, String)> {
    let n = &req.name;
    if n.is_empty()
        || n.len() > 32
        || !n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || n.starts_with('-')
    {
        return Err((
            "name",
            "1 to 32 lower-case letters, digits and '-', not starting with '-'".into(),
        ));
    }
    let check_url = |field: &'static str, url: &str| -> Result<(), (&'static str, String)> {
        let u: hyper::Uri = url
            .parse()
            .map_err(|_| (field, format!("{url:?} is not a URL")))?;
        if !matches!(u.scheme_str(), Some("http" | "https")) || u.host().is_none_or(str::is_empty) {
            return Err((field, "an http:// or https:// URL with a host".into()));
        }
        Ok(())
    };
    match &req.config {
        ChannelConfig::Webhook { url }
        | ChannelConfig::Slack { url }
        | ChannelConfig::Discord { url } => check_url("config.url", url),
        ChannelConfig::Ntfy { url, token } => {
            check_url("config.url", url)?;
            if url
                .parse::<hyper::Uri>()
                .map(|u| u.path().trim_matches('/').is_empty())
                .unwrap_or(true)
            {
                return Err((
                    "config.url",
                    "the topic's URL, e.g. https://ntfy.sh/my-topic".into(),
                ));
            }
            if token
                .as_deref()
                .is_some_and(|t| t.is_empty() || t.chars().any(|c| c.is_control() || c == ' '))
            {
                return Err(("config.token", "a token without spaces".into()));
            }
            Ok(())
        }
        ChannelConfig::Email {
            host,
            port,
            username,
            password,
            from,
            to,
            ..
        } => {
            if host.is_empty()
                || host.len() > 253
                || !host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':')
            {
                return Err(("config.host", "a host name or address".into()));
            }
            if *port == 0 {
                return Err(("config.port", "a port from 1 to 65535".into()));
            }
            if password.is_some() && username.is_none() {
                return Err(("config.username", "a password needs a user name".into()));
            }
            if from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(("config.from", format!("{from:?} is not an email address")));
            }
            if to.is_empty() || to.len() > 20 {
                return Err(("config.to", "1 to 20 recipients".into()));
            }
            if let Some(bad) = to.iter().find(|t| t.parse::<lettre::Address>().is_err()) {
                return Err(("config.to", format!("{bad:?} is not an email address")));
            }
            Ok(())
        }
    }
}

/// A notice as one line of text, for chat channels and email subjects.
pub fn headline(
    notice: NoticeKind,
    severity: AlertSeverity,
    server: &str,
    summary: &str,
) -> String {
    let tag = match (notice, severity) {
        (NoticeKind::Resolved, _) => "RESOLVED",
        (_, AlertSeverity::Critical) => "CRITICAL",
        (_, AlertSeverity::Warning) => "WARNING",
    };
    let again = if notice == NoticeKind::Repeat {
        " (still)"
    } else {
        ""
    };
    format!("[{tag}] {server}: {summary}{again}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn rules() -> Vec<AlertRuleSettings> {
        default_rules()
    }

    fn container(name: &str) -> ContainerFact {
        ContainerFact {
            app: "blog".into(),
            service: "web".into(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn subjects(c: &[Condition]) -> Vec<(AlertRule, &str, AlertSeverity)> {
        c.iter()
            .map(|c| (c.rule, c.subject.as_str(), c.severity))
            .collect()
    }

    #[test]
    fn each_rule_holds_past_its_threshold_and_not_before() {
        let now = 100 * MIN;
        let mut loop3 = container("blog-web-1");
        loop3.exits_ms = vec![now - 11 * MIN, now - 3 * MIN, now - 2 * MIN, now - MIN];
        let mut loop2 = container("blog-db-1");
        loop2.exits_ms = vec![now - 11 * MIN, now - 12 * MIN, now - MIN, now - MIN / 2];
        let mut sick = container("blog-api-1");
        sick.unhealthy = true;
        let mut full = container("blog-cache-1");
        full.memory = Some((950 << 20, 1000 << 20));
        let mut almost = container("blog-worker-1");
        almost.memory = Some((890 << 20, 1000 << 20));
        let mut nolimit = container("blog-x-1");
        nolimit.memory = Some((5, 0));
        let gib = 1u64 << 30;
        let facts = Facts {
            deployments: vec![
                DeploymentFact {
                    app: "blog".into(),
                    id: "d1".into(),
                    operation: "deploy".into(),
                    state: DeploymentState::Failed,
                    error: Some("pull: image not found".into()),
                },
                DeploymentFact {
                    app: "shop".into(),
                    id: "d2".into(),
                    operation: "deploy".into(),
                    state: DeploymentState::Succeeded,
                    error: None,
                },
            ],
            containers: vec![loop3, loop2, sick, full, almost, nolimit],
            disks: vec![
                DiskFact {
                    path: "/data".into(),
                    free_bytes: 9 * gib,
                    total_bytes: 100 * gib,
                },
                DiskFact {
                    path: "/big".into(),
                    free_bytes: 11 * gib,
                    total_bytes: 100 * gib,
                },
                DiskFact {
                    path: "/tiny".into(),
                    free_bytes: 4 * gib,
                    total_bytes: 100 * gib,
                },
            ],
            certs: vec![
                CertFact {
                    subject: "a.example".into(),
                    days_left: 30,
                    not_after: 0,
                    issuer: "R3".into(),
                },
                CertFact {
                    subject: "b.example".into(),
                    days_left: 31,
                    not_after: 0,
                    issuer: "R3".into(),
                },
                CertFact {
                    subject: "c.example".into(),
                    days_left: 7,
                    not_after: 0,
                    issuer: String::new(),
                },
            ],
            backups: BackupFact::default(),
        };
        let got = conditions(&facts, &rules(), now);
        use AlertRule::*;
        use AlertSeverity::*;
        assert_eq!(
            subjects(&got),
            vec![
                (DeploymentFailed, "blog", Critical),
                (RestartLoop, "blog-web-1", Critical),
                (Unhealthy, "blog-api-1", Warning),
                (MemoryHigh, "blog-cache-1", Warning),
                (DiskLow, "/data", Warning),
                (DiskLow, "/tiny", Critical),
                (CertificateExpiring, "a.example", Warning),
                (CertificateExpiring, "c.example", Critical),
            ]
        );
        let summaries: Vec<&str> = got.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(
            summaries,
            vec![
                "the deployment of blog failed: pull: image not found",
                "blog-web-1 (blog/web) exited 3 times in the last 10 min",
                "blog-api-1 (blog/web) is unhealthy",
                "blog-cache-1 (blog/web) uses 950 MiB of its 1000 MiB memory limit (95%)",
                "/data has 9.0 GiB free of 100.0 GiB (9.0%)",
                "/tiny has 4.0 GiB free of 100.0 GiB (4.0%)",
                "the certificate of a.example expires in 30 days (issuer R3)",
                "the certificate of c.example expires in 7 days",
            ]
        );
    }

    #[test]
    fn backups_alert_when_the_last_failed_or_the_schedule_fell_behind() {
        use AlertRule::*;
        const H: i64 = 3_600_000;
        let now = 1000 * H;
        let day = 86_400;
        let summaries = |b: BackupFact| {
            conditions(
                &Facts {
                    backups: b,
                    ..Default::default()
                },
                &rules(),
                now,
            )
            .into_iter()
            .map(|c| (c.rule, c.summary))
            .collect::<Vec<_>>()
        };
        // Daily, last success 47 h ago: within twice the interval.
        assert_eq!(
            summaries(BackupFact {
                schedule: Some((day, now - 100 * H)),
                last_success_ms: Some(now - 47 * H),
                last_failed: None
            }),
            vec![]
        );
        assert_eq!(
            summaries(BackupFact {
                schedule: Some((day, now - 100 * H)),
                last_success_ms: Some(now - 49 * H),
                last_failed: Some(("r1".into(), "restic: repository is locked".into()))
            }),
            vec![
                (
                    BackupFailed,
                    "the backup failed: restic: repository is locked".to_string()
                ),
                (
                    BackupStale,
                    "the last successful backup is 2 d old; the schedule says every 1 d"
                        .to_string()
                )
            ]
        );
        // Set 49 h ago, never succeeded.
        assert_eq!(
            summaries(BackupFact {
                schedule: Some((day, now - 49 * H)),
                last_success_ms: None,
                last_failed: None
            }),
            vec![(
                BackupStale,
                "no backup has succeeded since the schedule (every 1 d) was set 2 d ago"
                    .to_string()
            )]
        );
        // A schedule set an hour ago does not make an old success stale yet.
        assert_eq!(
            summaries(BackupFact {
                schedule: Some((day, now - H)),
                last_success_ms: Some(now - 300 * H),
                last_failed: None
            }),
            vec![]
        );
        // No schedule: never stale.
        assert_eq!(
            summaries(BackupFact {
                schedule: None,
                last_success_ms: None,
                last_failed: None
            }),
            vec![]
        );
    }

    #[test]
    fn a_disabled_rule_holds_for_nothing() {
        let mut r = rules();
        for s in &mut r {
            s.enabled = s.rule != AlertRule::DiskLow;
        }
        let facts = Facts {
            disks: vec![DiskFact {
                path: "/".into(),
                free_bytes: 1,
                total_bytes: 100,
            }],
            ..Default::default()
        };
        assert_eq!(conditions(&facts, &r, 0), vec![]);
    }

    fn cond(rule: AlertRule, subject: &str, severity: AlertSeverity, summary: &str) -> Condition {
        Condition {
            rule,
            subject: subject.into(),
            app: None,
            severity,
            summary: summary.into(),
            details: json!({}),
        }
    }

    fn open(
        id: i64,
        rule: AlertRule,
        subject: &str,
        severity: AlertSeverity,
        summary: &str,
        last_sent_ms: i64,
    ) -> Open {
        Open {
            id,
            rule,
            subject: subject.into(),
            severity,
            summary: summary.into(),
            last_sent_ms,
        }
    }

    #[test]
    fn an_alert_fires_once_repeats_on_schedule_escalates_and_resolves() {
        use AlertRule::*;
        use AlertSeverity::*;
        let r = rules();
        let mut p = Pending::new();
        let c = || cond(RestartLoop, "w", Critical, "s");
        // Fires at once.
        assert_eq!(step(&[], &mut p, vec![c()], &r, 0), vec![Change::Fire(c())]);
        let o = [open(1, RestartLoop, "w", Critical, "s", 0)];
        // Still holding, same facts, before the repeat: nothing.
        assert_eq!(step(&o, &mut p, vec![c()], &r, 59 * MIN), vec![]);
        // New facts: recorded quietly.
        let c2 = cond(RestartLoop, "w", Critical, "s2");
        assert_eq!(
            step(&o, &mut p, vec![c2.clone()], &r, 59 * MIN),
            vec![Change::Update {
                id: 1,
                condition: c2,
                notice: None
            }]
        );
        // An hour after the last notice: again.
        assert_eq!(
            step(&o, &mut p, vec![c()], &r, 60 * MIN),
            vec![Change::Update {
                id: 1,
                condition: c(),
                notice: Some(NoticeKind::Repeat)
            }]
        );
        // Worse: a firing notice at once.
        let o = [open(2, DiskLow, "/", Warning, "s", 0)];
        let worse = cond(DiskLow, "/", Critical, "s");
        assert_eq!(
            step(&o, &mut p, vec![worse.clone()], &r, MIN),
            vec![Change::Update {
                id: 2,
                condition: worse,
                notice: Some(NoticeKind::Firing)
            }]
        );
        // Better again: recorded, nobody told.
        let o = [open(2, DiskLow, "/", Critical, "s", MIN)];
        let better = cond(DiskLow, "/", Warning, "s");
        assert_eq!(
            step(&o, &mut p, vec![better.clone()], &r, 2 * MIN),
            vec![Change::Update {
                id: 2,
                condition: better,
                notice: None
            }]
        );
        // Gone: resolved.
        assert_eq!(
            step(&o, &mut p, vec![], &r, 3 * MIN),
            vec![Change::Resolve { id: 2 }]
        );
        // A rule that sends once never repeats.
        let o = [open(3, DeploymentFailed, "blog", Critical, "s", 0)];
        assert_eq!(
            step(
                &o,
                &mut p,
                vec![cond(DeploymentFailed, "blog", Critical, "s")],
                &r,
                1000 * MIN
            ),
            vec![]
        );
    }

    #[test]
    fn a_rule_with_a_window_fires_only_after_holding_that_long_without_a_break() {
        use AlertRule::*;
        let r = rules(); // unhealthy: 60 s
        let mut p = Pending::new();
        let c = || cond(Unhealthy, "api", AlertSeverity::Warning, "s");
        assert_eq!(step(&[], &mut p, vec![c()], &r, 0), vec![]);
        assert_eq!(step(&[], &mut p, vec![c()], &r, 59_000), vec![]);
        // A break starts the wait over.
        assert_eq!(step(&[], &mut p, vec![], &r, 59_500), vec![]);
        assert_eq!(step(&[], &mut p, vec![c()], &r, 60_000), vec![]);
        assert_eq!(step(&[], &mut p, vec![c()], &r, 119_999), vec![]);
        assert_eq!(
            step(&[], &mut p, vec![c()], &r, 120_000),
            vec![Change::Fire(c())]
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn rule_settings_are_checked_field_by_field() {
        let with = |rule: AlertRule, f: &dyn Fn(&mut AlertRuleSettings)| {
            let mut s = default_rule(rule);
            f(&mut s);
            check_rule(&s).map_err(|(field, why)| format!("{field}: {why}"))
        };
        use AlertRule::*;
        for rule in AlertRule::ALL {
            assert_eq!(with(rule, &|_| {}), Ok(()), "{rule:?} defaults");
        }
        type Edit = Box<dyn Fn(&mut AlertRuleSettings)>;
        let cases: Vec<(AlertRule, Edit, &str)> = vec![
            (
                MemoryHigh,
                Box::new(|s| s.threshold = 101.0),
                "threshold: at most 100 for memory_high",
            ),
            (
                MemoryHigh,
                Box::new(|s| s.threshold = f64::NAN),
                "threshold: must be a number, 0 or more",
            ),
            (
                DiskLow,
                Box::new(|s| s.threshold = -1.0),
                "threshold: must be a number, 0 or more",
            ),
            (
                Unhealthy,
                Box::new(|s| s.threshold = 1.0),
                "threshold: unhealthy has no threshold",
            ),
            (
                RestartLoop,
                Box::new(|s| s.threshold = 0.0),
                "threshold: at least 1 exit",
            ),
            (
                RestartLoop,
                Box::new(|s| s.window_secs = 0),
                "window_secs: restart_loop counts exits within a window: at least 1 s",
            ),
            (
                DiskLow,
                Box::new(|s| s.window_secs = 8 * 86_400),
                "window_secs: at most 604800 (a week)",
            ),
            (
                DiskLow,
                Box::new(|s| s.repeat_secs = 59),
                "repeat_secs: 0 (once), or at least 60",
            ),
            (
                CertificateExpiring,
                Box::new(|s| s.threshold = 366.0),
                "threshold: at most 365 for certificate_expiring",
            ),
        ];
        for (rule, f, want) in cases {
            assert_eq!(with(rule, &*f), Err(want.to_string()), "{rule:?}");
        }
    }

    #[test]
    fn channels_are_checked_field_by_field_and_listed_without_secrets() {
        let email = |f: &dyn Fn(&mut ChannelConfig)| {
            let mut c = ChannelConfig::Email {
                host: "smtp.example.com".into(),
                port: 587,
                security: Default::default(),
                username: Some("me".into()),
                password: Some("secret".into()),
                from: "AppOS <appos@example.com>".into(),
                to: vec!["ops@example.com".into()],
            };
            f(&mut c);
            c
        };
        let req = |name: &str, config: ChannelConfig| ChannelRequest {
            name: name.into(),
            config,
        };
        let hook = |url: &str| ChannelConfig::Webhook { url: url.into() };
        let ok: Vec<ChannelRequest> = vec![
            req("ops", hook("https://hooks.example.com/T1/abc")),
            req(
                "a-1",
                ChannelConfig::Ntfy {
                    url: "https://ntfy.sh/appos-alerts".into(),
                    token: Some("tk_1".into()),
                },
            ),
            req("mail", email(&|_| {})),
        ];
        for r in &ok {
            assert_eq!(check_channel(r), Ok(()), "{r:?}");
        }
        let bad: Vec<(ChannelRequest, &str, &str)> = vec![
            (
                req("", hook("https://x.example")),
                "name",
                "1 to 32 lower-case letters, digits and '-', not starting with '-'",
            ),
            (
                req("Ops", hook("https://x.example")),
                "name",
                "1 to 32 lower-case letters, digits and '-', not starting with '-'",
            ),
            (
                req("-x", hook("https://x.example")),
                "name",
                "1 to 32 lower-case letters, digits and '-', not starting with '-'",
            ),
            (
                req("ops", hook("ftp://files.example/x")),
                "config.url",
                "an http:// or https:// URL with a host",
            ),
            (
                req("ops", hook("file:///etc/passwd")),
                "config.url",
                "\"file:///etc/passwd\" is not a URL",
            ),
            (
                req("ops", hook("not a url")),
                "config.url",
                "\"not a url\" is not a URL",
            ),
            (
                req(
                    "ops",
                    ChannelConfig::Ntfy {
                        url: "https://ntfy.sh/".into(),
                        token: None,
                    },
                ),
                "config.url",
                "the topic's URL, e.g. https://ntfy.sh/my-topic",
            ),
            (
                req(
                    "ops",
                    email(&|c| {
                        if let ChannelConfig::Email { to, .. } = c {
                            to.clear()
                        }
                    }),
                ),
                "config.to",
                "1 to 20 recipients",
            ),
            (
                req(
                    "ops",
                    email(&|c| {
                        if let ChannelConfig::Email { to, .. } = c {
                            to[0] = "ops".into()
                        }
                    }),
                ),
                "config.to",
                "\"ops\" is not an email address",
            ),
            (
                req(
                    "ops",
                    email(&|c| {
                        if let ChannelConfig::Email { from, .. } = c {
                            *from = "x@".into()
                        }
                    }),
                ),
                "config.from",
                "\"x@\" is not an email address",
            ),
            (
                req(
                    "ops",
                    email(&|c| {
                        if let ChannelConfig::Email { username, .. } = c {
                            *username = None
                        }
                    }),
                ),
                "config.username",
                "a password needs a user name",
            ),
            (
                req(
                    "ops",
                    email(&|c| {
                        if let ChannelConfig::Email { host, .. } = c {
                            *host = "smtp;rm -rf".into()
                        }
                    }),
                ),
                "config.host",
                "a host name or address",
            ),
        ];
        for (r, field, why) in bad {
            assert_eq!(check_channel(&r), Err((field, why.to_string())), "{r:?}");
        }
        assert_eq!(channel_target(&ok[0].config), "https://hooks.example.com/…");
        assert_eq!(
            channel_target(&hook("http://127.0.0.1:8080/x?token=1")),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(
            channel_target(&ok[2].config),
            "ops@example.com via smtp.example.com:587"
        );
        assert_eq!(channel_kind(&ok[1].config), "ntfy");
    }

    #[test]
    fn headlines_say_how_bad_and_where() {
        use AlertSeverity::*;
        use NoticeKind::*;
        for (n, s, want) in [
            (Firing, Critical, "[CRITICAL] srv: x"),
            (Firing, Warning, "[WARNING] srv: x"),
            (Repeat, Warning, "[WARNING] srv: x (still)"),
            (Resolved, Critical, "[RESOLVED] srv: x"),
        ] {
            assert_eq!(headline(n, s, "srv", "x"), want);
        }
        for (secs, want) in [
            (600, "10 min"),
            (3600, "1 h"),
            (86_400, "1 d"),
            (90, "90 s"),
            (0, "0 s"),
        ] {
            assert_eq!(span(secs), want);
        }
        for (ms, want) in [
            (59_000, "59 s"),
            (119_000, "119 s"),
            (120_000, "2 min"),
            (7_199_000, "119 min"),
            (7_200_000, "2 h"),
            (176_400_000, "2 d"),
            (-5, "0 s"),
        ] {
            assert_eq!(age(ms), want);
        }
    }
}
