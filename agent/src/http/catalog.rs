//! `/v1/catalog`: the templates, one template, refreshing the sources.

use appos_proto::calls::ListCatalog;
use appos_proto::{CatalogEntry, CatalogRefreshed, Problem, ProblemCode};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiPath, ApiQuery};
use super::problem::{ApiError, ApiResult};
use crate::state::Shared;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TemplatePath {
    pub id: String,
}

/// The app templates this agent can deploy.
#[utoipa::path(get, operation_id = "list_catalog", tag = "catalog", path = "/catalog", security(("bearer" = [])), params(ListCatalog), responses((status = 200, body = [CatalogEntry])))]
pub async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListCatalog>,
) -> Json<Vec<CatalogEntry>> {
    Json(state.catalog.get().list(q.search.as_deref()))
}

/// Pulls the catalog's git source (if one is configured) and reads every
/// source again.
#[utoipa::path(post, operation_id = "refresh_catalog", tag = "catalog", path = "/catalog/refresh", security(("bearer" = [])), responses((status = 200, body = CatalogRefreshed)))]
pub async fn refresh(State(state): State<Shared>) -> Json<CatalogRefreshed> {
    Json(state.catalog.refresh().await)
}

/// One template.
#[utoipa::path(get, operation_id = "get_template", tag = "catalog", path = "/catalog/{id}", security(("bearer" = [])), params(TemplatePath), responses(
    (status = 200, body = CatalogEntry),
    (status = 404, body = Problem, description = "No such template"),
))]
pub async fn get(
    State(state): State<Shared>,
    ApiPath(p): ApiPath<TemplatePath>,
) -> ApiResult<Json<CatalogEntry>> {
    state
        .catalog
        .get()
        .get(&p.id)
        .map(|t| Json(t.entry.clone()))
        .ok_or_else(|| {
            ApiError::new(
                ProblemCode::TemplateNotFound,
                format!("no template {:?} in the catalog", p.id),
            )
        })
}
