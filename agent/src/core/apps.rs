//! What state each app is in: the states of its containers folded into
//! one, and the apps list as AppOS's own apps (with or without containers)
//! plus every compose project Docker knows.

use std::collections::{HashMap, HashSet};

use appos_proto::{App, AppState, Container, DeploymentSummary};

/// Folds container states into one app state.
pub fn fold_state<'a>(containers: impl Iterator<Item = &'a Container>) -> AppState {
    let (mut total, mut running, mut troubled) = (0, 0, 0);
    for c in containers {
        total += 1;
        if c.state == "running" {
            running += 1;
        }
        if c.state == "restarting" || c.state == "dead" || c.status.contains("(unhealthy)") {
            troubled += 1;
        }
    }
    match (total, running, troubled) {
        (0, _, _) => AppState::Empty,
        (_, _, t) if t > 0 => AppState::Degraded,
        (t, r, _) if r == t => AppState::Running,
        (_, 0, _) => AppState::Stopped,
        _ => AppState::Partial,
    }
}

/// The apps list: every compose project Docker knows, plus each app AppOS
/// manages that has no containers now, sorted by name; managed ones carry
/// their latest deployment.
pub fn list(
    projects: Vec<App>,
    managed: &HashSet<String>,
    latest: &HashMap<String, DeploymentSummary>,
) -> Vec<App> {
    let mut out: Vec<App> = projects;
    let present: HashSet<String> = out.iter().map(|a| a.name.clone()).collect();
    for name in managed.iter().filter(|n| !present.contains(*n)) {
        out.push(App {
            name: name.clone(),
            state: AppState::Empty,
            managed: true,
            working_dir: None,
            config_files: Vec::new(),
            services: Vec::new(),
            last_deployment: None,
        });
    }
    for app in &mut out {
        app.managed = managed.contains(&app.name);
        app.last_deployment = if app.managed {
            latest.get(&app.name).cloned()
        } else {
            None
        };
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use appos_proto::{DeploymentState, Operation, Service};

    fn c(state: &str, status: &str) -> Container {
        Container {
            id: String::new(),
            name: String::new(),
            image: String::new(),
            state: state.into(),
            status: status.into(),
            ports: vec![],
        }
    }

    #[test]
    fn state_folding() {
        for (containers, want) in [
            (vec![], AppState::Empty),
            (
                vec![c("running", "Up"), c("running", "Up")],
                AppState::Running,
            ),
            (
                vec![c("running", "Up"), c("exited", "Exited (0)")],
                AppState::Partial,
            ),
            (vec![c("exited", "Exited (1)")], AppState::Stopped),
            (vec![c("created", "Created")], AppState::Stopped),
            (vec![c("running", "Up 1s (unhealthy)")], AppState::Degraded),
            (vec![c("restarting", "Restarting")], AppState::Degraded),
            (
                vec![c("dead", "Dead"), c("running", "Up")],
                AppState::Degraded,
            ),
        ] {
            assert_eq!(fold_state(containers.iter()), want, "{containers:?}");
        }
    }

    fn project(name: &str) -> App {
        App {
            name: name.into(),
            state: AppState::Running,
            managed: false,
            working_dir: Some(format!("/srv/{name}")),
            config_files: vec![],
            services: vec![Service {
                name: "web".into(),
                containers: vec![c("running", "Up")],
            }],
            last_deployment: None,
        }
    }

    #[test]
    fn managed_apps_without_containers_are_listed() {
        let failed = DeploymentSummary {
            id: "t1".into(),
            operation: Operation::Deploy,
            state: DeploymentState::Failed,
            error: Some("pulling x: image not found".into()),
        };
        let ok = DeploymentSummary {
            id: "t2".into(),
            operation: Operation::Deploy,
            state: DeploymentState::Succeeded,
            error: None,
        };
        let managed: HashSet<String> = ["broken", "blog"].map(String::from).into();
        let latest: HashMap<String, DeploymentSummary> = [
            ("broken".to_string(), failed.clone()),
            ("blog".to_string(), ok.clone()),
        ]
        .into();
        let apps = list(vec![project("zeta"), project("blog")], &managed, &latest);
        let seen: Vec<(&str, AppState, bool, Option<DeploymentState>)> = apps
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    a.state,
                    a.managed,
                    a.last_deployment.as_ref().map(|d| d.state),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "blog",
                    AppState::Running,
                    true,
                    Some(DeploymentState::Succeeded)
                ),
                (
                    "broken",
                    AppState::Empty,
                    true,
                    Some(DeploymentState::Failed)
                ),
                ("zeta", AppState::Running, false, None),
            ]
        );
        assert_eq!(apps[1].last_deployment, Some(failed));
        // Nothing managed and nothing running: an empty list.
        assert!(list(vec![], &HashSet::new(), &HashMap::new()).is_empty());
    }
}
