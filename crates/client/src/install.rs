//! Putting the AppOS agent on a server over SSH: what the server has (one
//! script, `key=value` lines), the checklist judged from it (pure), the
//! image loaded from a file streamed over the connection (checksum checked)
//! or pulled, the container started (data at the same path inside and out,
//! the Docker socket, restart policy, the proxy's network and ports) and
//! waited for until healthy. Every step can run again: a second install
//! finishes what a first one left.

use std::path::PathBuf;

use crate::ssh::SshSession;
use crate::ClientError;

/// Docker engines older than this lack what the agent uses (API 1.41).
pub const MIN_DOCKER_MAJOR: u32 = 20;
/// Free space the image and a first app need on the data root's file system.
pub const MIN_FREE_KIB: u64 = 2 * 1024 * 1024;

/// What an install puts where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The data root on the server (same path in the container).
    pub data: String,
    /// The container's name.
    pub container: String,
    /// Where the image comes from.
    pub image: ImageSource,
    /// The server ports the proxy takes for HTTP and HTTPS (`None`: no proxy).
    pub proxy_ports: Option<(u16, u16)>,
    /// Install the distribution's Docker (`apt-get install docker.io`) when
    /// the server has none.
    pub install_docker: bool,
}

impl Plan {
    /// A plan that names only the agent's container: what reading the facts
    /// of a server that has AppOS already (for `as_root`, `installed`) needs.
    pub fn for_container(container: &str) -> Plan {
        Plan {
            data: "/".into(),
            container: container.into(),
            image: ImageSource::Pull(String::new()),
            proxy_ports: None,
            install_docker: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A `docker save` file on this computer, streamed over SSH into `docker load`.
    File(PathBuf),
    /// A reference the server pulls.
    Pull(String),
    /// An image in this computer's own Docker, saved (`docker save`) and
    /// sent as a file unless the server has that very image already.
    Local(String),
}

/// Where a packaged AppOS keeps the agent image it installs (`cargo xtask dist`).
pub const PACKAGED_IMAGE: &str = "/usr/share/appos/appos-agent-image.tar.gz";

/// The image to install when none is named: the one packaged with this
/// AppOS, else this AppOS's version in the computer's own Docker.
pub fn default_image() -> ImageSource {
    match std::env::var_os("APPOS_AGENT_IMAGE_FILE").map(PathBuf::from) {
        Some(f) => ImageSource::File(f),
        None if std::path::Path::new(PACKAGED_IMAGE).is_file() => {
            ImageSource::File(PACKAGED_IMAGE.into())
        }
        None => ImageSource::Local(format!("appos/agent:{}", env!("CARGO_PKG_VERSION"))),
    }
}

/// What the server said about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub os: String,
    pub arch: String,
    /// `docker version`'s server version, when Docker answers.
    pub docker: Option<String>,
    pub uid: Option<u32>,
    /// `sudo -n true` works.
    pub sudo: bool,
    /// Free KiB on the file system that holds the data root (or its nearest existing parent).
    pub free_kib: Option<u64>,
    /// The proxy ports something already listens on.
    pub busy_ports: Vec<u16>,
    /// The image of a container of that name, when one exists.
    pub existing: Option<String>,
    /// The server installs packages with apt-get.
    pub apt: bool,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub item: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// The script that reports the facts; the data root, ports and container
/// name are quoted words, never interpreted.
pub fn facts_script(plan: &Plan) -> String {
    let q = |s: &str| {
        shlex::try_quote(s)
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| "''".into())
    };
    let ports = plan
        .proxy_ports
        .map(|(h, s)| format!("{h} {s}"))
        .unwrap_or_default();
    format!(
        "echo os=$(uname -s); echo arch=$(uname -m); echo uid=$(id -u)\n\
         if sudo -n true 2>/dev/null; then echo sudo=yes; fi\n\
         if command -v apt-get >/dev/null 2>&1; then echo apt=yes; fi\n\
         D=; if [ \"$(id -u)\" != 0 ]; then D='sudo -n'; fi\n\
         echo docker=$($D docker version --format '{{{{.Server.Version}}}}' 2>/dev/null)\n\
         p={data}; while [ ! -d \"$p\" ]; do p=$(dirname \"$p\"); done; echo free=$(df -Pk \"$p\" | awk 'NR==2 {{print $4}}')\n\
         for port in {ports}; do if ss -Hltn \"sport = :$port\" 2>/dev/null | grep -q .; then echo busy=$port; fi; done\n\
         echo existing=$($D docker inspect -f '{{{{.Config.Image}}}}' {name} 2>/dev/null)\n",
        data = q(&plan.data),
        name = q(&plan.container),
    )
}

pub fn parse_facts(out: &str) -> Facts {
    let mut f = Facts::default();
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k {
            "os" => f.os = v.into(),
            "arch" => f.arch = v.into(),
            "uid" => f.uid = v.parse().ok(),
            "sudo" => f.sudo = v == "yes",
            "apt" => f.apt = v == "yes",
            "docker" if !v.is_empty() => f.docker = Some(v.into()),
            "free" => f.free_kib = v.parse().ok(),
            "busy" => f.busy_ports.extend(v.parse::<u16>().ok()),
            "existing" if !v.is_empty() => f.existing = Some(v.into()),
            _ => {}
        }
    }
    f
}

/// The checklist from the facts: each line passes or says what to do.
pub fn checklist(f: &Facts, plan: &Plan) -> Vec<Check> {
    let mut out = Vec::new();
    let linux = f.os == "Linux" && matches!(f.arch.as_str(), "x86_64" | "aarch64");
    out.push(Check {
        item: "system",
        ok: linux,
        detail: if linux {
            format!("{} {}", f.os, f.arch)
        } else {
            format!(
                "{} {}: AppOS runs on Linux, x86_64 or aarch64",
                f.os, f.arch
            )
        },
    });
    let root = f.uid == Some(0) || f.sudo;
    out.push(Check {
        item: "root",
        ok: root,
        detail: match (f.uid, f.sudo) {
            (Some(0), _) => "logged in as root".into(),
            (_, true) => "sudo without a password".into(),
            _ => "log in as root, or allow this user sudo without a password".into(),
        },
    });
    let major = f
        .docker
        .as_deref()
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.trim_start_matches('v').parse::<u32>().ok());
    out.push(Check {
        item: "docker",
        ok: major.is_some_and(|m| m >= MIN_DOCKER_MAJOR) || (f.docker.is_none() && plan.install_docker && f.apt),
        detail: match (&f.docker, major) {
            (None, _) if plan.install_docker && f.apt => "Docker is missing: it is installed from the distribution's packages (apt-get install docker.io)".into(),
            (None, _) if plan.install_docker => "Docker is missing and this server has no apt-get: install Docker with its distribution's packages, then run this again".into(),
            (None, _) => "Docker does not answer: install it (apt-get install docker.io, or run this again with --install-docker) and start it".into(),
            (Some(v), Some(m)) if m >= MIN_DOCKER_MAJOR => format!("Docker {v}"),
            (Some(v), _) => format!("Docker {v} is too old: {MIN_DOCKER_MAJOR}.10 or newer is needed"),
        },
    });
    out.push(Check {
        item: "disk",
        ok: f.free_kib.is_some_and(|k| k >= MIN_FREE_KIB),
        detail: match f.free_kib {
            Some(k) if k >= MIN_FREE_KIB => {
                format!("{} GiB free for {}", k / 1024 / 1024, plan.data)
            }
            Some(k) => format!("{} MiB free for {}: 2 GiB are needed", k / 1024, plan.data),
            None => format!("cannot tell the free space for {}", plan.data),
        },
    });
    if let Some((http, https)) = plan.proxy_ports {
        // An earlier install holds them itself: that is no conflict.
        let busy: Vec<String> = if f.existing.is_some() {
            Vec::new()
        } else {
            f.busy_ports.iter().map(u16::to_string).collect()
        };
        out.push(Check {
            item: "ports",
            ok: busy.is_empty(),
            detail: if busy.is_empty() {
                format!("{http} and {https} free for the reverse proxy")
            } else {
                format!(
                    "port {} already in use: stop what listens there, or install without the proxy",
                    busy.join(" and ")
                )
            },
        });
    }
    out.push(Check {
        item: "appos",
        ok: true,
        detail: match &f.existing {
            Some(image) => format!(
                "{} runs {image} already: it is replaced, its data kept",
                plan.container
            ),
            None => "not installed yet".into(),
        },
    });
    out
}

/// `words` as a command run as root on this server (`sudo -n` unless logged in as root).
fn as_root<S: AsRef<str>>(f: &Facts, words: &[S]) -> Vec<String> {
    let sudo: &[&str] = if f.uid == Some(0) {
        &[]
    } else {
        &["sudo", "-n"]
    };
    sudo.iter()
        .copied()
        .chain(words.iter().map(AsRef::as_ref))
        .map(String::from)
        .collect()
}

/// A step of the install, as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The server's checklist, before anything changes.
    Checked(Vec<Check>),
    /// Bytes of the image sent so far, of the file's size.
    Upload {
        sent: u64,
        total: u64,
    },
    Step(String),
}

fn failed(what: &str, out: &crate::ssh::ExecOutput) -> ClientError {
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let said = if said.is_empty() {
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    } else {
        said
    };
    ClientError::Server(format!(
        "{what} failed on the server (exit {}): {said}",
        out.status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "?".into())
    ))
}

/// Runs `words` as root on the server; its output, or what failed (`what`) and what the server said.
async fn root_ok<S: AsRef<str>>(
    session: &SshSession,
    f: &Facts,
    what: &str,
    words: &[S],
) -> Result<crate::ssh::ExecOutput, ClientError> {
    let out = session.exec(&as_root(f, words)).await?;
    if out.status != Some(0) {
        return Err(failed(what, &out));
    }
    Ok(out)
}

/// Reads the facts of the server.
pub async fn facts(session: &SshSession, plan: &Plan) -> Result<Facts, ClientError> {
    let out = session
        .exec(&["sh".into(), "-c".into(), facts_script(plan)])
        .await?;
    Ok(parse_facts(&String::from_utf8_lossy(&out.stdout)))
}

/// Gets the image onto the server; the reference it runs.
pub async fn image(
    session: &SshSession,
    f: &Facts,
    plan: &Plan,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<String, ClientError> {
    match &plan.image {
        ImageSource::Pull(reference) => {
            progress(Progress::Step("pulling the image".into()));
            root_ok(
                session,
                f,
                "docker pull",
                &["docker", "pull", reference.as_str()],
            )
            .await?;
            Ok(reference.clone())
        }
        ImageSource::File(path) => send_file(session, f, path, progress).await,
        ImageSource::Local(reference) => {
            let id = local_docker(&["image", "inspect", "-f", "{{.Id}}", reference]).await?;
            let there = session
                .exec(&as_root(
                    f,
                    &[
                        "docker",
                        "image",
                        "inspect",
                        "-f",
                        "{{.Id}}",
                        reference.as_str(),
                    ],
                ))
                .await?;
            if there.status == Some(0) && String::from_utf8_lossy(&there.stdout).trim() == id {
                progress(Progress::Step("the server has this image already".into()));
                return Ok(reference.clone());
            }
            progress(Progress::Step(
                "saving the image from this computer's Docker".into(),
            ));
            let file = tempfile::Builder::new()
                .prefix("appos-agent-image")
                .suffix(".tar")
                .tempfile()
                .map_err(|e| ClientError::Config(format!("a temporary file for the image: {e}")))?;
            let path = file.path().display().to_string();
            local_docker(&["save", "-o", &path, reference]).await?;
            send_file(session, f, file.path(), progress).await
        }
    }
}

/// Runs this computer's `docker` with `args`; its output, trimmed.
async fn local_docker(args: &[&str]) -> Result<String, ClientError> {
    let out = tokio::process::Command::new("docker")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| {
            ClientError::Config(format!(
                "running docker on this computer: {e} (name an image with --image-file or --image)"
            ))
        })?;
    if !out.status.success() {
        return Err(ClientError::Config(format!(
            "docker {} on this computer: {} (name an image with --image-file or --image)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Streams a `docker save` file into the server's `docker load`, checked
/// against its SHA-256 first; the reference it loaded.
async fn send_file(
    session: &SshSession,
    f: &Facts,
    path: &std::path::Path,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<String, ClientError> {
    let total = std::fs::metadata(path)
        .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?
        .len();
    let digest = {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        let mut file = std::fs::File::open(path).map_err(|e| ClientError::Config(e.to_string()))?;
        std::io::copy(&mut file, &mut h).map_err(|e| ClientError::Config(e.to_string()))?;
        hex::encode(h.finalize())
    };
    // Kept on the server's disk until checked, then loaded; removed
    // however the script ends (a client that goes away mid-upload
    // leaves a shell whose writes get SIGPIPE, and dash runs no
    // EXIT trap for a signal it does not trap).
    let script = format!(
        "set -e; f=$(mktemp); trap 'rm -f \"$f\"' EXIT; trap 'exit 1' HUP INT TERM PIPE; cat > \"$f\"; s=$(sha256sum \"$f\" | cut -d' ' -f1); \
         if [ \"$s\" != {digest} ]; then echo \"the image arrived damaged (sha256 $s)\" >&2; exit 3; fi; {} docker load -q -i \"$f\"",
        as_root::<&str>(f, &[]).join(" ")
    );
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
    let out = session
        .exec_with_input(&["sh".into(), "-c".into(), script], file, |sent| {
            progress(Progress::Upload { sent, total })
        })
        .await?;
    if out.status != Some(0) {
        return Err(failed("loading the image", &out));
    }
    loaded(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| failed("docker load named no image", &out))
}

/// The image `docker load` says it loaded (the last one, when a file holds several).
pub fn loaded(out: &str) -> Option<String> {
    out.lines()
        .rev()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .map(|r| r.trim().to_string())
}

/// Starts the agent's container from `reference` (replacing one of the same name).
pub async fn start(
    session: &SshSession,
    f: &Facts,
    plan: &Plan,
    reference: &str,
) -> Result<(), ClientError> {
    let d = plan.data.clone();
    root_ok(
        session,
        f,
        "creating the data root",
        &["mkdir", "-p", d.as_str()],
    )
    .await?;
    // Stopped first (SIGTERM): a running task ends, or the agent hands it
    // back to the queue for the new one, within the agent's stop grace.
    let _ = session
        .exec(&as_root(
            f,
            &["docker", "stop", "-t", "30", plan.container.as_str()],
        ))
        .await?;
    let _ = session
        .exec(&as_root(
            f,
            &["docker", "rm", "-f", plan.container.as_str()],
        ))
        .await?;
    let mut args: Vec<String> = [
        "docker",
        "run",
        "-d",
        "--name",
        plan.container.as_str(),
        "--restart",
        "unless-stopped",
        "--init",
    ]
    .map(String::from)
    .to_vec();
    args.extend([
        "-v".into(),
        "/var/run/docker.sock:/var/run/docker.sock".into(),
        "-v".into(),
        format!("{d}:{d}"),
        "-e".into(),
        format!("APPOS_DATA={d}"),
    ]);
    if let Some((http, https)) = plan.proxy_ports {
        let network = "appos-proxy";
        let _ = session
            .exec(&as_root(f, &["docker", "network", "create", network]))
            .await?;
        args.extend([
            "--network".into(),
            network.into(),
            "-p".into(),
            format!("{http}:80"),
            "-p".into(),
            format!("{https}:443"),
            "-e".into(),
            "APPOS_PROXY_HTTP=:80".into(),
            "-e".into(),
            "APPOS_PROXY_HTTPS=:443".into(),
            "-e".into(),
            format!("APPOS_PROXY_NETWORK={network}"),
        ]);
    }
    args.push(reference.to_string());
    root_ok(session, f, "docker run", &args).await.map(drop)
}

/// Waits until the container's agent answers (`appos-agent health`), at most `within`.
pub async fn wait_healthy(
    session: &SshSession,
    f: &Facts,
    plan: &Plan,
    within: std::time::Duration,
) -> Result<String, ClientError> {
    let argv = as_root(
        f,
        &[
            "docker",
            "exec",
            plan.container.as_str(),
            "appos-agent",
            "health",
        ],
    );
    let deadline = std::time::Instant::now() + within;
    loop {
        let out = session.exec(&argv).await?;
        if out.status == Some(0) {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        if std::time::Instant::now() > deadline {
            let logs = session
                .exec(&as_root(
                    f,
                    &["docker", "logs", "--tail", "20", plan.container.as_str()],
                ))
                .await
                .map(|o| {
                    String::from_utf8_lossy(&o.stderr).into_owned()
                        + &String::from_utf8_lossy(&o.stdout)
                })
                .unwrap_or_default();
            return Err(ClientError::Server(format!(
                "the agent did not become healthy within {} s: {}",
                within.as_secs(),
                logs.trim()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// An agent container on the server, as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The image it runs, by ID (a tag may have moved since).
    pub image_id: String,
    /// The reference it was started from.
    pub image: String,
    pub data: String,
    pub proxy_ports: Option<(u16, u16)>,
}

/// Reads `docker inspect`'s answer for the agent's container.
pub fn parse_installed(inspect: &str) -> Option<Installed> {
    let v: serde_json::Value = serde_json::from_str(inspect).ok()?;
    let c = v.get(0)?;
    let env: Vec<&str> = c["Config"]["Env"]
        .as_array()?
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    let data = env
        .iter()
        .find_map(|e| e.strip_prefix("APPOS_DATA="))?
        .to_string();
    let port = |p: &str| {
        c["HostConfig"]["PortBindings"][p][0]["HostPort"]
            .as_str()
            .and_then(|p| p.parse::<u16>().ok())
    };
    Some(Installed {
        image_id: c["Image"].as_str()?.to_string(),
        image: c["Config"]["Image"].as_str()?.to_string(),
        data,
        proxy_ports: port("80/tcp").zip(port("443/tcp")),
    })
}

/// The agent's container on the server, if there is one.
pub async fn installed(
    session: &SshSession,
    f: &Facts,
    container: &str,
) -> Result<Option<Installed>, ClientError> {
    let out = session
        .exec(&as_root(f, &["docker", "inspect", container]))
        .await?;
    Ok(if out.status == Some(0) {
        parse_installed(&String::from_utf8_lossy(&out.stdout))
    } else {
        None
    })
}

/// Stops and removes the agent's container (apps and data stay); with
/// `purge`, its data root too.
pub async fn remove(
    session: &SshSession,
    f: &Facts,
    container: &str,
    purge: Option<&str>,
) -> Result<(), ClientError> {
    root_ok(session, f, "docker rm", &["docker", "rm", "-f", container]).await?;
    if let Some(data) = purge {
        let parts = std::path::Path::new(data).components().count();
        if !data.starts_with('/') || parts < 3 {
            return Err(ClientError::Config(format!(
                "refusing to delete {data:?}: not a data root of its own"
            )));
        }
        root_ok(session, f, "deleting the data", &["rm", "-rf", "--", data]).await?;
    }
    Ok(())
}

/// Checks the server, then (when every check passes) gets the image onto
/// it, starts the agent's container, waits until it answers, and adds the
/// server as `server add` does, its token bootstrapped through the
/// container. `session` is connected already (its host key accepted); the
/// server is saved under `req.name` with `req.token_name`. Nothing changes
/// on the server unless every check passes, and every step may run again.
pub async fn install(
    profiles: &mut crate::profile::Profiles,
    session: &SshSession,
    opts: &crate::ssh::ConnectOptions,
    req: crate::connect::AddServer,
    plan: &Plan,
    progress: &(dyn Fn(Progress) + Sync),
    now: i64,
) -> Result<crate::connect::Added, ClientError> {
    let facts = facts(session, plan).await?;
    let checks = checklist(&facts, plan);
    let ready = checks.iter().all(|c| c.ok);
    progress(Progress::Checked(checks));
    if !ready {
        return Err(ClientError::Server(format!(
            "{} is not ready for AppOS; nothing was changed",
            session.describe()
        )));
    }
    let facts = if facts.docker.is_none() && plan.install_docker {
        progress(Progress::Step(
            "installing Docker (apt-get install docker.io)".into(),
        ));
        install_docker(session, &facts).await?;
        let again = self::facts(session, plan).await?;
        progress(Progress::Step(format!(
            "Docker {} answers",
            again.docker.clone().unwrap_or_default()
        )));
        again
    } else {
        facts
    };
    let reference = image(session, &facts, plan, progress).await?;
    progress(Progress::Step(format!(
        "image {reference} is on the server"
    )));
    start(session, &facts, plan, &reference).await?;
    progress(Progress::Step("the agent's container is starting".into()));
    let health = wait_healthy(session, &facts, plan, std::time::Duration::from_secs(90)).await?;
    progress(Progress::Step(format!("the agent answers ({health})")));
    let mut opts = opts.clone();
    opts.new_key_policy =
        crate::ssh::NewKeyPolicy::AcceptFingerprint(session.host_key_fingerprint().to_string());
    let req = crate::connect::AddServer {
        agent_socket: Some(format!(
            "{}/run/agent.sock",
            plan.data.trim_end_matches('/')
        )),
        bootstrap_cmd: Some(bootstrap_cmd(&facts, plan)),
        ca_file: None,
        token: None,
        ..req
    };
    crate::connect::add_server(profiles, req, &opts, now).await
}

/// Replaces the agent in `container` with `image`, its data, ports and
/// name kept: the image is put on the server, the old agent stopped (a
/// running task ends or is handed back to the queue), the new one started;
/// when it does not answer within `within`, the old image (by ID) runs
/// again. Returns the image it runs now and what its health check said.
pub async fn upgrade(
    session: &SshSession,
    f: &Facts,
    container: &str,
    image: ImageSource,
    within: std::time::Duration,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(String, String), ClientError> {
    let Some(old) = installed(session, f, container).await? else {
        return Err(ClientError::Server(format!(
            "{} has no AppOS container named {container:?}: install AppOS there first",
            session.describe()
        )));
    };
    let plan = Plan {
        data: old.data.clone(),
        container: container.to_string(),
        image,
        proxy_ports: old.proxy_ports,
        install_docker: false,
    };
    let reference = self::image(session, f, &plan, progress).await?;
    progress(Progress::Step(format!(
        "image {reference} is on the server; replacing {}",
        old.image
    )));
    start(session, f, &plan, &reference).await?;
    match wait_healthy(session, f, &plan, within).await {
        Ok(health) => Ok((reference, health)),
        Err(e) => {
            progress(Progress::Step(format!(
                "the new agent did not become healthy; going back to {} ({})",
                old.image, old.image_id
            )));
            start(session, f, &plan, &old.image_id).await?;
            let health =
                wait_healthy(session, f, &plan, std::time::Duration::from_secs(90)).await?;
            Err(ClientError::Server(format!("{reference} did not become healthy ({e}); the server runs its previous agent again ({health})")))
        }
    }
}

/// Installs the distribution's Docker with apt-get (never a script fetched
/// from the network), starts it, and waits until it answers.
async fn install_docker(session: &SshSession, f: &Facts) -> Result<(), ClientError> {
    let script = "export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q --no-install-recommends docker.io \
                  && { systemctl enable --now docker 2>/dev/null || service docker start; }";
    root_ok(session, f, "installing Docker", &["sh", "-c", script]).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = session
            .exec(&as_root(
                f,
                &["docker", "version", "--format", "{{.Server.Version}}"],
            ))
            .await?;
        if out.status == Some(0) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(ClientError::Server(format!("Docker was installed but does not answer after 60 s ({said}): see its service's log on the server")));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The container `appos server install` names by default.
pub const CONTAINER: &str = "appos";

/// The agent `appos server install` put on this server, if any: the
/// command that bootstraps a token through its container, and its socket.
pub async fn installed_agent(
    session: &SshSession,
) -> Result<Option<(String, String)>, ClientError> {
    let plan = Plan::for_container(CONTAINER);
    let f = facts(session, &plan).await?;
    Ok(installed(session, &f, CONTAINER).await?.map(|i| {
        (
            bootstrap_cmd(&f, &plan),
            format!("{}/run/agent.sock", i.data.trim_end_matches('/')),
        )
    }))
}

/// The command `server add` bootstraps a token with, for an installed agent.
pub fn bootstrap_cmd(f: &Facts, plan: &Plan) -> String {
    let argv = as_root(
        f,
        &["docker", "exec", plan.container.as_str(), "appos-agent"],
    );
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            data: "/var/lib/appos".into(),
            container: "appos".into(),
            image: ImageSource::Pull("appos/agent:0.1.0".into()),
            proxy_ports: Some((80, 443)),
            install_docker: false,
        }
    }

    fn good() -> Facts {
        Facts {
            os: "Linux".into(),
            arch: "x86_64".into(),
            docker: Some("20.10.24+dfsg1".into()),
            uid: Some(0),
            sudo: false,
            free_kib: Some(50 * 1024 * 1024),
            busy_ports: vec![],
            existing: None,
            apt: true,
        }
    }

    #[test]
    fn facts_are_read_from_the_script_lines() {
        let f = parse_facts("os=Linux\narch=x86_64\nuid=1000\nsudo=yes\napt=yes\ndocker=26.1.5\nfree=1048576\nbusy=80\nexisting=\nnoise\n");
        assert_eq!(
            f,
            Facts {
                os: "Linux".into(),
                arch: "x86_64".into(),
                docker: Some("26.1.5".into()),
                uid: Some(1000),
                sudo: true,
                free_kib: Some(1048576),
                busy_ports: vec![80],
                existing: None,
                apt: true
            }
        );
        assert_eq!(parse_facts("docker=\n").docker, None);
        assert_eq!(
            loaded("Loaded image: appos/agent:0.1.0\n"),
            Some("appos/agent:0.1.0".into())
        );
        assert_eq!(loaded("Loaded image ID: sha256:abc\n"), None);
    }

    #[test]
    fn the_checklist_says_what_to_do() {
        let p = plan();
        assert!(
            checklist(&good(), &p).iter().all(|c| c.ok),
            "{:?}",
            checklist(&good(), &p)
        );
        let failing = |f: Facts| {
            checklist(&f, &p)
                .into_iter()
                .filter(|c| !c.ok)
                .map(|c| (c.item, c.detail))
                .collect::<Vec<_>>()
        };
        assert_eq!(failing(Facts { docker: None, ..good() }), [("docker", "Docker does not answer: install it (apt-get install docker.io, or run this again with --install-docker) and start it".to_string())]);
        let with_docker = Plan {
            install_docker: true,
            ..p.clone()
        };
        let docker_line = |f: Facts| {
            checklist(&f, &with_docker)
                .into_iter()
                .find(|c| c.item == "docker")
                .map(|c| (c.ok, c.detail))
        };
        assert_eq!(docker_line(Facts { docker: None, ..good() }), Some((true, "Docker is missing: it is installed from the distribution's packages (apt-get install docker.io)".into())));
        assert_eq!(
            docker_line(Facts { docker: None, apt: false, ..good() }),
            Some((false, "Docker is missing and this server has no apt-get: install Docker with its distribution's packages, then run this again".into()))
        );
        assert_eq!(
            docker_line(Facts {
                docker: Some("19.03.8".into()),
                ..good()
            }),
            Some((
                false,
                "Docker 19.03.8 is too old: 20.10 or newer is needed".into()
            )),
            "an old Docker is not replaced"
        );
        assert_eq!(
            failing(Facts {
                docker: Some("19.03.8".into()),
                ..good()
            }),
            [(
                "docker",
                "Docker 19.03.8 is too old: 20.10 or newer is needed".to_string()
            )]
        );
        assert_eq!(
            failing(Facts {
                uid: Some(1000),
                ..good()
            }),
            [(
                "root",
                "log in as root, or allow this user sudo without a password".to_string()
            )]
        );
        assert_eq!(failing(Facts { busy_ports: vec![80, 443], ..good() }), [("ports", "port 80 and 443 already in use: stop what listens there, or install without the proxy".to_string())]);
        assert_eq!(
            failing(Facts {
                free_kib: Some(1024 * 1024),
                ..good()
            }),
            [(
                "disk",
                "1024 MiB free for /var/lib/appos: 2 GiB are needed".to_string()
            )]
        );
        assert_eq!(
            failing(Facts {
                os: "Darwin".into(),
                arch: "arm64".into(),
                ..good()
            }),
            [(
                "system",
                "Darwin arm64: AppOS runs on Linux, x86_64 or aarch64".to_string()
            )]
        );
        // An earlier install holds the ports itself.
        let again = Facts {
            busy_ports: vec![80, 443],
            existing: Some("appos/agent:0.1.0".into()),
            ..good()
        };
        assert!(failing(again.clone()).is_empty());
        assert_eq!(
            checklist(&again, &p).last().map(|c| c.detail.clone()),
            Some("appos runs appos/agent:0.1.0 already: it is replaced, its data kept".into())
        );
        assert_eq!(
            bootstrap_cmd(
                &Facts {
                    uid: Some(1000),
                    sudo: true,
                    ..good()
                },
                &p
            ),
            "sudo -n docker exec appos appos-agent"
        );
    }

    #[test]
    fn an_installed_agent_is_read_from_docker_inspect() {
        let inspect = r#"[{"Image":"sha256:abc","Config":{"Image":"appos/agent:latest","Env":["PATH=/bin","APPOS_DATA=/var/lib/appos","APPOS_PROXY_HTTP=:80"]},
            "HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"443/tcp":[{"HostIp":"","HostPort":"8443"}]}}}]"#;
        assert_eq!(
            parse_installed(inspect),
            Some(Installed {
                image_id: "sha256:abc".into(),
                image: "appos/agent:latest".into(),
                data: "/var/lib/appos".into(),
                proxy_ports: Some((8080, 8443))
            })
        );
        let no_proxy = r#"[{"Image":"sha256:abc","Config":{"Image":"x","Env":["APPOS_DATA=/d"]},"HostConfig":{"PortBindings":{}}}]"#;
        assert_eq!(parse_installed(no_proxy).map(|i| i.proxy_ports), Some(None));
        assert_eq!(
            parse_installed(r#"[{"Image":"sha256:abc","Config":{"Image":"x","Env":[]}}]"#),
            None
        );
        assert_eq!(parse_installed("[]"), None);
    }

    #[test]
    fn the_script_quotes_what_it_is_given() {
        let p = Plan {
            data: "/srv/app os; rm -rf /".into(),
            container: "appos$(id)".into(),
            ..plan()
        };
        let s = facts_script(&p);
        assert!(s.contains("p='/srv/app os; rm -rf /';"), "{s}");
        assert!(
            s.contains("docker inspect -f '{{.Config.Image}}' 'appos$(id)'"),
            "{s}"
        );
        assert!(s.contains("for port in 80 443;"), "{s}");
    }
}
