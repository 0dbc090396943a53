//! The desktop app end to end: the real binary in a WebKit window under Xvfb,
//! driven through tauri-driver and WebKitWebDriver, adding a real sshd-backed
//! server and seeing a real compose stack. Screenshots go to `target/e2e/`.

use appos_proto::calls::{DeleteApp, GetDeployment, GetVersion, ListTerminals, ListVersions};
use appos_proto::AppName;
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
        .execute(
            "return document.querySelector(arguments[0]).textContent;",
            vec![json!(css(test_id))],
        )
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
        ensure!(
            Instant::now() < deadline,
            "{test_id} never had the expected text; last: {t:?}"
        );
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
    let e = el(c, test_id).await?;
    if e.click().await.is_ok() {
        return Ok(());
    }
    // WebKitWebDriver refuses to click some elements (a table row that acts
    // as a link): click it the way a script would.
    c.execute("const e = document.querySelector(arguments[0]); e.scrollIntoView({block: 'center'}); e.click();", vec![json!(css(test_id))])
        .await
        .with_context(|| format!("clicking {test_id}"))?;
    Ok(())
}

async fn shot(c: &Client, name: &str) -> anyhow::Result<()> {
    let png = c.screenshot().await?;
    std::fs::write(
        support::e2e_artifacts_dir().join(format!("{name}.png")),
        png,
    )?;
    Ok(())
}

struct World {
    sshd: support::Sshd,
    agent: support::Agent,
    token: String,
    stack: String,
    home: std::path::PathBuf,
    /// The app the catalog scenario installs.
    app: String,
    /// The agent's reverse proxy: where it listens for HTTPS, and the root its certificates come from.
    https: u16,
    acme_root: std::path::PathBuf,
}

/// The catalog template the remote agent offers (busybox, no registry needed).
fn e2e_template() -> String {
    format!(
        "id = \"e2eweb\"\nname = \"E2E web\"\ndescription = \"A tiny web server for the desktop test\"\ncategory = \"test\"\nwebsite = \"https://busybox.net\"\n\n\
         compose = \"\"\"\nservices:\n  web:\n    image: {img}\n    command: [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\"]\n    ports: [\"127.0.0.1:${{PORT}}:8080\"]\n    stop_signal: SIGKILL\n    labels: [\"{label}=1\"]\n    environment:\n      SECRET: ${{SECRET}}\n      GREETING: hello\n\"\"\"\n\n\
         [[params]]\nkey = \"PORT\"\nlabel = \"Port\"\ntype = \"port\"\nrequired = true\n\n[[params]]\nkey = \"SECRET\"\nlabel = \"Secret\"\ntype = \"password\"\ngenerate = 16\n",
        img = support::BUSYBOX_IMAGE,
        label = support::TEST_LABEL
    )
}

fn container_env(name: &str) -> String {
    let o = std::process::Command::new(support::docker_cli())
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={name}"),
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let id = o.lines().next().unwrap_or_default().to_string();
    std::process::Command::new(support::docker_cli())
        .args(["inspect", "-f", "{{json .Config.Env}}", &id])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Waits for the deployment view to show `succeeded`, failing early on `failed`.
async fn deployment_succeeds(c: &Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let state = text(c, "deployment-state").await?;
        match state.trim() {
            "succeeded" => return Ok(()),
            "failed" | "cancelled" => anyhow::bail!(
                "the deployment {state}: {}",
                text(c, "deployment-view").await.unwrap_or_default()
            ),
            _ => {}
        }
        ensure!(
            Instant::now() < deadline,
            "the deployment never finished: {state}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The text xterm.js shows in the visible terminal (its DOM renderer's rows).
async fn terminal_text(c: &Client) -> anyhow::Result<String> {
    let v = c
        .execute(
            "const rows = document.querySelector('[data-testid=\"terminal-view\"] .xterm-rows'); return rows ? rows.innerText : null;",
            vec![],
        )
        .await?;
    v.as_str()
        .map(str::to_string)
        .context("the terminal has no DOM rows to read (WebGL renderer?)")
}

/// Sends keys to the visible terminal (xterm's input element, focused).
async fn send_to_terminal(c: &Client, keys: &str) -> anyhow::Result<()> {
    let input = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(
            "[data-testid=\"terminal-view\"] textarea.xterm-helper-textarea",
        ))
        .await?;
    c.execute("document.querySelector('[data-testid=\"terminal-view\"] textarea.xterm-helper-textarea').focus();", vec![]).await?;
    if input.send_keys(keys).await.is_err() {
        c.active_element().await?.send_keys(keys).await?;
    }
    Ok(())
}

/// Types into the visible terminal and waits for `expect` on its screen.
async fn type_in_terminal(
    c: &Client,
    keys: &str,
    expect: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    send_to_terminal(c, keys).await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let t = terminal_text(c).await?;
        if expect(&t) {
            return Ok(t);
        }
        ensure!(
            Instant::now() < deadline,
            "the terminal never showed it; it shows:\n{t}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A shell in the app's container and a shell on the server over SSH, each
/// typed into and read back from the xterm.js screen.
async fn terminal_scenario(c: &Client, w: &World) -> anyhow::Result<()> {
    let n: u32 = rand_suffix();
    let api = appos_client::Client::new(
        appos_client::Transport::Unix(w.agent.socket()),
        Some(w.token.clone()),
    );

    // GPU rendering on (the default): with a GPU the screen is a WebGL
    // canvas, so what was typed is checked in the agent's copy of the
    // session's screen. Without one (Xvfb here) xterm draws with the DOM.
    click(c, "terminal-new").await?;
    click(c, &format!("terminal-new-container-{}-web", w.app)).await?;
    wait_attr(c, "terminal-tab-0", "data-state", "live").await?;
    let want_renderer = if appos_desktop_core::rendering::render_node_present() {
        "webgl"
    } else {
        "dom"
    };
    wait_attr(c, "terminal-view", "data-renderer", want_renderer).await?;
    send_to_terminal(c, &format!("echo gpu-$(({n}*2))\n")).await?;
    let session = api
        .call(&ListTerminals {})
        .await?
        .into_iter()
        .find(|t| t.app.as_deref() == Some(w.app.as_str()))
        .context("the container shell is an agent session")?;
    let mut viewer = api.attach_terminal(&session.id).await?;
    let want = format!("gpu-{}", n * 2);
    let mut screen = String::new();
    let deadline = Instant::now() + WAIT;
    while !screen.lines().any(|l| l.trim() == want) {
        match tokio::time::timeout_at(deadline.into(), viewer.output.recv()).await {
            Ok(Some(appos_client::terminal::TermOut::Bytes(b))) => {
                screen.push_str(&String::from_utf8_lossy(&b))
            }
            Ok(Some(_)) => {}
            _ => anyhow::bail!("the session never showed {want}: {screen}"),
        }
    }
    drop(viewer);
    shot(c, "11-container-shell-gpu-setting-on").await?;

    // The DOM renderer (GPU rendering off): the screen's text is read back.
    click(c, "terminal-new").await?;
    click(c, "terminal-gpu").await?;
    click(c, &format!("terminal-new-container-{}-web", w.app)).await?;
    wait_attr(c, "terminal-tab-1", "data-state", "live").await?;
    let marker = format!("hello-{n}");
    type_in_terminal(c, &format!("echo hello-{n}\n"), |t| {
        t.lines().any(|l| l.trim() == marker)
    })
    .await?;
    shot(c, "12-container-shell").await?;

    click(c, "terminal-new").await?;
    click(c, "terminal-new-server").await?;
    wait_attr(c, "terminal-tab-2", "data-state", "live").await?;
    let marker = format!("server-{}", n + 1);
    type_in_terminal(c, &format!("echo server-$(({n}+1))\n"), |t| {
        t.lines().any(|l| l.trim() == marker)
    })
    .await?;
    shot(c, "13-server-shell").await?;
    Ok(())
}

/// The ways the desktop's connection to a server is lost in
/// [`reconnect_scenario`], as in the CLI's tests.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// The server-side SSH connection killed.
    Cut,
    /// The sshd connection processes frozen (SIGSTOP) past the keepalives.
    Frozen,
    /// sshd restarted, its connections dropped.
    SshdRestart,
    /// The agent killed and started again (its terminal sessions go with it).
    AgentRestart,
}

/// Runs `docker ARGS` on the test stack's worker container.
fn worker(w: &World, args: &[&str]) -> anyhow::Result<()> {
    let docker = support::docker_cli();
    let o = std::process::Command::new(&docker)
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", w.stack),
            "--filter",
            "label=com.docker.compose.service=worker",
        ])
        .output()?;
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    ensure!(!id.is_empty(), "the stack's worker container");
    let o = std::process::Command::new(&docker)
        .args(args)
        .arg(&id)
        .output()?;
    ensure!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(())
}

/// Types `echo $((n))` into the visible terminal until `n` shows on a line
/// of its own: keys typed while a connection is being noticed as lost go
/// nowhere, so each try types again.
async fn echo_until_seen(c: &Client, n: u64) -> anyhow::Result<String> {
    let want = n.to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        send_to_terminal(c, &format!("echo $(({} + 1))\n", n - 1)).await?;
        let tried = Instant::now();
        while tried.elapsed() < Duration::from_secs(3) {
            let t = terminal_text(c).await?;
            if t.lines().any(|l| l.trim() == want) {
                return Ok(t);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        ensure!(
            Instant::now() < deadline,
            "the terminal never echoed {want}; it shows:\n{}",
            terminal_text(c).await?
        );
    }
}

/// The SSH connection to the server lost in each of four ways while the
/// apps list and a shell in the app's container are open: the list is live
/// again (a container stopped and started meanwhile shows both), and the
/// shell's tab is reattached by itself, the output from before the outage
/// still on its screen. After an agent restart the session is gone with
/// the agent: the tab keeps its screen, says so, and a new shell opens in
/// the same container below it.
async fn reconnect_scenario(c: &Client, w: &mut World) -> anyhow::Result<()> {
    // The Apps tab, then again for its list (the first shows its last page).
    click(c, "nav-apps").await?;
    click(c, "nav-apps").await?;
    wait_text(c, &format!("app-state-{}", w.stack), |t| t == "running").await?;
    // The container shell opened with the DOM renderer (tab 1).
    click(c, "terminal-tab-1").await?;
    wait_attr(c, "terminal-tab-1", "data-state", "live").await?;
    let n = u64::from(rand_suffix()) * 10;
    for (i, outage) in [
        Outage::Cut,
        Outage::Frozen,
        Outage::SshdRestart,
        Outage::AgentRestart,
    ]
    .into_iter()
    .enumerate()
    {
        let before = n + 2 * i as u64 + 1;
        type_in_terminal(c, &format!("clear; echo $(({} + 1))\n", before - 1), |t| {
            t.lines().any(|l| l.trim() == before.to_string())
        })
        .await?;
        let mut frozen = Vec::new();
        match outage {
            Outage::Cut => w.sshd.cut_connections(),
            Outage::Frozen => frozen = w.sshd.freeze_connections(),
            Outage::SshdRestart => w.sshd.restart(false)?,
            Outage::AgentRestart => w.agent.crash_and_restart()?,
        }
        // Meanwhile, a container of the stack stops.
        worker(w, &["kill"])?;
        let result = async {
            wait_text(c, &format!("app-state-{}", w.stack), |t| t != "running")
                .await
                .with_context(|| format!("{outage:?}: the list shows the stopped container"))?;
            worker(w, &["start"])?;
            wait_text(c, &format!("app-state-{}", w.stack), |t| t == "running")
                .await
                .with_context(|| format!("{outage:?}: the list shows it started again"))?;
            wait_attr(c, "live-status", "data-state", "live").await?;
            wait_attr(c, "server-status-e2e", "data-status", "connected").await?;
            let screen = echo_until_seen(c, before + 1)
                .await
                .with_context(|| format!("{outage:?}: the shell takes input again"))?;
            ensure!(
                screen.lines().any(|l| l.trim() == before.to_string()),
                "{outage:?}: the output from before is on the screen:\n{screen}"
            );
            if let Outage::AgentRestart = outage {
                ensure!(
                    screen.contains("The session was gone when the connection came back"),
                    "{outage:?}: the tab says the shell is new:\n{screen}"
                );
            }
            wait_attr(c, "terminal-tab-1", "data-state", "live").await?;
            anyhow::Ok(())
        }
        .await;
        support::Sshd::thaw(&frozen);
        result?;
        shot(c, &format!("17-after-{outage:?}").to_lowercase()).await?;
    }
    Ok(())
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() % 100_000)
        .unwrap_or(4242)
}

/// Polls until `test_id` has `attr` equal to `want`.
async fn wait_attr(c: &Client, test_id: &str, attr: &str, want: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = el(c, test_id).await?.attr(attr).await?.unwrap_or_default();
        if v == want {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{test_id} {attr} stayed {v:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Install from the catalog, watch it reach running, edit its compose file
/// in the editor, deploy the edit, and roll back from the history.
async fn catalog_scenario(c: &Client, w: &World) -> anyhow::Result<()> {
    use fantoccini::key::Key;
    let api = appos_client::Client::new(
        appos_client::Transport::Unix(w.agent.socket()),
        Some(w.token.clone()),
    );

    click(c, "nav-catalog").await?;
    type_into(c, "catalog-search", "e2e").await?;
    click(c, "catalog-item-e2eweb").await?;
    type_into(c, "install-name", &w.app).await?;
    type_into(c, "param-PORT", &support::free_port().to_string()).await?;
    shot(c, "06-install-form").await?;
    click(c, "install-submit").await?;

    // The generated secret is shown once, and it is the one in the app's .env.
    let secret = wait_text(c, "generated-SECRET", |t| t.trim().len() == 16).await?;
    deployment_succeeds(c).await?;
    let steps = c
        .find_all(Locator::Css("[data-testid^=\"deployment-step-\"]"))
        .await?;
    ensure!(steps.len() >= 5, "the steps are shown: {}", steps.len());
    shot(c, "07-deployed").await?;
    let dotenv =
        std::fs::read_to_string(w.agent.data.path().join("apps").join(&w.app).join(".env"))?;
    ensure!(
        dotenv.contains(&format!("SECRET='{}'", secret.trim())),
        "{dotenv}"
    );

    // The app is running, in the list and in its page.
    click(c, "nav-apps").await?;
    wait_text(c, &format!("app-state-{}", w.app), |t| t == "running").await?;
    click(c, &format!("app-row-{}", w.app)).await?;
    wait_text(c, "app-state", |t| t.contains("running")).await?;

    // Edit the compose file: a new environment variable after the last line.
    click(c, "tab-compose").await?;
    el(c, "compose-editor").await?;
    let editor = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-testid=\"compose-editor\"] .cm-content"))
        .await?;
    wait_text(c, "compose-editor", |t| t.contains("GREETING: hello")).await?;
    editor.click().await?;
    editor
        .send_keys(&format!(
            "{}{}",
            char::from(Key::Control),
            char::from(Key::End)
        ))
        .await?;
    editor
        .send_keys(&format!(
            "{}{}EDITED: desktop",
            char::from(Key::Backspace),
            char::from(Key::Enter)
        ))
        .await?;
    wait_text(c, "compose-valid", |t| t.contains("Valid")).await?;
    type_into(c, "compose-message", "edited in the desktop").await?;
    shot(c, "08-compose-edited").await?;
    click(c, "compose-save").await?;
    deployment_succeeds(c).await?;
    let v2 = api
        .call(&GetVersion {
            app: AppName::parse(&w.app)?,
            version: 2,
        })
        .await?;
    ensure!(
        v2.compose.contains("\n      EDITED: desktop"),
        "version 2 has the edit: {}",
        v2.compose
    );
    ensure!(
        container_env(&w.app).contains("EDITED=desktop"),
        "the container runs the edit: {}",
        container_env(&w.app)
    );

    // History: the diff shows the edit; roll back to version 1.
    click(c, "nav-back").await?;
    click(c, "tab-history").await?;
    el(c, "version-row-2").await?;
    wait_text(c, "diff-view", |t| t.contains("EDITED")).await?;
    shot(c, "09-history").await?;
    click(c, "version-rollback-1").await?;
    click(c, "rollback-confirm").await?;
    deployment_succeeds(c).await?;
    shot(c, "10-rolled-back").await?;
    let versions = api
        .call(&ListVersions {
            app: AppName::parse(&w.app)?,
        })
        .await?;
    ensure!(
        versions.len() == 3 && versions[0].message == "rollback to version 1",
        "{versions:?}"
    );
    ensure!(
        !container_env(&w.app).contains("EDITED"),
        "the rollback runs version 1 again: {}",
        container_env(&w.app)
    );
    Ok(())
}

/// From the app's page: a domain with HTTPS, its service and port picked
/// from the app's compose file; its certificate (from pebble) turns valid
/// and the app answers through the proxy.
async fn domain_scenario(c: &Client, w: &World) -> anyhow::Result<()> {
    // The Apps tab shows the app's page again, where the catalog scenario left it.
    click(c, "nav-apps").await?;
    wait_text(c, "app-state", |t| t.contains("running")).await?;
    click(c, "tab-domains").await?;
    el(c, "domains").await?;
    click(c, "domains-add").await?;
    type_into(c, "add-domain-domain", "desk.test").await?;
    let target = wait_text(c, "add-domain-target", |t| {
        t.contains(&format!("{}/web:8080", w.app))
    })
    .await?;
    ensure!(target.contains("Requests go to port 8080"), "{target}");
    shot(c, "15-add-domain").await?;
    click(c, "add-domain-submit").await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let badge = text(c, "domain-cert-desk.test").await.unwrap_or_default();
        if badge.starts_with("valid") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the certificate never turned valid: {badge}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    shot(c, "16-domain-valid").await?;
    let o = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "--resolve",
            &format!("desk.test:{}:127.0.0.1", w.https),
            "--cacert",
        ])
        .arg(&w.acme_root)
        .arg(format!("https://desk.test:{}/", w.https))
        .output()?;
    ensure!(
        o.status.success(),
        "the app over HTTPS: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(())
}

/// Opens "Add server" and fills it in for the test sshd, logging in with its key.
async fn add_server_form(c: &Client, w: &World, name: &str) -> anyhow::Result<()> {
    click(c, "add-server").await?;
    type_into(c, "srv-name", name).await?;
    type_into(c, "srv-host", "127.0.0.1").await?;
    type_into(c, "srv-port", &w.sshd.port.to_string()).await?;
    type_into(c, "srv-user", &w.sshd.user).await?;
    click(c, "auth-key").await?;
    type_into(
        c,
        "srv-identity",
        &w.sshd.user_key.private.display().to_string(),
    )
    .await
}

/// "Add server" on a server without an agent offers to install one: the
/// checklist, then the install (the image is this computer's own, which
/// the server, being this computer, has already), then the server is added
/// and its apps listed. The agent's container gets the default name, so a
/// machine that runs a real AppOS under that name is left alone.
async fn install_scenario(c: &Client, w: &World) -> anyhow::Result<()> {
    let docker = support::docker_cli();
    let name = appos_client::install::CONTAINER;
    let taken = std::process::Command::new(&docker)
        .args(["inspect", name])
        .output()?
        .status
        .success();
    let Some(()) = support::require(
        "no container named appos (the install scenario uses that name)",
        if taken {
            Err(anyhow!("a container named {name} exists"))
        } else {
            Ok(())
        },
    ) else {
        return Ok(());
    };
    support::agent_image()?;
    let data = tempfile::Builder::new()
        .prefix("appos-desk-install")
        .tempdir()?;
    struct Gone(std::path::PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::process::Command::new(&self.0)
                .args(["rm", "-f", appos_client::install::CONTAINER])
                .output();
        }
    }
    let _gone = Gone(docker);

    add_server_form(c, w, "fresh").await?;
    click(c, "add-server-submit").await?;
    let missing = wait_text(c, "agent-missing", |t| t.contains("was not found on")).await?;
    ensure!(
        missing.contains("`appos-agent` was not found on"),
        "{missing}"
    );
    shot(c, "20-agent-missing").await?;
    click(c, "install-offer").await?;
    // The first check (default options), then again with this data root and no proxy.
    wait_text(c, "install-check-disk", |t| {
        t.contains("GiB free for /var/lib/appos")
    })
    .await?;
    let d = data.path().display().to_string();
    type_into(c, "install-data", &d).await?;
    click(c, "install-proxy").await?;
    click(c, "install-recheck").await?;
    wait_text(c, "install-check-disk", |t| {
        t.contains(&format!("GiB free for {d}"))
    })
    .await?;
    ensure!(
        c.find_all(Locator::Css(&css("install-check-ports")))
            .await?
            .is_empty(),
        "no proxy, so no ports line"
    );
    wait_text(c, "install-check-appos", |t| {
        t.contains("not installed yet")
    })
    .await?;
    for (item, want) in [
        ("system", "Linux"),
        ("root", "logged in as root"),
        ("docker", "Docker "),
        ("disk", "GiB free for "),
    ] {
        let line = text(c, &format!("install-check-{item}")).await?;
        ensure!(line.contains(want), "{item}: {line}");
    }
    shot(c, "21-install-checklist").await?;
    click(c, "install-submit").await?;
    // Installed and added: the new server is selected and lists this Docker host's stack.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        if text(c, "server-title").await.is_ok_and(|t| t == "fresh") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the install never finished: {}",
            text(c, "install-steps").await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_text(c, &format!("app-state-{}", w.stack), |t| t == "running").await?;
    let via = wait_text(c, "server-via", |t| t.contains("agent.sock")).await?;
    ensure!(
        via.contains(&data.path().join("run/agent.sock").display().to_string()),
        "{via}"
    );
    shot(c, "22-installed").await?;
    let saved = std::fs::read_to_string(w.home.join(".config/appos/servers.toml"))?;
    ensure!(saved.contains("docker exec appos appos-agent"), "{saved}");
    // Its settings show the agent's version, the same as this computer's: nothing to upgrade.
    click(c, "nav-settings").await?;
    let v = env!("CARGO_PKG_VERSION");
    wait_text(c, "agent-version", |t| t == format!("AppOS agent {v}")).await?;
    el(c, "agent-up-to-date").await?;
    ensure!(
        c.find_all(Locator::Css(&css("agent-upgrade")))
            .await?
            .is_empty(),
        "an upgrade offered to the same version"
    );
    shot(c, "23-installed-settings").await?;
    click(c, "nav-apps").await?;
    Ok(())
}

/// A logout or `kill` (SIGTERM) closes the app as closing its window does:
/// the app exits, and the local agent it started for This computer stops
/// with it instead of running on alone.
async fn stop_scenario(w: &World) -> anyhow::Result<()> {
    let home = format!("HOME={}", w.home.display());
    let app = support::processes()
        .into_iter()
        .find(|(pid, _, name)| {
            name == "appos-desktop"
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|e| e.split(|b| *b == 0).any(|v| v == home.as_bytes()))
        })
        .map(|(pid, _, _)| pid)
        .context("the app's process")?;
    let agent = support::processes()
        .into_iter()
        .find(|(_, parent, name)| *parent == app && name == "appos-agent")
        .map(|(pid, _, _)| pid)
        .context("the local agent the app started")?;
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &app.to_string()])
        .status()?;
    ensure!(sent.success(), "kill -TERM {app}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let alive: Vec<u32> = support::processes()
            .into_iter()
            .map(|(pid, _, _)| pid)
            .filter(|pid| *pid == app || *pid == agent)
            .collect();
        if alive.is_empty() {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "still running 15 s after SIGTERM: {alive:?} (app {app}, local agent {agent})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn scenario(c: &Client, w: &World) -> anyhow::Result<()> {
    // First screen: "This computer" runs a local agent and lists the same Docker host.
    el(c, "server-list").await?;
    wait_text(c, "server-title", |t| t == "This computer").await?;
    el(c, &format!("app-row-{}", w.stack)).await?;
    shot(c, "01-this-computer").await?;

    // Add the test server over SSH.
    add_server_form(c, w, "e2e").await?;
    c.find(Locator::XPath("//button[normalize-space()='Advanced']"))
        .await?
        .click()
        .await?;
    type_into(c, "srv-socket", &w.agent.socket().display().to_string()).await?;
    type_into(c, "srv-boot", &w.agent.bootstrap_cmd()).await?;
    shot(c, "02-add-server").await?;
    click(c, "add-server-submit").await?;

    // A new host: the dialog shows the real fingerprint; nothing is saved yet.
    let fp = wait_text(c, "host-key-fingerprint", |t| t.starts_with("SHA256:")).await?;
    ensure!(fp == w.sshd.host_key.fingerprint()?, "dialog shows {fp}");
    ensure!(
        !w.home.join(".config/appos/servers.toml").exists(),
        "nothing saved before the key is accepted"
    );
    shot(c, "03-host-key").await?;
    click(c, "host-key-accept").await?;

    // The server is added, selected and lists the test stack.
    el(c, "server-e2e").await?;
    wait_text(c, "server-title", |t| t == "e2e").await?;
    let row = wait_text(c, &format!("app-row-{}", w.stack), |_| true).await?;
    ensure!(row.contains("created outside AppOS"), "{row}");
    wait_text(c, &format!("app-state-{}", w.stack), |t| t == "running").await?;
    let via = wait_text(c, "server-via", |t| t.contains("agent.sock")).await?;
    ensure!(via.contains(&format!("127.0.0.1:{}", w.sshd.port)), "{via}");
    shot(c, "04-apps").await?;

    // Dark theme.
    click(c, "theme-toggle").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    shot(c, "05-apps-dark").await?;

    // Settings → Access: the agent's tokens, this computer's among them, no secret.
    click(c, "nav-settings").await?;
    let tokens = wait_text(c, "tokens-table", |t| t.contains("admin")).await?;
    ensure!(
        !tokens.contains("appos_"),
        "a token secret on screen: {tokens}"
    );
    shot(c, "14-settings-access").await?;
    click(c, "nav-apps").await?;

    // The server and its key were saved, for the CLI too.
    let saved = std::fs::read_to_string(w.home.join(".config/appos/servers.toml"))?;
    ensure!(saved.contains(&fp), "{saved}");
    Ok(())
}

/// How long every desktop scenario together may take.
const SCENARIOS_LIMIT: Duration = Duration::from_secs(20 * 60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_server_accept_its_key_and_see_its_apps() {
    let Some(xvfb) = support::require("Xvfb", support::Xvfb::start()) else {
        return;
    };
    if support::require("tauri-driver", support::tauri_driver_binary()).is_none() {
        return;
    }
    let Some(sshd) = support::require("sshd", support::Sshd::start()) else {
        return;
    };
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let Some(_) = support::require("caddy", support::which("caddy")) else {
        return;
    };
    let Some(_) = support::require("pebble", support::which("pebble")) else {
        return;
    };
    let catalog = tempfile::tempdir().expect("catalog");
    std::fs::write(catalog.path().join("e2eweb.toml"), e2e_template()).expect("template");
    // The agent runs its reverse proxy, with certificates from pebble.
    let (http, https) = (support::free_port(), support::free_port());
    let pebble = support::Pebble::start(http).expect("pebble");
    let acme_root = pebble.issuing_root().expect("pebble root");
    let proxy_env = [
        ("APPOS_CATALOG_DIR", catalog.path().display().to_string()),
        ("APPOS_PROXY_HTTP", format!("127.0.0.1:{http}")),
        ("APPOS_PROXY_HTTPS", format!("127.0.0.1:{https}")),
        ("APPOS_ACME_CA", pebble.directory.clone()),
        ("APPOS_ACME_CA_ROOT", pebble.acme_ca().display().to_string()),
        ("APPOS_DNS", format!("127.0.0.1:{}", pebble.dns)),
    ];
    let vars: Vec<(&str, &str)> = proxy_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let agent = support::Agent::start_env(&[], &vars).expect("agent");
    let token = agent.issue_token("e2e-check", "admin").expect("token");
    let app = support::unique("deskapp");
    let stack = support::unique("desk");
    let _stack = support::ComposeStack::up(&stack, &support::two_service_compose()).expect("stack");

    // The app runs as a fresh user: its own HOME, config and data dirs.
    let home = tempfile::Builder::new()
        .prefix("appos-desktop-home")
        .tempdir()
        .expect("home");
    let env = [
        ("HOME", home.path().display().to_string()),
        (
            "XDG_CONFIG_HOME",
            home.path().join(".config").display().to_string(),
        ),
        (
            "XDG_DATA_HOME",
            home.path().join(".local/share").display().to_string(),
        ),
        (
            "APPOS_AGENT_BIN",
            support::bin("appos-agent").display().to_string(),
        ),
        ("APPOS_LOG", "debug".to_string()),
        // A frozen connection noticed within three keepalives (6 s).
        ("APPOS_SSH_KEEPALIVE_SECS", "2".to_string()),
    ];
    let driver =
        support::TauriDriver::start(&xvfb.display, home.path(), &env).expect("tauri-driver");

    // Both rustls providers are in the build; the WebDriver client needs one chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert(
        "tauri:options".into(),
        json!({ "application": support::bin("appos-desktop") }),
    );
    let c = ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&driver.url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "WebDriver session failed: {e}\n{}",
                std::fs::read_to_string(&driver.log).unwrap_or_default()
            )
        });

    let mut world = World {
        sshd,
        agent,
        token,
        stack,
        home: home.path().to_path_buf(),
        app,
        https,
        acme_root,
    };
    // Each scenario says when it starts, so a run cut short by the limit
    // names the one that never ended.
    let scenarios = async {
        eprintln!("desktop scenario: servers, deploy, history");
        scenario(&c, &world).await?;
        eprintln!("desktop scenario: catalog");
        catalog_scenario(&c, &world).await?;
        eprintln!("desktop scenario: domains");
        domain_scenario(&c, &world).await?;
        eprintln!("desktop scenario: terminals");
        terminal_scenario(&c, &world).await?;
        eprintln!("desktop scenario: reconnect");
        reconnect_scenario(&c, &mut world).await?;
        eprintln!("desktop scenario: install");
        install_scenario(&c, &world).await?;
        eprintln!("desktop scenario: stop");
        stop_scenario(&world).await
    };
    // A page that stops answering (a script that never yields) would hold
    // every WebDriver call, and CI, for good: the whole run has a limit,
    // about four times what it takes (4 to 5 minutes on two cores).
    let result = tokio::time::timeout(SCENARIOS_LIMIT, scenarios)
        .await
        .unwrap_or_else(|_| {
            Err(anyhow!(
                "the desktop scenarios did not end within {} minutes (the last one started is above)",
                SCENARIOS_LIMIT.as_secs() / 60
            ))
        });
    // Take the installed app down (and wait: an agent that stops first would leave it running).
    let api = appos_client::Client::new(
        appos_client::Transport::Unix(world.agent.socket()),
        Some(world.token.clone()),
    );
    let app = AppName::parse(&world.app).expect("app name");
    if let Ok(d) = api.call(&DeleteApp { app, volumes: true }).await {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline
            && !api
                .call(&GetDeployment { id: d.id.clone() })
                .await
                .map(|d| d.state.is_terminal())
                .unwrap_or(true)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    if result.is_err() {
        let _ = tokio::time::timeout(Duration::from_secs(10), shot(&c, "failed")).await;
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
