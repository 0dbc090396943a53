//! The desktop app end to end: the real binary in a WebKit window under Xvfb,
//! driven through tauri-driver and WebKitWebDriver, adding a real sshd-backed
//! server and seeing a real compose stack. Screenshots go to `target/e2e/`.

use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context};
use appos_test_support as support;
use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn css(test_id: &str) -> String {
    format!("[data-testid=\"{test_id}\"]")
}

async fn el(c: &Client, test_id: &str) -> anyhow::Result<Element> {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&css(test_id)))
        .await
        .map_err(|e| anyhow!("element {test_id} did not appear: {e}"))
}

/// The element's text as the DOM has it (WebKitWebDriver's "visible text"
/// is empty for some elements that are on screen).
async fn text(c: &Client, test_id: &str) -> anyhow::Result<String> {
    el(c, test_id).await?;
    let v = c
        .execute("return document.querySelector(arguments[0]).textContent;", vec![json!(css(test_id))])
        .await
        .with_context(|| format!("reading the text of {test_id}"))?;
    Ok(v.as_str().unwrap_or_default().to_string())
}

/// Polls until `test_id`'s text satisfies `ok`.
async fn wait_text(c: &Client, test_id: &str, ok: impl Fn(&str) -> bool) -> anyhow::Result<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let t = text(c, test_id).await?;
        if ok(&t) {
            return Ok(t);
        }
        ensure!(Instant::now() < deadline, "{test_id} never had the expected text; last: {t:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn type_into(c: &Client, test_id: &str, value: &str) -> anyhow::Result<()> {
    let e = el(c, test_id).await?;
    e.clear().await?;
    e.send_keys(value).await?;
    Ok(())
}

async fn click(c: &Client, test_id: &str) -> anyhow::Result<()> {
    el(c, test_id).await?.click().await.with_context(|| format!("clicking {test_id}"))
}

async fn shot(c: &Client, name: &str) -> anyhow::Result<()> {
    let png = c.screenshot().await?;
    std::fs::write(support::e2e_artifacts_dir().join(format!("{name}.png")), png)?;
    Ok(())
}

struct World {
    sshd: support::Sshd,
    agent: support::Agent,
    stack: String,
    home: std::path::PathBuf,
}

async fn scenario(c: &Client, w: &World) -> anyhow::Result<()> {
    // First screen: "This computer" runs a local agent and lists the same Docker host.
    el(c, "server-list").await?;
    wait_text(c, "server-title", |t| t == "This computer").await?;
    el(c, &format!("app-{}", w.stack)).await?;
    shot(c, "01-this-computer").await?;

    // Add the test server over SSH.
    click(c, "add-server").await?;
    type_into(c, "srv-name", "e2e").await?;
    type_into(c, "srv-host", "127.0.0.1").await?;
    type_into(c, "srv-port", &w.sshd.port.to_string()).await?;
    type_into(c, "srv-user", &w.sshd.user).await?;
    click(c, "auth-key").await?;
    type_into(c, "srv-identity", &w.sshd.user_key.private.display().to_string()).await?;
    c.find(Locator::XPath("//button[normalize-space()='Advanced']")).await?.click().await?;
    type_into(c, "srv-socket", &w.agent.socket().display().to_string()).await?;
    type_into(c, "srv-boot", &w.agent.bootstrap_cmd()).await?;
    shot(c, "02-add-server").await?;
    click(c, "add-server-submit").await?;

    // A new host: the dialog shows the real fingerprint; nothing is saved yet.
    let fp = wait_text(c, "host-key-fingerprint", |t| t.starts_with("SHA256:")).await?;
    ensure!(fp == w.sshd.host_key.fingerprint()?, "dialog shows {fp}");
    ensure!(!w.home.join(".config/appos/servers.toml").exists(), "nothing saved before the key is accepted");
    shot(c, "03-host-key").await?;
    click(c, "host-key-accept").await?;

    // The server is added, selected and lists the test stack.
    el(c, "server-e2e").await?;
    wait_text(c, "server-title", |t| t == "e2e").await?;
    let row = wait_text(c, &format!("app-{}", w.stack), |_| true).await?;
    ensure!(row.contains("created outside AppOS"), "{row}");
    wait_text(c, &format!("app-state-{}", w.stack), |t| t == "running").await?;
    let via = wait_text(c, "server-via", |t| t.contains("agent.sock")).await?;
    ensure!(via.contains(&format!("127.0.0.1:{}", w.sshd.port)), "{via}");
    shot(c, "04-apps").await?;

    // Dark theme.
    click(c, "theme-toggle").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    shot(c, "05-apps-dark").await?;

    // The server and its key were saved, for the CLI too.
    let saved = std::fs::read_to_string(w.home.join(".config/appos/servers.toml"))?;
    ensure!(saved.contains(&fp), "{saved}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_server_accept_its_key_and_see_its_apps() {
    let Some(xvfb) = support::require("Xvfb", support::Xvfb::start()) else { return };
    if support::require("tauri-driver", support::tauri_driver_binary()).is_none() {
        return;
    }
    let Some(sshd) = support::require("sshd", support::Sshd::start()) else { return };
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let agent = support::Agent::start().expect("agent");
    let stack = support::unique("desk");
    let _stack = support::ComposeStack::up(&stack, &support::two_service_compose()).expect("stack");

    // The app runs as a fresh user: its own HOME, config and data dirs.
    let home = tempfile::Builder::new().prefix("appos-desktop-home").tempdir().expect("home");
    let env = [
        ("HOME", home.path().display().to_string()),
        ("XDG_CONFIG_HOME", home.path().join(".config").display().to_string()),
        ("XDG_DATA_HOME", home.path().join(".local/share").display().to_string()),
        ("APPOS_AGENT_BIN", support::bin("appos-agent").display().to_string()),
        ("APPOS_LOG", "debug".to_string()),
    ];
    let driver = support::TauriDriver::start(&xvfb.display, home.path(), &env).expect("tauri-driver");

    // Both rustls providers are in the build; the WebDriver client needs one chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert("tauri:options".into(), json!({ "application": support::bin("appos-desktop") }));
    let c = ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&driver.url())
        .await
        .unwrap_or_else(|e| panic!("WebDriver session failed: {e}\n{}", std::fs::read_to_string(&driver.log).unwrap_or_default()));

    let world = World { sshd, agent, stack, home: home.path().to_path_buf() };
    let result = scenario(&c, &world).await;
    if result.is_err() {
        let _ = shot(&c, "failed").await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), c.close()).await;
    drop(driver);
    if let Err(e) = result {
        panic!(
            "{e:#}\n--- tauri-driver and app log ---\n{}\n--- agent log ---\n{}\n--- sshd log ---\n{}",
            std::fs::read_to_string(home.path().join("tauri-driver.log")).unwrap_or_default(),
            world.agent.log(),
            world.sshd.log()
        );
    }
}
