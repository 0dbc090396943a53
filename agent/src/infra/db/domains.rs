//! The domains the reverse proxy serves: the agent's state, from which the
//! proxy's configuration is always generated again.

use rusqlite::{params, OptionalExtension};

use super::{audit, Db};

/// A domain and its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub domain: String,
    pub app: String,
    pub service: String,
    pub port: u16,
    pub ssl: bool,
    pub force_https: bool,
    /// Served with an uploaded certificate (files in the data dir), not an ordered one.
    pub custom_cert: bool,
    /// Redirected to this domain.
    pub redirect_to: Option<String>,
    /// Its certificate may be ordered: the preflight passed or was skipped.
    pub order_ok: bool,
    /// Why its certificate could not be had, last time it was tried.
    pub tls_error: Option<String>,
    /// Ordered without checking first that the domain reaches this server.
    pub skip_preflight: bool,
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        domain: r.get(0)?,
        app: r.get(1)?,
        service: r.get(2)?,
        port: r.get(3)?,
        ssl: r.get(4)?,
        force_https: r.get(5)?,
        custom_cert: r.get(6)?,
        redirect_to: r.get(7)?,
        order_ok: r.get(8)?,
        tls_error: r.get(9)?,
        skip_preflight: r.get(10)?,
    })
}

const SELECT: &str = "SELECT domain, app, service, port, ssl, force_https, custom_cert, redirect_to, order_ok, tls_error, skip_preflight FROM domains";

pub fn list(db: &Db) -> rusqlite::Result<Vec<Row>> {
    let c = db.conn();
    let mut stmt = c.prepare_cached(&format!("{SELECT} ORDER BY domain"))?;
    let rows = stmt.query_map([], read)?;
    rows.collect()
}

pub fn get(db: &Db, domain: &str) -> rusqlite::Result<Option<Row>> {
    db.conn()
        .query_row(
            &format!("{SELECT} WHERE domain = ?1"),
            params![domain],
            read,
        )
        .optional()
}

/// Records a domain (false when it exists), with its audit entry.
pub fn insert(db: &Db, r: &Row, actor: &str, now: i64) -> rusqlite::Result<bool> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    let n = tx.execute(
        "INSERT OR IGNORE INTO domains (domain, app, service, port, ssl, force_https, created_at, redirect_to, order_ok, tls_error, skip_preflight) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![r.domain, r.app, r.service, r.port, r.ssl, r.force_https, now, r.redirect_to, r.order_ok, r.tls_error, r.skip_preflight],
    )?;
    if n == 1 {
        let to = match &r.redirect_to {
            Some(d) => format!("redirect to {d}"),
            None => format!("{}/{}:{}", r.app, r.service, r.port),
        };
        let detail = format!(
            "{} → {to}{}{}",
            r.domain,
            if r.ssl { ", HTTPS" } else { "" },
            if r.force_https {
                ", HTTP redirected"
            } else {
                ""
            }
        );
        audit::record(
            &tx,
            now,
            audit::Entry {
                actor,
                action: "domain.add",
                app: Some(&r.app),
                detail: &detail,
                host_access: &[],
            },
        )?;
    }
    tx.commit()?;
    Ok(n == 1)
}

/// Forgets a domain (false when there was none), with its audit entry when
/// `actor` is given (a rollback of a failed add records nothing).
pub fn delete(db: &Db, domain: &str, actor: Option<&str>, now: i64) -> rusqlite::Result<bool> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    let app: Option<String> = tx
        .query_row(
            "SELECT app FROM domains WHERE domain = ?1",
            params![domain],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute("DELETE FROM domains WHERE domain = ?1", params![domain])?;
    if let (Some(app), Some(actor)) = (&app, actor) {
        audit::record(
            &tx,
            now,
            audit::Entry {
                actor,
                action: "domain.remove",
                app: Some(app),
                detail: domain,
                host_access: &[],
            },
        )?;
    }
    tx.commit()?;
    Ok(app.is_some())
}

/// Records whether a domain's certificate may be ordered, and why not (or why it failed).
pub fn set_tls(
    db: &Db,
    domain: &str,
    order_ok: bool,
    tls_error: Option<&str>,
) -> rusqlite::Result<()> {
    db.conn().execute(
        "UPDATE domains SET order_ok = ?2, tls_error = ?3 WHERE domain = ?1",
        params![domain, order_ok, tls_error],
    )?;
    Ok(())
}

/// Records whether a domain's certificate is ordered without a preflight.
pub fn set_skip_preflight(db: &Db, domain: &str, skip: bool) -> rusqlite::Result<()> {
    db.conn().execute(
        "UPDATE domains SET skip_preflight = ?2 WHERE domain = ?1",
        params![domain, skip],
    )?;
    Ok(())
}

/// Marks a domain as served with an uploaded certificate (it gets HTTPS), with the audit entry.
pub fn set_custom_cert(
    db: &Db,
    domain: &str,
    actor: &str,
    detail: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    let app: Option<String> = tx
        .query_row(
            "SELECT app FROM domains WHERE domain = ?1",
            params![domain],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "UPDATE domains SET custom_cert = 1, ssl = 1 WHERE domain = ?1",
        params![domain],
    )?;
    if let Some(app) = &app {
        audit::record(
            &tx,
            now,
            audit::Entry {
                actor,
                action: "domain.certificate",
                app: Some(app),
                detail,
                host_access: &[],
            },
        )?;
    }
    tx.commit()?;
    Ok(app.is_some())
}

/// Watched TLS endpoints (`host:port`).
pub fn watched(db: &Db) -> rusqlite::Result<Vec<String>> {
    let c = db.conn();
    let mut stmt = c.prepare_cached("SELECT endpoint FROM cert_watch ORDER BY endpoint")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

pub fn watch(db: &Db, endpoint: &str, actor: &str, now: i64) -> rusqlite::Result<()> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    if tx.execute(
        "INSERT OR IGNORE INTO cert_watch (endpoint, created_at) VALUES (?1, ?2)",
        params![endpoint, now],
    )? == 1
    {
        audit::record(
            &tx,
            now,
            audit::Entry {
                actor,
                action: "cert.watch",
                app: None,
                detail: endpoint,
                host_access: &[],
            },
        )?;
    }
    tx.commit()
}

pub fn unwatch(db: &Db, endpoint: &str, actor: &str, now: i64) -> rusqlite::Result<bool> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    let n = tx.execute(
        "DELETE FROM cert_watch WHERE endpoint = ?1",
        params![endpoint],
    )?;
    if n == 1 {
        audit::record(
            &tx,
            now,
            audit::Entry {
                actor,
                action: "cert.unwatch",
                app: None,
                detail: endpoint,
                host_access: &[],
            },
        )?;
    }
    tx.commit()?;
    Ok(n == 1)
}
