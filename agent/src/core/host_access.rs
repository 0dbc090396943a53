//! The host-access policy: every capability a compose file asks for that
//! reaches beyond its containers and the app's own directory, read from the
//! model the compose tool resolved (variables substituted, merge keys,
//! `extends` and `include` applied, relative paths made absolute against
//! the app's directory). Anything the policy does not know is refused, not
//! let through. Pure: running the compose tool is `infra::compose`.
//!
//! One pass reads the file as written ([`file_refs`]): the paths the compose
//! tool itself reads while resolving (`env_file`, `extends.file`, `include`),
//! so that a file outside the app's directory is refused before the tool
//! ever opens it (compose v1 also folds `env_file` into `environment`, so
//! its resolved model no longer names them).

use std::path::{Component, Path, PathBuf};

use appos_proto::{FieldError, HostAccess, HostAccessKind};
use serde_yaml_ng::{Mapping, Value};

/// Where the app lives and what on the server is root to reach.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The directory the compose tool resolved relative paths against (the
    /// app's directory, or the staging directory its files are checked in):
    /// mounts inside it are the app's own.
    pub app_dir: PathBuf,
    /// Other directories that are the app's own (its real directory, when
    /// `app_dir` is a staging copy).
    pub also_own: Vec<PathBuf>,
    /// Docker API sockets: mounting one, or a folder that holds one, is root.
    pub docker_sockets: Vec<PathBuf>,
}

/// A capability, and the field of the compose file that asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub field: String,
    pub access: HostAccess,
}

/// Service keys that reach nothing on the server (or are judged elsewhere:
/// `image`, `build`).
const PLAIN_SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_drop",
    "command",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "depends_on",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "environment",
    "expose",
    "external_links",
    "extra_hosts",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "oom_kill_disable",
    "oom_score_adj",
    "pids_limit",
    "platform",
    "ports",
    "profiles",
    "pull_policy",
    "read_only",
    "restart",
    "scale",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "working_dir",
];

/// Service keys this module reads.
const JUDGED_SERVICE_KEYS: &[&str] = &[
    "cap_add",
    "cgroup",
    "configs",
    "deploy",
    "device_cgroup_rules",
    "devices",
    "env_file",
    "ipc",
    "network_mode",
    "networks",
    "pid",
    "privileged",
    "secrets",
    "security_opt",
    "sysctls",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
];

const TOP_LEVEL_KEYS: &[&str] = &[
    "configs", "name", "networks", "secrets", "services", "version", "volumes",
];

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

/// `path` with `.` and `..` removed, lexically (the paths are the server's,
/// which the agent may not see as they are).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Where a bind source, file or device path lands, as an absolute path.
fn absolute(layout: &Layout, path: &str) -> PathBuf {
    normalise(&layout.app_dir.join(path))
}

/// What a path in the compose file is to the policy.
enum Place {
    /// Inside the app's directory (but not its `.env` nor the directory itself).
    Own,
    /// The app's directory itself or its `.env`: refused, whoever asks.
    Secrets,
    /// Somewhere else on the server.
    Host(PathBuf),
}

fn place(layout: &Layout, path: &str) -> Place {
    let p = absolute(layout, path);
    for own in std::iter::once(&layout.app_dir).chain(&layout.also_own) {
        match p.strip_prefix(own) {
            Ok(rest) if rest.as_os_str().is_empty() => return Place::Secrets,
            Ok(rest)
                if rest
                    .components()
                    .next()
                    .is_some_and(|c| c.as_os_str().to_string_lossy().starts_with(".env")) =>
            {
                return Place::Secrets
            }
            Ok(_) => return Place::Own,
            Err(_) => {}
        }
    }
    Place::Host(p)
}

const SECRETS: &str = "mounting the app's directory itself, or its .env, would expose the app's secrets; mount a folder inside it (./data) instead";

fn as_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The strings of a value that is one string or a list of them.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(seq) => seq.iter().filter_map(as_str).collect(),
        other => as_str(other).into_iter().collect(),
    }
}

/// The paths of a service's `env_file`: one string, a list of them, or `{path: ...}` entries.
fn env_files(env_file: Option<&Value>) -> Vec<String> {
    match env_file {
        Some(Value::Sequence(seq)) => seq
            .iter()
            .filter_map(|e| e.get("path").and_then(as_str).or_else(|| as_str(e)))
            .collect(),
        Some(other) => strings(other),
        None => Vec::new(),
    }
}

/// The policy's judgement of one compose file.
#[derive(Default)]
struct Judge<'a> {
    needs: Vec<Need>,
    errors: Vec<FieldError>,
    layout: Option<&'a Layout>,
}

impl Judge<'_> {
    fn need(
        &mut self,
        field: impl Into<String>,
        kind: HostAccessKind,
        service: &str,
        target: impl Into<String>,
    ) {
        let need = Need {
            field: field.into(),
            access: HostAccess::new(kind, service, target),
        };
        if !self.needs.contains(&need) {
            self.needs.push(need);
        }
    }

    fn unknown(&mut self, field: String, what: impl std::fmt::Display) {
        self.errors.push(err(
            field,
            format!("{what} is not understood by AppOS's host-access policy, so it is refused"),
        ));
    }

    /// A bind mount of `source` (already absolute after resolution).
    fn bind(&mut self, field: &str, service: &str, source: &str, read_only: bool) {
        let layout = self.layout.expect("layout");
        match place(layout, source) {
            Place::Own => {}
            Place::Secrets => self.errors.push(err(field, SECRETS)),
            Place::Host(p) => {
                let kind = if layout.docker_sockets.iter().any(|s| s.starts_with(&p)) {
                    HostAccessKind::DockerSocket
                } else if read_only {
                    HostAccessKind::ReadOnlyBind
                } else {
                    HostAccessKind::Bind
                };
                self.need(field, kind, service, p.display().to_string());
            }
        }
    }

    /// A file the compose tool or the container reads (`env_file`, secrets, configs).
    fn file(&mut self, field: &str, service: &str, path: &str) {
        // The app's own files, `.env` included, are its own to read.
        if let Place::Host(p) = place(self.layout.expect("layout"), path) {
            self.need(
                field,
                HostAccessKind::HostFile,
                service,
                p.display().to_string(),
            );
        }
    }

    fn volume(&mut self, field: &str, service: &str, v: &Value) {
        match v {
            // `SRC:DST[:MODE]`, `NAME:DST[:MODE]` or an anonymous `DST`.
            Value::String(s) => {
                let mut parts = s.splitn(3, ':');
                let (first, second, mode) = (
                    parts.next().unwrap_or(""),
                    parts.next(),
                    parts.next().unwrap_or(""),
                );
                if second.is_some()
                    && (first.starts_with('/') || first.starts_with('.') || first.starts_with('~'))
                {
                    if first.starts_with('~') {
                        self.errors.push(err(field, format!("{first:?}: home-directory paths are not resolved here; write the full path")));
                        return;
                    }
                    self.bind(field, service, first, mode.split(',').any(|m| m == "ro"));
                }
            }
            Value::Mapping(m) => {
                let ty = m.get("type").and_then(Value::as_str).unwrap_or("volume");
                match ty {
                    "bind" => {
                        let source = m.get("source").and_then(as_str).unwrap_or_default();
                        let ro = m.get("read_only").is_some_and(|r| {
                            r.as_bool() == Some(true) || r.as_str() == Some("true")
                        });
                        self.bind(field, service, &source, ro);
                    }
                    "volume" | "tmpfs" => {}
                    other => self.unknown(field.to_string(), format!("a volume of type {other:?}")),
                }
            }
            _ => self.unknown(field.to_string(), "this volume entry"),
        }
    }

    fn namespace(&mut self, svc: &Mapping, service: &str, key: &str, ns: &str) {
        let Some(v) = svc.get(key).and_then(as_str) else {
            return;
        };
        let field = format!("services.{service}.{key}");
        match v.as_str() {
            "host" => self.need(field, HostAccessKind::HostNamespace, service, ns),
            "" | "private" | "shareable" | "none" => {}
            other if other.starts_with("service:") => {}
            other => self.unknown(field, format!("{key}: {other:?}")),
        }
    }

    /// A `build:`: its context must be a folder of the app (sent with the compose file).
    fn build(&mut self, name: &str, build: &Value) {
        let field = format!("services.{name}.build");
        let (context, keys): (Option<String>, Vec<String>) = match build {
            Value::Mapping(m) => (
                m.get("context").and_then(as_str),
                m.keys().filter_map(as_str).collect(),
            ),
            other => (as_str(other), Vec::new()),
        };
        for k in keys {
            match k.as_str() {
                "context" | "dockerfile" | "args" | "target" | "labels" | "cache_from"
                | "shm_size" | "extra_hosts" => {}
                "network"
                    if build
                        .get("network")
                        .and_then(as_str)
                        .is_some_and(|n| n == "host") =>
                {
                    self.need(
                        format!("{field}.network"),
                        HostAccessKind::HostNetwork,
                        name,
                        "host",
                    );
                }
                "network" => {}
                other => self.unknown(
                    format!("{field}.{other}"),
                    format!("the build key {other:?}"),
                ),
            }
        }
        let context = context.unwrap_or_else(|| ".".into());
        if context.contains("://") || context.starts_with("git@") {
            self.errors.push(err(field, format!("{context:?}: build contexts are folders sent with the compose file, not remote repositories")));
            return;
        }
        match place(self.layout.expect("layout"), &context) {
            Place::Own => {}
            Place::Secrets => self.errors.push(err(field, "the build context is the app's own folder, which holds its .env; put the build files in a folder (./app) and build from there")),
            Place::Host(p) => self.errors.push(err(field, format!("{} is outside the app's folder; build contexts are folders sent with the compose file", p.display()))),
        }
    }

    fn service(&mut self, name: &str, svc: &Mapping, networks: &Mapping, top: &Mapping) {
        let f = |k: &str| format!("services.{name}.{k}");
        for key in svc.keys() {
            let Some(k) = key.as_str() else { continue };
            if !(PLAIN_SERVICE_KEYS.contains(&k)
                || JUDGED_SERVICE_KEYS.contains(&k)
                || k.starts_with("x-"))
            {
                self.unknown(f(k), format!("the service key {k:?}"));
            }
        }
        if let Some(b) = svc.get("build") {
            self.build(name, b);
        }
        if let Some(vols) = svc.get("volumes") {
            match vols.as_sequence() {
                Some(seq) => seq.iter().enumerate().for_each(|(i, v)| {
                    self.volume(&format!("services.{name}.volumes[{i}]"), name, v)
                }),
                None => self.unknown(f("volumes"), "a `volumes` that is not a list"),
            }
        }
        if let Some(from) = svc.get("volumes_from") {
            for entry in strings(from) {
                let source = entry.split(':').collect::<Vec<_>>();
                match source.as_slice() {
                    ["container", c, ..] => {
                        self.need(f("volumes_from"), HostAccessKind::VolumesFrom, name, *c)
                    }
                    ["service", ..] => {}
                    [s, ..]
                        if top
                            .get("services")
                            .and_then(Value::as_mapping)
                            .is_some_and(|m| m.contains_key(*s)) => {}
                    _ => self.unknown(f("volumes_from"), format!("volumes_from {entry:?}")),
                }
            }
        }
        if let Some(p) = svc.get("privileged") {
            if p.as_bool() == Some(true) || p.as_str() == Some("true") {
                self.need(
                    f("privileged"),
                    HostAccessKind::Privileged,
                    name,
                    "privileged",
                );
            }
        }
        for (key, ns) in [
            ("pid", "pid"),
            ("ipc", "ipc"),
            ("uts", "uts"),
            ("userns_mode", "userns"),
            ("cgroup", "cgroup"),
        ] {
            self.namespace(svc, name, key, ns);
        }
        if let Some(mode) = svc.get("network_mode").and_then(as_str) {
            match mode.split_once(':') {
                _ if mode == "host" => {
                    self.need(f("network_mode"), HostAccessKind::HostNetwork, name, "host")
                }
                Some(("container", c)) => {
                    self.need(f("network_mode"), HostAccessKind::ContainerNetwork, name, c)
                }
                Some(("service", _)) => {}
                None if mode == "none" || mode == "bridge" || mode == "default" => {}
                _ => self.unknown(f("network_mode"), format!("network_mode {mode:?}")),
            }
        }
        if let Some(nets) = svc.get("networks") {
            let keys: Vec<String> = match nets {
                Value::Mapping(m) => m.keys().filter_map(as_str).collect(),
                other => strings(other),
            };
            for k in keys {
                if networks
                    .get(k.as_str())
                    .and_then(Value::as_mapping)
                    .is_some_and(is_host_network)
                {
                    self.need(f("networks"), HostAccessKind::HostNetwork, name, "host");
                }
            }
        }
        for cap in svc.get("cap_add").map(strings).unwrap_or_default() {
            let cap = cap.to_ascii_uppercase();
            self.need(
                f("cap_add"),
                HostAccessKind::Capability,
                name,
                cap.strip_prefix("CAP_").unwrap_or(&cap),
            );
        }
        if let Some(devs) = svc.get("devices").and_then(Value::as_sequence) {
            for d in devs {
                let source = match d {
                    Value::Mapping(m) => m.get("source").and_then(as_str),
                    other => as_str(other).map(|s| s.split(':').next().unwrap_or("").to_string()),
                };
                match source {
                    Some(s) if !s.is_empty() => {
                        self.need(f("devices"), HostAccessKind::Device, name, s)
                    }
                    _ => self.unknown(f("devices"), "this device entry"),
                }
            }
        }
        for rule in svc
            .get("device_cgroup_rules")
            .map(strings)
            .unwrap_or_default()
        {
            self.need(f("device_cgroup_rules"), HostAccessKind::Device, name, rule);
        }
        let gpus = svc
            .get("deploy")
            .and_then(|d| d.get("resources"))
            .and_then(|r| r.get("reservations"))
            .and_then(|r| r.get("devices"));
        if gpus
            .and_then(Value::as_sequence)
            .is_some_and(|s| !s.is_empty())
        {
            self.need(
                f("deploy"),
                HostAccessKind::Device,
                name,
                "GPU (deploy.resources.reservations.devices)",
            );
        }
        for opt in svc.get("security_opt").map(strings).unwrap_or_default() {
            if !opt.starts_with("no-new-privileges") {
                self.need(f("security_opt"), HostAccessKind::Unconfined, name, opt);
            }
        }
        match svc.get("sysctls") {
            Some(Value::Mapping(m)) => m
                .keys()
                .filter_map(as_str)
                .for_each(|k| self.need(f("sysctls"), HostAccessKind::Sysctl, name, k)),
            Some(other) => strings(other).into_iter().for_each(|kv| {
                let key = kv.split('=').next().unwrap_or("").to_string();
                self.need(f("sysctls"), HostAccessKind::Sysctl, name, key)
            }),
            None => {}
        }
        for p in env_files(svc.get("env_file")) {
            self.file(&f("env_file"), name, &p);
        }
        for (key, what) in [("secrets", "secret"), ("configs", "config")] {
            for entry in svc
                .get(key)
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let Some(source) = entry
                    .get("source")
                    .and_then(as_str)
                    .or_else(|| as_str(entry))
                else {
                    continue;
                };
                match top.get(key).and_then(|m| m.get(source.as_str())) {
                    Some(def) => {
                        if let Some(file) = def.get("file").and_then(as_str) {
                            self.file(&format!("{key}.{source}.file"), name, &file);
                        }
                    }
                    None => self.errors.push(err(
                        f(key),
                        format!("the {what} {source:?} is not defined at the top level"),
                    )),
                }
            }
        }
    }
}

/// A top-level network that is the host's own.
fn is_host_network(def: &Mapping) -> bool {
    let driver = def.get("driver").and_then(Value::as_str);
    let external_name = def.get("name").and_then(Value::as_str).filter(|_| {
        def.get("external")
            .is_some_and(|e| e.as_bool() != Some(false))
    });
    driver == Some("host") || external_name == Some("host")
}

/// Every host-reaching capability the resolved model asks for, or the
/// errors of what the policy refuses (the app's secrets, anything unknown).
pub fn judge(resolved: &Value, layout: &Layout) -> Result<Vec<Need>, Vec<FieldError>> {
    let Some(top) = resolved.as_mapping() else {
        return Err(vec![err(
            "compose",
            "the resolved compose file is not a mapping",
        )]);
    };
    let mut j = Judge {
        layout: Some(layout),
        ..Judge::default()
    };
    for key in top.keys() {
        let Some(k) = key.as_str() else { continue };
        if !(TOP_LEVEL_KEYS.contains(&k) || k.starts_with("x-")) {
            j.unknown(k.to_string(), format!("the top-level key {k:?}"));
        }
    }
    let empty = Mapping::new();
    let networks = top
        .get("networks")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    for (name, def) in networks {
        let name = as_str(name).unwrap_or_default();
        let Some(def) = def.as_mapping() else {
            continue;
        };
        match def.get("driver").and_then(Value::as_str) {
            None | Some("bridge" | "overlay" | "host" | "default") => {}
            Some(other) => j.unknown(
                format!("networks.{name}.driver"),
                format!("the network driver {other:?}"),
            ),
        }
    }
    for (name, def) in top
        .get("volumes")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty)
    {
        let name = as_str(name).unwrap_or_default();
        let Some(def) = def.as_mapping() else {
            continue;
        };
        match def.get("driver").and_then(Value::as_str) {
            None | Some("local") => {}
            Some(other) => j.unknown(
                format!("volumes.{name}.driver"),
                format!("the volume driver {other:?}"),
            ),
        }
        if let Some(device) = def
            .get("driver_opts")
            .and_then(|o| o.get("device"))
            .and_then(as_str)
        {
            j.need(
                format!("volumes.{name}.driver_opts"),
                HostAccessKind::VolumeDevice,
                &name,
                device,
            );
        }
    }
    if let Some(services) = top.get("services").and_then(Value::as_mapping) {
        for (name, svc) in services {
            if let (Some(name), Some(svc)) = (as_str(name), svc.as_mapping()) {
                j.service(&name, svc, networks, top);
            }
        }
    }
    if j.errors.is_empty() {
        Ok(j.needs)
    } else {
        Err(j.errors)
    }
}

/// The files the compose tool reads while resolving, as written: each
/// service's `env_file` and `extends.file`, and top-level `include`. A file
/// outside the app's directory is a need (`env_file`) or refused
/// (`extends`, `include`); paths built from variables are refused, since
/// they could name any file once substituted.
pub fn file_refs(raw: &Value, layout: &Layout) -> Result<Vec<Need>, Vec<FieldError>> {
    let mut doc = raw.clone();
    if doc.apply_merge().is_err() {
        return Err(vec![err(
            "compose",
            "the file's merge keys (<<) cannot be applied",
        )]);
    }
    let mut j = Judge {
        layout: Some(layout),
        ..Judge::default()
    };
    let mut paths: Vec<(String, String, Option<String>)> = Vec::new(); // field, path, service for env files
    for inc in doc
        .get("include")
        .map(|v| v.as_sequence().cloned().unwrap_or_else(|| vec![v.clone()]))
        .unwrap_or_default()
    {
        let p = inc
            .get("path")
            .map(strings)
            .unwrap_or_else(|| strings(&inc));
        paths.extend(p.into_iter().map(|p| ("include".to_string(), p, None)));
    }
    for (name, svc) in doc
        .get("services")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let Some(name) = as_str(name) else { continue };
        if let Some(f) = svc
            .get("extends")
            .and_then(|e| e.get("file"))
            .and_then(as_str)
        {
            paths.push((format!("services.{name}.extends.file"), f, None));
        }
        paths.extend(
            env_files(svc.get("env_file"))
                .into_iter()
                .map(|p| (format!("services.{name}.env_file"), p, Some(name.clone()))),
        );
    }
    for (field, path, service) in paths {
        if path.contains('$') {
            j.errors.push(err(
                field,
                format!(
                    "{path:?}: file paths built from variables are not supported; write the path"
                ),
            ));
            continue;
        }
        match service {
            Some(service) => j.file(&field, &service, &path),
            None => match place(layout, &path) {
                Place::Own => {}
                _ => j.errors.push(err(field, format!("{path:?} is outside the app's directory; only files inside it can be included"))),
            },
        }
    }
    if j.errors.is_empty() {
        Ok(j.needs)
    } else {
        Err(j.errors)
    }
}

/// One field error per need that neither `granted` (what the app's current
/// version holds) nor `allowed` (what the caller grants now) covers.
pub fn not_granted(
    needs: &[Need],
    granted: &[HostAccess],
    allowed: &[HostAccess],
) -> Vec<FieldError> {
    needs
        .iter()
        .filter(|n| !granted.iter().chain(allowed).any(|g| g.covers(&n.access)))
        .map(|n| {
            err(
                &n.field,
                format!(
                    "needs host access that was not granted: {}",
                    n.access.describe()
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            app_dir: PathBuf::from("/d/apps/blog"),
            also_own: vec![PathBuf::from("/d/apps/.staging-1")],
            docker_sockets: vec![
                PathBuf::from("/var/run/docker.sock"),
                PathBuf::from("/run/docker.sock"),
            ],
        }
    }

    /// A need as (field, kind, service, target); an error as (field, message).
    type Judged = Result<Vec<(String, HostAccessKind, String, String)>, Vec<(String, String)>>;

    fn judged(yaml: &str) -> Judged {
        let v: Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        judge(&v, &layout())
            .map(|n| {
                n.into_iter()
                    .map(|n| (n.field, n.access.kind, n.access.service, n.access.target))
                    .collect()
            })
            .map_err(|e| e.into_iter().map(|e| (e.field, e.message)).collect())
    }

    fn one(yaml: &str) -> (String, HostAccessKind, String) {
        let mut n = judged(yaml).unwrap_or_else(|e| panic!("{yaml}: {e:?}"));
        assert_eq!(n.len(), 1, "{yaml}: {n:?}");
        let (field, kind, service, target) = n.remove(0);
        assert_eq!(service, "web");
        (field, kind, target)
    }

    #[test]
    fn each_capability_class() {
        use HostAccessKind::*;
        let svc = |body: &str| format!("services:\n  web:\n    image: x\n{body}");
        for (body, field, kind, target) in [
            (
                "    volumes: [\"/:/h:rw\"]\n",
                "services.web.volumes[0]",
                DockerSocket,
                "/",
            ),
            (
                "    volumes: [\"/srv:/h:rw\"]\n",
                "services.web.volumes[0]",
                Bind,
                "/srv",
            ),
            (
                "    volumes: [\"/etc/pihole:/etc/pihole:ro\"]\n",
                "services.web.volumes[0]",
                ReadOnlyBind,
                "/etc/pihole",
            ),
            (
                "    volumes: [{type: bind, source: /srv, target: /srv, read_only: true}]\n",
                "services.web.volumes[0]",
                ReadOnlyBind,
                "/srv",
            ),
            (
                "    volumes: [\"/d/apps/blog/../other:/o:rw\"]\n",
                "services.web.volumes[0]",
                Bind,
                "/d/apps/other",
            ),
            (
                "    volumes: [\"/var/run/docker.sock:/var/run/docker.sock:rw\"]\n",
                "services.web.volumes[0]",
                DockerSocket,
                "/var/run/docker.sock",
            ),
            (
                "    volumes: [{type: bind, source: /run, target: /r}]\n",
                "services.web.volumes[0]",
                DockerSocket,
                "/run",
            ),
            (
                "    volumes_from: [\"container:appos:rw\"]\n",
                "services.web.volumes_from",
                VolumesFrom,
                "appos",
            ),
            (
                "    env_file: [{path: /etc/shadow, required: true}]\n",
                "services.web.env_file",
                HostFile,
                "/etc/shadow",
            ),
            (
                "    privileged: true\n",
                "services.web.privileged",
                Privileged,
                "privileged",
            ),
            ("    pid: host\n", "services.web.pid", HostNamespace, "pid"),
            ("    ipc: host\n", "services.web.ipc", HostNamespace, "ipc"),
            ("    uts: host\n", "services.web.uts", HostNamespace, "uts"),
            (
                "    userns_mode: host\n",
                "services.web.userns_mode",
                HostNamespace,
                "userns",
            ),
            (
                "    network_mode: host\n",
                "services.web.network_mode",
                HostNetwork,
                "host",
            ),
            (
                "    network_mode: \"container:appos\"\n",
                "services.web.network_mode",
                ContainerNetwork,
                "appos",
            ),
            (
                "    networks: [hn]\nnetworks:\n  hn: {external: true, name: host}\n",
                "services.web.networks",
                HostNetwork,
                "host",
            ),
            (
                "    cap_add: [net_admin]\n",
                "services.web.cap_add",
                Capability,
                "NET_ADMIN",
            ),
            (
                "    cap_add: [CAP_SYS_ADMIN]\n",
                "services.web.cap_add",
                Capability,
                "SYS_ADMIN",
            ),
            (
                "    devices: [\"/dev/net/tun:/dev/net/tun\"]\n",
                "services.web.devices",
                Device,
                "/dev/net/tun",
            ),
            (
                "    device_cgroup_rules: [\"c 1:3 mr\"]\n",
                "services.web.device_cgroup_rules",
                Device,
                "c 1:3 mr",
            ),
            (
                "    security_opt: [\"apparmor:unconfined\", \"no-new-privileges:true\"]\n",
                "services.web.security_opt",
                Unconfined,
                "apparmor:unconfined",
            ),
            (
                "    security_opt: [\"label=disable\"]\n",
                "services.web.security_opt",
                Unconfined,
                "label=disable",
            ),
            (
                "    sysctls: {net.ipv4.ip_forward: 1}\n",
                "services.web.sysctls",
                Sysctl,
                "net.ipv4.ip_forward",
            ),
            (
                "    sysctls: [\"net.core.somaxconn=1024\"]\n",
                "services.web.sysctls",
                Sysctl,
                "net.core.somaxconn",
            ),
            (
                "    secrets: [s]\nsecrets:\n  s: {file: /etc/shadow}\n",
                "secrets.s.file",
                HostFile,
                "/etc/shadow",
            ),
            (
                "    configs: [{source: c}]\nconfigs:\n  c: {file: /etc/nginx.conf}\n",
                "configs.c.file",
                HostFile,
                "/etc/nginx.conf",
            ),
        ] {
            let y = svc(body);
            assert_eq!(
                one(&y),
                (field.to_string(), kind, target.to_string()),
                "{y}"
            );
        }
        // A named volume bound to a server path.
        let v = judged("services:\n  web:\n    image: x\n    volumes: [\"data:/d:rw\"]\nvolumes:\n  data:\n    driver_opts: {type: none, o: bind, device: /}\n").expect("judged");
        assert_eq!(
            v,
            [(
                "volumes.data.driver_opts".to_string(),
                VolumeDevice,
                "data".to_string(),
                "/".to_string()
            )]
        );
    }

    #[test]
    fn ordinary_stacks_need_nothing() {
        let yaml = "services:\n  web:\n    image: nginx\n    build: {context: /d/apps/blog/web, dockerfile: Dockerfile, args: {A: '1'}}\n    volumes: [\"/d/apps/blog/html:/usr/share/nginx/html:ro\", \"/d/apps/.staging-1/conf:/c\", \"data:/data:rw\", \"/cache\"]\n    ports: [\"80:80\"]\n    expose: [\"9000\"]\n    command: nginx -g 'daemon off;'\n    restart: unless-stopped\n    deploy: {resources: {limits: {memory: 256M}}}\n    networks: [front]\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    env_file: [/d/apps/blog/.env]\n    volumes_from: [\"service:db:rw\"]\n    x-note: hi\n  db:\n    image: mariadb\n    network_mode: \"service:web\"\n    volumes: [{type: volume, source: db, target: /var/lib/mysql}, {type: tmpfs, target: /tmp}]\nnetworks:\n  front: {driver: bridge}\nvolumes:\n  data: {}\n  db: {external: true, name: shared}\nversion: '3.9'\nx-common: {a: 1}\n";
        assert_eq!(judged(yaml), Ok(vec![]), "{yaml}");
    }

    #[test]
    fn refused_whoever_asks() {
        let svc = |body: &str| format!("services:\n  web:\n    image: x\n{body}");
        for (body, field, message) in [
            ("    volumes: [\"/d/apps/blog:/app:rw\"]\n", "services.web.volumes[0]", SECRETS.to_string()),
            ("    volumes: [\"/d/apps/blog/.env:/e:ro\"]\n", "services.web.volumes[0]", SECRETS.to_string()),
            ("    volumes: [{type: bind, source: /d/apps/blog/, target: /app}]\n", "services.web.volumes[0]", SECRETS.to_string()),
            ("    volumes: [\"/d/apps/.staging-1:/app:ro\"]\n", "services.web.volumes[0]", SECRETS.to_string()),
            ("    cgroup_parent: /system\n", "services.web.cgroup_parent", "the service key \"cgroup_parent\" is not understood by AppOS's host-access policy, so it is refused".into()),
            ("    runtime: sysbox\n", "services.web.runtime", "the service key \"runtime\" is not understood by AppOS's host-access policy, so it is refused".into()),
            ("    pid: \"container:appos\"\n", "services.web.pid", "pid: \"container:appos\" is not understood by AppOS's host-access policy, so it is refused".into()),
            ("    volumes: [{type: npipe, source: x, target: /y}]\n", "services.web.volumes[0]", "a volume of type \"npipe\" is not understood by AppOS's host-access policy, so it is refused".into()),
            ("    networks: [m]\nnetworks:\n  m: {driver: macvlan}\n", "networks.m.driver", "the network driver \"macvlan\" is not understood by AppOS's host-access policy, so it is refused".into()),
            ("    volumes: [\"v:/v\"]\nvolumes:\n  v: {driver: rexray}\n", "volumes.v.driver", "the volume driver \"rexray\" is not understood by AppOS's host-access policy, so it is refused".into()),
            ("    secrets: [nope]\n", "services.web.secrets", "the secret \"nope\" is not defined at the top level".into()),
            ("extra: 1\n", "extra", "the top-level key \"extra\" is not understood by AppOS's host-access policy, so it is refused".into()),
            ("    build: {context: /srv/src}\n", "services.web.build", "/srv/src is outside the app's folder; build contexts are folders sent with the compose file".into()),
            ("    build: {context: /d/apps/blog}\n", "services.web.build", "the build context is the app's own folder, which holds its .env; put the build files in a folder (./app) and build from there".into()),
            ("    build: \"https://github.com/x/y.git\"\n", "services.web.build", "\"https://github.com/x/y.git\": build contexts are folders sent with the compose file, not remote repositories".into()),
            ("    build: {context: /d/apps/blog/app, ssh: [default]}\n", "services.web.build.ssh", "the build key \"ssh\" is not understood by AppOS's host-access policy, so it is refused".into()),
        ] {
            let y = svc(body);
            assert_eq!(judged(&y), Err(vec![(field.to_string(), message)]), "{y}");
        }
    }

    #[test]
    fn files_the_tool_reads_are_judged_as_written() {
        let refs = |yaml: &str| {
            let v: Value = serde_yaml_ng::from_str(yaml).expect("yaml");
            file_refs(&v, &layout())
                .map(|n| {
                    n.into_iter()
                        .map(|n| (n.field, n.access.target))
                        .collect::<Vec<_>>()
                })
                .map_err(|e| {
                    e.into_iter()
                        .map(|e| (e.field, e.message))
                        .collect::<Vec<_>>()
                })
        };
        assert_eq!(
            refs(
                "services:\n  web:\n    image: x\n    env_file: [./a.env, .env, {path: ./b.env}]\n"
            ),
            Ok(vec![])
        );
        assert_eq!(
            refs("x: &e\n  env_file: /etc/shadow\nservices:\n  web:\n    <<: *e\n    image: x\n"),
            Ok(vec![(
                "services.web.env_file".to_string(),
                "/etc/shadow".to_string()
            )])
        );
        assert_eq!(
            refs("services:\n  web:\n    image: x\n    env_file: [{path: ../../secrets}]\n"),
            Ok(vec![(
                "services.web.env_file".to_string(),
                "/d/secrets".to_string()
            )])
        );
        assert_eq!(
            refs("services:\n  web:\n    image: x\n    env_file: ${F}\n"),
            Err(vec![(
                "services.web.env_file".to_string(),
                "\"${F}\": file paths built from variables are not supported; write the path"
                    .to_string()
            )])
        );
        assert_eq!(
            refs("services:\n  web:\n    image: x\n    extends: {file: /etc/compose.yml, service: web}\n"),
            Err(vec![("services.web.extends.file".to_string(), "\"/etc/compose.yml\" is outside the app's directory; only files inside it can be included".to_string())])
        );
        assert_eq!(
            refs("include: [/srv/other/compose.yml]\nservices:\n  web:\n    image: x\n"),
            Err(vec![("include".to_string(), "\"/srv/other/compose.yml\" is outside the app's directory; only files inside it can be included".to_string())])
        );
    }

    #[test]
    fn consent_is_exact() {
        let need = |kind, target: &str| Need {
            field: "services.web.volumes[0]".into(),
            access: HostAccess::new(kind, "web", target),
        };
        let needs = [
            need(HostAccessKind::ReadOnlyBind, "/etc/pihole"),
            need(HostAccessKind::Privileged, "privileged"),
        ];
        let errs = not_granted(&needs, &[], &[]);
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs[0].message,
            "needs host access that was not granted: web can read /etc/pihole on the server"
        );
        let rw = HostAccess::new(HostAccessKind::Bind, "web", "/etc/pihole");
        assert_eq!(not_granted(&needs, std::slice::from_ref(&rw), &[]).len(), 1);
        assert!(not_granted(&needs, &[rw], &[needs[1].access.clone()]).is_empty());
        // Another service, or another path, is another capability.
        assert_eq!(
            not_granted(
                &needs,
                &[HostAccess::new(
                    HostAccessKind::Bind,
                    "other",
                    "/etc/pihole"
                )],
                &[]
            )
            .len(),
            2
        );
    }
}
