//! Alerts (open and resolved), the rules' settings an admin changed, and
//! the channels alerts are sent to.

use appos_proto::alerts::{
    Alert, AlertRule, AlertRuleSettings, AlertSeverity, AlertState, ChannelConfig,
};
use rusqlite::{params, OptionalExtension};

use super::{audit, Db};
use crate::core::alerts::{default_rule, Condition, Open};

fn severity_str(s: AlertSeverity) -> &'static str {
    match s {
        AlertSeverity::Warning => "warning",
        AlertSeverity::Critical => "critical",
    }
}

fn parse_severity(s: &str) -> AlertSeverity {
    if s == "critical" {
        AlertSeverity::Critical
    } else {
        AlertSeverity::Warning
    }
}

const SELECT: &str = "SELECT id, rule, subject, app, severity, state, summary, details, fired_at_ms, resolved_at_ms, notices FROM alerts";

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Alert>> {
    let rule: String = r.get(1)?;
    let Some(rule) = AlertRule::parse(&rule) else {
        return Ok(None);
    };
    let severity: String = r.get(4)?;
    let state: String = r.get(5)?;
    let details: String = r.get(7)?;
    Ok(Some(Alert {
        id: r.get(0)?,
        rule,
        subject: r.get(2)?,
        app: r.get(3)?,
        severity: parse_severity(&severity),
        state: if state == "firing" {
            AlertState::Firing
        } else {
            AlertState::Resolved
        },
        summary: r.get(6)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        fired_at_ms: r.get(8)?,
        resolved_at_ms: r.get(9)?,
        notices: r.get(10)?,
    }))
}

/// The firing alerts, as `core::alerts::step` takes them.
pub fn open(db: &Db) -> rusqlite::Result<Vec<Open>> {
    let c = db.conn();
    let mut stmt = c.prepare("SELECT id, rule, subject, severity, summary, last_sent_ms FROM alerts WHERE state = 'firing'")?;
    let rows = stmt.query_map([], |r| {
        let rule: String = r.get(1)?;
        let severity: String = r.get(3)?;
        let (id, subject, summary, last_sent_ms) = (r.get(0)?, r.get(2)?, r.get(4)?, r.get(5)?);
        Ok(AlertRule::parse(&rule).map(|rule| Open {
            id,
            rule,
            subject,
            severity: parse_severity(&severity),
            summary,
            last_sent_ms,
        }))
    })?;
    Ok(rows
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect())
}

/// Firing alerts first (newest first), then resolved ones unless `firing_only`; at most `limit`.
pub fn list(db: &Db, firing_only: bool, limit: u32) -> rusqlite::Result<Vec<Alert>> {
    let c = db.conn();
    let filter = if firing_only {
        "WHERE state = 'firing'"
    } else {
        ""
    };
    let mut stmt = c.prepare(&format!("{SELECT} {filter} ORDER BY state = 'firing' DESC, COALESCE(resolved_at_ms, fired_at_ms) DESC, id DESC LIMIT ?1"))?;
    let rows = stmt.query_map(params![limit], read)?;
    Ok(rows
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect())
}

pub fn get(db: &Db, id: i64) -> rusqlite::Result<Option<Alert>> {
    Ok(db
        .conn()
        .query_row(&format!("{SELECT} WHERE id = ?1"), params![id], read)
        .optional()?
        .flatten())
}

/// Records a new firing alert (its first notice counted); returns it.
pub fn fire(db: &Db, c: &Condition, now_ms: i64) -> rusqlite::Result<Option<Alert>> {
    let id = {
        let conn = db.conn();
        conn.execute(
            "INSERT INTO alerts (rule, subject, app, severity, state, summary, details, fired_at_ms, last_sent_ms, notices) VALUES (?1, ?2, ?3, ?4, 'firing', ?5, ?6, ?7, ?7, 1)",
            params![c.rule.as_str(), c.subject, c.app, severity_str(c.severity), c.summary, c.details.to_string(), now_ms],
        )?;
        conn.last_insert_rowid()
    };
    get(db, id)
}

/// Records an open alert's new facts; `notify`: a notice goes out now.
pub fn update(
    db: &Db,
    id: i64,
    c: &Condition,
    notify: bool,
    now_ms: i64,
) -> rusqlite::Result<Option<Alert>> {
    db.conn().execute(
        "UPDATE alerts SET severity = ?2, summary = ?3, details = ?4,
           last_sent_ms = CASE WHEN ?5 THEN ?6 ELSE last_sent_ms END, notices = notices + ?5
         WHERE id = ?1 AND state = 'firing'",
        params![
            id,
            severity_str(c.severity),
            c.summary,
            c.details.to_string(),
            notify,
            now_ms
        ],
    )?;
    get(db, id)
}

/// Resolves an open alert (its resolved notice counted).
pub fn resolve(db: &Db, id: i64, now_ms: i64) -> rusqlite::Result<Option<Alert>> {
    let n = db.conn().execute(
        "UPDATE alerts SET state = 'resolved', resolved_at_ms = ?2, last_sent_ms = ?2, notices = notices + 1 WHERE id = ?1 AND state = 'firing'",
        params![id, now_ms],
    )?;
    if n == 0 {
        return Ok(None);
    }
    get(db, id)
}

/// Drops resolved alerts older than `before_ms`.
pub fn prune(db: &Db, before_ms: i64) -> rusqlite::Result<usize> {
    db.conn().execute(
        "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at_ms < ?1",
        params![before_ms],
    )
}

/// Every rule: the shipped defaults, with what an admin changed.
pub fn rules(db: &Db) -> rusqlite::Result<Vec<AlertRuleSettings>> {
    let c = db.conn();
    let mut stmt =
        c.prepare("SELECT rule, enabled, threshold, window_secs, repeat_secs FROM alert_rules")?;
    let mut out: Vec<AlertRuleSettings> = AlertRule::ALL.into_iter().map(default_rule).collect();
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, bool>(1)?,
            r.get::<_, f64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (rule, enabled, threshold, window, repeat) = row?;
        if let Some(s) = AlertRule::parse(&rule).and_then(|r| out.iter_mut().find(|s| s.rule == r))
        {
            s.enabled = enabled;
            s.threshold = threshold;
            s.window_secs = window.max(0) as u64;
            s.repeat_secs = repeat.max(0) as u64;
        }
    }
    Ok(out)
}

/// Keeps a rule's settings, with their audit entry.
pub fn set_rule(db: &Db, s: &AlertRuleSettings, actor: &str, now: i64) -> rusqlite::Result<()> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    tx.execute(
        "INSERT INTO alert_rules (rule, enabled, threshold, window_secs, repeat_secs) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (rule) DO UPDATE SET enabled = ?2, threshold = ?3, window_secs = ?4, repeat_secs = ?5",
        params![s.rule.as_str(), s.enabled, s.threshold, s.window_secs as i64, s.repeat_secs as i64],
    )?;
    let detail = format!(
        "{}: {}, threshold {}, window {} s, repeat {} s",
        s.rule.as_str(),
        if s.enabled { "on" } else { "off" },
        s.threshold,
        s.window_secs,
        s.repeat_secs
    );
    audit::record(
        &tx,
        now,
        audit::Entry {
            actor,
            action: "alert.rule",
            app: None,
            detail: &detail,
            host_access: &[],
        },
    )?;
    tx.commit()
}

/// A channel as stored: its name, settings (with secrets) and when it was added.
pub struct ChannelRow {
    pub name: String,
    pub config: ChannelConfig,
    pub created_at: i64,
}

pub fn channels(db: &Db) -> rusqlite::Result<Vec<ChannelRow>> {
    let c = db.conn();
    let mut stmt =
        c.prepare("SELECT name, config, created_at FROM alert_channels ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        let config: String = r.get(1)?;
        let (name, created_at) = (r.get(0)?, r.get(2)?);
        Ok(serde_json::from_str::<ChannelConfig>(&config)
            .ok()
            .map(|config| ChannelRow {
                name,
                config,
                created_at,
            }))
    })?;
    Ok(rows
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect())
}

pub fn channel(db: &Db, name: &str) -> rusqlite::Result<Option<ChannelRow>> {
    Ok(channels(db)?.into_iter().find(|c| c.name == name))
}

/// Adds a channel (false when the name is taken), with its audit entry
/// (`target`: where it sends, without secrets).
pub fn add_channel(
    db: &Db,
    name: &str,
    config: &ChannelConfig,
    target: &str,
    actor: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    let json = serde_json::to_string(config).unwrap_or_default();
    let n = tx.execute("INSERT OR IGNORE INTO alert_channels (name, config, created_at, created_by) VALUES (?1, ?2, ?3, ?4)", params![name, json, now, actor])?;
    if n == 1 {
        audit::record(
            &tx,
            now,
            audit::Entry {
                actor,
                action: "alert.channel.add",
                app: None,
                detail: &format!("{name} → {target}"),
                host_access: &[],
            },
        )?;
    }
    tx.commit()?;
    Ok(n == 1)
}

/// Removes a channel (false when there was none), with its audit entry.
pub fn remove_channel(db: &Db, name: &str, actor: &str, now: i64) -> rusqlite::Result<bool> {
    let mut c = db.conn();
    let tx = c.transaction()?;
    let n = tx.execute("DELETE FROM alert_channels WHERE name = ?1", params![name])?;
    if n == 1 {
        audit::record(
            &tx,
            now,
            audit::Entry {
                actor,
                action: "alert.channel.remove",
                app: None,
                detail: name,
                host_access: &[],
            },
        )?;
    }
    tx.commit()?;
    Ok(n == 1)
}
