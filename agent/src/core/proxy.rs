//! The reverse proxy's decisions: which domain names and targets are
//! accepted, and Caddy's whole configuration built from typed values (no
//! user string is ever pasted into it). Pure: loading it is `infra::proxy`.

use std::net::SocketAddr;
use std::path::PathBuf;

use appos_proto::{AppName, ServiceName};
use serde_json::{json, Value};

/// A domain name as DNS takes it: Unicode names go to punycode (IDNA),
/// lower case, labels of letters, digits and inner hyphens (1 to 63), two
/// labels at least, 253 characters in all, and not an IP address.
pub fn domain(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err("a domain name is needed, such as blog.example.com".into());
    }
    if trimmed.len() > 253 {
        return Err(format!("{} characters; a domain name has at most 253", trimmed.len()));
    }
    let ascii = idna::domain_to_ascii_strict(trimmed).map_err(|_| format!("{input:?} is not a valid domain name"))?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("{ascii:?} needs at least two labels, such as blog.example.com"));
    }
    for l in &labels {
        let ok = (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') && !l.starts_with('-') && !l.ends_with('-');
        if !ok {
            return Err(format!("{ascii:?}: each label has 1 to 63 letters, digits or inner hyphens"));
        }
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("{ascii:?} is an IP address, not a domain name"));
    }
    if ascii.len() > 253 {
        return Err(format!("{ascii:?} is longer than 253 characters"));
    }
    Ok(ascii)
}

/// A target: `APP[/SERVICE]:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub app: AppName,
    pub service: Option<ServiceName>,
    pub port: u16,
}

pub fn target(input: &str) -> Result<Target, String> {
    let (left, port) = input.rsplit_once(':').ok_or_else(|| format!("{input:?}: a target is APP[/SERVICE]:PORT, such as blog/web:80"))?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(|| format!("{input:?}: the port is a number from 1 to 65535"))?;
    let (app, service) = match left.split_once('/') {
        Some((a, s)) => (a, Some(s)),
        None => (left, None),
    };
    let app = AppName::parse(app).map_err(|_| format!("{input:?}: {}", AppName::RULE))?;
    let service = service.map(|s| ServiceName::parse(s).map_err(|_| format!("{input:?}: {}", ServiceName::RULE))).transpose()?;
    Ok(Target { app, service, port })
}

/// One domain as the proxy serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Checked by [`domain`].
    pub domain: String,
    /// The container address requests go to.
    pub upstream: SocketAddr,
    pub ssl: bool,
    pub force_https: bool,
    /// An uploaded certificate and key (files), instead of an ordered one.
    pub certificate: Option<(PathBuf, PathBuf)>,
    /// Every request is redirected to this domain (checked by [`domain`]) instead.
    pub redirect_to: Option<String>,
}

/// Where Caddy listens and whom it asks for certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaddySettings {
    /// The admin API's unix socket (never TCP).
    pub admin_socket: PathBuf,
    /// Certificates and ACME accounts.
    pub storage: PathBuf,
    pub http: SocketAddr,
    pub https: SocketAddr,
    /// The ACME directory (Let's Encrypt's when `None`).
    pub acme_ca: Option<String>,
    pub email: Option<String>,
    /// An extra root the ACME directory's own TLS is checked against.
    pub acme_ca_root: Option<PathBuf>,
}

/// Caddy's whole configuration: an HTTPS server for the domains with
/// `ssl` (certificates ordered and renewed by Caddy), an HTTP server that
/// serves the others and redirects those with `force_https`, and the admin
/// API on its unix socket (every load names it, or Caddy would fall back to
/// a TCP port).
pub fn caddy_config(routes: &[Route], s: &CaddySettings) -> Value {
    let proxy = |r: &Route| {
        if let Some(to) = &r.redirect_to {
            let scheme = if r.ssl { "https" } else { "http" };
            return json!({
                "match": [{ "host": [r.domain] }],
                "handle": [{ "handler": "static_response", "status_code": 308, "headers": { "Location": [format!("{scheme}://{to}{{http.request.uri}}")] } }],
                "terminal": true,
            });
        }
        json!({
            "match": [{ "host": [r.domain] }],
            "handle": [{ "handler": "reverse_proxy", "upstreams": [{ "dial": r.upstream.to_string() }] }],
            "terminal": true,
        })
    };
    let redirect = |r: &Route| {
        json!({
            "match": [{ "host": [r.domain] }],
            "handle": [{ "handler": "static_response", "status_code": 308, "headers": { "Location": ["https://{http.request.host}{http.request.uri}"] } }],
            "terminal": true,
        })
    };
    let https: Vec<Value> = routes.iter().filter(|r| r.ssl).map(proxy).collect();
    let http: Vec<Value> = routes.iter().map(|r| if r.ssl && r.force_https { redirect(r) } else { proxy(r) }).collect();
    let subjects: Vec<&str> = routes.iter().filter(|r| r.ssl && r.certificate.is_none()).map(|r| r.domain.as_str()).collect();
    let uploaded: Vec<&Route> = routes.iter().filter(|r| r.ssl && r.certificate.is_some()).collect();
    let mut issuer = json!({ "module": "acme" });
    if let Some(ca) = &s.acme_ca {
        issuer["ca"] = json!(ca);
    }
    if let Some(email) = &s.email {
        issuer["email"] = json!(email);
    }
    if let Some(root) = &s.acme_ca_root {
        issuer["trusted_roots_pem_files"] = json!([root]);
    }
    let mut apps = json!({
        "http": {
            // Connections open at a reload finish on the old configuration.
            "grace_period": "10s",
            "http_port": s.http.port(),
            "https_port": s.https.port(),
            "servers": {
                "appos_http": { "listen": [s.http.to_string()], "routes": http, "automatic_https": { "disable": true }},
            },
        },
    });
    if !https.is_empty() {
        let skip: Vec<&str> = uploaded.iter().map(|r| r.domain.as_str()).collect();
        apps["http"]["servers"]["appos_https"] = json!({ "listen": [s.https.to_string()], "routes": https, "automatic_https": { "disable_redirects": true, "skip": skip } });
        let mut tls = json!({});
        if !subjects.is_empty() {
            tls["automation"] = json!({ "policies": [{ "subjects": subjects, "issuers": [issuer] }] });
        }
        if !uploaded.is_empty() {
            let files: Vec<Value> = uploaded.iter().filter_map(|r| r.certificate.as_ref()).map(|(c, k)| json!({ "certificate": c, "key": k })).collect();
            tls["certificates"] = json!({ "load_files": files });
        }
        apps["tls"] = tls;
    }
    json!({
        "admin": { "listen": format!("unix/{}", s.admin_socket.display()) },
        "storage": { "module": "file_system", "root": s.storage },
        "apps": apps,
    })
}

/// Whether a certificate's `names` cover `domain` (a wildcard covers one label).
pub fn covers(names: &[String], domain: &str) -> bool {
    names.iter().any(|n| n == domain || n.strip_prefix("*.").is_some_and(|rest| domain.split_once('.').is_some_and(|(_, d)| d == rest)))
}

/// Judges the certificate a domain is served with, at `now` (seconds):
/// failed when it does not cover the name or has expired, expiring within
/// `alert_days` or the last third of its life (whichever is nearer the
/// end: by then the proxy should have renewed it), valid otherwise.
pub fn cert_status(domain: &str, issuer: &str, names: &[String], not_before: i64, not_after: i64, now: i64, alert_days: i64) -> appos_proto::CertStatus {
    use appos_proto::CertStatus;
    if !covers(names, domain) {
        return CertStatus::Failed { reason: format!("the certificate served is for {}, not {domain}", if names.is_empty() { "no name".into() } else { names.join(", ") }) };
    }
    if now >= not_after {
        return CertStatus::Failed { reason: format!("the certificate served expired {} days ago", (now - not_after) / 86400) };
    }
    let left = not_after - now;
    let days_left = left / 86400;
    let window = (alert_days * 86400).min((not_after - not_before) / 3);
    let issuer = issuer.to_string();
    if left <= window {
        CertStatus::Expiring { issuer, not_after, days_left }
    } else {
        CertStatus::Valid { issuer, not_after, days_left }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_as_dns_takes_them() {
        for (input, out) in [("Blog.Example.com", "blog.example.com"), ("bücher.example", "xn--bcher-kva.example"), ("a-b.c0.io.", "a-b.c0.io")] {
            assert_eq!(domain(input).as_deref(), Ok(out), "{input}");
        }
        let long = format!("{}.com", "a".repeat(64));
        let many = vec!["abcdefghij"; 28].join(".");
        for (input, why) in [
            ("a;b.com", "\"a;b.com\" is not a valid domain name"),
            ("x\ny.com", "\"x\\ny.com\" is not a valid domain name"),
            ("{.com", "\"{.com\" is not a valid domain name"),
            ("\".com", "\"\\\".com\" is not a valid domain name"),
            ("a..com", "\"a..com\" is not a valid domain name"),
            ("..", "\"..\" is not a valid domain name"),
            (long.as_str(), "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com\" is not a valid domain name"),
            (many.as_str(), "307 characters; a domain name has at most 253"),
            ("localhost", "\"localhost\" needs at least two labels, such as blog.example.com"),
            ("-a.com", "\"-a.com\" is not a valid domain name"),
            ("10.0.0.1", "\"10.0.0.1\" is an IP address, not a domain name"),
            ("a_b.com", "\"a_b.com\" is not a valid domain name"),
            ("", "a domain name is needed, such as blog.example.com"),
        ] {
            assert_eq!(domain(input), Err(why.to_string()), "{input:?}");
        }
    }

    #[test]
    fn certificate_status() {
        use appos_proto::CertStatus;
        let day = 86400;
        let names = vec!["blog.test".to_string(), "*.shop.test".to_string()];
        let judge = |d: &str, life: i64, left: i64| cert_status(d, "R3", &names, 1000 * day - (life - left) * day, 1000 * day + left * day, 1000 * day, 30);
        assert_eq!(judge("blog.test", 90, 60), CertStatus::Valid { issuer: "R3".into(), not_after: 1060 * day, days_left: 60 });
        assert_eq!(judge("a.shop.test", 90, 29), CertStatus::Expiring { issuer: "R3".into(), not_after: 1029 * day, days_left: 29 });
        // A short-lived certificate alerts in its last third only.
        assert!(matches!(judge("blog.test", 6, 3), CertStatus::Valid { .. }));
        assert!(matches!(judge("blog.test", 6, 1), CertStatus::Expiring { .. }));
        assert_eq!(judge("other.test", 90, 60), CertStatus::Failed { reason: "the certificate served is for blog.test, *.shop.test, not other.test".into() });
        assert_eq!(judge("a.b.shop.test", 90, 60), CertStatus::Failed { reason: "the certificate served is for blog.test, *.shop.test, not a.b.shop.test".into() });
        assert_eq!(judge("blog.test", 90, -2), CertStatus::Failed { reason: "the certificate served expired 2 days ago".into() });
    }

    #[test]
    fn targets() {
        assert_eq!(target("blog/web:80").expect("ok"), Target { app: AppName::parse("blog").expect("n"), service: Some(ServiceName::parse("web").expect("s")), port: 80 });
        assert_eq!(target("blog:8080").expect("ok").service, None);
        for (input, why) in [
            ("blog", "\"blog\": a target is APP[/SERVICE]:PORT, such as blog/web:80"),
            ("blog:0", "\"blog:0\": the port is a number from 1 to 65535"),
            ("blog:http", "\"blog:http\": the port is a number from 1 to 65535"),
            ("../x:80", "\"../x:80\": app names match ^[a-z0-9][a-z0-9_-]{0,62}$"),
        ] {
            assert_eq!(target(input), Err(why.to_string()), "{input}");
        }
    }

    #[test]
    fn caddy_config_from_typed_values() {
        let s = CaddySettings {
            admin_socket: "/d/run/caddy.sock".into(),
            storage: "/d/caddy".into(),
            http: "127.0.0.1:8080".parse().expect("addr"),
            https: "127.0.0.1:8443".parse().expect("addr"),
            acme_ca: Some("https://127.0.0.1:14000/dir".into()),
            email: None,
            acme_ca_root: None,
        };
        let r = |d: &str, ssl, force| Route { domain: d.into(), upstream: "172.17.0.5:80".parse().expect("addr"), ssl, force_https: force, certificate: None, redirect_to: None };
        let c = caddy_config(&[r("plain.test", false, false), r("secure.test", true, true)], &s);
        assert_eq!(c["admin"]["listen"], "unix//d/run/caddy.sock");
        assert_eq!(c["apps"]["http"]["servers"]["appos_http"]["routes"][0]["handle"][0]["upstreams"][0]["dial"], "172.17.0.5:80");
        assert_eq!(c["apps"]["http"]["servers"]["appos_http"]["routes"][1]["handle"][0]["status_code"], 308);
        assert_eq!(c["apps"]["http"]["servers"]["appos_https"]["routes"].as_array().map(Vec::len), Some(1));
        assert_eq!(c["apps"]["tls"]["automation"]["policies"][0]["subjects"], json!(["secure.test"]));
        assert_eq!(c["apps"]["tls"]["automation"]["policies"][0]["issuers"][0]["ca"], "https://127.0.0.1:14000/dir");
        // No HTTPS domain: no HTTPS server, no certificate automation.
        let c = caddy_config(&[r("plain.test", false, false)], &s);
        assert!(c["apps"]["http"]["servers"].get("appos_https").is_none() && c["apps"].get("tls").is_none());
        // An uploaded certificate is loaded from its files, and not ordered.
        let own = Route { certificate: Some(("/d/certs/shop.test/cert.pem".into(), "/d/certs/shop.test/key.pem".into())), ..r("shop.test", true, false) };
        let c = caddy_config(&[own, r("secure.test", true, false)], &s);
        assert_eq!(c["apps"]["tls"]["certificates"]["load_files"][0]["certificate"], "/d/certs/shop.test/cert.pem");
        assert_eq!(c["apps"]["tls"]["automation"]["policies"][0]["subjects"], json!(["secure.test"]));
        assert_eq!(c["apps"]["http"]["servers"]["appos_https"]["automatic_https"]["skip"], json!(["shop.test"]));
        // www redirected to the apex, keeping the path.
        let www = Route { redirect_to: Some("secure.test".into()), ..r("www.secure.test", true, false) };
        let c = caddy_config(&[www], &s);
        assert_eq!(c["apps"]["http"]["servers"]["appos_https"]["routes"][0]["handle"][0]["headers"]["Location"], json!(["https://secure.test{http.request.uri}"]));
    }
}
