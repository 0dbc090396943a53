//! What the reverse proxy serves, generated from the agent's state: each
//! domain whose target container runs, with the certificate files it is
//! served with. Loaded at start, after every domain change, when an app's
//! containers change address, and when a certificate arrives.

use std::net::SocketAddr;

use crate::core::proxy::Route;
use crate::error::Result;
use crate::infra::db::{self, domains::Row};
use crate::infra::proxy::ProxyBackend as _;
use crate::state::Shared;

/// Where the agent keeps the certificates it ordered: `<data>/acme/certs/DOMAIN/`.
pub fn ordered_dir(state: &Shared) -> std::path::PathBuf {
    state.config.data_dir.join("acme").join("certs")
}

/// Where a domain's uploaded certificate and key are kept.
pub fn cert_dir(state: &Shared, domain: &str) -> std::path::PathBuf {
    state.config.data_dir.join("certs").join(domain)
}

/// The routes the proxy serves now: each domain whose target container runs.
async fn routes(state: &Shared, rows: &[Row]) -> Vec<Route> {
    let Some(cfg) = &state.config.proxy else {
        return Vec::new();
    };
    let wanted: std::collections::HashSet<(String, String)> = rows
        .iter()
        .map(|r| (r.app.clone(), r.service.clone()))
        .collect();
    let mut ours = db::call(&state.db, db::apps::names)
        .await
        .unwrap_or_default();
    ours.extend(rows.iter().map(|r| r.app.clone()));
    let addresses =
        match crate::infra::docker::proxy_addresses(&state.docker, &cfg.network, &wanted, &ours)
            .await
        {
            Ok(a) => a,
            Err(error) => {
                tracing::warn!(%error, "cannot find the targets' addresses");
                Default::default()
            }
        };
    let ordered = ordered_dir(state);
    let mut out = Vec::new();
    for r in rows {
        let Some(ip) = addresses.get(&(r.app.clone(), r.service.clone())) else {
            tracing::info!(domain = %r.domain, app = %r.app, service = %r.service, "not served: no running container");
            continue;
        };
        let certificate = if r.custom_cert {
            let dir = cert_dir(state, &r.domain);
            Some((dir.join("cert.pem"), dir.join("key.pem")))
        } else if r.ssl
            && !state
                .proxy
                .as_ref()
                .is_some_and(|p| p.orders_certificates())
        {
            // Ordered by the agent: served once both files are there.
            crate::core::proxy::nginx::certificate_files(&ordered, &r.domain)
                .filter(|(c, k)| c.exists() && k.exists())
        } else {
            None
        };
        out.push(Route {
            domain: r.domain.clone(),
            upstream: SocketAddr::new(*ip, r.port),
            ssl: r.ssl,
            force_https: r.force_https,
            certificate,
            redirect_to: r.redirect_to.clone(),
            order: r.order_ok,
        });
    }
    out
}

/// Loads the proxy's configuration from the agent's state.
pub async fn apply(state: &Shared) -> Result<()> {
    apply_except(state, None).await
}

pub async fn apply_except(state: &Shared, except: Option<&str>) -> Result<()> {
    let Some(p) = &state.proxy else { return Ok(()) };
    // One at a time from reading the state to loading it: a load made from
    // an older reading never lands after a newer one.
    let _one = state.serving.lock().await;
    let mut rows = db::call(&state.db, db::domains::list).await?;
    rows.retain(|r| Some(r.domain.as_str()) != except);
    let routes = routes(state, &rows).await;
    Ok(p.apply(&routes).await?)
}

/// Applies again when `app` has domains (its containers may have new addresses).
pub async fn refresh_app(state: &Shared, app: &str) {
    if state.proxy.is_none() {
        return;
    }
    let rows = db::call(&state.db, db::domains::list)
        .await
        .unwrap_or_default();
    if rows.iter().any(|r| r.app == app) {
        if let Err(error) = apply(state).await {
            tracing::warn!(%error, app, "cannot apply the proxy configuration after a deployment");
        }
    }
}
