//! The one problem vocabulary: every failed agent call answers a
//! [`Problem`] whose [`ProblemCode`] says what happened; the HTTP status
//! follows from the code.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// What went wrong, for programs: each code has one meaning and one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// 400: the request is malformed or breaks a rule; `errors` names each field.
    InvalidInput,
    /// 401: no token, an unknown one, or a revoked one.
    Unauthorized,
    /// 403: the token's scope does not allow this.
    Forbidden,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists, but not with this method.
    MethodNotAllowed,
    /// 413: the request body is too large.
    TooLarge,
    /// 422: this `Idempotency-Key` was used for another request (method, path or body).
    IdempotencyKeyReused,
    /// 409: a request with this `Idempotency-Key` is still being answered.
    IdempotencyInProgress,
    /// 404: AppOS manages no app of that name, and Docker has no such compose project.
    AppNotFound,
    /// 409: a compose project of that name runs, but AppOS does not manage it (adopt it first).
    AppNotManaged,
    /// 404: the app has no such version.
    VersionNotFound,
    /// 404: no such deployment.
    DeploymentNotFound,
    /// 404: no such catalog template.
    TemplateNotFound,
    /// 404: no such terminal session.
    TerminalNotFound,
    /// 404: no compose project of that name runs here.
    ProjectNotFound,
    /// 409: AppOS already manages an app of that name.
    AppExists,
    /// 409: a compose project of that name already runs; adopt it instead.
    ProjectExists,
    /// 409: pinning was asked for, but no image digests are recorded for that version.
    NoDigests,
    /// 409: the project's compose files cannot be read or merged.
    CannotAdopt,
    /// 409: the app's service has no running container, or no shell.
    NoContainer,
    /// 429: as many terminals are open as the agent allows.
    TooManyTerminals,
    /// 429: the token holds as many streams (events, followed logs) open as the agent allows.
    TooManyStreams,
    /// 429: too many failed authentications lately, or this token sends too
    /// many requests; the `Retry-After` header says when to try again.
    RateLimited,
    /// 404: no such domain.
    DomainNotFound,
    /// 404: no such alert channel.
    ChannelNotFound,
    /// 409: an alert channel of that name exists.
    ChannelExists,
    /// 502: a test message did not get through the channel.
    ChannelFailed,
    /// 409: no backup repository is set.
    NoRepository,
    /// 409: a repository exists at that location (give its key).
    RepositoryExists,
    /// 404: no such backup or restore run.
    RunNotFound,
    /// 404: the repository holds no such snapshot.
    SnapshotNotFound,
    /// 502: restic failed (the detail says why).
    BackupFailed,
    /// 409: the domain already points at a target.
    DomainTaken,
    /// 502: the reverse proxy refused the configuration (the running one stays).
    ProxyRefused,
    /// 409: this agent runs no reverse proxy (its listen addresses are not set).
    NoProxy,
    /// 503: the reverse proxy does not answer.
    ProxyUnavailable,
    /// 500: the terminal's process could not start.
    TerminalFailed,
    /// 500: the agent failed; its log has the details under the problem's `request_id`.
    Internal,
    /// 503: Docker is not reachable.
    DockerUnavailable,
    /// A code this build does not know (a newer agent), or an answer that was not a problem at all.
    Unknown,
}

impl ProblemCode {
    /// Every code an agent sends.
    pub const ALL: [ProblemCode; 39] = [
        ProblemCode::InvalidInput,
        ProblemCode::Unauthorized,
        ProblemCode::Forbidden,
        ProblemCode::NotFound,
        ProblemCode::MethodNotAllowed,
        ProblemCode::TooLarge,
        ProblemCode::AppNotFound,
        ProblemCode::AppNotManaged,
        ProblemCode::VersionNotFound,
        ProblemCode::DeploymentNotFound,
        ProblemCode::TemplateNotFound,
        ProblemCode::TerminalNotFound,
        ProblemCode::ProjectNotFound,
        ProblemCode::AppExists,
        ProblemCode::ProjectExists,
        ProblemCode::NoDigests,
        ProblemCode::CannotAdopt,
        ProblemCode::NoContainer,
        ProblemCode::TooManyTerminals,
        ProblemCode::TooManyStreams,
        ProblemCode::RateLimited,
        ProblemCode::DomainNotFound,
        ProblemCode::ChannelNotFound,
        ProblemCode::ChannelExists,
        ProblemCode::ChannelFailed,
        ProblemCode::NoRepository,
        ProblemCode::RepositoryExists,
        ProblemCode::RunNotFound,
        ProblemCode::SnapshotNotFound,
        ProblemCode::BackupFailed,
        ProblemCode::DomainTaken,
        ProblemCode::ProxyRefused,
        ProblemCode::NoProxy,
        ProblemCode::ProxyUnavailable,
        ProblemCode::TerminalFailed,
        ProblemCode::Internal,
        ProblemCode::DockerUnavailable,
        ProblemCode::IdempotencyKeyReused,
        ProblemCode::IdempotencyInProgress,
    ];

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        use ProblemCode::*;
        match self {
            InvalidInput => 400,
            Unauthorized => 401,
            Forbidden => 403,
            NotFound | AppNotFound | VersionNotFound | DeploymentNotFound | TemplateNotFound
            | TerminalNotFound | ProjectNotFound | DomainNotFound | ChannelNotFound
            | RunNotFound | SnapshotNotFound => 404,
            MethodNotAllowed => 405,
            AppNotManaged
            | AppExists
            | ProjectExists
            | NoDigests
            | CannotAdopt
            | NoContainer
            | DomainTaken
            | NoProxy
            | ChannelExists
            | NoRepository
            | RepositoryExists
            | IdempotencyInProgress => 409,
            TooLarge => 413,
            IdempotencyKeyReused => 422,
            TooManyTerminals | TooManyStreams | RateLimited => 429,
            TerminalFailed | Internal | Unknown => 500,
            ProxyRefused | ChannelFailed | BackupFailed => 502,
            DockerUnavailable | ProxyUnavailable => 503,
        }
    }

    /// A short human summary, the problem's `title`.
    pub fn title(self) -> &'static str {
        use ProblemCode::*;
        match self {
            InvalidInput => "Invalid input",
            Unauthorized => "Missing or invalid token",
            Forbidden => "This token may not do that",
            NotFound => "No such route",
            MethodNotAllowed => "Method not allowed",
            TooLarge => "Request too large",
            AppNotFound => "No such app",
            AppNotManaged => "AppOS does not manage this app",
            VersionNotFound => "No such version",
            DeploymentNotFound => "No such deployment",
            TemplateNotFound => "No such template",
            TerminalNotFound => "No such terminal",
            ProjectNotFound => "No such compose project",
            AppExists => "The app exists",
            ProjectExists => "A compose project of that name exists",
            NoDigests => "No digests are recorded",
            CannotAdopt => "Cannot adopt this project",
            NoContainer => "Nothing to run the command in",
            TooManyTerminals => "Too many terminals",
            TooManyStreams => "Too many streams",
            RateLimited => "Too many requests",
            DomainNotFound => "No such domain",
            ChannelNotFound => "No such alert channel",
            ChannelExists => "The alert channel exists",
            ChannelFailed => "The message did not get through",
            NoRepository => "No backup repository is set",
            RepositoryExists => "A repository exists there",
            IdempotencyKeyReused => "This Idempotency-Key was used for another request",
            IdempotencyInProgress => "A request with this Idempotency-Key is still being answered",
            RunNotFound => "No such run",
            SnapshotNotFound => "No such snapshot",
            BackupFailed => "restic failed",
            DomainTaken => "The domain is taken",
            ProxyRefused => "The proxy refused the configuration",
            NoProxy => "No reverse proxy runs here",
            ProxyUnavailable => "The reverse proxy does not answer",
            TerminalFailed => "The terminal could not start",
            Internal => "Internal error",
            DockerUnavailable => "Docker is not reachable",
            Unknown => "Unexpected answer",
        }
    }

    pub fn as_str(self) -> &'static str {
        use ProblemCode::*;
        match self {
            InvalidInput => "invalid_input",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            TooLarge => "too_large",
            AppNotFound => "app_not_found",
            AppNotManaged => "app_not_managed",
            VersionNotFound => "version_not_found",
            DeploymentNotFound => "deployment_not_found",
            TemplateNotFound => "template_not_found",
            TerminalNotFound => "terminal_not_found",
            ProjectNotFound => "project_not_found",
            AppExists => "app_exists",
            ProjectExists => "project_exists",
            NoDigests => "no_digests",
            CannotAdopt => "cannot_adopt",
            NoContainer => "no_container",
            TooManyTerminals => "too_many_terminals",
            TooManyStreams => "too_many_streams",
            RateLimited => "rate_limited",
            DomainNotFound => "domain_not_found",
            ChannelNotFound => "channel_not_found",
            ChannelExists => "channel_exists",
            ChannelFailed => "channel_failed",
            NoRepository => "no_repository",
            RepositoryExists => "repository_exists",
            IdempotencyKeyReused => "idempotency_key_reused",
            IdempotencyInProgress => "idempotency_in_progress",
            RunNotFound => "run_not_found",
            SnapshotNotFound => "snapshot_not_found",
            BackupFailed => "backup_failed",
            DomainTaken => "domain_taken",
            ProxyRefused => "proxy_refused",
            NoProxy => "no_proxy",
            ProxyUnavailable => "proxy_unavailable",
            TerminalFailed => "terminal_failed",
            Internal => "internal",
            DockerUnavailable => "docker_unavailable",
            Unknown => "unknown",
        }
    }
}

/// A code this build does not know reads as [`ProblemCode::Unknown`].
impl<'de> Deserialize<'de> for ProblemCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ProblemCode, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ProblemCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or(ProblemCode::Unknown))
    }
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error body of every failed request (RFC 9457 problem details), sent as
/// `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Problem {
    pub code: ProblemCode,
    /// A short human summary.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this case, for a human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub detail: Option<String>,
    /// For invalid input: what is wrong with which field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Names the request in the agent's log (also the `x-request-id` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub request_id: Option<String>,
}

impl Problem {
    pub fn new(code: ProblemCode, detail: Option<String>) -> Problem {
        Problem {
            code,
            title: code.title().into(),
            status: code.status(),
            detail,
            errors: Vec::new(),
            request_id: None,
        }
    }

    /// A 400 with one error per field.
    pub fn invalid(errors: Vec<FieldError>) -> Problem {
        Problem {
            errors,
            ..Problem::new(ProblemCode::InvalidInput, None)
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.title)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        for (i, e) in self.errors.iter().enumerate() {
            write!(
                f,
                "{} {}: {}",
                if i == 0 { ":" } else { ";" },
                e.field,
                e.message
            )?;
        }
        Ok(())
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct FieldError {
    /// The field, e.g. `name`, `compose`, `env.DB_PASSWORD`, `services.web.volumes[0]`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_read() {
        for code in ProblemCode::ALL {
            let json = serde_json::to_string(&code).expect("json");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(
                serde_json::from_str::<ProblemCode>(&json).expect("back"),
                code
            );
            assert!((400..600).contains(&code.status()), "{code}");
        }
        assert_eq!(
            serde_json::from_str::<ProblemCode>("\"from_the_future\"").expect("read"),
            ProblemCode::Unknown
        );
    }

    #[test]
    fn statuses_by_code() {
        for (code, status) in [
            (ProblemCode::InvalidInput, 400),
            (ProblemCode::Unauthorized, 401),
            (ProblemCode::Forbidden, 403),
            (ProblemCode::AppNotFound, 404),
            (ProblemCode::AppNotManaged, 409),
            (ProblemCode::TooLarge, 413),
            (ProblemCode::TooManyTerminals, 429),
            (ProblemCode::RateLimited, 429),
            (ProblemCode::Internal, 500),
            (ProblemCode::DockerUnavailable, 503),
        ] {
            assert_eq!(code.status(), status, "{code}");
        }
    }
}
