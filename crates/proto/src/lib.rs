//! Wire types of the AppOS agent API, shared by the agent, the client library,
//! the CLI and the desktop app.
//!
//! Everything here is a compatibility promise: these are the only types in the
//! workspace that derive `Serialize`. TypeScript declarations for the frontend
//! and the OpenAPI document are generated from them and committed; tests fail
//! when the committed copies drift.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

pub mod alerts;
pub mod backups;
pub mod calls;
mod classify;
pub mod host_access;
mod names;
mod problem;
pub mod proxy;

pub use calls::{AgentCall, AppAction, LogsQuery};
pub use classify::ErrorClass;
pub use host_access::{HostAccess, HostAccessKind, HostAccessNeed};
pub use names::{AppName, InvalidName, ServiceName};
pub use problem::{FieldError, Problem, ProblemCode};
pub use proxy::{
    CertEntry, CertSource, CertStatus, CertificateUpload, Domain, DomainRequest, WatchRequest,
};

/// Header prefix for bearer tokens.
pub const BEARER: &str = "Bearer ";

/// The header that makes a request that changes something safe to send
/// again: the agent does it once per token and key, and answers the same
/// request sent again with the first answer.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set (`true`) on an answer given again for an `Idempotency-Key`.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// Answer of `GET /health`, the only unauthenticated route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Health {
    /// Always `"ok"` when the agent answers.
    pub status: String,
    /// Version of the agent binary.
    pub version: String,
}

/// Answer of `GET /v1/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AgentInfo {
    pub agent_version: String,
    /// Data root of the agent on the server.
    pub data_dir: String,
    pub docker: DockerInfo,
    pub compose: ComposeInfo,
    /// The task queue's backend: `sqlite`, `redis`, or `redis (run by the agent, AOF)`.
    #[serde(default)]
    pub queue: String,
    /// The reverse proxy the agent runs for domains, if any.
    #[serde(default)]
    pub proxy: Option<ProxyInfo>,
}

/// Where the agent's reverse proxy listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ProxyInfo {
    /// `caddy`.
    pub backend: String,
    pub http: String,
    pub https: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct DockerInfo {
    /// Engine version, e.g. `20.10.24`.
    pub version: String,
    /// API version the engine speaks at most, e.g. `1.41`.
    pub api_version: String,
    /// API version the agent negotiated with the engine.
    pub negotiated_api_version: String,
    pub os: String,
    pub arch: String,
}

/// Which compose implementation the agent found on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ComposeFlavour {
    /// `docker compose` (the v2 CLI plugin).
    Plugin,
    /// `docker-compose` (a standalone binary, v1 or v2).
    Standalone,
    /// No compose implementation was found: deployments will fail.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ComposeInfo {
    pub flavour: ComposeFlavour,
    /// Version string the tool printed, empty when missing.
    pub version: String,
    /// The argv prefix the agent runs, e.g. `["docker", "compose"]`.
    pub command: Vec<String>,
}

/// Overall state of an app, folded from the states of its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum AppState {
    /// Every container runs.
    Running,
    /// Some containers run, others do not.
    Partial,
    /// A container restarts in a loop or is unhealthy.
    Degraded,
    /// No container runs.
    Stopped,
    /// The app is known to AppOS but has no containers (never deployed, its
    /// first deployment failed, or it was brought down): not running.
    Empty,
}

/// A compose project on the Docker host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct App {
    /// The compose project name.
    pub name: String,
    pub state: AppState,
    /// Whether AppOS manages the app (deployed by AppOS or adopted), or it was
    /// created outside AppOS.
    pub managed: bool,
    /// The project's working directory, from its labels.
    pub working_dir: Option<String>,
    /// The compose files the project was created from, from its labels.
    pub config_files: Vec<String>,
    pub services: Vec<Service>,
    /// For an app AppOS manages: its latest deployment.
    #[serde(default)]
    pub last_deployment: Option<DeploymentSummary>,
}

/// An app's latest deployment, as the apps list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct DeploymentSummary {
    pub id: String,
    pub operation: Operation,
    pub state: DeploymentState,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Service {
    pub name: String,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    /// Docker's state: `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub state: String,
    /// Docker's human status, e.g. `Up 5 minutes (healthy)`.
    pub status: String,
    pub ports: Vec<PortMapping>,
}

/// One reading of a container's resources (from Docker's stats, cgroups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct StatSample {
    /// When it was read (ms since the epoch); in the history, the start of its minute.
    #[ts(type = "number")]
    pub at_ms: i64,
    /// Share of one CPU (200 is two CPUs busy), as `docker stats` shows it.
    pub cpu_percent: f64,
    /// Memory in use, less the page cache the kernel can take back.
    #[ts(type = "number")]
    pub memory_bytes: u64,
    #[ts(type = "number")]
    pub memory_limit_bytes: u64,
    /// Bytes received and sent since the container started, every network.
    #[ts(type = "number")]
    pub net_rx_bytes: u64,
    #[ts(type = "number")]
    pub net_tx_bytes: u64,
}

/// A running container's resources: the latest reading and a history of one
/// point a minute (CPU averaged, memory at its highest) for 24 hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct ContainerStats {
    pub id: String,
    pub name: String,
    pub service: String,
    pub latest: Option<StatSample>,
    pub history: Vec<StatSample>,
}

/// `GET /v1/apps/{app}/stats`: each running container of the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct AppStats {
    pub app: String,
    pub containers: Vec<ContainerStats>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct PortMapping {
    pub private_port: u16,
    pub public_port: Option<u16>,
    pub ip: Option<String>,
    pub protocol: String,
}

/// Scope of an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Every route.
    Admin,
    /// Apps, deployments, logs and container shells; never agent shells or tokens.
    Deploy,
    /// Only routes that change nothing.
    Read,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Admin => "admin",
            TokenScope::Deploy => "deploy",
            TokenScope::Read => "read",
        }
    }
}

impl std::str::FromStr for TokenScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(TokenScope::Admin),
            "deploy" => Ok(TokenScope::Deploy),
            "read" => Ok(TokenScope::Read),
            other => Err(format!(
                "unknown token scope {other:?}: expected admin, deploy or read"
            )),
        }
    }
}

/// The type of a catalog template parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    String,
    Int,
    Bool,
    Port,
    Password,
    Domain,
}

/// A parameter of a catalog template; it becomes a variable of the app's `.env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct CatalogParam {
    /// The variable name, e.g. `HTTP_PORT`.
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: ParamKind,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// Generate a random secret of this many characters when no value is given.
    #[serde(default)]
    pub generate: Option<u32>,
}

/// An app template of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub website: String,
    /// A logo URL, or empty.
    #[serde(default)]
    pub logo: String,
    pub params: Vec<CatalogParam>,
    /// The host access the template declares it needs; installing it asks for consent.
    #[serde(default)]
    pub host_access: Vec<HostAccess>,
    /// The template asks for more host access than at the catalog's previous refresh.
    #[serde(default)]
    pub host_access_grew: bool,
}

/// `POST /v1/catalog/refresh`: the catalog's sources were read again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct CatalogRefreshed {
    /// Templates in the catalog now.
    pub templates: u32,
    /// The commit of the git source now in use, when it was pulled.
    pub git_commit: Option<String>,
    /// Why pulling the git source failed (its last good clone stays in use).
    pub git_error: Option<String>,
    /// Template files that were skipped, each with why.
    pub skipped: Vec<String>,
}

/// Deploy from the catalog: a template id and its parameter values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct CatalogDeploy {
    pub id: String,
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
}

/// Largest file sent with a compose file.
pub const MAX_APP_FILE_BYTES: usize = 4 << 20;
/// Largest total of the files sent with a compose file (the request body is
/// limited to 16 MiB, base64 included).
pub const MAX_APP_FILES_BYTES: usize = 10 << 20;
/// Most files sent with a compose file.
pub const MAX_APP_FILES: usize = 5000;

/// A file sent with a compose file into the app's folder: one the compose
/// file references by a relative path (a bind-mounted config file or
/// folder, an `env_file`, a secret, a build context).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AppFile {
    /// Where it goes, relative to the app's folder, `/`-separated.
    pub path: String,
    /// Its content, base64 (standard alphabet, padded).
    pub content: String,
    /// Whether it is executable.
    #[serde(default)]
    pub executable: bool,
}

/// `POST /v1/apps/deploy`: a new app from a compose file or a catalog template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct DeployRequest {
    /// The app name, also its compose project name.
    pub name: AppName,
    /// The compose file, as YAML text (empty when `catalog` is given).
    #[serde(default)]
    pub compose: String,
    /// A catalog template instead of a compose file.
    #[serde(default)]
    pub catalog: Option<CatalogDeploy>,
    /// Files the compose file references, written into the app's folder.
    #[serde(default)]
    pub files: Vec<AppFile>,
    /// Variables written to the app's `.env` (mode 0600).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Why, for the history.
    #[serde(default)]
    pub message: Option<String>,
    /// The host access the caller grants (exactly the capabilities it
    /// accepts; `POST /v1/compose/check` lists what a file needs).
    #[serde(default)]
    pub allow_host_access: Vec<HostAccess>,
}

/// `202 Accepted` for a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct DeployAccepted {
    pub deployment_id: String,
    pub app: String,
    pub version: u32,
    /// Secrets generated for catalog parameters, shown this once.
    #[serde(default)]
    pub generated: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::Queued => "queued",
            DeploymentState::Running => "running",
            DeploymentState::Succeeded => "succeeded",
            DeploymentState::Failed => "failed",
            DeploymentState::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeploymentState::Succeeded | DeploymentState::Failed | DeploymentState::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Running,
    Succeeded,
    Skipped,
    Failed,
    /// The agent stopped while the step ran; a later attempt runs it again.
    Interrupted,
}

/// One step of a deployment, with its time and what it printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct DeploymentStep {
    /// `write_files`, `validate`, `pull`, `build`, `up`, `wait`, `record_digests`.
    pub name: String,
    pub state: StepState,
    /// Milliseconds since the epoch.
    #[ts(type = "number")]
    pub started_ms: i64,
    #[ts(type = "number | null")]
    pub finished_ms: Option<i64>,
    /// A one-line summary, e.g. `2 images present, 0 pulled`.
    pub detail: String,
}

/// What a deployment does to its app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Bring the app to a version (new app, new version, rollback, redeploy).
    Deploy,
    Start,
    Stop,
    Restart,
    /// Pull newer images and recreate what changed.
    Update,
    /// Take the app down and forget it (volumes too when asked).
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Deploy => "deploy",
            Operation::Start => "start",
            Operation::Stop => "stop",
            Operation::Restart => "restart",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        [
            Operation::Deploy,
            Operation::Start,
            Operation::Stop,
            Operation::Restart,
            Operation::Update,
            Operation::Delete,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// A deployment: one operation on an app, run by the queue, with its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Deployment {
    pub id: String,
    pub app: String,
    pub operation: Operation,
    pub version: u32,
    pub state: DeploymentState,
    /// Which try this is (a deployment whose agent died is taken up again).
    pub attempt: u32,
    pub error: Option<String>,
    pub steps: Vec<DeploymentStep>,
    #[ts(type = "number")]
    pub created_ms: i64,
    #[ts(type = "number | null")]
    pub finished_ms: Option<i64>,
}

/// A line an app's container printed, as `GET /v1/apps/{app}/logs` streams
/// them (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AppLogLine {
    pub service: String,
    pub container: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    pub text: String,
    /// When Docker took the line, in microseconds since the epoch (0 when
    /// unknown): where a follower that lost its connection resumes.
    #[serde(default)]
    #[ts(type = "number")]
    pub at_us: i64,
}

/// An event of `GET /v1/events` (WebSocket, one JSON text message each).
/// Ids grow monotonically; a client that reconnects with `?after=ID` gets
/// what it missed (from a bounded history), then live events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Event {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub at_ms: i64,
    /// `deployment` (a deployment changed state), `deployment_step` (a step
    /// ended) or `container` (Docker reported a container event).
    pub kind: String,
    pub app: Option<String>,
    /// Kind-specific details.
    #[ts(type = "Record<string, unknown>")]
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// One saved version of an app's compose file and `.env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AppVersion {
    pub version: u32,
    /// Name of the token that saved it.
    pub author: String,
    pub message: String,
    /// Seconds since the epoch.
    #[ts(type = "number")]
    pub created_at: i64,
    /// Service → image digest it last ran with (empty until deployed).
    pub digests: std::collections::BTreeMap<String, String>,
    /// The host access granted to this version.
    pub host_access: Vec<HostAccess>,
    /// The files this version holds besides its compose file and `.env`: path → SHA-256.
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, String>,
}

/// A version with its content. `.env` values are secrets and are not
/// returned; their names are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AppVersionDetail {
    pub version: AppVersion,
    pub compose: String,
    pub env_keys: Vec<String>,
}

/// `POST /v1/apps/{app}/versions`: save a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct SaveVersionRequest {
    pub compose: String,
    /// The files of the new version; the latest version's are kept when absent.
    #[serde(default)]
    pub files: Option<Vec<AppFile>>,
    /// The new `.env`; the latest version's is kept when absent.
    #[serde(default)]
    pub env: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub message: Option<String>,
    /// Deploy it right away.
    #[serde(default)]
    pub deploy: bool,
    /// The host access the caller grants (exactly the capabilities it
    /// accepts; `POST /v1/compose/check` lists what a file needs).
    #[serde(default)]
    pub allow_host_access: Vec<HostAccess>,
}

/// `POST /v1/apps/{app}/rollback`: make version N current again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct RollbackRequest {
    pub version: u32,
    /// Run exactly the images version N last ran with: each service's image
    /// is replaced by the digest recorded for it.
    #[serde(default)]
    pub pin_digests: bool,
    /// The host access the caller grants (exactly the capabilities it
    /// accepts; `POST /v1/compose/check` lists what a file needs).
    #[serde(default)]
    pub allow_host_access: Vec<HostAccess>,
}

/// `POST /v1/apps/adopt`: manage a compose project that was started outside
/// AppOS. Its compose files (merged, variables left as `${...}`) and its
/// `.env` become version 1; its containers are left running as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AdoptRequest {
    /// The compose project name (`com.docker.compose.project`), which becomes the app name.
    pub project: AppName,
}

/// `POST /v1/compose/check`: the checks of a deploy, with nothing written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ComposeCheckRequest {
    /// The app the file is for (its directory is where bind mounts must stay).
    pub name: AppName,
    /// The compose file (empty when `catalog` is given).
    #[serde(default)]
    pub compose: String,
    /// A catalog template instead of a compose file.
    #[serde(default)]
    pub catalog: Option<CatalogDeploy>,
    /// The files that would be sent with it; for an existing app, its latest version's when absent.
    #[serde(default)]
    pub files: Option<Vec<AppFile>>,
    /// The `.env` to check with; for an existing app, its latest one when absent.
    #[serde(default)]
    pub env: Option<std::collections::BTreeMap<String, String>>,
}

/// The file passed every check; what the compose tool sees in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ComposeCheck {
    /// Service name → image.
    pub services: std::collections::BTreeMap<String, String>,
    /// Every host-reaching capability the resolved file asks for.
    pub host_access: Vec<HostAccessNeed>,
}

/// One entry of the audit log: who (a token's name) did what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct AuditEntry {
    #[ts(type = "number")]
    pub id: i64,
    /// Seconds since the epoch.
    #[ts(type = "number")]
    pub at: i64,
    /// The token's name (`local` over the socket without one, `agent` for the agent itself).
    pub actor: String,
    /// `app.deploy`, `app.version`, `app.adopt`, `app.start`, `app.delete`, `token.issue`, `terminal.open`, ...
    pub action: String,
    pub app: Option<String>,
    pub detail: String,
    /// The host access this change granted.
    pub host_access: Vec<HostAccess>,
}

/// A saved version, and its deployment when one was queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct VersionSaved {
    pub app: String,
    pub version: u32,
    pub deployment_id: Option<String>,
}

/// A line of a deployment's log, as `GET /v1/deployments/{id}/log` streams
/// them (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct LogLine {
    pub seq: u64,
    #[ts(type = "number")]
    pub at_ms: i64,
    /// The step that printed it.
    pub step: String,
    pub text: String,
    /// For a pull step's line about an image or layer: its progress, typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub pull: Option<PullProgress>,
}

/// `POST /v1/terminals`: what the new terminal session runs, as
/// `{"shell": {...}}` or `{"exec": {...}}` (the variant's key is part of
/// each field's path in an error: `exec.app`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum NewTerminal {
    /// A login shell in the agent's environment, on a PTY.
    Shell {
        #[serde(default)]
        cols: Option<u16>,
        #[serde(default)]
        rows: Option<u16>,
    },
    /// A command in a running container of an app's service (default: the
    /// first of bash and sh the container has).
    Exec {
        app: AppName,
        service: ServiceName,
        #[serde(default)]
        command: Vec<String>,
        /// A TTY (the default) for interactive use; without one, stdout and
        /// stderr stay apart and the session ends with the command's exit status.
        #[serde(default = "yes")]
        tty: bool,
        #[serde(default)]
        cols: Option<u16>,
        #[serde(default)]
        rows: Option<u16>,
    },
}

fn yes() -> bool {
    true
}

/// A terminal session of the agent. It outlives its viewers until it exits
/// or stays idle too long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Terminal {
    pub id: String,
    /// `shell` or `exec`.
    pub kind: String,
    pub app: Option<String>,
    pub service: Option<String>,
    pub command: Vec<String>,
    pub tty: bool,
    pub cols: u16,
    pub rows: u16,
    /// Viewers attached now.
    pub viewers: u32,
    #[ts(type = "number")]
    pub created_ms: i64,
    /// Last input, output or attach.
    #[ts(type = "number")]
    pub active_ms: i64,
    /// The exit status, once the process ended.
    #[ts(type = "number | null")]
    pub exit_status: Option<i64>,
}

/// A text frame of `GET /v1/terminals/{id}/attach`. Binary frames carry the
/// terminal's bytes (to the agent: input; from it: output, and on a session
/// without a TTY, each frame starts with 1 for stdout or 2 for stderr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerminalControl {
    /// Viewer → agent: the window's size.
    Resize { cols: u16, rows: u16 },
    /// Viewer → agent: no more input (closes stdin).
    Eof,
    /// Agent → viewer: the replayed screen has been sent; live output follows.
    Replayed,
    /// Agent → viewer: this viewer fell behind the output and is cut off;
    /// reattaching gives the current screen (the replay) and live output again.
    Lagged,
    /// Agent → viewer: the process ended.
    Exit {
        #[ts(type = "number")]
        status: i64,
    },
}

/// Progress of an image pull, carried by a pull step's log lines: one per
/// layer and status change, and one per tenth of a download or extraction.
/// Front ends draw a progress bar per layer from these; the line's `text`
/// says the same for a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct PullProgress {
    pub image: String,
    /// The layer's short id (12 hex digits), or empty for a line about the
    /// image as a whole (`Pulling from …`, `Digest: …`).
    pub layer: String,
    pub status: String,
    /// Bytes done and in all (0 when Docker gave no numbers).
    #[ts(type = "number")]
    pub current: u64,
    #[ts(type = "number")]
    pub total: u64,
}

impl PullProgress {
    /// The line's human text: `<image> <layer>: <status>[ <current>/<total>]`.
    pub fn line(&self) -> String {
        let bytes = if self.total > 0 {
            format!(" {}/{}", self.current, self.total)
        } else {
            String::new()
        };
        format!("{} {}: {}{bytes}", self.image, self.layer, self.status)
    }

    /// Whether this is about a layer (a 12-hex-digit id), not the image as a whole.
    pub fn is_layer(&self) -> bool {
        self.layer.len() == 12 && self.layer.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

/// TypeScript declarations of every wire type, as committed in
/// `src-ui/src/api/types.gen.ts`.
pub fn typescript_declarations() -> String {
    let cfg = ts_rs::Config::default();
    let decls = [
        Health::decl(&cfg),
        AgentInfo::decl(&cfg),
        ProxyInfo::decl(&cfg),
        DockerInfo::decl(&cfg),
        ComposeFlavour::decl(&cfg),
        ComposeInfo::decl(&cfg),
        AppState::decl(&cfg),
        App::decl(&cfg),
        DeploymentSummary::decl(&cfg),
        Service::decl(&cfg),
        Container::decl(&cfg),
        PortMapping::decl(&cfg),
        StatSample::decl(&cfg),
        ContainerStats::decl(&cfg),
        AppStats::decl(&cfg),
        TokenScope::decl(&cfg),
        HostAccessKind::decl(&cfg),
        HostAccess::decl(&cfg),
        HostAccessNeed::decl(&cfg),
        AppFile::decl(&cfg),
        AppName::decl(&cfg),
        ServiceName::decl(&cfg),
        ProblemCode::decl(&cfg),
        Problem::decl(&cfg),
        FieldError::decl(&cfg),
        ParamKind::decl(&cfg),
        CatalogParam::decl(&cfg),
        CatalogEntry::decl(&cfg),
        CatalogRefreshed::decl(&cfg),
        CatalogDeploy::decl(&cfg),
        DeployRequest::decl(&cfg),
        DeployAccepted::decl(&cfg),
        DeploymentState::decl(&cfg),
        Operation::decl(&cfg),
        StepState::decl(&cfg),
        DeploymentStep::decl(&cfg),
        Deployment::decl(&cfg),
        PullProgress::decl(&cfg),
        LogLine::decl(&cfg),
        AppLogLine::decl(&cfg),
        Event::decl(&cfg),
        AppVersion::decl(&cfg),
        AppVersionDetail::decl(&cfg),
        SaveVersionRequest::decl(&cfg),
        RollbackRequest::decl(&cfg),
        AdoptRequest::decl(&cfg),
        ComposeCheckRequest::decl(&cfg),
        NewTerminal::decl(&cfg),
        Terminal::decl(&cfg),
        TerminalControl::decl(&cfg),
        ComposeCheck::decl(&cfg),
        VersionSaved::decl(&cfg),
        AuditEntry::decl(&cfg),
        DomainRequest::decl(&cfg),
        CertStatus::decl(&cfg),
        Domain::decl(&cfg),
        CertificateUpload::decl(&cfg),
        CertSource::decl(&cfg),
        CertEntry::decl(&cfg),
        WatchRequest::decl(&cfg),
        alerts::AlertRule::decl(&cfg),
        alerts::AlertSeverity::decl(&cfg),
        alerts::AlertRuleSettings::decl(&cfg),
        alerts::AlertRuleUpdate::decl(&cfg),
        alerts::AlertState::decl(&cfg),
        alerts::Alert::decl(&cfg),
        alerts::NoticeKind::decl(&cfg),
        alerts::AlertNotice::decl(&cfg),
        alerts::SmtpSecurity::decl(&cfg),
        alerts::ChannelConfig::decl(&cfg),
        alerts::ChannelRequest::decl(&cfg),
        alerts::Channel::decl(&cfg),
        backups::RepositoryRequest::decl(&cfg),
        backups::Repository::decl(&cfg),
        backups::RepositoryInfo::decl(&cfg),
        backups::BackupRequest::decl(&cfg),
        backups::RestoreRequest::decl(&cfg),
        backups::RunKind::decl(&cfg),
        backups::RunState::decl(&cfg),
        backups::BackupRun::decl(&cfg),
        backups::RunAccepted::decl(&cfg),
        backups::Snapshot::decl(&cfg),
        backups::BackupSchedule::decl(&cfg),
        backups::ScheduleStatus::decl(&cfg),
    ];
    render_ts(&decls, "")
}

/// Types that cross the desktop app's IPC boundary (Rust ⇄ webview).
pub mod desktop {
    use super::*;

    /// What the desktop's `set_backup_repository` did: the agent's answer,
    /// and where this computer keeps the repository's key.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    pub struct BackupRepositorySet {
        pub repository: crate::backups::Repository,
        /// `keyring` (the OS keyring), or the path of the 0600 file used when
        /// there is none; None when it could not be kept.
        pub key_kept: Option<String>,
        /// No key was given and the one kept on this computer for that
        /// location was used.
        pub used_kept_key: bool,
    }

    /// A compose file read on this computer with the files it references
    /// in its folder and the `.env` beside it, ready to deploy.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    pub struct LocalProject {
        /// The compose file that was read.
        pub compose_path: String,
        pub compose: String,
        pub files: Vec<AppFile>,
        /// The `.env` beside it (empty when there is none).
        pub env: std::collections::BTreeMap<String, String>,
    }

    /// A server in the desktop's sidebar.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    pub struct ServerEntry {
        pub name: String,
        /// `ssh://USER@HOST:PORT`, `unix:///PATH`, or `local` for this computer.
        pub url: String,
        /// True for the built-in "This computer" entry.
        pub local: bool,
        /// SHA256 fingerprint of the accepted host key (SSH servers).
        pub host_key: Option<String>,
        pub connected: bool,
    }

    /// The "Add server" form.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    pub struct AddServerForm {
        pub name: String,
        pub host: String,
        pub port: u16,
        pub user: String,
        /// Key file; `None` means the ssh-agent and the default keys.
        pub identity: Option<String>,
        /// Agent socket path on the server; `None` for the default.
        pub agent_socket: Option<String>,
        /// Command that runs the agent on the server; `None` for `appos-agent`.
        pub bootstrap_cmd: Option<String>,
        /// The fingerprint the user confirmed in the host-key dialog.
        pub accept_fingerprint: Option<String>,
        /// Passphrase of an encrypted key, when the first try said `key_encrypted`.
        pub passphrase: Option<String>,
    }

    /// "Install AppOS on this server": the server as in "Add server", and
    /// where the agent goes there.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    pub struct InstallForm {
        pub server: AddServerForm,
        /// The data root on the server (the same path in the agent's container).
        pub data: String,
        /// The server ports the reverse proxy takes; `None`: no proxy (no domains).
        pub proxy_ports: Option<(u16, u16)>,
    }

    /// One line of a server's install checklist.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    pub struct InstallCheck {
        /// `system`, `root`, `docker`, `disk`, `ports` or `appos`.
        pub item: String,
        pub ok: bool,
        /// What was found, or what to do.
        pub detail: String,
    }

    /// An install as it goes, over its IPC channel.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum InstallProgress {
        /// The checklist, before anything changes.
        Checked {
            checks: Vec<InstallCheck>,
        },
        /// The image sent so far.
        Upload {
            #[ts(type = "number")]
            sent: u64,
            #[ts(type = "number")]
            total: u64,
        },
        Step {
            message: String,
        },
    }

    /// What the frontend gets when a command fails. `code` is one of the
    /// cases the UI branches on.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    pub struct UiError {
        pub code: ErrorClass,
        pub message: String,
        /// For `host_key_unknown`: the key to show the user.
        pub host_key: Option<HostKeyPrompt>,
        /// For `invalid_input` from the agent: which field is wrong and why.
        #[serde(default)]
        pub fields: Vec<FieldError>,
        /// The agent's own problem code, when the agent answered (`no_proxy`, `domain_taken`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        pub problem: Option<ProblemCode>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    pub struct HostKeyPrompt {
        pub host: String,
        pub algorithm: String,
        pub fingerprint: String,
    }

    /// A connected server, as the desktop shows it.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    pub struct Connection {
        pub server: String,
        /// How the agent is reached, e.g. `ssh://root@host:22 → /var/lib/appos/run/agent.sock`.
        pub via: String,
        pub info: AgentInfo,
    }

    /// What a stream the UI opened (events, a deployment's log, an app's
    /// logs) delivers, in order, over its IPC channel.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum StreamItem {
        Event {
            event: Event,
        },
        DeploymentLog {
            line: LogLine,
        },
        AppLog {
            line: AppLogLine,
        },
        /// The stream is over: the agent ended it, or it failed with `error`.
        End {
            error: Option<UiError>,
        },
    }

    /// What a terminal tab runs.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum TerminalKind {
        /// A PTY on the server itself over the SSH connection (no agent involved).
        ServerShell,
        /// A shell next to the agent.
        AgentShell,
        /// A shell in a running container of an app's service.
        Container { app: AppName, service: ServiceName },
        /// An agent session that is already open (its screen is replayed).
        Attach { id: String },
    }

    /// A terminal tab the desktop opened.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    pub struct TerminalTab {
        /// Names this tab's connection in `terminal_input`, `terminal_resize`, `terminal_close`.
        #[ts(type = "number")]
        pub handle: u64,
        /// The agent's session id (none for a server shell, which lives in the SSH connection).
        pub session: Option<String>,
        pub title: String,
    }

    /// What a terminal tab hears besides its bytes (which come as raw binary).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum TerminalEvent {
        /// The replayed screen has been delivered.
        Replayed,
        /// The process ended.
        Exit {
            #[ts(type = "number")]
            status: i64,
        },
        /// The connection to the session was lost (the session may live on).
        Lost { error: UiError },
    }

    /// Which stream to open.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum StreamRequest {
        /// `/v1/events` from after this id (0: the stored history too; -1: live only).
        Events {
            #[ts(type = "number")]
            after: i64,
        },
        /// A deployment's log: stored lines, then new ones until it ends.
        DeploymentLog { id: String },
        /// An app's container logs.
        AppLogs {
            app: AppName,
            service: Option<ServiceName>,
            tail: Option<u32>,
            grep: Option<String>,
            follow: bool,
        },
    }
}

/// TypeScript declarations of the desktop IPC types, as committed in
/// `src-ui/src/api/desktop.gen.ts`.
pub fn typescript_desktop_declarations() -> String {
    use desktop::*;
    let cfg = ts_rs::Config::default();
    let decls = [
        ServerEntry::decl(&cfg),
        AddServerForm::decl(&cfg),
        InstallForm::decl(&cfg),
        InstallCheck::decl(&cfg),
        InstallProgress::decl(&cfg),
        UiError::decl(&cfg),
        ErrorClass::decl(&cfg),
        HostKeyPrompt::decl(&cfg),
        Connection::decl(&cfg),
        StreamItem::decl(&cfg),
        StreamRequest::decl(&cfg),
        TerminalKind::decl(&cfg),
        TerminalTab::decl(&cfg),
        TerminalEvent::decl(&cfg),
        LocalProject::decl(&cfg),
        BackupRepositorySet::decl(&cfg),
    ];
    render_ts(&decls, "import type { AgentInfo, AppFile, AppLogLine, AppName, Event, FieldError, LogLine, ProblemCode, Repository, ServiceName } from \"./types.gen\";\n\n")
}

pub(crate) fn render_ts(decls: &[String], imports: &str) -> String {
    let mut out = String::from(
        "// Generated by `cargo xtask gen` from crates/proto. Do not edit by hand.\n\n",
    );
    out.push_str(imports);
    for d in decls {
        out.push_str("export ");
        out.push_str(d);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod pull_tests {
    use super::PullProgress;

    #[test]
    fn pull_lines_read_for_humans() {
        let p = PullProgress {
            image: "nginx:1.27".into(),
            layer: "a2abf6c4d29d".into(),
            status: "Downloading".into(),
            current: 5,
            total: 10,
        };
        assert_eq!(p.line(), "nginx:1.27 a2abf6c4d29d: Downloading 5/10");
        assert!(p.is_layer());
        let whole = PullProgress {
            layer: String::new(),
            status: "Pulling from library/nginx".into(),
            current: 0,
            total: 0,
            ..p
        };
        assert_eq!(whole.line(), "nginx:1.27 : Pulling from library/nginx");
        assert!(!whole.is_layer());
    }
}

#[cfg(test)]
mod tests {
    /// The committed TypeScript must match the Rust types; `cargo xtask gen` rewrites it.
    #[test]
    fn committed_typescript_is_current() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../src-ui/src/api/");
        for (file, expected) in [
            ("types.gen.ts", super::typescript_declarations()),
            ("desktop.gen.ts", super::typescript_desktop_declarations()),
            ("calls.gen.ts", super::calls::typescript_call_declarations()),
        ] {
            let committed = std::fs::read_to_string(format!("{dir}{file}")).unwrap_or_default();
            assert!(
                committed == expected,
                "src-ui/src/api/{file} is out of date: run `cargo xtask gen` and commit the result"
            );
        }
    }
}
