//! Alerts: every `alert_check` (and at once when Docker reports an exit or
//! a deployment ends) the agent gathers what it knows (latest deployments,
//! containers with their exits and health, memory readings, the data
//! dir's free space, certificates), `core::alerts` decides what fired,
//! repeats or resolved, the result is recorded, published on the event
//! stream as `alert`, and a `notify` task per channel is queued, so a
//! notice survives a restart and a channel that is down is tried again.

use std::collections::HashMap;

use appos_proto::alerts::{
    Alert, AlertNotice, AlertRule, AlertRuleSettings, AlertRuleUpdate, Channel, ChannelConfig,
    ChannelRequest, NoticeKind,
};
use appos_proto::ProblemCode;
use tokio_util::sync::CancellationToken;

use crate::core::alerts::{
    self as rules, BackupFact, Change, ContainerFact, DeploymentFact, DiskFact, Facts,
};
use crate::error::{AgentError, Result};
use crate::infra::db;
use crate::infra::queue::{NewTask, Queue as _};
use crate::services::tokens::Principal;
use crate::state::Shared;

/// The task kind that sends one notice through one channel.
pub const NOTIFY: &str = "notify";
/// The channel `APPOS_ALERT_WEBHOOK` sets; no channel added by hand may take the name.
pub const CONFIGURED: &str = "config";
/// Resolved alerts are kept this long.
const KEEP_RESOLVED_MS: i64 = 30 * 86_400_000;
/// Runs rounds until `stop`: every `alert_check`, and when woken.
pub async fn watch(state: Shared, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(state.config.alert_check) => {}
            _ = state.alerts.wake.notified() => {
                // Let a burst of events (a crash loop, a compose run) land first.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
        if let Err(error) = evaluate(&state).await {
            tracing::warn!(%error, "cannot evaluate the alert rules");
        }
    }
}

async fn gather(state: &Shared) -> Facts {
    let deployments = match db::call(&state.db, db::deployments::latest_by_app).await {
        Ok(d) => d
            .into_iter()
            .map(|(app, d)| DeploymentFact {
                app,
                id: d.id,
                operation: d.operation.as_str().to_string(),
                state: d.state,
                error: d.error,
            })
            .collect(),
        Err(error) => {
            tracing::debug!(%error, "reading the latest deployments for the alert rules");
            Vec::new()
        }
    };
    let memory: HashMap<String, (u64, u64)> = state
        .stats
        .latest()
        .into_iter()
        .map(|(r, s)| (r.id, (s.memory_bytes, s.memory_limit_bytes)))
        .collect();
    let mut containers = Vec::new();
    match state.inventory.projects(&state.docker).await {
        Ok(apps) => {
            for app in apps.iter() {
                for svc in &app.services {
                    for c in &svc.containers {
                        containers.push(ContainerFact {
                            app: app.name.clone(),
                            service: svc.name.clone(),
                            name: c.name.clone(),
                            unhealthy: c.state == "running" && c.status.contains("(unhealthy)"),
                            exits_ms: state.alerts.exits_of(&c.id),
                            memory: memory.get(&c.id).copied(),
                        });
                    }
                }
            }
        }
        Err(error) => tracing::debug!(%error, "reading the containers for the alert rules"),
    }
    let mut disks = Vec::new();
    match rustix::fs::statvfs(&state.config.data_dir) {
        Ok(v) => disks.push(DiskFact {
            path: state.config.data_dir.display().to_string(),
            free_bytes: v.f_bavail * v.f_frsize,
            total_bytes: v.f_blocks * v.f_frsize,
        }),
        Err(error) => tracing::debug!(%error, "reading the data dir's free space"),
    }
    let certs = state.alerts.certs();
    let backups = match db::call(&state.db, |db| {
        Ok((db::backups::schedule(db)?, db::backups::history(db)?))
    })
    .await
    {
        Ok((schedule, h)) => BackupFact {
            schedule: schedule.map(|(s, since)| (s.every_secs, since)),
            last_success_ms: h.last_success_ms,
            last_failed: h.last_failed,
        },
        Err(error) => {
            tracing::debug!(%error, "reading the backups for the alert rules");
            BackupFact::default()
        }
    };
    Facts {
        deployments,
        containers,
        disks,
        certs,
        backups,
    }
}

/// One round of the rules.
pub async fn evaluate(state: &Shared) -> Result<()> {
    let _round = state.alerts.round().await;
    let facts = gather(state).await;
    let now = state.clock.now_ms();
    let (settings, open) = db::call(&state.db, |db| {
        Ok((db::alerts::rules(db)?, db::alerts::open(db)?))
    })
    .await?;
    let conds = rules::conditions(&facts, &settings, now);
    let changes = {
        let mut pending = state.alerts.pending();
        rules::step(&open, &mut pending, conds, &settings, now)
    };
    for change in changes {
        let (alert, notice) = match change {
            Change::Fire(c) => (
                db::call(&state.db, move |db| db::alerts::fire(db, &c, now)).await?,
                Some(NoticeKind::Firing),
            ),
            Change::Update {
                id,
                condition,
                notice,
            } => (
                db::call(&state.db, move |db| {
                    db::alerts::update(db, id, &condition, notice.is_some(), now)
                })
                .await?,
                notice,
            ),
            Change::Resolve { id } => (
                db::call(&state.db, move |db| db::alerts::resolve(db, id, now)).await?,
                Some(NoticeKind::Resolved),
            ),
        };
        let (Some(alert), Some(notice)) = (alert, notice) else {
            continue;
        };
        tracing::warn!(rule = alert.rule.as_str(), subject = %alert.subject, notice = ?notice, "{}", alert.summary);
        send(
            state,
            AlertNotice {
                notice,
                server: state.alerts.server.clone(),
                alert,
            },
        )
        .await;
    }
    db::call(&state.db, move |db| {
        db::alerts::prune(db, now - KEEP_RESOLVED_MS)
    })
    .await?;
    Ok(())
}

/// Publishes a notice and queues its sending through every channel.
async fn send(state: &Shared, notice: AlertNotice) {
    let data = serde_json::to_value(&notice).unwrap_or_default();
    let (s, d, app, now) = (
        state.clone(),
        data.clone(),
        notice.alert.app.clone(),
        state.clock.now_ms(),
    );
    let _ = db::call(&state.db, move |db| {
        s.events.publish(db, now, "alert", app.as_deref(), d);
        Ok(())
    })
    .await;
    let mut names: Vec<String> = match db::call(&state.db, db::alerts::channels).await {
        Ok(c) => c.into_iter().map(|c| c.name).collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot read the alert channels");
            Vec::new()
        }
    };
    if state.config.alert_webhook.is_some() {
        names.push(CONFIGURED.to_string());
    }
    for channel in names {
        let task = NewTask {
            kind: NOTIFY.into(),
            app: None,
            payload: serde_json::json!({ "channel": channel, "notice": data }),
            max_attempts: 5,
        };
        if let Err(error) = state.queue.enqueue(task).await {
            tracing::warn!(%error, channel, "cannot queue an alert notice");
        }
    }
    state.queue_wakeup.notify_waiters();
}

/// The channel's settings: one added by hand, or the configured webhook.
pub async fn channel_config(state: &Shared, name: &str) -> Result<Option<ChannelConfig>> {
    if name == CONFIGURED {
        return Ok(state
            .config
            .alert_webhook
            .clone()
            .map(|url| ChannelConfig::Webhook { url }));
    }
    let n = name.to_string();
    Ok(db::call(&state.db, move |db| db::alerts::channel(db, &n))
        .await?
        .map(|c| c.config))
}

/// Alerts, firing first; resolved ones too unless `firing_only`.
pub async fn list(state: &Shared, firing_only: bool) -> Result<Vec<Alert>> {
    Ok(db::call(&state.db, move |db| db::alerts::list(db, firing_only, 200)).await?)
}

pub async fn rules(state: &Shared) -> Result<Vec<AlertRuleSettings>> {
    Ok(db::call(&state.db, db::alerts::rules).await?)
}

/// Changes a rule's settings; the next round applies them.
pub async fn set_rule(
    state: &Shared,
    who: &Principal,
    rule: &str,
    update: AlertRuleUpdate,
) -> Result<AlertRuleSettings> {
    who.require_admin("change alert rules")?;
    let Some(rule) = AlertRule::parse(rule) else {
        let known: Vec<&str> = AlertRule::ALL.iter().map(|r| r.as_str()).collect();
        return Err(AgentError::invalid(
            "rule",
            format!("no rule {rule:?}; the rules are {}", known.join(", ")),
        ));
    };
    let mut s = rules(state)
        .await?
        .into_iter()
        .find(|s| s.rule == rule)
        .unwrap_or_else(|| rules::default_rule(rule));
    if let Some(v) = update.enabled {
        s.enabled = v;
    }
    if let Some(v) = update.threshold {
        s.threshold = v;
    }
    if let Some(v) = update.window_secs {
        s.window_secs = v;
    }
    if let Some(v) = update.repeat_secs {
        s.repeat_secs = v;
    }
    rules::check_rule(&s).map_err(|(field, why)| AgentError::invalid(field, why))?;
    let (saved, actor, now) = (s.clone(), who.name.clone(), state.clock.now());
    db::call(&state.db, move |db| {
        db::alerts::set_rule(db, &saved, &actor, now)
    })
    .await?;
    state.alerts.wake.notify_one();
    Ok(s)
}

fn listed(name: String, config: &ChannelConfig, created_at: i64, configured: bool) -> Channel {
    Channel {
        name,
        kind: rules::channel_kind(config).to_string(),
        target: rules::channel_target(config),
        created_at,
        configured,
    }
}

pub async fn channels(state: &Shared) -> Result<Vec<Channel>> {
    let rows = db::call(&state.db, db::alerts::channels).await?;
    let mut out: Vec<Channel> = rows
        .into_iter()
        .map(|r| listed(r.name, &r.config, r.created_at, false))
        .collect();
    if let Some(url) = &state.config.alert_webhook {
        out.insert(
            0,
            listed(
                CONFIGURED.into(),
                &ChannelConfig::Webhook { url: url.clone() },
                state.started_at,
                true,
            ),
        );
    }
    Ok(out)
}

pub async fn add_channel(state: &Shared, who: &Principal, req: ChannelRequest) -> Result<Channel> {
    who.require_admin("add alert channels")?;
    rules::check_channel(&req).map_err(|(field, why)| AgentError::invalid(field, why))?;
    if req.name == CONFIGURED {
        return Err(AgentError::invalid(
            "name",
            format!("{CONFIGURED} is the channel APPOS_ALERT_WEBHOOK sets; choose another name"),
        ));
    }
    let target = rules::channel_target(&req.config);
    let (r, t, actor, now) = (
        req.clone(),
        target.clone(),
        who.name.clone(),
        state.clock.now(),
    );
    if !db::call(&state.db, move |db| {
        db::alerts::add_channel(db, &r.name, &r.config, &t, &actor, now)
    })
    .await?
    {
        return Err(AgentError::refused(
            ProblemCode::ChannelExists,
            format!("a channel named {} exists; remove it first", req.name),
        ));
    }
    Ok(listed(req.name, &req.config, now, false))
}

pub async fn remove_channel(state: &Shared, who: &Principal, name: &str) -> Result<()> {
    who.require_admin("remove alert channels")?;
    if name == CONFIGURED && state.config.alert_webhook.is_some() {
        return Err(AgentError::refused(ProblemCode::Forbidden, format!("{CONFIGURED} is set by APPOS_ALERT_WEBHOOK in the agent's configuration; change it there")));
    }
    let (n, actor, now) = (name.to_string(), who.name.clone(), state.clock.now());
    if !db::call(&state.db, move |db| {
        db::alerts::remove_channel(db, &n, &actor, now)
    })
    .await?
    {
        return Err(AgentError::refused(
            ProblemCode::ChannelNotFound,
            format!("no alert channel named {name}"),
        ));
    }
    Ok(())
}

/// Sends a test notice through a channel now, and says whether it got through.
pub async fn test_channel(state: &Shared, who: &Principal, name: &str) -> Result<()> {
    who.require_admin("test alert channels")?;
    let Some(config) = channel_config(state, name).await? else {
        return Err(AgentError::refused(
            ProblemCode::ChannelNotFound,
            format!("no alert channel named {name}"),
        ));
    };
    let now = state.clock.now_ms();
    let notice = AlertNotice {
        notice: NoticeKind::Firing,
        server: state.alerts.server.clone(),
        alert: Alert {
            id: 0,
            rule: AlertRule::DeploymentFailed,
            subject: "test".into(),
            app: None,
            severity: appos_proto::alerts::AlertSeverity::Warning,
            state: appos_proto::alerts::AlertState::Firing,
            summary: format!(
                "a test message from AppOS, sent by {} to the channel {name}",
                who.name
            ),
            details: serde_json::json!({ "test": true }),
            fired_at_ms: now,
            resolved_at_ms: None,
            notices: 1,
        },
    };
    crate::infra::notify::send(&config, &notice)
        .await
        .map_err(|why| {
            AgentError::refused(
                ProblemCode::ChannelFailed,
                format!("the test message to {name} did not get through: {why}"),
            )
        })
}
