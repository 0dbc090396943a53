//! Alerts: the rules that raise them, the alerts themselves, and the
//! channels they are sent to.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// What an alert watches for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema, TS,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertRule {
    /// An app's latest deployment (or action) failed; resolves when a later one succeeds.
    DeploymentFailed,
    /// A container exited `threshold` times within `window_secs`.
    RestartLoop,
    /// A container's health check has said unhealthy for `window_secs`.
    Unhealthy,
    /// A container has used at least `threshold` percent of its memory limit for `window_secs`.
    MemoryHigh,
    /// The file system holding the agent's data has less than `threshold` percent free.
    DiskLow,
    /// A certificate the agent serves or watches expires within `threshold` days.
    CertificateExpiring,
    /// The latest backup failed; resolves when one succeeds.
    BackupFailed,
    /// With a schedule, the last successful backup is older than `threshold` times its interval.
    BackupStale,
}

impl AlertRule {
    pub const ALL: [AlertRule; 8] = [
        AlertRule::DeploymentFailed,
        AlertRule::RestartLoop,
        AlertRule::Unhealthy,
        AlertRule::MemoryHigh,
        AlertRule::DiskLow,
        AlertRule::CertificateExpiring,
        AlertRule::BackupFailed,
        AlertRule::BackupStale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertRule::DeploymentFailed => "deployment_failed",
            AlertRule::RestartLoop => "restart_loop",
            AlertRule::Unhealthy => "unhealthy",
            AlertRule::MemoryHigh => "memory_high",
            AlertRule::DiskLow => "disk_low",
            AlertRule::CertificateExpiring => "certificate_expiring",
            AlertRule::BackupFailed => "backup_failed",
            AlertRule::BackupStale => "backup_stale",
        }
    }

    pub fn parse(s: &str) -> Option<AlertRule> {
        AlertRule::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What `threshold` counts, in words (`None`: the rule has no threshold).
    pub fn threshold_unit(self) -> Option<&'static str> {
        match self {
            AlertRule::DeploymentFailed | AlertRule::Unhealthy | AlertRule::BackupFailed => None,
            AlertRule::BackupStale => Some("× the schedule"),
            AlertRule::RestartLoop => Some("exits"),
            AlertRule::MemoryHigh => Some("% of the limit"),
            AlertRule::DiskLow => Some("% free"),
            AlertRule::CertificateExpiring => Some("days left"),
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema, TS,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    Warning,
    Critical,
}

/// A rule as the agent applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct AlertRuleSettings {
    pub rule: AlertRule,
    pub enabled: bool,
    /// The rule's limit, in the unit `threshold_unit` names; 0 for rules without one.
    pub threshold: f64,
    /// How long the condition must hold before the alert fires (for
    /// `restart_loop`: the window exits are counted in); 0: at once.
    #[ts(type = "number")]
    pub window_secs: u64,
    /// While an alert lasts, it is sent again this often; 0: once.
    #[ts(type = "number")]
    pub repeat_secs: u64,
    /// What `threshold` counts (`exits`, `% of the limit`, `% free`, `days left`); none when unused.
    pub threshold_unit: Option<String>,
}

/// `PUT /v1/alerts/rules/{rule}`: the fields to change; the others stay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct AlertRuleUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "number | null")]
    pub window_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "number | null")]
    pub repeat_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    Resolved,
}

/// One alert: a rule's condition on one subject, from when it fired to when it resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Alert {
    #[ts(type = "number")]
    pub id: i64,
    pub rule: AlertRule,
    /// What the condition is about: an app, a container (`app/service/container`), a path, a domain.
    pub subject: String,
    pub app: Option<String>,
    pub severity: AlertSeverity,
    pub state: AlertState,
    /// One line for a person.
    pub summary: String,
    /// The rule's own facts (exits counted, memory used and limit, days left, ...).
    #[ts(type = "Record<string, unknown>")]
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// When it fired (ms since the epoch).
    #[ts(type = "number")]
    pub fired_at_ms: i64,
    #[ts(type = "number | null")]
    pub resolved_at_ms: Option<i64>,
    /// How many notices went out for it (firing, repeats, resolved).
    pub notices: u32,
}

/// Why a notice about an alert goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// It fired, or got worse (a higher severity).
    Firing,
    /// It still lasts (the rule's `repeat_secs` passed).
    Repeat,
    Resolved,
}

/// What a channel receives, and the `alert` event's data. The webhook
/// channel POSTs it as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct AlertNotice {
    pub notice: NoticeKind,
    /// The agent's host name, to tell servers apart.
    pub server: String,
    pub alert: Alert,
}

/// How SMTP is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain, then STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// No TLS at all: only for a relay on this host or a private network.
    None,
}

/// Where alerts go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelConfig {
    /// The notice as JSON, POSTed.
    Webhook { url: String },
    /// An ntfy topic URL (`https://ntfy.sh/my-topic`); a token for a protected topic.
    Ntfy {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// A Slack incoming webhook, or anything that takes Slack's `{"text": ...}`
    /// (Mattermost, Rocket.Chat, Discord's `/slack` URLs).
    Slack { url: String },
    /// A Discord webhook (`{"content": ...}`).
    Discord { url: String },
    /// Email over SMTP.
    Email {
        host: String,
        port: u16,
        #[serde(default)]
        security: SmtpSecurity,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        from: String,
        to: Vec<String>,
    },
}

/// `POST /v1/alerts/channels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ChannelRequest {
    /// Lower-case letters, digits and `-`, at most 32.
    pub name: String,
    pub config: ChannelConfig,
}

/// A channel as listed: secrets (passwords, tokens, the secret part of webhook URLs) are not shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Channel {
    pub name: String,
    pub kind: String,
    /// Where it sends, secrets hidden: a URL's host, or the SMTP server and the recipients.
    pub target: String,
    #[ts(type = "number")]
    pub created_at: i64,
    /// Set from the agent's configuration (`APPOS_ALERT_WEBHOOK`): not removable here.
    pub configured: bool,
}
