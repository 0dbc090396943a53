//! What the reconciler concludes about a deployment that is not finished,
//! from what the queue says of its task.

use appos_proto::DeploymentState;

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

/// The state to close the deployment with, and why; `None` leaves it to its worker.
pub fn verdict(task: &TaskSeen) -> Option<(DeploymentState, String)> {
    match task {
        TaskSeen::Missing => Some((DeploymentState::Failed, "the agent stopped before the deployment was queued".into())),
        TaskSeen::Dead(error) => Some((DeploymentState::Failed, error.clone().unwrap_or_else(|| "failed".into()))),
        TaskSeen::Cancelled => Some((DeploymentState::Cancelled, "cancelled".into())),
        // A worker has it, or had it and is about to record the end.
        TaskSeen::Queued | TaskSeen::Running | TaskSeen::Succeeded => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        for (task, want) in [
            (TaskSeen::Missing, Some((DeploymentState::Failed, "the agent stopped before the deployment was queued"))),
            (TaskSeen::Dead(Some("pulling x: not found".into())), Some((DeploymentState::Failed, "pulling x: not found"))),
            (TaskSeen::Dead(None), Some((DeploymentState::Failed, "failed"))),
            (TaskSeen::Cancelled, Some((DeploymentState::Cancelled, "cancelled"))),
            (TaskSeen::Queued, None),
            (TaskSeen::Running, None),
            (TaskSeen::Succeeded, None),
        ] {
            assert_eq!(verdict(&task), want.map(|(s, w)| (s, w.to_string())), "{task:?}");
        }
    }
}
