//! `/v1/proxy`: domains served by the reverse proxy, and reloading it.

use appos_proto::{CertEntry, CertificateUpload, Domain, DomainRequest, Problem, WatchRequest};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::problem::ApiResult;
use crate::services::tokens::Principal;
use crate::services::{certs, domains};
use crate::state::Shared;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DomainPath {
    /// The domain name.
    pub domain: String,
}

/// Every domain, with the certificate the proxy serves for it.
#[utoipa::path(get, operation_id = "list_domains", tag = "proxy", path = "/proxy/domains", security(("bearer" = [])), responses(
    (status = 200, body = [Domain]),
))]
pub async fn list(State(state): State<Shared>) -> ApiResult<Json<Vec<Domain>>> {
    Ok(Json(domains::list(&state).await?))
}

/// Serves a domain from an app's service (`target`: `APP[/SERVICE]:PORT`).
#[utoipa::path(post, operation_id = "add_domain", tag = "proxy", path = "/proxy/domains", security(("bearer" = [])), request_body = DomainRequest, responses(
    (status = 201, body = Domain),
    (status = 409, body = Problem, description = "The domain already points at a target, or no reverse proxy runs here"),
    (status = 502, body = Problem, description = "The proxy refused the configuration; the running one stays"),
    (status = 503, body = Problem, description = "The reverse proxy does not answer"),
))]
pub async fn add(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<DomainRequest>,
) -> ApiResult<(StatusCode, Json<Domain>)> {
    Ok((
        StatusCode::CREATED,
        Json(domains::add(&state, &who, req).await?),
    ))
}

/// Stops serving a domain.
#[utoipa::path(delete, operation_id = "remove_domain", tag = "proxy", path = "/proxy/domains/{domain}", security(("bearer" = [])), params(DomainPath), responses(
    (status = 204, description = "No longer served"),
    (status = 404, body = Problem, description = "No such domain"),
    (status = 502, body = Problem, description = "The proxy refused the configuration; the running one stays"),
    (status = 409, body = Problem, description = "No reverse proxy runs here"),
    (status = 503, body = Problem, description = "The reverse proxy does not answer"),
))]
pub async fn remove(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<DomainPath>,
) -> ApiResult<StatusCode> {
    domains::remove(&state, &who, &p.domain).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Applies the proxy's configuration again from the agent's state.
#[utoipa::path(post, operation_id = "reload_proxy", tag = "proxy", path = "/proxy/reload", security(("bearer" = [])), responses(
    (status = 200, body = [Domain]),
    (status = 502, body = Problem, description = "The proxy refused the configuration; the running one stays"),
    (status = 409, body = Problem, description = "No reverse proxy runs here"),
    (status = 503, body = Problem, description = "The reverse proxy does not answer"),
))]
pub async fn reload(State(state): State<Shared>) -> ApiResult<Json<Vec<Domain>>> {
    Ok(Json(domains::reload(&state).await?))
}

/// Serves a certificate of your own for a domain (checked: the chain in
/// order, its key, names covering the domain, not expired).
#[utoipa::path(post, operation_id = "upload_certificate", tag = "proxy", path = "/proxy/domains/{domain}/certificate", security(("bearer" = [])), params(DomainPath), request_body = CertificateUpload, responses(
    (status = 200, body = Domain),
    (status = 404, body = Problem, description = "No such domain"),
    (status = 409, body = Problem, description = "No reverse proxy runs here"),
    (status = 502, body = Problem, description = "The proxy refused the configuration; the running one stays"),
    (status = 503, body = Problem, description = "The reverse proxy does not answer"),
))]
pub async fn upload(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<DomainPath>,
    ApiJson(req): ApiJson<CertificateUpload>,
) -> ApiResult<Json<Domain>> {
    Ok(Json(domains::upload(&state, &who, &p.domain, req).await?))
}

/// The certificate inventory: each HTTPS domain and watched endpoint, as served.
#[utoipa::path(get, operation_id = "list_certs", tag = "proxy", path = "/certs", security(("bearer" = [])), responses(
    (status = 200, body = [CertEntry]),
))]
pub async fn certs_list(State(state): State<Shared>) -> ApiResult<Json<Vec<CertEntry>>> {
    Ok(Json(certs::inventory(&state).await?))
}

/// Adds a TLS endpoint (`host:port`) to the inventory.
#[utoipa::path(post, operation_id = "watch_endpoint", tag = "proxy", path = "/certs/watch", security(("bearer" = [])), request_body = WatchRequest, responses(
    (status = 201, body = CertEntry),
))]
pub async fn watch(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<WatchRequest>,
) -> ApiResult<(StatusCode, Json<CertEntry>)> {
    Ok((
        StatusCode::CREATED,
        Json(certs::watch(&state, &who, req).await?),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EndpointPath {
    /// `host:port`.
    pub endpoint: String,
}

/// Stops watching an endpoint.
#[utoipa::path(delete, operation_id = "unwatch_endpoint", tag = "proxy", path = "/certs/watch/{endpoint}", security(("bearer" = [])), params(EndpointPath), responses(
    (status = 204, description = "No longer watched"),
    (status = 404, body = Problem, description = "Not watched"),
))]
pub async fn unwatch(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<EndpointPath>,
) -> ApiResult<StatusCode> {
    certs::unwatch(&state, &who, &p.endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Orders a new certificate for a domain now.
#[utoipa::path(post, operation_id = "renew_certificate", tag = "proxy", path = "/proxy/domains/{domain}/ssl", security(("bearer" = [])), params(DomainPath, RenewQuery), responses(
    (status = 200, body = Domain),
    (status = 404, body = Problem, description = "No such domain"),
    (status = 409, body = Problem, description = "No reverse proxy runs here"),
    (status = 502, body = Problem, description = "The proxy refused the configuration; the running one stays"),
    (status = 503, body = Problem, description = "The reverse proxy does not answer"),
))]
pub async fn renew(
    State(state): State<Shared>,
    Extension(who): Extension<Principal>,
    ApiPath(p): ApiPath<DomainPath>,
    ApiQuery(q): ApiQuery<RenewQuery>,
) -> ApiResult<Json<Domain>> {
    Ok(Json(
        domains::renew(&state, &who, &p.domain, q.skip_preflight).await?,
    ))
}

/// How to order.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RenewQuery {
    /// Order without checking first that the domain reaches this server (kept for the domain).
    #[serde(default)]
    pub skip_preflight: bool,
}
