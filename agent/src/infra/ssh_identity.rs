//! The agent's own SSH identity, for reaching another host (a backup
//! repository over SFTP): a key pair it makes once with `ssh-keygen`, the
//! host keys `ssh-keyscan` reads from a host, and the `ssh` command line
//! that trusts exactly one pinned host key. OpenSSH's client programs are in
//! the agent's image.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::core::backups::SftpTarget;

/// A host key as known_hosts holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...
    pub kind: String,
    /// The key, base64 as OpenSSH writes it.
    pub blob: String,
}

impl HostKey {
    /// `SHA256:...`, as `ssh-keygen -l` and OpenSSH's prompts print it.
    pub fn fingerprint(&self) -> Option<String> {
        use base64::Engine as _;
        use sha2::Digest as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&self.blob)
            .ok()?;
        Some(format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha2::Sha256::digest(raw))
        ))
    }
}

/// The host keys in `ssh-keyscan`'s output (comment lines skipped).
pub fn parse_scan(out: &str) -> Vec<HostKey> {
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_name, kind, blob) = (f.next()?, f.next()?, f.next()?);
            Some(HostKey {
                kind: kind.to_string(),
                blob: blob.to_string(),
            })
        })
        .collect()
}

/// The key to pin: the one with the fingerprint the admin gave, or else
/// the strongest the host offers (Ed25519, then ECDSA, then RSA).
pub fn pick(keys: &[HostKey], want: Option<&str>) -> Option<HostKey> {
    if let Some(want) = want {
        return keys
            .iter()
            .find(|k| k.fingerprint().as_deref() == Some(want))
            .cloned();
    }
    let rank = |k: &HostKey| match k.kind.as_str() {
        "ssh-ed25519" => 0,
        k if k.starts_with("ecdsa-") => 1,
        "rsa-sha2-512" | "rsa-sha2-256" | "ssh-rsa" => 2,
        _ => 3,
    };
    keys.iter().min_by_key(|k| rank(k)).cloned()
}

/// The agent's key pair under `dir` (`id_ed25519`, 0600), made on first use.
pub struct Identity {
    pub private: PathBuf,
}

impl Identity {
    pub async fn ensure(dir: &Path, comment: &str) -> std::io::Result<Identity> {
        let private = dir.join("id_ed25519");
        if !private.is_file() {
            std::fs::create_dir_all(dir)?;
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(&private)
                .stdin(Stdio::null())
                .output()
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("ssh-keygen: {e}")))?;
            if !out.status.success() {
                return Err(std::io::Error::other(format!(
                    "ssh-keygen: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        Ok(Identity { private })
    }

    /// The public key, one line for `authorized_keys`.
    pub fn public(&self) -> std::io::Result<String> {
        Ok(std::fs::read_to_string(self.private.with_extension("pub"))?
            .trim()
            .to_string())
    }
}

/// The host keys `target` offers, read with `ssh-keyscan`.
pub async fn scan(target: &SftpTarget) -> Result<Vec<HostKey>, String> {
    let out = Command::new("ssh-keyscan")
        .args([
            "-T",
            "10",
            "-p",
            &target.port.to_string(),
            "--",
            &target.host,
        ])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("ssh-keyscan: {e}"))?;
    let keys = parse_scan(&String::from_utf8_lossy(&out.stdout));
    if keys.is_empty() {
        let why = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or("no answer")
            .to_string();
        return Err(format!(
            "cannot read the SSH host key of {}:{} ({why})",
            target.host, target.port
        ));
    }
    Ok(keys)
}

/// Writes `known_hosts` pinning `key` for `target`.
pub fn pin(known_hosts: &Path, target: &SftpTarget, key: &HostKey) -> std::io::Result<()> {
    std::fs::write(
        known_hosts,
        format!("{} {} {}\n", target.known_hosts_name(), key.kind, key.blob),
    )
}

/// The `ssh` command that opens an SFTP session on `target` with the
/// agent's key, trusting only the host key in `known_hosts`, never asking
/// anything, and giving up on a host that stops answering. Spaces split it
/// (restic's `sftp.command`): the paths must have none.
pub fn sftp_command(identity: &Identity, known_hosts: &Path, target: &SftpTarget) -> String {
    format!(
        "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=15 -o ServerAliveCountMax=3 -p {} -l {} -s {} sftp",
        identity.private.display(),
        known_hosts.display(),
        target.port,
        target.user,
        target.host,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_read_fingerprinted_and_picked() {
        // A known key: `ssh-keygen -l -E sha256` prints this fingerprint for it.
        let scan = "# 127.0.0.1:2222 SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\n\
            [127.0.0.1]:2222 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7\n\
            [127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFpuxhDRvf8h7Dyb7/fCtVRMMG3gPnFPUtgNlhwY7F6k\n\
            [127.0.0.1]:2222 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=\n";
        let keys = parse_scan(scan);
        assert_eq!(
            keys.iter().map(|k| k.kind.as_str()).collect::<Vec<_>>(),
            ["ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256"]
        );
        let ed = &keys[1];
        assert_eq!(
            ed.fingerprint().as_deref(),
            Some("SHA256:7xIKylC1f2mmgFtuB0LmfhVJOy6SfFyh+AzYDvny+UE")
        );
        assert_eq!(pick(&keys, None).as_ref(), Some(ed));
        let rsa_fp = keys[0].fingerprint().expect("fingerprint");
        assert_eq!(pick(&keys, Some(&rsa_fp)).as_ref(), Some(&keys[0]));
        assert_eq!(pick(&keys, Some("SHA256:nope")), None);
        assert_eq!(pick(&keys[..1], None).as_ref(), Some(&keys[0]));
        assert_eq!(
            HostKey {
                kind: "ssh-ed25519".into(),
                blob: "not base64!".into()
            }
            .fingerprint(),
            None
        );
    }

    #[test]
    fn the_ssh_command_pins_the_key_and_never_asks() {
        let target = SftpTarget {
            user: "backup".into(),
            host: "vault".into(),
            port: 2222,
            path: "/srv".into(),
        };
        let id = Identity {
            private: "/var/lib/appos/backup/ssh/id_ed25519".into(),
        };
        assert_eq!(
            sftp_command(&id, Path::new("/var/lib/appos/backup/ssh/known_hosts"), &target),
            "ssh -F /dev/null -i /var/lib/appos/backup/ssh/id_ed25519 -o IdentitiesOnly=yes -o UserKnownHostsFile=/var/lib/appos/backup/ssh/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=15 -o ServerAliveCountMax=3 -p 2222 -l backup -s vault sftp"
        );
    }
}
