//! Host access: what a compose file asks for beyond its own containers and
//! the app's directory. Each capability is typed; an admin grants the exact
//! list, and the grant is recorded with each version.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// The kind of a host-reaching capability.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema, TS,
)]
#[serde(rename_all = "snake_case")]
pub enum HostAccessKind {
    /// A server path mounted read-write (`target` is the path).
    Bind,
    /// A server path mounted read-only.
    ReadOnlyBind,
    /// The Docker socket, or a folder holding it: root on the server.
    DockerSocket,
    /// `volumes_from` another container (`target` names it).
    VolumesFrom,
    /// A named volume whose driver options mount a device or server path
    /// (`service` names the volume, `target` is the device).
    VolumeDevice,
    /// A server file read into the app: `env_file`, a secret or a config.
    HostFile,
    /// `privileged: true`.
    Privileged,
    /// A host namespace (`target`: pid, ipc, uts, userns or cgroup).
    HostNamespace,
    /// `network_mode: host`, or a network that is the host's.
    HostNetwork,
    /// `network_mode: container:NAME`.
    ContainerNetwork,
    /// A Linux capability added with `cap_add`.
    Capability,
    /// A server device (`devices`, `device_cgroup_rules`).
    Device,
    /// A `security_opt` that lifts confinement.
    Unconfined,
    /// A kernel setting (`sysctls`).
    Sysctl,
}

/// One capability a compose file asks for.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema, TS,
)]
pub struct HostAccess {
    pub kind: HostAccessKind,
    /// The service that gets it (for `volume_device`, the volume).
    pub service: String,
    /// What it reaches: a path, device, namespace, container, capability,
    /// option or kernel setting.
    pub target: String,
}

impl HostAccess {
    pub fn new(
        kind: HostAccessKind,
        service: impl Into<String>,
        target: impl Into<String>,
    ) -> HostAccess {
        HostAccess {
            kind,
            service: service.into(),
            target: target.into(),
        }
    }

    /// What it means, in plain words, for a confirmation.
    pub fn describe(&self) -> String {
        let (s, t) = (&self.service, &self.target);
        match self.kind {
            HostAccessKind::Bind => format!("{s} can read and write {t} on the server"),
            HostAccessKind::ReadOnlyBind => format!("{s} can read {t} on the server"),
            HostAccessKind::DockerSocket => format!("{s} controls Docker through {t}, which is root on the server"),
            HostAccessKind::VolumesFrom => format!("{s} mounts every volume of the container {t}"),
            HostAccessKind::VolumeDevice => format!("the volume {s} is {t} on the server; every service that mounts it can read and write it"),
            HostAccessKind::HostFile => format!("{s} reads the server's file {t}"),
            HostAccessKind::Privileged => format!("{s} runs privileged: it can do anything root can on the server"),
            HostAccessKind::HostNamespace => match t.as_str() {
                "pid" => format!("{s} sees and can signal every process on the server"),
                "userns" => format!("{s} runs without user namespace remapping"),
                other => format!("{s} shares the server's {other} namespace"),
            },
            HostAccessKind::HostNetwork => format!("{s} uses the server's network directly: every interface and port"),
            HostAccessKind::ContainerNetwork => format!("{s} joins the network of the container {t}"),
            HostAccessKind::Capability => format!("{s} has the Linux capability {t}"),
            HostAccessKind::Device => format!("{s} can use the server's device {t}"),
            HostAccessKind::Unconfined => format!("{s} runs with the security option {t}, which lifts its confinement"),
            HostAccessKind::Sysctl => format!("{s} sets the kernel setting {t}"),
        }
    }

    /// Whether granting `self` also grants `need`: the same capability, or
    /// a read-write mount of the path a read-only one needs.
    pub fn covers(&self, need: &HostAccess) -> bool {
        self == need
            || (self.kind == HostAccessKind::Bind
                && need.kind == HostAccessKind::ReadOnlyBind
                && self.service == need.service
                && self.target == need.target)
    }
}

/// A capability a compose file asks for, with its words and whether an
/// earlier version of the app already holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct HostAccessNeed {
    pub access: HostAccess,
    /// [`HostAccess::describe`].
    pub description: String,
    /// The app's current version already holds it: no new consent needed.
    pub granted: bool,
}

/// Whether every capability in `needs` is covered by one in `granted`.
pub fn all_covered<'a>(
    granted: &[HostAccess],
    needs: impl IntoIterator<Item = &'a HostAccess>,
) -> bool {
    needs
        .into_iter()
        .all(|n| granted.iter().any(|g| g.covers(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_coverage() {
        let rw = HostAccess::new(HostAccessKind::Bind, "pihole", "/etc/pihole");
        assert_eq!(
            rw.describe(),
            "pihole can read and write /etc/pihole on the server"
        );
        let ro = HostAccess::new(HostAccessKind::ReadOnlyBind, "pihole", "/etc/pihole");
        assert!(rw.covers(&ro) && !ro.covers(&rw));
        assert!(!rw.covers(&HostAccess::new(
            HostAccessKind::ReadOnlyBind,
            "other",
            "/etc/pihole"
        )));
        let sock = HostAccess::new(
            HostAccessKind::DockerSocket,
            "portainer",
            "/var/run/docker.sock",
        );
        assert_eq!(
            sock.describe(),
            "portainer controls Docker through /var/run/docker.sock, which is root on the server"
        );
        assert!(all_covered(&[rw.clone(), sock.clone()], [&ro, &sock]));
        assert!(!all_covered(&[ro], [&rw]));
        let json = serde_json::to_string(&sock).expect("json");
        assert_eq!(
            json,
            r#"{"kind":"docker_socket","service":"portainer","target":"/var/run/docker.sock"}"#
        );
    }
}
