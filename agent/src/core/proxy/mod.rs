//! The reverse proxy's decisions: which domain names and targets are
//! accepted, the routes the proxy serves, how a served certificate is
//! judged, and each backend's whole configuration built from those typed
//! values (`caddy`, `nginx`: no user string is ever pasted into one).
//! Pure: loading them is `infra::proxy`.

pub mod caddy;
pub mod nginx;

use std::net::SocketAddr;
use std::path::PathBuf;

use appos_proto::{AppName, ServiceName};

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
        return Err(format!(
            "{} characters; a domain name has at most 253",
            trimmed.len()
        ));
    }
    let ascii = idna::domain_to_ascii_strict(trimmed)
        .map_err(|_| format!("{input:?} is not a valid domain name"))?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(format!(
            "{ascii:?} needs at least two labels, such as blog.example.com"
        ));
    }
    for l in &labels {
        let ok = (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-');
        if !ok {
            return Err(format!(
                "{ascii:?}: each label has 1 to 63 letters, digits or inner hyphens"
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
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
    let (left, port) = input
        .rsplit_once(':')
        .ok_or_else(|| format!("{input:?}: a target is APP[/SERVICE]:PORT, such as blog/web:80"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{input:?}: the port is a number from 1 to 65535"))?;
    let (app, service) = match left.split_once('/') {
        Some((a, s)) => (a, Some(s)),
        None => (left, None),
    };
    let app = AppName::parse(app).map_err(|_| format!("{input:?}: {}", AppName::RULE))?;
    let service = service
        .map(|s| ServiceName::parse(s).map_err(|_| format!("{input:?}: {}", ServiceName::RULE)))
        .transpose()?;
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
    /// A proxy that orders certificates itself may order one for it (its
    /// preflight passed or was skipped).
    pub order: bool,
}

/// A word only of the characters of base64url (RFC 4648 §5), and dots
/// between them: what an ACME token and key authorization are made of, and
/// so safe to put in a configuration file as they are.
fn base64url_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// An HTTP-01 challenge answer the proxy serves at
/// `/.well-known/acme-challenge/TOKEN` (RFC 8555 §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http01 {
    token: String,
    key_authorization: String,
}

impl Http01 {
    /// Checks what the CA sent: a token without dots, and a key authorization `TOKEN.THUMBPRINT`.
    pub fn new(token: &str, key_authorization: &str) -> Result<Http01, String> {
        if !base64url_word(token) || token.contains('.') {
            return Err(format!(
                "the CA sent a challenge token that is not base64url: {token:?}"
            ));
        }
        if !base64url_word(key_authorization)
            || !key_authorization.starts_with(&format!("{token}."))
        {
            return Err("the challenge's key authorization is not TOKEN.THUMBPRINT".into());
        }
        Ok(Http01 {
            token: token.into(),
            key_authorization: key_authorization.into(),
        })
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn key_authorization(&self) -> &str {
        &self.key_authorization
    }
}

/// The path every domain answers on with the agent's preflight token, so
/// that the agent can tell a domain reaches this proxy before ordering.
pub const PREFLIGHT_PATH: &str = "/.well-known/appos-preflight";

/// A random token the proxy answers at [`PREFLIGHT_PATH`]: hex only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightToken(String);

impl PreflightToken {
    pub fn new(random: [u8; 16]) -> PreflightToken {
        PreflightToken(random.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What one address of a domain answered at [`PREFLIGHT_PATH`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreflightAnswer {
    /// This proxy's token: the address is this server.
    Ours,
    /// Something else answered (another server, another proxy).
    Other(String),
    /// Nothing answered.
    Unreachable(String),
}

/// Whether a domain reaches this server: it resolves, and every address it
/// resolves to answers with this proxy's token (a CA may try any of them).
pub fn preflight_verdict(
    domain: &str,
    port: u16,
    answers: &[(std::net::IpAddr, PreflightAnswer)],
) -> Result<(), String> {
    if answers.is_empty() {
        return Err(format!("{domain} does not resolve to any address; point its DNS A/AAAA record at this server, or skip the preflight"));
    }
    for (ip, answer) in answers {
        let at = SocketAddr::new(*ip, port);
        match answer {
            PreflightAnswer::Ours => {}
            PreflightAnswer::Other(what) => return Err(format!("{domain} resolves to {ip}, which is not this server ({at} answered {what}); point its DNS record here, or skip the preflight")),
            PreflightAnswer::Unreachable(why) => return Err(format!("{domain} resolves to {ip}, which does not answer on port {port} ({why}); point its DNS record here and open the port, or skip the preflight")),
        }
    }
    Ok(())
}

/// The status of a domain with HTTPS whose handshake gave no certificate
/// (`probe`: why): failed with the recorded reason (the preflight's or the
/// CA's), else pending, saying what it waits for.
pub fn unserved_status(
    order_ok: bool,
    tls_error: Option<&str>,
    domain: &str,
    probe: &str,
) -> appos_proto::CertStatus {
    use appos_proto::CertStatus;
    match (tls_error, order_ok) {
        (Some(e), _) => CertStatus::Failed {
            reason: e.to_string(),
        },
        (None, false) => CertStatus::Pending {
            reason: format!("checking that {domain} reaches this server before ordering"),
        },
        (None, true) => CertStatus::Pending {
            reason: format!("ordering a certificate ({probe})"),
        },
    }
}

/// Whether a certificate's `names` cover `domain` (a wildcard covers one label).
pub fn covers(names: &[String], domain: &str) -> bool {
    names.iter().any(|n| {
        n == domain
            || n.strip_prefix("*.")
                .is_some_and(|rest| domain.split_once('.').is_some_and(|(_, d)| d == rest))
    })
}

/// Judges the certificate a domain is served with, at `now` (seconds):
/// failed when it does not cover the name or has expired, expiring within
/// `alert_days` or the last third of its life (whichever is nearer the
/// end: by then the proxy should have renewed it), valid otherwise.
pub fn cert_status(
    domain: &str,
    issuer: &str,
    names: &[String],
    not_before: i64,
    not_after: i64,
    now: i64,
    alert_days: i64,
) -> appos_proto::CertStatus {
    use appos_proto::CertStatus;
    if !covers(names, domain) {
        return CertStatus::Failed {
            reason: format!(
                "the certificate served is for {}, not {domain}",
                if names.is_empty() {
                    "no name".into()
                } else {
                    names.join(", ")
                }
            ),
        };
    }
    if now >= not_after {
        return CertStatus::Failed {
            reason: format!(
                "the certificate served expired {} days ago",
                (now - not_after) / 86400
            ),
        };
    }
    let left = not_after - now;
    let days_left = left / 86400;
    let window = (alert_days * 86400).min((not_after - not_before) / 3);
    let issuer = issuer.to_string();
    if left <= window {
        CertStatus::Expiring {
            issuer,
            not_after,
            days_left,
        }
    } else {
        CertStatus::Valid {
            issuer,
            not_after,
            days_left,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_as_dns_takes_them() {
        for (input, out) in [
            ("Blog.Example.com", "blog.example.com"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("a-b.c0.io.", "a-b.c0.io"),
        ] {
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
        let judge = |d: &str, life: i64, left: i64| {
            cert_status(
                d,
                "R3",
                &names,
                1000 * day - (life - left) * day,
                1000 * day + left * day,
                1000 * day,
                30,
            )
        };
        assert_eq!(
            judge("blog.test", 90, 60),
            CertStatus::Valid {
                issuer: "R3".into(),
                not_after: 1060 * day,
                days_left: 60
            }
        );
        assert_eq!(
            judge("a.shop.test", 90, 29),
            CertStatus::Expiring {
                issuer: "R3".into(),
                not_after: 1029 * day,
                days_left: 29
            }
        );
        // A short-lived certificate alerts in its last third only.
        assert!(matches!(judge("blog.test", 6, 3), CertStatus::Valid { .. }));
        assert!(matches!(
            judge("blog.test", 6, 1),
            CertStatus::Expiring { .. }
        ));
        assert_eq!(
            judge("other.test", 90, 60),
            CertStatus::Failed {
                reason: "the certificate served is for blog.test, *.shop.test, not other.test"
                    .into()
            }
        );
        assert_eq!(
            judge("a.b.shop.test", 90, 60),
            CertStatus::Failed {
                reason: "the certificate served is for blog.test, *.shop.test, not a.b.shop.test"
                    .into()
            }
        );
        assert_eq!(
            judge("blog.test", 90, -2),
            CertStatus::Failed {
                reason: "the certificate served expired 2 days ago".into()
            }
        );
    }

    #[test]
    fn challenge_answers_are_base64url() {
        let ok = Http01::new("tok-EN_1", "tok-EN_1.thumb-PRINT_2").expect("ok");
        assert_eq!(
            (ok.token(), ok.key_authorization()),
            ("tok-EN_1", "tok-EN_1.thumb-PRINT_2")
        );
        for (token, ka, why) in [
            (
                "a;b",
                "a;b.x",
                "the CA sent a challenge token that is not base64url: \"a;b\"",
            ),
            (
                "a.b",
                "a.b.x",
                "the CA sent a challenge token that is not base64url: \"a.b\"",
            ),
            (
                "",
                ".x",
                "the CA sent a challenge token that is not base64url: \"\"",
            ),
            (
                "abc",
                "abc.x\"; return 200 x",
                "the challenge's key authorization is not TOKEN.THUMBPRINT",
            ),
            (
                "abc",
                "abd.x",
                "the challenge's key authorization is not TOKEN.THUMBPRINT",
            ),
        ] {
            assert_eq!(
                Http01::new(token, ka),
                Err(why.to_string()),
                "{token:?} {ka:?}"
            );
        }
        assert_eq!(
            PreflightToken::new([0xab; 16]).as_str(),
            "abababababababababababababababab"
        );
    }

    #[test]
    fn preflight_passes_only_when_every_address_is_this_server() {
        use PreflightAnswer::*;
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert_eq!(
            preflight_verdict(
                "a.test",
                80,
                &[(ip("192.0.2.1"), Ours), (ip("2001:db8::1"), Ours)]
            ),
            Ok(())
        );
        for (answers, why) in [
            (vec![], "a.test does not resolve to any address; point its DNS A/AAAA record at this server, or skip the preflight"),
            (
                vec![(ip("192.0.2.1"), Ours), (ip("192.0.2.9"), Other("HTTP 404".into()))],
                "a.test resolves to 192.0.2.9, which is not this server (192.0.2.9:80 answered HTTP 404); point its DNS record here, or skip the preflight",
            ),
            (
                vec![(ip("2001:db8::1"), Unreachable("connection refused".into()))],
                "a.test resolves to 2001:db8::1, which does not answer on port 80 (connection refused); point its DNS record here and open the port, or skip the preflight",
            ),
        ] {
            assert_eq!(preflight_verdict("a.test", 80, &answers), Err(why.to_string()));
        }
    }

    #[test]
    fn a_domain_without_a_certificate_says_why() {
        use appos_proto::CertStatus;
        assert_eq!(
            unserved_status(false, Some("preflight: x"), "a.test", "no cert"),
            CertStatus::Failed {
                reason: "preflight: x".into()
            }
        );
        assert_eq!(
            unserved_status(true, Some("the CA refused: y"), "a.test", "no cert"),
            CertStatus::Failed {
                reason: "the CA refused: y".into()
            }
        );
        assert_eq!(
            unserved_status(false, None, "a.test", "no cert"),
            CertStatus::Pending {
                reason: "checking that a.test reaches this server before ordering".into()
            }
        );
        assert_eq!(
            unserved_status(true, None, "a.test", "no cert"),
            CertStatus::Pending {
                reason: "ordering a certificate (no cert)".into()
            }
        );
    }

    #[test]
    fn targets() {
        assert_eq!(
            target("blog/web:80").expect("ok"),
            Target {
                app: AppName::parse("blog").expect("n"),
                service: Some(ServiceName::parse("web").expect("s")),
                port: 80
            }
        );
        assert_eq!(target("blog:8080").expect("ok").service, None);
        for (input, why) in [
            (
                "blog",
                "\"blog\": a target is APP[/SERVICE]:PORT, such as blog/web:80",
            ),
            ("blog:0", "\"blog:0\": the port is a number from 1 to 65535"),
            (
                "blog:http",
                "\"blog:http\": the port is a number from 1 to 65535",
            ),
            (
                "../x:80",
                "\"../x:80\": app names match ^[a-z0-9][a-z0-9_-]{0,62}$",
            ),
        ] {
            assert_eq!(target(input), Err(why.to_string()), "{input}");
        }
    }
}
