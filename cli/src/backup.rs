//! `appos backup`: the repository, backups and restores (followed to their
//! end), and the snapshots.

use std::io::Read as _;
use std::time::Duration;

use appos_client::profile::{self, Profiles, TokenLocation};
use appos_client::Client;
use appos_proto::backups::{
    BackupRequest, BackupRun, BackupSchedule, RepositoryRequest, RestoreRequest, RunState,
};
use appos_proto::calls::{
    ClearBackupSchedule, GetBackupRepository, GetBackupRun, GetBackupSchedule, ListBackupRuns,
    ListSnapshots, RestoreBackup,
};
use appos_proto::AppName;
use clap::Subcommand;

use crate::deploy::time_of;
use crate::output;
use crate::Output;

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Show where backups go and the agent's SSH key; or set the restic
    /// repository: an absolute path on the server, or sftp:USER@HOST:/PATH
    /// (sftp://USER@HOST:PORT//PATH for another port) on a host that accepts
    /// the agent's SSH key. Without --key-stdin a new repository is made and
    /// its key printed once: keep it.
    Repository {
        location: Option<String>,
        /// Read the repository's key from standard input (an existing repository, or a key you chose).
        #[arg(long, requires = "location")]
        key_stdin: bool,
        /// For SFTP: the host key's fingerprint (SHA256:..., as `ssh-keygen -l` prints it).
        /// Without it, the key the host shows now is pinned and printed: check it.
        #[arg(long, requires = "location")]
        host_key: Option<String>,
    },
    /// Print the repository's key kept on this computer (set with `backup repository`).
    Key,
    /// Back up the agent's state and every app (or one), with their volumes if asked.
    Create {
        #[arg(long)]
        app: Option<AppName>,
        /// Also the apps' named volumes.
        #[arg(long)]
        volumes: bool,
        /// Print the run's id and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// The repository's snapshots, newest first.
    List,
    /// Backups and restores run on this server, newest first.
    Runs,
    /// Download a snapshot as a tar archive to this computer.
    Download {
        snapshot: String,
        /// Where to write it (default: appos-SNAPSHOT.tar here; - for standard output).
        #[arg(long, short = 'o')]
        output: Option<std::path::PathBuf>,
    },
    /// Show the schedule; or set it: hourly, daily, weekly (or seconds), keeping --keep snapshots; or `off`.
    Schedule {
        every: Option<String>,
        #[arg(long, default_value_t = 7)]
        keep: u32,
        #[arg(long)]
        volumes: bool,
    },
    /// Bring an app back from a snapshot (it must not exist here), then deploy it;
    /// with --all, every app of the snapshot that does not exist here.
    Restore {
        snapshot: String,
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        app: Option<AppName>,
        #[arg(long)]
        all: bool,
        /// Also bring back the backed-up agent's tokens (else only the tokens made there work there).
        #[arg(long)]
        keep_tokens: bool,
        /// Restore on another server you added (a fresh one, after a loss): its repository
        /// is set to this one's, with the key kept on this computer.
        #[arg(long, value_name = "SERVER")]
        to: Option<String>,
        #[arg(long)]
        no_wait: bool,
    },
}

/// Follows a run to its end, printing its log as it grows; fails when the run failed.
async fn follow(client: &Client, id: &str, out: Output) -> anyhow::Result<()> {
    let mut printed = 0;
    loop {
        let run: BackupRun = client.call(&GetBackupRun { id: id.to_string() }).await?;
        if out == Output::Table {
            for line in &run.log[printed.min(run.log.len())..] {
                eprintln!("{line}");
            }
        }
        printed = run.log.len();
        if run.state.is_terminal() {
            if out == Output::Json {
                output::json(&run)?;
            }
            if run.state == RunState::Failed {
                anyhow::bail!("{}", run.error.unwrap_or_else(|| "failed".into()));
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The client of server `to`, its repository set to the one `from` backs
/// up to (with the key kept on this computer, and the host key `from`
/// pinned), for a restore there.
async fn on_other_server(
    profiles: &Profiles,
    from: &Client,
    from_name: &str,
    to: &str,
) -> anyhow::Result<Client> {
    let info = from.call(&GetBackupRepository {}).await?;
    let location = info
        .location
        .ok_or_else(|| anyhow::anyhow!("{from_name} has no backup repository"))?;
    let there = crate::client(profiles, Some(to)).await?;
    if there
        .call(&GetBackupRepository {})
        .await?
        .location
        .as_deref()
        == Some(location.as_str())
    {
        return Ok(there);
    }
    let account = profile::backup_key_account(from_name, &location);
    let Some(key) = profiles.load_backup_key(&account).await? else {
        anyhow::bail!("the key of {location} is not kept on this computer: set it on {to} first with `appos --server {to} backup repository {location} --key-stdin`");
    };
    there
        .call(&RepositoryRequest {
            location: location.clone(),
            key: Some(key.clone()),
            host_key: info.host_key,
        })
        .await?;
    keep_key(profiles, &profile::backup_key_account(to, &location), &key).await;
    eprintln!("{to} backs up to {location} too now");
    Ok(there)
}

/// Keeps a repository's key on this computer, and says where.
async fn keep_key(profiles: &Profiles, account: &str, key: &str) {
    match profiles.save_backup_key(account, key).await {
        Ok(TokenLocation::Keyring) => eprintln!("the key is kept in this computer's keyring"),
        Ok(TokenLocation::File { path, why }) => eprintln!(
            "no OS keyring ({why}): the key is kept in {} (mode 0600)",
            path.display()
        ),
        Err(e) => eprintln!("warning: the key could not be kept on this computer: {e}"),
    }
}

pub async fn run(
    profiles: &Profiles,
    server: Option<&str>,
    command: BackupCommand,
    out: Output,
) -> anyhow::Result<()> {
    let (server_name, _) = profiles.pick(server)?;
    let client = &crate::client(profiles, server).await?;
    match command {
        BackupCommand::Repository { location: None, .. } => {
            let r = client.call(&GetBackupRepository {}).await?;
            match out {
                Output::Json => output::json(&r),
                Output::Table => {
                    match (&r.location, &r.host_key) {
                        (Some(l), Some(h)) => eprintln!("backups go to {l} (host key {h})"),
                        (Some(l), None) => eprintln!("backups go to {l}"),
                        (None, _) => eprintln!("no repository yet: `appos backup repository PATH`"),
                    }
                    eprintln!("the agent's SSH key, for an sftp: repository (add it to that user's ~/.ssh/authorized_keys there):");
                    println!("{}", r.ssh_public_key);
                    Ok(())
                }
            }
        }
        BackupCommand::Repository {
            location: Some(location),
            key_stdin,
            host_key,
        } => {
            let given_host_key = host_key.is_some();
            let account = profile::backup_key_account(&server_name, &location);
            let key = if key_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                Some(s.trim_end_matches(['\n', '\r']).to_string())
            } else {
                let kept = profiles.load_backup_key(&account).await?;
                if kept.is_some() {
                    eprintln!("using the key kept on this computer for {location}");
                }
                kept
            };
            let r = client
                .call(&RepositoryRequest {
                    location,
                    key: key.clone(),
                    host_key,
                })
                .await?;
            if let Some(k) = r.key.as_deref().or(key.as_deref().filter(|_| key_stdin)) {
                keep_key(profiles, &account, k).await;
            }
            match out {
                Output::Json => output::json(&r),
                Output::Table => {
                    eprintln!(
                        "backups go to {} ({})",
                        r.location,
                        if r.created {
                            "a new repository"
                        } else {
                            "the repository that was there"
                        }
                    );
                    if let Some(h) = r.host_key.as_deref().filter(|_| !given_host_key) {
                        eprintln!("its host's SSH key is {h}: pinned now; check it is the host's (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there)");
                    }
                    if let Some(key) = r.key {
                        eprintln!("the repository's key, shown this once: keep a copy away from this computer too; a restore on a new server needs it:");
                        println!("{key}");
                    }
                    Ok(())
                }
            }
        }
        BackupCommand::Key => {
            let info = client.call(&GetBackupRepository {}).await?;
            let location = info.location.ok_or_else(|| {
                anyhow::anyhow!(
                    "{server_name} has no backup repository: `appos backup repository PATH`"
                )
            })?;
            match profiles
                .load_backup_key(&profile::backup_key_account(&server_name, &location))
                .await?
            {
                Some(k) => {
                    println!("{k}");
                    Ok(())
                }
                None => anyhow::bail!("the key of {location} is not kept on this computer"),
            }
        }
        BackupCommand::Create {
            app,
            volumes,
            no_wait,
        } => {
            let accepted = client.call(&BackupRequest { app, volumes }).await?;
            if no_wait {
                println!("{}", accepted.id);
                return Ok(());
            }
            follow(client, &accepted.id, out).await
        }
        BackupCommand::Restore {
            snapshot,
            app,
            all: _,
            keep_tokens,
            to,
            no_wait,
        } => {
            let target = match &to {
                Some(to) => &on_other_server(profiles, client, &server_name, to).await?,
                None => client,
            };
            let accepted = target
                .call(&RestoreBackup {
                    snapshot,
                    request: RestoreRequest { app, keep_tokens },
                })
                .await?;
            if no_wait {
                println!("{}", accepted.id);
                return Ok(());
            }
            follow(target, &accepted.id, out).await
        }
        BackupCommand::List => {
            let list = client.call(&ListSnapshots {}).await?;
            match out {
                Output::Json => output::json(&list),
                Output::Table => {
                    if list.is_empty() {
                        eprintln!("no snapshots yet: `appos backup create`");
                    }
                    for s in &list {
                        println!(
                            "{:<10} {}  {:<20} {}{}",
                            s.id,
                            time_of(s.time_ms / 1000),
                            s.host,
                            s.apps.join(","),
                            if s.volumes { " (with volumes)" } else { "" }
                        );
                    }
                    Ok(())
                }
            }
        }
        BackupCommand::Download { snapshot, output } => {
            use std::io::Write as _;
            let path = appos_proto::calls::backup_archive_path(&snapshot);
            let to_stdout = output.as_deref() == Some(std::path::Path::new("-"));
            let file = output.unwrap_or_else(|| format!("appos-{snapshot}.tar").into());
            let mut sink: Box<dyn std::io::Write> = if to_stdout {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(std::io::BufWriter::new(std::fs::File::create(&file)?))
            };
            let n = match client.download(&path, |data| sink.write_all(data)).await {
                Ok(n) => n,
                Err(e) => {
                    drop(sink);
                    if !to_stdout {
                        let _ = std::fs::remove_file(&file);
                    }
                    return Err(e.into());
                }
            };
            sink.flush()?;
            if !to_stdout {
                eprintln!("{} written ({:.1} MB)", file.display(), n as f64 / 1e6);
            }
            Ok(())
        }
        BackupCommand::Schedule {
            every,
            keep,
            volumes,
        } => {
            let status = match every.as_deref() {
                None => client.call(&GetBackupSchedule {}).await?,
                Some("off") => client.call(&ClearBackupSchedule {}).await?,
                Some(word) => {
                    let Some(every_secs) = appos_proto::backups::parse_every(word) else {
                        anyhow::bail!(
                            "{word:?}: say hourly, daily, weekly, a number of seconds, or off"
                        );
                    };
                    client
                        .call(&BackupSchedule {
                            every_secs,
                            keep,
                            volumes,
                        })
                        .await?
                }
            };
            match out {
                Output::Json => output::json(&status),
                Output::Table => {
                    match &status.schedule {
                        Some(s) => println!(
                            "every {} s, keeping {} snapshot(s){}",
                            s.every_secs,
                            s.keep,
                            if s.volumes { ", with volumes" } else { "" }
                        ),
                        None => println!("no schedule"),
                    }
                    println!(
                        "last success: {}",
                        status
                            .last_success_ms
                            .map(|ms| time_of(ms / 1000))
                            .unwrap_or_else(|| "never".into())
                    );
                    if let Some(next) = status.next_ms {
                        println!("next: {}", time_of(next / 1000));
                    }
                    Ok(())
                }
            }
        }
        BackupCommand::Runs => {
            let runs = client.call(&ListBackupRuns {}).await?;
            match out {
                Output::Json => output::json(&runs),
                Output::Table => {
                    for r in &runs {
                        let kind = match r.kind {
                            appos_proto::backups::RunKind::Backup => "backup",
                            appos_proto::backups::RunKind::Restore => "restore",
                        };
                        println!(
                            "{:<26} {:<8} {:<10} {}  {:<16} {}",
                            r.id,
                            kind,
                            r.state.as_str(),
                            time_of(r.created_ms / 1000),
                            r.app.as_deref().unwrap_or("every app"),
                            r.snapshot.as_deref().or(r.error.as_deref()).unwrap_or("")
                        );
                    }
                    Ok(())
                }
            }
        }
    }
}
