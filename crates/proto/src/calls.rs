//! One request type per agent call, each named verb + noun. A call knows
//! its method, its path (with the query) and the type of its answer, so
//! the client has one generic `call`, the desktop one IPC command for all of
//! them, and the frontend's types are generated from [`AgentCall`].
//!
//! Adding an endpoint: a type here (and a line in [`agent_calls!`]), the
//! service and the route in the agent, and the screen or command that uses it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

use crate::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// How a successful answer is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `application/json`.
    Json,
    /// `text/plain`, read as a `String`.
    Text,
    /// No body (204), read as `()`.
    Empty,
}

/// A call to the agent.
pub trait Call {
    const METHOD: Method;
    const ANSWER: Answer = Answer::Json;
    type Response: DeserializeOwned + Serialize;
    /// The path and query, percent-encoded.
    fn path(&self) -> String;
    /// The JSON body, for calls that send one.
    fn body(&self) -> Option<serde_json::Value> {
        None
    }
}

/// A call whose answer is a stream of JSON lines (`application/x-ndjson`).
pub trait StreamCall {
    type Item: DeserializeOwned;
    fn path(&self) -> String;
}

/// Percent-encodes a URL path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?a=1&b=x` from the pairs that have a value; empty when none has.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn json(v: &impl Serialize) -> Option<serde_json::Value> {
    Some(serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
}

/// `start`, `stop`, `restart` or `update` (pull newer images, recreate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum AppAction {
    Start,
    Stop,
    Restart,
    Update,
}

/// Read from a string inside the visitor, so that a path parameter that is
/// no action is reported under its name (`action`).
impl<'de> Deserialize<'de> for AppAction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AppAction, D::Error> {
        const NAMES: &[&str] = &["start", "stop", "restart", "update"];
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = AppAction;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("start, stop, restart or update")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AppAction, E> {
                AppAction::ALL
                    .into_iter()
                    .find(|a| a.as_str() == v)
                    .ok_or_else(|| E::unknown_variant(v, NAMES))
            }
        }
        d.deserialize_str(Visitor)
    }
}

impl AppAction {
    pub const ALL: [AppAction; 4] = [
        AppAction::Start,
        AppAction::Stop,
        AppAction::Restart,
        AppAction::Update,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppAction::Start => "start",
            AppAction::Stop => "stop",
            AppAction::Restart => "restart",
            AppAction::Update => "update",
        }
    }

    pub fn operation(self) -> Operation {
        match self {
            AppAction::Start => Operation::Start,
            AppAction::Stop => Operation::Stop,
            AppAction::Restart => Operation::Restart,
            AppAction::Update => Operation::Update,
        }
    }
}

/// `GET /health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetHealth {}

/// `GET /v1/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetInfo {}

/// `GET /v1/metrics`: Prometheus metrics, OpenMetrics text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetMetrics {}

/// `GET /v1/apps/{app}/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetAppStats {
    pub app: AppName,
}

/// `GET /v1/apps`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ListApps {}

/// `GET /v1/apps/{app}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetApp {
    pub app: AppName,
}

/// `GET /v1/apps/{app}/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ListVersions {
    pub app: AppName,
}

/// `GET /v1/apps/{app}/versions/{version}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetVersion {
    pub app: AppName,
    pub version: u32,
}

/// `GET /v1/apps/{app}/diff?from=&to=`: a unified diff (text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DiffVersions {
    pub app: AppName,
    pub from: u32,
    pub to: u32,
}

/// The query of [`DiffVersions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    pub from: u32,
    pub to: u32,
}

/// `POST /v1/apps/{app}/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SaveVersion {
    pub app: AppName,
    pub request: SaveVersionRequest,
}

/// `POST /v1/apps/{app}/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RollbackApp {
    pub app: AppName,
    pub request: RollbackRequest,
}

/// `POST /v1/apps/{app}/redeploy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RedeployApp {
    pub app: AppName,
}

/// `POST /v1/apps/{app}/{action}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RunAppAction {
    pub app: AppName,
    pub action: AppAction,
}

/// `DELETE /v1/apps/{app}?volumes=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DeleteApp {
    pub app: AppName,
    /// Also remove the app's volumes (its data).
    #[serde(default)]
    pub volumes: bool,
}

/// The query of [`DeleteApp`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Also remove the app's volumes (its data).
    #[serde(default)]
    pub volumes: bool,
}

/// `GET /v1/catalog?search=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, TS)]
#[into_params(parameter_in = Query)]
pub struct ListCatalog {
    /// Only templates whose id, name, description or category contain this.
    #[serde(default)]
    pub search: Option<String>,
}

/// `GET /v1/catalog/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetTemplate {
    pub id: String,
}

/// `POST /v1/catalog/refresh`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RefreshCatalog {}

/// `GET /v1/deployments?app=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, TS)]
#[into_params(parameter_in = Query)]
pub struct ListDeployments {
    /// Only this app's deployments.
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    pub app: Option<AppName>,
}

/// `GET /v1/proxy/domains`: every domain with its certificate status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ListDomains {}

/// `DELETE /v1/proxy/domains/{domain}`: stop serving a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RemoveDomain {
    pub domain: String,
}

/// `POST /v1/proxy/domains/{domain}/certificate`: serve an uploaded certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct UploadCertificate {
    pub domain: String,
    #[serde(flatten)]
    pub request: CertificateUpload,
}

/// `GET /v1/certs`: every certificate watched, as served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ListCerts {}

/// `DELETE /v1/certs/watch/{endpoint}`: stop watching an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct UnwatchEndpoint {
    pub endpoint: String,
}

/// `POST /v1/proxy/domains/{domain}/ssl?skip_preflight=`: order a new certificate now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RenewCertificate {
    pub domain: String,
    /// Order without checking first that the domain reaches this server (kept for the domain).
    #[serde(default)]
    pub skip_preflight: bool,
}

/// `POST /v1/proxy/reload`: apply the proxy configuration again from the agent's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ReloadProxy {}

/// `GET /v1/alerts?firing=`: alerts, firing first (newest first), then resolved ones of the last 30 days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, TS)]
#[into_params(parameter_in = Query)]
pub struct ListAlerts {
    /// Only the firing ones.
    #[serde(default)]
    pub firing: bool,
}

/// `GET /v1/alerts/rules`: every rule with its settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ListAlertRules {}

/// `PUT /v1/alerts/rules/{rule}`: change a rule (admin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct UpdateAlertRule {
    pub rule: alerts::AlertRule,
    pub update: alerts::AlertRuleUpdate,
}

/// `GET /v1/alerts/channels`: where alerts are sent, secrets hidden.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ListChannels {}

/// `DELETE /v1/alerts/channels/{name}` (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RemoveChannel {
    pub name: String,
}

/// `POST /v1/alerts/channels/{name}/test`: send a test message now (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TestChannel {
    pub name: String,
}

/// `GET /v1/backups/repository`: where backups go, and the agent's SSH key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetBackupRepository {}

/// `GET /v1/backups`: the repository's snapshots, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ListSnapshots {}

/// `POST /v1/backups/{snapshot}/restore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RestoreBackup {
    pub snapshot: String,
    pub request: backups::RestoreRequest,
}

/// `GET /v1/backups/{snapshot}/archive`: the path a snapshot's tar is downloaded from.
pub fn backup_archive_path(snapshot: &str) -> String {
    format!("/v1/backups/{}/archive", encode(snapshot))
}

/// `GET /v1/backups/schedule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetBackupSchedule {}

/// `DELETE /v1/backups/schedule`: no more scheduled backups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ClearBackupSchedule {}

/// `GET /v1/backups/runs`: backups and restores, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ListBackupRuns {}

/// `GET /v1/backups/runs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetBackupRun {
    pub id: String,
}

/// `GET /v1/audit?app=&before=&limit=`: the audit log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, TS)]
#[into_params(parameter_in = Query)]
pub struct ListAudit {
    /// Only this app's entries.
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    pub app: Option<AppName>,
    /// Only entries older than this id (the next page).
    #[serde(default)]
    #[ts(type = "number | null")]
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// How many (default 100, at most 1000).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// `GET /v1/deployments/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetDeployment {
    pub id: String,
}

/// `POST /v1/deployments/{id}/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CancelDeployment {
    pub id: String,
}

/// `GET /v1/terminals`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ListTerminals {}

/// `POST /v1/terminals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OpenTerminal {
    pub request: NewTerminal,
}

/// `DELETE /v1/terminals/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct KillTerminal {
    pub id: String,
}

/// `GET /v1/tokens`: the agent's API tokens (admin tokens only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ListTokens {}

/// An API token as `GET /v1/tokens` shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct TokenInfo {
    pub name: String,
    pub scope: TokenScope,
    /// Seconds since the epoch.
    #[ts(type = "number")]
    pub created_at: i64,
    /// Last request with it (to the minute), seconds since the epoch.
    #[ts(type = "number | null")]
    pub last_used_at: Option<i64>,
    /// When it was revoked; revoked tokens are kept for the record.
    #[ts(type = "number | null")]
    pub revoked_at: Option<i64>,
}

/// `GET /v1/deployments/{id}/log`: stored lines, then new ones until the deployment ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FollowDeploymentLog {
    pub id: String,
}

/// `GET /v1/apps/{app}/logs`: what the app's containers print.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, TS)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Only this service.
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")]
    pub service: Option<ServiceName>,
    /// Lines per container from the end: a number or `all` (default 200).
    #[serde(default)]
    #[param(pattern = "^([0-9]{1,9}|all)$")]
    pub tail: Option<String>,
    /// Only lines since: seconds since the epoch, or an age such as `10m`, `2h`, `1d`.
    #[serde(default)]
    #[param(pattern = "^[0-9]{1,12}[smhd]?$")]
    pub since: Option<String>,
    /// Keep streaming new lines.
    #[serde(default)]
    pub follow: bool,
    /// Only lines matching this regular expression.
    #[serde(default)]
    pub grep: Option<String>,
}

/// [`LogsQuery`] for one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GetAppLogs {
    pub app: AppName,
    pub query: LogsQuery,
}

/// `call!(Type: Method -> Answer, |c| path)`, optionally `, body |c| value`
/// (sent as JSON) or `, answer Kind`: a `Call` in one line.
macro_rules! call {
    ($ty:ty: $method:ident -> $resp:ty, |$c:ident| $path:expr $(, body |$b:ident| $body:expr)? $(, answer $answer:ident)?) => {
        impl Call for $ty {
            const METHOD: Method = Method::$method;
            $(const ANSWER: Answer = Answer::$answer;)?
            type Response = $resp;
            fn path(&self) -> String {
                let $c = self;
                $path
            }
            $(fn body(&self) -> Option<serde_json::Value> {
                let $b = self;
                json($body)
            })?
        }
    };
}

call!(GetHealth: Get -> Health, |_c| "/health".into());
call!(GetInfo: Get -> AgentInfo, |_c| "/v1/info".into());
call!(GetMetrics: Get -> String, |_c| "/v1/metrics".into(), answer Text);
call!(ListApps: Get -> Vec<App>, |_c| "/v1/apps".into());
call!(GetApp: Get -> App, |c| format!("/v1/apps/{}", encode(&c.app)));
call!(GetAppStats: Get -> AppStats, |c| format!("/v1/apps/{}/stats", encode(&c.app)));
call!(DeployRequest: Post -> DeployAccepted, |_c| "/v1/apps/deploy".into(), body |c| c);
call!(AdoptRequest: Post -> VersionSaved, |_c| "/v1/apps/adopt".into(), body |c| c);
call!(ComposeCheckRequest: Post -> ComposeCheck, |_c| "/v1/compose/check".into(), body |c| c);
call!(ListVersions: Get -> Vec<AppVersion>, |c| format!("/v1/apps/{}/versions", encode(&c.app)));
call!(GetVersion: Get -> AppVersionDetail, |c| format!("/v1/apps/{}/versions/{}", encode(&c.app), c.version));
call!(DiffVersions: Get -> String, |c| format!("/v1/apps/{}/diff?from={}&to={}", encode(&c.app), c.from, c.to), answer Text);
call!(SaveVersion: Post -> VersionSaved, |c| format!("/v1/apps/{}/versions", encode(&c.app)), body |c| &c.request);
call!(RollbackApp: Post -> VersionSaved, |c| format!("/v1/apps/{}/rollback", encode(&c.app)), body |c| &c.request);
call!(RedeployApp: Post -> VersionSaved, |c| format!("/v1/apps/{}/redeploy", encode(&c.app)));
call!(RunAppAction: Post -> Deployment, |c| format!("/v1/apps/{}/{}", encode(&c.app), c.action.as_str()));
call!(DeleteApp: Delete -> Deployment, |c| format!("/v1/apps/{}?volumes={}", encode(&c.app), c.volumes));
call!(ListCatalog: Get -> Vec<CatalogEntry>, |c| format!("/v1/catalog{}", query(&[("search", c.search.clone())])));
call!(GetTemplate: Get -> CatalogEntry, |c| format!("/v1/catalog/{}", encode(&c.id)));
call!(RefreshCatalog: Post -> CatalogRefreshed, |_c| "/v1/catalog/refresh".into());
call!(ListDeployments: Get -> Vec<Deployment>, |c| format!("/v1/deployments{}", query(&[("app", c.app.as_ref().map(|a| a.to_string()))])));
call!(GetDeployment: Get -> Deployment, |c| format!("/v1/deployments/{}", encode(&c.id)));
call!(CancelDeployment: Post -> Deployment, |c| format!("/v1/deployments/{}/cancel", encode(&c.id)));
call!(ListTerminals: Get -> Vec<Terminal>, |_c| "/v1/terminals".into());
call!(OpenTerminal: Post -> Terminal, |_c| "/v1/terminals".into(), body |c| &c.request);
call!(KillTerminal: Delete -> (), |c| format!("/v1/terminals/{}", encode(&c.id)), answer Empty);
call!(ListTokens: Get -> Vec<TokenInfo>, |_c| "/v1/tokens".into());
call!(ListDomains: Get -> Vec<Domain>, |_c| "/v1/proxy/domains".into());
call!(DomainRequest: Post -> Domain, |_c| "/v1/proxy/domains".into(), body |c| c);
call!(RemoveDomain: Delete -> (), |c| format!("/v1/proxy/domains/{}", encode(&c.domain)), answer Empty);
call!(ReloadProxy: Post -> Vec<Domain>, |_c| "/v1/proxy/reload".into());
call!(UploadCertificate: Post -> Domain, |c| format!("/v1/proxy/domains/{}/certificate", encode(&c.domain)), body |c| &c.request);
call!(ListCerts: Get -> Vec<CertEntry>, |_c| "/v1/certs".into());
call!(RenewCertificate: Post -> Domain, |c| format!("/v1/proxy/domains/{}/ssl{}", encode(&c.domain), query(&[("skip_preflight", c.skip_preflight.then(|| "true".to_string()))])));
call!(WatchRequest: Post -> CertEntry, |_c| "/v1/certs/watch".into(), body |c| c);
call!(UnwatchEndpoint: Delete -> (), |c| format!("/v1/certs/watch/{}", encode(&c.endpoint)), answer Empty);
call!(ListAlerts: Get -> Vec<alerts::Alert>, |c| format!("/v1/alerts{}", query(&[("firing", c.firing.then(|| "true".to_string()))])));
call!(ListAlertRules: Get -> Vec<alerts::AlertRuleSettings>, |_c| "/v1/alerts/rules".into());
call!(UpdateAlertRule: Put -> alerts::AlertRuleSettings, |c| format!("/v1/alerts/rules/{}", c.rule.as_str()), body |c| &c.update);
call!(ListChannels: Get -> Vec<alerts::Channel>, |_c| "/v1/alerts/channels".into());
call!(alerts::ChannelRequest: Post -> alerts::Channel, |_c| "/v1/alerts/channels".into(), body |c| c);
call!(RemoveChannel: Delete -> (), |c| format!("/v1/alerts/channels/{}", encode(&c.name)), answer Empty);
call!(TestChannel: Post -> (), |c| format!("/v1/alerts/channels/{}/test", encode(&c.name)), answer Empty);
call!(GetBackupRepository: Get -> backups::RepositoryInfo, |_c| "/v1/backups/repository".into());
call!(backups::RepositoryRequest: Put -> backups::Repository, |_c| "/v1/backups/repository".into(), body |c| c);
call!(ListSnapshots: Get -> Vec<backups::Snapshot>, |_c| "/v1/backups".into());
call!(backups::BackupRequest: Post -> backups::RunAccepted, |_c| "/v1/backups".into(), body |c| c);
call!(RestoreBackup: Post -> backups::RunAccepted, |c| format!("/v1/backups/{}/restore", encode(&c.snapshot)), body |c| &c.request);
call!(GetBackupSchedule: Get -> backups::ScheduleStatus, |_c| "/v1/backups/schedule".into());
call!(backups::BackupSchedule: Put -> backups::ScheduleStatus, |_c| "/v1/backups/schedule".into(), body |c| c);
call!(ClearBackupSchedule: Delete -> backups::ScheduleStatus, |_c| "/v1/backups/schedule".into());
call!(ListBackupRuns: Get -> Vec<backups::BackupRun>, |_c| "/v1/backups/runs".into());
call!(GetBackupRun: Get -> backups::BackupRun, |c| format!("/v1/backups/runs/{}", encode(&c.id)));
call!(ListAudit: Get -> Vec<AuditEntry>, |c| format!(
    "/v1/audit{}",
    query(&[("app", c.app.as_ref().map(|a| a.to_string())), ("before", c.before.map(|b| b.to_string())), ("limit", c.limit.map(|l| l.to_string()))])
));

impl StreamCall for FollowDeploymentLog {
    type Item = LogLine;
    fn path(&self) -> String {
        format!("/v1/deployments/{}/log", encode(&self.id))
    }
}

impl StreamCall for GetAppLogs {
    type Item = AppLogLine;
    fn path(&self) -> String {
        let q = &self.query;
        let pairs = [
            ("service", q.service.as_ref().map(|s| s.to_string())),
            ("tail", q.tail.clone()),
            ("since", q.since.clone()),
            ("follow", q.follow.then(|| "true".to_string())),
            ("grep", q.grep.clone().filter(|g| !g.is_empty())),
        ];
        format!("/v1/apps/{}/logs{}", encode(&self.app), query(&pairs))
    }
}

/// Calls `$m!` with every request/response call as `Variant(Type) => "name"`:
/// the one list from which the desktop's IPC enum, its dispatch and the
/// frontend's types are made.
#[macro_export]
macro_rules! agent_calls {
    ($m:ident) => {
        $m! {
            GetInfo(GetInfo),
            GetMetrics(GetMetrics),
            ListApps(ListApps),
            GetApp(GetApp),
            GetAppStats(GetAppStats),
            DeployApp(DeployRequest),
            AdoptApp(AdoptRequest),
            CheckCompose(ComposeCheckRequest),
            ListVersions(ListVersions),
            GetVersion(GetVersion),
            DiffVersions(DiffVersions),
            SaveVersion(SaveVersion),
            RollbackApp(RollbackApp),
            RedeployApp(RedeployApp),
            RunAppAction(RunAppAction),
            DeleteApp(DeleteApp),
            ListCatalog(ListCatalog),
            GetTemplate(GetTemplate),
            RefreshCatalog(RefreshCatalog),
            ListDeployments(ListDeployments),
            GetDeployment(GetDeployment),
            CancelDeployment(CancelDeployment),
            ListTerminals(ListTerminals),
            OpenTerminal(OpenTerminal),
            KillTerminal(KillTerminal),
            ListTokens(ListTokens),
            ListAudit(ListAudit),
            ListDomains(ListDomains),
            AddDomain(DomainRequest),
            RemoveDomain(RemoveDomain),
            ReloadProxy(ReloadProxy),
            UploadCertificate(UploadCertificate),
            RenewCertificate(RenewCertificate),
            ListCerts(ListCerts),
            WatchEndpoint(WatchRequest),
            UnwatchEndpoint(UnwatchEndpoint),
            ListAlerts(ListAlerts),
            ListAlertRules(ListAlertRules),
            UpdateAlertRule(UpdateAlertRule),
            ListChannels(ListChannels),
            AddChannel(alerts::ChannelRequest),
            RemoveChannel(RemoveChannel),
            TestChannel(TestChannel),
            GetBackupRepository(GetBackupRepository),
            ListSnapshots(ListSnapshots),
            CreateBackup(backups::BackupRequest),
            RestoreBackup(RestoreBackup),
            ListBackupRuns(ListBackupRuns),
            GetBackupRun(GetBackupRun),
            GetBackupSchedule(GetBackupSchedule),
            SetBackupSchedule(backups::BackupSchedule),
            ClearBackupSchedule(ClearBackupSchedule),
        }
    };
}

macro_rules! define_agent_call {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// Any agent call, as the desktop's frontend sends it over IPC:
        /// `{ call: "list_apps", args: {} }`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
        #[serde(tag = "call", content = "args", rename_all = "snake_case")]
        pub enum AgentCall {
            $($variant($ty),)*
        }

        impl AgentCall {
            /// The call's name on the wire (`list_apps`).
            pub fn name(&self) -> String {
                match self {
                    $(AgentCall::$variant(_) => snake_case(stringify!($variant)),)*
                }
            }

            /// Its method and path, for logs.
            pub fn describe(&self) -> String {
                match self {
                    $(AgentCall::$variant(c) => format!("{} {}", <$ty as Call>::METHOD.as_str(), c.path()),)*
                }
            }
        }

        /// TypeScript: the answer type of each call, by name.
        pub fn typescript_call_responses() -> String {
            let cfg = ts_rs::Config::default();
            let mut out = String::from("export type AgentCallResponse = {\n");
            $(
                out.push_str(&format!("  {}: {};\n", snake_case(stringify!($variant)), <<$ty as Call>::Response as TS>::name(&cfg)));
            )*
            out.push_str("};\n");
            out
        }
    };
}

agent_calls!(define_agent_call);

/// TypeScript declarations of the call types, as committed in
/// `src-ui/src/api/calls.gen.ts`.
pub fn typescript_call_declarations() -> String {
    let cfg = ts_rs::Config::default();
    let decls = [
        AppAction::decl(&cfg),
        GetInfo::decl(&cfg),
        GetMetrics::decl(&cfg),
        ListApps::decl(&cfg),
        GetApp::decl(&cfg),
        GetAppStats::decl(&cfg),
        ListVersions::decl(&cfg),
        GetVersion::decl(&cfg),
        DiffVersions::decl(&cfg),
        SaveVersion::decl(&cfg),
        RollbackApp::decl(&cfg),
        RedeployApp::decl(&cfg),
        RunAppAction::decl(&cfg),
        DeleteApp::decl(&cfg),
        ListCatalog::decl(&cfg),
        GetTemplate::decl(&cfg),
        RefreshCatalog::decl(&cfg),
        ListDeployments::decl(&cfg),
        ListAudit::decl(&cfg),
        ListAlerts::decl(&cfg),
        ListAlertRules::decl(&cfg),
        UpdateAlertRule::decl(&cfg),
        ListChannels::decl(&cfg),
        RemoveChannel::decl(&cfg),
        TestChannel::decl(&cfg),
        GetBackupRepository::decl(&cfg),
        ListSnapshots::decl(&cfg),
        RestoreBackup::decl(&cfg),
        ListBackupRuns::decl(&cfg),
        GetBackupRun::decl(&cfg),
        GetBackupSchedule::decl(&cfg),
        ClearBackupSchedule::decl(&cfg),
        ListDomains::decl(&cfg),
        RemoveDomain::decl(&cfg),
        ReloadProxy::decl(&cfg),
        UploadCertificate::decl(&cfg),
        RenewCertificate::decl(&cfg),
        ListCerts::decl(&cfg),
        UnwatchEndpoint::decl(&cfg),
        GetDeployment::decl(&cfg),
        CancelDeployment::decl(&cfg),
        ListTerminals::decl(&cfg),
        OpenTerminal::decl(&cfg),
        KillTerminal::decl(&cfg),
        LogsQuery::decl(&cfg),
        ListTokens::decl(&cfg),
        TokenInfo::decl(&cfg),
        AgentCall::decl(&cfg),
    ];
    let imports = "import type {\n  AdoptRequest,\n  AgentInfo,\n  Alert,\n  AlertRule,\n  AlertRuleSettings,\n  AlertRuleUpdate,\n  App,\n  AppName,\n  AppStats,\n  AppVersion,\n  AppVersionDetail,\n  AuditEntry,\n  BackupRequest,\n  BackupRun,\n  BackupSchedule,\n  ScheduleStatus,\n  RepositoryInfo,\n  RestoreRequest,\n  RunAccepted,\n  Snapshot,\n  CatalogEntry,\n  CatalogRefreshed,\n  ComposeCheck,\n  CertEntry,\n  Channel,\n  ChannelRequest,\n  ComposeCheckRequest,\n  DeployAccepted,\n  Domain,\n  DomainRequest,\n  DeployRequest,\n  Deployment,\n  NewTerminal,\n  RollbackRequest,\n  SaveVersionRequest,\n  ServiceName,\n  Terminal,\n  TokenScope,\n  VersionSaved,\n  WatchRequest,\n} from \"./types.gen\";\n\n";
    let mut out = crate::render_ts(&decls, imports);
    out.push('\n');
    out.push_str("/** The answer of each call, by its name. */\n");
    out.push_str(&typescript_call_responses());
    out.push_str("\nexport type CallName = AgentCall[\"call\"];\n\n/** The request of the call named `K`. */\nexport type CallOf<K extends CallName> = Extract<AgentCall, { call: K }>;\n");
    out
}

/// `ListApps` → `list_apps`: a variant's name on the wire (serde's `snake_case` rule).
fn snake_case(variant: &str) -> String {
    let mut out = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded() {
        let app = AppName::parse("blog").expect("name");
        assert_eq!(GetApp { app: app.clone() }.path(), "/v1/apps/blog");
        assert_eq!(
            DiffVersions {
                app: app.clone(),
                from: 1,
                to: 2
            }
            .path(),
            "/v1/apps/blog/diff?from=1&to=2"
        );
        assert_eq!(
            RunAppAction {
                app: app.clone(),
                action: AppAction::Restart
            }
            .path(),
            "/v1/apps/blog/restart"
        );
        assert_eq!(
            DeleteApp {
                app: app.clone(),
                volumes: true
            }
            .path(),
            "/v1/apps/blog?volumes=true"
        );
        assert_eq!(
            ListCatalog {
                search: Some("a b;c".into())
            }
            .path(),
            "/v1/catalog?search=a%20b%3Bc"
        );
        assert_eq!(ListCatalog { search: None }.path(), "/v1/catalog");
        assert_eq!(
            GetTemplate { id: "../x".into() }.path(),
            "/v1/catalog/..%2Fx"
        );
        assert_eq!(
            ListDeployments {
                app: Some(app.clone())
            }
            .path(),
            "/v1/deployments?app=blog"
        );
        let logs = GetAppLogs {
            app,
            query: LogsQuery {
                service: ServiceName::parse("db").ok(),
                tail: Some("all".into()),
                grep: Some("err|warn".into()),
                follow: true,
                since: None,
            },
        };
        assert_eq!(
            logs.path(),
            "/v1/apps/blog/logs?service=db&tail=all&follow=true&grep=err%7Cwarn"
        );
    }

    #[test]
    fn agent_calls_travel_as_tagged_json() {
        let c: AgentCall = serde_json::from_value(
            serde_json::json!({"call": "get_version", "args": {"app": "blog", "version": 3}}),
        )
        .expect("call");
        assert_eq!(c.describe(), "GET /v1/apps/blog/versions/3");
        assert_eq!(c.name(), "get_version");
        let e = serde_json::from_value::<AgentCall>(
            serde_json::json!({"call": "get_app", "args": {"app": "../etc"}}),
        )
        .expect_err("invalid");
        assert!(e.to_string().contains(AppName::RULE), "{e}");
        let unit: AgentCall =
            serde_json::from_value(serde_json::json!({"call": "list_apps", "args": {}}))
                .expect("call");
        assert_eq!(unit.describe(), "GET /v1/apps");
        // The name the enum carries is the one serde puts on the wire.
        let wire = serde_json::to_value(&unit).expect("json");
        assert_eq!(wire["call"], unit.name());
    }

    #[test]
    fn every_call_has_an_answer_type() {
        let ts = typescript_call_responses();
        for line in [
            "  list_apps: Array<App>;",
            "  diff_versions: string;",
            "  kill_terminal: null;",
            "  deploy_app: DeployAccepted;",
        ] {
            assert!(ts.contains(line), "{line} missing from\n{ts}");
        }
    }
}
