//! The servers a user added (`servers.toml` in the AppOS config dir), the
//! current one, and where their tokens live: the OS keyring when one is
//! available, otherwise a 0600 file, with a warning.
//!
//! The CLI and the desktop share these files, so a server added in one shows
//! up in the other.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClientError;

const PASSPHRASE_SERVICE: &str = "dev.appos.ssh-passphrase";

/// Where a kind of secret is kept: its keyring service, and the 0600 file
/// used when there is no keyring.
struct Secrets {
    service: &'static str,
    file: &'static str,
}

/// Servers' API tokens, by server name.
const TOKENS: Secrets = Secrets {
    service: "dev.appos.token",
    file: "tokens.toml",
};
/// Backup repositories' keys, by [`backup_key_account`].
const BACKUP_KEYS: Secrets = Secrets {
    service: "dev.appos.backup-key",
    file: "backup-keys.toml",
};

/// Under what name a backup repository's key is kept: an SFTP repository
/// by its location alone (any server that reaches it needs the same key),
/// a path by server and path (the same path on two servers is two
/// repositories).
pub fn backup_key_account(server: &str, location: &str) -> String {
    if location.starts_with("sftp:") {
        location.to_string()
    } else {
        format!("{server}:{location}")
    }
}

/// Server names: what users type after `--server`.
pub fn valid_server_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// [`valid_server_name`] as an error a user can act on.
pub fn check_server_name(name: &str) -> Result<(), ClientError> {
    if valid_server_name(name) {
        Ok(())
    } else {
        Err(ClientError::Config(format!(
            "invalid server name {name:?}: use letters, digits, '-', '_' and '.', starting with a letter or digit"
        )))
    }
}

/// The AppOS config dir: `$APPOS_CONFIG_DIR`, else `$XDG_CONFIG_HOME/appos`,
/// else `~/.config/appos`.
pub fn config_dir(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(d) = env("APPOS_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = env("XDG_CONFIG_HOME").filter(|d| d.starts_with('/')) {
        return PathBuf::from(d).join("appos");
    }
    let home = env("HOME").unwrap_or_else(|| "/".into());
    PathBuf::from(home).join(".config").join("appos")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerProfile {
    /// `ssh://USER@HOST[:PORT]`, `unix:///PATH` or `http://HOST:PORT`.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<PathBuf>,
    /// Path of the agent's socket on the server (SSH only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_socket: Option<String>,
    /// Command that runs the agent on the server, for token bootstrap (SSH only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_cmd: Option<String>,
    /// Extra trusted CA certificates (PEM) for an https URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// SHA256 fingerprint of the host key accepted when the server was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    pub added_at: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ProfilesFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    #[serde(default)]
    servers: BTreeMap<String, ServerProfile>,
}

/// Where a token was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLocation {
    Keyring,
    /// The fallback file, with the reason the keyring could not be used.
    File {
        path: PathBuf,
        why: String,
    },
}

pub struct Profiles {
    dir: PathBuf,
    file: ProfilesFile,
}

impl Profiles {
    pub fn load(dir: &Path) -> Result<Profiles, ClientError> {
        let path = dir.join("servers.toml");
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ProfilesFile::default(),
            Err(e) => {
                return Err(ClientError::Config(format!(
                    "reading {}: {e}",
                    path.display()
                )))
            }
        };
        Ok(Profiles {
            dir: dir.to_path_buf(),
            file,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn servers(&self) -> impl Iterator<Item = (&String, &ServerProfile)> {
        self.file.servers.iter()
    }

    pub fn get(&self, name: &str) -> Option<&ServerProfile> {
        self.file.servers.get(name)
    }

    pub fn current(&self) -> Option<&str> {
        self.file
            .current
            .as_deref()
            .filter(|c| self.file.servers.contains_key(*c))
    }

    /// The server to use: the one named, else the current one.
    pub fn pick(&self, named: Option<&str>) -> Result<(String, ServerProfile), ClientError> {
        let name = match named {
            Some(n) => n.to_string(),
            None => self.current().map(str::to_string).ok_or_else(|| {
                ClientError::Config(
                    "no server configured: add one with `appos server add NAME ssh://USER@HOST`"
                        .into(),
                )
            })?,
        };
        let profile = self.get(&name).cloned().ok_or_else(|| {
            ClientError::Config(format!(
                "unknown server {name:?}: `appos server list` shows the servers you added"
            ))
        })?;
        Ok((name, profile))
    }

    /// Adds or replaces a server and makes it the current one.
    pub fn upsert(&mut self, name: &str, profile: ServerProfile) -> Result<(), ClientError> {
        check_server_name(name)?;
        self.file.servers.insert(name.to_string(), profile);
        self.file.current = Some(name.to_string());
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<ServerProfile, ClientError> {
        let removed = self
            .file
            .servers
            .remove(name)
            .ok_or_else(|| ClientError::Config(format!("unknown server {name:?}")))?;
        if self.file.current.as_deref() == Some(name) {
            // Fall back to the most recently added remaining server.
            self.file.current = self
                .file
                .servers
                .iter()
                .max_by_key(|(_, p)| p.added_at)
                .map(|(n, _)| n.clone());
        }
        Ok(removed)
    }

    pub fn set_current(&mut self, name: &str) -> Result<(), ClientError> {
        if !self.file.servers.contains_key(name) {
            return Err(ClientError::Config(format!("unknown server {name:?}")));
        }
        self.file.current = Some(name.to_string());
        Ok(())
    }

    pub fn save(&self) -> Result<(), ClientError> {
        let text =
            toml::to_string_pretty(&self.file).map_err(|e| ClientError::Config(e.to_string()))?;
        write_private(&self.dir.join("servers.toml"), text.as_bytes())
    }

    /// Stores a server's token in the keyring, or in the fallback file.
    pub async fn save_token(
        &self,
        server: &str,
        token: &str,
    ) -> Result<TokenLocation, ClientError> {
        self.save_secret(&TOKENS, server, token).await
    }

    /// The stored token of a server, from the fallback file or the keyring.
    pub async fn load_token(&self, server: &str) -> Result<Option<String>, ClientError> {
        self.load_secret(&TOKENS, server).await
    }

    pub async fn delete_token(&self, server: &str) -> Result<(), ClientError> {
        let s = server.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            keyring::Entry::new(PASSPHRASE_SERVICE, &s).and_then(|e| e.delete_credential())
        })
        .await;
        self.delete_secret(&TOKENS, server).await
    }

    /// Keeps a backup repository's key ([`backup_key_account`] names it) in
    /// the keyring, or in the fallback file.
    pub async fn save_backup_key(
        &self,
        account: &str,
        key: &str,
    ) -> Result<TokenLocation, ClientError> {
        self.save_secret(&BACKUP_KEYS, account, key).await
    }

    pub async fn load_backup_key(&self, account: &str) -> Result<Option<String>, ClientError> {
        self.load_secret(&BACKUP_KEYS, account).await
    }

    async fn save_secret(
        &self,
        kind: &Secrets,
        account: &str,
        secret: &str,
    ) -> Result<TokenLocation, ClientError> {
        let (service, a, t) = (kind.service, account.to_string(), secret.to_string());
        let keyring =
            tokio::task::spawn_blocking(move || keyring::Entry::new(service, &a)?.set_password(&t))
                .await
                .map_err(|e| ClientError::Config(e.to_string()))?;
        let mut file = self.secret_file(kind)?;
        match keyring {
            Ok(()) => {
                if file.remove(account).is_some() {
                    self.write_secret_file(kind, &file)?;
                }
                Ok(TokenLocation::Keyring)
            }
            Err(e) => {
                file.insert(account.to_string(), secret.to_string());
                self.write_secret_file(kind, &file)?;
                Ok(TokenLocation::File {
                    path: self.dir.join(kind.file),
                    why: e.to_string(),
                })
            }
        }
    }

    async fn load_secret(
        &self,
        kind: &Secrets,
        account: &str,
    ) -> Result<Option<String>, ClientError> {
        if let Some(t) = self.secret_file(kind)?.remove(account) {
            return Ok(Some(t));
        }
        let (service, a) = (kind.service, account.to_string());
        let got =
            tokio::task::spawn_blocking(move || keyring::Entry::new(service, &a)?.get_password())
                .await
                .map_err(|e| ClientError::Config(e.to_string()))?;
        match got {
            Ok(t) => Ok(Some(t)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => {
                tracing::debug!(error = %e, "keyring unavailable");
                Ok(None)
            }
        }
    }

    async fn delete_secret(&self, kind: &Secrets, account: &str) -> Result<(), ClientError> {
        let mut file = self.secret_file(kind)?;
        if file.remove(account).is_some() {
            self.write_secret_file(kind, &file)?;
        }
        let (service, a) = (kind.service, account.to_string());
        let _ = tokio::task::spawn_blocking(move || {
            keyring::Entry::new(service, &a)?.delete_credential()
        })
        .await;
        Ok(())
    }

    /// Keeps the passphrase of a server's SSH key in the OS keyring. Without a
    /// keyring it is not stored at all (returns false): a passphrase never
    /// goes to a file.
    pub async fn save_passphrase(&self, server: &str, passphrase: &str) -> bool {
        let (s, p) = (server.to_string(), passphrase.to_string());
        matches!(
            tokio::task::spawn_blocking(
                move || keyring::Entry::new(PASSPHRASE_SERVICE, &s)?.set_password(&p)
            )
            .await,
            Ok(Ok(()))
        )
    }

    pub async fn load_passphrase(&self, server: &str) -> Option<String> {
        let s = server.to_string();
        tokio::task::spawn_blocking(move || {
            keyring::Entry::new(PASSPHRASE_SERVICE, &s)?.get_password()
        })
        .await
        .ok()?
        .ok()
    }

    fn secret_file(&self, kind: &Secrets) -> Result<BTreeMap<String, String>, ClientError> {
        let path = self.dir.join(kind.file);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| ClientError::Config(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ClientError::Config(format!(
                "reading {}: {e}",
                path.display()
            ))),
        }
    }

    fn write_secret_file(
        &self,
        kind: &Secrets,
        secrets: &BTreeMap<String, String>,
    ) -> Result<(), ClientError> {
        let text = toml::to_string(secrets).map_err(|e| ClientError::Config(e.to_string()))?;
        write_private(&self.dir.join(kind.file), text.as_bytes())
    }
}

/// Writes a file readable only by its owner, atomically (temp file + rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let err = |e: std::io::Error| ClientError::Config(format!("writing {}: {e}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// A token name that tells the server's admin where a token came from,
/// e.g. `appos-cli@laptop`.
pub fn token_name(client: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let clean: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    format!("{client}@{clean}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn profile(url: &str, at: i64) -> ServerProfile {
        ServerProfile {
            url: url.into(),
            identity: None,
            agent_socket: None,
            bootstrap_cmd: None,
            ca_file: None,
            host_key: None,
            added_at: at,
        }
    }

    #[test]
    fn add_pick_remove() {
        let dir = tempfile::tempdir().expect("dir");
        let mut p = Profiles::load(dir.path()).expect("load");
        assert!(p.pick(None).is_err());
        p.upsert("a", profile("ssh://root@a", 1)).expect("a");
        p.upsert("b", profile("ssh://root@b", 2)).expect("b");
        assert_eq!(p.pick(None).expect("pick").0, "b");
        p.set_current("a").expect("use");
        p.save().expect("save");
        let mut p = Profiles::load(dir.path()).expect("reload");
        assert_eq!(p.current(), Some("a"));
        p.remove("a").expect("rm");
        assert_eq!(p.current(), Some("b"));
        assert!(p
            .pick(Some("zzz"))
            .expect_err("unknown")
            .to_string()
            .contains("unknown server"));
        let mode = std::fs::metadata(dir.path().join("servers.toml"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn hostile_names_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let mut p = Profiles::load(dir.path()).expect("load");
        for bad in ["", "../x", "a b", "-x", "a/b", &"x".repeat(65)] {
            assert!(p.upsert(bad, profile("ssh://h", 1)).is_err(), "{bad:?}");
        }
        assert_eq!(p.servers().count(), 0);
    }

    #[test]
    fn config_dir_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            config_dir(env(&[("APPOS_CONFIG_DIR", "/c"), ("HOME", "/h")])),
            PathBuf::from("/c")
        );
        assert_eq!(
            config_dir(env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])),
            PathBuf::from("/x/appos")
        );
        assert_eq!(
            config_dir(env(&[("HOME", "/h")])),
            PathBuf::from("/h/.config/appos")
        );
    }
}
