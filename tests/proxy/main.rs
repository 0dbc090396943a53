//! Domains through the real reverse proxy (Caddy or nginx, run by the
//! agent) with certificates from a real ACME server (pebble, HTTP-01, with
//! pebble-challtestsrv as the DNS of pebble and of the agent's preflight),
//! for a real app in dockerd: served over HTTPS with pebble's root as the
//! only trust anchor, HTTP redirected, refused input changing nothing, no
//! order for a domain that does not point here (unless told to skip the
//! check), the same domains after an agent restart, and a removed domain
//! no longer served.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use appos_test_support as support;

struct Env {
    agent: support::Agent,
    home: tempfile::TempDir,
    http: u16,
    https: u16,
    pebble: support::Pebble,
    root: std::path::PathBuf,
}

/// Which DNS the agent's preflight asks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dns {
    /// pebble's (every name is 127.0.0.1 unless set otherwise).
    Pebble,
    /// The machine's resolver (no `.test` name resolves).
    System,
}

impl Env {
    fn start(proxy: &str) -> Option<Env> {
        Self::start_with(proxy, Dns::Pebble, &[])
    }

    fn start_with(proxy: &str, dns: Dns, extra: &[(&str, &str)]) -> Option<Env> {
        support::require("dockerd", support::docker())?;
        support::require(proxy, support::which(proxy))?;
        support::require("pebble", support::which("pebble"))?;
        let (http, https) = (support::free_port(), support::free_port());
        let pebble = support::Pebble::start(http).expect("pebble");
        let ca = pebble.acme_ca().display().to_string();
        let mut env = vec![
            ("APPOS_PROXY", proxy.to_string()),
            ("APPOS_PROXY_HTTP", format!("127.0.0.1:{http}")),
            ("APPOS_PROXY_HTTPS", format!("127.0.0.1:{https}")),
            ("APPOS_ACME_CA", pebble.directory.clone()),
            ("APPOS_ACME_CA_ROOT", ca),
            ("APPOS_ACME_EMAIL", "admin@example.com".to_string()),
        ];
        if dns == Dns::Pebble {
            env.push(("APPOS_DNS", format!("127.0.0.1:{}", pebble.dns)));
        }
        let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        vars.extend_from_slice(extra);
        let agent = support::Agent::start_env(&[], &vars).expect("agent");
        let token = agent.issue_token("ops", "admin").expect("token");
        let home = tempfile::tempdir().expect("home");
        let root = pebble.issuing_root().expect("pebble root");
        let e = Env {
            agent,
            home,
            http,
            https,
            pebble,
            root,
        };
        let o = e.appos(&[
            "server",
            "add",
            "here",
            &format!("unix://{}", e.agent.socket().display()),
            "--token",
            &token,
        ]);
        assert!(o.status.success(), "{}", text(&o));
        Some(e)
    }

    fn appos(&self, args: &[&str]) -> Output {
        support::appos(self.home.path())
            .args(args)
            .output()
            .expect("run appos")
    }

    /// GET `https://DOMAIN/` through the proxy, trusting only pebble's root: the body.
    fn https(&self, domain: &str) -> Result<String, String> {
        let o = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "5",
                "--resolve",
                &format!("{domain}:{}:127.0.0.1", self.https),
                "--cacert",
            ])
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

    /// GET `https://DOMAIN/x` through the proxy: status line and headers (no redirect followed).
    fn https_head(&self, domain: &str) -> String {
        let o = Command::new("curl")
            .args([
                "-sS",
                "-i",
                "--max-time",
                "5",
                "--resolve",
                &format!("{domain}:{}:127.0.0.1", self.https),
                "--cacert",
            ])
            .arg(&self.root)
            .arg(format!("https://{domain}:{}/x", self.https))
            .output()
            .expect("curl");
        text(&o)
    }

    /// The certificate status of one domain, as `appos domains` shows it.
    fn cert(&self, domain: &str) -> appos_proto::CertStatus {
        let o = self.appos(&["domains", "--output", "json"]);
        let domains: Vec<appos_proto::Domain> = serde_json::from_slice(&o.stdout).expect("json");
        domains
            .into_iter()
            .find(|d| d.domain == domain)
            .map(|d| d.certificate)
            .unwrap_or_else(|| panic!("{domain} is not listed"))
    }

    /// GET `http://DOMAIN/`: status line, `Location` and body.
    fn http(&self, domain: &str) -> String {
        let o = Command::new("curl")
            .args([
                "-sS",
                "-i",
                "--max-time",
                "5",
                "--resolve",
                &format!("{domain}:{}:127.0.0.1", self.http),
            ])
            .arg(format!("http://{domain}:{}/", self.http))
            .output()
            .expect("curl");
        text(&o)
    }

    /// Waits until the domain's certificate status is `want`.
    fn cert_eventually(&self, domain: &str, want: &appos_proto::CertStatus) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = self.cert(domain);
            if &now == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{domain}: {now:?}, never {want:?}\nagent log:\n{}\n{}",
                self.agent.log(),
                self.pebble.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
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
        panic!(
            "{domain} never served {want:?} over HTTPS: {last:?}\nagent log:\n{}\n{}",
            self.agent.log(),
            self.pebble.log()
        );
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Takes the app's compose project down when the test ends.
struct Down(std::path::PathBuf, String);

impl Drop for Down {
    fn drop(&mut self) {
        support::compose_down(&self.0, &self.1);
    }
}

/// Deploys a busybox httpd app serving "served through the proxy\n" on port 8080.
fn deploy_site(env: &Env, app: &str) {
    let project = env.home.path().join(app);
    support::busybox_site(&project, "served through the proxy\n").expect("site");
    let o = env.appos(&[
        "deploy",
        "-f",
        &project.display().to_string(),
        "--name",
        app,
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn caddy_serves_a_domain_over_https_with_a_certificate_from_acme() {
    served_over_https("caddy");
}

#[test]
fn nginx_serves_a_domain_over_https_with_a_certificate_from_acme() {
    served_over_https("nginx");
}

fn served_over_https(proxy: &str) {
    let Some(mut env) = Env::start(proxy) else {
        return;
    };
    let app = support::unique("site");
    let _down = Down(env.agent.data.path().join("apps").join(&app), app.clone());
    deploy_site(&env, &app);

    // Hostile names and unknown targets are refused, and nothing is written.
    let target = format!("{app}:8080");
    let long = format!("{}a.test", "a.".repeat(147));
    let label = format!("{}.test", "a".repeat(64));
    for (domain, target, message) in [
        (
            "a;b.test",
            target.as_str(),
            "domain: \"a;b.test\" is not a valid domain name",
        ),
        (
            "x\ny.test",
            target.as_str(),
            "domain: \"x\\ny.test\" is not a valid domain name",
        ),
        (
            "{.test",
            target.as_str(),
            "domain: \"{.test\" is not a valid domain name",
        ),
        (
            "..",
            target.as_str(),
            "domain: \"..\" is not a valid domain name",
        ),
        (
            "\".test",
            target.as_str(),
            "domain: \"\\\".test\" is not a valid domain name",
        ),
        (
            long.as_str(),
            target.as_str(),
            "domain: 300 characters; a domain name has at most 253",
        ),
        (
            label.as_str(),
            target.as_str(),
            &format!("domain: {label:?} is not a valid domain name"),
        ),
        (
            "ok.test",
            "nosuchapp:80",
            "target: no app or compose project is named \"nosuchapp\"",
        ),
        (
            "ok.test",
            &format!("{app}/db:80"),
            &format!("target: {app} has no service \"db\" (it has web)"),
        ),
    ] {
        let o = env.appos(&["domains", "add", domain, target, "--ssl"]);
        assert_eq!(o.status.code(), Some(1), "{domain}: {}", text(&o));
        assert_eq!(
            text(&o),
            format!("appos: Invalid input: {message}\n"),
            "{domain}"
        );
    }
    let o = env.appos(&["domains", "--output", "json"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "[]",
        "{}",
        text(&o)
    );

    // A domain with HTTPS: pebble issues the certificate over HTTP-01.
    let o = env.appos(&[
        "domains",
        "add",
        "blog.test",
        &target,
        "--ssl",
        "--force-https",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    env.https_eventually("blog.test", "served through the proxy\n");
    // nginx's old workers finish a reload's moment on the previous configuration: wait for the redirect too.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let plain = env.http("blog.test");
        if plain.starts_with("HTTP/1.1 308") && plain.contains("Location: https://blog.test/") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "plain HTTP is not redirected: {plain}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // (The same moment: the agent's own handshake may still reach an old worker.)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match env.cert("blog.test") {
            appos_proto::CertStatus::Valid {
                issuer, days_left, ..
            } => {
                assert!(
                    issuer.starts_with("Pebble Intermediate CA") && days_left > 30,
                    "{issuer} {days_left}"
                );
                break;
            }
            other => assert!(Instant::now() < deadline, "{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // A domain that points elsewhere: nothing is ordered, and the status says why.
    env.pebble
        .set_a("elsewhere.test", "127.0.0.2")
        .expect("dns");
    let o = env.appos(&["domains", "add", "elsewhere.test", &target, "--ssl"]);
    assert!(o.status.success(), "{}", text(&o));
    let why = format!(
        "preflight: elsewhere.test resolves to 127.0.0.2, which does not answer on port {} (Connection refused (os error 111)); point its DNS record here and open the port, or skip the preflight",
        env.http
    );
    env.cert_eventually(
        "elsewhere.test",
        &appos_proto::CertStatus::Failed { reason: why },
    );
    if proxy == "nginx" {
        // Ordered anyway when told to: the CA's own check fails, and its reason is the status.
        let o = env.appos(&["domains", "ssl", "elsewhere.test", "--skip-preflight"]);
        assert!(o.status.success(), "{}", text(&o));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match env.cert("elsewhere.test") {
                appos_proto::CertStatus::Failed { reason }
                    if reason.starts_with("the CA refused: ") =>
                {
                    assert!(reason.contains("127.0.0.2"), "{reason}");
                    break;
                }
                other => assert!(Instant::now() < deadline, "{other:?}\n{}", env.agent.log()),
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let o = env.appos(&["domains", "rm", "elsewhere.test"]);
    assert!(o.status.success(), "{}", text(&o));

    // A second domain, plain HTTP.
    let o = env.appos(&["domains", "add", "plain.test", &target]);
    assert!(o.status.success(), "{}", text(&o));
    let plain = env.http("plain.test");
    assert!(
        plain.starts_with("HTTP/1.1 200") && plain.ends_with("served through the proxy\n"),
        "{plain}"
    );
    let o = env.appos(&["domains", "add", "blog.test", &target]);
    assert_eq!(text(&o), format!("appos: The domain is taken: blog.test already points at {app}/web:8080; remove it first\n"));

    // www redirects to the apex, with its own certificate.
    let o = env.appos(&[
        "domains",
        "add",
        "www.blog.test",
        "--redirect-to",
        "blog.test",
        "--ssl",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let head = env.https_head("www.blog.test");
        if head.starts_with("HTTP/2 308") || head.starts_with("HTTP/1.1 308") {
            assert!(
                head.to_ascii_lowercase()
                    .contains("location: https://blog.test/x"),
                "{head}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "www never redirected: {head}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let o = env.appos(&["domains", "rm", "blog.test"]);
    assert_eq!(
        text(&o),
        "appos: The domain is taken: www.blog.test redirects to blog.test; remove it first\n"
    );
    let o = env.appos(&["domains", "rm", "www.blog.test"]);
    assert!(o.status.success(), "{}", text(&o));

    // A new certificate on request.
    let before = match env.cert("blog.test") {
        appos_proto::CertStatus::Valid { not_after, .. } => not_after,
        other => panic!("{other:?}"),
    };
    std::thread::sleep(Duration::from_millis(1100));
    let o = env.appos(&["domains", "ssl", "blog.test"]);
    assert!(o.status.success(), "{}", text(&o));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let appos_proto::CertStatus::Valid { not_after, .. } = env.cert("blog.test") {
            if not_after > before {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new certificate was served: {:?}",
            env.cert("blog.test")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    env.https_eventually("blog.test", "served through the proxy\n");

    // After an agent restart the same domains are served.
    env.agent.crash_and_restart().expect("restart");
    env.https_eventually("blog.test", "served through the proxy\n");
    assert!(env.http("plain.test").starts_with("HTTP/1.1 200"));

    // Removed, no longer served.
    let o = env.appos(&["domains", "rm", "blog.test"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(env.https("blog.test").is_err());
    let o = env.appos(&["domains", "rm", "blog.test"]);
    assert_eq!(
        text(&o),
        "appos: No such domain: no domain blog.test is served here\n"
    );
    let o = env.appos(&["audit", "--app", &app]);
    assert!(
        text(&o).contains("domain.add") && text(&o).contains("domain.remove"),
        "{}",
        text(&o)
    );
}

/// An uploaded certificate (ours, expiring in 10 days) is checked, served
/// instead of an ordered one, listed in the inventory as expiring, and
/// raises an alert (to the configured webhook, once).
#[test]
fn an_uploaded_certificate_is_served_and_alerts_before_it_expires() {
    let (hook, received) = support::webhook_sink();
    let url = format!("http://127.0.0.1:{hook}/alerts");
    let Some(env) = Env::start_with(
        "caddy",
        Dns::System,
        &[
            ("APPOS_CERT_CHECK_SECS", "1"),
            ("APPOS_ALERT_WEBHOOK", &url),
        ],
    ) else {
        return;
    };
    let app = support::unique("shop");
    let _down = Down(env.agent.data.path().join("apps").join(&app), app.clone());
    deploy_site(&env, &app);
    let o = env.appos(&["domains", "add", "shop.test", &format!("{app}:8080")]);
    assert!(o.status.success(), "{}", text(&o));

    // Our own CA and a certificate for shop.test that expires in 10 days.
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Shop CA");
    let ca = ca.self_signed(&ca_key).expect("ca");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut leaf = rcgen::CertificateParams::new(vec!["shop.test".to_string()]).expect("params");
    leaf.not_after =
        time::OffsetDateTime::now_utc() + time::Duration::days(10) - time::Duration::hours(1);
    let leaf = leaf.signed_by(&key, &ca, &ca_key).expect("leaf");
    let dir = env.home.path();
    std::fs::write(dir.join("chain.pem"), format!("{}{}", leaf.pem(), ca.pem())).expect("write");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write");
    std::fs::write(
        dir.join("other.pem"),
        rcgen::KeyPair::generate().expect("key").serialize_pem(),
    )
    .expect("write");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
    let p = |f: &str| dir.join(f).display().to_string();

    // A key that is not the certificate's is refused.
    let o = env.appos(&[
        "domains",
        "cert",
        "shop.test",
        "--cert",
        &p("chain.pem"),
        "--key",
        &p("other.pem"),
    ]);
    assert_eq!(
        text(&o),
        "appos: Invalid input: key: the key does not match the certificate\n"
    );
    let o = env.appos(&[
        "domains",
        "cert",
        "shop.test",
        "--cert",
        &p("chain.pem"),
        "--key",
        &p("key.pem"),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // Served, trusted through our CA only.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "5",
                "--resolve",
                &format!("shop.test:{}:127.0.0.1", env.https),
                "--cacert",
                &p("ca.pem"),
            ])
            .arg(format!("https://shop.test:{}/", env.https))
            .output()
            .expect("curl");
        if o.status.success() && o.stdout == b"served through the proxy\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served with the uploaded certificate: {}",
            text(&o)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let o = env.appos(&["certs"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "{:<36} {:<8} EXPIRING in 9 days (Shop CA)\n",
            "shop.test", "domain"
        ),
        "{}",
        text(&o)
    );

    // The alert reaches the webhook (once per level), and the event stream.
    // (Other rules may speak first on a busy machine: a full disk, say.)
    let is_ours = |n: &serde_json::Value| {
        n["alert"]["rule"] == "certificate_expiring" && n["alert"]["subject"] == "shop.test"
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let notice = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let body = received
            .recv_timeout(left)
            .expect("the webhook was called about shop.test");
        let n: serde_json::Value = serde_json::from_str(&body).expect("json");
        if is_ours(&n) {
            break n;
        }
    };
    let a = &notice["alert"];
    assert_eq!(
        (
            notice["notice"].as_str(),
            a["rule"].as_str(),
            a["subject"].as_str(),
            a["severity"].as_str(),
            a["details"]["days_left"].as_i64(),
            a["details"]["issuer"].as_str()
        ),
        (
            Some("firing"),
            Some("certificate_expiring"),
            Some("shop.test"),
            Some("warning"),
            Some(9),
            Some("Shop CA")
        ),
        "{notice}"
    );
    assert_eq!(
        a["summary"].as_str(),
        Some("the certificate of shop.test expires in 9 days (issuer Shop CA)"),
        "{notice}"
    );
    let again = Instant::now() + Duration::from_secs(3);
    while let Ok(body) = received.recv_timeout(again.saturating_duration_since(Instant::now())) {
        assert!(
            !is_ours(&serde_json::from_str(&body).expect("json")),
            "alerted twice: {body}"
        );
    }

    // This agent asks the machine's DNS, where no .test name resolves: its
    // preflight fails and nothing is ordered, until told to skip it (pebble
    // resolves the name to this proxy, so the order then succeeds).
    let o = env.appos(&[
        "domains",
        "add",
        "nodns.test",
        &format!("{app}:8080"),
        "--ssl",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let why = "preflight: nodns.test does not resolve to any address; point its DNS A/AAAA record at this server, or skip the preflight".to_string();
    env.cert_eventually(
        "nodns.test",
        &appos_proto::CertStatus::Failed { reason: why },
    );
    let o = env.appos(&["domains", "ssl", "nodns.test", "--skip-preflight"]);
    assert!(o.status.success(), "{}", text(&o));
    env.https_eventually("nodns.test", "served through the proxy\n");
}
