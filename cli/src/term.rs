//! `appos exec`, `shell`, `ssh` and `terminals`: a local terminal wired to
//! a session. On a terminal, stdin goes raw and window-size changes are
//! forwarded; in pipes, stdin, stdout and stderr stay apart and the exit
//! status of the command becomes this process's.

use std::io::{IsTerminal as _, Write as _};

use anyhow::{bail, Context};
use appos_client::terminal::{TermIn, TermOut, TerminalIo};
use appos_client::Client;
use appos_proto::calls::{GetApp, KillTerminal, ListTerminals, OpenTerminal};
use appos_proto::{AppName, NewTerminal, ServiceName};
use tokio::io::AsyncReadExt as _;

use crate::{output, Output};

/// Puts the local terminal in raw mode for as long as it lives.
struct RawMode;

impl RawMode {
    fn enable() -> anyhow::Result<RawMode> {
        crossterm::terminal::enable_raw_mode().context("putting the terminal in raw mode")?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

fn window_size() -> (u16, u16) {
    crossterm::terminal::size().unwrap_or((80, 24))
}

/// Runs a viewer until the session ends; returns its exit status. `tty`:
/// the session has a TTY (its output is one byte stream; without one, each
/// frame starts with its stream). `local_tty`: this process runs on a
/// terminal, which goes raw and forwards its size.
pub async fn run(
    io: TerminalIo,
    tty: bool,
    local_tty: bool,
    again: Option<(&Client, &str)>,
) -> anyhow::Result<i64> {
    let raw = if tty && local_tty {
        Some(RawMode::enable()?)
    } else {
        None
    };
    // What is typed goes through here to the current connection, which
    // changes when a viewer that fell behind attaches again.
    let (typed_tx, mut typed) = tokio::sync::mpsc::unbounded_channel::<TermIn>();
    if raw.is_some() {
        let (cols, rows) = window_size();
        let _ = typed_tx.send(TermIn::Resize { cols, rows });
        let input = typed_tx.clone();
        tokio::spawn(async move {
            let Ok(mut winch) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
            else {
                return;
            };
            while winch.recv().await.is_some() {
                let (cols, rows) = window_size();
                if input.send(TermIn::Resize { cols, rows }).is_err() {
                    break;
                }
            }
        });
    }
    let input = typed_tx.clone();
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 16 << 10];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = input.send(TermIn::Eof);
                    break;
                }
                Ok(n) => {
                    if input
                        .send(TermIn::Bytes(bytes::Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    let (mut to_session, mut output) = (io.input, io.output);
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut status = None;
    loop {
        let out = tokio::select! {
            Some(i) = typed.recv() => {
                let _ = to_session.send(i);
                continue;
            }
            out = output.recv() => out,
        };
        let Some(out) = out else {
            // The connection under the viewer was lost: the session lives on
            // the agent; once the connection is back, attach again and
            // redraw the screen from the replay.
            match again {
                Some((client, id)) if tty && client.redials() => {
                    let io = reattach(client, id).await?;
                    stdout.write_all(b"\x1bc")?;
                    stdout.flush()?;
                    (to_session, output) = (io.input, io.output);
                    continue;
                }
                _ => break,
            }
        };
        match out {
            TermOut::Bytes(b) if tty => {
                stdout.write_all(&b)?;
                stdout.flush()?;
            }
            TermOut::Bytes(b) => match b.split_first() {
                Some((2, rest)) => {
                    stderr.write_all(rest)?;
                    stderr.flush()?;
                }
                Some((_, rest)) => {
                    stdout.write_all(rest)?;
                    stdout.flush()?;
                }
                None => {}
            },
            TermOut::Replayed => {}
            TermOut::Exit(s) => {
                status = Some(s);
                break;
            }
            // Behind on a screen: attach again and redraw it from the replay.
            TermOut::Lagged if tty && again.is_some() => {
                let (client, id) = again.expect("checked");
                let io = client.attach_terminal(id).await?;
                stdout.write_all(b"\x1bc")?;
                (to_session, output) = (io.input, io.output);
            }
            TermOut::Lagged => {
                bail!("the output fell behind this connection and was cut off; some of it is lost")
            }
        }
    }
    drop(raw);
    status.context("the connection to the terminal was lost before the command ended")
}

/// Attaches to a session again once the connection is back (made again
/// as many times as it takes, within the client's reconnection time).
async fn reattach(client: &Client, id: &str) -> anyhow::Result<TerminalIo> {
    let mut cause = appos_client::ClientError::ConnectionLost {
        to: client.transport().describe(),
        why: "the terminal's connection ended".into(),
    };
    loop {
        let generation = client.generation();
        client.redial(&cause, generation).await?;
        match client.attach_terminal(id).await {
            Ok(io) => return Ok(io),
            Err(e)
                if appos_client::reconnect::verdict(&e)
                    == appos_client::reconnect::Verdict::Lost =>
            {
                cause = e
            }
            Err(appos_client::ClientError::Api(p))
                if p.code == appos_proto::ProblemCode::TerminalNotFound =>
            {
                bail!("the terminal was gone when the connection came back: the agent restarted, or the session ended meanwhile; start a new one")
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Ends the process with a command's exit status (stdin's reader thread
/// would otherwise keep it alive).
pub fn exit_with(status: i64) -> ! {
    crate::link_notices_end();
    let _ = std::io::stdout().flush();
    std::process::exit(if (0..=255).contains(&status) {
        status as i32
    } else {
        255
    })
}

/// `appos exec APP [--service S] [-- CMD...]`.
pub async fn exec(
    client: &Client,
    app: &AppName,
    service: Option<ServiceName>,
    command: Vec<String>,
) -> anyhow::Result<()> {
    let service = match service {
        Some(s) => s,
        None => {
            let a = client.call(&GetApp { app: app.clone() }).await?;
            match a.services.as_slice() {
                [one] => ServiceName::parse(&one.name)
                    .with_context(|| format!("{app}'s only service is named {:?}", one.name))?,
                [] => bail!("{app} has no services"),
                many => bail!(
                    "{app} has several services ({}): choose one with --service",
                    many.iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (cols, rows) = window_size();
    let request = NewTerminal::Exec {
        app: app.clone(),
        service,
        command,
        tty,
        cols: Some(cols),
        rows: Some(rows),
    };
    let t = client.call(&OpenTerminal { request }).await?;
    let io = client.attach_terminal(&t.id).await?;
    let status = run(io, tty, tty, Some((client, &t.id))).await;
    // A TTY session would otherwise linger until it expires.
    let _ = client.call(&KillTerminal { id: t.id.clone() }).await;
    exit_with(status?)
}

/// `appos shell`: a shell in the agent's environment.
pub async fn shell(client: &Client) -> anyhow::Result<()> {
    let (cols, rows) = window_size();
    let t = client
        .call(&OpenTerminal {
            request: NewTerminal::Shell {
                cols: Some(cols),
                rows: Some(rows),
            },
        })
        .await?;
    eprintln!(
        "terminal {} (detach by closing this window; `appos terminals attach {}` brings it back)",
        t.id, t.id
    );
    let io = client.attach_terminal(&t.id).await?;
    exit_with(
        run(
            io,
            true,
            std::io::stdin().is_terminal(),
            Some((client, &t.id)),
        )
        .await?,
    )
}

/// `appos ssh`: a shell on the server itself, over the SSH connection.
pub async fn ssh(client: &Client) -> anyhow::Result<()> {
    let appos_client::Transport::Ssh { session, .. } = client.transport() else {
        bail!("this server is not reached over SSH ({}); use `appos shell` for a shell next to its agent", client.transport().describe());
    };
    let (cols, rows) = window_size();
    let io = session.open_shell(cols, rows).await?;
    match run(io, true, std::io::stdin().is_terminal(), None).await {
        Ok(status) => exit_with(status),
        // A PTY on the SSH connection itself ends with it.
        Err(_) if session.is_closed() => bail!("the server shell ran on the SSH connection that was lost, and ended with it: `appos ssh` opens a new one (`appos shell` opens one on the agent, which survives a lost connection)"),
        Err(e) => Err(e),
    }
}

pub async fn list(client: &Client, out: Output) -> anyhow::Result<()> {
    let ts = client.call(&ListTerminals {}).await?;
    match out {
        Output::Json => output::json(&ts),
        Output::Table => {
            if ts.is_empty() {
                eprintln!("no terminals are open");
            }
            for t in &ts {
                let what = match (&t.app, &t.service) {
                    (Some(a), Some(s)) => format!("{a}/{s}"),
                    _ => "agent".into(),
                };
                let state = match t.exit_status {
                    Some(s) => format!("exited {s}"),
                    None => format!("{} viewer(s)", t.viewers),
                };
                println!(
                    "{:<22} {:<6} {:<24} {:<14} {}",
                    t.id,
                    t.kind,
                    what,
                    state,
                    t.command.join(" ")
                );
            }
            Ok(())
        }
    }
}

pub async fn attach(client: &Client, id: &str) -> anyhow::Result<()> {
    let t = client
        .call(&ListTerminals {})
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .with_context(|| format!("no terminal {id}"))?;
    let io = client.attach_terminal(id).await?;
    exit_with(
        run(
            io,
            t.tty,
            std::io::stdin().is_terminal(),
            Some((client, id)),
        )
        .await?,
    )
}

pub async fn kill(client: &Client, id: &str) -> anyhow::Result<()> {
    client.call(&KillTerminal { id: id.to_string() }).await?;
    eprintln!("terminal {id} closed");
    Ok(())
}
