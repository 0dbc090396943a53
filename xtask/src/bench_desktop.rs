//! `cargo xtask bench desktop`: the desktop as shipped (release build, its
//! frontend built), under Xvfb and driven through WebDriver like a user:
//! - cold start: from asking for the window to the apps list of "This
//!   computer" on screen (aim ≤ 1 s);
//! - memory of the whole process tree (the app and its WebKit processes, PSS,
//!   so shared pages count once; the local agent it runs shown apart) on the
//!   apps list and with one terminal open, against WebKitGTK's own
//!   MiniBrowser showing an empty page in the same run (aim ≤ 1.3× and 1.5×);
//! - key-to-glyph in a terminal tab: from the key's `keydown` in the page to
//!   xterm.js drawing the echo (aim p95 ≤ 16 ms). The window shows that draw
//!   within about a millisecond: measured with a GTK draw hook on xterm.js in
//!   the same WebKitGTK, 0.3 ms p50 and 1.0 ms p95 from xterm's render event
//!   to the window's draw, whether xterm drew in a frame or at once.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use appos_test_support as support;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::bench::{pss_kib, row};

/// Every live process under `root` (itself included), with its name.
pub(crate) fn tree(root: u32) -> Vec<(u32, String)> {
    let all = support::processes();
    let mut out: Vec<(u32, String)> = all
        .iter()
        .filter(|(p, _, _)| *p == root)
        .map(|(p, _, c)| (*p, c.clone()))
        .collect();
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].0;
        out.extend(
            all.iter()
                .filter(|(_, pp, _)| *pp == parent)
                .map(|(p, _, c)| (*p, c.clone())),
        );
        i += 1;
    }
    out
}

/// PSS in MB of the processes of `root`'s tree, less the subtrees of
/// processes named `apart` (the local agent and what it runs).
fn tree_pss(root: u32, apart: &str) -> (f64, String) {
    let all = tree(root);
    let excluded: Vec<u32> = all
        .iter()
        .filter(|(_, c)| c == apart)
        .flat_map(|(p, _)| tree(*p))
        .map(|(p, _)| p)
        .collect();
    let mut total = 0;
    let mut parts = Vec::new();
    for (pid, comm) in all.into_iter().filter(|(p, _)| !excluded.contains(p)) {
        let kib = pss_kib(pid).unwrap_or(0);
        total += kib;
        parts.push(format!("{comm} {:.0}", kib as f64 / 1024.0));
    }
    (total as f64 / 1024.0, parts.join(", "))
}

/// The first live process named `name`.
fn pid_of(name: &str) -> Option<u32> {
    support::processes()
        .into_iter()
        .find(|(_, _, n)| n == name)
        .map(|(pid, _, _)| pid)
}

async fn present(c: &Client, css: &str) -> bool {
    c.find(Locator::Css(css)).await.is_ok()
}

async fn wait_for(c: &Client, css: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while !present(c, css).await {
        ensure!(Instant::now() < deadline, "{css} never appeared");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// What one session measured, for the report beside the baseline.
pub struct Memory {
    idle: f64,
    idle_parts: String,
    term: f64,
    term_parts: String,
    agent: f64,
    agent_parts: String,
    no_compositing: bool,
    renderer: serde_json::Value,
    gl: serde_json::Value,
}

pub async fn desktop() -> anyhow::Result<()> {
    let root = crate::root();
    // APPOS_BENCH_DESKTOP_BIN: measure that build as it is (no frontend or
    // PGO builds), to compare one change quickly; the figures are that build's.
    if let Some(bin) = std::env::var_os("APPOS_BENCH_DESKTOP_BIN") {
        return measure(std::path::Path::new(&bin)).await;
    }
    let ok = Command::new("npm")
        .arg("--prefix")
        .arg(root.join("src-ui"))
        .args(["run", "build", "--silent"])
        .status()?
        .success();
    ensure!(ok, "building the frontend failed");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(&cargo)
        .args(["build", "--release", "-p", "appos-agent"])
        .current_dir(&root)
        .status()?
        .success();
    ensure!(ok, "building the agent failed");
    // The desktop as `cargo xtask dist` ships it, optimised with a profile of this same session.
    let desktop = crate::pgo::build_desktop(&root, &crate::target_dir()).await?;
    measure(&desktop).await
}

/// The session's rows, then the baseline's.
async fn measure(desktop: &std::path::Path) -> anyhow::Result<()> {
    let m = session(desktop, &[], true).await?;
    let xvfb = support::Xvfb::start()?;

    // 4. The baseline alone: PSS splits a shared page among the processes
    // mapping it, so MiniBrowser measured beside the desktop would look
    // smaller than it is (WebKit's libraries are shared by both).
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_of("WebKitWebProces").is_some() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mini = Command::new("dbus-run-session")
        .args([
            "--",
            "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
            "about:blank",
        ])
        .env("DISPLAY", &xvfb.display)
        .env("NO_AT_BRIDGE", "1")
        .envs(
            m.no_compositing
                .then_some(("WEBKIT_DISABLE_COMPOSITING_MODE", "1")),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting MiniBrowser")?;
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("pkill")
                .args(["-P", &self.0.id().to_string()])
                .status();
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mini = Kill(mini);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (blank, blank_parts) = tree_pss(mini.0.id(), "dbus-daemon");
    row(
        "desktop PSS on the apps list, MB; baseline: MiniBrowser",
        format!("{:.0}", m.idle),
        format!("{blank:.0}"),
        format!("{:.2}", m.idle / blank),
        "≤ 1.3×",
    );
    row(
        "desktop PSS with a terminal open, MB",
        format!("{:.0}", m.term),
        format!("{blank:.0}"),
        format!("{:.2}", m.term / blank),
        "≤ 1.5×",
    );
    println!("    (apps list: {}; terminal: {}; MiniBrowser: {blank_parts}; the local agent apart: {:.0} MB: {}; terminal renderer {} (WebGL: {}); compositing {})", m.idle_parts, m.term_parts, m.agent, m.agent_parts, m.renderer, m.gl, if m.no_compositing { "off in both (no GPU render node)" } else { "on" });
    drop(mini);

    Ok(())
}

/// One session of the desktop at `binary` (with `extra` variables), under
/// its own Xvfb and driven through WebDriver: cold start to the apps list,
/// memory there, a terminal opened, memory again, then 60 keys typed.
/// Prints its rows when `report`; the profile training runs it silently.
pub async fn session(
    binary: &std::path::Path,
    extra: &[(&str, String)],
    report: bool,
) -> anyhow::Result<Memory> {
    let xvfb = support::Xvfb::start()?;
    let home = tempfile::Builder::new()
        .prefix("appos-bench-desktop")
        .tempdir()?;
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
    ];
    let env: Vec<(&str, String)> = env.into_iter().chain(extra.iter().cloned()).collect();
    let driver = support::TauriDriver::start(&xvfb.display, home.path(), &env)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert("tauri:options".into(), json!({ "application": binary }));

    // 1. Cold start: the session starts the app; the apps list of This computer answers.
    let t = Instant::now();
    let c = ClientBuilder::rustls()?
        .capabilities(caps)
        .connect(&driver.url())
        .await
        .context("WebDriver session")?;
    let session = t.elapsed();
    wait_for(
        &c,
        "[data-testid=\"apps-summary\"]",
        Duration::from_secs(30),
    )
    .await?;
    let cold = t.elapsed();
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64()
        * 1000.0
        - cold.as_secs_f64() * 1000.0;
    if report {
        row(
            "desktop cold start to the apps list, ms",
            format!("{:.0}", cold.as_secs_f64() * 1000.0),
            format!("{:.0}", session.as_secs_f64() * 1000.0),
            "-".into(),
            "≤ 1000 ms (baseline: the WebDriver session alone)",
        );
        // Where the time went: the page's own milestones, from the bench's start.
        let marks = c
        .execute(
            "const n = performance.getEntriesByType('navigation')[0];\
             const at = (name) => { const m = performance.getEntriesByName(name)[0]; return m ? m.startTime : null; };\
             return [performance.timeOrigin, n ? n.responseEnd : null, n ? n.domContentLoadedEventEnd : null, at('appos:script'), at('appos:servers'), at('appos:connected'), at('appos:apps')];",
            vec![],
        )
        .await?;
        if let Some(origin) = marks[0].as_f64() {
            let since = |i: usize| {
                marks[i].as_f64().map_or("-".to_string(), |v| {
                    format!("{:.0}", origin + v - started_ms)
                })
            };
            println!(
            "    (from the start, ms: page requested {:.0}, loaded {}, script running {}, DOM ready {}, servers listed {}, connected {}, apps listed {})",
            origin - started_ms,
            since(1),
            since(3),
            since(2),
            since(4),
            since(5),
            since(6)
        );
        }
    }

    // 2. Memory on the apps list, then with a terminal open, against MiniBrowser.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let app = pid_of("appos-desktop").context("the appos-desktop process")?;
    let (idle, idle_parts) = tree_pss(app, "appos-agent");
    // The baseline draws the way the desktop chose to (without compositing
    // when there is no GPU), read from what its web process actually got.
    let processes = tree(app);
    let no_compositing = processes
        .iter()
        .filter(|(_, c)| c == "WebKitWebProces")
        .any(|(p, _)| {
            std::fs::read(format!("/proc/{p}/environ")).is_ok_and(|e| {
                e.split(|b| *b == 0)
                    .any(|v| v == b"WEBKIT_DISABLE_COMPOSITING_MODE=1")
            })
        });
    let local_agent = processes
        .iter()
        .find(|(_, c)| c == "appos-agent")
        .map(|(p, _)| *p);
    let (agent, agent_parts) = local_agent.map(|a| tree_pss(a, "")).unwrap_or_default();

    c.find(Locator::Css("[data-testid=\"terminal-toggle\"]"))
        .await?
        .click()
        .await?;
    c.find(Locator::Css("[data-testid=\"terminal-empty-agent\"]"))
        .await?
        .click()
        .await?;
    wait_for(
        &c,
        "[data-testid=\"terminal-view\"] textarea.xterm-helper-textarea",
        Duration::from_secs(20),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (term, term_parts) = tree_pss(app, "appos-agent");
    let renderer = c.execute("return document.querySelector('[data-testid=\"terminal-view\"]').dataset.renderer || null", vec![]).await?;
    // What WebGL says it draws with (the terminal picks the DOM for a software rasteriser).
    let gl = c
        .execute(
            "const g = document.createElement('canvas').getContext('webgl2'); if (!g) return 'no webgl2';\
             const i = g.getExtension('WEBGL_debug_renderer_info'); const r = [g.getParameter(g.RENDERER), i ? g.getParameter(i.UNMASKED_RENDERER_WEBGL) : 'no debug info'];\
             const l = g.getExtension('WEBGL_lose_context'); if (l) l.loseContext(); return r.join(' / ');",
            vec![],
        )
        .await?;

    // 3. Key-to-glyph: keydown in the page to xterm drawing the echo.
    let textarea = "[data-testid=\"terminal-view\"] textarea.xterm-helper-textarea";
    c.execute(
        "window.__apposKeyAt = 0; document.addEventListener('keydown', (e) => { window.__apposKeyAt = performance.now(); window.__apposTermProbe = []; window.__apposTermArrivals = []; }, true);\
         document.querySelector(arguments[0]).focus();",
        vec![json!(textarea)],
    )
    .await?;
    let input = c.find(Locator::Css(textarea)).await?;
    let (mut samples, mut arrivals) = (Vec::new(), Vec::new());
    for i in 0..60 {
        let key = ((b'a' + (i % 26) as u8) as char).to_string();
        input.send_keys(&key).await?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let v = c
                .execute(
                    "const k = window.__apposKeyAt; const f = (window.__apposTermProbe || []).find((t) => t >= k);\
                     const a = (window.__apposTermArrivals || []).find((t) => t >= k); return f === undefined ? null : [f - k, a - k];",
                    vec![],
                )
                .await?;
            if let (Some(frame), Some(arrival)) = (v[0].as_f64(), v[1].as_f64()) {
                samples.push(Duration::from_secs_f64(frame / 1000.0));
                arrivals.push(Duration::from_secs_f64(arrival / 1000.0));
                break;
            }
            ensure!(Instant::now() < deadline, "no frame after key {i}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if i % 20 == 19 {
            input.send_keys("\u{0015}").await?; // Ctrl-U clears the line
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // From the echo reaching the page to the frame that draws it: under one
    // frame (16.7 ms at 60 Hz, times in whole ms) when no frame is missed.
    let mut waits: Vec<Duration> = samples
        .iter()
        .zip(&arrivals)
        .map(|(f, a)| f.saturating_sub(*a))
        .collect();
    let next_frame = waits.iter().filter(|w| w.as_millis() <= 17).count();
    let w50 = crate::bench::percentile(&mut waits, 0.5);
    let wmax = waits.iter().max().copied().unwrap_or_default();
    let p50 = crate::bench::percentile(&mut samples, 0.5);
    let p95 = crate::bench::percentile(&mut samples, 0.95);
    let (a50, a95) = (
        crate::bench::percentile(&mut arrivals, 0.5),
        crate::bench::percentile(&mut arrivals, 0.95),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if report {
        row(
            "key-to-glyph p50 / p95, ms",
            format!("{:.1} / {:.1}", ms(p50), ms(p95)),
            "-".into(),
            "-".into(),
            "p95 ≤ 16 ms",
        );
        println!("    (of which key to the echo in the page: p50 {:.1} ms, p95 {:.1} ms; from the echo to its draw: p50 {:.1} ms, at most {:.1} ms; drawn within a frame of the echo: {next_frame} of {})", ms(a50), ms(a95), ms(w50), ms(wmax), samples.len());
    }
    // 4. Output: a burst of lines through the terminal, from Enter to its
    // last line drawn (read from the DOM renderer's rows; another renderer
    // keeps its text out of the DOM, and the row says so).
    let lines = 100_000u64;
    let bytes: u64 = (1..=lines)
        .map(|n| format!("output line {n}\n").len() as u64)
        .sum();
    input
        .send_keys(&format!(
            "\u{0015}seq -f 'output line %g' 1 {lines}; echo end-of-$((6*7))"
        ))
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let throughput = if renderer.as_str() == Some("dom") {
        let t = Instant::now();
        input.send_keys("\u{e007}").await?;
        let deadline = t + Duration::from_secs(120);
        loop {
            let drawn = c
                .execute(
                    "const r = document.querySelector('[data-testid=\"terminal-view\"] .xterm-rows'); return !!r && r.textContent.includes('end-of-42');",
                    vec![],
                )
                .await?;
            if drawn.as_bool() == Some(true) {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "the output's last line was never drawn"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Some(bytes as f64 / 1e6 / t.elapsed().as_secs_f64())
    } else {
        input.send_keys("\u{e007}").await?;
        None
    };
    if report {
        row(
            "terminal output drawn, MB/s",
            throughput.map_or("-".into(), |v| format!("{v:.1}")),
            "-".into(),
            "-".into(),
            &format!(
                "{lines} lines of `seq`, {:.1} MB, from Enter to the last on screen",
                bytes as f64 / 1e6
            ),
        );
    }

    // End the app as a logout would (SIGTERM): it exits through its own
    // shutdown, which stops the local agent and writes a training build's profile.
    let _ = Command::new("kill")
        .args(["-TERM", &app.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while support::processes().iter().any(|(p, _, _)| *p == app) {
        ensure!(
            Instant::now() < deadline,
            "the desktop did not exit on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), c.close()).await;
    drop(driver);
    Ok(Memory {
        idle,
        idle_parts,
        term,
        term_parts,
        agent,
        agent_parts,
        no_compositing,
        renderer,
        gl,
    })
}
