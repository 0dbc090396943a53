//! When a deployment's containers count as up.

use appos_proto::App;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every container runs (and passed its health check): how many.
    Ready(usize),
    /// Not yet: containers are missing, starting, or their health check has not passed.
    Waiting,
    /// It will not get there: a container is unhealthy, dead or exited.
    Failed(String),
}

/// Judges the project as Docker lists it now, for a compose file of `services` services.
pub fn readiness(project: Option<&App>, services: usize) -> Readiness {
    let Some(a) = project else {
        return Readiness::Waiting;
    };
    let containers: Vec<_> = a
        .services
        .iter()
        .flat_map(|s| s.containers.iter())
        .collect();
    if let Some(bad) = containers
        .iter()
        .find(|c| c.status.contains("(unhealthy)") || c.state == "dead")
    {
        return Readiness::Failed(format!("{} is {}", bad.name, bad.status));
    }
    if let Some(exited) = containers.iter().find(|c| c.state == "exited") {
        return Readiness::Failed(format!("{} exited: {}", exited.name, exited.status));
    }
    let ready = containers
        .iter()
        .filter(|c| c.state == "running" && !c.status.contains("health: starting"))
        .count();
    if a.services.len() >= services && ready == containers.len() && !containers.is_empty() {
        Readiness::Ready(ready)
    } else {
        Readiness::Waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appos_proto::{AppState, Container, Service};

    fn app(services: &[(&str, &[(&str, &str)])]) -> App {
        App {
            name: "blog".into(),
            state: AppState::Running,
            managed: true,
            working_dir: None,
            config_files: vec![],
            last_deployment: None,
            services: services
                .iter()
                .map(|(name, cs)| Service {
                    name: name.to_string(),
                    containers: cs
                        .iter()
                        .enumerate()
                        .map(|(i, (state, status))| Container {
                            id: format!("{name}{i}"),
                            name: format!("blog-{name}-{i}"),
                            image: "x".into(),
                            state: state.to_string(),
                            status: status.to_string(),
                            ports: vec![],
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn verdicts() {
        let running: &[(&str, &str)] = &[("running", "Up 2 seconds")];
        let healthy: &[(&str, &str)] = &[("running", "Up 9 seconds (healthy)")];
        let starting: &[(&str, &str)] = &[("running", "Up 1 second (health: starting)")];
        let unhealthy: &[(&str, &str)] = &[("running", "Up 40 seconds (unhealthy)")];
        let exited: &[(&str, &str)] = &[("exited", "Exited (1) 2 seconds ago")];
        let created: &[(&str, &str)] = &[("created", "Created")];
        let dead: &[(&str, &str)] = &[("dead", "Dead")];
        for (project, services, want) in [
            (None, 1, Readiness::Waiting),
            (Some(app(&[])), 1, Readiness::Waiting),
            (Some(app(&[("web", running)])), 1, Readiness::Ready(1)),
            (
                Some(app(&[("web", running), ("db", healthy)])),
                2,
                Readiness::Ready(2),
            ),
            // A service of the file has no container yet.
            (Some(app(&[("web", running)])), 2, Readiness::Waiting),
            (
                Some(app(&[("web", running), ("db", starting)])),
                2,
                Readiness::Waiting,
            ),
            (Some(app(&[("web", created)])), 1, Readiness::Waiting),
            (
                Some(app(&[("web", running), ("db", unhealthy)])),
                2,
                Readiness::Failed("blog-db-0 is Up 40 seconds (unhealthy)".into()),
            ),
            (
                Some(app(&[("web", exited)])),
                1,
                Readiness::Failed("blog-web-0 exited: Exited (1) 2 seconds ago".into()),
            ),
            (
                Some(app(&[("web", dead)])),
                1,
                Readiness::Failed("blog-web-0 is Dead".into()),
            ),
        ] {
            assert_eq!(readiness(project.as_ref(), services), want, "{project:?}");
        }
    }
}
