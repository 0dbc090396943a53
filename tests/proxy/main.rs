//! Domains through the real reverse proxy (Caddy, run by the agent) with
//! certificates from a real ACME server (pebble, HTTP-01), for a real app
//! in dockerd: served over HTTPS with pebble's root as the only trust
//! anchor, HTTP redirected, refused input changing nothing, the same
//! domains after an agent restart, and a removed domain no longer served.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use appos_test_support as support;

struct Env {
    agent: support::Agent,
    home: tempfile::TempDir,
    http: u16,
    https: u16,
    _pebble: support::Pebble,
    root: std::path::PathBuf,
}

impl Env {
    fn start() -> Option<Env> {
        support::require("dockerd", support::docker())?;
        support::require("caddy", support::which("caddy"))?;
        support::require("pebble", support::which("pebble"))?;
        let (http, https) = (support::free_port(), support::free_port());
        let pebble = support::Pebble::start(http).expect("pebble");
        let ca = pebble.acme_ca().display().to_string();
        let env = [
            ("APPOS_PROXY_HTTP", format!("127.0.0.1:{http}")),
            ("APPOS_PROXY_HTTPS", format!("127.0.0.1:{https}")),
            ("APPOS_ACME_CA", pebble.directory.clone()),
            ("APPOS_ACME_CA_ROOT", ca),
            ("APPOS_ACME_EMAIL", "admin@example.com".to_string()),
        ];
        let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let agent = support::Agent::start_env(&[], &vars).expect("agent");
        let token = agent.issue_token("ops", "admin").expect("token");
        let home = tempfile::tempdir().expect("home");
        let root = pebble.issuing_root().expect("pebble root");
        let e = Env { agent, home, http, https, _pebble: pebble, root };
        let o = e.appos(&["server", "add", "here", &format!("unix://{}", e.agent.socket().display()), "--token", &token]);
        assert!(o.status.success(), "{}", text(&o));
        Some(e)
    }

    fn appos(&self, args: &[&str]) -> Output {
        support::appos(self.home.path()).args(args).output().expect("run appos")
    }

    /// GET `https://DOMAIN/` through the proxy, trusting only pebble's root: the body.
    fn https(&self, domain: &str) -> Result<String, String> {
        let o = Command::new("curl")
            .args(["-sS", "--max-time", "5", "--resolve", &format!("{domain}:{}:127.0.0.1", self.https), "--cacert"])
            .arg(&self.root)
            .arg(format!("https://{domain}:{}/", self.https))
            .output()
            .expect("curl");
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).into_owned())
        } else {
            Err(text(&o))
        }
    }

    /// GET `http://DOMAIN/`: status line, `Location` and body.
    fn http(&self, domain: &str) -> String {
        let o = Command::new("curl")
            .args(["-sS", "-i", "--max-time", "5", "--resolve", &format!("{domain}:{}:127.0.0.1", self.http)])
            .arg(format!("http://{domain}:{}/", self.http))
            .output()
            .expect("curl");
        text(&o)
    }

    fn https_eventually(&self, domain: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut last = Err(String::new());
        while Instant::now() < deadline {
            last = self.https(domain);
            if last.as_deref() == Ok(want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("{domain} never served {want:?} over HTTPS: {last:?}\nagent log:\n{}", self.agent.log());
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Takes the app's compose project down when the test ends.
struct Down(std::path::PathBuf, String);

impl Drop for Down {
    fn drop(&mut self) {
        let cmd = support::compose_cmd();
        let _ = Command::new(&cmd[0]).args(&cmd[1..]).args(["-p", &self.1, "-f"]).arg(self.0.join("compose.yml")).args(["down", "-t", "1"]).current_dir(&self.0).output();
    }
}

#[test]
fn a_domain_is_served_over_https_with_a_certificate_from_acme() {
    let Some(mut env) = Env::start() else { return };
    let app = support::unique("site");
    let _down = Down(env.agent.data.path().join("apps").join(&app), app.clone());
    let project = env.home.path().join("site");
    std::fs::create_dir_all(project.join("www")).expect("mkdir");
    std::fs::write(project.join("www/index.html"), "served through the proxy\n").expect("write");
    std::fs::write(
        project.join("compose.yml"),
        format!(
            "services:\n  web:\n    image: {}\n    command: [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n    volumes: [\"./www:/www:ro\"]\n    stop_signal: SIGKILL\n    labels: [\"{}=1\"]\n",
            support::BUSYBOX_IMAGE,
            support::TEST_LABEL
        ),
    )
    .expect("write");
    let o = env.appos(&["deploy", "-f", &project.display().to_string(), "--name", &app]);
    assert!(o.status.success(), "{}", text(&o));

    // Hostile names and unknown targets are refused, and nothing is written.
    let target = format!("{app}:8080");
    for (domain, target, message) in [
        ("a;b.test", target.as_str(), "domain: \"a;b.test\" is not a valid domain name"),
        ("x\ny.test", target.as_str(), "domain: \"x\\ny.test\" is not a valid domain name"),
        ("{.test", target.as_str(), "domain: \"{.test\" is not a valid domain name"),
        ("..", target.as_str(), "domain: \"..\" is not a valid domain name"),
        ("ok.test", "nosuchapp:80", "target: no app or compose project is named \"nosuchapp\""),
        ("ok.test", &format!("{app}/db:80"), &format!("target: {app} has no service \"db\" (it has web)")),
    ] {
        let o = env.appos(&["domains", "add", domain, target, "--ssl"]);
        assert_eq!(o.status.code(), Some(1), "{domain}: {}", text(&o));
        assert_eq!(text(&o), format!("appos: Invalid input: {message}\n"), "{domain}");
    }
    let o = env.appos(&["domains", "--output", "json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]", "{}", text(&o));

    // A domain with HTTPS: pebble issues the certificate over HTTP-01.
    let o = env.appos(&["domains", "add", "blog.test", &target, "--ssl", "--force-https"]);
    assert!(o.status.success(), "{}", text(&o));
    env.https_eventually("blog.test", "served through the proxy\n");
    let plain = env.http("blog.test");
    assert!(plain.starts_with("HTTP/1.1 308") && plain.contains("Location: https://blog.test/"), "{plain}");
    let o = env.appos(&["domains", "--output", "json"]);
    let domains: Vec<appos_proto::Domain> = serde_json::from_slice(&o.stdout).expect("json");
    match &domains[0].certificate {
        appos_proto::CertStatus::Valid { issuer, days_left, .. } => assert!(issuer.starts_with("Pebble Intermediate CA") && *days_left > 30, "{issuer} {days_left}"),
        other => panic!("{other:?}"),
    }
    // A second domain, plain HTTP.
    let o = env.appos(&["domains", "add", "plain.test", &target]);
    assert!(o.status.success(), "{}", text(&o));
    let plain = env.http("plain.test");
    assert!(plain.starts_with("HTTP/1.1 200") && plain.ends_with("served through the proxy\n"), "{plain}");
    let o = env.appos(&["domains", "add", "blog.test", &target]);
    assert_eq!(text(&o), format!("appos: The domain is taken: blog.test already points at {app}/web:8080; remove it first\n"));

    // After an agent restart the same domains are served.
    env.agent.crash_and_restart().expect("restart");
    env.https_eventually("blog.test", "served through the proxy\n");
    assert!(env.http("plain.test").starts_with("HTTP/1.1 200"));

    // Removed, no longer served.
    let o = env.appos(&["domains", "rm", "blog.test"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(env.https("blog.test").is_err());
    let o = env.appos(&["domains", "rm", "blog.test"]);
    assert_eq!(text(&o), "appos: No such domain: no domain blog.test is served here\n");
    let o = env.appos(&["audit", "--app", &app]);
    assert!(text(&o).contains("domain.add") && text(&o).contains("domain.remove"), "{}", text(&o));
}
