//! One conformance suite for both reverse-proxy backends: a real Caddy and
//! a real nginx, each run and supervised by `appos_agent::infra::proxy`,
//! in front of a real HTTP server on loopback. Every promise of
//! `ProxyBackend` is checked against each: routes served and only them,
//! HTTPS with the certificate files given and HTTP redirected, a
//! configuration the proxy refuses leaving the running one in place (with
//! the proxy's reason), no failed request while 50 domains come and go,
//! and the last configuration back after the proxy is killed.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use appos_agent::core::proxy::Route;
use appos_agent::infra::config::{ProxyConfig, ProxyKind};
use appos_agent::infra::proxy::{Proxy, ProxyBackend as _, ProxyError};
use appos_test_support as support;
use tokio_util::sync::CancellationToken;

/// An HTTP server that answers every request with `body`, one thread per connection.
fn upstream(body: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

/// One request on a new connection: the status code and body, or why none.
fn get(addr: SocketAddr, host: &str) -> Result<(u16, String), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// `https://DOMAIN/` through the proxy trusting only `ca`: the body.
fn https(port: u16, domain: &str, ca: &Path) -> Result<String, String> {
    let o = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "--resolve",
            &format!("{domain}:{port}:127.0.0.1"),
            "--cacert",
        ])
        .arg(ca)
        .arg(format!("https://{domain}:{port}/"))
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

struct Running {
    proxy: Proxy,
    http: SocketAddr,
    https: u16,
    _data: tempfile::TempDir,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
        // The runtime may end before the supervisor kills it: nginx's workers go with their group.
        if let Some(pid) = self.proxy.pid() {
            let _ = std::process::Command::new("kill")
                .args(["-9", "--", &format!("-{pid}")])
                .stderr(std::process::Stdio::null())
                .status();
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

async fn start(kind: ProxyKind) -> Option<Running> {
    support::require(kind.as_str(), support::which(kind.as_str()))?;
    // A free port can be taken by the test beside this one before the proxy binds it: then other ports.
    for _ in 0..3 {
        let data = tempfile::tempdir().expect("data");
        let (http, https) = (support::free_port(), support::free_port());
        let config = ProxyConfig {
            kind,
            http: format!("127.0.0.1:{http}").parse().expect("addr"),
            https: format!("127.0.0.1:{https}").parse().expect("addr"),
            bin: PathBuf::from(kind.as_str()),
            acme_ca: None,
            acme_email: None,
            acme_ca_root: None,
            dns: None,
            network: "appos-proxy".into(),
        };
        let proxy = Proxy::new(&config, data.path()).expect("proxy");
        let stop = CancellationToken::new();
        proxy.start(stop.clone()).await;
        if proxy.pid().is_some() {
            return Some(Running {
                proxy,
                http: config.http,
                https,
                _data: data,
                stop,
            });
        }
        stop.cancel();
    }
    panic!("{} did not start", kind.as_str());
}

fn route(domain: &str, upstream: SocketAddr) -> Route {
    Route {
        domain: domain.into(),
        upstream,
        ssl: false,
        force_https: false,
        certificate: None,
        redirect_to: None,
        order: false,
    }
}

/// A CA and a certificate it signed for `domain`: (CA file, certificate file, key file).
fn certificate(dir: &Path, domain: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Conformance CA");
    let ca = ca.self_signed(&ca_key).expect("ca");
    let key = rcgen::KeyPair::generate().expect("key");
    let leaf = rcgen::CertificateParams::new(vec![domain.to_string()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("leaf");
    let p = |f: &str| dir.join(f);
    std::fs::write(p("ca.pem"), ca.pem()).expect("write");
    std::fs::write(p("cert.pem"), format!("{}{}", leaf.pem(), ca.pem())).expect("write");
    std::fs::write(p("key.pem"), key.serialize_pem()).expect("write");
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

async fn conformance(kind: ProxyKind) {
    let Some(p) = start(kind).await else { return };
    let name = kind.as_str();
    let app = upstream("app one\n");
    let other = upstream("app two\n");

    // Exactly the routes applied are served, each from its own upstream.
    p.proxy
        .apply(&[route("one.test", app), route("two.test", other)])
        .await
        .expect("apply");
    assert_eq!(
        get(p.http, "one.test"),
        Ok((200, "app one\n".into())),
        "{name}"
    );
    assert_eq!(
        get(p.http, "two.test"),
        Ok((200, "app two\n".into())),
        "{name}"
    );
    let unknown = get(p.http, "unknown.test").expect("an answer");
    assert!(
        !unknown.1.contains("app"),
        "{name} served an unknown name: {unknown:?}"
    );
    p.proxy
        .apply(&[route("one.test", app)])
        .await
        .expect("apply");
    assert!(
        !get(p.http, "two.test")
            .expect("an answer")
            .1
            .contains("app two"),
        "{name} still serves a removed domain"
    );

    // HTTPS with the certificate files given; plain HTTP redirected.
    let dir = tempfile::tempdir().expect("dir");
    let (ca, cert, key) = certificate(dir.path(), "secure.test");
    let secure = Route {
        ssl: true,
        force_https: true,
        certificate: Some((cert.clone(), key.clone())),
        ..route("secure.test", app)
    };
    p.proxy
        .apply(&[route("one.test", app), secure.clone()])
        .await
        .expect("apply");
    assert_eq!(
        https(p.https, "secure.test", &ca),
        Ok("app one\n".into()),
        "{name}"
    );
    let (code, _) = get(p.http, "secure.test").expect("an answer");
    assert_eq!(code, 308, "{name}");

    // A configuration the proxy refuses leaves the running one, and says why.
    let broken = Route {
        certificate: Some((dir.path().join("missing.pem"), key.clone())),
        ..route("broken.test", app)
    };
    let broken = Route {
        ssl: true,
        ..broken
    };
    match p
        .proxy
        .apply(&[route("one.test", app), secure.clone(), broken])
        .await
    {
        Err(ProxyError::Refused(why)) => {
            assert!(
                why.starts_with("the proxy refused the configuration (the running one stays): "),
                "{name}: {why}"
            );
            assert!(
                why.contains("missing.pem"),
                "{name} does not say which file: {why}"
            );
        }
        other => panic!("{name} took a configuration naming a missing certificate: {other:?}"),
    }
    assert_eq!(
        get(p.http, "one.test"),
        Ok((200, "app one\n".into())),
        "{name}"
    );
    assert_eq!(
        https(p.https, "secure.test", &ca),
        Ok("app one\n".into()),
        "{name}"
    );

    // No failed request while 50 other domains are added and removed, one load each.
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (stop, http) = (stop.clone(), p.http);
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match get(http, "one.test") {
                    Ok((200, body)) if body == "app one\n" => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        })
    };
    let mut routes = vec![route("one.test", app), secure.clone()];
    for i in 0..50 {
        routes.push(route(&format!("churn{i}.test"), other));
        p.proxy.apply(&routes).await.expect("apply");
    }
    for _ in 0..50 {
        routes.pop();
        p.proxy.apply(&routes).await.expect("apply");
    }
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = prober.join().expect("prober");
    assert!(ok > 0, "{name}: no request was made");
    // Caddy 2.6 (Debian's) opens a new SO_REUSEPORT listener for each
    // configuration and closes the old one: a connection the kernel queued
    // on the old one in that instant is reset (seen about once in a few
    // thousand requests over 100 loads, under CI load). nginx, the image's
    // proxy, hands its listener over and may lose none.
    let allowed = if name == "caddy" { 1 } else { 0 };
    let resets = failed
        .iter()
        .filter(|f| f.contains("Connection reset by peer"))
        .count();
    assert!(
        failed.len() == resets && resets <= allowed,
        "{name}: {} of {} requests failed during 100 loads: {failed:?}",
        failed.len(),
        ok as usize + failed.len()
    );

    // Killed, the proxy comes back with the last configuration.
    let pid = p.proxy.pid().expect("pid");
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if p.proxy.pid().is_some_and(|now| now != pid)
            && get(p.http, "one.test") == Ok((200, "app one\n".into()))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not come back after it was killed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        https(p.https, "secure.test", &ca),
        Ok("app one\n".into()),
        "{name}"
    );
}

#[tokio::test]
async fn caddy_conforms() {
    conformance(ProxyKind::Caddy).await;
}

#[tokio::test]
async fn nginx_conforms() {
    conformance(ProxyKind::Nginx).await;
}
