//! `appos backup`: the repository, backups and restores (followed to their
//! end), and the snapshots.

use std::io::Read as _;
use std::time::Duration;

use appos_client::Client;
use appos_proto::backups::{BackupRequest, BackupRun, BackupSchedule, RepositoryRequest, RestoreRequest, RunState};
use appos_proto::calls::{ClearBackupSchedule, GetBackupRun, GetBackupSchedule, ListBackupRuns, ListSnapshots, RestoreBackup};
use appos_proto::AppName;
use clap::Subcommand;

use crate::deploy::time_of;
use crate::output;
use crate::Output;

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Set the restic repository: an absolute path on the server, or sftp:USER@HOST:/PATH.
    /// Without --key-stdin a new repository is made and its key printed once: keep it.
    Repository {
        location: String,
        /// Read the repository's key from standard input (an existing repository, or a key you chose).
        #[arg(long)]
        key_stdin: bool,
    },
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

pub async fn run(client: &Client, command: BackupCommand, out: Output) -> anyhow::Result<()> {
    match command {
        BackupCommand::Repository { location, key_stdin } => {
            let key = if key_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                Some(s.trim_end_matches(['\n', '\r']).to_string())
            } else {
                None
            };
            let r = client.call(&RepositoryRequest { location, key }).await?;
            match out {
                Output::Json => output::json(&r),
                Output::Table => {
                    eprintln!("backups go to {} ({})", r.location, if r.created { "a new repository" } else { "the repository that was there" });
                    if let Some(key) = r.key {
                        eprintln!("the repository's key, shown this once: keep it somewhere safe; a restore on a new server needs it:");
                        println!("{key}");
                    }
                    Ok(())
                }
            }
        }
        BackupCommand::Create { app, volumes, no_wait } => {
            let accepted = client.call(&BackupRequest { app, volumes }).await?;
            if no_wait {
                println!("{}", accepted.id);
                return Ok(());
            }
            follow(client, &accepted.id, out).await
        }
        BackupCommand::Restore { snapshot, app, all: _, no_wait } => {
            let accepted = client.call(&RestoreBackup { snapshot, request: RestoreRequest { app } }).await?;
            if no_wait {
                println!("{}", accepted.id);
                return Ok(());
            }
            follow(client, &accepted.id, out).await
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
                        println!("{:<10} {}  {:<20} {}{}", s.id, time_of(s.time_ms / 1000), s.host, s.apps.join(","), if s.volumes { " (with volumes)" } else { "" });
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
            let mut sink: Box<dyn std::io::Write> = if to_stdout { Box::new(std::io::stdout().lock()) } else { Box::new(std::io::BufWriter::new(std::fs::File::create(&file)?)) };
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
        BackupCommand::Schedule { every, keep, volumes } => {
            let status = match every.as_deref() {
                None => client.call(&GetBackupSchedule {}).await?,
                Some("off") => client.call(&ClearBackupSchedule {}).await?,
                Some(word) => {
                    let Some(every_secs) = appos_proto::backups::parse_every(word) else {
                        anyhow::bail!("{word:?}: say hourly, daily, weekly, a number of seconds, or off");
                    };
                    client.call(&BackupSchedule { every_secs, keep, volumes }).await?
                }
            };
            match out {
                Output::Json => output::json(&status),
                Output::Table => {
                    match &status.schedule {
                        Some(s) => println!("every {} s, keeping {} snapshot(s){}", s.every_secs, s.keep, if s.volumes { ", with volumes" } else { "" }),
                        None => println!("no schedule"),
                    }
                    println!("last success: {}", status.last_success_ms.map(|ms| time_of(ms / 1000)).unwrap_or_else(|| "never".into()));
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
                        println!("{:<26} {:<8} {:<10} {}  {:<16} {}", r.id, kind, r.state.as_str(), time_of(r.created_ms / 1000), r.app.as_deref().unwrap_or("every app"), r.snapshot.as_deref().or(r.error.as_deref()).unwrap_or(""));
                    }
                    Ok(())
                }
            }
        }
    }
}
