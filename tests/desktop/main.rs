//! The desktop app end to end: the real binary in a WebKit window under Xvfb,
//! driven through tauri-driver and WebKitWebDriver, adding a real sshd-backed
//! server and seeing a real compose stack. Screenshots go to `target/e2e/`.

use std::time::Duration;

use appos_test_support as support;
use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(40);

async fn el(c: &Client, test_id: &str) -> Element {
    let css = format!("[data-testid=\"{test_id}\"]");
    match c.wait().at_most(WAIT).for_element(Locator::Css(&css)).await {
        Ok(e) => e,
        Err(e) => {
            let _ = shot(c, &format!("failed-{test_id}")).await;
            let body = match c.find(Locator::Css("body")).await {
                Ok(b) => b.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("element {test_id} did not appear: {e}\npage text:\n{body}");
        }
    }
}

async fn type_into(c: &Client, test_id: &str, text: &str) {
    let e = el(c, test_id).await;
    e.clear().await.expect("clear");
    e.send_keys(text).await.expect("type");
}

async fn shot(c: &Client, name: &str) -> std::path::PathBuf {
    let png = c.screenshot().await.expect("screenshot");
    let path = support::e2e_artifacts_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    path
}

/// Polls until `test_id`'s text satisfies `ok`.
async fn wait_text(c: &Client, test_id: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let t = el(c, test_id).await.text().await.unwrap_or_default();
        if ok(&t) {
            return t;
        }
        if std::time::Instant::now() > deadline {
            let _ = shot(c, &format!("failed-text-{test_id}")).await;
            panic!("{test_id} never had the expected text; last: {t:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_server_accept_its_key_and_see_its_apps() {
    let Some(xvfb) = support::require("Xvfb", support::Xvfb::start()) else { return };
    let Some(driver_bin) = support::require("tauri-driver", support::tauri_driver_binary()) else { return };
    let Some(sshd) = support::require("sshd", support::Sshd::start()) else { return };
    let Some(()) = support::require("dockerd", support::docker()) else { return };
    drop(driver_bin);
    let agent = support::Agent::start().expect("agent");
    let stack_name = support::unique("desk");
    let _stack = support::ComposeStack::up(&stack_name, &support::two_service_compose()).expect("stack");

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

    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert("tauri:options".into(), json!({ "application": support::bin("appos-desktop") }));
    let c = ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&driver.url())
        .await
        .unwrap_or_else(|e| panic!("WebDriver session failed: {e}\n{}", std::fs::read_to_string(&driver.log).unwrap_or_default()));

    // First screen: "This computer" runs a local agent and lists the same Docker host.
    el(&c, "server-list").await;
    wait_text(&c, "server-title", |t| t == "This computer").await;
    el(&c, &format!("app-{stack_name}")).await;
    shot(&c, "01-this-computer").await;

    // Add the test server over SSH.
    el(&c, "add-server").await.click().await.expect("click add");
    type_into(&c, "srv-name", "e2e").await;
    type_into(&c, "srv-host", "127.0.0.1").await;
    type_into(&c, "srv-port", &sshd.port.to_string()).await;
    type_into(&c, "srv-user", &sshd.user).await;
    el(&c, "auth-key").await.click().await.expect("key auth");
    type_into(&c, "srv-identity", &sshd.user_key.private.display().to_string()).await;
    c.find(Locator::XPath("//button[normalize-space()='Advanced']")).await.expect("advanced").click().await.expect("click");
    type_into(&c, "srv-socket", &agent.socket().display().to_string()).await;
    type_into(&c, "srv-boot", &agent.bootstrap_cmd()).await;
    shot(&c, "02-add-server").await;
    el(&c, "add-server-submit").await.click().await.expect("submit");

    // A new host: the dialog shows the real fingerprint; nothing is saved yet.
    let fp = el(&c, "host-key-fingerprint").await.text().await.expect("fp");
    assert_eq!(fp, sshd.host_key.fingerprint().expect("fp"));
    assert!(!home.path().join(".config/appos/servers.toml").exists(), "nothing saved before the key is accepted");
    shot(&c, "03-host-key").await;
    el(&c, "host-key-accept").await.click().await.expect("accept");

    // The server is added, selected and lists the test stack.
    el(&c, "server-e2e").await;
    wait_text(&c, "server-title", |t| t == "e2e").await;
    let row = el(&c, &format!("app-{stack_name}")).await;
    let text = row.text().await.expect("row");
    assert!(text.contains("created outside AppOS"), "{text}");
    wait_text(&c, &format!("app-state-{stack_name}"), |t| t == "running").await;
    wait_text(&c, "server-status-e2e", |_| true).await;
    let via = el(&c, "server-via").await.text().await.expect("via");
    assert!(via.contains(&format!("127.0.0.1:{}", sshd.port)) && via.contains("agent.sock"), "{via}");
    shot(&c, "04-apps").await;

    // Dark theme.
    el(&c, "theme-toggle").await.click().await.expect("theme");
    tokio::time::sleep(Duration::from_millis(300)).await;
    shot(&c, "05-apps-dark").await;

    // The server and its key were saved for the CLI too.
    let saved = std::fs::read_to_string(home.path().join(".config/appos/servers.toml")).expect("servers.toml");
    assert!(saved.contains(&fp), "{saved}");

    c.close().await.expect("close");
}
