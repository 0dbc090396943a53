//! Deploying apps through a real agent, a real dockerd and the compose tool:
//! the happy path with the CLI, failures that end with a reason, and hostile
//! input that is refused before anything is written or started.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use appos_client::{Client, ClientError, Transport};
use appos_proto::calls::{GetAppStats, GetDeployment, ListApps, ListDeployments, RedeployApp};
use appos_proto::{
    AppName, DeployRequest, DeploymentState, FieldError, Problem, ProblemCode, StepState,
};
use appos_test_support as support;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Takes an app's compose project down when the test ends.
struct Project {
    name: String,
    dir: std::path::PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        let cmd = support::compose_cmd();
        let _ = Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(["-p", &self.name, "-f"])
            .arg(self.dir.join("compose.yml"))
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .current_dir(&self.dir)
            .output();
    }
}

struct Env {
    agent: support::Agent,
    token: String,
    home: tempfile::TempDir,
}

impl Env {
    fn start() -> Option<Env> {
        Self::start_env(&[])
    }

    fn start_env(vars: &[(&str, &str)]) -> Option<Env> {
        support::require("dockerd", support::docker())?;
        let agent = support::Agent::start_env(&[], vars).expect("agent");
        let token = agent.issue_token("deployer", "admin").expect("token");
        let home = tempfile::tempdir().expect("home");
        let env = Env { agent, token, home };
        let sock = format!("unix://{}", env.agent.socket().display());
        let o = env.appos(&["server", "add", "here", &sock, "--token", &env.token]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
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

    fn project(&self, name: &str) -> Project {
        Project {
            name: name.to_string(),
            dir: self.agent.data.path().join("apps").join(name),
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
}

#[test]
fn deploy_a_compose_file_and_watch_it_run() {
    let Some(env) = Env::start() else { return };
    let name = support::unique("dep");
    let _p = env.project(&name);
    let files = tempfile::tempdir().expect("dir");
    let compose = files.path().join("compose.yml");
    std::fs::write(&compose, support::two_service_compose()).expect("write");
    let env_file = files.path().join("app.env");
    std::fs::write(
        &env_file,
        "DB_PASSWORD=s3cret\n# a comment\nGREETING=\"hello world\"\n",
    )
    .expect("write");

    let o = env.appos(&[
        "deploy",
        "-f",
        &compose.display().to_string(),
        "--name",
        &name,
        "--env-file",
        &env_file.display().to_string(),
        "-m",
        "first",
    ]);
    assert!(
        o.status.success(),
        "{}\nagent log:\n{}",
        text(&o),
        env.agent.log()
    );
    let out = text(&o);
    for step in [
        "write_files",
        "validate",
        "pull",
        "build",
        "up",
        "wait",
        "record_digests",
    ] {
        assert!(out.contains(step), "progress shows {step}: {out}");
    }
    assert!(out.contains("succeeded"), "{out}");

    // Version 1 is on disk, the secrets file readable only by the agent.
    let dir = env.agent.data.path().join("apps").join(&name);
    assert_eq!(mode(&dir.join(".env")), 0o600);
    assert_eq!(mode(&dir.join("compose.yml")), 0o640);
    let dotenv = std::fs::read_to_string(dir.join(".env")).expect(".env");
    assert!(
        dotenv.contains("DB_PASSWORD='s3cret'") && dotenv.contains("GREETING='hello world'"),
        "{dotenv}"
    );

    // The app runs and is managed; the deployment recorded every step.
    let o = env.appos(&["list", "--output", "json"]);
    let apps: Vec<appos_proto::App> = serde_json::from_slice(&o.stdout).expect("apps");
    let app = apps.iter().find(|a| a.name == name).expect("listed");
    assert!(app.managed);
    assert_eq!(app.state, appos_proto::AppState::Running);
    let o = env.appos(&["deployments", &name, "--output", "json"]);
    let ds: Vec<appos_proto::Deployment> = serde_json::from_slice(&o.stdout).expect("deployments");
    assert_eq!(ds.len(), 1);
    let d = &ds[0];
    assert_eq!(
        (d.state, d.version, d.attempt),
        (DeploymentState::Succeeded, 1, 1)
    );
    let steps: Vec<(&str, StepState)> =
        d.steps.iter().map(|s| (s.name.as_str(), s.state)).collect();
    assert_eq!(
        steps,
        [
            ("write_files", StepState::Succeeded),
            ("validate", StepState::Skipped),
            ("pull", StepState::Skipped),
            ("build", StepState::Skipped),
            ("up", StepState::Succeeded),
            ("wait", StepState::Succeeded),
            ("record_digests", StepState::Succeeded)
        ]
    );
    assert!(d
        .steps
        .iter()
        .all(|s| s.finished_ms.is_some_and(|f| f >= s.started_ms)));

    // The log replays after the fact, and `status` summarises.
    let o = env.appos(&["deployment", &d.id, "--follow"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{}: present", support::BUSYBOX_IMAGE)),
        "{}",
        text(&o)
    );
    let o = env.appos(&["status", &name]);
    assert!(
        text(&o).contains("managed by AppOS") && text(&o).contains("succeeded"),
        "{}",
        text(&o)
    );

    // Deploying the same name again is a conflict, not a second app.
    let o = env.appos(&[
        "deploy",
        "-f",
        &compose.display().to_string(),
        "--name",
        &name,
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("exists"), "{}", text(&o));
}

#[test]
fn a_deployment_that_cannot_work_ends_failed_with_a_reason() {
    let Some(env) = Env::start() else { return };
    // Each image fails to pull for its own reason, said in plain words first.
    for (image, plain) in [
        ("nonexistent.invalid/appos/x:1", "pulling nonexistent.invalid/appos/x:1: DNS lookup failed: this server cannot resolve the registry nonexistent.invalid ("),
        ("127.0.0.1:1/appos/x:1", "pulling 127.0.0.1:1/appos/x:1: registry unreachable: this server cannot connect to 127.0.0.1:1 ("),
    ] {
        let name = support::unique("fail");
        let _p = env.project(&name);
        let files = tempfile::tempdir().expect("dir");
        let compose = files.path().join("compose.yml");
        std::fs::write(&compose, format!("services:\n  web:\n    image: {image}\n")).expect("write");
        let o = env.appos(&["deploy", "-f", &compose.display().to_string(), "--name", &name]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("failed"), "{}", text(&o));
        let o = env.appos(&["deployments", &name, "--output", "json"]);
        let ds: Vec<appos_proto::Deployment> = serde_json::from_slice(&o.stdout).expect("json");
        let d = &ds[0];
        assert_eq!(d.state, DeploymentState::Failed);
        assert!(d.error.as_deref().unwrap_or("").starts_with(plain), "{:?} does not start with {plain:?}", d.error);
        let pull = d.steps.iter().find(|s| s.name == "pull").expect("pull step");
        assert_eq!(pull.state, StepState::Failed);
        assert!(pull.detail.starts_with(plain), "{:?}", pull.detail);
        assert!(!d.steps.iter().any(|s| s.name == "up"), "nothing is started after a failed pull");
        // The app is listed, not running, with its failed deployment, so that it can be fixed or deleted.
        let o = env.appos(&["list", "--output", "json"]);
        let apps: Vec<appos_proto::App> = serde_json::from_slice(&o.stdout).expect("apps");
        let app = apps.iter().find(|a| a.name == name).expect("the app is listed");
        assert_eq!((app.state, app.managed), (appos_proto::AppState::Empty, true));
        assert_eq!(app.last_deployment.as_ref().map(|l| (l.id.as_str(), l.state)), Some((d.id.as_str(), DeploymentState::Failed)));
        let table = String::from_utf8_lossy(&env.appos(&["list"]).stdout).into_owned();
        let row = table.lines().find(|l| l.contains(&name)).unwrap_or_default().to_string();
        assert!(row.contains("last deployment failed"), "{table}");
    }
}

#[tokio::test]
async fn hostile_input_is_refused_and_changes_nothing() {
    let Some(env) = Env::start() else { return };
    let c = env.client();
    let ok_compose = support::two_service_compose();
    let long = "a".repeat(300);
    // Names that are not app names never become a request: the body is refused field by field.
    for name in ["../x", "a;b", "A B", long.as_str(), "", "-x"] {
        let body = serde_json::json!({ "name": name, "compose": ok_compose }).to_string();
        let r = c
            .request_raw(
                http::Method::POST,
                "/v1/apps/deploy",
                Some(body.into_bytes()),
            )
            .await
            .expect("request");
        let p: Problem = serde_json::from_slice(&r.body).expect("a problem JSON body");
        assert_eq!(
            (r.status.as_u16(), p.code),
            (400, ProblemCode::InvalidInput),
            "{name:?}: {p:?}"
        );
        assert_eq!(
            p.errors,
            [FieldError::new("name", AppName::RULE)],
            "{name:?}"
        );
    }
    let req = |name: &str, compose: &str, env: &[(&str, &str)]| DeployRequest {
        name: AppName::parse(name).expect("name"),
        compose: compose.to_string(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        message: None,
        catalog: None,
        files: Vec::new(),
        allow_host_access: Vec::new(),
    };
    let big = format!("{ok_compose}# {}\n", "x".repeat(10 * 1024 * 1024));
    // Each case: the request, the one field refused, and the start of its message.
    let cases: Vec<(DeployRequest, &str, String)> = vec![
        (req("okname1", &ok_compose, &[("PASSWORD", "a\nINJECTED=1")]), "env.PASSWORD", "values must be a single line".into()),
        (req("okname2", &ok_compose, &[("BAD KEY", "x")]), "env.BAD KEY", "variable names use letters, digits and _, and do not start with a digit".into()),
        (req("okname3", "services: [\n", &[]), "compose", "not valid YAML: ".into()),
        (req("okname4", "services:\n  web:\n    image: x\n    ports: [\"notaport\"]\n", &[]), "compose", "the compose tool refused the file: ".into()),
        (req("okname5", &big, &[]), "compose", format!("the compose file is {} bytes; the limit is 1048576", big.len())),
        (
            req("okname6", "services:\n  web:\n    image: x\n    volumes: [\"/etc:/host-etc\"]\n", &[]),
            "services.web.volumes[0]",
            "needs host access that was not granted: web can read and write /etc on the server".into(),
        ),
        (
            req("okname7", "services:\n  web:\n    image: x\n    volumes: [\"../../:/up\"]\n", &[]),
            "services.web.volumes[0]",
            format!("needs host access that was not granted: web can read and write {} on the server", env.agent.data.path().display()),
        ),
        (
            req("okname8", "services:\n  web:\n    image: x\n    volumes:\n      - type: bind\n        source: /var/run/docker.sock\n        target: /s\n", &[]),
            "services.web.volumes[0]",
            "needs host access that was not granted: web controls Docker through /var/run/docker.sock, which is root on the server".into(),
        ),
    ];
    for (r, field, message) in cases {
        let name = r.name.clone();
        match c.call(&r).await {
            Err(ClientError::Api(p)) => {
                assert_eq!(
                    (p.status, p.code),
                    (400, ProblemCode::InvalidInput),
                    "{name}: {p:?}"
                );
                assert_eq!(
                    p.errors
                        .iter()
                        .map(|e| e.field.as_str())
                        .collect::<Vec<_>>(),
                    [field],
                    "{name}: {p:?}"
                );
                assert!(
                    p.errors[0].message.starts_with(&message),
                    "{name}: {:?} does not start with {message:?}",
                    p.errors[0].message
                );
            }
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
    }
    // Nothing was written, queued or started.
    let apps_dir = env.agent.data.path().join("apps");
    let left: Vec<_> = std::fs::read_dir(&apps_dir)
        .expect("apps dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "files left in {}: {left:?}",
        apps_dir.display()
    );
    assert!(
        !env.agent.data.path().join("x").exists()
            && !env
                .agent
                .data
                .path()
                .parent()
                .expect("parent")
                .join("x")
                .exists()
    );
    assert!(c
        .call(&ListDeployments { app: None })
        .await
        .expect("deployments")
        .is_empty());
    let apps = c.call(&ListApps {}).await.expect("apps");
    assert!(
        !apps.iter().any(|a| a.name.starts_with("okname")),
        "no container was created"
    );
    // A malformed body is a 400 naming what is wrong.
    for (body, field, message) in [
        (&b"{not json"[..], "body", "key must be a string"),
        (
            &b"{\"name\": 3}"[..],
            "name",
            "invalid type: integer `3`, expected app names match ^[a-z0-9][a-z0-9_-]{0,62}$",
        ),
        (
            &b"{\"name\": \"ok\"} trailing"[..],
            "body",
            "trailing characters",
        ),
    ] {
        let r = c
            .request_raw(http::Method::POST, "/v1/apps/deploy", Some(body.to_vec()))
            .await
            .expect("request");
        let p: Problem = serde_json::from_slice(&r.body).expect("a problem JSON body");
        assert_eq!(
            (r.status.as_u16(), p.code),
            (400, ProblemCode::InvalidInput)
        );
        assert_eq!(
            p.errors,
            [FieldError::new(field, message)],
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // A body over the limit is a 413, read by a client still writing: the
    // agent reads and discards the rest (up to 64 MiB) while it answers,
    // instead of closing on unread data and breaking the client's write.
    // Half again the limit is far more than the socket buffers hold.
    let huge = format!(
        "{{\"name\": \"x\", \"compose\": \"{}\"}}",
        "x".repeat(24 << 20)
    );
    let r = c
        .request_raw(
            http::Method::POST,
            "/v1/apps/deploy",
            Some(huge.into_bytes()),
        )
        .await
        .expect("request");
    let p: Problem = serde_json::from_slice(&r.body).expect("a problem JSON body");
    assert_eq!(
        (r.status.as_u16(), p.code, p.detail.as_deref()),
        (
            413,
            ProblemCode::TooLarge,
            Some("request bodies are limited to 16 MiB")
        )
    );
    // The same on a bare socket, without the race a client library may win
    // or lose: the 413 comes before any of the body is sent, then every byte
    // of the body is still taken, and the connection serves the next request.
    let len = 24usize << 20;
    let mut s = tokio::net::UnixStream::connect(env.agent.socket())
        .await
        .expect("connect");
    let head = format!("POST /v1/apps/deploy HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n", env.token);
    s.write_all(head.as_bytes()).await.expect("head");
    let (status, body) = read_answer(&mut s).await;
    let p: Problem = serde_json::from_slice(&body).expect("a problem JSON body");
    assert_eq!(
        (status, p.code, p.detail.as_deref()),
        (
            413,
            ProblemCode::TooLarge,
            Some("request bodies are limited to 16 MiB")
        )
    );
    let chunk = vec![b'x'; 1 << 20];
    for i in 0..len / chunk.len() {
        s.write_all(&chunk)
            .await
            .unwrap_or_else(|e| panic!("writing MiB {i} of the refused body: {e}"));
    }
    s.write_all(
        format!(
            "GET /v1/apps HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {}\r\n\r\n",
            env.token
        )
        .as_bytes(),
    )
    .await
    .expect("next request");
    let (status, body) = read_answer(&mut s).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // A chunked body that says nothing of its length is refused once it
    // passes the limit, and still read to its end.
    let mut s = tokio::net::UnixStream::connect(env.agent.socket())
        .await
        .expect("connect");
    let head = format!("POST /v1/apps/deploy HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", env.token);
    s.write_all(head.as_bytes()).await.expect("head");
    for i in 0..20 {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .expect("chunk size");
        s.write_all(&chunk)
            .await
            .unwrap_or_else(|e| panic!("writing MiB {i} of the chunked body: {e}"));
        s.write_all(b"\r\n").await.expect("chunk end");
    }
    s.write_all(b"0\r\n\r\n").await.expect("last chunk");
    let (status, body) = read_answer(&mut s).await;
    let p: Problem = serde_json::from_slice(&body).expect("a problem JSON body");
    assert_eq!(
        (status, p.code, p.detail.as_deref()),
        (
            413,
            ProblemCode::TooLarge,
            Some("request bodies are limited to 16 MiB")
        )
    );
}

/// The status and body of one HTTP/1.1 answer with a Content-Length, read
/// off a bare socket within 10 s.
async fn read_answer(s: &mut tokio::net::UnixStream) -> (u16, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(10), read_answer_now(s))
        .await
        .expect("no answer within 10 s")
}

async fn read_answer_now(s: &mut tokio::net::UnixStream) -> (u16, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).await.expect("read head"),
            1,
            "closed in the head: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).expect("head");
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().expect("length"))
        })
        .unwrap_or_else(|| panic!("no content-length: {head}"));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.expect("read body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head}"));
    (status, body)
}

/// SIGKILL the agent at random moments while 20 deployments are accepted and
/// run, restart it each time: every deployment ends succeeded, none is lost
/// or stays queued or running, no app has duplicate containers, and the
/// steps of interrupted attempts end as interrupted. The moments come from a
/// seed that the test prints; `APPOS_TEST_SEED=N` replays a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_survive_agent_crashes() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let mut rng = Seeded::from_env();
    eprintln!(
        "crash moments from seed {} (APPOS_TEST_SEED={} replays them)",
        rng.seed, rng.seed
    );
    // A short lease, so that tasks of a killed agent are taken again quickly.
    let mut agent =
        support::Agent::start_env(&[], &[("APPOS_TASK_LEASE_SECS", "3")]).expect("agent");
    let token = agent.issue_token("t", "admin").expect("token");
    let c = Client::new(Transport::Unix(agent.socket()), Some(token));
    let prefix = support::unique("crash");
    let names: Vec<String> = (0..20).map(|i| format!("{prefix}-{i:02}")).collect();
    let _projects: Vec<Project> = names
        .iter()
        .map(|n| Project {
            name: n.clone(),
            dir: agent.data.path().join("apps").join(n),
        })
        .collect();
    let crash_points = [rng.below(20), rng.below(20), rng.below(20)];

    for (i, name) in names.iter().enumerate() {
        let req = DeployRequest {
            name: AppName::parse(name).expect("name"),
            compose: support::two_service_compose(),
            env: BTreeMap::new(),
            message: None,
            catalog: None,
            files: Vec::new(),
            allow_host_access: Vec::new(),
        };
        // A request cut by a crash is sent again; if the first one went
        // through, the second one says the app exists.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match c.call(&req).await {
                Ok(_) => break,
                Err(ClientError::Api(p)) if p.code == ProblemCode::AppExists => break,
                Err(e) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "{name}: {e} (seed {})",
                        rng.seed
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        for _ in crash_points.iter().filter(|p| **p as usize == i) {
            tokio::time::sleep(Duration::from_millis(rng.below(800) as u64)).await;
            agent.crash_and_restart().expect("restart");
        }
    }
    // One more crash while they run.
    tokio::time::sleep(Duration::from_millis(rng.below(1500) as u64)).await;
    agent.crash_and_restart().expect("restart");

    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let finals = loop {
        let ds = match c.call(&ListDeployments { app: None }).await {
            Ok(ds) => ds,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let ours: Vec<_> = ds
            .into_iter()
            .filter(|d| d.app.starts_with(&prefix))
            .collect();
        if ours.iter().all(|d| d.state.is_terminal()) && ours.len() >= names.len() {
            break ours;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deployments still unfinished (seed {}): {:?}\n{}",
            rng.seed,
            ours.iter()
                .filter(|d| !d.state.is_terminal())
                .map(|d| (&d.app, d.state))
                .collect::<Vec<_>>(),
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };

    // Exactly one deployment per app, every one succeeded.
    let mut per_app: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &finals {
        *per_app.entry(d.app.as_str()).or_default() += 1;
        assert_eq!(
            d.state,
            DeploymentState::Succeeded,
            "{} (seed {}): {:?}",
            d.app,
            rng.seed,
            d.error
        );
        // Steps of an attempt that a crash cut end as interrupted, saying why; none stays running.
        for s in &d.steps {
            assert_ne!(s.state, StepState::Running, "{}: {s:?}", d.app);
            if s.state == StepState::Interrupted {
                assert!(
                    s.detail
                        .starts_with("interrupted: the agent stopped while this step ran"),
                    "{s:?}"
                );
            }
        }
    }
    assert_eq!(
        per_app.len(),
        names.len(),
        "one deployment per app: {per_app:?}"
    );
    assert!(per_app.values().all(|n| *n == 1), "{per_app:?}");
    let interrupted: usize = finals
        .iter()
        .map(|d| {
            d.steps
                .iter()
                .filter(|s| s.state == StepState::Interrupted)
                .count()
        })
        .sum();
    eprintln!(
        "{} deployments succeeded across 4 crashes; {interrupted} steps were interrupted",
        finals.len()
    );

    // No duplicate containers: each app has exactly its two services, running.
    let apps = c.call(&ListApps {}).await.expect("apps");
    for a in apps.iter().filter(|a| a.name.starts_with(&prefix)) {
        let n: usize = a.services.iter().map(|s| s.containers.len()).sum();
        assert_eq!(
            (n, a.state),
            (2, appos_proto::AppState::Running),
            "{}",
            a.name
        );
    }
}

/// Random numbers from a seed (xorshift): the seed is printed so that a run can be replayed.
struct Seeded {
    seed: u64,
    state: u64,
}

impl Seeded {
    fn from_env() -> Seeded {
        let seed = std::env::var("APPOS_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(7)
            });
        Seeded {
            seed,
            state: seed | 1,
        }
    }

    fn below(&mut self, n: u32) -> u32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % u64::from(n)) as u32
    }
}

fn worker_cmd(project: &str) -> String {
    service_cmd(project, Some("worker"))
}

/// The commands of a project's running containers (of one service, if given).
fn service_cmd(project: &str, service: Option<&str>) -> String {
    let mut filters = vec![format!("label=com.docker.compose.project={project}")];
    filters.extend(service.map(|s| format!("label=com.docker.compose.service={s}")));
    let o = Command::new(support::docker_cli())
        .arg("ps")
        .args(filters.iter().flat_map(|f| ["--filter", f.as_str()]))
        .args(["--format", "{{.Command}}", "--no-trunc"])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Versions, diff, a new version deployed, a rollback as a new version, and
/// an edit through $EDITOR, against the containers that actually run.
#[test]
fn history_diff_and_rollback() {
    let Some(env) = Env::start() else { return };
    let name = support::unique("hist");
    let _p = env.project(&name);
    let files = tempfile::tempdir().expect("dir");
    let v1 = files.path().join("v1.yml");
    std::fs::write(&v1, support::two_service_compose()).expect("write");
    let v2 = files.path().join("v2.yml");
    std::fs::write(
        &v2,
        support::two_service_compose().replace("\"3600\"", "\"7200\""),
    )
    .expect("write");
    let (v1s, v2s) = (v1.display().to_string(), v2.display().to_string());

    let o = env.appos(&["deploy", "-f", &v1s, "--name", &name, "-m", "first"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(worker_cmd(&name).contains("3600"), "{}", worker_cmd(&name));

    let o = env.appos(&[
        "set-compose",
        &name,
        "-f",
        &v2s,
        "-m",
        "sleep longer",
        "--deploy",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        worker_cmd(&name).contains("7200"),
        "v2 runs: {}",
        worker_cmd(&name)
    );

    let o = env.appos(&["diff", &name, "1", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let d = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        d.contains("--- v1/compose.yml") && d.contains("+++ v2/compose.yml"),
        "{d}"
    );
    assert!(
        d.lines().any(|l| l.starts_with('-') && l.contains("3600"))
            && d.lines().any(|l| l.starts_with('+') && l.contains("7200")),
        "{d}"
    );

    let o = env.appos(&["rollback", &name, "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        worker_cmd(&name).contains("3600"),
        "rolled back: {}",
        worker_cmd(&name)
    );
    let o = env.appos(&["diff", &name, "1", "3"]);
    assert!(
        !String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")),
        "v3 is v1"
    );

    // An invalid new version is refused and adds nothing.
    let bad = files.path().join("bad.yml");
    std::fs::write(
        &bad,
        "services:\n  web:\n    image: x\n    volumes: [\"/:/host\"]\n",
    )
    .expect("write");
    let o = env.appos(&["set-compose", &name, "-f", &bad.display().to_string()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("services.web.volumes[0]"), "{}", text(&o));

    // $EDITOR is run as an argv, and what it saves becomes version 4.
    let o = support::appos(env.home.path())
        .args(["edit", &name, "-m", "via editor"])
        .env("EDITOR", "sed -i s/3600/1800/")
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", text(&o));

    let o = env.appos(&["history", &name, "--output", "json"]);
    let vs: Vec<appos_proto::AppVersion> = serde_json::from_slice(&o.stdout).expect("json");
    let summary: Vec<(u32, &str)> = vs.iter().map(|v| (v.version, v.message.as_str())).collect();
    assert_eq!(
        summary,
        [
            (4, "via editor"),
            (3, "rollback to version 1"),
            (2, "sleep longer"),
            (1, "first")
        ]
    );
    assert_eq!(vs[3].author, "deployer");
    assert!(
        !vs[3].digests.is_empty(),
        "deployed versions record their digests"
    );
    let o = env.appos(&["diff", &name, "3", "4"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("1800"));

    // A rollback pinned to digests runs exactly the images version 2 ran with.
    let o = env.appos(&["rollback", &name, "2", "--pin-digests"]);
    assert!(o.status.success(), "{}", text(&o));
    let pinned = &vs[2].digests["worker"];
    let o = env.appos(&["diff", &name, "2", "5"]);
    let d = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        d.lines()
            .any(|l| l.starts_with('+') && l.contains(&format!("image: {pinned}"))),
        "{d}"
    );
    assert!(
        worker_cmd(&name).contains("7200"),
        "v2's command runs: {}",
        worker_cmd(&name)
    );
    let image_id = Command::new(support::docker_cli())
        .args([
            "ps",
            "--filter",
            &format!("label=com.docker.compose.project={name}"),
            "--filter",
            "label=com.docker.compose.service=worker",
        ])
        .args(["--format", "{{.Image}}"])
        .output()
        .expect("docker ps");
    let running = String::from_utf8_lossy(&image_id.stdout).trim().to_string();
    assert!(
        pinned.contains(&running) || running.contains(pinned.as_str()),
        "runs {running}, pinned {pinned}"
    );

    // A version that never ran has no digests to pin to: refused, nothing saved.
    let o = env.appos(&["set-compose", &name, "-f", &v1s, "-m", "not deployed"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = env.appos(&["rollback", &name, "6", "--pin-digests"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no image digests"), "{}", text(&o));
    let o = env.appos(&["history", &name, "--output", "json"]);
    let vs: Vec<appos_proto::AppVersion> = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(vs[0].version, 6);
}

fn volume_exists(name: &str) -> bool {
    Command::new(support::docker_cli())
        .args(["volume", "inspect", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn app_state(env: &Env, name: &str) -> Option<appos_proto::AppState> {
    let o = env.appos(&["list", "--output", "json"]);
    let apps: Vec<appos_proto::App> = serde_json::from_slice(&o.stdout).expect("apps");
    apps.into_iter().find(|a| a.name == name).map(|a| a.state)
}

/// stop, start, restart, update and delete (keeping, then removing volumes),
/// each queued like a deployment and checked against Docker.
#[test]
fn lifecycle_actions() {
    let Some(env) = Env::start() else { return };
    let name = support::unique("life");
    let _p = env.project(&name);
    let files = tempfile::tempdir().expect("dir");
    let compose = files.path().join("compose.yml");
    let yaml = support::two_service_compose().replace(
        "    command: [\"/bin/busybox\", \"sleep\", \"3600\"]\n",
        "    command: [\"/bin/busybox\", \"sleep\", \"3600\"]\n    volumes: [\"data:/data\"]\n",
    ) + "volumes:\n  data: {}\n";
    std::fs::write(&compose, yaml).expect("write");
    let c = compose.display().to_string();
    let volume = format!("{name}_data");

    let o = env.appos(&["deploy", "-f", &c, "--name", &name]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(volume_exists(&volume));

    for (action, state) in [
        ("stop", appos_proto::AppState::Stopped),
        ("start", appos_proto::AppState::Running),
        ("restart", appos_proto::AppState::Running),
        ("update", appos_proto::AppState::Running),
    ] {
        let o = env.appos(&[action, &name]);
        assert!(o.status.success(), "{action}: {}", text(&o));
        assert_eq!(app_state(&env, &name), Some(state), "after {action}");
    }
    let o = env.appos(&["deployments", &name, "--output", "json"]);
    let ds: Vec<appos_proto::Deployment> = serde_json::from_slice(&o.stdout).expect("json");
    let ops: Vec<appos_proto::Operation> = ds.iter().rev().map(|d| d.operation).collect();
    use appos_proto::Operation::*;
    assert_eq!(ops, [Deploy, Stop, Start, Restart, Update]);

    // Delete keeps the data unless asked.
    let o = env.appos(&["delete", &name]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(app_state(&env, &name), None, "containers gone");
    assert!(volume_exists(&volume), "volumes are kept by default");
    assert!(
        !env.agent.data.path().join("apps").join(&name).exists(),
        "files gone"
    );
    let o = env.appos(&["history", &name]);
    assert!(
        !o.status.success() && text(&o).contains("No such app"),
        "{}",
        text(&o)
    );

    // The name is free again; this time the volume goes too.
    let o = env.appos(&["deploy", "-f", &c, "--name", &name]);
    assert!(o.status.success(), "{}", text(&o));
    let o = env.appos(&["delete", &name, "--volumes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!volume_exists(&volume), "volumes removed with --volumes");

    // Unknown actions and apps are refused.
    let o = env.appos(&["stop", "no-such-app"]);
    assert!(
        !o.status.success() && text(&o).contains("No such app"),
        "{}",
        text(&o)
    );
}

/// Logs of an app's containers: all, one service, tail, grep, bad input, follow.
#[test]
fn app_logs() {
    let Some(env) = Env::start() else { return };
    let name = support::unique("logs");
    let _p = env.project(&name);
    let files = tempfile::tempdir().expect("dir");
    let compose = files.path().join("compose.yml");
    std::fs::write(
        &compose,
        format!(
            "services:\n  printer:\n    image: {img}\n    command: [\"/bin/busybox\", \"sh\", \"-c\", \"for i in 1 2 3; do echo line-$$i; echo err-$$i >&2; done; exec /bin/busybox sleep 3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n  quiet:\n    image: {img}\n    command: [\"/bin/busybox\", \"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n",
            img = support::BUSYBOX_IMAGE,
            label = support::TEST_LABEL
        ),
    )
    .expect("write");
    let o = env.appos(&[
        "deploy",
        "-f",
        &compose.display().to_string(),
        "--name",
        &name,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    std::thread::sleep(Duration::from_millis(500));

    let o = env.appos(&["logs", &name, "--tail", "all"]);
    assert!(o.status.success(), "{}", text(&o));
    let all = String::from_utf8_lossy(&o.stdout).into_owned();
    for l in ["line-1", "line-3", "err-2"] {
        assert!(all.contains(&format!("printer      | {l}")), "{l} in {all}");
    }
    let o = env.appos(&["logs", &name, "--grep", "line-[23]", "--output", "json"]);
    let lines: Vec<appos_proto::AppLogLine> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let mut texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    texts.sort();
    assert_eq!(texts, ["line-2", "line-3"]);
    assert!(lines
        .iter()
        .all(|l| l.service == "printer" && l.stream == "stdout"));
    let o = env.appos(&[
        "logs",
        &name,
        "--service",
        "printer",
        "--grep",
        "^err",
        "--output",
        "json",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .all(|l| l.contains("\"stream\":\"stderr\"")),
        "{}",
        text(&o)
    );
    let o = env.appos(&["logs", &name, "--service", "printer", "--tail", "1"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        1,
        "{}",
        text(&o)
    );

    for (args, needle) in [
        (vec!["--grep", "("], "grep"),
        (vec!["--service", "nope"], "service"),
        (vec!["--tail", "lots"], "tail"),
        (vec!["--since", "5y"], "since"),
    ] {
        let mut a = vec!["logs", name.as_str()];
        a.extend(args.iter().copied());
        let o = env.appos(&a);
        assert!(
            !o.status.success() && text(&o).contains(needle),
            "{args:?}: {}",
            text(&o)
        );
    }

    // --follow keeps streaming until stopped.
    let mut child = support::appos(env.home.path())
        .args(["logs", &name, "-f", "--service", "printer"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "follow keeps running"
    );
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    assert!(String::from_utf8_lossy(&out.stdout).contains("line-1"));
}

/// Two deployments of one app queued at once run one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deploys_of_one_app_run_one_after_the_other() {
    let Some(env) = Env::start() else { return };
    let c = env.client();
    let name = support::unique("serial");
    let _p = env.project(&name);
    let app = AppName::parse(&name).expect("name");
    let req = DeployRequest {
        name: app.clone(),
        compose: support::two_service_compose(),
        env: BTreeMap::new(),
        message: None,
        catalog: None,
        files: Vec::new(),
        allow_host_access: Vec::new(),
    };
    let first = c.call(&req).await.expect("deploy");
    let again = RedeployApp { app };
    let (a, b) = tokio::join!(c.call(&again), c.call(&again));
    let ids = [
        first.deployment_id,
        a.expect("redeploy").deployment_id.expect("id"),
        b.expect("redeploy").deployment_id.expect("id"),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut done = Vec::new();
    for id in &ids {
        loop {
            let d = c
                .call(&GetDeployment { id: id.clone() })
                .await
                .expect("deployment");
            if d.state.is_terminal() {
                assert_eq!(d.state, DeploymentState::Succeeded, "{d:?}");
                done.push(d);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{id} did not finish");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Each ran after the previous one had finished: no two overlapped.
    let mut spans: Vec<(i64, i64)> = done
        .iter()
        .map(|d| {
            (
                d.steps.first().expect("steps").started_ms,
                d.finished_ms.expect("finished"),
            )
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "deployments overlapped: {spans:?}");
    }
}

/// The catalog: the shipped templates are listed and searchable; a custom
/// catalog directory adds a template that deploys for real, with typed
/// parameters and a generated secret shown once.
#[test]
fn deploy_from_the_catalog() {
    let catalog = tempfile::tempdir().expect("dir");
    std::fs::write(
        catalog.path().join("busyweb.toml"),
        format!(
            "id = \"busyweb\"\nname = \"Busy web\"\ndescription = \"A tiny web server for tests\"\ncategory = \"test\"\nwebsite = \"https://busybox.net\"\n\n\
             compose = \"\"\"\nservices:\n  web:\n    image: {img}\n    command: [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\"]\n    ports: [\"127.0.0.1:${{PORT}}:8080\"]\n    environment:\n      SECRET: ${{SECRET}}\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n\"\"\"\n\n\
             [[params]]\nkey = \"PORT\"\nlabel = \"Port\"\ntype = \"port\"\nrequired = true\n\n[[params]]\nkey = \"SECRET\"\nlabel = \"Secret\"\ntype = \"password\"\ngenerate = 16\n",
            img = support::BUSYBOX_IMAGE,
            label = support::TEST_LABEL
        ),
    )
    .expect("write template");
    let Some(env) = Env::start_env(&[("APPOS_CATALOG_DIR", &catalog.path().display().to_string())])
    else {
        return;
    };

    let o = env.appos(&["catalog"]);
    assert!(o.status.success(), "{}", text(&o));
    for id in ["wordpress", "gitea", "postgresql", "busyweb"] {
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(id),
            "{id} listed: {}",
            text(&o)
        );
    }
    let o = env.appos(&["catalog", "search", "database", "--output", "json"]);
    let found: Vec<appos_proto::CatalogEntry> = serde_json::from_slice(&o.stdout).expect("json");
    assert!(found.iter().any(|e| e.id == "postgresql") && !found.iter().any(|e| e.id == "busyweb"));

    let name = support::unique("cat");
    let _p = env.project(&name);
    // Bad parameters are refused with field errors.
    for (set, field) in [
        ("PORT=99999", "catalog.params.PORT"),
        ("NOPE=1", "catalog.params.NOPE"),
    ] {
        let o = env.appos(&["deploy", "busyweb", "--name", &name, "--set", set]);
        assert!(
            !o.status.success() && text(&o).contains(field),
            "{set}: {}",
            text(&o)
        );
    }
    let o = env.appos(&["deploy", "busyweb", "--name", &name]);
    assert!(
        !o.status.success() && text(&o).contains("Port is required"),
        "{}",
        text(&o)
    );
    let o = env.appos(&["deploy", "no-such-template", "--name", &name]);
    assert!(
        !o.status.success() && text(&o).contains("catalog.id"),
        "{}",
        text(&o)
    );

    let port = support::free_port().to_string();
    let o = env.appos(&[
        "deploy",
        "busyweb",
        "--name",
        &name,
        "--set",
        &format!("PORT={port}"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let shown = text(&o);
    let secret = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("SECRET="))
        .expect("the generated secret is shown once")
        .to_string();
    assert_eq!(secret.len(), 16);
    let dotenv =
        std::fs::read_to_string(env.agent.data.path().join("apps").join(&name).join(".env"))
            .expect(".env");
    assert!(
        dotenv.contains(&format!("SECRET='{secret}'"))
            && dotenv.contains(&format!("PORT='{port}'")),
        "{dotenv}"
    );
    assert_eq!(app_state(&env, &name), Some(appos_proto::AppState::Running));
    // The published port is the one asked for.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("port"))).is_ok()
    );
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(o.status.success(), "git {args:?}: {}", text(&o));
}

fn busybox_template(id: &str) -> String {
    format!(
        "id = \"{id}\"\nname = \"{id}\"\ndescription = \"From git\"\ncategory = \"test\"\nwebsite = \"https://busybox.net\"\n\n\
         compose = \"\"\"\nservices:\n  web:\n    image: {img}\n    command: [\"/bin/busybox\", \"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n\"\"\"\n",
        img = support::BUSYBOX_IMAGE,
        label = support::TEST_LABEL
    )
}

/// A catalog from a git repository: cloned at start, pulled again on
/// `appos catalog refresh` (new templates appear, broken ones are reported
/// and skipped), and an unreachable remote keeps the last good copy.
#[test]
fn catalog_from_a_git_repository() {
    let repo = tempfile::tempdir().expect("repo");
    git(repo.path(), &["init", "-q"]);
    std::fs::write(repo.path().join("gitone.toml"), busybox_template("gitone")).expect("write");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "one"]);
    let source = format!("{}#main", repo.path().display());
    let Some(env) = Env::start_env(&[("APPOS_CATALOG_GIT", &source)]) else {
        return;
    };

    // The first pull runs in the background at start.
    let mut listed = String::new();
    for _ in 0..100 {
        listed = String::from_utf8_lossy(&env.appos(&["catalog"]).stdout).into_owned();
        if listed.contains("gitone") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        listed.contains("gitone") && listed.contains("wordpress"),
        "{listed}"
    );

    std::fs::write(repo.path().join("gittwo.toml"), busybox_template("gittwo")).expect("write");
    std::fs::write(repo.path().join("broken.toml"), "id = \"Not Valid\"\n").expect("write");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "two"]);
    let o = env.appos(&["catalog", "refresh", "--output", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let r: appos_proto::CatalogRefreshed = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        r.git_error.is_none() && r.git_commit.as_deref().is_some_and(|c| c.len() == 40),
        "{r:?}"
    );
    assert!(r.skipped.iter().any(|s| s.contains("broken.toml")), "{r:?}");
    assert!(String::from_utf8_lossy(&env.appos(&["catalog"]).stdout).contains("gittwo"));

    let name = support::unique("gitcat");
    let _p = env.project(&name);
    let o = env.appos(&["deploy", "gittwo", "--name", &name]);
    assert!(o.status.success(), "{}", text(&o));

    // A template that now asks for host access is marked, and installing it
    // needs consent; one that uses access it does not declare is skipped.
    let grown = busybox_template("gitone").replace("compose = ", "host_access = [{kind = \"read_only_bind\", service = \"web\", target = \"/etc/hostname\"}]\ncompose = ").replace(
        "    stop_signal: SIGKILL\n",
        "    stop_signal: SIGKILL\n    volumes: [\"/etc/hostname:/etc/server-name:ro\"]\n",
    );
    std::fs::write(repo.path().join("gitone.toml"), grown).expect("write");
    std::fs::write(
        repo.path().join("sneaky.toml"),
        busybox_template("sneaky").replace("    stop_signal: SIGKILL\n", "    privileged: true\n"),
    )
    .expect("write");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "three"]);
    let o = env.appos(&["catalog", "refresh", "--output", "json"]);
    let r: appos_proto::CatalogRefreshed = serde_json::from_slice(&o.stdout).expect("json");
    let sneaky = r
        .skipped
        .iter()
        .find(|s| s.contains("sneaky.toml"))
        .expect("sneaky skipped");
    assert!(sneaky.ends_with("sneaky.toml: the compose file asks for host access the template does not declare: web runs privileged: it can do anything root can on the server"), "{sneaky}");
    let o = env.appos(&["catalog", "--output", "json"]);
    let entries: Vec<appos_proto::CatalogEntry> = serde_json::from_slice(&o.stdout).expect("json");
    let marks: Vec<(&str, usize, bool)> = entries
        .iter()
        .filter(|e| e.id == "gitone" || e.id == "gittwo")
        .map(|e| (e.id.as_str(), e.host_access.len(), e.host_access_grew))
        .collect();
    assert_eq!(marks, [("gitone", 1, true), ("gittwo", 0, false)]);
    let o = env.appos(&["catalog"]);
    assert!(
        text(&o).contains("gitone") && text(&o).contains("needs host access (more than before)"),
        "{}",
        text(&o)
    );
    let one = support::unique("gitone");
    let _p1 = env.project(&one);
    let o = env.appos(&["deploy", "gitone", "--name", &one]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("services.web.volumes[0]: needs host access that was not granted: web can read /etc/hostname on the server"), "{}", text(&o));
    let o = env.appos(&["deploy", "gitone", "--name", &one, "--allow-host-access"]);
    assert!(o.status.success(), "{}", text(&o));

    // The remote goes away: the refresh says so, the templates stay.
    drop(repo);
    let o = env.appos(&["catalog", "refresh"]);
    assert!(
        !o.status.success() && text(&o).contains("last good copy"),
        "{}",
        text(&o)
    );
    assert!(String::from_utf8_lossy(&env.appos(&["catalog"]).stdout).contains("gittwo"));
}

/// The event stream carries a deployment's progress and its containers'
/// Docker events, and a client resumes from the last id it saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_carries_progress_and_resumes() {
    let Some(env) = Env::start() else { return };
    let c = std::sync::Arc::new(env.client());
    let name = support::unique("ev");
    let _p = env.project(&name);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sub = {
        let c = c.clone();
        tokio::spawn(async move { c.events(0, move |e| tx.send(e).is_ok()).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let req = DeployRequest {
        name: AppName::parse(&name).expect("name"),
        compose: support::two_service_compose(),
        env: BTreeMap::new(),
        message: None,
        catalog: None,
        files: Vec::new(),
        allow_host_access: Vec::new(),
    };
    c.call(&req).await.expect("deploy");

    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (mut succeeded, mut started) = (false, 0);
    while !(succeeded && started >= 2) {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("events in time")
            .expect("stream open");
        if e.app.as_deref() == Some(name.as_str()) {
            succeeded |= e.kind == "deployment" && e.data["state"] == "succeeded";
            started += usize::from(e.kind == "container" && e.data["action"] == "start");
            seen.push(e);
        }
    }
    let states: Vec<String> = seen
        .iter()
        .filter(|e| e.kind == "deployment")
        .map(|e| e.data["state"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(states, ["queued", "running", "succeeded"], "{seen:#?}");
    assert!(seen
        .iter()
        .any(|e| e.kind == "deployment_step" && e.data["step"] == "up"));
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id), "ids grow");
    sub.abort();

    // Resuming after an id replays only what came later.
    let mid = seen[seen.len() / 2].id;
    let mut replay = Vec::new();
    let last = seen.last().expect("events").id;
    c.events(mid, |e| {
        let more = e.id < last;
        replay.push(e);
        more
    })
    .await
    .expect("resume");
    assert!(replay.iter().all(|e| e.id > mid), "only later events");
    assert!(replay.iter().any(|e| e.id == last));

    // after=-1: live events only, nothing stored is replayed.
    let live = {
        let c2 = env.client();
        tokio::spawn(async move {
            let mut first = None;
            let _ = tokio::time::timeout(
                Duration::from_secs(20),
                c2.events(-1, |e| {
                    first = Some(e.id);
                    false
                }),
            )
            .await;
            first
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let o = env.appos(&["restart", &name]);
    assert!(o.status.success(), "{}", text(&o));
    let first = live.await.expect("join").expect("a live event");
    assert!(
        first > last,
        "the first event after -1 is new: {first} vs {last}"
    );

    // No token, no events.
    let anon = Client::new(Transport::Unix(env.agent.socket()), None);
    let err = anon.events(0, |_| true).await.expect_err("refused");
    assert_eq!(err.class(), appos_proto::ErrorClass::Unauthorized, "{err}");
}

/// A stack started with the compose tool by hand, with a relative and an
/// absolute bind mount and a `.env`, becomes an app without restarting; it
/// keeps its own mounts, may not add new ones outside its directory, and
/// AppOS's actions then work on it.
#[test]
fn adopt_a_stack_started_by_hand() {
    let Some(env) = Env::start() else { return };
    let name = support::unique("adopt");
    let stack = tempfile::tempdir().expect("stack dir");
    let outside = tempfile::tempdir().expect("outside dir");
    std::fs::create_dir(stack.path().join("html")).expect("mkdir");
    let compose = format!(
        "services:\n  web:\n    image: {img}\n    command: [\"/bin/busybox\", \"sleep\", \"${{NAP}}\"]\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n    volumes:\n      - ./html:/html\n      - {outside}:/outside\n",
        img = support::BUSYBOX_IMAGE,
        label = support::TEST_LABEL,
        outside = outside.path().display()
    );
    std::fs::write(stack.path().join("docker-compose.yml"), &compose).expect("write");
    std::fs::write(stack.path().join(".env"), "NAP=3600\n").expect("write");
    let cmd = support::compose_cmd();
    let up = Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(["-p", &name, "up", "-d"])
        .current_dir(stack.path())
        .output()
        .expect("compose up");
    assert!(up.status.success(), "{}", text(&up));
    let _p = env.project(&name);
    let container_id = |env: &Env| -> String {
        let o = env.appos(&["list", "--output", "json"]);
        let apps: Vec<appos_proto::App> = serde_json::from_slice(&o.stdout).expect("apps");
        let app = apps.into_iter().find(|a| a.name == name).expect("listed");
        app.services[0].containers[0].id.clone()
    };
    let before = container_id(&env);

    // Hostile and unknown names are refused.
    let o = env.appos(&["adopt", "../etc"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "invalid value '../etc' for '<PROJECT>': app names match ^[a-z0-9][a-z0-9_-]{0,62}$"
        ),
        "{}",
        text(&o)
    );
    let o = env.appos(&["adopt", "no-such-project-here"]);
    assert!(
        !o.status.success() && text(&o).contains("No such compose project"),
        "{}",
        text(&o)
    );

    let o = env.appos(&["adopt", &name]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(container_id(&env), before, "adopting restarts nothing");
    let o = env.appos(&["adopt", &name]);
    assert!(
        !o.status.success() && text(&o).contains("already manages"),
        "{}",
        text(&o)
    );

    let o = env.appos(&["history", &name, "--output", "json"]);
    let vs: Vec<appos_proto::AppVersion> = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(vs.len(), 1);
    assert!(
        vs[0].message.starts_with("adopted from "),
        "{}",
        vs[0].message
    );
    assert!(!vs[0].digests.is_empty(), "the images it runs are recorded");
    // Its mounts outside the app's directory are recorded as granted.
    let bind = |p: &Path| {
        appos_proto::HostAccess::new(
            appos_proto::HostAccessKind::Bind,
            "web",
            p.display().to_string(),
        )
    };
    let mut held = vec![bind(&stack.path().join("html")), bind(outside.path())];
    held.sort();
    assert_eq!(vs[0].host_access, held);
    let app_dir = env.agent.data.path().join("apps").join(&name);
    let saved = std::fs::read_to_string(app_dir.join("compose.yml")).expect("compose.yml");
    assert!(
        saved.contains("${NAP}"),
        "variables stay variables: {saved}"
    );
    assert!(
        saved.contains(&format!("{}/html:/html", stack.path().display())),
        "relative mounts point at the stack's directory: {saved}"
    );
    assert_eq!(
        std::fs::read_to_string(app_dir.join(".env")).expect(".env"),
        "NAP='3600'\n"
    );

    // A new version may keep the stack's own mounts…
    let v2 = stack.path().join("v2.yml");
    std::fs::write(&v2, saved.replace("${NAP}", "'7200'")).expect("write");
    let o = env.appos(&[
        "set-compose",
        &name,
        "-f",
        &v2.display().to_string(),
        "-m",
        "longer",
        "--deploy",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        service_cmd(&name, None).contains("7200"),
        "{}",
        service_cmd(&name, None)
    );
    // …but not add one outside its directory.
    let bad = stack.path().join("bad.yml");
    std::fs::write(
        &bad,
        saved.replace("- ./html:/html", "- /etc:/host-etc").replace(
            &format!("{}/html:/html", stack.path().display()),
            "/etc:/host-etc",
        ),
    )
    .expect("write");
    let o = env.appos(&["set-compose", &name, "-f", &bad.display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("services.web.volumes[0]: needs host access that was not granted: web can read and write /etc on the server\nappos: run it again with --allow-host-access"),
        "{}",
        text(&o)
    );

    let o = env.appos(&["restart", &name]);
    assert!(o.status.success(), "{}", text(&o));
}

/// An image that is not on the server is pulled from a real registry, and
/// the pull step logs each layer's progress in the format front ends draw
/// bars from; the image's digest is recorded from the registry.
#[test]
fn pulling_logs_per_layer_progress() {
    let Some(env) = Env::start() else { return };
    let Some(registry) = support::require("docker-registry", support::Registry::start()) else {
        return;
    };
    let image = registry.push_unique_image(3 << 20).expect("push");
    let name = support::unique("pull");
    let _p = env.project(&name);
    let file = env.home.path().join("pull.yml");
    std::fs::write(
        &file,
        format!("services:\n  app:\n    image: {image}\n    command: [\"/bin/sleep\", \"3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{}=1\"]\n", support::TEST_LABEL),
    )
    .expect("write");
    let o = env.appos(&[
        "deploy",
        "-f",
        &file.display().to_string(),
        "--name",
        &name,
        "--output",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let d: appos_proto::Deployment = serde_json::from_slice(&o.stdout).expect("json");
    let pull = d
        .steps
        .iter()
        .find(|s| s.name == "pull")
        .expect("pull step");
    assert_eq!(
        (pull.state, pull.detail.as_str()),
        (StepState::Succeeded, "0 present, 1 pulled")
    );

    let rt = tokio::runtime::Runtime::new().expect("rt");
    let mut lines = Vec::new();
    rt.block_on(env.client().stream(
        &appos_proto::calls::FollowDeploymentLog { id: d.id.clone() },
        |l| lines.push(l),
    ))
    .expect("log");
    let layers: Vec<appos_proto::PullProgress> = lines
        .iter()
        .filter(|l| l.step == "pull")
        .filter_map(|l| l.pull.clone())
        .filter(|p| p.is_layer())
        .collect();
    // The typed progress and the line's text say the same.
    for l in lines.iter().filter(|l| l.pull.is_some()) {
        assert_eq!(
            l.pull.as_ref().map(|p| p.line()).as_deref(),
            Some(l.text.as_str())
        );
    }
    let downloading: Vec<&appos_proto::PullProgress> = layers
        .iter()
        .filter(|p| p.status == "Downloading" && p.total > 0)
        .collect();
    assert!(
        !downloading.is_empty(),
        "download progress with sizes: {lines:?}"
    );
    assert!(
        downloading
            .iter()
            .all(|p| p.current <= p.total && p.total > 3_000_000),
        "{downloading:?}"
    );
    assert!(
        layers.iter().any(|p| p.status == "Pull complete"),
        "{layers:?}"
    );
    // A line per tenth of progress at most, not one per tick.
    assert!(
        downloading.len()
            <= 11
                * layers
                    .iter()
                    .map(|p| &p.layer)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
        "{}",
        downloading.len()
    );

    let o = env.appos(&["history", &name, "--output", "json"]);
    let vs: Vec<appos_proto::AppVersion> = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        vs[0].digests["app"].contains("@sha256:"),
        "a registry digest: {:?}",
        vs[0].digests
    );
}

/// Cancelling a deployment whose `up` is still running ends it at once and
/// kills the compose process (with the warm docker-compose: the forked child).
#[test]
fn cancelling_a_running_up_kills_the_compose_process() {
    let Some(env) = Env::start() else { return };
    let name = support::unique("cancel");
    let _p = env.project(&name);
    let file = env.home.path().join("slow.yml");
    std::fs::write(
        &file,
        format!(
            "services:\n  dep:\n    image: {img}\n    command: [\"/bin/sleep\", \"3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n    healthcheck:\n      test: [\"CMD\", \"/bin/false\"]\n      interval: 1s\n      retries: 1000\n  app:\n    image: {img}\n    command: [\"/bin/sleep\", \"3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n    depends_on:\n      dep:\n        condition: service_healthy\n",
            img = support::BUSYBOX_IMAGE,
            label = support::TEST_LABEL
        ),
    )
    .expect("write");
    let o = env.appos(&[
        "deploy",
        "-f",
        &file.display().to_string(),
        "--name",
        &name,
        "--detach",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let c = env.client();
    // `up` waits for a dependency that never becomes healthy.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let d = rt
            .block_on(c.call(&GetDeployment { id: id.clone() }))
            .expect("deployment");
        if d.steps
            .iter()
            .any(|s| s.name == "up" && s.state == StepState::Running)
        {
            break;
        }
        assert!(!d.state.is_terminal(), "ended before up: {d:?}");
        assert!(std::time::Instant::now() < deadline, "up never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let compose_children = || -> Vec<String> {
        // The agent's compose processes: its children, and their children (the warm process forks).
        let agent = env.agent.pid().to_string();
        let kids = Command::new("pgrep")
            .args(["-P", &agent])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut all: Vec<String> = Vec::new();
        for k in kids.split_whitespace() {
            let grand = Command::new("pgrep")
                .args(["-P", k])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            all.extend(grand.split_whitespace().map(str::to_string));
            // A compose run of its own (not the warm process, whose argv is `python3 -c SCRIPT`).
            let cmdline = std::fs::read_to_string(format!("/proc/{k}/cmdline")).unwrap_or_default();
            if cmdline
                .split('\0')
                .any(|a| a.ends_with("docker-compose") || a == "compose")
            {
                all.push(k.to_string());
            }
        }
        all
    };
    assert!(
        !compose_children().is_empty(),
        "a compose process runs `up`"
    );
    let o = env.appos(&["cancel", &id]);
    assert!(o.status.success(), "{}", text(&o));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let d = rt
            .block_on(c.call(&GetDeployment { id: id.clone() }))
            .expect("deployment");
        if d.state == DeploymentState::Cancelled && compose_children().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {:?} with compose processes {:?}",
            d.state,
            compose_children()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET `path` from a loopback port; the body.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("send");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or(out)
}

/// The loopback port a project's service publishes for `inner`.
fn published_port(project: &str, inner: u16) -> u16 {
    let id = String::from_utf8_lossy(
        &Command::new(support::docker_cli())
            .args([
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.compose.project={project}"),
            ])
            .output()
            .expect("ps")
            .stdout,
    )
    .trim()
    .to_string();
    let o = Command::new(support::docker_cli())
        .args(["port", &id, &inner.to_string()])
        .output()
        .expect("docker port");
    let line = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    line.rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no published port: {line:?} {}", text(&o)))
}

/// A project folder deploys from the CLI as `docker compose up` would run
/// it: the bind-mounted config file, the env_file and the build context
/// (less its .dockerignore) go with the compose file; the image is built on
/// the server with its log streamed; the files are versioned, so a new
/// version and a rollback serve the content each version had.
#[test]
fn a_project_folder_deploys_with_its_files_and_build() {
    let Some(env) = Env::start() else { return };
    let name = support::unique("folder");
    let _p = env.project(&name);
    let dir = tempfile::tempdir().expect("project");
    let put = |rel: &str, content: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    };
    put(
        "compose.yml",
        &format!(
            "services:\n  web:\n    build: ./web\n    command: [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n    ports: [\"127.0.0.1::8080\"]\n    volumes: [\"./site/index.html:/www/index.html:ro\"]\n    env_file: [./web.env]\n    stop_signal: SIGKILL\n    labels: [\"{}=1\"]\n",
            support::TEST_LABEL
        ),
    );
    put("site/index.html", "hello from the folder, version one\n");
    put("web.env", "GREETING=from-the-env-file\n");
    put(
        "web/Dockerfile",
        &format!(
            "FROM {}\nCOPY . /ctx/\nRUN mkdir -p /www && cp /ctx/banner.txt /www/banner.txt\n",
            support::BUSYBOX_IMAGE
        ),
    );
    put("web/banner.txt", "built on the server\n");
    put("web/.dockerignore", "secret.key\n");
    put("web/secret.key", "never sent\n");
    put("notes.txt", "not referenced, not sent\n");
    let compose = dir.path().join("compose.yml").display().to_string();

    let o = env.appos(&["deploy", "-f", &compose, "--name", &name]);
    assert!(
        o.status.success(),
        "{}\nagent log:\n{}",
        text(&o),
        env.agent.log()
    );
    assert!(
        text(&o).contains("Step 1/3 : FROM appos-test/busybox:latest"),
        "the build log is streamed: {}",
        text(&o)
    );
    let port = published_port(&name, 8080);
    assert_eq!(
        http_get(port, "/index.html"),
        "hello from the folder, version one\n"
    );
    assert_eq!(http_get(port, "/banner.txt"), "built on the server\n");
    let id = String::from_utf8_lossy(
        &Command::new(support::docker_cli())
            .args([
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.compose.project={name}"),
            ])
            .output()
            .expect("ps")
            .stdout,
    )
    .trim()
    .to_string();
    let inside = |args: &[&str]| {
        String::from_utf8_lossy(
            &Command::new(support::docker_cli())
                .arg("exec")
                .arg(&id)
                .args(args)
                .output()
                .expect("exec")
                .stdout,
        )
        .into_owned()
    };
    assert!(inside(&["env"]).contains("GREETING=from-the-env-file"));
    assert_eq!(
        inside(&["ls", "/ctx"]),
        "Dockerfile\nbanner.txt\n",
        "the .dockerignore left secret.key out"
    );
    let app_dir = env.agent.data.path().join("apps").join(&name);
    assert!(!app_dir.join("notes.txt").exists() && !app_dir.join("web/secret.key").exists());

    // A new version from the folder carries its files; a rollback brings back the old ones.
    put("site/index.html", "version two\n");
    let o = env.appos(&[
        "set-compose",
        &name,
        "-f",
        &compose,
        "-m",
        "new page",
        "--deploy",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let port = published_port(&name, 8080);
    assert_eq!(http_get(port, "/index.html"), "version two\n");
    let o = env.appos(&["rollback", &name, "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let port = published_port(&name, 8080);
    assert_eq!(
        http_get(port, "/index.html"),
        "hello from the folder, version one\n"
    );

    // A missing file is named before anything is sent.
    std::fs::remove_file(dir.path().join("web.env")).expect("rm");
    let o = env.appos(&["set-compose", &name, "-f", &compose]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o),
        format!(
            "appos: ./web.env (services.web.env_file) does not exist in {}\n",
            dir.path().display()
        )
    );
}

/// The apps list follows Docker's events for containers changed outside
/// AppOS: once the event for a change reaches a client, a listing shows it.
/// The same with the inventory off (every listing asks Docker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_list_is_never_behind_the_event_stream() {
    for inventory in ["on", "off"] {
        let Some(env) = Env::start_env(&[("APPOS_INVENTORY", inventory)]) else {
            return;
        };
        let c = std::sync::Arc::new(env.client());
        let name = support::unique("inv");
        let _p = env.project(&name);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sub = {
            let c = c.clone();
            tokio::spawn(async move { c.events(-1, move |e| tx.send(e).is_ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let docker = |args: &[&str]| {
            let o = Command::new(support::docker_cli())
                .args(args)
                .output()
                .expect("docker");
            assert!(o.status.success(), "docker {args:?}: {}", text(&o));
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let listed = || async {
            c.call(&ListApps {})
                .await
                .expect("apps")
                .into_iter()
                .find(|a| a.name == name)
                .map(|a| {
                    let states: Vec<String> = a
                        .services
                        .iter()
                        .flat_map(|s| s.containers.iter().map(|c| c.state.clone()))
                        .collect();
                    (a.state, states)
                })
        };
        assert_eq!(listed().await, None, "inventory {inventory}");

        let id = docker(&[
            "run",
            "-d",
            "--label",
            &format!("{}=1", support::TEST_LABEL),
            "--label",
            &format!("com.docker.compose.project={name}"),
            "--label",
            "com.docker.compose.service=web",
            "--name",
            &format!("{name}-web-1"),
            support::BUSYBOX_IMAGE,
            "/bin/busybox",
            "sleep",
            "3600",
        ]);
        container_event(&mut rx, &name, "start").await;
        assert_eq!(
            listed().await,
            Some((appos_proto::AppState::Running, vec!["running".to_string()])),
            "inventory {inventory}"
        );

        docker(&["stop", "-t", "0", &id]);
        container_event(&mut rx, &name, "die").await;
        assert_eq!(
            listed().await,
            Some((appos_proto::AppState::Stopped, vec!["exited".to_string()])),
            "inventory {inventory}"
        );

        docker(&["rm", &id]);
        container_event(&mut rx, &name, "destroy").await;
        assert_eq!(listed().await, None, "inventory {inventory}");
        sub.abort();
    }
}

/// Waits (30 s at most) for Docker's `action` on a container of `app` in the event stream.
async fn container_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<appos_proto::Event>,
    app: &str,
    action: &str,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {action} event"))
            .expect("stream open");
        if e.app.as_deref() == Some(app) && e.kind == "container" && e.data["action"] == action {
            return;
        }
    }
}

/// A real Prometheus scrapes the agent's `/v1/metrics` with a read-scope
/// token over the loopback listener, and `/metrics` on the tokenless
/// loopback metrics listener: after two deployments, its queries give two
/// succeeded deployments (from both) and two succeeded deploy tasks, and
/// the apps' running containers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_agent() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let Some(prometheus) = support::require("prometheus", support::which("prometheus")) else {
        return;
    };
    let port = support::free_port();
    let local = support::free_port();
    let agent = support::Agent::start_with(&[
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--metrics-listen",
        &format!("127.0.0.1:{local}"),
    ])
    .expect("agent");
    let admin = Client::new(
        Transport::Unix(agent.socket()),
        Some(agent.issue_token("admin", "admin").expect("token")),
    );
    let scraper = agent.issue_token("prometheus", "read").expect("token");

    let names = [support::unique("prom"), support::unique("prom")];
    let _projects: Vec<Project> = names
        .iter()
        .map(|n| Project {
            name: n.clone(),
            dir: agent.data.path().join("apps").join(n),
        })
        .collect();
    for name in &names {
        let req = DeployRequest {
            name: AppName::parse(name).expect("name"),
            compose: support::two_service_compose(),
            env: BTreeMap::new(),
            message: None,
            catalog: None,
            files: Vec::new(),
            allow_host_access: Vec::new(),
        };
        deploy_and_wait(&admin, &req).await;
    }

    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("token"), &scraper).expect("token file");
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: appos\n    metrics_path: /v1/metrics\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n  - job_name: appos-local\n    static_configs:\n      - targets: ['127.0.0.1:{local}']\n",
        dir.path().join("token").display()
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
    let web = support::free_port();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let _prom = Kill(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    );
    let query = |q: &str| -> Vec<(serde_json::Value, String)> {
        // Nothing yet while Prometheus starts.
        if std::net::TcpStream::connect(("127.0.0.1", web)).is_err() {
            return Vec::new();
        }
        let body = http_get(
            web,
            &format!("/api/v1/query?query={}", appos_proto::calls::encode(q)),
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|s| {
                        (
                            s["metric"].clone(),
                            s["value"][1].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while query("sum(up)").first().map(|(_, v)| v.as_str()) != Some("2") {
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus never scraped the agent: {}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let values = |q: &str| query(q).into_iter().map(|(_, v)| v).collect::<Vec<_>>();
    assert_eq!(
        values("appos_deployments{state=\"succeeded\"}"),
        ["2", "2"],
        "both jobs, the token's and the tokenless loopback listener's"
    );
    // The tokenless listener serves the metrics and nothing else.
    let body = http_get(local, "/v1/apps");
    assert!(body.contains("\"code\":\"not_found\""), "{body}");
    assert_eq!(
        values("appos_tasks_total{job=\"appos\",kind=\"deploy\",outcome=\"succeeded\"}"),
        ["2"]
    );
    for name in &names {
        assert_eq!(
            values(&format!(
                "appos_app_containers{{job=\"appos\",app=\"{name}\",state=\"running\"}}"
            )),
            ["2"],
            "{name}"
        );
    }
    assert_eq!(values("appos_build_info{job=\"appos\"}"), ["1"]);
    // The scrapes themselves are counted, under their route, as answered
    // (a scrape is counted once answered, so the next one shows it).
    let counted = |n: &str| n.parse::<u64>().is_ok_and(|n| n >= 1);
    while !values("appos_http_requests_total{route=\"/v1/metrics\",method=\"GET\",status=\"200\"}")
        .iter()
        .any(|n| counted(n))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "scrapes never counted: {:?}",
            query("appos_http_requests_total")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Each running container's CPU, memory and network, read from Docker's
/// stats streams: a service spinning a CPU shows most of one, an idle one
/// little; both show memory; the readings reach /v1/metrics; an unknown
/// app is a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_stats_per_container() {
    let Some(env) = Env::start() else { return };
    let c = env.client();
    let name = support::unique("stats");
    let _p = env.project(&name);
    let image = support::BUSYBOX_IMAGE;
    let label = support::TEST_LABEL;
    let compose = format!(
        "services:\n  busy:\n    image: {image}\n    command: [\"/bin/busybox\", \"sh\", \"-c\", \"while :; do :; done\"]\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n  idle:\n    image: {image}\n    command: [\"/bin/busybox\", \"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n"
    );
    let app = AppName::parse(&name).expect("name");
    let req = DeployRequest {
        name: app.clone(),
        compose,
        env: BTreeMap::new(),
        message: None,
        catalog: None,
        files: Vec::new(),
        allow_host_access: Vec::new(),
    };
    deploy_and_wait(&c, &req).await;
    // The streams start within seconds; a CPU reading needs two samples.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let stats = loop {
        let s = c
            .call(&GetAppStats { app: app.clone() })
            .await
            .expect("stats");
        let busy = s
            .containers
            .iter()
            .find(|x| x.service == "busy")
            .and_then(|x| x.latest.clone());
        if busy.is_some_and(|b| b.cpu_percent > 50.0)
            && s.containers.iter().all(|x| x.latest.is_some())
        {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no readings in time: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(stats.app, name);
    assert_eq!(
        stats
            .containers
            .iter()
            .map(|x| x.service.as_str())
            .collect::<Vec<_>>(),
        ["busy", "idle"]
    );
    let idle = stats.containers[1].latest.clone().expect("idle reading");
    assert!(idle.cpu_percent < 20.0, "an idle container: {idle:?}");
    for x in &stats.containers {
        let l = x.latest.as_ref().expect("reading");
        assert!(
            l.memory_bytes > 0 && l.memory_limit_bytes >= l.memory_bytes,
            "{x:?}"
        );
        assert!(!x.history.is_empty(), "{x:?}");
        // Compose v2 names it name-service-1, v1 name_service_1.
        assert!(
            [
                format!("{name}-{}-1", x.service),
                format!("{name}_{}_1", x.service)
            ]
            .contains(&x.name),
            "{x:?}"
        );
    }
    let metrics = c
        .call(&appos_proto::calls::GetMetrics {})
        .await
        .expect("metrics");
    let busy_name = &stats.containers[0].name;
    assert!(metrics.lines().any(|l| l.starts_with(&format!("appos_container_cpu_percent{{app=\"{name}\",service=\"busy\",container=\"{busy_name}\"}} "))), "{metrics}");

    // appos top, once: the busy container first, with its CPU.
    let o = env.appos(&["top", &name, "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows.iter().map(|r| r[1]).collect::<Vec<_>>(),
        ["busy", "idle"],
        "{out}"
    );
    assert!(
        rows[0][0] == name && rows[0][3].parse::<f64>().is_ok_and(|cpu| cpu > 50.0),
        "{out}"
    );
    let nope = AppName::parse("nope").expect("name");
    match c.call(&GetAppStats { app: nope }).await {
        Err(ClientError::Api(p)) => assert_eq!(
            (p.status, p.code, p.detail.as_deref()),
            (
                404,
                ProblemCode::AppNotFound,
                Some("no app or compose project is named \"nope\"")
            )
        ),
        other => panic!("expected a 404, got {other:?}"),
    }
}

/// Sends a deployment and waits (120 s at most) for it to end succeeded.
async fn deploy_and_wait(c: &Client, req: &DeployRequest) {
    let id = c.call(req).await.expect("deploy").deployment_id;
    succeeds(c, id).await;
}

/// Waits (120 s at most) for a deployment to end succeeded.
async fn succeeds(c: &Client, id: String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let d = c
            .call(&GetDeployment { id: id.clone() })
            .await
            .expect("deployment");
        if d.state.is_terminal() {
            assert_eq!(d.state, DeploymentState::Succeeded, "{d:?}");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{id} did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The problem a call was refused with: (status, code, detail, fields).
async fn refused<C: appos_proto::calls::Call>(
    c: &Client,
    call: &C,
) -> (u16, ProblemCode, String, Vec<(String, String)>)
where
    C::Response: std::fmt::Debug,
{
    match c.call(call).await {
        Err(ClientError::Api(p)) => (
            p.status,
            p.code,
            p.detail.clone().unwrap_or_default(),
            p.errors
                .iter()
                .map(|e| (e.field.clone(), e.message.clone()))
                .collect(),
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A service that exits in a loop raises the restart-loop alert: a webhook
/// and a real SMTP server (aiosmtpd) get it, and it resolves once a fixed
/// version runs. First the channels: a test message through each, a dead
/// one refused with the reason, bad input and weaker tokens refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loop_alerts_through_a_webhook_and_email_and_resolves() {
    use appos_proto::alerts::{AlertRule, AlertState, ChannelConfig, ChannelRequest, SmtpSecurity};
    use appos_proto::calls::{ListAlerts, ListChannels, RemoveChannel, SaveVersion, TestChannel};
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let Some(smtp) = support::require("aiosmtpd", support::SmtpSink::start()) else {
        return;
    };
    let (hook, received) = support::webhook_sink();
    let agent = support::Agent::start_env(&[], &[("APPOS_ALERT_CHECK_SECS", "1")]).expect("agent");
    let admin = Client::new(
        Transport::Unix(agent.socket()),
        Some(agent.issue_token("admin", "admin").expect("token")),
    );
    let deployer = Client::new(
        Transport::Unix(agent.socket()),
        Some(agent.issue_token("ci", "deploy").expect("token")),
    );

    let webhook = ChannelRequest {
        name: "hook".into(),
        config: ChannelConfig::Webhook {
            url: format!("http://127.0.0.1:{hook}/alerts"),
        },
    };
    let email = ChannelRequest {
        name: "mail".into(),
        config: ChannelConfig::Email {
            host: "127.0.0.1".into(),
            port: smtp.port,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "AppOS <appos@example.com>".into(),
            to: vec!["ops@example.com".into()],
        },
    };
    // Only an admin token adds channels.
    assert_eq!(
        refused(&deployer, &webhook).await,
        (
            403,
            ProblemCode::Forbidden,
            "only admin tokens may add alert channels".into(),
            vec![]
        )
    );
    admin.call(&webhook).await.expect("webhook channel");
    admin.call(&email).await.expect("email channel");
    assert_eq!(
        refused(&admin, &webhook).await,
        (
            409,
            ProblemCode::ChannelExists,
            "a channel named hook exists; remove it first".into(),
            vec![]
        )
    );
    let bad = ChannelRequest {
        name: "Bad Name".into(),
        config: ChannelConfig::Webhook {
            url: "ftp://x.example/".into(),
        },
    };
    assert_eq!(
        refused(&admin, &bad).await,
        (
            400,
            ProblemCode::InvalidInput,
            String::new(),
            vec![(
                "name".into(),
                "1 to 32 lower-case letters, digits and '-', not starting with '-'".into()
            )]
        )
    );
    let config = ChannelRequest {
        name: "config".into(),
        config: ChannelConfig::Webhook {
            url: "http://127.0.0.1:1/".into(),
        },
    };
    assert_eq!(
        refused(&admin, &config).await.3,
        vec![(
            "name".to_string(),
            "config is the channel APPOS_ALERT_WEBHOOK sets; choose another name".to_string()
        )]
    );
    let listed: Vec<(String, String, String)> = admin
        .call(&ListChannels {})
        .await
        .expect("channels")
        .into_iter()
        .map(|c| (c.name, c.kind, c.target))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "hook".into(),
                "webhook".into(),
                format!("http://127.0.0.1:{hook}/…")
            ),
            (
                "mail".into(),
                "email".into(),
                format!("ops@example.com via 127.0.0.1:{}", smtp.port)
            )
        ]
    );

    // A test message through each; a channel nobody listens on says why.
    admin
        .call(&TestChannel {
            name: "hook".into(),
        })
        .await
        .expect("test the webhook");
    let test: serde_json::Value = serde_json::from_str(
        &received
            .recv_timeout(Duration::from_secs(10))
            .expect("the test message"),
    )
    .expect("json");
    assert_eq!(
        test["alert"]["summary"], "a test message from AppOS, sent by admin to the channel hook",
        "{test}"
    );
    admin
        .call(&TestChannel {
            name: "mail".into(),
        })
        .await
        .expect("test the email");
    smtp.wait_for("the test message", |m| {
        m.contains("a test message from AppOS, sent by admin to the channel mail")
    });
    let dead = support::free_port();
    admin
        .call(&ChannelRequest {
            name: "dead".into(),
            config: ChannelConfig::Webhook {
                url: format!("http://127.0.0.1:{dead}/"),
            },
        })
        .await
        .expect("dead channel");
    assert_eq!(
        refused(&admin, &TestChannel { name: "dead".into() }).await,
        (502, ProblemCode::ChannelFailed, format!("the test message to dead did not get through: connecting to 127.0.0.1:{dead}: Connection refused (os error 111)"), vec![])
    );
    admin
        .call(&RemoveChannel {
            name: "dead".into(),
        })
        .await
        .expect("remove");
    assert_eq!(
        refused(
            &admin,
            &RemoveChannel {
                name: "dead".into()
            }
        )
        .await,
        (
            404,
            ProblemCode::ChannelNotFound,
            "no alert channel named dead".into(),
            vec![]
        )
    );

    // A service that exits every 4 s, restarted by Docker.
    let name = support::unique("loop");
    let _project = Project {
        name: name.clone(),
        dir: agent.data.path().join("apps").join(&name),
    };
    let compose = |command: &str| {
        format!(
            "services:\n  crash:\n    image: {}\n    command: [\"/bin/busybox\", \"sh\", \"-c\", \"{command}\"]\n    restart: always\n    stop_signal: SIGKILL\n    labels: [\"{}=1\"]\n",
            support::BUSYBOX_IMAGE,
            support::TEST_LABEL
        )
    };
    let app = AppName::parse(&name).expect("name");
    let req = DeployRequest {
        name: app.clone(),
        compose: compose("sleep 4; exit 3"),
        env: BTreeMap::new(),
        message: None,
        catalog: None,
        files: Vec::new(),
        allow_host_access: Vec::new(),
    };
    deploy_and_wait(&admin, &req).await;
    // Named as the compose tool names it (v1: app_crash_1, v2: app-crash-1).
    let shown = admin
        .call(&appos_proto::calls::GetApp { app: app.clone() })
        .await
        .expect("app");
    let container = shown.services[0].containers[0].name.clone();
    let ours = |body: &str| -> Option<serde_json::Value> {
        let n: serde_json::Value = serde_json::from_str(body).ok()?;
        (n["alert"]["rule"] == "restart_loop" && n["alert"]["subject"] == container.as_str())
            .then_some(n)
    };
    let next_notice = |what: &str| -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let body = received
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the webhook never got {what}"));
            if let Some(n) = ours(&body) {
                return n;
            }
        }
    };
    let fired = next_notice("the restart loop");
    assert_eq!(
        (
            fired["notice"].as_str(),
            fired["alert"]["severity"].as_str(),
            fired["alert"]["app"].as_str()
        ),
        (Some("firing"), Some("critical"), Some(name.as_str())),
        "{fired}"
    );
    assert_eq!(
        fired["alert"]["summary"].as_str(),
        Some(format!("{container} ({name}/crash) exited 3 times in the last 10 min").as_str()),
        "{fired}"
    );
    let unfold = |m: &str| m.replace("\r\n ", " ").replace("\n ", " ");
    let mail = unfold(&smtp.wait_for("about the restart loop", |m| {
        unfold(m).contains("Subject: [CRITICAL] ") && m.contains(&format!("Subject: {container}\n"))
    }));
    assert!(
        mail.contains("Rule: restart_loop")
            && mail.contains(&format!("App: {name}"))
            && mail.contains("To: ops@example.com"),
        "{mail}"
    );
    let firing = admin
        .call(&ListAlerts { firing: true })
        .await
        .expect("alerts");
    assert!(
        firing.iter().any(|a| a.rule == AlertRule::RestartLoop
            && a.subject == container
            && a.state == AlertState::Firing),
        "{firing:?}"
    );

    // Fixed: the new container runs, the alert resolves, and says so.
    let saved = admin
        .call(&SaveVersion {
            app: app.clone(),
            request: appos_proto::SaveVersionRequest {
                compose: compose("sleep 3600"),
                files: None,
                env: None,
                message: Some("fixed".into()),
                deploy: true,
                allow_host_access: Vec::new(),
            },
        })
        .await
        .expect("save");
    let id = saved.deployment_id.expect("deployment");
    let resolved = next_notice("the resolution");
    assert_eq!(resolved["notice"].as_str(), Some("resolved"), "{resolved}");
    smtp.wait_for("about the resolution", |m| {
        unfold(m).contains("Subject: [RESOLVED] ") && m.contains(&format!("Subject: {container}\n"))
    });
    // (The old container goes during the new deployment's `up`: it may still run.)
    succeeds(&admin, id).await;
    let all = admin
        .call(&ListAlerts { firing: false })
        .await
        .expect("alerts");
    let a = all
        .iter()
        .find(|a| a.rule == AlertRule::RestartLoop && a.subject == container)
        .expect("the alert is kept");
    assert_eq!(
        (a.state, a.notices, a.resolved_at_ms.is_some()),
        (AlertState::Resolved, 2, true),
        "{a:?}"
    );
}

/// Waits for a backup or restore run to end, and returns it.
async fn run_to_end(c: &Client, id: &str) -> appos_proto::backups::BackupRun {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let r = c
            .call(&appos_proto::calls::GetBackupRun { id: id.to_string() })
            .await
            .expect("run");
        if r.state.is_terminal() {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run {id} did not end: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a volume's file holds, read in the app's running container.
fn read_in(container: &str, path: &str) -> String {
    let o = Command::new("docker")
        .args(["exec", container, "cat", path])
        .output()
        .expect("docker exec");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// An app with a named volume is backed up with its volume to a real restic
/// repository, deleted with its volume, and restored: the volume's content
/// and the app's history are back and it runs again; then again, every app
/// of the snapshot, on a second agent with a fresh data dir. The
/// repository's key is checked, and bad requests are refused with the
/// field and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_with_volumes_delete_and_restore() {
    use appos_proto::backups::{BackupRequest, RepositoryRequest, RestoreRequest, RunState};
    use appos_proto::calls::{DeleteApp, GetApp, ListSnapshots, ListVersions, RestoreBackup};
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    if support::require("restic", support::which("restic")).is_none() {
        return;
    }
    let agent = support::Agent::start().expect("agent");
    let admin = Client::new(
        Transport::Unix(agent.socket()),
        Some(agent.issue_token("admin", "admin").expect("token")),
    );
    let name = support::unique("keep");
    let app = AppName::parse(&name).expect("name");
    let _project = Project {
        name: name.clone(),
        dir: agent.data.path().join("apps").join(&name),
    };

    // Nothing to back up to yet.
    assert_eq!(
        refused(
            &admin,
            &BackupRequest {
                app: None,
                volumes: false
            }
        )
        .await,
        (
            409,
            ProblemCode::NoRepository,
            "set one with `appos backup repository PATH`".into(),
            vec![]
        )
    );
    let store = tempfile::tempdir().expect("dir");
    std::fs::create_dir(store.path().join("other")).expect("dir");
    std::fs::write(store.path().join("other/file"), "not a repository").expect("file");
    let other = store.path().join("other").display().to_string();
    let foreign = RepositoryRequest {
        location: other.clone(),
        key: None,
        host_key: None,
    };
    assert_eq!(refused(&admin, &foreign).await.3, vec![("location".to_string(), format!("{other} holds other files: choose a new or empty directory, or a restic repository"))]);
    let location = store.path().join("repo").display().to_string();
    let made = admin
        .call(&RepositoryRequest {
            location: location.clone(),
            key: None,
            host_key: None,
        })
        .await
        .expect("repository");
    let key = made.key.clone().expect("a generated key, shown once");
    assert_eq!(
        (made.location.as_str(), made.created, key.len()),
        (location.as_str(), true, 64)
    );
    let wrong = RepositoryRequest {
        location: location.clone(),
        key: Some("not-the-key-of-this-repo".into()),
        host_key: None,
    };
    assert_eq!(
        refused(&admin, &wrong).await,
        (
            400,
            ProblemCode::InvalidInput,
            String::new(),
            vec![(
                "key".into(),
                format!("the key does not open the repository at {location}")
            )]
        )
    );
    let again = admin
        .call(&RepositoryRequest {
            location: location.clone(),
            key: Some(key.clone()),
            host_key: None,
        })
        .await
        .expect("the right key opens it");
    assert_eq!((again.created, again.key), (false, None));

    let compose = format!(
        "services:\n  web:\n    image: {}\n    command: [\"/bin/busybox\", \"sh\", \"-c\", \"test -f /data/note || echo fresh > /data/note; exec /bin/busybox httpd -f -p 8080 -h /data\"]\n    volumes: [\"data:/data\"]\n    stop_signal: SIGKILL\n    labels: [\"{}=1\", \"dev.appos.backup.pause=true\"]\nvolumes:\n  data: {{}}\n",
        support::BUSYBOX_IMAGE,
        support::TEST_LABEL
    );
    let req = DeployRequest {
        name: app.clone(),
        compose,
        env: BTreeMap::new(),
        message: Some("with a volume".into()),
        catalog: None,
        files: Vec::new(),
        allow_host_access: Vec::new(),
    };
    deploy_and_wait(&admin, &req).await;
    let container = admin
        .call(&GetApp { app: app.clone() })
        .await
        .expect("app")
        .services[0]
        .containers[0]
        .name
        .clone();
    let marker = format!("kept-{}", support::unique("m"));
    let o = Command::new("docker")
        .args([
            "exec",
            &container,
            "sh",
            "-c",
            &format!("echo {marker} > /data/note"),
        ])
        .output()
        .expect("docker exec");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A token a pipeline holds, to keep on the second agent below.
    let ci = agent.issue_token("ci", "deploy").expect("token");
    let since = Command::new("date").arg("+%s.%N").output().expect("date");
    let since = String::from_utf8_lossy(&since.stdout).trim().to_string();
    let run = admin
        .call(&BackupRequest {
            app: Some(app.clone()),
            volumes: true,
        })
        .await
        .expect("backup");
    let run = run_to_end(&admin, &run.id).await;
    assert_eq!(
        (run.state, run.error.as_deref()),
        (RunState::Succeeded, None),
        "{run:?}"
    );
    let snapshot = run.snapshot.clone().expect("snapshot");
    // Its service asks to be paused while the volume is read: it was, and runs again.
    let at = |line: &str| {
        run.log
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("{line:?} missing: {run:?}"))
    };
    let volume_line = run
        .log
        .iter()
        .position(|l| l.starts_with(&format!("volume {name}_data of {name}: ")))
        .expect("the volume line");
    assert!(at(&format!("{container} paused while {name}'s volumes are read (its service asks for it: dev.appos.backup.pause=true)")) < volume_line);
    assert!(at(&format!("{container} running again")) > volume_line);
    let until = Command::new("date").arg("+%s.%N").output().expect("date");
    let events = Command::new("docker")
        .args([
            "events",
            "--since",
            &since,
            "--until",
            String::from_utf8_lossy(&until.stdout).trim(),
            "--filter",
            &format!("container={container}"),
            "--filter",
            "event=pause",
            "--filter",
            "event=unpause",
            "--format",
            "{{.Action}}",
        ])
        .output()
        .expect("docker events");
    assert_eq!(String::from_utf8_lossy(&events.stdout), "pause\nunpause\n");
    assert_eq!(
        admin
            .call(&GetApp { app: app.clone() })
            .await
            .expect("app")
            .services[0]
            .containers[0]
            .state,
        "running"
    );
    assert_eq!(
        run.log.first().map(String::as_str),
        Some("the agent's database: copied with SQLite's online backup"),
        "{run:?}"
    );
    let snaps = admin.call(&ListSnapshots {}).await.expect("snapshots");
    assert_eq!(
        snaps
            .iter()
            .map(|s| (s.id.as_str(), s.apps.clone(), s.volumes))
            .collect::<Vec<_>>(),
        [(snapshot.as_str(), vec![name.clone()], true)]
    );

    // The snapshot as a tar, to keep off the server; none for a snapshot that is not there.
    let tar = store.path().join("download.tar");
    let mut file = std::fs::File::create(&tar).expect("file");
    let n = admin
        .download(&appos_proto::calls::backup_archive_path(&snapshot), |d| {
            std::io::Write::write_all(&mut file, d)
        })
        .await
        .expect("download");
    drop(file);
    assert_eq!(std::fs::metadata(&tar).expect("tar").len(), n);
    let listing = String::from_utf8_lossy(
        &Command::new("tar")
            .arg("-tf")
            .arg(&tar)
            .output()
            .expect("tar")
            .stdout,
    )
    .into_owned();
    for want in [
        "/manifest.json",
        "/state.db",
        &format!("/volumes/{name}/{name}_data.tar"),
        &format!("/apps/{name}/compose.yml"),
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(want)),
            "{want} missing from the archive:\n{listing}"
        );
    }
    match admin
        .download(&appos_proto::calls::backup_archive_path("deadbeef"), |_| {
            Ok(())
        })
        .await
    {
        Err(ClientError::Api(p)) => assert_eq!(
            (p.status, p.code, p.detail.as_deref()),
            (
                404,
                ProblemCode::SnapshotNotFound,
                Some("the repository holds no snapshot deadbeef")
            )
        ),
        other => panic!("expected a 404, got {other:?}"),
    }

    // Gone, volume and all.
    let del = admin
        .call(&DeleteApp {
            app: app.clone(),
            volumes: true,
        })
        .await
        .expect("delete");
    succeeds(&admin, del.id).await;
    let vols = Command::new("docker")
        .args([
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={name}"),
        ])
        .output()
        .expect("docker volume ls");
    assert_eq!(
        String::from_utf8_lossy(&vols.stdout),
        "",
        "the volume is gone"
    );

    // Bad requests change nothing.
    let bad = RestoreBackup {
        snapshot: "../../etc".into(),
        request: RestoreRequest {
            app: Some(app.clone()),
            keep_tokens: false,
        },
    };
    assert_eq!(
        refused(&admin, &bad).await.3,
        vec![(
            "snapshot".to_string(),
            "a snapshot id: 8 to 64 lower-case hex digits (see GET /v1/backups)".to_string()
        )]
    );

    let run = admin
        .call(&RestoreBackup {
            snapshot: snapshot.clone(),
            request: RestoreRequest {
                app: Some(app.clone()),
                keep_tokens: false,
            },
        })
        .await
        .expect("restore");
    let run = run_to_end(&admin, &run.id).await;
    assert_eq!(
        (run.state, run.error.as_deref()),
        (RunState::Succeeded, None),
        "{run:?}"
    );
    assert!(
        run.log.iter().any(|l| l.starts_with("deployment ")
            && l.ends_with(&format!(" of {name}, version 1, queued"))),
        "{run:?}"
    );
    // It runs again, with the volume's content of the backup (not a fresh one).
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let container = loop {
        if let Ok(a) = admin.call(&GetApp { app: app.clone() }).await {
            if let Some(c) = a
                .services
                .iter()
                .flat_map(|s| s.containers.iter())
                .find(|c| c.state == "running")
            {
                break c.name.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the restored app never ran"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(read_in(&container, "/data/note"), marker);
    let versions = admin
        .call(&ListVersions { app: app.clone() })
        .await
        .expect("versions");
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version, v.message.as_str()))
            .collect::<Vec<_>>(),
        [(1, "with a volume")]
    );
    // A restore never overwrites an app that exists.
    let over = RestoreBackup {
        snapshot: snapshot.clone(),
        request: RestoreRequest {
            app: Some(app.clone()),
            keep_tokens: false,
        },
    };
    assert_eq!(
        refused(&admin, &over).await,
        (
            409,
            ProblemCode::AppExists,
            format!("{name} exists here: a restore never overwrites an app; delete it first"),
            vec![]
        )
    );

    // The server died: a second agent with a fresh data dir, given the
    // repository and its key, brings the same app back.
    let del = admin
        .call(&DeleteApp {
            app: app.clone(),
            volumes: true,
        })
        .await
        .expect("delete");
    succeeds(&admin, del.id).await;
    let fresh = support::Agent::start().expect("second agent");
    let admin2 = Client::new(
        Transport::Unix(fresh.socket()),
        Some(fresh.issue_token("admin", "admin").expect("token")),
    );
    let opened = admin2
        .call(&RepositoryRequest {
            location: location.clone(),
            key: Some(key),
            host_key: None,
        })
        .await
        .expect("the repository, with its key");
    assert!(!opened.created);
    // Every app the snapshot holds (here, one), and the tokens the old agent
    // had: `ci` works here now; `admin` is this agent's own.
    let pipeline = Client::new(Transport::Unix(fresh.socket()), Some(ci));
    assert!(matches!(
        pipeline.call(&ListApps {}).await,
        Err(ClientError::Api(Problem { status: 401, .. }))
    ));
    let run = admin2
        .call(&RestoreBackup {
            snapshot,
            request: RestoreRequest {
                app: None,
                keep_tokens: true,
            },
        })
        .await
        .expect("restore");
    let run = run_to_end(&admin2, &run.id).await;
    assert_eq!(
        (run.state, run.error.as_deref()),
        (RunState::Succeeded, None),
        "{run:?}"
    );
    let tail: Vec<&str> = run
        .log
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "tokens kept from the backup: ci; left out, a token of that name exists here: admin",
            "1 of 1 app(s) brought back"
        ],
        "{run:?}"
    );
    pipeline
        .call(&ListApps {})
        .await
        .expect("the kept token works here");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let container = loop {
        if let Ok(a) = admin2.call(&GetApp { app: app.clone() }).await {
            if let Some(c) = a
                .services
                .iter()
                .flat_map(|s| s.containers.iter())
                .find(|c| c.state == "running")
            {
                break c.name.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the app never ran on the second agent"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(read_in(&container, "/data/note"), marker);
    let versions = admin2
        .call(&ListVersions { app: app.clone() })
        .await
        .expect("versions");
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version, v.message.as_str()))
            .collect::<Vec<_>>(),
        [(1, "with a volume")]
    );
    let _second = Project {
        name: name.clone(),
        dir: fresh.data.path().join("apps").join(&name),
    };
}

/// A repository on another host over SFTP (here the test sshd): the agent
/// shows its own SSH key; a host that does not accept it yet is refused with
/// the line to add; a host key that is not the one named is refused; the
/// one named is pinned. A backup and a restore go through SFTP. When the
/// host's key changes, backups fail saying so and never trust the new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_to_an_sftp_repository_on_another_host() {
    use appos_proto::backups::{BackupRequest, RepositoryRequest, RestoreRequest, RunState};
    use appos_proto::calls::{DeleteApp, GetBackupRepository, ListVersions, RestoreBackup};
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    if support::require("restic", support::which("restic")).is_none() {
        return;
    }
    let Some(mut sshd) = support::require("sshd", support::Sshd::start()) else {
        return;
    };
    let agent = support::Agent::start().expect("agent");
    let admin = Client::new(
        Transport::Unix(agent.socket()),
        Some(agent.issue_token("admin", "admin").expect("token")),
    );

    let info = admin
        .call(&GetBackupRepository {})
        .await
        .expect("repository info");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(
        (info.location.as_deref(), info.host_key.as_deref()),
        (None, None)
    );
    assert!(
        info.ssh_public_key.starts_with("ssh-ed25519 ")
            && info
                .ssh_public_key
                .ends_with(&format!(" appos-agent@{}", host.trim())),
        "{}",
        info.ssh_public_key
    );
    let store = tempfile::tempdir().expect("dir");
    let location = format!(
        "sftp://{}@127.0.0.1:{}/{}",
        sshd.user,
        sshd.port,
        store.path().join("repo").display()
    );
    let pinned = sshd.host_key.fingerprint().expect("fingerprint");
    let set = |host_key: Option<&str>| RepositoryRequest {
        location: location.clone(),
        key: None,
        host_key: host_key.map(str::to_string),
    };

    // The host does not accept the agent's key yet: the answer says what to add, and where.
    let refusal = refused(&admin, &set(None)).await;
    assert_eq!(refusal.3, vec![("location".to_string(), format!("127.0.0.1 refused the agent's SSH key: add this line to {}'s ~/.ssh/authorized_keys there: {}", sshd.user, info.ssh_public_key))]);
    sshd.authorize(&info.ssh_public_key).expect("authorize");
    // Host keys that are not the host's, or not fingerprints, and locations ssh could read as options.
    let other = sshd.user_key.fingerprint().expect("fingerprint");
    assert_eq!(
        refused(&admin, &set(Some(&other))).await.3,
        vec![(
            "host_key".to_string(),
            format!(
                "127.0.0.1:{} shows {pinned} (ssh-ed25519), not {other}",
                sshd.port
            )
        )]
    );
    assert_eq!(
        refused(&admin, &set(Some("MD5:16:27:ac:a5"))).await.3,
        vec![(
            "host_key".to_string(),
            "a fingerprint as `ssh-keygen -l` prints it: SHA256: and 43 characters".to_string()
        )]
    );
    let hostile = RepositoryRequest {
        location: "sftp:backup@-oProxyCommand=touch:/srv".into(),
        key: None,
        host_key: None,
    };
    assert_eq!(
        refused(&admin, &hostile).await.3,
        vec![(
            "location".to_string(),
            "\"-oProxyCommand=touch\" is not a host name or address".to_string()
        )]
    );
    let local = RepositoryRequest {
        location: store.path().join("local").display().to_string(),
        key: None,
        host_key: Some(pinned.clone()),
    };
    assert_eq!(
        refused(&admin, &local).await.3,
        vec![(
            "host_key".to_string(),
            "only for an sftp: repository".to_string()
        )]
    );
    assert_eq!(
        admin
            .call(&GetBackupRepository {})
            .await
            .expect("info")
            .location,
        None,
        "refusals set nothing"
    );

    let made = admin
        .call(&set(Some(&pinned)))
        .await
        .expect("the SFTP repository");
    assert_eq!(
        (
            made.created,
            made.host_key.as_deref(),
            made.key.as_ref().map(String::len)
        ),
        (true, Some(pinned.as_str()), Some(64))
    );
    assert!(
        store.path().join("repo/config").is_file(),
        "restic wrote its repository through SFTP"
    );
    let info = admin.call(&GetBackupRepository {}).await.expect("info");
    assert_eq!(
        (info.location.as_deref(), info.host_key.as_deref()),
        (Some(location.as_str()), Some(pinned.as_str()))
    );

    // A backup and a restore through it.
    let name = support::unique("far");
    let app = AppName::parse(&name).expect("name");
    let _project = Project {
        name: name.clone(),
        dir: agent.data.path().join("apps").join(&name),
    };
    let compose = format!("services:\n  web:\n    image: {}\n    command: [\"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n    labels: [\"{}=1\"]\n", support::BUSYBOX_IMAGE, support::TEST_LABEL);
    let req = DeployRequest {
        name: app.clone(),
        compose,
        env: BTreeMap::new(),
        message: Some("far away".into()),
        catalog: None,
        files: Vec::new(),
        allow_host_access: Vec::new(),
    };
    deploy_and_wait(&admin, &req).await;
    let run = admin
        .call(&BackupRequest {
            app: Some(app.clone()),
            volumes: false,
        })
        .await
        .expect("backup");
    let run = run_to_end(&admin, &run.id).await;
    assert_eq!(
        (run.state, run.error.as_deref()),
        (RunState::Succeeded, None),
        "{run:?}"
    );
    let snapshot = run.snapshot.expect("snapshot");
    let del = admin
        .call(&DeleteApp {
            app: app.clone(),
            volumes: true,
        })
        .await
        .expect("delete");
    succeeds(&admin, del.id).await;
    let run = admin
        .call(&RestoreBackup {
            snapshot,
            request: RestoreRequest {
                app: Some(app.clone()),
                keep_tokens: false,
            },
        })
        .await
        .expect("restore");
    let run = run_to_end(&admin, &run.id).await;
    assert_eq!(
        (run.state, run.error.as_deref()),
        (RunState::Succeeded, None),
        "{run:?}"
    );
    let versions = admin
        .call(&ListVersions { app: app.clone() })
        .await
        .expect("versions");
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version, v.message.as_str()))
            .collect::<Vec<_>>(),
        [(1, "far away")]
    );

    // The host comes back with another key: nothing is sent to it.
    sshd.restart(true).expect("sshd with a new host key");
    let run = admin
        .call(&BackupRequest {
            app: None,
            volumes: false,
        })
        .await
        .expect("backup");
    let run = run_to_end(&admin, &run.id).await;
    assert_eq!(
        (run.state, run.error.as_deref()),
        (RunState::Failed, Some("the backup host's SSH key is not the one pinned when the repository was set: if it changed on purpose, set the repository again")),
        "{run:?}"
    );
}

/// A schedule queues a backup when due (at once, the first time) and keeps
/// only the newest snapshots; backups taken by hand do not move it. Bad
/// schedules are refused with the field and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_keep_the_newest_snapshots() {
    use appos_proto::backups::{BackupRequest, BackupSchedule, RepositoryRequest, RunState};
    use appos_proto::calls::{GetBackupSchedule, ListBackupRuns, ListSnapshots};
    if support::require("restic", support::which("restic")).is_none()
        || support::require("dockerd", support::docker()).is_none()
    {
        return;
    }
    let agent = support::Agent::start_env(&[], &[("APPOS_BACKUP_CHECK_SECS", "1")]).expect("agent");
    let admin = Client::new(
        Transport::Unix(agent.socket()),
        Some(agent.issue_token("admin", "admin").expect("token")),
    );
    let store = tempfile::tempdir().expect("dir");
    let location = store.path().join("repo").display().to_string();
    admin
        .call(&RepositoryRequest {
            location,
            key: Some("a key of at least sixteen characters".into()),
            host_key: None,
        })
        .await
        .expect("repository");
    for _ in 0..2 {
        let run = admin
            .call(&BackupRequest {
                app: None,
                volumes: false,
            })
            .await
            .expect("backup");
        assert_eq!(run_to_end(&admin, &run.id).await.state, RunState::Succeeded);
    }
    assert_eq!(
        admin
            .call(&ListSnapshots {})
            .await
            .expect("snapshots")
            .len(),
        2
    );

    assert_eq!(
        refused(
            &admin,
            &BackupSchedule {
                every_secs: 60,
                keep: 1,
                volumes: false
            }
        )
        .await
        .3,
        vec![(
            "every_secs".to_string(),
            "from 3600 (hourly) to 2592000 (30 days)".to_string()
        )]
    );
    assert_eq!(
        refused(
            &admin,
            &BackupSchedule {
                every_secs: 86_400,
                keep: 0,
                volumes: false
            }
        )
        .await
        .3,
        vec![("keep".to_string(), "from 1 to 1000 snapshots".to_string())]
    );
    let set = admin
        .call(&BackupSchedule {
            every_secs: 86_400,
            keep: 1,
            volumes: false,
        })
        .await
        .expect("schedule");
    assert_eq!(
        set.schedule,
        Some(BackupSchedule {
            every_secs: 86_400,
            keep: 1,
            volumes: false
        })
    );

    // The first scheduled backup runs now, then keeps one snapshot.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let scheduled = loop {
        let runs = admin.call(&ListBackupRuns {}).await.expect("runs");
        if let Some(r) = runs
            .iter()
            .find(|r| r.actor == "schedule" && r.state.is_terminal())
        {
            break r.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the schedule never ran: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        (scheduled.state, scheduled.error.as_deref()),
        (RunState::Succeeded, None),
        "{scheduled:?}"
    );
    assert_eq!(
        scheduled.log.last().map(String::as_str),
        Some("retention: the newest 1 snapshot(s) kept, 2 forgotten and pruned"),
        "{scheduled:?}"
    );
    let snaps = admin.call(&ListSnapshots {}).await.expect("snapshots");
    assert_eq!(
        snaps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [scheduled.snapshot.as_deref().unwrap_or_default()]
    );
    // Not again today.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        admin
            .call(&ListBackupRuns {})
            .await
            .expect("runs")
            .iter()
            .filter(|r| r.actor == "schedule")
            .count(),
        1
    );
    let status = admin.call(&GetBackupSchedule {}).await.expect("schedule");
    assert_eq!(
        status.next_ms.map(|n| n - scheduled.created_ms),
        Some(86_400_000)
    );
    assert_eq!(status.last_success_ms, scheduled.finished_ms);
}
