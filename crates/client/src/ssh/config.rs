//! Resolving an SSH target the way OpenSSH does: `~/.ssh/config` Host
//! aliases, HostName, User, Port, IdentityFile and ProxyJump.

use std::path::{Path, PathBuf};

use ssh2_config::{ParseRule, SshConfig};

use crate::ClientError;

/// What the user typed: `ssh://USER@HOST:PORT`, or an alias from `~/.ssh/config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub host: String,
    pub user: Option<String>,
    pub port: Option<u16>,
}

impl SshTarget {
    /// Parses `ssh://[USER@]HOST[:PORT]` (also `[USER@]HOST[:PORT]`).
    pub fn parse(url: &str) -> Result<SshTarget, ClientError> {
        let rest = url
            .strip_prefix("ssh://")
            .unwrap_or(url)
            .trim_end_matches('/');
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, rest),
        };
        let (host, port) = if hostport.starts_with('[') || hostport.matches(':').count() == 1 {
            match crate::transport::split_host_port(hostport) {
                Some((h, p)) => (h, Some(p)),
                None => {
                    return Err(ClientError::Config(format!(
                        "{url:?}: expected ssh://USER@HOST[:PORT]"
                    )))
                }
            }
        } else {
            (hostport.to_string(), None)
        };
        let bad = |s: &str| {
            s.is_empty()
                || s.starts_with('-')
                || s.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        };
        if bad(&host) || user.as_deref().is_some_and(bad) {
            return Err(ClientError::Config(format!(
                "{url:?}: expected ssh://USER@HOST[:PORT]"
            )));
        }
        Ok(SshTarget { host, user, port })
    }

    pub fn to_url(&self) -> String {
        let mut s = String::from("ssh://");
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        if self.host.contains(':') {
            s.push_str(&format!("[{}]", self.host));
        } else {
            s.push_str(&self.host);
        }
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }
}

/// A target after `~/.ssh/config` was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub host_name: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
    pub proxy_jump: Option<String>,
    /// `HostKeyAlias`: the name the host key is looked up and recorded under,
    /// instead of `host_name`.
    pub host_key_alias: Option<String>,
}

impl Resolved {
    /// The name host keys are looked up and recorded under.
    pub fn host_key_name(&self) -> &str {
        self.host_key_alias.as_deref().unwrap_or(&self.host_name)
    }
}

/// Applies `ssh_config` (if it exists) to `target`. Explicit user and port in
/// the target win over the config, as on the OpenSSH command line.
pub fn resolve(
    target: &SshTarget,
    ssh_config: Option<&Path>,
    home: &Path,
    local_user: &str,
) -> Result<Resolved, ClientError> {
    let params = match ssh_config.filter(|p| p.exists()) {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| ClientError::Config(format!("reading {}: {e}", path.display())))?;
            let mut reader = std::io::BufReader::new(file);
            let config = SshConfig::default()
                .home_dir(home)
                .parse(
                    &mut reader,
                    ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
                )
                .map_err(|e| ClientError::Config(format!("parsing {}: {e}", path.display())))?;
            Some(config.query(&target.host))
        }
        None => None,
    };
    let host_name = params
        .as_ref()
        .and_then(|p| p.host_name.clone())
        .unwrap_or_else(|| target.host.clone());
    let port = target
        .port
        .or(params.as_ref().and_then(|p| p.port))
        .unwrap_or(22);
    let user = target
        .user
        .clone()
        .or(params.as_ref().and_then(|p| p.user.clone()))
        .unwrap_or_else(|| local_user.to_string());
    let identity_files = params
        .as_ref()
        .and_then(|p| p.identity_file.clone())
        .unwrap_or_default();
    let proxy_jump = params
        .as_ref()
        .and_then(|p| p.proxy_jump.clone())
        .and_then(|v| v.into_iter().next())
        .filter(|j| !j.eq_ignore_ascii_case("none"));
    // ssh2-config does not interpret HostKeyAlias, but keeps it (lower-cased name).
    let host_key_alias = params
        .as_ref()
        .and_then(|p| {
            p.unsupported_fields
                .get("hostkeyalias")
                .or_else(|| p.ignored_fields.get("hostkeyalias"))
        })
        .and_then(|v| v.first().cloned())
        .filter(|a| !a.is_empty());
    Ok(Resolved {
        host_name,
        port,
        user,
        identity_files,
        proxy_jump,
        host_key_alias,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = SshTarget::parse("ssh://root@example.com:2222").expect("ok");
        assert_eq!(
            t,
            SshTarget {
                host: "example.com".into(),
                user: Some("root".into()),
                port: Some(2222)
            }
        );
        assert_eq!(t.to_url(), "ssh://root@example.com:2222");
        let t = SshTarget::parse("prod").expect("alias");
        assert_eq!(
            t,
            SshTarget {
                host: "prod".into(),
                user: None,
                port: None
            }
        );
        let t = SshTarget::parse("ssh://admin@[::1]:22").expect("v6");
        assert_eq!(t.host, "::1");
        for bad in [
            "ssh://",
            "ssh://u@",
            "ssh://-oProxyCommand=x",
            "ssh://a b",
            "ssh://h:notaport",
            "ssh://h/x",
        ] {
            assert!(SshTarget::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn applies_ssh_config() {
        let dir = tempfile::tempdir().expect("dir");
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "Host prod\n  HostName 10.1.2.3\n  User deploy\n  Port 2201\n  IdentityFile ~/.ssh/prod_key\n  ProxyJump bastion\n  HostKeyAlias prod-box\n\nHost *\n  ServerAliveInterval 30\n",
        )
        .expect("write");
        let r = resolve(
            &SshTarget::parse("prod").expect("t"),
            Some(&cfg),
            dir.path(),
            "me",
        )
        .expect("resolve");
        assert_eq!(r.host_name, "10.1.2.3");
        assert_eq!(r.user, "deploy");
        assert_eq!(r.port, 2201);
        assert_eq!(r.identity_files, vec![dir.path().join(".ssh/prod_key")]);
        assert_eq!(r.proxy_jump.as_deref(), Some("bastion"));
        assert_eq!(
            (r.host_key_alias.as_deref(), r.host_key_name()),
            (Some("prod-box"), "prod-box")
        );
        // Explicit user and port win.
        let r = resolve(
            &SshTarget::parse("ssh://root@prod:22").expect("t"),
            Some(&cfg),
            dir.path(),
            "me",
        )
        .expect("resolve");
        assert_eq!((r.user.as_str(), r.port), ("root", 22));
        // No config: defaults.
        let r = resolve(
            &SshTarget::parse("other").expect("t"),
            None,
            dir.path(),
            "me",
        )
        .expect("resolve");
        assert_eq!(
            (
                r.host_name.as_str(),
                r.port,
                r.user.as_str(),
                r.host_key_name()
            ),
            ("other", 22, "me", "other")
        );
    }
}
