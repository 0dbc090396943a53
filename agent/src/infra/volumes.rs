//! A compose project's named volumes, read and written through a helper
//! container that is created (never started) with the volume mounted:
//! Docker's archive API copies a stopped container's mounts, so any image
//! the host already has will do (the app's own), and nothing runs.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, ListVolumesOptions,
    RemoveContainerOptions, UploadToContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

use super::docker::LABEL_PROJECT;

/// The label compose gives a volume: its name in the compose file.
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";
/// Where the helper container mounts the volume.
const MOUNT_AT: &str = "/appos-volume";

/// The label a service carries (`labels: ["dev.appos.backup.pause=true"]`,
/// as the catalog's database services do) to be paused while its app's
/// volumes are read, so the files are read at rest.
pub const LABEL_PAUSE: &str = "dev.appos.backup.pause";

/// The running containers of `project` whose service asks to be paused
/// during a backup: (id, name), read from what runs, not from the compose file.
pub async fn to_pause(
    docker: &Docker,
    project: &str,
) -> Result<Vec<(String, String)>, bollard::errors::Error> {
    let filters = HashMap::from([
        (
            "label".to_string(),
            vec![
                format!("{LABEL_PROJECT}={project}"),
                format!("{LABEL_PAUSE}=true"),
            ],
        ),
        ("status".to_string(), vec!["running".to_string()]),
    ]);
    let list = docker
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: false,
            filters: Some(filters),
            ..Default::default()
        }))
        .await?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default();
            Some((c.id?, name))
        })
        .collect())
}

/// A project's volume: Docker's name and the compose file's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProjectVolume {
    pub name: String,
    pub key: String,
}

/// The named volumes compose made for `project`.
pub async fn of_project(
    docker: &Docker,
    project: &str,
) -> Result<Vec<ProjectVolume>, bollard::errors::Error> {
    let mut filters = HashMap::new();
    filters.insert(
        "label".to_string(),
        vec![format!("{LABEL_PROJECT}={project}")],
    );
    let list = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await?;
    let mut out: Vec<ProjectVolume> = list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| ProjectVolume {
            key: v
                .labels
                .get(LABEL_VOLUME)
                .cloned()
                .unwrap_or_else(|| v.name.clone()),
            name: v.name,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A stopped container holding `volume` (the caller removes it: `remove`).
async fn helper(
    docker: &Docker,
    volume: &str,
    image: &str,
) -> Result<String, bollard::errors::Error> {
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        // Never started: an entrypoint the image may lack does not matter.
        cmd: Some(vec!["true".to_string()]),
        network_disabled: Some(true),
        labels: Some(HashMap::from([(
            "dev.appos.helper".to_string(),
            "volume".to_string(),
        )])),
        host_config: Some(HostConfig {
            mounts: Some(vec![Mount {
                target: Some(MOUNT_AT.into()),
                source: Some(volume.into()),
                typ: Some(MountType::VOLUME),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(docker
        .create_container(None::<CreateContainerOptions>, body)
        .await?
        .id)
}

async fn remove(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptions {
        force: true,
        v: false,
        ..Default::default()
    };
    if let Err(error) = docker.remove_container(id, Some(opts)).await {
        tracing::warn!(%error, id, "cannot remove a volume helper container");
    }
}

/// Writes the volume's content as a tar file (its entries under `appos-volume/`).
pub async fn export(docker: &Docker, volume: &str, image: &str, out: &Path) -> anyhow::Result<u64> {
    let id = helper(docker, volume, image).await?;
    let result = async {
        let mut file = tokio::fs::File::create(out).await?;
        let mut stream = docker.download_from_container(
            &id,
            Some(DownloadFromContainerOptions {
                path: MOUNT_AT.into(),
            }),
        );
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            n += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        anyhow::Ok(n)
    }
    .await;
    remove(docker, &id).await;
    result
}

/// Creates the volume (labelled as compose would, so the project takes it
/// as its own) and fills it from a tar file `export` wrote.
pub async fn import(
    docker: &Docker,
    project: &str,
    v: &ProjectVolume,
    image: &str,
    tar: &Path,
) -> anyhow::Result<()> {
    let labels = HashMap::from([
        (LABEL_PROJECT.to_string(), project.to_string()),
        (LABEL_VOLUME.to_string(), v.key.clone()),
    ]);
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(v.name.clone()),
            labels: Some(labels),
            ..Default::default()
        })
        .await?;
    let id = helper(docker, &v.name, image).await?;
    let result = async {
        // Streamed from the file: a volume's tar never sits in memory whole.
        let file = tokio::fs::File::open(tar).await?;
        let body = bollard::body_try_stream(tokio_util::io::ReaderStream::with_capacity(
            file,
            256 * 1024,
        ));
        docker
            .upload_to_container(
                &id,
                Some(UploadToContainerOptions {
                    path: "/".into(),
                    ..Default::default()
                }),
                body,
            )
            .await?;
        anyhow::Ok(())
    }
    .await;
    remove(docker, &id).await;
    result
}
