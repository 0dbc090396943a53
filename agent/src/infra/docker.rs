//! The Docker host as the agent sees it: the engine (through bollard), the
//! compose tool found on the server, and the inventory of compose projects.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use appos_proto::{App, ComposeFlavour, ComposeInfo, Container, PortMapping, Service};
use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptions;
use bollard::Docker;

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// Marks the agent's own container (the image sets it): never an app, never
/// acted on by AppOS (so that no "stop" or "delete" can take the agent down).
pub const LABEL_AGENT: &str = "dev.appos.agent";

/// Connects to the engine at `host` (a `unix://` path or `tcp://` address) or
/// the local default, and negotiates the API version. A daemon that is down is
/// not fatal: the client is returned un-negotiated and routes that need Docker
/// answer 503 until it is back.
pub async fn connect(host: Option<&str>) -> anyhow::Result<Docker> {
    let docker = match host {
        Some(h) if h.starts_with("unix://") || h.starts_with('/') => {
            let path = h.trim_start_matches("unix://");
            Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
        }
        Some(h) => Docker::connect_with_http(h, 120, bollard::API_DEFAULT_VERSION),
        None => Docker::connect_with_local_defaults(),
    }
    .context("creating Docker client")?;
    match docker.clone().negotiate_version().await {
        Ok(d) => Ok(d),
        Err(error) => {
            tracing::warn!(%error, "Docker is not reachable yet; continuing without it");
            Ok(docker)
        }
    }
}

/// Finds the compose implementation: the `docker compose` plugin first, then a
/// standalone `docker-compose`. Commands are argv arrays, never shell strings.
pub async fn detect_compose() -> ComposeInfo {
    let candidates: [(&[&str], ComposeFlavour); 2] = [
        (&["docker", "compose"], ComposeFlavour::Plugin),
        (&["docker-compose"], ComposeFlavour::Standalone),
    ];
    for (argv, flavour) in candidates {
        let out = tokio::process::Command::new(argv[0])
            .args(&argv[1..])
            .args(["version", "--short"])
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        if let Ok(out) = out {
            if out.status.success() {
                return ComposeInfo {
                    flavour,
                    version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
                    command: argv.iter().map(|s| s.to_string()).collect(),
                };
            }
        }
    }
    ComposeInfo {
        flavour: ComposeFlavour::Missing,
        version: String::new(),
        command: Vec::new(),
    }
}

/// One compose project, if Docker knows it.
pub async fn project(docker: &Docker, name: &str) -> Result<Option<App>, bollard::errors::Error> {
    Ok(projects(docker).await?.into_iter().find(|a| a.name == name))
}

/// Lists every compose project on the host, newest Docker state, sorted by
/// name (`managed` is false: the services decide that).
pub async fn projects(docker: &Docker) -> Result<Vec<App>, bollard::errors::Error> {
    Ok(fold_projects(
        compose_containers(docker, Which::All).await?.iter(),
    ))
}

/// Which compose containers to list.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    All,
    /// Those of one project.
    Project(&'a str),
    /// One container, by id (none when it is gone).
    Container(&'a str),
}

/// The containers of compose projects, stopped ones too, as Docker lists them.
pub async fn compose_containers(
    docker: &Docker,
    which: Which<'_>,
) -> Result<Vec<ContainerSummary>, bollard::errors::Error> {
    let mut filters = HashMap::new();
    let label = match which {
        Which::Project(p) => format!("{LABEL_PROJECT}={p}"),
        _ => LABEL_PROJECT.to_string(),
    };
    filters.insert("label".to_string(), vec![label]);
    if let Which::Container(id) = which {
        filters.insert("id".to_string(), vec![id.to_string()]);
    }
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
}

/// Waits until Docker's container list reflects the last change to a
/// container. Docker announces a change (a `die`, say) while it still holds
/// the container's lock, before it updates the view that listing reads, so a
/// listing right after the event may show the old state. Inspecting takes
/// that lock, so it returns once the change is complete everywhere.
pub async fn settle(docker: &Docker, id: &str) {
    let _ = docker
        .inspect_container(
            id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await;
}

/// Compose projects from their containers, sorted by name; the agent's own
/// container is left out.
pub fn fold_projects<'a>(containers: impl Iterator<Item = &'a ContainerSummary>) -> Vec<App> {
    let mut projects: BTreeMap<String, ProjectAcc> = BTreeMap::new();
    for c in containers {
        let Some(labels) = c.labels.as_ref() else {
            continue;
        };
        if labels.contains_key(LABEL_AGENT) {
            continue;
        }
        let Some(project) = labels.get(LABEL_PROJECT).cloned() else {
            continue;
        };
        let acc = projects.entry(project).or_default();
        if acc.working_dir.is_none() {
            acc.working_dir = labels.get(LABEL_WORKING_DIR).cloned();
        }
        if let Some(files) = labels.get(LABEL_CONFIG_FILES) {
            for f in files.split(',').filter(|f| !f.is_empty()) {
                if !acc.config_files.iter().any(|x| x == f) {
                    acc.config_files.push(f.to_string());
                }
            }
        }
        let service = labels.get(LABEL_SERVICE).cloned().unwrap_or_default();
        let mut ports: Vec<PortMapping> = c
            .ports
            .iter()
            .flatten()
            .map(|p| PortMapping {
                private_port: p.private_port,
                public_port: p.public_port,
                ip: p.ip.clone().filter(|s| !s.is_empty()),
                protocol: p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
            })
            .collect();
        ports.sort_by(|a, b| {
            (a.private_port, a.public_port, &a.ip).cmp(&(b.private_port, b.public_port, &b.ip))
        });
        ports.dedup();
        let name = c
            .names
            .iter()
            .flatten()
            .next()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        acc.services.entry(service).or_default().push(Container {
            id: c.id.clone().unwrap_or_default(),
            name,
            image: c.image.clone().unwrap_or_default(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            status: c.status.clone().unwrap_or_default(),
            ports,
        });
    }

    projects
        .into_iter()
        .map(|(name, acc)| {
            let services: Vec<Service> = acc
                .services
                .into_iter()
                .map(|(name, mut containers)| {
                    containers.sort_by(|a, b| a.name.cmp(&b.name));
                    Service { name, containers }
                })
                .collect();
            App {
                state: crate::core::apps::fold_state(
                    services.iter().flat_map(|s| s.containers.iter()),
                ),
                managed: false,
                last_deployment: None,
                name,
                working_dir: acc.working_dir,
                config_files: acc.config_files,
                services,
            }
        })
        .collect()
}

#[derive(Default)]
struct ProjectAcc {
    working_dir: Option<String>,
    config_files: Vec<String>,
    services: BTreeMap<String, Vec<Container>>,
}

/// Why a containerised agent's data root is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SamePathError {
    #[error(
        "{data} is mounted from {source_path} on the host; mount it at the same path (-v {data}:{data}) so that bind mounts in app compose files resolve the same for the agent and for Docker"
    )]
    Different { data: String, source_path: String },
    #[error("{data} is not mounted from the host; mount it at the same path (-v {data}:{data}), or app data is lost with the container")]
    NotMounted { data: String },
}

/// When the agent runs in a container, its data root must be a bind mount of
/// the very same host path. Outside a container there is nothing to check;
/// when Docker cannot say, the agent warns and goes on.
pub async fn check_same_path(
    docker: &Docker,
    data_dir: &std::path::Path,
) -> Result<(), SamePathError> {
    if !std::path::Path::new("/.dockerenv").exists() {
        return Ok(());
    }
    let Ok(id) = std::fs::read_to_string("/etc/hostname") else {
        return Ok(());
    };
    let info = match docker.inspect_container(id.trim(), None).await {
        Ok(i) => i,
        Err(error) => {
            tracing::warn!(%error, "cannot inspect our own container; skipping the same-path check");
            return Ok(());
        }
    };
    let data = data_dir.display().to_string();
    let mount = info
        .mounts
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.destination.as_deref() == Some(data.as_str()));
    match mount.and_then(|m| m.source) {
        Some(source) if source == data => Ok(()),
        Some(source) => Err(SamePathError::Different {
            data,
            source_path: source,
        }),
        None => Err(SamePathError::NotMounted { data }),
    }
}

/// Creates the network the proxy reaches apps on, unless it exists.
pub async fn ensure_network(docker: &Docker, name: &str) -> Result<(), bollard::errors::Error> {
    use bollard::errors::Error::DockerResponseServerError;
    match docker
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
    {
        Ok(_) => return Ok(()),
        Err(DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => return Err(e),
    }
    let labels = HashMap::from([("dev.appos.proxy-network".to_string(), "1".to_string())]);
    let request = bollard::models::NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        labels: Some(labels),
        ..Default::default()
    };
    match docker.create_network(request).await {
        // Another agent may have made it meanwhile.
        Ok(_)
        | Err(DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Puts the running containers of the `wanted` services (project, service)
/// on `network` and takes off it those of the projects in `ours` that are
/// no longer wanted (apps this agent knows whose last domain went); returns
/// the address on `network` of a running container of each wanted service.
/// The proxy reaches apps only there, wherever it runs: beside the agent on
/// the host, or in the all-in-one container attached to the same network.
pub async fn proxy_addresses(
    docker: &Docker,
    network: &str,
    wanted: &std::collections::HashSet<(String, String)>,
    ours: &std::collections::HashSet<String>,
) -> Result<HashMap<(String, String), std::net::IpAddr>, bollard::errors::Error> {
    let list = || async {
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![LABEL_PROJECT.to_string()]);
        filters.insert("status".to_string(), vec!["running".to_string()]);
        docker
            .list_containers(Some(ListContainersOptions {
                all: false,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
    };
    let mut changed = false;
    let first = list().await?;
    for c in &first {
        let labels = c.labels.clone().unwrap_or_default();
        if labels.contains_key(LABEL_AGENT) {
            continue;
        }
        let (Some(project), Some(service), Some(id)) = (
            labels.get(LABEL_PROJECT),
            labels.get(LABEL_SERVICE),
            c.id.clone(),
        ) else {
            continue;
        };
        let on = c
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .is_some_and(|n| n.contains_key(network));
        let want = wanted.contains(&(project.clone(), service.clone()));
        if want && !on {
            let request = bollard::models::NetworkConnectRequest {
                container: id.clone(),
                ..Default::default()
            };
            if let Err(error) = docker.connect_network(network, request).await {
                tracing::warn!(%error, container = %id, network, "cannot attach a domain's container to the proxy's network");
            }
            changed = true;
        } else if !want && on && ours.contains(project) {
            let request = bollard::models::NetworkDisconnectRequest {
                container: id.clone(),
                force: Some(false),
            };
            if let Err(error) = docker.disconnect_network(network, request).await {
                tracing::warn!(%error, container = %id, network, "cannot detach a container from the proxy's network");
            }
        }
    }
    // Addresses on the network come with the attachment: list again after one.
    let containers = if changed { list().await? } else { first };
    let mut out = HashMap::new();
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        let (Some(project), Some(service)) = (labels.get(LABEL_PROJECT), labels.get(LABEL_SERVICE))
        else {
            continue;
        };
        if !wanted.contains(&(project.clone(), service.clone())) {
            continue;
        }
        let ip = c
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .and_then(|ip| ip.parse().ok());
        if let Some(ip) = ip {
            out.entry((project.clone(), service.clone())).or_insert(ip);
        }
    }
    Ok(out)
}
