//! The agent as a real process on a real data dir, reached over its unix
//! socket: the token gate, the Docker inventory, start-up refusals.

use appos_client::{Client, Transport};
use appos_proto::{App, AppState, Problem};
use appos_test_support as support;
use http::Method;

fn client(agent: &support::Agent, token: Option<&str>) -> Client {
    Client::new(Transport::Unix(agent.socket()), token.map(str::to_string))
}

const V1_ROUTES: &[&str] = &["/v1/info", "/v1/apps", "/v1/apps/some-app", "/v1/no-such-route"];

async fn assert_all_unauthorized(c: &Client, why: &str) {
    for route in V1_ROUTES {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let r = c.request_raw(method.clone(), route, None).await.expect("request");
            assert_eq!(r.status.as_u16(), 401, "{method} {route} with {why} answered {}", r.status);
            let p: Problem = serde_json::from_slice(&r.body).expect("problem json body");
            assert_eq!(p.code, "unauthorized");
            assert_eq!(p.status, 401);
        }
    }
}

#[tokio::test]
async fn every_v1_route_rejects_missing_wrong_and_revoked_tokens() {
    let agent = support::Agent::start().expect("agent starts");

    // /health is the only open route.
    let h = client(&agent, None).health().await.expect("health");
    assert_eq!(h.status, "ok");

    assert_all_unauthorized(&client(&agent, None), "no token").await;
    assert_all_unauthorized(&client(&agent, Some("appos_not-a-real-token")), "a wrong token").await;
    assert_all_unauthorized(&client(&agent, Some("Basic abc")), "a malformed token").await;

    let token = agent.issue_token("laptop", "admin").expect("issue");
    let good = client(&agent, Some(&token));
    let r = good.request_raw(Method::GET, "/v1/no-such-route", None).await.expect("request");
    assert_eq!(r.status.as_u16(), 404, "a valid token reaches the router");

    // A token in the query string is never accepted.
    let anon = client(&agent, None);
    let r = anon.request_raw(Method::GET, &format!("/v1/apps?token={token}"), None).await.expect("request");
    assert_eq!(r.status.as_u16(), 401);
    let r = anon.request_raw(Method::GET, &format!("/v1/apps?access_token={token}"), None).await.expect("request");
    assert_eq!(r.status.as_u16(), 401);

    agent.cli(&["token", "revoke", "laptop"]).expect("revoke");
    assert_all_unauthorized(&good, "a revoked token").await;
    let r = good.request_raw(Method::GET, "/v1/apps", None).await.expect("request");
    let p: Problem = serde_json::from_slice(&r.body).expect("problem");
    assert!(p.detail.unwrap_or_default().contains("revoked"));

    // Token names are listed, secrets never.
    let list = agent.cli(&["token", "list"]).expect("list");
    assert!(list.contains("laptop"));
    assert!(!list.contains(&token));
    assert!(!agent.log().contains(&token), "the token must not appear in logs");
}

#[tokio::test]
async fn read_tokens_cannot_change_anything() {
    let agent = support::Agent::start().expect("agent starts");
    let token = agent.issue_token("viewer", "read").expect("issue");
    let c = client(&agent, Some(&token));
    let r = c.request_raw(Method::POST, "/v1/apps", None).await.expect("request");
    assert_eq!(r.status.as_u16(), 403);
    let r = c.request_raw(Method::GET, "/v1/no-such-route", None).await.expect("request");
    assert_eq!(r.status.as_u16(), 404);
}

#[tokio::test]
async fn hostile_app_names_are_refused() {
    let agent = support::Agent::start().expect("agent starts");
    let token = agent.issue_token("t", "admin").expect("issue");
    let c = client(&agent, Some(&token));
    for name in ["..%2Fx", "a%3Bb", "A%20B", "UPPER", &"a".repeat(300)] {
        let r = c.request_raw(Method::GET, &format!("/v1/apps/{name}"), None).await.expect("request");
        assert_eq!(r.status.as_u16(), 400, "{name}");
        let p: Problem = serde_json::from_slice(&r.body).expect("problem");
        assert_eq!(p.code, "invalid_app_name");
    }
}

/// Malformed query strings and bodies get problem JSON naming what is wrong.
#[tokio::test]
async fn malformed_queries_and_bodies_are_problems() {
    let agent = support::Agent::start().expect("agent starts");
    let token = agent.issue_token("t", "admin").expect("issue");
    let c = client(&agent, Some(&token));
    for (method, path, body) in [
        (Method::GET, "/v1/events?after=soon", None),
        (Method::GET, "/v1/apps/blog/diff?from=one&to=2", None),
        (Method::GET, "/v1/apps/blog/logs?tail=-5", None),
        (Method::DELETE, "/v1/apps/blog?volumes=maybe", None),
        (Method::POST, "/v1/terminals", Some(br#"{"kind":"telnet"}"#.to_vec())),
        (Method::POST, "/v1/compose/check", Some(b"not json".to_vec())),
    ] {
        let r = c.request_raw(method.clone(), path, body).await.expect("request");
        assert_eq!(r.status.as_u16(), 400, "{method} {path}: {}", String::from_utf8_lossy(&r.body));
        let p: Problem = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: not problem JSON ({e}): {:?}", r.body));
        assert_eq!(p.code, "invalid_input", "{path}");
        assert!(!p.errors.is_empty(), "{path}: says what is wrong");
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
    let stack = support::ComposeStack::up(&name, &support::two_service_compose()).expect("compose up");

    let apps = c.apps().await.expect("apps");
    let app: &App = apps.iter().find(|a| a.name == name).expect("the stack is listed");
    assert!(!app.managed, "created outside AppOS");
    assert_eq!(app.state, AppState::Running);
    let services: Vec<&str> = app.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(services, ["web", "worker"]);
    let web = &app.services[0].containers[0];
    assert_eq!(web.state, "running");
    assert_eq!(web.image, support::BUSYBOX_IMAGE);
    let port = web.ports.iter().find(|p| p.private_port == 8080).expect("published port");
    assert!(port.public_port.is_some_and(|p| p > 0));
    assert_eq!(port.protocol, "tcp");
    assert!(app.config_files.iter().any(|f| f.ends_with("compose.yml")), "{:?}", app.config_files);

    let one = c.app(&name).await.expect("get app");
    assert_eq!(&one, app);
    let err = c.app("no-such-app-xyz").await.expect_err("404");
    assert!(err.to_string().contains("No such app"), "{err}");

    stack.compose(&["stop", "-t", "1", "worker"]).expect("stop worker");
    let app = c.app(&name).await.expect("get app");
    assert_eq!(app.state, AppState::Partial);

    let info = c.info().await.expect("info");
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
    assert!(!dir.path().join("run").exists(), "nothing is created on a refused start");
}
