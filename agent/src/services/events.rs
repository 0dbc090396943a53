//! The event stream: deployment progress and Docker container events, stored
//! with monotonic ids in a bounded table and broadcast to live subscribers,
//! so that a client resumes from the last id it saw.

use appos_proto::Event;
use tokio::sync::broadcast;

use crate::infra::db::{self, Db};

pub struct Events {
    tx: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl Events {
    /// Stores an event and sends it to live subscribers. Blocking (SQLite).
    pub fn publish(
        &self,
        db: &Db,
        at_ms: i64,
        kind: &str,
        app: Option<&str>,
        data: serde_json::Value,
    ) {
        match db::events::insert(db, at_ms, kind, app, &data) {
            Ok(id) => {
                let _ = self.tx.send(Event {
                    id,
                    at_ms,
                    kind: kind.to_string(),
                    app: app.map(str::to_string),
                    data,
                });
            }
            Err(error) => tracing::warn!(%error, "cannot store an event"),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

/// Where a subscriber starts: the stored events to replay, and the id after
/// which live events are new to it.
pub struct Resume {
    pub replay: Vec<Event>,
    pub last: i64,
}

/// What a subscriber that saw `after` gets first. 0 replays the stored
/// history; a negative id, or one from the future (a reset database), means
/// live events only.
pub async fn resume(db: &std::sync::Arc<Db>, after: i64) -> Result<Resume, db::DbError> {
    let from = if after < 0 { i64::MAX } else { after };
    let (replay, newest) = db::call(db, move |db| db::events::after(db, from)).await?;
    let last =
        replay
            .last()
            .map(|e| e.id)
            .unwrap_or(if after < 0 { newest } else { after.min(newest) });
    Ok(Resume { replay, last })
}
