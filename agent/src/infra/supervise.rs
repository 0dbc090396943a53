//! The processes the agent runs beside itself (redis-server, the reverse
//! proxy): started, waited for until they answer, restarted when they exit,
//! killed when the agent stops, and killed by the kernel if the agent dies.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// A program the agent keeps running.
pub trait Supervised: Send + Sync + 'static {
    /// Its name in the log.
    fn name(&self) -> &'static str;
    /// Starts it.
    fn spawn(&self) -> anyhow::Result<Child>;
    /// Waits until the started child answers (or fails saying why).
    fn ready<'a>(
        &'a self,
        child: &'a mut Child,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'a;
    /// Whether the child leads a process group (`process_group(0)` at
    /// spawn) whose other members go with it: processes it forked (nginx's
    /// workers) outlive a killed master otherwise, serving and holding its ports.
    fn group(&self) -> bool {
        false
    }
}

/// Kills what is left of the process group `pid` led.
fn kill_group(pid: Option<u32>) {
    if let Some(p) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
    }
}

/// The pid of the running child, 0 while there is none.
#[derive(Debug, Default)]
pub struct Pid(AtomicU32);

impl Pid {
    pub fn get(&self) -> Option<u32> {
        Some(self.0.load(Ordering::Acquire)).filter(|p| *p != 0)
    }

    fn set(&self, child: Option<&Child>) {
        self.0
            .store(child.and_then(Child::id).unwrap_or(0), Ordering::Release);
    }
}

/// How hard the agent tries at its own start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtStart {
    /// The agent cannot work without it: a failed start is the agent's error.
    Required,
    /// The agent works without it: tried 5 times, then every 10 s in the background.
    Optional,
}

async fn start_once<S: Supervised>(s: &S) -> anyhow::Result<Child> {
    let mut child = s.spawn()?;
    match s.ready(&mut child).await {
        Ok(()) => Ok(child),
        Err(e) => {
            let pid = child.id();
            let _ = child.kill().await;
            if s.group() {
                kill_group(pid);
            }
            Err(e)
        }
    }
}

/// Starts `s` and keeps it running until `stop`; `pid` follows the running child.
pub async fn supervise<S: Supervised>(
    s: Arc<S>,
    pid: Arc<Pid>,
    at_start: AtStart,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let name = s.name();
    let mut child = match at_start {
        AtStart::Required => Some(start_once(&*s).await?),
        AtStart::Optional => {
            // The same program of an agent that just died may still hold its ports a moment.
            let mut child = None;
            for _ in 0..5 {
                match start_once(&*s).await {
                    Ok(c) => {
                        child = Some(c);
                        break;
                    }
                    Err(error) => tracing::warn!(%error, "{name} did not start; trying again"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if child.is_none() {
                tracing::error!("{name} cannot start; trying again every 10 s");
            }
            child
        }
    };
    pid.set(child.as_ref());
    if child.is_some() {
        tracing::info!("{name} running");
    }
    tokio::spawn(async move {
        loop {
            let exited = async {
                match child.as_mut() {
                    Some(c) => c.wait().await.ok(),
                    None => {
                        tokio::time::sleep(Duration::from_secs(9)).await;
                        None
                    }
                }
            };
            tokio::select! {
                _ = stop.cancelled() => {
                    if let Some(c) = child.as_mut() {
                        let _ = c.kill().await;
                    }
                    if s.group() {
                        kill_group(pid.get());
                    }
                    pid.set(None);
                    return;
                }
                status = exited => {
                    if s.group() {
                        kill_group(pid.get());
                    }
                    pid.set(None);
                    if child.is_some() {
                        tracing::error!(?status, "{name} exited; restarting it");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    child = match start_once(&*s).await {
                        Ok(c) => {
                            tracing::info!("{name} running again");
                            Some(c)
                        }
                        Err(error) => {
                            tracing::error!(%error, "{name} did not come back");
                            None
                        }
                    };
                    pid.set(child.as_ref());
                }
            }
        }
    });
    Ok(())
}

/// Asks the kernel to kill the child when the agent dies, however it dies,
/// so that no child outlives it holding its files or ports.
#[allow(unsafe_code)]
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls prctl(2), which is async-signal-safe; it touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
