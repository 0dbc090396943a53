//! The `certificate` task: a domain's preflight, then (for nginx) the order
//! from the ACME CA, the certificate written and the proxy reloaded. Caddy
//! orders for itself once the preflight passed.

use tokio_util::sync::CancellationToken;

use super::{Registry, TaskError};
use crate::infra::db;
use crate::infra::proxy::Proxy;
use crate::infra::queue::Task;
use crate::services::acme::{preflight, KIND};
use crate::state::Shared;

pub fn register(registry: &mut Registry) {
    registry.register(KIND, |state, task, cancel| {
        Box::pin(run(state, task, cancel))
    });
}

async fn run(state: &Shared, task: &Task, _cancel: CancellationToken) -> Result<(), TaskError> {
    let domain = task.payload["domain"]
        .as_str()
        .ok_or_else(|| TaskError::Permanent("a certificate task names no domain".into()))?
        .to_string();
    let renew = task.payload["renew"].as_bool().unwrap_or(false);
    let result = get_certificate(state, &domain, renew).await;
    state.certificates.release(&domain);
    result
}

async fn set_tls(
    state: &Shared,
    domain: &str,
    order_ok: bool,
    error: Option<String>,
) -> Result<(), TaskError> {
    let d = domain.to_string();
    Ok(db::call(&state.db, move |db| {
        db::domains::set_tls(db, &d, order_ok, error.as_deref())
    })
    .await?)
}

async fn get_certificate(state: &Shared, domain: &str, renew: bool) -> Result<(), TaskError> {
    let d = domain.to_string();
    let Some(row) = db::call(&state.db, move |db| db::domains::get(db, &d)).await? else {
        return Ok(());
    };
    let (Some(proxy), Some(cfg)) = (&state.proxy, &state.config.proxy) else {
        return Ok(());
    };
    if !row.ssl || row.custom_cert {
        return Ok(());
    }
    if !row.order_ok {
        if !row.skip_preflight {
            if let Err(why) = preflight(state, proxy, domain).await {
                tracing::warn!(domain, reason = %why, "preflight failed; no certificate is ordered");
                return set_tls(state, domain, false, Some(format!("preflight: {why}"))).await;
            }
        }
        set_tls(state, domain, true, None).await?;
        if proxy.orders_certificates() {
            // Caddy orders once the domain is in its configuration's subjects.
            return crate::services::serving::apply(state)
                .await
                .map_err(|e| TaskError::Transient(e.to_string()));
        }
    }
    let Proxy::Nginx(nginx) = proxy else {
        return Ok(());
    };
    let dir = crate::services::serving::ordered_dir(state).join(domain);
    if !renew && !crate::services::acme::ordered_due(state, domain) {
        return Ok(());
    }
    tracing::info!(domain, "ordering a certificate");
    let acme = crate::infra::acme::Acme::new(cfg, &state.config.data_dir);
    match acme.order(domain, nginx).await {
        Ok((chain, key)) => {
            let written = (|| -> std::io::Result<()> {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::create_dir_all(&dir)?;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                // The key first: a chain is only ever read beside its own key.
                crate::infra::compose::write_atomically(
                    &dir,
                    "key.pem.next",
                    key.as_bytes(),
                    0o600,
                )?;
                crate::infra::compose::write_atomically(
                    &dir,
                    "cert.pem.next",
                    chain.as_bytes(),
                    0o644,
                )?;
                std::fs::rename(dir.join("key.pem.next"), dir.join("key.pem"))?;
                std::fs::rename(dir.join("cert.pem.next"), dir.join("cert.pem"))
            })();
            written.map_err(|e| TaskError::Transient(format!("keeping the certificate: {e}")))?;
            set_tls(state, domain, true, None).await?;
            tracing::info!(domain, "certificate issued");
            crate::services::serving::apply(state)
                .await
                .map_err(|e| TaskError::Transient(e.to_string()))
        }
        Err(crate::infra::acme::OrderError::Refused(why)) => {
            tracing::warn!(domain, reason = %why, "the CA refused the order");
            set_tls(state, domain, true, Some(format!("the CA refused: {why}"))).await
        }
        Err(crate::infra::acme::OrderError::Failed(why)) => Err(TaskError::Transient(why)),
    }
}
