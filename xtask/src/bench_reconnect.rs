//! `cargo xtask bench reconnect`: how long a client takes to be back after
//! its SSH connection is cut (the server side kills it), and after it goes
//! silent (its sshd processes frozen: only the keepalives can tell), with
//! the default keepalive.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use appos_client::profile::ServerProfile;
use appos_client::reconnect::Link;
use appos_client::ssh::{ConnectOptions, NewKeyPolicy};
use appos_test_support as support;

use crate::bench::row;

/// Waits for the client's link to be `Connected` again after it was lost.
async fn back(
    link: &mut tokio::sync::watch::Receiver<Link>,
    within: Duration,
) -> anyhow::Result<()> {
    let mut lost = false;
    tokio::time::timeout(within, async {
        loop {
            let now = link.borrow_and_update().clone();
            match now {
                Link::Reconnecting { .. } => lost = true,
                Link::Connected if lost => return Ok(()),
                Link::Failed { why } => anyhow::bail!("gave up: {why}"),
                Link::Connected => {}
            }
            link.changed().await?;
        }
    })
    .await
    .context("not back in time")?
}

pub async fn reconnect() -> anyhow::Result<()> {
    let sshd = support::Sshd::start()?;
    let agent = support::Agent::start()?;
    let token = agent.issue_token("bench", "read")?;
    let home = tempfile::tempdir()?;
    let profile = ServerProfile {
        url: sshd.url(),
        identity: Some(sshd.user_key.private.clone()),
        agent_socket: Some(agent.socket().display().to_string()),
        bootstrap_cmd: None,
        ca_file: None,
        host_key: None,
        added_at: 0,
    };
    let mut opts = ConnectOptions::for_user(home.path());
    opts.new_key_policy = NewKeyPolicy::AcceptAny;
    opts.use_agent = false;

    // A clean cut under a followed event stream: to the link back and the stream resumed.
    let client = std::sync::Arc::new(
        appos_client::connect::connect(&profile, Some(token.clone()), &opts).await?,
    );
    let follower = client.clone();
    tokio::spawn(async move { follower.follow_events(0, |_| true).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut times = Vec::new();
    for _ in 0..7 {
        let mut link = client.link();
        link.borrow_and_update();
        let cut = Instant::now();
        sshd.cut_connections();
        back(&mut link, Duration::from_secs(30)).await?;
        client.call(&appos_proto::calls::GetHealth {}).await?;
        times.push(cut.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    times.sort();
    let (p50, max) = (times[times.len() / 2], times[times.len() - 1]);
    row(
        "reconnect: cut to the stream resumed, ms",
        format!("{} / {}", p50.as_millis(), max.as_millis()),
        "-".into(),
        "-".into(),
        "p50 / max; ≤ 2000 ms",
    );

    // Silence: the default keepalive notices it, then the same.
    let mut link = client.link();
    link.borrow_and_update();
    let frozen = sshd.freeze_connections();
    let quiet = Instant::now();
    let r = back(&mut link, Duration::from_secs(90)).await;
    support::Sshd::thaw(&frozen);
    r?;
    client.call(&appos_proto::calls::GetHealth {}).await?;
    row(
        "reconnect: silent drop to resumed, s",
        format!("{:.1}", quiet.elapsed().as_secs_f64()),
        "-".into(),
        "-".into(),
        &format!("≤ 30 s (keepalive every {} s)", opts.keepalive.as_secs()),
    );
    Ok(())
}
