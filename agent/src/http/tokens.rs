//! `/v1/tokens`: the agent's API tokens.

use appos_proto::calls::TokenInfo;
use appos_proto::Problem;
use axum::extract::State;
use axum::{Extension, Json};

use super::problem::ApiResult;
use crate::services::tokens::{self, Principal};
use crate::state::Shared;

/// Every token (admin tokens only): name, scope, creation, last use and
/// revocation, never the secret.
#[utoipa::path(get, operation_id = "list_tokens", tag = "tokens", path = "/tokens", security(("bearer" = [])), responses(
    (status = 200, body = [TokenInfo]),
    (status = 403, body = Problem, description = "Not an admin token"),
))]
pub async fn list(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    Ok(Json(tokens::list_for(&state, &who).await?))
}
