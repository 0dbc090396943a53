//! Host-key verification against the app's own known_hosts file and then the
//! user's `~/.ssh/known_hosts` (hashed entries included).

use std::path::{Path, PathBuf};

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known,
    Unknown,
    Changed { expected: Vec<String>, recorded_in: PathBuf },
}

pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn recorded(host: &str, port: u16, file: &Path) -> Result<Vec<PublicKey>, ClientError> {
    russh::keys::known_hosts::known_host_keys_path(host, port, file)
        .map(|v| v.into_iter().map(|(_, k)| k).collect())
        .map_err(|e| ClientError::Config(format!("reading {}: {e}", file.display())))
}

impl KnownHosts {
    /// Checks `key` for `host:port`. A key that matches any recorded entry is
    /// known; recorded entries that all differ mean the key changed.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> Result<Verdict, ClientError> {
        let files = std::iter::once(&self.app_file).chain(self.user_file.iter());
        let mut changed: Option<(Vec<String>, PathBuf)> = None;
        for file in files {
            let keys = recorded(host, port, file)?;
            if keys.iter().any(|k| k.key_data() == key.key_data()) {
                return Ok(Verdict::Known);
            }
            if !keys.is_empty() && changed.is_none() {
                changed = Some((keys.iter().map(fingerprint).collect(), file.clone()));
            }
        }
        Ok(match changed {
            Some((expected, recorded_in)) => Verdict::Changed { expected, recorded_in },
            None => Verdict::Unknown,
        })
    }

    /// Records `key` for `host:port` in the app's file.
    pub fn learn(&self, host: &str, port: u16, key: &PublicKey) -> Result<(), ClientError> {
        russh::keys::known_hosts::learn_known_hosts_path(host, port, key, &self.app_file)
            .map_err(|e| ClientError::Config(format!("writing {}: {e}", self.app_file.display())))
    }

    /// Applies the verdict and the policy: Ok(()) to go on, or the error to stop with.
    pub fn decide(&self, host: &str, port: u16, key: &PublicKey, policy: &NewKeyPolicy) -> Result<(), ClientError> {
        let presented = fingerprint(key);
        match self.check(host, port, key)? {
            Verdict::Known => Ok(()),
            Verdict::Changed { expected, recorded_in } => Err(ClientError::HostKeyChanged {
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
        let kh = KnownHosts { app_file: dir.path().join("known_hosts"), user_file: Some(dir.path().join("user_kh")) };
        let k1 = key(KEY_A);
        let k2 = key(KEY_B);
        let err = kh.decide("h", 2222, &k1, &NewKeyPolicy::Ask).expect_err("unknown");
        assert_eq!(err.class(), appos_proto::ErrorClass::HostKeyUnknown);
        // A confirmation for a different fingerprint does not accept this key.
        let err = kh.decide("h", 2222, &k1, &NewKeyPolicy::AcceptFingerprint(fingerprint(&k2))).expect_err("other fp");
        assert_eq!(err.class(), appos_proto::ErrorClass::HostKeyUnknown);
        kh.decide("h", 2222, &k1, &NewKeyPolicy::AcceptFingerprint(fingerprint(&k1))).expect("accepted");
        assert_eq!(kh.check("h", 2222, &k1).expect("check"), Verdict::Known);
        // Same host, other port: unrelated.
        assert_eq!(kh.check("h", 22, &k1).expect("check"), Verdict::Unknown);
        let err = kh.decide("h", 2222, &k2, &NewKeyPolicy::AcceptAny).expect_err("changed");
        let msg = err.to_string();
        assert!(msg.contains(&fingerprint(&k1)) && msg.contains(&fingerprint(&k2)), "{msg}");
    }

    #[test]
    fn user_file_is_consulted() {
        let dir = tempfile::tempdir().expect("dir");
        let user = dir.path().join("user_kh");
        let k = key(KEY_A);
        std::fs::write(&user, format!("[h]:2200 {}\n", k.to_openssh().expect("openssh"))).expect("write");
        let kh = KnownHosts { app_file: dir.path().join("known_hosts"), user_file: Some(user) };
        assert_eq!(kh.check("h", 2200, &k).expect("check"), Verdict::Known);
    }
}
