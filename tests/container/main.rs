//! The all-in-one image: the agent in a container on the Docker host, reached
//! from the CLI through real sshd, with its token bootstrapped through
//! `docker exec`; and its refusal to run without the same-path data mount.

use std::time::Duration;

use appos_test_support as support;

fn appos(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    support::appos(home).args(args).output().expect("run appos")
}

#[test]
fn the_containerised_agent_is_reached_over_ssh_with_a_docker_exec_bootstrap() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let Some(sshd) = support::require("sshd", support::Sshd::start()) else {
        return;
    };
    let data = tempfile::Builder::new()
        .prefix("appos-cdata")
        .tempdir()
        .expect("data");
    let d = data.path().display().to_string();
    // A catalog kept in git, which the image's git clones.
    let repo = data.path().join("catalog-repo");
    std::fs::create_dir_all(&repo).expect("repo");
    std::fs::write(repo.join("README"), "templates\n").expect("write");
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "one",
        ],
    ] {
        assert!(std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .status()
            .expect("git")
            .success());
    }
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(&repo)
        .output()
        .expect("git");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let c = support::AgentContainer::run(
        &[format!("{d}:{d}")],
        &[
            format!("APPOS_DATA={d}"),
            format!("APPOS_CATALOG_GIT={}", repo.display()),
        ],
    )
    .expect("container");
    let sock = data.path().join("run/agent.sock");
    c.wait_socket(&sock);

    let home = tempfile::tempdir().expect("home");
    let boot = format!(
        "{} exec {} appos-agent",
        support::docker_cli().display(),
        c.name
    );
    let key = sshd.user_key.private.display().to_string();
    let sock_s = sock.display().to_string();
    let o = appos(
        home.path(),
        &[
            "server",
            "add",
            "box",
            &sshd.url(),
            "--identity",
            &key,
            "--agent-socket",
            &sock_s,
            "--bootstrap-cmd",
            &boot,
            "--accept-new-host-key",
        ],
    );
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        c.logs()
    );
    let o = appos(home.path(), &["info", "--output", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info: appos_proto::AgentInfo = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(info.data_dir, d);
    assert_eq!(
        info.compose.flavour,
        appos_proto::ComposeFlavour::Standalone,
        "the image ships docker-compose"
    );
    assert!(
        info.compose.version.starts_with("2."),
        "the image's compose is v2: {}",
        info.compose.version
    );
    assert_eq!(
        info.queue, "sqlite",
        "the image's queue is SQLite in the data dir"
    );
    let o = appos(home.path(), &["list", "--output", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = appos(home.path(), &["catalog", "refresh", "--output", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: appos_proto::CatalogRefreshed = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (r.git_commit.as_deref(), r.git_error.as_deref()),
        (Some(head.as_str()), None),
        "git in the image cloned the catalog"
    );

    // A deployment goes through the queue, which persists in the data dir.
    let name = support::unique("inbox");
    let file = data.path().join("in.yml");
    std::fs::write(&file, support::two_service_compose()).expect("write");
    let o = appos(
        home.path(),
        &["deploy", "-f", &file.display().to_string(), "--name", &name],
    );
    let down = || support::compose_down(&data.path().join("apps").join(&name), &name);
    if !o.status.success() {
        down();
        panic!("{}\n{}", String::from_utf8_lossy(&o.stderr), c.logs());
    }
    down();
    let queue = std::fs::metadata(data.path().join("queue.db")).expect("queue.db in the data dir");
    assert!(queue.len() > 0, "the queue's writes are in the data dir");
    assert!(
        !data.path().join("redis").exists(),
        "no Redis runs in the image"
    );
}

#[test]
fn a_container_without_the_same_path_mount_refuses_to_start() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let data = tempfile::Builder::new()
        .prefix("appos-cdata")
        .tempdir()
        .expect("data");
    // Mounted somewhere else than where it is on the host.
    let c =
        support::AgentContainer::run(&[format!("{}:/var/lib/appos", data.path().display())], &[])
            .expect("container");
    assert_ne!(c.wait_exit(Duration::from_secs(30)).expect("exits"), 0);
    let logs = c.logs();
    assert!(logs.contains("mount it at the same path"), "{logs}");
    assert!(
        !data.path().join("appos.db").exists(),
        "nothing was written"
    );

    // Not mounted at all.
    let c = support::AgentContainer::run(&[], &[]).expect("container");
    assert_ne!(c.wait_exit(Duration::from_secs(30)).expect("exits"), 0);
    assert!(
        c.logs().contains("is not mounted from the host"),
        "{}",
        c.logs()
    );
}

/// In the all-in-one setup (as container/compose.yml runs it) the agent's
/// container, with nginx inside it, is on the proxy's network with ports 80
/// and 443 published: a domain added through the agent is served on the
/// published port from an app's container, which the agent attached to the
/// proxy's network, and detaches when its domain goes.
#[test]
fn the_containerised_agent_serves_domains_through_its_proxy() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let data = tempfile::Builder::new()
        .prefix("appos-cproxy")
        .tempdir()
        .expect("data");
    let d = data.path().display().to_string();
    let (http, https) = (support::free_port(), support::free_port());
    // As container/compose.yml runs it: its own network namespace on the
    // proxy's network, ports 80 and 443 published (here on loopback ports).
    let network = support::unique("appos-proxy-");
    let made = std::process::Command::new(support::docker_cli())
        .args([
            "network",
            "create",
            "--label",
            &format!("{}=1", support::TEST_LABEL),
            &network,
        ])
        .output()
        .expect("docker");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    struct Net(String);
    impl Drop for Net {
        fn drop(&mut self) {
            let _ = std::process::Command::new(support::docker_cli())
                .args(["network", "rm", &self.0])
                .output();
        }
    }
    let _net = Net(network.clone());
    let env = [
        format!("APPOS_DATA={d}"),
        "APPOS_PROXY_HTTP=:80".into(),
        "APPOS_PROXY_HTTPS=:443".into(),
        format!("APPOS_PROXY_NETWORK={network}"),
    ];
    let (p80, p443) = (
        format!("127.0.0.1:{http}:80"),
        format!("127.0.0.1:{https}:443"),
    );
    let options = ["--network", &network, "-p", &p80, "-p", &p443];
    let c = support::AgentContainer::run_with(&[format!("{d}:{d}")], &env, &options)
        .expect("container");
    let sock = data.path().join("run/agent.sock");
    c.wait_socket(&sock);
    let token = std::process::Command::new(support::docker_cli())
        .args([
            "exec",
            &c.name,
            "appos-agent",
            "token",
            "issue",
            "--name",
            "ops",
        ])
        .output()
        .expect("token");
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8_lossy(&token.stdout).trim().to_string();
    let home = tempfile::tempdir().expect("home");
    let o = appos(
        home.path(),
        &[
            "server",
            "add",
            "box",
            &format!("unix://{}", sock.display()),
            "--token",
            &token,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = appos(home.path(), &["info"]);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("proxy    nginx on 0.0.0.0:80 (HTTP) and 0.0.0.0:443 (HTTPS)\n"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    let name = support::unique("web");
    let project = home.path().join("site");
    support::busybox_site(&project, "from a container network\n").expect("site");
    let down = || support::compose_down(&data.path().join("apps").join(&name), &name);
    let o = appos(
        home.path(),
        &[
            "deploy",
            "-f",
            &project.display().to_string(),
            "--name",
            &name,
        ],
    );
    if !o.status.success() {
        down();
        panic!("{}\n{}", String::from_utf8_lossy(&o.stderr), c.logs());
    }
    let o = appos(
        home.path(),
        &["domains", "add", "site.test", &format!("{name}:8080")],
    );
    let served = o.status.success().then(|| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let r = std::process::Command::new("curl")
                .args([
                    "-sS",
                    "--max-time",
                    "5",
                    "--resolve",
                    &format!("site.test:{http}:127.0.0.1"),
                    &format!("http://site.test:{http}/"),
                ])
                .output()
                .expect("curl");
            if r.status.success() || std::time::Instant::now() > deadline {
                break String::from_utf8_lossy(&r.stdout).into_owned()
                    + &String::from_utf8_lossy(&r.stderr);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let networks = || {
        let o = std::process::Command::new(support::docker_cli())
            .args([
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.compose.project={name}"),
            ])
            .output()
            .expect("docker");
        let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let o = std::process::Command::new(support::docker_cli())
            .args([
                "inspect",
                "-f",
                "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
                &id,
            ])
            .output()
            .expect("docker");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let attached = networks();
    let removed = appos(home.path(), &["domains", "rm", "site.test"]);
    let detached = networks();
    down();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        c.logs()
    );
    assert_eq!(
        served.as_deref(),
        Some("from a container network\n"),
        "{}",
        c.logs()
    );
    assert!(
        attached.split(' ').any(|n| n == network),
        "the app's container is not on the proxy's network: {attached}"
    );
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert_eq!(
        detached,
        format!("{name}_default"),
        "its last domain gone, the container leaves the proxy's network"
    );
}

/// The image carries the agent's version (label and tag) and a health check
/// that asks the agent on its socket; its container is never one of the apps.
#[test]
fn the_image_reports_its_version_and_health() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let data = tempfile::Builder::new()
        .prefix("appos-chealth")
        .tempdir()
        .expect("data");
    let d = data.path().display().to_string();
    // The image checks every 10 s; here every second, to wait less.
    let c = support::AgentContainer::run_with(
        &[format!("{d}:{d}")],
        &[format!("APPOS_DATA={d}")],
        &[
            "--health-interval",
            "1s",
            "--label",
            "com.docker.compose.project=looks-like-an-app",
        ],
    )
    .expect("container");
    let docker = |args: &[&str]| {
        let o = std::process::Command::new(support::docker_cli())
            .args(args)
            .output()
            .expect("docker");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let health = docker(&["inspect", "-f", "{{.State.Health.Status}}", &c.name]);
        if health == "healthy" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the container is {health:?}, never healthy:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        docker(&["exec", &c.name, "appos-agent", "health"]),
        format!("ok {version}")
    );
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"org.opencontainers.image.version\"}}",
            &c.name
        ]),
        version
    );
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}}",
            &format!("appos/agent:{version}")
        ]),
        docker(&["image", "inspect", "-f", "{{.Id}}", "appos/agent:latest"])
    );

    // Even labelled as a compose project, the agent's own container is not an app.
    let token = docker(&[
        "exec",
        &c.name,
        "appos-agent",
        "token",
        "issue",
        "--name",
        "ops",
    ]);
    let home = tempfile::tempdir().expect("home");
    let o = appos(
        home.path(),
        &[
            "server",
            "add",
            "box",
            &format!("unix://{}", data.path().join("run/agent.sock").display()),
            "--token",
            &token,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = appos(home.path(), &["list", "--output", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let apps: Vec<appos_proto::App> = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        !apps.iter().any(|a| a.name == "looks-like-an-app"),
        "{apps:?}"
    );
    // When it stops answering, it says so.
    let o = std::process::Command::new(support::docker_cli())
        .args([
            "exec",
            &c.name,
            "appos-agent",
            "--data",
            "/nonexistent",
            "health",
        ])
        .output()
        .expect("docker");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "appos-agent: the agent on /nonexistent/run/agent.sock does not answer: connecting: No such file or directory (os error 2)\n");
}

/// `appos server install` from a `docker save` file onto this Docker host
/// over real sshd: the checklist, the upload, a healthy container, the
/// server added and an app deployed through it; a second install finishes
/// with one container and one token; a taken port fails its check and
/// changes nothing.
#[test]
fn install_over_ssh_from_an_image_file() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let Some(sshd) = support::require("sshd", support::Sshd::start()) else {
        return;
    };
    let image = support::agent_image().expect("image");
    let files = tempfile::tempdir().expect("dir");
    let tar = files.path().join("agent.tar");
    let saved = std::process::Command::new(support::docker_cli())
        .args(["save", "-o"])
        .arg(&tar)
        .arg(&image)
        .output()
        .expect("docker save");
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let data = tempfile::Builder::new()
        .prefix("appos-install")
        .tempdir()
        .expect("data");
    let d = data.path().display().to_string();
    let name = support::unique("appos-inst-");
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::process::Command::new(support::docker_cli())
                .args(["rm", "-f", &self.0])
                .output();
        }
    }
    let _gone = Gone(name.clone());
    let (http, https) = (support::free_port(), support::free_port());
    let home = tempfile::tempdir().expect("home");
    let key = sshd.user_key.private.display().to_string();
    let tar_s = tar.display().to_string();
    let (hs, ss) = (http.to_string(), https.to_string());
    let install = |server: &str, container: &str, http: &str, https: &str| {
        appos(
            home.path(),
            &[
                "server",
                "install",
                server,
                &sshd.url(),
                "--identity",
                &key,
                "--accept-new-host-key",
                "--image-file",
                &tar_s,
                "--data",
                &d,
                "--container",
                container,
                "--http-port",
                http,
                "--https-port",
                https,
            ],
        )
    };
    // An install killed while it sends the image leaves nothing behind; the next one completes.
    let mut killed = support::appos(home.path())
        .args([
            "server",
            "install",
            "box",
            &sshd.url(),
            "--identity",
            &key,
            "--accept-new-host-key",
            "--image-file",
            &tar_s,
            "--data",
            &d,
            "--container",
            &name,
            "--http-port",
            &hs,
            "--https-port",
            &ss,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("install");
    // Killed once the server holds part of the image (this machine is the server: its temporary file shows).
    let tmp = std::env::temp_dir();
    let before: std::collections::HashSet<std::path::PathBuf> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .flatten()
        .map(|e| e.path())
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let partial = loop {
        let growing = std::fs::read_dir(&tmp)
            .expect("tmp")
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                !before.contains(p)
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("tmp."))
                    && std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 10_000_000)
            });
        if let Some(p) = growing {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = killed.kill();
    let _ = killed.wait();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while partial.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the partial upload {} was left on the server",
            partial.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Killed again once its container exists, before the agent answers.
    let said = files.path().join("killed.err");
    let mut killed = support::appos(home.path())
        .args([
            "server",
            "install",
            "box",
            &sshd.url(),
            "--identity",
            &key,
            "--accept-new-host-key",
            "--image-file",
            &tar_s,
            "--data",
            &d,
            "--container",
            &name,
            "--http-port",
            &hs,
            "--https-port",
            &ss,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&said).expect("file"))
        .spawn()
        .expect("install");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let ps = std::process::Command::new(support::docker_cli())
            .args(["ps", "-aq", "--filter", &format!("name=^{name}$")])
            .output()
            .expect("docker");
        if !String::from_utf8_lossy(&ps.stdout).trim().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the container never appeared: {}",
            std::fs::read_to_string(&said).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = killed.kill();
    let _ = killed.wait();
    let err = std::fs::read_to_string(&said).expect("stderr");
    for line in [
        "  ok   system  Linux ",
        "  ok   root    logged in as root\n",
        "  ok   docker  Docker ",
        &format!("  ok   ports   {http} and {https} free for the reverse proxy\n"),
        "  ok   appos   not installed yet\n",
        "  image appos/agent:latest is on the server\n",
    ] {
        assert!(err.contains(line), "{line:?} not in:\n{err}");
    }
    assert!(
        !err.contains("installed AppOS "),
        "killed before it finished: {err}"
    );
    let o = install("box", &name, &hs, &ss);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&format!("  ok   appos   {name} runs appos/agent:latest already: it is replaced, its data kept\n")), "{err}");
    assert!(err.contains("installed AppOS "), "{err}");
    let o = appos(home.path(), &["info", "--output", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info: appos_proto::AgentInfo = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(info.data_dir, d);
    assert_eq!(info.proxy.map(|p| p.http), Some("0.0.0.0:80".to_string()));

    // An app deploys through it.
    let app = support::unique("inst");
    let project = home.path().join("app");
    std::fs::create_dir_all(&project).expect("mkdir");
    std::fs::write(project.join("compose.yml"), format!("services:\n  web:\n    image: {}\n    command: [\"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{}=1\"]\n", support::BUSYBOX_IMAGE, support::TEST_LABEL)).expect("write");
    struct App(std::path::PathBuf, String);
    impl Drop for App {
        fn drop(&mut self) {
            let _ = support::appos(&self.0).args(["delete", &self.1]).output();
            let _ = std::process::Command::new(support::docker_cli())
                .args([
                    "rm",
                    "-f",
                    &format!("{}_web_1", self.1),
                    &format!("{}-web-1", self.1),
                ])
                .output();
        }
    }
    let o = appos(
        home.path(),
        &[
            "deploy",
            "-f",
            &project.display().to_string(),
            "--name",
            &app,
        ],
    );
    let _app = App(home.path().to_path_buf(), app.clone());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Again, with no image named: this computer's appos/agent:VERSION,
    // which the server has already (it is this computer); one container,
    // one token, the same data.
    let o = appos(
        home.path(),
        &[
            "server",
            "install",
            "box",
            &sshd.url(),
            "--identity",
            &key,
            "--data",
            &d,
            "--container",
            &name,
            "--http-port",
            &hs,
            "--https-port",
            &ss,
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "  the server has this image already\n  image appos/agent:{} is on the server\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{err}"
    );
    let ps = std::process::Command::new(support::docker_cli())
        .args(["ps", "-q", "--filter", &format!("name=^{name}$")])
        .output()
        .expect("docker");
    assert_eq!(String::from_utf8_lossy(&ps.stdout).lines().count(), 1);
    let o = appos(home.path(), &["tokens", "--output", "json"]);
    let tokens: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        tokens.iter().filter(|t| t["revoked_at"].is_null()).count(),
        1,
        "{tokens:?}"
    );

    // An upgrade to an agent that never answers goes back to the one before.
    // An image made from the agent's with `more` Dockerfile lines, saved to a file.
    let variant = |tag: &str, more: &str| {
        support::docker_build(tag, &format!("FROM {image}\n{more}")).expect("docker build");
        let file = files.path().join(format!(
            "{}.tar",
            tag.rsplit(':').next().unwrap_or("variant")
        ));
        let saved = std::process::Command::new(support::docker_cli())
            .args(["save", "-o"])
            .arg(&file)
            .arg(tag)
            .output()
            .expect("docker save");
        assert!(
            saved.status.success(),
            "{}",
            String::from_utf8_lossy(&saved.stderr)
        );
        file
    };
    let broken = format!("appos/agent:broken-{}", support::unique("x"));
    let broken_tar = variant(&broken, "HEALTHCHECK NONE\nENTRYPOINT [\"/bin/false\"]\n");
    let o = appos(
        home.path(),
        &[
            "server",
            "upgrade",
            "box",
            "--image-file",
            &broken_tar.display().to_string(),
            "--container",
            &name,
            "--health-timeout",
            "5",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let _ = std::process::Command::new(support::docker_cli())
        .args(["rmi", &broken])
        .output();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the new agent did not become healthy; going back to appos/agent:{} (sha256:",
            env!("CARGO_PKG_VERSION")
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("appos: {broken} did not become healthy ("))
            && err.ends_with(&format!(
                "); the server runs its previous agent again (ok {})\n",
                env!("CARGO_PKG_VERSION")
            )),
        "{err}"
    );
    let o = appos(home.path(), &["list", "--output", "json"]);
    assert!(
        o.status.success(),
        "the old agent serves again: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // An upgrade to a newer image keeps the apps, their versions and the token.
    let newer = format!("appos/agent:next-{}", support::unique("x"));
    let newer_tar = variant(&newer, "LABEL dev.appos.test.next=1\n");
    let o = appos(
        home.path(),
        &[
            "server",
            "upgrade",
            "box",
            "--image-file",
            &newer_tar.display().to_string(),
            "--container",
            &name,
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let running = std::process::Command::new(support::docker_cli())
        .args(["inspect", "-f", "{{.Config.Image}}", &name])
        .output()
        .expect("docker");
    let _ = std::process::Command::new(support::docker_cli())
        .args(["rmi", "-f", &newer])
        .output();
    assert!(o.status.success(), "{err}");
    assert!(
        err.ends_with(&format!(
            "upgraded box to {newer} (ok {})\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&running.stdout).trim(), newer);
    let o = appos(home.path(), &["history", &app, "--output", "json"]);
    assert!(
        o.status.success(),
        "the token still works: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let versions: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(versions.len(), 1, "{versions:?}");
    let o = appos(home.path(), &["tokens", "--output", "json"]);
    let tokens: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        tokens.iter().filter(|t| t["revoked_at"].is_null()).count(),
        1,
        "{tokens:?}"
    );

    // Uninstalled: the container goes, the app and the data stay; installed again, it knows the app.
    let o = appos(
        home.path(),
        &["server", "uninstall", "box", "--container", &name],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("removed AppOS from box; its apps keep running and its data stays in {d}\n")
    );
    let ps = std::process::Command::new(support::docker_cli())
        .args(["ps", "-aq", "--filter", &format!("name=^{name}$")])
        .output()
        .expect("docker");
    assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), "");
    assert!(
        data.path().join("appos.db").exists()
            || std::fs::read_dir(data.path())
                .map(|d| d.count())
                .unwrap_or(0)
                > 0,
        "the data was kept"
    );
    let o = install("box", &name, &hs, &ss);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = appos(home.path(), &["list", "--output", "json"]);
    let apps: Vec<appos_proto::App> = serde_json::from_slice(&o.stdout).expect("json");
    assert!(apps.iter().any(|a| a.name == app && a.managed), "{apps:?}");

    // A purge wants the server's name typed.
    let o = appos(
        home.path(),
        &[
            "server",
            "uninstall",
            "box",
            "--container",
            &name,
            "--purge",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "appos: --purge deletes the agent's data: pass --confirm box too\n"
    );
    let o = appos(
        home.path(),
        &[
            "server",
            "uninstall",
            "box",
            "--container",
            &name,
            "--purge",
            "--confirm",
            "bx",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "appos: \"bx\" is not \"box\"; nothing was changed\n"
    );
    assert!(data.path().exists());

    // A taken port: the check fails, nothing changes.
    let taken = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let other = support::unique("appos-inst-");
    let o = install("box2", &other, &port, &support::free_port().to_string());
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("  FAIL ports   port {port} already in use: stop what listens there, or install without the proxy\n")), "{err}");
    assert!(
        err.ends_with(&format!(
            "appos: {} is not ready for AppOS; nothing was changed\n",
            sshd.url()
        )),
        "{err}"
    );
    let ps = std::process::Command::new(support::docker_cli())
        .args(["ps", "-aq", "--filter", &format!("name=^{other}$")])
        .output()
        .expect("docker");
    assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), "");
}

/// The agent's container restarted while a deployment waits for its
/// containers: the stopping agent hands the task back to the queue (SQLite
/// in the data dir), and the restarted agent takes it at once (the lease,
/// 60 s here, never has to run out) and finishes the deployment.
#[test]
fn a_deployment_survives_a_restart_of_the_agents_container() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let data = tempfile::Builder::new()
        .prefix("appos-crestart")
        .tempdir()
        .expect("data");
    let d = data.path().display().to_string();
    let c = support::AgentContainer::run_with(
        &[format!("{d}:{d}")],
        &[
            format!("APPOS_DATA={d}"),
            "APPOS_TASK_LEASE_SECS=60".into(),
            "APPOS_STOP_GRACE_SECS=1".into(),
        ],
        &["--health-interval", "1s"],
    )
    .expect("container");
    let sock = data.path().join("run/agent.sock");
    c.wait_socket(&sock);
    let token = std::process::Command::new(support::docker_cli())
        .args([
            "exec",
            &c.name,
            "appos-agent",
            "token",
            "issue",
            "--name",
            "ops",
        ])
        .output()
        .expect("token");
    let token = String::from_utf8_lossy(&token.stdout).trim().to_string();
    let home = tempfile::tempdir().expect("home");
    let o = appos(
        home.path(),
        &[
            "server",
            "add",
            "box",
            &format!("unix://{}", sock.display()),
            "--token",
            &token,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Healthy only after 6 s: the deployment's wait step is still running when the agent restarts.
    let name = support::unique("slow");
    let file = home.path().join("slow.yml");
    std::fs::write(
        &file,
        format!(
            "services:\n  web:\n    image: {}\n    command: [\"/bin/busybox\", \"sh\", \"-c\", \"sleep 6; /bin/busybox touch /tmp/ready; exec sleep 3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{}=1\"]\n    healthcheck:\n      test: [\"CMD\", \"/bin/busybox\", \"test\", \"-f\", \"/tmp/ready\"]\n      interval: 1s\n      retries: 30\n",
            support::BUSYBOX_IMAGE,
            support::TEST_LABEL
        ),
    )
    .expect("write");
    let down = || support::compose_down(&data.path().join("apps").join(&name), &name);
    let mut deploying = support::appos(home.path())
        .args(["deploy", "-f", &file.display().to_string(), "--name", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("deploy");
    let deployments = || -> Vec<appos_proto::Deployment> {
        let o = appos(home.path(), &["deployments", "--output", "json"]);
        serde_json::from_slice(&o.stdout).unwrap_or_default()
    };
    let deployment = |id: &str| -> Option<appos_proto::Deployment> {
        let o = appos(home.path(), &["deployment", id, "--output", "json"]);
        serde_json::from_slice(&o.stdout).ok()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let id = loop {
        let waiting = deployments()
            .into_iter()
            .find(|d| d.app == name)
            .and_then(|d| deployment(&d.id));
        if let Some(d) = waiting.filter(|d| {
            d.steps
                .iter()
                .any(|s| s.name == "wait" && s.state == appos_proto::StepState::Running)
        }) {
            break d.id;
        }
        if std::time::Instant::now() > deadline {
            down();
            panic!("the deployment never reached its wait step:\n{}", c.logs());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let restarted = std::process::Command::new(support::docker_cli())
        .args(["restart", "-t", "20", &c.name])
        .output()
        .expect("restart");
    let _ = deploying.kill();
    let _ = deploying.wait();
    assert!(
        restarted.status.success(),
        "{}",
        String::from_utf8_lossy(&restarted.stderr)
    );
    c.wait_socket(&sock);
    // Well inside the 60 s lease: only a hand-back lets the new agent take it this soon.
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    let done = loop {
        if let Some(d) = deployment(&id).filter(|d| d.state.is_terminal()) {
            break d;
        }
        if std::time::Instant::now() > deadline {
            down();
            panic!(
                "the deployment never finished after the restart:\n{}",
                c.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    down();
    assert_eq!(
        done.state,
        appos_proto::DeploymentState::Succeeded,
        "{done:?}\n{}",
        c.logs()
    );
    assert!(
        done.attempt >= 2,
        "the restarted agent ran it again: {done:?}"
    );
    assert!(
        c.logs()
            .contains("the agent is stopping: handed the task back to the queue"),
        "{}",
        c.logs()
    );
}

/// `cargo xtask dist`'s `.deb` (here from this build's debug binaries,
/// without the image) installs with apt into a clean Debian root of the
/// release this machine runs, its dependencies resolved from Debian: the
/// CLI and the agent run there, every library the desktop links is present,
/// and the man page and completions are where man and the shells look.
#[test]
fn the_deb_installs_into_a_clean_debian_root() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let made = std::process::Command::new(support::bin("xtask"))
        .args(["dist", "--debug", "--no-build", "--no-image"])
        .output()
        .expect("xtask dist");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let deb = std::path::PathBuf::from(
        String::from_utf8_lossy(&made.stdout)
            .lines()
            .last()
            .expect("the .deb's path")
            .trim(),
    );
    let release = std::fs::read_to_string("/etc/os-release").expect("os-release");
    let suite = release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .expect("VERSION_CODENAME")
        .trim_matches('"')
        .to_string();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../container/build-image.sh");
    let base = std::process::Command::new("bash")
        .arg(script)
        .args(["--base", &suite])
        .output()
        .expect("base");
    assert!(
        base.status.success(),
        "{}",
        String::from_utf8_lossy(&base.stderr)
    );
    let base = String::from_utf8_lossy(&base.stdout).trim().to_string();

    let dir = deb.parent().expect("dist").display().to_string();
    let file = deb
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let check = format!(
        "set -e; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /dist/{file} > /tmp/apt.log 2>&1 || {{ tail -20 /tmp/apt.log; exit 1; }}; \
         appos --version; appos-agent --version; echo missing: $(ldd /usr/bin/appos-desktop | grep -c 'not found' || true); \
         ls /usr/share/man/man1/appos.1.gz /usr/share/man/man1/appos-server-install.1.gz /usr/share/bash-completion/completions/appos /usr/share/zsh/vendor-completions/_appos /usr/share/fish/vendor_completions.d/appos.fish /usr/share/applications/appos.desktop"
    );
    let o = std::process::Command::new(support::docker_cli())
        .args([
            "run",
            "--rm",
            "--label",
            &format!("{}=1", support::TEST_LABEL),
            "-v",
            &format!("{dir}:/dist:ro"),
            &base,
            "sh",
            "-c",
            &check,
        ])
        .output()
        .expect("docker run");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(
        out,
        format!(
            "appos {v}\nappos-agent {v}\nmissing: 0\n/usr/share/applications/appos.desktop\n/usr/share/bash-completion/completions/appos\n/usr/share/fish/vendor_completions.d/appos.fish\n/usr/share/man/man1/appos-server-install.1.gz\n/usr/share/man/man1/appos.1.gz\n/usr/share/zsh/vendor-completions/_appos\n"
        )
    );
}

/// A server with SSH but no Docker (a container with sshd and apt): the
/// checklist fails with a line for each missing thing and nothing changes;
/// with --install-docker as root, Docker comes from the distribution's
/// packages. (An unprivileged container cannot run a Docker daemon of its
/// own, so that install stops where Docker fails to start, with its reason.)
#[test]
fn install_on_a_server_without_docker_or_root() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let server = support::BareServer::start().expect("bare server");
    let home = tempfile::tempdir().expect("home");
    let key = server.key.private.display().to_string();
    let install = |user: &str, extra: &[&str]| {
        let url = server.url(user);
        let mut args = vec![
            "server",
            "install",
            "bare",
            &url,
            "--identity",
            &key,
            "--accept-new-host-key",
            "--no-proxy",
        ];
        args.extend(extra);
        appos(home.path(), &args)
    };

    // Not root, no sudo, no Docker: one line each, and nothing changes.
    let o = install("admin", &[]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    for line in [
        "  ok   system  Linux x86_64\n",
        "  FAIL root    log in as root, or allow this user sudo without a password\n",
        "  FAIL docker  Docker does not answer: install it (apt-get install docker.io, or run this again with --install-docker) and start it\n",
        "  ok   appos   not installed yet\n",
    ] {
        assert!(err.contains(line), "{line:?} not in:\n{err}");
    }
    assert!(
        err.ends_with(&format!(
            "appos: {} is not ready for AppOS; nothing was changed\n",
            server.url("admin")
        )),
        "{err}"
    );
    let o = install("admin", &["--install-docker"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("  FAIL root    log in as root, or allow this user sudo without a password\n"),
        "{err}"
    );
    assert!(!err.contains("installing Docker"), "{err}");
    let o = install("root", &[]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("  ok   root    logged in as root\n")
            && err.contains("  FAIL docker  Docker does not answer"),
        "{err}"
    );
    let untouched =
        server.sh("test -e /var/lib/appos || dpkg -s docker.io >/dev/null 2>&1 || echo untouched");
    assert_eq!(
        String::from_utf8_lossy(&untouched.stdout),
        "untouched\n",
        "the server was changed"
    );
    assert!(
        !home.path().join(".config/appos/servers.toml").exists(),
        "the server was saved"
    );

    // Root with --install-docker: the distribution's package is installed.
    let o = install("root", &["--install-docker"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains("  ok   docker  Docker is missing: it is installed from the distribution's packages (apt-get install docker.io)\n"), "{err}");
    assert!(
        err.contains("  installing Docker (apt-get install docker.io)\n"),
        "{err}"
    );
    let installed = server.sh("dpkg-query -W -f '${Status}' docker.io");
    assert_eq!(
        String::from_utf8_lossy(&installed.stdout),
        "install ok installed",
        "{err}"
    );
    // An unprivileged container cannot start dockerd (its cgroup mounts are refused).
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "\nappos: installing Docker failed on the server (exit 2): mount: /sys/fs/cgroup/"
        ),
        "{err}"
    );
}
