//! `/v1/audit`: who changed what, and the host access each change granted.

use appos_proto::calls::ListAudit;
use appos_proto::AuditEntry;
use axum::extract::State;
use axum::Json;

use super::extract::ApiQuery;
use super::problem::ApiResult;
use crate::services::audit;
use crate::state::Shared;

/// The audit log, newest first: of one app with `app`, a page older than
/// `before` with `before`.
#[utoipa::path(get, operation_id = "list_audit", tag = "audit", path = "/audit", security(("bearer" = [])), params(ListAudit), responses(
    (status = 200, body = [AuditEntry]),
))]
pub async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListAudit>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(audit::list(&state, q).await?))
}
