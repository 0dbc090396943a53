//! The agent as a real process on a real data dir, reached over its unix
//! socket: the token gate, the Docker inventory, start-up refusals.

use appos_client::{Client, Transport};
use std::collections::BTreeMap;
use std::time::Duration;

use appos_proto::calls::{
    GetApp, GetHealth, GetInfo, ListApps, ListDeployments, ListTerminals, ListTokens,
    RefreshCatalog,
};
use appos_proto::{
    App, AppName, AppState, FieldError, Problem, ProblemCode, ServiceName, TokenScope,
};
use appos_test_support as support;
use http::Method;

fn client(agent: &support::Agent, token: Option<&str>) -> Client {
    Client::new(Transport::Unix(agent.socket()), token.map(str::to_string))
}

/// Every operation of the committed OpenAPI document: method and a concrete
/// path (parameters filled with plausible values).
fn documented_operations() -> Vec<(Method, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/openapi.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("openapi.json")).expect("json");
    let mut ops = Vec::new();
    for (route, item) in doc["paths"].as_object().expect("paths") {
        let concrete = route
            .replace("{app}", "blog")
            .replace("{version}", "1")
            .replace("{id}", "x")
            .replace("{action}", "restart");
        for method in item.as_object().expect("item").keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            ops.push((m, concrete.clone()));
        }
    }
    assert!(
        ops.len() >= 28,
        "the document lists every operation: {ops:?}"
    );
    ops
}

async fn assert_all_unauthorized(c: &Client, why: &str) {
    let mut routes: Vec<(Method, String)> = documented_operations()
        .into_iter()
        .filter(|(_, p)| p.starts_with("/v1/"))
        .collect();
    // Routes that do not exist are refused the same way: the gate comes first.
    routes.extend(
        [Method::GET, Method::POST, Method::DELETE].map(|m| (m, "/v1/no-such-route".to_string())),
    );
    for (method, route) in routes {
        let r = c
            .request_raw(method.clone(), &route, Some(b"{}".to_vec()))
            .await
            .expect("request");
        let p: Problem = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{method} {route}: not problem JSON ({e})"));
        assert_eq!(
            (r.status.as_u16(), p.code, p.status),
            (401, ProblemCode::Unauthorized, 401),
            "{method} {route} with {why}"
        );
    }
}

#[tokio::test]
async fn every_v1_route_rejects_missing_wrong_and_revoked_tokens() {
    // Some 200 refusals in a row: a budget for failed authentication that
    // lasts them all (the budget has its own test below).
    let agent = support::Agent::start_env(&[], &[("APPOS_AUTH_FAILURE_BURST", "100000")])
        .expect("agent starts");

    // /health is the only open route.
    let h = client(&agent, None)
        .call(&GetHealth {})
        .await
        .expect("health");
    assert_eq!(h.status, "ok");

    assert_all_unauthorized(&client(&agent, None), "no token").await;
    assert_all_unauthorized(
        &client(&agent, Some("appos_not-a-real-token")),
        "a wrong token",
    )
    .await;
    assert_all_unauthorized(&client(&agent, Some("Basic abc")), "a malformed token").await;

    let token = agent.issue_token("laptop", "admin").expect("issue");
    let good = client(&agent, Some(&token));
    let r = good
        .request_raw(Method::GET, "/v1/no-such-route", None)
        .await
        .expect("request");
    let p: Problem = serde_json::from_slice(&r.body).expect("problem");
    assert_eq!(
        (r.status.as_u16(), p.code),
        (404, ProblemCode::NotFound),
        "a valid token reaches the router"
    );

    // A token in the query string is never accepted.
    let anon = client(&agent, None);
    for q in ["token", "access_token"] {
        let r = anon
            .request_raw(Method::GET, &format!("/v1/apps?{q}={token}"), None)
            .await
            .expect("request");
        assert_eq!(r.status.as_u16(), 401);
    }

    agent.cli(&["token", "revoke", "laptop"]).expect("revoke");
    assert_all_unauthorized(&good, "a revoked token").await;
    let r = good
        .request_raw(Method::GET, "/v1/apps", None)
        .await
        .expect("request");
    let p: Problem = serde_json::from_slice(&r.body).expect("problem");
    assert_eq!(p.detail.as_deref(), Some("this token was revoked"));

    // Token names are listed, secrets never.
    let list = agent.cli(&["token", "list"]).expect("list");
    assert!(list.contains("laptop"));
    assert!(!list.contains(&token));
    assert!(
        !agent.log().contains(&token),
        "the token must not appear in logs"
    );
}

/// A read-scope token gets 403 on every operation that is not a GET, even
/// with a body that an admin token would get accepted, and nothing changes.
#[tokio::test]
async fn read_tokens_cannot_change_anything() {
    let agent = support::Agent::start().expect("agent starts");
    let token = agent.issue_token("viewer", "read").expect("issue");
    let c = client(&agent, Some(&token));
    let bodies: BTreeMap<&str, serde_json::Value> = [
        (
            "/v1/apps/deploy",
            serde_json::json!({"name": "blog", "compose": support::two_service_compose()}),
        ),
        ("/v1/apps/adopt", serde_json::json!({"project": "blog"})),
        (
            "/v1/compose/check",
            serde_json::json!({"name": "blog", "compose": support::two_service_compose()}),
        ),
        (
            "/v1/apps/blog/versions",
            serde_json::json!({"compose": support::two_service_compose(), "deploy": true}),
        ),
        ("/v1/apps/blog/rollback", serde_json::json!({"version": 1})),
        ("/v1/terminals", serde_json::json!({"shell": {}})),
    ]
    .into();
    let writes: Vec<(Method, String)> = documented_operations()
        .into_iter()
        .filter(|(m, p)| *m != Method::GET && p.starts_with("/v1/"))
        .collect();
    assert!(writes.len() >= 12, "{writes:?}");
    for (method, route) in &writes {
        let body = bodies
            .get(route.as_str())
            .cloned()
            .unwrap_or(serde_json::json!({}));
        let r = c
            .request_raw(method.clone(), route, Some(body.to_string().into_bytes()))
            .await
            .expect("request");
        let p: Problem = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{method} {route}: not problem JSON ({e})"));
        assert_eq!(
            (r.status.as_u16(), p.code),
            (403, ProblemCode::Forbidden),
            "{method} {route}"
        );
        assert_eq!(
            p.detail.as_deref(),
            Some("token \"viewer\" has the read scope: it may only look"),
            "{method} {route}"
        );
    }
    // Nothing was written, queued or opened.
    assert!(c
        .call(&ListDeployments { app: None })
        .await
        .expect("deployments")
        .is_empty());
    assert!(c
        .call(&ListTerminals {})
        .await
        .expect("terminals")
        .is_empty());
    let apps_dir = agent.data.path().join("apps");
    assert_eq!(
        std::fs::read_dir(&apps_dir).expect("apps dir").count(),
        0,
        "nothing in {}",
        apps_dir.display()
    );
    // Reading still works.
    let r = c
        .request_raw(Method::GET, "/v1/no-such-route", None)
        .await
        .expect("request");
    assert_eq!(r.status.as_u16(), 404);
}

/// `GET /v1/tokens` and `appos tokens`: an admin sees every token's name,
/// scope and times, never a secret; a read token is refused.
#[tokio::test]
async fn tokens_are_listed_for_admins_only() {
    let agent = support::Agent::start().expect("agent starts");
    let admin = agent.issue_token("laptop", "admin").expect("issue");
    let viewer = agent.issue_token("dashboard", "read").expect("issue");
    let old = agent.issue_token("old-laptop", "admin").expect("issue");
    agent
        .cli(&["token", "revoke", "old-laptop"])
        .expect("revoke");

    let c = client(&agent, Some(&admin));
    let r = c
        .request_raw(Method::GET, "/v1/tokens", None)
        .await
        .expect("request");
    let body = String::from_utf8_lossy(&r.body).into_owned();
    for secret in [&admin, &viewer, &old] {
        assert!(!body.contains(secret.as_str()), "a secret in {body}");
    }
    let tokens = c.call(&ListTokens {}).await.expect("tokens");
    let seen: Vec<(&str, TokenScope, bool, bool)> = tokens
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.scope,
                t.last_used_at.is_some(),
                t.revoked_at.is_some(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("laptop", TokenScope::Admin, true, false),
            ("dashboard", TokenScope::Read, false, false),
            ("old-laptop", TokenScope::Admin, false, true)
        ]
    );

    let reader = client(&agent, Some(&viewer));
    match reader.call(&ListTokens {}).await {
        Err(appos_client::ClientError::Api(p)) => {
            assert_eq!((p.status, p.code), (403, ProblemCode::Forbidden));
            assert_eq!(
                p.detail.as_deref(),
                Some("only admin tokens may list tokens")
            );
        }
        other => panic!("a read token listed tokens: {other:?}"),
    }

    // The CLI's table.
    let home = tempfile::tempdir().expect("home");
    let sock = format!("unix://{}", agent.socket().display());
    let run = |args: &[&str]| {
        support::appos(home.path())
            .args(args)
            .output()
            .expect("appos")
    };
    assert!(run(&["server", "add", "here", &sock, "--token", &admin])
        .status
        .success());
    let o = run(&["tokens"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // NAME SCOPE CREATED(date time) LAST-USED REVOKED
    let row = |name: &str| {
        out.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.first() == Some(&name))
            .unwrap_or_default()
    };
    let dashboard = row("dashboard");
    // Used once (the refused listing above), never revoked.
    assert_eq!(
        (dashboard.len(), dashboard[1], dashboard[6]),
        (7, "read", "-"),
        "{out}"
    );
    let old_row = row("old-laptop");
    assert_eq!(
        (old_row.len(), old_row[1], old_row[4]),
        (7, "admin", "-"),
        "revoked, with its date and time: {out}"
    );
    for secret in [&admin, &viewer, &old] {
        assert!(!out.contains(secret.as_str()), "{out}");
    }
    let o = support::appos(home.path())
        .args(["tokens"])
        .env("APPOS_TOKEN", &viewer)
        .output()
        .expect("appos");
    assert_eq!(
        o.status.code(),
        Some(4),
        "a refused token is exit code 4: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// schemathesis, fed the committed OpenAPI document, sends thousands of
/// requests to a real agent: every answer must be one the document
/// describes (status, media type, headers, body schema), no request may
/// crash the agent or get through without a token. The two checks left out
/// judge how strict input validation is against the schema alone, which
/// cannot say what a valid compose file is.
#[test]
fn the_openapi_document_holds_under_a_schema_driven_fuzzer() {
    let st = std::env::var("APPOS_SCHEMATHESIS")
        .unwrap_or_else(|_| "/var/cache/appos/venv/bin/st".into());
    let probe = if std::path::Path::new(&st).is_file() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "no schemathesis at {st} (scripts/test.sh installs it)"
        ))
    };
    if support::require("schemathesis", probe).is_none() {
        return;
    }
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    // No request budgets: the fuzzer's examples reach the routes (429 is documented either way).
    let agent = support::Agent::start_env(
        &["--listen", &listen],
        &[
            ("APPOS_AUTH_FAILURE_BURST", "100000"),
            ("APPOS_TOKEN_REQUESTS_PER_SEC", "0"),
        ],
    )
    .expect("agent starts");
    let token = agent.issue_token("fuzzer", "admin").expect("issue");
    let doc = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/openapi.json");
    // schemathesis keeps a cache where it runs: not in the work tree.
    let scratch = tempfile::tempdir().expect("scratch dir");
    let out = std::process::Command::new(&st)
        .current_dir(scratch.path())
        .args([
            "run",
            doc,
            "--url",
            &format!("http://{listen}"),
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .args([
            "--max-examples",
            "25",
            "--exclude-checks",
            "positive_data_acceptance,negative_data_rejection",
            "--no-color",
        ])
        // Two routes act outside the agent by design, where a fuzzer's data
        // would land on this machine or the network: a backup repository is
        // created at the path sent (as root), and a channel's test message
        // goes to the host sent. Their own tests cover them
        // (`backup_with_volumes_delete_and_restore`, `a_restart_loop_alerts_...`).
        .args([
            "--exclude-operation-id",
            "set_backup_repository",
            "--exclude-operation-id",
            "test_alert_channel",
        ])
        .output()
        .expect("run schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found mismatches:\n{report}\nagent log:\n{}",
        agent.log()
    );
    assert!(report.contains(" passed"), "{report}");
    assert!(
        !agent.log().contains("panicked"),
        "the agent panicked:\n{}",
        agent.log()
    );
}

/// A git catalog reached with credentials in its URL: they appear in no
/// log line and no answer.
#[tokio::test]
async fn credentials_in_urls_never_reach_logs_or_answers() {
    let secret = "s3cret-token-4711";
    let url = format!("https://ada:{secret}@127.0.0.1:1/templates.git");
    let agent = support::Agent::start_env(&[], &[("APPOS_CATALOG_GIT", url.as_str())])
        .expect("agent starts");
    let token = agent.issue_token("t", "admin").expect("issue");
    let c = client(&agent, Some(&token));
    let r = c.call(&RefreshCatalog {}).await.expect("refresh");
    let error = r.git_error.expect("the clone fails: nothing listens there");
    assert!(!error.contains(secret), "{error}");
    let r = c
        .request_raw(Method::POST, "/v1/catalog/refresh", Some(b"{}".to_vec()))
        .await
        .expect("request");
    assert!(!String::from_utf8_lossy(&r.body).contains(secret));
    let log = agent.log();
    assert!(
        log.contains("cannot update the catalog's git source"),
        "{log}"
    );
    assert!(
        log.contains("https://***@127.0.0.1:1/templates.git"),
        "the URL is logged, without its user info: {log}"
    );
    assert!(!log.contains(secret), "{log}");
    assert!(!log.contains("ada:"), "{log}");
}

/// A token may hold only so many streams open (`APPOS_MAX_STREAMS_PER_TOKEN`);
/// another token is not affected, and a closed stream frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_limited_per_token() {
    let agent = support::Agent::start_env(&[], &[("APPOS_MAX_STREAMS_PER_TOKEN", "2")])
        .expect("agent starts");
    let token = agent.issue_token("watcher", "read").expect("issue");
    let other = agent.issue_token("other", "read").expect("issue");
    let open = |t: &str| {
        let c = client(&agent, Some(t));
        tokio::spawn(async move { c.events(-1, |_| true).await })
    };
    let first = open(&token);
    let second = open(&token);
    tokio::time::sleep(Duration::from_millis(500)).await;
    match client(&agent, Some(&token)).events(-1, |_| true).await {
        Err(appos_client::ClientError::Api(p)) => {
            assert_eq!(
                (p.status, p.code),
                (429, ProblemCode::TooManyStreams),
                "{p:?}"
            );
            assert_eq!(p.detail.as_deref(), Some("token \"watcher\" holds 2 streams open, the most this agent allows; close one first"));
        }
        other => panic!("a third stream was opened: {other:?}"),
    }
    // A followed deployment log counts too.
    let r = client(&agent, Some(&token))
        .request_raw(Method::GET, "/v1/deployments/x/log", None)
        .await
        .expect("request");
    assert_eq!(r.status.as_u16(), 404, "no such deployment comes first");
    // Another token has its own places.
    let theirs = open(&other);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!theirs.is_finished(), "the other token's stream stays open");
    // Closing one frees a place.
    first.abort();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let again = open(&token);
        tokio::time::sleep(Duration::from_millis(300)).await;
        if !again.is_finished() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the closed stream's place was never freed"
        );
    }
    second.abort();
    theirs.abort();
}

#[tokio::test]
async fn hostile_app_names_are_refused() {
    let agent = support::Agent::start().expect("agent starts");
    let token = agent.issue_token("t", "admin").expect("issue");
    let c = client(&agent, Some(&token));
    let long = "a".repeat(300);
    for name in ["..%2Fx", "a%3Bb", "A%20B", "UPPER", long.as_str()] {
        for path in [
            format!("/v1/apps/{name}"),
            format!("/v1/apps/{name}/versions"),
            format!("/v1/apps/{name}/logs"),
        ] {
            let r = c
                .request_raw(Method::GET, &path, None)
                .await
                .expect("request");
            let p: Problem = serde_json::from_slice(&r.body).expect("problem");
            assert_eq!(
                (r.status.as_u16(), p.code),
                (400, ProblemCode::InvalidInput),
                "{path}"
            );
            assert_eq!(p.errors, [FieldError::new("app", AppName::RULE)], "{path}");
        }
    }
}

/// Malformed query strings and bodies get problem JSON naming the field
/// that is wrong and why.
#[tokio::test]
async fn malformed_queries_and_bodies_are_problems() {
    let agent = support::Agent::start().expect("agent starts");
    let token = agent.issue_token("t", "admin").expect("issue");
    let c = client(&agent, Some(&token));
    for (method, path, body, field, message) in [
        (
            Method::GET,
            "/v1/events?after=soon",
            None,
            "after",
            "invalid digit found in string",
        ),
        (
            Method::GET,
            "/v1/apps/blog/diff?from=one&to=2",
            None,
            "from",
            "invalid digit found in string",
        ),
        (
            Method::GET,
            "/v1/apps/blog/diff?to=2",
            None,
            "query",
            "missing field `from`",
        ),
        (
            Method::GET,
            "/v1/apps/blog/logs?tail=-5",
            None,
            "tail",
            "a number of lines or `all`",
        ),
        (
            Method::GET,
            "/v1/apps/blog/logs?service=a%3Bb",
            None,
            "service",
            ServiceName::RULE,
        ),
        (
            Method::GET,
            "/v1/deployments?app=..%2Fx",
            None,
            "app",
            AppName::RULE,
        ),
        (
            Method::GET,
            "/v1/apps/blog/versions/latest",
            None,
            "version",
            "expected u32",
        ),
        (
            Method::DELETE,
            "/v1/apps/blog?volumes=maybe",
            None,
            "volumes",
            "provided string was not `true` or `false`",
        ),
        (
            Method::POST,
            "/v1/apps/blog/reboot",
            Some(b"{}".to_vec()),
            "action",
            "unknown variant `reboot`, expected one of `start`, `stop`, `restart`, `update`",
        ),
        (
            Method::POST,
            "/v1/terminals",
            Some(br#"{"telnet":{}}"#.to_vec()),
            "body",
            "unknown variant `telnet`, expected `shell` or `exec`",
        ),
        (
            Method::POST,
            "/v1/compose/check",
            Some(b"not json".to_vec()),
            "body",
            "expected ident",
        ),
        (
            Method::POST,
            "/v1/apps/blog/rollback",
            None,
            "body",
            "EOF while parsing a value",
        ),
        (
            Method::POST,
            "/v1/apps/blog/rollback",
            Some(br#"{"version": -1}"#.to_vec()),
            "version",
            "invalid value: integer `-1`, expected u32",
        ),
    ] {
        let r = c
            .request_raw(method.clone(), path, body)
            .await
            .expect("request");
        let p: Problem = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{path}: not problem JSON ({e}): {:?}", r.body));
        assert_eq!(
            (r.status.as_u16(), p.code),
            (400, ProblemCode::InvalidInput),
            "{method} {path}: {p:?}"
        );
        assert_eq!(
            p.errors,
            [FieldError::new(field, message)],
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn a_stack_created_outside_appos_is_listed() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let agent = support::Agent::start().expect("agent starts");
    let token = agent.issue_token("t", "admin").expect("issue");
    let c = client(&agent, Some(&token));
    let name = support::unique("ext");
    let stack =
        support::ComposeStack::up(&name, &support::two_service_compose()).expect("compose up");

    let apps = c.call(&ListApps {}).await.expect("apps");
    let app: &App = apps
        .iter()
        .find(|a| a.name == name)
        .expect("the stack is listed");
    assert!(!app.managed, "created outside AppOS");
    assert_eq!(app.state, AppState::Running);
    let services: Vec<&str> = app.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(services, ["web", "worker"]);
    let web = &app.services[0].containers[0];
    assert_eq!(web.state, "running");
    assert_eq!(web.image, support::BUSYBOX_IMAGE);
    let port = web
        .ports
        .iter()
        .find(|p| p.private_port == 8080)
        .expect("published port");
    assert!(port.public_port.is_some_and(|p| p > 0));
    assert_eq!(port.protocol, "tcp");
    assert!(
        app.config_files.iter().any(|f| f.ends_with("compose.yml")),
        "{:?}",
        app.config_files
    );

    let one = c
        .call(&GetApp {
            app: AppName::parse(&name).expect("name"),
        })
        .await
        .expect("get app");
    assert_eq!(&one, app);
    match c
        .call(&GetApp {
            app: AppName::parse("no-such-app-xyz").expect("name"),
        })
        .await
    {
        Err(appos_client::ClientError::Api(p)) => {
            assert_eq!((p.status, p.code), (404, ProblemCode::AppNotFound));
            assert_eq!(
                p.detail.as_deref(),
                Some("no app or compose project is named \"no-such-app-xyz\"")
            );
        }
        other => panic!("{other:?}"),
    }

    stack
        .compose(&["stop", "-t", "1", "worker"])
        .expect("stop worker");
    let app = c
        .call(&GetApp {
            app: AppName::parse(&name).expect("name"),
        })
        .await
        .expect("get app");
    assert_eq!(app.state, AppState::Partial);

    let info = c.call(&GetInfo {}).await.expect("info");
    assert!(!info.docker.version.is_empty());
    assert_ne!(info.compose.flavour, appos_proto::ComposeFlavour::Missing);
}

#[test]
fn a_second_agent_on_the_same_data_dir_is_refused() {
    let agent = support::Agent::start().expect("agent starts");
    let out = std::process::Command::new(support::bin("appos-agent"))
        .arg("--data")
        .arg(agent.data.path())
        .arg("serve")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already listening"));
}

#[test]
fn public_listen_addresses_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(support::bin("appos-agent"))
        .arg("--data")
        .arg(dir.path())
        .args(["serve", "--listen", "0.0.0.0:7171"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only loopback"));
    assert!(
        !dir.path().join("run").exists(),
        "nothing is created on a refused start"
    );
}

/// The desktop starts "This computer"'s agent while its window loads
/// (`Desktop::warm_up`): the entry is connected before the first screen
/// asks, and the screen's own connect uses that agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_starts_its_local_agent_ahead_of_the_window() {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let home = tempfile::tempdir().expect("home");
    let data = home.path().join("local-agent");
    let paths = appos_desktop_core::Paths {
        config_dir: home.path().join("config"),
        local_agent_data: data.clone(),
        agent_bin: support::bin("appos-agent"),
    };
    let desktop = appos_desktop_core::Desktop::new(paths);
    let before = desktop.servers().await.expect("servers");
    assert_eq!(
        (before[0].name.as_str(), before[0].connected),
        ("local", false)
    );
    desktop.warm_up().await;
    let after = desktop.servers().await.expect("servers");
    assert_eq!(
        (after[0].name.as_str(), after[0].connected),
        ("local", true),
        "started ahead of the first screen"
    );
    let c = desktop
        .connect(appos_desktop_core::LOCAL)
        .await
        .expect("connect");
    assert_eq!(c.info.data_dir, data.display().to_string());
    desktop.shutdown().await;
}

/// The problem and `Retry-After` of a 429, checked whole: the detail names
/// the wait the header gives.
fn rate_limited(r: &appos_client::api::RawResponse, detail: impl Fn(u64) -> String, most: u64) {
    let p: Problem = serde_json::from_slice(&r.body).expect("problem");
    let after: u64 = r
        .headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=most).contains(&after), "Retry-After {after}");
    assert_eq!(
        (r.status.as_u16(), p.code, p.detail),
        (429, ProblemCode::RateLimited, Some(detail(after)))
    );
}

/// 1,000 requests with wrong or missing tokens: the first ones (the budget,
/// 10 here) are answered 401, the rest 429 with `Retry-After`, logged once;
/// a valid token is served all along, and spends none of that budget.
#[tokio::test]
async fn failed_authentication_has_a_budget_and_valid_tokens_keep_working() {
    let agent = support::Agent::start_env(
        &[],
        &[
            ("APPOS_AUTH_FAILURE_BURST", "10"),
            ("APPOS_AUTH_FAILURES_PER_MIN", "1"),
        ],
    )
    .expect("agent starts");
    let token = agent.issue_token("laptop", "read").expect("issue");
    let (good, wrong, none) = (
        client(&agent, Some(&token)),
        client(&agent, Some("appos_wrong")),
        client(&agent, None),
    );
    let mut statuses = BTreeMap::new();
    for i in 0..1000 {
        let c = if i % 2 == 0 { &wrong } else { &none };
        let r = c
            .request_raw(Method::GET, "/v1/apps", None)
            .await
            .expect("request");
        *statuses.entry(r.status.as_u16()).or_insert(0) += 1;
        if r.status.as_u16() == 429 {
            rate_limited(
                &r,
                |s| format!("too many requests without a valid token lately; try again in {s} s"),
                60,
            );
        }
        if i % 50 == 0 {
            let ok = good
                .request_raw(Method::GET, "/v1/apps", None)
                .await
                .expect("request");
            assert_eq!(
                ok.status.as_u16(),
                200,
                "a valid token during the burst, request {i}"
            );
        }
    }
    assert_eq!(statuses, BTreeMap::from([(401, 10), (429, 990)]));
    let logged = agent
        .log()
        .matches("failed authentications are over the budget")
        .count();
    assert_eq!(logged, 1, "logged once per window:\n{}", agent.log());
}

/// A token past its rate gets 429 with `Retry-After`; another token is
/// served meanwhile, and the first is served again after the wait.
#[tokio::test]
async fn requests_per_token_are_limited() {
    let agent = support::Agent::start_env(
        &[],
        &[
            ("APPOS_TOKEN_BURST", "5"),
            ("APPOS_TOKEN_REQUESTS_PER_SEC", "1"),
        ],
    )
    .expect("agent starts");
    let (busy, other) = (
        agent.issue_token("busy", "read").expect("issue"),
        agent.issue_token("other", "read").expect("issue"),
    );
    let (busy, other) = (client(&agent, Some(&busy)), client(&agent, Some(&other)));
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..8 {
        let r = busy
            .request_raw(Method::GET, "/v1/apps", None)
            .await
            .expect("request");
        statuses.push(r.status.as_u16());
        if r.status.as_u16() == 429 {
            rate_limited(
                &r,
                |s| {
                    format!("token \"busy\" sends more requests than the agent takes from one token; try again in {s} s")
                },
                1,
            );
            last = Some(r);
        }
    }
    // The burst, then refusals (a request a second comes back while they run).
    assert_eq!(statuses[..5], [200; 5], "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count()
            + statuses.iter().filter(|s| **s == 200).count(),
        8,
        "{statuses:?}"
    );
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    assert_eq!(
        other
            .request_raw(Method::GET, "/v1/apps", None)
            .await
            .expect("request")
            .status
            .as_u16(),
        200
    );
    // The client library waits a short Retry-After and sends again.
    busy.call(&ListApps {})
        .await
        .expect("answered after the wait");
    let after: u64 = last.expect("a 429").headers[http::header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    tokio::time::sleep(Duration::from_secs(after)).await;
    assert_eq!(
        busy.request_raw(Method::GET, "/v1/apps", None)
            .await
            .expect("request")
            .status
            .as_u16(),
        200
    );
}

/// A request that changes something, sent again with its `Idempotency-Key`
/// (a client whose connection broke before the answer came), is done once:
/// the first answer comes again, marked as replayed. The key is per token;
/// used for another request it is refused; a malformed one too.
#[tokio::test]
async fn a_request_sent_again_with_its_idempotency_key_is_done_once() {
    let agent = support::Agent::start().expect("agent starts");
    let (admin, other) = (
        client(
            &agent,
            Some(&agent.issue_token("admin", "admin").expect("token")),
        ),
        client(
            &agent,
            Some(&agent.issue_token("ops", "admin").expect("token")),
        ),
    );
    let add = |name: &str| {
        serde_json::to_vec(&serde_json::json!({ "name": name, "config": { "kind": "webhook", "url": "http://127.0.0.1:9/hook" } })).expect("json")
    };
    async fn send(c: &Client, key: &str, body: Vec<u8>) -> appos_client::api::RawResponse {
        c.request_with(
            Method::POST,
            "/v1/alerts/channels",
            Some(body),
            &[("Idempotency-Key", key)],
        )
        .await
        .expect("request")
    }
    let key = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
    let first = send(&admin, key, add("ops")).await;
    assert_eq!(
        (
            first.status.as_u16(),
            first.headers.get("idempotent-replayed")
        ),
        (201, None),
        "{:?}",
        first.body
    );
    let again = send(&admin, key, add("ops")).await;
    assert_eq!(
        (
            again.status.as_u16(),
            again
                .headers
                .get("idempotent-replayed")
                .map(|v| v.to_str().expect("ascii"))
        ),
        (201, Some("true"))
    );
    assert_eq!(
        (again.body.clone(), again.headers.get("content-type")),
        (first.body.clone(), first.headers.get("content-type"))
    );
    let channels: Vec<serde_json::Value> = serde_json::from_slice(
        &admin
            .request_raw(Method::GET, "/v1/alerts/channels", None)
            .await
            .expect("list")
            .body,
    )
    .expect("json");
    assert_eq!(channels.len(), 1, "one channel, not two: {channels:?}");

    // Without the key (or with another), it is a new request: the channel exists.
    let p: Problem = serde_json::from_slice(&send(&admin, "another-key-1", add("ops")).await.body)
        .expect("problem");
    assert_eq!((p.status, p.code), (409, ProblemCode::ChannelExists));
    // Another token's key of the same text is its own.
    let p: Problem =
        serde_json::from_slice(&send(&other, key, add("ops")).await.body).expect("problem");
    assert_eq!((p.status, p.code), (409, ProblemCode::ChannelExists));
    // The key with another request: refused, and nothing done.
    let r = send(&admin, key, add("pager")).await;
    let p: Problem = serde_json::from_slice(&r.body).expect("problem");
    assert_eq!(
        (r.status.as_u16(), p.code, p.detail.as_deref()),
        (422, ProblemCode::IdempotencyKeyReused, Some("this Idempotency-Key came first with another request (POST /v1/alerts/channels, or another body): a new request needs a new key"))
    );
    let r = send(&admin, "not a key", add("pager")).await;
    let p: Problem = serde_json::from_slice(&r.body).expect("problem");
    assert_eq!(
        (r.status.as_u16(), p.errors),
        (
            400,
            vec![FieldError {
                field: "Idempotency-Key".into(),
                message: "8 to 128 letters, digits, '-' and '_' (a UUID will do)".into()
            }]
        )
    );
    let channels: Vec<serde_json::Value> = serde_json::from_slice(
        &admin
            .request_raw(Method::GET, "/v1/alerts/channels", None)
            .await
            .expect("list")
            .body,
    )
    .expect("json");
    assert_eq!(channels.len(), 1, "{channels:?}");
}

/// A client that loses its connection right after sending a request does
/// not know whether it was done: sent again with its key, it is done once
/// either way (the first was done and its answer is replayed, or it was cut
/// before and this one does it).
#[tokio::test]
async fn a_request_cut_off_and_sent_again_with_its_key_is_done_once() {
    use tokio::io::AsyncWriteExt as _;
    let agent = support::Agent::start().expect("agent starts");
    let token = agent.issue_token("admin", "admin").expect("token");
    let c = client(&agent, Some(&token));
    for (i, pause_ms) in [0u64, 5, 20, 50, 200].into_iter().enumerate() {
        let body = format!(
            r#"{{"name":"gone-{i}","config":{{"kind":"webhook","url":"http://127.0.0.1:9/hook"}}}}"#
        );
        let key = format!("5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4{i}");
        let mut raw = tokio::net::UnixStream::connect(agent.socket())
            .await
            .expect("connect");
        let request = format!(
            "POST /v1/alerts/channels HTTP/1.1\r\nHost: appos-agent\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        raw.write_all(request.as_bytes()).await.expect("send");
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        drop(raw);
        let again = c
            .request_with(
                Method::POST,
                "/v1/alerts/channels",
                Some(body.clone().into_bytes()),
                &[("Idempotency-Key", &key)],
            )
            .await
            .expect("again");
        assert_eq!(
            again.status.as_u16(),
            201,
            "cut after {pause_ms} ms: {:?}",
            again.body
        );
        let channels: Vec<serde_json::Value> = serde_json::from_slice(
            &c.request_raw(Method::GET, "/v1/alerts/channels", None)
                .await
                .expect("list")
                .body,
        )
        .expect("json");
        assert_eq!(
            channels.len(),
            i + 1,
            "cut after {pause_ms} ms: {channels:?}"
        );
    }
}
