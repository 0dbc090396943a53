//! Getting a domain its certificate, as queue tasks (kind `certificate`,
//! run by `tasks::certificate`), so that an order survives an agent
//! restart: the preflight (does the domain reach this server? if not,
//! nothing is ordered, which would burn the CA's rate limits, and the
//! domain's status says why), queuing a task, and finding the domains that
//! need one (a failed preflight, or for nginx a certificate missing or in
//! the last third of its life).

use crate::core::proxy::preflight_verdict;
use crate::infra::db;
use crate::infra::proxy::Proxy;
use crate::infra::queue::{NewTask, Queue as _};
use crate::state::Shared;

pub const KIND: &str = "certificate";

/// Queues getting `domain` a certificate (`renew`: a new one even if the
/// current one is not due), unless one is on its way.
pub async fn enqueue(state: &Shared, domain: &str, renew: bool) -> crate::error::Result<()> {
    if !state.certificates.take(domain) {
        return Ok(());
    }
    let task = NewTask {
        kind: KIND.into(),
        app: None,
        payload: serde_json::json!({ "domain": domain, "renew": renew }),
        max_attempts: 3,
    };
    if let Err(e) = state.queue.enqueue(task).await {
        state.certificates.release(domain);
        return Err(e.into());
    }
    state.queue_wakeup.notify_waiters();
    Ok(())
}

/// Whether `domain` reaches this proxy: `Err` with the reason when not.
pub async fn preflight(state: &Shared, proxy: &Proxy, domain: &str) -> Result<(), String> {
    let Some(cfg) = &state.config.proxy else {
        return Err("this agent runs no proxy".into());
    };
    let ips = crate::infra::preflight::resolve(domain, cfg.dns).await?;
    let mut answers = Vec::new();
    for ip in ips {
        let answer = crate::infra::preflight::ask(
            std::net::SocketAddr::new(ip, cfg.http.port()),
            domain,
            proxy.preflight().as_str(),
        )
        .await;
        answers.push((ip, answer));
    }
    preflight_verdict(domain, cfg.http.port(), &answers)
}

/// Whether the certificate the agent ordered for `domain` is missing or in
/// the last third of its life.
pub fn ordered_due(state: &Shared, domain: &str) -> bool {
    let chain = std::fs::read_to_string(
        crate::services::serving::ordered_dir(state)
            .join(domain)
            .join("cert.pem"),
    );
    chain
        .ok()
        .and_then(|c| crate::core::certs::leaf_validity(&c))
        .is_none_or(|(nb, na)| crate::core::certs::renewal_due(nb, na, state.clock.now()))
}

/// Queues a certificate task for every domain that needs one: a preflight
/// that failed (the DNS may be fixed by now), and, for nginx, a certificate
/// missing or in the last third of its life.
pub async fn queue_due(state: &Shared) {
    let Some(proxy) = &state.proxy else { return };
    let rows = db::call(&state.db, db::domains::list)
        .await
        .unwrap_or_default();
    for r in rows.iter().filter(|r| r.ssl && !r.custom_cert) {
        let due = !r.order_ok || (!proxy.orders_certificates() && ordered_due(state, &r.domain));
        if due {
            if let Err(error) = enqueue(state, &r.domain, false).await {
                tracing::warn!(%error, domain = %r.domain, "cannot queue the certificate task");
            }
        }
    }
}
