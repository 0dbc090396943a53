//! `appos server install`: the checklist, the image's upload with a
//! progress bar, the container, its health, then the server added as
//! `server add` does (`appos_client::install` does the work).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;

use appos_client::connect::{self, AddServer};
use appos_client::install::{self, Plan, Progress};
use appos_client::profile::{self, Profiles};
use appos_client::ssh::{ConnectOptions, SshSession, SshTarget};

use crate::Output;

/// Prints the install's progress: the checklist, its steps, and a progress
/// bar while the image is sent.
fn reporter() -> (indicatif::ProgressBar, impl Fn(Progress) + Sync) {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "  sending the image {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    let report = move |p: Progress| match p {
        Progress::Checked(checks) => shown.suspend(|| {
            for c in &checks {
                eprintln!(
                    "  {} {:<7} {}",
                    if c.ok { "ok  " } else { "FAIL" },
                    c.item,
                    c.detail
                );
            }
        }),
        Progress::Upload { sent, total } => {
            shown.set_length(total);
            shown.set_position(sent);
        }
        // Printed whether or not the bar shows (println does nothing for a hidden bar).
        Progress::Step(s) => shown.suspend(|| eprintln!("  {s}")),
    };
    (bar, report)
}

/// Connects, asking about an unknown host key as `server add` does.
async fn session(target: &SshTarget, opts: &mut ConnectOptions) -> anyhow::Result<Arc<SshSession>> {
    crate::asking(opts, "nothing was changed", async |o| {
        SshSession::connect(target, o).await.map(Arc::new)
    })
    .await
}

pub async fn run(
    profiles: &mut Profiles,
    name: String,
    url: String,
    identity: Option<PathBuf>,
    accept_new_host_key: bool,
    plan: Plan,
    out: Output,
) -> anyhow::Result<()> {
    profile::check_server_name(&name)?;
    anyhow::ensure!(
        url.starts_with("ssh://"),
        "{url}: install works over SSH (ssh://USER@HOST[:PORT])"
    );
    let target = SshTarget::parse(&url)?;
    let mut opts = ConnectOptions::for_user(profiles.dir());
    opts.new_key_policy = connect::new_key_policy(accept_new_host_key, None);
    if identity.is_some() {
        opts.identity = identity.clone();
    }
    let session = session(&target, &mut opts).await?;
    eprintln!("checking {}:", session.describe());
    let req = AddServer {
        name: name.clone(),
        url,
        identity,
        agent_socket: None,
        bootstrap_cmd: None,
        ca_file: None,
        token: None,
        token_name: profile::token_name("appos-cli"),
    };
    let (bar, report) = reporter();
    let added =
        install::install(profiles, &session, &opts, req, &plan, &report, crate::now()).await;
    bar.finish_and_clear();
    let added = added?;
    match out {
        Output::Json => crate::output::json(&added.info),
        Output::Table => {
            eprintln!(
                "installed AppOS {} on {name} and added it",
                added.info.agent_version
            );
            Ok(())
        }
    }
}

/// The SSH session and facts of an added server, for upgrade and uninstall.
async fn reach(
    profiles: &Profiles,
    name: &str,
    container: &str,
) -> anyhow::Result<(Arc<SshSession>, install::Facts)> {
    let p = profiles
        .get(name)
        .ok_or_else(|| anyhow::anyhow!("no server named {name:?} (see appos server list)"))?;
    anyhow::ensure!(
        p.url.starts_with("ssh://"),
        "{name} is reached at {}: upgrade and uninstall work over SSH",
        p.url
    );
    let target = SshTarget::parse(&p.url)?;
    let mut opts = ConnectOptions::for_user(profiles.dir());
    if p.identity.is_some() {
        opts.identity = p.identity.clone();
    }
    let session = session(&target, &mut opts).await?;
    let facts = install::facts(&session, &Plan::for_container(container)).await?;
    Ok((session, facts))
}

pub async fn upgrade(
    profiles: &mut Profiles,
    name: &str,
    container: &str,
    image: install::ImageSource,
    within: std::time::Duration,
) -> anyhow::Result<()> {
    let (session, facts) = reach(profiles, name, container).await?;
    let (bar, report) = reporter();
    let upgraded = install::upgrade(&session, &facts, container, image, within, &report).await;
    bar.finish_and_clear();
    let (reference, health) = upgraded?;
    eprintln!("upgraded {name} to {reference} ({health})");
    Ok(())
}

pub async fn uninstall(
    profiles: &mut Profiles,
    name: &str,
    container: &str,
    purge: bool,
    confirm: Option<String>,
) -> anyhow::Result<()> {
    let (session, facts) = reach(profiles, name, container).await?;
    let Some(old) = install::installed(&session, &facts, container).await? else {
        anyhow::bail!(
            "{} has no AppOS container named {container:?}",
            session.describe()
        );
    };
    if purge {
        let typed = match confirm {
            Some(c) => c,
            None if std::io::stdin().is_terminal() => {
                eprint!("This deletes {} on {} (versions, tokens, the queue). Type the server's name to go on: ", old.data, session.describe());
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line.trim().to_string()
            }
            None => anyhow::bail!("--purge deletes the agent's data: pass --confirm {name} too"),
        };
        anyhow::ensure!(
            typed == name,
            "{typed:?} is not {name:?}; nothing was changed"
        );
    }
    install::remove(
        &session,
        &facts,
        container,
        purge.then_some(old.data.as_str()),
    )
    .await?;
    profiles.remove(name)?;
    profiles.save()?;
    profiles.delete_token(name).await?;
    eprintln!(
        "removed AppOS from {name}; {}",
        if purge {
            format!("{} is deleted", old.data)
        } else {
            format!("its apps keep running and its data stays in {}", old.data)
        }
    );
    Ok(())
}
