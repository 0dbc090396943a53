//! `appos alerts`: what fired, the rules, and where alerts are sent.

use std::io::Read as _;

use appos_client::Client;
use appos_proto::alerts::{
    AlertRule, AlertRuleUpdate, AlertSeverity, AlertState, ChannelConfig, ChannelRequest,
    SmtpSecurity,
};
use appos_proto::calls::{
    ListAlertRules, ListAlerts, ListChannels, RemoveChannel, TestChannel, UpdateAlertRule,
};
use clap::{Subcommand, ValueEnum};

use crate::deploy::time_of;
use crate::output;
use crate::Output;

#[derive(Subcommand)]
pub enum AlertsCommand {
    /// The rules and their settings.
    Rules,
    /// Change a rule: the options given change, the others stay.
    Rule {
        /// deployment_failed, restart_loop, unhealthy, memory_high, disk_low or certificate_expiring.
        rule: String,
        #[arg(long, conflicts_with = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
        /// Exits (restart_loop), % of the memory limit (memory_high), % free (disk_low), days left (certificate_expiring).
        #[arg(long)]
        threshold: Option<f64>,
        /// Seconds the condition must hold before the alert fires (restart_loop: the window exits are counted in).
        #[arg(long)]
        window: Option<u64>,
        /// Seconds between reminders while it lasts (0: once).
        #[arg(long)]
        repeat: Option<u64>,
    },
    /// Where alerts are sent (secrets hidden).
    Channels,
    /// Add, remove or test a channel.
    Channel {
        #[command(subcommand)]
        command: ChannelCommand,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Security {
    Tls,
    Starttls,
    None,
}

#[derive(Subcommand)]
pub enum ChannelCommand {
    /// Add a channel: exactly one of --webhook, --ntfy, --slack, --discord, --email.
    Add {
        /// Lower-case letters, digits and '-'.
        name: String,
        /// POST each notice as JSON to this URL.
        #[arg(long, group = "kind")]
        webhook: Option<String>,
        /// An ntfy topic URL (https://ntfy.sh/TOPIC); a token from APPOS_NTFY_TOKEN.
        #[arg(long, group = "kind")]
        ntfy: Option<String>,
        /// A Slack-compatible incoming webhook URL.
        #[arg(long, group = "kind")]
        slack: Option<String>,
        /// A Discord webhook URL.
        #[arg(long, group = "kind")]
        discord: Option<String>,
        /// Recipients, comma-separated; needs --smtp and --from.
        #[arg(long, group = "kind", value_delimiter = ',')]
        email: Option<Vec<String>>,
        /// The SMTP server, HOST or HOST:PORT (port 587 by default, 465 with --smtp-security tls).
        #[arg(long, requires = "email")]
        smtp: Option<String>,
        #[arg(long, value_enum, default_value = "starttls", requires = "email")]
        smtp_security: Security,
        /// The SMTP user; its password from APPOS_SMTP_PASSWORD, or standard input with --smtp-password-stdin.
        #[arg(long, requires = "email")]
        smtp_user: Option<String>,
        #[arg(long, requires = "smtp_user")]
        smtp_password_stdin: bool,
        /// The sender address, e.g. "AppOS <appos@example.com>".
        #[arg(long, requires = "email")]
        from: Option<String>,
    },
    /// Remove a channel.
    Rm { name: String },
    /// Send a test message through a channel now.
    Test { name: String },
}

fn severity(s: AlertSeverity) -> &'static str {
    match s {
        AlertSeverity::Warning => "warning",
        AlertSeverity::Critical => "CRITICAL",
    }
}

/// `appos alerts [--firing]`.
pub async fn list(client: &Client, firing: bool, out: Output) -> anyhow::Result<()> {
    let alerts = client.call(&ListAlerts { firing }).await?;
    match out {
        Output::Json => output::json(&alerts),
        Output::Table => {
            if alerts.is_empty() {
                eprintln!(
                    "{}",
                    if firing {
                        "no alert is firing"
                    } else {
                        "no alerts in the last 30 days"
                    }
                );
            }
            for a in &alerts {
                let state = match (a.state, a.resolved_at_ms) {
                    (AlertState::Firing, _) => {
                        format!("FIRING since {}", time_of(a.fired_at_ms / 1000))
                    }
                    (AlertState::Resolved, Some(at)) => format!("resolved {}", time_of(at / 1000)),
                    (AlertState::Resolved, None) => "resolved".into(),
                };
                println!(
                    "{:<6} {:<8} {:<20} {:<28} {}",
                    a.id,
                    severity(a.severity),
                    a.rule.as_str(),
                    state,
                    a.summary
                );
            }
            Ok(())
        }
    }
}

pub async fn run(client: &Client, command: AlertsCommand, out: Output) -> anyhow::Result<()> {
    match command {
        AlertsCommand::Rules => rules_table(&client.call(&ListAlertRules {}).await?, out),
        AlertsCommand::Rule {
            rule,
            on,
            off,
            threshold,
            window,
            repeat,
        } => {
            let Some(rule) = AlertRule::parse(&rule) else {
                let known: Vec<&str> = AlertRule::ALL.iter().map(|r| r.as_str()).collect();
                anyhow::bail!("no rule {rule:?}; the rules are {}", known.join(", "));
            };
            let enabled = if on {
                Some(true)
            } else if off {
                Some(false)
            } else {
                None
            };
            let update = AlertRuleUpdate {
                enabled,
                threshold,
                window_secs: window,
                repeat_secs: repeat,
            };
            let s = client.call(&UpdateAlertRule { rule, update }).await?;
            rules_table(&[s], out)
        }
        AlertsCommand::Channels => {
            let channels = client.call(&ListChannels {}).await?;
            match out {
                Output::Json => output::json(&channels),
                Output::Table => {
                    if channels.is_empty() {
                        eprintln!("no channels: alerts reach the event stream and the desktop only; add one with `appos alerts channel add`");
                    }
                    for c in &channels {
                        println!(
                            "{:<20} {:<8} {}{}",
                            c.name,
                            c.kind,
                            c.target,
                            if c.configured {
                                "  (APPOS_ALERT_WEBHOOK)"
                            } else {
                                ""
                            }
                        );
                    }
                    Ok(())
                }
            }
        }
        AlertsCommand::Channel { command } => channel(client, command, out).await,
    }
}

fn rules_table(
    rules: &[appos_proto::alerts::AlertRuleSettings],
    out: Output,
) -> anyhow::Result<()> {
    match out {
        Output::Json => output::json(rules),
        Output::Table => {
            for r in rules {
                let threshold = match &r.threshold_unit {
                    Some(unit) => format!("{} {unit}", r.threshold),
                    None => "-".into(),
                };
                let repeat = if r.repeat_secs == 0 {
                    "once".to_string()
                } else {
                    format!("every {} s", r.repeat_secs)
                };
                println!(
                    "{:<22} {:<4} {:<20} window {:<8} {}",
                    r.rule.as_str(),
                    if r.enabled { "on" } else { "off" },
                    threshold,
                    format!("{} s", r.window_secs),
                    repeat
                );
            }
            Ok(())
        }
    }
}

fn secret(env: &str, stdin: bool) -> anyhow::Result<Option<String>> {
    if stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        return Ok(Some(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(std::env::var(env).ok().filter(|s| !s.is_empty()))
}

async fn channel(client: &Client, command: ChannelCommand, out: Output) -> anyhow::Result<()> {
    match command {
        ChannelCommand::Add {
            name,
            webhook,
            ntfy,
            slack,
            discord,
            email,
            smtp,
            smtp_security,
            smtp_user,
            smtp_password_stdin,
            from,
        } => {
            let config = if let Some(url) = webhook {
                ChannelConfig::Webhook { url }
            } else if let Some(url) = ntfy {
                ChannelConfig::Ntfy {
                    url,
                    token: secret("APPOS_NTFY_TOKEN", false)?,
                }
            } else if let Some(url) = slack {
                ChannelConfig::Slack { url }
            } else if let Some(url) = discord {
                ChannelConfig::Discord { url }
            } else if let Some(to) = email {
                let security = match smtp_security {
                    Security::Tls => SmtpSecurity::Tls,
                    Security::Starttls => SmtpSecurity::Starttls,
                    Security::None => SmtpSecurity::None,
                };
                let Some(smtp) = smtp else {
                    anyhow::bail!("--email needs --smtp HOST[:PORT]")
                };
                let Some(from) = from else {
                    anyhow::bail!("--email needs --from ADDRESS")
                };
                let (host, port) = match smtp.rsplit_once(':') {
                    Some((h, p)) => (
                        h.to_string(),
                        p.parse()
                            .map_err(|_| anyhow::anyhow!("--smtp: {p:?} is not a port"))?,
                    ),
                    None => (
                        smtp,
                        if security == SmtpSecurity::Tls {
                            465
                        } else {
                            587
                        },
                    ),
                };
                let password = if smtp_user.is_some() {
                    secret("APPOS_SMTP_PASSWORD", smtp_password_stdin)?
                } else {
                    None
                };
                ChannelConfig::Email {
                    host,
                    port,
                    security,
                    username: smtp_user,
                    password,
                    from,
                    to,
                }
            } else {
                anyhow::bail!("say where: --webhook, --ntfy, --slack, --discord or --email");
            };
            let c = client.call(&ChannelRequest { name, config }).await?;
            match out {
                Output::Json => output::json(&c),
                Output::Table => {
                    eprintln!(
                        "channel {} added: {} {}; try it with `appos alerts channel test {}`",
                        c.name, c.kind, c.target, c.name
                    );
                    Ok(())
                }
            }
        }
        ChannelCommand::Rm { name } => {
            client.call(&RemoveChannel { name: name.clone() }).await?;
            if out == Output::Table {
                eprintln!("channel {name} removed");
            }
            Ok(())
        }
        ChannelCommand::Test { name } => {
            client.call(&TestChannel { name: name.clone() }).await?;
            if out == Output::Table {
                eprintln!("the test message went through {name}");
            }
            Ok(())
        }
    }
}
