//! Backups: the restic repository they go to, backups and restores (each a
//! run with its log), and the snapshots a repository holds.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::AppName;

/// `PUT /v1/backups/repository`: where backups go, and the key that encrypts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct RepositoryRequest {
    /// An absolute path on the server (`/var/backups/appos`), or
    /// `sftp:USER@HOST:/PATH` (`sftp://USER@HOST:PORT//PATH` for another
    /// port) for another host over SSH, reached with the agent's own SSH key
    /// (`GET /v1/backups/repository` shows it: add it to that user's
    /// `authorized_keys`).
    pub location: String,
    /// For SFTP: the fingerprint of the host's SSH key (`SHA256:...`, as
    /// `ssh-keygen -l` prints it). Without one, the key the host shows now is
    /// pinned and answered: check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// The repository's key. Without one, the agent makes a new repository
    /// with a key it generates and answers once: keep it, a restore onto a
    /// fresh server needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The repository the agent backs up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Repository {
    pub location: String,
    /// The repository was created by this call (else it existed and the key opened it).
    pub created: bool,
    /// The key, when the agent generated it: shown this once.
    pub key: Option<String>,
    /// For SFTP: the fingerprint of the host key pinned.
    pub host_key: Option<String>,
}

/// `GET /v1/backups/repository`: where backups go, and the agent's SSH key
/// for an SFTP repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct RepositoryInfo {
    /// None until one is set.
    pub location: Option<String>,
    /// For SFTP: the fingerprint of the host key pinned.
    pub host_key: Option<String>,
    /// The agent's SSH public key, one `authorized_keys` line: what an SFTP
    /// repository's host must accept.
    pub ssh_public_key: String,
}

/// `POST /v1/backups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct BackupRequest {
    /// Only this app (and the agent's state); every app when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub app: Option<AppName>,
    /// Also the apps' named volumes, read through a short-lived helper container.
    #[serde(default)]
    pub volumes: bool,
}

/// `POST /v1/backups/{snapshot}/restore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct RestoreRequest {
    /// The app to bring back, with its versions, domains and volumes; it
    /// must not exist here (delete it first: a restore never overwrites a
    /// running app). Without one: every app of the snapshot that does not
    /// exist here (the others are left as they are, and the log says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub app: Option<AppName>,
    /// Also bring back the backed-up agent's tokens (those not revoked, and
    /// whose name no token here has), so the clients that held them work
    /// here too. Without it, the tokens are reissued: only this agent's own
    /// work here.
    #[serde(default)]
    pub keep_tokens: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Backup,
    Restore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> RunState {
        match s {
            "running" => RunState::Running,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            _ => RunState::Queued,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, RunState::Succeeded | RunState::Failed)
    }
}

/// A backup or a restore, queued and run as a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct BackupRun {
    pub id: String,
    pub kind: RunKind,
    pub app: Option<String>,
    pub volumes: bool,
    pub state: RunState,
    /// The snapshot written (a backup) or read (a restore).
    pub snapshot: Option<String>,
    pub error: Option<String>,
    /// What it did, a line per step.
    pub log: Vec<String>,
    /// Name of the token that asked for it.
    pub actor: String,
    #[ts(type = "number")]
    pub created_ms: i64,
    #[ts(type = "number | null")]
    pub finished_ms: Option<i64>,
}

/// `POST /v1/backups` and `/restore` answer 202 with the run to follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct RunAccepted {
    pub id: String,
}

/// A snapshot in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Snapshot {
    /// restic's short id.
    pub id: String,
    #[ts(type = "number")]
    pub time_ms: i64,
    /// The server it was taken on.
    pub host: String,
    /// The apps inside.
    pub apps: Vec<String>,
    /// Their volumes are inside too.
    pub volumes: bool,
}

/// `PUT /v1/backups/schedule`: back up every app on a schedule, keeping
/// the newest `keep` snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct BackupSchedule {
    /// Seconds between backups: 3600 (hourly), 86400 (daily), 604800 (weekly), or any from 3600 up.
    #[ts(type = "number")]
    pub every_secs: u64,
    /// Snapshots kept after each scheduled backup (older ones are forgotten and pruned).
    pub keep: u32,
    /// With the apps' volumes.
    #[serde(default)]
    pub volumes: bool,
}

/// `GET /v1/backups/schedule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ScheduleStatus {
    pub schedule: Option<BackupSchedule>,
    /// When the last backup (scheduled or not) succeeded.
    #[ts(type = "number | null")]
    pub last_success_ms: Option<i64>,
    /// When the next scheduled backup is due.
    #[ts(type = "number | null")]
    pub next_ms: Option<i64>,
}

/// `hourly`, `daily`, `weekly` or a number of seconds, as a schedule's interval.
pub fn parse_every(s: &str) -> Option<u64> {
    match s {
        "hourly" => Some(3600),
        "daily" => Some(86_400),
        "weekly" => Some(7 * 86_400),
        n => n.parse().ok(),
    }
}
