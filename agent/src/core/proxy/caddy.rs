//! Caddy's whole configuration, built from typed values (no user string is
//! ever pasted into it). Pure: loading it is `infra::proxy::caddy`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::{PreflightToken, Route, PREFLIGHT_PATH};

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
    /// What every domain answers at [`PREFLIGHT_PATH`] over HTTP.
    pub preflight: PreflightToken,
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
    let preflight = json!({
        "match": [{ "path": [PREFLIGHT_PATH] }],
        "handle": [{ "handler": "static_response", "status_code": 200, "body": s.preflight.as_str() }],
        "terminal": true,
    });
    let http: Vec<Value> = std::iter::once(preflight)
        .chain(routes.iter().map(|r| {
            if r.ssl && r.force_https {
                redirect(r)
            } else {
                proxy(r)
            }
        }))
        .collect();
    let subjects: Vec<&str> = routes
        .iter()
        .filter(|r| r.ssl && r.certificate.is_none() && r.order)
        .map(|r| r.domain.as_str())
        .collect();
    let uploaded: Vec<&Route> = routes
        .iter()
        .filter(|r| r.ssl && r.certificate.is_some())
        .collect();
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
        // Caddy manages a certificate for every host of an HTTPS route but these.
        let skip: Vec<&str> = routes
            .iter()
            .filter(|r| r.ssl && (r.certificate.is_some() || !r.order))
            .map(|r| r.domain.as_str())
            .collect();
        apps["http"]["servers"]["appos_https"] = json!({ "listen": [s.https.to_string()], "routes": https, "automatic_https": { "disable_redirects": true, "skip": skip } });
        let mut tls = json!({});
        if !subjects.is_empty() {
            tls["automation"] =
                json!({ "policies": [{ "subjects": subjects, "issuers": [issuer] }] });
        }
        if !uploaded.is_empty() {
            let files: Vec<Value> = uploaded
                .iter()
                .filter_map(|r| r.certificate.as_ref())
                .map(|(c, k)| json!({ "certificate": c, "key": k }))
                .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

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
            preflight: PreflightToken::new([7; 16]),
        };
        let r = |d: &str, ssl, force| Route {
            domain: d.into(),
            upstream: "172.17.0.5:80".parse().expect("addr"),
            ssl,
            force_https: force,
            certificate: None,
            redirect_to: None,
            order: true,
        };
        let c = caddy_config(
            &[r("plain.test", false, false), r("secure.test", true, true)],
            &s,
        );
        assert_eq!(c["admin"]["listen"], "unix//d/run/caddy.sock");
        // The preflight answer first, for every host, then the domains.
        assert_eq!(
            c["apps"]["http"]["servers"]["appos_http"]["routes"][0]["handle"][0]["body"],
            "07070707070707070707070707070707"
        );
        assert_eq!(
            c["apps"]["http"]["servers"]["appos_http"]["routes"][1]["handle"][0]["upstreams"][0]
                ["dial"],
            "172.17.0.5:80"
        );
        assert_eq!(
            c["apps"]["http"]["servers"]["appos_http"]["routes"][2]["handle"][0]["status_code"],
            308
        );
        assert_eq!(
            c["apps"]["http"]["servers"]["appos_https"]["routes"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(
            c["apps"]["tls"]["automation"]["policies"][0]["subjects"],
            json!(["secure.test"])
        );
        assert_eq!(
            c["apps"]["tls"]["automation"]["policies"][0]["issuers"][0]["ca"],
            "https://127.0.0.1:14000/dir"
        );
        // A domain whose preflight has not passed is served, but not ordered for.
        let waiting = Route {
            order: false,
            ..r("new.test", true, false)
        };
        let c = caddy_config(&[waiting, r("secure.test", true, false)], &s);
        assert_eq!(
            c["apps"]["tls"]["automation"]["policies"][0]["subjects"],
            json!(["secure.test"])
        );
        assert_eq!(
            c["apps"]["http"]["servers"]["appos_https"]["routes"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert_eq!(
            c["apps"]["http"]["servers"]["appos_https"]["automatic_https"]["skip"],
            json!(["new.test"])
        );
        // No HTTPS domain: no HTTPS server, no certificate automation.
        let c = caddy_config(&[r("plain.test", false, false)], &s);
        assert!(
            c["apps"]["http"]["servers"].get("appos_https").is_none()
                && c["apps"].get("tls").is_none()
        );
        // An uploaded certificate is loaded from its files, and not ordered.
        let own = Route {
            certificate: Some((
                "/d/certs/shop.test/cert.pem".into(),
                "/d/certs/shop.test/key.pem".into(),
            )),
            ..r("shop.test", true, false)
        };
        let c = caddy_config(&[own, r("secure.test", true, false)], &s);
        assert_eq!(
            c["apps"]["tls"]["certificates"]["load_files"][0]["certificate"],
            "/d/certs/shop.test/cert.pem"
        );
        assert_eq!(
            c["apps"]["tls"]["automation"]["policies"][0]["subjects"],
            json!(["secure.test"])
        );
        assert_eq!(
            c["apps"]["http"]["servers"]["appos_https"]["automatic_https"]["skip"],
            json!(["shop.test"])
        );
        // www redirected to the apex, keeping the path.
        let www = Route {
            redirect_to: Some("secure.test".into()),
            ..r("www.secure.test", true, false)
        };
        let c = caddy_config(&[www], &s);
        assert_eq!(
            c["apps"]["http"]["servers"]["appos_https"]["routes"][0]["handle"][0]["headers"]
                ["Location"],
            json!(["https://secure.test{http.request.uri}"])
        );
    }
}
