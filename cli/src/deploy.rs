//! `appos deploy`, `status`, `deployments`, `deployment`, `cancel`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use appos_client::Client;
use appos_proto::calls::*;
use appos_proto::{
    AppAction, AppName, ComposeCheckRequest, DeployRequest, Deployment, DeploymentState,
    HostAccess, StepState,
};
use clap::Args;

use crate::{output, Output};

#[derive(Args)]
pub struct DeployArgs {
    /// A catalog template to deploy (see `appos catalog`).
    #[arg(conflicts_with = "file", required_unless_present = "file")]
    catalog_id: Option<String>,
    /// A compose file to deploy, with the files it references in its folder
    /// (bind-mounted config, env files, build contexts less .dockerignore);
    /// the .env beside it fills the app's .env unless --env-file is given.
    #[arg(long, short = 'f')]
    file: Option<PathBuf>,
    /// The app's name (also its compose project name); default: the template id.
    #[arg(long, required_unless_present = "catalog_id")]
    name: Option<String>,
    /// A template parameter, KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "catalog_id")]
    set: Vec<String>,
    /// KEY=VALUE lines for the app's .env.
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// A message for the app's history.
    #[arg(long, short = 'm')]
    message: Option<String>,
    /// Print the deployment id and return at once.
    #[arg(long)]
    detach: bool,
    /// Grant the host access the file asks for (bind mounts outside the
    /// app's folder, the Docker socket, privileged, ...): the list is printed.
    #[arg(long)]
    pub allow_host_access: bool,
}

/// The host access a compose file (or template) asks for and its app does
/// not hold yet, printed as it is granted; empty unless `allow`.
pub async fn grant(
    client: &Client,
    allow: bool,
    name: &AppName,
    project: &Project,
    catalog: Option<&appos_proto::CatalogDeploy>,
    env: Option<BTreeMap<String, String>>,
) -> anyhow::Result<Vec<HostAccess>> {
    if !allow {
        return Ok(Vec::new());
    }
    let request = ComposeCheckRequest {
        name: name.clone(),
        compose: project.compose.clone(),
        catalog: catalog.cloned(),
        files: Some(project.files.clone()),
        env,
    };
    let check = client.call(&request).await?;
    let new: Vec<_> = check
        .host_access
        .into_iter()
        .filter(|n| !n.granted)
        .collect();
    if !new.is_empty() {
        eprintln!("granting host access to {name}:");
        for n in &new {
            eprintln!("  - {}", n.description);
        }
    }
    Ok(new.into_iter().map(|n| n.access).collect())
}

/// A compose file and the files it references in its folder.
#[derive(Default)]
pub struct Project {
    pub compose: String,
    pub files: Vec<appos_proto::AppFile>,
}

pub async fn deploy(client: &Client, args: DeployArgs, out: Output) -> anyhow::Result<()> {
    let local = args
        .file
        .as_deref()
        .map(appos_client::project::read)
        .transpose()?;
    // As `docker compose up` does, the .env beside the compose file is read unless one is named.
    let env = match (&args.env_file, &local) {
        (Some(p), _) => appos_client::project::read_env(p)?,
        (None, Some(l)) => l.env.clone(),
        (None, None) => BTreeMap::new(),
    };
    let mut params = BTreeMap::new();
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--set {kv:?}: expected KEY=VALUE"))?;
        params.insert(k.to_string(), v.to_string());
    }
    let (project, catalog) = match (local, &args.catalog_id) {
        (Some(l), _) => (
            Project {
                compose: l.compose,
                files: l.files,
            },
            None,
        ),
        (None, Some(id)) => (
            Project::default(),
            Some(appos_proto::CatalogDeploy {
                id: id.clone(),
                params,
            }),
        ),
        (None, None) => bail!("give a catalog template id or -f compose.yml"),
    };
    let name = args
        .name
        .clone()
        .or_else(|| args.catalog_id.clone())
        .unwrap_or_default();
    let name = AppName::parse(&name).with_context(|| format!("cannot name an app {name:?}"))?;
    let allow_host_access = grant(
        client,
        args.allow_host_access,
        &name,
        &project,
        catalog.as_ref(),
        Some(env.clone()),
    )
    .await?;
    let Project { compose, files } = project;
    let accepted = client
        .call(&DeployRequest {
            name,
            compose,
            files,
            env,
            message: args.message,
            catalog,
            allow_host_access,
        })
        .await?;
    if !accepted.generated.is_empty() && out == Output::Table {
        eprintln!("generated secrets (shown this once; they are in the app's .env on the server):");
        for (k, v) in &accepted.generated {
            eprintln!("  {k}={v}");
        }
    }
    if args.detach {
        return match out {
            Output::Json => output::json(&accepted),
            Output::Table => {
                println!("{}", accepted.deployment_id);
                Ok(())
            }
        };
    }
    if out == Output::Table {
        eprintln!(
            "deploying {} version {} (deployment {})",
            accepted.app, accepted.version, accepted.deployment_id
        );
    }
    follow(client, &accepted.deployment_id, out).await
}

fn ms_between(a: i64, b: Option<i64>) -> String {
    match b {
        Some(b) => format!("{:.1}s", (b - a) as f64 / 1000.0),
        None => "…".into(),
    }
}

fn step_mark(s: StepState) -> &'static str {
    match s {
        StepState::Running => "…",
        StepState::Succeeded => "✓",
        StepState::Skipped => "–",
        StepState::Failed => "✗",
        StepState::Interrupted => "↯",
    }
}

/// What a deployment shows while it runs: on a terminal, a bar per image
/// layer being pulled and a spinner for the running step above the log; in
/// a pipe, plain lines.
struct Progress {
    multi: indicatif::MultiProgress,
    layers: std::sync::Mutex<BTreeMap<String, indicatif::ProgressBar>>,
    step: indicatif::ProgressBar,
}

impl Progress {
    fn new(show: bool) -> Progress {
        let target = if show {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        };
        let multi = indicatif::MultiProgress::with_draw_target(target);
        let step = multi.add(indicatif::ProgressBar::new_spinner());
        step.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        step.enable_steady_tick(Duration::from_millis(120));
        Progress {
            multi,
            layers: Default::default(),
            step,
        }
    }

    /// A line above the bars (or plain, when they are hidden).
    fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    fn log(&self, line: &appos_proto::LogLine) {
        if line.step == "pull" && !self.multi.is_hidden() {
            if let Some(p) = line.pull.as_ref().filter(|p| p.is_layer()) {
                let mut layers = self.layers.lock().unwrap_or_else(|e| e.into_inner());
                let bar = layers.entry(p.layer.clone()).or_insert_with(|| {
                    let b = self
                        .multi
                        .insert_before(&self.step, indicatif::ProgressBar::new(0));
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "  {prefix:12} {bar:30} {bytes:>10}/{total_bytes:10} {msg}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    b.set_prefix(p.layer.clone());
                    b
                });
                if p.total > 0 {
                    bar.set_length(p.total);
                    bar.set_position(p.current);
                }
                bar.set_message(p.status.clone());
                if matches!(p.status.as_str(), "Pull complete" | "Already exists") {
                    bar.finish();
                }
                return;
            }
        }
        self.println(&format!("  {:<14} {}", line.step, line.text));
    }

    fn step(&self, s: &appos_proto::DeploymentStep) {
        if s.state == StepState::Running {
            self.step.set_message(format!("{} …", s.name));
        } else {
            self.println(&format!(
                "{} {:<14} {:>6}  {}",
                step_mark(s.state),
                s.name,
                ms_between(s.started_ms, s.finished_ms),
                s.detail
            ));
        }
    }

    fn finish(&self) {
        self.step.finish_and_clear();
        for b in self
            .layers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            b.finish();
        }
    }
}

/// Streams the log and the step changes until the deployment ends; fails
/// (non-zero exit) unless it succeeded.
async fn follow(client: &Client, id: &str, out: Output) -> anyhow::Result<()> {
    let table = out == Output::Table;
    let progress = Progress::new(table && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // Resumed after a lost connection from the line after the last one shown.
    let log = client.follow_deployment_log(id, |line| {
        if table {
            progress.log(&line);
        }
    });
    let steps = async {
        let mut shown: BTreeMap<(usize, String), StepState> = BTreeMap::new();
        loop {
            let d = client.call(&GetDeployment { id: id.to_string() }).await?;
            for (i, s) in d.steps.iter().enumerate() {
                let key = (i, s.name.clone());
                if shown.get(&key) != Some(&s.state) {
                    if table {
                        progress.step(s);
                    }
                    shown.insert(key, s.state);
                }
            }
            if d.state.is_terminal() {
                return Ok::<Deployment, anyhow::Error>(d);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let (log_result, d) = tokio::join!(log, steps);
    progress.finish();
    let d = d?;
    if let Err(e) = log_result {
        tracing::debug!(error = %e, "log stream ended early");
    }
    match out {
        Output::Json => output::json(&d)?,
        Output::Table => {
            let took = ms_between(d.created_ms, d.finished_ms);
            match &d.error {
                Some(e) => eprintln!(
                    "{} {} in {took} (attempt {}): {e}",
                    d.app,
                    d.state.as_str(),
                    d.attempt
                ),
                None => eprintln!("{} {} in {took}", d.app, d.state.as_str()),
            }
        }
    }
    if d.state != DeploymentState::Succeeded {
        bail!("deployment {} {}", d.id, d.state.as_str());
    }
    Ok(())
}

pub async fn show(client: &Client, id: &str, follow_it: bool, out: Output) -> anyhow::Result<()> {
    if follow_it {
        return follow(client, id, out).await;
    }
    let d = client.call(&GetDeployment { id: id.to_string() }).await?;
    match out {
        Output::Json => output::json(&d),
        Output::Table => {
            println!(
                "{}  {} v{}  {} (attempt {})",
                d.id,
                d.app,
                d.version,
                d.state.as_str(),
                d.attempt
            );
            for s in &d.steps {
                println!(
                    "{} {:<14} {:>6}  {}",
                    step_mark(s.state),
                    s.name,
                    ms_between(s.started_ms, s.finished_ms),
                    s.detail
                );
            }
            if let Some(e) = &d.error {
                println!("error: {e}");
            }
            Ok(())
        }
    }
}

pub async fn list(client: &Client, app: Option<AppName>, out: Output) -> anyhow::Result<()> {
    let ds = client.call(&ListDeployments { app }).await?;
    match out {
        Output::Json => output::json(&ds),
        Output::Table => {
            output::deployments_table(&ds);
            Ok(())
        }
    }
}

pub async fn cancel(client: &Client, id: &str, out: Output) -> anyhow::Result<()> {
    let d = client
        .call(&CancelDeployment { id: id.to_string() })
        .await?;
    match out {
        Output::Json => output::json(&d),
        Output::Table => {
            eprintln!(
                "deployment {id}: {}",
                if d.state.is_terminal() {
                    d.state.as_str()
                } else {
                    "cancel requested"
                }
            );
            Ok(())
        }
    }
}

pub async fn status(client: &Client, app: &AppName, out: Output) -> anyhow::Result<()> {
    let a = client.call(&GetApp { app: app.clone() }).await?;
    let last = client
        .call(&ListDeployments {
            app: Some(app.clone()),
        })
        .await?
        .into_iter()
        .next();
    match out {
        Output::Json => output::json(&serde_json::json!({ "app": a, "last_deployment": last })),
        Output::Table => {
            println!(
                "{}  {}  {}",
                a.name,
                crate::state_word(&a),
                if a.managed {
                    "managed by AppOS"
                } else {
                    "created outside AppOS"
                }
            );
            for s in &a.services {
                for c in &s.containers {
                    println!(
                        "  {:<12} {:<28} {:<10} {}",
                        s.name, c.name, c.state, c.status
                    );
                }
            }
            if let Some(d) = last {
                println!(
                    "last deployment: {} v{} {} ({})",
                    d.id,
                    d.version,
                    d.state.as_str(),
                    d.error.unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

pub async fn history(client: &Client, app: &AppName, out: Output) -> anyhow::Result<()> {
    let vs = client.call(&ListVersions { app: app.clone() }).await?;
    match out {
        Output::Json => output::json(&vs),
        Output::Table => {
            for v in &vs {
                let when = time_of(v.created_at);
                println!("v{:<4} {when}  {:<24} {}", v.version, v.author, v.message);
                for a in &v.host_access {
                    println!("      host access: {}", a.describe());
                }
            }
            Ok(())
        }
    }
}

/// The audit log, newest first.
pub async fn audit(client: &Client, app: Option<AppName>, out: Output) -> anyhow::Result<()> {
    let entries = client
        .call(&ListAudit {
            app,
            before: None,
            limit: None,
        })
        .await?;
    match out {
        Output::Json => output::json(&entries),
        Output::Table => {
            for e in &entries {
                println!(
                    "{:<6} {}  {:<16} {:<20} {:<16} {}",
                    e.id,
                    time_of(e.at),
                    e.actor,
                    e.action,
                    e.app.as_deref().unwrap_or("-"),
                    e.detail
                );
                for a in &e.host_access {
                    println!("       granted: {}", a.describe());
                }
            }
            Ok(())
        }
    }
}

pub fn time_of(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// Saves a version; with `deploy`, follows its deployment.
/// Saves a version: with the files of `project` when it was read from a
/// folder, keeping the latest version's files otherwise.
pub async fn save(
    client: &Client,
    app: &AppName,
    project: Project,
    from_folder: bool,
    message: Option<String>,
    deploy: bool,
    allow: bool,
    out: Output,
) -> anyhow::Result<()> {
    let allow_host_access = grant(client, allow, app, &project, None, None).await?;
    let files = from_folder.then_some(project.files);
    let request = appos_proto::SaveVersionRequest {
        compose: project.compose,
        files,
        env: None,
        message,
        deploy,
        allow_host_access,
    };
    let saved = client
        .call(&SaveVersion {
            app: app.clone(),
            request,
        })
        .await?;
    if out == Output::Table {
        eprintln!("saved {} version {}", saved.app, saved.version);
    }
    match saved.deployment_id {
        Some(id) => follow(client, &id, out).await,
        None if out == Output::Json => output::json(&saved),
        None => Ok(()),
    }
}

/// Opens the latest compose file in $EDITOR (else $VISUAL, else vi) and
/// saves what comes back as a new version, unless nothing changed.
pub async fn edit(
    client: &Client,
    app: &AppName,
    message: Option<String>,
    deploy: bool,
    allow: bool,
    out: Output,
) -> anyhow::Result<()> {
    let latest = client
        .call(&ListVersions { app: app.clone() })
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("{app} has no versions"))?;
    let current = client
        .call(&GetVersion {
            app: app.clone(),
            version: latest.version,
        })
        .await?
        .compose;
    let dir = tempfile_dir()?;
    let path = dir.join(format!("{app}.compose.yml"));
    std::fs::write(&path, &current)?;
    let editor = std::env::var("EDITOR")
        .or_else(|_| std::env::var("VISUAL"))
        .unwrap_or_else(|_| "vi".into());
    // $EDITOR may carry arguments ("code -w"): split it into an argv, no shell.
    let mut argv = shlex::split(&editor)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow::anyhow!("cannot parse $EDITOR={editor:?}"))?;
    argv.push(path.display().to_string());
    let status = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .with_context(|| format!("running {}", argv[0]))?;
    if !status.success() {
        bail!("the editor exited with {status}; nothing was saved");
    }
    let edited = std::fs::read_to_string(&path)?;
    let _ = std::fs::remove_dir_all(&dir);
    if edited == current {
        eprintln!("no change; nothing was saved");
        return Ok(());
    }
    save(
        client,
        app,
        Project {
            compose: edited,
            files: Vec::new(),
        },
        false,
        message,
        deploy,
        allow,
        out,
    )
    .await
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("appos-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub async fn rollback(
    client: &Client,
    app: &AppName,
    version: u32,
    pin_digests: bool,
    allow: bool,
    out: Output,
) -> anyhow::Result<()> {
    let allow_host_access = if allow {
        let old = client
            .call(&GetVersion {
                app: app.clone(),
                version,
            })
            .await?;
        grant(
            client,
            true,
            app,
            &Project {
                compose: old.compose,
                files: Vec::new(),
            },
            None,
            None,
        )
        .await?
    } else {
        Vec::new()
    };
    let request = appos_proto::RollbackRequest {
        version,
        pin_digests,
        allow_host_access,
    };
    let saved = client
        .call(&RollbackApp {
            app: app.clone(),
            request,
        })
        .await?;
    if out == Output::Table {
        eprintln!(
            "rolling {app} back to version {version} as version {}",
            saved.version
        );
    }
    match saved.deployment_id {
        Some(id) => follow(client, &id, out).await,
        None => Ok(()),
    }
}

pub async fn adopt(client: &Client, project: AppName, out: Output) -> anyhow::Result<()> {
    let saved = client.call(&appos_proto::AdoptRequest { project }).await?;
    match out {
        Output::Json => output::json(&saved),
        Output::Table => {
            println!(
                "{} is now managed by AppOS: its compose files are version {} (`appos history {}`)",
                saved.app, saved.version, saved.app
            );
            Ok(())
        }
    }
}

pub async fn redeploy(client: &Client, app: &AppName, out: Output) -> anyhow::Result<()> {
    let saved = client.call(&RedeployApp { app: app.clone() }).await?;
    match saved.deployment_id {
        Some(id) => follow(client, &id, out).await,
        None => Ok(()),
    }
}

/// start, stop, restart, update: queued like a deployment and followed.
pub async fn action(
    client: &Client,
    app: &AppName,
    action: AppAction,
    out: Output,
) -> anyhow::Result<()> {
    let d = client
        .call(&RunAppAction {
            app: app.clone(),
            action,
        })
        .await?;
    follow(client, &d.id, out).await
}

pub async fn refresh_catalog(client: &Client, out: Output) -> anyhow::Result<()> {
    let r = client.call(&RefreshCatalog {}).await?;
    if out == Output::Json {
        return output::json(&r);
    }
    println!("{} templates", r.templates);
    if let Some(c) = &r.git_commit {
        println!("git source at {c}");
    }
    for s in &r.skipped {
        eprintln!("skipped {s}");
    }
    if let Some(e) = &r.git_error {
        bail!("cannot pull the catalog's git source (its last good copy stays in use): {e}");
    }
    Ok(())
}

pub async fn catalog(client: &Client, search: Option<String>, out: Output) -> anyhow::Result<()> {
    let entries = client.call(&ListCatalog { search }).await?;
    match out {
        Output::Json => output::json(&entries),
        Output::Table => {
            if entries.is_empty() {
                eprintln!("no template matches");
            }
            for e in &entries {
                let access = match (e.host_access.is_empty(), e.host_access_grew) {
                    (true, _) => "",
                    (false, false) => " [needs host access]",
                    (false, true) => " [needs host access (more than before)]",
                };
                println!(
                    "{:<16} {:<24} {:<12} {}{access}",
                    e.id, e.name, e.category, e.description
                );
            }
            Ok(())
        }
    }
}
