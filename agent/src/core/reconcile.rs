//! What the reconciler does with a deployment that is not finished, from
//! what the queue says of its task.

use appos_proto::DeploymentState;

/// How long a recorded deployment may go without a task: the API records
/// it, then queues it, and the reconciler must not race that.
pub const QUEUE_GRACE_MS: i64 = 10_000;

/// The task of an unfinished deployment, as the queue has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSeen {
    /// The queue has no such task.
    Missing,
    Queued,
    Running,
    Succeeded,
    /// Out of attempts, with the last error.
    Dead(Option<String>),
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A worker has it, or had it and is about to record the end.
    Leave,
    /// The deployment was recorded but its task never reached the queue (the
    /// agent stopped in between, or the queue lost it): queue it again.
    Requeue,
    /// Close the deployment with this state and reason.
    Close(DeploymentState, String),
}

/// `age_ms`: how long ago the deployment was recorded.
pub fn verdict(task: &TaskSeen, age_ms: i64) -> Verdict {
    match task {
        TaskSeen::Missing if age_ms < QUEUE_GRACE_MS => Verdict::Leave,
        TaskSeen::Missing => Verdict::Requeue,
        TaskSeen::Dead(error) => Verdict::Close(
            DeploymentState::Failed,
            error.clone().unwrap_or_else(|| "failed".into()),
        ),
        TaskSeen::Cancelled => Verdict::Close(DeploymentState::Cancelled, "cancelled".into()),
        TaskSeen::Queued | TaskSeen::Running | TaskSeen::Succeeded => Verdict::Leave,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let old = QUEUE_GRACE_MS + 1;
        for (task, age, want) in [
            (TaskSeen::Missing, old, Verdict::Requeue),
            (TaskSeen::Missing, 500, Verdict::Leave),
            (
                TaskSeen::Dead(Some("pulling x: image not found".into())),
                old,
                Verdict::Close(DeploymentState::Failed, "pulling x: image not found".into()),
            ),
            (
                TaskSeen::Dead(None),
                old,
                Verdict::Close(DeploymentState::Failed, "failed".into()),
            ),
            (
                TaskSeen::Cancelled,
                0,
                Verdict::Close(DeploymentState::Cancelled, "cancelled".into()),
            ),
            (TaskSeen::Queued, old, Verdict::Leave),
            (TaskSeen::Running, old, Verdict::Leave),
            (TaskSeen::Succeeded, old, Verdict::Leave),
        ] {
            assert_eq!(verdict(&task, age), want, "{task:?} after {age} ms");
        }
    }
}
