//! Host-key verification against the app's own known_hosts file, then the
//! user's `~/.ssh/known_hosts`, then the system's `/etc/ssh/ssh_known_hosts`,
//! read the way OpenSSH reads them: entries parsed by `ssh-key` (markers,
//! hashed names), host patterns matched here as OpenSSH matches them
//! (comma lists, `*` and `?`, `!` negation, `[host]:port`), spaces or tabs
//! between fields. A key on a `@revoked` line is refused whatever else says;
//! `@cert-authority` lines never make a plain key known.

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::{HashAlg, PublicKey};

use crate::ClientError;

/// What to do with a key that no known_hosts file records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewKeyPolicy {
    /// Refuse with [`ClientError::HostKeyUnknown`], naming the fingerprint, so
    /// that a front end can ask the user.
    Ask,
    /// Accept and record exactly the key with this SHA256 fingerprint (the one
    /// the user was shown); any other key is still refused.
    AcceptFingerprint(String),
    /// Accept and record whatever key the server presents (`--accept-new-host-key`).
    AcceptAny,
}

#[derive(Debug, Clone)]
pub struct KnownHosts {
    /// The app's own file; accepted keys are written here.
    pub app_file: PathBuf,
    /// The user's OpenSSH file, read only.
    pub user_file: Option<PathBuf>,
    /// The system's OpenSSH file (`/etc/ssh/ssh_known_hosts`), read only.
    pub system_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known,
    Unknown,
    Changed {
        expected: Vec<String>,
        recorded_in: PathBuf,
    },
    /// A `@revoked` line names this key.
    Revoked {
        recorded_in: PathBuf,
    },
}

/// One line of a known_hosts file, as OpenSSH reads it.
struct Line {
    marker: Option<Marker>,
    patterns: HostPatterns,
    key: PublicKey,
}

/// The entries of a known_hosts file; a missing file has none, and a line
/// that cannot be read is skipped (as OpenSSH does).
fn lines(file: &Path) -> Result<Vec<Line>, ClientError> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ClientError::Config(format!(
                "reading {}: {e}",
                file.display()
            )))
        }
    };
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // Fields may be separated by any run of spaces and tabs.
        let normalised = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
        match normalised.parse::<Entry>() {
            Ok(e) => out.push(Line {
                marker: e.marker().copied(),
                patterns: e.host_patterns().clone(),
                key: e.public_key().clone(),
            }),
            Err(error) => {
                tracing::debug!(file = %file.display(), line = n + 1, %error, "skipping a known_hosts line")
            }
        }
    }
    Ok(out)
}

/// OpenSSH's wildcard match: `*` any run, `?` one character; case-insensitive.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(p), Some(c)) if p.eq_ignore_ascii_case(c) => wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Whether a line's host patterns name `name` (`host` or `[host]:port`).
fn names(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::Patterns(list) => {
            let mut positive = false;
            for p in list {
                match p.strip_prefix('!') {
                    // A negated match rules the line out, whatever else matches.
                    Some(neg) if wildcard(neg.as_bytes(), name.as_bytes()) => return false,
                    Some(_) => {}
                    None => positive |= wildcard(p.as_bytes(), name.as_bytes()),
                }
            }
            positive
        }
        HostPatterns::HashedName { salt, hash } => {
            use hmac::Mac as _;
            let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.update(name.as_bytes());
            mac.verify_slice(hash).is_ok()
        }
    }
}

pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

impl KnownHosts {
    fn files(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.app_file)
            .chain(self.user_file.iter())
            .chain(self.system_file.iter())
    }

    /// Checks `key` for `host:port`. A key on a `@revoked` line for the
    /// host is refused first; then a key that matches any plain entry is
    /// known; plain entries that all differ mean the key changed.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> Result<Verdict, ClientError> {
        let name = if port == 22 {
            host.to_string()
        } else {
            format!("[{host}]:{port}")
        };
        let mut per_file = Vec::new();
        for file in self.files() {
            let matching: Vec<Line> = lines(file)?
                .into_iter()
                .filter(|l| names(&l.patterns, &name))
                .collect();
            if matching
                .iter()
                .any(|l| l.marker == Some(Marker::Revoked) && l.key.key_data() == key.key_data())
            {
                return Ok(Verdict::Revoked {
                    recorded_in: file.clone(),
                });
            }
            per_file.push((file.clone(), matching));
        }
        let mut changed: Option<(Vec<String>, PathBuf)> = None;
        for (file, matching) in per_file {
            let plain: Vec<&Line> = matching.iter().filter(|l| l.marker.is_none()).collect();
            if plain.iter().any(|l| l.key.key_data() == key.key_data()) {
                return Ok(Verdict::Known);
            }
            if !plain.is_empty() && changed.is_none() {
                changed = Some((plain.iter().map(|l| fingerprint(&l.key)).collect(), file));
            }
        }
        Ok(match changed {
            Some((expected, recorded_in)) => Verdict::Changed {
                expected,
                recorded_in,
            },
            None => Verdict::Unknown,
        })
    }

    /// Records `key` for `host:port` in the app's file.
    pub fn learn(&self, host: &str, port: u16, key: &PublicKey) -> Result<(), ClientError> {
        russh::keys::known_hosts::learn_known_hosts_path(host, port, key, &self.app_file)
            .map_err(|e| ClientError::Config(format!("writing {}: {e}", self.app_file.display())))
    }

    /// Applies the verdict and the policy: Ok(()) to go on, or the error to stop with.
    pub fn decide(
        &self,
        host: &str,
        port: u16,
        key: &PublicKey,
        policy: &NewKeyPolicy,
    ) -> Result<(), ClientError> {
        let presented = fingerprint(key);
        match self.check(host, port, key)? {
            Verdict::Known => Ok(()),
            // Refused even when new keys would be accepted.
            Verdict::Revoked { recorded_in } => Err(ClientError::HostKeyRevoked {
                host: display_host(host, port),
                presented,
                recorded_in: recorded_in.display().to_string(),
            }),
            Verdict::Changed {
                expected,
                recorded_in,
            } => Err(ClientError::HostKeyChanged {
                host: display_host(host, port),
                presented,
                expected: expected.join(", "),
                recorded_in: recorded_in.display().to_string(),
            }),
            Verdict::Unknown => {
                let accept = match policy {
                    NewKeyPolicy::Ask => false,
                    NewKeyPolicy::AcceptAny => true,
                    NewKeyPolicy::AcceptFingerprint(fp) => *fp == presented,
                };
                if !accept {
                    return Err(ClientError::HostKeyUnknown {
                        host: display_host(host, port),
                        algorithm: key.algorithm().to_string(),
                        fingerprint: presented,
                    });
                }
                self.learn(host, port, key)?;
                tracing::info!(host, port, fingerprint = %presented, "recorded new host key");
                Ok(())
            }
        }
    }
}

pub fn display_host(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIPggyr+hnrPU3QOqsCpC1bSRPeUhnuNzYmZu9h7vAozb";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIK07JJIvkKQHpAFYIEUeiNqpT0vZ07CCTr1ROQDmJfyy";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).expect("test key")
    }

    #[test]
    fn unknown_then_accepted_then_known_then_changed() {
        let dir = tempfile::tempdir().expect("dir");
        let kh = KnownHosts {
            app_file: dir.path().join("known_hosts"),
            user_file: Some(dir.path().join("user_kh")),
            system_file: None,
        };
        let k1 = key(KEY_A);
        let k2 = key(KEY_B);
        let err = kh
            .decide("h", 2222, &k1, &NewKeyPolicy::Ask)
            .expect_err("unknown");
        assert_eq!(err.class(), appos_proto::ErrorClass::HostKeyUnknown);
        // A confirmation for a different fingerprint does not accept this key.
        let err = kh
            .decide(
                "h",
                2222,
                &k1,
                &NewKeyPolicy::AcceptFingerprint(fingerprint(&k2)),
            )
            .expect_err("other fp");
        assert_eq!(err.class(), appos_proto::ErrorClass::HostKeyUnknown);
        kh.decide(
            "h",
            2222,
            &k1,
            &NewKeyPolicy::AcceptFingerprint(fingerprint(&k1)),
        )
        .expect("accepted");
        assert_eq!(kh.check("h", 2222, &k1).expect("check"), Verdict::Known);
        // Same host, other port: unrelated.
        assert_eq!(kh.check("h", 22, &k1).expect("check"), Verdict::Unknown);
        let err = kh
            .decide("h", 2222, &k2, &NewKeyPolicy::AcceptAny)
            .expect_err("changed");
        let msg = err.to_string();
        assert!(
            msg.contains(&fingerprint(&k1)) && msg.contains(&fingerprint(&k2)),
            "{msg}"
        );
    }

    #[test]
    fn user_file_is_consulted() {
        let dir = tempfile::tempdir().expect("dir");
        let user = dir.path().join("user_kh");
        let k = key(KEY_A);
        std::fs::write(
            &user,
            format!("[h]:2200 {}\n", k.to_openssh().expect("openssh")),
        )
        .expect("write");
        let kh = KnownHosts {
            app_file: dir.path().join("known_hosts"),
            user_file: Some(user),
            system_file: None,
        };
        assert_eq!(kh.check("h", 2200, &k).expect("check"), Verdict::Known);
    }

    fn kh(dir: &Path, user: &str, system: &str) -> KnownHosts {
        std::fs::write(dir.join("user_kh"), user).expect("write");
        std::fs::write(dir.join("system_kh"), system).expect("write");
        KnownHosts {
            app_file: dir.join("known_hosts"),
            user_file: Some(dir.join("user_kh")),
            system_file: Some(dir.join("system_kh")),
        }
    }

    #[test]
    fn revoked_keys_are_refused_even_when_new_keys_are_accepted() {
        let dir = tempfile::tempdir().expect("dir");
        let (a, b) = (key(KEY_A), key(KEY_B));
        let kh = kh(dir.path(), &format!("@revoked * ssh-ed25519 {KEY_A}\n"), "");
        let err = kh
            .decide("box", 22, &a, &NewKeyPolicy::AcceptAny)
            .expect_err("revoked");
        assert_eq!(err.class(), appos_proto::ErrorClass::HostKeyChanged);
        assert_eq!(
            err.to_string(),
            format!(
                "the host key of box ({}) is REVOKED in {}: refusing to connect",
                fingerprint(&a),
                dir.path().join("user_kh").display()
            )
        );
        assert!(
            !dir.path().join("known_hosts").exists(),
            "nothing was recorded"
        );
        // Another key for the same host is not affected.
        kh.decide("box", 22, &b, &NewKeyPolicy::AcceptAny)
            .expect("another key");
    }

    #[test]
    fn cert_authority_lines_and_the_system_file() {
        let dir = tempfile::tempdir().expect("dir");
        let a = key(KEY_A);
        // A CA line does not make a plain key known, nor changed.
        let kh1 = kh(
            dir.path(),
            &format!("@cert-authority *.example.com ssh-ed25519 {KEY_A}\n"),
            "",
        );
        assert_eq!(
            kh1.check("web.example.com", 22, &a).expect("check"),
            Verdict::Unknown
        );
        // The system file is read, with tabs between fields.
        let kh2 = kh(
            dir.path(),
            "",
            &format!("web.example.com,10.0.0.5\tssh-ed25519\t{KEY_A} admin@ops\n"),
        );
        assert_eq!(
            kh2.check("10.0.0.5", 22, &a).expect("check"),
            Verdict::Known
        );
        let b = key(KEY_B);
        assert_eq!(
            kh2.check("web.example.com", 22, &b).expect("check"),
            Verdict::Changed {
                expected: vec![fingerprint(&a)],
                recorded_in: dir.path().join("system_kh")
            }
        );
    }

    /// Our matching against OpenSSH's own: `ssh-keygen -F NAME -f FILE`
    /// finds the line exactly when we say it names NAME.
    #[test]
    fn host_patterns_match_as_openssh_matches_them() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("kh");
        // A hashed entry for "hashed.example", made by ssh-keygen itself.
        std::fs::write(&file, format!("hashed.example ssh-ed25519 {KEY_A}\n")).expect("write");
        let hashed = std::process::Command::new("ssh-keygen")
            .args(["-H", "-f"])
            .arg(&file)
            .output();
        let Ok(hashed) = hashed else {
            assert!(
                std::env::var_os("CI").is_none(),
                "ssh-keygen (openssh-client) is needed under CI"
            );
            eprintln!("SKIP: ssh-keygen is not installed");
            return;
        };
        assert!(
            hashed.status.success(),
            "{}",
            String::from_utf8_lossy(&hashed.stderr)
        );
        let hashed_line = std::fs::read_to_string(&file).expect("read");
        let hashed_patterns = hashed_line
            .split_whitespace()
            .next()
            .expect("patterns")
            .to_string();
        let cases: &[(&str, &[&str])] = &[
            ("box", &["box", "BOX", "box.lan", "[box]:22", "[box]:2222"]),
            (
                "*.example.com",
                &["web.example.com", "example.com", "a.b.example.com"],
            ),
            (
                "web?.example.com",
                &["web1.example.com", "web12.example.com"],
            ),
            (
                "*.example.com,!db.example.com",
                &["web.example.com", "db.example.com"],
            ),
            ("!db.example.com,*", &["db.example.com", "anything"]),
            ("[box]:2222", &["[box]:2222", "box", "[box]:22"]),
            ("[*.lan]:*", &["[nas.lan]:2222", "nas.lan"]),
            ("10.0.0.*", &["10.0.0.5", "10.0.1.5"]),
            (&hashed_patterns, &["hashed.example", "other.example"]),
        ];
        for (patterns, names_) in cases {
            std::fs::write(&file, format!("{patterns} ssh-ed25519 {KEY_A}\n")).expect("write");
            let parsed = lines(&file).expect("lines");
            for name in *names_ {
                let openssh = std::process::Command::new("ssh-keygen")
                    .args(["-F", name, "-f"])
                    .arg(&file)
                    .output()
                    .expect("ssh-keygen -F");
                let ours = parsed.iter().any(|l| names(&l.patterns, name));
                assert_eq!(
                    ours,
                    openssh.status.success(),
                    "{patterns} vs {name}: OpenSSH says {}",
                    openssh.status.success()
                );
            }
        }
    }
}
