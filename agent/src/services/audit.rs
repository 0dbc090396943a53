//! The audit log as callers read it.

use appos_proto::calls::ListAudit;
use appos_proto::AuditEntry;

use crate::error::{AgentError, Result};
use crate::infra::db;
use crate::state::Shared;

/// Entries per page unless asked; the most a page holds.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

pub async fn list(state: &Shared, q: ListAudit) -> Result<Vec<AuditEntry>> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(AgentError::invalid(
            "limit",
            format!("between 1 and {MAX_LIMIT}"),
        ));
    }
    if q.before.is_some_and(|b| b < 1) {
        return Err(AgentError::invalid("before", "an entry id, 1 or more"));
    }
    let app = q.app.map(|a| a.to_string());
    Ok(db::call(&state.db, move |db| {
        db::audit::list(db, app.as_deref(), q.before, limit)
    })
    .await?)
}

/// Records a change that has no table of its own (a terminal opened).
pub async fn record(
    state: &Shared,
    actor: &str,
    action: &'static str,
    app: Option<String>,
    detail: String,
) -> Result<()> {
    let (actor, now) = (actor.to_string(), state.clock.now());
    Ok(db::call(&state.db, move |db| {
        db::audit::add(
            db,
            now,
            db::audit::Entry {
                actor: &actor,
                action,
                app: app.as_deref(),
                detail: &detail,
                host_access: &[],
            },
        )
    })
    .await?)
}
