//! nginx's whole configuration (one file), built from typed values: domain
//! names checked by [`super::domain`], socket addresses, challenge answers
//! checked by [`Http01::new`], the preflight token (hex), and paths the
//! agent chose and checked by [`NginxSettings::new`]. No user string is ever
//! pasted into it. Pure: testing and loading it is `infra::proxy::nginx`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{Http01, PreflightToken, Route, PREFLIGHT_PATH};

/// Where nginx listens and keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxSettings {
    /// Its prefix: the configuration, pid file and temporary files.
    dir: PathBuf,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub preflight: PreflightToken,
}

/// Whether a path can go into nginx's configuration as it is: absolute,
/// and only of characters that mean nothing to nginx's parser.
fn plain_path(p: &Path) -> bool {
    let s = p.to_string_lossy();
    p.is_absolute()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+@".contains(&b))
}

impl NginxSettings {
    pub fn new(
        dir: PathBuf,
        http: SocketAddr,
        https: SocketAddr,
        preflight: PreflightToken,
    ) -> Result<NginxSettings, String> {
        if !plain_path(&dir) {
            return Err(format!(
                "nginx's folder {} must be an absolute path of letters, digits and /._-+@ only",
                dir.display()
            ));
        }
        Ok(NginxSettings {
            dir,
            http,
            https,
            preflight,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The location blocks every HTTP server has: the preflight answer and the
/// pending HTTP-01 challenge answers.
fn well_known(out: &mut String, s: &NginxSettings, challenges: &[Http01]) {
    let _ = writeln!(
        out,
        "        location = {PREFLIGHT_PATH} {{ default_type text/plain; return 200 \"{}\"; }}",
        s.preflight.as_str()
    );
    for c in challenges {
        let _ = writeln!(out, "        location = /.well-known/acme-challenge/{} {{ default_type text/plain; return 200 \"{}\"; }}", c.token(), c.key_authorization());
    }
}

/// What a route does with a request, once it reached the right server.
fn handle(out: &mut String, r: &Route, scheme: &str) {
    match &r.redirect_to {
        Some(to) => {
            let _ = writeln!(
                out,
                "        location / {{ return 308 {scheme}://{to}$request_uri; }}"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "        location / {{ proxy_pass http://{}; }}",
                r.upstream
            );
        }
    }
}

/// The whole configuration. Every domain gets an HTTP server (challenge
/// answers, then its app, a redirect to its HTTPS or to another domain);
/// a domain with `ssl` whose certificate files exist also gets an HTTPS
/// server. Unknown names get 404 over HTTP and no TLS handshake. Bodies
/// stream through both ways (as Caddy does): nginx's workers never write a
/// temporary file, so they need no access to the agent's folders.
pub fn nginx_config(routes: &[Route], challenges: &[Http01], s: &NginxSettings) -> String {
    let dir = s.dir.display();
    let mut out = String::new();
    let _ = write!(
        out,
        "# Written by the AppOS agent from its state; changes made here are overwritten.\n\
         daemon off;\n\
         worker_processes 1;\n\
         pid {dir}/nginx.pid;\n\
         error_log stderr warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n    \
             access_log off;\n    \
             client_body_temp_path {dir}/tmp/body;\n    \
             proxy_temp_path {dir}/tmp/proxy;\n    \
             fastcgi_temp_path {dir}/tmp/fastcgi;\n    \
             uwsgi_temp_path {dir}/tmp/uwsgi;\n    \
             scgi_temp_path {dir}/tmp/scgi;\n    \
             server_tokens off;\n    \
             server_names_hash_bucket_size 512;\n    \
             client_max_body_size 0;\n    \
             ssl_protocols TLSv1.2 TLSv1.3;\n    \
             ssl_session_cache shared:appos_tls:10m;\n    \
             map $http_upgrade $appos_connection {{ default upgrade; '' close; }}\n    \
             proxy_http_version 1.1;\n    \
             proxy_set_header Host $host;\n    \
             proxy_set_header X-Real-IP $remote_addr;\n    \
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    \
             proxy_set_header X-Forwarded-Proto $scheme;\n    \
             proxy_set_header X-Forwarded-Host $host;\n    \
             proxy_set_header Upgrade $http_upgrade;\n    \
             proxy_set_header Connection $appos_connection;\n    \
             proxy_read_timeout 1h;\n    \
             proxy_request_buffering off;\n    \
             proxy_max_temp_file_size 0;\n    \
             proxy_send_timeout 1h;\n"
    );
    let _ = writeln!(
        out,
        "    server {{\n        listen {} default_server;",
        s.http
    );
    well_known(&mut out, s, challenges);
    let _ = writeln!(out, "        location / {{ return 404; }}\n    }}");
    let _ = writeln!(out, "    server {{\n        listen {} ssl default_server;\n        ssl_reject_handshake on;\n    }}", s.https);
    for r in routes {
        // Certificate paths come from the agent's folders; one that is not plain is never written.
        let tls = r
            .certificate
            .as_ref()
            .filter(|(c, k)| r.ssl && plain_path(c) && plain_path(k));
        let _ = writeln!(
            out,
            "    server {{\n        listen {};\n        server_name {};",
            s.http, r.domain
        );
        well_known(&mut out, s, challenges);
        if tls.is_some() && r.force_https {
            let _ = writeln!(
                out,
                "        location / {{ return 308 https://$host$request_uri; }}"
            );
        } else {
            handle(&mut out, r, if tls.is_some() { "https" } else { "http" });
        }
        let _ = writeln!(out, "    }}");
        if let Some((cert, key)) = tls {
            let _ = writeln!(
                out,
                "    server {{\n        listen {} ssl http2;\n        server_name {};\n        ssl_certificate {};\n        ssl_certificate_key {};",
                s.https,
                r.domain,
                cert.display(),
                key.display()
            );
            handle(&mut out, r, "https");
            let _ = writeln!(out, "    }}");
        }
    }
    out.push_str("}\n");
    out
}

/// Where nginx reads a domain's certificate and key when they are the
/// agent's own files under `dir` (checked: a plain path).
pub fn certificate_files(dir: &Path, domain: &str) -> Option<(PathBuf, PathBuf)> {
    let d = dir.join(domain);
    plain_path(&d).then(|| (d.join("cert.pem"), d.join("key.pem")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NginxSettings {
        NginxSettings::new(
            "/d/nginx".into(),
            "127.0.0.1:8080".parse().expect("a"),
            "127.0.0.1:8443".parse().expect("a"),
            PreflightToken::new([1; 16]),
        )
        .expect("settings")
    }

    fn route(d: &str, ssl: bool, force: bool, cert: bool) -> Route {
        Route {
            domain: d.into(),
            upstream: "172.17.0.5:80".parse().expect("addr"),
            ssl,
            force_https: force,
            certificate: cert.then(|| {
                (
                    PathBuf::from(format!("/d/acme/{d}/cert.pem")),
                    PathBuf::from(format!("/d/acme/{d}/key.pem")),
                )
            }),
            redirect_to: None,
            order: true,
        }
    }

    /// The server block for `domain` on `listen`, if any.
    fn server<'a>(conf: &'a str, listen: &str, domain: &str) -> Option<&'a str> {
        conf.split("    server {\n").find(|b| {
            b.contains(&format!("listen {listen}")) && b.contains(&format!("server_name {domain};"))
        })
    }

    #[test]
    fn every_domain_from_typed_values() {
        let s = settings();
        let ch = Http01::new("tok", "tok.thumb").expect("challenge");
        let www = Route {
            redirect_to: Some("secure.test".into()),
            ..route("www.secure.test", true, false, true)
        };
        let conf = nginx_config(
            &[
                route("plain.test", false, false, false),
                route("secure.test", true, true, true),
                route("new.test", true, true, false),
                www,
            ],
            &[ch],
            &s,
        );
        // Plain: proxied over HTTP, no HTTPS server.
        let plain = server(&conf, "127.0.0.1:8080", "plain.test").expect("plain");
        assert!(
            plain.contains("location / { proxy_pass http://172.17.0.5:80; }"),
            "{plain}"
        );
        assert!(plain.contains("location = /.well-known/acme-challenge/tok { default_type text/plain; return 200 \"tok.thumb\"; }"), "{plain}");
        assert!(plain.contains("location = /.well-known/appos-preflight { default_type text/plain; return 200 \"01010101010101010101010101010101\"; }"), "{plain}");
        assert_eq!(server(&conf, "127.0.0.1:8443", "plain.test"), None);
        // With a certificate and force_https: HTTP redirects, HTTPS proxies.
        let http = server(&conf, "127.0.0.1:8080", "secure.test").expect("http");
        assert!(
            http.contains("location / { return 308 https://$host$request_uri; }"),
            "{http}"
        );
        let https = server(&conf, "127.0.0.1:8443 ssl http2", "secure.test").expect("https");
        assert!(https.contains("ssl_certificate /d/acme/secure.test/cert.pem;\n        ssl_certificate_key /d/acme/secure.test/key.pem;"), "{https}");
        assert!(
            https.contains("location / { proxy_pass http://172.17.0.5:80; }"),
            "{https}"
        );
        // No certificate yet: served over HTTP (so that the challenge can be answered), not redirected.
        let new = server(&conf, "127.0.0.1:8080", "new.test").expect("new");
        assert!(new.contains("proxy_pass"), "{new}");
        assert_eq!(server(&conf, "127.0.0.1:8443", "new.test"), None);
        // www redirects to the apex on both.
        let www = server(&conf, "127.0.0.1:8443 ssl http2", "www.secure.test").expect("www");
        assert!(
            www.contains("location / { return 308 https://secure.test$request_uri; }"),
            "{www}"
        );
        // Unknown names.
        assert!(
            conf.contains("listen 127.0.0.1:8080 default_server;")
                && conf.contains(
                    "listen 127.0.0.1:8443 ssl default_server;\n        ssl_reject_handshake on;"
                )
        );
        assert!(conf.contains("pid /d/nginx/nginx.pid;") && conf.contains("daemon off;"));
        // IPv6 listen addresses keep their brackets.
        let v6 = NginxSettings::new(
            "/d".into(),
            "[::1]:80".parse().expect("a"),
            "[::]:443".parse().expect("a"),
            PreflightToken::new([1; 16]),
        )
        .expect("s");
        assert!(nginx_config(&[], &[], &v6).contains("listen [::1]:80 default_server;"));
    }

    #[test]
    fn paths_that_would_change_the_configuration_are_refused() {
        let tok = || PreflightToken::new([1; 16]);
        let addr = "127.0.0.1:80".parse().expect("a");
        for dir in [
            "/data dir/nginx",
            "/d;x",
            "/d\"",
            "relative/nginx",
            "/d/$host",
            "/d{",
        ] {
            assert_eq!(NginxSettings::new(dir.into(), addr, addr, tok()).err(), Some(format!("nginx's folder {dir} must be an absolute path of letters, digits and /._-+@ only")), "{dir}");
        }
        assert_eq!(
            certificate_files(Path::new("/d/acme"), "blog.test"),
            Some((
                "/d/acme/blog.test/cert.pem".into(),
                "/d/acme/blog.test/key.pem".into()
            ))
        );
        assert_eq!(certificate_files(Path::new("/d a/acme"), "blog.test"), None);
    }
}
