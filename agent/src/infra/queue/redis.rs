//! The Redis queue: each state change is one Lua script, so it is atomic
//! however many agents share the server; time comes from Redis (`TIME`), so
//! agents with skewed clocks agree on leases.
//!
//! Keys under a prefix `P`: `P:task:ID` (a hash per task), `P:s:STATE` (a
//! sorted set per state, in queue order from the counter `P:seq`), `P:leases` (running tasks by lease
//! end) and `P:app_running` (app → its running task).

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

use super::{ms, Failure, Heartbeat, NewTask, Queue, QueueError, Task, TaskState};

const NOW: &str = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

const ENQUEUE: &str = "
local p, id = KEYS[1], ARGV[1]
local k = p .. ':task:' .. id
if redis.call('EXISTS', k) == 1 then return redis.error_reply('task ' .. id .. ' exists') end
local seq = redis.call('INCR', p .. ':seq')
redis.call('HSET', k, 'id', id, 'seq', seq, 'kind', ARGV[2], 'app', ARGV[3], 'payload', ARGV[4], 'state', 'queued',
  'attempts', 0, 'max_attempts', ARGV[5], 'last_error', '', 'cancel', 0, 'owner', '', 'lease_until', 0,
  'run_after', now, 'created', now, 'updated', now)
redis.call('ZADD', p .. ':s:queued', seq, id)
return id
";

// Expired leases first (their worker died), then the oldest claimable task
// whose app is idle, taking each app's tasks strictly in order.
const CLAIM: &str = "
local p, worker, lease = KEYS[1], ARGV[1], tonumber(ARGV[2])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. ':leases', '-inf', '(' .. now)) do
  local k = p .. ':task:' .. id
  local app = redis.call('HGET', k, 'app')
  redis.call('ZREM', p .. ':leases', id)
  redis.call('ZREM', p .. ':s:running', id)
  if app ~= '' and redis.call('HGET', p .. ':app_running', app) == id then redis.call('HDEL', p .. ':app_running', app) end
  local st = 'queued'
  if tonumber(redis.call('HGET', k, 'attempts')) >= tonumber(redis.call('HGET', k, 'max_attempts')) then st = 'dead' end
  redis.call('HSET', k, 'state', st, 'owner', '', 'lease_until', 0, 'updated', now,
    'last_error', 'the worker stopped answering (lease expired)')
  redis.call('ZADD', p .. ':s:' .. st, redis.call('HGET', k, 'seq'), id)
end
-- Scanned in pages, so that a claim costs little when the head of the queue is free.
local blocked = {}
local start = 0
while true do
  local page = redis.call('ZRANGE', p .. ':s:queued', start, start + 99)
  if #page == 0 then return false end
  for _, id in ipairs(page) do
    local k = p .. ':task:' .. id
    local app = redis.call('HGET', k, 'app')
    local free = app == '' or (not blocked[app] and redis.call('HEXISTS', p .. ':app_running', app) == 0)
    if free and tonumber(redis.call('HGET', k, 'run_after')) <= now then
      redis.call('ZREM', p .. ':s:queued', id)
      redis.call('ZADD', p .. ':s:running', redis.call('HGET', k, 'seq'), id)
      redis.call('ZADD', p .. ':leases', now + lease, id)
      if app ~= '' then redis.call('HSET', p .. ':app_running', app, id) end
      redis.call('HINCRBY', k, 'attempts', 1)
      redis.call('HSET', k, 'state', 'running', 'owner', worker, 'lease_until', now + lease, 'updated', now)
      return id
    end
    if app ~= '' then blocked[app] = true end
  end
  start = start + 100
end
";

// Shared by the scripts that end a running task: checks ownership, then
// moves the task to `to`.
const END_RUNNING: &str = "
local function held(p, id, worker)
  local k = p .. ':task:' .. id
  return redis.call('HGET', k, 'state') == 'running' and redis.call('HGET', k, 'owner') == worker
end
local function leave_running(p, id, to, now)
  local k = p .. ':task:' .. id
  local app = redis.call('HGET', k, 'app')
  redis.call('ZREM', p .. ':leases', id)
  redis.call('ZREM', p .. ':s:running', id)
  if app ~= '' and redis.call('HGET', p .. ':app_running', app) == id then redis.call('HDEL', p .. ':app_running', app) end
  redis.call('HSET', k, 'state', to, 'owner', '', 'lease_until', 0, 'updated', now)
  redis.call('ZADD', p .. ':s:' .. to, redis.call('HGET', k, 'seq'), id)
end
";

const HEARTBEAT: &str = "
local p, id, worker, lease = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
if not held(p, id, worker) then return -1 end
redis.call('ZADD', p .. ':leases', now + lease, id)
redis.call('HSET', p .. ':task:' .. id, 'lease_until', now + lease, 'updated', now)
return tonumber(redis.call('HGET', p .. ':task:' .. id, 'cancel'))
";

const COMPLETE: &str = "
local p, id, worker, to = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if not held(p, id, worker) then return 0 end
leave_running(p, id, to, now)
return 1
";

const FAIL: &str = "
local p, id, worker, err, retry_in = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if not held(p, id, worker) then return false end
local k = p .. ':task:' .. id
redis.call('HSET', k, 'last_error', err)
if retry_in < 0 or tonumber(redis.call('HGET', k, 'attempts')) >= tonumber(redis.call('HGET', k, 'max_attempts')) then
  leave_running(p, id, 'dead', now)
  return -1
end
leave_running(p, id, 'queued', now)
redis.call('HSET', k, 'run_after', now + retry_in)
return now + retry_in
";

// What an expired lease does in CLAIM, at once and with the caller's reason.
const RELEASE: &str = "
local p, id, worker, why = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if not held(p, id, worker) then return 0 end
local k = p .. ':task:' .. id
local st = 'queued'
if tonumber(redis.call('HGET', k, 'attempts')) >= tonumber(redis.call('HGET', k, 'max_attempts')) then st = 'dead' end
leave_running(p, id, st, now)
redis.call('HSET', k, 'last_error', why, 'run_after', now)
return 1
";

const CANCEL: &str = "
local p, id = KEYS[1], ARGV[1]
local k = p .. ':task:' .. id
local st = redis.call('HGET', k, 'state')
if not st then return false end
if st == 'queued' then
  redis.call('ZREM', p .. ':s:queued', id)
  redis.call('ZADD', p .. ':s:cancelled', redis.call('HGET', k, 'seq'), id)
  redis.call('HSET', k, 'state', 'cancelled', 'updated', now)
  return 'cancelled'
end
if st == 'running' then redis.call('HSET', k, 'cancel', 1, 'updated', now) end
return st
";

pub struct RedisQueue {
    conn: ConnectionManager,
    prefix: String,
    enqueue: Script,
    claim: Script,
    heartbeat: Script,
    complete: Script,
    fail: Script,
    release: Script,
    cancel: Script,
}

fn backend(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(e.to_string())
}

impl RedisQueue {
    /// Connects to `url` (`redis://HOST:PORT/DB`); keys live under `prefix`.
    /// The connection reconnects by itself when Redis restarts.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisQueue, QueueError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let conn = ConnectionManager::new(client).await.map_err(backend)?;
        let with_now = |body: &str| Script::new(&format!("{NOW}{body}"));
        let with_end = |body: &str| Script::new(&format!("{NOW}{END_RUNNING}{body}"));
        Ok(RedisQueue {
            conn,
            prefix: prefix.to_string(),
            enqueue: with_now(ENQUEUE),
            claim: with_now(CLAIM),
            heartbeat: with_end(HEARTBEAT),
            complete: with_end(COMPLETE),
            fail: with_end(FAIL),
            release: with_end(RELEASE),
            cancel: with_now(CANCEL),
        })
    }

    /// Ends a running task held by `worker` in state `to`.
    async fn end_running(&self, id: &str, worker: &str, to: TaskState) -> Result<(), QueueError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .complete
            .key(&self.prefix)
            .arg(id)
            .arg(worker)
            .arg(to.as_str())
            .invoke_async(&mut c)
            .await
            .map_err(backend)?;
        if r == 0 {
            return Err(QueueError::LeaseLost(id.to_string()));
        }
        Ok(())
    }

    async fn fetch(&self, id: &str) -> Result<Option<Task>, QueueError> {
        let mut c = self.conn.clone();
        let h: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("{}:task:{id}", self.prefix))
            .query_async(&mut c)
            .await
            .map_err(backend)?;
        if h.is_empty() {
            return Ok(None);
        }
        from_hash(h).map(Some)
    }
}

fn from_hash(h: HashMap<String, String>) -> Result<Task, QueueError> {
    let s = |k: &str| h.get(k).cloned().unwrap_or_default();
    let n = |k: &str| h.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    Ok(Task {
        id: s("id"),
        kind: s("kind"),
        app: Some(s("app")).filter(|a| !a.is_empty()),
        payload: serde_json::from_str(&s("payload")).map_err(backend)?,
        state: TaskState::parse(&s("state"))?,
        attempts: n("attempts") as u32,
        max_attempts: n("max_attempts") as u32,
        last_error: Some(s("last_error")).filter(|e| !e.is_empty()),
        cancel_requested: n("cancel") != 0,
        run_after_ms: n("run_after"),
        created_ms: n("created"),
        updated_ms: n("updated"),
    })
}

impl Queue for RedisQueue {
    async fn enqueue_with_id(&self, id: &str, task: NewTask) -> Result<(), QueueError> {
        let payload = serde_json::to_string(&task.payload).map_err(backend)?;
        let mut c = self.conn.clone();
        let _: String = self
            .enqueue
            .key(&self.prefix)
            .arg(id)
            .arg(&task.kind)
            .arg(task.app.as_deref().unwrap_or(""))
            .arg(payload)
            .arg(task.max_attempts.max(1))
            .invoke_async(&mut c)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Task>, QueueError> {
        let mut c = self.conn.clone();
        let id: Option<String> = self
            .claim
            .key(&self.prefix)
            .arg(worker)
            .arg(ms(lease))
            .invoke_async(&mut c)
            .await
            .map_err(backend)?;
        match id {
            Some(id) => self.fetch(&id).await,
            None => Ok(None),
        }
    }

    async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        lease: Duration,
    ) -> Result<Heartbeat, QueueError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .heartbeat
            .key(&self.prefix)
            .arg(id)
            .arg(worker)
            .arg(ms(lease))
            .invoke_async(&mut c)
            .await
            .map_err(backend)?;
        Ok(match r {
            -1 => Heartbeat::Lost,
            0 => Heartbeat::Extended,
            _ => Heartbeat::CancelRequested,
        })
    }

    async fn complete(&self, id: &str, worker: &str) -> Result<(), QueueError> {
        self.end_running(id, worker, TaskState::Succeeded).await
    }

    async fn fail(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<Failure, QueueError> {
        let mut c = self.conn.clone();
        let r: Option<i64> = self
            .fail
            .key(&self.prefix)
            .arg(id)
            .arg(worker)
            .arg(error)
            .arg(retry_in.map(ms).unwrap_or(-1))
            .invoke_async(&mut c)
            .await
            .map_err(backend)?;
        match r {
            None => Err(QueueError::LeaseLost(id.to_string())),
            Some(-1) => Ok(Failure::Dead),
            Some(at_ms) => Ok(Failure::Retrying { at_ms }),
        }
    }

    async fn release(&self, id: &str, worker: &str, why: &str) -> Result<(), QueueError> {
        let mut c = self.conn.clone();
        let r: i64 = self
            .release
            .key(&self.prefix)
            .arg(id)
            .arg(worker)
            .arg(why)
            .invoke_async(&mut c)
            .await
            .map_err(backend)?;
        if r == 0 {
            return Err(QueueError::LeaseLost(id.to_string()));
        }
        Ok(())
    }

    async fn cancel(&self, id: &str) -> Result<TaskState, QueueError> {
        let mut c = self.conn.clone();
        let r: Option<String> = self
            .cancel
            .key(&self.prefix)
            .arg(id)
            .invoke_async(&mut c)
            .await
            .map_err(backend)?;
        match r {
            None => Err(QueueError::NotFound(id.to_string())),
            Some(s) => TaskState::parse(&s),
        }
    }

    async fn acknowledge_cancel(&self, id: &str, worker: &str) -> Result<(), QueueError> {
        self.end_running(id, worker, TaskState::Cancelled).await
    }

    async fn get(&self, id: &str) -> Result<Option<Task>, QueueError> {
        self.fetch(id).await
    }

    async fn list(&self, state: TaskState) -> Result<Vec<Task>, QueueError> {
        let mut c = self.conn.clone();
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(format!("{}:s:{}", self.prefix, state.as_str()))
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await
            .map_err(backend)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(t) = self.fetch(&id).await? {
                out.push(t);
            }
        }
        Ok(out)
    }
}
