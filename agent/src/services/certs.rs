//! The certificate inventory: every domain the proxy serves with HTTPS and
//! every other TLS endpoint added to watch, judged on what is actually
//! served. A check every `cert_check` gives the alert rules each
//! certificate's days left: the `certificate_expiring` rule alerts through
//! the channels and on the event stream (`alert` events, which the desktop
//! notifies).

use appos_proto::{CertEntry, CertSource, CertStatus, ProblemCode, WatchRequest};

use crate::error::{AgentError, Result};
use crate::infra::db;
use crate::services::tokens::Principal;
use crate::state::Shared;

/// Checks a `host:port` endpoint; returns the host (the name asked for) and the address to dial.
fn endpoint(input: &str) -> Result<(String, String)> {
    let bad = || {
        AgentError::invalid(
            "endpoint",
            format!("{input:?}: an endpoint is HOST:PORT, such as mail.example.com:993"),
        )
    };
    let (host, port) = input.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    let host = crate::core::proxy::domain(host).map_err(|e| AgentError::invalid("endpoint", e))?;
    Ok((host.clone(), format!("{host}:{port}")))
}

async fn probe(state: &Shared, ep: &str) -> CertStatus {
    let Ok((host, norm)) = endpoint(ep) else {
        return CertStatus::Failed {
            reason: format!("{ep} is not HOST:PORT"),
        };
    };
    let addr = match tokio::net::lookup_host(&norm).await.map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        Ok(None) | Err(_) => {
            return CertStatus::Failed {
                reason: format!("{host} does not resolve"),
            }
        }
    };
    match crate::infra::tls_probe::served(addr, &host).await {
        Ok(s) => crate::core::proxy::cert_status(
            &host,
            &s.issuer,
            &s.names,
            s.not_before,
            s.not_after,
            state.clock.now(),
            crate::services::domains::ALERT_DAYS,
        ),
        Err(e) => CertStatus::Failed { reason: e },
    }
}

/// Every certificate watched, as served now.
pub async fn inventory(state: &Shared) -> Result<Vec<CertEntry>> {
    let mut out: Vec<CertEntry> = crate::services::domains::served_status(state)
        .await?
        .into_iter()
        .map(|(subject, status)| CertEntry {
            subject,
            source: CertSource::Domain,
            status,
        })
        .collect();
    for ep in db::call(&state.db, db::domains::watched).await? {
        let status = probe(state, &ep).await;
        out.push(CertEntry {
            subject: ep,
            source: CertSource::Watched,
            status,
        });
    }
    Ok(out)
}

pub async fn watch(state: &Shared, who: &Principal, req: WatchRequest) -> Result<CertEntry> {
    let (_, ep) = endpoint(&req.endpoint)?;
    let (e, actor, now) = (ep.clone(), who.name.clone(), state.clock.now());
    db::call(&state.db, move |db| db::domains::watch(db, &e, &actor, now)).await?;
    let status = probe(state, &ep).await;
    Ok(CertEntry {
        subject: ep,
        source: CertSource::Watched,
        status,
    })
}

pub async fn unwatch(state: &Shared, who: &Principal, input: &str) -> Result<()> {
    let (_, ep) = endpoint(input)?;
    let (e, actor, now) = (ep.clone(), who.name.clone(), state.clock.now());
    if !db::call(&state.db, move |db| {
        db::domains::unwatch(db, &e, &actor, now)
    })
    .await?
    {
        return Err(AgentError::refused(
            ProblemCode::DomainNotFound,
            format!("{ep} is not watched"),
        ));
    }
    Ok(())
}

/// One round of checks: each certificate's days left, for the alert rules.
pub async fn check(state: &Shared) {
    let entries = match inventory(state).await {
        Ok(e) => e,
        Err(error) => {
            tracing::warn!(%error, "cannot check certificates");
            return;
        }
    };
    // Every served or watched certificate with its days left, for the
    // `certificate_expiring` rule (which sends it to the alert channels).
    let facts = entries
        .iter()
        .filter_map(|e| match &e.status {
            CertStatus::Valid {
                issuer,
                not_after,
                days_left,
            }
            | CertStatus::Expiring {
                issuer,
                not_after,
                days_left,
            } => Some(crate::core::alerts::CertFact {
                subject: e.subject.clone(),
                days_left: *days_left,
                not_after: *not_after,
                issuer: issuer.clone(),
            }),
            _ => None,
        })
        .collect();
    state.alerts.set_certs(facts);
}
