//! `appos-agent`: the command-line face of the agent library.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use appos_agent::infra::config::{Config, Layer, LogFormat};
use appos_agent::infra::db::Db;
use appos_agent::services::tokens;
use appos_proto::TokenScope;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "appos-agent",
    version,
    about = "The AppOS agent: runs apps on this Docker host"
)]
struct Cli {
    /// Config file (TOML); also APPOS_CONFIG.
    #[arg(long, global = true, env = "APPOS_CONFIG")]
    config: Option<PathBuf>,
    /// Data root (default /var/lib/appos); also APPOS_DATA.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API on <data>/run/agent.sock (and optionally on loopback TCP).
    Serve {
        /// Also listen on this loopback address, e.g. 127.0.0.1:7171.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Serve GET /metrics without a token on this loopback address, for a scraper on this host.
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
        /// Docker endpoint, e.g. unix:///var/run/docker.sock.
        #[arg(long)]
        docker_host: Option<String>,
        /// Log format: text or json.
        #[arg(long)]
        log_format: Option<LogFormat>,
        /// Stop when the process with this PID exits (the desktop app's local agent).
        #[arg(long, hide = true)]
        watch_pid: Option<u32>,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Ask the running agent on <data>/run/agent.sock whether it answers
    /// (`GET /health`): exit 0 and its version when it does, 1 with the
    /// reason when not. The container's HEALTHCHECK.
    Health,
    /// Print the OpenAPI document of the agent API.
    Openapi,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token and print it on stdout (and nothing else).
    Issue {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "admin")]
        scope: TokenScope,
        /// Revoke an active token of the same name first.
        #[arg(long)]
        replace: bool,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke the active token called NAME.
    Revoke { name: String },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("appos-agent: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn resolve(cli: &Cli, flags: Layer) -> anyhow::Result<Config> {
    let file = match &cli.config {
        Some(path) => Layer::from_file(path)?,
        None => Layer::default(),
    };
    let env = Layer::from_env(|k| std::env::var(k).ok())?;
    Config::resolve(
        file,
        env,
        Layer {
            data_dir: cli.data.clone(),
            ..flags
        },
    )
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("APPOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve {
            listen,
            metrics_listen,
            docker_host,
            log_format,
            watch_pid,
        } => {
            let flags = Layer {
                listen: *listen,
                metrics_listen: *metrics_listen,
                docker_host: docker_host.clone(),
                log_format: *log_format,
                ..Layer::default()
            };
            let config = resolve(&cli, flags)?;
            init_tracing(config.log_format);
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            let watch_pid = *watch_pid;
            rt.block_on(appos_agent::serve::run(config, async move {
                tokio::select! {
                    _ = appos_agent::serve::shutdown_signal() => {}
                    _ = appos_agent::serve::process_exit(watch_pid) => {}
                }
            }))
        }
        Command::Health => {
            let config = resolve(&cli, Layer::default())?;
            let socket = config.socket_path();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            let health = rt.block_on(async {
                tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    appos_agent::infra::health::ask(&socket),
                )
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within 5 s")))
            });
            let h = health
                .with_context(|| format!("the agent on {} does not answer", socket.display()))?;
            println!("{} {}", h.status, h.version);
            Ok(())
        }
        Command::Token { command } => {
            let config = resolve(&cli, Layer::default())?;
            appos_agent::serve::prepare_data_dir(&config)?;
            let db = Db::open(&config.db_path())?;
            let now = appos_agent::clock::Clock::now(&appos_agent::clock::SystemClock);
            match command {
                TokenCommand::Issue {
                    name,
                    scope,
                    replace,
                } => {
                    let secret = tokens::issue(&db, name, *scope, *replace, now)?;
                    println!("{secret}");
                }
                TokenCommand::List => {
                    println!(
                        "{:<32} {:<6} {:<20} {:<20} REVOKED",
                        "NAME", "SCOPE", "CREATED", "LAST USED"
                    );
                    for t in tokens::list(&db)? {
                        println!(
                            "{:<32} {:<6} {:<20} {:<20} {}",
                            t.name,
                            t.scope.as_str(),
                            fmt_time(Some(t.created_at)),
                            fmt_time(t.last_used_at),
                            fmt_time(t.revoked_at),
                        );
                    }
                }
                TokenCommand::Revoke { name } => {
                    tokens::revoke(&db, name, now)?;
                    eprintln!("revoked token {name:?}");
                }
            }
            Ok(())
        }
        Command::Openapi => {
            print!("{}", appos_agent::http::openapi_json());
            Ok(())
        }
    }
}

fn fmt_time(t: Option<i64>) -> String {
    let Some(t) = t else { return "-".into() };
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
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
