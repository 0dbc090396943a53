//! `appos`: the AppOS command-line client, a thin layer over `appos-client`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use appos_client::connect::{self, AddServer};
use appos_client::profile::{self, Profiles, ServerProfile, TokenLocation};
use appos_client::ssh::{ConnectOptions, NewKeyPolicy};
use appos_client::{Client, ClientError};
use appos_proto::calls::{
    DeleteApp, DiffVersions, GetAppLogs, GetInfo, GetMetrics, ListApps, ListTokens,
};
use appos_proto::{App, AppAction, AppName, AppState, LogsQuery, ServiceName};
use clap::{Parser, Subcommand, ValueEnum};

mod alerts;
mod backup;
mod deploy;
mod domains;
mod install;
mod output;
mod term;

#[derive(Parser)]
#[command(
    name = "appos",
    version,
    about = "Run self-hosted apps on your servers",
    propagate_version = true
)]
struct Cli {
    /// Server to talk to (default: the one added last, or set with `appos server use`).
    #[arg(long, global = true, env = "APPOS_SERVER")]
    server: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Add, list, remove and choose servers.
    Server {
        #[command(subcommand)]
        command: ServerCommand,
    },
    /// Set the URL and token of the default server (the original design's form).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Show versions of the agent, Docker and compose on the server.
    Info,
    /// The agent's Prometheus metrics (OpenMetrics text), as a scraper reads them
    Metrics,
    /// CPU, memory and network of the running containers, refreshed every 2 s (all apps, or one)
    Top {
        app: Option<AppName>,
        /// Print once and exit (for scripts; `--output json` prints once too).
        #[arg(long)]
        once: bool,
    },
    /// List the apps (compose projects) on the server.
    List,
    /// Deploy a new app from the catalog or a compose file, and follow it until it runs.
    Deploy(deploy::DeployArgs),
    /// Follow the server's events: deployments, steps, containers.
    Events {
        /// Resume after this event id (0 replays the stored history).
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
    /// The app templates of the server's catalog.
    Catalog {
        #[command(subcommand)]
        command: Option<CatalogCommand>,
    },
    /// An app's state and its latest deployment.
    Status { app: AppName },
    /// Recent deployments, of all apps or of one.
    Deployments { app: Option<AppName> },
    /// One deployment: its steps, or its live log with --follow.
    Deployment {
        id: String,
        /// Stream the log until the deployment ends; the exit code says how it ended.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Cancel a queued or running deployment.
    Cancel { id: String },
    /// The versions of an app's compose file and .env.
    History { app: AppName },
    /// A unified diff between two versions.
    Diff { app: AppName, from: u32, to: u32 },
    /// Save a new version of the compose file (and deploy it with --deploy), with the files it references in its folder.
    SetCompose {
        app: AppName,
        #[arg(long, short = 'f')]
        file: std::path::PathBuf,
        #[arg(long, short = 'm')]
        message: Option<String>,
        #[arg(long)]
        deploy: bool,
        /// Grant the host access the file asks for beyond what the app holds (the list is printed).
        #[arg(long)]
        allow_host_access: bool,
    },
    /// Edit the compose file in $EDITOR; saving it makes a new version.
    Edit {
        app: AppName,
        #[arg(long, short = 'm')]
        message: Option<String>,
        /// Deploy the new version.
        #[arg(long)]
        deploy: bool,
        /// Grant the host access the file asks for beyond what the app holds (the list is printed).
        #[arg(long)]
        allow_host_access: bool,
    },
    /// Deploy version N's compose file and .env again, as a new version.
    Rollback {
        app: AppName,
        #[arg(value_name = "VERSION")]
        to: u32,
        /// Run exactly the images VERSION last ran with (by digest), not what its tags point to now.
        #[arg(long)]
        pin_digests: bool,
        /// Grant the host access the file asks for beyond what the app holds (the list is printed).
        #[arg(long)]
        allow_host_access: bool,
    },
    /// Deploy the latest version again.
    Redeploy { app: AppName },
    /// Run a command in an app's container (default: a shell), interactive on a terminal.
    Exec {
        app: AppName,
        /// The service (needed when the app has several).
        #[arg(long, short)]
        service: Option<ServiceName>,
        /// The command and its arguments, after `--`.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// A shell next to the agent (in its container, for the all-in-one image).
    Shell,
    /// A shell on the server itself, over the SSH connection (no agent involved).
    Ssh {
        /// The server (default: the current one).
        server: Option<String>,
    },
    /// Terminal sessions on the agent: list them, attach to one, or close one.
    Terminals {
        #[command(subcommand)]
        command: Option<TerminalsCommand>,
    },
    /// The server's API tokens: name, scope, created, last used, revoked (never the secrets; admin tokens only).
    Tokens,
    /// Domains served by the server's reverse proxy, with their certificates.
    Domains {
        #[command(subcommand)]
        command: Option<domains::DomainsCommand>,
    },
    /// The certificate inventory: each HTTPS domain and watched endpoint, with days left.
    Certs {
        #[command(subcommand)]
        command: Option<domains::CertsCommand>,
    },
    /// Alerts: what fired (firing first), the rules, and the channels they are sent to.
    Alerts {
        /// Only the firing ones.
        #[arg(long)]
        firing: bool,
        #[command(subcommand)]
        command: Option<alerts::AlertsCommand>,
    },
    /// Backups to a restic repository: set it, take backups, list snapshots, restore an app.
    Backup {
        #[command(subcommand)]
        command: backup::BackupCommand,
    },
    /// The reverse proxy.
    Proxy {
        #[command(subcommand)]
        command: ProxyCommand,
    },
    /// Who changed what, newest first, with the host access each change granted.
    Audit {
        /// Only this app's entries.
        #[arg(long)]
        app: Option<AppName>,
    },
    /// Manage a compose project started outside AppOS: its compose files become version 1 (nothing restarts).
    Adopt {
        /// The compose project name (see `appos list`).
        project: AppName,
    },
    /// Start the app's containers.
    Start { app: AppName },
    /// Stop the app's containers.
    Stop { app: AppName },
    /// Restart the app's containers.
    Restart { app: AppName },
    /// Pull newer images and recreate what changed.
    Update { app: AppName },
    /// What the app's containers print.
    Logs {
        app: AppName,
        /// Keep printing new lines.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only this service.
        #[arg(long)]
        service: Option<ServiceName>,
        /// Lines per container from the end (a number or "all").
        #[arg(long, default_value = "200")]
        tail: String,
        /// Only lines since an epoch second or an age (10m, 2h, 1d).
        #[arg(long)]
        since: Option<String>,
        /// Only lines matching this regular expression.
        #[arg(long)]
        grep: Option<String>,
    },
    /// Take the app down and forget it; its volumes are kept unless --volumes.
    Delete {
        app: AppName,
        /// Also remove the app's volumes (its data).
        #[arg(long)]
        volumes: bool,
    },
    /// Print a completion script for a shell: `source <(appos completion bash)`,
    /// or save it where the shell loads completions from.
    Completion { shell: clap_complete::Shell },
    /// Print the manual page (`appos man | man -l -`), or with --dir write
    /// one page per command there (appos.1, appos-server.1, ...).
    Man {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// How to reach a server over SSH: shared by `server add` and `server install`.
#[derive(clap::Args)]
struct SshArgs {
    /// SSH key file to use.
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Accept and record the server's host key if it is not known yet.
    #[arg(long)]
    accept_new_host_key: bool,
}

#[derive(Subcommand)]
enum ServerCommand {
    /// Connect to a server, verify its host key, get a token and save it.
    Add {
        name: String,
        /// ssh://USER@HOST[:PORT], unix:///PATH, http://HOST:PORT or https://HOST[:PORT].
        url: String,
        #[command(flatten)]
        ssh: SshArgs,
        /// Path of the agent's socket on the server.
        #[arg(long)]
        agent_socket: Option<String>,
        /// Command that runs the agent on the server, e.g. "docker exec appos appos-agent".
        #[arg(long)]
        bootstrap_cmd: Option<String>,
        /// Extra trusted CA certificates (PEM) for an https:// URL.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Token to use instead of bootstrapping one (required for unix://, http:// and https://).
        #[arg(long, env = "APPOS_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Install the AppOS agent on a server with SSH and Docker, then add it:
    /// checks the server first (nothing changes unless every check passes),
    /// loads the image (a `docker save` file streamed over SSH, or pulled),
    /// starts the agent's container and waits until it is healthy. Running it
    /// again finishes an install that stopped, or replaces the agent (data kept).
    Install {
        name: String,
        /// ssh://USER@HOST[:PORT]
        url: String,
        #[command(flatten)]
        ssh: SshArgs,
        /// The agent image as a file (`docker save`), streamed over SSH.
        /// Without this or --image: the image packaged with AppOS, else
        /// appos/agent:VERSION from this computer's Docker (sent unless the
        /// server has it already).
        #[arg(long, conflicts_with = "image")]
        image_file: Option<PathBuf>,
        /// An image reference the server pulls instead.
        #[arg(long)]
        image: Option<String>,
        /// The data root on the server (the same path inside the container).
        #[arg(long, default_value = "/var/lib/appos")]
        data: String,
        /// The agent's container name.
        #[arg(long, default_value = "appos")]
        container: String,
        /// The server ports the reverse proxy takes for HTTP and HTTPS.
        #[arg(long, default_value_t = 80)]
        http_port: u16,
        #[arg(long, default_value_t = 443)]
        https_port: u16,
        /// Run no reverse proxy (no domains on this server).
        #[arg(long, conflicts_with_all = ["http_port", "https_port"])]
        no_proxy: bool,
        /// When the server has no Docker, install the distribution's
        /// (apt-get install docker.io; never a script from the network).
        #[arg(long)]
        install_docker: bool,
    },
    /// Replace the agent of an installed server with a new image (data,
    /// apps, versions and tokens kept); back to the old image when the new
    /// one does not become healthy.
    Upgrade {
        name: String,
        /// The new agent image as a file (`docker save`), streamed over SSH.
        /// Without this or --image: the image packaged with AppOS, else
        /// appos/agent:VERSION from this computer's Docker (sent unless the
        /// server has it already).
        #[arg(long, conflicts_with = "image")]
        image_file: Option<PathBuf>,
        /// An image reference the server pulls instead.
        #[arg(long)]
        image: Option<String>,
        /// The agent's container name.
        #[arg(long, default_value = "appos")]
        container: String,
        /// How long the new agent has to answer (seconds).
        #[arg(long, default_value_t = 90)]
        health_timeout: u64,
    },
    /// Stop and remove the agent from an installed server and forget the
    /// server here; its apps keep running and its data stays (unless --purge).
    Uninstall {
        name: String,
        /// The agent's container name.
        #[arg(long, default_value = "appos")]
        container: String,
        /// Also delete the agent's data on the server (versions, tokens, the queue): asks for the server's name.
        #[arg(long)]
        purge: bool,
        /// The server's name, typed in advance, to purge without a question.
        #[arg(long, requires = "purge")]
        confirm: Option<String>,
    },
    /// List the servers you added.
    List,
    /// Forget a server and its token.
    Rm { name: String },
    /// Make NAME the default server.
    Use { name: String },
}

#[derive(Subcommand)]
enum ProxyCommand {
    /// Apply the proxy's configuration again from the agent's state.
    Reload,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Templates whose id, name, description or category contain TERM.
    Search { term: String },
    /// Pull the catalog's git repository (APPOS_CATALOG_GIT on the agent) and read every source again.
    Refresh,
}

#[derive(Subcommand)]
enum TerminalsCommand {
    /// Attach to a session: its screen is replayed, then it is live.
    Attach { id: String },
    /// Close a session and end its process.
    Kill { id: String },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Point the default server at URL (unix:///PATH, http://HOST:PORT or https://HOST[:PORT]).
    SetUrl { url: String },
    /// Store the token of the current server.
    SetToken { token: String },
}

/// Name of the server that `config set-url` manages.
const DEFAULT_SERVER: &str = "default";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("APPOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("appos: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli));
    link_notices_end();
    // Not waiting for blocking work still running: a terminal's reader of
    // stdin would hold the process until a key is pressed.
    rt.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("appos: {}", one_line(&e));
            if needs_host_access(&e) {
                eprintln!("appos: run it again with --allow-host-access to grant what it asks for");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

/// Whether the agent refused a file for host access nobody granted.
fn needs_host_access(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<ClientError>(), Some(ClientError::Api(p)) if p.errors.iter().any(|f| f.message.starts_with("needs host access")))
}

/// Distinct codes for the failures scripts branch on (`ErrorClass::exit_code`).
fn exit_code(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<ClientError>()
        .map(|c| c.class().exit_code())
        .unwrap_or(1)
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Answered from the command's own definition, before anything is read.
    let generated = match &cli.command {
        Command::Completion { shell } => {
            use clap::CommandFactory as _;
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "appos", &mut script);
            Some(script)
        }
        Command::Man { dir } => {
            use clap::CommandFactory as _;
            if let Some(dir) = dir {
                std::fs::create_dir_all(dir)?;
                clap_mangen::generate_to(Cli::command(), dir)?;
                return Ok(());
            }
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            Some(page)
        }
        _ => None,
    };
    if let Some(text) = generated {
        use std::io::Write as _;
        // A reader that stops early (`| head`) is not an error.
        return match std::io::stdout().write_all(&text) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        };
    }
    let dir = profile::config_dir(env);
    let mut profiles = Profiles::load(&dir)?;
    // start, stop, restart and update: one call, the action named.
    let app_action = async |app: &AppName, action: AppAction| {
        deploy::action(
            &client(&profiles, cli.server.as_deref()).await?,
            app,
            action,
            cli.output,
        )
        .await
    };
    match cli.command {
        // Answered before anything is read (see the top of `run`).
        Command::Completion { .. } | Command::Man { .. } => Ok(()),
        Command::Server { command } => server(command, &mut profiles, cli.output).await,
        Command::Config { command } => config(command, &mut profiles).await,
        Command::Info => {
            let client = client(&profiles, cli.server.as_deref()).await?;
            let info = client.call(&GetInfo {}).await?;
            match cli.output {
                Output::Json => output::json(&info),
                Output::Table => {
                    println!(
                        "agent    {} (data in {})",
                        info.agent_version, info.data_dir
                    );
                    println!(
                        "docker   {} (API {}, negotiated {}, {}/{})",
                        info.docker.version,
                        info.docker.api_version,
                        info.docker.negotiated_api_version,
                        info.docker.os,
                        info.docker.arch
                    );
                    println!(
                        "compose  {} {:?}",
                        info.compose.command.join(" "),
                        info.compose.version
                    );
                    match &info.proxy {
                        Some(p) => println!("proxy    {} on {} (HTTP) and {} (HTTPS)", p.backend, p.http, p.https),
                        None => println!("proxy    none (set APPOS_PROXY_HTTP and APPOS_PROXY_HTTPS on the agent to serve domains)"),
                    }
                    Ok(())
                }
            }
        }
        Command::Top { app, once } => {
            let client = client(&profiles, cli.server.as_deref()).await?;
            let once = once
                || matches!(cli.output, Output::Json)
                || !std::io::IsTerminal::is_terminal(&std::io::stdout());
            loop {
                let names = match &app {
                    Some(a) => vec![a.clone()],
                    None => client
                        .call(&ListApps {})
                        .await?
                        .into_iter()
                        .filter_map(|a| AppName::parse(&a.name).ok())
                        .collect(),
                };
                let mut all = Vec::new();
                for name in names {
                    all.push(
                        client
                            .call(&appos_proto::calls::GetAppStats { app: name })
                            .await?,
                    );
                }
                match cli.output {
                    Output::Json => return output::json(&all),
                    Output::Table => {
                        if !once {
                            // Clear the screen and go home, as top does.
                            print!("\x1b[2J\x1b[H");
                        }
                        output::top_table(&all);
                    }
                }
                if once {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
        Command::Metrics => {
            let text = client(&profiles, cli.server.as_deref())
                .await?
                .call(&GetMetrics {})
                .await?;
            print!("{text}");
            Ok(())
        }
        Command::Deploy(args) => {
            deploy::deploy(
                &client(&profiles, cli.server.as_deref()).await?,
                args,
                cli.output,
            )
            .await
        }
        Command::Events { after } => {
            let c = client(&profiles, cli.server.as_deref()).await?;
            let json = cli.output == Output::Json;
            c.follow_events(after, |e| {
                if json {
                    println!("{}", serde_json::to_string(&e).unwrap_or_default());
                } else {
                    println!(
                        "{:>6} {:<16} {:<20} {}",
                        e.id,
                        e.kind,
                        e.app.as_deref().unwrap_or("-"),
                        e.data
                    );
                }
                true
            })
            .await?;
            Ok(())
        }
        Command::Catalog {
            command: Some(CatalogCommand::Refresh),
        } => {
            deploy::refresh_catalog(&client(&profiles, cli.server.as_deref()).await?, cli.output)
                .await
        }
        Command::Catalog { command } => {
            let term = match command {
                Some(CatalogCommand::Search { term }) => Some(term),
                _ => None,
            };
            deploy::catalog(
                &client(&profiles, cli.server.as_deref()).await?,
                term,
                cli.output,
            )
            .await
        }
        Command::Status { app } => {
            deploy::status(
                &client(&profiles, cli.server.as_deref()).await?,
                &app,
                cli.output,
            )
            .await
        }
        Command::Deployments { app } => {
            deploy::list(
                &client(&profiles, cli.server.as_deref()).await?,
                app,
                cli.output,
            )
            .await
        }
        Command::Deployment { id, follow } => {
            deploy::show(
                &client(&profiles, cli.server.as_deref()).await?,
                &id,
                follow,
                cli.output,
            )
            .await
        }
        Command::Cancel { id } => {
            deploy::cancel(
                &client(&profiles, cli.server.as_deref()).await?,
                &id,
                cli.output,
            )
            .await
        }
        Command::History { app } => {
            deploy::history(
                &client(&profiles, cli.server.as_deref()).await?,
                &app,
                cli.output,
            )
            .await
        }
        Command::Diff { app, from, to } => {
            print!(
                "{}",
                client(&profiles, cli.server.as_deref())
                    .await?
                    .call(&DiffVersions { app, from, to })
                    .await?
            );
            Ok(())
        }
        Command::SetCompose {
            app,
            file,
            message,
            deploy: d,
            allow_host_access,
        } => {
            let l = appos_client::project::read(&file)?;
            let project = deploy::Project {
                compose: l.compose,
                files: l.files,
            };
            deploy::save(
                &client(&profiles, cli.server.as_deref()).await?,
                &app,
                project,
                true,
                message,
                d,
                allow_host_access,
                cli.output,
            )
            .await
        }
        Command::Edit {
            app,
            message,
            deploy: d,
            allow_host_access,
        } => {
            deploy::edit(
                &client(&profiles, cli.server.as_deref()).await?,
                &app,
                message,
                d,
                allow_host_access,
                cli.output,
            )
            .await
        }
        Command::Rollback {
            app,
            to,
            pin_digests,
            allow_host_access,
        } => {
            deploy::rollback(
                &client(&profiles, cli.server.as_deref()).await?,
                &app,
                to,
                pin_digests,
                allow_host_access,
                cli.output,
            )
            .await
        }
        Command::Domains { command } => {
            domains::run(
                &client(&profiles, cli.server.as_deref()).await?,
                command,
                cli.output,
            )
            .await
        }
        Command::Certs { command } => {
            domains::certs(
                &client(&profiles, cli.server.as_deref()).await?,
                command,
                cli.output,
            )
            .await
        }
        Command::Proxy {
            command: ProxyCommand::Reload,
        } => domains::reload(&client(&profiles, cli.server.as_deref()).await?, cli.output).await,
        Command::Backup { command } => {
            backup::run(&profiles, cli.server.as_deref(), command, cli.output).await
        }
        Command::Alerts { firing, command } => {
            let c = client(&profiles, cli.server.as_deref()).await?;
            match command {
                None => alerts::list(&c, firing, cli.output).await,
                Some(command) => alerts::run(&c, command, cli.output).await,
            }
        }
        Command::Audit { app } => {
            deploy::audit(
                &client(&profiles, cli.server.as_deref()).await?,
                app,
                cli.output,
            )
            .await
        }
        Command::Exec {
            app,
            service,
            command,
        } => {
            term::exec(
                &client(&profiles, cli.server.as_deref()).await?,
                &app,
                service,
                command,
            )
            .await
        }
        Command::Shell => term::shell(&client(&profiles, cli.server.as_deref()).await?).await,
        Command::Ssh { server } => {
            term::ssh(&client(&profiles, server.as_deref().or(cli.server.as_deref())).await?).await
        }
        Command::Tokens => {
            let tokens = client(&profiles, cli.server.as_deref())
                .await?
                .call(&ListTokens {})
                .await?;
            match cli.output {
                Output::Json => output::json(&tokens),
                Output::Table => {
                    output::tokens_table(&tokens);
                    Ok(())
                }
            }
        }
        Command::Terminals { command } => {
            let c = client(&profiles, cli.server.as_deref()).await?;
            match command {
                None => term::list(&c, cli.output).await,
                Some(TerminalsCommand::Attach { id }) => term::attach(&c, &id).await,
                Some(TerminalsCommand::Kill { id }) => term::kill(&c, &id).await,
            }
        }
        Command::Adopt { project } => {
            deploy::adopt(
                &client(&profiles, cli.server.as_deref()).await?,
                project,
                cli.output,
            )
            .await
        }
        Command::Redeploy { app } => {
            deploy::redeploy(
                &client(&profiles, cli.server.as_deref()).await?,
                &app,
                cli.output,
            )
            .await
        }
        Command::Start { app } => app_action(&app, AppAction::Start).await,
        Command::Stop { app } => app_action(&app, AppAction::Stop).await,
        Command::Restart { app } => app_action(&app, AppAction::Restart).await,
        Command::Update { app } => app_action(&app, AppAction::Update).await,
        Command::Logs {
            app,
            follow,
            service,
            tail,
            since,
            grep,
        } => {
            let c = client(&profiles, cli.server.as_deref()).await?;
            let query = LogsQuery {
                service,
                tail: Some(tail),
                since,
                follow,
                grep,
            };
            let json = cli.output == Output::Json;
            let print = |l: appos_proto::AppLogLine| {
                if json {
                    println!("{}", serde_json::to_string(&l).unwrap_or_default());
                } else {
                    println!("{:<12} | {}", l.service, l.text);
                }
            };
            if follow {
                c.follow_logs(&app, query, print).await?;
            } else {
                c.stream(&GetAppLogs { app, query }, print).await?;
            }
            Ok(())
        }
        Command::Delete { app, volumes } => {
            let c = client(&profiles, cli.server.as_deref()).await?;
            let d = c.call(&DeleteApp { app, volumes }).await?;
            deploy::show(&c, &d.id, true, cli.output).await
        }
        Command::List => {
            let client = client(&profiles, cli.server.as_deref()).await?;
            let apps = client.call(&ListApps {}).await?;
            match cli.output {
                Output::Json => output::json(&apps),
                Output::Table => {
                    output::apps_table(&apps);
                    Ok(())
                }
            }
        }
    }
}

pub(crate) async fn client(profiles: &Profiles, server: Option<&str>) -> anyhow::Result<Client> {
    let (name, profile) = profiles.pick(server)?;
    let token = match env("APPOS_TOKEN").filter(|t| !t.is_empty()) {
        Some(t) => Some(t),
        None => profiles.load_token(&name).await?,
    };
    let mut opts = ConnectOptions::for_user(profiles.dir());
    let mut attempts = 0;
    loop {
        match connect::connect(&profile, token.clone(), &opts).await {
            Err(ClientError::KeyEncrypted {
                path,
                wrong_passphrase,
            }) => {
                opts.passphrase = Some(passphrase(&path, wrong_passphrase, &mut attempts)?);
            }
            other => {
                let c = other?;
                tell_link(&c, &name);
                return Ok(c);
            }
        }
    }
}

/// Says on stderr, a line each, when the connection is lost and when it is
/// back: meanwhile the command waits, it does not fail.
fn tell_link(c: &Client, server: &str) {
    let mut changes = c.link();
    LINKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(LinkNotices {
            server: server.to_string(),
            link: c.link(),
            out: false,
        });
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            changes.borrow_and_update();
            link_caught_up(false);
        }
    });
}

/// The notices still to say of each connection the command made: the tasks
/// watching the links and the end of the command all go through it, so
/// that a notice never comes after the command's last word.
static LINKS: std::sync::Mutex<Vec<LinkNotices>> = std::sync::Mutex::new(Vec::new());

struct LinkNotices {
    server: String,
    link: tokio::sync::watch::Receiver<appos_client::reconnect::Link>,
    /// "lost" was said and "again" not yet.
    out: bool,
}

/// Says what changed on the links since the last notices; `last`: the
/// command ends, nothing is said after this.
fn link_caught_up(last: bool) {
    let mut links = LINKS.lock().unwrap_or_else(|p| p.into_inner());
    for n in links.iter_mut() {
        let now = n.link.borrow().clone();
        match now {
            appos_client::reconnect::Link::Reconnecting { why, .. } if !n.out => {
                n.out = true;
                eprintln!(
                    "appos: the connection to {} was lost ({why}); reconnecting…",
                    n.server
                );
            }
            appos_client::reconnect::Link::Connected if n.out => {
                n.out = false;
                eprintln!("appos: connected to {} again", n.server);
            }
            _ => {}
        }
    }
    if last {
        links.clear();
    }
}

/// The command ends: the connection's last notice is said now, and none
/// after (a command's error or exit status is the last line it prints).
pub(crate) fn link_notices_end() {
    link_caught_up(true);
}

/// A passphrase for an encrypted key: `APPOS_SSH_PASSPHRASE` once, else a
/// prompt on the terminal (three tries), else a clear error.
fn passphrase(path: &str, wrong: bool, attempts: &mut u32) -> anyhow::Result<String> {
    *attempts += 1;
    if *attempts == 1 {
        if let Some(p) = env("APPOS_SSH_PASSPHRASE") {
            return Ok(p);
        }
    }
    let from_env = env("APPOS_SSH_PASSPHRASE").is_some();
    if *attempts > 3 || (from_env && *attempts > 1) || !std::io::stdin().is_terminal() {
        return Err(anyhow::Error::new(ClientError::KeyEncrypted { path: path.to_string(), wrong_passphrase: wrong })
            .context("cannot open the SSH key (set APPOS_SSH_PASSPHRASE, add the key to ssh-agent, or run in a terminal to be asked)"));
    }
    if wrong {
        eprintln!("That passphrase does not open {path}.");
    }
    Ok(rpassword::prompt_password(format!(
        "Passphrase for {path}: "
    ))?)
}

/// The image an install or upgrade puts on the server.
fn image_source(
    file: Option<PathBuf>,
    reference: Option<String>,
) -> appos_client::install::ImageSource {
    match (file, reference) {
        (Some(f), _) => appos_client::install::ImageSource::File(f),
        (None, Some(r)) => appos_client::install::ImageSource::Pull(r),
        (None, None) => appos_client::install::default_image(),
    }
}

async fn server(
    command: ServerCommand,
    profiles: &mut Profiles,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        ServerCommand::Install {
            name,
            url,
            ssh:
                SshArgs {
                    identity,
                    accept_new_host_key,
                },
            image_file,
            image,
            data,
            container,
            http_port,
            https_port,
            no_proxy,
            install_docker,
        } => {
            let source = image_source(image_file, image);
            let plan = appos_client::install::Plan {
                data,
                container,
                image: source,
                proxy_ports: (!no_proxy).then_some((http_port, https_port)),
                install_docker,
            };
            install::run(
                profiles,
                name,
                url,
                identity,
                accept_new_host_key,
                plan,
                out,
            )
            .await
        }
        ServerCommand::Upgrade {
            name,
            image_file,
            image,
            container,
            health_timeout,
        } => {
            let source = image_source(image_file, image);
            install::upgrade(
                profiles,
                &name,
                &container,
                source,
                std::time::Duration::from_secs(health_timeout),
            )
            .await
        }
        ServerCommand::Uninstall {
            name,
            container,
            purge,
            confirm,
        } => install::uninstall(profiles, &name, &container, purge, confirm).await,
        ServerCommand::Add {
            name,
            url,
            ssh:
                SshArgs {
                    identity,
                    accept_new_host_key,
                },
            agent_socket,
            bootstrap_cmd,
            ca_file,
            token,
        } => {
            let req = AddServer {
                name: name.clone(),
                url,
                identity,
                agent_socket,
                bootstrap_cmd,
                ca_file,
                token,
                token_name: profile::token_name("appos-cli"),
            };
            let mut opts = ConnectOptions::for_user(profiles.dir());
            opts.new_key_policy = connect::new_key_policy(accept_new_host_key, None);
            let added = asking(&mut opts, "nothing was saved", async |o| {
                connect::add_server(profiles, req.clone(), o, now()).await
            })
            .await?;
            if let TokenLocation::File { path, why } = &added.token_location {
                eprintln!("warning: no OS keyring available ({why}); the token is stored in {} (mode 0600)", path.display());
            }
            match out {
                Output::Json => output::json(&added.info),
                Output::Table => {
                    eprintln!(
                        "added server {name:?}: agent {} on Docker {}{}",
                        added.info.agent_version,
                        added.info.docker.version,
                        added
                            .host_key
                            .map(|k| format!(", host key {k}"))
                            .unwrap_or_default()
                    );
                    Ok(())
                }
            }
        }
        ServerCommand::List => {
            let current = profiles.current().map(str::to_string);
            let rows: Vec<(String, ServerProfile)> = profiles
                .servers()
                .map(|(n, p)| (n.clone(), p.clone()))
                .collect();
            match out {
                Output::Json => output::servers_json(&rows, current.as_deref()),
                Output::Table => {
                    output::servers_table(&rows, current.as_deref());
                    Ok(())
                }
            }
        }
        ServerCommand::Rm { name } => {
            profiles.remove(&name)?;
            profiles.save()?;
            profiles.delete_token(&name).await?;
            eprintln!("removed server {name:?}");
            Ok(())
        }
        ServerCommand::Use { name } => {
            profiles.set_current(&name)?;
            profiles.save()?;
            eprintln!("now using server {name:?}");
            Ok(())
        }
    }
}

async fn config(command: ConfigCommand, profiles: &mut Profiles) -> anyhow::Result<()> {
    match command {
        ConfigCommand::SetUrl { url } => {
            if url.starts_with("ssh://") {
                anyhow::bail!("for SSH servers use `appos server add NAME {url}`, which verifies the host key and gets a token");
            }
            appos_client::Transport::from_url(&url, None)?;
            let mut p = profiles
                .get(DEFAULT_SERVER)
                .cloned()
                .unwrap_or(ServerProfile {
                    url: url.clone(),
                    identity: None,
                    agent_socket: None,
                    bootstrap_cmd: None,
                    ca_file: None,
                    host_key: None,
                    added_at: now(),
                });
            p.url = url;
            profiles.upsert(DEFAULT_SERVER, p)?;
            profiles.save()?;
            eprintln!(
                "server {DEFAULT_SERVER:?} now points at {}",
                profiles
                    .get(DEFAULT_SERVER)
                    .map(|p| p.url.as_str())
                    .unwrap_or("")
            );
            Ok(())
        }
        ConfigCommand::SetToken { token } => {
            let name = profiles.current().unwrap_or(DEFAULT_SERVER).to_string();
            if profiles.get(&name).is_none() {
                anyhow::bail!("no server to set a token for: run `appos config set-url URL` first");
            }
            if let TokenLocation::File { path, why } =
                profiles.save_token(&name, token.trim()).await?
            {
                eprintln!("warning: no OS keyring available ({why}); the token is stored in {} (mode 0600)", path.display());
            }
            eprintln!("token stored for server {name:?}");
            Ok(())
        }
    }
}

/// Runs `attempt` until it gets through: an unknown host key is shown and,
/// once confirmed on the terminal, accepted (without a terminal, or when the
/// policy is not to ask, it stays an error that says how to go on); an
/// encrypted key gets its passphrase. `nothing` ends the message of a
/// refused key ("nothing was saved").
async fn asking<T>(
    opts: &mut ConnectOptions,
    nothing: &str,
    mut attempt: impl AsyncFnMut(&ConnectOptions) -> Result<T, ClientError>,
) -> anyhow::Result<T> {
    let mut attempts = 0;
    loop {
        match attempt(opts).await {
            Err(ClientError::HostKeyUnknown {
                host,
                algorithm,
                fingerprint,
            }) if std::io::stdin().is_terminal() && opts.new_key_policy == NewKeyPolicy::Ask => {
                if !confirm_host_key(&host, &algorithm, &fingerprint)? {
                    anyhow::bail!("host key of {host} not accepted; {nothing}");
                }
                opts.new_key_policy = NewKeyPolicy::AcceptFingerprint(fingerprint);
            }
            Err(e @ ClientError::HostKeyUnknown { .. }) => {
                return Err(anyhow::Error::new(e).context("refusing an unknown host key (check the fingerprint, then run again with --accept-new-host-key)"));
            }
            Err(ClientError::KeyEncrypted {
                path,
                wrong_passphrase,
            }) => {
                opts.passphrase = Some(passphrase(&path, wrong_passphrase, &mut attempts)?);
            }
            other => return Ok(other?),
        }
    }
}

fn confirm_host_key(host: &str, algorithm: &str, fingerprint: &str) -> anyhow::Result<bool> {
    eprintln!("The authenticity of host {host} can't be established.");
    eprintln!("{algorithm} key fingerprint is {fingerprint}.");
    eprint!("Are you sure you want to continue connecting (yes/no)? ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().eq_ignore_ascii_case("yes"))
}

/// Short state words for tables: the containers' state, and for an app
/// with none, whether its last deployment failed.
pub fn state_word(app: &App) -> &'static str {
    let failed = app
        .last_deployment
        .as_ref()
        .is_some_and(|d| d.state == appos_proto::DeploymentState::Failed);
    match app.state {
        AppState::Running => "running",
        AppState::Partial => "partial",
        AppState::Degraded => "degraded",
        AppState::Stopped => "stopped",
        AppState::Empty if failed => "last deployment failed",
        AppState::Empty => "not running",
    }
}

fn app_ports(app: &App) -> String {
    let mut ports: Vec<String> = app
        .services
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter())
        .filter_map(|p| {
            p.public_port
                .map(|pp| format!("{pp}->{}/{}", p.private_port, p.protocol))
        })
        .collect();
    ports.sort();
    ports.dedup();
    ports.join(", ")
}

#[cfg(test)]
mod tests {
    /// clap checks the whole command tree for conflicts (only in debug builds, at parse time).
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
