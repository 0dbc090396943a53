//! Host access as an explicit decision, through a real agent, a real dockerd
//! and the compose tool: every way around the old text check and every
//! capability class is refused without consent (naming the service and the
//! capability, writing nothing); with consent the app deploys and really
//! has the access; the grant is kept per version, asked again when it
//! grows, refused to deploy tokens, and written to the audit log.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use appos_client::{Client, ClientError, Transport};
use appos_proto::calls::{ListAudit, ListDeployments, OpenTerminal};
use appos_proto::{
    AppName, ComposeCheckRequest, DeployRequest, FieldError, HostAccess, HostAccessKind,
    NewTerminal, ProblemCode, ServiceName,
};
use appos_test_support as support;

struct Env {
    agent: support::Agent,
    token: String,
    home: tempfile::TempDir,
}

impl Env {
    fn start() -> Option<Env> {
        support::require("dockerd", support::docker())?;
        let agent = support::Agent::start_env(&[], &[]).expect("agent");
        let token = agent.issue_token("alice", "admin").expect("token");
        let home = tempfile::tempdir().expect("home");
        let env = Env { agent, token, home };
        let sock = format!("unix://{}", env.agent.socket().display());
        let o = env.appos(&["server", "add", "here", &sock, "--token", &env.token]);
        assert!(o.status.success(), "{}", text(&o));
        Some(env)
    }

    fn appos(&self, args: &[&str]) -> Output {
        support::appos(self.home.path())
            .args(args)
            .output()
            .expect("run appos")
    }

    fn client(&self) -> Client {
        Client::new(
            Transport::Unix(self.agent.socket()),
            Some(self.token.clone()),
        )
    }
}

/// Takes an app's compose project down when the test ends.
struct Down(std::path::PathBuf, String);

impl Drop for Down {
    fn drop(&mut self) {
        let cmd = support::compose_cmd();
        let _ = Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(["-p", &self.1, "-f"])
            .arg(self.0.join("compose.yml"))
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .current_dir(&self.0)
            .output();
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn deploy(
    name: &str,
    compose: &str,
    env: &[(&str, &str)],
    allow: Vec<HostAccess>,
) -> DeployRequest {
    DeployRequest {
        name: AppName::parse(name).expect("name"),
        compose: compose.to_string(),
        catalog: None,
        files: Vec::new(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        message: None,
        allow_host_access: allow,
    }
}

const NOT_GRANTED: &str = "needs host access that was not granted: ";

/// Each bypass of the old check on the text, and each capability class, is
/// refused without consent with one field error naming the service and the
/// capability; nothing is written, queued or started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_capability_needs_consent() {
    let Some(env) = Env::start() else { return };
    let c = env.client();
    let svc = |body: &str| {
        format!(
            "services:\n  web:\n    image: {}\n{body}",
            support::BUSYBOX_IMAGE
        )
    };
    let cases: Vec<(String, Vec<(&str, &str)>, &str, String)> = vec![
        // A bind built from a variable.
        (svc("    volumes: [\"${R}:/h\"]\n"), vec![("R", "/")], "services.web.volumes[0]", "web controls Docker through /, which is root on the server".into()),
        // A bind hidden behind a merge key.
        (
            format!("x-b: &b\n  volumes: [\"/etc:/hostetc\"]\nservices:\n  web:\n    <<: *b\n    image: {}\n", support::BUSYBOX_IMAGE),
            vec![],
            "services.web.volumes[0]",
            "web can read and write /etc on the server".into(),
        ),
        // An env_file in the long syntax, read by the compose tool itself.
        (svc("    env_file: [{path: /etc/shadow}]\n"), vec![], "services.web.env_file", "web reads the server's file /etc/shadow".into()),
        (svc("    privileged: true\n"), vec![], "services.web.privileged", "web runs privileged: it can do anything root can on the server".into()),
        (svc("    pid: host\n"), vec![], "services.web.pid", "web sees and can signal every process on the server".into()),
        (svc("    ipc: host\n"), vec![], "services.web.ipc", "web shares the server's ipc namespace".into()),
        (svc("    userns_mode: host\n"), vec![], "services.web.userns_mode", "web runs without user namespace remapping".into()),
        // The agent's own container holds the Docker socket.
        (svc("    volumes_from: [\"container:appos\"]\n"), vec![], "services.web.volumes_from", "web mounts every volume of the container appos".into()),
        (
            svc("    volumes: [\"data:/d\"]\nvolumes:\n  data:\n    driver_opts: {type: none, o: bind, device: /}\n"),
            vec![],
            "volumes.data.driver_opts",
            "the volume data is / on the server; every service that mounts it can read and write it".into(),
        ),
        (svc("    network_mode: host\n"), vec![], "services.web.network_mode", "web uses the server's network directly: every interface and port".into()),
        (svc("    network_mode: \"container:appos\"\n"), vec![], "services.web.network_mode", "web joins the network of the container appos".into()),
        (svc("    cap_add: [NET_ADMIN]\n"), vec![], "services.web.cap_add", "web has the Linux capability NET_ADMIN".into()),
        (svc("    devices: [\"/dev/fuse:/dev/fuse\"]\n"), vec![], "services.web.devices", "web can use the server's device /dev/fuse".into()),
        (
            svc("    security_opt: [\"apparmor:unconfined\"]\n"),
            vec![],
            "services.web.security_opt",
            "web runs with the security option apparmor:unconfined, which lifts its confinement".into(),
        ),
        (svc("    sysctls: {net.ipv4.ip_forward: 1}\n"), vec![], "services.web.sysctls", "web sets the kernel setting net.ipv4.ip_forward".into()),
        (svc("    secrets: [s]\nsecrets:\n  s: {file: /etc/hostname}\n"), vec![], "secrets.s.file", "web reads the server's file /etc/hostname".into()),
        (svc("    volumes: [\"/run:/r:ro\"]\n"), vec![], "services.web.volumes[0]", "web controls Docker through /run, which is root on the server".into()),
    ];
    for (i, (compose, vars, field, words)) in cases.iter().enumerate() {
        let name = format!("consent{i}");
        match c.call(&deploy(&name, compose, vars, Vec::new())).await {
            Err(ClientError::Api(p)) => {
                assert_eq!(
                    (p.status, p.code),
                    (400, ProblemCode::InvalidInput),
                    "{compose}: {p:?}"
                );
                assert_eq!(
                    p.errors,
                    [FieldError::new(*field, format!("{NOT_GRANTED}{words}"))],
                    "{compose}"
                );
            }
            other => panic!("{compose}: expected a refusal, got {other:?}"),
        }
    }
    // The app's own directory, and its .env, are refused even with consent.
    let everything: Vec<HostAccess> = vec![HostAccess::new(HostAccessKind::Bind, "web", "/")];
    for body in [
        "    volumes: [\".:/app\"]\n",
        "    volumes: [\"./.env:/e:ro\"]\n",
    ] {
        match c.call(&deploy("ownsecrets", &svc(body), &[], everything.clone())).await {
            Err(ClientError::Api(p)) => assert_eq!(
                p.errors,
                [FieldError::new(
                    "services.web.volumes[0]",
                    "mounting the app's directory itself, or its .env, would expose the app's secrets; mount a folder inside it (./data) instead"
                )],
                "{body}"
            ),
            other => panic!("{body}: expected a refusal, got {other:?}"),
        }
    }
    // What the policy does not know is refused, not let through.
    match c.call(&deploy("unknownkey", &svc("    cgroup_parent: /system.slice\n"), &[], Vec::new())).await {
        Err(ClientError::Api(p)) => assert_eq!(
            p.errors,
            [FieldError::new("services.web.cgroup_parent", "the service key \"cgroup_parent\" is not understood by AppOS's host-access policy, so it is refused")]
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nothing was written, queued or started.
    let left: Vec<_> = std::fs::read_dir(env.agent.data.path().join("apps"))
        .expect("apps dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(c
        .call(&ListDeployments { app: None })
        .await
        .expect("deployments")
        .is_empty());
}

/// Compose files as people write them: plain stacks need nothing; stacks
/// that need the host list exactly what they need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_world_files_are_judged_as_they_are() {
    let Some(env) = Env::start() else { return };
    let c = env.client();
    let check = |name: &str, compose: &str| ComposeCheckRequest {
        name: AppName::parse(name).expect("name"),
        compose: compose.to_string(),
        catalog: None,
        files: None,
        env: None,
    };
    let plain = [
        // WordPress with MariaDB: named volumes, a network, restart, limits.
        "services:\n  db:\n    image: mariadb:11\n    restart: unless-stopped\n    environment:\n      MARIADB_ROOT_PASSWORD: example\n    volumes: [db:/var/lib/mysql]\n    networks: [back]\n    deploy:\n      resources:\n        limits: {cpus: '0.5', memory: 512M}\n  wordpress:\n    image: wordpress:6\n    depends_on: [db]\n    ports: [\"8080:80\"]\n    volumes: [wp:/var/www/html]\n    networks: [back, front]\nvolumes:\n  db: {}\n  wp: {}\nnetworks:\n  back: {}\n  front: {}\n",
        // A worker with a string command, expose, healthcheck and a config folder of its own.
        "version: '3.8'\nservices:\n  app:\n    image: redis:7\n    command: redis-server --appendonly yes\n    expose: [\"6379\"]\n    healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"ping\"]\n      interval: 10s\n    volumes: [\"./conf:/usr/local/etc/redis:ro\", \"/data\"]\n    logging: {driver: json-file, options: {max-size: 10m}}\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    tmpfs: [/tmp]\n",
    ];
    for compose in plain {
        let r = c
            .call(&check("plain", compose))
            .await
            .unwrap_or_else(|e| panic!("{compose}: {e}"));
        assert!(r.host_access.is_empty(), "{compose}: {:?}", r.host_access);
    }
    // Portainer: the Docker socket. Pi-hole: host paths, a capability, the host's port 53.
    let portainer = "services:\n  portainer:\n    image: portainer/portainer-ce:2.21\n    ports: [\"9443:9443\"]\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n      - data:/data\nvolumes:\n  data:\n";
    let r = c.call(&check("portainer", portainer)).await.expect("check");
    let got: Vec<(HostAccess, String, bool)> = r
        .host_access
        .into_iter()
        .map(|n| (n.access, n.description, n.granted))
        .collect();
    assert_eq!(
        got,
        [(
            HostAccess::new(
                HostAccessKind::DockerSocket,
                "portainer",
                "/var/run/docker.sock"
            ),
            "portainer controls Docker through /var/run/docker.sock, which is root on the server"
                .to_string(),
            false
        )]
    );
    let pihole = "services:\n  pihole:\n    image: pihole/pihole:2024.07.0\n    network_mode: host\n    environment:\n      TZ: Europe/London\n    volumes:\n      - /etc/pihole:/etc/pihole\n      - /etc/dnsmasq.d:/etc/dnsmasq.d:ro\n    cap_add: [NET_ADMIN]\n    restart: unless-stopped\n";
    let r = c.call(&check("pihole", pihole)).await.expect("check");
    let got: Vec<String> = r
        .host_access
        .iter()
        .map(|n| n.description.clone())
        .collect();
    assert_eq!(
        got,
        [
            "pihole can read and write /etc/pihole on the server",
            "pihole can read /etc/dnsmasq.d on the server",
            "pihole uses the server's network directly: every interface and port",
            "pihole has the Linux capability NET_ADMIN",
        ]
    );
}

/// With consent an app deploys and really reads the granted host path; the
/// grant is kept with the version and shown in the history; a version
/// that asks for more needs consent again; a deploy token may deploy plain
/// apps but never host access, nor a shell in an app that has it; the
/// audit log names who granted what.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_is_granted_kept_and_audited() {
    let Some(env) = Env::start() else { return };
    let name = support::unique("granted");
    let _down = Down(env.agent.data.path().join("apps").join(&name), name.clone());
    let host = tempfile::tempdir().expect("host dir");
    std::fs::write(host.path().join("secret.txt"), "granted-content-42\n").expect("write");
    let compose = format!(
        "services:\n  web:\n    image: {img}\n    command: [\"/bin/busybox\", \"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n    volumes: [\"{dir}:/h:ro\"]\n    cap_add: [NET_ADMIN]\n",
        img = support::BUSYBOX_IMAGE,
        label = support::TEST_LABEL,
        dir = host.path().display()
    );
    let file = env.home.path().join("compose.yml");
    std::fs::write(&file, &compose).expect("write");
    let f = file.display().to_string();
    let read_words = format!("web can read {} on the server", host.path().display());

    // Without consent: the two capabilities, and how to grant them.
    let o = env.appos(&["deploy", "-f", &f, "--name", &name]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "services.web.volumes[0]: {NOT_GRANTED}{read_words}; services.web.cap_add: {NOT_GRANTED}web has the Linux capability NET_ADMIN\nappos: run it again with --allow-host-access"
        )),
        "{}",
        text(&o)
    );
    // With it: the CLI prints what it grants, and the container has the access.
    let o = env.appos(&["deploy", "-f", &f, "--name", &name, "--allow-host-access"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("granting host access to {name}:\n  - {read_words}\n  - web has the Linux capability NET_ADMIN\n")), "{}", text(&o));
    let id = String::from_utf8_lossy(
        &Command::new("docker")
            .args([
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.compose.project={name}"),
            ])
            .output()
            .expect("docker ps")
            .stdout,
    )
    .trim()
    .to_string();
    let cat = Command::new("docker")
        .args(["exec", &id, "cat", "/h/secret.txt"])
        .output()
        .expect("docker exec");
    assert_eq!(
        String::from_utf8_lossy(&cat.stdout),
        "granted-content-42\n",
        "{}",
        text(&cat)
    );

    // The grant is the version's, in its history.
    let o = env.appos(&["history", &name]);
    assert!(text(&o).contains(&format!("      host access: {read_words}\n      host access: web has the Linux capability NET_ADMIN\n")), "{}", text(&o));
    // A version that keeps it needs no new consent; one that asks for more does.
    let v2 = env.home.path().join("v2.yml");
    std::fs::write(&v2, compose.replace("\"3600\"", "\"3601\"")).expect("write");
    let o = env.appos(&["set-compose", &name, "-f", &v2.display().to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(
        &v2,
        compose.replace("    cap_add:", "    privileged: true\n    cap_add:"),
    )
    .expect("write");
    let o = env.appos(&["set-compose", &name, "-f", &v2.display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("Invalid input: services.web.privileged: {NOT_GRANTED}web runs privileged: it can do anything root can on the server\n")),
        "only what is new: {}",
        text(&o)
    );

    // A deploy token: plain apps yes; host access, or a shell in an app that has it, no.
    let ci = Client::new(
        Transport::Unix(env.agent.socket()),
        Some(env.agent.issue_token("ci", "deploy").expect("token")),
    );
    let plain = support::unique("plain");
    let _down_plain = Down(
        env.agent.data.path().join("apps").join(&plain),
        plain.clone(),
    );
    let plain_compose = format!("services:\n  web:\n    image: {}\n    command: [\"/bin/busybox\", \"sleep\", \"3600\"]\n    labels: [\"{}=1\"]\n", support::BUSYBOX_IMAGE, support::TEST_LABEL);
    ci.call(&deploy(&plain, &plain_compose, &[], Vec::new()))
        .await
        .expect("a deploy token deploys a plain app");
    let granted = vec![HostAccess::new(
        HostAccessKind::ReadOnlyBind,
        "web",
        host.path().display().to_string(),
    )];
    match ci.call(&deploy("sneaky", &compose, &[], granted)).await {
        Err(ClientError::Api(p)) => {
            assert_eq!((p.status, p.code), (403, ProblemCode::Forbidden), "{p:?}");
            assert_eq!(p.detail, Some(format!("this compose file reaches the server ({read_words}); only an admin token may deploy it")));
        }
        other => panic!("a deploy token granted host access: {other:?}"),
    }
    let exec = NewTerminal::Exec {
        app: AppName::parse(&name).expect("name"),
        service: ServiceName::parse("web").expect("svc"),
        command: vec!["id".into()],
        tty: false,
        cols: None,
        rows: None,
    };
    match ci.call(&OpenTerminal { request: exec }).await {
        Err(ClientError::Api(p)) => {
            assert_eq!((p.status, p.code), (403, ProblemCode::Forbidden), "{p:?}");
            assert_eq!(p.detail, Some(format!("{name} has host access ({read_words}); only an admin token may open a shell in it")));
        }
        other => panic!("a deploy token entered a container with host access: {other:?}"),
    }

    // The audit log: who deployed what, and what was granted.
    let entries = env
        .client()
        .call(&ListAudit {
            app: Some(AppName::parse(&name).expect("name")),
            before: None,
            limit: None,
        })
        .await
        .expect("audit");
    let summary: Vec<(String, String, usize)> = entries
        .iter()
        .map(|e| (e.actor.clone(), e.action.clone(), e.host_access.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("alice".to_string(), "app.version".to_string(), 0),
            ("alice".to_string(), "app.deploy".to_string(), 2),
        ],
        "{entries:?}"
    );
    let o = env.appos(&["audit", "--app", &plain]);
    assert!(
        text(&o).contains("ci ") && text(&o).contains("app.deploy"),
        "{}",
        text(&o)
    );
    // The refusals are recorded too: who tried what, and why not.
    let all = env
        .client()
        .call(&ListAudit {
            app: None,
            before: None,
            limit: None,
        })
        .await
        .expect("audit");
    let denied: Vec<(&str, &str)> = all
        .iter()
        .filter(|e| e.action == "access.denied")
        .map(|e| (e.actor.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        denied,
        [
            ("ci", format!("POST /v1/terminals: {name} has host access ({read_words}); only an admin token may open a shell in it").as_str()),
            ("ci", format!("POST /v1/apps/deploy: this compose file reaches the server ({read_words}); only an admin token may deploy it").as_str()),
        ]
    );
    let o = env.appos(&["audit", "--app", &name]);
    assert!(
        text(&o).contains(&format!("       granted: {read_words}\n")),
        "{}",
        text(&o)
    );
}
