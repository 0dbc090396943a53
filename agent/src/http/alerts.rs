//! `/v1/alerts`: alerts, the rules that raise them, and the channels they
//! are sent to (changing rules and channels takes an admin token).

use appos_proto::alerts::{Alert, AlertRuleSettings, AlertRuleUpdate, Channel, ChannelRequest};
use appos_proto::calls::ListAlerts;
use appos_proto::Problem;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::problem::ApiResult;
use crate::services::alerts;
use crate::services::tokens::Principal;
use crate::state::Shared;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RulePath {
    /// The rule: `deployment_failed`, `restart_loop`, `unhealthy`, `memory_high`, `disk_low` or `certificate_expiring`.
    pub rule: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ChannelPath {
    /// The channel's name.
    pub name: String,
}

/// Alerts: the firing ones first, newest first, then those resolved in the last 30 days.
#[utoipa::path(get, operation_id = "list_alerts", tag = "alerts", path = "/alerts", security(("bearer" = [])), params(ListAlerts), responses(
    (status = 200, body = [Alert]),
))]
pub async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListAlerts>,
) -> ApiResult<Json<Vec<Alert>>> {
    Ok(Json(alerts::list(&state, q.firing).await?))
}

/// Every rule with its settings (the shipped defaults where no admin changed them).
#[utoipa::path(get, operation_id = "list_alert_rules", tag = "alerts", path = "/alerts/rules", security(("bearer" = [])), responses(
    (status = 200, body = [AlertRuleSettings]),
))]
pub async fn rules(State(state): State<Shared>) -> ApiResult<Json<Vec<AlertRuleSettings>>> {
    Ok(Json(alerts::rules(&state).await?))
}

/// Changes a rule: the fields sent change, the others stay. The next round applies it.
#[utoipa::path(put, operation_id = "update_alert_rule", tag = "alerts", path = "/alerts/rules/{rule}", security(("bearer" = [])), params(RulePath), request_body = AlertRuleUpdate, responses(
    (status = 200, body = AlertRuleSettings),
))]
pub async fn update_rule(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<RulePath>,
    ApiJson(update): ApiJson<AlertRuleUpdate>,
) -> ApiResult<Json<AlertRuleSettings>> {
    Ok(Json(alerts::set_rule(&state, &who, &p.rule, update).await?))
}

/// Where alerts are sent, secrets hidden (the channel `config` is `APPOS_ALERT_WEBHOOK`).
#[utoipa::path(get, operation_id = "list_alert_channels", tag = "alerts", path = "/alerts/channels", security(("bearer" = [])), responses(
    (status = 200, body = [Channel]),
))]
pub async fn channels(State(state): State<Shared>) -> ApiResult<Json<Vec<Channel>>> {
    Ok(Json(alerts::channels(&state).await?))
}

/// Adds a channel: a webhook, ntfy, Slack- or Discord-compatible webhooks, or email over SMTP.
#[utoipa::path(post, operation_id = "add_alert_channel", tag = "alerts", path = "/alerts/channels", security(("bearer" = [])), request_body = ChannelRequest, responses(
    (status = 201, body = Channel),
    (status = 409, body = Problem, description = "A channel of that name exists"),
))]
pub async fn add_channel(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<ChannelRequest>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    Ok((
        StatusCode::CREATED,
        Json(alerts::add_channel(&state, &who, req).await?),
    ))
}

/// Removes a channel; notices queued for it are dropped.
#[utoipa::path(delete, operation_id = "remove_alert_channel", tag = "alerts", path = "/alerts/channels/{name}", security(("bearer" = [])), params(ChannelPath), responses(
    (status = 204, description = "Removed"),
    (status = 404, body = Problem, description = "No such channel"),
))]
pub async fn remove_channel(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<ChannelPath>,
) -> ApiResult<StatusCode> {
    alerts::remove_channel(&state, &who, &p.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a test message through a channel now.
#[utoipa::path(post, operation_id = "test_alert_channel", tag = "alerts", path = "/alerts/channels/{name}/test", security(("bearer" = [])), params(ChannelPath), responses(
    (status = 204, description = "The channel took the message"),
    (status = 404, body = Problem, description = "No such channel"),
    (status = 502, body = Problem, description = "The message did not get through; the detail says why"),
))]
pub async fn test_channel(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<ChannelPath>,
) -> ApiResult<StatusCode> {
    alerts::test_channel(&state, &who, &p.name).await?;
    Ok(StatusCode::NO_CONTENT)
}
