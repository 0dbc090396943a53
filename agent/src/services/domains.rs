//! Domains: a name served by the reverse proxy from an app's service. The
//! agent's state (SQLite) holds them; the proxy's configuration is always
//! generated again from it, at start and after every change, and a change
//! the proxy refuses is undone. A domain's certificate status is what the
//! proxy actually serves for it (a TLS handshake with SNI).

use appos_proto::{CertStatus, Domain, DomainRequest, FieldError, ProblemCode};

use crate::core::proxy;
use crate::error::{AgentError, Result};
use crate::infra::db::{self, domains::Row};
use crate::infra::proxy::{Proxy, ProxyError};
use crate::services::tokens::Principal;
use crate::state::Shared;

/// Days before expiry when a certificate counts as expiring, at most.
pub const ALERT_DAYS: i64 = 30;

fn proxy_missing() -> AgentError {
    AgentError::refused(
        ProblemCode::NoProxy,
        "this agent runs no reverse proxy; set APPOS_PROXY_HTTP and APPOS_PROXY_HTTPS",
    )
}

impl From<ProxyError> for AgentError {
    fn from(e: ProxyError) -> AgentError {
        match e {
            ProxyError::Refused(r) => AgentError::refused(ProblemCode::ProxyRefused, r),
            ProxyError::Unavailable(r) => AgentError::refused(ProblemCode::ProxyUnavailable, r),
        }
    }
}

/// Checks a request and finds its target's service.
async fn check(state: &Shared, req: &DomainRequest) -> Result<Row> {
    if let Some(to) = &req.redirect_to {
        return check_redirect(state, req, to).await;
    }
    let mut errors = Vec::new();
    let domain = proxy::domain(&req.domain)
        .map_err(|e| errors.push(FieldError::new("domain", e)))
        .ok();
    let target = proxy::target(&req.target)
        .map_err(|e| errors.push(FieldError::new("target", e)))
        .ok();
    if req.force_https && !req.ssl {
        errors.push(FieldError::new(
            "force_https",
            "redirecting to HTTPS needs ssl",
        ));
    }
    let (Some(domain), Some(target)) = (domain, target) else {
        return Err(AgentError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(AgentError::Invalid(errors));
    }
    let app = match crate::services::apps::get(state, &target.app).await {
        Ok(a) => a,
        Err(AgentError::Refused {
            code: ProblemCode::AppNotFound,
            ..
        }) => {
            return Err(AgentError::invalid(
                "target",
                format!(
                    "no app or compose project is named {:?}",
                    target.app.as_str()
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    let names: Vec<&str> = app.services.iter().map(|s| s.name.as_str()).collect();
    let service = match (&target.service, names.as_slice()) {
        (Some(s), _) if names.contains(&s.as_str()) => s.to_string(),
        (Some(s), _) => {
            return Err(AgentError::invalid(
                "target",
                format!(
                    "{} has no service {:?} (it has {})",
                    app.name,
                    s.as_str(),
                    names.join(", ")
                ),
            ))
        }
        (None, [one]) => one.to_string(),
        (None, _) => {
            return Err(AgentError::invalid(
                "target",
                format!(
                    "{} has several services ({}): name one, such as {}/{}:{}",
                    app.name,
                    names.join(", "),
                    app.name,
                    names.first().unwrap_or(&"web"),
                    target.port
                ),
            ))
        }
    };
    Ok(new_row(req, domain, app.name, service, target.port, None))
}

/// A domain that redirects to another one served here (`www` to the apex).
async fn check_redirect(state: &Shared, req: &DomainRequest, to: &str) -> Result<Row> {
    let mut errors = Vec::new();
    let domain = proxy::domain(&req.domain)
        .map_err(|e| errors.push(FieldError::new("domain", e)))
        .ok();
    let to = proxy::domain(to)
        .map_err(|e| errors.push(FieldError::new("redirect_to", e)))
        .ok();
    if !req.target.is_empty() {
        errors.push(FieldError::new(
            "target",
            "a redirect has no target of its own; leave it empty",
        ));
    }
    if req.force_https && !req.ssl {
        errors.push(FieldError::new(
            "force_https",
            "redirecting to HTTPS needs ssl",
        ));
    }
    let (Some(domain), Some(to)) = (domain, to) else {
        return Err(AgentError::Invalid(errors));
    };
    if domain == to {
        errors.push(FieldError::new(
            "redirect_to",
            "a domain cannot redirect to itself",
        ));
    }
    if !errors.is_empty() {
        return Err(AgentError::Invalid(errors));
    }
    let t = to.clone();
    let Some(target) = db::call(&state.db, move |db| db::domains::get(db, &t)).await? else {
        return Err(AgentError::invalid(
            "redirect_to",
            format!("{to} is not served here; add it first"),
        ));
    };
    if target.redirect_to.is_some() {
        return Err(AgentError::invalid(
            "redirect_to",
            format!("{to} redirects itself; point at the domain it redirects to"),
        ));
    }
    Ok(new_row(
        req,
        domain,
        target.app,
        target.service,
        target.port,
        Some(to),
    ))
}

/// A new domain's row: its certificate may be ordered at once only when the preflight is skipped.
fn new_row(
    req: &DomainRequest,
    domain: String,
    app: String,
    service: String,
    port: u16,
    redirect_to: Option<String>,
) -> Row {
    Row {
        domain,
        app,
        service,
        port,
        ssl: req.ssl,
        force_https: req.force_https,
        custom_cert: false,
        redirect_to,
        order_ok: !req.ssl || req.skip_preflight,
        tls_error: None,
        skip_preflight: req.skip_preflight,
    }
}

/// Orders a new certificate now (a queue task: preflight, then the order;
/// `skip_preflight` skips it from now on). For Caddy, its stored
/// certificate is set aside first and the domain left out of its
/// configuration until the preflight passed.
pub async fn renew(
    state: &Shared,
    who: &Principal,
    domain: &str,
    skip_preflight: bool,
) -> Result<Domain> {
    let name = proxy::domain(domain).map_err(|e| AgentError::invalid("domain", e))?;
    let n = name.clone();
    let Some(row) = db::call(&state.db, move |db| db::domains::get(db, &n)).await? else {
        return Err(AgentError::refused(
            ProblemCode::DomainNotFound,
            format!("no domain {name} is served here"),
        ));
    };
    let Some(p) = &state.proxy else {
        return Err(proxy_missing());
    };
    if !row.ssl || row.custom_cert {
        let why = if row.ssl {
            "it is served with an uploaded certificate; upload a new one"
        } else {
            "it is served without HTTPS"
        };
        return Err(AgentError::invalid(
            "domain",
            format!("{name} has no certificate to order: {why}"),
        ));
    }
    let skip = skip_preflight || row.skip_preflight;
    let (a, actor, now, d) = (
        row.app.clone(),
        who.name.clone(),
        state.clock.now(),
        name.clone(),
    );
    db::call(&state.db, move |db| {
        db::domains::set_skip_preflight(db, &d, skip)?;
        db::domains::set_tls(db, &d, skip, None)?;
        db::audit::add(
            db,
            now,
            db::audit::Entry {
                actor: &actor,
                action: "domain.renew",
                app: Some(&a),
                detail: &d,
                host_access: &[],
            },
        )
    })
    .await?;
    if let Proxy::Caddy(caddy) = p {
        caddy
            .forget_certificate(&name)
            .map_err(AgentError::internal)?;
        // Served without it once (Caddy drops it from its cache), then as the state says.
        crate::services::serving::apply_except(state, Some(&name)).await?;
        crate::services::serving::apply(state).await?;
    }
    crate::services::acme::enqueue(state, &name, true).await?;
    let n = name.clone();
    let row = db::call(&state.db, move |db| db::domains::get(db, &n))
        .await?
        .ok_or_else(|| AgentError::internal("the domain vanished"))?;
    let certificate = status(state, &row).await;
    Ok(view(row, certificate))
}

/// Serves a new domain. Everything is checked first; a configuration the
/// proxy refuses is undone and the proxy's reason returned.
pub async fn add(state: &Shared, who: &Principal, req: DomainRequest) -> Result<Domain> {
    let row = check(state, &req).await?;
    if state.proxy.is_none() {
        return Err(proxy_missing());
    }
    let (r, actor, now) = (row.clone(), who.name.clone(), state.clock.now());
    let inserted = db::call(&state.db, move |db| {
        db::domains::insert(db, &r, &actor, now)
    })
    .await?;
    if !inserted {
        let d = row.domain.clone();
        let owner = db::call(&state.db, move |db| db::domains::get(db, &d))
            .await?
            .map(|o| {
                o.redirect_to
                    .clone()
                    .map(|t| format!("a redirect to {t}"))
                    .unwrap_or_else(|| format!("{}/{}:{}", o.app, o.service, o.port))
            })
            .unwrap_or_default();
        return Err(AgentError::refused(
            ProblemCode::DomainTaken,
            format!("{} already points at {owner}; remove it first", row.domain),
        ));
    }
    if let Err(e) = crate::services::serving::apply(state).await {
        let d = row.domain.clone();
        let _ = db::call(&state.db, move |db| db::domains::delete(db, &d, None, now)).await;
        return Err(e);
    }
    if row.ssl {
        crate::services::acme::enqueue(state, &row.domain, false).await?;
    }
    let certificate = status(state, &row).await;
    Ok(view(row, certificate))
}

/// Stops serving a domain.
pub async fn remove(state: &Shared, who: &Principal, domain: &str) -> Result<()> {
    let name = proxy::domain(domain).map_err(|e| AgentError::invalid("domain", e))?;
    let rows = db::call(&state.db, db::domains::list).await?;
    if let Some(r) = rows
        .iter()
        .find(|r| r.redirect_to.as_deref() == Some(name.as_str()))
    {
        return Err(AgentError::refused(
            ProblemCode::DomainTaken,
            format!("{} redirects to {name}; remove it first", r.domain),
        ));
    }
    let (n, actor, now) = (name.clone(), who.name.clone(), state.clock.now());
    if !db::call(&state.db, move |db| {
        db::domains::delete(db, &n, Some(&actor), now)
    })
    .await?
    {
        return Err(AgentError::refused(
            ProblemCode::DomainNotFound,
            format!("no domain {name} is served here"),
        ));
    }
    crate::services::serving::apply(state).await
}

/// Every domain with the certificate it is served with.
pub async fn list(state: &Shared) -> Result<Vec<Domain>> {
    let rows = db::call(&state.db, db::domains::list).await?;
    let statuses = statuses(state, &rows).await;
    Ok(rows
        .into_iter()
        .zip(statuses)
        .map(|(r, c)| view(r, c))
        .collect())
}

/// The certificate status of each row, the handshakes run side by side (a few at a time).
async fn statuses(state: &Shared, rows: &[Row]) -> Vec<CertStatus> {
    use futures_util::StreamExt as _;
    let probes = rows.iter().cloned().map(|r| {
        let state = state.clone();
        async move { status(&state, &r).await }
    });
    futures_util::stream::iter(probes)
        .buffered(16)
        .collect()
        .await
}

/// Applies the configuration again and lists the domains.
pub async fn reload(state: &Shared) -> Result<Vec<Domain>> {
    if state.proxy.is_none() {
        return Err(proxy_missing());
    }
    crate::services::serving::apply(state).await?;
    list(state).await
}

fn view(r: Row, certificate: CertStatus) -> Domain {
    Domain {
        domain: r.domain,
        app: r.app,
        service: r.service,
        port: r.port,
        ssl: r.ssl,
        force_https: r.force_https,
        redirect_to: r.redirect_to,
        certificate,
    }
}

/// What the proxy serves for the domain, judged; while none is served,
/// why (the preflight's or the CA's reason when there is one).
async fn status(state: &Shared, r: &Row) -> CertStatus {
    let Some(cfg) = state.config.proxy.as_ref().filter(|_| r.ssl) else {
        return CertStatus::None;
    };
    let mut addr = cfg.https;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    match crate::infra::tls_probe::served(addr, &r.domain).await {
        Ok(s) => crate::core::proxy::cert_status(
            &r.domain,
            &s.issuer,
            &s.names,
            s.not_before,
            s.not_after,
            state.clock.now(),
            ALERT_DAYS,
        ),
        Err(e) => {
            crate::core::proxy::unserved_status(r.order_ok, r.tls_error.as_deref(), &r.domain, &e)
        }
    }
}

/// Serves an uploaded certificate for a domain (checked: a chain in order,
/// its key, names covering the domain, not expired); the domain gets HTTPS.
pub async fn upload(
    state: &Shared,
    who: &Principal,
    domain: &str,
    req: appos_proto::CertificateUpload,
) -> Result<Domain> {
    let name = proxy::domain(domain).map_err(|e| AgentError::invalid("domain", e))?;
    let n = name.clone();
    let Some(_) = db::call(&state.db, move |db| db::domains::get(db, &n)).await? else {
        return Err(AgentError::refused(
            ProblemCode::DomainNotFound,
            format!("no domain {name} is served here; add it first"),
        ));
    };
    if state.proxy.is_none() {
        return Err(proxy_missing());
    }
    let checked =
        crate::core::certs::check_upload(&name, &req.certificate, &req.key, state.clock.now())
            .map_err(AgentError::Invalid)?;
    let dir = crate::services::serving::cert_dir(state, &name);
    let written = (|| -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        crate::infra::compose::write_atomically(
            &dir,
            "cert.pem",
            req.certificate.as_bytes(),
            0o644,
        )?;
        crate::infra::compose::write_atomically(&dir, "key.pem", req.key.as_bytes(), 0o600)
    })();
    written.map_err(AgentError::internal)?;
    let (n, actor, now) = (name.clone(), who.name.clone(), state.clock.now());
    let detail = format!(
        "{name}: uploaded certificate from {} until {}",
        checked.issuer, checked.not_after
    );
    db::call(&state.db, move |db| {
        db::domains::set_custom_cert(db, &n, &actor, &detail, now)
    })
    .await?;
    crate::services::serving::apply(state).await?;
    let n = name.clone();
    let row = db::call(&state.db, move |db| db::domains::get(db, &n))
        .await?
        .ok_or_else(|| AgentError::internal("the domain vanished"))?;
    let certificate = status(state, &row).await;
    Ok(view(row, certificate))
}

/// The certificate status of a served domain, for the inventory.
pub async fn served_status(state: &Shared) -> Result<Vec<(String, CertStatus)>> {
    let mut rows = db::call(&state.db, db::domains::list).await?;
    rows.retain(|r| r.ssl);
    let statuses = statuses(state, &rows).await;
    Ok(rows.into_iter().map(|r| r.domain).zip(statuses).collect())
}
