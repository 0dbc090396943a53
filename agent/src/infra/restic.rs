//! restic, the storage engine of backups: deduplicated and encrypted with a
//! key the admin keeps. The agent runs the `restic` program (Debian packages
//! it; the agent's image carries it) with the repository and the key file
//! in its environment, never on the command line.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// Why restic could not do it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResticError {
    /// The key does not open the repository.
    #[error("the key does not open the repository at {0}")]
    WrongKey(String),
    /// Nothing (or no repository) at that location.
    #[error("no restic repository at {0}")]
    NoRepository(String),
    #[error("restic is not installed on the server (apt install restic)")]
    NotInstalled,
    /// The SFTP host refused the agent's SSH key.
    #[error("the backup host refused the agent's SSH key")]
    KeyRefused,
    /// The SFTP host's key is not the one pinned.
    #[error("the backup host's SSH key is not the one pinned when the repository was set: if it changed on purpose, set the repository again")]
    HostKeyChanged,
    #[error("restic: {0}")]
    Failed(String),
}

/// A repository and the file holding its key.
#[derive(Debug, Clone)]
pub struct Repo {
    /// As restic takes it: a path, or `sftp:USER@HOST:PATH`.
    pub location: String,
    pub key_file: PathBuf,
    pub cache_dir: PathBuf,
    /// For an SFTP repository: the `ssh` command that reaches it.
    pub sftp_command: Option<String>,
}

/// What `restic snapshots --json` says of one snapshot (the fields used).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SnapshotJson {
    pub short_id: String,
    pub time: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Repo {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("restic");
        if let Some(ssh) = &self.sftp_command {
            c.arg("-o").arg(format!("sftp.command={ssh}"));
        }
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "HOME",
                std::env::var_os("HOME").unwrap_or_else(|| "/root".into()),
            )
            .env("RESTIC_REPOSITORY", &self.location)
            .env("RESTIC_PASSWORD_FILE", &self.key_file)
            .env("RESTIC_CACHE_DIR", &self.cache_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str]) -> Result<String, ResticError> {
        let out = match self.command(args).output().await {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ResticError::NotInstalled)
            }
            Err(e) => return Err(ResticError::Failed(e.to_string())),
        };
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        match classify(&self.location, &err) {
            ResticError::Failed(why) if self.sftp_command.is_some() => Err(self
                .diagnose_ssh()
                .await
                .unwrap_or(ResticError::Failed(why))),
            other => Err(other),
        }
    }

    /// Why ssh could not open the SFTP session, asked of ssh itself: restic
    /// passes ssh's words on only when they reach it before it gives up,
    /// which is a race. None when ssh gets through (the failure was restic's).
    async fn diagnose_ssh(&self) -> Option<ResticError> {
        let mut argv = self.sftp_command.as_deref()?.split_whitespace();
        let out = Command::new(argv.next()?)
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(std::time::Duration::from_secs(30), out)
            .await
            .ok()?
            .ok()?;
        if out.status.success() {
            return None;
        }
        let said: String = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(|l| format!("subprocess ssh: {l}\n"))
            .collect();
        match classify(&self.location, &said) {
            ResticError::Failed(why) if why == "failed" => None,
            e => Some(e),
        }
    }

    /// Creates the repository.
    pub async fn init(&self) -> Result<(), ResticError> {
        self.run(&["init"]).await.map(drop)
    }

    /// Checks that the key opens the repository.
    pub async fn open(&self) -> Result<(), ResticError> {
        self.run(&["cat", "config"]).await.map(drop)
    }

    /// Backs `paths` up with `tags`; returns the new snapshot's short id.
    pub async fn backup(
        &self,
        host: &str,
        tags: &[String],
        paths: &[&Path],
    ) -> Result<String, ResticError> {
        let mut args: Vec<String> = vec![
            "backup".into(),
            "--json".into(),
            "--host".into(),
            host.into(),
        ];
        for t in tags {
            args.push("--tag".into());
            args.push(t.clone());
        }
        args.extend(paths.iter().map(|p| p.display().to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run(&argv).await?;
        summary_snapshot(&out)
            .ok_or_else(|| ResticError::Failed("the backup wrote no snapshot".into()))
    }

    /// The snapshots AppOS wrote, oldest first.
    pub async fn snapshots(&self) -> Result<Vec<SnapshotJson>, ResticError> {
        let out = self.run(&["snapshots", "--json", "--tag", "appos"]).await?;
        serde_json::from_str(&out)
            .map_err(|e| ResticError::Failed(format!("reading the snapshot list: {e}")))
    }

    /// Keeps the newest `keep` AppOS snapshots of this host and forgets the
    /// rest, pruning the data nothing refers to any more; answers how many
    /// were forgotten. (Grouped by host alone: each backup's staging path
    /// differs, and restic's default grouping by paths would keep them all.)
    pub async fn forget(&self, host: &str, keep: u32) -> Result<usize, ResticError> {
        let k = keep.to_string();
        let out = self
            .run(&[
                "forget",
                "--json",
                "--tag",
                "appos",
                "--host",
                host,
                "--group-by",
                "host",
                "--keep-last",
                &k,
                "--prune",
            ])
            .await?;
        forgotten(&out)
    }

    /// Whether the repository holds that snapshot.
    pub async fn has(&self, snapshot: &str) -> Result<bool, ResticError> {
        match self.run(&["cat", "snapshot", snapshot]).await {
            Ok(_) => Ok(true),
            Err(ResticError::Failed(why))
                if why.contains("no matching ID found")
                    || why.contains("unable to find")
                    || why.contains("invalid id") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// `restic dump SNAPSHOT / --archive tar`: the whole snapshot as a tar
    /// on the child's stdout.
    pub fn dump(&self, snapshot: &str) -> Result<tokio::process::Child, ResticError> {
        let mut c = self.command(&["dump", "--archive", "tar", snapshot, "/"]);
        c.stderr(Stdio::null());
        c.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ResticError::NotInstalled
            } else {
                ResticError::Failed(e.to_string())
            }
        })
    }

    /// Restores a snapshot under `target` (paths keep their absolute names below it).
    pub async fn restore(&self, snapshot: &str, target: &Path) -> Result<(), ResticError> {
        let t = target.display().to_string();
        self.run(&["restore", snapshot, "--target", &t])
            .await
            .map(drop)
    }
}

/// What restic's error text means.
fn classify(location: &str, stderr: &str) -> ResticError {
    // ssh's own words, which restic passes on.
    let ssh = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("subprocess ssh: "))
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"));
    if stderr.contains("wrong password") {
        ResticError::WrongKey(location.to_string())
    } else if stderr.contains("Is there a repository at the following location?")
        || stderr.contains("unable to open config file")
    {
        ResticError::NoRepository(location.to_string())
    } else if stderr.contains("Host key verification failed")
        || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        ResticError::HostKeyChanged
    } else if stderr.contains("Permission denied (publickey") {
        ResticError::KeyRefused
    } else if let Some(line) = ssh {
        ResticError::Failed(format!(
            "ssh: {}",
            line.strip_prefix("ssh: ").unwrap_or(line)
        ))
    } else {
        let last = stderr
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("failed");
        ResticError::Failed(last.strip_prefix("Fatal: ").unwrap_or(last).to_string())
    }
}

/// The snapshot id in `restic backup --json`'s summary line.
fn summary_snapshot(out: &str) -> Option<String> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .and_then(|v| {
            v["snapshot_id"]
                .as_str()
                .map(|s| s.chars().take(8).collect())
        })
}

/// How many snapshots `restic forget --json` removed: its groups, as the
/// first line of JSON on stdout (prune's progress lines may follow it;
/// restic 0.14 to 0.18 print nothing at all when no snapshot matches).
fn forgotten(stdout: &str) -> Result<usize, ResticError> {
    #[derive(serde::Deserialize)]
    struct Group {
        #[serde(default)]
        remove: Option<Vec<serde::de::IgnoredAny>>,
    }
    let Some(line) = stdout.lines().find(|l| l.trim_start().starts_with('[')) else {
        return Ok(0);
    };
    let groups: Vec<Group> = serde_json::from_str(line)
        .map_err(|e| ResticError::Failed(format!("reading what restic forget removed: {e}")))?;
    Ok(groups
        .iter()
        .map(|g| g.remove.as_ref().map_or(0, Vec::len))
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restic_errors_are_told_apart() {
        let loc = "/srv/backups";
        for (stderr, want) in [
            ("Fatal: wrong password or no key found\n", ResticError::WrongKey(loc.into())),
            ("Fatal: unable to open config file: stat /srv/backups/config: no such file or directory\nIs there a repository at the following location?\n/srv/backups\n", ResticError::NoRepository(loc.into())),
            ("Fatal: create repository at /srv/backups failed: config file already exists\n\n", ResticError::Failed("create repository at /srv/backups failed: config file already exists".into())),
            ("subprocess ssh: backup@127.0.0.1: Permission denied (publickey).\nFatal: unable to open repository at sftp:backup@127.0.0.1:/srv: unable to start the sftp session, error: EOF\n", ResticError::KeyRefused),
            ("subprocess ssh: Host key verification failed.\nFatal: unable to open repository at sftp:b@h:/srv: unable to start the sftp session, error: EOF\n", ResticError::HostKeyChanged),
            ("subprocess ssh: ssh: connect to host 127.0.0.1 port 2222: Connection refused\nFatal: unable to open repository at sftp:b@h:/srv: unable to start the sftp session, error: EOF\n", ResticError::Failed("ssh: connect to host 127.0.0.1 port 2222: Connection refused".into())),
        ] {
            assert_eq!(classify(loc, stderr), want, "{stderr}");
        }
    }

    #[test]
    fn what_forget_removed_is_counted() {
        // restic 0.14 with --prune: the JSON, then prune's own lines.
        let pruned = "[{\"tags\":null,\"host\":\"h\",\"keep\":[{\"id\":\"a1\"}],\"remove\":[{\"id\":\"59\"},{\"id\":\"83\"}],\"reasons\":[]}]\nloading indexes...\nloading all snapshots...\n";
        for (stdout, want) in [
            (pruned, Ok(2)),
            // Nothing to remove: restic writes null, or leaves the field out.
            ("[{\"host\":\"h\",\"keep\":[{\"id\":\"a1\"}],\"remove\":null}]\n", Ok(0)),
            ("[{\"host\":\"h\",\"keep\":[]}]\n", Ok(0)),
            ("[]\n", Ok(0)),
            // Two groups.
            ("[{\"remove\":[{}]},{\"remove\":[{},{},{}]}]\n", Ok(4)),
            // No snapshot of this host matched.
            ("", Ok(0)),
            ("[{\"remove\":", Err(ResticError::Failed("reading what restic forget removed: EOF while parsing a value at line 1 column 11".into()))),
        ] {
            assert_eq!(forgotten(stdout), want, "{stdout}");
        }
    }

    #[test]
    fn the_snapshot_id_comes_from_the_summary() {
        let out = "{\"message_type\":\"status\",\"percent_done\":0.5}\n{\"message_type\":\"summary\",\"files_new\":3,\"snapshot_id\":\"4f6a2c19e0b1d2c3\"}\n";
        assert_eq!(summary_snapshot(out), Some("4f6a2c19".to_string()));
        assert_eq!(summary_snapshot("{\"message_type\":\"status\"}\n"), None);
    }
}
